/*
 * config.h - the `models:` section of atlas.config.yaml: backends, tiers,
 * routing, retry and health settings of the model gateway.
 *
 *   models:
 *     backends:
 *       local: {kind: openai, base_url: "http://127.0.0.1:8080/v1",
 *               api_key_env: LOCAL_KEY, max_concurrency: 4,
 *               models: ["qwen2.5-7b"], prices: {"qwen2.5-7b": {input_per_mtok: 0,
 *               output_per_mtok: 0}}}
 *     tiers: {fast: [...], balanced: [...], powerful: [...]}
 *
 * Every key is in docs/gateway.md.  Errors are located (file:line:col and
 * the dotted key).  ATLAS_LLM_BASE_URL, ATLAS_LLM_MODEL, ATLAS_LLM_API_KEY
 * (and ATLAS_LLM_KIND) override the file for the one-backend case.
 *
 * API keys are secrets: they live only in at_llm_backend_cfg.api_key, are
 * sent only in the upstream Authorization / x-api-key header, and are never
 * logged nor put in any JSON this module returns.
 */
#ifndef AT_LLM_CONFIG_H
#define AT_LLM_CONFIG_H

#include "base/diag.h"
#include "contract/config.h"
#include "contract/yaml.h"

#include <jansson.h>
#include <stddef.h>

enum at_llm_kind { AT_LLM_OPENAI, AT_LLM_ANTHROPIC };
/* AT_LLM_AUDITOR: the small model that checks a supervisor's worker results
 * (docs/supervisor.md "The auditor"); asked for by name only, never chosen
 * by a routing strategy or an orchestrator's override; empty, it is the
 * fast tier's */
enum at_llm_tier { AT_LLM_FAST, AT_LLM_BALANCED, AT_LLM_POWERFUL, AT_LLM_AUDITOR, AT_LLM_NTIERS };
enum at_llm_strategy {
    AT_LLM_STRATEGY_NONE, /* agents' own preferences decide */
    AT_LLM_STRATEGY_TASK_COMPLEXITY,
    AT_LLM_STRATEGY_COST,
    AT_LLM_STRATEGY_LATENCY,
};

struct at_llm_price {
    double in_per_mtok;  /* USD per million input tokens */
    double out_per_mtok; /* USD per million output tokens */
};

struct at_llm_model_cfg {
    char *name;
    struct at_llm_price price;
};

struct at_llm_backend_cfg {
    char *name;
    enum at_llm_kind kind;
    char *base_url;    /* without a trailing slash */
    char *api_key;     /* secret (resolved from api_key_env); NULL when none */
    char *api_key_env; /* for messages only */
    int max_concurrency;
    int max_queue;    /* requests waiting for a slot before 503 */
    double timeout_s; /* one upstream request */
    double connect_timeout_s;
    int discover; /* no models list: GET {base_url}/models at start */
    struct at_llm_model_cfg *models;
    size_t nmodels;
    json_t *prices; /* {"model": {"input_per_mtok", "output_per_mtok"}}, for discovered models */
};

struct at_llm_config {
    struct at_llm_backend_cfg *backends;
    size_t nbackends;
    char **tiers[AT_LLM_NTIERS]; /* ordered model names */
    size_t ntiers[AT_LLM_NTIERS];
    enum at_llm_tier default_tier;
    enum at_llm_strategy routing_strategy;
    int max_retries;                /* retries of one model on 429/503 before falling back */
    double max_retry_after;         /* seconds: a longer Retry-After falls back at once */
    double backoff_base;            /* seconds: first backoff when no Retry-After */
    int failure_threshold;          /* consecutive failures that mark a backend down */
    double probe_interval;          /* seconds between probes of a down backend */
    long long max_tokens_per_chain; /* from execution.resource_budget; 0: none */
    char *source;                   /* file the section came from, or NULL */
};

/* Tier names: "fast", "balanced", "powerful". */
const char *at_llm_tier_name(enum at_llm_tier t);
/* -1 when s is not a tier name. */
int at_llm_tier_parse(const char *s);
int at_llm_strategy_parse(const char *s);

/* Check the shape of a `models:` value found at pointer ptr of doc (as
 * config.c does for its other sections).  Returns 0 or AT_EINVAL with d
 * located.  Needs no environment. */
int at_llm_config_check(const struct at_yaml_doc *doc, const json_t *models, const char *ptr,
                        struct at_diag *d);

/* Build the gateway's settings from `models` (the section's JSON or NULL)
 * and the environment overrides.  doc (may be NULL) locates errors.
 * max_tokens_per_chain comes from the daemon's execution settings.
 * Returns 0 or an AT_E* code with d filled.  c must be zeroed. */
int at_llm_config_from_json(struct at_llm_config *c, const struct at_yaml_doc *doc,
                            const json_t *models, struct at_diag *d);

/* From the daemon's configuration: re-reads config->source for located
 * errors when it names a file, else uses config->json. */
int at_llm_config_load(struct at_llm_config *c, const struct at_config *config, struct at_diag *d);

void at_llm_config_release(struct at_llm_config *c);

/* Look up a configured model by name: returns the backend index and sets
 * *model, or -1.  With several backends serving it, the first wins unless
 * `after` >= 0 (then the next one after that backend index). */
int at_llm_config_find(const struct at_llm_config *c, const char *model, int after,
                       const struct at_llm_model_cfg **model_out);

/* Add a discovered model to backend b (price from b->prices when listed).
 * No-op if it is already there. */
void at_llm_config_add_model(struct at_llm_backend_cfg *b, const char *name);

#endif
