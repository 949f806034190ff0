/*
 * orch.h - the default orchestrator's decisions (the Atlas spec's
 * "Orchestrator"): routing, model tier selection, chain mediation and error
 * recovery.  Pure functions over contracts and values: the engine asks
 * them (exec/chainrun.c), or asks a custom orchestrator agent over MCP and
 * falls back to them (docs/orchestrator-protocol.md).
 *
 * Every function appends what it decided, as short sentences, to a
 * `decisions` JSON array (may be NULL) that ends up in the job's event log.
 */
#ifndef AT_ORCH_ORCH_H
#define AT_ORCH_ORCH_H

#include "base/diag.h"
#include "contract/agent.h"
#include "json/schema.h"

#include <jansson.h>

struct at_registry;

/* Chain mediation: when a step's mapped input does not match the agent's
 * input schema, coerce types (numbers and booleans from and to text, any
 * value to text, integral numbers to integers, one value to a list), rename
 * fields by case-insensitive match to the schema's properties, drop fields
 * a closed schema does not take, fill defaults.  Returns 0 when input now
 * validates (it was changed in place), or AT_ESCHEMA with d naming the
 * JSON Pointer of what still does not fit. */
int at_orch_mediate(const struct at_schema *schema, json_t *input, json_t *decisions,
                    struct at_diag *d);

/* Text for any JSON value (strings as they are; lists one item per line;
 * objects their text fields joined with " - "; others as JSON).  Caller
 * frees. */
char *at_orch_to_text(const json_t *v);

/* A caller's condition on routing candidates, beyond the contract and the
 * input: 1 keeps contract c, 0 drops it with why (n bytes) saying why in a
 * few words ("needs a GPU; this machine has none").  The daemon passes the
 * machine's hardware fit here (contract/hardware.h).  Called on the
 * routing thread; must not block. */
typedef int (*at_orch_fit_fn)(void *arg, const struct at_contract *c, char *why, size_t n);

/* 1 when input looks like a turn of a conversation: plain text (a JSON
 * string, or an object whose only member is a string), an object with a
 * string or object "message", or with a "messages" array. */
int at_orch_chat_like(const json_t *input);

/* Whether contract c is a routing candidate for input: its type is
 * "agent", or "conversational" while the input is chat-like (orchestrators
 * never are); its input schema accepts the input (after defaults, on a
 * copy); fit (may be NULL) keeps it.  Returns 1, or 0 with why (n bytes)
 * naming the condition that dropped it.  Pure; thread-safe. */
int at_orch_route_candidate(const struct at_contract *c, const json_t *input, at_orch_fit_fn fit,
                            void *fit_arg, char *why, size_t n);

/* Routing: choose the agent for an input that names none.  Candidates are
 * the latest versions that at_orch_route_candidate keeps; they are ranked
 * by the input's fields their schema declares (x3 each), a conversational
 * agent for a chat-like input (x3), then by how many words of the input's
 * text (and of hint, when given) appear in their capabilities or name (x2)
 * and description (x1), then by name.  Candidates fit drops are named in
 * the decisions (at most 8).  Returns 0 and *agent ("name:version", caller
 * frees), or AT_ENOENT when no agent accepts the input.  When cands_out is
 * not NULL, *cands_out gets every candidate, best first: [{agent, name,
 * score, description, capabilities, type}] (caller decrefs). */
int at_orch_route_fit(struct at_registry *reg, const json_t *input, const char *hint,
                      at_orch_fit_fn fit, void *fit_arg, char **agent, json_t *decisions,
                      json_t **cands_out, struct at_diag *d);
/* at_orch_route_fit without a fit predicate. */
int at_orch_route(struct at_registry *reg, const json_t *input, const char *hint, char **agent,
                  json_t *decisions, json_t **cands_out, struct at_diag *d);
/* The same over the n contracts cs (the registry's latest versions, in
 * name order; borrowed), for tests and callers with their own list. */
int at_orch_route_among(struct at_contract *const *cs, size_t n, const json_t *input,
                        const char *hint, at_orch_fit_fn fit, void *fit_arg, char **agent,
                        json_t *decisions, json_t **cands_out, struct at_diag *d);

/* Model-based routing: the chat request asking a model to pick one of
 * candidates (as at_orch_route returns them) for input and hint, and the
 * candidate its answer names ("name:version"), or NULL when it names none. */
json_t *at_orch_route_prompt(const json_t *input, const char *hint, const json_t *candidates);
const char *at_orch_route_answer(const char *answer, const json_t *candidates);

/* Model tier for a run: the contract's model.preference, changed by the
 * routing strategy when override_allowed (task_complexity: input size;
 * cost_optimized: one tier down; latency_optimized: fast).  Returns the
 * tier name ("fast", "balanced", "powerful") and explains in reason. */
const char *at_orch_select_tier(const struct at_contract *c, const char *strategy,
                                const json_t *input, char *reason, size_t n);

/* Error recovery for a failed chain step: whether to retry (and after how
 * long), or give up.  Failures that cannot succeed on a retry (bad input,
 * output schema violation, permission, limits) are not retried. */
int at_orch_retryable(int code);
double at_orch_backoff(double initial, double max, int attempt);

#endif
