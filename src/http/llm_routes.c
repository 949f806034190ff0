/*
 * llm_routes.c - the OpenAI-compatible model gateway on atlasd's listener
 * (docs/gateway.md, "API"):
 *
 *   POST /v1/chat/completions   streamed (SSE) or not
 *   POST /v1/embeddings         OpenAI embeddings (at_llm_embed, a thread per call)
 *   GET  /v1/models             tiers (atlas:fast, ...) and configured models
 *   GET  /v1/models/{id}
 *   GET  /v1/atlas/stats        pool statistics per backend
 *   GET  /v1/atlas/usage        recorded usage, summed (group_by, root_id, job_id)
 *
 * A bearer token that is a job's token (an agent's OPENAI_API_KEY) makes the
 * call the job's: its contract's model preference applies, and its usage
 * counts against the chain's token budget.  src/llm/ holds the gateway
 * (the daemon starts it); this file adapts it to the HTTP server.  Every
 * problem on these routes, the middleware's included, carries an
 * OpenAI-style "error" member (on_problem) so that OpenAI clients show it.
 */
#include "http/api.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "exec/engine.h"
#include "json/json.h"
#include "http/auth.h"
#include "llm/gateway.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* OpenAI clients read "error": {message, type, code, param}; the problem's
 * own members say the same (a problem that has one already keeps it). */
static void openai_error(json_t *p)
{
    if (json_object_get(p, "error"))
        return;
    json_int_t status = json_integer_value(json_object_get(p, "status"));
    const char *type = json_string_value(json_object_get(p, "type"));
    const char *slug = type && strncmp(type, "urn:atlas:error:", 16) == 0 ? type + 16 : "";
    json_t *e = json_pack("{s:s?,s:s,s:s}", "message",
                          json_string_value(json_object_get(p, "detail")), "type",
                          status == 429   ? "rate_limit_exceeded"
                          : status >= 500 ? "server_error"
                                          : "invalid_request_error",
                          "code", slug);
    json_t *pointer = json_object_get(p, "pointer");
    if (e && json_is_string(pointer))
        json_object_set(e, "param", pointer);
    if (e)
        json_object_set_new(p, "error", e);
}

static void reply_error(struct at_http_req *r, int code, const char *msg, const char *pointer)
{
    at_http_reply_problem(r, code, msg, pointer, NULL);
}

static int need_gateway(struct at_http_req *r, struct at_llm **g)
{
    *g = at_http_api_of(r)->llm;
    if (*g)
        return 0;
    reply_error(r, AT_EUNAVAIL,
                "no model backend is configured (models.backends in atlas.config.yaml, or "
                "ATLAS_LLM_BASE_URL)",
                NULL);
    return -1;
}

/* ---- who is calling ---- */

static int caller_of(struct at_http_req *r, struct at_llm_caller *c, int *tier)
{
    *tier = -1;
    const struct at_http_api *api = at_http_api_of(r);
    const char *tok = at_http_bearer(r);
    struct at_token_info ti;
    if (!tok || at_engine_token_info(api->engine, tok, &ti) != 0)
        return 0; /* not a job's token: a user outside agents */
    /* the contract's model block: "name@version" -> "name:version" */
    char ref[sizeof(ti.agent)];
    snprintf(ref, sizeof(ref), "%s", ti.agent);
    char *at = strrchr(ref, '@');
    if (at)
        *at = ':';
    struct at_reg_agent *a = NULL;
    at_registry_resolve(api->registry, ref, &a);
    at_llm_caller_init(c, ti.job_id, ti.root_id, ti.agent, a ? a->contract->json : NULL);
    snprintf(c->quota_id, sizeof(c->quota_id), "%s", ti.owner);
    if (a)
        at_reg_agent_unref(a);
    /* a chain step's custom orchestrator: its model_selection.tiers apply */
    struct at_reg_agent *o = NULL;
    if (ti.orchestrator[0] && at_registry_resolve(api->registry, ti.orchestrator, &o) == 0) {
        at_llm_caller_set_orchestrator(c, ti.orchestrator, o->contract->json);
        at_reg_agent_unref(o);
    }
    *tier = ti.tier; /* the orchestrator's choice for this job (chain steps) */
    return 1;
}

/* ---- POST /v1/chat/completions ---- */

/* Shared by the HTTP side and the gateway's callbacks: whichever ends last
 * frees it. */
struct llm_http {
    atomic_int refs;
    pthread_mutex_t mu;
    struct at_llm *g;
    struct at_http_req *req;       /* non-streamed: until answered or gone */
    struct at_http_stream *stream; /* streamed: the handler's reference */
    uint64_t call_id;
    int done; /* on_done ran */
    int gone; /* the client went away */
};

static void lh_unref(struct llm_http *h)
{
    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    if (h->stream)
        at_http_stream_unref(h->stream);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* The client side is finished (request freed or stream closed). */
static void lh_detach(void *arg)
{
    struct llm_http *h = arg;
    pthread_mutex_lock(&h->mu);
    h->req = NULL;
    h->gone = 1;
    int cancel = !h->done && h->call_id;
    uint64_t id = h->call_id;
    pthread_mutex_unlock(&h->mu);
    if (cancel)
        at_llm_cancel(h->g, id);
    lh_unref(h);
}

static void add_meta_headers(struct at_http_req *r, const struct at_llm_result *res)
{
    if (res->model)
        at_http_add_header(r, "Atlas-Model", res->model);
    if (res->backend)
        at_http_add_header(r, "Atlas-Backend", res->backend);
    if (res->tier >= 0)
        at_http_add_header(r, "Atlas-Tier", at_llm_tier_name(res->tier));
}

static void on_done_plain(void *arg, const struct at_llm_result *res, json_t *body)
{
    struct llm_http *h = arg;
    pthread_mutex_lock(&h->mu);
    h->done = 1;
    struct at_http_req *req = h->req;
    h->req = NULL;
    if (req) {
        add_meta_headers(req, res);
        if (res->code == 0)
            at_http_complete_json(req, 200, json_incref(body));
        else
            at_http_complete_problem(req, json_incref(body));
    }
    pthread_mutex_unlock(&h->mu);
    lh_unref(h);
}

static void stream_send(struct llm_http *h, const char *prefix, const char *data, size_t len)
{
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_buf_puts(&b, prefix);
    at_buf_append(&b, data, len);
    at_buf_puts(&b, "\n\n");
    if (at_http_stream_write(h->stream, b.p, b.len) && !h->gone) {
        h->gone = 1;
        if (!h->done)
            at_llm_cancel(h->g, h->call_id);
    }
    at_buf_release(&b);
}

static void on_chunk(void *arg, const char *json, size_t len)
{
    struct llm_http *h = arg;
    pthread_mutex_lock(&h->mu);
    if (h->stream && !h->gone)
        stream_send(h, "data: ", json, len);
    pthread_mutex_unlock(&h->mu);
}

static void on_done_stream(void *arg, const struct at_llm_result *res, json_t *body)
{
    struct llm_http *h = arg;
    pthread_mutex_lock(&h->mu);
    h->done = 1;
    if (h->stream && !h->gone) {
        if (res->code && body) {
            /* OpenAI streams report errors as a data event with "error" */
            char *s = at_json_dumps(body);
            stream_send(h, "data: ", s, strlen(s));
            free(s);
        }
        /* the call's metadata, as an SSE comment clients skip */
        json_t *meta = json_pack("{s:s?,s:s?,s:s?,s:s,s:O,s:{s:I,s:I,s:b},s:f,s:I,s:I,s:I,s:s}",
                                 "model", res->model, "backend", res->backend, "tier",
                                 res->tier >= 0 ? at_llm_tier_name(res->tier) : NULL, "reason",
                                 res->reason, "attempts", res->attempts, "usage", "prompt_tokens",
                                 (json_int_t)res->usage.tokens_in, "completion_tokens",
                                 (json_int_t)res->usage.tokens_out, "reported", res->usage.reported,
                                 "cost_usd", res->cost_usd, "latency_ms",
                                 (json_int_t)res->latency_ms, "ttft_ms", (json_int_t)res->ttft_ms,
                                 "queue_ms", (json_int_t)res->queue_ms, "usage_id", res->usage_id);
        if (meta) {
            char *s = at_json_dumps(meta);
            json_decref(meta);
            stream_send(h, ": atlas ", s, strlen(s));
            free(s);
        }
        stream_send(h, "data: ", "[DONE]", 6);
        at_http_stream_close(h->stream);
    }
    pthread_mutex_unlock(&h->mu);
    lh_unref(h);
}

static void h_chat(struct at_http_req *r)
{
    struct at_llm *g;
    if (need_gateway(r, &g))
        return;
    json_t *body;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(r->body.p ? r->body.p : "", r->body.len, 0, &body, &d)) {
        char msg[700];
        snprintf(msg, sizeof(msg), "the request body is not valid JSON: %s (line %d, column %d)",
                 d.msg, d.line, d.col);
        reply_error(r, AT_EPARSE, msg, NULL);
        return;
    }
    struct at_llm_caller caller;
    int job_tier = -1;
    int is_job = caller_of(r, &caller, &job_tier);
    /* the API token billed: the caller's own, or the one whose run the job is */
    const char *quota_id =
        is_job ? (caller.quota_id[0] ? caller.quota_id : NULL) : at_http_owner_token(r);
    const struct at_http_security *sec = at_http_api_of(r)->security;
    struct at_quota q;
    if (is_job && quota_id && sec &&
        at_tokens_quota_check(sec->tokens, quota_id, &q) == AT_ELIMIT) {
        json_decref(body);
        at_http_reply_quota(r, &q);
        return;
    }
    int stream = json_is_true(json_object_get(body, "stream"));
    struct llm_http *h = at_calloc(1, sizeof(*h));
    atomic_init(&h->refs, 2); /* the client side, the gateway's on_done */
    pthread_mutex_init(&h->mu, NULL);
    h->g = g;
    struct at_llm_request req = {
        .body = body,
        .caller = is_job ? &caller : NULL,
        .override_tier = job_tier,
        .quota_id = quota_id,
        .on_chunk = on_chunk,
        .on_done = stream ? on_done_stream : on_done_plain,
        .arg = h,
    };
    uint64_t id = 0;
    int rc;
    if (stream) {
        /* held across submit so that no chunk comes before the stream */
        pthread_mutex_lock(&h->mu);
        rc = at_llm_submit(g, &req, &id, &d);
        if (rc == 0) {
            h->call_id = id;
            h->stream = at_http_stream_start(r, 200, "text/event-stream", 0, lh_detach, h);
            at_http_stream_set_sse(h->stream);
        }
        pthread_mutex_unlock(&h->mu);
    } else {
        at_http_suspend(r);
        r->user = h;
        r->user_free = lh_detach;
        pthread_mutex_lock(&h->mu);
        h->req = r;
        pthread_mutex_unlock(&h->mu);
        rc = at_llm_submit(g, &req, &id, &d);
        pthread_mutex_lock(&h->mu);
        h->call_id = id;
        if (rc)
            h->req = NULL;
        pthread_mutex_unlock(&h->mu);
        if (rc) {
            pthread_mutex_lock(&r->mu);
            r->suspended = 0;
            pthread_mutex_unlock(&r->mu);
        }
    }
    json_decref(body);
    if (rc) {
        atomic_fetch_sub(&h->refs, 1); /* no on_done will come */
        if (stream)
            lh_unref(h); /* nor a stream close */
        reply_error(r, rc, d.msg, d.pointer[0] ? d.pointer : NULL);
    }
}

/* ---- POST /v1/embeddings ---- */

/* at_llm_embed blocks: each call runs on a thread of its own (at most
 * MAX_EMBED_CALLS at once, then 503), answering the suspended request. */
#define MAX_EMBED_CALLS 16
static atomic_int embed_calls;

struct embed_call {
    struct llm_http *h;
    json_t *body;
    struct at_llm_caller caller;
    int is_job;
};

static void *embed_main(void *arg)
{
    struct embed_call *e = arg;
    struct llm_http *h = e->h;
    json_t *out = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_llm_embed(h->g, e->is_job ? &e->caller : NULL, e->body, &out, &d);
    pthread_mutex_lock(&h->mu);
    h->done = 1;
    struct at_http_req *req = h->req;
    h->req = NULL;
    if (req) {
        if (rc == 0) {
            at_http_complete_json(req, 200, out);
            out = NULL;
        } else {
            at_http_complete_problem(req, at_llm_problem(rc, d.msg, NULL));
        }
    }
    pthread_mutex_unlock(&h->mu);
    json_decref(out);
    json_decref(e->body);
    free(e);
    lh_unref(h);
    atomic_fetch_sub(&embed_calls, 1);
    return NULL;
}

static void h_embeddings(struct at_http_req *r)
{
    struct at_llm *g;
    if (need_gateway(r, &g))
        return;
    json_t *body;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(r->body.p ? r->body.p : "", r->body.len, 0, &body, &d)) {
        char msg[700];
        snprintf(msg, sizeof(msg), "the request body is not valid JSON: %s (line %d, column %d)",
                 d.msg, d.line, d.col);
        reply_error(r, AT_EPARSE, msg, NULL);
        return;
    }
    if (atomic_fetch_add(&embed_calls, 1) >= MAX_EMBED_CALLS) {
        atomic_fetch_sub(&embed_calls, 1);
        json_decref(body);
        reply_error(r, AT_EBUSY, "too many embedding calls in flight", NULL);
        return;
    }
    struct embed_call *e = at_calloc(1, sizeof(*e));
    int tier = -1;
    e->is_job = caller_of(r, &e->caller, &tier);
    e->body = body;
    struct llm_http *h = at_calloc(1, sizeof(*h));
    atomic_init(&h->refs, 2); /* the client side, the thread */
    pthread_mutex_init(&h->mu, NULL);
    h->g = g;
    e->h = h;
    at_http_suspend(r);
    r->user = h;
    r->user_free = lh_detach;
    pthread_mutex_lock(&h->mu);
    h->req = r;
    pthread_mutex_unlock(&h->mu);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &at, embed_main, e);
    pthread_attr_destroy(&at);
    if (rc) {
        pthread_mutex_lock(&h->mu);
        h->req = NULL;
        pthread_mutex_unlock(&h->mu);
        pthread_mutex_lock(&r->mu);
        r->suspended = 0;
        pthread_mutex_unlock(&r->mu);
        atomic_fetch_sub(&h->refs, 1);
        atomic_fetch_sub(&embed_calls, 1);
        json_decref(body);
        free(e);
        reply_error(r, AT_EBUSY, "cannot start a thread for the embedding call", NULL);
    }
}

/* ---- other routes ---- */

static void h_models(struct at_http_req *r)
{
    struct at_llm *g;
    if (need_gateway(r, &g))
        return;
    at_http_reply_json(r, 200, at_llm_models_json(g));
}

static void h_stats(struct at_http_req *r)
{
    struct at_llm *g;
    if (need_gateway(r, &g))
        return;
    at_http_reply_json(r, 200, at_llm_stats_json(g));
}

static void h_model(struct at_http_req *r)
{
    struct at_llm *g;
    if (need_gateway(r, &g))
        return;
    const char *id = at_http_param(r, "id");
    json_t *all = at_llm_models_json(g);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(all, "data"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0) {
            at_http_reply_json(r, 200, json_incref(m));
            json_decref(all);
            return;
        }
    }
    json_decref(all);
    char msg[400];
    snprintf(msg, sizeof(msg), "no model \"%s\" here", id);
    reply_error(r, AT_ENOENT, msg, NULL);
}

static void h_usage(struct at_http_req *r)
{
    const char *group = at_http_query(r, "group_by");
    struct at_usage_filter f = {.group_by = group && *group ? group : "all",
                                .root_id = at_http_query(r, "root_id"),
                                .job_id = at_http_query(r, "job_id")};
    if (f.root_id && !*f.root_id)
        f.root_id = NULL;
    if (f.job_id && !*f.job_id)
        f.job_id = NULL;
    json_t *out = NULL;
    int rc = at_store_call(at_http_api_of(r)->store, usage_sum, &f, &out);
    if (rc) {
        reply_error(r, rc == AT_EINVAL ? AT_EINVAL : rc,
                    rc == AT_EINVAL ? "group_by must be one of agent, model, backend, day, job_id, "
                                      "root_id, kind, all"
                                    : "cannot read usage from the store",
                    NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:s,s:o}", "group_by", f.group_by, "usage", out));
}

/* anything else under /v1 */
static void h_unknown(struct at_http_req *r)
{
    struct at_llm *g;
    if (need_gateway(r, &g))
        return;
    reply_error(r, AT_ENOENT,
                "no such endpoint (the gateway serves POST /v1/chat/completions, POST "
                "/v1/embeddings and GET /v1/models)",
                NULL);
}

static const struct at_http_route routes[] = {
    {"POST", "/v1/chat/completions", h_chat, AT_HTTP_NEED_MODEL, 0, 0, openai_error},
    {"POST", "/v1/embeddings", h_embeddings, AT_HTTP_NEED_MODEL, 0, 0, openai_error},
    {"GET", "/v1/models", h_models, AT_HTTP_NEED_MODEL, 0, 0, openai_error},
    {"GET", "/v1/models/{id*}", h_model, AT_HTTP_NEED_MODEL, 0, 0, openai_error},
    {"GET", "/v1/atlas/stats", h_stats, AT_HTTP_NEED_MODEL, 0, 0, openai_error},
    {"GET", "/v1/atlas/usage", h_usage, AT_HTTP_NEED_READ, 0, 0, openai_error},
    {"*", "/v1/{rest*}", h_unknown, AT_HTTP_NEED_MODEL, 0, 0, openai_error},
};

int at_http_llm_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
