/*
 * engine.c - the job queue and dispatch loop.
 *
 * Life of a job on the loop thread:
 *   arrive  -> queued in its pool's heap (priority desc, FIFO)
 *   pump    -> given to an idle process, or to a process started for it
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
#include "exec/internal.h"
#include "exec/remote.h"
#include "chain/chain.h"
#include "orch/orch.h"
#include "json/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ---- persistence through the writer ---- */

enum wop_kind { WOP_INSERT, WOP_UPDATE };
enum wop_then { THEN_NONE = 0, THEN_ACK = 1, THEN_SEND = 2, THEN_FINAL = 4 };

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
    if (op->kind == WOP_INSERT)
        return s->ops->job_insert(s, &op->rec);
    return s->ops->job_update(s, &op->rec);
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
    if (op->then & THEN_ACK)
        at__job_accept_committed(op->job, rc);
    if (op->then & THEN_FINAL) {
        for (int i = 0; i < op->e->nobservers; i++)
            if (op->e->observers[i].on_final)
                op->e->observers[i].on_final(op->e->observers[i].arg, &op->rec);
        at__job_finish_committed(op->job, &op->rec, rc);
        struct retire_arg *ra = at_malloc(sizeof(*ra));
        ra->e = op->e;
        ra->j = at_job_ref(op->job);
        at_loop_post(op->e->loop, post_retire, ra);
    }
    if (op->then & THEN_SEND)
        at_loop_post(op->e->loop, post_send, at_job_ref(op->job));
    at_job_rec_release(&op->rec);
    at_job_unref(op->job);
    free(op);
}

/* Queue the job's current record for the store.  Must run on the loop. */
static void persist(struct at_engine *e, struct at_job *j, unsigned then)
{
    struct wop *op = at_calloc(1, sizeof(*op));
    op->e = e;
    op->job = at_job_ref(j);
    at_job_rec_copy(&op->rec, &j->rec);
    op->kind = j->persisted ? WOP_UPDATE : WOP_INSERT;
    if (!j->persisted)
        op->then |= THEN_ACK;
    op->then |= then;
    j->persisted = 1;
    int rc = at_writer_submit(e->cfg.writer, wop_run, wop_done, op);
    if (rc) {
        /* the writer is full or stopped: report as a store failure */
        at_warn("exec", "job %s: cannot queue a store write: %s", j->rec.id, at_err_msg(rc));
        wop_done(rc, op);
    }
}

/* ---- tokens ---- */

struct tok {
    int valid; /* 0: a process token while its process is idle */
    struct at_token_info info;
};

void at__token_put(struct at_engine *e, const char *token, const struct at_job *j)
{
    struct tok *t = at_calloc(1, sizeof(*t));
    if (j) {
        t->valid = 1;
        snprintf(t->info.job_id, sizeof(t->info.job_id), "%s", j->rec.id);
        snprintf(t->info.root_id, sizeof(t->info.root_id), "%s",
                 j->rec.root_id ? j->rec.root_id : j->rec.id);
        snprintf(t->info.agent, sizeof(t->info.agent), "%s",
                 j->agent ? j->agent->key : j->rec.agent);
        t->info.depth = j->rec.depth;
        t->info.platform_tools = j->agent ? j->agent->contract->platform_tools : 0;
        t->info.spawn_agents = j->agent ? j->agent->contract->spawn_agents : 0;
        const char *tier =
            json_string_value(json_object_get(json_object_get(j->rec.meta, "model"), "tier"));
        t->info.tier = !tier ? -1 : !strcmp(tier, "fast") ? 0 : !strcmp(tier, "balanced") ? 1 : 2;
    }
    pthread_mutex_lock(&e->tok_mu);
    free(at_map_put(&e->tokens, token, t));
    pthread_mutex_unlock(&e->tok_mu);
}

void at__token_del(struct at_engine *e, const char *token)
{
    pthread_mutex_lock(&e->tok_mu);
    free(at_map_del(&e->tokens, token));
    pthread_mutex_unlock(&e->tok_mu);
}

int at_engine_token_info(struct at_engine *e, const char *token, struct at_token_info *out)
{
    if (!token || !*token)
        return AT_ENOENT;
    pthread_mutex_lock(&e->tok_mu);
    struct tok *t = at_map_get(&e->tokens, token);
    int rc = t && t->valid ? 0 : AT_ENOENT;
    if (!rc)
        *out = t->info;
    pthread_mutex_unlock(&e->tok_mu);
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
    return AT_ENOENT;
}

/* ---- events ---- */

static void emit(struct at_job *j, const char *event, json_t *data)
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

static void emit_state(struct at_job *j)
{
    json_t *d = json_pack("{s:s}", "state", at_job_state_name(j->rec.state));
    if (j->rec.error)
        json_object_set(d, "error", j->rec.error);
    if (j->rec.output && j->rec.state == AT_JOB_COMPLETED)
        json_object_set(d, "output", j->rec.output);
    emit(j, "state", d);
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

static void sub_add(struct at_job *j, at_job_event_fn fn, void *arg)
{
    struct at_job_sub *s = at_malloc(sizeof(*s));
    s->fn = fn;
    s->arg = arg;
    s->next = j->subs;
    j->subs = s;
}

/* ---- pools ---- */

static struct at_pool *pool_get(struct at_engine *e, struct at_reg_agent *a)
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

static void pool_free_if_empty(struct at_engine *e, struct at_pool *p)
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
    j->rec.state = AT_JOB_RUNNING;
    j->rec.started_ms = at_wall_ms();
    j->rec.attempts++;
    emit_state(j);
    if (!j->persisted) {
        /* never acknowledged: insert as running and call at once */
        persist(e, j, THEN_NONE);
        at__worker_send_call(w);
    } else {
        /* acknowledged as queued: the agent sees it only once `running`
         * is in the store */
        persist(e, j, THEN_SEND);
    }
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

static void job_retire(struct at_engine *e, struct at_job *j);

static void post_retire(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct retire_arg *ra = arg;
    job_retire(ra->e, ra->j);
    at_job_unref(ra->j);
    free(ra);
}

static void cancel_job(struct at_engine *e, struct at_job *j, const char *reason);

/* A parent's last child ended: its process takes its slot back. */
static void unwait(struct at_engine *e, struct at_job *parent)
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
static void wait_on_child(struct at_engine *e, struct at_job *parent)
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
        cancel_job(e, kids[i], reason);
        at_job_unref(kids[i]);
    }
    free(kids);
}

/* ---- circuit breakers (execution.circuit_breaker) ---- */

static int breaker_counts(int code)
{
    return code == AT_ECRASH || code == AT_ETIMEDOUT || code == AT_EAGENT || code == AT_EPROTO ||
           code == AT_EOUTPUT || code == AT_E2BIG || code == AT_ECONN;
}

/* 0 when runs of agent key may start; AT_ECIRCUIT (d says until when) when
 * its breaker is open.  Once recovery_timeout has passed the breaker is
 * half-open: runs go through, and the first one to end closes it (success)
 * or opens it again (failure). */
static int breaker_check(struct at_engine *e, const char *key, struct at_diag *d)
{
    int rc = 0;
    pthread_mutex_lock(&e->brk_mu);
    struct at_breaker *b = at_map_get(&e->breakers, key);
    if (b && b->state == 1) {
        int64_t now = at_wall_ms();
        if (now >= b->open_until) {
            b->state = 2; /* this run is the trial */
        } else {
            rc = at_diag_set(d, AT_ECIRCUIT, NULL, 0, 0,
                             "the circuit breaker of %s is open after %d consecutive failures "
                             "(execution.circuit_breaker.failure_threshold); it half-opens in "
                             "%.1f s (recovery_timeout)",
                             key, b->failures, (double)(b->open_until - now) / 1000.0);
        }
    } /* half-open: runs go through until the first result closes or reopens it
         (an agent that spawns itself needs more than one run per trial) */
    pthread_mutex_unlock(&e->brk_mu);
    return rc;
}

static void breaker_record(struct at_engine *e, const char *key, int code)
{
    if (code == AT_ECANCELED || (code && !breaker_counts(code)))
        return; /* cancellations and bad input say nothing about the agent */
    pthread_mutex_lock(&e->brk_mu);
    struct at_breaker *b = at_map_get(&e->breakers, key);
    if (!b) {
        if (code == 0) {
            pthread_mutex_unlock(&e->brk_mu);
            return;
        }
        b = at_calloc(1, sizeof(*b));
        at_map_put(&e->breakers, key, b);
    }
    if (code == 0) {
        if (b->state)
            at_info("exec", "circuit breaker of %s closed", key);
        b->failures = 0;
        b->state = 0;
    } else {
        b->failures++;
        if (b->state == 2 || (b->state == 0 && b->failures >= e->conf->exec.breaker_threshold)) {
            b->state = 1;
            b->open_until = at_wall_ms() + (int64_t)(e->conf->exec.breaker_recovery * 1000);
            at_warn("exec", "circuit breaker of %s opened after %d consecutive failures", key,
                    b->failures);
        }
    }
    pthread_mutex_unlock(&e->brk_mu);
}

json_t *at_engine_breakers_json(struct at_engine *e)
{
    static const char *const names[] = {"closed", "open", "half_open"};
    json_t *o = json_object();
    pthread_mutex_lock(&e->brk_mu);
    size_t it = 0;
    const char *k;
    void *v;
    while (at_map_next(&e->breakers, &it, &k, &v)) {
        struct at_breaker *b = v;
        json_t *j = json_pack("{s:s,s:i}", "state", names[b->state], "failures", b->failures);
        if (b->state == 1) {
            char ts[40];
            json_object_set_new(j, "open_until",
                                json_string(at_time_iso8601(b->open_until, ts, sizeof(ts))));
        }
        json_object_set_new(o, k, j);
    }
    pthread_mutex_unlock(&e->brk_mu);
    return o;
}

/* ---- token budgets (execution.resource_budget.max_tokens_per_chain) ---- */

static long long *root_tokens(struct at_engine *e, const char *root)
{
    long long *t = at_map_get(&e->root_tokens, root);
    if (!t) {
        t = at_calloc(1, sizeof(*t));
        at_map_put(&e->root_tokens, root, t);
    }
    return t;
}

long long at__engine_tree_tokens(struct at_engine *e, const char *root_id)
{
    long long *t = at_map_get(&e->root_tokens, root_id);
    return t ? *t : 0;
}

static int usage_write(struct at_store *s, void *arg)
{
    return s->ops->usage_insert(s, arg);
}

static void usage_written(int rc, void *arg)
{
    (void)rc;
    struct at_usage_rec *u = arg;
    free(u->job_id);
    free(u->root_id);
    free(u->agent);
    free(u->backend);
    free(u->model);
    free(u);
}

/* Usage an agent reported in its result (_meta io.atlas/usage): counted
 * against its tree's budget and recorded for costs. */
static void record_agent_usage(struct at_engine *e, struct at_job *j, json_t *usage)
{
    long long in = at_json_int(usage, "tokens_in", 0), out = at_json_int(usage, "tokens_out", 0);
    if (in < 0 || out < 0 || in + out == 0)
        return;
    const char *root = j->rec.root_id ? j->rec.root_id : j->rec.id;
    *root_tokens(e, root) += in + out;
    struct at_usage_rec *u = at_calloc(1, sizeof(*u));
    at_id_new("use", u->id);
    u->job_id = at_strdup(j->rec.id);
    u->root_id = at_strdup(root);
    u->agent = at_strdup(j->rec.agent);
    u->backend = at_strdup("agent");
    u->model = at_strdup(at_json_str(usage, "model", "unknown"));
    u->tokens_in = in;
    u->tokens_out = out;
    u->latency_ms = u->ttft_ms = -1;
    u->status = "reported";
    u->created_ms = at_wall_ms();
    if (at_writer_submit(e->cfg.writer, usage_write, usage_written, u))
        usage_written(AT_EBUSY, u);
}

struct usage_add {
    struct at_engine *e;
    char root[AT_ID_MAX];
    long long tokens;
};

static void do_usage_add(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct usage_add *u = arg;
    *root_tokens(u->e, u->root) += u->tokens;
    free(u);
}

void at_engine_add_usage(struct at_engine *e, const char *root_id, long long tokens)
{
    if (!root_id || !*root_id || tokens <= 0 || strlen(root_id) >= AT_ID_MAX)
        return;
    struct usage_add *u = at_malloc(sizeof(*u));
    u->e = e;
    snprintf(u->root, sizeof(u->root), "%s", root_id);
    u->tokens = tokens;
    at_loop_post(e->loop, do_usage_add, u);
}

/* Decide the job's final state and send it to the store. */
static void job_finalize(struct at_engine *e, struct at_job *j, int code, json_t *output,
                         const char *detail, const char *pointer)
{
    if (j->final)
        return;
    j->final = 1;
    j->rec.finished_ms = at_wall_ms();
    if (j->cancel_requested && code != 0) {
        j->rec.state = AT_JOB_CANCELLED;
        at_job_set_error(j, AT_ECANCELED, j->cancel_reason ? j->cancel_reason : "cancelled", NULL);
        e->n_cancelled++;
    } else if (code == 0) {
        j->rec.state = AT_JOB_COMPLETED;
        json_decref(j->rec.output);
        j->rec.output = json_incref(output);
        e->n_completed++;
    } else {
        j->rec.state = AT_JOB_FAILED;
        at_job_set_error(j, code, detail, pointer);
        e->n_failed++;
    }
    atomic_fetch_sub(&e->inflight, 1);
    if (j->agent)
        breaker_record(e, j->agent->key, code);
    if (j->cr)
        at__chain_stop(e, j);
    persist(e, j, THEN_FINAL);
    /* the in-flight table keeps its reference until the commit is seen
     * (post_retire), so cancel and stats still find the job meanwhile */

    /* a tree ends with its root: children still in flight are cancelled
     * when a job fails, is cancelled or times out */
    if (j->rec.state != AT_JOB_COMPLETED && j->waiting_children > 0)
        cancel_children(e, j);
    struct at_job *parent = j->rec.parent_id ? at_map_get(&e->jobs, j->rec.parent_id) : NULL;
    if (parent && !parent->final) {
        if (parent->waiting_children > 0 && --parent->waiting_children == 0)
            unwait(e, parent);
        if (parent->cr)
            at__chain_child_done(e, parent, j);
    }
}

void at__engine_finalize(struct at_engine *e, struct at_job *j, int code, json_t *output,
                         const char *detail, const char *pointer)
{
    job_finalize(e, j, code, output, detail, pointer);
}

static void job_retire(struct at_engine *e, struct at_job *j)
{
    emit_state(j);
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
        if (w->state != AT_W_DEAD)
            at__token_put(e, w->token, NULL);
        if (usage && json_is_object(usage)) {
            if (!j->rec.meta)
                j->rec.meta = json_object();
            json_object_set(j->rec.meta, "usage", usage);
            record_agent_usage(e, j, usage);
        }
        if (code == 0 && !j->final) {
            struct at_diag d;
            at_diag_clear(&d);
            if (at_schema_validate(j->agent->contract->output, output, &d)) {
                char msg[1200];
                snprintf(msg, sizeof(msg), "output %s", d.msg);
                job_finalize(e, j, AT_EOUTPUT, NULL, msg, d.pointer);
            } else {
                job_finalize(e, j, 0, output, NULL, NULL);
            }
        } else {
            job_finalize(e, j, code, NULL, detail, pointer);
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
    pool_free_if_empty(e, p);
    if (!atomic_load(&e->stopping))
        at__engine_pump(e);
}

void at__engine_job_progress(struct at_engine *e, struct at_job *j, json_t *params)
{
    (void)e;
    if (!json_is_object(params))
        return;
    if (!j->rec.meta)
        j->rec.meta = json_object();
    json_t *pr = json_object();
    json_t *v;
    if ((v = json_object_get(params, "progress")) && json_is_number(v))
        json_object_set(pr, "progress", v);
    if ((v = json_object_get(params, "total")) && json_is_number(v))
        json_object_set(pr, "total", v);
    if ((v = json_object_get(params, "message")) && json_is_string(v))
        json_object_set(pr, "message", v);
    json_object_set_new(j->rec.meta, "progress", pr);
    emit(j, "progress", pr);
}

void at__engine_job_log(struct at_engine *e, struct at_job *j, const char *stream, const char *text,
                        size_t len)
{
    char *clean = at_utf8_sanitize(text, len);
    at_debug("agent", "%s %s: %s", j->rec.id, stream, clean);
    if (j->subs || (e && e->nobservers)) {
        json_t *d = json_pack("{s:s,s:s}", "stream", stream, "text", clean);
        emit(j, "log", d);
        json_decref(d);
    }
    free(clean);
}

void at__engine_remote_started(struct at_engine *e, struct at_job *j)
{
    j->rec.state = AT_JOB_RUNNING;
    j->rec.started_ms = at_wall_ms();
    j->rec.attempts++;
    persist(e, j, THEN_NONE);
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
            job_finalize(e, j, AT_EOUTPUT, NULL, msg, d.pointer);
            return;
        }
    }
    job_finalize(e, j, code, output, detail, NULL);
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
    while (e->running < e->conf->exec.max_concurrent_agents) {
        struct at_pool *best = NULL;
        for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
            if (p->queue.len == 0 || !pool_can_take(p))
                continue;
            if (!best || at_jobq_before(p->queue.q[0], best->queue.q[0]))
                best = p;
        }
        if (!best)
            break;
        struct at_job *j = best->queue.q[0];
        at_jobq_remove(&best->queue, j);
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
            job_finalize(e, j, rc == AT_ENOENT ? AT_ECRASH : rc, NULL, detail, NULL);
            continue;
        }
        job_bind(e, j, w);
        if (!j->persisted)
            persist(e, j, THEN_NONE); /* acknowledge while the process starts */
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

/* ---- arrival, cancel, registry events (on the loop) ---- */

struct arrive {
    struct at_engine *e;
    struct at_job *j;
};

/* A job enters the loop (the in-flight table takes the caller's reference). */
static void arrive(struct at_engine *e, struct at_job *j)
{
    if (atomic_load(&e->stopping)) {
        /* accepted but not yet started: left queued for the next start */
        persist(e, j, THEN_NONE);
        at_job_unref(j);
        return;
    }
    at_map_put(&e->jobs, j->rec.id, j); /* the table owns the submit reference */
    j->rec.seq = (int64_t)++e->order;
    struct at_job *parent = j->rec.parent_id ? at_map_get(&e->jobs, j->rec.parent_id) : NULL;
    if (parent && !parent->final)
        wait_on_child(e, parent);
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
            job_finalize(e, j, AT_ELIMIT, NULL, msg, NULL);
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
    struct at_pool *p = pool_get(e, j->agent);
    j->pool = p;
    if (e->running >= e->conf->exec.max_concurrent_agents) {
        /* the guardrail is reported where the job is */
        if (!j->rec.meta)
            j->rec.meta = json_object();
        char why[160];
        snprintf(why, sizeof(why), "execution.max_concurrent_agents (%d) reached: queued",
                 e->conf->exec.max_concurrent_agents);
        json_object_set_new(j->rec.meta, "waited_for", json_string(why));
    }
    at_jobq_push(&p->queue, j);
    at__engine_pump(e);
    if (j->heap_idx >= 0 && !j->persisted)
        persist(e, j, THEN_NONE); /* waiting: acknowledge it as queued */
}

static void do_arrive(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct arrive *a = arg;
    struct at_engine *e = a->e;
    struct at_job *j = a->j;
    free(a);
    arrive(e, j);
}

struct cancel_req {
    struct at_engine *e;
    char id[AT_ID_MAX];
    char *reason;
};

static void cancel_job(struct at_engine *e, struct at_job *j, const char *reason)
{
    if (!j || j->final)
        return;
    j->cancel_requested = 1;
    free(j->cancel_reason);
    j->cancel_reason = at_strdup(reason ? reason : "cancelled");
    if (j->chain) {
        job_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL); /* its children follow */
    } else if (j->heap_idx >= 0 && j->pool) {
        at_jobq_remove(&j->pool->queue, j);
        atomic_fetch_sub(&e->queued, 1);
        job_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL);
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
            job_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL);
            at_job_unref(j);
            if (w->state == AT_W_BUSY)
                at__worker_become_idle(w); /* it never got the call */
            at__engine_pump(e);
        }
    } else if (j->agent && j->agent->contract->remote) {
        at__remote_cancel(e, j);
    } else {
        job_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL);
    }
}

static void do_cancel(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct cancel_req *c = arg;
    cancel_job(c->e, at_map_get(&c->e->jobs, c->id), c->reason);
    free(c->reason);
    free(c);
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
        pool_free_if_empty(e, p);
        at__engine_pump(e);
    }
    free(r->key);
    free(r);
}

static void on_registry_event(void *arg, enum at_reg_event ev, const char *name,
                              const char *version)
{
    struct at_engine *e = arg;
    struct reg_event *r = at_calloc(1, sizeof(*r));
    r->e = e;
    r->ev = ev;
    r->key = at_asprintf("%s@%s", name, version);
    at_loop_post(e->loop, do_reg_event, r);
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
    e->cfg.python_sdk_dir = cfg->python_sdk_dir ? at_strdup(cfg->python_sdk_dir) : NULL;
    e->conf = cfg->config;
    int rc = 0;
    e->loop = at_loop_new(&rc);
    if (!e->loop) {
        free((char *)e->cfg.mcp_url);
        free((char *)e->cfg.python_sdk_dir);
        free(e);
        return rc;
    }
    at_map_init(&e->pools);
    at_map_init(&e->jobs);
    at_map_init(&e->tokens);
    pthread_mutex_init(&e->stats_mu, NULL);
    pthread_cond_init(&e->stats_cv, NULL);
    pthread_mutex_init(&e->tok_mu, NULL);
    pthread_mutex_init(&e->brk_mu, NULL);
    pthread_mutex_init(&e->orch_mu, NULL);
    at_map_init(&e->breakers);
    at_map_init(&e->root_tokens);
    at_map_init(&e->orch_chains);
    copy_base_env(e);
    rc = at__remote_init(e);
    if (rc) {
        at_engine_free(e);
        return rc;
    }
    at_registry_add_listener(cfg->registry, on_registry_event, e);
    *out = e;
    return 0;
}

static void *engine_main(void *arg)
{
    struct at_engine *e = arg;
    at_loop_run(e->loop);
    return NULL;
}

int at_engine_start(struct at_engine *e)
{
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
        return AT_EIO;
    e->started = 1;
    return 0;
}

/* Fill a new job from the submission and post it to the loop (which takes
 * this reference; *out gets another). */
static void hand_over(struct at_engine *e, struct at_job *j, const struct at_submit *s,
                      struct at_job **out)
{
    j->engine = e;
    j->rec.priority = s->priority;
    j->rec.source = at_strdup(s->source ? s->source : "api");
    if (s->parent_id)
        j->rec.parent_id = at_strdup(s->parent_id);
    j->rec.root_id = at_strdup(s->root_id ? s->root_id : s->parent_id ? s->parent_id : j->rec.id);
    j->rec.depth = s->depth;
    j->on_accept = s->on_accept;
    j->accept_arg = s->accept_arg;
    if (s->on_done)
        at_job_on_done(j, s->on_done, s->done_arg);
    if (s->on_event)
        sub_add(j, s->on_event, s->event_arg); /* before the loop sees the job */
    j->on_request = s->on_request;
    j->request_arg = s->request_arg;
    if (json_is_object(s->meta))
        j->call_meta = json_deep_copy(s->meta);
    if (json_array_size(s->decisions)) {
        if (!j->rec.meta)
            j->rec.meta = json_object();
        json_object_set_new(j->rec.meta, "decisions", json_deep_copy(s->decisions));
    }
    if (!j->chain) {
        at__token_put(e, j->token, j);
        atomic_fetch_add(&e->queued, 1);
    }
    if (out)
        *out = at_job_ref(j);
    atomic_fetch_add(&e->inflight, 1);
    struct arrive *ar = at_malloc(sizeof(*ar));
    ar->e = e;
    ar->j = j;
    at_loop_post(e->loop, do_arrive, ar);
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
    hand_over(e, j, s, out);
    return 0;
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
    if (rc)
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no agent named \"%s\" is registered",
                           s->agent);
    if (atomic_load(&e->queued) >= e->conf->exec.max_queue) {
        at_reg_agent_unref(a);
        return at_diag_set(d, AT_EBUSY, NULL, 0, 0,
                           "the queue is full (%d jobs waiting; execution.max_queue)",
                           e->conf->exec.max_queue);
    }
    if ((rc = breaker_check(e, a->key, d))) {
        at_reg_agent_unref(a);
        return rc;
    }
    json_t *input = s->input ? json_deep_copy(s->input) : json_object();
    at_schema_apply_defaults(a->contract->input, input);
    struct at_diag vd;
    at_diag_clear(&vd);
    if ((rc = at_schema_validate(a->contract->input, input, &vd))) {
        at_diag_set(d, AT_ESCHEMA, NULL, 0, 0, "input %s", vd.msg);
        at_diag_set_pointer(d, vd.pointer);
        json_decref(input);
        at_reg_agent_unref(a);
        return AT_ESCHEMA;
    }
    struct at_job *j = at_job_new(a, input);
    json_decref(input);
    at_reg_agent_unref(a);
    hand_over(e, j, s, out);
    return 0;
}

/* ---- children created on the loop (chain steps, fallbacks) ---- */

static void child_links(struct at_job *c, struct at_job *parent, int role, int step, int member)
{
    c->engine = parent->engine;
    c->rec.parent_id = at_strdup(parent->rec.id);
    c->rec.root_id = at_strdup(parent->rec.root_id ? parent->rec.root_id : parent->rec.id);
    c->rec.depth = parent->rec.depth + (parent->chain ? 0 : 1);
    c->rec.source = at_strdup("chain");
    c->rec.priority = parent->rec.priority;
    c->role = role;
    c->step_idx = step;
    c->member_idx = member;
}

struct at_job *at__engine_child(struct at_engine *e, struct at_job *parent, const char *agent,
                                json_t *input, int role, int step, int member, int *rc,
                                struct at_diag *d)
{
    struct at_reg_agent *a;
    *rc = at_registry_resolve(e->cfg.registry, agent, &a);
    if (*rc) {
        *rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no agent \"%s\" is registered", agent);
        return NULL;
    }
    if ((*rc = breaker_check(e, a->key, d))) {
        at_reg_agent_unref(a);
        return NULL;
    }
    struct at_job *c = at_job_new(a, input);
    at_reg_agent_unref(a);
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
    persist(e, j, THEN_NONE);
}

/* A decision of the orchestrator: in the job's meta (persisted) and its
 * event log. */
void at__engine_decision(struct at_engine *e, struct at_job *j, const char *text)
{
    (void)e;
    if (!j->rec.meta)
        j->rec.meta = json_object();
    json_t *arr = json_object_get(j->rec.meta, "decisions");
    if (!arr) {
        arr = json_array();
        json_object_set_new(j->rec.meta, "decisions", arr);
    }
    if (json_array_size(arr) < 1000)
        json_array_append_new(arr, json_string(text));
    json_t *d = json_pack("{s:s,s:s}", "stream", "orchestrator", "text", text);
    emit(j, "log", d);
    json_decref(d);
}

/* ---- the orchestrator slot ---- */

void at_engine_set_orchestrator(struct at_engine *e, const char *agent, const char *chain)
{
    pthread_mutex_lock(&e->orch_mu);
    if (chain) {
        free(agent ? at_map_put(&e->orch_chains, chain, at_strdup(agent))
                   : at_map_del(&e->orch_chains, chain));
    } else {
        free(e->orch_default);
        e->orch_default = agent ? at_strdup(agent) : NULL;
        if (!agent) { /* reset: every chain back to the default */
            size_t it = 0;
            void *v;
            while (at_map_next(&e->orch_chains, &it, NULL, &v))
                free(v);
            at_map_release(&e->orch_chains);
            at_map_init(&e->orch_chains);
        }
    }
    pthread_mutex_unlock(&e->orch_mu);
}

char *at__engine_orchestrator_for(struct at_engine *e, const char *chain)
{
    pthread_mutex_lock(&e->orch_mu);
    const char *a = chain ? at_map_get(&e->orch_chains, chain) : NULL;
    if (!a)
        a = e->orch_default;
    char *r = a ? at_strdup(a) : NULL;
    pthread_mutex_unlock(&e->orch_mu);
    return r;
}

json_t *at_engine_orchestrator_json(struct at_engine *e)
{
    pthread_mutex_lock(&e->orch_mu);
    json_t *chains = json_object();
    size_t it = 0;
    const char *k;
    void *v;
    while (at_map_next(&e->orch_chains, &it, &k, &v))
        json_object_set_new(chains, k, json_string(v));
    json_t *o =
        json_pack("{s:o,s:o}", "default",
                  e->orch_default ? json_string(e->orch_default) : json_null(), "chains", chains);
    pthread_mutex_unlock(&e->orch_mu);
    return o;
}

/* ---- queue control ---- */

struct prio_req {
    struct at_engine *e;
    char id[AT_ID_MAX];
    int priority;
    int rc;
    int done;
};

static void do_priority(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct prio_req *r = arg;
    struct at_job *j = at_map_get(&r->e->jobs, r->id);
    int rc = AT_ENOENT;
    if (j && j->heap_idx >= 0 && j->pool) {
        at_jobq_remove(&j->pool->queue, j);
        j->rec.priority = r->priority;
        at_jobq_push(&j->pool->queue, j);
        persist(r->e, j, THEN_NONE);
        rc = 0;
    }
    pthread_mutex_lock(&r->e->stats_mu);
    r->rc = rc;
    r->done = 1;
    pthread_cond_broadcast(&r->e->stats_cv);
    pthread_mutex_unlock(&r->e->stats_mu);
}

int at_engine_set_priority(struct at_engine *e, const char *job_id, int priority)
{
    if (strlen(job_id) >= AT_ID_MAX || !e->started)
        return AT_ENOENT;
    struct prio_req *r = at_calloc(1, sizeof(*r));
    r->e = e;
    snprintf(r->id, sizeof(r->id), "%s", job_id);
    r->priority = priority;
    at_loop_post(e->loop, do_priority, r);
    pthread_mutex_lock(&e->stats_mu);
    while (!r->done)
        pthread_cond_wait(&e->stats_cv, &e->stats_mu);
    pthread_mutex_unlock(&e->stats_mu);
    int rc = r->rc;
    free(r);
    return rc;
}

int at_engine_drain(struct at_engine *e, int on)
{
    atomic_store(&e->draining, on ? 1 : 0);
    return atomic_load(&e->inflight);
}

int at_engine_spawn(struct at_engine *e, const struct at_token_info *parent,
                    const struct at_submit *s, struct at_job **out, struct at_diag *d)
{
    if (!parent->spawn_agents)
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "agent %s may not spawn agents (its contract does not set "
                           "requires.spawn_agents: true)",
                           parent->agent);
    int max = e->conf->exec.max_spawn_depth;
    if (parent->depth + 1 > max)
        return at_diag_set(d, AT_ELIMIT, NULL, 0, 0,
                           "spawn depth limit reached: job %s is at depth %d and "
                           "execution.max_spawn_depth is %d",
                           parent->job_id, parent->depth, max);
    struct at_submit child = *s;
    child.parent_id = parent->job_id;
    child.root_id = parent->root_id;
    child.depth = parent->depth + 1;
    if (!child.source)
        child.source = "spawn";
    return at_engine_submit(e, &child, out, d);
}

int at_engine_cancel(struct at_engine *e, const char *job_id, const char *reason)
{
    if (strlen(job_id) >= AT_ID_MAX)
        return AT_ENOENT;
    struct cancel_req *c = at_calloc(1, sizeof(*c));
    c->e = e;
    snprintf(c->id, sizeof(c->id), "%s", job_id);
    c->reason = reason ? at_strdup(reason) : NULL;
    at_loop_post(e->loop, do_cancel, c);
    return 0;
}

struct watch_req {
    struct at_engine *e;
    char id[AT_ID_MAX];
    at_job_event_fn fn;
    void *arg;
    int remove;
};

static void do_watch(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct watch_req *w = arg;
    struct at_job *j = at_map_get(&w->e->jobs, w->id);
    if (!w->remove) {
        if (j && !j->final) {
            sub_add(j, w->fn, w->arg);
            emit_state(j); /* tell the new subscriber where the job is */
        } else {
            w->fn(w->id, "end", NULL, w->arg);
        }
    } else if (j) {
        for (struct at_job_sub **pp = &j->subs; *pp; pp = &(*pp)->next) {
            if ((*pp)->arg == w->arg) {
                struct at_job_sub *s = *pp;
                *pp = s->next;
                s->fn(w->id, "end", NULL, s->arg);
                free(s);
                break;
            }
        }
    }
    free(w);
}

static void post_watch(struct at_engine *e, const char *job_id, at_job_event_fn fn, void *arg,
                       int remove)
{
    struct watch_req *w = at_calloc(1, sizeof(*w));
    w->e = e;
    snprintf(w->id, sizeof(w->id), "%s", job_id);
    w->fn = fn;
    w->arg = arg;
    w->remove = remove;
    at_loop_post(e->loop, do_watch, w);
}

void at_engine_watch(struct at_engine *e, const char *job_id, at_job_event_fn fn, void *arg)
{
    post_watch(e, job_id, fn, arg, 0);
}

void at_engine_unwatch(struct at_engine *e, const char *job_id, void *arg)
{
    post_watch(e, job_id, NULL, arg, 1);
}

/* ---- stats ---- */

struct stats_req {
    struct at_engine *e;
    json_t *out;
    int done;
};

static void do_stats(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct stats_req *r = arg;
    struct at_engine *e = r->e;
    json_t *pools = json_array();
    for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
        int busy = 0;
        for (struct at_worker *w = p->workers; w; w = w->next)
            busy += w->state == AT_W_BUSY;
        json_array_append_new(pools,
                              json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:b}", "agent", p->key,
                                        "workers", p->nworkers, "idle", p->nidle, "busy", busy,
                                        "starting", p->nstarting, "queued", p->queue.len, "min",
                                        p->min, "max", p->max, "draining", p->draining));
    }
    json_t *o =
        json_pack("{s:i,s:i,s:i,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "running", e->running, "queued",
                  atomic_load(&e->queued), "max_concurrent", e->conf->exec.max_concurrent_agents,
                  "pools", pools, "totals", "completed", (json_int_t)e->n_completed, "failed",
                  (json_int_t)e->n_failed, "cancelled", (json_int_t)e->n_cancelled, "cold_starts",
                  (json_int_t)e->n_cold_starts, "worker_crashes", (json_int_t)e->n_worker_crashes,
                  "workers_replaced", (json_int_t)e->n_worker_replaced);
    pthread_mutex_lock(&e->stats_mu);
    r->out = o;
    r->done = 1;
    pthread_cond_broadcast(&e->stats_cv);
    pthread_mutex_unlock(&e->stats_mu);
}

json_t *at_engine_stats_json(struct at_engine *e)
{
    struct stats_req *r = at_calloc(1, sizeof(*r));
    r->e = e;
    if (!e->started || atomic_load(&e->stopping)) {
        free(r);
        return json_pack("{s:i,s:i}", "running", 0, "queued", atomic_load(&e->queued));
    }
    at_loop_post(e->loop, do_stats, r);
    pthread_mutex_lock(&e->stats_mu);
    while (!r->done)
        pthread_cond_wait(&e->stats_cv, &e->stats_mu);
    pthread_mutex_unlock(&e->stats_mu);
    json_t *o = r->out;
    free(r);
    return o;
}

/* ---- recovery ---- */

static int recover_one(struct at_store *s, void *arg)
{
    return s->ops->job_update(s, arg);
}

int at_engine_recover(struct at_engine *e, int *requeued, int *failed)
{
    struct at_job_rec *recs;
    size_t n;
    *requeued = *failed = 0;
    int rc = at_store_call(e->cfg.store, job_unfinished, &recs, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct at_job_rec *r = &recs[i];
        int is_chain = r->kind && strcmp(r->kind, "chain") == 0;
        int requeue = !is_chain &&
                      (r->state == AT_JOB_QUEUED || (r->state == AT_JOB_RUNNING && r->idempotent));
        struct at_reg_agent *a = NULL;
        char ref[512];
        snprintf(ref, sizeof(ref), "%s:%s", r->agent, r->agent_version);
        if (requeue && at_registry_resolve(e->cfg.registry, ref, &a) != 0) {
            requeue = 0;
            json_decref(r->error);
            r->error = at_error_json(AT_ENOENT,
                                     "the agent version was unregistered while the "
                                     "job waited",
                                     NULL);
        } else if (!requeue) {
            json_decref(r->error);
            r->error = at_error_json(AT_ERESTART,
                                     is_chain ? "the daemon stopped while the chain ran; its "
                                                "steps that had finished are kept as jobs"
                                              : "the daemon stopped while the job was running; "
                                                "the agent is not idempotent, so it was not run "
                                                "again",
                                     NULL);
        }
        if (!requeue) {
            r->state = AT_JOB_FAILED;
            r->finished_ms = at_wall_ms();
            at_store_call(e->cfg.store, job_update, r);
            (*failed)++;
            continue;
        }
        /* back into the queue, in its original order */
        struct at_job *j = at_job_new(a, r->input);
        at_reg_agent_unref(a);
        at_job_rec_release(&j->rec);
        at_job_rec_copy(&j->rec, r);
        j->rec.state = AT_JOB_QUEUED;
        j->persisted = 1;
        j->engine = e;
        at__token_put(e, j->token, j);
        if (r->state == AT_JOB_RUNNING) {
            if (!j->rec.meta)
                j->rec.meta = json_object();
            json_object_set_new(j->rec.meta, "requeued_after_restart", json_true());
            at_writer_submit(e->cfg.writer, recover_one, NULL, &j->rec);
            at_writer_flush(e->cfg.writer);
        }
        atomic_fetch_add(&e->queued, 1);
        atomic_fetch_add(&e->inflight, 1);
        struct arrive *ar = at_malloc(sizeof(*ar));
        ar->e = e;
        ar->j = j;
        at_loop_post(e->loop, do_arrive, ar);
        (*requeued)++;
    }
    at_job_recs_free(recs, n);
    return 0;
}

/* ---- shutdown ---- */

static void do_stop(struct at_loop *loop, void *arg)
{
    struct at_engine *e = arg;
    (void)loop;
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
    e->started = 0;
}

void at_engine_free(struct at_engine *e)
{
    if (!e)
        return;
    at_engine_stop(e);
    at__remote_free(e);
    /* jobs still in flight stay in the store as they are (recovery) */
    size_t it = 0;
    void *v;
    while (at_map_next(&e->jobs, &it, NULL, &v))
        at_job_unref(v);
    at_map_release(&e->jobs);
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
    it = 0;
    while (at_map_next(&e->tokens, &it, NULL, &v))
        free(v);
    at_map_release(&e->tokens);
    for (char **s = e->base_env; s && *s; s++)
        free(*s);
    free(e->base_env);
    pthread_mutex_destroy(&e->stats_mu);
    pthread_cond_destroy(&e->stats_cv);
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
    free((char *)e->cfg.python_sdk_dir);
    free(e);
}
