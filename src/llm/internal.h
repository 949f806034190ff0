/*
 * internal.h - the model gateway's state, shared by its files: gateway.c
 * (lifecycle, the pool thread, submit/cancel), call.c (a call's life:
 * slots, retries, fallback, the end), transfer.c (one HTTP exchange with a
 * backend), account.c (budgets, statistics, usage records) and discovery.c
 * (GET /models, the models and stats documents).  Not for use outside
 * src/llm/.  Everything named at__llm_* runs on the pool thread unless it
 * says otherwise.
 */
#ifndef AT_LLM_INTERNAL_H
#define AT_LLM_INTERNAL_H

#include "base/buf.h"
#include "base/map.h"
#include "base/sse.h"
#include "llm/gateway.h"
#include "llm/sem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>

struct backend {
    struct at_llm_backend_cfg *cfg; /* in g->conf (the array does not move) */
    struct at_llm_sem sem;
    struct at_llm_health health;
    int discovered; /* models known (listed or discovered) */
    int discovering;
    int64_t next_discovery_ns;
    uint64_t calls, errors, retries, fallbacks;
    long long tokens_in, tokens_out;
    double ewma_ms; /* mean latency of successful calls */
};

enum call_state { C_NEW, C_QUEUED, C_SENDING, C_WAIT, C_DONE };

struct call {
    struct call *next;           /* g->incoming, g->active */
    struct at_llm_waiter waiter; /* first: container_of by cast */
    struct at_llm *g;
    uint64_t id;
    char quota_id[AT_ID_MAX]; /* at_llm_request.quota_id, "" */
    enum call_state state;
    json_t *body; /* the client's request (copied) */
    struct at_llm_choice choice;
    size_t ci;                /* current candidate */
    int tries_here;           /* attempts on the current candidate */
    int stream, client_usage; /* streamed; the client asked for usage chunks */
    struct at_llm_caller caller;
    int has_caller;
    long long est_raw;          /* input tokens by the text estimate */
    long long est_in, reserved; /* calibrated estimate; budget reservation */
    at_llm_chunk_fn on_chunk;
    at_llm_done_fn on_done;
    void *arg;
    int64_t t0_ns, first_ns, queued_ns, queue_ns, due_ns;
    json_t *attempts;
    int64_t attempt_t0;
    int cancelled;
    char last_error[300];
    int last_status;
    int last_timed_out; /* the last attempt ended by the backend's timeout */
    /* the current transfer */
    CURL *h;
    struct curl_slist *hdrs;
    char *payload;
    long status;
    char ctype[96];
    char retry_after[64];
    struct at_buf resp; /* non-streamed body, or an error body */
    struct at_sse_parser sse;
    int sse_on;
    int probe; /* this transfer probes a down backend */
    struct at_llm_stream_acc acc;
    struct at_llm_anth_stream anth;
    int emitted; /* chunks passed to the client */
    int first_meta_done;
};

/* Observed per backend and model (g->lat, under mu). */
struct model_stat {
    double lat_ms;   /* mean latency of successful calls */
    double in_ratio; /* reported input tokens / our estimate: calibrates estimates */
};

struct root_use {
    long long used;     /* tokens recorded */
    long long reserved; /* input estimates of calls in flight */
};

struct at_llm {
    struct at_llm_config conf;
    pthread_rwlock_t conf_lock;
    struct backend *b;
    size_t nb;
    struct at_store *store;
    struct at_writer *writer;
    void (*on_tree_usage)(void *arg, const char *root_id, long long tokens);
    void *usage_arg;
    void (*on_quota_usage)(void *arg, const char *quota_id, long long tokens);
    void *quota_arg;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* discovery finished */
    struct call *incoming;
    uint64_t *cancels;
    size_t ncancels, cancels_cap;
    int stop;
    int thread_started;
    struct call *active;
    CURL *free_handles[64];
    size_t nfree;
    uint64_t next_id;
    struct at_map roots; /* root job id -> struct root_use* (under mu) */
    struct at_map lat;   /* "backend\nmodel" -> struct model_stat* (under mu) */
    at_llm_observer_fn observer;
    void *observer_arg;
    uint64_t total_calls, total_refused;
};

struct disco {
    struct at_llm *g;
    size_t bi;
    CURL *h;
    struct curl_slist *hdrs;
    struct at_buf body;
    struct disco *next;
};

#define AT__LLM_MAX_RESPONSE (16u << 20) /* one non-streamed answer */

/* ---- call.c ---- */

/* Acquire a slot of the current candidate's backend and send, queue, or
 * move on to the next usable candidate (failing the call when none is). */
void at__llm_attempt(struct call *c);
/* A transfer of c ended with cc: answer, retry, fall back or fail. */
void at__llm_transfer_done(struct call *c, CURLcode cc);
/* End c with error code (a problem body from at_llm_problem; the status is
 * code's row in base/err.h); on_done runs. */
void at__llm_fail(struct call *c, int code, const char *detail);

/* ---- transfer.c ---- */

/* What an ended transfer came to (at__llm_transfer_outcome). */
enum at__llm_end {
    AT__LLM_END_STREAMED,  /* a stream under way ended (ok or broken): it cannot move */
    AT__LLM_END_ANSWER,    /* 2xx: an answer (o->answer, or the stream is complete) */
    AT__LLM_END_REFUSED,   /* 4xx other than 429: the request's fault */
    AT__LLM_END_RETRYABLE, /* 429, 5xx, a transport error, or 2xx that is no answer */
};

struct at__llm_outcome {
    enum at__llm_end end;
    long status;              /* HTTP status, 0 when none came */
    int ok;                   /* STREAMED: the stream ended well */
    int transport;            /* failed below HTTP, or the answer was unusable */
    int timed_out;            /* the backend's timeout (or a stalled stream) ended it */
    int not_completion;       /* RETRYABLE: 2xx but not a chat completion */
    json_t *answer;           /* ANSWER, not streamed: the chat.completion (caller decrefs) */
    json_t *upstream;         /* REFUSED: the backend's error body, or NULL (caller decrefs) */
    long long retry_after_ms; /* the Retry-After header; -1 when none */
    char error[300];          /* what went wrong, for attempts and messages */
};

/* Start the transfer of c's current candidate (a slot is held). */
void at__llm_transfer_start(struct call *c);
/* Give c's easy handle back to the pool (or free it); no-op without one. */
void at__llm_transfer_release(struct at_llm *g, struct call *c);
/* Classify c's ended transfer; does not change slots, health or state. */
void at__llm_transfer_outcome(struct call *c, CURLcode cc, struct at__llm_outcome *o);
/* A backend answered a streamed request with a plain chat.completion (some
 * ignore "stream"): pass it on as one chunk, then its usage. */
void at__llm_stream_from_answer(struct call *c);

/* ---- account.c ---- */

/* The statistics of model on backend; created when create (under g->mu). */
struct model_stat *at__llm_model_stat(struct at_llm *g, int backend, const char *model, int create);
/* Calibrate c->est_in by what its first candidate reported before (any
 * thread). */
void at__llm_calibrate(struct at_llm *g, struct call *c);
/* The caller's chain budget: refuse (AT_ELIMIT, d says why), or reserve the
 * input estimate and cap max_tokens so that the call cannot pass it (any
 * thread; may read the store once per chain). */
int at__llm_budget_check(struct at_llm *g, struct call *c, struct at_diag *d);
/* The price of usage u of model on backend, in US dollars. */
double at__llm_cost(struct at_llm *g, int backend, const char *model, const struct at_llm_usage *u);
/* Count a finished call: statistics, the chain's use, the usage record, the
 * engine's tree counter.  bi: the backend that answered or was last tried,
 * -1 when none. */
void at__llm_account(struct at_llm *g, struct call *c, const struct at_llm_result *r, int bi);
/* Count an embeddings call like a chat call (embed.c): the backend's
 * statistics, a usage record of kind "embeddings" (tokens, cost at the
 * model's input price), the caller's tree and quota.  bi: the backend, -1
 * when none was chosen. */
void at__llm_account_embed(struct at_llm *g, const struct at_llm_caller *caller, int bi,
                           const char *model, int code, long long tokens, long long latency_ms);

/* ---- discovery.c ---- */

/* Start GET {base_url}/models for backend bi (pool thread; added to *list). */
void at__llm_disco_start(struct at_llm *g, size_t bi, struct disco **list);
/* A discovery transfer ended: add the models, or schedule a retry; frees dc. */
void at__llm_disco_done(struct disco *dc, CURLcode cc);

#endif
