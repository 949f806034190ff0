/*
 * sched.h - the placement engine: which node of the cluster runs a job, and
 * why (the spec's "Hardware-Aware Scheduling"; docs/scheduling.md,
 * docs/internals/sched.md).
 *
 * Rules, in the spec's order, for every node of the cluster:
 *   1. affinity: hardware.node_affinity, when set, rejects every other node;
 *   2. state: only a `ready` node takes new work (unhealthy, draining,
 *      drained and hot nodes are rejected by rule "state");
 *   3. constraints: gpu, gpu_vram_gb, min_memory_gb, min_cpu_cores,
 *      architecture, device_access, node_labels, against the node's totals;
 *   4. headroom: after scheduling.resource_reservation, counting what already
 *      runs there (memory: reserved + needed <= total * (1 - memory_headroom);
 *      GPU: one GPU whose reserved + needed VRAM <= vram * (1 - gpu_headroom),
 *      a job asking `gpu: true` without a VRAM figure takes a whole GPU);
 *   5. score: the strategy's score of the eligible nodes (0..100), plus the
 *      locality bonus on the node of the chain's previous step.
 * The winner is the eligible node with the highest score; equal scores go
 * to the node whose name sorts first (strcmp), so a decision is a function
 * of (cluster, policy, requirements) alone.  When no node is eligible and
 * preemption is enabled, nodes that fail only on headroom are tried with
 * their lower-priority jobs evicted (docs/scheduling.md "Preemption").
 *
 * CPU is compressible: min_cpu_cores is checked against the node's cores,
 * and reserved cores only weigh in the score.
 *
 * Two levels: at_sched_decide is pure (a cluster value in, a result out:
 * tests, bench, dry runs); struct at_sched is the daemon's live cluster
 * (nodes, their states and reservations) behind one mutex, where a
 * placement reserves atomically.  Thread-safety is stated per function.
 */
#ifndef AT_SCHED_SCHED_H
#define AT_SCHED_SCHED_H

#include "base/diag.h"
#include "contract/sysinfo.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AT_SCHED_NAME_MAX 128 /* node names, bytes with the NUL */
#define AT_SCHED_JOB_MAX 64   /* job ids (base/id.h AT_ID_MAX fits) */
#define AT_SCHED_MAX_GPUS 16
#define AT_SCHED_MAX_DEVICES 64      /* device paths of a node or a job */
#define AT_SCHED_MAX_LABELS 32       /* labels of a node, node_labels of a job */
#define AT_SCHED_LOCALITY_BONUS 10.0 /* bin_pack, spread: added on the previous step's node */
#define AT_SCHED_AFFINITY_FIRST_BONUS 1000.0 /* affinity_first: it always wins */

/* ---- the cluster ------------------------------------------------------ */

enum at_sched_state {
    AT_SCHED_READY = 0, /* takes new work */
    AT_SCHED_UNHEALTHY, /* missed heartbeats (node_failure.detection_timeout) */
    AT_SCHED_DRAINING,  /* `atlas node drain`: running jobs finish, no new work */
    AT_SCHED_DRAINED,   /* drained: nothing runs, no new work */
    AT_SCHED_HOT,       /* over a thermal or memory threshold: no new work */
};

/* "ready", "unhealthy", "draining", "drained", "hot"; "?" out of range. */
const char *at_sched_state_name(enum at_sched_state st);
/* The state named s (one of the names above), or -1. */
int at_sched_state_parse(const char *s);

/* Which of a node's facts came from node.resources (config) rather than
 * from detection: the profile lists them as `overridden:`. */
enum {
    AT_SCHED_OV_CPU = 1 << 0,
    AT_SCHED_OV_MEMORY = 1 << 1,
    AT_SCHED_OV_GPUS = 1 << 2,
    AT_SCHED_OV_ARCH = 1 << 3,
    AT_SCHED_OV_DEVICES = 1 << 4,
};

struct at_sched_gpu {
    char model[128]; /* the profile's `device`: "nvidia-rtx-4090", "" when unknown */
    double vram_gb;  /* GB; < 0 when unknown (satisfies no VRAM minimum) */
    int index;       /* the node's index of this GPU (nvidia-smi's) */
};

struct at_sched_label {
    char key[64];
    char value[128];
};

/* One running (or starting) job's hold on a node.  memory_gb and
 * cpu_cores are the job's declared minimums; gpu is the index into the
 * node's gpus[] of the GPU it holds (-1: none), gpu_vram_gb what it holds
 * there, gpu_whole 1 when it holds the whole GPU (gpu: true, no VRAM). */
struct at_sched_resv {
    char job_id[AT_SCHED_JOB_MAX];
    char agent[128]; /* "name:version", for explanations */
    int priority;    /* the job's; higher runs first */
    int idempotent;  /* the agent may be re-run (an evicted job is re-queued) */
    double memory_gb;
    double cpu_cores;
    int gpu;
    double gpu_vram_gb;
    int gpu_whole;
    uint64_t seq; /* order of reservation in this cluster (later = younger) */
};

/* A node as the scheduler sees it.  Caller-embedded: at_sched_node_init,
 * then fill; devices, labels and resv are owned arrays (at_sched_node_*
 * helpers grow them), freed by at_sched_node_release. */
struct at_sched_node {
    char name[AT_SCHED_NAME_MAX];
    enum at_sched_state state;
    char arch[32]; /* "x86_64", "aarch64" ("arm64" is read as aarch64) */
    int cpu_cores;
    double memory_gb; /* GB (10^9 bytes); 0 when unknown */
    int ngpus;
    struct at_sched_gpu gpus[AT_SCHED_MAX_GPUS];
    /* devices_probe: the device list is unknown and device_access paths
     * are looked up on this machine's file system (the local node when
     * neither the facts file nor node.resources lists them); else a path
     * must be in devices[]. */
    int devices_probe;
    int ndevices;
    char (*devices)[128];
    int nlabels;
    struct at_sched_label *labels;
    unsigned overridden; /* AT_SCHED_OV_* */
    int nresv;
    struct at_sched_resv *resv;
    int resv_cap; /* internal: capacity of resv */
};

void at_sched_node_init(struct at_sched_node *n);
void at_sched_node_release(struct at_sched_node *n);
/* Deep copy of src into dst (dst initialised or released before). */
void at_sched_node_copy(struct at_sched_node *dst, const struct at_sched_node *src);
/* Append a device path (AT_ELIMIT past AT_SCHED_MAX_DEVICES, AT_EINVAL too long). */
int at_sched_node_add_device(struct at_sched_node *n, const char *path);
/* Set label key=value (replacing key's value; AT_ELIMIT past AT_SCHED_MAX_LABELS,
 * AT_EINVAL for an empty or too long key or value). */
int at_sched_node_set_label(struct at_sched_node *n, const char *key, const char *value);
/* The value of label key, or NULL. */
const char *at_sched_node_label(const struct at_sched_node *n, const char *key);

/* The node's facts from this machine's (contract/sysinfo.h): cores,
 * memory, architecture, GPUs (index = position), devices (listed, or
 * devices_probe), labels, name.  n is initialised first.  state ready. */
void at_sched_node_from_sysinfo(struct at_sched_node *n, const struct at_sysinfo *s);

/* Apply `node.resources` (atlas.config.yaml) onto n: {cpu_cores,
 * memory_gb, architecture, gpus: [{device, vram_gb, index?}], devices:
 * [absolute paths]}, every key optional; each key present replaces that
 * fact and sets its AT_SCHED_OV_* bit.  Unknown keys, wrong types, out of
 * range values are AT_EINVAL with d naming "/node/resources/...".  n is
 * unchanged on error.  Pure. */
int at_sched_resources_apply(struct at_sched_node *n, const json_t *resources, struct at_diag *d);

/* The node profile, field for field as the spec prints it: {name, status,
 * resources: {cpu_cores, memory_gb, gpus: [{device, vram_gb, index}]},
 * architecture, devices, labels, overridden: [...], reservations: [{job_id,
 * agent, priority, memory_gb, gpu_index, gpu_vram_gb}], allocated:
 * {memory_gb, cpu_cores}}.  A new reference.  (address is the node
 * registry's, not the scheduler's: the caller adds it.) */
json_t *at_sched_node_to_json(const struct at_sched_node *n);

/* A cluster value: nodes in the caller's order (the order of the
 * explanation; the decision does not depend on it). */
struct at_sched_cluster {
    int nnodes;
    struct at_sched_node *nodes;
};

void at_sched_cluster_init(struct at_sched_cluster *c);
void at_sched_cluster_release(struct at_sched_cluster *c);
/* Append a copy of n (returns its index). */
int at_sched_cluster_add(struct at_sched_cluster *c, const struct at_sched_node *n);

/* ---- what a job needs ------------------------------------------------- */

/* A job's requirements: the contract's `hardware:` block plus what the
 * engine needs from the job.  Plain value; at_sched_req_init zeroes it. */
struct at_sched_req {
    char job_id[AT_SCHED_JOB_MAX];         /* "" for a dry run */
    char agent[128];                       /* "name:version" */
    char node_affinity[AT_SCHED_NAME_MAX]; /* "" : any node */
    int gpu;                               /* needs a GPU (gpu: true, or gpu_vram_gb > 0) */
    double gpu_vram_gb;                    /* on one GPU; 0: any */
    double min_memory_gb;
    double min_cpu_cores;
    char architecture[32]; /* "" or "any": any */
    int ndevices;
    char devices[AT_SCHED_MAX_DEVICES][128];
    int nlabels;
    struct at_sched_label labels[AT_SCHED_MAX_LABELS];
    int priority;
    int idempotent;
    char prev_node[AT_SCHED_NAME_MAX]; /* the node of the chain's previous step, or "" */
};

void at_sched_req_init(struct at_sched_req *r);

/* Fill r's hardware fields from a contract's `hardware` JSON object (NULL
 * or {} needs nothing): the keys agent.c's shape allows.  A value of the
 * wrong type, a negative number or more devices/labels than the limits is
 * AT_EINVAL with d naming "/hardware/KEY".  Other fields of r untouched. */
int at_sched_req_from_hardware(struct at_sched_req *r, const json_t *hw, struct at_diag *d);

/* ---- the policy ------------------------------------------------------- */

enum at_sched_strategy {
    AT_SCHED_BIN_PACK = 0,   /* fullest node that fits first (the spec's default) */
    AT_SCHED_SPREAD,         /* emptiest node first */
    AT_SCHED_AFFINITY_FIRST, /* the previous step's node whenever it fits, else spread */
};

const char *at_sched_strategy_name(enum at_sched_strategy s);

struct at_sched_policy {
    enum at_sched_strategy strategy;
    double gpu_headroom_pct;    /* 0..100: VRAM of each GPU kept free */
    double memory_headroom_pct; /* 0..100: memory of each node kept free */
    int preemption_enabled;
    double unschedulable_timeout; /* seconds a job waits unschedulable, then fails; 0: never */
};

/* The defaults: bin_pack, 0 % headroom, no preemption, 300 s timeout. */
void at_sched_policy_default(struct at_sched_policy *p);

/* Parse the config's `scheduling:` object (NULL: defaults) into p:
 * strategy, preemption_enabled, resource_reservation.{gpu,memory}_headroom_pct,
 * unschedulable_timeout (node_failure is the node registry's).  Errors are
 * AT_EINVAL with d naming "/scheduling/KEY"; p is unchanged then. */
int at_sched_policy_parse(const json_t *scheduling, struct at_sched_policy *p, struct at_diag *d);

/* ---- the decision ----------------------------------------------------- */

/* The rule that rejected a node (the first one, in rule order), or OK. */
enum at_sched_rule {
    AT_SCHED_OK = 0,
    AT_SCHED_R_AFFINITY,        /* "node_affinity" */
    AT_SCHED_R_STATE,           /* "state" */
    AT_SCHED_R_GPU,             /* "gpu" */
    AT_SCHED_R_GPU_VRAM,        /* "gpu_vram_gb" */
    AT_SCHED_R_MEMORY,          /* "min_memory_gb" */
    AT_SCHED_R_CPU,             /* "min_cpu_cores" */
    AT_SCHED_R_ARCH,            /* "architecture" */
    AT_SCHED_R_DEVICE,          /* "device_access" */
    AT_SCHED_R_LABEL,           /* "node_labels" */
    AT_SCHED_R_MEMORY_HEADROOM, /* "memory_headroom" */
    AT_SCHED_R_GPU_HEADROOM,    /* "gpu_headroom" */
};

/* The rule's name as the explanation shows it (above); "?" out of range. */
const char *at_sched_rule_name(enum at_sched_rule r);

/* One node's verdict.  detail indexes what failed (the device or label of
 * r->devices / r->labels, else -1). */
struct at_sched_verdict {
    int node; /* index into the cluster */
    enum at_sched_rule rule;
    int detail;
    double score; /* eligible: strategy score + locality bonus; else 0 */
    int local;    /* the node of the previous step (bonus given when eligible) */
    int gpu;      /* eligible: index into the node's gpus[] the job gets, else -1 */
};

/* A job to evict for the winner (status AT_SCHED_PREEMPT). */
struct at_sched_victim {
    char job_id[AT_SCHED_JOB_MAX];
    char agent[128];
    int priority;
    int idempotent; /* 1: re-queue it; 0: fail it (reason: preempted) */
};

enum at_sched_status {
    AT_SCHED_PLACED = 0,    /* winner fits now */
    AT_SCHED_PREEMPT,       /* winner fits once victims[] are evicted */
    AT_SCHED_UNSCHEDULABLE, /* no node: verdicts[] say why, node by node */
};

/* A decision.  Caller-embedded: at_sched_result_init, decide (any number
 * of times: arrays are reused), at_sched_result_release. */
struct at_sched_result {
    enum at_sched_status status;
    int winner;                   /* index into the cluster, -1 when unschedulable */
    char node[AT_SCHED_NAME_MAX]; /* the winner's name, "" */
    int gpu_index;                /* the winner's gpus[].index the job gets, -1 none */
    int nverdicts;                /* = the cluster's nnodes, in its order */
    struct at_sched_verdict *verdicts;
    int nvictims;
    struct at_sched_victim *victims;
    int verdicts_cap, victims_cap; /* internal */
};

void at_sched_result_init(struct at_sched_result *res);
void at_sched_result_release(struct at_sched_result *res);

/* Decide where r runs on cluster c under policy p, into res.  Nothing is
 * reserved.  Returns 0 (res->status says the outcome); allocation
 * failure aborts (base/alloc.h).  Pure; thread-safe for distinct res. */
int at_sched_decide(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                    const struct at_sched_req *r, struct at_sched_result *res);

/* The text of node i's verdict: "needs 32 GB of memory
 * (hardware.min_memory_gb); gpu-box has 16.0 GB", or "score 62.5" for an
 * eligible node.  Returns out. */
char *at_sched_verdict_text(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                            const struct at_sched_req *r, const struct at_sched_result *res, int i,
                            char *out, size_t n);

/* The explanation of a decision (a new reference): {agent, job_id?,
 * strategy, status: "placed"|"preempt"|"unschedulable", node (winner or
 * null), gpu_index, reason ("unschedulable: no node fits" ...), requirements:
 * {...}, policy: {...}, nodes: [{name, state, verdict: "winner"|"eligible"|
 * "rejected", rule, reason, score?, local?}, ...] (ranked: winner, then
 * eligible by score, then rejected in cluster order), victims: [{job_id,
 * agent, priority, action: "requeue"|"fail"}]}.  This is what
 * GET /api/v1/jobs/ID/placement and `atlas schedule explain` show. */
json_t *at_sched_explain_json(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                              const struct at_sched_req *r, const struct at_sched_result *res);

/* ---- the live cluster (the daemon's) ---------------------------------- */

struct at_sched;

/* A cluster with no nodes under policy p (copied).  Caller frees with
 * at_sched_free.  Every function below is thread-safe (one mutex). */
struct at_sched *at_sched_new(const struct at_sched_policy *p);
void at_sched_free(struct at_sched *s);

void at_sched_set_policy(struct at_sched *s, const struct at_sched_policy *p);
void at_sched_get_policy(struct at_sched *s, struct at_sched_policy *out);

/* Add node n (copied), or replace the facts, state and labels of the node
 * of that name: its reservations are kept (n's resv is ignored). */
int at_sched_put_node(struct at_sched *s, const struct at_sched_node *n);
/* AT_ENOENT when there is no node of that name. */
int at_sched_set_state(struct at_sched *s, const char *name, enum at_sched_state st);
int at_sched_set_label(struct at_sched *s, const char *name, const char *key, const char *value);
/* Remove the node (AT_ENOENT); its reservations go with it (the caller
 * has dealt with its jobs). */
int at_sched_remove_node(struct at_sched *s, const char *name);
/* Copy of node name into out (initialised by the call; release it), AT_ENOENT. */
int at_sched_get_node(struct at_sched *s, const char *name, struct at_sched_node *out);

/* Deep copy of the whole cluster into out (initialised by the call). */
void at_sched_snapshot(struct at_sched *s, struct at_sched_cluster *out);

/* Decide for r and, when placed, reserve r's resources on the winner under
 * r->job_id (which must be set and not hold a reservation: AT_EEXIST).
 * PREEMPT and UNSCHEDULABLE reserve nothing: the caller evicts the victims
 * (at_sched_release each), then places again.  *explain (when not NULL)
 * gets the explanation (a new reference).  Returns 0 or AT_EINVAL/AT_EEXIST. */
int at_sched_place(struct at_sched *s, const struct at_sched_req *r, struct at_sched_result *res,
                   json_t **explain);

/* The explanation of placing r now, nothing reserved (dry run). */
json_t *at_sched_explain(struct at_sched *s, const struct at_sched_req *r);

/* Reserve r on node (no decision): a job known to run there (restart,
 * reconcile, migrate --to after the caller decided).  AT_ENOENT (no node),
 * AT_EEXIST (job already holds one). */
int at_sched_reserve(struct at_sched *s, const char *node, const struct at_sched_req *r);

/* Release job_id's reservation (AT_ENOENT when it holds none); writes the
 * node it held into node_out (may be NULL). */
int at_sched_release(struct at_sched *s, const char *job_id, char *node_out, size_t n);

/* The daemon's live cluster: published once at start-up, before it serves
 * (NULL before, and in processes that are not a control plane).  The
 * control plane's own node is AT_SCHED_LOCAL unless node.name names it. */
#define AT_SCHED_LOCAL "local"
void at_sched_publish(struct at_sched *s);
struct at_sched *at_sched_current(void);

/* The node job_id holds a reservation on, into out; AT_ENOENT. */
int at_sched_job_node(struct at_sched *s, const char *job_id, char *out, size_t n);

#endif
