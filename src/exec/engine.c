/*
 * engine.c - the job's life on the engine's loop (engine_int.h lists the
 * other files of the engine).
 *
 * Life of a job on the loop thread:
 *   arrive  -> queued in its pool's heap (priority desc, FIFO)
 *   pump    -> given to an idle process, or to a process started for it
 *              (engine_pool.c)
 *   running -> persisted as running *before* the agent sees the call when
 *              the job had been acknowledged as queued (so a restart never
 *              runs a non-idempotent job twice); a job dispatched at once
 *              is inserted as running and the call goes out beside the
 *              insert (it is acknowledged only once that insert commits)
 *   result  -> output validated, final state persisted, waiters told after
 *              the commit, then the job leaves the in-flight table.
 */
#include "exec/engine.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/utf8.h"
#include "exec/admit.h"
#include "exec/engine_int.h"
#include "exec/remote.h"
#include "chain/chain.h"
#include "json/json.h"
#include "security/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ---- persistence through the writer ---- */

enum wop_kind { WOP_INSERT, WOP_UPDATE };

struct wop {
    struct at_engine *e;
    struct at_job *job;
    struct at_job_rec rec;
    enum wop_kind kind;
    unsigned then;
};

static int wop_run(struct at_store *s, void *arg)
{
    struct wop *op = arg;
    /* job records at rest hold no secret an agent echoed (docs/security.md);
     * a coalesced INSERT may carry the job's output already */
    json_t *out = at_secrets_redacted_copy(op->e->cfg.secrets, op->rec.output);
    json_t *err = at_secrets_redacted_copy(op->e->cfg.secrets, op->rec.error);
    /* the meta holds the agent's last progress message */
    json_t *meta = at_secrets_redacted_copy(op->e->cfg.secrets, op->rec.meta);
    if (!out && !err && !meta)
        return op->kind == WOP_INSERT ? s->ops->job_insert(s, &op->rec)
                                      : s->ops->job_update(s, &op->rec);
    struct at_job_rec rec = op->rec;
    if (out)
        rec.output = out;
    if (err)
        rec.error = err;
    if (meta)
        rec.meta = meta;
    int rc = op->kind == WOP_INSERT ? s->ops->job_insert(s, &rec) : s->ops->job_update(s, &rec);
    if (op->kind == WOP_INSERT)
        op->rec.seq = rec.seq; /* the store assigns it */
    json_decref(out);
    json_decref(err);
    json_decref(meta);
    return rc;
}

/* A newer record of the same job while the queued write has not run yet
 * (at_writer_submit_keyed, under the writer's lock): the queued write
 * (an INSERT stays an INSERT) writes the newer record; the newer write's
 * completion follows the queued one's. */
static int wop_merge(void *queued, void *arg)
{
    struct wop *q = queued, *n = arg;
    at_job_rec_release(&q->rec);
    at_job_rec_copy(&q->rec, &n->rec);
    return 0;
}

struct retire_arg {
    struct at_engine *e;
    struct at_job *j;
};

static void post_send(struct at_loop *loop, void *arg);
static void post_retire(struct at_loop *loop, void *arg);

static void wop_done(int rc, void *arg)
{
    struct wop *op = arg;
    if (op->then & AT_THEN_ACK)
        at__job_accept_committed(op->job, rc);
    if (op->then & AT_THEN_FINAL) {
        /* the waiters first (the answer is on the critical path), then the
         * observers (the monitor's copy) */
        at__job_finish_committed(op->job, &op->rec, rc);
        for (int i = 0; i < op->e->nobservers; i++)
            if (op->e->observers[i].on_final)
                op->e->observers[i].on_final(op->e->observers[i].arg, &op->rec);
        struct retire_arg *ra = at_malloc(sizeof(*ra));
        ra->e = op->e;
        ra->j = at_job_ref(op->job);
        at_loop_post(op->e->loop, post_retire, ra);
    }
    if (op->then & AT_THEN_SEND)
        at_loop_post(op->e->loop, post_send, at_job_ref(op->job));
    if (op->then & AT_THEN_INPUT)
        at_loop_post(op->e->loop, at__engine_input_committed, at_job_ref(op->job));
    at_job_rec_release(&op->rec);
    at_job_unref(op->job);
    free(op);
}

static void post_send(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct at_job *j = arg;
    struct at_worker *w = j->worker;
    if (w && w->job == j && w->state == AT_W_BUSY && !w->call_sent && !j->final)
        at__worker_send_call(w);
    at_job_unref(j);
}

void at__engine_persist_then(struct at_engine *e, struct at_job *j, unsigned then)
{
    /* a first row waiting on the loop (at__engine_defer_first) goes in now,
     * as this record */
    if (at_timer_armed(&j->t_first))
        at_loop_timer_stop(e->loop, &j->t_first);
    struct wop *op = at_calloc(1, sizeof(*op));
    op->e = e;
    op->job = at_job_ref(j);
    at_job_rec_copy(&op->rec, &j->rec);
    op->kind = j->persisted ? WOP_UPDATE : WOP_INSERT;
    if (!j->persisted)
        op->then |= AT_THEN_ACK;
    op->then |= then;
    j->persisted = 1;
    int rc = at_writer_submit_keyed(e->cfg.writer, j->rec.id, wop_run, wop_merge, wop_done, op,
                                    (then & AT_THEN_HOLD) ? AT_WRITE_HOLD : 0);
    if (rc) {
        /* the writer is full or stopped: report as a store failure */
        at_warn("exec", "job %s: cannot queue a store write: %s", j->rec.id, at_err_msg(rc));
        wop_done(rc, op);
    }
}

static void first_row_due(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    struct at_job *j = t->arg;
    /* it has waited its window: written at once (running) */
    at__engine_persist_then(j->engine, j, AT_THEN_NONE);
}

int at__engine_defer_first(struct at_engine *e, struct at_job *j)
{
    double ms = e->conf->store.coalesce_ms;
    if (j->persisted || !(ms > 0) || !e->cfg.writer || atomic_load(&e->stopping))
        return AT_AGAIN;
    int64_t whole = (int64_t)ms;
    if ((double)whole < ms)
        whole++;
    at_loop_timer_start(e->loop, &j->t_first, whole, first_row_due, j);
    return 0;
}

/* Only into the job's own INSERT: a queued update means the row was
 * committed (and maybe acknowledged) already. */
static int wop_merge_into_insert(void *queued, void *arg)
{
    struct wop *q = queued;
    return q->kind == WOP_INSERT ? wop_merge(queued, arg) : 1;
}

int at__engine_persist_fold(struct at_engine *e, struct at_job *j)
{
    struct wop *op = at_calloc(1, sizeof(*op));
    op->e = e;
    op->job = at_job_ref(j);
    at_job_rec_copy(&op->rec, &j->rec);
    op->kind = WOP_UPDATE;
    int rc = at_writer_submit_keyed(e->cfg.writer, j->rec.id, wop_run, wop_merge_into_insert,
                                    wop_done, op, AT_WRITE_FOLD_ONLY | AT_WRITE_HOLD);
    if (rc) {
        at_job_rec_release(&op->rec);
        at_job_unref(op->job);
        free(op);
    }
    return rc;
}

/* ---- agents' requests (sampling, elicitation, roots) ---- */

void at_engine_set_request_handler(struct at_engine *e, at_engine_request_fn fn, void *arg)
{
    e->request_handler = fn;
    e->request_arg = arg;
}

struct agent_req {
    struct at_engine *e;
    char job_id[AT_ID_MAX];
    json_t *id; /* the agent's JSON-RPC id */
    atomic_int replied;
    int code;
    char *message;
    json_t *result;
};

static void do_agent_reply(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct agent_req *r = arg;
    struct at_job *j = at_map_get(&r->e->jobs, r->job_id);
    struct at_worker *w = j ? j->worker : NULL;
    if (w && w->job == j && w->state == AT_W_BUSY)
        at__worker_reply(w, r->id, r->code, r->message, r->result);
    json_decref(r->id);
    json_decref(r->result);
    free(r->message);
    free(r);
}

static void agent_reply(void *reply_arg, int code, const char *message, json_t *result)
{
    struct agent_req *r = reply_arg;
    if (atomic_exchange(&r->replied, 1))
        return; /* a second answer is a handler bug: ignore it */
    r->code = code;
    r->message = message ? at_strdup(message) : NULL;
    r->result = result ? json_incref(result) : NULL;
    at_loop_post(r->e->loop, do_agent_reply, r);
}

int at__engine_agent_request(struct at_engine *e, struct at_job *j, const char *method,
                             json_t *params, const json_t *id)
{
    struct at_token_info info;
    if (at_engine_token_info(e, j->token, &info))
        return AT_ENOENT;
    at_engine_request_fn fns[2] = {j->on_request, e->request_handler};
    void *args[2] = {j->request_arg, e->request_arg};
    for (int i = 0; i < 2; i++) {
        if (!fns[i])
            continue;
        struct agent_req *r = at_calloc(1, sizeof(*r));
        r->e = e;
        snprintf(r->job_id, sizeof(r->job_id), "%s", j->rec.id);
        r->id = json_deep_copy(id);
        atomic_init(&r->replied, 0);
        if (fns[i](args[i], &info, method, params, agent_reply, r) == 0)
            return 0;
        json_decref(r->id);
        free(r);
    }
    /* no one took the question: the job's caller answers it through the
     * API (engine_input.c) */
    if (strcmp(method, "elicitation/create") == 0)
        return at__engine_input_ask(e, j, params, id);
    return AT_ENOENT;
}

/* ---- events ---- */

void at__job_emit(struct at_job *j, const char *event, json_t *data)
{
    for (struct at_job_sub *s = j->subs; s; s = s->next)
        s->fn(j->rec.id, event, data, s->arg);
    struct at_engine *e = j->engine;
    for (int i = 0; e && i < e->nobservers; i++)
        if (e->observers[i].on_event)
            e->observers[i].on_event(e->observers[i].arg, &j->rec, event, data);
}

int at_engine_add_observer(struct at_engine *e, const struct at_engine_observer *obs)
{
    if (e->nobservers >= 8 || e->started)
        return AT_ELIMIT;
    e->observers[e->nobservers++] = *obs;
    return 0;
}

void at__job_emit_state(struct at_job *j)
{
    json_t *d = json_pack("{s:s}", "state", at_job_state_name(j->rec.state));
    if (j->rec.error)
        json_object_set(d, "error", j->rec.error);
    if (j->rec.output && j->rec.state == AT_JOB_COMPLETED)
        json_object_set(d, "output", j->rec.output);
    at__job_emit(j, "state", d);
    json_decref(d);
}

static void subs_end(struct at_job *j)
{
    struct at_job_sub *s = j->subs;
    j->subs = NULL;
    while (s) {
        struct at_job_sub *next = s->next;
        s->fn(j->rec.id, "end", NULL, s->arg);
        free(s);
        s = next;
    }
}

void at__job_sub_add(struct at_job *j, at_job_event_fn fn, void *arg)
{
    struct at_job_sub *s = at_malloc(sizeof(*s));
    s->fn = fn;
    s->arg = arg;
    s->next = j->subs;
    j->subs = s;
}

static void job_retire(struct at_engine *e, struct at_job *j);

static void post_retire(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct retire_arg *ra = arg;
    job_retire(ra->e, ra->j);
    at_job_unref(ra->j);
    free(ra);
}

static void cancel_children(struct at_engine *e, struct at_job *j)
{
    /* collect first: cancelling changes the table */
    struct at_job **kids = NULL;
    size_t n = 0, it = 0;
    void *v;
    while (at_map_next(&e->jobs, &it, NULL, &v)) {
        struct at_job *c = v;
        if (!c->final && c->rec.parent_id && strcmp(c->rec.parent_id, j->rec.id) == 0) {
            kids = at_realloc(kids, (n + 1) * sizeof(*kids));
            kids[n++] = at_job_ref(c);
        }
    }
    char reason[200];
    snprintf(reason, sizeof(reason), "its parent %s ended (%s)", j->rec.id,
             at_job_state_name(j->rec.state));
    for (size_t i = 0; i < n; i++) {
        at__engine_cancel_job(e, kids[i], reason);
        at_job_unref(kids[i]);
    }
    free(kids);
}

/* Decide the job's final state and send it to the store. */
void at__engine_finalize(struct at_engine *e, struct at_job *j, int code, json_t *output,
                         const char *detail, const char *pointer)
{
    if (j->final)
        return;
    j->final = 1;
    at__engine_unplace(e, j);
    if (j->node_run) { /* ended while on a node (its tree failed, ...): its slot comes back */
        j->node_run = 0;
        e->running--;
    }
    j->rec.finished_ms = at_wall_ms();
    if (j->cancel_requested && code != 0) {
        at__job_set_state(j, AT_JOB_CANCELLED);
        at_job_set_error(j, AT_ECANCELED, j->cancel_reason ? j->cancel_reason : "cancelled", NULL);
        e->n_cancelled++;
    } else if (code == 0) {
        at__job_set_state(j, AT_JOB_COMPLETED);
        json_decref(j->rec.output);
        j->rec.output = json_incref(output);
        e->n_completed++;
    } else {
        at__job_set_state(j, AT_JOB_FAILED);
        at_job_set_error(j, code, detail, pointer);
        e->n_failed++;
    }
    atomic_fetch_sub(&e->inflight, 1);
    if (j->agent)
        at__breaker_record(e, j->agent->key, code);
    if (j->cr)
        at__chain_stop(e, j);
    at__engine_persist_then(e, j, AT_THEN_FINAL);
    /* the in-flight table keeps its reference until the commit is seen
     * (post_retire), so cancel and stats still find the job meanwhile */

    /* a tree ends with its root: children still in flight are cancelled
     * when a job fails, is cancelled or times out */
    if (j->rec.state != AT_JOB_COMPLETED && j->waiting_children > 0)
        cancel_children(e, j);
    struct at_job *parent = j->rec.parent_id ? at_map_get(&e->jobs, j->rec.parent_id) : NULL;
    if (parent && !parent->final) {
        if (parent->waiting_children > 0 && --parent->waiting_children == 0)
            at__engine_unwait(e, parent);
        if (parent->cr)
            at__chain_child_done(e, parent, j);
    }
}

static void job_retire(struct at_engine *e, struct at_job *j)
{
    at__job_emit_state(j);
    subs_end(j);
    if (j->cr) {
        at__chain_free(j->cr);
        j->cr = NULL;
    }
    at__token_del(e, j->token);
    if (at_map_get(&e->jobs, j->rec.id) == j) {
        at_map_del(&e->jobs, j->rec.id);
        at_job_unref(j);
    }
}

void at__engine_job_interrupted(struct at_engine *e, struct at_worker *w)
{
    struct at_job *j = w->job;
    w->job = NULL;
    j->worker = NULL;
    if (w->waiting) {
        w->waiting = 0;
        w->pool->nwaiting--;
    } else {
        e->running--;
    }
    at_debug("exec", "job %s: left running in the store for the next start (the daemon stops)",
             j->rec.id);
    at_job_unref(j); /* the worker's reference: the table keeps its own */
}

void at__engine_job_result(struct at_engine *e, struct at_worker *w, int code, json_t *output,
                           const char *detail, const char *pointer, json_t *usage)
{
    struct at_job *j = w->job;
    w->job = NULL;
    if (j) {
        j->worker = NULL;
        if (w->waiting) { /* its slot was lent to its children: nothing to give back */
            w->waiting = 0;
            w->pool->nwaiting--;
        } else {
            e->running--;
        }
        if (w->state == AT_W_BUSY && w->call_id)
            at__token_wind_down(e, w->token, AT_CANCEL_GRACE_MS); /* cancel, timeout */
        else if (w->state != AT_W_DEAD)
            at__token_put(e, w->token, NULL);
        if (json_is_object(usage)) {
            json_t *meta = at__job_meta_mut(j);
            json_object_set(meta, "usage", usage);
            at__engine_record_usage(e, j, usage);
        }
        if (j->sched_requeue && !j->final) {
            at__engine_requeue_preempted(e, j); /* evicted: it runs again later */
        } else if (code == 0 && !j->final) {
            struct at_diag d;
            at_diag_clear(&d);
            if (at_schema_validate(j->agent->contract->output, output, &d)) {
                char msg[1200];
                snprintf(msg, sizeof(msg), "output %s", d.msg);
                at__engine_finalize(e, j, AT_EOUTPUT, NULL, msg, d.pointer);
            } else {
                at__engine_finalize(e, j, 0, output, NULL, NULL);
            }
        } else {
            at__engine_finalize(e, j, code, NULL, detail, pointer);
        }
        at_job_unref(j);
    }
    /* what becomes of the process */
    if (w->state == AT_W_BUSY) {
        if (w->call_id) {
            /* the call is still out (timeout, cancel): ask the agent to stop
             * and give it a grace period before the process is killed */
            at__worker_cancel(w, code == AT_ETIMEDOUT ? "timeout" : "cancelled");
        } else {
            at__worker_become_idle(w);
        }
    }
    at__engine_pump(e);
}

void at__engine_job_progress(struct at_engine *e, struct at_job *j, json_t *params)
{
    (void)e;
    if (!json_is_object(params))
        return;
    json_t *meta = at__job_meta_mut(j);
    json_t *pr = json_object();
    json_t *v;
    if ((v = json_object_get(params, "progress")) && json_is_number(v))
        json_object_set(pr, "progress", v);
    if ((v = json_object_get(params, "total")) && json_is_number(v))
        json_object_set(pr, "total", v);
    if ((v = json_object_get(params, "message")) && json_is_string(v))
        json_object_set(pr, "message", v);
    json_object_set_new(meta, "progress", pr);
    at__job_emit(j, "progress", pr);
}

void at__engine_job_log(struct at_engine *e, struct at_job *j, const char *stream, const char *text,
                        size_t len)
{
    char *clean = at_utf8_sanitize(text, len);
    at_debug("agent", "%s %s: %s", j->rec.id, stream, clean);
    if (j->subs || (e && e->nobservers)) {
        json_t *d = json_pack("{s:s,s:s}", "stream", stream, "text", clean);
        at__job_emit(j, "log", d);
        json_decref(d);
    }
    free(clean);
}

void at__engine_remote_started(struct at_engine *e, struct at_job *j)
{
    at__job_set_state(j, AT_JOB_RUNNING);
    j->rec.started_ms = at_wall_ms();
    j->rec.attempts++;
    at__engine_persist_then(e, j, AT_THEN_NONE);
}

void at__engine_remote_result(struct at_engine *e, struct at_job *j, int code, json_t *output,
                              const char *detail)
{
    if (code == 0 && !j->final) {
        struct at_diag d;
        at_diag_clear(&d);
        if (at_schema_validate(j->agent->contract->output, output, &d)) {
            char msg[1200];
            snprintf(msg, sizeof(msg), "output %s", d.msg);
            at__engine_finalize(e, j, AT_EOUTPUT, NULL, msg, d.pointer);
            return;
        }
    }
    at__engine_finalize(e, j, code, output, detail, NULL);
}

/* ---- arrival, cancel, registry events (on the loop) ---- */

/* A job enters the loop (the in-flight table takes the caller's reference). */
static void arrive(struct at_engine *e, struct at_job *j)
{
    if (atomic_load(&e->stopping)) {
        /* accepted but not yet started: left queued for the next start */
        at__engine_persist_then(e, j, AT_THEN_NONE);
        at_job_unref(j);
        return;
    }
    at_map_put(&e->jobs, j->rec.id, j); /* the table owns the submit reference */
    j->rec.seq = (int64_t)++e->order;
    struct at_job *parent = j->rec.parent_id ? at_map_get(&e->jobs, j->rec.parent_id) : NULL;
    if (parent && !parent->final)
        at__engine_wait_on_child(e, parent);
    if (j->rec.parent_id) {
        /* the tree's token budget is checked before each child starts */
        const char *root = j->rec.root_id ? j->rec.root_id : j->rec.id;
        long long used = at__engine_tree_tokens(e, root);
        if (used >= e->conf->exec.max_tokens_per_chain) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "the token budget of tree %s is spent: %lld tokens used, "
                     "execution.resource_budget.max_tokens_per_chain is %lld",
                     root, used, e->conf->exec.max_tokens_per_chain);
            if (!j->chain)
                atomic_fetch_sub(&e->queued, 1);
            at__engine_finalize(e, j, AT_ELIMIT, NULL, msg, NULL);
            return;
        }
    }
    if (j->chain) {
        at__chain_start(e, j);
        return;
    }
    if (j->agent->contract->remote) {
        atomic_fetch_sub(&e->queued, 1);
        at__remote_run(e, j);
        return;
    }
    struct at_pool *p = at__pool_get(e, j->agent);
    j->pool = p;
    if (e->running >= e->conf->exec.max_concurrent_agents) {
        /* the guardrail is reported where the job is */
        json_t *meta = at__job_meta_mut(j);
        char why[160];
        snprintf(why, sizeof(why), "execution.max_concurrent_agents (%d) reached: queued",
                 e->conf->exec.max_concurrent_agents);
        json_object_set_new(meta, "waited_for", json_string(why));
    }
    at_jobq_push(&p->queue, j);
    at__engine_pump(e);
    if (j->heap_idx >= 0 && !j->persisted)
        at__engine_persist_then(e, j, AT_THEN_HOLD); /* waiting: acknowledge it as queued */
}

static void do_arrive(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct at_job *j = arg;
    arrive(j->engine, j);
}

int at__engine_post_arrive(struct at_engine *e, struct at_job *j, int force)
{
    if (force) {
        at_loop_post(e->loop, do_arrive, j);
        return 0;
    }
    return at_loop_try_post(e->loop, do_arrive, j);
}

void at__engine_cancel_job(struct at_engine *e, struct at_job *j, const char *reason)
{
    if (!j || j->final)
        return;
    j->cancel_requested = 1;
    free(j->cancel_reason);
    j->cancel_reason = at_strdup(reason ? reason : "cancelled");
    if (j->chain) {
        at__engine_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL); /* its children follow */
        return;
    }
    if (j->heap_idx >= 0 && j->pool) {
        at_jobq_remove(&j->pool->queue, j);
        atomic_fetch_sub(&e->queued, 1);
        at__engine_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL);
    } else if (j->worker) {
        struct at_worker *w = j->worker;
        if (w->state == AT_W_BUSY && w->call_id) {
            at__engine_job_result(e, w, AT_ECANCELED, NULL, NULL, NULL, NULL);
        } else {
            /* waiting for its process or for the running commit */
            at__token_put(e, w->token, NULL);
            w->job = NULL;
            j->worker = NULL;
            e->running--;
            at__engine_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL);
            at_job_unref(j);
            if (w->state == AT_W_BUSY)
                at__worker_become_idle(w); /* it never got the call */
            at__engine_pump(e);
        }
    } else if (j->node_run) {
        at__engine_node_cancel(e, j);
    } else if (j->agent && j->agent->contract->remote) {
        at__remote_cancel(e, j);
    } else {
        at__engine_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL);
    }
}

/* ---- public API ---- */

static void copy_base_env(struct at_engine *e)
{
    static const char *const keep[] = {"PATH", "HOME",   "LANG",       "LC_ALL",    "LC_CTYPE",
                                       "TZ",   "TMPDIR", "PYTHONPATH", "NODE_PATH", NULL};
    size_t n = 0;
    e->base_env = at_calloc(16, sizeof(char *));
    for (char **p = environ; p && *p; p++) {
        for (int k = 0; keep[k]; k++) {
            size_t kl = strlen(keep[k]);
            if (strncmp(*p, keep[k], kl) == 0 && (*p)[kl] == '=' && n < 15) {
                /* ATLAS_* and secrets never leak into agents: only this list */
                e->base_env[n++] = at_strdup(*p);
                break;
            }
        }
    }
    int has_path = 0;
    for (size_t i = 0; i < n; i++)
        has_path |= strncmp(e->base_env[i], "PATH=", 5) == 0;
    if (!has_path && n < 15)
        e->base_env[n++] = at_strdup("PATH=/usr/local/bin:/usr/bin:/bin");
}

int at_engine_new(const struct at_engine_cfg *cfg, struct at_engine **out)
{
    struct at_engine *e = at_calloc(1, sizeof(*e));
    e->cfg = *cfg;
    e->cfg.mcp_url = cfg->mcp_url ? at_strdup(cfg->mcp_url) : NULL;
    e->cfg.agent_socket = cfg->agent_socket ? at_strdup(cfg->agent_socket) : NULL;
    e->cfg.egress_socket = cfg->egress_socket ? at_strdup(cfg->egress_socket) : NULL;
    e->cfg.python_sdk_dir = cfg->python_sdk_dir ? at_strdup(cfg->python_sdk_dir) : NULL;
    e->conf = cfg->config;
    int rc = 0;
    e->loop = at_loop_new(&rc);
    if (!e->loop) {
        free((char *)e->cfg.mcp_url);
        free((char *)e->cfg.agent_socket);
        free((char *)e->cfg.egress_socket);
        free((char *)e->cfg.python_sdk_dir);
        free(e);
        return rc;
    }
    at_map_init(&e->pools);
    at_map_init(&e->jobs);
    at_map_init(&e->tokens);
    pthread_mutex_init(&e->call_mu, NULL);
    pthread_cond_init(&e->call_cv, NULL);
    pthread_mutex_init(&e->tok_mu, NULL);
    pthread_mutex_init(&e->brk_mu, NULL);
    pthread_mutex_init(&e->orch_mu, NULL);
    at_map_init(&e->breakers);
    at_map_init(&e->root_tokens);
    at_map_init(&e->orch_chains);
    at_map_init(&e->held);
    at_loop_set_post_limit(e->loop, (size_t)e->conf->exec.max_queue + AT_ENGINE_POST_SLACK);
    e->sched = at_sched_current();
    at_timer_init(&e->t_sched);
    at_timer_init(&e->t_nodes);
    /* dispatch numbers never repeat across restarts: a node's late result
     * from before a restart cannot match a new dispatch of the same job */
    e->node_seq = (long long)at_wall_ms() * 1000;
    copy_base_env(e);
    rc = at__remote_init(e);
    if (rc) {
        at_engine_free(e);
        return rc;
    }
    at_registry_add_listener(cfg->registry, at__engine_on_registry_event, e);
    at__engine_install_checks(e);
    *out = e;
    return 0;
}

static void *engine_main(void *arg)
{
    struct at_engine *e = arg;
    at_loop_run(e->loop);
    /* posts still queued never run: at__engine_call's waiters stop waiting */
    pthread_mutex_lock(&e->call_mu);
    e->loop_exited = 1;
    pthread_cond_broadcast(&e->call_cv);
    pthread_mutex_unlock(&e->call_mu);
    return NULL;
}

static void do_nodes_start(struct at_loop *loop, void *arg)
{
    (void)loop;
    at__engine_nodes_start(arg);
}

int at_engine_start(struct at_engine *e)
{
    e->loop_exited = 0;
    at_loop_post(e->loop, do_nodes_start, e);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
        return AT_EIO;
    e->started = 1;
    return 0;
}

/* Every secret the contract lists under requires.secrets is set: a run
 * that would start without one is refused (422 secret-unavailable), not
 * started with the variable missing. */
static int secrets_check(struct at_engine *e, const struct at_contract *c, struct at_diag *d)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(json_object_get(c->json, "requires"), "secrets"), i, v)
    {
        const char *nm = json_string_value(v);
        if (nm && !(e->cfg.secrets && at_secrets_has(e->cfg.secrets, nm)))
            return at_diag_set(d, AT_ESECRET, NULL, 0, 0,
                               "agent %s:%s requires secret %s (requires.secrets), which is not "
                               "set: atlas secret set %s",
                               c->name, c->version, nm, nm);
    }
    return 0;
}

/* Fill a new job from the submission and post it to the loop (which takes
 * this reference; *out gets another).  AT_EBUSY (d says why) when the
 * loop's post queue is full: the job is dropped, nothing was accepted. */
static int hand_over(struct at_engine *e, struct at_job *j, const struct at_submit *s,
                     struct at_job **out, struct at_diag *d)
{
    j->engine = e;
    if (s->job_id && s->job_id[0] && strlen(s->job_id) < sizeof(j->rec.id))
        snprintf(j->rec.id, sizeof(j->rec.id), "%s", s->job_id);
    j->rec.priority = s->priority;
    j->rec.source = at_strdup(s->source ? s->source : "api");
    if (s->parent_id)
        j->rec.parent_id = at_strdup(s->parent_id);
    j->rec.root_id = at_strdup(s->root_id ? s->root_id : s->parent_id ? s->parent_id : j->rec.id);
    j->rec.depth = s->depth;
    if (s->owner && strlen(s->owner) < sizeof(j->owner)) {
        snprintf(j->owner, sizeof(j->owner), "%s", s->owner);
        /* kept for a requeue after a restart (engine_recover.c) */
        json_object_set_new(at__job_meta_mut(j), "owner", json_string(j->owner));
    }
    j->on_accept = s->on_accept;
    j->accept_arg = s->accept_arg;
    if (s->on_done)
        at_job_on_done(j, s->on_done, s->done_arg);
    if (s->on_event)
        at__job_sub_add(j, s->on_event, s->event_arg); /* before the loop sees the job */
    j->on_request = s->on_request;
    j->request_arg = s->request_arg;
    if (json_is_object(s->meta))
        j->call_meta = json_deep_copy(s->meta);
    if (json_is_object(s->event))
        json_object_set_new(at__job_meta_mut(j), "event", json_deep_copy(s->event));
    if (s->semantic_log && s->semantic_log[0])
        json_object_set_new(at__job_meta_mut(j), "semantic_log", json_string(s->semantic_log));
    if (json_array_size(s->decisions)) {
        json_t *meta = at__job_meta_mut(j);
        json_object_set_new(meta, "decisions", json_deep_copy(s->decisions));
    }
    if (!j->chain) {
        at__token_put(e, j->token, j);
        atomic_fetch_add(&e->queued, 1);
    }
    atomic_fetch_add(&e->inflight, 1);
    struct at_job *ref = out ? at_job_ref(j) : NULL;
    if (at__engine_post_arrive(e, j, 0)) {
        /* the loop is that far behind: refuse, as a full queue is refused */
        if (!j->chain) {
            at__token_del(e, j->token);
            atomic_fetch_sub(&e->queued, 1);
        }
        atomic_fetch_sub(&e->inflight, 1);
        at_job_unref(ref);
        at_job_unref(j);
        return at_diag_set(d, AT_EBUSY, NULL, 0, 0,
                           "the engine is overloaded: its loop has %zu requests waiting "
                           "(execution.max_queue + %d)",
                           at_loop_post_len(e->loop), AT_ENGINE_POST_SLACK);
    }
    if (out)
        *out = ref;
    return 0;
}

static int submit_chain(struct at_engine *e, const struct at_submit *s, struct at_job **out,
                        struct at_diag *d)
{
    struct at_chain *c;
    if (at_registry_chain_get(e->cfg.registry, s->chain, &c))
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no chain named \"%s\" is registered",
                           s->chain);
    json_t *input = s->input ? json_deep_copy(s->input) : json_object();
    struct at_job *j = at_job_new_chain(c, input);
    at_chain_unref(c);
    json_decref(input);
    return hand_over(e, j, s, out, d);
}

int at_engine_submit(struct at_engine *e, const struct at_submit *s, struct at_job **out,
                     struct at_diag *d)
{
    if (atomic_load(&e->stopping))
        return at_diag_set(d, AT_ESTATE, NULL, 0, 0, "the daemon is shutting down");
    if (atomic_load(&e->draining))
        return at_diag_set(d, AT_EBUSY, NULL, 0, 0,
                           "the queue is draining (atlas.queue.drain): no new runs until it is "
                           "resumed");
    if (s->chain)
        return submit_chain(e, s, out, d);
    struct at_reg_agent *a;
    int rc = at_registry_resolve(e->cfg.registry, s->agent, &a);
    if (rc == AT_EINVAL)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "\"%s\" is not an agent reference (NAME or "
                           "NAME:VERSION)",
                           s->agent);
    if (rc) {
        char why[400];
        at_registry_explain_missing(e->cfg.registry, s->agent, why, sizeof(why));
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "%s", why);
    }
    if ((rc = at__guard_queue_admit(e, d))) {
        at_reg_agent_unref(a);
        return rc;
    }
    if ((rc = at__breaker_check(e, a->key, d)) || (rc = at_admit_diag(a->contract, d)) ||
        (rc = secrets_check(e, a->contract, d))) {
        at_reg_agent_unref(a);
        return rc;
    }
    json_t *input = s->input ? json_deep_copy(s->input) : json_object();
    at_schema_apply_defaults(a->contract->input, input);
    struct at_diag vd;
    at_diag_clear(&vd);
    if (at_schema_validate(a->contract->input, input, &vd)) {
        at_diag_set(d, AT_ESCHEMA, NULL, 0, 0, "input %s", vd.msg);
        at_diag_set_pointer(d, vd.pointer);
        json_decref(input);
        at_reg_agent_unref(a);
        return AT_ESCHEMA;
    }
    struct at_job *j = at_job_new(a, input);
    json_decref(input);
    at_reg_agent_unref(a);
    return hand_over(e, j, s, out, d);
}

/* ---- children created on the loop (chain steps, fallbacks) ---- */

static void child_links(struct at_job *c, struct at_job *parent, int role, int step, int member)
{
    c->engine = parent->engine;
    memcpy(c->owner, parent->owner, sizeof(c->owner));
    if (c->owner[0])
        json_object_set_new(at__job_meta_mut(c), "owner", json_string(c->owner));
    c->rec.parent_id = at_strdup(parent->rec.id);
    c->rec.root_id = at_strdup(parent->rec.root_id ? parent->rec.root_id : parent->rec.id);
    /* the real depth in the tree: a chain's steps, fallbacks, child chains
     * and orchestrator decisions are one level below the chain, as spawned
     * jobs are below their parent (chainrun.c checks max_spawn_depth) */
    c->rec.depth = parent->rec.depth + 1;
    c->rec.source = at_strdup("chain");
    if (role == AT_ROLE_ORCH) { /* a decision, not a step: traces tell them apart */
        free(c->rec.kind);
        c->rec.kind = at_strdup("orchestrator");
    }
    c->rec.priority = parent->rec.priority;
    c->role = role;
    c->step_idx = step;
    c->member_idx = member;
}

struct at_job *at__engine_child(struct at_engine *e, struct at_job *parent, const char *agent,
                                json_t *input, json_t *meta, int role, int step, int member,
                                int *rc, struct at_diag *d)
{
    struct at_reg_agent *a;
    *rc = at_registry_resolve(e->cfg.registry, agent, &a);
    if (*rc) {
        json_decref(meta);
        *rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no agent \"%s\" is registered", agent);
        return NULL;
    }
    if ((*rc = at__breaker_check(e, a->key, d)) || (*rc = at_admit_diag(a->contract, d)) ||
        (*rc = secrets_check(e, a->contract, d))) {
        json_decref(meta);
        at_reg_agent_unref(a);
        return NULL;
    }
    struct at_job *c = at_job_new(a, input);
    at_reg_agent_unref(a);
    if (meta) {
        json_decref(c->rec.meta);
        c->rec.meta = meta;
    }
    child_links(c, parent, role, step, member);
    at__token_put(e, c->token, c);
    atomic_fetch_add(&e->queued, 1);
    atomic_fetch_add(&e->inflight, 1);
    struct at_job *ref = at_job_ref(c);
    arrive(e, c);
    return ref;
}

struct at_job *at__engine_child_chain(struct at_engine *e, struct at_job *parent, const char *chain,
                                      json_t *input, int role, int step, int *rc, struct at_diag *d)
{
    struct at_chain *ch;
    if (at_registry_chain_get(e->cfg.registry, chain, &ch)) {
        *rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no chain \"%s\" is registered", chain);
        return NULL;
    }
    *rc = 0;
    struct at_job *c = at_job_new_chain(ch, input);
    at_chain_unref(ch);
    child_links(c, parent, role, step, 0);
    atomic_fetch_add(&e->inflight, 1);
    struct at_job *ref = at_job_ref(c);
    arrive(e, c);
    return ref;
}

void at__engine_persist(struct at_engine *e, struct at_job *j)
{
    at__engine_persist_then(e, j, AT_THEN_NONE);
}

/* A decision of the orchestrator: in the job's meta (persisted) and its
 * event log. */
void at__engine_decision(struct at_engine *e, struct at_job *j, const char *text)
{
    (void)e;
    json_t *meta = at__job_meta_mut(j);
    json_t *arr = at__json_member_mut(meta, "decisions", json_array);
    if (json_array_size(arr) < 1000)
        json_array_append_new(arr, json_string(text));
    json_t *d = json_pack("{s:s,s:s}", "stream", "orchestrator", "text", text);
    at__job_emit(j, "log", d);
    json_decref(d);
}

int at_engine_spawn(struct at_engine *e, const struct at_token_info *parent,
                    const struct at_submit *s, struct at_job **out, struct at_diag *d)
{
    int rc = at__guard_spawn(e, parent, d);
    if (rc)
        return rc;
    struct at_submit child = *s;
    child.parent_id = parent->job_id;
    child.root_id = parent->root_id;
    child.depth = parent->depth + 1;
    child.owner = parent->owner[0] ? parent->owner : NULL;
    if (!child.source)
        child.source = "spawn";
    if (!child.semantic_log && parent->semantic_log[0])
        child.semantic_log = parent->semantic_log;
    return at_engine_submit(e, &child, out, d);
}

/* ---- shutdown ---- */

static void do_stop(struct at_loop *loop, void *arg)
{
    struct at_engine *e = arg;
    (void)loop;
    at__engine_nodes_stop(e);
    /* first rows still waiting for their window go to the store now */
    size_t it = 0;
    void *v;
    while (at_map_next(&e->jobs, &it, NULL, &v)) {
        struct at_job *j = v;
        if (at_timer_armed(&j->t_first))
            at__engine_persist_then(e, j, AT_THEN_NONE);
    }
    for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
        p->draining = 1;
        for (struct at_worker *w = p->workers; w; w = w->next)
            at__worker_stop(w, "daemon stopping");
    }
}

static int all_workers_gone(struct at_engine *e)
{
    for (struct at_pool *p = e->all_pools; p; p = p->next_all)
        if (p->nworkers > 0)
            return 0;
    return 1;
}

static void check_stopped(struct at_loop *loop, struct at_timer *t)
{
    struct at_engine *e = t->arg;
    if (all_workers_gone(e) && at__remote_idle(e)) {
        at_loop_stop(loop);
        return;
    }
    at_loop_timer_start(loop, t, 20, check_stopped, e);
}

static struct at_timer stop_timer;

static void do_stop_start(struct at_loop *loop, void *arg)
{
    do_stop(loop, arg);
    at_timer_init(&stop_timer);
    at_loop_timer_start(loop, &stop_timer, 0, check_stopped, arg);
}

void at_engine_stop(struct at_engine *e)
{
    if (!e || !e->started || atomic_exchange(&e->stopping, 1))
        return;
    at_loop_post(e->loop, do_stop_start, e);
    pthread_join(e->thread, NULL);
    /* The writer may still hold job writes whose completions use the
     * engine (wop_done): wait for every one, and run what they posted to
     * the stopped loop, until nothing is left, before the engine can be
     * freed. */
    if (e->cfg.writer) {
        do
            at_writer_flush(e->cfg.writer);
        while (at_loop_run_pending(e->loop) > 0);
    }
    /* Jobs still in flight (queued, or running on a remote node: local
     * processes were stopped above) stay as they are in the store for
     * recovery; whoever waits on them is told now (AT_ENOTREADY, the daemon
     * is stopping) so that what they hold is released. */
    size_t it = 0;
    void *v;
    while (at_map_next(&e->jobs, &it, NULL, &v))
        at__job_abandon(v, AT_ENOTREADY);
    e->started = 0;
}

void at_engine_free(struct at_engine *e)
{
    if (!e)
        return;
    at_engine_stop(e);
    at__remote_free(e);
    /* the pools' queues point at jobs the job map holds: drop them first */
    struct at_pool *p = e->all_pools;
    while (p) {
        struct at_pool *next = p->next_all;
        at_jobq_release(&p->queue);
        at_reg_agent_unref(p->agent);
        free(p->key);
        free(p);
        p = next;
    }
    at_map_release(&e->pools);
    /* jobs still in flight stay in the store as they are (recovery) */
    size_t it = 0;
    void *v;
    while (at_map_next(&e->jobs, &it, NULL, &v))
        at_job_unref(v);
    at_map_release(&e->jobs);
    it = 0;
    while (at_map_next(&e->tokens, &it, NULL, &v))
        free(v);
    at_map_release(&e->tokens);
    for (char **s = e->base_env; s && *s; s++)
        free(*s);
    free(e->base_env);
    pthread_mutex_destroy(&e->call_mu);
    pthread_cond_destroy(&e->call_cv);
    at_map_release(&e->held);
    pthread_mutex_destroy(&e->tok_mu);
    struct at_map *maps[] = {&e->breakers, &e->root_tokens, &e->orch_chains};
    for (size_t m = 0; m < 3; m++) {
        it = 0;
        while (at_map_next(maps[m], &it, NULL, &v))
            free(v);
        at_map_release(maps[m]);
    }
    free(e->orch_default);
    pthread_mutex_destroy(&e->brk_mu);
    pthread_mutex_destroy(&e->orch_mu);
    at_loop_free(e->loop);
    free((char *)e->cfg.mcp_url);
    free((char *)e->cfg.agent_socket);
    free((char *)e->cfg.egress_socket);
    free((char *)e->cfg.python_sdk_dir);
    free(e);
}
