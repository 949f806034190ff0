/* Unit tests: the SQLite store (agents, jobs, usage, kv), the writer's
 * group commit, persistence across reopen. */
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "store/store.h"
#include "store/writer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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
    assert_int_equal(at_store_call(s, job_prune, at_wall_ms() + 1000, &deleted), 0);
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
    /* the queue is bounded */
    assert_int_equal(at_writer_new(s, 1, &w), 0);
    at_writer_free(w);
    at_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_and_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_group_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
