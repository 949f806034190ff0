/*
 * select.h - which model serves a call: tiers, preferences, orchestrator
 * overrides, routing strategies and MCP modelPreferences (rules in
 * docs/gateway.md, "Selection").
 *
 * Pure functions over the configuration: no I/O, no locks; the caller
 * passes observed latencies through a callback.  Thread-safe as long as the
 * configuration is not changed meanwhile.
 */
#ifndef AT_LLM_SELECT_H
#define AT_LLM_SELECT_H

#include "base/diag.h"
#include "llm/config.h"

#include <jansson.h>

#define AT_LLM_MAX_CANDIDATES 16

/* What the caller asked for and who it is. */
struct at_llm_prefs {
    const char *model;       /* the request's "model", or NULL */
    int is_agent;            /* the caller is a job (job token) */
    int agent_tier;          /* the contract's model.preference; -1 when none */
    int override_allowed;    /* the contract's model.override_allowed */
    int override_tier;       /* a tier the orchestrator set for this job; -1 when none */
    int strategy;            /* the orchestrator's routing_strategy; NONE: the config's */
    const json_t *mcp_prefs; /* MCP sampling modelPreferences, or NULL */
    /* a custom orchestrator's model_selection.tiers for this job: each
     * tier's models, '\n'-separated ("" or NULL: the configuration's list) */
    const char *orch_name;
    const char *orch_models[AT_LLM_NTIERS];
    /* request features, for task_complexity */
    long long est_tokens_in;
    int has_tools;
    size_t nmessages;
};

struct at_llm_candidate {
    int backend;       /* index into config->backends */
    const char *model; /* borrowed from the configuration */
};

struct at_llm_choice {
    int tier; /* enum at_llm_tier, or -1 for a model outside every tier */
    struct at_llm_candidate cand[AT_LLM_MAX_CANDIDATES];
    size_t ncand;
    int strategy;     /* the routing strategy applied (enum at_llm_strategy) */
    char reason[512]; /* human-readable: why this tier and order */
};

/* Observed mean latency of a model on a backend in ms; < 0 when unknown. */
typedef double (*at_llm_latency_fn)(void *arg, int backend, const char *model);

/* Choose the tier and the ordered candidates.  Returns 0, or AT_ENOENT
 * (the model is not configured, for a caller that is not an agent; or no
 * backend serves any model of the tier) with d saying which.  lat may be
 * NULL. */
int at_llm_select(const struct at_llm_config *c, const struct at_llm_prefs *p,
                  at_llm_latency_fn lat, void *lat_arg, struct at_llm_choice *out,
                  struct at_diag *d);

/* The tier MCP modelPreferences point at (hints naming a tier, else the
 * cost/speed/intelligence priorities); -1 when they say nothing. */
int at_llm_tier_from_mcp(const json_t *prefs);

/* The tier task_complexity gives a request. */
int at_llm_tier_from_complexity(long long est_tokens_in, int has_tools, size_t nmessages);

#endif
