/* Unit tests: the placement engine (sched/sched.h): each rule, each
 * strategy, headroom counting what runs, locality, preemption, the stable
 * tie-break, the parsers of scheduling:/hardware:/node.resources, the live
 * cluster's reservations, the explanation; and a property test against a
 * brute-force oracle (random clusters and jobs, seeded). */
#include "base/diag.h"
#include "base/err.h"
#include "contract/sysinfo.h"
#include "sched/sched.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- helpers ---- */

static void gpu(struct at_sched_node *n, const char *model, double vram)
{
    struct at_sched_gpu *g = &n->gpus[n->ngpus];
    snprintf(g->model, sizeof(g->model), "%s", model);
    g->vram_gb = vram;
    g->index = n->ngpus++;
}

static void node(struct at_sched_node *n, const char *name, int cores, double mem, const char *arch)
{
    at_sched_node_init(n);
    snprintf(n->name, sizeof(n->name), "%s", name);
    n->cpu_cores = cores;
    n->memory_gb = mem;
    snprintf(n->arch, sizeof(n->arch), "%s", arch);
}

static void resv(struct at_sched_node *n, const char *job, int prio, double mem, int g, double vram,
                 int idem)
{
    n->resv = realloc(n->resv, (size_t)(n->nresv + 1) * sizeof(*n->resv));
    struct at_sched_resv *r = &n->resv[n->nresv++];
    memset(r, 0, sizeof(*r));
    snprintf(r->job_id, sizeof(r->job_id), "%s", job);
    snprintf(r->agent, sizeof(r->agent), "a:1");
    r->priority = prio;
    r->memory_gb = mem;
    r->gpu = g;
    r->gpu_vram_gb = vram;
    r->gpu_whole = g >= 0 && vram <= 0;
    r->idempotent = idem;
    r->seq = (uint64_t)n->nresv;
}

/* The spec's fleet: gpu-box (16 cores, 64 GB, 2 x 24 GB), cpu-worker-1 (32
 * cores, 64 GB), edge-node-1 (aarch64, 8 GB, /dev/video0). */
static void fleet(struct at_sched_cluster *c)
{
    at_sched_cluster_init(c);
    struct at_sched_node n;
    node(&n, "gpu-box", 16, 64, "x86_64");
    gpu(&n, "nvidia-rtx-4090", 24);
    gpu(&n, "nvidia-rtx-4090", 24);
    at_sched_node_add_device(&n, "/dev/dri");
    at_sched_node_add_device(&n, "/dev/nvidia0");
    at_sched_node_set_label(&n, "zone", "homelab");
    at_sched_node_set_label(&n, "tier", "high-compute");
    at_sched_cluster_add(c, &n);
    at_sched_node_release(&n);
    node(&n, "cpu-worker-1", 32, 64, "x86_64");
    at_sched_node_set_label(&n, "zone", "homelab");
    at_sched_cluster_add(c, &n);
    at_sched_node_release(&n);
    node(&n, "edge-node-1", 6, 8, "aarch64");
    at_sched_node_add_device(&n, "/dev/video0");
    at_sched_cluster_add(c, &n);
    at_sched_node_release(&n);
}

static struct at_sched_req hw(const char *json)
{
    struct at_sched_req r;
    at_sched_req_init(&r);
    snprintf(r.agent, sizeof(r.agent), "test:1.0.0");
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_sched_req_from_hardware(&r, j, &d), 0);
    json_decref(j);
    return r;
}

static struct at_sched_policy pol(enum at_sched_strategy s)
{
    struct at_sched_policy p;
    at_sched_policy_default(&p);
    p.strategy = s;
    return p;
}

/* the winner's name, or "-" */
static const char *place(const struct at_sched_cluster *c, const struct at_sched_policy *p,
                         const struct at_sched_req *r, struct at_sched_result *res)
{
    at_sched_decide(c, p, r, res);
    return res->winner >= 0 ? res->node : "-";
}

static enum at_sched_rule rule_of(const struct at_sched_result *res, int node)
{
    return res->verdicts[node].rule;
}

/* ---- the rules ---- */

static void test_spec_example(void **state)
{
    (void)state;
    struct at_sched_cluster c;
    fleet(&c);
    struct at_sched_result res;
    at_sched_result_init(&res);
    struct at_sched_policy p = pol(AT_SCHED_BIN_PACK);
    struct at_sched_req modeler = hw("{\"gpu\": true, \"gpu_vram_gb\": 16, \"min_memory_gb\": 32}");
    assert_string_equal(place(&c, &p, &modeler, &res), "gpu-box");
    assert_int_equal(res.status, AT_SCHED_PLACED);
    assert_int_equal(res.gpu_index, 0);
    assert_int_equal(rule_of(&res, 1), AT_SCHED_R_GPU);
    assert_int_equal(rule_of(&res, 2), AT_SCHED_R_GPU);
    p = pol(AT_SCHED_SPREAD);
    struct at_sched_req sum = hw("{\"gpu\": false, \"min_memory_gb\": 1, \"min_cpu_cores\": 1}");
    assert_string_equal(place(&c, &p, &sum, &res), "cpu-worker-1");
    at_sched_result_release(&res);
    at_sched_cluster_release(&c);
}

static void test_each_constraint(void **state)
{
    (void)state;
    struct at_sched_cluster c;
    fleet(&c);
    struct at_sched_result res;
    at_sched_result_init(&res);
    struct at_sched_policy p = pol(AT_SCHED_BIN_PACK);
    struct {
        const char *hw, *winner;
        enum at_sched_rule r0, r1, r2; /* gpu-box, cpu-worker-1, edge-node-1 */
    } cases[] = {
        {"{\"node_affinity\": \"edge-node-1\"}", "edge-node-1", AT_SCHED_R_AFFINITY,
         AT_SCHED_R_AFFINITY, AT_SCHED_OK},
        {"{\"gpu_vram_gb\": 32}", "-", AT_SCHED_R_GPU_VRAM, AT_SCHED_R_GPU, AT_SCHED_R_GPU},
        {"{\"min_memory_gb\": 16}", "cpu-worker-1", AT_SCHED_OK, AT_SCHED_OK, AT_SCHED_R_MEMORY},
        {"{\"min_cpu_cores\": 20}", "cpu-worker-1", AT_SCHED_R_CPU, AT_SCHED_OK, AT_SCHED_R_CPU},
        {"{\"architecture\": \"arm64\"}", "edge-node-1", AT_SCHED_R_ARCH, AT_SCHED_R_ARCH,
         AT_SCHED_OK},
        {"{\"architecture\": \"any\", \"device_access\": [\"/dev/video0\"]}", "edge-node-1",
         AT_SCHED_R_DEVICE, AT_SCHED_R_DEVICE, AT_SCHED_OK},
        {"{\"node_labels\": {\"tier\": \"high-compute\"}}", "gpu-box", AT_SCHED_OK,
         AT_SCHED_R_LABEL, AT_SCHED_R_LABEL},
        {"{\"node_affinity\": \"gpu-box\", \"min_memory_gb\": 128}", "-", AT_SCHED_R_MEMORY,
         AT_SCHED_R_AFFINITY, AT_SCHED_R_AFFINITY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct at_sched_req r = hw(cases[i].hw);
        assert_string_equal(place(&c, &p, &r, &res), cases[i].winner);
        assert_int_equal(rule_of(&res, 0), cases[i].r0);
        assert_int_equal(rule_of(&res, 1), cases[i].r1);
        assert_int_equal(rule_of(&res, 2), cases[i].r2);
        assert_int_equal(res.status,
                         cases[i].winner[0] == '-' ? AT_SCHED_UNSCHEDULABLE : AT_SCHED_PLACED);
    }
    /* the reasons say what is missing, node by node */
    struct at_sched_req r = hw("{\"min_memory_gb\": 16, \"node_labels\": {\"zone\": \"dc\"}}");
    place(&c, &p, &r, &res);
    char why[600];
    assert_string_equal(at_sched_verdict_text(&c, &p, &r, &res, 0, why, sizeof(why)),
                        "needs node label zone=dc (hardware.node_labels); gpu-box has "
                        "zone=homelab");
    assert_string_equal(at_sched_verdict_text(&c, &p, &r, &res, 2, why, sizeof(why)),
                        "needs 16 GB of memory (hardware.min_memory_gb); edge-node-1 has 8.0 GB");
    /* a node that is not ready takes no new work, affinity or not */
    c.nodes[2].state = AT_SCHED_UNHEALTHY;
    r = hw("{\"node_affinity\": \"edge-node-1\"}");
    assert_string_equal(place(&c, &p, &r, &res), "-");
    assert_int_equal(rule_of(&res, 2), AT_SCHED_R_STATE);
    assert_string_equal(at_sched_verdict_text(&c, &p, &r, &res, 2, why, sizeof(why)),
                        "node is unhealthy: it takes no new work");
    for (int st = AT_SCHED_DRAINING; st <= AT_SCHED_HOT; st++) {
        c.nodes[2].state = (enum at_sched_state)st;
        assert_string_equal(place(&c, &p, &r, &res), "-");
    }
    /* affinity to a node that is not registered */
    r = hw("{\"node_affinity\": \"nowhere\"}");
    place(&c, &p, &r, &res);
    json_t *j = at_sched_explain_json(&c, &p, &r, &res);
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "unschedulable: hardware.node_affinity names node \"nowhere\", which is "
                        "not registered");
    json_decref(j);
    at_sched_result_release(&res);
    at_sched_cluster_release(&c);
}

static void test_strategies_and_locality(void **state)
{
    (void)state;
    struct at_sched_cluster c;
    at_sched_cluster_init(&c);
    struct at_sched_node n;
    node(&n, "b-full", 8, 32, "x86_64");
    resv(&n, "j1", 0, 16, -1, 0, 1);
    at_sched_cluster_add(&c, &n);
    at_sched_node_release(&n);
    node(&n, "a-empty", 8, 32, "x86_64");
    at_sched_cluster_add(&c, &n);
    at_sched_node_release(&n);
    node(&n, "c-empty", 8, 32, "x86_64");
    at_sched_cluster_add(&c, &n);
    at_sched_node_release(&n);
    struct at_sched_result res;
    at_sched_result_init(&res);
    struct at_sched_req r = hw("{\"min_memory_gb\": 4, \"min_cpu_cores\": 1}");
    struct at_sched_policy p = pol(AT_SCHED_BIN_PACK);
    assert_string_equal(place(&c, &p, &r, &res), "b-full");
    p = pol(AT_SCHED_SPREAD);
    /* a-empty and c-empty tie: the name that sorts first */
    assert_string_equal(place(&c, &p, &r, &res), "a-empty");
    assert_true(res.verdicts[0].score < res.verdicts[1].score);
    assert_true(res.verdicts[1].score == res.verdicts[2].score);
    /* locality breaks the tie the other way */
    snprintf(r.prev_node, sizeof(r.prev_node), "c-empty");
    assert_string_equal(place(&c, &p, &r, &res), "c-empty");
    assert_true(res.verdicts[2].local);
    /* but is weighed against headroom under spread and bin_pack ... */
    snprintf(r.prev_node, sizeof(r.prev_node), "b-full");
    assert_string_equal(place(&c, &p, &r, &res), "a-empty");
    /* ... and wins outright under affinity_first */
    p = pol(AT_SCHED_AFFINITY_FIRST);
    assert_string_equal(place(&c, &p, &r, &res), "b-full");
    r.prev_node[0] = '\0';
    assert_string_equal(place(&c, &p, &r, &res), "a-empty"); /* else spread */
    assert_string_equal(at_sched_strategy_name(AT_SCHED_AFFINITY_FIRST), "affinity_first");
    at_sched_result_release(&res);
    at_sched_cluster_release(&c);
}

static void test_headroom(void **state)
{
    (void)state;
    struct at_sched_cluster c;
    at_sched_cluster_init(&c);
    struct at_sched_node n;
    node(&n, "box", 16, 100, "x86_64");
    gpu(&n, "g", 24);
    gpu(&n, "g", 24);
    resv(&n, "m1", 0, 60, 0, 16, 1);
    at_sched_cluster_add(&c, &n);
    at_sched_node_release(&n);
    struct at_sched_result res;
    at_sched_result_init(&res);
    struct at_sched_policy p = pol(AT_SCHED_BIN_PACK);
    p.memory_headroom_pct = 15;
    p.gpu_headroom_pct = 10;
    /* 60 + 25 = 85 <= 85 fits; 26 does not */
    struct at_sched_req r = hw("{\"min_memory_gb\": 25}");
    assert_string_equal(place(&c, &p, &r, &res), "box");
    r = hw("{\"min_memory_gb\": 26}");
    assert_string_equal(place(&c, &p, &r, &res), "-");
    assert_int_equal(rule_of(&res, 0), AT_SCHED_R_MEMORY_HEADROOM);
    /* VRAM: GPU 0 has 16 of 21.6 held, so a 16 GB job gets GPU 1; 5 GB fits on GPU 0 */
    r = hw("{\"gpu_vram_gb\": 16}");
    assert_string_equal(place(&c, &p, &r, &res), "box");
    assert_int_equal(res.gpu_index, 1);
    r = hw("{\"gpu_vram_gb\": 5}");
    place(&c, &p, &r, &res);
    assert_int_equal(res.gpu_index, 0);
    r = hw("{\"gpu_vram_gb\": 22}"); /* over 24 * 0.9 */
    assert_string_equal(place(&c, &p, &r, &res), "-");
    assert_int_equal(rule_of(&res, 0), AT_SCHED_R_GPU_HEADROOM);
    /* gpu: true without VRAM takes a whole free GPU */
    r = hw("{\"gpu\": true}");
    place(&c, &p, &r, &res);
    assert_int_equal(res.gpu_index, 1);
    c.nodes[0].resv[0].gpu = 1; /* now both have holders */
    resv(&c.nodes[0], "m2", 0, 0, 0, 1, 1);
    assert_string_equal(place(&c, &p, &r, &res), "-");
    char why[600];
    assert_string_equal(at_sched_verdict_text(&c, &p, &r, &res, 0, why, sizeof(why)),
                        "needs a whole GPU; all 2 GPUs of box are in use by running jobs");
    /* a GPU of unknown VRAM satisfies gpu: true, no VRAM minimum */
    c.nodes[0].nresv = 0;
    c.nodes[0].gpus[0].vram_gb = -1;
    c.nodes[0].gpus[1].vram_gb = -1;
    assert_string_equal(place(&c, &p, &r, &res), "box");
    r = hw("{\"gpu_vram_gb\": 1}");
    assert_string_equal(place(&c, &p, &r, &res), "-");
    assert_int_equal(rule_of(&res, 0), AT_SCHED_R_GPU_VRAM);
    at_sched_result_release(&res);
    at_sched_cluster_release(&c);
}

static void test_preemption(void **state)
{
    (void)state;
    struct at_sched_cluster c;
    at_sched_cluster_init(&c);
    struct at_sched_node n;
    node(&n, "a", 8, 32, "x86_64");
    resv(&n, "a-low", 1, 16, -1, 0, 1);
    resv(&n, "a-mid", 5, 16, -1, 0, 0);
    at_sched_cluster_add(&c, &n);
    at_sched_node_release(&n);
    node(&n, "b", 8, 32, "x86_64");
    resv(&n, "b-low1", 2, 8, -1, 0, 0);
    resv(&n, "b-low2", 2, 8, -1, 0, 1);
    resv(&n, "b-low3", 2, 16, -1, 0, 1);
    at_sched_cluster_add(&c, &n);
    at_sched_node_release(&n);
    struct at_sched_result res;
    at_sched_result_init(&res);
    struct at_sched_policy p = pol(AT_SCHED_BIN_PACK);
    struct at_sched_req r = hw("{\"min_memory_gb\": 16}");
    r.priority = 10;
    /* without preemption: unschedulable */
    assert_string_equal(place(&c, &p, &r, &res), "-");
    p.preemption_enabled = 1;
    /* a: evict a-low (priority 1) alone; b would need priority-2 jobs */
    assert_string_equal(place(&c, &p, &r, &res), "a");
    assert_int_equal(res.status, AT_SCHED_PREEMPT);
    assert_int_equal(res.nvictims, 1);
    assert_string_equal(res.victims[0].job_id, "a-low");
    assert_int_equal(res.victims[0].idempotent, 1);
    json_t *j = at_sched_explain_json(&c, &p, &r, &res);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "victims"), 0), "action")),
                        "requeue");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "preempt");
    json_decref(j);
    /* the job's priority must be above the victims' */
    r.priority = 1;
    assert_string_equal(place(&c, &p, &r, &res), "-");
    r.priority = 3;
    /* on b, youngest first among equals: b-low3 (16 GB) alone frees enough */
    c.nodes[0].resv[0].priority = 4;
    assert_string_equal(place(&c, &p, &r, &res), "b");
    assert_int_equal(res.nvictims, 1);
    assert_string_equal(res.victims[0].job_id, "b-low3");
    /* 24 GB: two victims, the youngest first */
    r = hw("{\"min_memory_gb\": 24}");
    r.priority = 3;
    assert_string_equal(place(&c, &p, &r, &res), "b");
    assert_int_equal(res.nvictims, 2);
    assert_string_equal(res.victims[0].job_id, "b-low2");
    assert_string_equal(res.victims[1].job_id, "b-low3");
    /* a static rule is never preempted around */
    r = hw("{\"min_memory_gb\": 64}");
    r.priority = 100;
    assert_string_equal(place(&c, &p, &r, &res), "-");
    at_sched_result_release(&res);
    at_sched_cluster_release(&c);
}

/* the same cluster in another order gives the same winner */
static void test_determinism(void **state)
{
    (void)state;
    struct at_sched_cluster c, d;
    at_sched_cluster_init(&c);
    at_sched_cluster_init(&d);
    struct at_sched_node n;
    const char *names[] = {"n3", "n1", "n4", "n0", "n2"};
    for (int i = 0; i < 5; i++) {
        node(&n, names[i], 4, 16, "x86_64");
        at_sched_cluster_add(&c, &n);
        at_sched_node_release(&n);
    }
    for (int i = 4; i >= 0; i--)
        at_sched_cluster_add(&d, &c.nodes[i]);
    struct at_sched_result res;
    at_sched_result_init(&res);
    struct at_sched_req r = hw("{\"min_memory_gb\": 1}");
    for (int s = 0; s < 3; s++) {
        struct at_sched_policy p = pol((enum at_sched_strategy)s);
        assert_string_equal(place(&c, &p, &r, &res), "n0");
        assert_string_equal(place(&d, &p, &r, &res), "n0");
    }
    at_sched_result_release(&res);
    at_sched_cluster_release(&c);
    at_sched_cluster_release(&d);
}

/* ---- parsers ---- */

static int policy_of(const char *json, struct at_sched_policy *p, struct at_diag *d)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    at_diag_clear(d);
    int rc = at_sched_policy_parse(j, p, d);
    json_decref(j);
    return rc;
}

static void test_parsers(void **state)
{
    (void)state;
    struct at_sched_policy p;
    struct at_diag d;
    assert_int_equal(at_sched_policy_parse(NULL, &p, &d), 0);
    assert_int_equal(p.strategy, AT_SCHED_BIN_PACK);
    assert_true(p.unschedulable_timeout == 300);
    assert_int_equal(policy_of("{\"strategy\": \"spread\", \"preemption_enabled\": true, "
                               "\"resource_reservation\": {\"gpu_headroom_pct\": 10, "
                               "\"memory_headroom_pct\": 15}, \"unschedulable_timeout\": 2, "
                               "\"node_failure\": {\"detection_timeout\": 30}}",
                               &p, &d),
                     0);
    assert_int_equal(p.strategy, AT_SCHED_SPREAD);
    assert_int_equal(p.preemption_enabled, 1);
    assert_true(p.gpu_headroom_pct == 10 && p.memory_headroom_pct == 15);
    assert_true(p.unschedulable_timeout == 2);
    assert_int_equal(policy_of("{\"strategy\": \"random\"}", &p, &d), AT_EINVAL);
    assert_string_equal(d.pointer, "/scheduling/strategy");
    assert_int_equal(p.strategy, AT_SCHED_SPREAD); /* unchanged */
    assert_int_equal(policy_of("{\"resource_reservation\": {\"gpu_headroom_pct\": 101}}", &p, &d),
                     AT_EINVAL);
    assert_string_equal(d.pointer, "/scheduling/resource_reservation/gpu_headroom_pct");
    assert_int_equal(policy_of("{\"oops\": 1}", &p, &d), AT_EINVAL);

    struct at_sched_req r;
    at_sched_req_init(&r);
    json_t *j = json_loads("{\"gpu_vram_gb\": 8, \"node_labels\": {\"a\": \"b\"}, "
                           "\"device_access\": [\"/dev/x\"], \"architecture\": \"arm64\"}",
                           0, NULL);
    assert_int_equal(at_sched_req_from_hardware(&r, j, &d), 0);
    json_decref(j);
    assert_int_equal(r.gpu, 1); /* VRAM implies a GPU */
    assert_int_equal(r.nlabels, 1);
    assert_int_equal(r.ndevices, 1);
    j = json_loads("{\"min_memory_gb\": -1}", 0, NULL);
    at_diag_clear(&d);
    assert_int_equal(at_sched_req_from_hardware(&r, j, &d), AT_EINVAL);
    assert_string_equal(d.pointer, "/hardware/min_memory_gb");
    json_decref(j);

    /* node.resources over detected facts, and what was overridden */
    struct at_sysinfo s;
    at_sysinfo_init(&s);
    s.cpu_cores = 2;
    s.memory_gb = 4;
    snprintf(s.arch, sizeof(s.arch), "x86_64");
    struct at_sched_node n;
    at_sched_node_from_sysinfo(&n, &s);
    assert_string_equal(n.name, "local");
    assert_int_equal(n.devices_probe, 1);
    j = json_loads("{\"memory_gb\": 64, \"gpus\": [{\"device\": \"nvidia-rtx-4090\", \"vram_gb\": "
                   "24}, {\"device\": \"nvidia-rtx-4090\", \"vram_gb\": 24, \"index\": 1}], "
                   "\"devices\": [\"/dev/dri\"]}",
                   0, NULL);
    assert_int_equal(at_sched_resources_apply(&n, j, &d), 0);
    json_decref(j);
    assert_int_equal(n.ngpus, 2);
    assert_int_equal(n.cpu_cores, 2);
    assert_true(n.memory_gb == 64);
    assert_int_equal(n.devices_probe, 0);
    json_t *prof = at_sched_node_to_json(&n);
    char *text = json_dumps(json_object_get(prof, "overridden"), 0);
    assert_string_equal(text, "[\"memory_gb\", \"gpus\", \"devices\"]");
    free(text);
    json_decref(prof);
    j = json_loads("{\"gpus\": [{\"vram\": 1}]}", 0, NULL);
    assert_int_equal(at_sched_resources_apply(&n, j, &d), AT_EINVAL);
    assert_string_equal(d.pointer, "/node/resources/gpus/0/vram");
    assert_int_equal(n.ngpus, 2); /* unchanged */
    json_decref(j);
    at_sched_node_release(&n);
}

/* ---- the live cluster ---- */

static void test_live(void **state)
{
    (void)state;
    struct at_sched_policy p = pol(AT_SCHED_BIN_PACK);
    struct at_sched *s = at_sched_new(&p);
    struct at_sched_node n;
    node(&n, "local", 4, 16, "x86_64");
    gpu(&n, "g", 24);
    assert_int_equal(at_sched_put_node(s, &n), 0);
    at_sched_node_release(&n);
    struct at_sched_req r = hw("{\"gpu_vram_gb\": 16, \"min_memory_gb\": 8}");
    struct at_sched_result res;
    at_sched_result_init(&res);
    assert_int_equal(at_sched_place(s, &r, &res, NULL), AT_EINVAL); /* no job id */
    snprintf(r.job_id, sizeof(r.job_id), "job_1");
    json_t *ex = NULL;
    assert_int_equal(at_sched_place(s, &r, &res, &ex), 0);
    assert_int_equal(res.status, AT_SCHED_PLACED);
    assert_string_equal(json_string_value(json_object_get(ex, "node")), "local");
    json_decref(ex);
    assert_int_equal(at_sched_place(s, &r, &res, NULL), AT_EEXIST);
    /* the GPU is held: a second one waits */
    snprintf(r.job_id, sizeof(r.job_id), "job_2");
    assert_int_equal(at_sched_place(s, &r, &res, NULL), 0);
    assert_int_equal(res.status, AT_SCHED_UNSCHEDULABLE);
    ex = at_sched_explain(s, &r);
    json_t *first = json_array_get(json_object_get(ex, "nodes"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "rule")), "gpu_headroom");
    json_decref(ex);
    char where[64];
    assert_int_equal(at_sched_job_node(s, "job_1", where, sizeof(where)), 0);
    assert_string_equal(where, "local");
    assert_int_equal(at_sched_release(s, "job_1", where, sizeof(where)), 0);
    assert_int_equal(at_sched_release(s, "job_1", NULL, 0), AT_ENOENT);
    assert_int_equal(at_sched_place(s, &r, &res, NULL), 0);
    assert_int_equal(res.status, AT_SCHED_PLACED);
    /* a fact update keeps the reservations */
    struct at_sched_node m;
    node(&m, "local", 8, 16, "x86_64");
    gpu(&m, "g", 24);
    at_sched_put_node(s, &m);
    at_sched_node_release(&m);
    assert_int_equal(at_sched_get_node(s, "local", &m), 0);
    assert_int_equal(m.nresv, 1);
    assert_int_equal(m.cpu_cores, 8);
    at_sched_node_release(&m);
    assert_int_equal(at_sched_set_state(s, "local", AT_SCHED_DRAINING), 0);
    assert_int_equal(at_sched_set_state(s, "nope", AT_SCHED_READY), AT_ENOENT);
    assert_int_equal(at_sched_set_label(s, "local", "zone", "x"), 0);
    snprintf(r.job_id, sizeof(r.job_id), "job_3");
    assert_int_equal(at_sched_reserve(s, "local", &r), 0);
    struct at_sched_cluster c;
    at_sched_snapshot(s, &c);
    assert_int_equal(c.nnodes, 1);
    assert_int_equal(c.nodes[0].nresv, 2);
    assert_string_equal(at_sched_node_label(&c.nodes[0], "zone"), "x");
    at_sched_cluster_release(&c);
    assert_int_equal(at_sched_remove_node(s, "local"), 0);
    assert_int_equal(at_sched_job_node(s, "job_3", NULL, 0), AT_ENOENT);
    at_sched_result_release(&res);
    at_sched_free(s);
}

/* ---- property: against a brute-force oracle ---- */

static uint64_t rng;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* The oracle, written from docs/scheduling.md alone: every condition
 * checked, no rule order; the GPU by first fit; the score's formula. */
static int oracle_fits(const struct at_sched_node *n, const struct at_sched_req *r,
                       const struct at_sched_policy *p, const unsigned char *gone, int *gpu_out)
{
    if (r->node_affinity[0] && strcmp(n->name, r->node_affinity))
        return 0;
    if (n->state != AT_SCHED_READY)
        return 0;
    if (r->min_memory_gb > n->memory_gb || r->min_cpu_cores > n->cpu_cores)
        return 0;
    if (r->architecture[0] && strcmp(r->architecture, "any")) {
        const char *a = strcmp(r->architecture, "arm64") ? r->architecture : "aarch64";
        if (strcmp(a, n->arch))
            return 0;
    }
    for (int i = 0; i < r->ndevices; i++) {
        int have = 0;
        for (int k = 0; k < n->ndevices; k++)
            have |= !strcmp(n->devices[k], r->devices[i]);
        if (!have)
            return 0;
    }
    for (int i = 0; i < r->nlabels; i++) {
        const char *v = at_sched_node_label(n, r->labels[i].key);
        if (!v || strcmp(v, r->labels[i].value))
            return 0;
    }
    double mem = 0;
    for (int k = 0; k < n->nresv; k++)
        if (!gone || !gone[k])
            mem += n->resv[k].memory_gb;
    if (r->min_memory_gb > 0 &&
        mem + r->min_memory_gb > n->memory_gb * (1 - p->memory_headroom_pct / 100) + 1e-9)
        return 0;
    *gpu_out = -1;
    if (!r->gpu)
        return 1;
    for (int g = 0; g < n->ngpus; g++) {
        double used = 0;
        int holders = 0, whole = 0;
        for (int k = 0; k < n->nresv; k++)
            if ((!gone || !gone[k]) && n->resv[k].gpu == g) {
                used += n->resv[k].gpu_vram_gb;
                holders++;
                whole |= n->resv[k].gpu_whole;
            }
        if (whole)
            continue;
        if (r->gpu_vram_gb <= 0
                ? holders == 0
                : (n->gpus[g].vram_gb >= r->gpu_vram_gb &&
                   used + r->gpu_vram_gb <=
                       n->gpus[g].vram_gb * (1 - p->gpu_headroom_pct / 100) + 1e-9)) {
            *gpu_out = g;
            return 1;
        }
    }
    return 0;
}

static double oracle_score(const struct at_sched_node *n, const struct at_sched_req *r,
                           const struct at_sched_policy *p, int g)
{
    double cpu = 0, mem = 0;
    int inuse = 0;
    for (int k = 0; k < n->nresv; k++) {
        cpu += n->resv[k].cpu_cores;
        mem += n->resv[k].memory_gb;
    }
    for (int x = 0; x < n->ngpus; x++) {
        int held = x == g;
        for (int k = 0; k < n->nresv; k++)
            held |= n->resv[k].gpu == x;
        inuse += held;
    }
    double u = fmin((cpu + r->min_cpu_cores) / n->cpu_cores, 1) +
               fmin(n->memory_gb > 0 ? (mem + r->min_memory_gb) / n->memory_gb : 1, 1);
    u = r->gpu ? (u + (double)inuse / n->ngpus) / 3 : u / 2;
    double s = p->strategy == AT_SCHED_BIN_PACK ? 100 * u : 100 * (1 - u);
    if (r->prev_node[0] && !strcmp(r->prev_node, n->name))
        s += p->strategy == AT_SCHED_AFFINITY_FIRST ? 1000 : 10;
    return s;
}

static void random_case(struct at_sched_cluster *c, struct at_sched_req *r,
                        struct at_sched_policy *p)
{
    static const char *archs[] = {"x86_64", "aarch64"};
    static const double mems[] = {4, 8, 16, 32, 64};
    static const double vrams[] = {8, 16, 24, 48, -1};
    static const char *devs[] = {"/dev/dri", "/dev/video0", "/dev/nvidia0"};
    at_sched_cluster_init(c);
    int nn = 1 + (int)rnd(10);
    for (int i = 0; i < nn; i++) {
        struct at_sched_node n;
        char name[16];
        snprintf(name, sizeof(name), "n%02u", rnd(100)); /* duplicates possible: ties */
        node(&n, name, 1 << rnd(5), mems[rnd(5)], archs[rnd(4) == 0]);
        if (rnd(8) == 0)
            n.state = (enum at_sched_state)(1 + rnd(4));
        int ng = (int)rnd(3);
        for (int g = 0; g < ng; g++)
            gpu(&n, "g", vrams[rnd(5)]);
        for (int k = 0; k < 3; k++)
            if (rnd(2))
                at_sched_node_add_device(&n, devs[k]);
        if (rnd(2))
            at_sched_node_set_label(&n, "zone", rnd(2) ? "a" : "b");
        if (rnd(2))
            at_sched_node_set_label(&n, "tier", "hc");
        int nr = (int)rnd(4);
        for (int k = 0; k < nr; k++) {
            char job[16];
            snprintf(job, sizeof(job), "j%d_%d", i, k);
            int g = ng && rnd(2) ? (int)rnd((unsigned)ng) : -1;
            resv(&n, job, (int)rnd(5), (double)rnd(3) * 4, g, g >= 0 ? (double)rnd(3) * 8 : 0,
                 (int)rnd(2));
            n.resv[n.nresv - 1].cpu_cores = rnd(3);
        }
        at_sched_cluster_add(c, &n);
        at_sched_node_release(&n);
    }
    at_sched_req_init(r);
    if (rnd(6) == 0)
        snprintf(r->node_affinity, sizeof(r->node_affinity), "%s",
                 c->nodes[rnd((unsigned)nn)].name);
    r->gpu = rnd(3) == 0;
    if (r->gpu && rnd(2))
        r->gpu_vram_gb = vrams[rnd(4)] / 2;
    r->min_memory_gb = (double)rnd(5) * 4;
    r->min_cpu_cores = rnd(3);
    if (rnd(4) == 0)
        snprintf(r->architecture, sizeof(r->architecture), "%s", rnd(2) ? "arm64" : "x86_64");
    if (rnd(4) == 0)
        snprintf(r->devices[r->ndevices++], sizeof(r->devices[0]), "%s", devs[rnd(3)]);
    if (rnd(4) == 0) {
        snprintf(r->labels[0].key, sizeof(r->labels[0].key), "zone");
        snprintf(r->labels[0].value, sizeof(r->labels[0].value), "a");
        r->nlabels = 1;
    }
    if (rnd(3) == 0)
        snprintf(r->prev_node, sizeof(r->prev_node), "%s", c->nodes[rnd((unsigned)nn)].name);
    r->priority = (int)rnd(6);
    at_sched_policy_default(p);
    p->strategy = (enum at_sched_strategy)rnd(3);
    p->memory_headroom_pct = rnd(2) ? 15 : 0;
    p->gpu_headroom_pct = rnd(2) ? 10 : 0;
    p->preemption_enabled = rnd(3) == 0;
}

static void test_property_oracle(void **state)
{
    (void)state;
    rng = 0x9e3779b97f4a7c15ull;
    int placed = 0, unsched = 0, preempted = 0;
    struct at_sched_result res;
    at_sched_result_init(&res);
    for (int t = 0; t < 4000; t++) {
        struct at_sched_cluster c;
        struct at_sched_req r;
        struct at_sched_policy p;
        random_case(&c, &r, &p);
        at_sched_decide(&c, &p, &r, &res);
        /* the oracle's ranking */
        int best = -1;
        double best_s = 0;
        for (int i = 0; i < c.nnodes; i++) {
            int g;
            if (!oracle_fits(&c.nodes[i], &r, &p, NULL, &g))
                continue;
            double s = oracle_score(&c.nodes[i], &r, &p, g);
            if (best < 0 || s > best_s + 1e-9 ||
                (fabs(s - best_s) <= 1e-9 && strcmp(c.nodes[i].name, c.nodes[best].name) < 0)) {
                best = i;
                best_s = s;
            }
        }
        if (best >= 0) {
            assert_int_equal(res.status, AT_SCHED_PLACED);
            int g;
            assert_true(oracle_fits(&c.nodes[res.winner], &r, &p, NULL, &g));
            double s = oracle_score(&c.nodes[res.winner], &r, &p, g);
            /* one the oracle ranks first: same score, and the first name among them */
            assert_true(fabs(s - best_s) <= 1e-9);
            assert_string_equal(c.nodes[res.winner].name, c.nodes[best].name);
            placed++;
        } else if (res.status == AT_SCHED_PREEMPT) {
            /* only with preemption on, only victims of lower priority, and
             * the winner fits once they are gone */
            assert_true(p.preemption_enabled);
            const struct at_sched_node *n = &c.nodes[res.winner];
            unsigned char gone[8] = {0};
            for (int v = 0; v < res.nvictims; v++) {
                assert_true(res.victims[v].priority < r.priority);
                for (int k = 0; k < n->nresv; k++)
                    if (!strcmp(n->resv[k].job_id, res.victims[v].job_id))
                        gone[k] = 1;
            }
            int g;
            assert_true(res.nvictims > 0);
            assert_true(oracle_fits(n, &r, &p, gone, &g));
            preempted++;
        } else {
            assert_int_equal(res.status, AT_SCHED_UNSCHEDULABLE);
            /* unschedulable iff nothing fits, and then not even with every
             * lower-priority job gone when preemption is on */
            if (p.preemption_enabled)
                for (int i = 0; i < c.nnodes; i++) {
                    unsigned char gone[8] = {0};
                    for (int k = 0; k < c.nodes[i].nresv; k++)
                        gone[k] = c.nodes[i].resv[k].priority < r.priority;
                    int g;
                    assert_false(oracle_fits(&c.nodes[i], &r, &p, gone, &g));
                }
            for (int i = 0; i < res.nverdicts; i++)
                assert_int_not_equal(res.verdicts[i].rule, AT_SCHED_OK);
            unsched++;
        }
        /* the explanation is well formed whatever happened */
        if (t % 50 == 0) {
            json_t *j = at_sched_explain_json(&c, &p, &r, &res);
            assert_int_equal((int)json_array_size(json_object_get(j, "nodes")), c.nnodes);
            json_decref(j);
        }
        at_sched_cluster_release(&c);
    }
    at_sched_result_release(&res);
    /* the generator reaches every outcome */
    assert_true(placed > 500 && unsched > 500 && preempted > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_each_constraint),
        cmocka_unit_test(test_strategies_and_locality),
        cmocka_unit_test(test_headroom),
        cmocka_unit_test(test_preemption),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_property_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
