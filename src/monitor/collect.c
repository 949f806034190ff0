/*
 * collect.c - the monitor's thread: it takes everything queued, counts
 * metrics, feeds the OTLP exporter, starts evals, and hands one write per
 * batch (log lines, spans, the periodic retention prune) to the
 * group-committing writer.  A job with no logs and no model or tool calls
 * costs no write here: its trace is its jobs rows.  Also the per-job log
 * buffers and the Prometheus exposition.
 */
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "json/json.h"
#include "monitor/internal.h"
#include "monitor/trace.h"
#include "security/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIVE_JOBS 20000

/* ---- batches of writes ---- */

struct batch {
    struct at_monitor *m;
    struct at_log_line *lines;
    size_t nlines, clines;
    struct at_span_rec *spans;
    size_t nspans, cspans;
    struct at_usage_rec *usage;
    size_t nusage, cusage;
    char **flushed; /* job ids whose live log buffer this batch writes */
    size_t nflushed, cflushed;
    int prune;
    int64_t prune_before;
    long long prune_max;
    int job_prune;
    int64_t job_prune_before;
    long long job_prune_keep;
};

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 8;                                                           \
            (arr) = at_realloc((arr), (cap) * sizeof(*(arr)));                                     \
        }                                                                                          \
    } while (0)

static char *dup_or_null(const char *s)
{
    return s ? at_strdup(s) : NULL;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->nlines; i++) {
        free((char *)b->lines[i].job_id);
        free((char *)b->lines[i].root_id);
        free((char *)b->lines[i].stream);
        free((char *)b->lines[i].text);
    }
    for (size_t i = 0; i < b->nspans; i++) {
        free((char *)b->spans[i].id);
        free((char *)b->spans[i].root_id);
        free((char *)b->spans[i].job_id);
        free((char *)b->spans[i].name);
        free((char *)b->spans[i].status);
        json_decref((json_t *)b->spans[i].attrs);
    }
    for (size_t i = 0; i < b->nusage; i++) {
        struct at_usage_rec *u = &b->usage[i];
        free(u->job_id);
        free(u->root_id);
        free(u->agent);
        free(u->backend);
        free(u->model);
        free(u->tier);
        free(u->status);
    }
    for (size_t i = 0; i < b->nflushed; i++)
        free(b->flushed[i]);
    free(b->lines);
    free(b->spans);
    free(b->usage);
    free(b->flushed);
    free(b);
}

static int batch_run(struct at_store *s, void *arg)
{
    struct batch *b = arg;
    int rc = 0, r;
    if (b->nlines && (r = s->ops->log_append(s, b->lines, b->nlines)) && !rc)
        rc = r;
    for (size_t i = 0; i < b->nspans; i++)
        if ((r = s->ops->span_put(s, &b->spans[i])) && !rc)
            rc = r;
    for (size_t i = 0; i < b->nusage; i++)
        if ((r = s->ops->usage_insert(s, &b->usage[i])) && !rc)
            rc = r;
    if (b->prune) {
        int deleted = 0;
        if ((r = s->ops->trace_prune(s, b->prune_before, b->prune_max, 2000, &deleted)) && !rc)
            rc = r;
        if (deleted)
            at_info("monitor", "retention: pruned %d trace(s)", deleted);
    }
    if (b->job_prune) {
        int deleted = 0;
        if ((r = s->ops->job_prune(s, b->job_prune_before, b->job_prune_keep, 2000, &deleted)) &&
            !rc)
            rc = r;
        if (deleted)
            at_info("monitor", "retention: pruned %d job tree(s) (store.jobs)", deleted);
        if (deleted >= 2000)
            atomic_store(&b->m->job_prune_more, 1); /* a backlog: the next pass soon */
    }
    return rc;
}

static void batch_done(int rc, void *arg)
{
    struct batch *b = arg;
    struct at_monitor *m = b->m;
    if (rc)
        at_warn("monitor", "trace/log records not stored: %s", at_err_msg(rc));
    pthread_mutex_lock(&m->log_mu);
    for (size_t i = 0; i < b->nflushed; i++) {
        struct mon_live *l = at_map_get(&m->live, b->flushed[i]);
        if (l && l->flushing) {
            at_map_del(&m->live, b->flushed[i]);
            at__mon_live_free(l);
        }
    }
    pthread_mutex_unlock(&m->log_mu);
    batch_free(b);
    atomic_fetch_sub(&m->writes_pending, 1);
}

static void batch_submit(struct at_monitor *m, struct batch *b)
{
    if (!b->nlines && !b->nspans && !b->nusage && !b->nflushed && !b->prune && !b->job_prune) {
        batch_free(b);
        return;
    }
    atomic_fetch_add(&m->writes_pending, 1);
    if (at_writer_submit(m->writer, batch_run, batch_done, b)) {
        m->write_drops++;
        batch_done(AT_EBUSY, b);
    }
}

/* ---- log buffers ---- */

void at__mon_live_free(struct mon_live *l)
{
    if (!l)
        return;
    free(l->root_id);
    json_decref(l->lines);
    at_buf_release(&l->partial);
    free(l);
}

/* Keep one line (under log_mu). */
static void keep_line(struct at_monitor *m, struct mon_live *l, const char *stream,
                      const char *text, size_t len)
{
    if (l->flushing || l->bytes + len > m->cfg.log_max_bytes) {
        l->dropped += len;
        m->log_dropped_bytes += len;
        return;
    }
    /* an agent may print a secret it was given: the stored line never
     * holds it (docs/security.md "Secrets") */
    struct at_buf clean;
    at_buf_init(&clean, len * 16 + 1024);
    if (m->cfg.secrets && at_secrets_contains(m->cfg.secrets, text, len) &&
        at_secrets_redact(m->cfg.secrets, text, len, &clean) > 0) {
        text = clean.p;
        len = clean.len;
    }
    l->bytes += len;
    json_t *t = json_stringn(text, len);
    at_buf_release(&clean);
    if (!t)
        return;
    json_t *line = json_pack("{s:i,s:I,s:s,s:o}", "seq", ++l->seq, "ts_ms",
                             (json_int_t)at_wall_ms(), "stream", stream, "text", t);
    if (line)
        json_array_append_new(l->lines, line);
}

void at__mon_log_append(struct at_monitor *m, const char *job_id, const char *root_id,
                        const char *stream, const char *text)
{
    size_t len = strlen(text);
    pthread_mutex_lock(&m->log_mu);
    struct mon_live *l = at_map_get(&m->live, job_id);
    if (!l) {
        if (m->live.len >= MAX_LIVE_JOBS) {
            m->log_dropped_bytes += len;
            pthread_mutex_unlock(&m->log_mu);
            return;
        }
        l = at_calloc(1, sizeof(*l));
        l->root_id = at_strdup(root_id ? root_id : job_id);
        l->lines = json_array();
        at_buf_init(&l->partial, 4096);
        at_map_put(&m->live, job_id, l);
    }
    if (strcmp(stream, "stderr") != 0) {
        /* one message, one line */
        keep_line(m, l, stream, text, len);
        pthread_mutex_unlock(&m->log_mu);
        return;
    }
    /* stderr arrives in chunks: one line per newline, the rest waits for
     * the next chunk (a line longer than 4 KiB is cut) */
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!nl && at_buf_append(&l->partial, p, n) == 0)
            break;
        if (l->partial.len) {
            at_buf_append(&l->partial, p, n);
            keep_line(m, l, "stderr", l->partial.p, l->partial.len);
            at_buf_clear(&l->partial);
        } else {
            keep_line(m, l, "stderr", p, n);
        }
        p += n + (nl ? 1 : 0);
    }
    pthread_mutex_unlock(&m->log_mu);
}

static json_t *dropped_line(int seq, size_t dropped, size_t max)
{
    char text[200];
    snprintf(text, sizeof(text),
             "[atlas: %zu more bytes of log were dropped: monitor.logs.max_bytes_per_job is %zu]",
             dropped, max);
    return json_pack("{s:i,s:I,s:s,s:s}", "seq", seq, "ts_ms", (json_int_t)at_wall_ms(), "stream",
                     "atlas", "text", text);
}

int at_monitor_logs_live(struct at_monitor *m, const char *job_id, json_t **out)
{
    pthread_mutex_lock(&m->log_mu);
    struct mon_live *l = at_map_get(&m->live, job_id);
    if (l) {
        *out = json_deep_copy(l->lines);
        if (l->dropped)
            json_array_append_new(*out, dropped_line(l->seq + 1, l->dropped, m->cfg.log_max_bytes));
    }
    pthread_mutex_unlock(&m->log_mu);
    return l ? 0 : AT_ENOENT;
}

int at_monitor_logs(struct at_monitor *m, const char *job_id, json_t **out)
{
    pthread_mutex_lock(&m->log_mu);
    struct mon_live *l = at_map_get(&m->live, job_id);
    if (l) {
        *out = json_deep_copy(l->lines);
        if (l->dropped)
            json_array_append_new(*out, dropped_line(l->seq + 1, l->dropped, m->cfg.log_max_bytes));
        pthread_mutex_unlock(&m->log_mu);
        return 0;
    }
    pthread_mutex_unlock(&m->log_mu);
    return at_store_call(m->store, log_get, job_id, out);
}

/* Move a finished job's log lines into the batch. */
static void take_logs(struct at_monitor *m, struct batch *b, const char *job_id)
{
    pthread_mutex_lock(&m->log_mu);
    struct mon_live *l = at_map_get(&m->live, job_id);
    if (!l || l->flushing) {
        pthread_mutex_unlock(&m->log_mu);
        return;
    }
    if (l->partial.len) {
        keep_line(m, l, "stderr", l->partial.p, l->partial.len);
        at_buf_clear(&l->partial);
    }
    l->flushing = 1;
    if (l->dropped)
        json_array_append_new(l->lines, dropped_line(l->seq + 1, l->dropped, m->cfg.log_max_bytes));
    size_t i;
    json_t *line;
    json_array_foreach(l->lines, i, line)
    {
        GROW(b->lines, b->nlines, b->clines);
        struct at_log_line *o = &b->lines[b->nlines++];
        o->job_id = at_strdup(job_id);
        o->root_id = at_strdup(l->root_id);
        o->seq = (int)at_json_int(line, "seq", 0);
        o->ts_ms = at_json_int(line, "ts_ms", 0);
        o->stream = at_strdup(at_json_str(line, "stream", "stderr"));
        o->text = at_strdup(at_json_str(line, "text", ""));
    }
    pthread_mutex_unlock(&m->log_mu);
    GROW(b->flushed, b->nflushed, b->cflushed);
    b->flushed[b->nflushed++] = at_strdup(job_id);
}

/* ---- processing ---- */

static void agent_name(const char *agent, char *out, size_t n)
{
    /* "name@version" (model callers) -> "name" */
    snprintf(out, n, "%s", agent ? agent : "");
    char *at = strrchr(out, '@');
    if (at)
        *at = '\0';
}

static void count_tokens(struct at_monitor *m, const char *agent, const char *model, long long in,
                         long long out, double cost)
{
    char lb[AT_METRICS_MAX_LABELS];
    if (agent && *agent) {
        at_metrics_inc(m->metrics, "atlas_agent_tokens_total",
                       "Model tokens used by jobs of an agent (gateway calls and self-reported).",
                       at_metrics_labels(lb, sizeof(lb), "agent", agent, "direction", "in", NULL),
                       (double)in);
        at_metrics_inc(m->metrics, "atlas_agent_tokens_total", NULL,
                       at_metrics_labels(lb, sizeof(lb), "agent", agent, "direction", "out", NULL),
                       (double)out);
        at_metrics_inc(m->metrics, "atlas_agent_cost_usd_total",
                       "Model cost of jobs of an agent, in US dollars.",
                       at_metrics_labels(lb, sizeof(lb), "agent", agent, NULL), cost);
    }
    if (model) {
        at_metrics_inc(m->metrics, "atlas_model_tokens_total",
                       "Tokens of model calls, by model and direction.",
                       at_metrics_labels(lb, sizeof(lb), "model", model, "direction", "in", NULL),
                       (double)in);
        at_metrics_inc(m->metrics, "atlas_model_tokens_total", NULL,
                       at_metrics_labels(lb, sizeof(lb), "model", model, "direction", "out", NULL),
                       (double)out);
        at_metrics_inc(m->metrics, "atlas_model_cost_usd_total",
                       "Cost of model calls, by model, in US dollars.",
                       at_metrics_labels(lb, sizeof(lb), "model", model, NULL), cost);
    }
}

static void process_final(struct at_monitor *m, struct batch *b, const struct at_job_rec *rec)
{
    char lb[AT_METRICS_MAX_LABELS];
    const char *agent = rec->agent ? rec->agent : "";
    const char *state = at_job_state_name(rec->state);
    at_metrics_inc(m->metrics, "atlas_jobs_total", "Jobs that reached a final state.",
                   at_metrics_labels(lb, sizeof(lb), "agent", agent, "state", state, NULL), 1);
    at_metrics_labels(lb, sizeof(lb), "agent", agent, NULL);
    if (rec->started_ms > 0) {
        at_metrics_observe(m->metrics, "atlas_job_queue_wait_seconds",
                           "Time from acceptance to start of a job.", lb,
                           (double)(rec->started_ms - rec->created_ms) / 1000.0);
        if (rec->finished_ms >= rec->started_ms)
            at_metrics_observe(m->metrics, "atlas_job_duration_seconds",
                               "Run time of a job, from start to its final state.", lb,
                               (double)(rec->finished_ms - rec->started_ms) / 1000.0);
    }
    /* usage the agent reported (meta.usage; the engine records its usage
     * row, the metrics count it here) */
    json_t *mu = json_object_get(rec->meta, "usage");
    long long in = 0, out = 0;
    const char *model = NULL;
    if (json_is_object(mu)) {
        in = at_json_int(mu, "tokens_in", 0);
        out = at_json_int(mu, "tokens_out", 0);
        model = at_json_str(mu, "model", NULL);
        double cost = json_number_value(json_object_get(mu, "cost_usd"));
        count_tokens(m, agent, model, in, out, cost);
    }
    if (m->cfg.logs)
        take_logs(m, b, rec->id);
    if (m->otlp) {
        json_t *err = rec->error;
        json_t *j = json_pack(
            "{s:s,s:s,s:s,s:s?,s:s,s:s?,s:s,s:I,s:I,s:I,s:I,s:I,s:s?,s:s?}", "id", rec->id, "kind",
            rec->kind ? rec->kind : "agent", "agent", agent, "version", rec->agent_version, "state",
            state, "parent_id", rec->parent_id, "root_id", rec->root_id ? rec->root_id : rec->id,
            "created_ms", (json_int_t)rec->created_ms, "started_ms", (json_int_t)rec->started_ms,
            "finished_ms", (json_int_t)rec->finished_ms, "tokens_in", (json_int_t)in, "tokens_out",
            (json_int_t)out, "model", model, "error_title",
            json_string_value(json_object_get(err, "detail")));
        if (j) {
            at_otlp_push(m->otlp, at_otlp_job_span(j));
            json_decref(j);
        }
    }
    if (m->cfg.evals && rec->state == AT_JOB_COMPLETED)
        at__mon_run_evals(m, rec);
}

static void process_model(struct at_monitor *m, struct batch *b, json_t *d)
{
    char lb[AT_METRICS_MAX_LABELS];
    const char *model = at_json_str(d, "model", "");
    const char *backend = at_json_str(d, "backend", "");
    const char *status = at_json_str(d, "status", "ok");
    at_metrics_inc(m->metrics, "atlas_model_calls_total",
                   "Model calls through the gateway, by model, backend and status.",
                   at_metrics_labels(lb, sizeof(lb), "model", model, "backend", backend, "status",
                                     status, NULL),
                   1);
    long long lat = at_json_int(d, "latency_ms", -1);
    if (lat >= 0)
        at_metrics_observe(m->metrics, "atlas_model_latency_seconds",
                           "Latency of model calls through the gateway.",
                           at_metrics_labels(lb, sizeof(lb), "model", model, NULL),
                           (double)lat / 1000.0);
    char agent[200];
    agent_name(at_json_str(d, "agent", NULL), agent, sizeof(agent));
    count_tokens(m, agent, model, at_json_int(d, "tokens_in", 0), at_json_int(d, "tokens_out", 0),
                 json_number_value(json_object_get(d, "cost_usd")));
    const char *job = at_json_str(d, "job_id", NULL);
    const char *id = at_json_str(d, "id", "");
    if (m->cfg.traces && job && *id) {
        GROW(b->spans, b->nspans, b->cspans);
        struct at_span_rec *s = &b->spans[b->nspans++];
        memset(s, 0, sizeof(*s));
        s->id = at_strdup(id);
        s->root_id = dup_or_null(at_json_str(d, "root_id", NULL));
        s->job_id = at_strdup(job);
        s->kind = "model";
        s->name = at_strdup(model);
        s->status = at_strdup(status);
        s->duration_ms = lat > 0 ? lat : 0;
        s->started_ms = at_json_int(d, "end_ms", 0) - s->duration_ms;
        json_t *attrs =
            json_pack("{s:I,s:I,s:I}", "queue_ms", (json_int_t)at_json_int(d, "queue_ms", 0),
                      "attempts", (json_int_t)at_json_int(d, "attempts", 1), "ttft_ms",
                      (json_int_t)at_json_int(d, "ttft_ms", -1));
        json_t *why = json_object_get(d, "reason");
        /* why this model (tier, override, fallback); a copy: the batch goes to the
         * writer's thread, the item is freed on this one */
        if (attrs && json_is_string(why))
            json_object_set_new(attrs, "reason", json_string(json_string_value(why)));
        s->attrs = attrs;
    }
    if (m->otlp)
        at_otlp_push(m->otlp, at_otlp_model_span(d));
}

static void process_tool(struct at_monitor *m, struct batch *b, json_t *d)
{
    char lb[AT_METRICS_MAX_LABELS];
    at_metrics_inc(m->metrics, "atlas_tool_calls_total", "Platform tool calls made by jobs.",
                   at_metrics_labels(lb, sizeof(lb), "tool", at_json_str(d, "name", ""), "status",
                                     at_json_str(d, "status", ""), NULL),
                   1);
    GROW(b->spans, b->nspans, b->cspans);
    struct at_span_rec *s = &b->spans[b->nspans++];
    memset(s, 0, sizeof(*s));
    s->id = at_strdup(at_json_str(d, "id", ""));
    s->root_id = dup_or_null(at_json_str(d, "root_id", NULL));
    s->job_id = dup_or_null(at_json_str(d, "job_id", NULL));
    s->kind = "tool";
    s->name = at_strdup(at_json_str(d, "name", "?"));
    s->status = at_strdup(at_json_str(d, "status", "ok"));
    s->started_ms = at_json_int(d, "started_ms", 0);
    s->duration_ms = at_json_int(d, "duration_ms", 0);
    (void)m;
}

static void process(struct at_monitor *m, struct mon_item *list)
{
    struct batch *b = at_calloc(1, sizeof(*b));
    b->m = m;
    for (struct mon_item *it = list; it; it = it->next) {
        switch (it->kind) {
        case MON_FINAL:
            process_final(m, b, &it->rec);
            break;
        case MON_MODEL:
            process_model(m, b, it->data);
            break;
        case MON_TOOL:
            process_tool(m, b, it->data);
            break;
        case MON_CALL:
            it->fn(it->arg);
            break;
        }
    }
    int64_t now = at_wall_ms();
    if (now >= m->next_prune_ms && (m->cfg.retention_days > 0 || m->cfg.max_bytes > 0)) {
        b->prune = 1;
        b->prune_before =
            m->cfg.retention_days > 0 ? now - (int64_t)(m->cfg.retention_days * 86400000.0) : 0;
        b->prune_max = m->cfg.max_bytes;
        m->next_prune_ms = now + (int64_t)(m->cfg.prune_interval_s * 1000.0);
    }
    if (atomic_exchange(&m->ret_pending, 0)) { /* a reload changed store.jobs: apply it now */
        pthread_mutex_lock(&m->ret_mu);
        m->cfg.job_retention_days = m->ret_days;
        m->cfg.job_max_count = m->ret_count;
        m->cfg.job_prune_interval_s = m->ret_interval_s;
        pthread_mutex_unlock(&m->ret_mu);
        m->next_job_prune_ms = now;
    }
    if (atomic_exchange(&m->job_prune_more, 0) && m->next_job_prune_ms > now + 1000)
        m->next_job_prune_ms = now + 1000;
    if (now >= m->next_job_prune_ms &&
        (m->cfg.job_retention_days > 0 || m->cfg.job_max_count > 0)) {
        b->job_prune = 1;
        b->job_prune_before = m->cfg.job_retention_days > 0
                                  ? now - (int64_t)(m->cfg.job_retention_days * 86400000.0)
                                  : 0;
        b->job_prune_keep = m->cfg.job_max_count > 0 ? m->cfg.job_max_count : -1;
        m->next_job_prune_ms = now + (int64_t)(m->cfg.job_prune_interval_s * 1000.0);
    }
    batch_submit(m, b);
}

void *at__mon_main(void *arg)
{
    struct at_monitor *m = arg;
    m->next_prune_ms = at_wall_ms() + 1000;
    m->next_job_prune_ms = m->next_prune_ms;
    pthread_mutex_lock(&m->mu);
    int linger = 0;
    for (;;) {
        if (linger && !m->stop && m->qlen == 0) {
            /* work came in just now: more is likely soon, and the items
             * pushed meanwhile are taken as one batch when this short
             * wait ends, instead of one wakeup of this thread per finished
             * job (push does not signal while it lingers) */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += AT_MON_LINGER_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        }
        m->idle = 1;
        while (!m->stop && m->qlen == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            if ((pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT &&
                 (at_wall_ms() >= m->next_prune_ms || at_wall_ms() >= m->next_job_prune_ms)) ||
                atomic_load(&m->ret_pending))
                break; /* time for retention (or new retention settings) */
        }
        m->idle = 0;
        linger = m->qlen > 0;
        struct mon_item *list = m->qhead;
        m->qhead = m->qtail = NULL;
        m->qlen = 0;
        int stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        process(m, list);
        while (list) {
            struct mon_item *next = list->next;
            at__mon_item_free(list);
            list = next;
        }
        pthread_mutex_lock(&m->mu);
        if (stop && m->qlen == 0)
            break;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- eval results ---- */

struct result_write {
    struct at_monitor *m;
    struct at_eval_result r;
};

static int result_run(struct at_store *s, void *arg)
{
    struct result_write *w = arg;
    return s->ops->eval_result_put(s, &w->r);
}

static void result_done(int rc, void *arg)
{
    struct result_write *w = arg;
    if (rc)
        at_warn("monitor", "eval result not stored: %s", at_err_msg(rc));
    atomic_fetch_sub(&w->m->writes_pending, 1);
    free((char *)w->r.id);
    free((char *)w->r.eval);
    free((char *)w->r.job_id);
    free((char *)w->r.root_id);
    free((char *)w->r.agent);
    free((char *)w->r.check_name);
    free((char *)w->r.type);
    free((char *)w->r.detail);
    free(w);
}

void at__mon_write_eval_result(struct at_monitor *m, const struct at_eval_result *r)
{
    struct result_write *w = at_calloc(1, sizeof(*w));
    w->m = m;
    w->r = *r;
    w->r.id = at_strdup(r->id);
    w->r.eval = at_strdup(r->eval);
    w->r.job_id = at_strdup(r->job_id);
    w->r.root_id = dup_or_null(r->root_id);
    w->r.agent = dup_or_null(r->agent);
    w->r.check_name = at_strdup(r->check_name);
    w->r.type = at_strdup(r->type);
    w->r.detail = dup_or_null(r->detail);
    atomic_fetch_add(&m->writes_pending, 1);
    if (at_writer_submit(m->writer, result_run, result_done, w))
        result_done(AT_EBUSY, w);
}

/* ---- Prometheus exposition ---- */

static void engine_gauges(struct at_metrics *t, const json_t *es)
{
    char lb[AT_METRICS_MAX_LABELS];
    at_metrics_set(t, "atlas_jobs_running", "Jobs running now.", "",
                   (double)at_json_int(es, "running", 0));
    at_metrics_set(t, "atlas_jobs_queued", "Jobs accepted and waiting for a process.", "",
                   (double)at_json_int(es, "queued", 0));
    if (json_object_get(es, "max_concurrent"))
        at_metrics_set(t, "atlas_jobs_max_concurrent",
                       "execution.max_concurrent_agents: jobs that may run at once.", "",
                       (double)at_json_int(es, "max_concurrent", 0));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(es, "pools"), i, p)
    {
        const char *key = at_json_str(p, "agent", "");
        static const char *const st[] = {"idle", "busy", "starting"};
        for (int k = 0; k < 3; k++)
            at_metrics_set(t, "atlas_pool_processes",
                           "Agent processes of a pool (agent@version), by state.",
                           at_metrics_labels(lb, sizeof(lb), "pool", key, "state", st[k], NULL),
                           (double)at_json_int(p, st[k], 0));
        at_metrics_set(t, "atlas_pool_queued", "Jobs waiting in a pool's queue.",
                       at_metrics_labels(lb, sizeof(lb), "pool", key, NULL),
                       (double)at_json_int(p, "queued", 0));
        at_metrics_set(t, "atlas_pool_max", "Most processes a pool may run (pool.max).",
                       at_metrics_labels(lb, sizeof(lb), "pool", key, NULL),
                       (double)at_json_int(p, "max", 0));
    }
    json_t *tot = json_object_get(es, "totals");
    if (tot) {
        at_metrics_inc(t, "atlas_cold_starts_total", "Agent processes started for a job.", "",
                       (double)at_json_int(tot, "cold_starts", 0));
        at_metrics_inc(t, "atlas_worker_crashes_total", "Agent processes that crashed.", "",
                       (double)at_json_int(tot, "worker_crashes", 0));
        at_metrics_inc(t, "atlas_workers_replaced_total",
                       "Agent processes replaced (crash, hang, protocol error).", "",
                       (double)at_json_int(tot, "workers_replaced", 0));
    }
    /* circuit breakers: {"agent@version": {"state": closed|open|half_open}} */
    const char *key;
    json_object_foreach(json_object_get(es, "breakers"), key, p)
    {
        static const char *const bs[] = {"closed", "open", "half_open"};
        const char *state = at_json_str(p, "state", "closed");
        for (int k = 0; k < 3; k++)
            at_metrics_set(t, "atlas_breaker_state",
                           "Circuit breaker of an agent version: 1 for its current state.",
                           at_metrics_labels(lb, sizeof(lb), "agent", key, "state", bs[k], NULL),
                           strcmp(state, bs[k]) == 0 ? 1 : 0);
        at_metrics_set(t, "atlas_breaker_failures",
                       "Consecutive failures counted by an agent version's breaker.",
                       at_metrics_labels(lb, sizeof(lb), "agent", key, NULL),
                       (double)at_json_int(p, "failures", 0));
    }
}

static void llm_gauges(struct at_metrics *t, const json_t *ls)
{
    char lb[AT_METRICS_MAX_LABELS];
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(ls, "backends"), i, b)
    {
        const char *name = at_json_str(b, "name", "");
        json_t *h = json_object_get(b, "health"), *c = json_object_get(b, "concurrency");
        at_metrics_labels(lb, sizeof(lb), "backend", name, NULL);
        at_metrics_set(t, "atlas_model_backend_up",
                       "1 while a model backend is healthy, 0 while its breaker has it down.", lb,
                       at_json_bool(h, "down", 0) ? 0 : 1);
        at_metrics_set(t, "atlas_model_backend_in_flight", "Model calls in flight to a backend.",
                       lb, (double)at_json_int(c, "in_use", 0));
        at_metrics_set(t, "atlas_model_backend_waiting",
                       "Model calls waiting for a backend's concurrency slot.", lb,
                       (double)at_json_int(c, "waiting", 0));
    }
}

static void eval_gauges(struct at_monitor *m, struct at_metrics *t)
{
    char lb[AT_METRICS_MAX_LABELS];
    pthread_rwlock_rdlock(&m->eval_lock);
    size_t i = 0;
    void *v;
    while (at_map_next(&m->evals, &i, NULL, &v)) {
        struct at_eval *ev = v;
        double pass = 0, all = 0;
        for (int k = 0; k < ev->nchecks; k++) {
            at_metrics_labels(lb, sizeof(lb), "eval", ev->name, "check", ev->checks[k].name,
                              "result", "pass", NULL);
            double p = at_metrics_get(m->metrics, "atlas_eval_checks_total", lb);
            at_metrics_labels(lb, sizeof(lb), "eval", ev->name, "check", ev->checks[k].name,
                              "result", "fail", NULL);
            double f = at_metrics_get(m->metrics, "atlas_eval_checks_total", lb);
            pass += p;
            all += p + f;
        }
        if (all > 0)
            at_metrics_set(t, "atlas_eval_pass_ratio",
                           "Share of an eval's checks that passed since the daemon started.",
                           at_metrics_labels(lb, sizeof(lb), "eval", ev->name, NULL), pass / all);
    }
    pthread_rwlock_unlock(&m->eval_lock);
}

void at_monitor_metrics(struct at_monitor *m, const json_t *engine_stats, const json_t *llm_stats,
                        struct at_buf *b)
{
    struct at_metrics *t = at_metrics_new();
    at_metrics_set(t, "atlas_build_info", "The running atlasd.", "version=\"" ATLAS_VERSION "\"",
                   1);
    if (engine_stats)
        engine_gauges(t, engine_stats);
    if (llm_stats)
        llm_gauges(t, llm_stats);
    if (m) {
        eval_gauges(m, t);
        pthread_mutex_lock(&m->mu);
        double qlen = m->qlen, dropped = (double)m->dropped, wd = (double)m->write_drops;
        pthread_mutex_unlock(&m->mu);
        pthread_mutex_lock(&m->log_mu);
        double ld = (double)m->log_dropped_bytes;
        pthread_mutex_unlock(&m->log_mu);
        at_metrics_set(t, "atlas_monitor_queue_length", "Items waiting for the monitor's thread.",
                       "", qlen);
        at_metrics_inc(t, "atlas_monitor_dropped_total",
                       "Monitor records dropped because a queue was full.", "what=\"queue\"",
                       dropped);
        at_metrics_inc(t, "atlas_monitor_dropped_total", NULL, "what=\"store_writes\"", wd);
        at_metrics_inc(t, "atlas_log_dropped_bytes_total",
                       "Log bytes not kept (monitor.logs.max_bytes_per_job).", "", ld);
        if (m->otlp) {
            struct at_otlp_stats os;
            at_otlp_get_stats(m->otlp, &os);
            at_metrics_inc(t, "atlas_otlp_spans_exported_total",
                           "Spans accepted by the OTLP collector.", "", (double)os.exported);
            at_metrics_inc(t, "atlas_otlp_spans_dropped_total",
                           "Spans dropped (queue full or export failed).", "", (double)os.dropped);
            at_metrics_inc(t, "atlas_otlp_export_failures_total", "OTLP POSTs that failed.", "",
                           (double)os.failed_batches);
        }
    }
    at_metrics_format(t, b);
    at_metrics_free(t);
    if (m)
        at_metrics_format(m->metrics, b);
}
