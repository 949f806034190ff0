/*
 * audit.c - the audit of security events (audit.h).
 */
#include "security/audit.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct at_audit {
    struct at_secstore *ss;
    pthread_mutex_t mu;
    int64_t window_ms; /* the second the denial count is for */
    int in_window;
    long long dropped; /* denials not recorded since the last one that was */
    struct sink {
        at_audit_sink_fn fn;
        void *arg;
    } sinks[2];
    _Atomic(struct sink *) sink; /* one of sinks, or NULL */
    int next;                    /* the slot the next at_audit_set_sink fills */
};

void at_audit_set_sink(struct at_audit *a, at_audit_sink_fn fn, void *arg)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    struct sink *s = NULL;
    if (fn) {
        s = &a->sinks[a->next];
        a->next ^= 1;
        s->fn = fn;
        s->arg = arg;
    }
    atomic_store_explicit(&a->sink, s, memory_order_release);
    pthread_mutex_unlock(&a->mu);
}

int at_audit_digest(const json_t *data, char out[AT_AUDIT_DIGEST_MAX])
{
    out[0] = '\0';
    if (!data)
        return AT_EINVAL;
    char *s = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        return AT_EINVAL;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
    free(s);
    memcpy(out, "sha256:", 7);
    sodium_bin2hex(out + 7, AT_AUDIT_DIGEST_MAX - 7, h, sizeof(h));
    return 0;
}

struct at_audit *at_audit_new(struct at_secstore *ss)
{
    struct at_audit *a = at_calloc(1, sizeof(*a));
    a->ss = ss;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void at_audit_free(struct at_audit *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void at_audit_record(struct at_audit *a, const struct at_audit_rec *r)
{
    if (!a)
        return;
    if (r->kind && strcmp(r->kind, "event") != 0) {
        /* a semantic log or an execution receipt: the signed log only */
        struct sink *s = atomic_load_explicit(&a->sink, memory_order_acquire);
        if (s)
            s->fn(s->arg, r);
        return;
    }
    int denial = r->outcome && strcmp(r->outcome, "denied") == 0;
    long long dropped = 0;
    if (denial) {
        pthread_mutex_lock(&a->mu);
        int64_t now = at_now_ms() / 1000;
        if (now != a->window_ms) {
            a->window_ms = now;
            a->in_window = 0;
        }
        if (a->in_window >= AT_AUDIT_DENIALS_PER_S) {
            a->dropped++;
            pthread_mutex_unlock(&a->mu);
            return;
        }
        a->in_window++;
        dropped = a->dropped;
        a->dropped = 0;
        pthread_mutex_unlock(&a->mu);
    }
    struct at_audit_rec rec = *r;
    char detail[600];
    if (dropped) {
        snprintf(detail, sizeof(detail), "%s%s(%lld earlier denials not recorded: rate limit)",
                 r->detail ? r->detail : "", r->detail ? " " : "", dropped);
        rec.detail = detail;
    }
    at_log(denial ? AT_LOG_WARN : AT_LOG_INFO, "audit", "%s %s: %s by %s (%s) from %s%s%s",
           rec.event, rec.outcome ? rec.outcome : "", rec.action ? rec.action : "-",
           rec.actor ? rec.actor : "-", rec.role ? rec.role : "-", rec.source ? rec.source : "-",
           rec.detail ? ": " : "", rec.detail ? rec.detail : "");
    if (a->ss)
        at_secstore_audit_append(a->ss, &rec);
    struct sink *s = atomic_load_explicit(&a->sink, memory_order_acquire);
    if (s)
        s->fn(s->arg, &rec);
}
