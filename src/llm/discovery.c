/*
 * discovery.c - the models of backends that list none (GET {base_url}/models
 * on the pool thread, retried every probe_interval until it works), and the
 * models and statistics documents of the gateway.
 */
#include "llm/internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t now_ns(void)
{
    return at_now_ns();
}

static size_t disco_body(char *p, size_t sz, size_t n, void *arg)
{
    struct disco *dc = arg;
    return at_buf_append(&dc->body, p, sz * n) ? 0 : sz * n;
}

void at__llm_disco_start(struct at_llm *g, size_t bi, struct disco **list)
{
    struct backend *b = &g->b[bi];
    struct disco *dc = at_calloc(1, sizeof(*dc));
    dc->g = g;
    dc->bi = bi;
    at_buf_init(&dc->body, 4u << 20);
    dc->h = curl_easy_init();
    char url[1200];
    snprintf(url, sizeof(url), "%s/models", b->cfg->base_url);
    if (b->cfg->api_key) {
        char *line = b->cfg->kind == AT_LLM_ANTHROPIC
                         ? at_asprintf("x-api-key: %s", b->cfg->api_key)
                         : at_asprintf("Authorization: Bearer %s", b->cfg->api_key);
        dc->hdrs = curl_slist_append(dc->hdrs, line);
        memset(line, 0, strlen(line));
        free(line);
    }
    if (b->cfg->kind == AT_LLM_ANTHROPIC)
        dc->hdrs = curl_slist_append(dc->hdrs, "anthropic-version: 2023-06-01");
    curl_easy_setopt(dc->h, CURLOPT_URL, url);
    curl_easy_setopt(dc->h, CURLOPT_HTTPHEADER, dc->hdrs);
    curl_easy_setopt(dc->h, CURLOPT_WRITEFUNCTION, disco_body);
    curl_easy_setopt(dc->h, CURLOPT_WRITEDATA, dc);
    curl_easy_setopt(dc->h, CURLOPT_PRIVATE, NULL);
    curl_easy_setopt(dc->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(dc->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(dc->h, CURLOPT_TIMEOUT_MS, (long)(b->cfg->connect_timeout_s * 1000) + 5000);
    curl_easy_setopt(dc->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(b->cfg->connect_timeout_s * 1000));
    b->discovering = 1;
    dc->next = *list;
    *list = dc;
    curl_multi_add_handle(g->multi, dc->h);
}

void at__llm_disco_done(struct disco *dc, CURLcode cc)
{
    struct at_llm *g = dc->g;
    struct backend *b = &g->b[dc->bi];
    long status = 0;
    curl_easy_getinfo(dc->h, CURLINFO_RESPONSE_CODE, &status);
    json_t *j = NULL;
    size_t added = 0;
    if (cc == CURLE_OK && status == 200 &&
        at_json_parse(dc->body.p ? dc->body.p : "", dc->body.len, 0, &j, NULL) == 0) {
        /* OpenAI: {"data": [{"id": ...}]}; Anthropic: {"data": [{"id": ...}]};
         * Ollama's /api/tags-style {"models": [{"name"}]} as a courtesy */
        json_t *list = json_object_get(j, "data");
        if (!json_is_array(list))
            list = json_object_get(j, "models");
        size_t i;
        json_t *m;
        pthread_rwlock_wrlock(&g->conf_lock);
        json_array_foreach(list, i, m)
        {
            const char *id = json_string_value(json_object_get(m, "id"));
            if (!id)
                id = json_string_value(json_object_get(m, "name"));
            if (id && *id && strlen(id) < 256) {
                at_llm_config_add_model(b->cfg, id);
                added++;
            }
        }
        pthread_rwlock_unlock(&g->conf_lock);
    }
    json_decref(j);
    pthread_mutex_lock(&g->mu);
    b->discovering = 0;
    if (added) {
        b->discovered = 1;
        at_info("llm", "backend %s: %zu model(s) discovered", b->cfg->name, added);
    } else {
        b->next_discovery_ns = now_ns() + (int64_t)(g->conf.probe_interval * 1e9);
        at_warn("llm", "backend %s: GET /models failed (%s, HTTP %ld); retrying later",
                b->cfg->name, cc != CURLE_OK ? curl_easy_strerror(cc) : "no models", status);
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    curl_multi_remove_handle(g->multi, dc->h);
    curl_easy_cleanup(dc->h);
    curl_slist_free_all(dc->hdrs);
    at_buf_release(&dc->body);
    free(dc);
}

json_t *at_llm_models_json(struct at_llm *g)
{
    json_t *data = json_array();
    pthread_rwlock_rdlock(&g->conf_lock);
    for (int t = 0; t < AT_LLM_NTIERS; t++) {
        /* the auditor is listed when configured (else it is the fast tier) */
        if (t == AT_LLM_AUDITOR && g->conf.ntiers[t] == 0)
            continue;
        char id[32];
        snprintf(id, sizeof(id), "atlas:%s", at_llm_tier_name(t));
        json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model",
                                              "created", 0, "owned_by", "atlas"));
    }
    for (size_t i = 0; i < g->conf.nbackends; i++) {
        const struct at_llm_backend_cfg *b = &g->conf.backends[i];
        for (size_t k = 0; k < b->nmodels; k++) {
            json_t *m = json_pack("{s:s,s:s,s:i,s:s,s:{s:f,s:f}}", "id", b->models[k].name,
                                  "object", "model", "created", 0, "owned_by", b->name, "pricing",
                                  "input_per_mtok", b->models[k].price.in_per_mtok,
                                  "output_per_mtok", b->models[k].price.out_per_mtok);
            json_t *tiers = json_array();
            for (int t = 0; t < AT_LLM_NTIERS; t++)
                for (size_t x = 0; x < g->conf.ntiers[t]; x++)
                    if (strcmp(g->conf.tiers[t][x], b->models[k].name) == 0)
                        json_array_append_new(tiers, json_string(at_llm_tier_name(t)));
            json_object_set_new(m, "tiers", tiers);
            json_array_append_new(data, m);
        }
    }
    pthread_rwlock_unlock(&g->conf_lock);
    return json_pack("{s:s,s:o}", "object", "list", "data", data);
}

json_t *at_llm_stats_json(struct at_llm *g)
{
    json_t *bs = json_array();
    pthread_rwlock_rdlock(&g->conf_lock);
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nb; i++) {
        struct backend *b = &g->b[i];
        const struct at_llm_sem *s = &b->sem;
        json_t *models = json_array();
        for (size_t k = 0; k < b->cfg->nmodels; k++)
            json_array_append_new(models, json_string(b->cfg->models[k].name));
        json_t *o = json_pack(
            "{s:s,s:s,s:o,s:{s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:f,s:f},s:{s:b,s:i,s:I,s:b},"
            "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:f}}",
            "name", b->cfg->name, "kind", b->cfg->kind == AT_LLM_ANTHROPIC ? "anthropic" : "openai",
            "models", models, "concurrency", "max", s->limit, "in_use", s->in_use, "peak",
            s->peak_in_use, "waiting", (json_int_t)s->waiting, "acquired", (json_int_t)s->acquired,
            "queued", (json_int_t)s->queued_total, "rejected", (json_int_t)s->rejected,
            "queue_ms_avg",
            s->queued_total ? (double)s->queue_ns_sum / (double)s->queued_total / 1e6 : 0.0,
            "queue_ms_max", (double)s->queue_ns_max / 1e6, "health", "down", b->health.down,
            "failures", b->health.failures, "downs", (json_int_t)b->health.downs, "discovered",
            b->discovered, "calls", "total", (json_int_t)b->calls, "errors", (json_int_t)b->errors,
            "retries", (json_int_t)b->retries, "fallbacks", (json_int_t)b->fallbacks, "tokens_in",
            (json_int_t)b->tokens_in, "tokens_out", (json_int_t)b->tokens_out, "latency_ms_mean",
            b->ewma_ms);
        json_array_append_new(bs, o);
    }
    json_t *out = json_pack("{s:o,s:I,s:I,s:I}", "backends", bs, "calls",
                            (json_int_t)g->total_calls, "refused", (json_int_t)g->total_refused,
                            "budget", (json_int_t)g->conf.max_tokens_per_chain);
    pthread_mutex_unlock(&g->mu);
    pthread_rwlock_unlock(&g->conf_lock);
    return out;
}
