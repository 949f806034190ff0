/* Unit tests: backend conformance.  The same store operations run against
 * SQLite and PostgreSQL, each result checked, and every read recorded in a
 * JSON log: the two logs must be equal, so the backends answer alike.
 *
 * The PostgreSQL part needs a database: ATLAS_TEST_PG_URL (a libpq
 * conninfo of an empty database), which tests/unit/pg_wrap.sh sets after
 * starting a throwaway cluster (tests/e2e/pg.sh).  Without it that part is
 * skipped, saying so. */
#include "base/err.h"
#include "base/fs.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char dir[256];
static char db[300];
static json_t *sqlite_log; /* what the SQLite run read, for the PostgreSQL run to match */

#define T0 1750000000000LL /* 2025-06-15T15:06:40Z */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/atlas-store-backends.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof(db), "%s/atlas.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    at_fs_remove_tree(dir);
    json_decref(sqlite_log);
    sqlite_log = NULL;
    return 0;
}

static const char *pg_url(void)
{
    const char *u = getenv("ATLAS_TEST_PG_URL");
    return u && *u ? u : NULL;
}

static struct at_store *open_backend(const char *backend)
{
    struct at_store_cfg cfg = {.backend = backend, .path = db, .url = pg_url(), .readers = 2};
    struct at_store *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_store_open(&cfg, &s, &d);
    if (rc)
        fprintf(stderr, "open %s: %s\n", backend, d.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(s->ops->name, backend);
    return s;
}

static void put_agent(struct at_store *s, const char *name, const char *version, const char *digest,
                      int force, int want)
{
    json_t *c = json_pack("{s:s,s:s,s:s,s:[s]}", "name", name, "version", version, "description",
                          "Summarizes 100% of_it", "capabilities", "summarization");
    struct at_agent_rec r = {.name = (char *)name,
                             .version = (char *)version,
                             .digest = (char *)digest,
                             .kind = "local",
                             .source = "/x",
                             .contract = c,
                             .registered_ms = T0};
    assert_int_equal(at_store_call(s, agent_put, &r, force), want);
    json_decref(c);
}

static json_t *agents_json(struct at_agent_rec *r, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:O}", "name", r[i].name, "version",
                                           r[i].version, "digest", r[i].digest, "contract",
                                           r[i].contract));
    at_agent_recs_free(r, n);
    return a;
}

static json_t *jobs_json(struct at_job_rec *r, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *j = at_job_rec_to_json(&r[i]);
        json_object_set_new(j, "seq", json_integer(r[i].seq));
        json_array_append_new(a, j);
    }
    at_job_recs_free(r, n);
    return a;
}

static void job(struct at_store *s, const char *id, const char *agent, const char *parent,
                const char *root, int state, int priority, int64_t created, json_t *meta,
                const char *source)
{
    struct at_job_rec r = {0};
    snprintf(r.id, sizeof(r.id), "%s", id);
    r.agent = (char *)agent;
    r.agent_version = "1.0.0";
    r.priority = priority;
    r.state = (enum at_job_state)state;
    r.input = json_pack("{s:s}", "text", "hé\u00e9 \\u0000");
    r.output = state == AT_JOB_COMPLETED ? json_pack("{s:i}", "n", 1) : NULL;
    r.parent_id = (char *)parent;
    r.root_id = (char *)(root ? root : id);
    r.depth = parent ? 1 : 0;
    r.source = (char *)source;
    r.meta = meta;
    r.created_ms = created;
    r.started_ms = state >= AT_JOB_RUNNING ? created + 5 : 0;
    r.finished_ms = state >= AT_JOB_COMPLETED ? created + 50 : 0;
    assert_int_equal(at_store_call(s, job_insert, &r), 0);
    assert_true(r.seq > 0);
    json_decref(r.input);
    json_decref(r.output);
    json_decref(meta);
}

static void usage(struct at_store *s, const char *id, const char *job_id, const char *root,
                  const char *agent, const char *model, long long in, long long out, double cost,
                  int64_t at)
{
    struct at_usage_rec u = {.job_id = (char *)job_id,
                             .root_id = (char *)root,
                             .agent = (char *)agent,
                             .backend = "fake",
                             .model = (char *)model,
                             .tier = "fast",
                             .tokens_in = in,
                             .tokens_out = out,
                             .cost_usd = cost,
                             .latency_ms = 7,
                             .ttft_ms = -1,
                             .status = "ok",
                             .created_ms = at};
    snprintf(u.id, sizeof(u.id), "%s", id);
    assert_int_equal(at_store_call(s, usage_insert, &u), 0);
}

static void record(json_t *log, const char *what, json_t *v)
{
    json_array_append_new(log, json_pack("{s:s,s:o}", "op", what, "result", v ? v : json_null()));
}

/* The operations, each checked; every read goes into log. */
static void run_suite(struct at_store *s, json_t *log)
{
    /* ---- catalog ---- */
    put_agent(s, "summarizer", "1.2.0", "sha256:1", 0, 0);
    put_agent(s, "summarizer", "1.2.0", "sha256:1", 0, AT_AGAIN);
    put_agent(s, "summarizer", "1.2.0", "sha256:2", 0, AT_EEXIST);
    put_agent(s, "summarizer", "1.2.0", "sha256:2", 1, 0);
    put_agent(s, "summarizer", "1.10.0", "sha256:3", 0, 0);
    put_agent(s, "word-count", "0.1.0", "sha256:4", 0, 0);
    struct at_agent_rec ar;
    assert_int_equal(at_store_call(s, agent_get, "summarizer", NULL, &ar), 0);
    assert_string_equal(ar.version, "1.10.0");
    at_agent_rec_release(&ar);
    assert_int_equal(at_store_call(s, agent_get, "nobody", NULL, &ar), AT_ENOENT);
    struct at_agent_rec *recs;
    size_t n;
    assert_int_equal(at_store_call(s, agent_list, NULL, &recs, &n), 0);
    assert_int_equal(n, 3);
    record(log, "agent_list", agents_json(recs, n));
    assert_int_equal(at_store_call(s, agent_search, "100%", &recs, &n), 0);
    assert_int_equal(n, 2); /* the % is literal; one per name */
    record(log, "agent_search", agents_json(recs, n));
    assert_int_equal(at_store_call(s, agent_search, "of_", &recs, &n), 0);
    assert_int_equal(n, 2);
    at_agent_recs_free(recs, n);
    assert_int_equal(at_store_call(s, agent_search, "zzz", &recs, &n), 0);
    assert_int_equal(n, 0);
    at_agent_recs_free(recs, n);
    int del = 0;
    assert_int_equal(at_store_call(s, agent_delete, "word-count", "0.1.0", &del), 0);
    assert_int_equal(del, 1);
    assert_int_equal(at_store_call(s, agent_delete, "word-count", NULL, &del), 0);
    assert_int_equal(del, 0);

    json_t *def = json_pack("{s:s,s:[{s:s}]}", "name", "pipe", "steps", "agent", "summarizer");
    struct at_chain_rec ch = {.name = "pipe",
                              .definition = def,
                              .source = "/c.yaml",
                              .digest = "d1",
                              .registered_ms = T0};
    assert_int_equal(at_store_call(s, chain_put, &ch), 0);
    ch.digest = "d2";
    assert_int_equal(at_store_call(s, chain_put, &ch), 0); /* replaced */
    ch.name = "another";
    assert_int_equal(at_store_call(s, chain_put, &ch), 0);
    json_decref(def);
    struct at_chain_rec *chains;
    assert_int_equal(at_store_call(s, chain_list, &chains, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(chains[0].name, "another");
    assert_string_equal(chains[1].digest, "d2");
    at_chain_recs_free(chains, n);
    assert_int_equal(at_store_call(s, chain_delete, "another", &del), 0);
    assert_int_equal(del, 1);

    char *v = NULL;
    assert_int_equal(at_store_call(s, kv_put, "k", "one"), 0);
    assert_int_equal(at_store_call(s, kv_put, "k", "two"), 0);
    assert_int_equal(at_store_call(s, kv_get, "k", &v), 0);
    assert_string_equal(v, "two");
    free(v);
    assert_int_equal(at_store_call(s, kv_put, "k", NULL), 0);
    assert_int_equal(at_store_call(s, kv_get, "k", &v), AT_ENOENT);

    /* ---- jobs: a tree, a trigger's run, an old finished tree ---- */
    job(s, "j-root", "summarizer", NULL, NULL, AT_JOB_COMPLETED, 0, T0, NULL, "cli");
    job(s, "j-child", "word-count", "j-root", "j-root", AT_JOB_COMPLETED, 0, T0 + 1,
        json_pack("{s:i}", "progress", 3), "spawn");
    job(s, "j-trig", "summarizer", NULL, NULL, AT_JOB_FAILED, 0, T0 + 2,
        json_pack("{s:{s:{s:s}}}", "event", "source", "name", "nightly"), "trigger");
    job(s, "j-queued", "summarizer", NULL, NULL, AT_JOB_QUEUED, 5, T0 + 3, NULL, "http");
    job(s, "j-low", "summarizer", NULL, NULL, AT_JOB_QUEUED, 0, T0 + 4, NULL, "http");
    job(s, "j-old", "word-count", NULL, NULL, AT_JOB_COMPLETED, 0, T0 - 86400000LL * 40, NULL,
        "cli");
    /* a duplicate id is refused */
    struct at_job_rec dup = {0};
    snprintf(dup.id, sizeof(dup.id), "j-root");
    dup.agent = "x";
    dup.root_id = "j-root";
    assert_int_equal(at_store_call(s, job_insert, &dup), AT_EEXIST);

    struct at_job_rec jr;
    assert_int_equal(at_store_call(s, job_get, "j-child", &jr), 0);
    assert_string_equal(jr.parent_id, "j-root");
    assert_int_equal(json_integer_value(json_object_get(jr.meta, "progress")), 3);
    jr.state = AT_JOB_COMPLETED;
    jr.attempts = 2;
    json_decref(jr.output);
    jr.output = json_object();
    json_object_set_new(jr.output, "nul", json_stringn("a\0b", 3)); /* a NUL inside */
    assert_int_equal(at_store_call(s, job_update, &jr), 0);
    at_job_rec_release(&jr);
    assert_int_equal(at_store_call(s, job_get, "nope", &jr), AT_ENOENT);
    struct at_job_rec missing = {0};
    snprintf(missing.id, sizeof(missing.id), "nope");
    assert_int_equal(at_store_call(s, job_update, &missing), AT_ENOENT);

    struct at_job_rec *jobs;
    struct at_job_filter f = {.state = -1};
    assert_int_equal(at_store_call(s, job_list, &f, &jobs, &n), 0);
    assert_int_equal(n, 6);
    assert_string_equal(jobs[0].id, "j-old"); /* newest seq first */
    int64_t mid = jobs[2].seq;
    record(log, "job_list", jobs_json(jobs, n));
    struct at_job_filter f2 = {.state = AT_JOB_QUEUED, .agent = "summarizer", .limit = 1};
    assert_int_equal(at_store_call(s, job_list, &f2, &jobs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].id, "j-low");
    at_job_recs_free(jobs, n);
    struct at_job_filter f3 = {.state = -1, .before_seq = mid, .since_ms = T0};
    assert_int_equal(at_store_call(s, job_list, &f3, &jobs, &n), 0);
    record(log, "job_list_before", jobs_json(jobs, n));
    struct at_job_filter f4 = {.state = -1, .trigger = "nightly"};
    assert_int_equal(at_store_call(s, job_list, &f4, &jobs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].id, "j-trig");
    at_job_recs_free(jobs, n);
    struct at_job_filter f5 = {.state = -1, .parent = "j-root", .source = "spawn"};
    assert_int_equal(at_store_call(s, job_list, &f5, &jobs, &n), 0);
    assert_int_equal(n, 1);
    at_job_recs_free(jobs, n);
    assert_int_equal(at_store_call(s, job_unfinished, &jobs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(jobs[0].id, "j-queued"); /* priority first */
    record(log, "job_unfinished", jobs_json(jobs, n));

    /* ---- usage ---- */
    usage(s, "u1", "j-root", "j-root", "summarizer", "m1", 100, 20, 0.5, T0);
    usage(s, "u2", "j-child", "j-root", "word-count", "m2", 10, 2, 0.25, T0 + 86400000LL);
    usage(s, "u3", "j-trig", "j-trig", "summarizer", "m1", INT64_MAX, 1, 0.125, T0);
    usage(s, "u4", NULL, NULL, NULL, "m1", 1, 1, 0, T0);
    struct at_usage_rec emb = {.root_id = "j-root",
                               .job_id = "j-root",
                               .model = "e1",
                               .tokens_in = 5,
                               .cost_usd = 0.0625,
                               .created_ms = T0 + 3,
                               .kind = "embeddings"};
    snprintf(emb.id, sizeof(emb.id), "u5");
    assert_int_equal(at_store_call(s, usage_insert, &emb), 0);
    const char *groups[] = {"agent",  "model",   "backend", "kind", "day",
                            "job_id", "root_id", "trigger", "all"};
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        struct at_usage_filter uf = {.group_by = groups[i]};
        json_t *out = NULL;
        assert_int_equal(at_store_call(s, usage_sum, &uf, &out), 0);
        record(log, groups[i], out);
    }
    struct at_usage_filter uf = {.group_by = "model", .per_day = 1, .root_id = "j-root"};
    json_t *out = NULL;
    assert_int_equal(at_store_call(s, usage_sum, &uf, &out), 0);
    assert_int_equal(json_array_size(out), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "day")),
                        "2025-06-15");
    record(log, "usage_per_day", out);
    struct at_usage_filter ufa = {.group_by = "all"};
    assert_int_equal(at_store_call(s, usage_sum, &ufa, &out), 0);
    /* saturated, not wrapped */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "tokens_in")),
                     INT64_MAX);
    json_decref(out);
    struct at_usage_filter bad = {.group_by = "nope"};
    assert_int_equal(at_store_call(s, usage_sum, &bad, &out), AT_EINVAL);

    /* ---- monitor ---- */
    struct at_log_line lines[] = {
        {"j-root", "j-root", 1, T0, "stderr", "hello"},
        {"j-root", "j-root", 2, T0 + 1, "stderr", "bad \xff byte"},
    };
    assert_int_equal(at_store_call(s, log_append, lines, 2), 0);
    json_t *logs = NULL;
    assert_int_equal(at_store_call(s, log_get, "j-root", &logs), 0);
    assert_int_equal(json_array_size(logs), 2);
    json_decref(logs); /* invalid UTF-8 is stored as is (SQLite) or replaced (PostgreSQL) */
    json_t *attrs = json_pack("{s:s}", "tool", "atlas.run_agent");
    struct at_span_rec sp = {.id = "s1",
                             .root_id = "j-root",
                             .job_id = "j-root",
                             .kind = "tool",
                             .name = "atlas.run_agent",
                             .status = "ok",
                             .started_ms = T0 + 2,
                             .duration_ms = 3,
                             .attrs = attrs};
    assert_int_equal(at_store_call(s, span_put, &sp), 0);
    sp.id = "u1";
    sp.kind = "model";
    assert_int_equal(at_store_call(s, span_put, &sp), 0);
    json_decref(attrs);
    json_t *edef = json_pack("{s:s}", "name", "e1");
    struct at_eval_rec ev = {.name = "e1",
                             .target_agent = "summarizer",
                             .trigger = "manual",
                             .definition = edef,
                             .source = "eval: {}",
                             .registered_ms = T0};
    assert_int_equal(at_store_call(s, eval_put, &ev), 0);
    assert_int_equal(at_store_call(s, eval_put, &ev), 0);
    ev.name = "e0";
    assert_int_equal(at_store_call(s, eval_put, &ev), 0);
    json_decref(edef);
    json_t *evals = NULL;
    assert_int_equal(at_store_call(s, eval_list, &evals), 0);
    assert_int_equal(json_array_size(evals), 2);
    record(log, "eval_list", evals);
    assert_int_equal(at_store_call(s, eval_delete, "e0", &del), 0);
    assert_int_equal(del, 1);
    struct at_eval_result er = {.id = "r1",
                                .eval = "e1",
                                .job_id = "j-root",
                                .root_id = "j-root",
                                .agent = "summarizer",
                                .check_name = "len",
                                .type = "assert",
                                .passed = 1,
                                .has_score = 1,
                                .score = 0.75,
                                .detail = "fine",
                                .tokens = 3,
                                .cost_usd = 0.5,
                                .created_ms = T0 + 9};
    assert_int_equal(at_store_call(s, eval_result_put, &er), 0);
    er.id = "r2";
    er.has_score = 0;
    er.passed = 0;
    er.created_ms = T0 + 10;
    assert_int_equal(at_store_call(s, eval_result_put, &er), 0);
    json_t *res = NULL;
    assert_int_equal(at_store_call(s, eval_results, "j-root", NULL, 0, &res), 0);
    assert_int_equal(json_array_size(res), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "id")), "r2");
    assert_true(json_is_null(json_object_get(json_array_get(res, 0), "score")));
    record(log, "eval_results", res);
    assert_int_equal(at_store_call(s, eval_results, NULL, "e1", 1, &res), 0);
    assert_int_equal(json_array_size(res), 1);
    json_decref(res);

    struct at_trace_filter tf = {.limit = 10};
    json_t *traces = NULL;
    assert_int_equal(at_store_call(s, trace_list, &tf, &traces), 0);
    assert_int_equal(json_array_size(traces), 5);
    record(log, "trace_list", traces);
    struct at_trace_filter tf2 = {.status = "failed", .agent = "summarizer"};
    assert_int_equal(at_store_call(s, trace_list, &tf2, &traces), 0);
    assert_int_equal(json_array_size(traces), 1);
    json_decref(traces);
    struct at_trace_filter tf3 = {.status = "bogus"};
    assert_int_equal(at_store_call(s, trace_list, &tf3, &traces), 0);
    assert_int_equal(json_array_size(traces), 0);
    json_decref(traces);
    json_t *tr = NULL;
    assert_int_equal(at_store_call(s, trace_load, "j-root", &tr), 0);
    assert_int_equal(json_array_size(json_object_get(tr, "jobs")), 2);
    assert_int_equal(json_array_size(json_object_get(tr, "usage")), 3);
    assert_int_equal(json_array_size(json_object_get(tr, "spans")), 1);
    assert_int_equal(json_array_size(json_object_get(tr, "evals")), 2);
    record(log, "trace_load", tr);

    /* ---- a writer batch in which one write fails: the others commit ---- */
    assert_int_equal(s->ops->begin(s), 0);
    assert_int_equal(at_store_call(s, kv_put, "batch", "a"), 0);
    assert_int_equal(at_store_call(s, job_insert, &dup), AT_EEXIST);
    assert_int_equal(at_store_call(s, kv_put, "batch2", "b"), 0);
    assert_int_equal(s->ops->commit(s), 0);
    assert_int_equal(at_store_call(s, kv_get, "batch2", &v), 0);
    free(v);
    assert_int_equal(s->ops->begin(s), 0);
    assert_int_equal(at_store_call(s, kv_put, "gone", "x"), 0);
    assert_int_equal(s->ops->rollback(s), 0);
    assert_int_equal(at_store_call(s, kv_get, "gone", &v), AT_ENOENT);

    /* ---- retention ---- */
    int pruned = 0;
    assert_int_equal(at_store_call(s, job_prune, T0 - 86400000LL, -1, 0, &pruned), 0);
    assert_int_equal(pruned, 1); /* j-old */
    assert_int_equal(at_store_call(s, job_prune, 0, 1, 0, &pruned), 0);
    assert_int_equal(pruned, 1); /* keep the newest finished root (j-trig): j-root goes */
    assert_int_equal(at_store_call(s, job_get, "j-child", &jr), AT_ENOENT);
    assert_int_equal(at_store_call(s, log_get, "j-root", &logs), 0);
    assert_int_equal(json_array_size(logs), 0);
    json_decref(logs);
    assert_int_equal(at_store_call(s, trace_prune, 0, 1, 5, &pruned), 0);
    assert_int_equal(pruned, 1); /* over any size: the oldest finished (j-trig) */
    assert_int_equal(at_store_call(s, job_unfinished, &jobs, &n), 0);
    assert_int_equal(n, 2); /* queued ones are never pruned */
    at_job_recs_free(jobs, n);
    assert_int_equal(at_store_call(s, usage_sum, &ufa, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "calls")), 5);
    json_decref(out); /* usage stays for cost reports */
}

/* Reopened, the store has what was written. */
static void check_reopened(struct at_store *s)
{
    struct at_job_rec jr;
    assert_int_equal(at_store_call(s, job_get, "j-queued", &jr), 0);
    assert_int_equal(jr.priority, 5);
    at_job_rec_release(&jr);
    char *v = NULL;
    assert_int_equal(at_store_call(s, kv_get, "batch", &v), 0);
    assert_string_equal(v, "a");
    free(v);
}

static void run_backend(const char *backend)
{
    json_t *log = json_array();
    struct at_store *s = open_backend(backend);
    run_suite(s, log);
    at_store_close(s);
    s = open_backend(backend);
    check_reopened(s);
    at_store_close(s);
    if (!sqlite_log) {
        sqlite_log = log;
        return;
    }
    if (!json_equal(sqlite_log, log)) {
        for (size_t i = 0; i < json_array_size(log); i++) {
            json_t *a = json_array_get(sqlite_log, i), *b = json_array_get(log, i);
            if (!json_equal(a, b)) {
                char *x = json_dumps(a, JSON_SORT_KEYS), *y = json_dumps(b, JSON_SORT_KEYS);
                fprintf(stderr, "sqlite:   %s\n%s: %s\n", x, backend, y);
                free(x);
                free(y);
                break;
            }
        }
    }
    assert_true(json_equal(sqlite_log, log));
    json_decref(log);
}

static void test_sqlite(void **state)
{
    (void)state;
    run_backend("sqlite");
}

static void test_postgres(void **state)
{
    (void)state;
    if (!pg_url()) {
        fprintf(stderr, "skip: no PostgreSQL (ATLAS_TEST_PG_URL; tests/unit/pg_wrap.sh sets it)\n");
        skip();
    }
    assert_non_null(sqlite_log);
    run_backend("postgres");
}

/* A second store on the same database refuses: one atlasd per database. */
static void test_postgres_single_instance(void **state)
{
    (void)state;
    if (!pg_url())
        skip();
    struct at_store *a = open_backend("postgres");
    struct at_store_cfg cfg = {.backend = "postgres", .url = pg_url()};
    struct at_store *b = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_store_open(&cfg, &b, &d), AT_EBUSY);
    assert_non_null(strstr(d.msg, "several replicas are not supported yet"));
    at_store_close(a);
    /* and once the first is gone, a new one opens */
    b = open_backend("postgres");
    at_store_close(b);
}

/* A URL's password is never in what the store says. */
static void test_postgres_errors(void **state)
{
    (void)state;
    struct at_store_cfg cfg = {.backend = "postgres"};
    struct at_store *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_store_open(&cfg, &s, &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "ATLAS_STORE_URL"));
    at_diag_clear(&d);
    cfg.url = "postgresql://atlas:s3cret-pw@127.0.0.1:1/atlas?connect_timeout=2";
    assert_int_equal(at_store_open(&cfg, &s, &d), AT_EIO);
    assert_non_null(strstr(d.msg, "cannot connect to PostgreSQL"));
    assert_null(strstr(d.msg, "s3cret-pw"));
    at_diag_clear(&d);
    cfg.url = "host=/nonexistent password=s3cret-pw =broken";
    assert_int_equal(at_store_open(&cfg, &s, &d), AT_EINVAL);
    assert_null(strstr(d.msg, "s3cret-pw"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_postgres),
        cmocka_unit_test(test_postgres_single_instance),
        cmocka_unit_test(test_postgres_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
