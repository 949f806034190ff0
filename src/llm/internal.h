/*
 * internal.h - the model gateway's state, shared by gateway.c (calls, the
 * pool thread) and discovery.c (GET /models, models and stats JSON).  Not
 * for use outside src/llm/.
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

/* Start GET {base_url}/models for backend bi (pool thread; added to *list). */
void at__llm_disco_start(struct at_llm *g, size_t bi, struct disco **list);
/* A discovery transfer ended: add the models, or schedule a retry; frees dc. */
void at__llm_disco_done(struct disco *dc, CURLcode cc);

#endif
