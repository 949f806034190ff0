/*
 * a2a_push.c - A2A push notification configs and their delivery
 * (a2a_push.h, docs/a2a.md "Push notifications").
 *
 * The configs are one map task id -> JSON array of records {taskId, id,
 * url, token, scheme, credentials, version, createdMs}, owned here and
 * only touched under mu; the store has the same records (sqlite_a2a.c).
 * A delivery is plain strings (URL, header, body) copied under mu, so the
 * delivery thread shares nothing with the engine.
 */
#include "http/a2a_push.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/id.h"
#include "base/log.h"
#include "base/map.h"
#include "json/json.h"
#include "store/store.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_MAX 512
#define SCHEME_MAX 64
#define CRED_MAX 4096
#define ID_MAX 128

#define PENDING_FILE "a2a-push-pending.json"
#define PENDING_MAX (64u << 20) /* bytes of the pending file read back */

struct delivery {
    struct delivery *next;
    char *cfg_id; /* the config's id: what the pending file keeps (not the header) */
    char *url;
    char *header; /* "Authorization: ..." or "X-A2A-Notification-Token: ...", or NULL */
    char *body;
    char task_id[AT_ID_MAX];
};

struct at_a2a_push {
    pthread_mutex_t mu;  /* the map and the queue: held briefly (the loop takes it) */
    pthread_mutex_t wmu; /* serialises set and delete, held across their store write */
    pthread_cond_t cv;
    struct at_pushstore *store;
    struct at_map tasks; /* task id -> json_t array of records */
    size_t nconfigs;
    struct delivery *head, *tail;
    size_t queued;
    struct delivery *inflight; /* the one the thread is sending (owned by it) */
    /* limits (a2a.push; fixed after start) */
    long long per_task, max_configs, queue_max, attempts, backoff_ms, timeout_ms;
    json_t *allowed;    /* a2a.push.allowed_hosts (array) or NULL: any host */
    char *pending_path; /* DATA/a2a-push-pending.json, or NULL */
    int stop;
    int started;
    pthread_t thread;
};

static void delivery_free(struct delivery *dv)
{
    if (!dv)
        return;
    free(dv->cfg_id);
    free(dv->url);
    free(dv->header);
    free(dv->body);
    free(dv);
}

/* ---- validation ---- */

int at_a2a_push_host_allowed(const char *host, const json_t *allowed)
{
    if (!allowed)
        return 1;
    size_t hl = strlen(host);
    /* an IPv6 literal's brackets are not part of the name */
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host++;
        hl -= 2;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(allowed, i, e)
    {
        const char *a = json_string_value(e);
        if (!a || !*a)
            continue;
        size_t al = strlen(a);
        if (al >= 2 && a[0] == '[' && a[al - 1] == ']') {
            a++;
            al -= 2;
        }
        if (al == hl && strncasecmp(a, host, hl) == 0)
            return 1;
        /* "*.example.com": any name under example.com (not itself) */
        if (al > 2 && a[0] == '*' && a[1] == '.' && hl > al - 1 &&
            strncasecmp(host + hl - (al - 1), a + 1, al - 1) == 0)
            return 1;
    }
    return 0;
}

int at_a2a_push_check_url(const char *url, const json_t *allowed, char *why, size_t n)
{
    if (!url || !*url) {
        snprintf(why, n, "the push notification config needs a url");
        return -1;
    }
    if (strlen(url) > AT_A2A_PUSH_URL_MAX) {
        snprintf(why, n, "the push notification url is longer than %d characters",
                 AT_A2A_PUSH_URL_MAX);
        return -1;
    }
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
            snprintf(why, n, "the push notification url has a space or control character");
            return -1;
        }
    }
    CURLU *u = curl_url();
    int rc = -1;
    char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(why, n, "the push notification url is not a URL");
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(why, n, "the push notification url must be http or https");
    } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
               curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
        snprintf(why, n,
                 "the push notification url may not carry credentials (user:password@): put "
                 "them in authentication");
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        snprintf(why, n, "the push notification url has no host");
    } else if (!at_a2a_push_host_allowed(host, allowed)) {
        snprintf(why, n, "the push notification url's host %.200s is not in a2a.push.allowed_hosts",
                 host);
    } else {
        rc = 0;
    }
    curl_free(scheme);
    curl_free(user);
    curl_free(pass);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* A header value: printable ASCII (RFC 9110 field-vchar and space), at
 * most max characters; tchar_only: an auth scheme's token characters. */
static int header_ok(const char *s, size_t max, int tchar_only)
{
    size_t len = strlen(s);
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
        if (tchar_only && !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                            (c >= 'a' && c <= 'z') || strchr("!#$%&'*+.^_`|~-", c)))
            return 0;
    }
    return 1;
}

/* ---- shapes ---- */

static const char *rs(const json_t *rec, const char *k)
{
    const char *s = json_string_value(json_object_get(rec, k));
    return s ? s : "";
}

json_t *at_a2a_push_shape(const json_t *rec, enum at_a2a_ver ver)
{
    json_t *c = json_pack("{s:s,s:s}", "id", rs(rec, "id"), "url", rs(rec, "url"));
    if (*rs(rec, "token"))
        json_object_set_new(c, "token", json_string(rs(rec, "token")));
    if (ver == AT_A2A_V10) {
        json_object_set_new(c, "taskId", json_string(rs(rec, "taskId")));
        if (*rs(rec, "scheme"))
            json_object_set_new(c, "authentication",
                                json_pack("{s:s,s:s}", "scheme", rs(rec, "scheme"), "credentials",
                                          rs(rec, "credentials")));
        return c;
    }
    if (*rs(rec, "scheme")) {
        json_t *a = json_pack("{s:[s]}", "schemes", rs(rec, "scheme"));
        if (*rs(rec, "credentials"))
            json_object_set_new(a, "credentials", json_string(rs(rec, "credentials")));
        json_object_set_new(c, "authentication", a);
    }
    return json_pack("{s:s,s:o}", "taskId", rs(rec, "taskId"), "pushNotificationConfig", c);
}

/* ---- the service ---- */

static void *deliver_main(void *arg);
static struct delivery *delivery_new(const json_t *rec, char *body);

/* A limit of the a2a.push block, or its default. */
static long long limit(const json_t *cfg, const char *key, long long def)
{
    const json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : def;
}

/* The record of config id of task_id (mu held), or NULL. */
static json_t *find_rec(struct at_a2a_push *p, const char *task_id, const char *id)
{
    json_t *arr = at_map_get(&p->tasks, task_id);
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec)
    {
        if (strcmp(rs(rec, "id"), id) == 0)
            return rec;
    }
    return NULL;
}

/* Queue the deliveries the last stop kept (before the thread starts), and
 * forget the file: each is sent to its config as it is now (a deleted
 * config's are dropped). */
static void pending_load(struct at_a2a_push *p)
{
    char *text = NULL;
    size_t len = 0;
    if (!p->pending_path || at_fs_read_file(p->pending_path, PENDING_MAX, &text, &len) != 0)
        return;
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    free(text);
    const json_t *arr = json_object_get(doc, "deliveries");
    size_t i, queued = 0, dropped = 0;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *tid = json_string_value(json_object_get(e, "taskId"));
        const char *cid = json_string_value(json_object_get(e, "configId"));
        const char *body = json_string_value(json_object_get(e, "body"));
        const json_t *rec = tid && cid && body ? find_rec(p, tid, cid) : NULL;
        if (!rec || at_a2a_push_check_url(rs(rec, "url"), p->allowed, NULL, 0) != 0 ||
            p->queued >= (size_t)p->queue_max) {
            dropped++;
            continue;
        }
        struct delivery *dv = delivery_new(rec, at_strdup(body));
        if (p->tail)
            p->tail->next = dv;
        else
            p->head = dv;
        p->tail = dv;
        p->queued++;
        queued++;
    }
    if (!doc)
        at_warn("a2a", "%s: not JSON (%s): its deliveries are dropped", p->pending_path, je.text);
    else if (queued || dropped)
        at_info("a2a",
                "push notifications: %zu deliveries kept at the last stop are sent again (%zu "
                "dropped: their config is gone or not allowed)",
                queued, dropped);
    json_decref(doc);
    if (unlink(p->pending_path) != 0)
        at_warn("a2a", "cannot remove %s: the next start sends its deliveries again",
                p->pending_path);
}

/* Keep what is still queued (the thread has stopped): one file, written
 * atomically, mode 0600 (bodies are task updates). */
static void pending_save(struct at_a2a_push *p)
{
    if (!p->pending_path || !p->head)
        return;
    json_t *arr = json_array();
    for (struct delivery *dv = p->head; dv; dv = dv->next)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "taskId", dv->task_id, "configId",
                                             dv->cfg_id, "body", dv->body));
    json_t *doc = json_pack("{s:i,s:o}", "version", 1, "deliveries", arr);
    char *text = at_json_dumps(doc);
    json_decref(doc);
    int rc = at_fs_write_atomic(p->pending_path, text, strlen(text), 0600);
    free(text);
    if (rc)
        at_warn("a2a",
                "push notifications: %zu deliveries still queued at shutdown are lost: "
                "cannot write %s: %s",
                p->queued, p->pending_path, at_err_msg(rc));
    else
        at_info("a2a",
                "push notifications: %zu deliveries still queued at shutdown are kept for the "
                "next start",
                p->queued);
}

int at_a2a_push_new(const struct at_a2a_push_cfg *cfg, struct at_a2a_push **out, struct at_diag *d)
{
    struct at_a2a_push *p = at_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->wmu, NULL);
    pthread_cond_init(&p->cv, NULL);
    at_map_init(&p->tasks);
    p->per_task = limit(cfg->config, "per_task", AT_A2A_PUSH_PER_TASK);
    p->max_configs = limit(cfg->config, "max_configs", AT_A2A_PUSH_MAX);
    p->queue_max = limit(cfg->config, "queue_max", AT_A2A_PUSH_QUEUE);
    p->attempts = limit(cfg->config, "attempts", AT_A2A_PUSH_ATTEMPTS);
    p->backoff_ms = limit(cfg->config, "backoff_ms", AT_A2A_PUSH_BACKOFF_MS);
    p->timeout_ms = limit(cfg->config, "timeout_ms", AT_A2A_PUSH_TIMEOUT_MS);
    const json_t *hosts = json_object_get(cfg->config, "allowed_hosts");
    if (json_is_array(hosts))
        p->allowed = json_deep_copy(hosts);
    if (cfg->data_dir)
        p->pending_path = at_fs_join(cfg->data_dir, PENDING_FILE);
    const char *db = cfg->db;
    int rc = at_pushstore_open(db, &p->store, d);
    json_t *all = NULL;
    if (rc == 0 && (rc = at_pushstore_load(p->store, &all)) != 0)
        at_diag_set(d, rc, db, 0, 0, "cannot read the A2A push notification configs");
    if (rc) {
        at_a2a_push_free(p);
        return rc;
    }
    size_t i;
    json_t *rec;
    json_array_foreach(all, i, rec)
    {
        const char *tid = rs(rec, "taskId");
        if (!*tid || !*rs(rec, "id"))
            continue;
        json_t *arr = at_map_get(&p->tasks, tid);
        if (!arr) {
            arr = json_array();
            at_map_put(&p->tasks, tid, arr);
        }
        json_array_append(arr, rec);
        p->nconfigs++;
    }
    json_decref(all);
    pending_load(p);
    if (pthread_create(&p->thread, NULL, deliver_main, p) != 0) {
        at_diag_set(d, AT_EINTERNAL, NULL, 0, 0, "cannot start the A2A push thread");
        at_a2a_push_free(p);
        return AT_EINTERNAL;
    }
    p->started = 1;
    *out = p;
    return 0;
}

void at_a2a_push_free(struct at_a2a_push *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        pending_save(p);
    }
    while (p->head) {
        struct delivery *dv = p->head;
        p->head = dv->next;
        delivery_free(dv);
    }
    size_t it = 0;
    void *v;
    while (at_map_next(&p->tasks, &it, NULL, &v))
        json_decref(v);
    at_map_release(&p->tasks);
    at_pushstore_close(p->store);
    json_decref(p->allowed);
    free(p->pending_path);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->wmu);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

json_t *at_a2a_push_parse(const char *task_id, enum at_a2a_ver ver, const json_t *params, char *why,
                          size_t n)
{
    const json_t *c =
        ver == AT_A2A_V10 ? params : json_object_get(params, "pushNotificationConfig");
    if (!json_is_object(c)) {
        snprintf(why, n, "%s must be an object",
                 ver == AT_A2A_V10 ? "params" : "params.pushNotificationConfig");
        return NULL;
    }
    const char *url = json_string_value(json_object_get(c, "url"));
    if (at_a2a_push_check_url(url, NULL, why, n))
        return NULL;
    const json_t *jid = json_object_get(c, "id");
    const json_t *jtok = json_object_get(c, "token");
    if ((jid && !json_is_string(jid)) || (jtok && !json_is_string(jtok))) {
        snprintf(why, n, "the push notification config's id and token must be strings");
        return NULL;
    }
    const char *id = json_string_value(jid), *token = json_string_value(jtok);
    char gen[AT_ID_MAX];
    if (!id || !*id) {
        at_id_new("push", gen);
        id = gen;
    }
    if (!header_ok(id, ID_MAX, 0) || strchr(id, '/')) {
        snprintf(why, n,
                 "the push notification config id must be 1..%d printable characters "
                 "without '/'",
                 ID_MAX);
        return NULL;
    }
    if (token && *token && !header_ok(token, TOKEN_MAX, 0)) {
        snprintf(why, n, "the push notification token must be 1..%d printable ASCII characters",
                 TOKEN_MAX);
        return NULL;
    }
    const json_t *auth = json_object_get(c, "authentication");
    const char *scheme = NULL, *cred = NULL;
    if (auth && !json_is_null(auth)) {
        if (!json_is_object(auth)) {
            snprintf(why, n, "authentication must be an object");
            return NULL;
        }
        if (ver == AT_A2A_V10) {
            scheme = json_string_value(json_object_get(auth, "scheme"));
        } else {
            const json_t *ss = json_object_get(auth, "schemes");
            if (json_is_array(ss) && json_array_size(ss) > 1) {
                snprintf(why, n,
                         "authentication.schemes: one scheme only (several: not "
                         "supported yet)");
                return NULL;
            }
            scheme = json_string_value(json_array_get(ss, 0));
        }
        cred = json_string_value(json_object_get(auth, "credentials"));
        if (!scheme || !header_ok(scheme, SCHEME_MAX, 1)) {
            snprintf(why, n, "authentication needs a scheme (an HTTP auth scheme such as Bearer)");
            return NULL;
        }
        if (!cred || !header_ok(cred, CRED_MAX, 0)) {
            snprintf(why, n,
                     "authentication needs credentials (1..%d printable ASCII characters): Atlas "
                     "sends them as Authorization: SCHEME CREDENTIALS",
                     CRED_MAX);
            return NULL;
        }
    }
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:I}", "taskId", task_id, "id", id, "url", url, "version",
                  ver == AT_A2A_V10 ? "1.0" : "0.3", "createdMs", (json_int_t)at_wall_ms());
    if (token && *token)
        json_object_set_new(rec, "token", json_string(token));
    if (scheme) {
        json_object_set_new(rec, "scheme", json_string(scheme));
        json_object_set_new(rec, "credentials", json_string(cred));
    }
    return rec;
}

int at_a2a_push_set(struct at_a2a_push *p, const char *task_id, enum at_a2a_ver ver,
                    const json_t *params, json_t **out, char *why, size_t n)
{
    *out = NULL;
    json_t *rec = at_a2a_push_parse(task_id, ver, params, why, n);
    if (!rec)
        return AT_A2A_EPARAMS;
    const char *id = rs(rec, "id");
    /* only set and delete change the map, under wmu: what is read here
     * holds across the store write, made without mu (the engine's loop
     * takes mu and must not wait on the disk) */
    pthread_mutex_lock(&p->wmu);
    pthread_mutex_lock(&p->mu);
    json_t *arr = at_map_get(&p->tasks, task_id);
    size_t at = (size_t)-1;
    size_t i;
    json_t *old;
    json_array_foreach(arr, i, old)
    {
        if (strcmp(rs(old, "id"), id) == 0)
            at = i;
    }
    size_t total = p->nconfigs;
    pthread_mutex_unlock(&p->mu);
    int rc = 0;
    if (at_a2a_push_check_url(rs(rec, "url"), p->allowed, why, n) != 0) {
        rc = AT_A2A_EPARAMS;
    } else if (at == (size_t)-1 && arr && json_array_size(arr) >= (size_t)p->per_task) {
        snprintf(why, n,
                 "task %s already has %lld push notification configs (the limit, "
                 "a2a.push.per_task)",
                 task_id, p->per_task);
        rc = AT_A2A_EPARAMS;
    } else if (at == (size_t)-1 && total >= (size_t)p->max_configs) {
        snprintf(why, n,
                 "atlasd holds %lld push notification configs (the limit, a2a.push.max_configs): "
                 "delete some",
                 p->max_configs);
        rc = AT_A2A_EINTERNAL;
    } else {
        char *doc = at_json_dumps(rec);
        int src = at_pushstore_put(p->store, task_id, id,
                                   json_integer_value(json_object_get(rec, "createdMs")), doc);
        free(doc);
        if (src) {
            snprintf(why, n, "the push notification config could not be stored: %s",
                     at_err_msg(src));
            rc = AT_A2A_EINTERNAL;
        } else {
            pthread_mutex_lock(&p->mu);
            if (!arr) {
                arr = json_array();
                at_map_put(&p->tasks, task_id, arr);
            }
            if (at != (size_t)-1) {
                json_array_set(arr, at, rec);
            } else {
                json_array_append(arr, rec);
                p->nconfigs++;
            }
            pthread_mutex_unlock(&p->mu);
            *out = at_a2a_push_shape(rec, ver);
        }
    }
    pthread_mutex_unlock(&p->wmu);
    json_decref(rec);
    return rc;
}

json_t *at_a2a_push_get(struct at_a2a_push *p, const char *task_id, const char *id,
                        enum at_a2a_ver ver)
{
    json_t *res = NULL;
    pthread_mutex_lock(&p->mu);
    json_t *arr = at_map_get(&p->tasks, task_id);
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec)
    {
        if (!id || !*id || strcmp(rs(rec, "id"), id) == 0) {
            res = at_a2a_push_shape(rec, ver);
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return res;
}

json_t *at_a2a_push_list(struct at_a2a_push *p, const char *task_id, enum at_a2a_ver ver)
{
    json_t *res = json_array();
    pthread_mutex_lock(&p->mu);
    json_t *arr = at_map_get(&p->tasks, task_id);
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec)
    {
        json_array_append_new(res, at_a2a_push_shape(rec, ver));
    }
    pthread_mutex_unlock(&p->mu);
    return res;
}

int at_a2a_push_delete(struct at_a2a_push *p, const char *task_id, const char *id)
{
    pthread_mutex_lock(&p->wmu); /* as in set: the store write without mu */
    pthread_mutex_lock(&p->mu);
    json_t *arr = at_map_get(&p->tasks, task_id);
    size_t at = (size_t)-1;
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec)
    {
        if (strcmp(rs(rec, "id"), id) == 0)
            at = i;
    }
    pthread_mutex_unlock(&p->mu);
    int rc = AT_ENOENT;
    if (at != (size_t)-1) {
        rc = at_pushstore_delete(p->store, task_id, id);
        if (rc == 0 || rc == AT_ENOENT) {
            rc = 0;
            pthread_mutex_lock(&p->mu);
            json_array_remove(arr, at);
            p->nconfigs--;
            if (json_array_size(arr) == 0) {
                at_map_del(&p->tasks, task_id);
                json_decref(arr);
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->wmu);
    return rc;
}

/* ---- deliveries ---- */

/* A delivery of body (stolen) to the config rec. */
static struct delivery *delivery_new(const json_t *rec, char *body)
{
    struct delivery *dv = at_calloc(1, sizeof(*dv));
    dv->cfg_id = at_strdup(rs(rec, "id"));
    dv->url = at_strdup(rs(rec, "url"));
    dv->body = body;
    snprintf(dv->task_id, sizeof(dv->task_id), "%s", rs(rec, "taskId"));
    if (*rs(rec, "scheme"))
        dv->header = at_asprintf("Authorization: %s %s", rs(rec, "scheme"), rs(rec, "credentials"));
    else if (*rs(rec, "token"))
        dv->header = at_asprintf("X-A2A-Notification-Token: %s", rs(rec, "token"));
    return dv;
}

/* Queue one POST (mu held); body is stolen. */
static void enqueue(struct at_a2a_push *p, const json_t *rec, char *body)
{
    if (p->queued >= (size_t)p->queue_max) {
        at_warn("a2a",
                "push notifications: the queue is full (%lld, a2a.push.queue_max): an update of "
                "task %s to %s is dropped",
                p->queue_max, rs(rec, "taskId"), rs(rec, "url"));
        free(body);
        return;
    }
    if (p->allowed && at_a2a_push_check_url(rs(rec, "url"), p->allowed, NULL, 0) != 0) {
        /* a config kept from before a2a.push.allowed_hosts said otherwise */
        at_warn("a2a",
                "push notifications: an update of task %s to %s is dropped: the host is not in "
                "a2a.push.allowed_hosts",
                rs(rec, "taskId"), rs(rec, "url"));
        free(body);
        return;
    }
    struct delivery *dv = delivery_new(rec, body);
    if (p->tail)
        p->tail->next = dv;
    else
        p->head = dv;
    p->tail = dv;
    p->queued++;
}

void at_a2a_push_notify(struct at_a2a_push *p, const struct at_a2a_task *t, int final)
{
    if (!p || !t || !t->id)
        return;
    pthread_mutex_lock(&p->mu);
    json_t *arr = at_map_get(&p->tasks, t->id);
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec)
    {
        enum at_a2a_ver ver = strcmp(rs(rec, "version"), "0.3") == 0 ? AT_A2A_V03 : AT_A2A_V10;
        if (ver == AT_A2A_V03) {
            /* A2A 0.3 §9.5: the Task object */
            json_t *task = at_a2a_task_json(t, ver);
            enqueue(p, rec, at_json_dumps(task));
            json_decref(task);
            continue;
        }
        if (t->output) {
            json_t *a = at_a2a_event_artifact(t, ver);
            enqueue(p, rec, at_json_dumps(a));
            json_decref(a);
        }
        json_t *s = at_a2a_event_status(t, final, ver);
        enqueue(p, rec, at_json_dumps(s));
        json_decref(s);
    }
    if (arr)
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static const char *error_detail(const json_t *error)
{
    const char *s = json_string_value(json_object_get(error, "detail"));
    return s ? s : json_string_value(json_object_get(error, "title"));
}

/* The engine's events (loop thread): states, and the questions of
 * agents that ask their caller ("input"). */
static void on_event(void *arg, const struct at_job_rec *rec, const char *event, json_t *data)
{
    struct at_a2a_push *p = arg;
    int input = strcmp(event, "input") == 0;
    if (!input && strcmp(event, "state") != 0)
        return;
    pthread_mutex_lock(&p->mu);
    int has = at_map_get(&p->tasks, rec->id) != NULL;
    pthread_mutex_unlock(&p->mu);
    if (!has)
        return;
    const char *ctx = json_string_value(
        json_object_get(json_object_get(json_object_get(rec->meta, "event"), "a2a"), "contextId"));
    struct at_a2a_task t = {
        .id = rec->id, .context_id = ctx, .updated_ms = at_wall_ms(), .agent = rec->agent};
    /* data is shared with the engine's other subscribers: copies only */
    json_t *copy = json_deep_copy(data);
    int final = 0;
    if (input) {
        const char *q = json_string_value(json_object_get(copy, "message"));
        t.job_state =
            json_is_true(json_object_get(copy, "answered")) ? "running" : "input_required";
        t.detail = strcmp(t.job_state, "input_required") == 0 ? (q ? q : "input required") : NULL;
    } else {
        t.job_state = json_string_value(json_object_get(copy, "state"));
        if (!t.job_state || !at_a2a_state(t.job_state, AT_A2A_V10)) {
            json_decref(copy);
            return;
        }
        final = strcmp(t.job_state, "completed") == 0 || strcmp(t.job_state, "failed") == 0 ||
                strcmp(t.job_state, "cancelled") == 0;
        if (strcmp(t.job_state, "completed") == 0)
            t.output = json_object_get(copy, "output");
        else if (final)
            t.detail = error_detail(json_object_get(copy, "error"));
    }
    at_a2a_push_notify(p, &t, final);
    json_decref(copy);
}

struct at_engine_observer at_a2a_push_observer(struct at_a2a_push *p)
{
    struct at_engine_observer o = {.on_event = on_event, .arg = p};
    return o;
}

static size_t discard(char *ptr, size_t sz, size_t n, void *arg)
{
    (void)ptr;
    (void)arg;
    return sz * n;
}

/* One POST: 0 when the receiver answered 2xx. */
static int post_once(CURL *h, const struct delivery *dv, long timeout_ms, long *status, char *err,
                     size_t n)
{
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/a2a+json");
    if (dv->header)
        hd = curl_slist_append(hd, dv->header);
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, dv->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, dv->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(dv->body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "atlasd-a2a-push/" ATLAS_VERSION);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hd);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (cc != CURLE_OK) {
        snprintf(err, n, "%s", curl_easy_strerror(cc));
        return -1;
    }
    if (*status < 200 || *status > 299) {
        snprintf(err, n, "HTTP %ld", *status);
        return -1;
    }
    return 0;
}

/* Wait until ms from now or stop (mu held).  Returns p->stop. */
static int wait_ms(struct at_a2a_push *p, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &ts) == 0) {
    }
    return p->stop;
}

/* The delivery thread: FIFO, each delivery to its end (delivered or out
 * of attempts) before the next, so a task's updates keep their order. */
static void *deliver_main(void *arg)
{
    struct at_a2a_push *p = arg;
    CURL *h = NULL; /* made at the first delivery: an idle atlasd does not load libcurl */
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!p->head) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        struct delivery *dv = p->head;
        p->head = dv->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->inflight = dv;
        long backoff = (long)p->backoff_ms;
        int keep = 0; /* stopped before it was sent: back to the head, for the next start */
        for (long long attempt = 1;; attempt++) {
            pthread_mutex_unlock(&p->mu);
            char err[200] = "libcurl could not be loaded";
            long status = 0;
            if (!h)
                h = curl_easy_init();
            int rc = h ? post_once(h, dv, (long)p->timeout_ms, &status, err, sizeof(err)) : -1;
            pthread_mutex_lock(&p->mu);
            if (rc == 0)
                break;
            if (attempt >= p->attempts) {
                at_warn("a2a", "push notification of task %s to %s failed after %lld tries: %s",
                        dv->task_id, dv->url, attempt, err);
                break;
            }
            if (wait_ms(p, backoff)) {
                keep = 1;
                break;
            }
            if (backoff < 3600000L)
                backoff *= 2;
        }
        p->inflight = NULL;
        if (keep) {
            dv->next = p->head;
            p->head = dv;
            if (!p->tail)
                p->tail = dv;
            p->queued++;
        } else {
            delivery_free(dv);
        }
    }
    pthread_mutex_unlock(&p->mu);
    curl_easy_cleanup(h);
    return NULL;
}

size_t at_a2a_push_pending(struct at_a2a_push *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->queued + (p->inflight ? 1 : 0);
    pthread_mutex_unlock(&p->mu);
    return n;
}
