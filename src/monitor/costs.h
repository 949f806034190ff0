/*
 * costs.h - token and cost numbers read back from the store, made safe to
 * show: counts are clamped to 0..LLONG_MAX whatever the store holds (an
 * integer, or a real when a sum left the integer range), sums saturate,
 * costs that are not finite or negative count as 0.  Usage near 2^63 then
 * shows as a large number, never as a negative one, a wrapped one or an
 * error (issue 9: /api/v1/costs answered 500 for good).
 *
 * Pure functions: thread-safe.
 */
#ifndef AT_MONITOR_COSTS_H
#define AT_MONITOR_COSTS_H

#include <jansson.h>
#include <stdint.h>

/* A token count from a JSON value: integers as they are when >= 0, reals
 * rounded down and clamped to 0..LLONG_MAX, anything else (NULL, NaN,
 * negative, not a number) 0. */
long long at_monitor_tokens(const json_t *v);

/* a + b for counts >= 0, saturating at LLONG_MAX. */
long long at_monitor_tokens_add(long long a, long long b);

/* A cost in US dollars from a JSON value: finite and >= 0, else 0. */
double at_monitor_cost(const json_t *v);

/* The /api/v1/costs document for the store's usage rows (as usage_sum
 * returns them: [{key, calls, tokens_in, tokens_out, cost_usd}], taken):
 * {by, rows: [... each with its counts made safe and "tokens"], total:
 * {calls, tokens_in, tokens_out, tokens, cost_usd}, since?} with every
 * number clamped and every sum saturating.  since_ms 0: no "since".  New
 * reference; never NULL. */
json_t *at_monitor_costs_json(const char *by, json_t *rows, int64_t since_ms);

#endif
