/*
 * proposal.c - the proposal kinds, their typed payloads and the content
 * hash (approvals.h).  Hostile input: every member is checked, sizes are
 * bounded, and errors name the member as a JSON Pointer.
 */
#include "supervisor/approvals.h"

#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[AT_PROP_NKINDS] = {
    "new_skill", "skill_change", "new_agent", "dependency",
    "policy",    "orchestrator", "config",    "tool_fix",
};

int at_proposal_kind_parse(const char *s)
{
    for (int i = 0; s && i < AT_PROP_NKINDS; i++)
        if (!strcmp(s, kind_names[i]))
            return i;
    return -1;
}

const char *at_proposal_kind_name(int kind)
{
    return kind >= 0 && kind < AT_PROP_NKINDS ? kind_names[kind] : "?";
}

int at_proposal_executable(int kind, const json_t *payload)
{
    if (kind == AT_PROP_POLICY)
        return strcmp(at_json_str(payload, "name", ""), AT_POLICY_AUTO_APPROVE) == 0;
    return at_proposal_kind_executable(kind);
}

int at_proposal_kind_executable(int kind)
{
    return kind == AT_PROP_NEW_SKILL || kind == AT_PROP_SKILL_CHANGE || kind == AT_PROP_NEW_AGENT ||
           kind == AT_PROP_ORCHESTRATOR || kind == AT_PROP_CONFIG;
}

/* The keys a config proposal may change (docs/supervisor.md "Config
 * proposals"): the keys a reload applies at once (daemon/service.c
 * live_keys, docs/install.md "Reload"), less the ones that are policy
 * (registry.policy, approvals: `policy` proposals) and the sections. */
static const char *const config_keys[] = {
    "log_level",
    "execution.max_concurrent_agents",
    "execution.max_spawn_depth",
    "execution.timeouts.chain",
    "execution.timeouts.agent",
    "execution.timeouts.startup",
    "execution.timeouts.shutdown",
    "execution.circuit_breaker.failure_threshold",
    "execution.circuit_breaker.recovery_timeout",
    "pool.health_interval",
    "store.jobs.retention_days",
    "store.jobs.max_count",
    "store.jobs.prune_interval",
    "scheduling.strategy",
    "scheduling.preemption_enabled",
    "scheduling.unschedulable_timeout",
    NULL,
};

int at_proposal_config_key_ok(const char *key)
{
    for (size_t i = 0; key && config_keys[i]; i++)
        if (!strcmp(key, config_keys[i]))
            return 1;
    return 0;
}

/* ---- member checks ---- */

enum { T_STR, T_ABSPATH, T_BOOL, T_OBJ, T_ANY, T_TEXT };

struct member {
    const char *name;
    int type;
    int required;
};

static int bad(struct at_diag *d, int code, const char *ptr, const char *fmt, const char *a)
{
    at_diag_set(d, code, NULL, 0, 0, fmt, a);
    at_diag_set_pointer(d, ptr);
    return code;
}

static int check_members(const json_t *obj, const char *where, const struct member *m, size_t n,
                         struct at_diag *d)
{
    char ptr[160];
    if (!json_is_object(obj)) {
        return bad(d, AT_ESCHEMA, where, "%s must be an object", *where ? where : "the payload");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i;
        for (i = 0; i < n; i++)
            if (!strcmp(key, m[i].name))
                break;
        snprintf(ptr, sizeof(ptr), "%s/%s", where, key);
        if (i == n)
            return bad(d, AT_ESCHEMA, ptr, "unknown member \"%s\"", key);
        if (json_is_null(v) && !m[i].required && m[i].type != T_ANY)
            continue; /* null: an absent optional member */
        const char *s = json_string_value(v);
        switch (m[i].type) {
        case T_STR:
            if (!s || !*s || strlen(s) > 256)
                return bad(d, AT_ESCHEMA, ptr, "%s must be a non-empty string of at most 256 bytes",
                           key);
            break;
        case T_TEXT:
            if (!s || strlen(s) > AT_PROPOSAL_MAX)
                return bad(d, AT_ESCHEMA, ptr, "%s must be a string", key);
            break;
        case T_ABSPATH:
            if (!s || s[0] != '/' || strlen(s) > 4096 || strstr(s, "/../") ||
                (strlen(s) >= 3 && !strcmp(s + strlen(s) - 3, "/..")))
                return bad(d, AT_ESCHEMA, ptr,
                           "%s must be an absolute path without \"..\" components", key);
            break;
        case T_BOOL:
            if (!json_is_boolean(v))
                return bad(d, AT_ESCHEMA, ptr, "%s must be true or false", key);
            break;
        case T_OBJ:
            if (!json_is_object(v))
                return bad(d, AT_ESCHEMA, ptr, "%s must be an object", key);
            break;
        default:
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *mv = json_object_get(obj, m[i].name);
        if (m[i].required && (!mv || (json_is_null(mv) && m[i].type != T_ANY))) {
            snprintf(ptr, sizeof(ptr), "%s/%s", where, m[i].name);
            return bad(d, AT_ESCHEMA, ptr, "%s is required", m[i].name);
        }
    }
    return 0;
}

/* new_skill, skill_change: {"definition": {...}} or {"path": DIR, "version"?} */
static const struct member skill_members[] = {
    {"definition", T_OBJ, 0}, {"path", T_ABSPATH, 0}, {"version", T_STR, 0},
    {"digest", T_STR, 0},     {"spec", T_TEXT, 0},
};
/* new_agent: {"path": DIR, "name"?, "force"?, "digest"?, "owner"?, "owner_id"?}
 * (owner: the token that asked, recorded as the agent's owner once it is
 * registered, docs/security.md "Ownership of agents") */
static const struct member agent_members[] = {
    {"path", T_ABSPATH, 1}, {"name", T_STR, 0},  {"force", T_BOOL, 0},
    {"digest", T_STR, 0},   {"owner", T_STR, 0}, {"owner_id", T_STR, 0},
};
static const struct member dep_members[] = {
    {"name", T_STR, 1}, {"version", T_STR, 0}, {"ecosystem", T_STR, 0}, {"for", T_STR, 0}};
static const struct member policy_members[] = {{"name", T_STR, 1}, {"change", T_OBJ, 1}};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* policy "approvals.auto_approve": {"kind", "enabled", "checks_pass"?,
 * "auditor_score_min"?} (docs/supervisor.md "Auto-approve") */
static const struct member auto_members[] = {{"kind", T_STR, 1},
                                             {"enabled", T_BOOL, 1},
                                             {"checks_pass", T_BOOL, 0},
                                             {"auditor_score_min", T_ANY, 0}};

static int check_auto_rule(const json_t *change, struct at_diag *d)
{
    int rc = check_members(change, "/payload/change", auto_members, N(auto_members), d);
    if (rc)
        return rc;
    int k = at_proposal_kind_parse(json_string_value(json_object_get(change, "kind")));
    if (k < 0)
        return bad(d, AT_ESCHEMA, "/payload/change/kind", "%s", "kind is not a proposal kind");
    if (k == AT_PROP_POLICY)
        return bad(d, AT_EPERM, "/payload/change/kind", "%s",
                   "a policy proposal is never approved automatically");
    if (k == AT_PROP_CONFIG) /* it reloads the settings: a person's decision, on a request */
        return bad(d, AT_EPERM, "/payload/change/kind", "%s",
                   "a config proposal is never approved automatically");
    const json_t *min = json_object_get(change, "auditor_score_min");
    if (min && !json_is_null(min) &&
        (!json_is_number(min) || json_number_value(min) < 0 || json_number_value(min) > 1))
        return bad(d, AT_ESCHEMA, "/payload/change/auditor_score_min", "%s",
                   "auditor_score_min is a number from 0 to 1");
    return 0;
}
/* orchestrator: {"agent", "chain"?}: the orchestrator slot (the default, or
 * one chain's); "strategy" and "config" are refused (not supported yet) */
static const struct member orch_members[] = {
    {"agent", T_STR, 1}, {"chain", T_STR, 0}, {"strategy", T_STR, 0}, {"config", T_OBJ, 0}};
static const struct member config_members[] = {{"key", T_STR, 1}, {"value", T_ANY, 1}};
static const struct member toolfix_members[] = {
    {"tool", T_STR, 1}, {"description", T_TEXT, 0}, {"diff", T_TEXT, 0}};

int at_proposal_validate(int kind, const json_t *payload, struct at_diag *d)
{
    int rc;
    switch (kind) {
    case AT_PROP_NEW_SKILL:
    case AT_PROP_SKILL_CHANGE:
        if ((rc = check_members(payload, "/payload", skill_members, N(skill_members), d)))
            return rc;
        if (!json_object_get(payload, "definition") == !json_object_get(payload, "path"))
            return bad(d, AT_ESCHEMA, "/payload", "%s",
                       "a skill payload has exactly one of \"definition\" and \"path\"");
        if (json_object_get(payload, "definition") &&
            !json_is_string(json_object_get(json_object_get(payload, "definition"), "name")))
            return bad(d, AT_ESCHEMA, "/payload/definition/name", "%s",
                       "a skill definition needs a name");
        return 0;
    case AT_PROP_NEW_AGENT:
        return check_members(payload, "/payload", agent_members, N(agent_members), d);
    case AT_PROP_DEPENDENCY:
        return check_members(payload, "/payload", dep_members, N(dep_members), d);
    case AT_PROP_POLICY:
        if ((rc = check_members(payload, "/payload", policy_members, N(policy_members), d)))
            return rc;
        if (!strcmp(json_string_value(json_object_get(payload, "name")), AT_POLICY_AUTO_APPROVE))
            return check_auto_rule(json_object_get(payload, "change"), d);
        return 0;
    case AT_PROP_ORCHESTRATOR:
        if ((rc = check_members(payload, "/payload", orch_members, N(orch_members), d)))
            return rc;
        for (const char *const *k = (const char *const[]){"strategy", "config", NULL}; *k; k++) {
            const json_t *v = json_object_get(payload, *k);
            if (v && !json_is_null(v)) {
                char ptr[40];
                snprintf(ptr, sizeof(ptr), "/payload/%s", *k);
                return bad(d, AT_EUNSUPPORTED, ptr,
                           "an orchestrator proposal's %s is not supported yet (name the agent, "
                           "and the chain it orchestrates)",
                           *k);
            }
        }
        return 0;
    case AT_PROP_CONFIG:
        if ((rc = check_members(payload, "/payload", config_members, N(config_members), d)))
            return rc;
        if (!at_proposal_config_key_ok(json_string_value(json_object_get(payload, "key"))))
            return bad(d, AT_EUNSUPPORTED, "/payload/key",
                       "a config proposal for \"%s\" is not supported yet: only the keys a "
                       "reload applies at once, other than policies, can be proposed "
                       "(docs/supervisor.md \"Config proposals\")",
                       json_string_value(json_object_get(payload, "key")));
        if (json_is_null(json_object_get(payload, "value")))
            return bad(d, AT_ESCHEMA, "/payload/value", "%s",
                       "a config proposal sets a value (null removes nothing)");
        return 0;
    case AT_PROP_TOOL_FIX:
        return check_members(payload, "/payload", toolfix_members, N(toolfix_members), d);
    default:
        return bad(d, AT_EINVAL, "/kind", "%s", "unknown proposal kind");
    }
}

static const struct member evidence_members[] = {
    {"diff", T_TEXT, 0},  {"checks", T_ANY, 0}, {"auditor", T_OBJ, 0},
    {"impact", T_OBJ, 0}, {"spec", T_TEXT, 0},  {"notes", T_TEXT, 0},
};
static const struct member filing_members[] = {
    {"kind", T_STR, 1},    {"title", T_STR, 1},    {"reason", T_TEXT, 0},
    {"payload", T_OBJ, 1}, {"evidence", T_OBJ, 0},
};

int at_proposal_validate_filing(const json_t *filing, struct at_diag *d)
{
    if (!json_is_object(filing))
        return bad(d, AT_ESCHEMA, "", "%s", "a proposal must be an object");
    size_t depth = at_json_depth(filing, 33);
    if (depth > 32)
        return bad(d, AT_E2BIG, "", "%s", "the proposal is nested too deeply (at most 32)");
    int rc = check_members(filing, "", filing_members, N(filing_members), d);
    if (rc)
        return rc;
    const char *ks = json_string_value(json_object_get(filing, "kind"));
    int kind = at_proposal_kind_parse(ks);
    if (kind < 0)
        return bad(d, AT_ESCHEMA, "/kind",
                   "unknown proposal kind \"%s\" (new_skill, skill_change, "
                   "new_agent, dependency, policy, orchestrator, config, tool_fix)",
                   ks);
    if ((rc = at_proposal_validate(kind, json_object_get(filing, "payload"), d)))
        return rc;
    const json_t *ev = json_object_get(filing, "evidence");
    if (json_is_null(ev))
        ev = NULL;
    if (ev && (rc = check_members(ev, "/evidence", evidence_members, N(evidence_members), d)))
        return rc;
    const json_t *score = json_object_get(json_object_get(ev, "auditor"), "score");
    if (score && !json_is_number(score))
        return bad(d, AT_ESCHEMA, "/evidence/auditor/score", "%s", "the score must be a number");
    char *s = json_dumps(filing, JSON_COMPACT);
    size_t len = s ? strlen(s) : 0;
    free(s);
    if (len > AT_PROPOSAL_MAX)
        return bad(d, AT_E2BIG, "", "%s", "the proposal is larger than 256 KiB");
    return 0;
}

int at_proposal_hash(const char *kind, const json_t *payload, char out[AT_AUDIT_DIGEST_MAX])
{
    json_t *c = json_pack("{s:s,s:O}", "kind", kind, "payload", payload);
    if (!c)
        return AT_EINVAL;
    int rc = at_audit_digest(c, out);
    json_decref(c);
    return rc;
}
