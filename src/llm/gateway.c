/*
 * gateway.c - the pool thread, calls, retries/fallback and accounting (see
 * gateway.h and docs/gateway.md).
 *
 * One thread owns a libcurl multi handle and every call in flight.  Other
 * threads hand calls and cancellations over through `incoming` under `mu`
 * and wake the thread with curl_multi_wakeup.  Per backend the thread keeps
 * a concurrency semaphore (FIFO queue), a health record and statistics;
 * those are also read by at_llm_stats_json, so they are changed under `mu`
 * (held only for a few instructions).  The configuration is read-locked by
 * selection on callers' threads and write-locked when discovery adds
 * models.
 */
#include "llm/gateway.h"

#include "llm/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/map.h"
#include "base/sse.h"
#include "base/str.h"
#include "json/json.h"
#include "llm/sem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define MAX_RESPONSE (16u << 20) /* one non-streamed answer */
#define MAX_EVENT (4u << 20)     /* one streamed event */
#define MAX_ERROR_BODY (64u << 10)
#define MAX_ROOTS 10000 /* chains whose usage is cached */

static int64_t now_ns(void)
{
    return at_now_ns();
}

/* ------------------------------------------------------------------------
 * accounting
 * ------------------------------------------------------------------------ */

static struct root_use *root_get(struct at_llm *g, const char *root_id)
{
    /* under g->mu */
    struct root_use *u = at_map_get(&g->roots, root_id);
    if (u)
        return u;
    if (g->roots.len >= MAX_ROOTS) {
        /* forget idle chains; they are read again from the store */
        size_t it = 0;
        const char *k;
        void *v;
        char **drop = at_calloc(g->roots.len, sizeof(char *));
        size_t nd = 0;
        while (at_map_next(&g->roots, &it, &k, &v))
            if (((struct root_use *)v)->reserved == 0)
                drop[nd++] = at_strdup(k);
        for (size_t i = 0; i < nd; i++) {
            free(at_map_del(&g->roots, drop[i]));
            free(drop[i]);
        }
        free(drop);
    }
    return NULL;
}

static long long root_used_from_store(struct at_llm *g, const char *root_id)
{
    if (!g->store)
        return 0;
    struct at_usage_filter f = {.group_by = "all", .root_id = root_id};
    json_t *sum = NULL;
    long long used = 0;
    if (at_store_call(g->store, usage_sum, &f, &sum) == 0) {
        json_t *row = json_array_get(sum, 0);
        used = at_json_int(row, "tokens_in", 0) + at_json_int(row, "tokens_out", 0);
    }
    json_decref(sum);
    return used;
}

static double cost_of(const struct at_llm_config *c, int backend, const char *model,
                      const struct at_llm_usage *u)
{
    const struct at_llm_backend_cfg *b = &c->backends[backend];
    for (size_t i = 0; i < b->nmodels; i++)
        if (strcmp(b->models[i].name, model) == 0)
            return ((double)u->tokens_in * b->models[i].price.in_per_mtok +
                    (double)u->tokens_out * b->models[i].price.out_per_mtok) /
                   1e6;
    return 0;
}

struct usage_write {
    struct at_usage_rec rec;
};

static int usage_write_fn(struct at_store *s, void *arg)
{
    struct usage_write *w = arg;
    return at_store_call(s, usage_insert, &w->rec);
}

static void usage_write_done(int rc, void *arg)
{
    struct usage_write *w = arg;
    if (rc)
        at_warn("llm", "usage record %s not stored: %s", w->rec.id, at_err_msg(rc));
    free(w->rec.job_id);
    free(w->rec.root_id);
    free(w->rec.agent);
    free(w->rec.backend);
    free(w->rec.model);
    free(w->rec.tier);
    free(w->rec.status);
    free(w);
}

static void record_usage(struct at_llm *g, const struct at_llm_result *r)
{
    if (!g->writer)
        return;
    struct usage_write *w = at_calloc(1, sizeof(*w));
    snprintf(w->rec.id, sizeof(w->rec.id), "%s", r->usage_id);
    const struct at_llm_caller *c = r->caller;
    if (c) {
        w->rec.job_id = at_strdup(c->job_id);
        w->rec.root_id = at_strdup(c->root_id[0] ? c->root_id : c->job_id);
        w->rec.agent = at_strdup(c->agent);
    }
    w->rec.backend = r->backend ? at_strdup(r->backend) : NULL;
    w->rec.model = r->model ? at_strdup(r->model) : NULL;
    w->rec.tier = r->tier >= 0 ? at_strdup(at_llm_tier_name(r->tier)) : NULL;
    w->rec.tokens_in = r->usage.tokens_in;
    w->rec.tokens_out = r->usage.tokens_out;
    w->rec.cost_usd = r->cost_usd;
    w->rec.latency_ms = r->latency_ms;
    w->rec.ttft_ms = r->ttft_ms;
    w->rec.status = at_strdup(r->code == 0              ? "ok"
                              : r->code == AT_ELIMIT    ? "refused"
                              : r->code == AT_ECANCELED ? "cancelled"
                                                        : "error");
    w->rec.created_ms = at_wall_ms();
    if (at_writer_submit(g->writer, usage_write_fn, usage_write_done, w)) {
        at_warn("llm", "usage record %s dropped: the store writer is busy", w->rec.id);
        usage_write_done(0, w);
    }
}

/* ------------------------------------------------------------------------
 * problems (RFC 9457 with an OpenAI-style "error" member so that OpenAI
 * clients show the message)
 * ------------------------------------------------------------------------ */

static json_t *problem(int code, int status, const char *detail)
{
    char type[96];
    snprintf(type, sizeof(type), "urn:atlas:error:%s", at_err_slug(code));
    json_t *p = json_pack("{s:s,s:s,s:i,s:s}", "type", type, "title", at_err_msg(code), "status",
                          status, "detail", detail);
    if (!p) /* detail not UTF-8 */
        p = json_pack("{s:s,s:s,s:i}", "type", type, "title", at_err_msg(code), "status", status);
    json_object_set_new(p, "error",
                        json_pack("{s:s?,s:s,s:s}", "message",
                                  json_string_value(json_object_get(p, "detail")), "type",
                                  status == 429   ? "rate_limit_exceeded"
                                  : status >= 500 ? "server_error"
                                                  : "invalid_request_error",
                                  "code", at_err_slug(code)));
    return p;
}

/* ------------------------------------------------------------------------
 * finishing a call
 * ------------------------------------------------------------------------ */

static void call_free(struct call *c)
{
    json_decref(c->body);
    json_decref(c->attempts);
    at_buf_release(&c->resp);
    if (c->sse_on)
        at_sse_parser_release(&c->sse);
    free(c->payload);
    curl_slist_free_all(c->hdrs);
    free(c);
}

static void release_handle(struct at_llm *g, struct call *c)
{
    if (!c->h)
        return;
    curl_multi_remove_handle(g->multi, c->h);
    if (g->nfree < sizeof(g->free_handles) / sizeof(g->free_handles[0]))
        g->free_handles[g->nfree++] = c->h;
    else
        curl_easy_cleanup(c->h);
    c->h = NULL;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    free(c->payload);
    c->payload = NULL;
}

static void start_attempt(struct call *c);
static void send_transfer(struct call *c);
static struct model_stat *model_stat_get(struct at_llm *g, int backend, const char *model,
                                         int create);

/* Give back the current candidate's slot; a waiter may get it. */
static void release_slot(struct call *c)
{
    struct at_llm *g = c->g;
    struct backend *b = &g->b[c->choice.cand[c->ci].backend];
    int64_t waited = 0;
    pthread_mutex_lock(&g->mu);
    struct at_llm_waiter *w = at_llm_sem_release(&b->sem, now_ns(), &waited);
    pthread_mutex_unlock(&g->mu);
    if (w) {
        struct call *next = (struct call *)((char *)w - offsetof(struct call, waiter));
        next->queue_ns += waited;
        send_transfer(next);
    }
}

static void finish(struct call *c, int code, int status, json_t *body)
{
    struct at_llm *g = c->g;
    if (c->state == C_DONE)
        return;
    int was_sending = c->state == C_SENDING;
    if (c->state == C_QUEUED) {
        pthread_mutex_lock(&g->mu);
        at_llm_sem_remove(&g->b[c->choice.cand[c->ci].backend].sem, &c->waiter);
        pthread_mutex_unlock(&g->mu);
    }
    c->state = C_DONE;
    if (was_sending) {
        release_handle(g, c);
        release_slot(c);
    }
    int64_t t = now_ns();
    struct at_llm_result r;
    memset(&r, 0, sizeof(r));
    char usage_id[AT_ID_MAX];
    at_id_new("use", usage_id);
    r.call_id = c->id;
    r.code = code;
    r.status = status;
    r.tier = c->choice.tier;
    r.reason = c->choice.reason;
    r.stream = c->stream;
    r.attempts = c->attempts;
    r.caller = c->has_caller ? &c->caller : NULL;
    r.usage_id = usage_id;
    r.error = code ? c->last_error : NULL;
    int bi = -1;
    if (c->ci < c->choice.ncand) {
        bi = c->choice.cand[c->ci].backend;
        r.model = c->choice.cand[c->ci].model;
        r.backend = g->conf.backends[bi].name;
    }
    r.latency_ms = (t - c->t0_ns) / 1000000;
    r.ttft_ms = c->first_ns ? (c->first_ns - c->t0_ns) / 1000000 : -1;
    r.queue_ms = c->queue_ns / 1000000;
    if (c->stream) {
        at_llm_stream_usage(&c->acc, c->est_in, &r.usage);
        if (!c->emitted && code)
            memset(&r.usage, 0, sizeof(r.usage));
    } else if (code == 0 && body) {
        if (!at_llm_usage_from_json(body, &r.usage)) {
            r.usage.tokens_in = c->est_in;
            r.usage.tokens_out = at_llm_estimate_response(body);
        }
    }
    if (bi >= 0)
        r.cost_usd = cost_of(&g->conf, bi, r.model, &r.usage);
    /* the response's metadata */
    if (code == 0 && body && json_is_object(body)) {
        json_t *meta = json_pack(
            "{s:s,s:s,s:s?,s:s,s:O,s:I,s:I,s:I,s:f,s:b,s:s}", "model", r.model, "backend",
            r.backend, "tier", r.tier >= 0 ? at_llm_tier_name(r.tier) : NULL, "reason", r.reason,
            "attempts", c->attempts, "queue_ms", (json_int_t)r.queue_ms, "latency_ms",
            (json_int_t)r.latency_ms, "ttft_ms", (json_int_t)r.ttft_ms, "cost_usd", r.cost_usd,
            "usage_reported", r.usage.reported, "usage_id", usage_id);
        if (meta)
            json_object_set_new(body, "atlas", meta);
    }
    pthread_mutex_lock(&g->mu);
    if (bi >= 0 && code == 0 && r.usage.reported && c->est_raw > 0 && r.usage.tokens_in > 0) {
        /* how this model's tokenizer compares with the text estimate */
        struct model_stat *st = model_stat_get(g, bi, r.model, 1);
        double x = (double)r.usage.tokens_in / (double)c->est_raw;
        st->in_ratio = st->in_ratio > 0 ? st->in_ratio * 0.7 + x * 0.3 : x;
    }
    if (bi >= 0) {
        struct backend *b = &g->b[bi];
        b->calls++;
        if (code)
            b->errors++;
        b->tokens_in += r.usage.tokens_in;
        b->tokens_out += r.usage.tokens_out;
    }
    if (c->has_caller) {
        const char *root = c->caller.root_id[0] ? c->caller.root_id : c->caller.job_id;
        struct root_use *u = at_map_get(&g->roots, root);
        if (u) {
            u->reserved -= c->reserved;
            u->used += r.usage.tokens_in + r.usage.tokens_out;
        }
    }
    at_llm_observer_fn obs = g->observer;
    void *obs_arg = g->observer_arg;
    pthread_mutex_unlock(&g->mu);
    record_usage(g, &r);
    long long spent = r.usage.tokens_in + r.usage.tokens_out;
    if (c->has_caller && spent > 0 && g->on_tree_usage)
        g->on_tree_usage(g->usage_arg, c->caller.root_id[0] ? c->caller.root_id : c->caller.job_id,
                         spent);
    if (obs)
        obs(obs_arg, &r);
    c->on_done(c->arg, &r, body);
}

/* Fail a call with an error of its own (problem body). */
static void fail_call(struct call *c, int code, int status, const char *detail)
{
    snprintf(c->last_error, sizeof(c->last_error), "%s", detail);
    json_t *p = problem(code, status, detail);
    json_object_set(p, "attempts", c->attempts);
    finish(c, code, status, p);
    json_decref(p);
}

/* ------------------------------------------------------------------------
 * transfers
 * ------------------------------------------------------------------------ */

static void emit_to_client(struct call *c, const char *json, size_t len)
{
    c->emitted++;
    c->on_chunk(c->arg, json, len);
}

/* One OpenAI chunk from upstream (or from the Anthropic translation). */
static void on_chunk_json(void *arg, const char *data, size_t len)
{
    struct call *c = arg;
    int first = at_llm_stream_chunk(&c->acc, data, len);
    if (first == 1 && !c->first_ns)
        c->first_ns = now_ns();
    if (c->acc.done)
        return;
    if (c->acc.usage_only && !c->client_usage)
        return; /* we asked for usage; the client did not */
    if (!c->first_meta_done) {
        /* the first chunk names the model chosen and why */
        json_t *j;
        if (at_json_parse(data, len, 64, &j, NULL) == 0 && json_is_object(j)) {
            c->first_meta_done = 1;
            struct at_llm *g = c->g;
            int bi = c->choice.cand[c->ci].backend;
            json_object_set_new(
                j, "atlas",
                json_pack("{s:s,s:s,s:s?,s:s,s:I}", "model", c->choice.cand[c->ci].model, "backend",
                          g->conf.backends[bi].name, "tier",
                          c->choice.tier >= 0 ? at_llm_tier_name(c->choice.tier) : NULL, "reason",
                          c->choice.reason, "queue_ms", (json_int_t)(c->queue_ns / 1000000)));
            char *s = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            if (s) {
                emit_to_client(c, s, strlen(s));
                free(s);
                return;
            }
        } else {
            json_decref(j);
        }
    }
    emit_to_client(c, data, len);
}

static int on_sse_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)id;
    struct call *c = arg;
    struct at_llm *g = c->g;
    int bi = c->choice.cand[c->ci].backend;
    if (g->conf.backends[bi].kind == AT_LLM_ANTHROPIC)
        at_llm_anth_stream_event(&c->anth, event, data, len, on_chunk_json, c);
    else
        on_chunk_json(c, data, len);
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = sz * n;
    if (c->status == 0)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->stream && c->status >= 200 && c->status < 300 &&
        strncasecmp(c->ctype, "text/event-stream", 17) == 0) {
        if (!c->sse_on) {
            at_sse_parser_init(&c->sse, MAX_EVENT, on_sse_event, c);
            c->sse_on = 1;
        }
        if (c->cancelled)
            return 0;
        return at_sse_feed(&c->sse, p, len) ? 0 : len;
    }
    if (!c->first_ns && c->status >= 200 && c->status < 300)
        c->first_ns = now_ns();
    size_t max = c->status >= 200 && c->status < 300 ? MAX_RESPONSE : MAX_ERROR_BODY;
    if (c->resp.len + len > max)
        return c->status >= 200 && c->status < 300 ? 0 : len; /* keep the head of errors */
    at_buf_append(&c->resp, p, len);
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = sz * n;
    if (len > 5 && strncasecmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue): forget the last one's headers */
        c->ctype[0] = c->retry_after[0] = '\0';
        c->status = 0;
        return len;
    }
    if (!at_header_value(p, len, "content-type", c->ctype, sizeof(c->ctype)))
        at_header_value(p, len, "retry-after", c->retry_after, sizeof(c->retry_after));
    return len;
}

static char *build_payload(struct call *c, const struct at_llm_backend_cfg *b, const char *model)
{
    if (b->kind == AT_LLM_ANTHROPIC) {
        json_t *req = at_llm_anthropic_request(c->body, model, c->stream);
        char *s = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        return s;
    }
    json_t *req = json_copy(c->body); /* shallow: only top-level keys change */
    json_object_set_new(req, "model", json_string(model));
    if (c->stream) {
        json_t *so = json_object_get(c->body, "stream_options");
        json_t *nso = json_is_object(so) ? json_copy(so) : json_object();
        json_object_set_new(nso, "include_usage", json_true());
        json_object_set_new(req, "stream_options", nso);
    }
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

/* Start the transfer of the current candidate (a slot is held). */
static void send_transfer(struct call *c)
{
    struct at_llm *g = c->g;
    const struct at_llm_candidate *k = &c->choice.cand[c->ci];
    const struct at_llm_backend_cfg *b = &g->conf.backends[k->backend];
    c->state = C_SENDING;
    c->attempt_t0 = now_ns();
    c->status = 0;
    c->ctype[0] = c->retry_after[0] = '\0';
    at_buf_clear(&c->resp);
    if (c->sse_on) {
        at_sse_parser_release(&c->sse);
        c->sse_on = 0;
    }
    memset(&c->acc, 0, sizeof(c->acc));
    at_llm_anth_stream_init(&c->anth, 1);
    c->first_meta_done = 0;
    c->payload = build_payload(c, b, k->model);
    CURL *h = g->nfree ? g->free_handles[--g->nfree] : curl_easy_init();
    curl_easy_reset(h);
    c->h = h;
    char url[1200];
    snprintf(url, sizeof(url), "%s/%s", b->base_url,
             b->kind == AT_LLM_ANTHROPIC ? "messages" : "chat/completions");
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd =
        curl_slist_append(hd, c->stream ? "Accept: text/event-stream" : "Accept: application/json");
    hd = curl_slist_append(hd, "Expect:");
    if (b->api_key) {
        char *line = b->kind == AT_LLM_ANTHROPIC
                         ? at_asprintf("x-api-key: %s", b->api_key)
                         : at_asprintf("Authorization: Bearer %s", b->api_key);
        hd = curl_slist_append(hd, line);
        memset(line, 0, strlen(line));
        free(line);
    }
    if (b->kind == AT_LLM_ANTHROPIC)
        hd = curl_slist_append(hd, "anthropic-version: 2023-06-01");
    c->hdrs = hd;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->payload ? c->payload : "{}");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(c->payload ? strlen(c->payload) : 2));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(b->connect_timeout_s * 1000));
    if (c->stream) {
        /* a stream may run long; a stall (no byte for `timeout`) ends it */
        long secs = (long)(b->timeout_s + 0.999);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, secs > 0 ? secs : 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(b->timeout_s * 1000));
    }
    curl_multi_add_handle(g->multi, h);
}

static void add_attempt(struct call *c, long status, const char *error, long long retry_ms)
{
    struct at_llm *g = c->g;
    const struct at_llm_candidate *k = &c->choice.cand[c->ci];
    json_t *a = json_pack("{s:s,s:s,s:i,s:I}", "model", k->model, "backend",
                          g->conf.backends[k->backend].name, "status", (int)status, "ms",
                          (json_int_t)((now_ns() - c->attempt_t0) / 1000000));
    if (error)
        json_object_set_new(a, "error", json_string(error));
    if (retry_ms >= 0)
        json_object_set_new(a, "retry_after_ms", json_integer(retry_ms));
    json_array_append_new(c->attempts, a);
}

/* Move on to the next candidate, or fail when none is left. */
static void next_candidate(struct call *c)
{
    c->ci++;
    c->tries_here = 0;
    if (c->ci < c->choice.ncand) {
        pthread_mutex_lock(&c->g->mu);
        c->g->b[c->choice.cand[c->ci - 1].backend].fallbacks++;
        pthread_mutex_unlock(&c->g->mu);
        start_attempt(c);
        return;
    }
    c->ci--; /* report the last one tried */
    int status = c->last_status == 429 ? 429 : 503;
    char msg[600];
    snprintf(msg, sizeof(msg), "no model of the choice could answer (%zu tried): %s",
             c->choice.ncand, c->last_error[0] ? c->last_error : "every backend is down");
    fail_call(c, status == 429 ? AT_ELIMIT : AT_EBUSY, status, msg);
}

/* Acquire a slot of the current candidate's backend and send, or queue. */
static void start_attempt(struct call *c)
{
    struct at_llm *g = c->g;
    for (;;) {
        if (c->cancelled) {
            fail_call(c, AT_ECANCELED, 499, "the client went away");
            return;
        }
        const struct at_llm_candidate *k = &c->choice.cand[c->ci];
        struct backend *b = &g->b[k->backend];
        int64_t t = now_ns();
        int probe = 0;
        pthread_mutex_lock(&g->mu);
        int usable = t >= b->health.cool_until_ns && at_llm_health_usable(&b->health, t, &probe);
        int rc = usable ? at_llm_sem_acquire(&b->sem, &c->waiter, t) : AT_EBUSY;
        if (usable && rc == AT_EBUSY && probe)
            b->health.probing = 0;
        pthread_mutex_unlock(&g->mu);
        c->probe = probe;
        if (rc == 0) {
            send_transfer(c);
            return;
        }
        if (rc == AT_AGAIN) {
            c->state = C_QUEUED;
            c->queued_ns = t;
            return;
        }
        /* down, cooling down after a Retry-After, or its queue is full */
        const char *why = !usable ? (b->health.down ? "backend down" : "backend cooling down")
                                  : "backend queue full (max_queue)";
        c->attempt_t0 = t;
        add_attempt(c, 0, why, -1);
        snprintf(c->last_error, sizeof(c->last_error), "%s: %s", b->cfg->name, why);
        c->last_status = 503;
        if (c->ci + 1 >= c->choice.ncand) {
            char msg[600];
            snprintf(msg, sizeof(msg), "no model of the choice could answer: %s", c->last_error);
            fail_call(c, AT_EBUSY, 503, msg);
            return;
        }
        c->ci++;
        c->tries_here = 0;
    }
}

static uint32_t rnd32(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (uint32_t)now_ns();
    return r;
}

static struct model_stat *model_stat_get(struct at_llm *g, int backend, const char *model,
                                         int create)
{
    /* under g->mu */
    char key[400];
    snprintf(key, sizeof(key), "%s\n%s", g->conf.backends[backend].name, model);
    struct model_stat *st = at_map_get(&g->lat, key);
    if (!st && create) {
        st = at_calloc(1, sizeof(*st));
        st->lat_ms = -1;
        at_map_put(&g->lat, key, st);
    }
    return st;
}

static void update_latency(struct at_llm *g, struct call *c, int64_t ms)
{
    const struct at_llm_candidate *k = &c->choice.cand[c->ci];
    pthread_mutex_lock(&g->mu);
    struct model_stat *st = model_stat_get(g, k->backend, k->model, 1);
    st->lat_ms = st->lat_ms < 0 ? (double)ms : st->lat_ms * 0.8 + (double)ms * 0.2;
    struct backend *b = &g->b[k->backend];
    b->ewma_ms = b->ewma_ms ? b->ewma_ms * 0.8 + (double)ms * 0.2 : (double)ms;
    pthread_mutex_unlock(&g->mu);
}

/* A backend answered a streamed request with a plain chat.completion (some
 * ignore "stream"): pass it on as one chunk, then its usage. */
static void stream_from_answer(struct call *c, enum at_llm_kind kind)
{
    json_t *resp = NULL;
    if (at_json_parse(c->resp.p, c->resp.len, 0, &resp, NULL))
        return;
    if (kind == AT_LLM_ANTHROPIC) {
        json_t *conv = at_llm_anthropic_response(resp);
        json_decref(resp);
        resp = conv;
    }
    json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) {
        json_decref(resp);
        return;
    }
    json_t *delta = json_deep_copy(msg);
    json_t *calls = json_object_get(delta, "tool_calls");
    size_t i;
    json_t *tc;
    json_array_foreach(calls, i, tc) json_object_set_new(tc, "index", json_integer((json_int_t)i));
    json_t *ch = json_pack("{s:i,s:o,s:O?}", "index", 0, "delta", delta, "finish_reason",
                           json_object_get(choice, "finish_reason"));
    json_t *chunk =
        json_pack("{s:O?,s:s,s:O?,s:[o]}", "id", json_object_get(resp, "id"), "object",
                  "chat.completion.chunk", "model", json_object_get(resp, "model"), "choices", ch);
    char *text = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
    if (text)
        on_chunk_json(c, text, strlen(text));
    free(text);
    json_decref(chunk);
    json_t *usage = json_object_get(resp, "usage");
    if (usage) {
        json_t *uc = json_pack("{s:s,s:[],s:O}", "object", "chat.completion.chunk", "choices",
                               "usage", usage);
        text = uc ? json_dumps(uc, JSON_COMPACT) : NULL;
        if (text)
            on_chunk_json(c, text, strlen(text));
        free(text);
        json_decref(uc);
    }
    json_decref(resp);
}

/* A transfer ended: decide between success, retry, fallback and failure. */
static void transfer_done(struct call *c, CURLcode cc)
{
    struct at_llm *g = c->g;
    const struct at_llm_candidate *k = &c->choice.cand[c->ci];
    struct backend *b = &g->b[k->backend];
    if (c->status == 0)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    long status = c->status;
    int64_t t = now_ns();
    if (c->cancelled) {
        fail_call(c, AT_ECANCELED, 499, "the client went away");
        return;
    }
    /* a stream already under way cannot be retried elsewhere */
    if (c->stream && c->emitted) {
        int ok = cc == CURLE_OK && status >= 200 && status < 300;
        add_attempt(c, status, ok ? NULL : curl_easy_strerror(cc), -1);
        pthread_mutex_lock(&g->mu);
        if (ok)
            at_llm_health_success(&b->health, c->probe);
        else
            at_llm_health_failure(&b->health, c->probe, g->conf.failure_threshold,
                                  (int64_t)(g->conf.probe_interval * 1e9), t);
        pthread_mutex_unlock(&g->mu);
        if (ok) {
            update_latency(g, c, (t - c->attempt_t0) / 1000000);
            finish(c, 0, 200, NULL);
        } else {
            char msg[300];
            snprintf(msg, sizeof(msg), "the stream from %s broke off: %s", b->cfg->name,
                     cc != CURLE_OK ? curl_easy_strerror(cc) : "upstream error");
            fail_call(c, AT_ECONN, 502, msg);
        }
        return;
    }
    int transport = cc != CURLE_OK;
    int retryable = transport || status == 429 || status >= 500;
    if (!retryable && status >= 200 && status < 300) {
        json_t *resp = NULL;
        if (c->stream) {
            add_attempt(c, status, NULL, -1);
            pthread_mutex_lock(&g->mu);
            at_llm_health_success(&b->health, c->probe);
            pthread_mutex_unlock(&g->mu);
            update_latency(g, c, (t - c->attempt_t0) / 1000000);
            if (!c->emitted && c->resp.len)
                stream_from_answer(c, b->cfg->kind);
            finish(c, 0, 200, NULL);
            return;
        }
        if (at_json_parse(c->resp.p ? c->resp.p : "", c->resp.len, 0, &resp, NULL) == 0 &&
            b->cfg->kind == AT_LLM_ANTHROPIC) {
            json_t *conv = at_llm_anthropic_response(resp);
            json_decref(resp);
            resp = conv;
        }
        if (resp && json_is_object(resp)) {
            add_attempt(c, status, NULL, -1);
            pthread_mutex_lock(&g->mu);
            at_llm_health_success(&b->health, c->probe);
            pthread_mutex_unlock(&g->mu);
            update_latency(g, c, (t - c->attempt_t0) / 1000000);
            finish(c, 0, 200, resp);
            json_decref(resp);
            return;
        }
        json_decref(resp);
        snprintf(c->last_error, sizeof(c->last_error),
                 "%s/%s: the answer is not a chat "
                 "completion (HTTP %ld, %s)",
                 b->cfg->name, k->model, status, c->ctype[0] ? c->ctype : "no content type");
        add_attempt(c, status, "not a chat completion", -1);
        retryable = 1;
        transport = 1;
    }
    if (!retryable) {
        /* the backend refused the request itself: the client's to fix */
        add_attempt(c, status, "client error", -1);
        pthread_mutex_lock(&g->mu);
        at_llm_health_success(&b->health, c->probe);
        pthread_mutex_unlock(&g->mu);
        json_t *up = NULL;
        at_json_parse(c->resp.p ? c->resp.p : "", c->resp.len, 0, &up, NULL);
        json_t *em = json_object_get(json_object_get(up, "error"), "message");
        if (!json_is_string(em))
            em = json_object_get(json_object_get(up, "error"), "type");
        char msg[600];
        snprintf(msg, sizeof(msg), "%s/%s refused the request (HTTP %ld): %s", b->cfg->name,
                 k->model, status, json_is_string(em) ? json_string_value(em) : "no details");
        snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
        json_t *p = problem(status == 401 || status == 403 ? AT_EPERM
                            : status == 404                ? AT_ENOENT
                            : status == 413                ? AT_E2BIG
                                                           : AT_EINVAL,
                            (int)status, msg);
        json_object_set(p, "attempts", c->attempts);
        if (up)
            json_object_set_new(p, "upstream", up);
        finish(c, AT_EINVAL, (int)status, p);
        json_decref(p);
        return;
    }
    /* retryable: 429, 5xx, transport errors */
    long long ra = -1;
    if (c->retry_after[0])
        ra = at_llm_retry_after_ms(c->retry_after, strlen(c->retry_after), at_wall_ms() / 1000);
    char err[200];
    if (transport && status < 200)
        snprintf(err, sizeof(err), "%s", curl_easy_strerror(cc));
    else
        snprintf(err, sizeof(err), "HTTP %ld", status);
    if (!(c->resp.len == 0 && status >= 200 && status < 300))
        add_attempt(c, status, err, ra);
    snprintf(c->last_error, sizeof(c->last_error), "%s/%s: %s", b->cfg->name, k->model, err);
    c->last_status = (int)status;
    pthread_mutex_lock(&g->mu);
    if (status == 429) {
        /* rate limited: not a failure of the backend, but give it room */
        if (c->probe)
            b->health.probing = 0;
    } else {
        at_llm_health_failure(&b->health, c->probe, g->conf.failure_threshold,
                              (int64_t)(g->conf.probe_interval * 1e9), t);
    }
    if ((status == 429 || status == 503) && ra > 0) {
        /* honour Retry-After for every call, up to 5 minutes */
        int64_t until = t + (ra < 300000 ? ra : 300000) * 1000000;
        if (until > b->health.cool_until_ns)
            b->health.cool_until_ns = until;
    }
    pthread_mutex_unlock(&g->mu);
    release_handle(g, c);
    c->state = C_NEW;
    release_slot(c);
    c->tries_here++;
    int may_retry = (status == 429 || status == 503) && c->tries_here <= g->conf.max_retries &&
                    (ra < 0 || ra <= (long long)(g->conf.max_retry_after * 1000));
    if (may_retry) {
        long long wait =
            ra >= 0 ? ra
                    : at_llm_backoff_ms(c->tries_here - 1, (long long)(g->conf.backoff_base * 1000),
                                        (long long)(g->conf.max_retry_after * 1000), rnd32());
        if (ra >= 0) /* a little jitter so that waiters do not return together */
            wait += (long long)(rnd32() % 100);
        pthread_mutex_lock(&g->mu);
        b->retries++;
        pthread_mutex_unlock(&g->mu);
        c->state = C_WAIT;
        c->due_ns = t + wait * 1000000;
        return;
    }
    next_candidate(c);
}

/* ------------------------------------------------------------------------
 * the pool thread
 * ------------------------------------------------------------------------ */

static void take_incoming(struct at_llm *g, int *stop)
{
    pthread_mutex_lock(&g->mu);
    struct call *in = g->incoming;
    g->incoming = NULL;
    uint64_t *cancels = g->cancels;
    size_t ncancels = g->ncancels;
    g->cancels = NULL;
    g->ncancels = g->cancels_cap = 0;
    *stop = g->stop;
    pthread_mutex_unlock(&g->mu);
    /* incoming is newest first: reverse to keep arrival order */
    struct call *rev = NULL;
    while (in) {
        struct call *n = in->next;
        in->next = rev;
        rev = in;
        in = n;
    }
    while (rev) {
        struct call *n = rev->next;
        rev->next = g->active;
        g->active = rev;
        start_attempt(rev);
        rev = n;
    }
    for (size_t i = 0; i < ncancels; i++)
        for (struct call *c = g->active; c; c = c->next)
            if (c->id == cancels[i] && c->state != C_DONE) {
                c->cancelled = 1;
                if (c->state != C_SENDING)
                    fail_call(c, AT_ECANCELED, 499, "the client went away");
                else
                    transfer_done(c, CURLE_ABORTED_BY_CALLBACK);
            }
    free(cancels);
}

static void reap(struct at_llm *g)
{
    for (struct call **pp = &g->active; *pp;) {
        struct call *c = *pp;
        if (c->state == C_DONE) {
            *pp = c->next;
            call_free(c);
            continue;
        }
        pp = &c->next;
    }
}

static void *pool_main(void *arg)
{
    struct at_llm *g = arg;
    struct disco *discos = NULL;
    int stop = 0;
    while (!stop) {
        take_incoming(g, &stop);
        if (stop)
            break;
        int64_t t = now_ns();
        for (size_t i = 0; i < g->nb; i++) {
            struct backend *b = &g->b[i];
            if (!b->discovered && !b->discovering && t >= b->next_discovery_ns)
                at__llm_disco_start(g, i, &discos);
        }
        int running = 0;
        curl_multi_perform(g->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(g->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            CURLcode cc = msg->data.result;
            struct call *c = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
            if (!c) {
                for (struct disco **pp = &discos; *pp; pp = &(*pp)->next)
                    if ((*pp)->h == h) {
                        struct disco *dc = *pp;
                        *pp = dc->next;
                        at__llm_disco_done(dc, cc);
                        break;
                    }
                continue;
            }
            transfer_done(c, cc);
        }
        /* retry timers */
        t = now_ns();
        int64_t next_due = t + 1000000000LL;
        for (struct call *c = g->active; c; c = c->next) {
            if (c->state != C_WAIT)
                continue;
            if (c->due_ns <= t) {
                c->state = C_NEW;
                start_attempt(c);
            } else if (c->due_ns < next_due) {
                next_due = c->due_ns;
            }
        }
        reap(g);
        int timeout_ms = (int)((next_due - t) / 1000000);
        if (timeout_ms < 0)
            timeout_ms = 0;
        long curl_ms = -1;
        curl_multi_timeout(g->multi, &curl_ms);
        if (curl_ms >= 0 && curl_ms < timeout_ms)
            timeout_ms = (int)curl_ms;
        curl_multi_poll(g->multi, NULL, 0, timeout_ms, NULL);
    }
    /* stopping: every call ends */
    for (struct call *c = g->active; c; c = c->next)
        if (c->state != C_DONE)
            fail_call(c, AT_ECANCELED, 503, "the daemon is shutting down");
    reap(g);
    while (discos) {
        struct disco *n = discos->next;
        curl_multi_remove_handle(g->multi, discos->h);
        curl_easy_cleanup(discos->h);
        curl_slist_free_all(discos->hdrs);
        at_buf_release(&discos->body);
        free(discos);
        discos = n;
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * public API
 * ------------------------------------------------------------------------ */

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int at_llm_new(const struct at_llm_cfg *cfg, struct at_llm **out, struct at_diag *d)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    struct at_llm *g = at_calloc(1, sizeof(*g));
    g->conf = *cfg->config;
    memset(cfg->config, 0, sizeof(*cfg->config));
    g->store = cfg->store;
    g->writer = cfg->writer;
    g->on_tree_usage = cfg->on_tree_usage;
    g->usage_arg = cfg->usage_arg;
    pthread_rwlock_init(&g->conf_lock, NULL);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    at_map_init(&g->roots);
    at_map_init(&g->lat);
    g->nb = g->conf.nbackends;
    g->b = at_calloc(g->nb + 1, sizeof(*g->b));
    long maxconn = 16;
    for (size_t i = 0; i < g->nb; i++) {
        struct backend *b = &g->b[i];
        b->cfg = &g->conf.backends[i];
        at_llm_sem_init(&b->sem, b->cfg->max_concurrency, (size_t)b->cfg->max_queue);
        at_llm_health_init(&b->health);
        b->discovered = !b->cfg->discover;
        maxconn += b->cfg->max_concurrency;
    }
    g->multi = curl_multi_init();
    curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, maxconn);
    if (pthread_create(&g->thread, NULL, pool_main, g) != 0) {
        at_llm_free(g);
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the model gateway's thread");
    }
    g->thread_started = 1;
    /* wait (briefly) for discovery so that the first calls see the models */
    double wait = cfg->discovery_wait_s > 0 ? cfg->discovery_wait_s : 5;
    int64_t until = now_ns() + (int64_t)(wait * 1e9);
    pthread_mutex_lock(&g->mu);
    for (;;) {
        int pending = 0;
        for (size_t i = 0; i < g->nb; i++)
            pending |= !g->b[i].discovered && g->b[i].next_discovery_ns == 0;
        if (!pending || now_ns() >= until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < g->nb; i++)
        at_info("llm", "backend %s (%s, %s): %zu model(s), max_concurrency %d", g->b[i].cfg->name,
                g->b[i].cfg->kind == AT_LLM_ANTHROPIC ? "anthropic" : "openai",
                g->b[i].cfg->base_url, g->b[i].cfg->nmodels, g->b[i].cfg->max_concurrency);
    *out = g;
    return 0;
}

void at_llm_free(struct at_llm *g)
{
    if (!g)
        return;
    if (g->thread_started) {
        pthread_mutex_lock(&g->mu);
        g->stop = 1;
        pthread_mutex_unlock(&g->mu);
        curl_multi_wakeup(g->multi);
        pthread_join(g->thread, NULL);
    }
    /* calls handed over after the thread stopped */
    while (g->incoming) {
        struct call *c = g->incoming;
        g->incoming = c->next;
        c->next = NULL;
        fail_call(c, AT_ECANCELED, 503, "the daemon is shutting down");
        call_free(c);
    }
    free(g->cancels);
    for (size_t i = 0; i < g->nfree; i++)
        curl_easy_cleanup(g->free_handles[i]);
    curl_multi_cleanup(g->multi);
    size_t it = 0;
    void *v;
    while (at_map_next(&g->roots, &it, NULL, &v))
        free(v);
    at_map_release(&g->roots);
    it = 0;
    while (at_map_next(&g->lat, &it, NULL, &v))
        free(v);
    at_map_release(&g->lat);
    at_llm_config_release(&g->conf);
    free(g->b);
    pthread_rwlock_destroy(&g->conf_lock);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

void at_llm_set_observer(struct at_llm *g, at_llm_observer_fn fn, void *arg)
{
    pthread_mutex_lock(&g->mu);
    g->observer = fn;
    g->observer_arg = arg;
    pthread_mutex_unlock(&g->mu);
}

static double latency_of(void *arg, int backend, const char *model)
{
    struct at_llm *g = arg;
    pthread_mutex_lock(&g->mu);
    struct model_stat *st = model_stat_get(g, backend, model, 0);
    double r = st ? st->lat_ms : -1;
    pthread_mutex_unlock(&g->mu);
    return r;
}

static int check_body(const json_t *body, struct at_diag *d)
{
    if (!json_is_object(body))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "the body must be a JSON object");
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "messages must be a non-empty array");
        at_diag_set_pointer(d, "/messages");
        return AT_EINVAL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/messages/%zu", i);
            at_diag_set(d, AT_EINVAL, NULL, 0, 0, "each message needs a string role");
            at_diag_set_pointer(d, ptr);
            return AT_EINVAL;
        }
    }
    json_t *model = json_object_get(body, "model");
    if (model && !json_is_string(model)) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "model must be a string");
        at_diag_set_pointer(d, "/model");
        return AT_EINVAL;
    }
    json_t *st = json_object_get(body, "stream");
    if (st && !json_is_boolean(st) && !json_is_null(st)) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "stream must be true or false");
        at_diag_set_pointer(d, "/stream");
        return AT_EINVAL;
    }
    const char *mt[] = {"max_tokens", "max_completion_tokens"};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(body, mt[k]);
        if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 1)) {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/%s", mt[k]);
            at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s must be a positive integer", mt[k]);
            at_diag_set_pointer(d, ptr);
            return AT_EINVAL;
        }
    }
    return 0;
}

/* Budget of the caller's chain: refuse, or reserve the input estimate and
 * cap the output so that the call cannot pass the budget. */
static int budget_check(struct at_llm *g, struct call *c, struct at_diag *d)
{
    long long budget = g->conf.max_tokens_per_chain;
    if (!c->has_caller || budget <= 0)
        return 0;
    const char *root = c->caller.root_id[0] ? c->caller.root_id : c->caller.job_id;
    pthread_mutex_lock(&g->mu);
    struct root_use *u = root_get(g, root);
    pthread_mutex_unlock(&g->mu);
    if (!u) {
        long long used = root_used_from_store(g, root); /* once per chain */
        pthread_mutex_lock(&g->mu);
        u = at_map_get(&g->roots, root);
        if (!u) {
            u = at_calloc(1, sizeof(*u));
            u->used = used;
            at_map_put(&g->roots, root, u);
        }
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_lock(&g->mu);
    long long left = budget - u->used - u->reserved;
    if (c->est_in >= left) {
        long long used = u->used, reserved = u->reserved;
        g->total_refused++;
        pthread_mutex_unlock(&g->mu);
        char inflight[96] = "";
        if (reserved)
            snprintf(inflight, sizeof(inflight), " (and %lld by calls in flight)", reserved);
        at_diag_set(d, AT_ELIMIT, NULL, 0, 0,
                    "the chain's token budget execution.resource_budget.max_tokens_per_chain "
                    "(%lld tokens) would be exceeded: root job %s has used %lld tokens%s, and "
                    "this call needs about %lld input tokens",
                    budget, root, used, inflight, c->est_in);
        return AT_ELIMIT;
    }
    u->reserved += c->est_in;
    c->reserved = c->est_in;
    pthread_mutex_unlock(&g->mu);
    long long cap = left - c->est_in;
    const char *keys[] = {"max_tokens", "max_completion_tokens"};
    int have = 0;
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(c->body, keys[k]);
        if (json_is_integer(v)) {
            have = 1;
            if (json_integer_value(v) > cap)
                json_object_set_new(c->body, keys[k], json_integer(cap));
        }
    }
    if (!have)
        json_object_set_new(c->body, "max_tokens", json_integer(cap));
    return 0;
}

int at_llm_submit(struct at_llm *g, const struct at_llm_request *req, uint64_t *call_id,
                  struct at_diag *d)
{
    int rc = check_body(req->body, d);
    if (rc)
        return rc;
    struct call *c = at_calloc(1, sizeof(*c));
    c->g = g;
    c->body = json_deep_copy(req->body);
    c->stream = json_is_true(json_object_get(c->body, "stream"));
    c->client_usage =
        json_is_true(json_object_get(json_object_get(c->body, "stream_options"), "include_usage"));
    if (c->stream && !req->on_chunk) {
        json_decref(c->body);
        free(c);
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "a streamed call needs a chunk callback");
    }
    if (req->caller) {
        c->caller = *req->caller;
        c->has_caller = 1;
    }
    c->on_chunk = req->on_chunk;
    c->on_done = req->on_done;
    c->arg = req->arg;
    c->attempts = json_array();
    at_buf_init(&c->resp, MAX_RESPONSE);
    c->est_raw = at_llm_estimate_request(c->body);
    c->est_in = c->est_raw;
    json_t *tools = json_object_get(c->body, "tools");
    struct at_llm_prefs p = {
        .model = json_string_value(json_object_get(c->body, "model")),
        .is_agent = c->has_caller,
        .agent_tier = c->has_caller ? c->caller.agent_tier : -1,
        .override_allowed = c->has_caller ? c->caller.override_allowed : 0,
        .override_tier = req->override_tier,
        .strategy = req->strategy,
        .mcp_prefs = req->mcp_prefs,
        .est_tokens_in = c->est_in,
        .has_tools = json_array_size(tools) > 0,
        .nmessages = json_array_size(json_object_get(c->body, "messages")),
    };
    pthread_rwlock_rdlock(&g->conf_lock);
    rc = at_llm_select(&g->conf, &p, latency_of, g, &c->choice, d);
    pthread_rwlock_unlock(&g->conf_lock);
    if (!rc) {
        /* calibrate the input estimate by what the first candidate reported before */
        pthread_mutex_lock(&g->mu);
        struct model_stat *st =
            model_stat_get(g, c->choice.cand[0].backend, c->choice.cand[0].model, 0);
        if (st && st->in_ratio > 0)
            c->est_in = (long long)((double)c->est_raw * st->in_ratio + 0.999);
        pthread_mutex_unlock(&g->mu);
        rc = budget_check(g, c, d);
    }
    if (rc) {
        json_decref(c->body);
        json_decref(c->attempts);
        at_buf_release(&c->resp);
        free(c);
        return rc;
    }
    c->t0_ns = now_ns();
    pthread_mutex_lock(&g->mu);
    if (g->stop) {
        pthread_mutex_unlock(&g->mu);
        json_decref(c->body);
        json_decref(c->attempts);
        at_buf_release(&c->resp);
        free(c);
        return at_diag_set(d, AT_ESTATE, NULL, 0, 0, "the daemon is shutting down");
    }
    c->id = ++g->next_id;
    g->total_calls++;
    c->next = g->incoming;
    g->incoming = c;
    if (call_id)
        *call_id = c->id;
    pthread_mutex_unlock(&g->mu);
    curl_multi_wakeup(g->multi);
    return 0;
}

void at_llm_cancel(struct at_llm *g, uint64_t call_id)
{
    pthread_mutex_lock(&g->mu);
    if (g->ncancels == g->cancels_cap) {
        g->cancels_cap = g->cancels_cap ? g->cancels_cap * 2 : 8;
        g->cancels = at_realloc(g->cancels, g->cancels_cap * sizeof(*g->cancels));
    }
    g->cancels[g->ncancels++] = call_id;
    pthread_mutex_unlock(&g->mu);
    curl_multi_wakeup(g->multi);
}
