/* Placeholder until the MCP surface lands (issue: MCP surface). */
#include "http/mcp_transport.h"

#include "base/err.h"

int at_http_mcp_start(struct at_app *app, struct at_diag *d)
{
    (void)app;
    (void)d;
    return 0;
}

void at_http_mcp_stop(struct at_app *app)
{
    (void)app;
}

void at_http_mcp(struct at_http_req *r)
{
    at_http_reply_problem(r, AT_EUNAVAIL, "the MCP endpoint is not available in this build", NULL,
                          NULL);
}
