/*
 * account.c - what the gateway counts: the chains' token budgets (a
 * reservation per call in flight, the rest read once per chain from the
 * store), per backend and model statistics (latency, the tokenizer's ratio
 * to the text estimate), costs from the price table, and one usage record
 * per call through the store writer.
 *
 * Everything under g->mu is changed for a few instructions only; the store
 * is read outside it (once per chain) and written through the writer.
 */
#include "llm/internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "base/map.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROOTS 10000 /* chains whose usage is cached */
#define MAX_RATIO 16.0  /* reported / estimated input tokens taken for calibration */

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
        /* the store's sums may hold usage that agents reported: clamp them
         * and add without overflow */
        json_t *row = json_array_get(sum, 0);
        long long in = at_json_int(row, "tokens_in", 0), out = at_json_int(row, "tokens_out", 0);
        used = at_llm_tokens_add(in > 0 ? in : 0, out > 0 ? out : 0);
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
    w->rec.kind = r->kind;
    if (at_writer_submit(g->writer, usage_write_fn, usage_write_done, w)) {
        at_warn("llm", "usage record %s dropped: the store writer is busy", w->rec.id);
        usage_write_done(0, w);
    }
}

struct model_stat *at__llm_model_stat(struct at_llm *g, int backend, const char *model, int create)
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

void at__llm_calibrate(struct at_llm *g, struct call *c)
{
    pthread_mutex_lock(&g->mu);
    struct model_stat *st =
        at__llm_model_stat(g, c->choice.cand[0].backend, c->choice.cand[0].model, 0);
    if (st && st->in_ratio > 0)
        c->est_in = (long long)((double)c->est_raw * st->in_ratio + 0.999);
    pthread_mutex_unlock(&g->mu);
}

int at__llm_budget_check(struct at_llm *g, struct call *c, struct at_diag *d)
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
    /* used and reserved saturate at LLONG_MAX: left never wraps */
    long long taken = at_llm_tokens_add(u->used, u->reserved);
    long long left = taken >= budget ? 0 : budget - taken;
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
    u->reserved = at_llm_tokens_add(u->reserved, c->est_in);
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

double at__llm_cost(struct at_llm *g, int backend, const char *model, const struct at_llm_usage *u)
{
    return cost_of(&g->conf, backend, model, u);
}

void at__llm_account(struct at_llm *g, struct call *c, const struct at_llm_result *r, int bi)
{
    pthread_mutex_lock(&g->mu);
    if (bi >= 0 && r->code == 0 && r->usage.reported && c->est_raw > 0 && r->usage.tokens_in > 0) {
        /* how this model's tokenizer compares with the text estimate */
        /* a ratio this far from 1 is no tokenizer's: not worth learning */
        double x = (double)r->usage.tokens_in / (double)c->est_raw;
        if (x >= 1.0 / MAX_RATIO && x <= MAX_RATIO) {
            struct model_stat *st = at__llm_model_stat(g, bi, r->model, 1);
            st->in_ratio = st->in_ratio > 0 ? st->in_ratio * 0.7 + x * 0.3 : x;
        }
    }
    long long spent = at_llm_tokens_add(r->usage.tokens_in, r->usage.tokens_out);
    if (bi >= 0) {
        struct backend *b = &g->b[bi];
        b->calls++;
        if (r->code)
            b->errors++;
        b->tokens_in = at_llm_tokens_add(b->tokens_in, r->usage.tokens_in);
        b->tokens_out = at_llm_tokens_add(b->tokens_out, r->usage.tokens_out);
    }
    if (c->has_caller) {
        const char *root = c->caller.root_id[0] ? c->caller.root_id : c->caller.job_id;
        struct root_use *u = at_map_get(&g->roots, root);
        if (u) {
            /* a saturated reservation may not come back whole: never below 0 */
            u->reserved = u->reserved > c->reserved ? u->reserved - c->reserved : 0;
            u->used = at_llm_tokens_add(u->used, spent);
        }
    }
    pthread_mutex_unlock(&g->mu);
    record_usage(g, r);
    if (c->quota_id[0] && spent > 0 && g->on_quota_usage)
        g->on_quota_usage(g->quota_arg, c->quota_id, spent);
    if (c->has_caller && spent > 0 && g->on_tree_usage)
        g->on_tree_usage(g->usage_arg, c->caller.root_id[0] ? c->caller.root_id : c->caller.job_id,
                         spent);
}

void at__llm_account_embed(struct at_llm *g, const struct at_llm_caller *caller, int bi,
                           const char *model, int code, long long tokens, long long latency_ms)
{
    struct at_llm_usage u = {.tokens_in = tokens > 0 ? tokens : 0, .reported = tokens > 0};
    char usage_id[AT_ID_MAX];
    at_id_new("use", usage_id);
    pthread_rwlock_rdlock(&g->conf_lock);
    double cost = bi >= 0 && (size_t)bi < g->conf.nbackends ? cost_of(&g->conf, bi, model, &u) : 0;
    char backend[128] = "";
    if (bi >= 0 && (size_t)bi < g->conf.nbackends)
        snprintf(backend, sizeof(backend), "%s", g->conf.backends[bi].name);
    pthread_rwlock_unlock(&g->conf_lock);
    pthread_mutex_lock(&g->mu);
    if (bi >= 0 && (size_t)bi < g->nb) {
        struct backend *b = &g->b[bi];
        b->calls++;
        if (code)
            b->errors++;
        b->tokens_in = at_llm_tokens_add(b->tokens_in, u.tokens_in);
    }
    pthread_mutex_unlock(&g->mu);
    struct at_llm_result r = {
        .code = code,
        .model = model,
        .backend = backend[0] ? backend : NULL,
        .tier = -1,
        .usage = u,
        .cost_usd = cost,
        .latency_ms = latency_ms,
        .ttft_ms = -1,
        .caller = caller && caller->job_id[0] ? caller : NULL,
        .usage_id = usage_id,
        .kind = "embeddings",
    };
    record_usage(g, &r);
    if (caller && caller->quota_id[0] && u.tokens_in > 0 && g->on_quota_usage)
        g->on_quota_usage(g->quota_arg, caller->quota_id, u.tokens_in);
    if (caller && caller->root_id[0] && u.tokens_in > 0 && g->on_tree_usage)
        g->on_tree_usage(g->usage_arg, caller->root_id, u.tokens_in);
}
