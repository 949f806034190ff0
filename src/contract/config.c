#include "contract/config.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "contract/shape.h"
#include "contract/yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    END,
};
static const struct at_shape pool[] = {
    {"min", AT_SH_INT, MIN0},
    {"max", AT_SH_INT, MIN1},
    {"idle_timeout", AT_SH_NUM, MIN0},
    {"health_interval", AT_SH_NUM, MIN0},
    END,
};
static const struct at_shape store[] = {
    {"backend", AT_SH_STR, 0, NULL, backends, 0, 0},
    {"path", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"url", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"sync", AT_SH_STR, 0, NULL, syncs, 0, 0},
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
static const struct at_shape scheduling[] = {
    {"strategy", AT_SH_STR, 0, NULL, sched_strategies, 0, 0},
    {"preemption_enabled", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"resource_reservation", AT_SH_OBJ, 0, reservation, NULL, 0, 0},
    {"node_failure", AT_SH_OBJ, 0, node_failure, NULL, 0, 0},
    END,
};
/* The spec's registry policy block (enforced by the registry issue). */
static const struct at_shape policy[] = {
    {"allow_unsigned", AT_SH_BOOL, 0, NULL, NULL, 0, 0},
    {"minimum_review_status", AT_SH_STR, 0, NULL, review, 0, 0},
    {"allowed_publishers", AT_SH_STRLIST, 0, NULL, NULL, 0, 0},
    END,
};
static const struct at_shape registry[] = {
    {"policy", AT_SH_OBJ, 0, policy, NULL, 0, 0},
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
static const struct at_shape top[] = {
    {"listen", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"data", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"log_level", AT_SH_STR, 0, NULL, log_levels, 0, 0},
    {"execution", AT_SH_OBJ, 0, execution, NULL, 0, 0},
    {"pool", AT_SH_OBJ, 0, pool, NULL, 0, 0},
    {"store", AT_SH_OBJ, 0, store, NULL, 0, 0},
    {"scheduling", AT_SH_OBJ, 0, scheduling, NULL, 0, 0},
    {"registry", AT_SH_OBJ, 0, registry, NULL, 0, 0},
    {"models", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {"monitor", AT_SH_OBJ, 0, monitor, NULL, 0, 0},
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
    c->pool.min = 0;
    c->pool.max = 4;
    c->pool.idle_timeout = 300;
    c->pool.health_interval = 30;
    c->store.backend = at_strdup("sqlite");
    c->json = json_object();
}

void at_config_release(struct at_config *c)
{
    free(c->source);
    free(c->listen);
    free(c->data_dir);
    free(c->store.backend);
    free(c->store.path);
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
    set_int(&c->pool.min, get(r, "pool", "min", NULL));
    set_int(&c->pool.max, get(r, "pool", "max", NULL));
    set_num(&c->pool.idle_timeout, get(r, "pool", "idle_timeout", NULL));
    set_num(&c->pool.health_interval, get(r, "pool", "health_interval", NULL));
    if (c->pool.min > c->pool.max) {
        rc = at_yaml_error(&doc, d, AT_EINVAL, "/pool/min", 0, "min (%d) is larger than max (%d)",
                           c->pool.min, c->pool.max);
        goto out;
    }
    set_str(&c->store.backend, get(r, "store", "backend", NULL));
    set_str(&c->store.path, get(r, "store", "path", NULL));
    v = get(r, "store", "sync", NULL);
    if (v)
        c->store.sync_full = strcmp(json_string_value(v), "full") == 0;
    if (strcmp(c->store.backend, "sqlite") != 0) {
        rc = at_yaml_error(&doc, d, AT_EUNSUPPORTED, "/store/backend", 0,
                           "backend \"%s\" is not available in this build (only sqlite)",
                           c->store.backend);
        goto out;
    }
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
    if ((v = getenv("ATLAS_STORE_SYNC")) && *v) {
        if (strcmp(v, "normal") && strcmp(v, "full"))
            return at_diag_set(d, AT_EINVAL, "ATLAS_STORE_SYNC", 0, 0,
                               "\"%s\" is not normal or full", v);
        c->store.sync_full = strcmp(v, "full") == 0;
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
