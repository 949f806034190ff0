/* libFuzzer target: what a node agent sends the control plane
 * (sched/hub.h): a JSON document whose "profile" is a node's profile
 * (POST /api/v1/nodes/register) and "node_failure" the config block.
 * Properties: a refused policy leaves the policy as it was and an accepted
 * one has a timeout >= 0; an accepted profile gives a node that survives
 * the round trip through at_sched_node_to_json (same cores, memory, GPUs,
 * labels), and a refused one is released (LeakSanitizer). */
#include "base/diag.h"
#include "sched/hub.h"
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
    struct at_hub_policy p = {7, AT_HUB_QUEUE, 0, 0}, before = p;
    {
        /* the health thresholds: a "hot" verdict always says why */
        struct at_hub_policy hot = {30, AT_HUB_RETRY, 80, 90};
        char why[200] = "";
        if (at_hub_health_hot(&hot, json_object_get(doc, "health"), why, sizeof(why)) && !why[0])
            abort();
    }
    if (at_hub_policy_parse(json_object_get(doc, "node_failure"), &p) != 0) {
        if (memcmp(&p, &before, sizeof(p)) != 0)
            abort();
    } else if (p.detection_timeout_s < 0) {
        abort();
    }
    struct at_sched_node n, m;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_hub_node_from_profile(&n, "fuzz-node", json_object_get(doc, "profile"), &d) == 0) {
        json_t *again = at_sched_node_to_json(&n);
        at_diag_clear(&d);
        if (at_hub_node_from_profile(&m, "fuzz-node", again, &d) != 0)
            abort();
        if (m.cpu_cores != n.cpu_cores || m.ngpus != n.ngpus || m.nlabels != n.nlabels ||
            strcmp(m.arch, n.arch) != 0)
            abort();
        at_sched_node_release(&m);
        json_decref(again);
        at_sched_node_release(&n);
    }
    json_decref(doc);
    return 0;
}
