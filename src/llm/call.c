/*
 * call.c - a call's life on the pool thread: a slot of the candidate's
 * backend (or a place in its FIFO queue), the transfer, then the decision
 * on what the transfer came to (answer, retry on the same model after
 * Retry-After or back-off, fall back to the next candidate, fail), the
 * backends' health, and the end: one result, one usage record, one on_done.
 *
 * The exchange itself is transfer.c's; the counting is account.c's.
 */
#include "llm/internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "json/json.h"
#include "llm/sem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static int64_t now_ns(void)
{
    return at_now_ns();
}

/* ------------------------------------------------------------------------
 * problems (RFC 9457 with an OpenAI-style "error" member so that OpenAI
 * clients show the message)
 * ------------------------------------------------------------------------ */

json_t *at_llm_error_member(int code, const char *message, const char *param)
{
    int status = at_err_http(code);
    json_t *e = json_pack("{s:s?,s:s,s:s}", "message", message, "type",
                          status == 429   ? "rate_limit_exceeded"
                          : status >= 500 ? "server_error"
                                          : "invalid_request_error",
                          "code", at_err_slug(code));
    if (param)
        json_object_set_new(e, "param", json_string(param));
    return e;
}

json_t *at_llm_problem(int code, const char *detail, const char *pointer)
{
    /* type, title and status from base/err.h's row; detail made UTF-8 */
    json_t *p = at_json_problem(code, detail, pointer);
    json_object_set_new(
        p, "error",
        at_llm_error_member(code, json_string_value(json_object_get(p, "detail")), pointer));
    return p;
}

/* ------------------------------------------------------------------------
 * slots
 * ------------------------------------------------------------------------ */

static void send_transfer(struct call *c)
{
    c->state = C_SENDING;
    c->attempt_t0 = now_ns();
    at__llm_transfer_start(c);
}

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

/* ------------------------------------------------------------------------
 * the end of a call
 * ------------------------------------------------------------------------ */

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
        at__llm_transfer_release(g, c);
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
    if (r.usage.out_of_range && bi >= 0) {
        at_warn("llm",
                "%s/%s reported usage outside 0..%lld tokens: the gateway counts its estimate "
                "(%lld in, %lld out) instead",
                r.backend, r.model, AT_LLM_MAX_CALL_TOKENS, r.usage.tokens_in, r.usage.tokens_out);
        if (code == 0 && json_is_object(body)) /* the client sees what was counted */
            json_object_set_new(body, "usage",
                                json_pack("{s:I,s:I,s:I}", "prompt_tokens",
                                          (json_int_t)r.usage.tokens_in, "completion_tokens",
                                          (json_int_t)r.usage.tokens_out, "total_tokens",
                                          (json_int_t)(r.usage.tokens_in + r.usage.tokens_out)));
    }
    if (bi >= 0)
        r.cost_usd = at__llm_cost(g, bi, r.model, &r.usage);
    /* the response's metadata */
    if (code == 0 && json_is_object(body)) {
        json_t *meta = json_pack(
            "{s:s,s:s,s:s?,s:s,s:O,s:I,s:I,s:I,s:f,s:b,s:s}", "model", r.model, "backend",
            r.backend, "tier", r.tier >= 0 ? at_llm_tier_name(r.tier) : NULL, "reason", r.reason,
            "attempts", c->attempts, "queue_ms", (json_int_t)r.queue_ms, "latency_ms",
            (json_int_t)r.latency_ms, "ttft_ms", (json_int_t)r.ttft_ms, "cost_usd", r.cost_usd,
            "usage_reported", r.usage.reported, "usage_id", usage_id);
        if (meta)
            json_object_set_new(body, "atlas", meta);
    }
    at__llm_account(g, c, &r, bi);
    pthread_mutex_lock(&g->mu);
    at_llm_observer_fn obs = g->observer;
    void *obs_arg = g->observer_arg;
    pthread_mutex_unlock(&g->mu);
    if (obs)
        obs(obs_arg, &r);
    c->on_done(c->arg, &r, body);
}

void at__llm_fail(struct call *c, int code, const char *detail)
{
    snprintf(c->last_error, sizeof(c->last_error), "%s", detail);
    json_t *p = at_llm_problem(code, detail, NULL);
    json_object_set(p, "attempts", c->attempts);
    finish(c, code, at_err_http(code), p);
    json_decref(p);
}

/* ------------------------------------------------------------------------
 * attempts, retries and fallback
 * ------------------------------------------------------------------------ */

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
        at__llm_attempt(c);
        return;
    }
    c->ci--; /* report the last one tried */
    char msg[600];
    snprintf(msg, sizeof(msg), "no model of the choice could answer (%zu tried): %s",
             c->choice.ncand, c->last_error[0] ? c->last_error : "every backend is down");
    /* the last failure names the error: rate limited, timed out, or unavailable */
    at__llm_fail(c,
                 c->last_status == 429 ? AT_ELIMIT
                 : c->last_timed_out   ? AT_ETIMEDOUT
                                       : AT_EBUSY,
                 msg);
}

void at__llm_attempt(struct call *c)
{
    struct at_llm *g = c->g;
    for (;;) {
        if (c->cancelled) {
            at__llm_fail(c, AT_ECANCELED, "the client went away");
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
        c->last_timed_out = 0;
        if (c->ci + 1 >= c->choice.ncand) {
            char msg[600];
            snprintf(msg, sizeof(msg), "no model of the choice could answer: %s", c->last_error);
            at__llm_fail(c, AT_EBUSY, msg);
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

static void update_latency(struct at_llm *g, struct call *c, int64_t ms)
{
    const struct at_llm_candidate *k = &c->choice.cand[c->ci];
    pthread_mutex_lock(&g->mu);
    struct model_stat *st = at__llm_model_stat(g, k->backend, k->model, 1);
    st->lat_ms = st->lat_ms < 0 ? (double)ms : st->lat_ms * 0.8 + (double)ms * 0.2;
    struct backend *b = &g->b[k->backend];
    b->ewma_ms = b->ewma_ms ? b->ewma_ms * 0.8 + (double)ms * 0.2 : (double)ms;
    pthread_mutex_unlock(&g->mu);
}

static void health_success(struct call *c, struct backend *b)
{
    pthread_mutex_lock(&c->g->mu);
    at_llm_health_success(&b->health, c->probe);
    pthread_mutex_unlock(&c->g->mu);
}

void at__llm_transfer_done(struct call *c, CURLcode cc)
{
    struct at_llm *g = c->g;
    const struct at_llm_candidate *k = &c->choice.cand[c->ci];
    struct backend *b = &g->b[k->backend];
    if (c->cancelled) {
        if (c->status == 0)
            curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
        at__llm_fail(c, AT_ECANCELED, "the client went away");
        return;
    }
    struct at__llm_outcome o;
    at__llm_transfer_outcome(c, cc, &o);
    long status = o.status;
    int64_t t = now_ns();
    switch (o.end) {
    case AT__LLM_END_STREAMED:
        add_attempt(c, status, o.ok ? NULL : curl_easy_strerror(cc), -1);
        pthread_mutex_lock(&g->mu);
        if (o.ok)
            at_llm_health_success(&b->health, c->probe);
        else
            at_llm_health_failure(&b->health, c->probe, g->conf.failure_threshold,
                                  (int64_t)(g->conf.probe_interval * 1e9), t);
        pthread_mutex_unlock(&g->mu);
        if (o.ok) {
            update_latency(g, c, (t - c->attempt_t0) / 1000000);
            finish(c, 0, 200, NULL);
        } else {
            char msg[500];
            snprintf(msg, sizeof(msg), "the stream from %s broke off: %s", b->cfg->name, o.error);
            at__llm_fail(c, AT_ECONN, msg);
        }
        return;
    case AT__LLM_END_ANSWER:
        add_attempt(c, status, NULL, -1);
        health_success(c, b);
        update_latency(g, c, (t - c->attempt_t0) / 1000000);
        if (c->stream) {
            if (!c->emitted && c->resp.len)
                at__llm_stream_from_answer(c);
            finish(c, 0, 200, NULL);
        } else {
            finish(c, 0, 200, o.answer);
            json_decref(o.answer);
        }
        return;
    case AT__LLM_END_REFUSED: {
        /* the backend refused the request itself: the client's to fix */
        add_attempt(c, status, "client error", -1);
        health_success(c, b);
        char msg[600];
        snprintf(msg, sizeof(msg), "%s/%s refused the request (HTTP %ld): %s", b->cfg->name,
                 k->model, status, o.error);
        snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
        /* the error is the row of base/err.h nearest the backend's status; the
         * client gets that row's status and the backend's in upstream_status */
        int code = status == 401 || status == 403 ? AT_EPERM
                   : status == 404                ? AT_ENOENT
                   : status == 413                ? AT_E2BIG
                                                  : AT_EINVAL;
        json_t *p = at_llm_problem(code, msg, NULL);
        json_object_set(p, "attempts", c->attempts);
        json_object_set_new(p, "upstream_status", json_integer(status));
        if (o.upstream)
            json_object_set_new(p, "upstream", o.upstream);
        finish(c, code, at_err_http(code), p);
        json_decref(p);
        return;
    }
    case AT__LLM_END_RETRYABLE:
        break;
    }
    /* retryable: 429, 5xx, transport errors, answers that are not chat
     * completions (one attempt each, and the message says which) */
    long long ra = o.retry_after_ms;
    if (o.not_completion) {
        snprintf(c->last_error, sizeof(c->last_error),
                 "%s/%s: the answer is not a chat "
                 "completion (HTTP %ld, %s)",
                 b->cfg->name, k->model, status, c->ctype[0] ? c->ctype : "no content type");
        add_attempt(c, status, "not a chat completion", -1);
    } else {
        add_attempt(c, status, o.error, ra);
        snprintf(c->last_error, sizeof(c->last_error), "%s/%s: %s", b->cfg->name, k->model,
                 o.error);
    }
    c->last_status = (int)status;
    c->last_timed_out = o.timed_out;
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
    at__llm_transfer_release(g, c);
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
