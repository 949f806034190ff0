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
    /* records from before the first sink (the daemon's start, e.g. the
     * first admin token's token.create): kept, in order, and handed to it
     * (docs/audit.md); under mu */
    int had_sink;
    struct early *early_head, **early_tail;
    int nearly;
    long long early_dropped;
};

#define AT_AUDIT_EARLY_MAX 256

struct early {
    struct early *next;
    struct at_audit_rec r; /* its strings and data are owned */
};

static char *dup_or_null(const char *s)
{
    return s ? at_strdup(s) : NULL;
}

static void early_free(struct early *e)
{
    free((char *)e->r.event);
    free((char *)e->r.actor);
    free((char *)e->r.role);
    free((char *)e->r.action);
    free((char *)e->r.outcome);
    free((char *)e->r.source);
    free((char *)e->r.detail);
    free((char *)e->r.kind);
    json_decref((json_t *)e->r.data);
    free(e);
}

/* Keep r until the first sink is set; under mu. */
static void early_keep(struct at_audit *a, const struct at_audit_rec *r)
{
    if (a->nearly >= AT_AUDIT_EARLY_MAX) {
        a->early_dropped++;
        return;
    }
    struct early *e = at_calloc(1, sizeof(*e));
    e->r.event = dup_or_null(r->event);
    e->r.actor = dup_or_null(r->actor);
    e->r.role = dup_or_null(r->role);
    e->r.action = dup_or_null(r->action);
    e->r.outcome = dup_or_null(r->outcome);
    e->r.source = dup_or_null(r->source);
    e->r.detail = dup_or_null(r->detail);
    e->r.kind = dup_or_null(r->kind);
    e->r.data = r->data ? json_deep_copy(r->data) : NULL;
    if (!a->early_tail)
        a->early_tail = &a->early_head;
    *a->early_tail = e;
    a->early_tail = &e->next;
    a->nearly++;
}

/* Hand r to the sink, or keep it while there has been none yet. */
static void to_sink(struct at_audit *a, const struct at_audit_rec *r)
{
    struct sink *s = atomic_load_explicit(&a->sink, memory_order_acquire);
    if (!s) {
        pthread_mutex_lock(&a->mu);
        s = atomic_load_explicit(&a->sink, memory_order_acquire);
        if (!s && !a->had_sink)
            early_keep(a, r);
        pthread_mutex_unlock(&a->mu);
    }
    if (s)
        s->fn(s->arg, r);
}

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
        if (!a->had_sink) {
            /* the records kept so far go first, in order: a record that
             * comes meanwhile waits for mu and follows them */
            a->had_sink = 1;
            for (struct early *e = a->early_head, *next; e; e = next) {
                next = e->next;
                fn(arg, &e->r);
                early_free(e);
            }
            a->early_head = NULL;
            a->early_tail = NULL;
            a->nearly = 0;
            if (a->early_dropped) {
                char detail[120];
                snprintf(detail, sizeof(detail),
                         "%lld records from before the audit trail started were not kept "
                         "(at most %d are)",
                         a->early_dropped, AT_AUDIT_EARLY_MAX);
                struct at_audit_rec d = {.event = "audit.dropped",
                                         .actor = "atlasd",
                                         .action = "audit",
                                         .outcome = "refused",
                                         .source = "atlasd",
                                         .detail = detail};
                fn(arg, &d);
                a->early_dropped = 0;
            }
        }
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
    for (struct early *e = a->early_head, *next; e; e = next) {
        next = e->next;
        early_free(e);
    }
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void at_audit_record(struct at_audit *a, const struct at_audit_rec *r)
{
    if (!a)
        return;
    if (r->kind && strcmp(r->kind, "event") != 0) {
        /* a semantic log or an execution receipt: the signed log only */
        to_sink(a, r);
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
    to_sink(a, &rec);
}
