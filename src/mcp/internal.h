/*
 * internal.h - shared between the files of src/mcp/ only.
 */
#ifndef AT_MCP_INTERNAL_H
#define AT_MCP_INTERNAL_H

#include "base/map.h"
#include "mcp/mcp.h"

#include <pthread.h>
#include <stdatomic.h>

/* One open subscriptions/listen stream (MCP 2026-07-28). */
struct at__mcp_sub {
    struct at__mcp_sub *next;
    struct at_mcp_chan *chan; /* reference */
    json_t *id;               /* the listen request's id: the subscription id */
    unsigned kinds;           /* AT__MCP_SUB_* honoured */
    json_t *uris;             /* resourceSubscriptions honoured (array), or NULL */
};
#define AT__MCP_SUB_TOOLS 1u
#define AT__MCP_SUB_PROMPTS 2u
#define AT__MCP_SUB_RESOURCES 4u
/* Open listen streams at once (-32603 beyond), URIs per stream. */
#define AT__MCP_MAX_SUBS 1024
#define AT__MCP_MAX_SUB_URIS 256

struct at_mcp {
    atomic_int refs; /* the owner's and one per pending call */
    struct at_mcp_cfg cfg;
    struct at_mcp_sessions sessions;
    pthread_mutex_t mu;       /* calls, listeners */
    struct at_map calls;      /* call key -> struct at__mcp_call (pending tools/call) */
    struct at_map listeners;  /* session id -> struct at_mcp_chan (GET streams) */
    struct at_map outbound;   /* "<session>|<id>" -> struct at__mcp_outreq (relayed requests) */
    struct at__mcp_sub *subs; /* subscriptions/listen streams (mu) */
    size_t nsubs;
    atomic_llong next_id; /* ids of requests Atlas sends to clients */
    atomic_ullong n_requests, n_notifications, n_errors, n_tool_calls;
    atomic_int n_pending;
    atomic_int stopping;
    /* atlas.registry.list's serialised result, valid while the registry's
     * generation is unchanged (bumped by every registry event) */
    atomic_ulong reg_gen;
    pthread_mutex_t cache_mu;
    char *list_cache;
    unsigned long list_cache_gen;
};

/* The caller of one request, once admitted. */
struct at__mcp_caller {
    struct at_mcp_session *session; /* borrowed; NULL when stateless */
    const char *proto;
    int stateless;
    int loopback;          /* a user admitted by the security layer */
    unsigned granted;      /* the user's actions (security/access.h) */
    char who[64];          /* the user's name ("" when unknown) */
    char agents[512];      /* a user narrowed to agents: ",a,b," ("": any) */
    char owner[AT_ID_MAX]; /* the user's API token id, "" */
    char over_quota[400];  /* why the user may start no run (its quota), "" */
    int has_token;         /* an agent's job token */
    struct at_token_info tok;
    char token[64];
    const json_t *meta; /* the request's _meta (borrowed) */
    int log_level;      /* -1: not set */
    int can_stream;
};

/* A pending request answered later (agent run, spawn). */
struct at__mcp_call {
    atomic_int refs;
    struct at_mcp *m;
    struct at_mcp_chan *chan;               /* reference */
    json_t *id;                             /* the request's id */
    json_t *progress_token;                 /* the client's, or NULL */
    char key[200];                          /* in m->calls ("" when not registered) */
    char session_id[AT_MCP_SESSION_ID_MAX]; /* "" when stateless */
    char job_id[AT_ID_MAX];
    char agent[AT_AGENT_NAME_MAX * 2 + 2];
    int log_level;
    int platform;  /* atlas.exec.spawn: output is the child's, errors carry a code */
    int stateless; /* cancel the job if the client goes away */
    pthread_mutex_t mu;
    int answered;
    json_t *buffered; /* the job's result if it ended before the accept callback */
    json_t *trace;    /* W3C traceparent/tracestate from the request's _meta, or NULL */
    /* a platform tool called by a job: its span is recorded when answered */
    char span_tool[48]; /* "" when none */
    char span_job[AT_ID_MAX], span_root[AT_ID_MAX];
    int64_t span_started_ms;
};

/* A request of an agent relayed to the MCP client that started its job
 * (sampling/createMessage, elicitation/create, roots/list). */
struct at__mcp_outreq {
    struct at_mcp_chan *agent_chan; /* where the agent waits (reference), or NULL */
    json_t *agent_id;               /* the agent's request id */
    char job_id[AT_ID_MAX];         /* or: the job whose meta.input_required this asks
                                       (the answer goes to at_engine_input_answer) */
};

/* server.c */
/* A job started by call asks its caller (the engine's "input" event:
 * meta.input_required, {message, requestedSchema?}): relayed to a session
 * client that declared elicitation as elicitation/create on the call's
 * stream; its answer goes to at_engine_input_answer, as POST
 * /api/v1/jobs/ID/input would.  Returns 0 when it was sent. */
int at__mcp_ask_client(struct at_mcp *m, struct at__mcp_call *call, const json_t *question);
int at__mcp_platform_allowed(const struct at__mcp_caller *c);
/* The request opted into the Tasks extension (MCP 2026-07-28, SEP-2663):
 * its _meta clientCapabilities.extensions names io.modelcontextprotocol/tasks. */
int at__mcp_wants_tasks(const struct at__mcp_caller *c);
/* tasks/get, tasks/cancel, tasks/update of params.taskId (an Atlas job id).
 * Returns 0 and *result, or a JSON-RPC error code with errmsg. */
int at__mcp_task(struct at_mcp *m, const struct at__mcp_caller *c, const char *method,
                 const json_t *params, json_t **result, char *errmsg, size_t errlen);
/* tools.c: may the caller (a user narrowed to agents) use agent ref? */
int at__mcp_agent_ok(const struct at__mcp_caller *c, const char *ref);
struct at__mcp_call *at__mcp_call_new(struct at_mcp *m, struct at_mcp_chan *chan, const json_t *id,
                                      const struct at__mcp_caller *c, const json_t *progress_token);
void at__mcp_call_unref(struct at__mcp_call *call);
/* Send the final response (a CallToolResult, stolen) once. */
void at__mcp_call_finish(struct at__mcp_call *call, json_t *result);
/* Register the call for notifications/cancelled (job id known). */
void at__mcp_call_register(struct at__mcp_call *call);
/* Take a call that was registered but never started out of the table (its
 * job was refused); the caller answers it itself. */
void at__mcp_call_forget(struct at__mcp_call *call);
void at__mcp_notify_sessions(struct at_mcp *m, const char *method);

/* tools.c */
/* tools/list result for this caller (cursor NULL for the first page).
 * Returns 0, or AT_EINVAL for a bad cursor. */
int at__mcp_tools_list(struct at_mcp *m, const struct at__mcp_caller *c, const char *cursor,
                       json_t **result);
/* tools/call: 0 with *result (a CallToolResult) or *raw (one already
 * serialised, owned), AT_AGAIN when the answer
 * comes later through the call, or a JSON-RPC error code with *errmsg. */
int at__mcp_tools_call(struct at_mcp *m, const struct at__mcp_caller *c, const json_t *params,
                       const json_t *id, struct at_mcp_chan *chan, json_t **result, char **raw,
                       char *errmsg, size_t errlen);
/* A CallToolResult with isError (code slug + message). */
json_t *at__mcp_tool_error(int code, const char *message, int structured);
/* Render a job's output as a CallToolResult. */
json_t *at__mcp_render_output(const json_t *output);

/* resources.c */
int at__mcp_resources_list(struct at_mcp *m, const struct at__mcp_caller *c, const char *cursor,
                           json_t **result);
int at__mcp_resource_templates_list(struct at_mcp *m, const char *cursor, json_t **result);
/* 0 with *result, or a JSON-RPC error code (AT_MCP_RESOURCE_NOT_FOUND...). */
int at__mcp_resources_read(struct at_mcp *m, const struct at__mcp_caller *c, const char *uri,
                           json_t **result, char *errmsg, size_t errlen);
int at__mcp_prompts_list(struct at_mcp *m, const char *cursor, json_t **result);
int at__mcp_prompts_get(struct at_mcp *m, const char *name, const json_t *args, json_t **result,
                        char *errmsg, size_t errlen);
int at__mcp_complete(struct at_mcp *m, const json_t *params, json_t **result, char *errmsg,
                     size_t errlen);

/* Pagination over a JSON array (MCP 2025-11-25 server/utilities/pagination):
 * put the page of `all` starting at cursor into result[key] and nextCursor.
 * Returns 0 or AT_EINVAL for a cursor we did not issue. */
int at__mcp_paginate(json_t *all, const char *cursor, size_t page, const char *key, json_t *result);

#endif
