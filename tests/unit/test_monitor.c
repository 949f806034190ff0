/*
 * test_monitor.c - the monitor's pure parts and its store records: trace
 * building (the spec's two-step chain shape, spawn nesting, model spans,
 * usage totals), Prometheus formatting, OTLP JSON, eval definitions
 * (located errors, sampling rate), and the store ops (summaries, logs,
 * spans, eval results, retention by age and size).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "json/json.h"
#include "monitor/costs.h"
#include "monitor/eval.h"
#include "monitor/metrics.h"
#include "monitor/otlp.h"
#include "monitor/trace.h"
#include "store/store.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *parse(const char *t)
{
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(t, strlen(t), 0, &v, &d))
        fail_msg("bad JSON in test: %s at %d:%d", d.msg, d.line, d.col);
    return v;
}

/* ---- trace building ---- */

/* The spec's example: a chain run (job kind "chain") whose two steps are
 * its children, each with one model call. */
static const char *chain_materials =
    "{\"trace\":null,"
    "\"jobs\":["
    "{\"id\":\"job_R\",\"agent\":\"research-pipeline\",\"version\":\"\",\"kind\":\"chain\","
    "\"state\":\"completed\",\"parent_id\":null,\"root_id\":\"job_R\",\"depth\":0,"
    "\"created_ms\":1741615200000,\"started_ms\":1741615200000,\"finished_ms\":1741615212000,"
    "\"error\":null,\"meta\":null},"
    "{\"id\":\"job_A\",\"agent\":\"web-searcher\",\"version\":\"1.0.0\",\"kind\":\"agent\","
    "\"state\":\"completed\",\"parent_id\":\"job_R\",\"root_id\":\"job_R\",\"depth\":1,"
    "\"created_ms\":1741615200000,\"started_ms\":1741615200100,\"finished_ms\":1741615202400,"
    "\"error\":null,\"meta\":null},"
    "{\"id\":\"job_B\",\"agent\":\"summarizer\",\"version\":\"1.2.0\",\"kind\":\"agent\","
    "\"state\":\"completed\",\"parent_id\":\"job_R\",\"root_id\":\"job_R\",\"depth\":1,"
    "\"created_ms\":1741615202400,\"started_ms\":1741615202450,\"finished_ms\":1741615204250,"
    "\"error\":null,\"meta\":null}],"
    "\"usage\":["
    "{\"id\":\"use_1\",\"job_id\":\"job_A\",\"agent\":\"web-searcher@1.0.0\",\"backend\":\"b\","
    "\"model\":\"claude-haiku\",\"tier\":\"fast\",\"tokens_in\":150,\"tokens_out\":800,"
    "\"cost_usd\":0.0013,\"latency_ms\":2000,\"ttft_ms\":100,\"status\":\"ok\","
    "\"created_ms\":1741615202300,\"attrs\":{\"queue_ms\":7,\"attempts\":1}},"
    "{\"id\":\"use_2\",\"job_id\":\"job_B\",\"agent\":\"summarizer@1.2.0\",\"backend\":\"b\","
    "\"model\":\"claude-sonnet\",\"tier\":null,\"tokens_in\":900,\"tokens_out\":200,"
    "\"cost_usd\":0.003,\"latency_ms\":1500,\"ttft_ms\":-1,\"status\":\"ok\","
    "\"created_ms\":1741615204200,\"attrs\":null}],"
    "\"spans\":[{\"id\":\"spn_1\",\"job_id\":\"job_B\",\"kind\":\"tool\","
    "\"name\":\"atlas.registry.list\",\"status\":\"ok\",\"started_ms\":1741615202500,"
    "\"duration_ms\":3,\"attrs\":null}],"
    "\"evals\":[{\"eval\":\"q\",\"job_id\":\"job_B\",\"check\":\"len\",\"type\":\"assertion\","
    "\"passed\":1,\"score\":null,\"detail\":\"ok\",\"tokens\":0,\"cost_usd\":0,"
    "\"created_ms\":1741615204300}]}";

static void test_trace_chain_shape(void **state)
{
    (void)state;
    json_t *mat = parse(chain_materials);
    json_t *t = at_trace_build(mat);
    assert_non_null(t);
    /* the spec's fields, with the spec's values */
    assert_string_equal(at_json_str(t, "trace_id", ""), "tr_R");
    assert_string_equal(at_json_str(t, "chain", ""), "research-pipeline");
    assert_string_equal(at_json_str(t, "started_at", ""), "2025-03-10T14:00:00.000Z");
    assert_string_equal(at_json_str(t, "completed_at", ""), "2025-03-10T14:00:12.000Z");
    assert_string_equal(at_json_str(t, "status", ""), "completed");
    json_t *steps = json_object_get(t, "steps");
    assert_int_equal(json_array_size(steps), 2);
    const char *want_agent[] = {"web-searcher", "summarizer"};
    const char *want_model[] = {"claude-haiku", "claude-sonnet"};
    long long want_in[] = {150, 900}, want_out[] = {800, 200}, want_lat[] = {2300, 1800};
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(steps, i);
        assert_string_equal(at_json_str(s, "agent", ""), want_agent[i]);
        assert_string_equal(at_json_str(s, "model_used", ""), want_model[i]);
        assert_int_equal(at_json_int(s, "tokens_in", -1), want_in[i]);
        assert_int_equal(at_json_int(s, "tokens_out", -1), want_out[i]);
        assert_int_equal(at_json_int(s, "latency_ms", -1), want_lat[i]);
        assert_string_equal(at_json_str(s, "status", ""), "completed");
    }
    assert_int_equal(at_json_int(t, "total_tokens", -1), 2050);
    assert_true(fabs(json_number_value(json_object_get(t, "total_cost_usd")) - 0.0043) < 1e-9);
    /* the span tree: chain -> steps -> their model and tool calls */
    json_t *root = json_array_get(json_object_get(t, "spans"), 0);
    assert_string_equal(at_json_str(root, "kind", ""), "chain");
    json_t *ch = json_object_get(root, "children");
    assert_int_equal(json_array_size(ch), 2);
    json_t *a = json_array_get(ch, 0), *b = json_array_get(ch, 1);
    assert_string_equal(at_json_str(a, "agent", ""), "web-searcher");
    assert_int_equal(at_json_int(a, "queue_ms", -1), 100);
    assert_string_equal(at_json_str(a, "node", ""), "local");
    json_t *ma = json_array_get(json_object_get(a, "children"), 0);
    assert_string_equal(at_json_str(ma, "kind", ""), "model");
    assert_string_equal(at_json_str(ma, "name", ""), "chat claude-haiku");
    assert_int_equal(at_json_int(ma, "duration_ms", -1), 2000);
    assert_int_equal(at_json_int(ma, "offset_ms", -1), 300);
    assert_int_equal(at_json_int(ma, "queue_ms", -1), 7);
    assert_string_equal(at_json_str(ma, "parent_span_id", ""), "job_A");
    /* b: the tool call (offset 2500) sorts before the model call (2700) */
    json_t *bc = json_object_get(b, "children");
    assert_int_equal(json_array_size(bc), 2);
    assert_string_equal(at_json_str(json_array_get(bc, 0), "kind", ""), "tool");
    assert_string_equal(at_json_str(json_array_get(bc, 1), "kind", ""), "model");
    assert_int_equal(json_array_size(json_object_get(b, "evals")), 1);
    assert_true(
        json_is_true(json_object_get(json_array_get(json_object_get(t, "evals"), 0), "passed")));
    json_decref(t);
    json_decref(mat);
}

/* A run that spawns: children nest under their parent, grandchildren under
 * the child; reported usage (meta.usage) counts when no usage row has it. */
static void test_trace_spawn_nesting(void **state)
{
    (void)state;
    json_t *mat = parse(
        "{\"trace\":null,\"usage\":[],\"spans\":[],\"evals\":[],\"jobs\":["
        "{\"id\":\"job_P\",\"agent\":\"fanout\",\"version\":\"1\",\"kind\":\"agent\","
        "\"state\":\"completed\",\"parent_id\":null,\"root_id\":\"job_P\",\"created_ms\":1000,"
        "\"started_ms\":1010,\"finished_ms\":1100,\"error\":null,"
        "\"meta\":{\"usage\":{\"tokens_in\":5,\"tokens_out\":6,\"model\":\"m1\"}}},"
        "{\"id\":\"job_C1\",\"agent\":\"mid\",\"version\":\"1\",\"kind\":\"agent\","
        "\"state\":\"completed\",\"parent_id\":\"job_P\",\"root_id\":\"job_P\","
        "\"created_ms\":1020,\"started_ms\":1021,\"finished_ms\":1080,\"error\":null,"
        "\"meta\":null},"
        "{\"id\":\"job_G\",\"agent\":\"leaf\",\"version\":\"1\",\"kind\":\"agent\","
        "\"state\":\"failed\",\"parent_id\":\"job_C1\",\"root_id\":\"job_P\","
        "\"created_ms\":1030,\"started_ms\":1031,\"finished_ms\":1040,"
        "\"error\":{\"title\":\"agent returned an error\",\"detail\":\"boom\"},\"meta\":null},"
        "{\"id\":\"job_C2\",\"agent\":\"leaf\",\"version\":\"1\",\"kind\":\"agent\","
        "\"state\":\"completed\",\"parent_id\":\"job_P\",\"root_id\":\"job_P\","
        "\"created_ms\":1015,\"started_ms\":1016,\"finished_ms\":1017,\"error\":null,"
        "\"meta\":null}]}");
    json_t *t = at_trace_build(mat);
    assert_non_null(t);
    assert_true(json_is_null(json_object_get(t, "chain")));
    json_t *root = json_array_get(json_object_get(t, "spans"), 0);
    assert_string_equal(at_json_str(root, "job", ""), "job_P");
    json_t *ch = json_object_get(root, "children");
    assert_int_equal(json_array_size(ch), 2);
    /* ordered by start: C2 (offset 15) before C1 (offset 20) */
    assert_string_equal(at_json_str(json_array_get(ch, 0), "job", ""), "job_C2");
    json_t *c1 = json_array_get(ch, 1);
    assert_string_equal(at_json_str(c1, "job", ""), "job_C1");
    json_t *g = json_array_get(json_object_get(c1, "children"), 0);
    assert_string_equal(at_json_str(g, "job", ""), "job_G");
    assert_string_equal(at_json_str(g, "status", ""), "failed");
    assert_string_equal(at_json_str(json_object_get(g, "error"), "detail", ""), "boom");
    /* steps of a run: every job, depth first */
    json_t *steps = json_object_get(t, "steps");
    assert_int_equal(json_array_size(steps), 4);
    const char *order[] = {"job_P", "job_C2", "job_C1", "job_G"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(at_json_str(json_array_get(steps, i), "job", ""), order[i]);
    assert_string_equal(at_json_str(json_array_get(steps, 0), "model_used", ""), "m1");
    assert_int_equal(at_json_int(t, "total_tokens", -1), 11);
    assert_int_equal(at_json_int(t, "jobs", -1), 4);
    json_decref(t);
    /* no jobs: no trace */
    json_t *empty = parse("{\"jobs\":[]}");
    assert_null(at_trace_build(empty));
    json_decref(empty);
    json_decref(mat);
    char buf[64];
    at_trace_id("job_XYZ", buf, sizeof(buf));
    assert_string_equal(buf, "tr_XYZ");
    at_trace_root_of("tr_XYZ", buf, sizeof(buf));
    assert_string_equal(buf, "job_XYZ");
    at_trace_root_of("job_Q", buf, sizeof(buf));
    assert_string_equal(buf, "job_Q");
}

/* A wide tree (a 1,000-child fan-out): every job is a step, every child
 * under the root. */
static void test_trace_wide(void **state)
{
    (void)state;
    json_t *jobs = json_array();
    json_array_append_new(jobs, json_pack("{s:s,s:s,s:s,s:s,s:n,s:s,s:i,s:i,s:i,s:n,s:n}", "id",
                                          "job_root", "agent", "fanout", "kind", "agent", "state",
                                          "completed", "parent_id", "root_id", "job_root",
                                          "created_ms", 1000, "started_ms", 1001, "finished_ms",
                                          5000, "error", "meta"));
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "job_c%04d", i);
        json_array_append_new(jobs, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:n,s:n}", "id",
                                              id, "agent", "echo", "kind", "agent", "state",
                                              "completed", "parent_id", "job_root", "root_id",
                                              "job_root", "created_ms", 1002 + i, "started_ms",
                                              1003 + i, "finished_ms", 1004 + i, "error", "meta"));
    }
    json_t *mat = json_pack("{s:o,s:[],s:[],s:[]}", "jobs", jobs, "usage", "spans", "evals");
    json_t *t = at_trace_build(mat);
    assert_int_equal(json_array_size(json_object_get(t, "steps")), 1001);
    json_t *root = json_array_get(json_object_get(t, "spans"), 0);
    assert_int_equal(json_array_size(json_object_get(root, "children")), 1000);
    assert_string_equal(at_json_str(json_array_get(json_object_get(t, "steps"), 1000), "job", ""),
                        "job_c0999");
    json_decref(t);
    json_decref(mat);
}

/* A chain with a custom orchestrator: its decision jobs (kind
 * "orchestrator") are spans of their own, not steps; every span has its
 * depth (issue 9). */
static void test_trace_orchestrator_decisions(void **state)
{
    (void)state;
    json_t *mat =
        parse("{\"trace\":null,\"usage\":[],\"spans\":[],\"evals\":[],\"jobs\":["
              "{\"id\":\"job_R\",\"agent\":\"pipe\",\"version\":\"\",\"kind\":\"chain\","
              "\"state\":\"completed\",\"parent_id\":null,\"root_id\":\"job_R\",\"depth\":0,"
              "\"created_ms\":1000,\"started_ms\":1000,\"finished_ms\":1100,\"error\":null,"
              "\"meta\":null},"
              "{\"id\":\"job_O1\",\"agent\":\"orch\",\"version\":\"1\",\"kind\":\"orchestrator\","
              "\"state\":\"completed\",\"parent_id\":\"job_R\",\"root_id\":\"job_R\",\"depth\":1,"
              "\"created_ms\":1001,\"started_ms\":1002,\"finished_ms\":1010,\"error\":null,"
              "\"meta\":null},"
              "{\"id\":\"job_S1\",\"agent\":\"step-a\",\"version\":\"1\",\"kind\":\"agent\","
              "\"state\":\"completed\",\"parent_id\":\"job_R\",\"root_id\":\"job_R\",\"depth\":1,"
              "\"created_ms\":1011,\"started_ms\":1012,\"finished_ms\":1050,\"error\":null,"
              "\"meta\":null},"
              "{\"id\":\"job_O2\",\"agent\":\"orch\",\"version\":\"1\",\"kind\":\"orchestrator\","
              "\"state\":\"completed\",\"parent_id\":\"job_R\",\"root_id\":\"job_R\",\"depth\":1,"
              "\"created_ms\":1051,\"started_ms\":1052,\"finished_ms\":1060,\"error\":null,"
              "\"meta\":null},"
              "{\"id\":\"job_S2\",\"agent\":\"step-b\",\"version\":\"1\",\"kind\":\"agent\","
              "\"state\":\"completed\",\"parent_id\":\"job_R\",\"root_id\":\"job_R\",\"depth\":1,"
              "\"created_ms\":1061,\"started_ms\":1062,\"finished_ms\":1090,\"error\":null,"
              "\"meta\":null},"
              "{\"id\":\"job_G\",\"agent\":\"leaf\",\"version\":\"1\",\"kind\":\"agent\","
              "\"state\":\"completed\",\"parent_id\":\"job_S2\",\"root_id\":\"job_R\",\"depth\":2,"
              "\"created_ms\":1070,\"started_ms\":1071,\"finished_ms\":1080,\"error\":null,"
              "\"meta\":null}]}");
    json_t *t = at_trace_build(mat);
    json_t *steps = json_object_get(t, "steps");
    assert_int_equal(json_array_size(steps), 2);
    assert_string_equal(at_json_str(json_array_get(steps, 0), "agent", ""), "step-a");
    assert_string_equal(at_json_str(json_array_get(steps, 1), "agent", ""), "step-b");
    json_t *ch = json_object_get(json_array_get(json_object_get(t, "spans"), 0), "children");
    assert_int_equal(json_array_size(ch), 4);
    const char *kinds[] = {"orchestrator", "agent", "orchestrator", "agent"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(at_json_str(json_array_get(ch, i), "kind", ""), kinds[i]);
        assert_int_equal(at_json_int(json_array_get(ch, i), "depth", -1), 1);
    }
    json_t *g = json_array_get(json_object_get(json_array_get(ch, 3), "children"), 0);
    assert_int_equal(at_json_int(g, "depth", -1), 2);
    json_decref(t);
    /* a run (not a chain) whose tree holds a decision: not a step either */
    json_object_set_new(json_array_get(json_object_get(mat, "jobs"), 0), "kind",
                        json_string("agent"));
    t = at_trace_build(mat);
    assert_int_equal(json_array_size(json_object_get(t, "steps")), 4); /* R, S1, S2, G */
    json_decref(t);
    json_decref(mat);
}

/* Usage near 2^63 in the store (issue 9): totals saturate, counts never go
 * negative, reals beyond the integer range are clamped, nothing aborts. */
static void test_trace_huge_usage(void **state)
{
    (void)state;
    json_t *mat =
        parse("{\"trace\":null,\"spans\":[],\"evals\":[],\"jobs\":["
              "{\"id\":\"job_H\",\"agent\":\"big\",\"version\":\"1\",\"kind\":\"agent\","
              "\"state\":\"completed\",\"parent_id\":null,\"root_id\":\"job_H\",\"depth\":0,"
              "\"created_ms\":1000,\"started_ms\":1001,\"finished_ms\":1100,\"error\":null,"
              "\"meta\":{\"usage\":{\"tokens_in\":9223372036854775807,"
              "\"tokens_out\":9223372036854775807,\"model\":\"m\",\"cost_usd\":1e308}}}],"
              "\"usage\":["
              "{\"id\":\"use_1\",\"job_id\":\"job_H\",\"backend\":\"b\",\"model\":\"m\","
              "\"tokens_in\":9223372036854775807,\"tokens_out\":9223372036854775807,"
              "\"cost_usd\":1e308,\"latency_ms\":9223372036854775807,\"created_ms\":1050},"
              "{\"id\":\"use_2\",\"job_id\":\"job_H\",\"backend\":\"b\",\"model\":\"m\","
              "\"tokens_in\":-5,\"tokens_out\":1e30,\"cost_usd\":-1,\"latency_ms\":1,"
              "\"created_ms\":1060}]}");
    json_t *t = at_trace_build(mat);
    assert_non_null(t);
    assert_true(at_json_int(t, "total_tokens", -1) == LLONG_MAX);
    assert_true(at_json_int(t, "tokens_in", -1) == LLONG_MAX);
    assert_true(at_json_int(t, "tokens_out", -1) == LLONG_MAX);
    double cost = json_number_value(json_object_get(t, "total_cost_usd"));
    assert_true(isfinite(cost) && cost > 0);
    json_t *root = json_array_get(json_object_get(t, "spans"), 0);
    assert_true(at_json_int(root, "tokens_in", -1) == LLONG_MAX);
    json_t *m2 = json_array_get(json_object_get(root, "children"), 1);
    assert_int_equal(at_json_int(m2, "tokens_in", -1), 0); /* negative: 0 */
    assert_true(at_json_int(m2, "tokens_out", -1) == LLONG_MAX);
    json_t *m1 = json_array_get(json_object_get(root, "children"), 0);
    assert_true(at_json_int(m1, "duration_ms", -1) >= 0);
    json_decref(t);
    json_decref(mat);
}

/* /api/v1/costs from the store's rows (issue 9): clamped, saturating,
 * never failing. */
static void test_costs_json(void **state)
{
    (void)state;
    json_t *rows = parse("[{\"key\":\"a\",\"calls\":2,\"tokens_in\":9223372036854775807,"
                         "\"tokens_out\":9223372036854775807,\"cost_usd\":1e308},"
                         "{\"key\":\"b\",\"calls\":1,\"tokens_in\":1.8e19,"
                         "\"tokens_out\":-3,\"cost_usd\":1e308},"
                         "{\"key\":\"c\",\"calls\":1,\"tokens_in\":10,\"tokens_out\":5,"
                         "\"cost_usd\":0.25}]");
    json_t *o = at_monitor_costs_json("agent", rows, 0);
    assert_non_null(o);
    char *text = at_json_dumps(o);
    assert_non_null(text);
    assert_null(strstr(text, ":-")); /* no negative number anywhere */
    free(text);
    json_t *tot = json_object_get(o, "total");
    assert_int_equal(at_json_int(tot, "calls", -1), 4);
    assert_true(at_json_int(tot, "tokens_in", -1) == LLONG_MAX);
    assert_true(at_json_int(tot, "tokens", -1) == LLONG_MAX);
    assert_true(isfinite(json_number_value(json_object_get(tot, "cost_usd"))));
    json_t *b = json_array_get(json_object_get(o, "rows"), 1);
    assert_true(at_json_int(b, "tokens_in", -1) == LLONG_MAX);
    assert_int_equal(at_json_int(b, "tokens_out", -1), 0);
    json_t *c = json_array_get(json_object_get(o, "rows"), 2);
    assert_int_equal(at_json_int(c, "tokens", -1), 15);
    assert_null(json_object_get(o, "since"));
    json_decref(o);
    o = at_monitor_costs_json("day", NULL, 1741615200000);
    assert_int_equal(json_array_size(json_object_get(o, "rows")), 0);
    assert_string_equal(at_json_str(o, "since", ""), "2025-03-10T14:00:00.000Z");
    json_decref(o);
    assert_true(at_monitor_tokens_add(LLONG_MAX, 1) == LLONG_MAX);
    assert_int_equal(at_monitor_tokens(NULL), 0);
}

/* ---- metrics ---- */

static void test_metrics_format(void **state)
{
    (void)state;
    struct at_metrics *m = at_metrics_new();
    char lb[AT_METRICS_MAX_LABELS];
    at_metrics_labels(lb, sizeof(lb), "agent", "we\"ird\\na\nme", "state", "completed", NULL);
    assert_string_equal(lb, "agent=\"we\\\"ird\\\\na\\nme\",state=\"completed\"");
    at_metrics_inc(m, "atlas_jobs_total", "Jobs.\nSecond line", lb, 2);
    at_metrics_inc(m, "atlas_jobs_total", NULL, lb, 1);
    at_metrics_inc(m, "atlas_jobs_total", NULL, lb, -5); /* counters never go down */
    at_metrics_set(m, "atlas_q", "Queue.", "", 7);
    at_metrics_set(m, "atlas_q", "Queue.", "", 3);
    at_metrics_observe(m, "atlas_lat_seconds", "Latency.", "agent=\"a\"", 0.003);
    at_metrics_observe(m, "atlas_lat_seconds", "Latency.", "agent=\"a\"", 1000);
    at_metrics_set(m, "atlas_jobs_total", NULL, "x=\"1\"", 1); /* wrong type: ignored */
    assert_true(at_metrics_get(m, "atlas_jobs_total", lb) == 3);
    assert_true(at_metrics_get(m, "atlas_q", "") == 3);
    assert_true(at_metrics_get(m, "atlas_lat_seconds", "agent=\"a\"") == 2);
    struct at_buf b;
    at_buf_init(&b, 1 << 20);
    at_metrics_format(m, &b);
    const char *s = at_buf_str(&b);
    assert_non_null(strstr(s, "# HELP atlas_jobs_total Jobs.\\nSecond line\n"
                              "# TYPE atlas_jobs_total counter\n"));
    assert_non_null(
        strstr(s, "atlas_jobs_total{agent=\"we\\\"ird\\\\na\\nme\",state=\"completed\"} 3\n"));
    assert_non_null(strstr(s, "# TYPE atlas_q gauge\natlas_q 3\n"));
    assert_non_null(strstr(s, "atlas_lat_seconds_bucket{agent=\"a\",le=\"0.001\"} 0\n"));
    assert_non_null(strstr(s, "atlas_lat_seconds_bucket{agent=\"a\",le=\"0.005\"} 1\n"));
    assert_non_null(strstr(s, "atlas_lat_seconds_bucket{agent=\"a\",le=\"300\"} 1\n"));
    assert_non_null(strstr(s, "atlas_lat_seconds_bucket{agent=\"a\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(s, "atlas_lat_seconds_sum{agent=\"a\"} 1000.003\n"));
    assert_non_null(strstr(s, "atlas_lat_seconds_count{agent=\"a\"} 2\n"));
    assert_null(strstr(s, "x=\"1\""));
    at_buf_release(&b);
    /* bounded series */
    for (int i = 0; i < AT_METRICS_MAX_SERIES + 50; i++) {
        char l[64];
        snprintf(l, sizeof(l), "agent=\"a%d\"", i);
        at_metrics_inc(m, "atlas_many_total", "Many.", l, 1);
    }
    assert_true(at_metrics_get(m, "atlas_many_total", "overflow=\"true\"") == 50);
    at_metrics_free(m);
    at_metrics_free(NULL);
}

/* ---- OTLP ---- */

static const char *attr(const json_t *span, const char *key, const char *type)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a)
    {
        if (strcmp(at_json_str(a, "key", ""), key) == 0)
            return json_string_value(json_object_get(json_object_get(a, "value"), type));
    }
    return NULL;
}

static void test_otlp_json(void **state)
{
    (void)state;
    char t1[33], t2[33], s1[17];
    at_otlp_trace_id("job_R", t1);
    at_otlp_trace_id("job_R", t2);
    at_otlp_span_id("job_A", s1);
    assert_string_equal(t1, t2);
    assert_int_equal(strlen(t1), 32);
    assert_int_equal(strlen(s1), 16);
    assert_int_equal(strspn(t1, "0123456789abcdef"), 32);
    json_t *call = parse("{\"id\":\"use_1\",\"job_id\":\"job_A\",\"root_id\":\"job_R\","
                         "\"model\":\"claude-haiku\",\"backend\":\"local\",\"tier\":\"fast\","
                         "\"tokens_in\":150,\"tokens_out\":800,\"cost_usd\":0.0013,"
                         "\"latency_ms\":2000,\"ttft_ms\":90,\"queue_ms\":3,\"status\":\"ok\","
                         "\"end_ms\":1741615202300}");
    json_t *ms = at_otlp_model_span(call);
    assert_string_equal(at_json_str(ms, "traceId", ""), t1);
    char pa[17];
    at_otlp_span_id("job_A", pa);
    assert_string_equal(at_json_str(ms, "parentSpanId", ""), pa);
    assert_string_equal(at_json_str(ms, "name", ""), "chat claude-haiku");
    assert_int_equal(at_json_int(ms, "kind", 0), 3);
    assert_string_equal(at_json_str(ms, "startTimeUnixNano", ""), "1741615200300000000");
    assert_string_equal(at_json_str(ms, "endTimeUnixNano", ""), "1741615202300000000");
    assert_string_equal(attr(ms, "gen_ai.operation.name", "stringValue"), "chat");
    assert_string_equal(attr(ms, "gen_ai.request.model", "stringValue"), "claude-haiku");
    assert_string_equal(attr(ms, "gen_ai.usage.input_tokens", "intValue"), "150");
    assert_string_equal(attr(ms, "gen_ai.usage.output_tokens", "intValue"), "800");
    assert_int_equal(at_json_int(json_object_get(ms, "status"), "code", 0), 1);
    json_t *job = parse("{\"id\":\"job_A\",\"agent\":\"web-searcher\",\"version\":\"1.0.0\","
                        "\"state\":\"failed\",\"parent_id\":\"job_R\",\"root_id\":\"job_R\","
                        "\"created_ms\":1000,\"started_ms\":1100,\"finished_ms\":1500,"
                        "\"error_title\":\"boom\"}");
    json_t *js = at_otlp_job_span(job);
    assert_string_equal(at_json_str(js, "traceId", ""), t1);
    assert_string_equal(at_json_str(js, "spanId", ""), s1);
    assert_string_equal(at_json_str(js, "name", ""), "invoke_agent web-searcher");
    assert_string_equal(attr(js, "gen_ai.agent.name", "stringValue"), "web-searcher");
    assert_string_equal(attr(js, "atlas.queue_ms", "intValue"), "100");
    json_t *st = json_object_get(js, "status");
    assert_int_equal(at_json_int(st, "code", 0), 2);
    assert_string_equal(at_json_str(st, "message", ""), "boom");
    json_t *spans = json_pack("[o,o]", ms, js);
    json_t *req = at_otlp_request(spans, "atlas-test");
    json_t *rs = json_array_get(json_object_get(req, "resourceSpans"), 0);
    assert_string_equal(attr(json_object_get(rs, "resource"), "service.name", "stringValue"),
                        "atlas-test");
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    assert_string_equal(at_json_str(json_object_get(ss, "scope"), "name", ""), "atlas");
    assert_int_equal(json_array_size(json_object_get(ss, "spans")), 2);
    json_decref(req);
    json_decref(spans);
    json_decref(call);
    json_decref(job);
}

/* ---- evals ---- */

static int parse_eval(const char *y, struct at_eval **ev, struct at_diag *d)
{
    at_diag_clear(d);
    return at_eval_parse("evals/t.yaml", y, strlen(y), ev, d);
}

static void test_eval_parse(void **state)
{
    (void)state;
    struct at_eval *ev = NULL;
    struct at_diag d;
    const char *spec =
        "eval:\n"
        "  name: \"summary-quality\"\n"
        "  target_agent: \"summarizer\"\n"
        "  trigger: \"every_execution\" # or \"sampled\", \"manual\"\n"
        "  checks:\n"
        "    - name: \"length_compliance\"\n"
        "      type: \"assertion\"\n"
        "      condition: \"output.token_count <= input.max_length\"\n"
        "    - name: \"relevance_score\"\n"
        "      type: \"llm_judge\"\n"
        "      model: \"claude-haiku\"\n"
        "      prompt: \"Rate 1-5 how well this summary captures the key points...\"\n"
        "      threshold: 3.5\n";
    assert_int_equal(parse_eval(spec, &ev, &d), 0);
    assert_string_equal(ev->name, "summary-quality");
    assert_string_equal(ev->target, "summarizer");
    assert_int_equal(ev->trigger, AT_EVAL_EVERY);
    assert_int_equal(ev->nchecks, 2);
    assert_int_equal(ev->checks[0].type, AT_CHECK_ASSERTION);
    assert_int_equal(ev->checks[1].type, AT_CHECK_LLM_JUDGE);
    assert_true(ev->checks[1].threshold == 3.5);
    assert_string_equal(ev->checks[1].model, "claude-haiku");
    json_t *j = at_eval_to_json(ev);
    assert_string_equal(at_json_str(j, "trigger", ""), "every_execution");
    json_decref(j);
    at_eval_unref(ev);

    /* a condition's error is located inside the YAML line */
    const char *bad = "eval:\n  name: x\n  target_agent: a\n  checks:\n"
                      "    - name: c\n      type: assertion\n"
                      "      condition: \"output.n <= \"\n";
    assert_int_equal(parse_eval(bad, &ev, &d), AT_EPARSE);
    assert_null(ev);
    assert_string_equal(d.file, "evals/t.yaml");
    assert_int_equal(d.line, 7);
    assert_int_equal(d.col, 31); /* the end of the condition: a value is missing */
    assert_non_null(strstr(d.msg, "eval.checks[0].condition"));
    /* plain scalar: no quote to skip */
    const char *bad2 = "eval:\n  name: x\n  target_agent: a\n  checks:\n"
                       "    - name: c\n      type: assertion\n"
                       "      condition: secret.x == 1\n";
    assert_int_equal(parse_eval(bad2, &ev, &d), AT_EPARSE);
    assert_int_equal(d.line, 7);
    assert_int_equal(d.col, 18);
    /* shape errors: unknown keys, wrong trigger, sampled without a rate,
     * judge without threshold, duplicate names */
    struct {
        const char *y;
        int line;
        const char *msg;
    } cases[] = {
        {"eval:\n  name: x\n  target_agent: a\n  colour: red\n  checks:\n"
         "    - {name: c, type: assertion, condition: \"true\"}\n",
         4, "colour"},
        {"eval:\n  name: x\n  target_agent: a\n  trigger: sometimes\n  checks:\n"
         "    - {name: c, type: assertion, condition: \"true\"}\n",
         4, "sometimes"},
        {"eval:\n  name: x\n  target_agent: a\n  trigger: sampled\n  checks:\n"
         "    - {name: c, type: assertion, condition: \"true\"}\n",
         4, "sample_rate"},
        {"eval:\n  name: x\n  target_agent: a\n  trigger: sampled\n  sample_rate: 1.5\n"
         "  checks:\n    - {name: c, type: assertion, condition: \"true\"}\n",
         5, "sample_rate"},
        {"eval:\n  name: x\n  target_agent: a\n  checks:\n"
         "    - {name: c, type: llm_judge, prompt: \"rate\"}\n",
         5, "threshold"},
        {"eval:\n  name: x\n  target_agent: a\n  checks:\n"
         "    - {name: c, type: assertion, condition: \"true\"}\n"
         "    - {name: c, type: assertion, condition: \"false\"}\n",
         6, "two checks"},
        {"eval:\n  name: x\n  checks:\n    - {name: c, type: assertion, condition: \"1\"}\n", 1,
         "target_agent"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = parse_eval(cases[i].y, &ev, &d);
        if (rc == 0 || d.line != cases[i].line || !strstr(d.msg, cases[i].msg))
            fail_msg("case %zu: rc %d line %d msg %s", i, rc, d.line, d.msg);
    }
}

static void test_eval_sampling(void **state)
{
    (void)state;
    struct at_eval *ev = NULL;
    struct at_diag d;
    const char *y = "eval:\n  name: s\n  target_agent: a\n  trigger: sampled\n"
                    "  sample_rate: 0.3\n  checks:\n"
                    "    - {name: c, type: assertion, condition: \"true\"}\n";
    assert_int_equal(parse_eval(y, &ev, &d), 0);
    unsigned long long rng = 12345;
    int hits = 0;
    for (int i = 0; i < 100000; i++)
        hits += at_eval_should_run(ev, &rng);
    /* 0.3 +- 1% over 100,000 draws (the standard deviation is 0.14%) */
    assert_true(hits > 29000 && hits < 31000);
    ev->trigger = AT_EVAL_MANUAL;
    assert_int_equal(at_eval_should_run(ev, &rng), 0);
    ev->trigger = AT_EVAL_EVERY;
    assert_int_equal(at_eval_should_run(ev, &rng), 1);
    at_eval_unref(ev);
    double s;
    assert_int_equal(at_eval_parse_score("4", &s), 0);
    assert_true(s == 4);
    assert_int_equal(at_eval_parse_score("Score: 3.5/5", &s), 0);
    assert_true(s == 3.5);
    assert_int_equal(at_eval_parse_score("-1 (bad)", &s), 0);
    assert_true(s == -1);
    assert_int_equal(at_eval_parse_score("no idea", &s), -1);
    assert_int_equal(at_eval_parse_score("", &s), -1);
}

/* Assertions run synchronously; results reach the hook and the done
 * callback. */
struct seen {
    int results, passed, done_passed;
    char detail[300];
};

static void on_result(void *arg, const struct at_eval_result *r)
{
    struct seen *s = arg;
    s->results++;
    s->passed += r->passed;
    if (!r->passed && r->detail)
        snprintf(s->detail, sizeof(s->detail), "%s", r->detail);
}

static void on_done(void *arg, json_t *all)
{
    struct seen *s = arg;
    s->done_passed = json_is_true(json_object_get(all, "passed")) ? 1 : 2;
}

static int no_gateway(void *arg, const struct at_llm_request *req, struct at_diag *d)
{
    (void)arg;
    (void)req;
    (void)d;
    return AT_EUNAVAIL;
}

static void test_eval_run(void **state)
{
    (void)state;
    struct at_eval *ev = NULL;
    struct at_diag d;
    const char *y = "eval:\n  name: q\n  target_agent: summarizer\n  checks:\n"
                    "    - {name: fits, type: assertion, condition: \"output.token_count <= "
                    "input.max_length\"}\n"
                    "    - {name: short, type: assertion, condition: \"len(output.summary) < 5\"}\n"
                    "    - {name: typed, type: assertion, condition: \"output.summary > 1\"}\n"
                    "    - {name: judge, type: llm_judge, prompt: \"rate\", threshold: 3}\n";
    assert_int_equal(parse_eval(y, &ev, &d), 0);
    struct at_job_rec rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.id, sizeof(rec.id), "job_1");
    rec.agent = "summarizer";
    rec.state = AT_JOB_COMPLETED;
    rec.input = parse("{\"max_length\": 10}");
    rec.output = parse("{\"summary\": \"hello world\", \"token_count\": 2}");
    atomic_int inflight;
    atomic_init(&inflight, 0);
    struct seen s = {0};
    struct at_eval_hooks h = {.submit = no_gateway,
                              .result = on_result,
                              .arg = &s,
                              .inflight = &inflight,
                              .max_inflight = 2};
    at_eval_start(ev, &rec, &h, on_done, &s);
    assert_int_equal(s.results, 4);
    assert_int_equal(s.passed, 1);
    assert_int_equal(s.done_passed, 2);
    assert_non_null(strstr(s.detail, "no model gateway"));
    json_decref(rec.input);
    json_decref(rec.output);
    at_eval_unref(ev);
}

/* ---- store records ---- */

static char dir[256];

static struct at_store *open_store(void)
{
    snprintf(dir, sizeof(dir), "/tmp/atlas-test-monitor.XXXXXX");
    if (!mkdtemp(dir))
        fail();
    char db[300];
    snprintf(db, sizeof(db), "%s/atlas.db", dir);
    struct at_store_cfg cfg = {.backend = "sqlite", .path = db};
    struct at_store *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_store_open(&cfg, &s, &d), 0);
    return s;
}

static void put_job(struct at_store *s, const char *id, const char *parent, const char *root,
                    int state, int64_t t)
{
    struct at_job_rec r;
    memset(&r, 0, sizeof(r));
    snprintf(r.id, sizeof(r.id), "%s", id);
    r.agent = "a";
    r.agent_version = "1";
    r.state = (enum at_job_state)state;
    r.parent_id = (char *)parent;
    r.root_id = (char *)root;
    r.created_ms = t;
    r.started_ms = t + 1;
    r.finished_ms = state >= 2 ? t + 10 : 0;
    assert_int_equal(at_store_call(s, job_insert, &r), 0);
}

static void test_store_records(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    int64_t now = 1800000000000LL;
    /* a trace is its jobs: roots newest first (by seq) */
    put_job(s, "job_live", NULL, "job_live", 1, now - 100000000);
    put_job(s, "job_old", NULL, "job_old", 3, now - 90000000);
    put_job(s, "job_mid", NULL, "job_mid", 2, now - 7000);
    put_job(s, "job_r", NULL, "job_r", 2, now - 6000);
    put_job(s, "job_c", "job_r", "job_r", 2, now - 5000);
    struct at_log_line lines[] = {
        {.job_id = "job_c",
         .root_id = "job_r",
         .seq = 1,
         .ts_ms = now,
         .stream = "stderr",
         .text = "hello"},
        {.job_id = "job_c",
         .root_id = "job_r",
         .seq = 2,
         .ts_ms = now,
         .stream = "mcp",
         .text = "world"},
    };
    assert_int_equal(at_store_call(s, log_append, lines, 2), 0);
    json_t *attrs = json_pack("{s:i}", "queue_ms", 4);
    struct at_span_rec sp = {.id = "use_x",
                             .root_id = "job_r",
                             .job_id = "job_c",
                             .kind = "model",
                             .name = "m",
                             .status = "ok",
                             .started_ms = now - 4000,
                             .duration_ms = 20,
                             .attrs = attrs};
    assert_int_equal(at_store_call(s, span_put, &sp), 0);
    json_decref(attrs);
    struct at_usage_rec u = {.id = "use_x",
                             .job_id = "job_c",
                             .root_id = "job_r",
                             .model = "m",
                             .tokens_in = 3,
                             .tokens_out = 4,
                             .cost_usd = 0.5,
                             .latency_ms = 20,
                             .ttft_ms = -1,
                             .created_ms = now - 3980};
    assert_int_equal(at_store_call(s, usage_insert, &u), 0);
    struct at_eval_result er = {.id = "evr_1",
                                .eval = "e",
                                .job_id = "job_c",
                                .root_id = "job_r",
                                .check_name = "k",
                                .type = "assertion",
                                .passed = 1,
                                .created_ms = now};
    assert_int_equal(at_store_call(s, eval_result_put, &er), 0);

    json_t *list = NULL;
    struct at_trace_filter f = {0};
    assert_int_equal(at_store_call(s, trace_list, &f, &list), 0);
    assert_int_equal(json_array_size(list), 4);
    json_t *first = json_array_get(list, 0);
    assert_string_equal(at_json_str(first, "id", ""), "job_r");
    assert_int_equal(at_json_int(first, "jobs", 0), 2);
    assert_int_equal(at_json_int(first, "tokens", 0), 7);
    assert_string_equal(at_json_str(first, "status", ""), "completed");
    assert_int_equal(at_json_int(first, "started_ms", 0), now - 6000);
    json_decref(list);
    f.status = "failed";
    assert_int_equal(at_store_call(s, trace_list, &f, &list), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);

    json_t *mat = NULL;
    assert_int_equal(at_store_call(s, trace_load, "job_r", &mat), 0);
    assert_int_equal(json_array_size(json_object_get(mat, "jobs")), 2);
    assert_string_equal(at_json_str(json_array_get(json_object_get(mat, "jobs"), 0), "state", ""),
                        "completed");
    json_t *urow = json_array_get(json_object_get(mat, "usage"), 0);
    assert_int_equal(at_json_int(json_object_get(urow, "attrs"), "queue_ms", 0), 4);
    assert_int_equal(json_array_size(json_object_get(mat, "evals")), 1);
    json_decref(mat);

    json_t *logs = NULL;
    assert_int_equal(at_store_call(s, log_get, "job_c", &logs), 0);
    assert_int_equal(json_array_size(logs), 2);
    assert_string_equal(at_json_str(json_array_get(logs, 1), "text", ""), "world");
    json_decref(logs);

    /* retention by age: job_old goes, job_live (unfinished) stays */
    int deleted = 0;
    assert_int_equal(at_store_call(s, trace_prune, now - 3600000, 0, 10, &deleted), 0);
    assert_int_equal(deleted, 1);
    struct at_job_rec gone;
    assert_int_equal(at_store_call(s, job_get, "job_old", &gone), AT_ENOENT);
    assert_int_equal(at_store_call(s, trace_list, &(struct at_trace_filter){0}, &list), 0);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    /* by size (the store's pages in use): under the cap, nothing goes */
    assert_int_equal(at_store_call(s, trace_prune, 0, 1LL << 40, 10, &deleted), 0);
    assert_int_equal(deleted, 0);
    /* over it: the oldest finished trees first, at most max_trees a call */
    assert_int_equal(at_store_call(s, trace_prune, 0, 1, 1, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(at_store_call(s, job_get, "job_mid", &gone), AT_ENOENT);
    assert_int_equal(at_store_call(s, trace_list, &(struct at_trace_filter){0}, &list), 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    assert_int_equal(at_store_call(s, trace_prune, 0, 1, 10, &deleted), 0);
    assert_int_equal(deleted, 1); /* job_r; job_live is unfinished */
    assert_int_equal(at_store_call(s, log_get, "job_c", &logs), 0);
    assert_int_equal(json_array_size(logs), 0);
    json_decref(logs);
    assert_int_equal(at_store_call(s, trace_load, "job_r", &mat), 0);
    assert_int_equal(json_array_size(json_object_get(mat, "jobs")), 0);
    assert_int_equal(json_array_size(json_object_get(mat, "evals")), 0);
    json_decref(mat);

    /* evals */
    json_t *def = json_pack("{s:s}", "name", "e1");
    struct at_eval_rec e = {.name = "e1",
                            .target_agent = "a",
                            .trigger = "manual",
                            .definition = def,
                            .source = "eval: {}"};
    assert_int_equal(at_store_call(s, eval_put, &e), 0);
    json_decref(def);
    json_t *evals = NULL;
    assert_int_equal(at_store_call(s, eval_list, &evals), 0);
    assert_int_equal(json_array_size(evals), 1);
    assert_string_equal(
        at_json_str(json_object_get(json_array_get(evals, 0), "definition"), "name", ""), "e1");
    json_decref(evals);
    assert_int_equal(at_store_call(s, eval_delete, "e1", &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(at_store_call(s, eval_delete, "e1", &deleted), 0);
    assert_int_equal(deleted, 0);
    at_store_close(s);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fail();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_chain_shape),
        cmocka_unit_test(test_trace_spawn_nesting),
        cmocka_unit_test(test_trace_wide),
        cmocka_unit_test(test_metrics_format),
        cmocka_unit_test(test_otlp_json),
        cmocka_unit_test(test_eval_parse),
        cmocka_unit_test(test_eval_sampling),
        cmocka_unit_test(test_eval_run),
        cmocka_unit_test(test_store_records),
        cmocka_unit_test(test_trace_orchestrator_decisions),
        cmocka_unit_test(test_trace_huge_usage),
        cmocka_unit_test(test_costs_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
