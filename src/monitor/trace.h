/*
 * trace.h - a job tree's trace, built from what the store holds: the jobs
 * of the tree (parent_id/root_id), the model calls recorded against them
 * (usage rows, with the monitor's span attributes), platform-tool spans
 * and eval results.
 *
 * The result has the Atlas spec's shape (trace_id, chain, started_at,
 * completed_at, status, steps[] with agent, model_used, tokens_in,
 * tokens_out, latency_ms, status; total_tokens, total_cost_usd), extended
 * with a span tree: "spans" holds the root job's span, whose "children"
 * are its model calls, tool calls and spawned jobs, recursively.  Each
 * span has its node, start offset, duration and queue wait.
 */
#ifndef AT_MONITOR_TRACE_H
#define AT_MONITOR_TRACE_H

#include <jansson.h>
#include <stddef.h>

/* Build the trace from materials ({"trace", "jobs", "usage", "spans",
 * "evals"} as at_store_ops.trace_load gives them).  Returns a new
 * reference, or NULL when materials hold no job.  Pure: thread-safe. */
json_t *at_trace_build(const json_t *materials);

/* "tr_" + the part of root_id after "job_" into out (n >= 64). */
void at_trace_id(const char *root_id, char *out, size_t n);
/* The root job id a trace id stands for ("tr_X" -> "job_X"; others
 * unchanged) into out. */
void at_trace_root_of(const char *trace_id, char *out, size_t n);

#endif
