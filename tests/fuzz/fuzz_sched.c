/* libFuzzer target: the scheduler's inputs (sched/sched.h): a JSON
 * document whose "scheduling" is the config block, "resources" a
 * node.resources override and "hardware" a contract's hardware block; then
 * one decision on a two-node cluster.  Properties: a refused block leaves
 * the policy and the node as they were; an accepted policy keeps its
 * percentages within 0..100; the decision is the same when made twice and
 * names a node of the cluster or none; the explanation of every node is
 * non-empty text. */
#include "json/json.h"
#include "sched/sched.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        return 0;
    struct at_diag d;
    struct at_sched_policy pol, before;
    at_sched_policy_default(&pol);
    before = pol;
    at_diag_clear(&d);
    if (at_sched_policy_parse(json_object_get(doc, "scheduling"), &pol, &d) != 0) {
        if (memcmp(&pol, &before, sizeof(pol)) != 0)
            abort();
    } else if (pol.gpu_headroom_pct < 0 || pol.gpu_headroom_pct > 100 ||
               pol.memory_headroom_pct < 0 || pol.memory_headroom_pct > 100) {
        abort();
    }
    struct at_sched_node a, b;
    at_sched_node_init(&a);
    memcpy(a.name, "gpu-box", 8);
    memcpy(a.arch, "x86_64", 7);
    a.cpu_cores = 16;
    a.memory_gb = 64;
    at_sched_node_init(&b);
    memcpy(b.name, "cpu-box", 8);
    memcpy(b.arch, "aarch64", 8);
    b.cpu_cores = 4;
    b.memory_gb = 8;
    int cores = a.cpu_cores, ngpus = a.ngpus;
    at_diag_clear(&d);
    if (at_sched_resources_apply(&a, json_object_get(doc, "resources"), &d) != 0 &&
        (a.cpu_cores != cores || a.ngpus != ngpus))
        abort();
    struct at_sched_req r;
    at_sched_req_init(&r);
    at_diag_clear(&d);
    if (at_sched_req_from_hardware(&r, json_object_get(doc, "hardware"), &d) == 0) {
        struct at_sched_cluster c;
        at_sched_cluster_init(&c);
        at_sched_cluster_add(&c, &a);
        at_sched_cluster_add(&c, &b);
        struct at_sched_result r1, r2;
        at_sched_result_init(&r1);
        at_sched_result_init(&r2);
        at_sched_decide(&c, &pol, &r, &r1);
        at_sched_decide(&c, &pol, &r, &r2);
        if (r1.status != r2.status || r1.winner != r2.winner || strcmp(r1.node, r2.node) != 0)
            abort();
        if (r1.winner < -1 || r1.winner >= c.nnodes)
            abort();
        for (int i = 0; i < r1.nverdicts; i++) {
            char t[512];
            t[0] = '\0';
            at_sched_verdict_text(&c, &pol, &r, &r1, i, t, sizeof(t));
            if (!t[0] || strlen(t) >= sizeof(t))
                abort();
        }
        at_sched_result_release(&r1);
        at_sched_result_release(&r2);
        at_sched_cluster_release(&c);
    }
    at_sched_node_release(&a);
    at_sched_node_release(&b);
    json_decref(doc);
    return 0;
}
