/*
 * engine_guard.c - guardrails: circuit breakers (execution.circuit_breaker), token
 * budgets per job tree (execution.resource_budget.max_tokens_per_chain),
 * the queue limit (execution.max_queue) and the spawn depth limit.
 */
#include "exec/engine_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
int at__breaker_check(struct at_engine *e, const char *key, struct at_diag *d)
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

void at__breaker_record(struct at_engine *e, const char *key, int code)
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

long long at__sat_add(long long a, long long b)
{
    if (a < 0)
        a = 0;
    if (b < 0)
        b = 0;
    return a > LLONG_MAX - b ? LLONG_MAX : a + b;
}

void at__engine_tree_add(struct at_engine *e, const char *root_id, long long tokens)
{
    long long *t = root_tokens(e, root_id);
    *t = at__sat_add(*t, tokens);
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
void at__engine_record_usage(struct at_engine *e, struct at_job *j, json_t *usage)
{
    long long in = at_json_int(usage, "tokens_in", 0), out = at_json_int(usage, "tokens_out", 0);
    if (in < 0 || out < 0 || (in == 0 && out == 0))
        return; /* in + out could overflow: each is checked alone */
    const char *root = j->rec.root_id ? j->rec.root_id : j->rec.id;
    at__engine_tree_add(e, root, at__sat_add(in, out));
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
    at__engine_tree_add(u->e, u->root, u->tokens);
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

/* ---- queue and spawn limits ---- */

int at__guard_queue_admit(struct at_engine *e, struct at_diag *d)
{
    if (atomic_load(&e->queued) >= e->conf->exec.max_queue)
        return at_diag_set(d, AT_EBUSY, NULL, 0, 0,
                           "the queue is full (%d jobs waiting; execution.max_queue)",
                           e->conf->exec.max_queue);
    return 0;
}

int at__guard_spawn(struct at_engine *e, const struct at_token_info *parent, struct at_diag *d)
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
    return 0;
}
