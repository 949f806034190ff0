/*
 * remote.h - agents that are tools of remote MCP servers (Streamable HTTP).
 *
 * `atlas register --remote URL` asks the server for its tools
 * (at_remote_describe, blocking: registration is not on the dispatch path).
 * Runs of remote agents go through a dedicated thread driving libcurl's
 * multi interface, so the engine loop never waits on the network; results
 * come back to the loop as posts.  The client speaks MCP 2026-07-28
 * (stateless: server/discover, per-request _meta) when the server supports
 * it and 2025-11-25 (initialize, Mcp-Session-Id) otherwise; responses may
 * be JSON or an SSE stream (MCP 2025-11-25 basic/transports#streamable-http).
 */
#ifndef AT_EXEC_REMOTE_H
#define AT_EXEC_REMOTE_H

#include "base/diag.h"
#include "contract/agent.h"

#include <jansson.h>

struct at_engine;
struct at_job;

/* Connect to url, list its tools and build a contract for agent `name`
 * from the tool `tool` (NULL: the tool named `name`, or the only tool).
 * timeout_ms bounds the whole exchange.  trust_platform: the server may
 * have the job's token with each call (requires.platform_tools; else it
 * gets none: a remote server is a third party).  Blocking.  Errors: AT_ECONN
 * (cannot reach), AT_EPROTO (not an MCP server), AT_ENOENT (no such tool),
 * with d explaining. */
struct at_secrets;
struct at_remote_opts {
    const char *url, *name;
    const char *tool; /* NULL: the tool named name, or the only one */
    int timeout_ms;
    int trust_platform;
    /* the server's credentials (remote_auth.h), kept in the contract as
     * remote_auth; NULL: none */
    const json_t *auth;
    struct at_secrets *secrets; /* where auth's secrets are read */
};
int at_remote_describe(const struct at_remote_opts *ro, struct at_contract **out,
                       struct at_diag *d);

/* Engine integration (exec/ internal). */
int at__remote_init(struct at_engine *e);
void at__remote_free(struct at_engine *e);
void at__remote_run(struct at_engine *e, struct at_job *j);
void at__remote_cancel(struct at_engine *e, struct at_job *j);
int at__remote_idle(struct at_engine *e);

#endif
