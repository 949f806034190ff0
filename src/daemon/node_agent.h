/*
 * node_agent.h - `atlasd node`: this daemon works for a control plane
 * (docs/scheduling.md "Nodes", docs/internals/sched.md).
 *
 * The node is a whole atlasd (its own data directory, store, registry,
 * engine and warm pools, its HTTP API on its own port) that also joins a
 * control plane: it registers with its profile (POST /api/v1/nodes/register,
 * a token of role node), keeps one SSE stream open for assignments
 * (GET /api/v1/nodes/NAME/stream), and reports heartbeats with its health
 * and each job's logs and result (POST .../heartbeat, .../events).  An
 * assignment names the agent's snapshot directory on the control plane;
 * the node registers it from there (a shared or the same file system:
 * shipping agent files to a node is not supported yet) and runs the job
 * in its own engine.  Threads: the link (register, stream), the sender
 * (heartbeats, events), the worker (assignments).
 */
#ifndef AT_DAEMON_NODE_AGENT_H
#define AT_DAEMON_NODE_AGENT_H

#include "base/diag.h"

struct at_daemon;
struct at_node_agent;

/* Join the control plane at url (its base URL) as name with token, for
 * the started daemon dmn.  Returns at once (joining is retried in the
 * background until it succeeds); AT_EINVAL on bad arguments. */
int at_node_agent_start(struct at_daemon *dmn, const char *url, const char *name, const char *token,
                        struct at_node_agent **out, struct at_diag *d);
/* Leave: threads joined (no more assignments are taken), jobs still
 * running here are left to the daemon's stop; then at_daemon_stop; then
 * at_node_agent_free (a job's end may still be reported into it until
 * the daemon's engine is gone). */
void at_node_agent_stop(struct at_node_agent *na);
void at_node_agent_free(struct at_node_agent *na);

#endif
