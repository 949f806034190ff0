/*
 * mcp_transport.h - MCP Streamable HTTP at /mcp (src/mcp/ holds the
 * transport-independent server, this file adapts it to the HTTP server;
 * its routes are mounted by at_http_mcp_mount, api.h).
 */
#ifndef AT_HTTP_MCP_TRANSPORT_H
#define AT_HTTP_MCP_TRANSPORT_H

#include "base/diag.h"
#include "mcp/mcp.h"

struct at_http_mcp;

/* The MCP server (at_mcp_new with cfg, whose members must outlive it) and
 * its HTTP transport state: live streams, the prober of stateless streams.
 * base_url is the daemon's, for the Host/Origin check.  Caller frees with
 * at_http_mcp_free, after the HTTP server stopped and before the engine
 * does. */
int at_http_mcp_new(const struct at_mcp_cfg *cfg, const char *base_url, struct at_http_mcp **out,
                    struct at_diag *d);
void at_http_mcp_free(struct at_http_mcp *h);

#endif
