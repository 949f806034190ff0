/*
 * monitor_routes.c - the monitor's HTTP surface (docs/monitoring.md,
 * docs/evals.md, docs/api.md): /metrics, /api/v1/traces, /api/v1/costs,
 * /api/v1/evals, /api/v1/jobs/ID/logs.
 */
#include "http/monitor_routes.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/sse.h"
#include "base/str.h"
#include "exec/engine.h"
#include "http/app.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "monitor/monitor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API "/api/v1"

static struct at_monitor *monitor_of(struct at_http_req *r)
{
    return __atomic_load_n((struct at_monitor **)&r->app->monitor, __ATOMIC_ACQUIRE);
}

static struct at_engine *engine_of(struct at_http_req *r)
{
    return __atomic_load_n(&r->app->engine, __ATOMIC_ACQUIRE);
}

static void method_not_allowed(struct at_http_req *r, const char *allow)
{
    at_http_add_header(r, "Allow", allow);
    char msg[160];
    snprintf(msg, sizeof(msg), "%s is not allowed here (allowed: %s)", r->method, allow);
    json_t *p = at_http_problem(AT_EINVAL, msg, NULL);
    json_object_set_new(p, "status", json_integer(405));
    json_object_set_new(p, "type", json_string("urn:atlas:error:method-not-allowed"));
    char *s = at_json_dumps(p);
    json_decref(p);
    at_http_reply_text(r, 405, "application/problem+json", s, strlen(s));
    free(s);
}

static int need_monitor(struct at_http_req *r, struct at_monitor **m)
{
    *m = monitor_of(r);
    if (!*m) {
        at_http_reply_problem(r, AT_ESTATE, "the monitor is not running (the daemon is starting)",
                              NULL, NULL);
        return -1;
    }
    return 0;
}

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

static const char *query_str(struct at_http_req *r, const char *name)
{
    const char *v = at_http_query(r, name);
    return v && *v ? v : NULL;
}

/* ---- /metrics ---- */

static void h_metrics(struct at_http_req *r)
{
    struct at_engine *e = engine_of(r);
    json_t *es = e ? at_engine_stats_json(e) : NULL;
    if (es)
        json_object_set_new(es, "breakers", at_engine_breakers_json(e));
    struct at_llm *g = __atomic_load_n((struct at_llm **)&r->app->llm, __ATOMIC_ACQUIRE);
    json_t *ls = g ? at_llm_stats_json(g) : NULL;
    struct at_buf b;
    at_buf_init(&b, 64u << 20);
    at_monitor_metrics(monitor_of(r), es, ls, &b);
    json_decref(es);
    json_decref(ls);
    at_http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", at_buf_str(&b), b.len);
    at_buf_release(&b);
}

/* ---- traces ---- */

static void h_traces(struct at_http_req *r)
{
    struct at_monitor *m;
    if (need_monitor(r, &m))
        return;
    struct at_trace_filter f = {.agent = query_str(r, "agent"), .status = query_str(r, "status")};
    if (query_since(r, &f.since_ms) || query_limit(r, 50, &f.limit))
        return;
    const char *before = query_str(r, "before");
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
    at_http_reply_json(r, 200, json_pack("{s:o}", "traces", list));
}

static void h_trace(struct at_http_req *r, const char *id)
{
    struct at_monitor *m;
    if (need_monitor(r, &m))
        return;
    json_t *t = NULL;
    int rc = at_monitor_trace(m, id, &t);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no trace \"%s\" (no such job, or pruned by retention)", id);
        at_http_reply_problem(r, rc == AT_ENOENT ? AT_ENOENT : rc, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, t);
}

/* ---- costs ---- */

static void h_costs(struct at_http_req *r)
{
    const char *by = query_str(r, "by");
    static const char *const map[][2] = {
        {"agent", "agent"},     {"model", "model"},   {"day", "day"},
        {"backend", "backend"}, {"job", "job_id"},    {"run", "job_id"},
        {"chain", "root_id"},   {"trace", "root_id"}, {"all", "all"},
    };
    struct at_usage_filter f = {.job_id = query_str(r, "job"), .root_id = query_str(r, "chain")};
    if (!f.root_id)
        f.root_id = query_str(r, "trace");
    if (!by)
        by = f.job_id || f.root_id ? "all" : "agent";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], by) == 0)
            f.group_by = map[i][1];
    if (!f.group_by) {
        at_http_reply_problem(r, AT_EINVAL,
                              "by must be one of agent, model, day, backend, job, chain, all", NULL,
                              NULL);
        return;
    }
    if (query_since(r, &f.since_ms))
        return;
    json_t *rows = NULL;
    int rc = at_store_call(r->app->store, usage_sum, &f, &rows);
    if (rc) {
        at_http_reply_problem(r, rc, "cannot read usage from the store", NULL, NULL);
        return;
    }
    long long calls = 0, in = 0, out = 0;
    double cost = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        calls += at_json_int(row, "calls", 0);
        in += at_json_int(row, "tokens_in", 0);
        out += at_json_int(row, "tokens_out", 0);
        cost += json_number_value(json_object_get(row, "cost_usd"));
        json_object_set_new(
            row, "tokens",
            json_integer(at_json_int(row, "tokens_in", 0) + at_json_int(row, "tokens_out", 0)));
    }
    json_t *o = json_pack("{s:s,s:o,s:{s:I,s:I,s:I,s:I,s:f}}", "by", by, "rows", rows, "total",
                          "calls", (json_int_t)calls, "tokens_in", (json_int_t)in, "tokens_out",
                          (json_int_t)out, "tokens", (json_int_t)(in + out), "cost_usd", cost);
    if (f.since_ms) {
        char buf[48];
        json_object_set_new(o, "since", json_string(at_time_iso8601(f.since_ms, buf, sizeof(buf))));
    }
    at_http_reply_json(r, 200, o);
}

/* ---- evals ---- */

static void h_eval_register(struct at_http_req *r, struct at_monitor *m)
{
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

static void h_eval_get(struct at_http_req *r, struct at_monitor *m, const char *name)
{
    json_t *all = at_monitor_eval_list(m);
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e)
    {
        if (strcmp(at_json_str(e, "name", ""), name) == 0) {
            json_t *one = json_incref(e);
            json_decref(all);
            json_t *res = NULL;
            if (at_store_call(r->app->store, eval_results, NULL, name, 20, &res) == 0)
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

static void h_eval_run(struct at_http_req *r, struct at_monitor *m, const char *name)
{
    json_t *body = NULL;
    if (at_json_parse(r->body.p ? r->body.p : "{}", r->body.len ? r->body.len : 2, 0, &body,
                      NULL) ||
        !json_is_string(json_object_get(body, "job"))) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL, "the body must be {\"job\": JOB_ID}", "/job", NULL);
        return;
    }
    struct at_job_rec rec;
    int rc = at_store_call(r->app->store, job_get, at_json_str(body, "job", ""), &rec);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job \"%s\"", at_json_str(body, "job", ""));
        json_decref(body);
        at_http_reply_problem(r, AT_ENOENT, msg, "/job", NULL);
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
        snprintf(msg, sizeof(msg), "no eval \"%s\" is registered", name);
        struct at_http_req *req = at_http_wait_lock(w);
        if (req)
            at_http_complete_problem(req, at_err_http(AT_ENOENT),
                                     at_http_problem(AT_ENOENT, msg, NULL));
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
    int rc = at_store_call(r->app->store, eval_results, query_str(r, "job"), query_str(r, "eval"),
                           limit, &res);
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

static void h_evals(struct at_http_req *r, const char *rest)
{
    struct at_monitor *m;
    if (need_monitor(r, &m))
        return;
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    int post = strcmp(r->method, "POST") == 0;
    int del = strcmp(r->method, "DELETE") == 0;
    if (!*rest) {
        if (get)
            at_http_reply_json(r, 200, json_pack("{s:o}", "evals", at_monitor_eval_list(m)));
        else if (post)
            h_eval_register(r, m);
        else
            method_not_allowed(r, "GET, POST");
        return;
    }
    if (strcmp(rest, "results") == 0) {
        get ? h_eval_results(r) : method_not_allowed(r, "GET");
        return;
    }
    size_t n = strlen(rest);
    if (n > 4 && strcmp(rest + n - 4, "/run") == 0) {
        char *name = at_strndup(rest, n - 4);
        post ? h_eval_run(r, m, name) : method_not_allowed(r, "POST");
        free(name);
        return;
    }
    if (strchr(rest, '/')) {
        at_http_reply_problem(r, AT_ENOENT, "no such endpoint", NULL, NULL);
        return;
    }
    if (get) {
        h_eval_get(r, m, rest);
    } else if (del) {
        int rc = at_monitor_eval_delete(m, rest);
        if (rc) {
            char msg[200];
            snprintf(msg, sizeof(msg), "no eval \"%s\" is registered", rest);
            at_http_reply_problem(r, rc, msg, NULL, NULL);
        } else {
            at_http_reply_json(r, 200, json_pack("{s:s}", "deleted", rest));
        }
    } else {
        method_not_allowed(r, "GET, DELETE");
    }
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

static void h_logs(struct at_http_req *r, const char *id)
{
    struct at_monitor *m;
    if (need_monitor(r, &m))
        return;
    struct at_job_rec rec;
    int rc = at_store_call(r->app->store, job_get, id, &rec);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job \"%s\"", id);
        at_http_reply_problem(r, AT_ENOENT, msg, NULL, NULL);
        return;
    }
    int final = at_job_state_final(rec.state);
    at_job_rec_release(&rec);
    struct at_engine *e = engine_of(r);
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

/* ---- routing ---- */

int at_http_monitor_route(struct at_http_req *r)
{
    const char *p = r->path;
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (strcmp(p, "/metrics") == 0) {
        get ? h_metrics(r) : method_not_allowed(r, "GET");
        return 1;
    }
    if (strncmp(p, API "/", sizeof(API)) != 0)
        return 0;
    const char *rest = p + sizeof(API);
    if (strcmp(rest, "traces") == 0) {
        get ? h_traces(r) : method_not_allowed(r, "GET");
        return 1;
    }
    if (strncmp(rest, "traces/", 7) == 0 && rest[7] && !strchr(rest + 7, '/')) {
        get ? h_trace(r, rest + 7) : method_not_allowed(r, "GET");
        return 1;
    }
    if (strcmp(rest, "costs") == 0) {
        get ? h_costs(r) : method_not_allowed(r, "GET");
        return 1;
    }
    if (strcmp(rest, "evals") == 0 || strncmp(rest, "evals/", 6) == 0) {
        h_evals(r, rest[5] ? rest + 6 : "");
        return 1;
    }
    size_t n = strlen(rest);
    if (strncmp(rest, "jobs/", 5) == 0 && n > 10 && strcmp(rest + n - 5, "/logs") == 0) {
        char *id = at_strndup(rest + 5, n - 10);
        if (!strchr(id, '/'))
            get ? h_logs(r, id) : method_not_allowed(r, "GET");
        else
            at_http_reply_problem(r, AT_ENOENT, "no such endpoint", NULL, NULL);
        free(id);
        return 1;
    }
    return 0;
}

/* ---- start and stop (app.c) ---- */

int at_http_monitor_start(struct at_app *app, struct at_engine *engine, struct at_diag *d)
{
    struct at_monitor_cfg cfg;
    at_monitor_cfg_load(&cfg, app->config);
    struct at_monitor *m = NULL;
    int rc = at_monitor_new(&cfg, app->store, app->writer, engine, &m);
    at_monitor_cfg_release(&cfg);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot start the monitor: %s", at_err_msg(rc));
    __atomic_store_n((struct at_monitor **)&app->monitor, m, __ATOMIC_RELEASE);
    return 0;
}

void at_http_monitor_attach_llm(struct at_app *app, struct at_llm *g)
{
    struct at_monitor *m = __atomic_load_n((struct at_monitor **)&app->monitor, __ATOMIC_ACQUIRE);
    at_monitor_attach_llm(m, g);
}

void at_http_monitor_detach_llm(struct at_app *app)
{
    struct at_monitor *m = __atomic_load_n((struct at_monitor **)&app->monitor, __ATOMIC_ACQUIRE);
    at_monitor_attach_llm(m, NULL);
}

void at_http_monitor_stop(struct at_app *app)
{
    struct at_monitor *m = __atomic_load_n((struct at_monitor **)&app->monitor, __ATOMIC_ACQUIRE);
    __atomic_store_n((struct at_monitor **)&app->monitor, NULL, __ATOMIC_RELEASE);
    at_monitor_free(m);
}
