/*
 * admit.c - may an agent run (admit.h): required skills, and the
 * contract's hardware against the cluster (or this machine's facts).
 */
#include "exec/admit.h"

#include "base/err.h"
#include "contract/hardware.h"
#include "contract/sysinfo.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int at_admit_req(const struct at_contract *c, struct at_sched_req *r, struct at_diag *d)
{
    at_sched_req_init(r);
    snprintf(r->agent, sizeof(r->agent), "%s:%s", c->name, c->version);
    r->idempotent = c->idempotent;
    return at_sched_req_from_hardware(r, json_object_get(c->json, "hardware"), d);
}

char *at_admit_reasons(const json_t *ex, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "%s", json_string_value(json_object_get(ex, "reason")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ex, "nodes"), i, v)
    {
        if (len >= n)
            break;
        len += (size_t)snprintf(out + len, n - len, "%s%s: %s", i ? "; " : ": ",
                                json_string_value(json_object_get(v, "name")),
                                json_string_value(json_object_get(v, "reason")));
    }
    return out;
}

/* With a cluster: could any node run c were it empty?  (Headroom rules
 * fail only for what runs now.) */
static int cluster_fit(struct at_sched *s, const struct at_contract *c, char *why, size_t n)
{
    struct at_sched_req r;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_admit_req(c, &r, &d)) {
        snprintf(why, n, "%s", d.msg);
        return AT_EUNSCHEDULABLE;
    }
    json_t *ex = at_sched_explain(s, &r);
    int fits = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ex, "nodes"), i, v)
    {
        const char *rule = json_string_value(json_object_get(v, "rule"));
        if (!rule || strcmp(rule, "memory_headroom") == 0 || strcmp(rule, "gpu_headroom") == 0)
            fits = 1;
    }
    if (!fits) {
        /* one node: its reason alone, as the machine check said it */
        if (json_array_size(json_object_get(ex, "nodes")) == 1)
            snprintf(why, n, "%s",
                     json_string_value(json_object_get(
                         json_array_get(json_object_get(ex, "nodes"), 0), "reason")));
        else
            at_admit_reasons(ex, why, n);
    }
    json_decref(ex);
    return fits ? 0 : AT_EUNSCHEDULABLE;
}

static int skills_check(const struct at_contract *c, char *why, size_t n)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(c->json, "requires"), "skills"), i, v)
    {
        const char *skill = json_string_value(v);
        if (skill && !at_contract_skill_available(skill)) {
            snprintf(why, n,
                     "requires skill \"%s\" (requires.skills), which is not installed on this "
                     "node (atlas skill ls)",
                     skill);
            return AT_ESKILL;
        }
    }
    return 0;
}

int at_admit_check(const struct at_contract *c, char *why, size_t n)
{
    int rc = skills_check(c, why, n);
    if (rc)
        return rc;
    struct at_sched *s = at_sched_current();
    if (s && !c->remote)
        return cluster_fit(s, c, why, n);
    if (at_hardware_contract_fit(c, at_sysinfo_current(), why, n))
        return AT_EHARDWARE;
    return 0;
}

int at_admit_diag(const struct at_contract *c, struct at_diag *d)
{
    char why[700];
    int rc = skills_check(c, why, sizeof(why));
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "agent %s:%s %s", c->name, c->version, why);
    if (at_sched_current())
        return 0; /* hardware is the placement's: the job waits for a node (engine_sched.c) */
    if (at_hardware_contract_fit(c, at_sysinfo_current(), why, sizeof(why)))
        return at_diag_set(d, AT_EHARDWARE, NULL, 0, 0,
                           "agent %s:%s cannot run on this machine: %s", c->name, c->version, why);
    return 0;
}
