/* Unit tests: the SQLite store (agents, jobs, usage, kv), the writer's
 * group commit, persistence across reopen. */
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "store/store.h"
#include "store/writer.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];
static char db[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/atlas-store-test.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof(db), "%s/atlas.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    at_fs_remove_tree(dir);
    return 0;
}

static struct at_store *open_store(void)
{
    struct at_store_cfg cfg = {.backend = "sqlite", .path = db};
    struct at_store *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_store_open(&cfg, &s, &d), 0);
    return s;
}

static void put_agent(struct at_store *s, const char *name, const char *version, const char *digest,
                      int force, int want)
{
    json_t *c = json_pack("{s:s,s:s,s:s,s:[s]}", "name", name, "version", version, "description",
                          "does things", "capabilities", "summarization");
    struct at_agent_rec r = {.name = (char *)name,
                             .version = (char *)version,
                             .digest = (char *)digest,
                             .kind = "local",
                             .source = "/x",
                             .contract = c};
    assert_int_equal(at_store_call(s, agent_put, &r, force), want);
    json_decref(c);
}

static void test_agents(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    put_agent(s, "a", "1.2.0", "sha256:1", 0, 0);
    put_agent(s, "a", "1.2.0", "sha256:1", 0, AT_AGAIN);  /* same content */
    put_agent(s, "a", "1.2.0", "sha256:2", 0, AT_EEXIST); /* other content */
    put_agent(s, "a", "1.2.0", "sha256:2", 1, 0);         /* forced */
    put_agent(s, "a", "1.10.0", "sha256:3", 0, 0);
    put_agent(s, "a", "1.10.0-rc.1", "sha256:4", 0, 0);
    put_agent(s, "b", "0.1.0", "sha256:5", 0, 0);
    struct at_agent_rec r;
    assert_int_equal(at_store_call(s, agent_get, "a", NULL, &r), 0);
    assert_string_equal(r.version, "1.10.0"); /* semver, not text order */
    at_agent_rec_release(&r);
    assert_int_equal(at_store_call(s, agent_get, "a", "1.2.0", &r), 0);
    assert_string_equal(r.digest, "sha256:2");
    at_agent_rec_release(&r);
    assert_int_equal(at_store_call(s, agent_get, "zzz", NULL, &r), AT_ENOENT);
    struct at_agent_rec *list;
    size_t n;
    assert_int_equal(at_store_call(s, agent_list, NULL, &list, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(list[0].version, "1.10.0"); /* newest first per name */
    assert_string_equal(list[3].name, "b");
    at_agent_recs_free(list, n);
    assert_int_equal(at_store_call(s, agent_search, "summar", &list, &n), 0);
    assert_int_equal(n, 2); /* highest version of each name */
    at_agent_recs_free(list, n);
    assert_int_equal(at_store_call(s, agent_search, "100%", &list, &n), 0);
    assert_int_equal(n, 0); /* LIKE wildcards are literal */
    at_agent_recs_free(list, n);
    int deleted;
    assert_int_equal(at_store_call(s, agent_delete, "a", "1.10.0", &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(at_store_call(s, agent_delete, "a", NULL, &deleted), 0);
    assert_int_equal(deleted, 2);
    at_store_close(s);
}

static void mkjob(struct at_job_rec *r, const char *id, int prio, enum at_job_state st)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->agent = "echo";
    r->agent_version = "1.0.0";
    r->priority = prio;
    r->state = st;
    r->input = json_pack("{s:s}", "id", id);
    r->created_ms = at_wall_ms();
}

static void test_jobs(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    struct at_job_rec r;
    mkjob(&r, "job_1", 0, AT_JOB_QUEUED);
    assert_int_equal(at_store_call(s, job_insert, &r), 0);
    assert_true(r.seq > 0);
    assert_int_equal(at_store_call(s, job_insert, &r), AT_EEXIST); /* ids are unique */
    json_decref(r.input);
    mkjob(&r, "job_2", 5, AT_JOB_RUNNING);
    at_store_call(s, job_insert, &r);
    json_decref(r.input);
    mkjob(&r, "job_3", 0, AT_JOB_QUEUED);
    at_store_call(s, job_insert, &r);
    r.state = AT_JOB_COMPLETED;
    r.output = json_pack("{s:i}", "ok", 1);
    r.finished_ms = at_wall_ms();
    assert_int_equal(at_store_call(s, job_update, &r), 0);
    json_decref(r.input);
    json_decref(r.output);
    mkjob(&r, "job_missing", 0, AT_JOB_QUEUED);
    assert_int_equal(at_store_call(s, job_update, &r), AT_ENOENT);
    json_decref(r.input);

    struct at_job_rec got;
    assert_int_equal(at_store_call(s, job_get, "job_3", &got), 0);
    assert_int_equal(got.state, AT_JOB_COMPLETED);
    assert_int_equal(json_integer_value(json_object_get(got.output, "ok")), 1);
    at_job_rec_release(&got);

    struct at_job_rec *list;
    size_t n;
    assert_int_equal(at_store_call(s, job_unfinished, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "job_2"); /* priority first */
    at_job_recs_free(list, n);
    struct at_job_filter f = {.state = AT_JOB_COMPLETED};
    assert_int_equal(at_store_call(s, job_list, &f, &list, &n), 0);
    assert_int_equal(n, 1);
    at_job_recs_free(list, n);
    struct at_job_filter all = {.state = -1, .limit = 2};
    assert_int_equal(at_store_call(s, job_list, &all, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "job_3"); /* newest first */
    int64_t before = list[1].seq;
    at_job_recs_free(list, n);
    struct at_job_filter page = {.state = -1, .before_seq = before};
    assert_int_equal(at_store_call(s, job_list, &page, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "job_1");
    at_job_recs_free(list, n);
    int deleted;
    assert_int_equal(at_store_call(s, job_prune, at_wall_ms() + 1000, -1, 0, &deleted), 0);
    assert_int_equal(deleted, 1); /* only finished jobs are pruned */
    at_store_close(s);

    /* everything is still there after reopening */
    s = open_store();
    assert_int_equal(at_store_call(s, job_get, "job_2", &got), 0);
    assert_int_equal(got.priority, 5);
    at_job_rec_release(&got);
    at_store_close(s);
}

static void test_usage_and_kv(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    const char *models[] = {"m1", "m2", "m1"};
    for (int i = 0; i < 3; i++) {
        struct at_usage_rec u = {.job_id = "job_1",
                                 .root_id = "job_1",
                                 .agent = "a",
                                 .backend = "local",
                                 .model = (char *)models[i],
                                 .tokens_in = 10,
                                 .tokens_out = 5,
                                 .cost_usd = 0.5,
                                 .latency_ms = 3,
                                 .ttft_ms = 1};
        snprintf(u.id, sizeof(u.id), "call_%d", i);
        assert_int_equal(at_store_call(s, usage_insert, &u), 0);
    }
    json_t *out;
    struct at_usage_filter f = {.group_by = "model"};
    assert_int_equal(at_store_call(s, usage_sum, &f, &out), 0);
    assert_int_equal(json_array_size(out), 2);
    json_t *first = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(first, "key")), "m1");
    assert_int_equal(json_integer_value(json_object_get(first, "tokens_in")), 20);
    json_decref(out);
    struct at_usage_filter bad = {.group_by = "name; DROP TABLE usage"};
    assert_int_equal(at_store_call(s, usage_sum, &bad, &out), AT_EINVAL);
    char *v = NULL;
    assert_int_equal(at_store_call(s, kv_put, "orchestrator", "default"), 0);
    assert_int_equal(at_store_call(s, kv_get, "orchestrator", &v), 0);
    assert_string_equal(v, "default");
    free(v);
    assert_int_equal(at_store_call(s, kv_put, "orchestrator", NULL), 0);
    assert_int_equal(at_store_call(s, kv_get, "orchestrator", &v), AT_ENOENT);
    at_store_close(s);
}

/* A finished tree: root rid with nchild children, finished at fin_ms
 * (a child left running when running is set), one log line per job and
 * one usage row for the root. */
static void put_tree(struct at_store *s, const char *rid, int nchild, int64_t fin_ms, int running)
{
    struct at_job_rec r;
    mkjob(&r, rid, 0, AT_JOB_COMPLETED);
    r.root_id = (char *)rid;
    r.finished_ms = fin_ms;
    assert_int_equal(at_store_call(s, job_insert, &r), 0);
    json_decref(r.input);
    for (int i = 0; i < nchild; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s_c%d", rid, i);
        int live = running && i == 0;
        mkjob(&r, id, 0, live ? AT_JOB_RUNNING : AT_JOB_COMPLETED);
        r.parent_id = (char *)rid;
        r.root_id = (char *)rid;
        r.depth = 1;
        r.finished_ms = live ? 0 : fin_ms;
        assert_int_equal(at_store_call(s, job_insert, &r), 0);
        json_decref(r.input);
        struct at_log_line l = {
            .job_id = id, .root_id = rid, .seq = 1, .stream = "stderr", .text = "hello"};
        assert_int_equal(at_store_call(s, log_append, &l, 1), 0);
    }
    struct at_usage_rec u = {.job_id = (char *)rid,
                             .root_id = (char *)rid,
                             .model = "m",
                             .tokens_in = 1,
                             .tokens_out = 1,
                             .latency_ms = -1,
                             .ttft_ms = -1};
    snprintf(u.id, sizeof(u.id), "u_%s", rid);
    assert_int_equal(at_store_call(s, usage_insert, &u), 0);
}

static int job_exists(struct at_store *s, const char *id)
{
    struct at_job_rec got;
    if (at_store_call(s, job_get, id, &got))
        return 0;
    at_job_rec_release(&got);
    return 1;
}

static void test_job_retention(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    int64_t now = at_wall_ms(), day = 86400000;
    put_tree(s, "job_old1", 2, now - 40 * day, 0);
    put_tree(s, "job_old2", 1, now - 35 * day, 1); /* a child still running */
    put_tree(s, "job_mid", 1, now - 10 * day, 0);
    put_tree(s, "job_new1", 0, now - 2 * day, 0);
    put_tree(s, "job_new2", 3, now - 1 * day, 0);
    int deleted = -1;
    /* by age: trees older than 30 days, except the one with a running child */
    assert_int_equal(at_store_call(s, job_prune, now - 30 * day, -1, 0, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_false(job_exists(s, "job_old1"));
    assert_false(job_exists(s, "job_old1_c0")); /* the children go with the root */
    assert_false(job_exists(s, "job_old1_c1"));
    assert_true(job_exists(s, "job_old2"));
    json_t *logs = NULL;
    assert_int_equal(at_store_call(s, log_get, "job_old1_c0", &logs), 0);
    assert_int_equal(json_array_size(logs), 0); /* and their logs */
    json_decref(logs);
    json_t *sum = NULL;
    struct at_usage_filter f = {.group_by = "all"};
    assert_int_equal(at_store_call(s, usage_sum, &f, &sum), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(sum, 0), "calls")), 5);
    json_decref(sum); /* usage rows stay for cost reports */
    /* by count: keep the 2 newest finished roots (job_new1, job_new2);
     * job_old2 is older but has a running child, so it stays too */
    assert_int_equal(at_store_call(s, job_prune, 0, 2, 0, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_false(job_exists(s, "job_mid"));
    assert_true(job_exists(s, "job_new1"));
    assert_true(job_exists(s, "job_new2_c2"));
    assert_true(job_exists(s, "job_old2"));
    /* at most max_trees per call */
    assert_int_equal(at_store_call(s, job_prune, 0, 0, 1, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(at_store_call(s, job_prune, 0, 0, 1, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(at_store_call(s, job_prune, 0, 0, 1, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_true(job_exists(s, "job_old2"));
    /* the writer's helper loops to the end */
    for (int i = 0; i < 1500; i++) {
        char id[32];
        snprintf(id, sizeof(id), "job_many%d", i);
        put_tree(s, id, 0, now - 5 * day, 0);
    }
    struct at_writer *w;
    assert_int_equal(at_writer_new(s, 16, &w), 0);
    long long total = 0;
    assert_int_equal(at_writer_job_prune(w, s, now - day, -1, &total), 0);
    assert_int_equal(total, 1500);
    at_writer_free(w);
    at_store_close(s);
}

/* Sums of usage saturate at INT64_MAX instead of failing ("integer
 * overflow") or wrapping negative: /costs and traces keep answering. */
static void test_usage_saturates(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    struct at_job_rec r;
    mkjob(&r, "job_big", 0, AT_JOB_COMPLETED);
    r.root_id = "job_big";
    r.finished_ms = at_wall_ms();
    assert_int_equal(at_store_call(s, job_insert, &r), 0);
    json_decref(r.input);
    const long long big = INT64_MAX - 10;
    for (int i = 0; i < 3; i++) {
        struct at_usage_rec u = {.job_id = "job_big",
                                 .root_id = "job_big",
                                 .agent = "a",
                                 .model = i == 2 ? "small" : "huge",
                                 .tokens_in = i == 2 ? 5 : big,
                                 .tokens_out = i == 2 ? 7 : big,
                                 .cost_usd = 1.0,
                                 .latency_ms = -1,
                                 .ttft_ms = -1};
        snprintf(u.id, sizeof(u.id), "big_%d", i);
        assert_int_equal(at_store_call(s, usage_insert, &u), 0);
    }
    json_t *out = NULL;
    struct at_usage_filter all = {.group_by = "all"};
    assert_int_equal(at_store_call(s, usage_sum, &all, &out), 0);
    json_t *row = json_array_get(out, 0);
    assert_int_equal(json_integer_value(json_object_get(row, "calls")), 3);
    assert_true(json_integer_value(json_object_get(row, "tokens_in")) == INT64_MAX);
    assert_true(json_integer_value(json_object_get(row, "tokens_out")) == INT64_MAX);
    json_decref(out);
    /* exact below the limit */
    struct at_usage_filter by_model = {.group_by = "model"};
    assert_int_equal(at_store_call(s, usage_sum, &by_model, &out), 0);
    assert_int_equal(json_array_size(out), 2);
    for (size_t i = 0; i < 2; i++) {
        row = json_array_get(out, i);
        const char *k = json_string_value(json_object_get(row, "key"));
        long long tin = json_integer_value(json_object_get(row, "tokens_in"));
        if (strcmp(k, "small") == 0)
            assert_int_equal(tin, 5);
        else
            assert_true(tin == INT64_MAX);
    }
    json_decref(out);
    struct at_trace_filter tf = {.limit = 10};
    assert_int_equal(at_store_call(s, trace_list, &tf, &out), 0);
    assert_int_equal(json_array_size(out), 1);
    json_t *tokens = json_object_get(json_array_get(out, 0), "tokens");
    assert_true(json_is_integer(tokens));
    assert_true(json_integer_value(tokens) == INT64_MAX);
    json_decref(out);
    /* and the other way */
    struct at_usage_rec neg = {.job_id = "job_neg",
                               .root_id = "job_neg",
                               .model = "neg",
                               .tokens_in = INT64_MIN + 1,
                               .tokens_out = 0,
                               .latency_ms = -1,
                               .ttft_ms = -1};
    snprintf(neg.id, sizeof(neg.id), "neg_1");
    assert_int_equal(at_store_call(s, usage_insert, &neg), 0);
    snprintf(neg.id, sizeof(neg.id), "neg_2");
    assert_int_equal(at_store_call(s, usage_insert, &neg), 0);
    struct at_usage_filter nf = {.group_by = "model", .root_id = "job_neg"};
    assert_int_equal(at_store_call(s, usage_sum, &nf, &out), 0);
    assert_true(json_integer_value(json_object_get(json_array_get(out, 0), "tokens_in")) ==
                INT64_MIN);
    json_decref(out);
    at_store_close(s);
}

struct wstate {
    int done;
    int rc;
};

static int w_insert(struct at_store *s, void *arg)
{
    struct at_job_rec *r = arg;
    return s->ops->job_insert(s, r);
}

static void w_done(int rc, void *arg)
{
    struct at_job_rec *r = arg;
    (void)rc;
    r->attempts = rc == 0 ? 1 : -1;
}

static void test_writer_group_commit(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    struct at_writer *w;
    assert_int_equal(at_writer_new(s, 5000, &w), 0);
    enum { N = 2000 };
    struct at_job_rec *recs = calloc(N, sizeof(*recs));
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "job_w%d", i);
        mkjob(&recs[i], id, 0, AT_JOB_QUEUED);
        assert_int_equal(at_writer_submit(w, w_insert, w_done, &recs[i]), 0);
    }
    at_writer_flush(w);
    struct at_writer_stats st;
    at_writer_get_stats(w, &st);
    assert_int_equal(st.writes, N);
    assert_true(st.commits < N); /* batched */
    for (int i = 0; i < N; i++) {
        assert_int_equal(recs[i].attempts, 1);
        json_decref(recs[i].input);
    }
    /* a duplicate fails alone, the rest of its batch commits */
    mkjob(&recs[0], "job_w0", 0, AT_JOB_QUEUED);
    mkjob(&recs[1], "job_fresh", 0, AT_JOB_QUEUED);
    at_writer_submit(w, w_insert, w_done, &recs[0]);
    at_writer_submit(w, w_insert, w_done, &recs[1]);
    at_writer_flush(w);
    assert_int_equal(recs[0].attempts, -1);
    assert_int_equal(recs[1].attempts, 1);
    json_decref(recs[0].input);
    json_decref(recs[1].input);
    free(recs);
    at_writer_free(w);
    at_store_close(s);
}

/* A write that holds the writer thread until the test opens the gate. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
};

static int w_gate(struct at_store *s, void *arg)
{
    (void)s;
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

static int w_count(struct at_store *s, void *arg)
{
    (void)s;
    (*(int *)arg)++;
    return 0;
}

static void w_count_done(int rc, void *arg)
{
    (void)arg;
    assert_int_equal(rc, 0);
}

static int w_kv(struct at_store *s, void *arg)
{
    return s->ops->kv_put(s, "k", arg);
}

static void test_writer_bounded(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    struct at_writer *w;
    enum { MAX = 8 };
    assert_int_equal(at_writer_new(s, MAX, &w), 0);
    assert_int_equal(at_writer_max_pending(w), MAX);
    struct gate g = {.entered = 0, .open = 0};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    assert_int_equal(at_writer_submit(w, w_gate, NULL, &g), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    /* the writer is busy with the gate: exactly MAX more fit, then AT_EBUSY */
    int ran = 0;
    for (int i = 0; i < MAX; i++)
        assert_int_equal(at_writer_submit(w, w_count, w_count_done, &ran), 0);
    assert_int_equal(at_writer_submit(w, w_count, w_count_done, &ran), AT_EBUSY);
    assert_int_equal(at_writer_call(w, s, w_kv, "v"), AT_EBUSY); /* the synchronous path too */
    struct at_writer_stats st;
    at_writer_get_stats(w, &st);
    assert_int_equal(st.pending, MAX);
    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    at_writer_flush(w);
    assert_int_equal(ran, MAX); /* the refused write never ran */
    /* once drained, the queue takes writes again; a synchronous call
     * returns after its commit */
    assert_int_equal(at_writer_call(w, s, w_kv, "v2"), 0);
    char *v = NULL;
    assert_int_equal(at_store_call(s, kv_get, "k", &v), 0);
    assert_string_equal(v, "v2");
    free(v);
    at_writer_free(w);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
    at_store_close(s);
}

/* Coalescing (at_writer_submit_keyed): the writes of one job queued
 * behind a busy writer become one row, each completion still called, in
 * order, after the commit. */
struct kwrite {
    struct at_job_rec rec;
    int insert;
    int *order, *norder;
    int me, done_rc;
};

static int k_run(struct at_store *s, void *arg)
{
    struct kwrite *k = arg;
    return k->insert ? s->ops->job_insert(s, &k->rec) : s->ops->job_update(s, &k->rec);
}

static int k_merge(void *queued, void *arg)
{
    struct kwrite *q = queued, *n = arg;
    q->rec.state = n->rec.state;
    q->rec.attempts = n->rec.attempts;
    q->rec.started_ms = n->rec.started_ms;
    q->rec.finished_ms = n->rec.finished_ms;
    return 0;
}

static void k_done(int rc, void *arg)
{
    struct kwrite *k = arg;
    k->done_rc = rc;
    k->order[(*k->norder)++] = k->me;
}

static int g_merge(void *queued, void *arg)
{
    (void)queued;
    (void)arg;
    fail_msg("merged into a write the writer had already taken");
    return 1;
}

static void test_writer_coalesces(void **state)
{
    (void)state;
    struct at_store *s = open_store();
    struct at_writer *w;
    assert_int_equal(at_writer_new(s, 100, &w), 0);
    struct gate g = {.entered = 0, .open = 0};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    assert_int_equal(at_writer_submit_keyed(w, "job_g", w_gate, g_merge, NULL, &g, 0), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    int order[8], norder = 0;
    struct kwrite k[3];
    for (int i = 0; i < 3; i++) {
        memset(&k[i], 0, sizeof(k[i]));
        mkjob(&k[i].rec, "job_c", 0,
              i == 0   ? AT_JOB_QUEUED
              : i == 1 ? AT_JOB_RUNNING
                       : AT_JOB_COMPLETED);
        k[i].insert = i == 0;
        k[i].rec.attempts = i ? 1 : 0;
        k[i].rec.finished_ms = i == 2 ? 42 : 0;
        k[i].order = order;
        k[i].norder = &norder;
        k[i].me = i;
        k[i].done_rc = -1;
        assert_int_equal(at_writer_submit_keyed(w, "job_c", k_run, k_merge, k_done, &k[i], 0), 0);
    }
    /* the gate's key was taken already: a write of it queues on its own */
    int ran = 0;
    assert_int_equal(at_writer_submit_keyed(w, "job_g", w_count, g_merge, w_count_done, &ran, 0),
                     0);
    struct at_writer_stats st;
    at_writer_get_stats(w, &st);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.coalesced, 2);
    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    at_writer_flush(w);
    assert_int_equal(ran, 1);
    assert_int_equal(norder, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(order[i], i); /* completions in submission order */
        assert_int_equal(k[i].done_rc, 0);
        json_decref(k[i].rec.input);
    }
    struct at_job_rec got;
    assert_int_equal(at_store_call(s, job_get, "job_c", &got), 0);
    assert_int_equal(got.state, AT_JOB_COMPLETED); /* one INSERT with the last record */
    assert_int_equal(got.finished_ms, 42);
    at_job_rec_release(&got);
    at_writer_get_stats(w, &st);
    assert_int_equal(st.writes, 5);
    /* once taken, a later write of the same job is a write of its own */
    norder = 0;
    struct kwrite again;
    memset(&again, 0, sizeof(again));
    mkjob(&again.rec, "job_c", 0, AT_JOB_FAILED);
    again.order = order;
    again.norder = &norder;
    assert_int_equal(at_writer_submit_keyed(w, "job_c", k_run, k_merge, k_done, &again, 0), 0);
    at_writer_flush(w);
    assert_int_equal(again.done_rc, 0);
    json_decref(again.rec.input);
    assert_int_equal(at_store_call(s, job_get, "job_c", &got), 0);
    assert_int_equal(got.state, AT_JOB_FAILED);
    at_job_rec_release(&got);
    /* the window: a held insert waits for the job's end, then both are
     * one row; one nobody follows is written once the window is over */
    at_writer_set_window(w, 10000); /* long: the test never relies on it running out */
    norder = 0;
    struct kwrite h[2];
    for (int i = 0; i < 2; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        mkjob(&h[i].rec, "job_h", 0, i == 0 ? AT_JOB_RUNNING : AT_JOB_COMPLETED);
        h[i].insert = i == 0;
        h[i].rec.finished_ms = i ? 7 : 0;
        h[i].order = order;
        h[i].norder = &norder;
        h[i].me = i;
        h[i].done_rc = -1;
    }
    assert_int_equal(at_writer_submit_keyed(w, "job_h", k_run, k_merge, k_done, &h[0], 1), 0);
    at_writer_get_stats(w, &st);
    assert_int_equal(st.pending, 1); /* held */
    assert_int_equal(at_store_call(s, job_get, "job_h", &got), AT_ENOENT);
    assert_int_equal(at_writer_submit_keyed(w, "job_h", k_run, k_merge, k_done, &h[1], 0), 0);
    at_writer_flush(w); /* the fold released it at once */
    assert_int_equal(norder, 2);
    assert_int_equal(at_store_call(s, job_get, "job_h", &got), 0);
    assert_int_equal(got.state, AT_JOB_COMPLETED);
    assert_int_equal(got.finished_ms, 7);
    at_job_rec_release(&got);
    for (int i = 0; i < 2; i++)
        json_decref(h[i].rec.input);
    at_writer_set_window(w, 20);
    memset(&h[0], 0, sizeof(h[0]));
    mkjob(&h[0].rec, "job_alone", 0, AT_JOB_RUNNING);
    h[0].insert = 1;
    h[0].order = order;
    h[0].norder = &norder;
    int64_t t0 = at_now_ns();
    assert_int_equal(at_writer_submit_keyed(w, "job_alone", k_run, k_merge, k_done, &h[0], 1), 0);
    at_writer_flush(w);
    assert_true(at_now_ns() - t0 >= 20000000); /* it waited for the window */
    assert_int_equal(h[0].done_rc, 0);
    json_decref(h[0].rec.input);
    assert_int_equal(at_store_call(s, job_get, "job_alone", &got), 0);
    at_job_rec_release(&got);
    at_writer_free(w);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
    at_store_close(s);
}

/* The fault hook (fault.c): the Nth operation (of a name or class) fails
 * without running; a failed commit rolls back and releases the writer. */
static void test_fault_hook(void **state)
{
    (void)state;
    struct at_store *s = open_store(), *f = NULL;
    assert_int_equal(at_store_fault_wrap(s, "2:bogus:", &f), AT_EINVAL);
    assert_int_equal(at_store_fault_wrap(s, "x", &f), AT_EINVAL);
    assert_int_equal(at_store_fault_wrap(s, "2:kv_put", &f), 0);
    assert_string_equal(f->ops->name, "fault");
    assert_int_equal(at_store_call(f, kv_put, "a", "1"), 0);
    char *v = NULL;
    assert_int_equal(at_store_call(f, kv_get, "a", &v), 0); /* reads are not counted */
    free(v);
    assert_int_equal(at_store_call(f, kv_put, "b", "2"), AT_EIO);   /* the 2nd kv_put */
    assert_int_equal(at_store_call(f, kv_get, "b", &v), AT_ENOENT); /* it did not run */
    assert_int_equal(at_store_call(f, kv_put, "c", "3"), 0);        /* only the Nth */
    at_store_close(f);
    s = open_store();
    assert_int_equal(at_store_fault_wrap(s, "1:commit", &f), 0);
    struct at_writer *w;
    assert_int_equal(at_writer_new(f, 16, &w), 0);
    assert_int_equal(at_writer_kv_put(w, f, "d", "4"), AT_EIO);     /* its commit failed */
    assert_int_equal(at_store_call(f, kv_get, "d", &v), AT_ENOENT); /* rolled back */
    assert_int_equal(at_writer_kv_put(w, f, "d", "5"), 0);          /* and the lock is free */
    assert_int_equal(at_store_call(f, kv_get, "d", &v), 0);
    assert_string_equal(v, "5");
    free(v);
    at_writer_free(w);
    at_store_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_and_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_coalesces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_saturates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
