/*
 * config.h - atlas.config.yaml: daemon settings and the spec's runtime
 * guardrails (`execution:`), with ATLAS_* environment overrides.
 *
 * Every key is documented in docs/configuration.md.  Unknown keys are
 * errors with their location.  Sections whose subsystem is built by a later
 * issue (scheduling, registry, models) are checked for shape and kept in
 * `json` for that subsystem.
 */
#ifndef AT_CONTRACT_CONFIG_H
#define AT_CONTRACT_CONFIG_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

struct at_config {
    char *source;   /* file the settings came from, or NULL for defaults */
    char *listen;   /* "127.0.0.1:7070" */
    char *data_dir; /* NULL: $XDG_DATA_HOME/atlas or ~/.local/share/atlas */
    int log_level;  /* enum at_log_level */

    struct {
        int max_spawn_depth;
        int max_concurrent_agents;
        int max_queue;           /* queued jobs before new runs get 503 */
        size_t max_output_bytes; /* one JSON-RPC line from an agent */
        size_t max_input_bytes;  /* one run's input (HTTP body) */
        double timeout_chain;    /* seconds */
        double timeout_agent;
        double timeout_startup;
        double timeout_shutdown;
        long long max_tokens_per_chain;
        int breaker_threshold;
        double breaker_recovery;     /* seconds */
        int max_agent_processes;     /* agent processes at once, all agents (lowered to fit
                                        the descriptor limit: exec/worker.c) */
        int max_processes_per_agent; /* processes of one agent version: its pool's limit */
    } exec;

    struct {
        int min;
        int max;
        double idle_timeout;    /* seconds */
        double health_interval; /* seconds */
    } pool;

    /* The HTTP server's limits (docs/configuration.md "http"). */
    struct {
        int max_connections;       /* open connections, all clients */
        int max_per_address;       /* -1: none on loopback, max/8 elsewhere; 0: none */
        double connection_timeout; /* seconds an idle connection is kept */
        int probe_reserve;         /* connections kept for health probes */
        int blocking_workers;      /* threads for registration and other blocking work */
        int blocking_queue;        /* requests waiting for them before 503 */
    } http;

    struct {
        char *backend;      /* "sqlite" | "postgres" (store.backend, ATLAS_STORE_BACKEND) */
        char *path;         /* NULL: DATA/atlas.db */
        char *url;          /* postgres: libpq conninfo or URI (store.url, ATLAS_STORE_URL) */
        int sync_full;      /* store.sync: full (fsync every commit) vs normal */
        int writer_queue;   /* store.writer_queue: writes queued before 503 (0: derived) */
        double coalesce_ms; /* store.coalesce_ms: a job's first row waits for its end (10) */
        /* store.jobs: retention of finished job trees (applied every
         * prune_interval seconds by the monitor's retention pass) */
        double jobs_retention_days; /* 30; 0 keeps */
        int jobs_max_count;         /* newest finished trees kept: 100000; 0: no limit */
        double jobs_prune_interval; /* seconds: 60 */
    } store;

    /* The agent sandbox (docs/security.md); sandbox.exempt is read from json. */
    struct {
        int enabled;      /* sandbox.enabled (ATLAS_SANDBOX) */
        int workspace_mb; /* size of each agent's tmpfs workspace and /tmp */
    } sandbox;

    json_t *json; /* the whole file as JSON (an empty object for defaults) */
};

void at_config_init(struct at_config *c);
void at_config_release(struct at_config *c);

/* Load settings from a YAML file over the defaults; d is located on error. */
int at_config_load_file(struct at_config *c, const char *path, struct at_diag *d);
int at_config_load_string(struct at_config *c, const char *name, const char *text, size_t len,
                          struct at_diag *d);

/* Apply ATLAS_LISTEN, ATLAS_DATA, ATLAS_LOG_LEVEL, ATLAS_MAX_CONCURRENT,
 * ATLAS_STORE_SYNC, ATLAS_SANDBOX, ATLAS_HTTP_MAX_CONNECTIONS,
 * ATLAS_HTTP_MAX_CONNECTIONS_PER_ADDRESS, ATLAS_HTTP_CONNECTION_TIMEOUT from
 * the environment. */
int at_config_apply_env(struct at_config *c, struct at_diag *d);

/* 1 when agent (its name) runs in the sandbox: sandbox.enabled and not
 * listed in sandbox.exempt. */
int at_config_sandboxed(const struct at_config *c, const char *agent);

/* The data directory (resolved default when unset); caller frees. */
char *at_config_data_dir(const struct at_config *c);

/* Approved settings (docs/supervisor.md "Config proposals"): the keys that
 * approved `config` proposals set, kept in DATA/config.approved.json as
 * {"keys": {"dotted.key": value}} and laid over the settings file (after
 * it, before the environment and the flags), at start and at every reload. */
#define AT_CONFIG_APPROVED "config.approved.json"
/* Lay the approved keys over c (validated as the file is); 0 when there
 * are none.  d is located on error (in the merged settings). */
int at_config_apply_approved(struct at_config *c, const char *data_dir, struct at_diag *d);
/* Set key to value (a copy) in data_dir's approved keys, atomically; *prev
 * gets the file's previous text (NULL: there was none) for
 * at_config_approved_restore.  0 or an AT_E* code. */
int at_config_approved_set(const char *data_dir, const char *key, const json_t *value, char **prev);
/* Put back what at_config_approved_set replaced (prev NULL: remove the
 * file); frees prev. */
void at_config_approved_restore(const char *data_dir, char *prev);

#endif
