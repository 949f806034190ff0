/* Unit tests: the engine's internals (src/exec/engine*.c) without agent
 * processes: the job state transition table, the invariants checker fed
 * consistent and broken pools, the loop's bounded post queue and the
 * engine's refusal when it is full, copy-on-write job meta, and the
 * saturating token counters of job trees. */
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/loop.h"
#include "base/map.h"
#include "contract/config.h"
#include "exec/engine.h"
#include "exec/engine_int.h"
#include "json/json.h"
#include "registry/registry.h"
#include "store/store.h"
#include "store/writer.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

/* ---- the transition table ---- */

static void test_transitions(void **state)
{
    (void)state;
    enum { Q = AT_JOB_QUEUED, R = AT_JOB_RUNNING, C = AT_JOB_COMPLETED, F = AT_JOB_FAILED };
    enum { X = AT_JOB_CANCELLED };
    /* want[from][to] */
    static const int want[5][5] = {
        [Q] = {[R] = 1, [F] = 1, [X] = 1},
        [R] = {[Q] = 1, [C] = 1, [F] = 1, [X] = 1},
    };
    for (int from = 0; from < 5; from++)
        for (int to = 0; to < 5; to++)
            assert_int_equal(at__job_transition_ok(from, to), want[from][to]);
    /* a job completes only after it ran; final states are final */
    assert_false(at__job_transition_ok(AT_JOB_QUEUED, AT_JOB_COMPLETED));
    assert_false(at__job_transition_ok(AT_JOB_COMPLETED, AT_JOB_RUNNING));
    assert_false(at__job_transition_ok(AT_JOB_CANCELLED, AT_JOB_QUEUED));
    assert_false(at__job_transition_ok(AT_JOB_RUNNING, AT_JOB_RUNNING));
    /* out of range */
    assert_false(at__job_transition_ok(7, AT_JOB_RUNNING));
    assert_false(at__job_transition_ok(AT_JOB_QUEUED, -1));

    struct at_job j;
    memset(&j, 0, sizeof(j));
    j.rec.state = AT_JOB_QUEUED;
    at__job_set_state(&j, AT_JOB_RUNNING);
    assert_int_equal(j.rec.state, AT_JOB_RUNNING);
    at__job_set_state(&j, AT_JOB_COMPLETED);
    assert_int_equal(j.rec.state, AT_JOB_COMPLETED);
#ifdef NDEBUG
    /* release builds log an illegal change and make it (debug builds assert) */
    at__job_set_state(&j, AT_JOB_RUNNING);
    assert_int_equal(j.rec.state, AT_JOB_RUNNING);
#endif
}

/* ---- invariants, on a fake engine ---- */

struct fake {
    struct at_engine e;
    struct at_pool p;
    struct at_worker w[3];
    struct at_job jobs[4];
};

static struct at_contract fake_contract = {.name = "a", .version = "1.0.0"};
static struct at_reg_agent fake_agent = {.contract = &fake_contract};

/* A consistent engine: one pool, one idle worker, one busy with jobs[0],
 * one starting; jobs[1..3] queued. */
static struct fake *fake_new(void)
{
    struct fake *f = calloc(1, sizeof(*f));
    at_map_init(&f->e.jobs);
    at_map_init(&f->e.pools);
    at_map_init(&f->e.held);
    at_map_init(&f->e.root_tokens);
    f->p.key = "a@1.0.0";
    f->p.agent = &fake_agent;
    f->p.max = 4;
    at_jobq_init(&f->p.queue);
    f->e.all_pools = &f->p;
    enum at_wstate st[3] = {AT_W_IDLE, AT_W_BUSY, AT_W_DISCOVER};
    for (int i = 0; i < 3; i++) {
        f->w[i].pool = &f->p;
        f->w[i].state = st[i];
        f->w[i].next = i < 2 ? &f->w[i + 1] : NULL;
        f->w[i].prev = i > 0 ? &f->w[i - 1] : NULL;
    }
    f->p.workers = &f->w[0];
    f->p.nworkers = 3;
    f->p.nidle = 1;
    f->p.nstarting = 1;
    for (int i = 0; i < 4; i++) {
        snprintf(f->jobs[i].rec.id, sizeof(f->jobs[i].rec.id), "job_%d", i);
        f->jobs[i].rec.seq = i + 1;
        f->jobs[i].heap_idx = -1;
        f->jobs[i].pool = &f->p;
        at_map_put(&f->e.jobs, f->jobs[i].rec.id, &f->jobs[i]);
    }
    f->jobs[0].rec.state = AT_JOB_RUNNING;
    f->jobs[0].worker = &f->w[1];
    f->w[1].job = &f->jobs[0];
    f->e.running = 1;
    for (int i = 1; i < 4; i++)
        at_jobq_push(&f->p.queue, &f->jobs[i]);
    atomic_init(&f->e.queued, 3);
    atomic_init(&f->e.inflight, 4);
    return f;
}

static void fake_free(struct fake *f)
{
    at_jobq_release(&f->p.queue);
    at_map_release(&f->e.jobs);
    at_map_release(&f->e.pools);
    at_map_release(&f->e.held);
    size_t it = 0;
    void *v;
    while (at_map_next(&f->e.root_tokens, &it, NULL, &v))
        free(v);
    at_map_release(&f->e.root_tokens);
    free(f);
}

static void expect_broken(struct fake *f, const char *want)
{
    char why[300];
    int n = at__engine_check(&f->e, why, sizeof(why));
    if (n == 0 || !strstr(why, want))
        fail_msg("want a violation naming \"%s\", got %d: %s", want, n, why);
}

static void test_invariants(void **state)
{
    (void)state;
    char why[300];
    struct fake *f = fake_new();
    assert_int_equal(at__engine_check(&f->e, why, sizeof(why)), 0);
    assert_string_equal(why, "");

    /* each counter that drifts is named */
    f->p.nidle = 2;
    expect_broken(f, "nidle 2, 1 idle");
    f->p.nidle = 1;
    f->p.nstarting = 0;
    expect_broken(f, "nstarting 0, 1 starting");
    f->p.nstarting = 1;
    f->p.nworkers = 2;
    expect_broken(f, "nworkers 2, 3 on the list");
    f->p.nworkers = 3;
    f->p.nwaiting = 1;
    expect_broken(f, "nwaiting 1, 0 workers");
    f->p.nwaiting = 0;
    f->e.running = 2;
    expect_broken(f, "running 2, 1 jobs hold a slot");
    f->e.running = 1;
    assert_int_equal(at__engine_check(&f->e, why, sizeof(why)), 0);

    /* a parent lending its slot to its children: running drops, nwaiting rises */
    f->w[1].waiting = 1;
    f->p.nwaiting = 1;
    f->e.running = 0;
    assert_int_equal(at__engine_check(&f->e, why, sizeof(why)), 0);
    f->w[1].waiting = 0;
    f->p.nwaiting = 0;
    f->e.running = 1;

    /* queue accounting */
    atomic_store(&f->e.queued, 2);
    expect_broken(f, "queued 2, 3 jobs in the pools' queues");
    atomic_store(&f->e.queued, 5); /* submitted, not yet arrived: fine */
    assert_int_equal(at__engine_check(&f->e, why, sizeof(why)), 0);
    atomic_store(&f->e.queued, 3);
    struct at_job *head = f->p.queue.q[0];
    head->heap_idx = 2;
    expect_broken(f, "at 0 says 2");
    head->heap_idx = 0;
    head->rec.state = AT_JOB_RUNNING;
    expect_broken(f, "is queued but running");
    head->rec.state = AT_JOB_QUEUED;
    head->rec.priority = -1; /* the heap's order no longer holds */
    expect_broken(f, "heap order broken");
    head->rec.priority = 0;
    f->jobs[0].final = 1;
    expect_broken(f, "job_0 is final but still on a worker");
    f->jobs[0].final = 0;
    atomic_store(&f->e.inflight, 3);
    expect_broken(f, "inflight 3, 4 jobs");
    atomic_store(&f->e.inflight, 4);
    assert_int_equal(at__engine_check(&f->e, why, sizeof(why)), 0);
    fake_free(f);
}

/* ---- the loop's bounded post queue ---- */

static void count_post(struct at_loop *loop, void *arg)
{
    (void)loop;
    (*(int *)arg)++;
}

static void stop_post(struct at_loop *loop, void *arg)
{
    (void)arg;
    at_loop_stop(loop);
}

static void test_bounded_post(void **state)
{
    (void)state;
    struct at_loop *loop = at_loop_new(NULL);
    assert_non_null(loop);
    int n = 0;
    at_loop_set_post_limit(loop, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(at_loop_try_post(loop, count_post, &n), 0);
    /* the bound: refused, and the callback never runs */
    assert_int_equal(at_loop_try_post(loop, count_post, &n), AT_EBUSY);
    assert_int_equal(at_loop_post_len(loop), 3);
    /* the must-deliver variant is never refused */
    at_loop_post(loop, count_post, &n);
    at_loop_post(loop, stop_post, NULL);
    assert_int_equal(at_loop_post_len(loop), 5);
    assert_int_equal(at_loop_run(loop), 0);
    assert_int_equal(n, 4);
    assert_int_equal(at_loop_post_len(loop), 0);
    /* drained: accepted again */
    assert_int_equal(at_loop_try_post(loop, count_post, &n), 0);
    at_loop_free(loop);
}

/* The engine passes the refusal on: with its loop that far behind (here:
 * not started, and the queue filled with cancels) a submission is refused
 * with busy and nothing is accepted; once the loop runs, it is accepted. */
struct env {
    char dir[256];
    struct at_config conf;
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *reg;
    struct at_engine *eng;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_engine_refuses_when_loop_full(void **state)
{
    (void)state;
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/atlas-engine-test.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    at_config_init(&e->conf);
    /* off: this tests the engine's handling of agent processes, which must
     * pass where no sandbox can be built; the sandbox (on by default) has
     * its own tests, unit.sandbox and e2e.sandbox */
    e->conf.sandbox.enabled = 0;
    e->conf.exec.max_queue = 4;
    e->conf.pool.min = 0;
    char path[400], agent[300];
    snprintf(path, sizeof(path), "%s/atlas.db", e->dir);
    struct at_store_cfg scfg = {.backend = "sqlite", .path = path};
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_store_open(&scfg, &e->store, &d), 0);
    assert_int_equal(at_writer_new(e->store, 1024, &e->writer), 0);
    assert_int_equal(at_registry_new(e->store, e->dir, &e->reg, &d), 0);
    snprintf(agent, sizeof(agent), "%s/probe", e->dir);
    mkdir(agent, 0755);
    snprintf(path, sizeof(path), "%s/agent.yaml", agent);
    write_file(path, "agent:\n  name: probe\n  version: \"1.0.0\"\n  description: probe\n"
                     "  input:\n    schema:\n      type: object\n"
                     "  output:\n    schema:\n      type: object\n"
                     "  entrypoint: [\"/bin/false\"]\n");
    struct at_reg_result res;
    if (at_registry_register_dir(e->reg, agent, NULL, 0, &res, &d))
        fail_msg("register: %s", d.msg);
    struct at_engine_cfg ecfg = {
        .config = &e->conf, .store = e->store, .writer = e->writer, .registry = e->reg};
    assert_int_equal(at_engine_new(&ecfg, &e->eng), 0);

    /* before start the control calls say so instead of waiting forever */
    json_t *q = NULL;
    assert_int_equal(at_engine_queue_json(e->eng, NULL, &q), AT_ESTATE);
    assert_int_equal(at_engine_queue_hold(e->eng, NULL, 1, NULL, NULL), AT_ESTATE);

    /* fill the loop's queue to its bound: max_queue + the slack */
    int accepted = 0;
    while (at_engine_cancel(e->eng, "job_nosuchjob", NULL) == 0)
        accepted++;
    assert_int_equal(accepted, 4 + AT_ENGINE_POST_SLACK);
    json_t *input = json_object();
    struct at_submit s = {.agent = "probe", .input = input, .source = "test"};
    struct at_job *j = NULL;
    at_diag_clear(&d);
    assert_int_equal(at_engine_submit(e->eng, &s, &j, &d), AT_EBUSY);
    assert_null(j);
    if (!strstr(d.msg, "overloaded"))
        fail_msg("the refusal says why: %s", d.msg);
    json_t *stats = at_engine_stats_json(e->eng);
    assert_int_equal(json_integer_value(json_object_get(stats, "queued")), 0);
    json_decref(stats);

    /* the loop drains its queue: accepted again (the job fails: /bin/false
     * is no MCP server, which is not what this test is about) */
    assert_int_equal(at_engine_start(e->eng), 0);
    int rc;
    int64_t deadline = at_now_ms() + 10000;
    while ((rc = at_engine_queue_json(e->eng, NULL, &q)) == AT_EBUSY && at_now_ms() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(q, "queued")), 0);
    json_decref(q);
    at_diag_clear(&d);
    assert_int_equal(at_engine_submit(e->eng, &s, &j, &d), 0);
    assert_non_null(j);
    at_job_unref(j);
    json_decref(input);

    at_engine_stop(e->eng);
    at_engine_free(e->eng);
    at_registry_free(e->reg);
    at_writer_free(e->writer);
    at_store_close(e->store);
    at_config_release(&e->conf);
    at_fs_remove_tree(e->dir);
    free(e);
}

/* ---- copy-on-write meta ---- */

static struct at_job *bare_job(void)
{
    struct at_job *j = calloc(1, sizeof(*j));
    snprintf(j->rec.id, sizeof(j->rec.id), "job_cow");
    return j;
}

static void bare_free(struct at_job *j)
{
    at_job_rec_release(&j->rec);
    free(j);
}

static void test_meta_copy_on_write(void **state)
{
    (void)state;
    struct at_job *j = bare_job();
    /* missing: created */
    json_t *m = at__job_meta_mut(j);
    assert_non_null(m);
    assert_ptr_equal(m, j->rec.meta);
    json_object_set_new(m, "a", json_integer(1));
    /* private (one reference): changed in place, no copy */
    assert_false(at__json_shared(j->rec.meta));
    assert_ptr_equal(at__job_meta_mut(j), m);

    /* a copy for another thread (the store writer, an observer) shares it */
    struct at_job_rec copy;
    at_job_rec_copy(&copy, &j->rec);
    assert_ptr_equal(copy.meta, j->rec.meta);
    assert_true(at__json_shared(j->rec.meta));
    json_t *m2 = at__job_meta_mut(j);
    assert_ptr_not_equal(m2, copy.meta); /* the loop got its own */
    json_object_set_new(m2, "a", json_integer(2));
    assert_int_equal(json_integer_value(json_object_get(copy.meta, "a")), 1);
    assert_int_equal(json_integer_value(json_object_get(j->rec.meta, "a")), 2);
    assert_false(at__json_shared(copy.meta)); /* the copy is the old one's only owner now */
    at_job_rec_release(&copy);

    /* the engine's writers of meta go through it: progress and decisions */
    at_job_rec_copy(&copy, &j->rec);
    json_t *p = json_pack("{s:i,s:i}", "progress", 3, "total", 10);
    at__engine_job_progress(NULL, j, p);
    json_decref(p);
    assert_null(json_object_get(copy.meta, "progress"));
    assert_int_equal(at_json_int(json_object_get(j->rec.meta, "progress"), "progress", 0), 3);
    at_job_rec_release(&copy);

    at__engine_decision(NULL, j, "first");
    at_job_rec_copy(&copy, &j->rec);
    /* nested: the decisions array of a private meta is shared by the copy's
     * meta only through meta, which is copied; check the array too */
    at__engine_decision(NULL, j, "second");
    assert_int_equal(json_array_size(json_object_get(copy.meta, "decisions")), 1);
    assert_int_equal(json_array_size(json_object_get(j->rec.meta, "decisions")), 2);
    at_job_rec_release(&copy);

    /* a nested value shared on its own is copied before it changes */
    json_t *arr = json_object_get(at__job_meta_mut(j), "decisions");
    json_t *held = json_incref(arr);
    json_t *arr2 = at__json_member_mut(j->rec.meta, "decisions", json_array);
    assert_ptr_not_equal(arr2, held);
    json_array_append_new(arr2, json_string("third"));
    assert_int_equal(json_array_size(held), 2);
    json_decref(held);
    bare_free(j);
}

/* ---- saturating counters ---- */

static void test_tokens_saturate(void **state)
{
    (void)state;
    assert_int_equal(at__sat_add(1, 2), 3);
    assert_true(at__sat_add(LLONG_MAX - 1, 5) == LLONG_MAX);
    assert_true(at__sat_add(LLONG_MAX, LLONG_MAX) == LLONG_MAX);
    assert_int_equal(at__sat_add(-5, 3), 3); /* counts are never negative */

    struct fake *f = fake_new();
    at__engine_tree_add(&f->e, "job_root", LLONG_MAX - 10);
    at__engine_tree_add(&f->e, "job_root", 100);
    long long used = at__engine_tree_tokens(&f->e, "job_root");
    /* wrapped, it would be negative and pass any max_tokens_per_chain again */
    assert_true(used == LLONG_MAX);
    at__engine_tree_add(&f->e, "job_root", LLONG_MAX);
    assert_true(at__engine_tree_tokens(&f->e, "job_root") == LLONG_MAX);
    assert_true(at__engine_tree_tokens(&f->e, "job_other") == 0);
    fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_invariants),
        cmocka_unit_test(test_bounded_post),
        cmocka_unit_test(test_engine_refuses_when_loop_full),
        cmocka_unit_test(test_meta_copy_on_write),
        cmocka_unit_test(test_tokens_saturate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
