/*
 * trace.c - building a trace document from a job tree (trace.h).
 */
#include "monitor/trace.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/map.h"
#include "json/json.h"
#include "monitor/costs.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_trace_id(const char *root_id, char *out, size_t n)
{
    if (strncmp(root_id, "job_", 4) == 0)
        snprintf(out, n, "tr_%s", root_id + 4);
    else
        snprintf(out, n, "tr_%s", root_id);
}

void at_trace_root_of(const char *trace_id, char *out, size_t n)
{
    if (strncmp(trace_id, "tr_", 3) == 0)
        snprintf(out, n, "job_%s", trace_id + 3);
    else
        snprintf(out, n, "%s", trace_id);
}

/* A number of the store's rows (times, durations, flags); a real out of
 * range is clamped, not converted with undefined behaviour. */
static long long num(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (!json_is_real(v) || !isfinite(json_real_value(v)))
        return 0;
    double x = json_real_value(v);
    return x >= 9223372036854775808.0    ? LLONG_MAX
           : x <= -9223372036854775808.0 ? LLONG_MIN
                                         : (long long)x;
}

/* Token counts and costs: clamped to what can be shown (costs.h). */
static long long tokens(const json_t *o, const char *k)
{
    return at_monitor_tokens(json_object_get(o, k));
}

static double dbl(const json_t *o, const char *k)
{
    return at_monitor_cost(json_object_get(o, k));
}

static double cost_add(double a, double b)
{
    double r = a + b;
    return isfinite(r) ? r : DBL_MAX;
}

static json_t *iso(long long ms)
{
    if (ms <= 0)
        return json_null();
    char buf[48];
    return json_string(at_time_iso8601(ms, buf, sizeof(buf)));
}

/* Usage of one job: tokens, cost, and the model that used the most. */
struct job_use {
    long long in, out;
    double cost;
    const char *model;
    long long model_tokens;
    int agent_rows; /* usage rows the monitor wrote from meta.usage */
};

static void add_use(struct job_use *u, const char *model, long long in, long long out, double cost)
{
    u->in = at_monitor_tokens_add(u->in, in);
    u->out = at_monitor_tokens_add(u->out, out);
    u->cost = cost_add(u->cost, cost);
    long long both = at_monitor_tokens_add(in, out);
    if (model && *model && (!u->model || both > u->model_tokens)) {
        u->model = model;
        u->model_tokens = both;
    }
}

/* Add what the job itself reported (meta.usage) unless the monitor already
 * recorded it as a usage row. */
static void add_reported(struct job_use *u, const json_t *job)
{
    json_t *mu = json_object_get(json_object_get(job, "meta"), "usage");
    if (!json_is_object(mu) || u->agent_rows)
        return;
    add_use(u, json_string_value(json_object_get(mu, "model")), tokens(mu, "tokens_in"),
            tokens(mu, "tokens_out"), dbl(mu, "cost_usd"));
}

static json_t *model_span(const json_t *row, long long t0)
{
    long long end = num(row, "created_ms"), lat = num(row, "latency_ms");
    if (lat < 0 || end < 0)
        lat = 0;
    if (lat > end)
        lat = end;
    long long start = end - lat;
    const char *model = json_string_value(json_object_get(row, "model"));
    const char *call = json_string_value(json_object_get(row, "call"));
    char name[200];
    snprintf(name, sizeof(name), "%s %s",
             call && !strcmp(call, "embeddings") ? "embeddings" : "chat", model ? model : "?");
    json_t *attrs = json_object_get(row, "attrs");
    json_t *s = json_pack(
        "{s:O?,s:s,s:s,s:O?,s:O?,s:O?,s:s,s:o,s:I,s:I,s:I,s:I,s:f,s:O?}", "span_id",
        json_object_get(row, "id"), "kind", "model", "name", name, "model",
        json_object_get(row, "model"), "backend", json_object_get(row, "backend"), "tier",
        json_object_get(row, "tier"), "node", "local", "started_at", iso(start), "offset_ms",
        (json_int_t)(start - t0), "duration_ms", (json_int_t)lat, "tokens_in",
        (json_int_t)tokens(row, "tokens_in"), "tokens_out", (json_int_t)tokens(row, "tokens_out"),
        "cost_usd", dbl(row, "cost_usd"), "status", json_object_get(row, "status"));
    if (!s)
        return json_object();
    if (num(row, "ttft_ms") >= 0 && json_object_get(row, "ttft_ms"))
        json_object_set_new(s, "ttft_ms", json_integer(num(row, "ttft_ms")));
    if (json_is_object(attrs)) {
        json_t *q = json_object_get(attrs, "queue_ms");
        if (q)
            json_object_set(s, "queue_ms", q);
        json_t *a = json_object_get(attrs, "attempts");
        if (a)
            json_object_set(s, "attempts", a);
        json_t *why = json_object_get(attrs, "reason");
        if (why)
            json_object_set(s, "reason", why);
    }
    json_object_set_new(s, "children", json_array());
    return s;
}

static json_t *tool_span(const json_t *row, long long t0)
{
    long long start = num(row, "started_ms");
    json_t *s = json_pack(
        "{s:O?,s:s,s:O?,s:s,s:o,s:I,s:I,s:O?,s:o}", "span_id", json_object_get(row, "id"), "kind",
        "tool", "name", json_object_get(row, "name"), "node", "local", "started_at", iso(start),
        "offset_ms", (json_int_t)(start - t0), "duration_ms", (json_int_t)num(row, "duration_ms"),
        "status", json_object_get(row, "status"), "children", json_array());
    return s ? s : json_object();
}

static int cmp_offset(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    long long ox = num(x, "offset_ms"), oy = num(y, "offset_ms");
    return ox < oy ? -1 : ox > oy;
}

static void sort_children(json_t *span, int depth)
{
    json_t *ch = json_object_get(span, "children");
    size_t n = json_array_size(ch);
    if (n == 0 || depth > 256)
        return;
    json_t **v = at_malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(ch, i));
    qsort(v, n, sizeof(*v), cmp_offset);
    json_array_clear(ch);
    for (size_t i = 0; i < n; i++) {
        sort_children(v[i], depth + 1);
        json_array_append_new(ch, v[i]);
    }
    free(v);
}

json_t *at_trace_build(const json_t *mat)
{
    json_t *jobs = json_object_get(mat, "jobs");
    size_t njobs = json_array_size(jobs);
    if (njobs == 0)
        return NULL;
    json_t *usage = json_object_get(mat, "usage");
    json_t *spans_in = json_object_get(mat, "spans");
    json_t *evals = json_object_get(mat, "evals");

    /* the root: the job without a parent in the set (the first, by seq) */
    const json_t *root = json_array_get(jobs, 0);
    size_t i;
    json_t *jb;
    json_array_foreach(jobs, i, jb)
    {
        if (json_is_null(json_object_get(jb, "parent_id")) || !json_object_get(jb, "parent_id")) {
            root = jb;
            break;
        }
    }
    const char *root_id = json_string_value(json_object_get(root, "id"));
    long long t0 = num(root, "created_ms");

    /* usage per job */
    struct job_use *use = at_calloc(njobs, sizeof(*use));
    struct at_map idx; /* job id -> index + 1 */
    at_map_init(&idx);
    json_array_foreach(jobs, i, jb)
        at_map_put(&idx, json_string_value(json_object_get(jb, "id")), (void *)(uintptr_t)(i + 1));
    json_t *row;
    long long total_in = 0, total_out = 0;
    double total_cost = 0;
    json_array_foreach(usage, i, row)
    {
        const char *jid = json_string_value(json_object_get(row, "job_id"));
        size_t k = jid ? (size_t)(uintptr_t)at_map_get(&idx, jid) : 0;
        long long in = tokens(row, "tokens_in"), out = tokens(row, "tokens_out");
        double cost = dbl(row, "cost_usd");
        total_in = at_monitor_tokens_add(total_in, in);
        total_out = at_monitor_tokens_add(total_out, out);
        total_cost = cost_add(total_cost, cost);
        if (!k)
            continue;
        const char *backend = json_string_value(json_object_get(row, "backend"));
        if (backend && strcmp(backend, "agent") == 0)
            use[k - 1].agent_rows++;
        add_use(&use[k - 1], json_string_value(json_object_get(row, "model")), in, out, cost);
    }
    json_array_foreach(jobs, i, jb)
    {
        struct job_use mine = {0};
        mine.agent_rows = use[i].agent_rows;
        add_reported(&mine, jb);
        if (mine.model || mine.in || mine.out || mine.cost > 0) {
            add_use(&use[i], mine.model, mine.in, mine.out, mine.cost);
            total_in = at_monitor_tokens_add(total_in, mine.in);
            total_out = at_monitor_tokens_add(total_out, mine.out);
            total_cost = cost_add(total_cost, mine.cost);
        }
    }

    /* one span per job */
    json_t **jspan = at_calloc(njobs, sizeof(*jspan));
    long long t_end = 0;
    json_array_foreach(jobs, i, jb)
    {
        long long cr = num(jb, "created_ms"), st = num(jb, "started_ms"),
                  fi = num(jb, "finished_ms");
        if (fi > t_end)
            t_end = fi;
        const char *kind = json_string_value(json_object_get(jb, "kind"));
        /* the node placement chose (meta.node; a chain: its last step's) */
        const char *jnode = json_string_value(json_object_get(json_object_get(jb, "meta"), "node"));
        json_t *s = json_pack(
            "{s:O?,s:O?,s:s,s:O?,s:O?,s:O?,s:O?,s:s,s:o,s:I,s:O?,s:I,s:I,s:f,s:o}", "span_id",
            json_object_get(jb, "id"), "parent_span_id", json_object_get(jb, "parent_id"), "kind",
            kind ? kind : "agent", "name", json_object_get(jb, "agent"), "job",
            json_object_get(jb, "id"), "agent", json_object_get(jb, "agent"), "version",
            json_object_get(jb, "version"), "node", jnode ? jnode : "local", "started_at", iso(cr),
            "offset_ms", (json_int_t)(cr - t0), "status", json_object_get(jb, "state"), "tokens_in",
            (json_int_t)use[i].in, "tokens_out", (json_int_t)use[i].out, "cost_usd", use[i].cost,
            "model", use[i].model ? json_string(use[i].model) : json_null());
        if (!s)
            s = json_object();
        /* the job's depth in the tree (steps and decisions one below their
         * chain, spawns one below their parent) */
        json_object_set_new(s, "depth", json_integer(num(jb, "depth")));
        json_object_set_new(s, "queue_ms", st > 0 ? json_integer(st - cr) : json_null());
        json_object_set_new(s, "run_ms", st > 0 && fi > 0 ? json_integer(fi - st) : json_null());
        json_object_set_new(s, "duration_ms", fi > 0 ? json_integer(fi - cr) : json_null());
        json_t *err = json_object_get(jb, "error");
        if (json_is_object(err))
            json_object_set_new(s, "error",
                                json_pack("{s:O?,s:O?}", "title", json_object_get(err, "title"),
                                          "detail", json_object_get(err, "detail")));
        json_object_set_new(s, "children", json_array());
        jspan[i] = s;
    }
    /* model and tool calls under their job (or the root) */
    json_array_foreach(usage, i, row)
    {
        const char *jid = json_string_value(json_object_get(row, "job_id"));
        size_t k = jid ? (size_t)(uintptr_t)at_map_get(&idx, jid) : 0;
        json_t *parent = k ? jspan[k - 1] : jspan[0];
        const char *backend = json_string_value(json_object_get(row, "backend"));
        if (backend && strcmp(backend, "agent") == 0)
            continue; /* self-reported usage is not a call we saw */
        json_t *ms = model_span(row, t0);
        json_object_set(ms, "parent_span_id", json_object_get(parent, "span_id"));
        json_array_append_new(json_object_get(parent, "children"), ms);
    }
    json_array_foreach(spans_in, i, row)
    {
        const char *jid = json_string_value(json_object_get(row, "job_id"));
        size_t k = jid ? (size_t)(uintptr_t)at_map_get(&idx, jid) : 0;
        json_t *parent = k ? jspan[k - 1] : jspan[0];
        json_t *ts = tool_span(row, t0);
        json_object_set(ts, "parent_span_id", json_object_get(parent, "span_id"));
        json_array_append_new(json_object_get(parent, "children"), ts);
    }
    json_array_foreach(evals, i, row)
    {
        const char *jid = json_string_value(json_object_get(row, "job_id"));
        size_t k = jid ? (size_t)(uintptr_t)at_map_get(&idx, jid) : 0;
        if (!k)
            continue;
        json_t *ev = json_object_get(jspan[k - 1], "evals");
        if (!ev) {
            ev = json_array();
            json_object_set_new(jspan[k - 1], "evals", ev);
        }
        json_t *r = json_deep_copy(row);
        json_object_del(r, "job_id");
        json_object_set_new(r, "passed", json_boolean(num(row, "passed") != 0));
        json_array_append_new(ev, r);
    }
    /* spawned jobs under their parent */
    size_t root_k = 0;
    json_array_foreach(jobs, i, jb)
    {
        if (jb == root) {
            root_k = i;
            continue;
        }
        const char *pid = json_string_value(json_object_get(jb, "parent_id"));
        size_t k = pid ? (size_t)(uintptr_t)at_map_get(&idx, pid) : 0;
        json_t *parent = k && k - 1 != i ? jspan[k - 1] : NULL;
        if (!parent) /* orphan (its parent was pruned): under the root */
            parent = jspan[root_k];
        json_array_append(json_object_get(parent, "children"), jspan[i]);
    }
    json_t *tree = json_incref(jspan[root_k]);
    sort_children(tree, 0);

    /* steps: a chain's steps are its children; a run's are every job of the
     * tree, depth first (the root first) */
    const char *root_kind = json_string_value(json_object_get(root, "kind"));
    int is_chain = root_kind && strcmp(root_kind, "chain") == 0;
    json_t *steps = json_array();
    /* every span is pushed at most once */
    size_t cap = njobs + json_array_size(usage) + json_array_size(spans_in) + 1, sp = 0;
    json_t **stack = at_malloc(cap * sizeof(*stack));
    if (is_chain) {
        json_t *ch = json_object_get(tree, "children");
        for (size_t c = json_array_size(ch); c-- > 0 && sp < cap;)
            stack[sp++] = json_array_get(ch, c);
    } else {
        stack[sp++] = tree;
    }
    while (sp > 0) {
        json_t *s = stack[--sp];
        const char *kind = json_string_value(json_object_get(s, "kind"));
        if (!kind || (strcmp(kind, "agent") != 0 && strcmp(kind, "chain") != 0))
            continue;
        json_t *lat = json_object_get(s, "run_ms");
        json_t *step = json_pack(
            "{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "agent",
            json_object_get(s, "agent"), "model_used", json_object_get(s, "model"), "tokens_in",
            json_object_get(s, "tokens_in"), "tokens_out", json_object_get(s, "tokens_out"),
            "latency_ms", lat ? lat : json_null(), "status", json_object_get(s, "status"), "job",
            json_object_get(s, "job"), "parent", json_object_get(s, "parent_span_id"), "cost_usd",
            json_object_get(s, "cost_usd"), "queue_ms", json_object_get(s, "queue_ms"), "node",
            json_object_get(s, "node"), "kind", json_object_get(s, "kind"));
        if (step)
            json_array_append_new(steps, step);
        if (is_chain)
            continue; /* a chain's steps are its direct children only */
        json_t *ch = json_object_get(s, "children");
        for (size_t c = json_array_size(ch); c-- > 0 && sp < cap;)
            stack[sp++] = json_array_get(ch, c);
    }
    free(stack);

    char tid[96];
    at_trace_id(root_id, tid, sizeof(tid));
    long long root_fin = num(root, "finished_ms");
    json_t *out = json_object();
    json_object_set_new(out, "trace_id", json_string(tid));
    json_object_set_new(out, "root_job", json_string(root_id));
    json_object_set(out, "chain", is_chain ? json_object_get(root, "agent") : json_null());
    json_object_set(out, "agent", json_object_get(root, "agent"));
    json_object_set_new(out, "started_at", iso(t0));
    json_object_set_new(out, "completed_at", iso(root_fin > t_end ? root_fin : t_end));
    json_object_set(out, "status", json_object_get(root, "state"));
    /* what started the run (a trigger's event; src/trigger/) */
    json_t *event = json_object_get(json_object_get(root, "meta"), "event");
    if (json_is_object(event))
        json_object_set(out, "event", event);
    json_object_set_new(out, "steps", steps);
    json_object_set_new(out, "total_tokens",
                        json_integer(at_monitor_tokens_add(total_in, total_out)));
    json_object_set_new(out, "total_cost_usd", json_real(total_cost));
    json_object_set_new(out, "tokens_in", json_integer(total_in));
    json_object_set_new(out, "tokens_out", json_integer(total_out));
    json_object_set_new(out, "duration_ms",
                        t_end > 0 ? json_integer((root_fin > t_end ? root_fin : t_end) - t0)
                                  : json_null());
    json_object_set_new(out, "jobs", json_integer((json_int_t)njobs));
    json_object_set_new(out, "spans", json_pack("[o]", tree));
    json_t *ev_out = json_array();
    json_array_foreach(evals, i, row)
    {
        json_t *r = json_deep_copy(row);
        json_object_set_new(r, "passed", json_boolean(num(row, "passed") != 0));
        json_array_append_new(ev_out, r);
    }
    json_object_set_new(out, "evals", ev_out);
    for (size_t k = 0; k < njobs; k++)
        json_decref(jspan[k]);
    free(jspan);
    free(use);
    at_map_release(&idx);
    return out;
}
