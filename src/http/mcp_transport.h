/*
 * mcp_transport.h - MCP Streamable HTTP at /mcp (owned by the MCP surface:
 * src/mcp/ holds the transport-independent server, this file adapts it to
 * the HTTP server).
 */
#ifndef AT_HTTP_MCP_TRANSPORT_H
#define AT_HTTP_MCP_TRANSPORT_H

#include "base/diag.h"
#include "http/server.h"

struct at_app;

/* Called by at_app_start after the engine started / by at_app_stop before
 * the engine stops. */
int at_http_mcp_start(struct at_app *app, struct at_diag *d);
void at_http_mcp_stop(struct at_app *app);

/* Handle a request to /mcp (any method). */
void at_http_mcp(struct at_http_req *r);

#endif
