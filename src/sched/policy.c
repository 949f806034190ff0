/*
 * policy.c - the config's `scheduling:` block and the contract's
 * `hardware:` block into the engine's structs (sched.h).  Both come from
 * documents whose shape was already checked (contract/config.c,
 * contract/agent.c); these parsers check again, since the API's dry run and
 * the fuzz target hand them anything.
 */
#include "sched/sched.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>

static const char *const strategies[] = {"bin_pack", "spread", "affinity_first"};

const char *at_sched_strategy_name(enum at_sched_strategy s)
{
    return (unsigned)s < 3 ? strategies[s] : "?";
}

void at_sched_policy_default(struct at_sched_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->strategy = AT_SCHED_BIN_PACK;
    p->unschedulable_timeout = 300;
}

static int bad(struct at_diag *d, const char *ptr, const char *msg)
{
    at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s", msg);
    at_diag_set_pointer(d, ptr);
    return AT_EINVAL;
}

static int pct(const json_t *v, double *out)
{
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100)
        return -1;
    *out = json_number_value(v);
    return 0;
}

int at_sched_policy_parse(const json_t *s, struct at_sched_policy *out, struct at_diag *d)
{
    struct at_sched_policy p;
    at_sched_policy_default(&p);
    if (!s || json_is_null(s)) {
        *out = p;
        return 0;
    }
    if (!json_is_object(s))
        return bad(d, "/scheduling", "scheduling: must be a mapping");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        if (strcmp(k, "strategy") == 0) {
            const char *name = json_string_value(v);
            int found = -1;
            for (int i = 0; name && i < 3; i++)
                if (strcmp(name, strategies[i]) == 0)
                    found = i;
            if (found < 0)
                return bad(d, "/scheduling/strategy",
                           "scheduling.strategy: must be one of bin_pack, spread, affinity_first");
            p.strategy = (enum at_sched_strategy)found;
        } else if (strcmp(k, "preemption_enabled") == 0) {
            if (!json_is_boolean(v))
                return bad(d, "/scheduling/preemption_enabled",
                           "scheduling.preemption_enabled: must be true or false");
            p.preemption_enabled = json_is_true(v);
        } else if (strcmp(k, "resource_reservation") == 0) {
            if (!json_is_object(v))
                return bad(d, "/scheduling/resource_reservation",
                           "scheduling.resource_reservation: must be a mapping");
            const char *rk;
            json_t *rv;
            json_object_foreach(v, rk, rv)
            {
                double *dst = strcmp(rk, "gpu_headroom_pct") == 0      ? &p.gpu_headroom_pct
                              : strcmp(rk, "memory_headroom_pct") == 0 ? &p.memory_headroom_pct
                                                                       : NULL;
                char ptr[128];
                snprintf(ptr, sizeof(ptr), "/scheduling/resource_reservation/%.60s", rk);
                if (!dst)
                    return bad(d, ptr,
                               "scheduling.resource_reservation: unknown key (gpu_headroom_pct, "
                               "memory_headroom_pct)");
                if (pct(rv, dst))
                    return bad(d, ptr,
                               "scheduling.resource_reservation: a percentage from 0 to 100");
            }
        } else if (strcmp(k, "unschedulable_timeout") == 0) {
            if (!json_is_number(v) || json_number_value(v) < 0 ||
                json_number_value(v) > 86400 * 365)
                return bad(d, "/scheduling/unschedulable_timeout",
                           "scheduling.unschedulable_timeout: seconds, from 0 (wait forever) "
                           "to a year");
            p.unschedulable_timeout = json_number_value(v);
        } else if (strcmp(k, "node_failure") == 0 || strcmp(k, "health_thresholds") == 0) {
            continue; /* the node registry's (sched/hub.h) */
        } else {
            char ptr[128];
            snprintf(ptr, sizeof(ptr), "/scheduling/%.60s", k);
            return bad(d, ptr, "scheduling: unknown key");
        }
    }
    *out = p;
    return 0;
}

void at_sched_req_init(struct at_sched_req *r)
{
    memset(r, 0, sizeof(*r));
}

static int nonneg(const json_t *v, double max, double *out)
{
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > max)
        return -1;
    *out = json_number_value(v);
    return 0;
}

static int str_into(const json_t *v, char *dst, size_t n)
{
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    if (!s || strlen(s) >= n)
        return -1;
    snprintf(dst, n, "%s", s);
    return 0;
}

int at_sched_req_from_hardware(struct at_sched_req *out, const json_t *hw, struct at_diag *d)
{
    if (!hw || json_is_null(hw))
        return 0;
    if (!json_is_object(hw))
        return bad(d, "/hardware", "hardware: must be a mapping");
    struct at_sched_req r = *out;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)hw, k, v)
    {
        char ptr[128];
        snprintf(ptr, sizeof(ptr), "/hardware/%.60s", k);
        if (strcmp(k, "gpu") == 0) {
            if (!json_is_boolean(v))
                return bad(d, ptr, "hardware.gpu: must be true or false");
            r.gpu = json_is_true(v);
        } else if (strcmp(k, "gpu_vram_gb") == 0) {
            if (nonneg(v, 1e6, &r.gpu_vram_gb))
                return bad(d, ptr, "hardware.gpu_vram_gb: a number from 0 to 1000000");
        } else if (strcmp(k, "min_memory_gb") == 0) {
            if (nonneg(v, 1e9, &r.min_memory_gb))
                return bad(d, ptr, "hardware.min_memory_gb: a number from 0 to 1000000000");
        } else if (strcmp(k, "min_cpu_cores") == 0) {
            if (nonneg(v, 1 << 20, &r.min_cpu_cores))
                return bad(d, ptr, "hardware.min_cpu_cores: a number from 0 to 1048576");
        } else if (strcmp(k, "architecture") == 0) {
            if (str_into(v, r.architecture, sizeof(r.architecture)))
                return bad(d, ptr, "hardware.architecture: a string (any, x86_64, arm64)");
        } else if (strcmp(k, "node_affinity") == 0) {
            if (str_into(v, r.node_affinity, sizeof(r.node_affinity)))
                return bad(d, ptr, "hardware.node_affinity: a node name under 128 bytes");
        } else if (strcmp(k, "device_access") == 0) {
            if (!json_is_array(v))
                return bad(d, ptr, "hardware.device_access: a list of device paths");
            if (json_array_size(v) > AT_SCHED_MAX_DEVICES)
                return bad(d, ptr, "hardware.device_access: more than 64 devices (the limit)");
            r.ndevices = 0;
            size_t i;
            json_t *p;
            json_array_foreach(v, i, p)
            {
                if (str_into(p, r.devices[r.ndevices], sizeof(r.devices[0])) || !json_is_string(p))
                    return bad(d, ptr, "hardware.device_access: each entry a path under 128 bytes");
                r.ndevices++;
            }
        } else if (strcmp(k, "node_labels") == 0) {
            if (!json_is_object(v))
                return bad(d, ptr, "hardware.node_labels: a mapping of label to value");
            if (json_object_size(v) > AT_SCHED_MAX_LABELS)
                return bad(d, ptr, "hardware.node_labels: more than 32 labels (the limit)");
            r.nlabels = 0;
            const char *lk;
            json_t *lv;
            json_object_foreach(v, lk, lv)
            {
                struct at_sched_label *l = &r.labels[r.nlabels];
                if (!lk[0] || strlen(lk) >= sizeof(l->key) || !json_is_string(lv) ||
                    str_into(lv, l->value, sizeof(l->value)))
                    return bad(d, ptr,
                               "hardware.node_labels: keys under 64 bytes, string values under "
                               "128 bytes");
                snprintf(l->key, sizeof(l->key), "%s", lk);
                r.nlabels++;
            }
        } else {
            return bad(d, ptr, "hardware: unknown key");
        }
    }
    if (r.gpu_vram_gb > 0)
        r.gpu = 1;
    *out = r;
    return 0;
}
