/*
 * monitor_routes.c - the monitor's HTTP surface (docs/monitoring.md,
 * docs/evals.md, docs/api.md): /metrics, /api/v1/traces, /api/v1/costs,
 * /api/v1/evals, /api/v1/jobs/ID/logs.  Eval registration parses YAML:
 * it runs on the blocking workers.
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/sse.h"
#include "base/str.h"
#include "exec/engine.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "monitor/costs.h"
#include "monitor/monitor.h"
#include "trigger/service.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int query_since(struct at_http_req *r, int64_t *out)
{
    const char *since = at_http_query(r, "since");
    *out = 0;
    if (!since || !*since)
        return 0;
    /* an RFC 3339 time, or a duration back from now: 30m, 24h, 7d */
    size_t n = strlen(since);
    long long v;
    char unit = since[n - 1];
    if (n > 1 && (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd')) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(n - 1), since);
        if (at_parse_i64(num, 0, 100000000, &v) == 0) {
            long long mul = unit == 's'   ? 1000
                            : unit == 'm' ? 60000
                            : unit == 'h' ? 3600000
                                          : 86400000;
            *out = at_wall_ms() - v * mul;
            return 0;
        }
    }
    if (at_time_parse_iso8601(since, out)) {
        at_http_reply_problem(r, AT_EINVAL,
                              "since must be an RFC 3339 time or a duration like 30m, 24h, 7d",
                              NULL, NULL);
        return -1;
    }
    return 0;
}

static int query_limit(struct at_http_req *r, int dflt, int *out)
{
    const char *v = at_http_query(r, "limit");
    long long n = dflt;
    if (v && *v && at_parse_i64(v, 1, 1000, &n)) {
        at_http_reply_problem(r, AT_EINVAL, "limit must be an integer from 1 to 1000", NULL, NULL);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* ---- /metrics ---- */

static void h_metrics(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *es = at_engine_stats_json(api->engine);
    if (es)
        json_object_set_new(es, "breakers", at_engine_breakers_json(api->engine));
    json_t *ls = api->llm ? at_llm_stats_json(api->llm) : NULL;
    struct at_buf b;
    at_buf_init(&b, 64u << 20);
    at_monitor_metrics(api->monitor, es, ls, &b);
    at_trigger_svc_metrics(api->triggers, &b);
    json_decref(es);
    json_decref(ls);
    at_http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", at_buf_str(&b), b.len);
    at_buf_release(&b);
}

/* ---- traces ---- */

static void h_traces(struct at_http_req *r)
{
    struct at_monitor *m = at_http_api_of(r)->monitor;
    struct at_trace_filter f = {.agent = at_http_query_str(r, "agent"),
                                .status = at_http_query_str(r, "status")};
    if (query_since(r, &f.since_ms) || query_limit(r, 50, &f.limit))
        return;
    const char *before = at_http_query_str(r, "before");
    if (before && at_time_parse_iso8601(before, &f.before_ms)) {
        at_http_reply_problem(r, AT_EINVAL, "before must be an RFC 3339 time", NULL, NULL);
        return;
    }
    json_t *list = NULL;
    int rc = at_monitor_traces(m, &f, &list);
    if (rc) {
        at_http_reply_problem(r, rc, "cannot read traces from the store", NULL, NULL);
        return;
    }
    at_http_jobs_filter(r, list, NULL);
    at_http_reply_json(r, 200, json_pack("{s:o}", "traces", list));
}

static void h_trace(struct at_http_req *r)
{
    const char *id = at_http_param(r, "id");
    struct at_monitor *m = at_http_api_of(r)->monitor;
    json_t *t = NULL;
    int rc = at_monitor_trace(m, id, &t);
    if (rc) {
        char msg[200];
        if (rc == AT_ENOENT)
            snprintf(msg, sizeof(msg), "no trace \"%s\" (no such job, or pruned by retention)", id);
        else /* the store failed: say so, not "not found" */
            snprintf(msg, sizeof(msg), "cannot read trace \"%s\" from the store: %s", id,
                     at_err_msg(rc));
        at_http_reply_problem(r, rc, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, t);
}

/* ---- costs ---- */

static void h_costs(struct at_http_req *r)
{
    const char *by = at_http_query_str(r, "by");
    static const char *const map[][2] = {
        {"agent", "agent"}, {"model", "model"},     {"day", "day"},       {"backend", "backend"},
        {"job", "job_id"},  {"run", "job_id"},      {"chain", "root_id"}, {"trace", "root_id"},
        {"all", "all"},     {"trigger", "trigger"}, {"kind", "kind"},
    };
    struct at_usage_filter f = {.job_id = at_http_query_str(r, "job"),
                                .root_id = at_http_query_str(r, "chain")};
    if (!f.root_id)
        f.root_id = at_http_query_str(r, "trace");
    if (!by)
        by = f.job_id || f.root_id ? "all" : "agent";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], by) == 0)
            f.group_by = map[i][1];
    if (!f.group_by) {
        at_http_reply_problem(
            r, AT_EINVAL,
            "by must be one of agent, model, day, backend, job, chain, trigger, kind, all", NULL,
            NULL);
        return;
    }
    if (query_since(r, &f.since_ms))
        return;
    /* series=day: each group by day as well (spend over time by agent, ...) */
    const char *series = at_http_query_str(r, "series");
    if (series && strcmp(series, "day") != 0) {
        at_http_reply_problem(r, AT_EINVAL, "series must be day", NULL, NULL);
        return;
    }
    f.per_day = series != NULL;
    json_t *rows = NULL;
    int rc = at_store_call(at_http_api_of(r)->store, usage_sum, &f, &rows);
    if (rc) {
        at_http_reply_problem(r, rc, "cannot read usage from the store", NULL, NULL);
        return;
    }
    /* counts clamped and sums saturating: huge usage never fails the answer */
    json_t *o = at_monitor_costs_json(by, rows, f.since_ms);
    at_http_reply_json(r, 200, o);
}

/* ---- evals ---- */

/* POST /api/v1/evals (a blocking worker) */
static void h_eval_register(struct at_http_req *r)
{
    struct at_monitor *m = at_http_api_of(r)->monitor;
    json_t *body = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(r->body.p ? r->body.p : "", r->body.len, 0, &body, &d) ||
        !json_is_object(body)) {
        json_decref(body);
        at_http_reply_problem(r, AT_EPARSE,
                              "the body must be {\"yaml\": \"<the eval file>\", \"file\": NAME}",
                              NULL, NULL);
        return;
    }
    const char *yaml = at_json_str(body, "yaml", NULL);
    const char *file = at_json_str(body, "file", "eval.yaml");
    if (!yaml) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL, "the body needs yaml: the eval file's text", "/yaml",
                              NULL);
        return;
    }
    json_t *info = NULL;
    int rc = at_monitor_eval_register(m, file, yaml,
                                      json_string_length(json_object_get(body, "yaml")), &info, &d);
    json_decref(body);
    if (rc) {
        at_http_reply_diag(r, &d);
        return;
    }
    at_http_reply_json(r, 201, info);
}

static void h_eval_get(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    struct at_monitor *m = api->monitor;
    const char *name = at_http_param(r, "name");
    json_t *all = at_monitor_eval_list(m);
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e)
    {
        if (strcmp(at_json_str(e, "name", ""), name) == 0) {
            json_t *one = json_incref(e);
            json_decref(all);
            json_t *res = NULL;
            int rc = at_store_call(api->store, eval_results, NULL, name, 20, &res);
            if (rc) {
                json_decref(one);
                at_http_reply_problem(r, rc, "cannot read eval results from the store", NULL, NULL);
                return;
            }
            json_object_set_new(one, "recent_results", res);
            at_http_reply_json(r, 200, one);
            return;
        }
    }
    json_decref(all);
    char msg[200];
    snprintf(msg, sizeof(msg), "no eval \"%s\" is registered", name);
    at_http_reply_problem(r, AT_ENOENT, msg, NULL, NULL);
}

static void eval_run_done(void *arg, json_t *results)
{
    struct at_http_wait *w = arg;
    struct at_http_req *req = at_http_wait_lock(w);
    if (req)
        at_http_complete_json(req, 200, json_incref(results));
    at_http_wait_unlock(w, 1);
    at_http_wait_unref(w);
}

static void h_eval_run(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    struct at_monitor *m = api->monitor;
    const char *name = at_http_param(r, "name");
    json_t *body = NULL;
    if (at_json_parse(r->body.p ? r->body.p : "{}", r->body.len ? r->body.len : 2, 0, &body,
                      NULL) ||
        !json_is_string(json_object_get(body, "job"))) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL, "the body must be {\"job\": JOB_ID}", "/job", NULL);
        return;
    }
    struct at_job_rec rec;
    int rc = at_store_call(api->store, job_get, at_json_str(body, "job", ""), &rec);
    if (rc) {
        at_http_reply_missing(r, rc, "job", at_json_str(body, "job", ""), "/job");
        json_decref(body);
        return;
    }
    json_decref(body);
    if (!at_job_state_final(rec.state)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "job %s is still %s; evals run on finished jobs", rec.id,
                 at_job_state_name(rec.state));
        at_job_rec_release(&rec);
        at_http_reply_problem(r, AT_ESTATE, msg, NULL, NULL);
        return;
    }
    /* references: the request's and the eval's callback */
    struct at_http_wait *w = at_http_wait_new(r, sizeof(*w), 1);
    rc = at_monitor_eval_run(m, name, &rec, eval_run_done, w);
    at_job_rec_release(&rec);
    if (rc) { /* the callback will not run */
        char msg[200];
        if (rc == AT_ENOENT)
            snprintf(msg, sizeof(msg), "no eval \"%s\" is registered", name);
        else
            snprintf(msg, sizeof(msg), "cannot run eval \"%s\": %s", name, at_err_msg(rc));
        struct at_http_req *req = at_http_wait_lock(w);
        if (req)
            at_http_complete_problem(req, at_http_problem(rc, msg, NULL));
        at_http_wait_unlock(w, 1);
        at_http_wait_unref(w);
    }
}

static void h_eval_results(struct at_http_req *r)
{
    int limit;
    if (query_limit(r, 100, &limit))
        return;
    json_t *res = NULL;
    int rc = at_store_call(at_http_api_of(r)->store, eval_results, at_http_query_str(r, "job"),
                           at_http_query_str(r, "eval"), limit, &res);
    if (rc) {
        at_http_reply_problem(r, rc, "cannot read eval results", NULL, NULL);
        return;
    }
    size_t i;
    json_t *x;
    json_array_foreach(res, i, x)
        json_object_set_new(x, "passed", json_boolean(at_json_int(x, "passed", 0)));
    at_http_reply_json(r, 200, json_pack("{s:o}", "results", res));
}

static void h_evals_list(struct at_http_req *r)
{
    at_http_reply_json(
        r, 200, json_pack("{s:o}", "evals", at_monitor_eval_list(at_http_api_of(r)->monitor)));
}

static void h_eval_delete(struct at_http_req *r)
{
    const char *name = at_http_param(r, "name");
    int rc = at_monitor_eval_delete(at_http_api_of(r)->monitor, name);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no eval \"%s\" is registered", name);
        at_http_reply_problem(r, rc, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:s}", "deleted", name));
}

/* ---- logs ---- */

struct log_follow {
    atomic_int refs; /* the engine subscription and the stream's close callback */
    struct at_http_stream *stream;
    struct at_engine *e;
    struct at_monitor *m;
    char id[AT_ID_MAX];
    unsigned long seq;
    int snapshot_sent; /* loop thread */
};

static void follow_unref(struct log_follow *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    at_http_stream_unref(c->stream);
    free(c);
}

static void send_event(struct at_http_stream *st, unsigned long *seq, const char *event,
                       const json_t *data)
{
    char *text = data ? at_json_dumps(data) : at_strdup("{}");
    char id[32];
    snprintf(id, sizeof(id), "%lu", ++*seq);
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_sse_write(&b, event, id, text, strlen(text));
    at_http_stream_write(st, b.p, b.len);
    at_buf_release(&b);
    free(text);
}

/* What the job wrote before the subscription saw it (loop thread: memory
 * only, a job in flight has its lines there). */
static void send_live_lines(struct log_follow *c)
{
    json_t *lines = NULL;
    if (at_monitor_logs_live(c->m, c->id, &lines) == 0) {
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) send_event(c->stream, &c->seq, "log", l);
    }
    json_decref(lines);
    c->snapshot_sent = 1;
}

/* The job ended before the subscription saw it: its lines may already be
 * in the store, which only the monitor's thread reads. */
static void send_stored_and_end(void *arg)
{
    struct log_follow *c = arg;
    json_t *lines = NULL;
    if (at_monitor_logs(c->m, c->id, &lines) == 0) {
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) send_event(c->stream, &c->seq, "log", l);
    }
    json_decref(lines);
    send_event(c->stream, &c->seq, "end", NULL);
    at_http_stream_close(c->stream);
    follow_unref(c);
}

static void follow_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct log_follow *c = arg;
    if (strcmp(event, "end") == 0) {
        if (!c->snapshot_sent && at_monitor_run_later(c->m, send_stored_and_end, c) == 0)
            return;
        send_event(c->stream, &c->seq, "end", NULL);
        at_http_stream_close(c->stream);
        follow_unref(c);
        return;
    }
    if (!c->snapshot_sent) {
        /* the first event (the state the watch reports): what the job wrote
         * so far, then each line as it comes */
        send_live_lines(c);
    }
    if (strcmp(event, "log") == 0)
        send_event(c->stream, &c->seq, "log", data);
}

static void follow_closed(void *arg)
{
    struct log_follow *c = arg;
    at_engine_unwatch(c->e, c->id, c);
    follow_unref(c);
}

static void h_logs(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = at_http_param(r, "id");
    struct at_monitor *m = at_http_api_of(r)->monitor;
    struct at_job_rec rec;
    int rc = at_store_call(api->store, job_get, id, &rec);
    if (rc) {
        at_http_reply_missing(r, rc, "job", id, NULL);
        return;
    }
    int final = at_job_state_final(rec.state);
    at_job_rec_release(&rec);
    struct at_engine *e = api->engine;
    const char *follow = at_http_query(r, "follow");
    if (follow && strcmp(follow, "0") != 0 && strcmp(follow, "false") != 0 && e && !final) {
        struct log_follow *c = at_calloc(1, sizeof(*c));
        atomic_init(&c->refs, 2);
        c->e = e;
        c->m = m;
        snprintf(c->id, sizeof(c->id), "%s", id);
        c->stream = at_http_stream_start(r, 200, "text/event-stream", 0, follow_closed, c);
        at_http_stream_set_sse(c->stream);
        at_engine_watch(e, id, follow_event, c);
        return;
    }
    json_t *lines = NULL;
    if ((rc = at_monitor_logs(m, id, &lines))) {
        at_http_reply_problem(r, rc, "cannot read the job's logs", NULL, NULL);
        return;
    }
    if (follow && strcmp(follow, "0") != 0 && strcmp(follow, "false") != 0) {
        /* a finished job: the same stream, ending at once */
        struct at_http_stream *st =
            at_http_stream_start(r, 200, "text/event-stream", 0, NULL, NULL);
        unsigned long seq = 0;
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) send_event(st, &seq, "log", l);
        send_event(st, &seq, "end", NULL);
        at_http_stream_close(st);
        at_http_stream_unref(st);
        json_decref(lines);
        return;
    }
    at_http_reply_json(r, 200,
                       json_pack("{s:s,s:b,s:o}", "job", id, "final", final, "lines", lines));
}

static const struct at_http_route routes[] = {
    {"GET", "/metrics", h_metrics, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/traces", h_traces, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/traces/{id}", h_trace, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/costs", h_costs, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/evals", h_evals_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/evals", h_eval_register, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0,
     NULL},
    {"GET", AT_HTTP_API "/evals/results", h_eval_results, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/evals/{name}", h_eval_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"DELETE", AT_HTTP_API "/evals/{name}", h_eval_delete, AT_HTTP_NEED_REGISTER, 0, 0, NULL},
    {"POST", AT_HTTP_API "/evals/{name}/run", h_eval_run, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"GET", AT_HTTP_API "/jobs/{id}/logs", h_logs, AT_HTTP_NEED_READ, 0, 0, NULL},
};

int at_http_monitor_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
