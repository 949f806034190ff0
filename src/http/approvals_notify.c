/*
 * approvals_notify.c - webhook notifications of proposals (approvals_notify.h).
 */
#include "http/approvals_notify.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"
#include "security/secret.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct note {
    struct note *next;
    char *body;
    char event[40];
};

struct at_ap_notify {
    char *url;
    char *host;
    unsigned char sk[64];
    char keyid[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int stop;
    struct note *head, *tail;
    size_t queued;
    long long sent, failed, dropped;
};

static void *deliver_main(void *arg);

/* The URL: http(s), no credentials, a host among the allowed ones. */
static int check_url(const char *url, const json_t *allow, char **host_out, struct at_diag *d)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *user = NULL, *host = NULL;
    int rc = AT_EINVAL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        at_diag_set(d, rc, NULL, 0, 0, "approvals.notify.url \"%s\" is not a URL", url);
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        at_diag_set(d, rc, NULL, 0, 0, "approvals.notify.url must be http or https");
    } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        at_diag_set(d, rc, NULL, 0, 0, "approvals.notify.url may not carry credentials");
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        at_diag_set(d, rc, NULL, 0, 0, "approvals.notify.url has no host");
    } else {
        /* [::1] comes back with its brackets */
        size_t hl = strlen(host);
        const char *h = host;
        char bare[256];
        if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof(bare)) {
            snprintf(bare, sizeof(bare), "%.*s", (int)(hl - 2), host + 1);
            h = bare;
        }
        static const char *const dflt[] = {"127.0.0.1", "::1", "localhost", NULL};
        int ok = 0;
        if (json_is_array(allow)) {
            size_t i;
            json_t *v;
            json_array_foreach(allow, i, v) ok |=
                json_is_string(v) && strcasecmp(json_string_value(v), h) == 0;
        } else {
            for (int i = 0; dflt[i]; i++)
                ok |= strcasecmp(dflt[i], h) == 0;
        }
        if (!ok)
            at_diag_set(
                d, rc, NULL, 0, 0,
                "approvals.notify.url: the host %s is not in approvals.notify.allow_hosts "
                "(%s)",
                h, json_is_array(allow) ? "as configured" : "default: 127.0.0.1, ::1, localhost");
        else {
            *host_out = at_strdup(h);
            rc = 0;
        }
    }
    curl_free(scheme);
    curl_free(user);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int at_http_apnotify_new(const json_t *cfg, const char *data_dir, struct at_ap_notify **out,
                         struct at_diag *d)
{
    *out = NULL;
    const char *url = json_string_value(json_object_get(cfg, "url"));
    if (!url || !*url)
        return 0;
    struct at_ap_notify *n = at_calloc(1, sizeof(*n));
    int rc = check_url(url, json_object_get(cfg, "allow_hosts"), &n->host, d);
    unsigned char pk[32];
    if (!rc)
        rc = at_seckey_signing(data_dir, pk, n->sk, d);
    if (rc) {
        free(n->host);
        sodium_memzero(n->sk, sizeof(n->sk));
        free(n);
        return rc;
    }
    unsigned char h[32];
    crypto_hash_sha256(h, pk, 32);
    memcpy(n->keyid, "ed25519:", 9);
    sodium_bin2hex(n->keyid + 8, sizeof(n->keyid) - 8, h, 8);
    n->url = at_strdup(url);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    if (pthread_create(&n->thread, NULL, deliver_main, n) != 0) {
        pthread_mutex_destroy(&n->mu);
        pthread_cond_destroy(&n->cv);
        free(n->url);
        free(n->host);
        sodium_memzero(n->sk, sizeof(n->sk));
        free(n);
        return at_diag_set(d, AT_EINTERNAL, NULL, 0, 0, "cannot start the notification thread");
    }
    at_info("approvals", "proposals are notified to %s", url);
    *out = n;
    return 0;
}

void at_http_apnotify_free(struct at_ap_notify *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = 1;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    size_t left = 0;
    while (n->head) {
        struct note *x = n->head->next;
        free(n->head->body);
        free(n->head);
        n->head = x;
        left++;
    }
    if (left)
        at_warn("approvals", "%zu proposal notifications were still queued at the stop (dropped)",
                left);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n->url);
    free(n->host);
    sodium_memzero(n->sk, sizeof(n->sk));
    free(n);
}

void at_http_apnotify_listener(void *arg, const char *event, const json_t *doc)
{
    struct at_ap_notify *n = arg;
    if (!n)
        return;
    json_t *p =
        json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?,s:s?}", "id", at_json_str(doc, "id", NULL), "kind",
                  at_json_str(doc, "kind", NULL), "state", at_json_str(doc, "state", NULL), "hash",
                  at_json_str(doc, "hash", NULL), "title", at_json_str(doc, "title", NULL),
                  "proposer", at_json_str(doc, "proposer", NULL));
    json_t *b = json_pack("{s:s,s:o,s:I}", "event", event, "proposal", p, "at_ms",
                          (json_int_t)at_wall_ms());
    char *body = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(b);
    if (!body)
        return;
    struct note *x = at_calloc(1, sizeof(*x));
    x->body = body;
    snprintf(x->event, sizeof(x->event), "%s", event);
    pthread_mutex_lock(&n->mu);
    if (n->stop || n->queued >= AT_AP_NOTIFY_QUEUE) {
        long long dr = ++n->dropped;
        pthread_mutex_unlock(&n->mu);
        if (dr == 1 || dr % 100 == 0)
            at_warn("approvals", "the proposal notification queue is full: %lld dropped", dr);
        free(body);
        free(x);
        return;
    }
    if (n->tail)
        n->tail->next = x;
    else
        n->head = x;
    n->tail = x;
    n->queued++;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void at_http_apnotify_counts(struct at_ap_notify *n, long long *sent, long long *failed,
                             long long *dropped)
{
    pthread_mutex_lock(&n->mu);
    *sent = n->sent;
    *failed = n->failed;
    *dropped = n->dropped;
    pthread_mutex_unlock(&n->mu);
}

static size_t discard(char *ptr, size_t sz, size_t nm, void *arg)
{
    (void)ptr;
    (void)arg;
    return sz * nm;
}

/* One POST to the configured URL (no proxy, no redirect): 0 on a 2xx. */
static int post_once(struct at_ap_notify *n, CURL *h, const struct note *x, char *err, size_t en)
{
    char ts[32], hdr_ts[64], hdr_sig[160], hdr_key[100], hdr_ev[80];
    snprintf(ts, sizeof(ts), "%lld", (long long)(at_wall_ms() / 1000));
    /* signed: "<timestamp>.<body>" (the timestamp bounds a replay) */
    size_t bl = strlen(x->body);
    char *msg = at_asprintf("%s.%s", ts, x->body);
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), n->sk);
    free(msg);
    char sig64[100];
    sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    snprintf(hdr_ts, sizeof(hdr_ts), "X-Atlas-Timestamp: %s", ts);
    snprintf(hdr_sig, sizeof(hdr_sig), "X-Atlas-Signature: ed25519=%s", sig64);
    snprintf(hdr_key, sizeof(hdr_key), "X-Atlas-Key-Id: %s", n->keyid);
    snprintf(hdr_ev, sizeof(hdr_ev), "X-Atlas-Event: %s", x->event);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    hd = curl_slist_append(hd, hdr_ts);
    hd = curl_slist_append(hd, hdr_sig);
    hd = curl_slist_append(hd, hdr_key);
    hd = curl_slist_append(hd, hdr_ev);
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, n->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)AT_AP_NOTIFY_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)AT_AP_NOTIFY_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "atlasd-approvals/" ATLAS_VERSION);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hd);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        snprintf(err, en, "%s", curl_easy_strerror(cc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(err, en, "HTTP %ld", status);
        return -1;
    }
    return 0;
}

static int wait_ms(struct at_ap_notify *n, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!n->stop && pthread_cond_timedwait(&n->cv, &n->mu, &ts) == 0) {
    }
    return n->stop;
}

static void *deliver_main(void *arg)
{
    struct at_ap_notify *n = arg;
    CURL *h = NULL;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        if (!n->head) {
            pthread_cond_wait(&n->cv, &n->mu);
            continue;
        }
        struct note *x = n->head;
        n->head = x->next;
        if (!n->head)
            n->tail = NULL;
        n->queued--;
        long backoff = AT_AP_NOTIFY_BACKOFF_MS;
        for (int attempt = 1;; attempt++) {
            pthread_mutex_unlock(&n->mu);
            char err[200] = "libcurl could not be loaded";
            if (!h)
                h = curl_easy_init();
            int rc = h ? post_once(n, h, x, err, sizeof(err)) : -1;
            pthread_mutex_lock(&n->mu);
            if (rc == 0) {
                n->sent++;
                break;
            }
            if (attempt >= AT_AP_NOTIFY_ATTEMPTS) {
                n->failed++;
                at_warn("approvals", "the %s notification to %s failed after %d tries: %s",
                        x->event, n->url, attempt, err);
                break;
            }
            if (wait_ms(n, backoff))
                break;
            backoff *= 2;
        }
        free(x->body);
        free(x);
    }
    pthread_mutex_unlock(&n->mu);
    curl_easy_cleanup(h);
    return NULL;
}
