/*
 * service.c - the watchdog's check and the settings reload (service.h).
 */
#include "daemon/service.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "exec/engine.h"
#include "monitor/monitor.h"
#include "sched/sched.h"
#include "supervisor/approvals.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* "http://HOST:PORT" -> host and port (IPv6 in brackets). */
static int split_url(const char *url, char *host, size_t hn, char *port, size_t pn)
{
    if (strncmp(url, "http://", 7) != 0)
        return AT_EINVAL;
    const char *h = url + 7, *colon;
    if (*h == '[') {
        const char *end = strchr(h, ']');
        if (!end || end[1] != ':')
            return AT_EINVAL;
        snprintf(host, hn, "%.*s", (int)(end - h - 1), h + 1);
        colon = end + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon)
            return AT_EINVAL;
        snprintf(host, hn, "%.*s", (int)(colon - h), h);
    }
    snprintf(port, pn, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    return 0;
}

/* Wait for fd to be ready for events until deadline_ms (monotonic). */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - at_now_ms();
        if (left <= 0)
            return AT_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return AT_EIO;
    }
}

static int probe_http(const char *base_url, int timeout_ms, struct at_diag *d)
{
    char host[128], port[16];
    if (split_url(base_url, host, sizeof(host), port, sizeof(port)))
        return 0; /* not a TCP address: nothing to probe this way */
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return at_diag_set(d, AT_EINVAL, base_url, 0, 0, "cannot parse the served address");
    int64_t deadline = at_now_ms() + timeout_ms;
    int rc = AT_ECONN;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto out;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
        goto out;
    if ((rc = wait_fd(fd, POLLOUT, deadline)))
        goto out;
    static const char req[] = "GET /api/v1/health/live HTTP/1.0\r\n\r\n";
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
        rc = AT_ECONN;
        goto out;
    }
    char buf[64];
    size_t got = 0;
    while (got < 12) {
        if ((rc = wait_fd(fd, POLLIN, deadline)))
            goto out;
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0) {
            rc = AT_ECONN;
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    /* "HTTP/1.x 200": live (a 503 while stopping is not) */
    rc = strncmp(buf + 8, " 200", 4) == 0 ? 0 : AT_EIO;
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    if (rc)
        at_diag_set(d, rc, base_url, 0, 0, "GET /api/v1/health/live: %s",
                    rc == AT_ETIMEDOUT ? "no answer in time" : "no 200 answer");
    return rc;
}

int at_daemon_alive(struct at_daemon *dmn, int timeout_ms, struct at_diag *d)
{
    /* a round trip through the engine's loop thread */
    json_t *s = at_engine_stats_json(dmn->engine);
    if (!s)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "the engine did not answer");
    json_decref(s);
    return probe_http(dmn->base_url, timeout_ms, d);
}

static void add_key(struct at_buf *out, const char *prefix, const char *key)
{
    if (out->len)
        at_buf_puts(out, ", ");
    if (*prefix) {
        at_buf_puts(out, prefix);
        at_buf_putc(out, '.');
    }
    at_buf_puts(out, key);
}

void at_daemon_config_diff(const json_t *a, const json_t *b, const char *prefix, struct at_buf *out)
{
    const char *k;
    json_t *va, *vb;
    /* keys of a (changed or removed), then keys only b has (added) */
    json_t *empty = json_object();
    json_object_foreach((json_t *)a, k, va)
    {
        vb = json_object_get(b, k);
        if (vb && json_equal(va, vb))
            continue;
        /* a section added or removed as a whole names its keys */
        if (json_is_object(va) && (!vb || json_is_object(vb))) {
            char *sub = *prefix ? at_asprintf("%s.%s", prefix, k) : at_strdup(k);
            at_daemon_config_diff(va, vb ? vb : empty, sub, out);
            free(sub);
        } else {
            add_key(out, prefix, k);
        }
    }
    json_object_foreach((json_t *)b, k, vb)
    {
        if (json_object_get(a, k))
            continue;
        if (json_is_object(vb) && json_object_size(vb)) {
            char *sub = *prefix ? at_asprintf("%s.%s", prefix, k) : at_strdup(k);
            at_daemon_config_diff(empty, vb, sub, out);
            free(sub);
        } else {
            add_key(out, prefix, k);
        }
    }
    json_decref(empty);
}

/* The keys a running daemon applies at once (docs/install.md "Reload"):
 * each is read where it is used, from the settings snapshot the engine
 * and the routes hold (an atomic pointer to an immutable copy, swapped
 * whole), or handed to the one component that keeps it (approvals, the
 * monitor's retention, the scheduler's policy).  A key ending in '.' names a section: every key
 * under it.  Everything else is read by a component at its construction
 * (the listening socket, the store, pools sized, threads started, the
 * model gateway, TLS): those wait for a restart. */
static const char *const live_keys[] = {
    "log_level",
    "execution.max_concurrent_agents",
    "execution.max_spawn_depth",
    "execution.timeouts.chain",
    "execution.timeouts.agent",
    "execution.timeouts.startup",
    "execution.timeouts.shutdown",
    "execution.circuit_breaker.failure_threshold",
    "execution.circuit_breaker.recovery_timeout",
    "pool.health_interval",
    "store.jobs.retention_days",
    "store.jobs.max_count",
    "store.jobs.prune_interval",
    "registry.policy.",
    "scheduling.strategy",
    "scheduling.preemption_enabled",
    "scheduling.resource_reservation.",
    "scheduling.unschedulable_timeout",
    "approvals.require",
    "approvals.ttl_s",
    NULL,
};

static int is_live(const char *key)
{
    for (size_t i = 0; live_keys[i]; i++) {
        size_t n = strlen(live_keys[i]);
        if (live_keys[i][n - 1] != '.'
                ? strcmp(key, live_keys[i]) == 0
                : strncmp(key, live_keys[i], n) == 0 ||
                      (strncmp(key, live_keys[i], n - 1) == 0 && !key[n - 1]))
            return 1;
    }
    return 0;
}

/* A deep copy: the strings and the JSON tree are the copy's own. */
static struct at_config *config_copy(const struct at_config *src)
{
    struct at_config *c = at_calloc(1, sizeof(*c));
    *c = *src;
    c->source = src->source ? at_strdup(src->source) : NULL;
    c->listen = src->listen ? at_strdup(src->listen) : NULL;
    c->data_dir = src->data_dir ? at_strdup(src->data_dir) : NULL;
    c->store.backend = src->store.backend ? at_strdup(src->store.backend) : NULL;
    c->store.path = src->store.path ? at_strdup(src->store.path) : NULL;
    c->store.url = src->store.url ? at_strdup(src->store.url) : NULL;
    c->json = json_deep_copy(src->json);
    return c;
}

/* dotted key: the value in next's tree (or its absence) into snap's */
static void json_take(json_t *snap, const json_t *next, const char *key)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", key);
    json_t *dst = snap;
    const json_t *src = next;
    char *save = NULL;
    char *part = strtok_r(buf, ".", &save);
    while (part) {
        char *rest = strtok_r(NULL, ".", &save);
        const json_t *sv = src ? json_object_get(src, part) : NULL;
        if (!rest) {
            if (sv)
                json_object_set_new(dst, part, json_deep_copy(sv));
            else
                json_object_del(dst, part);
            return;
        }
        json_t *dv = json_object_get(dst, part);
        if (!json_is_object(dv)) {
            dv = json_object();
            json_object_set_new(dst, part, dv);
        }
        dst = dv;
        src = sv;
        part = rest;
    }
}

/* the struct member of a live key, from next */
static void field_take(struct at_config *snap, const struct at_config *next, const char *key)
{
    if (!strcmp(key, "log_level"))
        snap->log_level = next->log_level;
    else if (!strcmp(key, "execution.max_concurrent_agents"))
        snap->exec.max_concurrent_agents = next->exec.max_concurrent_agents;
    else if (!strcmp(key, "execution.max_spawn_depth"))
        snap->exec.max_spawn_depth = next->exec.max_spawn_depth;
    else if (!strcmp(key, "execution.timeouts.chain"))
        snap->exec.timeout_chain = next->exec.timeout_chain;
    else if (!strcmp(key, "execution.timeouts.agent"))
        snap->exec.timeout_agent = next->exec.timeout_agent;
    else if (!strcmp(key, "execution.timeouts.startup"))
        snap->exec.timeout_startup = next->exec.timeout_startup;
    else if (!strcmp(key, "execution.timeouts.shutdown"))
        snap->exec.timeout_shutdown = next->exec.timeout_shutdown;
    else if (!strcmp(key, "execution.circuit_breaker.failure_threshold"))
        snap->exec.breaker_threshold = next->exec.breaker_threshold;
    else if (!strcmp(key, "execution.circuit_breaker.recovery_timeout"))
        snap->exec.breaker_recovery = next->exec.breaker_recovery;
    else if (!strcmp(key, "pool.health_interval"))
        snap->pool.health_interval = next->pool.health_interval;
    else if (!strcmp(key, "store.jobs.retention_days"))
        snap->store.jobs_retention_days = next->store.jobs_retention_days;
    else if (!strcmp(key, "store.jobs.max_count"))
        snap->store.jobs_max_count = next->store.jobs_max_count;
    else if (!strcmp(key, "store.jobs.prune_interval"))
        snap->store.jobs_prune_interval = next->store.jobs_prune_interval;
    /* registry.policy and approvals: the tree only */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* the keys in a stable order (the trees' own order is a hash's) */
static json_t *sorted(json_t *keys)
{
    size_t n = json_array_size(keys);
    const char **v = at_calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_string_value(json_array_get(keys, i));
    qsort(v, n, sizeof(*v), cmp_str);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, json_string(v[i]));
    free(v);
    json_decref(keys);
    return out;
}

const struct at_config *at_daemon_settings(struct at_daemon *dmn)
{
    return atomic_load(&dmn->api.config);
}

int at_daemon_reload(struct at_daemon *dmn, const struct at_config *next, int keep_log_level,
                     json_t **result, struct at_diag *d)
{
    const struct at_config *run = atomic_load(&dmn->api.config);
    struct at_buf diff;
    at_buf_init(&diff, 1 << 16);
    at_daemon_config_diff(run->json, next->json, "", &diff);
    json_t *applied = json_array(), *restart = json_array(), *kept = json_array();
    struct at_config *snap = config_copy(run);
    free(snap->source);
    snap->source = next->source ? at_strdup(next->source) : NULL;
    int approvals = 0, retention = 0, policy = 0, sched = 0;
    /* the files differ in these keys; the environment and the flags are
     * those the daemon started with, so they did not change */
    const char *p = at_buf_str(&diff);
    while (*p) {
        size_t n = strcspn(p, ",");
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
        if (!is_live(key)) {
            json_array_append_new(restart, json_string(key));
            continue;
        }
        json_take(snap->json, next->json, key);
        if (!strcmp(key, "log_level") && keep_log_level) {
            json_array_append_new(kept, json_string(key)); /* --log-level wins */
            continue;
        }
        field_take(snap, next, key);
        json_array_append_new(applied, json_string(key));
        approvals |= !strncmp(key, "approvals.", 10);
        retention |= !strncmp(key, "store.jobs.", 11);
        policy |= !strncmp(key, "registry.policy", 15);
        sched |= !strncmp(key, "scheduling.", 11);
    }
    at_buf_release(&diff);
    /* what can be refused first, and then nothing is applied: the
     * scheduling policy (checked whole, set below) and the approvals (an
     * unknown action; set here, last of what can fail) */
    int rc = 0;
    struct at_sched_policy sp;
    at_sched_policy_default(&sp);
    if (sched)
        rc = at_sched_policy_parse(json_object_get(snap->json, "scheduling"), &sp, d);
    if (!rc && approvals && dmn->approvals)
        rc = at_approvals_set_config(dmn->approvals, json_object_get(snap->json, "approvals"), d);
    if (rc) {
        at_config_release(snap);
        free(snap);
        json_decref(applied);
        json_decref(restart);
        json_decref(kept);
        return rc;
    }
    /* publish: every reader loads the pointer; the snapshot it replaces
     * stays until the daemon stops (a reader may still hold it) */
    dmn->snapshots = at_realloc(dmn->snapshots, (dmn->nsnapshots + 1) * sizeof(*dmn->snapshots));
    dmn->snapshots[dmn->nsnapshots++] = snap;
    atomic_store(&dmn->api.config, snap);
    if (dmn->engine)
        at_engine_set_config(dmn->engine, snap);
    at_log_set_level((enum at_log_level)snap->log_level);
    if (retention && dmn->monitor)
        at_monitor_set_job_retention(dmn->monitor, snap->store.jobs_retention_days,
                                     snap->store.jobs_max_count, snap->store.jobs_prune_interval);
    if (policy)
        at_daemon_record_policy(dmn, snap, "reload");
    if (sched && dmn->sched)
        at_sched_set_policy(dmn->sched, &sp);
    char ts[40];
    *result =
        json_pack("{s:b,s:s,s:s?,s:o,s:o,s:o}", "ok", 1, "at",
                  at_time_iso8601(at_wall_ms(), ts, sizeof(ts)), "source", snap->source, "applied",
                  sorted(applied), "restart", sorted(restart), "overridden", sorted(kept));
    return 0;
}

void at_daemon_release_snapshots(struct at_daemon *dmn)
{
    for (size_t i = 0; i < dmn->nsnapshots; i++) {
        at_config_release(dmn->snapshots[i]);
        free(dmn->snapshots[i]);
    }
    free(dmn->snapshots);
    dmn->snapshots = NULL;
    dmn->nsnapshots = 0;
}
