/*
 * monitor.h - "every execution is observable": traces, logs, costs,
 * metrics, OpenTelemetry export and eval hooks, fed by the engine's
 * observer and the model gateway's observer (docs/monitoring.md,
 * docs/internals/monitor.md).
 *
 * Threads.  The observers only hand off: the engine loop appends log lines
 * to a bounded per-job buffer (a mutex held for a copy), the store writer's
 * on_final and the gateway's observer push a small item onto the monitor's
 * queue.  The monitor's own thread does the rest in batches: trace summary
 * rows, log lines and spans go to the group-committing writer, metrics are
 * counted, spans are queued for the OTLP exporter (its own thread), evals
 * run (llm_judge checks through the gateway, asynchronously).  Nothing here
 * ever delays a job's result: a full queue drops (and counts) instead.
 */
#ifndef AT_MONITOR_MONITOR_H
#define AT_MONITOR_MONITOR_H

#include "base/buf.h"
#include "base/diag.h"
#include "contract/config.h"
#include "exec/engine.h"
#include "store/store.h"
#include "store/writer.h"

#include <jansson.h>
#include <stdint.h>

struct at_monitor;
struct at_llm;

/* Settings: the `monitor:` section of atlas.config.yaml (defaults in
 * at_monitor_cfg_load; docs/configuration.md). */
struct at_secrets;

struct at_monitor_cfg {
    int traces;              /* monitor.traces.enabled (default 1) */
    double retention_days;   /* monitor.traces.retention_days (7; 0 keeps) */
    long long max_bytes;     /* monitor.traces.max_mb (256 MiB; 0 no limit) */
    double prune_interval_s; /* monitor.traces.prune_interval (60 s) */
    /* job retention: store.jobs (the retention pass runs them too) */
    double job_retention_days;   /* store.jobs.retention_days (30; 0 keeps) */
    long long job_max_count;     /* store.jobs.max_count (100000; 0 no limit) */
    double job_prune_interval_s; /* store.jobs.prune_interval (60 s) */
    int logs;                    /* monitor.logs.enabled (1) */
    size_t log_max_bytes;        /* monitor.logs.max_bytes_per_job (64 KiB) */
    int evals;                   /* monitor.evals.enabled (1) */
    int eval_max_inflight;       /* monitor.evals.max_concurrent (4 judges at once) */
    int queue_max;               /* monitor.queue (10000 items) */
    char *otlp_endpoint;         /* monitor.otlp.endpoint (NULL: no export) */
    json_t *otlp_headers;        /* monitor.otlp.headers (object of strings, or NULL) */
    char *service_name;          /* monitor.otlp.service_name ("atlas") */
    int otlp_batch;              /* monitor.otlp.batch_size (256 spans) */
    int otlp_interval_ms;        /* monitor.otlp.flush_interval_ms (1000) */
    int otlp_queue;              /* monitor.otlp.max_queue (4096 spans) */
    int otlp_timeout_ms;         /* monitor.otlp.timeout_ms (5000) */
    /* the daemon's secrets (borrowed, may be NULL): their values are
     * redacted from log lines before they are kept or stored */
    struct at_secrets *secrets;
};

/* Fill cfg from config->json's `monitor:` section (shape already checked
 * by the config loader) and ATLAS_OTLP_ENDPOINT / ATLAS_TRACE (0|1).
 * Release with at_monitor_cfg_release. */
void at_monitor_cfg_load(struct at_monitor_cfg *cfg, const struct at_config *config);
void at_monitor_cfg_release(struct at_monitor_cfg *cfg);

/* Create the monitor (cfg is copied) and start its thread; loads the
 * registered evals from the store.  The observer is added to the engine
 * here, so call it before at_engine_start.  Returns 0 or an AT_E*. */
int at_monitor_new(const struct at_monitor_cfg *cfg, struct at_store *store,
                   struct at_writer *writer, struct at_engine *engine, struct at_monitor **out);
/* Observe the model gateway (model spans, model metrics) and use it for
 * llm_judge checks.  g may be NULL (no gateway configured, or detaching
 * before the gateway stops: judges are not submitted after this returns). */
void at_monitor_attach_llm(struct at_monitor *m, struct at_llm *g);
/* Stop: the queue is drained (its writes submitted to the writer), the
 * exporter gets one last flush, judges in flight are abandoned.  Call after
 * the engine and the gateway are stopped, before the writer is flushed.
 * NULL is a no-op. */
void at_monitor_free(struct at_monitor *m);
/* A reload: store.jobs.retention_days, max_count and prune_interval from
 * now on; the monitor thread applies them at its next pass, which prunes
 * at once.  Any thread. */
void at_monitor_set_job_retention(struct at_monitor *m, double retention_days, long long max_count,
                                  double prune_interval_s);

/* A platform-tool call made by a job, for its trace (the MCP surface
 * calls this).  Thread-safe, never blocks. */
void at_monitor_tool_span(struct at_monitor *m, const char *job_id, const char *root_id,
                          const char *tool, int64_t started_ms, int64_t duration_ms,
                          const char *status);

/* ---- reads for the HTTP API (any thread; they read the store) ---- */

/* The trace of a job tree: id is a root job id, "tr_"+suffix, or any job
 * of the tree.  Returns 0 and *out (caller decrefs), or AT_ENOENT. */
int at_monitor_trace(struct at_monitor *m, const char *id, json_t **out);
/* Trace summaries (newest first). */
int at_monitor_traces(struct at_monitor *m, const struct at_trace_filter *f, json_t **out);
/* A job's captured log lines ([{seq, ts_ms, stream, text}]), from memory
 * while the job runs, else from the store. */
int at_monitor_logs(struct at_monitor *m, const char *job_id, json_t **out);
/* Only the lines held in memory for a job in flight: AT_ENOENT when there
 * are none.  Never reads the store (for the engine loop's callbacks). */
int at_monitor_logs_live(struct at_monitor *m, const char *job_id, json_t **out);
/* Run fn(arg) on the monitor's thread (work that may read the store, handed
 * off by a thread that must not block).  Returns 0, or AT_EBUSY when the
 * queue is full or the monitor stopping (fn does not run). */
int at_monitor_run_later(struct at_monitor *m, void (*fn)(void *arg), void *arg);
/* Prometheus text exposition (version 0.0.4) of every metric into b;
 * engine_stats and llm_stats (either may be NULL) add queue, pool and
 * model backend gauges. */
void at_monitor_metrics(struct at_monitor *m, const json_t *engine_stats, const json_t *llm_stats,
                        struct at_buf *b);

/* ---- evals ---- */

/* Register an eval from its YAML text (name: used in diagnostics).
 * Returns 0 and *info ({name, target_agent, trigger, checks}), or
 * AT_EPARSE / AT_EINVAL with d located (file:line:col). */
int at_monitor_eval_register(struct at_monitor *m, const char *name, const char *yaml, size_t len,
                             json_t **info, struct at_diag *d);
int at_monitor_eval_delete(struct at_monitor *m, const char *name);
/* [{name, target_agent, trigger, sample_rate?, checks: [...], registered_at}] */
json_t *at_monitor_eval_list(struct at_monitor *m);

/* Store one eval result that was decided elsewhere (a supervisor's
 * verdict, docs/supervisor.md): r is copied; written by the store's
 * writer.  Thread-safe. */
void at_monitor_eval_result(struct at_monitor *m, const struct at_eval_result *r);

/* Run eval `name` on the (final) job record rec now, whatever its
 * trigger; done(arg, results) runs once with {"eval", "job", "passed",
 * "results": [...]} (borrowed during the call), on some monitor or
 * gateway thread.  Returns 0, or AT_ENOENT (no such eval). */
typedef void (*at_monitor_eval_done_fn)(void *arg, json_t *results);
int at_monitor_eval_run(struct at_monitor *m, const char *name, const struct at_job_rec *rec,
                        at_monitor_eval_done_fn done, void *arg);

#endif
