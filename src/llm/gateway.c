/*
 * gateway.c - the gateway's lifecycle, its pool thread and the public calls
 * (submit, cancel, observer); see gateway.h and docs/gateway.md.  A call's
 * life (slots, retries, fallback, its end) is in call.c, the HTTP exchange
 * with a backend in transfer.c, budgets and usage records in account.c,
 * model discovery and the stats documents in discovery.c.
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
#include "json/json.h"
#include "llm/sem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t now_ns(void)
{
    return at_now_ns();
}

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
        at__llm_attempt(rev);
        rev = n;
    }
    for (size_t i = 0; i < ncancels; i++)
        for (struct call *c = g->active; c; c = c->next)
            if (c->id == cancels[i] && c->state != C_DONE) {
                c->cancelled = 1;
                if (c->state != C_SENDING)
                    at__llm_fail(c, AT_ECANCELED, "the client went away");
                else
                    at__llm_transfer_done(c, CURLE_ABORTED_BY_CALLBACK);
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
            at__llm_transfer_done(c, cc);
        }
        /* retry timers */
        t = now_ns();
        int64_t next_due = t + 1000000000LL;
        for (struct call *c = g->active; c; c = c->next) {
            if (c->state != C_WAIT)
                continue;
            if (c->due_ns <= t) {
                c->state = C_NEW;
                at__llm_attempt(c);
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
            at__llm_fail(c, AT_ECANCELED, "the daemon is shutting down");
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
    g->on_quota_usage = cfg->on_quota_usage;
    g->quota_arg = cfg->quota_arg;
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
        at__llm_fail(c, AT_ECANCELED, "the daemon is shutting down");
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
    struct model_stat *st = at__llm_model_stat(g, backend, model, 0);
    double r = st ? st->lat_ms : -1;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int at_llm_orchestrator_check(struct at_llm *g, const char *name, const json_t *contract_json,
                              struct at_diag *d)
{
    json_t *ms = json_object_get(contract_json, "model_selection");
    json_t *tiers = json_object_get(ms, "tiers");
    if (json_is_false(json_object_get(ms, "enabled")) || !json_is_object(tiers))
        return 0;
    int rc = 0;
    pthread_rwlock_rdlock(&g->conf_lock);
    const char *tk;
    json_t *list;
    json_object_foreach(tiers, tk, list)
    {
        if (at_llm_tier_parse(tk) < 0) {
            rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                             "orchestrator %s: model_selection.tiers.%s is not a tier (fast, "
                             "balanced, powerful)",
                             name, tk);
            break;
        }
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m)
        {
            const char *model = json_string_value(m);
            if (model && at_llm_config_find(&g->conf, model, -1, NULL) >= 0)
                continue;
            /* what is served, for the message */
            char served[600] = "";
            size_t used = 0;
            for (size_t b = 0; b < g->conf.nbackends && used + 2 < sizeof(served); b++)
                for (size_t k = 0; k < g->conf.backends[b].nmodels && used + 2 < sizeof(served);
                     k++)
                    used += (size_t)snprintf(served + used, sizeof(served) - used, "%s%s",
                                             used ? ", " : "", g->conf.backends[b].models[k].name);
            if (used >= sizeof(served))
                used = sizeof(served) - 1;
            rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                             "orchestrator %s: model_selection.tiers.%s names model \"%s\", which "
                             "no model backend serves here (served: %s); configure it "
                             "(models.backends) or set model_selection.enabled: false",
                             name, tk, model ? model : "?", used ? served : "none");
            break;
        }
        if (rc)
            break;
    }
    pthread_rwlock_unlock(&g->conf_lock);
    return rc;
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

int at_llm_submit(struct at_llm *g, const struct at_llm_request *req, uint64_t *call_id,
                  struct at_diag *d)
{
    int rc = check_body(req->body, d);
    if (rc)
        return rc;
    struct call *c = at_calloc(1, sizeof(*c));
    c->g = g;
    if (req->quota_id && strlen(req->quota_id) < sizeof(c->quota_id))
        snprintf(c->quota_id, sizeof(c->quota_id), "%s", req->quota_id);
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
    at_buf_init(&c->resp, AT__LLM_MAX_RESPONSE);
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
        .orch_name = c->has_caller && c->caller.orchestrator[0] ? c->caller.orchestrator : NULL,
    };
    for (int t = 0; t < AT_LLM_NTIERS && p.orch_name; t++)
        p.orch_models[t] = c->caller.orch_models[t];
    pthread_rwlock_rdlock(&g->conf_lock);
    rc = at_llm_select(&g->conf, &p, latency_of, g, &c->choice, d);
    pthread_rwlock_unlock(&g->conf_lock);
    if (!rc) {
        /* calibrate the input estimate by what the first candidate reported before */
        at__llm_calibrate(g, c);
        rc = at__llm_budget_check(g, c, d);
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
