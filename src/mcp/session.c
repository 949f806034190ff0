/*
 * session.c - the session table and per-session event logs.
 */
#include "mcp/session.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_mcp_sessions_init(struct at_mcp_sessions *t, size_t max, int64_t idle_ms)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    at_map_init(&t->map);
    t->max = max ? max : 1024;
    t->idle_ms = idle_ms > 0 ? idle_ms : 3600L * 1000;
}

static void session_free(struct at_mcp_session *s)
{
    json_decref(s->client_info);
    json_decref(s->client_caps);
    json_decref(s->subscriptions);
    for (size_t i = 0; i < s->log_len; i++)
        free(s->log[(s->log_start + i) % AT_MCP_EVLOG_MAX].text);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct at_mcp_session *at_mcp_session_ref(struct at_mcp_session *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void at_mcp_session_unref(struct at_mcp_session *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        session_free(s);
}

/* Take s out of the table (table lock held); returns the table's reference. */
static struct at_mcp_session *detach_locked(struct at_mcp_sessions *t, const char *id)
{
    struct at_mcp_session *s = at_map_del(&t->map, id);
    if (s) {
        t->count--;
        pthread_mutex_lock(&s->mu);
        s->closed = 1;
        pthread_mutex_unlock(&s->mu);
    }
    return s;
}

static void drop(struct at_mcp_sessions *t, struct at_mcp_session *s)
{
    if (t->on_drop)
        t->on_drop(s, t->drop_arg);
    at_mcp_session_unref(s);
}

void at_mcp_sessions_release(struct at_mcp_sessions *t)
{
    for (;;) {
        pthread_mutex_lock(&t->mu);
        size_t it = 0;
        const char *k;
        void *v;
        struct at_mcp_session *s = NULL;
        if (at_map_next(&t->map, &it, &k, &v))
            s = detach_locked(t, k);
        pthread_mutex_unlock(&t->mu);
        if (!s)
            break;
        drop(t, s);
    }
    at_map_release(&t->map);
    pthread_mutex_destroy(&t->mu);
}

size_t at_mcp_sessions_expire(struct at_mcp_sessions *t, int64_t now_ms)
{
    size_t n = 0;
    for (;;) {
        struct at_mcp_session *victim = NULL;
        pthread_mutex_lock(&t->mu);
        size_t it = 0;
        const char *k;
        void *v;
        while (at_map_next(&t->map, &it, &k, &v)) {
            struct at_mcp_session *s = v;
            pthread_mutex_lock(&s->mu);
            int idle = now_ms - s->last_used_ms > t->idle_ms;
            pthread_mutex_unlock(&s->mu);
            if (idle) {
                victim = detach_locked(t, k);
                break;
            }
        }
        pthread_mutex_unlock(&t->mu);
        if (!victim)
            break;
        drop(t, victim);
        n++;
    }
    return n;
}

int at_mcp_session_create(struct at_mcp_sessions *t, const char *proto, struct at_mcp_session **out)
{
    pthread_mutex_lock(&t->mu);
    size_t count = t->count;
    pthread_mutex_unlock(&t->mu);
    if (count >= t->max)
        at_mcp_sessions_expire(t, at_now_ms());
    struct at_mcp_session *s = at_calloc(1, sizeof(*s));
    atomic_init(&s->refs, 2); /* the table's and the caller's */
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->proto, sizeof(s->proto), "%s", proto);
    s->log_level = -1;
    s->last_used_ms = at_now_ms();
    /* MCP 2025-11-25: globally unique and cryptographically secure, visible ASCII */
    at_token_new(24, s->id, sizeof(s->id));
    pthread_mutex_lock(&t->mu);
    if (t->count >= t->max) {
        pthread_mutex_unlock(&t->mu);
        session_free(s);
        return AT_EBUSY;
    }
    at_map_put(&t->map, s->id, s);
    t->count++;
    pthread_mutex_unlock(&t->mu);
    *out = s;
    return 0;
}

struct at_mcp_session *at_mcp_session_find(struct at_mcp_sessions *t, const char *id)
{
    if (!id || !*id || strlen(id) >= AT_MCP_SESSION_ID_MAX)
        return NULL;
    pthread_mutex_lock(&t->mu);
    struct at_mcp_session *s = at_map_get(&t->map, id);
    if (s) {
        at_mcp_session_ref(s);
        pthread_mutex_lock(&s->mu);
        s->last_used_ms = at_now_ms();
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return s;
}

int at_mcp_session_close(struct at_mcp_sessions *t, const char *id)
{
    if (!id || strlen(id) >= AT_MCP_SESSION_ID_MAX)
        return AT_ENOENT;
    pthread_mutex_lock(&t->mu);
    struct at_mcp_session *s = detach_locked(t, id);
    pthread_mutex_unlock(&t->mu);
    if (!s)
        return AT_ENOENT;
    drop(t, s);
    return 0;
}

size_t at_mcp_sessions_count(struct at_mcp_sessions *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

unsigned at_mcp_session_new_stream(struct at_mcp_session *s)
{
    pthread_mutex_lock(&s->mu);
    unsigned n = ++s->next_stream;
    if (n == 0)
        n = ++s->next_stream;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void log_drop_oldest(struct at_mcp_session *s)
{
    struct at_mcp_event *ev = &s->log[s->log_start];
    s->log_bytes -= strlen(ev->text);
    free(ev->text);
    ev->text = NULL;
    s->log_start = (s->log_start + 1) % AT_MCP_EVLOG_MAX;
    s->log_len--;
}

unsigned long at_mcp_session_log(struct at_mcp_session *s, unsigned stream, const char *text)
{
    size_t len = strlen(text);
    pthread_mutex_lock(&s->mu);
    /* the sequence continues from the stream's last remembered event */
    unsigned long seq = 1;
    for (size_t i = s->log_len; i > 0; i--) {
        const struct at_mcp_event *ev = &s->log[(s->log_start + i - 1) % AT_MCP_EVLOG_MAX];
        if (ev->stream == stream) {
            seq = ev->seq + 1;
            break;
        }
    }
    if (len <= AT_MCP_EVLOG_BYTES) {
        while (s->log_len > 0 &&
               (s->log_len == AT_MCP_EVLOG_MAX || s->log_bytes + len > AT_MCP_EVLOG_BYTES))
            log_drop_oldest(s);
        struct at_mcp_event *ev = &s->log[(s->log_start + s->log_len) % AT_MCP_EVLOG_MAX];
        ev->stream = stream;
        ev->seq = seq;
        ev->text = at_strndup(text, len);
        s->log_len++;
        s->log_bytes += len;
    }
    pthread_mutex_unlock(&s->mu);
    return seq;
}

long at_mcp_session_replay(struct at_mcp_session *s, unsigned stream, unsigned long after,
                           void (*fn)(const struct at_mcp_event *ev, void *arg), void *arg)
{
    long n = 0;
    int seen_next = after == 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->log_len; i++) {
        const struct at_mcp_event *ev = &s->log[(s->log_start + i) % AT_MCP_EVLOG_MAX];
        if (ev->stream != stream)
            continue;
        if (ev->seq <= after + 1)
            seen_next = 1; /* the event right after `after` (or an earlier one) is still here */
        if (ev->seq > after) {
            fn(ev, arg);
            n++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return seen_next || n == 0 ? n : -1;
}

void at_mcp_event_id(unsigned stream, unsigned long seq, char *out, size_t n)
{
    snprintf(out, n, "%u-%lu", stream, seq);
}

int at_mcp_event_id_parse(const char *s, unsigned *stream, unsigned long *seq)
{
    if (!s)
        return AT_EINVAL;
    unsigned long long a = 0, b = 0;
    const char *p = s;
    int da = 0, db = 0;
    while (*p >= '0' && *p <= '9' && da < 10) {
        a = a * 10 + (unsigned)(*p++ - '0');
        da++;
    }
    if (!da || *p++ != '-')
        return AT_EINVAL;
    while (*p >= '0' && *p <= '9' && db < 18) {
        b = b * 10 + (unsigned)(*p++ - '0');
        db++;
    }
    if (!db || *p || a == 0 || a > 0xffffffffu)
        return AT_EINVAL;
    *stream = (unsigned)a;
    *seq = (unsigned long)b;
    return 0;
}

int at_mcp_session_subscribe(struct at_mcp_session *s, const char *uri, int on)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (!s->subscriptions)
        s->subscriptions = json_object();
    if (!on)
        json_object_del(s->subscriptions, uri);
    else if (json_object_size(s->subscriptions) >= AT_MCP_MAX_SUBSCRIPTIONS &&
             !json_object_get(s->subscriptions, uri))
        rc = AT_ELIMIT;
    else
        json_object_set_new(s->subscriptions, uri, json_true());
    pthread_mutex_unlock(&s->mu);
    return rc;
}
