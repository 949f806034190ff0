/*
 * engine_pool.c - warm process pools and the pump (dispatch): which queued job goes
 * to which process, within execution.max_concurrent_agents and each pool's
 * max; pools of removed versions drain.  Loop thread only.
 */
#include "exec/engine_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pools ---- */

struct at_pool *at__pool_get(struct at_engine *e, struct at_reg_agent *a)
{
    struct at_pool *p = at_map_get(&e->pools, a->key);
    if (p && p->agent != a && strcmp(p->agent->digest, a->digest) != 0) {
        /* the version was re-registered with other content (--force):
         * retire the old pool, start a fresh one */
        p->draining = 1;
        at_map_del(&e->pools, a->key);
        p = NULL;
    }
    if (p)
        return p;
    p = at_calloc(1, sizeof(*p));
    p->key = at_strdup(a->key);
    p->agent = at_reg_agent_ref(a);
    const struct at_contract *c = a->contract;
    p->min = c->pool.min >= 0 ? c->pool.min : e->conf->pool.min;
    p->max = c->pool.max >= 0 ? c->pool.max : e->conf->pool.max;
    if (p->min > p->max)
        p->min = p->max;
    p->idle_timeout = c->pool.idle_timeout >= 0 ? c->pool.idle_timeout : e->conf->pool.idle_timeout;
    p->next_all = e->all_pools;
    e->all_pools = p;
    at_map_put(&e->pools, p->key, p);
    return p;
}

void at__pool_free_if_empty(struct at_engine *e, struct at_pool *p)
{
    if (!p->draining || p->nworkers > 0 || p->queue.len > 0)
        return;
    struct at_pool **pp = &e->all_pools;
    while (*pp && *pp != p)
        pp = &(*pp)->next_all;
    if (*pp)
        *pp = p->next_all;
    if (at_map_get(&e->pools, p->key) == p)
        at_map_del(&e->pools, p->key);
    at_reg_agent_unref(p->agent);
    at_jobq_release(&p->queue);
    free(p->key);
    free(p);
}

static struct at_worker *pool_idle_worker(struct at_pool *p)
{
    for (struct at_worker *w = p->workers; w; w = w->next)
        if (w->state == AT_W_IDLE)
            return w;
    return NULL;
}

/* ---- job lifecycle ---- */

/* Give job j to process w (idle, or started for it). */
static void job_bind(struct at_engine *e, struct at_job *j, struct at_worker *w)
{
    j->worker = w;
    j->heap_idx = -1;
    w->job = at_job_ref(j);
    at__token_put(e, w->token, j);
    e->running++;
    atomic_fetch_sub(&e->queued, 1);
}

/* The process is ready: the job starts running. */
static void job_run(struct at_engine *e, struct at_job *j, struct at_worker *w)
{
    if (w->state == AT_W_IDLE) {
        w->pool->nidle--;
        at_loop_timer_stop(e->loop, &w->t_idle);
        at_loop_timer_stop(e->loop, &w->t_health);
    }
    w->state = AT_W_BUSY;
    at__job_set_state(j, AT_JOB_RUNNING);
    j->rec.started_ms = at_wall_ms();
    j->rec.attempts++;
    at__job_emit_state(j);
    if (!j->persisted) {
        /* never acknowledged: insert as running and call at once (the
         * insert waits on the loop for the answer, to be one row with the
         * final state) */
        if (at__engine_defer_first(e, j))
            at__engine_persist_then(e, j, AT_THEN_HOLD);
        at__worker_send_call(w);
    } else if (at__engine_persist_fold(e, j) == 0) {
        /* its `queued` row is still in the writer's queue, so it was never
         * acknowledged: it goes in as running (or finished, if the answer
         * comes within the coalescing window) and the call goes out now,
         * as for a job that never waited */
        at__worker_send_call(w);
    } else {
        /* acknowledged as queued: the agent sees it only once `running`
         * is in the store */
        at__engine_persist_then(e, j, AT_THEN_SEND);
    }
}

/* A parent's last child ended: its process takes its slot back. */
void at__engine_unwait(struct at_engine *e, struct at_job *parent)
{
    struct at_worker *w = parent->worker;
    if (w && w->waiting) {
        w->waiting = 0;
        w->pool->nwaiting--;
        e->running++;
    }
}

/* The parent's first child arrived: while it waits on children its slot
 * (execution.max_concurrent_agents) and its place in its pool are lent to
 * them, so a tree never waits on itself. */
void at__engine_wait_on_child(struct at_engine *e, struct at_job *parent)
{
    if (parent->waiting_children++ > 0)
        return;
    struct at_worker *w = parent->worker;
    if (w && w->state == AT_W_BUSY && !w->waiting) {
        w->waiting = 1;
        w->pool->nwaiting++;
        e->running--;
        at__engine_pump(e);
    }
}

void at__engine_worker_ready(struct at_engine *e, struct at_worker *w)
{
    if (w->job) {
        job_run(e, w->job, w);
        return;
    }
    at__worker_become_idle(w);
    at__engine_pump(e);
}

void at__engine_worker_gone(struct at_engine *e, struct at_worker *w)
{
    struct at_pool *p = w->pool;
    if (w->death_reason == NULL || strcmp(w->death_reason, "idle timeout") != 0)
        e->n_worker_replaced++;
    at__pool_free_if_empty(e, p);
    if (!atomic_load(&e->stopping))
        at__engine_pump(e);
}

/* ---- dispatch ---- */

static int pool_can_take(const struct at_pool *p)
{
    /* a draining pool still serves the jobs already in its queue; processes
     * whose job waits on its children do not count against max */
    return p->nidle > 0 || p->nworkers - p->nwaiting < p->max;
}

void at__engine_pump(struct at_engine *e)
{
    if (atomic_load(&e->stopping))
        return;
    for (struct at_pool *p = e->all_pools; p; p = p->next_all)
        p->sched_blocked = 0;
    while (e->running < e->conf->exec.max_concurrent_agents) {
        struct at_pool *best = NULL;
        for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
            if (p->queue.len == 0 || !pool_can_take(p) || at__pool_held(e, p) || p->sched_blocked)
                continue;
            if (!best || at_jobq_before(p->queue.q[0], best->queue.q[0]))
                best = p;
        }
        if (!best)
            break;
        struct at_job *j = best->queue.q[0];
        /* where it runs (engine_sched.c): it may have to wait for a node */
        char swhy[1800];
        int prc = at__engine_place(e, j, swhy, sizeof(swhy));
        if (prc == AT_AGAIN) {
            best->sched_blocked = 1; /* its jobs behind it need the same */
            continue;
        }
        if (prc == 1)
            continue;
        at_jobq_remove(&best->queue, j);
        if (prc) {
            atomic_fetch_sub(&e->queued, 1);
            at__engine_finalize(e, j, prc, NULL, swhy, NULL);
            continue;
        }
        if (at__engine_node_take(e, j)) /* placed on a remote node (engine_node.c) */
            continue;
        struct at_worker *w = pool_idle_worker(best);
        if (w) {
            job_bind(e, j, w);
            job_run(e, j, w);
            continue;
        }
        int rc;
        const char *why;
        w = at__worker_start(e, best, &rc, &why);
        e->n_cold_starts++;
        if (!w) {
            char detail[512];
            const char *prog =
                json_string_value(json_array_get(best->agent->contract->entrypoint, 0));
            snprintf(detail, sizeof(detail), "cannot start the agent process \"%s\": %s",
                     prog ? prog : "?", why);
            atomic_fetch_sub(&e->queued, 1);
            at__engine_finalize(e, j, rc == AT_ENOENT ? AT_ECRASH : rc, NULL, detail, NULL);
            continue;
        }
        job_bind(e, j, w);
        if (!j->persisted)
            at__engine_persist_then(e, j, AT_THEN_NONE); /* acknowledge while the process starts */
    }
    /* draining pools let idle processes go once their queue is empty;
     * live pools are kept at their minimum size */
    for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
        if (p->draining && p->queue.len == 0) {
            for (struct at_worker *w = p->workers; w; w = w->next)
                if (w->state == AT_W_IDLE)
                    at__worker_stop(w, "agent unregistered or replaced");
        }
        while (!p->draining && p->nworkers < p->min && !p->agent->contract->remote) {
            int rc;
            const char *why;
            if (!at__worker_start(e, p, &rc, &why)) {
                at_warn("exec", "agent %s: cannot start a warm process: %s", p->key, why);
                break;
            }
        }
    }
}

struct reg_event {
    struct at_engine *e;
    enum at_reg_event ev;
    char *key;
};

static void do_reg_event(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct reg_event *r = arg;
    struct at_engine *e = r->e;
    struct at_pool *p = at_map_get(&e->pools, r->key);
    if (p && r->ev == AT_REG_REMOVED) {
        /* queued jobs hold their agent version and still run; the pool
         * serves them and then lets its processes go */
        p->draining = 1;
        at_map_del(&e->pools, p->key);
        at__pool_free_if_empty(e, p);
        at__engine_pump(e);
    }
    free(r->key);
    free(r);
}

void at__engine_on_registry_event(void *arg, enum at_reg_event ev, const char *name,
                                  const char *version)
{
    struct at_engine *e = arg;
    struct reg_event *r = at_calloc(1, sizeof(*r));
    r->e = e;
    r->ev = ev;
    r->key = at_asprintf("%s@%s", name, version);
    at_loop_post(e->loop, do_reg_event, r);
}
