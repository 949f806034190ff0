/*
 * mcp.h - atlasd as an MCP server, independent of the transport.
 *
 * Every registered agent is a tool (latest version; name = agent name;
 * inputSchema/outputSchema from the contract) and so is every platform
 * capability of the Atlas spec's "Internal MCP Surface" (atlas.registry.*,
 * atlas.exec.*, ...; tools.c).  Agent contracts and jobs are resources,
 * agents may ship resources and prompts (resources.c).
 *
 * Revisions (message.h): 2025-11-25 / 2025-06-18 / 2025-03-26 with the
 * initialize handshake and sessions, and the stateless 2026-07-28 with its
 * per-request _meta envelope, chosen per request.
 *
 * Transports (Streamable HTTP in http/mcp_transport.c; stdio through
 * `atlas mcp`) hand each parsed message to at_mcp_handle with a channel on
 * which later messages for that request travel (progress, logs, the final
 * response of a long call).  Thread-safe: requests may be handled on any
 * number of threads; channel callbacks run on the engine's threads.
 */
#ifndef AT_MCP_MCP_H
#define AT_MCP_MCP_H

#include "contract/config.h"
#include "exec/engine.h"
#include "mcp/message.h"
#include "mcp/session.h"
#include "registry/registry.h"
#include "store/store.h"
#include "store/writer.h"

#include <jansson.h>
#include <stdint.h>

struct at_mcp;

struct at_monitor;
struct at_trigger_svc;
struct at_skills;
struct at_approvals;

struct at_mcp_cfg {
    const struct at_config *config; /* borrowed; outlives the server */
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *registry;
    struct at_engine *engine;
    struct at_monitor *monitor;      /* traces; NULL: atlas.monitor.trace is unavailable */
    struct at_trigger_svc *triggers; /* NULL: atlas.triggers.* are unavailable */
    struct at_skills *skills;        /* NULL: atlas.skills.* are unavailable */
    struct at_approvals *approvals;  /* NULL: atlas.approvals.* are unavailable */
    struct at_audit *audit;          /* the audit trail (semantic logs of plans); NULL: none */
    const char *data_dir;
    int64_t started_ms;
    size_t max_sessions;     /* 0: 1024 */
    int64_t session_idle_ms; /* 0: one hour */
    size_t page_size;        /* list page size; 0: 100 */
};

/* Where messages for one request (or a session's GET stream) go.  The
 * transport implements it; the server holds references while a call is
 * pending.  send steals msg; final marks the response that ends the
 * request.  send returns 0, or AT_ECONN when nobody will read it. */
struct at_mcp_chan;
struct at_mcp_chan_ops {
    void (*ref)(struct at_mcp_chan *c);
    void (*unref)(struct at_mcp_chan *c);
    int (*send)(struct at_mcp_chan *c, json_t *msg, int final);
};
struct at_mcp_chan {
    const struct at_mcp_chan_ops *ops;
};

/* What the transport knows about one incoming message. */
struct at_mcp_ctx {
    int loopback;              /* a user the security layer admitted (not an agent) */
    unsigned granted;          /* that user's actions (security/access.h bits) */
    const char *who;           /* that user's name (the security layer's), or NULL */
    const char *agents;        /* a user narrowed to agents: ",a,b," (NULL or "": any) */
    const char *owner;         /* that user's API token id (runs are its), or NULL */
    const char *over_quota;    /* why that user may start no run now (its daily quota), or NULL */
    const char *token;         /* bearer token (after "Bearer "), or NULL */
    const char *session_id;    /* Mcp-Session-Id, or NULL */
    const char *proto_header;  /* MCP-Protocol-Version, or NULL */
    const char *method_header; /* Mcp-Method (2026-07-28), or NULL */
    const char *name_header;   /* Mcp-Name (2026-07-28), or NULL */
    int can_stream;            /* the channel can carry notifications (SSE, stdio) */
};

/* How to answer.  status is the HTTP status: 200 with body (a JSON-RPC
 * message), 202 without body (notifications, responses), 4xx with body
 * (a JSON-RPC error, or NULL).  pending: the response will come through
 * the channel (which the server now references).  session: the request's
 * session (a reference, or NULL), e.g. for SSE event ids. */
struct at_mcp_answer {
    int status;
    json_t *body;
    char *body_text; /* or the body already serialised (cached results), owned */
    int pending;
    struct at_mcp_session *session;
    char session_id[AT_MCP_SESSION_ID_MAX]; /* new session (initialize): send it */
    char proto[16];
    const char *reason; /* short text for non-JSON-RPC failures (static) */
};

int at_mcp_new(const struct at_mcp_cfg *cfg, struct at_mcp **out);
/* Cancel pending calls' waits (their jobs go on), drop sessions, free. */
void at_mcp_free(struct at_mcp *m);

/* Handle one parsed message (a request, notification or response). */
void at_mcp_handle(struct at_mcp *m, const struct at_mcp_ctx *ctx, const struct at_mcp_msg *msg,
                   struct at_mcp_chan *chan, struct at_mcp_answer *ans);
void at_mcp_answer_release(struct at_mcp_answer *a);

/* GET (MCP 2025-11-25 "Listening for Messages from the Server"): check
 * the session and make chan its stream for server-initiated messages
 * (replacing an earlier one).  ans->status is 200 on success. */
void at_mcp_listen(struct at_mcp *m, const struct at_mcp_ctx *ctx, struct at_mcp_chan *chan,
                   struct at_mcp_answer *ans);
/* The GET stream went away. */
void at_mcp_unlisten(struct at_mcp *m, struct at_mcp_session *s, struct at_mcp_chan *chan);
/* DELETE: end the session.  ans->status 200, 400 or 404. */
void at_mcp_delete(struct at_mcp *m, const struct at_mcp_ctx *ctx, struct at_mcp_answer *ans);
/* Check a request's session and revision headers only (for GET/resume). */
void at_mcp_check_session(struct at_mcp *m, const struct at_mcp_ctx *ctx,
                          struct at_mcp_answer *ans);

/* The client of chan went away: cancel the jobs of its pending stateless
 * requests (sessions keep theirs running: they may resume the stream). */
void at_mcp_cancel_chan(struct at_mcp *m, struct at_mcp_chan *chan);

struct at_mcp_sessions *at_mcp_sessions(struct at_mcp *m);

/* Counters for tests and /metrics. */
struct at_mcp_stats {
    unsigned long long requests, notifications, errors, tool_calls, pending;
    size_t sessions;
};
void at_mcp_get_stats(struct at_mcp *m, struct at_mcp_stats *st);

/* The platform tools' names, i < the count (NULL past the end), and the
 * actions (security/access.h) a user needs to call one (read-only tools:
 * read; the others: run).  Agents are judged by their contract instead. */
const char *at_mcp_platform_tool_name(size_t i);
unsigned at_mcp_tool_needs(const char *name);

#endif
