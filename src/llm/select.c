/*
 * select.c - model selection (see select.h; the rules are in
 * docs/gateway.md, "Selection").
 */
#include "llm/select.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>

static int tier_of_name(const char *m)
{
    if (!m)
        return -1;
    if (strncmp(m, "atlas:", 6) == 0)
        return at_llm_tier_parse(m + 6);
    return at_llm_tier_parse(m);
}

int at_llm_tier_from_complexity(long long est_tokens_in, int has_tools, size_t nmessages)
{
    if (est_tokens_in > 4000 || (has_tools && nmessages > 8))
        return AT_LLM_POWERFUL;
    if (est_tokens_in < 500 && !has_tools && nmessages <= 4)
        return AT_LLM_FAST;
    return AT_LLM_BALANCED;
}

static double prio(const json_t *prefs, const char *key)
{
    json_t *v = json_object_get(prefs, key);
    double x = json_is_number(v) ? json_number_value(v) : -1;
    return x > 1 ? 1 : x;
}

int at_llm_tier_from_mcp(const json_t *prefs)
{
    if (!json_is_object(prefs))
        return -1;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(prefs, "hints"), i, h)
    {
        int t = tier_of_name(json_string_value(json_object_get(h, "name")));
        if (t >= 0)
            return t;
    }
    /* MCP sampling: priorities are 0..1; the largest one decides */
    double cost = prio(prefs, "costPriority");
    double speed = prio(prefs, "speedPriority");
    double intel = prio(prefs, "intelligencePriority");
    double fastish = cost > speed ? cost : speed;
    if (intel < 0 && fastish < 0)
        return -1;
    if (intel >= 0.5 && intel >= fastish)
        return AT_LLM_POWERFUL;
    if (fastish >= 0.5 && fastish > intel)
        return AT_LLM_FAST;
    return AT_LLM_BALANCED;
}

/* A configured model that an MCP hint names (exactly, else as a substring,
 * as the MCP spec suggests: "sonnet" matches "claude-sonnet-4"). */
static const char *model_from_hints(const struct at_llm_config *c, const json_t *prefs)
{
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(prefs, "hints"), i, h)
    {
        const char *name = json_string_value(json_object_get(h, "name"));
        if (!name || !*name)
            continue;
        const struct at_llm_model_cfg *m;
        if (at_llm_config_find(c, name, -1, &m) >= 0)
            return m->name;
        for (size_t b = 0; b < c->nbackends; b++)
            for (size_t k = 0; k < c->backends[b].nmodels; k++)
                if (strstr(c->backends[b].models[k].name, name))
                    return c->backends[b].models[k].name;
    }
    return NULL;
}

static void add_model(const struct at_llm_config *c, struct at_llm_choice *out, const char *model)
{
    for (int b = at_llm_config_find(c, model, -1, NULL); b >= 0;
         b = at_llm_config_find(c, model, b, NULL)) {
        int dup = 0;
        for (size_t i = 0; i < out->ncand; i++)
            dup |= out->cand[i].backend == b && strcmp(out->cand[i].model, model) == 0;
        if (dup || out->ncand >= AT_LLM_MAX_CANDIDATES)
            continue;
        const struct at_llm_model_cfg *m = NULL;
        for (size_t k = 0; k < c->backends[b].nmodels; k++)
            if (strcmp(c->backends[b].models[k].name, model) == 0)
                m = &c->backends[b].models[k];
        if (!m) /* at_llm_config_find returned a backend that has it */
            continue;
        out->cand[out->ncand].backend = b;
        out->cand[out->ncand].model = m->name;
        out->ncand++;
    }
}

static int tier_containing(const struct at_llm_config *c, const char *model)
{
    for (int t = 0; t < AT_LLM_NTIERS; t++)
        for (size_t i = 0; i < c->ntiers[t]; i++)
            if (strcmp(c->tiers[t][i], model) == 0)
                return t;
    return -1;
}

/* The tier's models; an empty tier borrows the default tier's list, and
 * with no tiers at all every configured model serves every tier. */
static void add_tier(const struct at_llm_config *c, struct at_llm_choice *out, int t)
{
    if (t == AT_LLM_AUDITOR && c->ntiers[t] == 0 && c->ntiers[AT_LLM_FAST] > 0)
        t = AT_LLM_FAST; /* the small model */
    if (c->ntiers[t] == 0 && c->ntiers[c->default_tier] > 0)
        t = c->default_tier;
    if (c->ntiers[t] == 0) {
        for (size_t b = 0; b < c->nbackends; b++)
            for (size_t k = 0; k < c->backends[b].nmodels; k++)
                add_model(c, out, c->backends[b].models[k].name);
        return;
    }
    for (size_t i = 0; i < c->ntiers[t]; i++)
        add_model(c, out, c->tiers[t][i]);
}

static double price_of(const struct at_llm_config *c, const struct at_llm_candidate *k)
{
    const struct at_llm_backend_cfg *b = &c->backends[k->backend];
    for (size_t i = 0; i < b->nmodels; i++)
        if (b->models[i].name == k->model)
            return b->models[i].price.in_per_mtok + b->models[i].price.out_per_mtok;
    return 0;
}

/* Stable insertion sort of candidates [from, n) by key (unknown keys last). */
static void sort_by(struct at_llm_choice *out, size_t from, const double *key)
{
    double k[AT_LLM_MAX_CANDIDATES];
    memcpy(k, key, sizeof(k));
    for (size_t i = from + 1; i < out->ncand; i++) {
        struct at_llm_candidate cv = out->cand[i];
        double kv = k[i];
        size_t j = i;
        while (j > from && (k[j - 1] < 0 ? kv >= 0 : (kv >= 0 && kv < k[j - 1]))) {
            out->cand[j] = out->cand[j - 1];
            k[j] = k[j - 1];
            j--;
        }
        out->cand[j] = cv;
        k[j] = kv;
    }
}

#define REASON(...)                                                                                \
    do {                                                                                           \
        size_t _l = strlen(out->reason);                                                           \
        if (_l < sizeof(out->reason) - 1)                                                          \
            snprintf(out->reason + _l, sizeof(out->reason) - _l, __VA_ARGS__);                     \
    } while (0)

int at_llm_select(const struct at_llm_config *c, const struct at_llm_prefs *p,
                  at_llm_latency_fn lat, void *lat_arg, struct at_llm_choice *out,
                  struct at_diag *d)
{
    memset(out, 0, sizeof(*out));
    out->tier = c->default_tier;
    const char *explicit_model = NULL;
    int explicit_tier = -1;
    const char *m = p->model && *p->model ? p->model : NULL;

    /* 1. what the request names */
    if (m && at_llm_config_find(c, m, -1, NULL) >= 0) {
        explicit_model = m;
        REASON("model %s requested", m);
    } else if (m && tier_of_name(m) >= 0) {
        explicit_tier = tier_of_name(m);
        REASON("model \"%s\" names tier %s", m, at_llm_tier_name(explicit_tier));
    } else if (m && !p->is_agent && !p->mcp_prefs && strcmp(m, "atlas") != 0 &&
               strcmp(m, "default") != 0) {
        return at_diag_set(
            d, AT_ENOENT, NULL, 0, 0,
            "model \"%s\" is not configured here (GET /v1/models lists the models; "
            "atlas:fast, atlas:balanced, atlas:powerful and atlas:auditor select a tier)",
            m);
    } else if (m && strcmp(m, "atlas") != 0 && strcmp(m, "default") != 0) {
        REASON("model %s is not configured, ignored; ", m);
    }
    /* 2. MCP sampling modelPreferences */
    if (!explicit_model && explicit_tier < 0 && p->mcp_prefs) {
        explicit_model = model_from_hints(c, p->mcp_prefs);
        if (explicit_model) {
            REASON("MCP hint matches model %s", explicit_model);
        } else if ((explicit_tier = at_llm_tier_from_mcp(p->mcp_prefs)) >= 0) {
            REASON("MCP modelPreferences map to tier %s", at_llm_tier_name(explicit_tier));
        }
    }
    int tier;
    if (explicit_model) {
        tier = tier_containing(c, explicit_model);
    } else if (explicit_tier >= 0) {
        tier = explicit_tier;
    } else if (p->is_agent && p->agent_tier >= 0) {
        tier = p->agent_tier;
        REASON("agent preference %s", at_llm_tier_name(tier));
    } else {
        tier = c->default_tier;
        REASON("default tier %s", at_llm_tier_name(tier));
    }

    /* 3. the orchestrator: an explicit tier for the job, or its strategy */
    int strategy = p->strategy != AT_LLM_STRATEGY_NONE ? p->strategy : (int)c->routing_strategy;
    /* the auditor is asked for by name: no strategy or override moves it */
    int wants_override = (p->override_tier >= 0 || strategy == AT_LLM_STRATEGY_TASK_COMPLEXITY) &&
                         tier != AT_LLM_AUDITOR;
    /* callers outside jobs keep what they named explicitly */
    int may_override = p->is_agent ? p->override_allowed : !explicit_model && explicit_tier < 0;
    if (wants_override && !may_override) {
        if (p->is_agent)
            REASON("; orchestrator override refused (model.override_allowed: false)");
    } else if (wants_override) {
        int t = p->override_tier >= 0
                    ? p->override_tier
                    : at_llm_tier_from_complexity(p->est_tokens_in, p->has_tools, p->nmessages);
        if (explicit_model || t != tier)
            REASON("; orchestrator override to tier %s (%s)", at_llm_tier_name(t),
                   p->override_tier >= 0 ? "set for the job" : "task_complexity");
        explicit_model = NULL;
        tier = t;
    }
    out->strategy = strategy;

    /* 4. candidates in order: the tier's models are the orchestrator's
     * (model_selection.tiers) when one governs the job and a backend serves
     * any of them, else the configuration's */
    if (explicit_model)
        add_model(c, out, explicit_model);
    if (tier >= 0) {
        const char *list = p->orch_models[tier];
        size_t before = out->ncand;
        for (const char *m0 = list; m0 && *m0;) {
            const char *nl = strchr(m0, '\n');
            size_t n = nl ? (size_t)(nl - m0) : strlen(m0);
            char model[256];
            if (n < sizeof(model)) {
                memcpy(model, m0, n);
                model[n] = '\0';
                add_model(c, out, model);
            }
            m0 = nl ? nl + 1 : m0 + n;
        }
        if (list && *list && out->ncand > before)
            REASON("; tier %s's models from orchestrator %s (model_selection.tiers)",
                   at_llm_tier_name(tier), p->orch_name ? p->orch_name : "?");
        else if (list && *list)
            REASON("; no backend serves orchestrator %s's tier %s models: the configured tier",
                   p->orch_name ? p->orch_name : "?", at_llm_tier_name(tier));
        if (out->ncand == before)
            add_tier(c, out, tier);
    }
    out->tier = tier;
    if (out->ncand == 0)
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                           "no backend serves a model of tier %s (models.tiers.%s and the "
                           "backends' models lists)",
                           at_llm_tier_name(tier >= 0 ? tier : (int)c->default_tier),
                           at_llm_tier_name(tier >= 0 ? tier : (int)c->default_tier));

    /* 5. order within the tier (an explicitly named model stays first) */
    size_t from = explicit_model ? 1 : 0;
    double key[AT_LLM_MAX_CANDIDATES];
    if (strategy == AT_LLM_STRATEGY_COST) {
        for (size_t i = 0; i < out->ncand; i++)
            key[i] = price_of(c, &out->cand[i]);
        sort_by(out, from, key);
        REASON("; cheapest first (cost_optimized)");
    } else if (strategy == AT_LLM_STRATEGY_LATENCY && lat) {
        for (size_t i = 0; i < out->ncand; i++)
            key[i] = lat(lat_arg, out->cand[i].backend, out->cand[i].model);
        sort_by(out, from, key);
        REASON("; fastest observed first (latency_optimized)");
    } else if (p->mcp_prefs && !explicit_model) {
        double cost = prio(p->mcp_prefs, "costPriority");
        double speed = prio(p->mcp_prefs, "speedPriority");
        if (cost >= 0.5 && cost >= speed) {
            for (size_t i = 0; i < out->ncand; i++)
                key[i] = price_of(c, &out->cand[i]);
            sort_by(out, 0, key);
            REASON("; cheapest first (costPriority)");
        } else if (speed >= 0.5 && lat) {
            for (size_t i = 0; i < out->ncand; i++)
                key[i] = lat(lat_arg, out->cand[i].backend, out->cand[i].model);
            sort_by(out, 0, key);
            REASON("; fastest observed first (speedPriority)");
        }
    }
    return 0;
}
