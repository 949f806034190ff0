#include "contract/config.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "contract/shape.h"
#include "contract/yaml.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define END                                                                                        \
    {                                                                                              \
        NULL, 0, 0, NULL, NULL, 0, 0                                                               \
    }
#define MIN0 AT_SH_HAS_MIN, NULL, NULL, 0, 0
#define MIN1 AT_SH_HAS_MIN, NULL, NULL, 1, 0

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
static const char *const syncs[] = {"normal", "full", NULL};
static const char *const backends[] = {"sqlite", "postgres", NULL};
static const char *const sched_strategies[] = {"bin_pack", "spread", "affinity_first", NULL};
static const char *const reschedule[] = {"retry", "fail", "queue", NULL};
static const char *const review[] = {"unreviewed", "community", "verified", NULL};

static const struct at_shape timeouts[] = {
    {"chain", AT_SH_NUM, MIN0},
    {"agent", AT_SH_NUM, MIN0},
    {"startup", AT_SH_NUM, MIN0},
    {"shutdown", AT_SH_NUM, MIN0},
    END,
};
static const struct at_shape budget[] = {
    {"max_tokens_per_chain", AT_SH_INT, MIN0},
    END,
};
static const struct at_shape breaker[] = {
    {"failure_threshold", AT_SH_INT, MIN1},
    {"recovery_timeout", AT_SH_NUM, MIN0},
    END,
};
static const struct at_shape execution[] = {
    {"max_spawn_depth", AT_SH_INT, MIN0},
    {"max_concurrent_agents", AT_SH_INT, MIN1},
    {"max_queue", AT_SH_INT, MIN1},
    {"max_output_bytes", AT_SH_INT, AT_SH_HAS_MIN, NULL, NULL, 1024, 0},
    {"max_input_bytes", AT_SH_INT, AT_SH_HAS_MIN, NULL, NULL, 1024, 0},
    {"timeouts", AT_SH_OBJ, 0, timeouts, NULL, 0, 0},
    {"resource_budget", AT_SH_OBJ, 0, budget, NULL, 0, 0},
    {"circuit_breaker", AT_SH_OBJ, 0, breaker, NULL, 0, 0},
    {"max_agent_processes", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 100000},
    {"max_processes_per_agent", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 100000},
    END,
};
static const struct at_shape pool[] = {
    {"min", AT_SH_INT, MIN0},
    {"max", AT_SH_INT, MIN1},
    {"idle_timeout", AT_SH_NUM, MIN0},
    {"health_interval", AT_SH_NUM, MIN0},
    END,
};
static const struct at_shape http[] = {
    {"max_connections", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 8, 1000000},
    {"max_connections_per_address", AT_SH_INT, MIN0},
    {"connection_timeout", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 86400},
    {"probe_reserve", AT_SH_INT, MIN0},
    {"blocking_workers", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 64},
    {"blocking_queue", AT_SH_INT, MIN1},
    END,
};
/* Retention of finished jobs (docs/configuration.md "store"). */
static const struct at_shape store_jobs[] = {
    {"retention_days", AT_SH_NUM, MIN0},
    {"max_count", AT_SH_INT, MIN0},
    {"prune_interval", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.01, 0},
    END,
};
static const struct at_shape store[] = {
    {"backend", AT_SH_STR, 0, NULL, backends, 0, 0},
    {"path", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"url", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"sync", AT_SH_STR, 0, NULL, syncs, 0, 0},
    {"writer_queue", AT_SH_INT, MIN1},
    {"coalesce_ms", AT_SH_NUM, MIN0},
    {"jobs", AT_SH_OBJ, 0, store_jobs, NULL, 0, 0},
    END,
};
/* The spec's scheduling block (enforced by the scheduler issue). */
static const struct at_shape reservation[] = {
    {"gpu_headroom_pct", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 100},
    {"memory_headroom_pct", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 100},
    END,
};
static const struct at_shape node_failure[] = {
    {"detection_timeout", AT_SH_NUM, MIN0},
    {"reschedule_strategy", AT_SH_STR, 0, NULL, reschedule, 0, 0},
    END,
};
/* the platform health API's limits: a node over one takes no new work ("hot") */
static const struct at_shape health_limits[] = {
    {"temperature_c", AT_SH_NUM, MIN0},
    {"memory_used_pct", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 100},
    END,
};
static const struct at_shape scheduling[] = {
    {"strategy", AT_SH_STR, 0, NULL, sched_strategies, 0, 0},
    {"preemption_enabled", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"resource_reservation", AT_SH_OBJ, 0, reservation, NULL, 0, 0},
    {"node_failure", AT_SH_OBJ, 0, node_failure, NULL, 0, 0},
    {"health_thresholds", AT_SH_OBJ, 0, health_limits, NULL, 0, 0},
    {"unschedulable_timeout", AT_SH_NUM, MIN0},
    END,
};
/* The spec's registry policy block (enforced by src/dist/trust.c). */
static const struct at_shape policy[] = {
    {"allow_unsigned", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"minimum_review_status", AT_SH_STR, 0, NULL, review, 0, 0},
    {"allowed_publishers", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    END,
};
/* Dependency builds at registration (src/registry/build.h). */
static const struct at_shape build[] = {
    {"pip_index_url", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"npm_registry", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"timeout", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 1, 0},
    /* HOST:PORTs beside the index's that sandboxed builds may reach */
    {"egress", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape registry[] = {
    {"policy", AT_SH_OBJ, 0, policy, NULL, 0, 0},
    {"build", AT_SH_OBJ, 0, build, NULL, 0, 0},
    /* the OCI registry of references without one (`atlas pull ns/name:1.0`) */
    {"default", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    END,
};
/* The monitor (docs/monitoring.md). */
static const struct at_shape mon_traces[] = {
    {"enabled", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"retention_days", AT_SH_NUM, MIN0},
    {"max_mb", AT_SH_NUM, MIN0},
    {"prune_interval", AT_SH_NUM, AT_SH_HAS_MIN, NULL, NULL, 0.01, 0},
    END,
};
static const struct at_shape mon_logs[] = {
    {"enabled", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"max_bytes_per_job", AT_SH_INT, AT_SH_HAS_MIN, NULL, NULL, 256, 0},
    END,
};
static const struct at_shape mon_evals[] = {
    {"enabled", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"max_concurrent", AT_SH_INT, MIN1},
    END,
};
static const struct at_shape mon_otlp[] = {
    {"endpoint", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"headers", AT_SH_STRMAP, 0, NULL, NULL, 0, 0},
    {"service_name", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"batch_size", AT_SH_INT, MIN1},
    {"flush_interval_ms", AT_SH_INT, MIN1},
    {"max_queue", AT_SH_INT, MIN1},
    {"timeout_ms", AT_SH_INT, MIN1},
    END,
};
static const struct at_shape monitor[] = {
    {"traces", AT_SH_OBJ, 0, mon_traces, NULL, 0, 0},
    {"logs", AT_SH_OBJ, 0, mon_logs, NULL, 0, 0},
    {"evals", AT_SH_OBJ, 0, mon_evals, NULL, 0, 0},
    {"otlp", AT_SH_OBJ, 0, mon_otlp, NULL, 0, 0},
    {"queue", AT_SH_INT, MIN1},
    END,
};
/* This node (contract/sysinfo.h): the name hardware.node_affinity is
 * compared with (default: the host name) and the labels node_labels are. */
/* a node agent's cache of agent versions fetched from its control plane
 * (src/daemon/node_agent.c, docs/scheduling.md "Agent files") */
static const struct at_shape node_cache[] = {
    {"max_mb", AT_SH_NUM, MIN0},
    END,
};
static const struct at_shape node[] = {
    {"name", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"cache", AT_SH_OBJ, 0, node_cache, NULL, 0, 0},
    {"labels", AT_SH_STRMAP, 0, NULL, NULL, 0, 0},
    /* over what is detected (src/sched/node.c at_sched_resources_apply checks it) */
    {"resources", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    END,
};
/* The agent sandbox (docs/security.md). */
static const struct at_shape sandbox[] = {
    {"enabled", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"exempt", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"workspace_mb", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 1 << 20},
    END,
};
/* triggers (src/trigger/; read by the daemon from c->json) */
static const struct at_shape triggers[] = {
    {"dir", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"history", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 10000},
    END,
};
/* Skills (src/skills/, docs/skills.md; read by the skills layer from c->json) */
static const struct at_shape skills_web_search[] = {
    {"url", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"timeout_s", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0.1, 600},
    END,
};
static const struct at_shape skills_code[] = {
    {"timeout_s", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0.1, 3600},
    {"memory_mb", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 16, 1 << 20},
    {"max_output_bytes", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1024, 1 << 30},
    END,
};
static const struct at_shape skills_http[] = {
    {"timeout_s", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0.1, 600},
    {"max_bytes", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1024, 1 << 30},
    END,
};
static const struct at_shape skills_workspace[] = {
    {"grace_s", AT_SH_NUM, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 30 * 86400},
    END,
};
static const struct at_shape skills_memory_embedding[] = {
    {"model", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape skills_memory[] = {
    {"embedding", AT_SH_OBJ, 0, skills_memory_embedding, NULL, 0, 0},
    END,
};
static const struct at_shape skills[] = {
    {"memory", AT_SH_OBJ, 0, skills_memory, NULL, 0, 0},
    {"workspace", AT_SH_OBJ, 0, skills_workspace, NULL, 0, 0},
    {"workers", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 256},
    {"queue", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 1 << 20},
    {"web_search", AT_SH_OBJ, 0, skills_web_search, NULL, 0, 0},
    {"code_execution", AT_SH_OBJ, 0, skills_code, NULL, 0, 0},
    {"http", AT_SH_OBJ, 0, skills_http, NULL, 0, 0},
    END,
};
/* The security layer (docs/security.md). */
static const struct at_shape sec_tls[] = {
    {"cert", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"key", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"self_signed", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape security[] = {
    {"allowed_hosts", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"rate_limit_per_min", AT_SH_INT, MIN0},
    {"tokens_per_day", AT_SH_INT, MIN0},
    {"tls", AT_SH_OBJ, 0, sec_tls, NULL, 0, 0},
    END,
};
/* The audit trail (docs/audit.md "Configuration"). */
static const struct at_shape audit[] = {
    {"origin", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"checkpoint_interval_ms", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 100, 86400000},
    {"queue_max", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 16, 1 << 24},
    {"tpm", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"spool_sync", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    END,
};
/* Proposals and approvals (docs/supervisor.md "Configuration"; the action
 * names are checked by src/supervisor/approvals.c). */
static const struct at_shape approvals_notify[] = {
    {"url", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"allow_hosts", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape approvals[] = {
    {"require", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    {"notify", AT_SH_OBJ, 0, approvals_notify, NULL, 0, 0},
    {"ttl_s", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 31536000},
    END,
};
/* A2A (docs/a2a.md "Push notifications"). */
static const struct at_shape a2a_push[] = {
    {"per_task", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 1000},
    {"max_configs", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 10000000},
    {"queue_max", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 1 << 24},
    {"attempts", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 100},
    {"backoff_ms", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 3600000},
    {"timeout_ms", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 100, 600000},
    {"allowed_hosts", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape a2a[] = {
    {"push", AT_SH_OBJ, 0, a2a_push, NULL, 0, 0},
    END,
};
static const struct at_shape top[] = {
    {"listen", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"data", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"log_level", AT_SH_STR, 0, NULL, log_levels, 0, 0},
    {"execution", AT_SH_OBJ, 0, execution, NULL, 0, 0},
    {"pool", AT_SH_OBJ, 0, pool, NULL, 0, 0},
    {"http", AT_SH_OBJ, 0, http, NULL, 0, 0},
    {"store", AT_SH_OBJ, 0, store, NULL, 0, 0},
    {"scheduling", AT_SH_OBJ, 0, scheduling, NULL, 0, 0},
    {"registry", AT_SH_OBJ, 0, registry, NULL, 0, 0},
    {"models", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {"monitor", AT_SH_OBJ, 0, monitor, NULL, 0, 0},
    {"node", AT_SH_OBJ, 0, node, NULL, 0, 0},
    {"sandbox", AT_SH_OBJ, 0, sandbox, NULL, 0, 0},
    {"triggers", AT_SH_OBJ, 0, triggers, NULL, 0, 0},
    {"security", AT_SH_OBJ, 0, security, NULL, 0, 0},
    {"skills", AT_SH_OBJ, 0, skills, NULL, 0, 0},
    {"audit", AT_SH_OBJ, 0, audit, NULL, 0, 0},
    {"approvals", AT_SH_OBJ, 0, approvals, NULL, 0, 0},
    {"a2a", AT_SH_OBJ, 0, a2a, NULL, 0, 0},
    END,
};

void at_config_init(struct at_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = at_strdup("127.0.0.1:7070");
    c->log_level = AT_LOG_INFO;
    c->exec.max_spawn_depth = 5;
    c->exec.max_concurrent_agents = 20;
    c->exec.max_queue = 10000;
    c->exec.max_output_bytes = 4u << 20;
    c->exec.max_input_bytes = 4u << 20;
    c->exec.timeout_chain = 300;
    c->exec.timeout_agent = 60;
    c->exec.timeout_startup = 30;
    c->exec.timeout_shutdown = 5;
    c->exec.max_tokens_per_chain = 100000;
    c->exec.breaker_threshold = 3;
    c->exec.breaker_recovery = 30;
    c->exec.max_agent_processes = 256;
    c->exec.max_processes_per_agent = 64;
    c->sandbox.enabled = 1; /* on unless configured off (docs/security.md) */
    c->sandbox.workspace_mb = 256;
    c->pool.min = 0;
    c->pool.max = 4;
    c->pool.idle_timeout = 300;
    c->pool.health_interval = 30;
    c->http.max_connections = 4096;
    c->http.max_per_address = -1;
    c->http.connection_timeout = 60;
    c->http.probe_reserve = 16;
    c->http.blocking_workers = 2;
    c->http.blocking_queue = 16;
    c->store.backend = at_strdup("sqlite");
    c->store.coalesce_ms = 10;
    c->store.jobs_retention_days = 30;
    c->store.jobs_max_count = 100000;
    c->store.jobs_prune_interval = 60;
    c->json = json_object();
}

void at_config_release(struct at_config *c)
{
    free(c->source);
    free(c->listen);
    free(c->data_dir);
    free(c->store.backend);
    free(c->store.path);
    free(c->store.url);
    json_decref(c->json);
    memset(c, 0, sizeof(*c));
}

static json_t *get(json_t *root, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(root, a);
    if (v && b)
        v = json_object_get(v, b);
    if (v && c)
        v = json_object_get(v, c);
    return v;
}

static void set_int(int *dst, json_t *v)
{
    if (json_is_integer(v))
        *dst = (int)json_integer_value(v);
}

static void set_num(double *dst, json_t *v)
{
    if (json_is_number(v))
        *dst = json_number_value(v);
}

static void set_str(char **dst, json_t *v)
{
    if (json_is_string(v)) {
        free(*dst);
        *dst = at_strdup(json_string_value(v));
    }
}

int at_config_load_string(struct at_config *c, const char *name, const char *text, size_t len,
                          struct at_diag *d)
{
    struct at_yaml_doc doc;
    int rc = at_yaml_load_string(&doc, name, text, len, d);
    if (rc)
        goto out;
    if (json_is_null(doc.root)) { /* an empty file is fine */
        json_decref(doc.root);
        doc.root = json_object();
    }
    if ((rc = at_shape_check(&doc, doc.root, "", top, d)))
        goto out;
    json_t *r = doc.root;
    set_str(&c->listen, get(r, "listen", NULL, NULL));
    set_str(&c->data_dir, get(r, "data", NULL, NULL));
    json_t *lv = get(r, "log_level", NULL, NULL);
    if (lv)
        c->log_level = at_log_level_parse(json_string_value(lv));
    set_int(&c->exec.max_spawn_depth, get(r, "execution", "max_spawn_depth", NULL));
    set_int(&c->exec.max_concurrent_agents, get(r, "execution", "max_concurrent_agents", NULL));
    set_int(&c->exec.max_queue, get(r, "execution", "max_queue", NULL));
    json_t *v = get(r, "execution", "max_output_bytes", NULL);
    if (v)
        c->exec.max_output_bytes = (size_t)json_integer_value(v);
    v = get(r, "execution", "max_input_bytes", NULL);
    if (v)
        c->exec.max_input_bytes = (size_t)json_integer_value(v);
    set_num(&c->exec.timeout_chain, get(r, "execution", "timeouts", "chain"));
    set_num(&c->exec.timeout_agent, get(r, "execution", "timeouts", "agent"));
    set_num(&c->exec.timeout_startup, get(r, "execution", "timeouts", "startup"));
    set_num(&c->exec.timeout_shutdown, get(r, "execution", "timeouts", "shutdown"));
    v = get(r, "execution", "resource_budget", "max_tokens_per_chain");
    if (v)
        c->exec.max_tokens_per_chain = json_integer_value(v);
    set_int(&c->exec.breaker_threshold,
            get(r, "execution", "circuit_breaker", "failure_threshold"));
    set_num(&c->exec.breaker_recovery, get(r, "execution", "circuit_breaker", "recovery_timeout"));
    set_int(&c->exec.max_agent_processes, get(r, "execution", "max_agent_processes", NULL));
    set_int(&c->exec.max_processes_per_agent, get(r, "execution", "max_processes_per_agent", NULL));
    json_t *sb = get(r, "sandbox", "enabled", NULL);
    if (sb)
        c->sandbox.enabled = json_is_true(sb);
    set_int(&c->sandbox.workspace_mb, get(r, "sandbox", "workspace_mb", NULL));
    set_int(&c->pool.min, get(r, "pool", "min", NULL));
    set_int(&c->pool.max, get(r, "pool", "max", NULL));
    set_num(&c->pool.idle_timeout, get(r, "pool", "idle_timeout", NULL));
    set_num(&c->pool.health_interval, get(r, "pool", "health_interval", NULL));
    if (c->pool.min > c->pool.max) {
        rc = at_yaml_error(&doc, d, AT_EINVAL, "/pool/min", 0, "min (%d) is larger than max (%d)",
                           c->pool.min, c->pool.max);
        goto out;
    }
    set_int(&c->http.max_connections, get(r, "http", "max_connections", NULL));
    set_int(&c->http.max_per_address, get(r, "http", "max_connections_per_address", NULL));
    set_num(&c->http.connection_timeout, get(r, "http", "connection_timeout", NULL));
    set_int(&c->http.probe_reserve, get(r, "http", "probe_reserve", NULL));
    set_int(&c->http.blocking_workers, get(r, "http", "blocking_workers", NULL));
    set_int(&c->http.blocking_queue, get(r, "http", "blocking_queue", NULL));
    if (c->http.probe_reserve >= c->http.max_connections) {
        rc = at_yaml_error(&doc, d, AT_EINVAL, "/http/probe_reserve", 0,
                           "probe_reserve (%d) must be smaller than max_connections (%d)",
                           c->http.probe_reserve, c->http.max_connections);
        goto out;
    }
    set_str(&c->store.backend, get(r, "store", "backend", NULL));
    set_str(&c->store.path, get(r, "store", "path", NULL));
    set_str(&c->store.url, get(r, "store", "url", NULL));
    v = get(r, "store", "sync", NULL);
    if (v)
        c->store.sync_full = strcmp(json_string_value(v), "full") == 0;
    set_int(&c->store.writer_queue, get(r, "store", "writer_queue", NULL));
    set_num(&c->store.coalesce_ms, get(r, "store", "coalesce_ms", NULL));
    set_num(&c->store.jobs_retention_days, get(r, "store", "jobs", "retention_days"));
    set_int(&c->store.jobs_max_count, get(r, "store", "jobs", "max_count"));
    set_num(&c->store.jobs_prune_interval, get(r, "store", "jobs", "prune_interval"));
    json_decref(c->json);
    c->json = json_incref(r);
    free(c->source);
    c->source = at_strdup(name);
out:
    at_yaml_doc_release(&doc);
    return rc;
}

int at_config_load_file(struct at_config *c, const char *path, struct at_diag *d)
{
    char *text;
    size_t len;
    int rc = at_fs_read_file(path, AT_YAML_MAX_BYTES, &text, &len);
    if (rc)
        return at_diag_set(d, rc, path, 0, 0, "cannot read: %s", at_err_msg(rc));
    rc = at_config_load_string(c, path, text, len, d);
    free(text);
    return rc;
}

int at_config_sandboxed(const struct at_config *c, const char *agent)
{
    if (!c->sandbox.enabled)
        return 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(c->json, "sandbox"), "exempt"), i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), agent))
            return 0;
    }
    return 1;
}

int at_config_apply_env(struct at_config *c, struct at_diag *d)
{
    const char *v;
    if ((v = getenv("ATLAS_LISTEN")) && *v) {
        free(c->listen);
        c->listen = at_strdup(v);
    }
    if ((v = getenv("ATLAS_DATA")) && *v) {
        free(c->data_dir);
        c->data_dir = at_strdup(v);
    }
    if ((v = getenv("ATLAS_LOG_LEVEL")) && *v) {
        int lvl = at_log_level_parse(v);
        if (lvl < 0)
            return at_diag_set(d, AT_EINVAL, "ATLAS_LOG_LEVEL", 0, 0,
                               "\"%s\" is not one of debug, info, warn, error, off", v);
        c->log_level = lvl;
    }
    if ((v = getenv("ATLAS_MAX_CONCURRENT")) && *v) {
        long long n;
        if (at_parse_i64(v, 1, 100000, &n))
            return at_diag_set(d, AT_EINVAL, "ATLAS_MAX_CONCURRENT", 0, 0,
                               "\"%s\" is not an integer between 1 and 100000", v);
        c->exec.max_concurrent_agents = (int)n;
    }
    struct {
        const char *name;
        long long min, max;
        int *dst;
    } ints[] = {
        {"ATLAS_HTTP_MAX_CONNECTIONS", 8, 1000000, &c->http.max_connections},
        {"ATLAS_HTTP_MAX_CONNECTIONS_PER_ADDRESS", 0, 1000000, &c->http.max_per_address},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        long long n;
        if (!(v = getenv(ints[i].name)) || !*v)
            continue;
        if (at_parse_i64(v, ints[i].min, ints[i].max, &n))
            return at_diag_set(d, AT_EINVAL, ints[i].name, 0, 0,
                               "\"%s\" is not an integer between %lld and %lld", v, ints[i].min,
                               ints[i].max);
        *ints[i].dst = (int)n;
    }
    if ((v = getenv("ATLAS_HTTP_CONNECTION_TIMEOUT")) && *v) {
        long long n;
        if (at_parse_i64(v, 1, 86400, &n))
            return at_diag_set(d, AT_EINVAL, "ATLAS_HTTP_CONNECTION_TIMEOUT", 0, 0,
                               "\"%s\" is not a number of seconds between 1 and 86400", v);
        c->http.connection_timeout = (double)n;
    }
    if (c->http.probe_reserve >= c->http.max_connections)
        c->http.probe_reserve = c->http.max_connections / 2;
    if ((v = getenv("ATLAS_SANDBOX")) && *v) {
        if (!strcmp(v, "1") || !strcmp(v, "on"))
            c->sandbox.enabled = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "off"))
            c->sandbox.enabled = 0;
        else
            return at_diag_set(d, AT_EINVAL, "ATLAS_SANDBOX", 0, 0, "\"%s\" is not on or off", v);
    }
    if ((v = getenv("ATLAS_STORE_SYNC")) && *v) {
        if (strcmp(v, "normal") != 0 && strcmp(v, "full") != 0)
            return at_diag_set(d, AT_EINVAL, "ATLAS_STORE_SYNC", 0, 0,
                               "\"%s\" is not normal or full", v);
        c->store.sync_full = strcmp(v, "full") == 0;
    }
    if ((v = getenv("ATLAS_STORE_BACKEND")) && *v) {
        if (strcmp(v, "sqlite") != 0 && strcmp(v, "postgres") != 0)
            return at_diag_set(d, AT_EINVAL, "ATLAS_STORE_BACKEND", 0, 0,
                               "\"%s\" is not sqlite or postgres", v);
        free(c->store.backend);
        c->store.backend = at_strdup(v);
    }
    if ((v = getenv("ATLAS_STORE_URL")) && *v) {
        free(c->store.url);
        c->store.url = at_strdup(v);
    }
    return 0;
}

char *at_config_data_dir(const struct at_config *c)
{
    if (c->data_dir)
        return at_strdup(c->data_dir);
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg == '/')
        return at_fs_join(xdg, "atlas");
    const char *home = getenv("HOME");
    return at_asprintf("%s/.local/share/atlas", home && *home ? home : ".");
}

/* ---- approved settings (config.h) ---- */

static char *approved_path(const char *data_dir)
{
    return at_fs_join(data_dir, AT_CONFIG_APPROVED);
}

/* dotted key = value (a copy) in tree, creating the objects on the way */
static int tree_set(json_t *tree, const char *key, const json_t *value)
{
    char buf[256];
    if (strlen(key) >= sizeof(buf))
        return AT_EINVAL;
    snprintf(buf, sizeof(buf), "%s", key);
    json_t *o = tree;
    char *part = buf;
    for (;;) {
        char *dot = strchr(part, '.');
        if (!*part || (dot && dot == part))
            return AT_EINVAL;
        if (!dot)
            return json_object_set_new(o, part, json_deep_copy(value)) ? AT_EINVAL : 0;
        *dot = '\0';
        json_t *next = json_object_get(o, part);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(o, part, next);
        }
        o = next;
        part = dot + 1;
    }
}

int at_config_apply_approved(struct at_config *c, const char *data_dir, struct at_diag *d)
{
    char *path = approved_path(data_dir);
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(path, AT_YAML_MAX_BYTES, &text, &len);
    if (rc == AT_ENOENT) {
        free(path);
        return 0;
    }
    json_t *doc = NULL;
    if (rc || (rc = at_json_parse(text, len, 32, &doc, d))) {
        free(text);
        rc =
            at_diag_set(d, rc, path, 0, 0, "cannot read the approved settings: %s", at_err_msg(rc));
        free(path);
        return rc;
    }
    free(text);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_object(keys) || !json_object_size(keys)) {
        json_decref(doc);
        free(path);
        return 0;
    }
    json_t *merged = c->json ? json_deep_copy(c->json) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach(keys, k, v)
    {
        if (tree_set(merged, k, v)) {
            rc = at_diag_set(d, AT_EINVAL, path, 0, 0, "\"%s\" is not a settings key", k);
            break;
        }
    }
    char *mt = rc ? NULL : json_dumps(merged, JSON_COMPACT);
    json_decref(merged);
    json_decref(doc);
    if (!rc && !mt)
        rc = at_diag_set(d, AT_EINTERNAL, path, 0, 0, "cannot lay the approved settings over");
    if (!rc) {
        char *source = c->source ? at_strdup(c->source) : NULL;
        rc = at_config_load_string(c, path, mt, strlen(mt), d);
        free(c->source);
        c->source = source;
    }
    free(mt);
    free(path);
    return rc;
}

int at_config_approved_set(const char *data_dir, const char *key, const json_t *value, char **prev)
{
    *prev = NULL;
    char *path = approved_path(data_dir);
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    int rc = at_fs_read_file(path, AT_YAML_MAX_BYTES, &text, &len);
    if (rc == 0 && at_json_parse(text, len, 32, &doc, NULL) != 0)
        doc = NULL;
    if (rc && rc != AT_ENOENT) {
        free(path);
        return rc;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_object(keys)) {
        keys = json_object();
        json_object_set_new(doc, "keys", keys);
    }
    json_object_set_new(keys, key, json_deep_copy(value));
    char *out = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    rc = out ? at_fs_write_atomic(path, out, strlen(out), 0600) : AT_EINTERNAL;
    free(out);
    free(path);
    if (rc)
        free(text);
    else
        *prev = text;
    return rc;
}

void at_config_approved_restore(const char *data_dir, char *prev)
{
    char *path = approved_path(data_dir);
    if (prev) {
        if (at_fs_write_atomic(path, prev, strlen(prev), 0600) != 0)
            at_warn("config", "cannot put back %s", path);
    } else {
        unlink(path);
    }
    free(prev);
    free(path);
}
