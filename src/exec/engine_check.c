/*
 * engine_check.c - the job state transition table and the engine's
 * invariants, asserted in debug builds as SQLite asserts its own.
 *
 * The invariants hold between loop turns (a turn may break them while it
 * works); the loop's turn hook checks them after every turn when the build
 * has assertions (no NDEBUG: the Debug and sanitizer builds), so a counter
 * that drifts fails the test that made it drift, at the turn it drifted.
 */
#include "exec/engine_int.h"

#include "base/log.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- job states ---- */

/* allowed[from][to] */
static const unsigned char allowed[5][5] = {
    /* from queued: dispatched; or failed / cancelled before it ran (start
     * failure, spent budget, open breaker, cancel while queued) */
    [AT_JOB_QUEUED] = {[AT_JOB_RUNNING] = 1, [AT_JOB_FAILED] = 1, [AT_JOB_CANCELLED] = 1},
    /* from running: an end; or back to queued when recovery requeues a job
     * of an idempotent agent that a previous run of the daemon left running */
    [AT_JOB_RUNNING] =
        {[AT_JOB_QUEUED] = 1, [AT_JOB_COMPLETED] = 1, [AT_JOB_FAILED] = 1, [AT_JOB_CANCELLED] = 1},
    /* final states are final */
};

int at__job_transition_ok(enum at_job_state from, enum at_job_state to)
{
    if ((unsigned)from > AT_JOB_CANCELLED || (unsigned)to > AT_JOB_CANCELLED)
        return 0;
    return allowed[from][to];
}

void at__job_set_state(struct at_job *j, enum at_job_state to)
{
    enum at_job_state from = j->rec.state;
    if (!at__job_transition_ok(from, to)) {
        at_error("exec", "job %s: illegal state change %s -> %s", j->rec.id,
                 at_job_state_name(from), at_job_state_name(to));
        assert(!"illegal job state transition");
    }
    j->rec.state = to;
    if (to >= AT_JOB_COMPLETED)
        at__job_input_clear(j); /* a question left unanswered ends with the job */
}

/* ---- invariants ---- */

struct report {
    int n;
    char *why;
    size_t len;
};

static void bad(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct report *r, const char *fmt, ...)
{
    if (r->n++ == 0 && r->why && r->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, r->len, fmt, ap);
        va_end(ap);
    }
}

static void check_pool(struct at_engine *e, struct at_pool *p, struct report *r, int *bound,
                       int *queued)
{
    (void)e;
    int n = 0, idle = 0, starting = 0, waiting = 0;
    for (struct at_worker *w = p->workers; w; w = w->next) {
        n++;
        if (w->pool != p)
            bad(r, "pool %s: a worker of pool %s is on its list", p->key,
                w->pool ? w->pool->key : "?");
        if (w->next && w->next->prev != w)
            bad(r, "pool %s: worker list links broken", p->key);
        idle += w->state == AT_W_IDLE;
        starting += w->state < AT_W_IDLE;
        waiting += w->waiting != 0;
        if (w->job) {
            if (w->job->worker != w)
                bad(r, "pool %s: worker's job %s points at another worker", p->key, w->job->rec.id);
            if (!w->waiting)
                (*bound)++;
        }
        if (w->waiting && !w->job)
            bad(r, "pool %s: a worker lends its slot without a job", p->key);
    }
    if (n != p->nworkers)
        bad(r, "pool %s: nworkers %d, %d on the list", p->key, p->nworkers, n);
    if (idle != p->nidle)
        bad(r, "pool %s: nidle %d, %d idle workers", p->key, p->nidle, idle);
    if (starting != p->nstarting)
        bad(r, "pool %s: nstarting %d, %d starting workers", p->key, p->nstarting, starting);
    if (waiting != p->nwaiting)
        bad(r, "pool %s: nwaiting %d, %d workers waiting on children", p->key, p->nwaiting,
            waiting);
    /* the queue: a heap in dispatch order whose members know their place */
    for (int i = 0; i < p->queue.len; i++) {
        struct at_job *j = p->queue.q[i];
        if (j->heap_idx != i)
            bad(r, "pool %s: job %s at %d says %d", p->key, j->rec.id, i, j->heap_idx);
        if (j->pool != p)
            bad(r, "pool %s: queued job %s belongs to another pool", p->key, j->rec.id);
        if (j->final || j->rec.state != AT_JOB_QUEUED)
            bad(r, "pool %s: job %s is queued but %s%s", p->key, j->rec.id,
                at_job_state_name(j->rec.state), j->final ? " (final)" : "");
        if (j->worker)
            bad(r, "pool %s: queued job %s has a worker", p->key, j->rec.id);
        if (i > 0 && at_jobq_before(j, p->queue.q[(i - 1) / 2]))
            bad(r, "pool %s: heap order broken at %d", p->key, i);
    }
    *queued += p->queue.len;
}

int at__engine_check(struct at_engine *e, char *why, size_t whylen)
{
    struct report r = {0, why, whylen};
    if (why && whylen)
        why[0] = 0;
    int bound = 0, queued = 0;
    for (struct at_pool *p = e->all_pools; p; p = p->next_all)
        check_pool(e, p, &r, &bound, &queued);
    /* submitted jobs not yet arrived count in queued too */
    int aq = atomic_load(&e->queued);
    if (aq < queued)
        bad(&r, "queued %d, %d jobs in the pools' queues", aq, queued);
    int inflight = 0, on_nodes = 0;
    size_t it = 0;
    void *v;
    while (at_map_next(&e->jobs, &it, NULL, &v)) {
        struct at_job *j = v;
        inflight += !j->final;
        if (j->heap_idx >= 0 &&
            (!j->pool || j->heap_idx >= j->pool->queue.len || j->pool->queue.q[j->heap_idx] != j))
            bad(&r, "job %s says it is queued at %d, its pool disagrees", j->rec.id, j->heap_idx);
        if (j->worker && j->worker->job != j)
            bad(&r, "job %s points at a worker running another job", j->rec.id);
        if (j->final && (j->heap_idx >= 0 || j->worker))
            bad(&r, "job %s is final but still %s", j->rec.id,
                j->heap_idx >= 0 ? "queued" : "on a worker");
        if (j->node_run)
            on_nodes++; /* a job on a remote node holds a slot too */
        if (j->final && j->node_run)
            bad(&r, "job %s is final but still on node %s", j->rec.id, j->sched_node);
        if (j->waiting_children < 0)
            bad(&r, "job %s waits on %d children", j->rec.id, j->waiting_children);
    }
    if (bound + on_nodes != e->running)
        bad(&r, "running %d, %d jobs hold a slot (%d on remote nodes)", e->running,
            bound + on_nodes, on_nodes);
    if (e->running < 0)
        bad(&r, "running %d < 0", e->running);
    if (atomic_load(&e->inflight) < inflight)
        bad(&r, "inflight %d, %d jobs in flight in the table", atomic_load(&e->inflight), inflight);
    return r.n;
}

#ifndef NDEBUG
static void on_turn(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct at_engine *e = arg;
    char why[300];
    int n = at__engine_check(e, why, sizeof(why));
    if (n) {
        at_error("exec", "engine invariant broken (%d): %s", n, why);
        assert(!"engine invariant broken");
    }
}
#endif

void at__engine_install_checks(struct at_engine *e)
{
#ifndef NDEBUG
    at_loop_set_turn_hook(e->loop, on_turn, e);
#else
    (void)e;
#endif
}
