/*
 * live.c - the daemon's live cluster (sched.h "the live cluster"): nodes,
 * states and reservations behind one mutex, where a placement decides and
 * reserves in one step.
 */
#include "sched/sched.h"

#include "base/alloc.h"
#include "base/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct at_sched {
    pthread_mutex_t mu;
    struct at_sched_policy policy;
    struct at_sched_cluster c;
    uint64_t seq; /* reservations made */
};

struct at_sched *at_sched_new(const struct at_sched_policy *p)
{
    struct at_sched *s = at_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    if (p)
        s->policy = *p;
    else
        at_sched_policy_default(&s->policy);
    at_sched_cluster_init(&s->c);
    return s;
}

void at_sched_free(struct at_sched *s)
{
    if (!s)
        return;
    at_sched_cluster_release(&s->c);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void at_sched_set_policy(struct at_sched *s, const struct at_sched_policy *p)
{
    pthread_mutex_lock(&s->mu);
    s->policy = *p;
    pthread_mutex_unlock(&s->mu);
}

void at_sched_get_policy(struct at_sched *s, struct at_sched_policy *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->policy;
    pthread_mutex_unlock(&s->mu);
}

static struct at_sched_node *find(struct at_sched *s, const char *name)
{
    for (int i = 0; name && i < s->c.nnodes; i++)
        if (strcmp(s->c.nodes[i].name, name) == 0)
            return &s->c.nodes[i];
    return NULL;
}

int at_sched_put_node(struct at_sched *s, const struct at_sched_node *n)
{
    if (!n->name[0])
        return AT_EINVAL;
    pthread_mutex_lock(&s->mu);
    struct at_sched_node *old = find(s, n->name);
    if (!old) {
        int i = at_sched_cluster_add(&s->c, n);
        struct at_sched_node *m = &s->c.nodes[i];
        free(m->resv);
        m->resv = NULL;
        m->nresv = m->resv_cap = 0;
    } else {
        struct at_sched_resv *resv = old->resv;
        int nresv = old->nresv, cap = old->resv_cap;
        old->resv = NULL;
        at_sched_node_release(old);
        at_sched_node_copy(old, n);
        free(old->resv);
        old->resv = resv;
        old->nresv = nresv;
        old->resv_cap = cap;
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int at_sched_set_state(struct at_sched *s, const char *name, enum at_sched_state st)
{
    pthread_mutex_lock(&s->mu);
    struct at_sched_node *n = find(s, name);
    if (n)
        n->state = st;
    pthread_mutex_unlock(&s->mu);
    return n ? 0 : AT_ENOENT;
}

int at_sched_set_label(struct at_sched *s, const char *name, const char *key, const char *value)
{
    pthread_mutex_lock(&s->mu);
    struct at_sched_node *n = find(s, name);
    int rc = n ? at_sched_node_set_label(n, key, value) : AT_ENOENT;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_sched_remove_node(struct at_sched *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    struct at_sched_node *n = find(s, name);
    if (n) {
        int i = (int)(n - s->c.nodes);
        at_sched_node_release(n);
        memmove(n, n + 1, (size_t)(s->c.nnodes - i - 1) * sizeof(*n));
        s->c.nnodes--;
    }
    pthread_mutex_unlock(&s->mu);
    return n ? 0 : AT_ENOENT;
}

int at_sched_get_node(struct at_sched *s, const char *name, struct at_sched_node *out)
{
    pthread_mutex_lock(&s->mu);
    struct at_sched_node *n = find(s, name);
    if (n)
        at_sched_node_copy(out, n);
    else
        at_sched_node_init(out);
    pthread_mutex_unlock(&s->mu);
    return n ? 0 : AT_ENOENT;
}

void at_sched_snapshot(struct at_sched *s, struct at_sched_cluster *out)
{
    at_sched_cluster_init(out);
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->c.nnodes; i++)
        at_sched_cluster_add(out, &s->c.nodes[i]);
    pthread_mutex_unlock(&s->mu);
}

/* the node and index of job_id's reservation, or NULL (under mu) */
static struct at_sched_node *holder(struct at_sched *s, const char *job_id, int *idx)
{
    for (int i = 0; i < s->c.nnodes; i++) {
        struct at_sched_node *n = &s->c.nodes[i];
        for (int k = 0; k < n->nresv; k++)
            if (strcmp(n->resv[k].job_id, job_id) == 0) {
                *idx = k;
                return n;
            }
    }
    return NULL;
}

/* Reserve r on n, on GPU position gpu (-1 none). Under mu. */
static void reserve(struct at_sched *s, struct at_sched_node *n, const struct at_sched_req *r,
                    int gpu)
{
    if (n->nresv == n->resv_cap) {
        n->resv_cap = n->resv_cap ? n->resv_cap * 2 : 4;
        n->resv = at_realloc(n->resv, (size_t)n->resv_cap * sizeof(*n->resv));
    }
    struct at_sched_resv *v = &n->resv[n->nresv++];
    memset(v, 0, sizeof(*v));
    snprintf(v->job_id, sizeof(v->job_id), "%s", r->job_id);
    snprintf(v->agent, sizeof(v->agent), "%s", r->agent);
    v->priority = r->priority;
    v->idempotent = r->idempotent;
    v->memory_gb = r->min_memory_gb;
    v->cpu_cores = r->min_cpu_cores;
    v->gpu = gpu;
    v->gpu_vram_gb = gpu >= 0 ? r->gpu_vram_gb : 0;
    v->gpu_whole = gpu >= 0 && r->gpu_vram_gb <= 0;
    v->seq = ++s->seq;
}

int at_sched_place(struct at_sched *s, const struct at_sched_req *r, struct at_sched_result *res,
                   json_t **explain)
{
    if (explain)
        *explain = NULL;
    if (!r->job_id[0])
        return AT_EINVAL;
    pthread_mutex_lock(&s->mu);
    int idx;
    if (holder(s, r->job_id, &idx)) {
        pthread_mutex_unlock(&s->mu);
        return AT_EEXIST;
    }
    at_sched_decide(&s->c, &s->policy, r, res);
    if (res->status == AT_SCHED_PLACED)
        reserve(s, &s->c.nodes[res->winner], r, res->verdicts[res->winner].gpu);
    if (explain)
        *explain = at_sched_explain_json(&s->c, &s->policy, r, res);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

json_t *at_sched_explain(struct at_sched *s, const struct at_sched_req *r)
{
    struct at_sched_result res;
    at_sched_result_init(&res);
    pthread_mutex_lock(&s->mu);
    at_sched_decide(&s->c, &s->policy, r, &res);
    json_t *j = at_sched_explain_json(&s->c, &s->policy, r, &res);
    pthread_mutex_unlock(&s->mu);
    at_sched_result_release(&res);
    return j;
}

int at_sched_reserve(struct at_sched *s, const char *node, const struct at_sched_req *r)
{
    if (!r->job_id[0])
        return AT_EINVAL;
    pthread_mutex_lock(&s->mu);
    int idx, rc = 0;
    struct at_sched_node *n = find(s, node);
    if (!n) {
        rc = AT_ENOENT;
    } else if (holder(s, r->job_id, &idx)) {
        rc = AT_EEXIST;
    } else {
        /* the GPU it would get now, or none when nothing has room: the
         * job runs there whatever the books say */
        int gpu = -1;
        if (r->gpu) {
            struct at_sched_cluster one = {1, n};
            struct at_sched_result res;
            at_sched_result_init(&res);
            struct at_sched_policy p = s->policy;
            p.preemption_enabled = 0;
            at_sched_decide(&one, &p, r, &res);
            gpu = res.verdicts[0].gpu;
            at_sched_result_release(&res);
        }
        reserve(s, n, r, gpu);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_sched_release(struct at_sched *s, const char *job_id, char *node_out, size_t len)
{
    pthread_mutex_lock(&s->mu);
    int idx;
    struct at_sched_node *n = holder(s, job_id, &idx);
    if (n) {
        if (node_out && len)
            snprintf(node_out, len, "%s", n->name);
        memmove(&n->resv[idx], &n->resv[idx + 1], (size_t)(n->nresv - idx - 1) * sizeof(*n->resv));
        n->nresv--;
    }
    pthread_mutex_unlock(&s->mu);
    return n ? 0 : AT_ENOENT;
}

int at_sched_job_node(struct at_sched *s, const char *job_id, char *out, size_t len)
{
    pthread_mutex_lock(&s->mu);
    int idx;
    struct at_sched_node *n = holder(s, job_id, &idx);
    if (n && out && len)
        snprintf(out, len, "%s", n->name);
    pthread_mutex_unlock(&s->mu);
    return n ? 0 : AT_ENOENT;
}

static _Atomic(struct at_sched *) current;

void at_sched_publish(struct at_sched *s)
{
    atomic_store(&current, s);
}

struct at_sched *at_sched_current(void)
{
    return atomic_load(&current);
}
