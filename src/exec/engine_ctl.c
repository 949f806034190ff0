/*
 * engine_ctl.c - control calls from other threads: tokens, cancel, watch, priority,
 * drain, stats, the orchestrator slot.  Those that need an answer from
 * the loop go through at__engine_call, the one "run this on the loop and
 * wait" helper.
 */
#include "exec/engine_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ---- */

struct tok {
    int valid;               /* 0: a process token while its process is idle */
    int64_t egress_until_ns; /* !valid: its cancelled job's egress until then (0: none) */
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
        snprintf(t->info.owner, sizeof(t->info.owner), "%s", j->owner);
        t->info.platform_tools = j->agent ? j->agent->contract->platform_tools : 0;
        t->info.spawn_agents = j->agent ? j->agent->contract->spawn_agents : 0;
        const char *tier =
            json_string_value(json_object_get(json_object_get(j->rec.meta, "model"), "tier"));
        t->info.tier = !tier ? -1 : !strcmp(tier, "fast") ? 0 : !strcmp(tier, "balanced") ? 1 : 2;
        const char *orch = json_string_value(
            json_object_get(json_object_get(j->rec.meta, "model"), "orchestrator"));
        snprintf(t->info.orchestrator, sizeof(t->info.orchestrator), "%s", orch ? orch : "");
        const json_t *scope = json_object_get(j->rec.input, "scope");
        char *sc = json_is_array(scope) ? json_dumps(scope, JSON_COMPACT) : NULL;
        if (sc && strlen(sc) < sizeof(t->info.scope))
            snprintf(t->info.scope, sizeof(t->info.scope), "%s", sc);
        else if (sc)
            snprintf(t->info.scope, sizeof(t->info.scope), "!");
        free(sc);
        const char *sl = json_string_value(json_object_get(j->rec.meta, "semantic_log"));
        if (sl && strlen(sl) < sizeof(t->info.semantic_log))
            snprintf(t->info.semantic_log, sizeof(t->info.semantic_log), "%s", sl);
    }
    pthread_mutex_lock(&e->tok_mu);
    free(at_map_put(&e->tokens, token, t));
    pthread_mutex_unlock(&e->tok_mu);
}

void at__token_wind_down(struct at_engine *e, const char *token, int grace_ms)
{
    pthread_mutex_lock(&e->tok_mu);
    struct tok *t = at_map_get(&e->tokens, token);
    if (t && t->valid) {
        t->valid = 0;
        t->egress_until_ns = at_now_ns() + (int64_t)grace_ms * 1000000;
    }
    pthread_mutex_unlock(&e->tok_mu);
    if (!t)
        at__token_put(e, token, NULL);
}

int at_engine_token_egress_info(struct at_engine *e, const char *token, struct at_token_info *out)
{
    if (!token || !*token)
        return AT_ENOENT;
    pthread_mutex_lock(&e->tok_mu);
    struct tok *t = at_map_get(&e->tokens, token);
    int rc =
        t && (t->valid || (t->egress_until_ns && at_now_ns() < t->egress_until_ns)) ? 0 : AT_ENOENT;
    if (!rc)
        *out = t->info;
    pthread_mutex_unlock(&e->tok_mu);
    return rc;
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

struct semantic_set {
    struct at_engine *e;
    char job_id[AT_ID_MAX];
    char digest[80];
};

static void do_set_semantic(struct at_loop *loop, void *arg)
{
    struct semantic_set *m = arg;
    (void)loop;
    struct at_job *j = at_map_get(&m->e->jobs, m->job_id);
    if (j)
        json_object_set_new(at__job_meta_mut(j), "semantic_log", json_string(m->digest));
    free(m);
}

int at_engine_set_semantic(struct at_engine *e, const char *token, const char *digest)
{
    if (!token || !*token || !digest || strncmp(digest, "sha256:", 7) != 0 ||
        strlen(digest) != 7 + 64)
        return AT_EINVAL;
    struct semantic_set *m = at_calloc(1, sizeof(*m));
    m->e = e;
    snprintf(m->digest, sizeof(m->digest), "%s", digest);
    pthread_mutex_lock(&e->tok_mu);
    struct tok *t = at_map_get(&e->tokens, token);
    int rc = t && t->valid ? 0 : AT_ENOENT;
    if (!rc) {
        snprintf(t->info.semantic_log, sizeof(t->info.semantic_log), "%s", digest);
        snprintf(m->job_id, sizeof(m->job_id), "%s", t->info.job_id);
    }
    pthread_mutex_unlock(&e->tok_mu);
    if (rc) {
        free(m);
        return rc;
    }
    /* the job's own meta (its receipt) is the loop's to change */
    if (at_loop_try_post(e->loop, do_set_semantic, m)) {
        free(m);
        return AT_EBUSY;
    }
    return 0;
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

/* ---- run on the loop and wait ---- */

struct call {
    struct at_engine *e;
    void (*fn)(struct at_engine *e, void *arg);
    void *arg;
    int done; /* under e->call_mu */
};

static void do_call(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct call *c = arg;
    struct at_engine *e = c->e;
    c->fn(e, c->arg);
    pthread_mutex_lock(&e->call_mu);
    c->done = 1; /* c lives on the caller's stack: not touched after this */
    pthread_cond_broadcast(&e->call_cv);
    pthread_mutex_unlock(&e->call_mu);
}

int at__engine_call(struct at_engine *e, void (*fn)(struct at_engine *e, void *arg), void *arg)
{
    if (!e->started || atomic_load(&e->stopping))
        return AT_ESTATE;
    if (pthread_equal(pthread_self(), e->thread)) {
        fn(e, arg);
        return 0;
    }
    struct call c = {.e = e, .fn = fn, .arg = arg};
    int rc = at_loop_try_post(e->loop, do_call, &c);
    if (rc)
        return rc;
    pthread_mutex_lock(&e->call_mu);
    while (!c.done && !e->loop_exited)
        pthread_cond_wait(&e->call_cv, &e->call_mu);
    int done = c.done;
    pthread_mutex_unlock(&e->call_mu);
    /* not done: the loop stopped before it reached the post, which it will
     * never run (at_loop_free drops it without touching c) */
    return done ? 0 : AT_ESTATE;
}

/* ---- queue control ---- */

struct prio_req {
    const char *id;
    int priority;
    int rc;
    int position; /* in its agent's queue after the change, 1 first */
};

/* 1-based place of j in its pool's dispatch order. */
static int queue_position(const struct at_pool *p, const struct at_job *j)
{
    int pos = 1;
    for (int i = 0; i < p->queue.len; i++)
        if (p->queue.q[i] != j && at_jobq_before(p->queue.q[i], j))
            pos++;
    return pos;
}

static void do_priority(struct at_engine *e, void *arg)
{
    struct prio_req *r = arg;
    struct at_job *j = at_map_get(&e->jobs, r->id);
    r->rc = AT_ENOENT;
    if (j && j->heap_idx >= 0 && j->pool) {
        at_jobq_remove(&j->pool->queue, j);
        j->rec.priority = r->priority;
        at_jobq_push(&j->pool->queue, j);
        at__engine_persist_then(e, j, AT_THEN_NONE);
        r->position = queue_position(j->pool, j);
        r->rc = 0;
        at__engine_pump(e); /* a pool with room takes the new head at once */
    }
}

int at_engine_set_priority(struct at_engine *e, const char *job_id, int priority)
{
    return at_engine_queue_priority(e, job_id, priority, NULL);
}

int at_engine_queue_priority(struct at_engine *e, const char *job_id, int priority, int *position)
{
    if (strlen(job_id) >= AT_ID_MAX)
        return AT_ENOENT;
    struct prio_req r = {.id = job_id, .priority = priority};
    int rc = at__engine_call(e, do_priority, &r);
    if (rc == AT_ESTATE)
        return AT_ENOENT; /* not started or stopping: nothing is queued here */
    if (rc)
        return rc;
    if (!r.rc && position)
        *position = r.position;
    return r.rc;
}

/* Sort helper: dispatch order. */
static int cmp_jobs(const void *a, const void *b)
{
    const struct at_job *x = *(const struct at_job *const *)a;
    const struct at_job *y = *(const struct at_job *const *)b;
    return at_jobq_before(x, y) ? -1 : at_jobq_before(y, x) ? 1 : 0;
}

static int agent_matches(const struct at_pool *p, const char *agent)
{
    if (!agent)
        return 1;
    const struct at_contract *c = p->agent->contract;
    size_t n = strlen(c->name);
    if (strncmp(agent, c->name, n) != 0)
        return 0;
    /* "name", "name:version" or "name@version" */
    return agent[n] == 0 ||
           ((agent[n] == ':' || agent[n] == '@') && strcmp(agent + n + 1, c->version) == 0);
}

int at__pool_held(const struct at_engine *e, const struct at_pool *p)
{
    return e->hold_all || at_map_get(&e->held, p->agent->contract->name) != NULL;
}

struct queue_req {
    const char *agent;
    json_t *out;
};

static void do_queue(struct at_engine *e, void *arg)
{
    struct queue_req *r = arg;
    json_t *agents = json_array();
    int total = 0;
    /* the order across pools: what the pump would pick with room everywhere */
    struct at_job **all = NULL;
    size_t nall = 0;
    for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
        all = at_realloc(all, (nall + (size_t)p->queue.len + 1) * sizeof(*all));
        for (int i = 0; i < p->queue.len; i++)
            all[nall++] = p->queue.q[i];
    }
    if (nall)
        qsort(all, nall, sizeof(*all), cmp_jobs);
    for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
        if (!agent_matches(p, r->agent))
            continue;
        int n = p->queue.len;
        struct at_job **q = at_calloc((size_t)n + 1, sizeof(*q));
        for (int i = 0; i < n; i++)
            q[i] = p->queue.q[i];
        qsort(q, (size_t)n, sizeof(*q), cmp_jobs);
        json_t *jobs = json_array();
        for (int i = 0; i < n; i++) {
            size_t order = 0;
            while (order < nall && all[order] != q[i])
                order++;
            char ts[40];
            json_array_append_new(
                jobs,
                json_pack("{s:s,s:i,s:i,s:I,s:s,s:s,s:o}", "id", q[i]->rec.id, "priority",
                          q[i]->rec.priority, "position", i + 1, "order", (json_int_t)order + 1,
                          "created_at", at_time_iso8601(q[i]->rec.created_ms, ts, sizeof(ts)),
                          "source", q[i]->rec.source ? q[i]->rec.source : "", "parent",
                          q[i]->rec.parent_id ? json_string(q[i]->rec.parent_id) : json_null()));
        }
        free(q);
        int busy = 0;
        for (struct at_worker *w = p->workers; w; w = w->next)
            busy += w->state == AT_W_BUSY;
        total += n;
        json_array_append_new(
            agents, json_pack("{s:s,s:s,s:s,s:b,s:b,s:i,s:i,s:i,s:o}", "agent", p->key, "name",
                              p->agent->contract->name, "version", p->agent->contract->version,
                              "held", at__pool_held(e, p), "draining", p->draining, "running", busy,
                              "max", p->max, "queued", n, "jobs", jobs));
    }
    free(all);
    json_t *held = json_array();
    size_t it = 0;
    const char *k;
    while (at_map_next(&e->held, &it, &k, NULL))
        json_array_append_new(held, json_string(k));
    r->out = json_pack("{s:b,s:o,s:i,s:i,s:o}", "held_all", e->hold_all, "held", held, "queued",
                       total, "running", e->running, "agents", agents);
}

int at_engine_queue_json(struct at_engine *e, const char *agent, json_t **out)
{
    struct queue_req r = {.agent = agent};
    int rc = at__engine_call(e, do_queue, &r);
    if (rc)
        return rc;
    *out = r.out;
    return 0;
}

struct hold_req {
    const char *agent; /* a name, or NULL: every agent */
    int on;
    int queued, running; /* what the change concerns */
};

static void do_hold(struct at_engine *e, void *arg)
{
    struct hold_req *r = arg;
    if (!r->agent) {
        e->hold_all = r->on;
        if (!r->on) { /* resume all: every hold goes */
            at_map_release(&e->held);
            at_map_init(&e->held);
        }
    } else if (r->on) {
        at_map_put(&e->held, r->agent, (void *)1);
    } else {
        at_map_del(&e->held, r->agent);
    }
    for (struct at_pool *p = e->all_pools; p; p = p->next_all) {
        if (!agent_matches(p, r->agent))
            continue;
        r->queued += p->queue.len;
        for (struct at_worker *w = p->workers; w; w = w->next)
            r->running += w->state == AT_W_BUSY;
    }
    if (!r->on)
        at__engine_pump(e);
}

int at_engine_queue_hold(struct at_engine *e, const char *agent, int on, int *queued, int *running)
{
    if (agent && (!*agent || strchr(agent, ':') || strchr(agent, '@')))
        return AT_EINVAL; /* held by name: every version of the agent */
    struct hold_req r = {.agent = agent, .on = on};
    int rc = at__engine_call(e, do_hold, &r);
    if (rc)
        return rc;
    if (queued)
        *queued = r.queued;
    if (running)
        *running = r.running;
    return 0;
}

static void do_setconf(struct at_engine *e, void *arg)
{
    atomic_store(&e->conf, (const struct at_config *)arg);
    at__engine_pump(e);
}

void at_engine_set_config(struct at_engine *e, const struct at_config *c)
{
    if (at__engine_call(e, do_setconf, (void *)c) != 0)
        atomic_store(&e->conf, c); /* the loop is not running (stopping) */
}

int at_engine_drain(struct at_engine *e, int on)
{
    atomic_store(&e->draining, on ? 1 : 0);
    return atomic_load(&e->inflight);
}

struct cancel_req {
    struct at_engine *e;
    char id[AT_ID_MAX];
    char *reason;
};

static void do_cancel(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct cancel_req *c = arg;
    at__engine_cancel_job(c->e, at_map_get(&c->e->jobs, c->id), c->reason);
    free(c->reason);
    free(c);
}

int at_engine_cancel(struct at_engine *e, const char *job_id, const char *reason)
{
    if (strlen(job_id) >= AT_ID_MAX)
        return AT_ENOENT;
    struct cancel_req *c = at_calloc(1, sizeof(*c));
    c->e = e;
    snprintf(c->id, sizeof(c->id), "%s", job_id);
    c->reason = reason ? at_strdup(reason) : NULL;
    if (at_loop_try_post(e->loop, do_cancel, c)) {
        free(c->reason);
        free(c);
        return AT_EBUSY;
    }
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
            at__job_sub_add(j, w->fn, w->arg);
            at__job_emit_state(j); /* tell the new subscriber where the job is */
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

static void do_stats(struct at_engine *e, void *arg)
{
    json_t **out = arg;
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
    *out = o;
}

json_t *at_engine_stats_json(struct at_engine *e)
{
    json_t *o = NULL;
    if (at__engine_call(e, do_stats, &o))
        return json_pack("{s:i,s:i}", "running", 0, "queued", atomic_load(&e->queued));
    return o;
}
