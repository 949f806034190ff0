#include "exec/job.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/utf8.h"
#include "chain/chain.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct at_job *at_job_new(struct at_reg_agent *agent, json_t *input)
{
    struct at_job *j = at_calloc(1, sizeof(*j));
    atomic_init(&j->refs, 1);
    pthread_mutex_init(&j->mu, NULL);
    j->agent = at_reg_agent_ref(agent);
    at_id_new("job", j->rec.id);
    j->rec.agent = at_strdup(agent->contract->name);
    j->rec.agent_version = at_strdup(agent->contract->version);
    j->rec.state = AT_JOB_QUEUED;
    j->rec.input = json_incref(input);
    j->rec.idempotent = agent->contract->idempotent;
    j->rec.created_ms = at_wall_ms();
    j->heap_idx = -1;
    at_timer_init(&j->t_first);
    j->accepted_ns = at_now_ns();
    at_token_new(24, j->token, sizeof(j->token));
    return j;
}

struct at_job *at_job_new_chain(struct at_chain *chain, json_t *input)
{
    struct at_job *j = at_calloc(1, sizeof(*j));
    atomic_init(&j->refs, 1);
    pthread_mutex_init(&j->mu, NULL);
    j->chain = at_chain_ref(chain);
    at_id_new("job", j->rec.id);
    j->rec.agent = at_strdup(chain->name);
    j->rec.agent_version = at_strdup("");
    j->rec.kind = at_strdup("chain");
    j->rec.state = AT_JOB_QUEUED;
    j->rec.input = json_incref(input);
    j->rec.created_ms = at_wall_ms();
    j->heap_idx = -1;
    at_timer_init(&j->t_first);
    j->accepted_ns = at_now_ns();
    at_token_new(24, j->token, sizeof(j->token));
    return j;
}

struct at_job *at_job_ref(struct at_job *j)
{
    if (j)
        atomic_fetch_add(&j->refs, 1);
    return j;
}

void at_job_unref(struct at_job *j)
{
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    struct at_job_waiter *w = j->waiters;
    while (w) {
        struct at_job_waiter *next = w->next;
        free(w);
        w = next;
    }
    at_job_rec_release(&j->rec);
    at_job_rec_release(&j->final_rec);
    at_reg_agent_unref(j->agent);
    at_chain_unref(j->chain);
    json_decref(j->call_meta);
    json_decref(j->input_rid);
    free(j->cancel_reason);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

void at_job_on_done(struct at_job *j, at_job_done_fn fn, void *arg)
{
    pthread_mutex_lock(&j->mu);
    if (j->committed_final) {
        pthread_mutex_unlock(&j->mu);
        fn(&j->final_rec, j->final_rc, arg);
        return;
    }
    struct at_job_waiter *w = at_malloc(sizeof(*w));
    w->fn = fn;
    w->arg = arg;
    w->next = j->waiters;
    j->waiters = w;
    pthread_mutex_unlock(&j->mu);
}

void at__job_finish_committed(struct at_job *j, const struct at_job_rec *rec, int store_rc)
{
    pthread_mutex_lock(&j->mu);
    if (j->committed_final) {
        pthread_mutex_unlock(&j->mu);
        return;
    }
    at_job_rec_copy(&j->final_rec, rec);
    j->final_rc = store_rc;
    j->committed_final = 1;
    struct at_job_waiter *w = j->waiters;
    j->waiters = NULL;
    pthread_mutex_unlock(&j->mu);
    /* waiters were pushed at the head: call them in registration order */
    struct at_job_waiter *rev = NULL;
    while (w) {
        struct at_job_waiter *next = w->next;
        w->next = rev;
        rev = w;
        w = next;
    }
    while (rev) {
        struct at_job_waiter *next = rev->next;
        rev->fn(&j->final_rec, store_rc, rev->arg);
        free(rev);
        rev = next;
    }
}

void at__job_abandon(struct at_job *j, int code)
{
    pthread_mutex_lock(&j->mu);
    if (j->committed_final) {
        pthread_mutex_unlock(&j->mu);
        return;
    }
    struct at_job_waiter *w = j->waiters;
    j->waiters = NULL;
    at_job_accept_fn accept = j->on_accept;
    void *accept_arg = j->accept_arg;
    j->on_accept = NULL;
    pthread_mutex_unlock(&j->mu);
    if (accept)
        accept(j->rec.id, code, accept_arg);
    struct at_job_waiter *rev = NULL;
    while (w) {
        struct at_job_waiter *next = w->next;
        w->next = rev;
        rev = w;
        w = next;
    }
    while (rev) {
        struct at_job_waiter *next = rev->next;
        rev->fn(&j->rec, code, rev->arg);
        free(rev);
        rev = next;
    }
}

void at__job_accept_committed(struct at_job *j, int store_rc)
{
    pthread_mutex_lock(&j->mu);
    at_job_accept_fn fn = j->on_accept;
    void *arg = j->accept_arg;
    j->on_accept = NULL;
    pthread_mutex_unlock(&j->mu);
    if (fn)
        fn(j->rec.id, store_rc, arg);
}

int at__json_shared(const json_t *v)
{
    if (!v)
        return 0;
    /* the acquire pairs with jansson's release decref: once another
     * thread's last reference is gone, its reads of v happened before */
    size_t refs = __atomic_load_n(&v->refcount, __ATOMIC_ACQUIRE);
    return refs != 1; /* (size_t)-1: a static value, never changed */
}

json_t *at__job_meta_mut(struct at_job *j)
{
    json_t *m = j->rec.meta;
    if (!m) {
        j->rec.meta = json_object();
    } else if (at__json_shared(m)) {
        j->rec.meta = json_deep_copy(m);
        json_decref(m);
    }
    return j->rec.meta;
}

json_t *at__json_member_mut(json_t *obj, const char *key, json_t *(*make)(void))
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        v = make();
        json_object_set_new(obj, key, v);
    } else if (at__json_shared(v)) {
        v = json_deep_copy(v);
        json_object_set_new(obj, key, v);
    }
    return v;
}

json_t *at_error_json(int code, const char *detail, const char *pointer)
{
    json_t *e = at_json_problem(code, detail, pointer);
    json_object_set_new(e, "code", json_string(at_err_slug(code)));
    return e;
}

void at_job_set_error(struct at_job *j, int code, const char *detail, const char *pointer)
{
    json_decref(j->rec.error);
    j->rec.error = at_error_json(code, detail, pointer);
}
