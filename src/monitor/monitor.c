/*
 * monitor.c - the monitor's observers, its thread and its queue
 * (monitor.h; docs/internals/monitor.md).
 *
 *   engine loop ──on_event("log")──▶ live log buffer (per job, bounded)
 *   store writer ──on_final──┐
 *   model gateway ─observer──┼──▶ queue ──▶ monitor thread ──▶ one writer op per batch
 *   MCP platform tools ──────┘                  │               (trace rows, logs, spans,
 *                                               │                agent-reported usage)
 *                                               ├──▶ metrics, OTLP exporter queue
 *                                               └──▶ evals (assertions here, judges async)
 */
#include "monitor/monitor.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "base/map.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "monitor/costs.h"
#include "monitor/eval.h"
#include "monitor/internal.h"
#include "monitor/metrics.h"
#include "monitor/otlp.h"
#include "monitor/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- configuration ---- */

static json_t *section(const struct at_config *c, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(c->json, "monitor"), a);
    return b ? json_object_get(v, b) : v;
}

void at_monitor_cfg_load(struct at_monitor_cfg *cfg, const struct at_config *config)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->traces = 1;
    cfg->retention_days = 7;
    cfg->max_bytes = 1024LL << 20;
    cfg->prune_interval_s = 60;
    cfg->logs = 1;
    cfg->log_max_bytes = 64u << 10;
    cfg->evals = 1;
    cfg->eval_max_inflight = 4;
    cfg->queue_max = 10000;
    cfg->otlp_batch = 256;
    cfg->otlp_interval_ms = 1000;
    cfg->otlp_queue = 4096;
    cfg->otlp_timeout_ms = 5000;
    cfg->job_retention_days = config->store.jobs_retention_days;
    cfg->job_max_count = config->store.jobs_max_count;
    cfg->job_prune_interval_s =
        config->store.jobs_prune_interval > 0 ? config->store.jobs_prune_interval : 60;
    json_t *v;
    if ((v = section(config, "traces", "enabled")))
        cfg->traces = json_is_true(v);
    if ((v = section(config, "traces", "retention_days")))
        cfg->retention_days = json_number_value(v);
    if ((v = section(config, "traces", "max_mb")))
        cfg->max_bytes = (long long)(json_number_value(v) * 1048576.0);
    if ((v = section(config, "traces", "prune_interval")))
        cfg->prune_interval_s = json_number_value(v);
    if ((v = section(config, "logs", "enabled")))
        cfg->logs = json_is_true(v);
    if ((v = section(config, "logs", "max_bytes_per_job")))
        cfg->log_max_bytes = (size_t)json_integer_value(v);
    if ((v = section(config, "evals", "enabled")))
        cfg->evals = json_is_true(v);
    if ((v = section(config, "evals", "max_concurrent")))
        cfg->eval_max_inflight = (int)json_integer_value(v);
    if ((v = section(config, "queue", NULL)))
        cfg->queue_max = (int)json_integer_value(v);
    if ((v = section(config, "otlp", "endpoint")) && json_string_length(v))
        cfg->otlp_endpoint = at_strdup(json_string_value(v));
    if ((v = section(config, "otlp", "headers")))
        cfg->otlp_headers = json_incref(v);
    cfg->service_name = at_strdup(json_string_value(section(config, "otlp", "service_name"))
                                      ? json_string_value(section(config, "otlp", "service_name"))
                                      : "atlas");
    if ((v = section(config, "otlp", "batch_size")))
        cfg->otlp_batch = (int)json_integer_value(v);
    if ((v = section(config, "otlp", "flush_interval_ms")))
        cfg->otlp_interval_ms = (int)json_integer_value(v);
    if ((v = section(config, "otlp", "max_queue")))
        cfg->otlp_queue = (int)json_integer_value(v);
    if ((v = section(config, "otlp", "timeout_ms")))
        cfg->otlp_timeout_ms = (int)json_integer_value(v);
    const char *env = getenv("ATLAS_TRACE");
    if (env && (strcmp(env, "0") == 0 || strcmp(env, "1") == 0))
        cfg->traces = cfg->logs = env[0] == '1';
    env = getenv("ATLAS_OTLP_ENDPOINT");
    if (env && *env) {
        free(cfg->otlp_endpoint);
        cfg->otlp_endpoint = at_strdup(env);
    }
}

void at_monitor_cfg_release(struct at_monitor_cfg *cfg)
{
    free(cfg->otlp_endpoint);
    free(cfg->service_name);
    json_decref(cfg->otlp_headers);
    memset(cfg, 0, sizeof(*cfg));
}

static void cfg_copy(struct at_monitor_cfg *dst, const struct at_monitor_cfg *src)
{
    *dst = *src;
    dst->otlp_endpoint = src->otlp_endpoint ? at_strdup(src->otlp_endpoint) : NULL;
    dst->service_name = at_strdup(src->service_name ? src->service_name : "atlas");
    dst->otlp_headers = src->otlp_headers ? json_incref(src->otlp_headers) : NULL;
}

/* ---- the queue ---- */

static int push(struct at_monitor *m, struct mon_item *it)
{
    pthread_mutex_lock(&m->mu);
    if (m->stop || m->qlen >= m->cfg.queue_max) {
        m->dropped++;
        pthread_mutex_unlock(&m->mu);
        at__mon_item_free(it);
        return AT_EBUSY;
    }
    it->next = NULL;
    if (m->qtail)
        m->qtail->next = it;
    else
        m->qhead = it;
    m->qtail = it;
    m->qlen++;
    m->queued_total++;
    /* a thread that is processing or lingering (at__mon_main) takes it
     * within AT_MON_LINGER_MS without a wakeup per item; a call (run_later)
     * may have someone waiting on it */
    if (m->idle || it->kind == MON_CALL)
        pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

void at__mon_item_free(struct mon_item *it)
{
    if (!it)
        return;
    at_job_rec_release(&it->rec);
    json_decref(it->data);
    free(it);
}

/* ---- observers ---- */

static void on_event(void *arg, const struct at_job_rec *rec, const char *event, json_t *data)
{
    struct at_monitor *m = arg;
    if (!m->cfg.logs)
        return;
    if (strcmp(event, "log") != 0)
        return;
    const char *stream = json_string_value(json_object_get(data, "stream"));
    const char *text = json_string_value(json_object_get(data, "text"));
    if (text)
        at__mon_log_append(m, rec->id, rec->root_id, stream ? stream : "stderr", text);
}

static void on_final(void *arg, const struct at_job_rec *rec)
{
    struct at_monitor *m = arg;
    struct mon_item *it = at_calloc(1, sizeof(*it));
    it->kind = MON_FINAL;
    at_job_rec_copy(&it->rec, rec);
    push(m, it);
}

static void on_model(void *arg, const struct at_llm_result *r)
{
    struct at_monitor *m = arg;
    const struct at_llm_caller *c = r->caller;
    const char *status = r->code == 0              ? "ok"
                         : r->code == AT_ELIMIT    ? "refused"
                         : r->code == AT_ECANCELED ? "cancelled"
                                                   : "error";
    json_t *d = json_pack(
        "{s:s,s:s?,s:s?,s:s?,s:I,s:I,s:f,s:I,s:I,s:I,s:s,s:I}", "id",
        r->usage_id ? r->usage_id : "", "model", r->model, "backend", r->backend, "tier",
        r->tier >= 0 ? at_llm_tier_name(r->tier) : NULL, "tokens_in",
        (json_int_t)r->usage.tokens_in, "tokens_out", (json_int_t)r->usage.tokens_out, "cost_usd",
        r->cost_usd, "latency_ms", (json_int_t)r->latency_ms, "ttft_ms", (json_int_t)r->ttft_ms,
        "queue_ms", (json_int_t)r->queue_ms, "status", status, "end_ms", (json_int_t)at_wall_ms());
    if (!d)
        return;
    if (r->reason) /* why this model: the trace shows it */
        json_object_set_new(d, "reason", json_string(r->reason));
    if (c && c->job_id[0]) {
        json_object_set_new(d, "job_id", json_string(c->job_id));
        json_object_set_new(d, "root_id", json_string(c->root_id[0] ? c->root_id : c->job_id));
        json_object_set_new(d, "agent", json_string(c->agent));
    }
    if (r->error)
        json_object_set_new(d, "error", json_string(r->error));
    if (r->attempts)
        json_object_set_new(d, "attempts", json_integer((json_int_t)json_array_size(r->attempts)));
    struct mon_item *it = at_calloc(1, sizeof(*it));
    it->kind = MON_MODEL;
    it->data = d;
    push(m, it);
}

void at_monitor_tool_span(struct at_monitor *m, const char *job_id, const char *root_id,
                          const char *tool, int64_t started_ms, int64_t duration_ms,
                          const char *status)
{
    if (!m || !m->cfg.traces || !job_id)
        return;
    char id[AT_ID_MAX];
    at_id_new("spn", id);
    struct mon_item *it = at_calloc(1, sizeof(*it));
    it->kind = MON_TOOL;
    it->data = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "id", id, "job_id", job_id, "root_id",
                         root_id ? root_id : job_id, "name", tool ? tool : "?", "started_ms",
                         (json_int_t)started_ms, "duration_ms", (json_int_t)duration_ms, "status",
                         status ? status : "ok");
    push(m, it);
}

int at_monitor_run_later(struct at_monitor *m, void (*fn)(void *arg), void *arg)
{
    struct mon_item *it = at_calloc(1, sizeof(*it));
    it->kind = MON_CALL;
    it->fn = fn;
    it->arg = arg;
    return push(m, it);
}

/* ---- eval hooks ---- */

static int hook_submit(void *arg, const struct at_llm_request *req, struct at_diag *d)
{
    struct at_monitor *m = arg;
    pthread_rwlock_rdlock(&m->llm_lock);
    int rc = m->llm ? at_llm_submit(m->llm, req, NULL, d) : AT_EUNAVAIL;
    pthread_rwlock_unlock(&m->llm_lock);
    return rc;
}

static void hook_result(void *arg, const struct at_eval_result *r)
{
    struct at_monitor *m = arg;
    char lb[AT_METRICS_MAX_LABELS];
    at_metrics_labels(lb, sizeof(lb), "eval", r->eval, "check", r->check_name, "result",
                      r->passed ? "pass" : "fail", NULL);
    at_metrics_inc(m->metrics, "atlas_eval_checks_total",
                   "Eval checks run, by eval, check and result.", lb, 1);
    at__mon_write_eval_result(m, r);
}

/* ---- lifecycle ---- */

static void load_evals(struct at_monitor *m)
{
    json_t *list = NULL;
    if (at_store_call(m->store, eval_list, &list))
        return;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *src = at_json_str(e, "source", "");
        const char *name = at_json_str(e, "name", "?");
        struct at_eval *ev = NULL;
        struct at_diag d;
        at_diag_clear(&d);
        if (at_eval_parse(name, src, strlen(src), &ev, &d)) {
            at_warn("monitor", "eval %s in the store no longer loads: %s", name, d.msg);
            continue;
        }
        at_eval_unref(at_map_put(&m->evals, ev->name, ev));
    }
    json_decref(list);
}

int at_monitor_new(const struct at_monitor_cfg *cfg, struct at_store *store,
                   struct at_writer *writer, struct at_engine *engine, struct at_monitor **out)
{
    struct at_monitor *m = at_calloc(1, sizeof(*m));
    cfg_copy(&m->cfg, cfg);
    if (m->cfg.queue_max <= 0)
        m->cfg.queue_max = 10000;
    m->store = store;
    m->writer = writer;
    m->engine = engine;
    m->metrics = at_metrics_new();
    m->rng = (unsigned long long)at_now_ns() | 1ULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_mutex_init(&m->log_mu, NULL);
    pthread_mutex_init(&m->ret_mu, NULL);
    pthread_rwlock_init(&m->eval_lock, NULL);
    pthread_rwlock_init(&m->llm_lock, NULL);
    at_map_init(&m->live);
    at_map_init(&m->evals);
    atomic_init(&m->judges, 0);
    atomic_init(&m->writes_pending, 0);
    m->hooks.submit = hook_submit;
    m->hooks.result = hook_result;
    m->hooks.arg = m;
    m->hooks.inflight = &m->judges;
    m->hooks.max_inflight = m->cfg.eval_max_inflight > 0 ? m->cfg.eval_max_inflight : 4;
    load_evals(m);
    if (m->cfg.otlp_endpoint && m->cfg.traces) {
        struct at_otlp_cfg oc = {.endpoint = m->cfg.otlp_endpoint,
                                 .headers = m->cfg.otlp_headers,
                                 .service_name = m->cfg.service_name,
                                 .batch_size = m->cfg.otlp_batch,
                                 .interval_ms = m->cfg.otlp_interval_ms,
                                 .max_queue = m->cfg.otlp_queue,
                                 .timeout_ms = m->cfg.otlp_timeout_ms};
        if (at_otlp_new(&oc, &m->otlp))
            at_warn("monitor", "cannot start the OTLP exporter");
    }
    if (engine) {
        struct at_engine_observer obs = {.on_event = on_event, .on_final = on_final, .arg = m};
        int rc = at_engine_add_observer(engine, &obs);
        if (rc) {
            at_monitor_free(m);
            return rc;
        }
    }
    if (pthread_create(&m->thread, NULL, at__mon_main, m) != 0) {
        at_monitor_free(m);
        return AT_EIO;
    }
    m->started = 1;
    *out = m;
    return 0;
}

void at_monitor_attach_llm(struct at_monitor *m, struct at_llm *g)
{
    if (!m)
        return;
    pthread_rwlock_wrlock(&m->llm_lock);
    m->llm = g;
    pthread_rwlock_unlock(&m->llm_lock);
    if (g)
        at_llm_set_observer(g, on_model, m);
}

void at_monitor_free(struct at_monitor *m)
{
    if (!m)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = 1;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    /* the writer completes our writes before it is freed; wait for them
     * here since their completions touch the monitor */
    while (atomic_load(&m->writes_pending) > 0)
        at_writer_flush(m->writer);
    at_otlp_free(m->otlp);
    struct mon_item *it = m->qhead;
    while (it) {
        struct mon_item *next = it->next;
        at__mon_item_free(it);
        it = next;
    }
    size_t i = 0;
    void *v;
    while (at_map_next(&m->live, &i, NULL, &v))
        at__mon_live_free(v);
    at_map_release(&m->live);
    i = 0;
    while (at_map_next(&m->evals, &i, NULL, &v))
        at_eval_unref(v);
    at_map_release(&m->evals);
    at_metrics_free(m->metrics);
    at_monitor_cfg_release(&m->cfg);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->log_mu);
    pthread_mutex_destroy(&m->ret_mu);
    pthread_rwlock_destroy(&m->eval_lock);
    pthread_rwlock_destroy(&m->llm_lock);
    free(m);
}

/* ---- reads ---- */

int at_monitor_trace(struct at_monitor *m, const char *id, json_t **out)
{
    char root[AT_ID_MAX + 8];
    at_trace_root_of(id, root, sizeof(root));
    json_t *mat = NULL;
    int rc = at_store_call(m->store, trace_load, root, &mat);
    if (rc)
        return rc;
    if (json_array_size(json_object_get(mat, "jobs")) == 0) {
        json_decref(mat);
        return AT_ENOENT;
    }
    /* a job inside the tree: load its root's trace */
    json_t *first = json_array_get(json_object_get(mat, "jobs"), 0);
    const char *rid = json_string_value(json_object_get(first, "root_id"));
    if (rid && strcmp(rid, root) != 0 &&
        strcmp(json_string_value(json_object_get(first, "id")), root) == 0) {
        char r2[AT_ID_MAX + 8];
        snprintf(r2, sizeof(r2), "%s", rid);
        json_decref(mat);
        mat = NULL;
        if ((rc = at_store_call(m->store, trace_load, r2, &mat)))
            return rc;
    }
    *out = at_trace_build(mat);
    json_decref(mat);
    return *out ? 0 : AT_ENOENT;
}

int at_monitor_traces(struct at_monitor *m, const struct at_trace_filter *f, json_t **out)
{
    json_t *rows = NULL;
    int rc = at_store_call(m->store, trace_list, f, &rows);
    if (rc)
        return rc;
    size_t i;
    json_t *r;
    char buf[48];
    json_array_foreach(rows, i, r)
    {
        char tid[96];
        at_trace_id(at_json_str(r, "id", ""), tid, sizeof(tid));
        json_object_set_new(r, "trace_id", json_string(tid));
        json_object_set(r, "root_job", json_object_get(r, "id"));
        if (strcmp(at_json_str(r, "kind", "agent"), "chain") == 0)
            json_object_set(r, "chain", json_object_get(r, "agent"));
        json_object_del(r, "id");
        long long st = at_json_int(r, "started_ms", 0), fi = at_json_int(r, "finished_ms", 0);
        json_object_set_new(r, "started_at",
                            st ? json_string(at_time_iso8601(st, buf, sizeof(buf))) : json_null());
        json_object_set_new(r, "completed_at",
                            fi ? json_string(at_time_iso8601(fi, buf, sizeof(buf))) : json_null());
        json_object_set_new(r, "duration_ms", st && fi ? json_integer(fi - st) : json_null());
        /* the store's sums, clamped: huge usage shows, never wraps (costs.h) */
        json_object_set_new(r, "total_tokens",
                            json_integer(at_monitor_tokens(json_object_get(r, "tokens"))));
        json_object_set_new(r, "total_cost_usd",
                            json_real(at_monitor_cost(json_object_get(r, "cost_usd"))));
        json_object_del(r, "tokens");
        json_object_del(r, "cost_usd");
        json_object_del(r, "started_ms");
        json_object_del(r, "finished_ms");
    }
    *out = rows;
    return 0;
}

/* ---- evals ---- */

int at_monitor_eval_register(struct at_monitor *m, const char *name, const char *yaml, size_t len,
                             json_t **info, struct at_diag *d)
{
    struct at_eval *ev = NULL;
    int rc = at_eval_parse(name, yaml, len, &ev, d);
    if (rc)
        return rc;
    struct at_eval_rec rec = {.name = ev->name,
                              .target_agent = ev->target,
                              .trigger = ev->trigger == AT_EVAL_SAMPLED  ? "sampled"
                                         : ev->trigger == AT_EVAL_MANUAL ? "manual"
                                                                         : "every_execution",
                              .definition = ev->def,
                              .source = ev->source,
                              .registered_ms = at_wall_ms()};
    if ((rc = at_writer_eval_put(m->writer, m->store, &rec))) {
        at_eval_unref(ev);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot store the eval: %s", at_err_msg(rc));
    }
    *info = at_eval_to_json(ev);
    pthread_rwlock_wrlock(&m->eval_lock);
    at_eval_unref(at_map_put(&m->evals, ev->name, ev));
    pthread_rwlock_unlock(&m->eval_lock);
    return 0;
}

int at_monitor_eval_delete(struct at_monitor *m, const char *name)
{
    int deleted = 0;
    int rc = at_writer_eval_delete(m->writer, m->store, name, &deleted);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&m->eval_lock);
    struct at_eval *ev = at_map_del(&m->evals, name);
    pthread_rwlock_unlock(&m->eval_lock);
    at_eval_unref(ev);
    return deleted || ev ? 0 : AT_ENOENT;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

json_t *at_monitor_eval_list(struct at_monitor *m)
{
    pthread_rwlock_rdlock(&m->eval_lock);
    size_t n = m->evals.len, k = 0, i = 0;
    json_t **v = at_calloc(n ? n : 1, sizeof(*v));
    void *e;
    while (at_map_next(&m->evals, &i, NULL, &e) && k < n)
        v[k++] = at_eval_to_json(e);
    pthread_rwlock_unlock(&m->eval_lock);
    qsort(v, k, sizeof(*v), cmp_name);
    json_t *arr = json_array();
    for (size_t j = 0; j < k; j++)
        json_array_append_new(arr, v[j]);
    free(v);
    return arr;
}

void at_monitor_eval_result(struct at_monitor *m, const struct at_eval_result *r)
{
    at__mon_write_eval_result(m, r);
}

int at_monitor_eval_run(struct at_monitor *m, const char *name, const struct at_job_rec *rec,
                        at_monitor_eval_done_fn done, void *arg)
{
    pthread_rwlock_rdlock(&m->eval_lock);
    struct at_eval *ev = at_map_get(&m->evals, name);
    if (ev)
        at_eval_ref(ev);
    pthread_rwlock_unlock(&m->eval_lock);
    if (!ev)
        return AT_ENOENT;
    at_eval_start(ev, rec, &m->hooks, done, arg);
    at_eval_unref(ev);
    return 0;
}

/* Evals whose target is agent and whose trigger says run (monitor thread). */
void at__mon_run_evals(struct at_monitor *m, const struct at_job_rec *rec)
{
    struct at_eval *run[32];
    int n = 0;
    pthread_rwlock_rdlock(&m->eval_lock);
    size_t i = 0;
    void *v;
    while (at_map_next(&m->evals, &i, NULL, &v) && n < 32) {
        struct at_eval *ev = v;
        if (rec->agent && strcmp(ev->target, rec->agent) == 0 && at_eval_should_run(ev, &m->rng))
            run[n++] = at_eval_ref(ev);
    }
    pthread_rwlock_unlock(&m->eval_lock);
    for (int k = 0; k < n; k++) {
        at_eval_start(run[k], rec, &m->hooks, NULL, NULL);
        at_eval_unref(run[k]);
    }
}

void at_monitor_set_job_retention(struct at_monitor *m, double retention_days, long long max_count,
                                  double prune_interval_s)
{
    pthread_mutex_lock(&m->ret_mu);
    m->ret_days = retention_days;
    m->ret_count = max_count;
    m->ret_interval_s = prune_interval_s > 0 ? prune_interval_s : 60;
    pthread_mutex_unlock(&m->ret_mu);
    atomic_store(&m->ret_pending, 1);
    pthread_mutex_lock(&m->mu);
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}
