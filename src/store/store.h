/*
 * store.h - the one narrow interface to Atlas's persistent state.
 *
 * Backends implement struct at_store_ops: sqlite.c (the default) and
 * postgres.c (store.backend: postgres, docs/postgres.md).  Every call is
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
    const char *agent;   /* NULL: any */
    int state;           /* -1: any */
    const char *parent;  /* NULL: any */
    int64_t before_seq;  /* 0: from the newest; else only seq < before_seq */
    int64_t since_ms;    /* 0: any */
    int limit;           /* <= 0: 100 */
    const char *source;  /* the entry point ("trigger", "cli", "http", "mcp", "spawn", ...);
                            NULL: any */
    const char *trigger; /* only jobs the trigger of this name started; NULL: any */
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
    const char *kind; /* "chat" (NULL: the same) | "embeddings" (static storage) */
};

struct at_usage_filter {
    const char *group_by; /* "agent" | "model" | "backend" | "day" | "job_id" | "root_id" | "kind" |
                             "trigger" (the trigger that started the tree; "" none) */
    const char *job_id;   /* NULL: any */
    const char *root_id;  /* NULL: any */
    int64_t since_ms;     /* 0: any */
    int per_day;          /* 1: also by UTC day: each row has "day" (YYYY-MM-DD) */
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

/* One firing of a trigger (src/trigger/service.c, docs/internals/triggers.md):
 * a row of trigger_firings, written through the writer. */
struct at_trigger_firing_row {
    const char *trigger;
    int64_t seq;         /* per trigger, from 1 */
    const char *job_id;  /* or NULL (a skipped firing) */
    int64_t scheduled;   /* cron: the scheduled second; 0 otherwise */
    const char *doc;     /* the firing as the history shows it (JSON text); NULL: only
                            the key (idem) is written */
    const char *pending; /* {event, input} while the job is not yet queued, else NULL */
    const char *idem;    /* the delivery's idempotency key, or NULL */
    /* retention, applied with the write: firings older than the newest
     * keep (seq <= seq - keep) and keys older than the newest idem_keep
     * firings are deleted; 0: nothing deleted */
    int keep, idem_keep;
    /* 1: update the doc of the row (trigger, seq) whose job is job_id and
     * clear its pending (nothing when it is gone); keep and idem unused */
    int update;
};

struct at_store;

/*
 * The backend's table, in five groups a backend implements (and can land)
 * one at a time; each group is one file of the SQLite backend
 * (sqlite_int.h):
 *   1. connection: name, close and the writer's transactions (sqlite.c)
 *   2. catalog:    agents, chains, kv settings (sqlite_catalog.c)
 *   3. jobs:       jobs and usage rows (sqlite_jobs.c)
 *   4. monitor:    traces, retention, logs, spans, evals (sqlite_monitor.c)
 *   5. triggers:   the firings of triggers (sqlite_triggers.c)
 * Writes (put, insert, update, delete, prune, append) run on the writer
 * thread only (writer.h); reads run on any thread.
 */
struct at_store_ops {
    /* ---- 1. connection ---- */
    const char *name;
    void (*close)(struct at_store *s);
    int (*begin)(struct at_store *s);
    int (*commit)(struct at_store *s);
    int (*rollback)(struct at_store *s);

    /* ---- 2. catalog: agents, chains, kv ---- */
    int (*agent_put)(struct at_store *s, const struct at_agent_rec *r, int force);
    int (*agent_get)(struct at_store *s, const char *name, const char *version,
                     struct at_agent_rec *out);
    int (*agent_list)(struct at_store *s, const char *name, struct at_agent_rec **out, size_t *n);
    int (*agent_search)(struct at_store *s, const char *text, struct at_agent_rec **out, size_t *n);
    int (*agent_delete)(struct at_store *s, const char *name, const char *version, int *deleted);
    int (*chain_put)(struct at_store *s, const struct at_chain_rec *r);
    int (*chain_list)(struct at_store *s, struct at_chain_rec **out, size_t *n);
    int (*chain_delete)(struct at_store *s, const char *name, int *deleted);
    int (*kv_get)(struct at_store *s, const char *key, char **value);
    int (*kv_put)(struct at_store *s, const char *key, const char *value);

    /* ---- 3. jobs and usage ---- */
    int (*job_insert)(struct at_store *s, struct at_job_rec *r);
    int (*job_update)(struct at_store *s, const struct at_job_rec *r);
    int (*job_get)(struct at_store *s, const char *id, struct at_job_rec *out);
    int (*job_list)(struct at_store *s, const struct at_job_filter *f, struct at_job_rec **out,
                    size_t *n);
    /* Jobs not in a final state, in priority then FIFO order. */
    int (*job_unfinished)(struct at_store *s, struct at_job_rec **out, size_t *n);
    /* Retention of jobs: delete finished job trees (a root and its
     * children, with their logs, spans and eval results; usage rows stay
     * for cost reports) whose root finished before before_ms (0: none by
     * age), then the oldest finished trees beyond the keep newest finished
     * roots (keep < 0: no count limit).  At most max_trees trees per call
     * (<= 0: 1000), so one call never holds the writer long; *deleted is
     * the number of trees.  A tree with a job still queued or running is
     * kept. */
    int (*job_prune)(struct at_store *s, int64_t before_ms, long long keep, int max_trees,
                     int *deleted);
    int (*usage_insert)(struct at_store *s, const struct at_usage_rec *r);
    /* Sums grouped by f->group_by: a JSON array of {"key", "calls",
     * "tokens_in", "tokens_out", "cost_usd"}, largest cost first. */
    int (*usage_sum)(struct at_store *s, const struct at_usage_filter *f, json_t **out);

    /* ---- 4. the monitor (see monitor/ and docs/internals/monitor.md) ---- */
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

    /* ---- 5. triggers: firings and idempotency keys (docs/internals/triggers.md) ---- */
    /* Insert or replace rows[0..n) (by trigger and seq), with their keys
     * and retention. */
    int (*trigger_firing_put)(struct at_store *s, const struct at_trigger_firing_row *rows,
                              size_t n);
    /* The newest firings of trigger, newest first, at most limit: a JSON
     * array of their docs, each with "pending": true while its job is not
     * yet queued. */
    int (*trigger_firing_list)(struct at_store *s, const char *trigger, int limit, json_t **out);
    /* The firings whose job is not yet queued, oldest first: [{seq, doc,
     * pending}] (doc and pending parsed). */
    int (*trigger_firing_pending)(struct at_store *s, const char *trigger, json_t **out);
    /* The newest limit idempotency keys, oldest first: [[key, job_id, seq]]. */
    int (*trigger_idem_load)(struct at_store *s, const char *trigger, int limit, json_t **out);
    /* The highest seq and the latest scheduled second of trigger's firings
     * (0 and 0 when none). */
    int (*trigger_firing_state)(struct at_store *s, const char *trigger, int64_t *seq,
                                int64_t *scheduled);
    /* Every firing and key of trigger. */
    int (*trigger_firing_delete)(struct at_store *s, const char *trigger);
};

struct at_store {
    const struct at_store_ops *ops;
};

struct at_store_cfg {
    const char *backend; /* "sqlite" (NULL too) | "postgres" */
    const char *path;    /* sqlite: the database file */
    const char *url; /* postgres: libpq conninfo or URI (never logged: it may hold a password) */
    int sync_full;   /* fsync every commit (survives power loss) */
    int readers;     /* reader connections; 0: 4 */
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
/* The same with the JSON deep-copied too: for a record handed to another thread, which may
 * free it while the owner still holds (and frees) the originals. */
void at_job_rec_clone(struct at_job_rec *dst, const struct at_job_rec *src);

/* The job record as the API shows it: {id, agent, version, state, ...}. */
json_t *at_job_rec_to_json(const struct at_job_rec *r);

/* Backends. */
int at_store_sqlite_open(const struct at_store_cfg *cfg, struct at_store **out, struct at_diag *d);
/* PostgreSQL (postgres.c): connects cfg->url, takes the database's
 * single-instance lock (AT_EBUSY when another atlasd holds it: several
 * replicas are not supported yet) and migrates. */
int at_store_pg_open(const struct at_store_cfg *cfg, struct at_store **out, struct at_diag *d);
/* Whether the database at url answers (atlas doctor): 0 with *where (its
 * host, port, dbname and user, never the password; caller frees, also on
 * failure) and *version (the schema version; 0 before atlasd's first start). */
int at_store_pg_ping(const char *url, char **where, int *version, struct at_diag *d);
/* The test hook (fault.c): wrap inner (owned from now on) in a backend that
 * fails the Nth operation, spec "N[:OP]" as in ATLAS_STORE_FAULT.
 * AT_EINVAL for a malformed spec (inner untouched). */
int at_store_fault_wrap(struct at_store *inner, const char *spec, struct at_store **out);

/* Convenience wrappers over s->ops. */
#define at_store_call(s, fn, ...) ((s)->ops->fn((s), __VA_ARGS__))

/* ---- security records (appended; src/store/sqlite_security.c) ----
 *
 * Tokens (only their keyed hashes), encrypted secrets and the audit of
 * security events (docs/security.md "Audit records").  They live in the
 * same database file as the rest, in tables of their own (sec_*), reached
 * through a connection of their own: writes are rare (a token created or
 * revoked, a denial), so they never wait behind the store's writer queue.
 * Every function is thread-safe (one mutex). */
struct at_token_rec {
    char id[AT_ID_MAX];
    char *name;
    char *role;               /* access.h's role names */
    char *hash;               /* hex of the keyed hash of the token */
    json_t *scopes;           /* array of strings, or NULL */
    long long rate_per_min;   /* 0: the configured default */
    long long tokens_per_day; /* model tokens per UTC day; 0: the configured default */
    char *created_by;
    int64_t created_ms, expires_ms, revoked_ms; /* 0: never / not */
    char *node; /* role node: the node it is bound to, or NULL (unbound yet) */
};

struct at_audit_rec {
    const char *event;   /* "token.use", "token.create", "access.denied", ... */
    const char *actor;   /* token name, "local" (Unix socket), "anonymous", "job:<id>" */
    const char *role;    /* the actor's role, or NULL */
    const char *action;  /* what was asked: "GET /api/v1/jobs", "tools/call atlas.run_agent" */
    const char *outcome; /* "allowed" | "denied" | "refused" | "ok" */
    const char *source;  /* "tcp:127.0.0.1", "unix", "mcp" */
    const char *detail;  /* free text, or NULL */
    /* The audit trail (docs/audit.md "Records"): NULL or "event" for a
     * security event (the fields above, also kept in sec_audit); "semantic"
     * (a decision and its reasons) or "receipt" (what ran) for a record of
     * the signed log only, whose content is data. */
    const char *kind;
    const json_t *data; /* semantic/receipt: the record's content, an object (borrowed) */
};

struct at_secstore;
/* Open the security tables of the database at path (created as needed).
 * Caller closes with at_secstore_close. */
int at_secstore_open(const char *path, struct at_secstore **out, struct at_diag *d);
void at_secstore_close(struct at_secstore *s);
/* A new token row (r->id, name, role, hash required).  AT_EEXIST when a
 * live (not revoked) token has that name. */
int at_secstore_token_put(struct at_secstore *s, const struct at_token_rec *r);
/* Every token row, oldest first.  Caller frees with at_token_recs_free. */
int at_secstore_token_list(struct at_secstore *s, struct at_token_rec **out, size_t *n);
/* Bind token id to node (once: AT_EEXIST when it is bound already). */
int at_secstore_token_bind_node(struct at_secstore *s, const char *id, const char *node,
                                int64_t now_ms);
/* Revoke the live token with that id or name: AT_ENOENT when none. */
int at_secstore_token_revoke(struct at_secstore *s, const char *id_or_name, int64_t now_ms);
void at_token_recs_free(struct at_token_rec *r, size_t n);
/* Model tokens token_id used on day (days since the epoch, UTC): 0 when
 * none recorded. */
int at_secstore_quota_used(struct at_secstore *s, const char *token_id, int64_t day,
                           long long *used);
/* Add tokens to what token_id used on day (and forget days before the
 * previous one). */
int at_secstore_quota_add(struct at_secstore *s, const char *token_id, int64_t day,
                          long long tokens);
/* The owner of agent (a token's name, and its id or NULL): AT_ENOENT when
 * none is recorded.  Caller frees both. */
int at_secstore_owner_get(struct at_secstore *s, const char *agent, char **owner, char **owner_id);
/* Record (owner not NULL) or forget (NULL) the owner of agent. */
int at_secstore_owner_set(struct at_secstore *s, const char *agent, const char *owner,
                          const char *owner_id, int64_t now_ms);
/* Secrets: the ciphertext (nonce and box) as stored. */
int at_secstore_secret_put(struct at_secstore *s, const char *name, const void *blob, size_t len,
                           int64_t now_ms);
/* AT_ENOENT when absent; *blob is the caller's (free). */
int at_secstore_secret_get(struct at_secstore *s, const char *name, unsigned char **blob,
                           size_t *len);
/* [{name, updated_ms}], by name. */
int at_secstore_secret_list(struct at_secstore *s, json_t **out);
int at_secstore_secret_delete(struct at_secstore *s, const char *name);
/* Append one audit record (id and time assigned here). */
int at_secstore_audit_append(struct at_secstore *s, const struct at_audit_rec *r);
/* Audit records, newest first: [{id, ts_ms, event, actor, role, action,
 * outcome, source, detail}]; before_ms 0: from the newest; event NULL: any;
 * limit <= 0: 100. */
int at_secstore_audit_list(struct at_secstore *s, int64_t before_ms, const char *event, int limit,
                           json_t **out);

/* ---- the audit trail's log (src/store/sqlite_tlog.c, docs/audit.md) ----
 *
 * The entries of the Merkle tree log (tlog/), in leaf order, each the exact
 * bytes of its signed envelope, and the log's signed checkpoints.  Tables of
 * migration 5, reached through a connection of their own: entries are
 * appended in batches by the log's own thread, never the store writer's.
 * Every function is thread-safe (one mutex). */
struct at_tlog_row {
    int64_t idx;
    const char *kind; /* "event" | "semantic" | "receipt" */
    int64_t ts_ms;
    const void *envelope;
    size_t len;
};
/* Called for each row in order; a non-zero return stops the scan and is
 * returned.  Row memory is valid during the call only. */
typedef int (*at_tlog_row_fn)(void *arg, const struct at_tlog_row *r);

struct at_tlogstore;
/* Open the log tables of the database at path (migrated by at_store_open
 * first: AT_ESTATE when they are missing).  Caller closes. */
int at_tlogstore_open(const char *path, struct at_tlogstore **out, struct at_diag *d);
void at_tlogstore_close(struct at_tlogstore *s);
/* Append rows[0..n) in one transaction (all or none). */
int at_tlogstore_append(struct at_tlogstore *s, const struct at_tlog_row *rows, size_t n);
/* Rows with idx >= from, in idx order, at most limit (<= 0: all). */
int at_tlogstore_scan(struct at_tlogstore *s, int64_t from, int64_t limit, at_tlog_row_fn fn,
                      void *arg);
int at_tlogstore_checkpoint_put(struct at_tlogstore *s, int64_t size, int64_t ts_ms,
                                const char *note);
/* [{size, ts_ms, note}] by size; min_size: only those at least that big. */
int at_tlogstore_checkpoints(struct at_tlogstore *s, int64_t min_size, json_t **out);

/* ---- proposals and approvals (src/store/sqlite_approvals.c, docs/supervisor.md) ----
 *
 * The table of migration 6 through a connection of its own: one row per
 * proposal, its record (doc) as JSON text.  The supervisor's approvals
 * service (supervisor/approvals.h) owns the rows' meaning.  Thread-safe. */
struct at_approval_row {
    const char *id;
    int64_t seq;
    const char *kind;
    const char *state;
    const char *hash;
    const char *proposer;
    int64_t created_ms;
    int64_t updated_ms;
    const char *doc;
};
struct at_apstore;
/* Open the table in the database at path (migrated first: AT_ESTATE when
 * missing).  Caller closes. */
int at_apstore_open(const char *path, struct at_apstore **out, struct at_diag *d);
void at_apstore_close(struct at_apstore *s);
/* Insert or replace row r (by id). */
int at_apstore_put(struct at_apstore *s, const struct at_approval_row *r);
/* Every row's doc parsed, in seq order, into an array (caller frees). */
int at_apstore_load(struct at_apstore *s, json_t **out);
/* A setting of the approvals (kv table): *out (caller frees) or AT_ENOENT. */
int at_apstore_kv_get(struct at_apstore *s, const char *key, char **out);
int at_apstore_kv_put(struct at_apstore *s, const char *key, const char *value);

/* ---- A2A push notification configs (src/store/sqlite_a2a.c, docs/a2a.md) ----
 *
 * The table of migration 8 through a connection of its own: one row per
 * (task id, config id), the config's record (doc) as JSON text.  The
 * push service (http/a2a_push.h) owns the rows' meaning.  Thread-safe. */
struct at_pushstore;
/* Open the table in the database at path (migrated first: AT_ESTATE when
 * missing).  Caller closes. */
int at_pushstore_open(const char *path, struct at_pushstore **out, struct at_diag *d);
void at_pushstore_close(struct at_pushstore *s);
/* Insert or replace the config (task_id, id) with doc. */
int at_pushstore_put(struct at_pushstore *s, const char *task_id, const char *id,
                     int64_t created_ms, const char *doc);
/* Delete the config (task_id, id); AT_ENOENT when there was none. */
int at_pushstore_delete(struct at_pushstore *s, const char *task_id, const char *id);
/* Every row's doc parsed, oldest first, into an array (caller frees). */
int at_pushstore_load(struct at_pushstore *s, json_t **out);

#endif
