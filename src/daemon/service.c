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

#include <errno.h>
#include <netdb.h>
#include <poll.h>
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

/* Keys a running daemon applies at once.  Everything else is read by a
 * component at its construction (limits sized into pools, threads, the
 * listening socket, the store), where changing it live would need each
 * component's own protocol: those wait for a restart. */
static const char *const live_keys[] = {"log_level", NULL};

static int is_live(const char *key)
{
    for (size_t i = 0; live_keys[i]; i++)
        if (strcmp(key, live_keys[i]) == 0)
            return 1;
    return 0;
}

void at_daemon_reload(struct at_daemon *dmn, const struct at_config *next, int keep_log_level,
                      char **applied, char **restart)
{
    struct at_config *run = dmn->config;
    struct at_buf diff, ap, rs;
    at_buf_init(&diff, 1 << 16);
    at_buf_init(&ap, 1 << 16);
    at_buf_init(&rs, 1 << 16);
    at_daemon_config_diff(run->json, next->json, "", &diff);
    /* the files differ in these keys; the environment and the flags are
     * those the daemon started with, so they did not change */
    const char *p = at_buf_str(&diff);
    while (*p) {
        size_t n = strcspn(p, ",");
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        if (is_live(key)) {
            if (strcmp(key, "log_level") == 0 && !keep_log_level &&
                run->log_level != next->log_level) {
                run->log_level = next->log_level;
                at_log_set_level((enum at_log_level)next->log_level);
                add_key(&ap, "", key);
            }
        } else {
            add_key(&rs, "", key);
        }
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    *applied = at_strdup(at_buf_str(&ap));
    *restart = at_strdup(at_buf_str(&rs));
    at_buf_release(&diff);
    at_buf_release(&ap);
    at_buf_release(&rs);
}
