/*
 * otlp.h - OpenTelemetry export: spans as OTLP/HTTP JSON (the protobuf
 * JSON mapping of opentelemetry.proto.collector.trace.v1
 * ExportTraceServiceRequest), with the GenAI semantic conventions on model
 * spans (gen_ai.operation.name "chat", gen_ai.request.model,
 * gen_ai.usage.input_tokens, ...) and agent spans ("invoke_agent").
 *
 * The exporter is a thread with a bounded queue: at_otlp_push never
 * blocks; a full queue drops the span and counts it.  Spans are sent in
 * batches of batch_size, or every interval_ms, with a timeout; a failed
 * POST drops its batch (counted) rather than holding memory.
 */
#ifndef AT_MONITOR_OTLP_H
#define AT_MONITOR_OTLP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* 32 hex digits (trace) / 16 (span) derived from an Atlas id (BLAKE2b), so
 * spans exported at different times join the same trace.  out must hold
 * 33 / 17 bytes. */
void at_otlp_trace_id(const char *root_id, char *out);
void at_otlp_span_id(const char *id, char *out);

/* A span for a finished job: job is {id, agent, version, state, kind,
 * parent_id, root_id, created_ms, started_ms, finished_ms, tokens_in,
 * tokens_out, model, cost_usd, error_title}.  New reference. */
json_t *at_otlp_job_span(const json_t *job);
/* A span for a model call: call is {id, job_id, root_id, model, backend,
 * tier, tokens_in, tokens_out, cost_usd, latency_ms, ttft_ms, queue_ms,
 * status, error, end_ms}.  New reference. */
json_t *at_otlp_model_span(const json_t *call);
/* The ExportTraceServiceRequest for spans (borrowed). */
json_t *at_otlp_request(const json_t *spans, const char *service_name);

struct at_otlp_cfg {
    const char *endpoint;  /* http://host:4318/v1/traces */
    const json_t *headers; /* object of extra headers, or NULL */
    const char *service_name;
    int batch_size, interval_ms, max_queue, timeout_ms;
};

struct at_otlp;
struct at_otlp_stats {
    unsigned long long queued, exported, dropped, failed_batches;
};

int at_otlp_new(const struct at_otlp_cfg *cfg, struct at_otlp **out);
/* Queue a span (stolen).  Never blocks. */
void at_otlp_push(struct at_otlp *o, json_t *span);
void at_otlp_get_stats(struct at_otlp *o, struct at_otlp_stats *st);
/* Flush once more, stop the thread, free.  NULL is a no-op. */
void at_otlp_free(struct at_otlp *o);

#endif
