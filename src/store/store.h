/*
 * store.h - the one narrow interface to Atlas's persistent state.
 *
 * Backends implement struct at_store_ops (sqlite.c today; a PostgreSQL
 * backend is a new file implementing the same table).  Every call is
 * synchronous and may block on disk: the dispatch path never calls the store
 * directly but hands writes to the group-committing writer (writer.h).
 * Records own their strings and JSON; release them with the _release
 * functions.  A store object is thread-safe: the backend serialises writes
 * and gives readers their own connections.
 */
#ifndef AT_STORE_STORE_H
#define AT_STORE_STORE_H

#include "base/diag.h"
#include "base/id.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum at_job_state {
    AT_JOB_QUEUED,
    AT_JOB_RUNNING,
    AT_JOB_COMPLETED,
    AT_JOB_FAILED,
    AT_JOB_CANCELLED,
};

const char *at_job_state_name(enum at_job_state s);
int at_job_state_parse(const char *s); /* -1 when unknown */
static inline int at_job_state_final(enum at_job_state s)
{
    return s >= AT_JOB_COMPLETED;
}

struct at_agent_rec {
    char *name;
    char *version;
    char *digest;     /* "sha256:..." of the registered directory; "" for remote */
    char *kind;       /* "local" | "remote" */
    char *source;     /* path registered from, or the remote URL */
    json_t *contract; /* normalised agent block */
    int64_t registered_ms;
};

struct at_chain_rec {
    char *name;
    json_t *definition; /* the normalised chain block */
    char *source;       /* file it was registered from */
    char *digest;       /* sha256 of the definition */
    int64_t registered_ms;
};

struct at_job_rec {
    char id[AT_ID_MAX];
    int64_t seq; /* FIFO order within a priority; assigned by the store */
    char *agent;
    char *agent_version;
    int priority; /* higher runs first */
    enum at_job_state state;
    json_t *input;
    json_t *output;  /* NULL until completed */
    json_t *error;   /* {"type","title","detail","pointer"?,...} or NULL */
    char *parent_id; /* NULL for roots */
    char *root_id;   /* the tree's root (itself for roots) */
    int depth;       /* spawn depth: 0 for roots */
    int attempts;    /* times it started running */
    int idempotent;  /* may be re-run after a daemon restart */
    char *source;    /* "http", "cli", "mcp", "spawn", "chain", ... */
    char *kind;      /* "agent" (NULL means agent) | "chain" | "orchestrator" */
    json_t *meta;    /* free-form: usage, progress, ... or NULL */
    int64_t created_ms, started_ms, finished_ms; /* wall clock; 0 when not yet */
};

struct at_job_filter {
    const char *agent;  /* NULL: any */
    int state;          /* -1: any */
    const char *parent; /* NULL: any */
    int64_t before_seq; /* 0: from the newest; else only seq < before_seq */
    int64_t since_ms;   /* 0: any */
    int limit;          /* <= 0: 100 */
};

/* One model call through the gateway (or usage an agent reported). */
struct at_usage_rec {
    char id[AT_ID_MAX];
    char *job_id;  /* NULL for calls from outside any job */
    char *root_id; /* the job tree's root, for per-chain budgets */
    char *agent;   /* "name" of the job's agent, or NULL */
    char *backend; /* configured backend name, or "agent" for self-reported */
    char *model;
    char *tier; /* "fast" | "balanced" | "powerful" | NULL */
    long long tokens_in, tokens_out;
    double cost_usd;
    long long latency_ms, ttft_ms; /* -1 when unknown */
    char *status;                  /* "ok" | "error" | "refused" ... */
    int64_t created_ms;
};

struct at_usage_filter {
    const char *group_by; /* "agent" | "model" | "backend" | "day" | "job_id" | "root_id" */
    const char *job_id;   /* NULL: any */
    const char *root_id;  /* NULL: any */
    int64_t since_ms;     /* 0: any */
};

/* ---- the monitor's records (traces, logs, spans, evals; monitor/) ---- */

struct at_trace_filter {
    const char *agent;  /* NULL: any */
    const char *status; /* NULL: any */
    int64_t since_ms;   /* 0: any (by start) */
    int64_t before_ms;  /* 0: any (by start, for paging) */
    int limit;          /* <= 0: 50 */
};

/* One captured log line of a job. */
struct at_log_line {
    const char *job_id;
    const char *root_id;
    int seq; /* per job, from 1 */
    int64_t ts_ms;
    const char *stream; /* "stderr" | "mcp" | "atlas" */
    const char *text;
};

/* A span that is not a job: a model call (id = its usage id) or a platform
 * tool call. */
struct at_span_rec {
    const char *id;
    const char *root_id, *job_id;
    const char *kind; /* "model" | "tool" */
    const char *name;
    const char *status;
    int64_t started_ms, duration_ms;
    const json_t *attrs; /* or NULL */
};

/* A registered eval (evals/NAME.yaml). */
struct at_eval_rec {
    const char *name;
    const char *target_agent;
    const char *trigger;      /* "every_execution" | "sampled" | "manual" */
    const json_t *definition; /* the eval block as JSON */
    const char *source;       /* the YAML text */
    int64_t registered_ms;
};

/* The verdict of one check of one eval on one job. */
struct at_eval_result {
    const char *id;
    const char *eval, *job_id, *root_id, *agent, *check_name, *type;
    int passed;
    int has_score;
    double score;
    const char *detail; /* why (or NULL) */
    long long tokens;   /* model tokens an llm_judge spent */
    double cost_usd;
    int64_t created_ms;
};

struct at_store;

struct at_store_ops {
    const char *name;
    void (*close)(struct at_store *s);
    int (*begin)(struct at_store *s);
    int (*commit)(struct at_store *s);
    int (*rollback)(struct at_store *s);

    int (*agent_put)(struct at_store *s, const struct at_agent_rec *r, int force);
    int (*agent_get)(struct at_store *s, const char *name, const char *version,
                     struct at_agent_rec *out);
    int (*agent_list)(struct at_store *s, const char *name, struct at_agent_rec **out, size_t *n);
    int (*agent_search)(struct at_store *s, const char *text, struct at_agent_rec **out, size_t *n);
    int (*agent_delete)(struct at_store *s, const char *name, const char *version, int *deleted);

    int (*job_insert)(struct at_store *s, struct at_job_rec *r);
    int (*job_update)(struct at_store *s, const struct at_job_rec *r);
    int (*job_get)(struct at_store *s, const char *id, struct at_job_rec *out);
    int (*job_list)(struct at_store *s, const struct at_job_filter *f, struct at_job_rec **out,
                    size_t *n);
    /* Jobs not in a final state, in priority then FIFO order. */
    int (*job_unfinished)(struct at_store *s, struct at_job_rec **out, size_t *n);
    int (*job_prune)(struct at_store *s, int64_t before_ms, int *deleted);

    int (*chain_put)(struct at_store *s, const struct at_chain_rec *r);
    int (*chain_list)(struct at_store *s, struct at_chain_rec **out, size_t *n);
    int (*chain_delete)(struct at_store *s, const char *name, int *deleted);

    int (*usage_insert)(struct at_store *s, const struct at_usage_rec *r);
    /* Sums grouped by f->group_by: a JSON array of {"key", "calls",
     * "tokens_in", "tokens_out", "cost_usd"}, largest cost first. */
    int (*usage_sum)(struct at_store *s, const struct at_usage_filter *f, json_t **out);

    int (*kv_get)(struct at_store *s, const char *key, char **value);
    int (*kv_put)(struct at_store *s, const char *key, const char *value);

    /* ---- the monitor (appended; see monitor/ and docs/internals/monitor.md) ---- */
    /* Trace summaries of job trees (a trace is its jobs: no row of its
     * own), newest root first: a JSON array of {id, agent, kind, status,
     * started_ms, finished_ms, jobs, tokens, cost_usd} (tokens and cost
     * summed from usage by root). */
    int (*trace_list)(struct at_store *s, const struct at_trace_filter *f, json_t **out);
    /* What a trace is built from: {"jobs": [...],
     * "usage": [...], "spans": [...], "evals": [...]}, jobs in seq order with
     * created_ms/started_ms/finished_ms, parent_id, root_id, kind, meta. */
    int (*trace_load)(struct at_store *s, const char *root_id, json_t **out);
    /* Retention: delete finished job trees (their jobs, logs, spans and
     * eval results; usage rows stay for cost reports) whose root finished
     * before before_ms (0: none by age); then, while the database's used
     * size (pages in use) is above max_bytes (0: no limit), the oldest
     * finished trees.  At most max_trees trees per call, so one call never
     * holds the writer long.  A tree with a job still queued or running is
     * kept. */
    int (*trace_prune)(struct at_store *s, int64_t before_ms, long long max_bytes, int max_trees,
                       int *deleted);
    /* Log lines of jobs; a JSON array of {seq, ts_ms, stream, text}. */
    int (*log_append)(struct at_store *s, const struct at_log_line *lines, size_t n);
    int (*log_get)(struct at_store *s, const char *job_id, json_t **out);
    int (*span_put)(struct at_store *s, const struct at_span_rec *r);
    /* Evals: put (insert or replace), list (a JSON array of {name,
     * target_agent, trigger, definition, source, registered_ms}), delete. */
    int (*eval_put)(struct at_store *s, const struct at_eval_rec *r);
    int (*eval_list)(struct at_store *s, json_t **out);
    int (*eval_delete)(struct at_store *s, const char *name, int *deleted);
    int (*eval_result_put)(struct at_store *s, const struct at_eval_result *r);
    /* Results, newest first, filtered by job and/or eval (NULL: any). */
    int (*eval_results)(struct at_store *s, const char *job_id, const char *eval, int limit,
                        json_t **out);
};

struct at_store {
    const struct at_store_ops *ops;
};

struct at_store_cfg {
    const char *backend; /* "sqlite" */
    const char *path;    /* database file */
    int sync_full;       /* fsync every commit (survives power loss) */
    int readers;         /* reader connections; 0: 4 */
};

/* Open (creating and migrating as needed).  d explains failures. */
int at_store_open(const struct at_store_cfg *cfg, struct at_store **out, struct at_diag *d);
void at_store_close(struct at_store *s);

void at_agent_rec_release(struct at_agent_rec *r);
void at_agent_recs_free(struct at_agent_rec *r, size_t n);
void at_chain_recs_free(struct at_chain_rec *r, size_t n);
void at_job_rec_release(struct at_job_rec *r);
void at_job_recs_free(struct at_job_rec *r, size_t n);
/* Deep copy (strings duplicated, JSON referenced). */
void at_job_rec_copy(struct at_job_rec *dst, const struct at_job_rec *src);

/* The job record as the API shows it: {id, agent, version, state, ...}. */
json_t *at_job_rec_to_json(const struct at_job_rec *r);

/* Backends. */
int at_store_sqlite_open(const struct at_store_cfg *cfg, struct at_store **out, struct at_diag *d);

/* Convenience wrappers over s->ops. */
#define at_store_call(s, fn, ...) ((s)->ops->fn((s), __VA_ARGS__))

#endif
