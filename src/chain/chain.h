/*
 * chain.h - declarative chains (the YAML files under chains/, the Atlas spec's "Chain
 * Execution"): loading, checking against the registered agents, and mapping
 * each step's input from the run so far.
 *
 * A step's input_map values are JSONPath expressions (strings starting with
 * "$") over the run context
 *     {"trigger": <the chain's input>,
 *      "steps": [{"id", "agent", "input", "output", "status"}, ...]}
 * or literals (any other value; "$$..." is the literal string "$...").
 * "$.steps.<id>..." names a step by its id: it is rewritten to its index
 * when the chain is loaded.  A `parallel:` group is one step whose members
 * run at once; its output is the array of the members' outputs.
 *
 * This module holds the pure parts (format, checks, mapping); runs are
 * driven by the engine (exec/chainrun.c).  It sits below the registry
 * (docs/architecture.md "Layers"): the checks see the registered agents
 * and chains only through struct at_chain_env, which registry/chains.c
 * fills and the unit tests fake.  A loaded chain is immutable and
 * reference-counted; thread-safe to share.
 */
#ifndef AT_CHAIN_CHAIN_H
#define AT_CHAIN_CHAIN_H

#include "base/diag.h"
#include "contract/agent.h"
#include "json/jsonpath.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

struct at_chain;

/* What the checks need to know about the registry.  Both functions are
 * called on the checking thread and must be safe there (the registry's
 * take its read lock, or none when the caller holds the write lock). */
struct at_chain_env {
    void *arg;
    /* The contract agent ref ("NAME" or "NAME:VERSION") resolves to: 0 and
     * a new reference in *out, or AT_ENOENT with why filled (one sentence,
     * "no agent \"x\" is registered" or the reason it does not resolve). */
    int (*agent)(void *arg, const char *ref, struct at_contract **out, char *why, size_t whylen);
    /* The chain registered as name: a new reference, or NULL when none. */
    struct at_chain *(*chain)(void *arg, const char *name);
};

enum at_chain_strategy {
    AT_CHAIN_HALT,            /* the chain fails with the step */
    AT_CHAIN_RETRY_THEN_SKIP, /* retries, then the step is skipped (output null) */
    AT_CHAIN_FALLBACK,        /* retries, then the fallback agent or chain runs */
};

struct at_chain_failure {
    enum at_chain_strategy strategy;
    int max_retries;        /* retries after the first attempt */
    double backoff_initial; /* seconds before the first retry; doubles each time */
    double backoff_max;     /* cap of the back-off */
    char *fallback_agent;   /* FALLBACK: an agent ref ... */
    char *fallback_chain;   /* ... or a chain name */
};

struct at_chain_map {
    char *key;                /* input property */
    struct at_jsonpath *path; /* NULL: literal */
    json_t *literal;          /* the literal value (when path is NULL) */
    char *expr;               /* the expression as written (after id rewriting) */
};

struct at_chain_step {
    char *id;    /* optional name */
    char *agent; /* agent ref; NULL for a parallel group */
    struct at_chain_map *map;
    size_t nmap;
    int has_map;                   /* input_map given (else the previous output, or the trigger) */
    struct at_chain_step *members; /* parallel group members */
    size_t nmembers;
    struct at_chain_failure *on_failure; /* step override, or NULL */
    double timeout_s;                    /* 0: the agent's */
    char pointer[96];                    /* where in the file, for messages */
};

struct at_chain {
    atomic_int refs;
    char *name;
    char *description;
    struct at_chain_step *steps;
    size_t nsteps;
    struct at_chain_failure on_failure;
    double timeout_s; /* 0: execution.timeouts.chain */
    json_t *json;     /* the normalised definition (stored) */
};

/* Load chains/NAME.yaml text.  With env (its agent function), every
 * step's agent and fallback agent must resolve and the mappings must be
 * able to satisfy each agent's input (required properties present, types
 * that mediation can reconcile, referenced outputs that exist); errors name
 * file:line:col.  Without env only the format is checked.  Cycles are a
 * separate check (at_chain_check_cycles), made where the set of chains
 * cannot change under it. */
int at_chain_load_string(const char *file, const char *text, size_t len,
                         const struct at_chain_env *env, struct at_chain **out, struct at_diag *d);

/* Refuse c when running it could run c again: a path of chain references
 * (every `on_failure.fallback: {chain: NAME}` of the chain, its steps and
 * their members) from c back to c, through the chains env->chain finds
 * (a name equal to c's is c itself, whatever env holds under that name).
 * Returns 0, or AT_EINVAL with d naming file and the path
 * ("a -> b -> a").  Chains that env does not know end a path (they may be
 * registered later; that registration runs this check).  Iterative: any
 * number of chains. */
int at_chain_check_cycles(const struct at_chain *c, const struct at_chain_env *env,
                          const char *file, struct at_diag *d);

/* Rebuild from the stored JSON (no registry checks). */
int at_chain_from_json(const json_t *def, struct at_chain **out, struct at_diag *d);

struct at_chain *at_chain_ref(struct at_chain *c);
void at_chain_unref(struct at_chain *c);

/* The failure policy that applies to a step. */
const struct at_chain_failure *at_chain_step_failure(const struct at_chain *c,
                                                     const struct at_chain_step *st);
const char *at_chain_strategy_name(enum at_chain_strategy s);

/* A fresh run context {"trigger": trigger, "steps": []} (new reference). */
json_t *at_chain_context_new(const json_t *trigger);

/* Build the input of step st (index idx) from the context: a new object,
 * or, for a step without input_map, the previous step's output (the
 * trigger for the first step).  Missing paths leave their key out. */
json_t *at_chain_map_input(const struct at_chain_step *st, size_t idx, const json_t *ctx);

/* Record step idx's result in the context. */
void at_chain_context_set(json_t *ctx, size_t idx, const struct at_chain_step *st,
                          const json_t *input, const json_t *output, const char *status);

/* The chain's output: the last step that produced one. */
json_t *at_chain_output(const json_t *ctx);

#endif
