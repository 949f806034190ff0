/*
 * place.c - the placement decision (sched.h): every node through the
 * rules in the spec's order, the strategy's score, the stable tie-break,
 * preemption; the explanation as text and JSON.
 *
 * Cost: O(nodes x (reservations per node + devices + labels)), no
 * allocation once the result's arrays have grown (bench/sched).
 */
#include "sched/sched.h"

#include "base/alloc.h"
#include "base/err.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const rule_names[] = {
    "ok",
    "node_affinity",
    "state",
    "gpu",
    "gpu_vram_gb",
    "min_memory_gb",
    "min_cpu_cores",
    "architecture",
    "device_access",
    "node_labels",
    "memory_headroom",
    "gpu_headroom",
};

const char *at_sched_rule_name(enum at_sched_rule r)
{
    return (unsigned)r < sizeof(rule_names) / sizeof(rule_names[0]) ? rule_names[r] : "?";
}

void at_sched_result_init(struct at_sched_result *res)
{
    memset(res, 0, sizeof(*res));
    res->winner = -1;
    res->gpu_index = -1;
}

void at_sched_result_release(struct at_sched_result *res)
{
    free(res->verdicts);
    free(res->victims);
    at_sched_result_init(res);
}

/* arm64 and aarch64 are one architecture by two names */
static const char *arch_norm(const char *a)
{
    return strcmp(a, "arm64") == 0 ? "aarch64" : a;
}

static int arch_any(const char *a)
{
    return !a[0] || strcmp(a, "any") == 0;
}

static int device_present(const struct at_sched_node *n, const char *path)
{
    if (n->devices_probe)
        return access(path, F_OK) == 0;
    for (int i = 0; i < n->ndevices; i++)
        if (strcmp(n->devices[i], path) == 0)
            return 1;
    return 0;
}

/* What runs on a node, summed; skip: a reservation left out (preemption's
 * trial evictions), or NULL. */
struct usage {
    double mem, cpu;
    double vram[AT_SCHED_MAX_GPUS]; /* reserved on each GPU */
    int whole[AT_SCHED_MAX_GPUS];   /* held whole */
    int held[AT_SCHED_MAX_GPUS];    /* reservations on it */
};

static void usage_of(const struct at_sched_node *n, const unsigned char *skip, struct usage *u)
{
    memset(u, 0, sizeof(*u));
    for (int i = 0; i < n->nresv; i++) {
        if (skip && skip[i])
            continue;
        const struct at_sched_resv *r = &n->resv[i];
        u->mem += r->memory_gb;
        u->cpu += r->cpu_cores;
        if (r->gpu >= 0 && r->gpu < n->ngpus) {
            u->vram[r->gpu] += r->gpu_vram_gb;
            u->whole[r->gpu] |= r->gpu_whole;
            u->held[r->gpu]++;
        }
    }
}

/* The static rules (affinity, state, constraints): AT_SCHED_OK or the first
 * that fails, *detail the device or label index. */
static enum at_sched_rule static_rules(const struct at_sched_node *n, const struct at_sched_req *r,
                                       int *detail)
{
    *detail = -1;
    if (r->node_affinity[0] && strcmp(r->node_affinity, n->name) != 0)
        return AT_SCHED_R_AFFINITY;
    if (n->state != AT_SCHED_READY)
        return AT_SCHED_R_STATE;
    if (r->gpu && n->ngpus == 0)
        return AT_SCHED_R_GPU;
    if (r->gpu_vram_gb > 0) {
        int ok = 0;
        for (int g = 0; g < n->ngpus && !ok; g++)
            ok = n->gpus[g].vram_gb >= 0 && n->gpus[g].vram_gb >= r->gpu_vram_gb;
        if (!ok)
            return AT_SCHED_R_GPU_VRAM;
    }
    if (r->min_memory_gb > 0 && n->memory_gb < r->min_memory_gb)
        return AT_SCHED_R_MEMORY;
    if (r->min_cpu_cores > 0 && n->cpu_cores < r->min_cpu_cores)
        return AT_SCHED_R_CPU;
    if (!arch_any(r->architecture) && strcmp(arch_norm(r->architecture), arch_norm(n->arch)) != 0)
        return AT_SCHED_R_ARCH;
    for (int i = 0; i < r->ndevices; i++)
        if (!device_present(n, r->devices[i])) {
            *detail = i;
            return AT_SCHED_R_DEVICE;
        }
    for (int i = 0; i < r->nlabels; i++) {
        const char *have = at_sched_node_label(n, r->labels[i].key);
        if (!have || strcmp(have, r->labels[i].value) != 0) {
            *detail = i;
            return AT_SCHED_R_LABEL;
        }
    }
    return AT_SCHED_OK;
}

/* The GPU (position in gpus[]) job r would get given usage u, or -1:
 * the first, in index order, with room after the headroom.  A job with no
 * VRAM figure takes a whole GPU nobody holds. */
static int pick_gpu(const struct at_sched_node *n, const struct at_sched_req *r,
                    const struct at_sched_policy *p, const struct usage *u)
{
    for (int g = 0; g < n->ngpus; g++) {
        if (u->whole[g])
            continue;
        if (r->gpu_vram_gb <= 0) {
            if (u->held[g] == 0)
                return g;
            continue;
        }
        double cap = n->gpus[g].vram_gb * (1 - p->gpu_headroom_pct / 100);
        if (n->gpus[g].vram_gb >= 0 && u->vram[g] + r->gpu_vram_gb <= cap + 1e-9)
            return g;
    }
    return -1;
}

/* Headroom given usage u: AT_SCHED_OK (and *gpu) or the rule that fails. */
static enum at_sched_rule headroom(const struct at_sched_node *n, const struct at_sched_req *r,
                                   const struct at_sched_policy *p, const struct usage *u, int *gpu)
{
    *gpu = -1;
    if (r->min_memory_gb > 0 &&
        u->mem + r->min_memory_gb > n->memory_gb * (1 - p->memory_headroom_pct / 100) + 1e-9)
        return AT_SCHED_R_MEMORY_HEADROOM;
    if (r->gpu && (*gpu = pick_gpu(n, r, p, u)) < 0)
        return AT_SCHED_R_GPU_HEADROOM;
    return AT_SCHED_OK;
}

/* The strategy's score of placing r on n (usage u, GPU gpu), 0..100, plus
 * the locality bonus.  Utilisation after placement is the mean of the
 * CPU, memory and (for a GPU job) GPU fractions in use; bin_pack scores it,
 * spread and affinity_first score what is left. */
static double score(const struct at_sched_node *n, const struct at_sched_req *r,
                    const struct at_sched_policy *p, const struct usage *u, int gpu, int local)
{
    double cpu = n->cpu_cores > 0 ? (u->cpu + r->min_cpu_cores) / n->cpu_cores : 1;
    double mem = n->memory_gb > 0 ? (u->mem + r->min_memory_gb) / n->memory_gb : 1;
    double util = (fmin(cpu, 1) + fmin(mem, 1));
    int dims = 2;
    if (r->gpu) {
        int inuse = 0;
        for (int g = 0; g < n->ngpus; g++)
            inuse += u->held[g] > 0 || g == gpu;
        util += n->ngpus ? (double)inuse / n->ngpus : 1;
        dims++;
    }
    util /= dims;
    double s = p->strategy == AT_SCHED_BIN_PACK ? 100 * util : 100 * (1 - util);
    if (local)
        s += p->strategy == AT_SCHED_AFFINITY_FIRST ? AT_SCHED_AFFINITY_FIRST_BONUS
                                                    : AT_SCHED_LOCALITY_BONUS;
    return s;
}

static void grow_verdicts(struct at_sched_result *res, int n)
{
    if (res->verdicts_cap < n) {
        res->verdicts = at_realloc(res->verdicts, (size_t)n * sizeof(*res->verdicts));
        res->verdicts_cap = n;
    }
}

static void add_victim(struct at_sched_result *res, const struct at_sched_resv *r)
{
    if (res->nvictims == res->victims_cap) {
        res->victims_cap = res->victims_cap ? res->victims_cap * 2 : 4;
        res->victims = at_realloc(res->victims, (size_t)res->victims_cap * sizeof(*res->victims));
    }
    struct at_sched_victim *v = &res->victims[res->nvictims++];
    memset(v, 0, sizeof(*v));
    snprintf(v->job_id, sizeof(v->job_id), "%s", r->job_id);
    snprintf(v->agent, sizeof(v->agent), "%s", r->agent);
    v->priority = r->priority;
    v->idempotent = r->idempotent;
}

/* Does a better than b (ties: the name that sorts first)? */
static int ranks_before(const struct at_sched_cluster *c, const struct at_sched_verdict *a,
                        const struct at_sched_verdict *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return strcmp(c->nodes[a->node].name, c->nodes[b->node].name) < 0;
}

/* Preemption on node n: evict reservations of lower priority than r's,
 * lowest priority first (then youngest first), taking only those that free
 * what is short, until r fits.  Returns 0 and fills skip[] (the victims),
 * *maxprio and *count; -1 when evicting all it may does not make room. */
static int preempt_plan(const struct at_sched_node *n, const struct at_sched_req *r,
                        const struct at_sched_policy *p, unsigned char *skip, int *maxprio,
                        int *count)
{
    memset(skip, 0, (size_t)n->nresv);
    *maxprio = 0;
    *count = 0;
    for (;;) {
        struct usage u;
        usage_of(n, skip, &u);
        int gpu;
        enum at_sched_rule why = headroom(n, r, p, &u, &gpu);
        if (why == AT_SCHED_OK)
            return 0;
        int best = -1;
        for (int i = 0; i < n->nresv; i++) {
            const struct at_sched_resv *v = &n->resv[i];
            if (skip[i] || v->priority >= r->priority)
                continue;
            if (why == AT_SCHED_R_MEMORY_HEADROOM && v->memory_gb <= 0)
                continue;
            if (why == AT_SCHED_R_GPU_HEADROOM && v->gpu < 0)
                continue;
            if (best < 0 || v->priority < n->resv[best].priority ||
                (v->priority == n->resv[best].priority && v->seq > n->resv[best].seq))
                best = i;
        }
        if (best < 0)
            return -1;
        skip[best] = 1;
        if (*count == 0 || n->resv[best].priority > *maxprio)
            *maxprio = n->resv[best].priority;
        (*count)++;
    }
}

static void preempt(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                    const struct at_sched_req *r, struct at_sched_result *res)
{
    int best = -1, best_max = 0, best_count = 0;
    size_t cap = 0;
    for (int i = 0; i < c->nnodes; i++)
        if ((size_t)c->nodes[i].nresv > cap)
            cap = (size_t)c->nodes[i].nresv;
    unsigned char *skip = at_malloc(cap ? cap : 1);
    for (int i = 0; i < res->nverdicts; i++) {
        const struct at_sched_verdict *v = &res->verdicts[i];
        if (v->rule != AT_SCHED_R_MEMORY_HEADROOM && v->rule != AT_SCHED_R_GPU_HEADROOM)
            continue;
        int maxprio, count;
        if (preempt_plan(&c->nodes[v->node], r, p, skip, &maxprio, &count))
            continue;
        if (best < 0 || maxprio < best_max || (maxprio == best_max && count < best_count) ||
            (maxprio == best_max && count == best_count &&
             strcmp(c->nodes[v->node].name, c->nodes[res->verdicts[best].node].name) < 0)) {
            best = i;
            best_max = maxprio;
            best_count = count;
        }
    }
    if (best >= 0) {
        struct at_sched_verdict *v = &res->verdicts[best];
        const struct at_sched_node *n = &c->nodes[v->node];
        int maxprio, count;
        preempt_plan(n, r, p, skip, &maxprio, &count);
        for (int k = 0; k < n->nresv; k++)
            if (skip[k])
                add_victim(res, &n->resv[k]);
        struct usage u;
        usage_of(n, skip, &u);
        int gpu;
        enum at_sched_rule ok = headroom(n, r, p, &u, &gpu);
        assert(ok == AT_SCHED_OK);
        (void)ok;
        v->score = score(n, r, p, &u, gpu, v->local);
        v->gpu = gpu;
        v->rule = AT_SCHED_OK;
        res->status = AT_SCHED_PREEMPT;
        res->winner = v->node;
    }
    free(skip);
}

int at_sched_decide(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                    const struct at_sched_req *r, struct at_sched_result *res)
{
    grow_verdicts(res, c->nnodes);
    res->nverdicts = c->nnodes;
    res->nvictims = 0;
    res->status = AT_SCHED_UNSCHEDULABLE;
    res->winner = -1;
    res->node[0] = '\0';
    res->gpu_index = -1;
    int best = -1;
    for (int i = 0; i < c->nnodes; i++) {
        const struct at_sched_node *n = &c->nodes[i];
        struct at_sched_verdict *v = &res->verdicts[i];
        v->node = i;
        v->score = 0;
        v->gpu = -1;
        v->local = r->prev_node[0] && strcmp(r->prev_node, n->name) == 0;
        v->rule = static_rules(n, r, &v->detail);
        if (v->rule != AT_SCHED_OK)
            continue;
        struct usage u;
        usage_of(n, NULL, &u);
        v->rule = headroom(n, r, p, &u, &v->gpu);
        if (v->rule != AT_SCHED_OK)
            continue;
        v->score = score(n, r, p, &u, v->gpu, v->local);
        if (best < 0 || ranks_before(c, v, &res->verdicts[best]))
            best = i;
    }
    if (best >= 0) {
        res->status = AT_SCHED_PLACED;
        res->winner = best;
    } else if (p->preemption_enabled) {
        preempt(c, p, r, res);
    }
    if (res->winner >= 0) {
        const struct at_sched_node *n = &c->nodes[res->winner];
        snprintf(res->node, sizeof(res->node), "%s", n->name);
        int g = res->verdicts[res->winner].gpu;
        res->gpu_index = g >= 0 ? n->gpus[g].index : -1;
    }
    return 0;
}

/* ---- explanation ---- */

char *at_sched_verdict_text(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                            const struct at_sched_req *r, const struct at_sched_result *res, int i,
                            char *out, size_t len)
{
    const struct at_sched_verdict *v = &res->verdicts[i];
    const struct at_sched_node *n = &c->nodes[v->node];
    struct usage u;
    switch (v->rule) {
    case AT_SCHED_OK:
        if (v->node == res->winner && res->status == AT_SCHED_PREEMPT)
            snprintf(out, len, "fits once %d lower-priority job%s evicted; score %.1f",
                     res->nvictims, res->nvictims == 1 ? " is" : "s are", v->score);
        else
            snprintf(out, len, "score %.1f (%s%s)", v->score, at_sched_strategy_name(p->strategy),
                     v->local ? ", previous step's node" : "");
        break;
    case AT_SCHED_R_AFFINITY:
        snprintf(out, len, "hardware.node_affinity pins the agent to node \"%s\"",
                 r->node_affinity);
        break;
    case AT_SCHED_R_STATE:
        snprintf(out, len, "node is %s: it takes no new work", at_sched_state_name(n->state));
        break;
    case AT_SCHED_R_GPU:
        if (r->gpu_vram_gb > 0)
            snprintf(out, len, "needs 1 GPU with %g GB VRAM (hardware.gpu_vram_gb); %s has none",
                     r->gpu_vram_gb, n->name);
        else
            snprintf(out, len, "needs a GPU (hardware.gpu); %s has none", n->name);
        break;
    case AT_SCHED_R_GPU_VRAM: {
        double best = -1;
        for (int g = 0; g < n->ngpus; g++)
            if (n->gpus[g].vram_gb > best)
                best = n->gpus[g].vram_gb;
        if (n->ngpus == 0)
            snprintf(out, len, "needs 1 GPU with %g GB VRAM (hardware.gpu_vram_gb); %s has none",
                     r->gpu_vram_gb, n->name);
        else if (best < 0)
            snprintf(out, len,
                     "needs a GPU with %g GB VRAM (hardware.gpu_vram_gb); the VRAM of %s's GPUs "
                     "is unknown",
                     r->gpu_vram_gb, n->name);
        else
            snprintf(out, len,
                     "needs a GPU with %g GB VRAM (hardware.gpu_vram_gb); the largest of %s's %d "
                     "GPU%s has %.1f GB",
                     r->gpu_vram_gb, n->name, n->ngpus, n->ngpus == 1 ? "" : "s", best);
        break;
    }
    case AT_SCHED_R_MEMORY:
        snprintf(out, len, "needs %g GB of memory (hardware.min_memory_gb); %s has %.1f GB",
                 r->min_memory_gb, n->name, n->memory_gb);
        break;
    case AT_SCHED_R_CPU:
        snprintf(out, len, "needs %g CPU cores (hardware.min_cpu_cores); %s has %d",
                 r->min_cpu_cores, n->name, n->cpu_cores);
        break;
    case AT_SCHED_R_ARCH:
        snprintf(out, len, "needs architecture %s (hardware.architecture); %s is %s",
                 r->architecture, n->name, n->arch[0] ? n->arch : "of an unknown architecture");
        break;
    case AT_SCHED_R_DEVICE:
        snprintf(out, len, "needs device %s (hardware.device_access); %s has no such device",
                 v->detail >= 0 ? r->devices[v->detail] : "?", n->name);
        break;
    case AT_SCHED_R_LABEL: {
        const struct at_sched_label *l = &r->labels[v->detail >= 0 ? v->detail : 0];
        const char *have = at_sched_node_label(n, l->key);
        if (have)
            snprintf(out, len, "needs node label %s=%s (hardware.node_labels); %s has %s=%s",
                     l->key, l->value, n->name, l->key, have);
        else
            snprintf(out, len, "needs node label %s=%s (hardware.node_labels); %s has no label %s",
                     l->key, l->value, n->name, l->key);
        break;
    }
    case AT_SCHED_R_MEMORY_HEADROOM:
        usage_of(n, NULL, &u);
        snprintf(out, len,
                 "needs %g GB of memory; %.1f of %.1f GB are reserved by %d running job%s and "
                 "%g%% is kept free (scheduling.resource_reservation.memory_headroom_pct)",
                 r->min_memory_gb, u.mem, n->memory_gb, n->nresv, n->nresv == 1 ? "" : "s",
                 p->memory_headroom_pct);
        break;
    case AT_SCHED_R_GPU_HEADROOM:
        if (r->gpu_vram_gb > 0)
            snprintf(out, len,
                     "needs %g GB VRAM on one GPU; none of %s's %d GPU%s has that free with %g%% "
                     "kept free (scheduling.resource_reservation.gpu_headroom_pct) after its "
                     "running jobs",
                     r->gpu_vram_gb, n->name, n->ngpus, n->ngpus == 1 ? "" : "s",
                     p->gpu_headroom_pct);
        else
            snprintf(out, len, "needs a whole GPU; all %d GPU%s of %s are in use by running jobs",
                     n->ngpus, n->ngpus == 1 ? "" : "s", n->name);
        break;
    }
    return out;
}

static json_t *num1(double x)
{
    return json_real(round(x * 10) / 10);
}

static json_t *req_json(const struct at_sched_req *r)
{
    json_t *j = json_object();
    if (r->node_affinity[0])
        json_object_set_new(j, "node_affinity", json_string(r->node_affinity));
    if (r->gpu)
        json_object_set_new(j, "gpu", json_true());
    if (r->gpu_vram_gb > 0)
        json_object_set_new(j, "gpu_vram_gb", json_real(r->gpu_vram_gb));
    if (r->min_memory_gb > 0)
        json_object_set_new(j, "min_memory_gb", json_real(r->min_memory_gb));
    if (r->min_cpu_cores > 0)
        json_object_set_new(j, "min_cpu_cores", json_real(r->min_cpu_cores));
    if (!arch_any(r->architecture))
        json_object_set_new(j, "architecture", json_string(r->architecture));
    if (r->ndevices) {
        json_t *a = json_array();
        for (int i = 0; i < r->ndevices; i++)
            json_array_append_new(a, json_string(r->devices[i]));
        json_object_set_new(j, "device_access", a);
    }
    if (r->nlabels) {
        json_t *o = json_object();
        for (int i = 0; i < r->nlabels; i++)
            json_object_set_new(o, r->labels[i].key, json_string(r->labels[i].value));
        json_object_set_new(j, "node_labels", o);
    }
    json_object_set_new(j, "priority", json_integer(r->priority));
    if (r->prev_node[0])
        json_object_set_new(j, "previous_step_node", json_string(r->prev_node));
    return j;
}

static const struct at_sched_cluster *sort_c;
static const struct at_sched_verdict *sort_v;

/* explanation order: winner, eligible by rank, rejected in cluster order */
static int cmp_rank(const void *a, const void *b)
{
    const struct at_sched_verdict *x = &sort_v[*(const int *)a], *y = &sort_v[*(const int *)b];
    int ex = x->rule == AT_SCHED_OK, ey = y->rule == AT_SCHED_OK;
    if (ex != ey)
        return ey - ex;
    if (!ex)
        return x->node - y->node;
    return ranks_before(sort_c, x, y) ? -1 : ranks_before(sort_c, y, x) ? 1 : 0;
}

json_t *at_sched_explain_json(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                              const struct at_sched_req *r, const struct at_sched_result *res)
{
    static const char *const status[] = {"placed", "preempt", "unschedulable"};
    json_t *j = json_object();
    json_object_set_new(j, "agent", json_string(r->agent));
    if (r->job_id[0])
        json_object_set_new(j, "job_id", json_string(r->job_id));
    json_object_set_new(j, "status", json_string(status[res->status]));
    json_object_set_new(j, "node", res->winner >= 0 ? json_string(res->node) : json_null());
    if (res->gpu_index >= 0)
        json_object_set_new(j, "gpu_index", json_integer(res->gpu_index));
    json_object_set_new(j, "strategy", json_string(at_sched_strategy_name(p->strategy)));
    json_object_set_new(j, "requirements", req_json(r));
    json_object_set_new(
        j, "policy",
        json_pack("{s:s,s:o,s:o,s:b}", "strategy", at_sched_strategy_name(p->strategy),
                  "gpu_headroom_pct", json_real(p->gpu_headroom_pct), "memory_headroom_pct",
                  json_real(p->memory_headroom_pct), "preemption_enabled", p->preemption_enabled));
    int *order = at_malloc((size_t)(res->nverdicts ? res->nverdicts : 1) * sizeof(int));
    for (int i = 0; i < res->nverdicts; i++)
        order[i] = i;
    /* qsort with file-scope context: callers hold no lock across this that
     * another explanation could need, but two threads could race on the
     * context, so the sort is done under a mutex */
    static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&sort_mu);
    sort_c = c;
    sort_v = res->verdicts;
    qsort(order, (size_t)res->nverdicts, sizeof(int), cmp_rank);
    pthread_mutex_unlock(&sort_mu);
    json_t *nodes = json_array();
    int eligible = 0;
    for (int k = 0; k < res->nverdicts; k++) {
        int i = order[k];
        const struct at_sched_verdict *v = &res->verdicts[i];
        const struct at_sched_node *n = &c->nodes[v->node];
        char why[600];
        at_sched_verdict_text(c, p, r, res, i, why, sizeof(why));
        const char *verdict = v->node == res->winner   ? "winner"
                              : v->rule == AT_SCHED_OK ? "eligible"
                                                       : "rejected";
        eligible += v->rule == AT_SCHED_OK;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "name", n->name, "state",
                              at_sched_state_name(n->state), "verdict", verdict, "reason", why);
        json_object_set_new(o, "rule",
                            v->rule == AT_SCHED_OK ? json_null()
                                                   : json_string(at_sched_rule_name(v->rule)));
        if (v->rule == AT_SCHED_OK || v->node == res->winner)
            json_object_set_new(o, "score", num1(v->score));
        if (v->local)
            json_object_set_new(o, "local", json_true());
        if (v->gpu >= 0)
            json_object_set_new(o, "gpu_index", json_integer(n->gpus[v->gpu].index));
        json_array_append_new(nodes, o);
    }
    free(order);
    json_object_set_new(j, "nodes", nodes);
    json_t *vict = json_array();
    for (int i = 0; i < res->nvictims; i++) {
        const struct at_sched_victim *v = &res->victims[i];
        json_array_append_new(vict, json_pack("{s:s,s:s,s:i,s:s}", "job_id", v->job_id, "agent",
                                              v->agent, "priority", v->priority, "action",
                                              v->idempotent ? "requeue" : "fail"));
    }
    json_object_set_new(j, "victims", vict);
    char reason[400];
    if (res->status == AT_SCHED_PLACED)
        snprintf(reason, sizeof(reason), "placed on %s: best %s score of %d eligible node%s",
                 res->node, at_sched_strategy_name(p->strategy), eligible,
                 eligible == 1 ? "" : "s");
    else if (res->status == AT_SCHED_PREEMPT)
        snprintf(reason, sizeof(reason),
                 "placed on %s once %d lower-priority job%s evicted (scheduling."
                 "preemption_enabled)",
                 res->node, res->nvictims, res->nvictims == 1 ? " is" : "s are");
    else if (res->nverdicts == 0)
        snprintf(reason, sizeof(reason), "unschedulable: the cluster has no nodes");
    else if (r->node_affinity[0] && !eligible) {
        int found = 0;
        for (int i = 0; i < c->nnodes; i++)
            found |= strcmp(c->nodes[i].name, r->node_affinity) == 0;
        snprintf(reason, sizeof(reason),
                 found ? "unschedulable: no node fits (hardware.node_affinity: \"%s\")"
                       : "unschedulable: hardware.node_affinity names node \"%s\", which is not "
                         "registered",
                 r->node_affinity);
    } else
        snprintf(reason, sizeof(reason), "unschedulable: none of the %d node%s fits",
                 res->nverdicts, res->nverdicts == 1 ? "" : "s");
    json_object_set_new(j, "reason", json_string(reason));
    return j;
}
