/*
 * engine_sched.c - placement on the loop: the pump asks the cluster
 * (sched/sched.h) where a job runs right before it binds the job to a
 * process; the job holds a reservation until it is final.  A job that fits
 * no node stays queued with meta.waited_for "unschedulable: ..." and
 * meta.placement (the explanation), is retried on every pump and by a
 * timer (at most a second apart), and fails with `unschedulable` once
 * scheduling.unschedulable_timeout has passed since it was submitted.
 * Preemption evicts the victims the engine names: an idempotent one goes
 * back to the queue, another fails with `preempted`.  Loop thread only.
 */
#include "exec/admit.h"
#include "exec/engine_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

#define RETRY_MS 1000 /* a waiting job is tried again at least this often */

static void on_timer(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    at__engine_pump(t->arg);
}

static void arm(struct at_engine *e, int64_t ms)
{
    if (ms < 5)
        ms = 5;
    if (ms > RETRY_MS)
        ms = RETRY_MS;
    int64_t due = at_now_ns() + ms * 1000000;
    if (at_timer_armed(&e->t_sched) && e->t_sched.due_ns <= due)
        return;
    at_loop_timer_start(e->loop, &e->t_sched, ms, on_timer, e);
}

/* The chain whose step j is, or NULL. */
static struct at_job *chain_of(struct at_engine *e, struct at_job *j)
{
    struct at_job *p = j->rec.parent_id ? at_map_get(&e->jobs, j->rec.parent_id) : NULL;
    return p && p->cr ? p : NULL;
}

static void preempt(struct at_engine *e, const struct at_sched_victim *v, struct at_job *by)
{
    struct at_job *x = at_map_get(&e->jobs, v->job_id);
    if (!x || x->final) { /* a stale reservation */
        at_sched_release(e->sched, v->job_id, NULL, 0);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof(msg), "preempted by job %s (priority %d over %d)", by->rec.id,
             by->rec.priority, v->priority);
    at_info("sched", "job %s %s%s", x->rec.id, msg, v->idempotent ? ": requeued" : "");
    json_t *meta = at__job_meta_mut(x);
    json_object_set_new(meta, "preempted",
                        json_pack("{s:s,s:i,s:b}", "by", by->rec.id, "priority", by->rec.priority,
                                  "requeued", v->idempotent));
    struct at_worker *w = x->worker;
    if (w && w->state == AT_W_BUSY && w->call_id) {
        x->sched_requeue = v->idempotent;
        at__engine_job_result(e, w, AT_EPREEMPTED, NULL, msg, NULL, NULL);
    } else {
        at__engine_cancel_job(e, x, msg);
    }
    /* whatever became of it, it holds nothing now */
    if (!x->sched_requeue)
        at_sched_release(e->sched, v->job_id, NULL, 0);
}

int at__engine_place(struct at_engine *e, struct at_job *j, char *why, size_t n)
{
    if (!e->sched || !j->agent || j->agent->contract->remote || j->sched_held)
        return 0;
    struct at_sched_req r;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_admit_req(j->agent->contract, &r, &d)) {
        snprintf(why, n, "%s", d.msg);
        return AT_EINVAL;
    }
    snprintf(r.job_id, sizeof(r.job_id), "%s", j->rec.id);
    r.priority = j->rec.priority;
    if (j->sched_pin[0]) /* migrated there (engine_node.c) */
        snprintf(r.node_affinity, sizeof(r.node_affinity), "%s", j->sched_pin);
    struct at_job *chain = chain_of(e, j);
    if (chain)
        snprintf(r.prev_node, sizeof(r.prev_node), "%s", chain->sched_node);
    struct at_sched_result res;
    at_sched_result_init(&res);
    json_t *ex = NULL;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        json_decref(ex);
        ex = NULL;
        at_sched_place(e->sched, &r, &res, &ex);
        if (res.status != AT_SCHED_PREEMPT || attempt == 1)
            break;
        for (int i = 0; i < res.nvictims; i++)
            preempt(e, &res.victims[i], j);
        if (j->sched_held || j->final || j->heap_idx < 0) { /* a pump inside the eviction took it */
            rc = 1;
            goto out;
        }
    }
    json_t *meta = at__job_meta_mut(j);
    if (res.status == AT_SCHED_PLACED) {
        j->sched_held = 1;
        j->sched_waiting = 0;
        j->sched_pin[0] = '\0';
        snprintf(j->sched_node, sizeof(j->sched_node), "%s", res.node);
        if (chain)
            snprintf(chain->sched_node, sizeof(chain->sched_node), "%s", res.node);
        json_object_set_new(meta, "node", json_string(res.node));
        json_object_set(meta, "placement", ex);
        goto out;
    }
    double timeout = 0;
    struct at_sched_policy p;
    at_sched_get_policy(e->sched, &p);
    timeout = p.unschedulable_timeout;
    int64_t waited_ms = (at_now_ns() - j->accepted_ns) / 1000000;
    char reasons[1500];
    at_admit_reasons(ex, reasons, sizeof(reasons));
    json_object_set(meta, "placement", ex);
    if (timeout > 0 && waited_ms >= (int64_t)(timeout * 1000)) {
        snprintf(why, n, "agent %s waited %.1f s for a node (scheduling.unschedulable_timeout): %s",
                 r.agent, (double)waited_ms / 1000, reasons);
        rc = AT_EUNSCHEDULABLE;
        goto out;
    }
    if (!j->sched_waiting) {
        j->sched_waiting = 1;
        json_object_set_new(meta, "waited_for", json_string(reasons));
        json_t *l = json_pack("{s:s,s:s}", "stream", "scheduler", "text", reasons);
        at__job_emit(j, "log", l);
        json_decref(l);
        if (j->persisted)
            at__engine_persist(e, j);
    }
    arm(e, timeout > 0 ? (int64_t)(timeout * 1000) - waited_ms : RETRY_MS);
    rc = AT_AGAIN;
out:
    json_decref(ex);
    at_sched_result_release(&res);
    return rc;
}

void at__engine_unplace(struct at_engine *e, struct at_job *j)
{
    if (e->sched && j->sched_held) {
        j->sched_held = 0;
        at_sched_release(e->sched, j->rec.id, NULL, 0);
    }
}

void at__engine_requeue_preempted(struct at_engine *e, struct at_job *j)
{
    j->sched_requeue = 0;
    at__engine_unplace(e, j);
    at__job_set_state(j, AT_JOB_QUEUED);
    at__job_emit_state(j);
    atomic_fetch_add(&e->queued, 1);
    at_jobq_push(&j->pool->queue, j);
    at__engine_persist(e, j);
}

static void do_kick(struct at_loop *loop, void *arg)
{
    (void)loop;
    at__engine_pump(arg);
}

void at_engine_sched_kick(struct at_engine *e)
{
    at_loop_post(e->loop, do_kick, e);
}
