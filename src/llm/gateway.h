/*
 * gateway.h - the model gateway: OpenAI-compatible chat completions routed
 * to configured backends by tier, through a connection pool with
 * per-backend concurrency limits, retries, fallback, health probing, and
 * token/cost accounting against jobs and chain budgets.
 *
 * Threads: at_llm_submit, at_llm_cancel, at_llm_models_json and
 * at_llm_stats_json are thread-safe.  Every network exchange happens on the
 * gateway's own pool thread (libcurl multi, non-blocking, keep-alive), and
 * every callback (chunk, done, observer) runs there: callbacks must only
 * hand off (write to a stream, complete a suspended request, post to a
 * loop), never block.
 *
 * Lifecycle of a call: at_llm_submit either refuses at once (returns an
 * error, no callback) or accepts; an accepted call gets zero or more
 * on_chunk calls (streaming) and then exactly one on_done, also when it is
 * cancelled or the gateway stops.
 */
#ifndef AT_LLM_GATEWAY_H
#define AT_LLM_GATEWAY_H

#include "base/diag.h"
#include "base/id.h"
#include "llm/config.h"
#include "llm/select.h"
#include "llm/wire.h"
#include "store/store.h"
#include "store/writer.h"

#include <jansson.h>
#include <stdint.h>

struct at_llm;

struct at_llm_cfg {
    struct at_llm_config *config; /* taken: the gateway releases it */
    struct at_store *store;       /* for budget look-ups (may be NULL) */
    struct at_writer *writer;     /* usage records go here (may be NULL: not recorded) */
    double discovery_wait_s;      /* at_llm_new waits this long for GET /models; 0: 5 */
    /* Tokens a job tree spent through the gateway (any thread; may be NULL):
     * the engine counts them against the tree's budget for its later steps
     * and spawns. */
    void (*on_tree_usage)(void *arg, const char *root_id, long long tokens);
    void *usage_arg;
    /* Tokens a call billed to an API token spent (at_llm_request.quota_id;
     * any thread; may be NULL): its daily quota (docs/security.md). */
    void (*on_quota_usage)(void *arg, const char *quota_id, long long tokens);
    void *quota_arg;
};

/* Start the pool thread and discover the models of backends that list
 * none.  Returns 0 or an AT_E* code with d filled. */
int at_llm_new(const struct at_llm_cfg *cfg, struct at_llm **out, struct at_diag *d);
/* Stop: calls in flight end with AT_ECANCELED (their on_done runs), then the
 * thread is joined.  NULL is a no-op. */
void at_llm_free(struct at_llm *g);

/* The caller of a call, when it is a job (from its token). */
struct at_llm_caller {
    char job_id[AT_ID_MAX];
    char root_id[AT_ID_MAX];
    char agent[160];      /* "name@version" */
    int agent_tier;       /* the contract's model.preference, -1 when none */
    int override_allowed; /* the contract's model.override_allowed (default 1) */
    /* the custom orchestrator that governs the job (a chain step's), whose
     * model_selection.tiers replace the gateway's tier lists for its calls:
     * "" when none, else its name and each tier's models ('\n'-separated,
     * "" for a tier it does not list) */
    char orchestrator[160];
    char orch_models[AT_LLM_NTIERS][512];
    char quota_id[AT_ID_MAX]; /* the API token billed for the job's calls, "" (at_llm_sample) */
};

/* Fill a caller for job job_id (root root_id, agent "name@version") from its
 * contract's JSON (the `model` block: preference, override_allowed; NULL:
 * no preference, override allowed).  For the runtime's MCP sampling path
 * and the HTTP routes alike. */
void at_llm_caller_init(struct at_llm_caller *c, const char *job_id, const char *root_id,
                        const char *agent, const json_t *contract_json);

/* The job is governed by orchestrator name (a chain step whose chain has a
 * custom orchestrator): take its contract's model_selection.tiers (JSON of
 * its agent block; nothing when model_selection.enabled is false or it
 * lists no tiers).  Models beyond the storage (512 bytes a tier) are left
 * out. */
void at_llm_caller_set_orchestrator(struct at_llm_caller *c, const char *name,
                                    const json_t *contract_json);

/* Whether the gateway can use orchestrator name's model_selection.tiers
 * (contract_json: its agent block): 0 when it has none (or disabled) or
 * every model they name is served by a backend (listed or discovered);
 * else AT_EINVAL with d naming the tier, the model and what is served
 * (`atlas orchestrator set` refuses with it).  Thread-safe. */
int at_llm_orchestrator_check(struct at_llm *g, const char *name, const json_t *contract_json,
                              struct at_diag *d);

/* What a finished call did (valid during the callback only). */
struct at_llm_result {
    uint64_t call_id;
    int code;          /* 0, or the AT_E* that ended it */
    int status;        /* the HTTP status the client gets: 200, or code's (at_err_http) */
    const char *model; /* the model that answered (or was last tried); NULL when none */
    const char *backend;
    int tier;           /* -1 outside tiers */
    const char *reason; /* selection reason */
    const char *error;  /* what went wrong, when code != 0 */
    struct at_llm_usage usage;
    double cost_usd;
    long long latency_ms, ttft_ms, queue_ms;
    int stream;
    json_t *attempts; /* [{model, backend, status, error?, retry_after_ms?, ms}] */
    const struct at_llm_caller *caller; /* NULL outside jobs */
    const char *usage_id;               /* id of the usage record */
    const char *kind;                   /* the record's kind: NULL (chat) or "embeddings" */
};

/* The gateway's error body for code: an RFC 9457 problem whose type
 * (urn:atlas:error:<slug>), title and status are code's row of base/err.h,
 * with detail (made UTF-8), pointer when not NULL, and an OpenAI-style
 * "error" member {message, type, code: the same slug, param?} so that
 * OpenAI clients show it.  Every error the gateway answers, refusals at
 * submit (src/http) and failures after it alike, is built here, so the URN,
 * the error code and the status always name one error.  New reference.
 * Thread-safe. */
json_t *at_llm_problem(int code, const char *detail, const char *pointer);
/* Only the "error" member of at_llm_problem's body (param may be NULL).
 * New reference.  Thread-safe. */
json_t *at_llm_error_member(int code, const char *message, const char *param);

/* How each failure is reported (docs/gateway.md, "Errors"): a malformed
 * request AT_EINVAL, an unknown model AT_ENOENT, the chain's budget
 * AT_ELIMIT (at submit); after it: every candidate rate limited (429 after
 * the retries) AT_ELIMIT, the last candidate timed out AT_ETIMEDOUT, every
 * candidate down, cooling down, full or failing AT_EBUSY, a stream that
 * broke off AT_ECONN, a request the backend refused AT_EINVAL / AT_EPERM /
 * AT_ENOENT / AT_E2BIG (by its status, kept in upstream_status), the
 * client gone or the daemon stopping AT_ECANCELED. */

/* One streamed chunk: the JSON text of a chat.completion.chunk (the data of
 * one SSE event, without "data: "). */
typedef void (*at_llm_chunk_fn)(void *arg, const char *json, size_t len);
/* The end: body is the chat.completion (status 200, non-streamed), or an
 * error object (RFC 9457 problem with an OpenAI-style "error" member), or
 * NULL after a streamed success.  body is borrowed. */
typedef void (*at_llm_done_fn)(void *arg, const struct at_llm_result *res, json_t *body);

struct at_llm_request {
    const json_t *body;                 /* the OpenAI chat request (borrowed; copied) */
    const struct at_llm_caller *caller; /* NULL outside jobs (copied) */
    int override_tier;                  /* the orchestrator's tier for the job, -1 none */
    int strategy;                       /* the orchestrator's routing strategy, 0: the config's */
    const json_t *mcp_prefs;            /* MCP modelPreferences, or NULL (copied) */
    const char *quota_id;               /* the API token billed ("tok_..."), or NULL (copied) */
    at_llm_chunk_fn on_chunk;           /* required when body has "stream": true */
    at_llm_done_fn on_done;
    void *arg;
};

/* Accept a call.  Refusals (no callback runs): AT_EINVAL (the body is not a
 * chat request; d->pointer names the value), AT_ENOENT (unknown model),
 * AT_ELIMIT (the chain's token budget: d names
 * execution.resource_budget.max_tokens_per_chain), AT_ESTATE (stopping).
 * *call_id (may be NULL) identifies it for at_llm_cancel.  Thread-safe. */
int at_llm_submit(struct at_llm *g, const struct at_llm_request *req, uint64_t *call_id,
                  struct at_diag *d);

/* Ask the pool to abandon a call (the client went away).  Its on_done still
 * runs once, with AT_ECANCELED unless it had finished.  Thread-safe. */
void at_llm_cancel(struct at_llm *g, uint64_t call_id);

/* Observe every finished call (e.g. to attach model choice and usage to a
 * trace).  Set before calls are made; fn runs on the pool thread. */
typedef void (*at_llm_observer_fn)(void *arg, const struct at_llm_result *res);
void at_llm_set_observer(struct at_llm *g, at_llm_observer_fn fn, void *arg);

/* GET /v1/models: the tier names and every configured model.  Caller
 * decrefs.  Never contains base URLs or keys. */
json_t *at_llm_models_json(struct at_llm *g);
/* Pool statistics per backend (concurrency, queue, health, latency). */
json_t *at_llm_stats_json(struct at_llm *g);

/* ---- MCP sampling (sampling/createMessage, MCP 2025-11-25 "Sampling") ---- */

/* result: the CreateMessageResult ({role, content, model, stopReason}) when
 * code is 0; else NULL and message says why.  Borrowed. */
typedef void (*at_llm_sample_fn)(void *arg, int code, const char *message, json_t *result);

/* Run a sampling/createMessage request for an agent: params are the
 * request's params (messages, systemPrompt, maxTokens, temperature,
 * stopSequences, modelPreferences).  Non-blocking: cb runs once on the pool
 * thread, or never when this returns non-zero (same refusals as
 * at_llm_submit).  caller may be NULL.  Thread-safe. */
int at_llm_sample(struct at_llm *g, const struct at_llm_caller *caller, const json_t *params,
                  at_llm_sample_fn cb, void *arg, struct at_diag *d);

/* The OpenAI chat request for sampling params (exposed for tests). */
json_t *at_llm_sampling_to_chat(const json_t *params, struct at_diag *d);
/* The CreateMessageResult for a chat.completion (exposed for tests). */
json_t *at_llm_chat_to_sampling(const json_t *completion);

/* Embeddings (docs/gateway.md "Embeddings"): body is the OpenAI request
 * {model, input, ...}; model is a configured model or a tier name (its
 * first model).  POSTs {base_url}/embeddings of the OpenAI-compatible
 * backend serving it and answers its JSON ({data: [{embedding, index}],
 * model, usage}, new reference in *out).  A job's tokens (caller, may be
 * NULL) count towards its tree.  Blocks: not for the HTTP or engine
 * threads.  Errors: AT_EINVAL, AT_ENOENT (model), AT_EUNSUPPORTED (an
 * Anthropic backend), AT_ETIMEDOUT, AT_ECONN, AT_EPROTO, or the backend's
 * status as at_llm_submit reports it; d says why.  Thread-safe. */
int at_llm_embed(struct at_llm *g, const struct at_llm_caller *caller, const json_t *body,
                 json_t **out, struct at_diag *d);

#endif
