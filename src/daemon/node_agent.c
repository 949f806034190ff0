/*
 * node_agent.c - `atlasd node` (node_agent.h): join a control plane, take
 * its assignments over one SSE stream, run them here, report back.
 */
#include "daemon/node_agent.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/map.h"
#include "daemon/daemon.h"
#include "dist/artifact.h"
#include "dist/client.h"
#include "exec/engine.h"
#include "http/api.h"
#include "sched/hub.h"
#include "sched/sched.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BODY (64u << 20)
#define CACHE_DEFAULT_MB 1024.0
#define USES_FILE "atlas-uses.json"

struct msgq {
    json_t **v;
    int n, cap;
};

/* a job this node runs for the control plane */
struct nrun {
    struct at_node_agent *na;
    char cp_id[AT_ID_MAX];
    long long dispatch;
    char local_id[AT_ID_MAX];
    char ref[300]; /* the agent version it runs (never pruned meanwhile) */
    struct nrun *next;
};

struct at_node_agent {
    struct at_daemon *dmn;
    char *url, *name, *token;
    atomic_int stop;
    atomic_int joined;
    atomic_int heartbeat_ms;
    pthread_t link, sender, worker;
    int have_link, have_sender, have_worker;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_send;
    struct msgq work;   /* assignments to handle (worker) */
    struct msgq events; /* reports to send (sender) */
    struct nrun *runs;  /* under mu */
    int running;
    /* DATA/node-cache: the versions fetched into it, "name:version" ->
     * {manifest, content, last_used_ms} (worker thread only, saved to
     * USES_FILE after a fetch or a prune and at the stop) */
    char *cache_root;
    json_t *uses;
    double cache_max_bytes; /* node.cache.max_mb */
    int warned_full;
};

static void q_push(struct msgq *q, json_t *m)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 16;
        q->v = at_realloc(q->v, (size_t)q->cap * sizeof(*q->v));
    }
    q->v[q->n++] = m;
}

static void q_clear(struct msgq *q)
{
    for (int i = 0; i < q->n; i++)
        json_decref(q->v[i]);
    free(q->v);
    memset(q, 0, sizeof(*q));
}

static void nap_ms(struct at_node_agent *na, int ms)
{
    for (int t = 0; t < ms && !atomic_load(&na->stop); t += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- HTTP ---- */

static size_t to_buf(char *p, size_t sz, size_t n, void *arg)
{
    struct at_buf *b = arg;
    if (at_buf_append(b, p, sz * n))
        return 0;
    return sz * n;
}

static struct curl_slist *headers(struct at_node_agent *na, int json)
{
    char auth[600];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", na->token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    if (json)
        h = curl_slist_append(h, "Content-Type: application/json");
    return h;
}

/* POST body (borrowed) to base+path: the HTTP status (0: no answer), *out
 * the JSON answer.  reuse, when not NULL, is the calling thread's handle
 * (made on first use, freed by its owner): its connection to the control
 * plane stays open between calls (docs/performance.md "Dispatch to a
 * node": a new connection per report was most of the added latency). */
static long post(struct at_node_agent *na, const char *path, const json_t *body, json_t **out,
                 CURL **reuse)
{
    if (out)
        *out = NULL;
    CURL *c = reuse && *reuse ? *reuse : curl_easy_init();
    if (!c)
        return 0;
    if (reuse && *reuse)
        curl_easy_reset(c); /* the options go, the connection stays */
    else if (reuse)
        *reuse = c;
    char *url = at_asprintf("%s%s", na->url, path);
    char *text = json_dumps(body, JSON_COMPACT);
    struct at_buf b;
    at_buf_init(&b, MAX_BODY);
    struct curl_slist *h = headers(na, 1);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (out && b.len)
        *out = json_loadb(b.p, b.len, 0, NULL);
    curl_slist_free_all(h);
    if (!reuse)
        curl_easy_cleanup(c);
    at_buf_release(&b);
    free(text);
    free(url);
    return status;
}

/* ---- joining and the stream (link thread) ---- */

static json_t *profile(struct at_node_agent *na)
{
    struct at_sched_node n;
    if (at_sched_get_node(na->dmn->sched, na->name, &n)) {
        at_sched_node_release(&n);
        return json_object();
    }
    json_t *p = at_sched_node_to_json(&n);
    at_sched_node_release(&n);
    json_object_del(p, "reservations");
    json_object_del(p, "allocated");
    json_object_del(p, "status");
    return p;
}

static int join(struct at_node_agent *na)
{
    json_t *body = json_pack("{s:s,s:s,s:o}", "name", na->name, "address", na->dmn->base_url,
                             "profile", profile(na));
    json_t *ans = NULL;
    long st = post(na, "/api/v1/nodes/register", body, &ans, NULL);
    json_decref(body);
    if (st != 200) {
        const char *why = json_string_value(json_object_get(ans, "detail"));
        at_warn("node", "cannot join %s: %s%s%s", na->url,
                st ? "the control plane answered " : "no answer",
                st ? json_string_value(json_object_get(ans, "title")) ? "" : "HTTP error" : "",
                why ? why : "");
        json_decref(ans);
        return -1;
    }
    int hb = (int)json_integer_value(json_object_get(ans, "heartbeat_ms"));
    atomic_store(&na->heartbeat_ms, hb > 0 ? hb : 1000);
    json_decref(ans);
    at_info("node", "joined %s as %s (heartbeat every %d ms)", na->url, na->name,
            atomic_load(&na->heartbeat_ms));
    return 0;
}

struct sse {
    struct at_node_agent *na;
    struct at_buf line, data;
};

static void sse_line(struct sse *s, const char *l, size_t n)
{
    struct at_node_agent *na = s->na;
    if (n == 0) { /* end of an event */
        if (s->data.len) {
            json_t *m = json_loadb(s->data.p, s->data.len, 0, NULL);
            if (json_is_object(m)) {
                pthread_mutex_lock(&na->mu);
                q_push(&na->work, m);
                pthread_cond_signal(&na->cv_work);
                pthread_mutex_unlock(&na->mu);
            } else {
                json_decref(m);
            }
        }
        s->data.len = 0;
        return;
    }
    if (n >= 5 && memcmp(l, "data:", 5) == 0) {
        size_t k = 5;
        if (k < n && l[k] == ' ')
            k++;
        at_buf_append(&s->data, l + k, n - k);
    }
}

static size_t sse_write(char *p, size_t sz, size_t n, void *arg)
{
    struct sse *s = arg;
    size_t len = sz * n;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            size_t ll = s->line.len;
            if (ll && s->line.p[ll - 1] == '\r')
                ll--;
            sse_line(s, s->line.p ? s->line.p : "", ll);
            s->line.len = 0;
        } else {
            at_buf_append(&s->line, p + i, 1);
        }
    }
    return len;
}

static int sse_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct sse *s = arg;
    return atomic_load(&s->na->stop) ? 1 : 0;
}

static void stream(struct at_node_agent *na)
{
    CURL *c = curl_easy_init();
    if (!c)
        return;
    char *url = at_asprintf("%s/api/v1/nodes/%s/stream", na->url, na->name);
    struct curl_slist *h = headers(na, 0);
    h = curl_slist_append(h, "Accept: text/event-stream");
    struct sse s = {.na = na};
    at_buf_init(&s.line, 1u << 20);
    at_buf_init(&s.data, MAX_BODY);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* the control plane writes a comment every 15 s: 40 s of nothing is a dead link */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 40L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (!atomic_load(&na->stop))
        at_warn("node", "the assignment stream from %s ended (%s, HTTP %ld): joining again",
                na->url, curl_easy_strerror(rc), status);
    at_buf_release(&s.line);
    at_buf_release(&s.data);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
}

static void *link_main(void *arg)
{
    struct at_node_agent *na = arg;
    while (!atomic_load(&na->stop)) {
        if (join(na)) {
            nap_ms(na, 500);
            continue;
        }
        atomic_store(&na->joined, 1);
        stream(na);
        atomic_store(&na->joined, 0);
        nap_ms(na, 200);
    }
    return NULL;
}

/* ---- reports (sender thread) ---- */

static void report(struct at_node_agent *na, json_t *ev)
{
    pthread_mutex_lock(&na->mu);
    q_push(&na->events, ev);
    pthread_cond_signal(&na->cv_send);
    pthread_mutex_unlock(&na->mu);
}

static void *sender_main(void *arg)
{
    struct at_node_agent *na = arg;
    int64_t next_hb = 0;
    json_t *retry = NULL; /* events the control plane did not take yet */
    CURL *conn = NULL;    /* this thread's connection to the control plane */
    while (!atomic_load(&na->stop)) {
        pthread_mutex_lock(&na->mu);
        if (na->events.n == 0 && !retry) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            long ms = atomic_load(&na->heartbeat_ms);
            if (ms <= 0 || ms > 1000)
                ms = 1000;
            ts.tv_nsec += (ms % 1000) * 1000000L;
            ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&na->cv_send, &na->mu, &ts);
        }
        json_t *batch = retry ? retry : json_array();
        retry = NULL;
        for (int i = 0; i < na->events.n; i++)
            json_array_append_new(batch, na->events.v[i]);
        na->events.n = 0;
        int running = na->running;
        pthread_mutex_unlock(&na->mu);
        if (atomic_load(&na->stop)) {
            json_decref(batch);
            break;
        }
        if (!atomic_load(&na->joined)) {
            if (json_array_size(batch))
                retry = batch;
            else
                json_decref(batch);
            nap_ms(na, 100);
            continue;
        }
        char path[300];
        if (json_array_size(batch)) {
            snprintf(path, sizeof(path), "/api/v1/nodes/%s/events", na->name);
            json_t *body = json_pack("{s:O}", "events", batch);
            long st = post(na, path, body, NULL, &conn);
            json_decref(body);
            if (st == 200) {
                json_decref(batch);
                next_hb = at_now_ms() + atomic_load(&na->heartbeat_ms);
            } else {
                retry = batch; /* again once the control plane answers */
                nap_ms(na, 200);
            }
            continue;
        }
        json_decref(batch);
        if (at_now_ms() < next_hb)
            continue;
        next_hb = at_now_ms() + atomic_load(&na->heartbeat_ms);
        json_t *health = at_hub_local_health();
        json_object_set_new(health, "running", json_integer(running));
        json_t *body = json_pack("{s:o}", "health", health);
        snprintf(path, sizeof(path), "/api/v1/nodes/%s/heartbeat", na->name);
        long st = post(na, path, body, NULL, &conn);
        json_decref(body);
        if (st == 404)
            at_warn("node", "the control plane does not know this node: joining again");
    }
    json_decref(retry);
    if (conn)
        curl_easy_cleanup(conn);
    return NULL;
}

/* ---- assignments (worker thread) ---- */

static struct nrun *run_take(struct at_node_agent *na, const char *cp_id, long long dispatch)
{
    pthread_mutex_lock(&na->mu);
    struct nrun **pp = &na->runs, *r = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->cp_id, cp_id) == 0 && (dispatch < 0 || (*pp)->dispatch == dispatch)) {
            r = *pp;
            *pp = r->next;
            na->running--;
            break;
        }
    pthread_mutex_unlock(&na->mu);
    return r;
}

static json_t *result_event(const char *cp_id, long long dispatch, int code, const char *detail)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s?}", "type", "result", "job_id", cp_id, "dispatch",
                     (json_int_t)dispatch, "code", code ? at_err_slug(code) : "ok", "detail",
                     detail);
}

/* the local job ended (writer thread): its result goes back */
static void on_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    (void)store_rc;
    struct nrun *r = arg;
    struct at_node_agent *na = r->na;
    json_t *ev;
    if (rec->state == AT_JOB_COMPLETED) {
        ev = result_event(r->cp_id, r->dispatch, 0, NULL);
        json_object_set_new(ev, "output", rec->output ? json_deep_copy(rec->output) : json_null());
    } else {
        const char *slug = json_string_value(json_object_get(rec->error, "code"));
        const char *detail = json_string_value(json_object_get(rec->error, "detail"));
        int code = slug ? at_err_from_slug(slug) : AT_ECANCELED;
        ev = result_event(r->cp_id, r->dispatch, code ? code : AT_EINTERNAL, detail);
    }
    json_t *usage = json_object_get(rec->meta, "usage");
    if (json_is_object(usage))
        json_object_set_new(ev, "usage", json_deep_copy(usage));
    json_object_set_new(ev, "local_job", json_string(rec->id));
    struct nrun *mine = run_take(na, r->cp_id, r->dispatch);
    report(na, ev);
    free(mine);
}

/* the local job's logs and progress (engine loop thread) go back too */
static void on_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct nrun *r = arg;
    if (strcmp(event, "log") == 0) {
        const char *text = json_string_value(json_object_get(data, "text"));
        const char *st = json_string_value(json_object_get(data, "stream"));
        if (text)
            report(r->na,
                   json_pack("{s:s,s:s,s:I,s:s,s:s}", "type", "log", "job_id", r->cp_id, "dispatch",
                             (json_int_t)r->dispatch, "stream", st ? st : "stderr", "text", text));
    } else if (strcmp(event, "progress") == 0 && json_is_object(data)) {
        report(r->na,
               json_pack("{s:s,s:s,s:I,s:o}", "type", "progress", "job_id", r->cp_id, "dispatch",
                         (json_int_t)r->dispatch, "progress", json_deep_copy(data)));
    }
}

/* The control plane's registry (host[:port]) and scheme from its URL. */
static int cp_registry(const char *url, char *host, size_t n, char *scheme, size_t sn)
{
    const char *p = strstr(url, "://");
    if (!p || (size_t)(p - url) >= sn)
        return AT_EINVAL;
    snprintf(scheme, sn, "%.*s", (int)(p - url), url);
    p += 3;
    size_t len = strcspn(p, "/");
    if (len == 0 || len >= n)
        return AT_EINVAL;
    snprintf(host, n, "%.*s", (int)len, p);
    return 0;
}

/* Fetch agent name:version from the control plane's registry (/v2/, with
 * this node's token) into DATA/node-cache (an OCI image layout: blobs by
 * digest, so what was fetched once is not fetched again), check that the
 * unpacked files are the content digest the assignment names, and
 * register them here.  Worker thread only (the only user of the cache). */
static int fetch_agent(struct at_node_agent *na, const char *name, const char *version,
                       const char *digest, char *why, size_t wn)
{
    char host[256], scheme[16], mdigest[AT_OCI_DIGEST_MAX], content[AT_DIGEST_MAX];
    char *root = at_strdup(na->cache_root);
    char *work = at_asprintf("%s/unpack", root);
    char *dir = NULL, *mtext = NULL;
    size_t mlen = 0;
    json_t *sigs = NULL, *artifact = NULL;
    struct at_oci_client *c = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int downloaded = 0, rc = cp_registry(na->url, host, sizeof(host), scheme, sizeof(scheme));
    if (rc) {
        snprintf(why, wn, "the control plane's URL %s names no host", na->url);
        goto out;
    }
    if ((rc = at_oci_client_new(host, NULL, 0, &c, &d)) ||
        (rc = at_oci_client_use_token(c, scheme, na->token))) {
        snprintf(why, wn, "cannot fetch agent %s:%s: %s", name, version, d.msg);
        goto out;
    }
    if ((rc = at_dist_pull(c, root, name, version, mdigest, &downloaded, &d))) {
        snprintf(why, wn, "cannot fetch agent %s:%s from the control plane %s: %s", name, version,
                 na->url, d.msg);
        goto out;
    }
    if ((rc = at_dist_extract(root, mdigest, work, &dir, content, &d))) {
        snprintf(why, wn, "agent %s:%s from the control plane (%s) does not unpack: %s", name,
                 version, mdigest, d.msg);
        goto out;
    }
    /* the signatures go with the files: the node's own trusted keys and
     * registry.policy judge them as for a pull (docs/distribution.md) */
    if ((rc = at_dist_fetch_signatures(c, root, name, mdigest, &sigs, &d))) {
        snprintf(why, wn, "cannot fetch the signatures of agent %s:%s: %s", name, version, d.msg);
        goto out;
    }
    char *mp = at_layout_blob_path(root, mdigest);
    rc = mp ? at_fs_read_file(mp, AT_OCI_MANIFEST_MAX, &mtext, &mlen) : AT_EINVAL;
    free(mp);
    if (rc) {
        snprintf(why, wn, "cannot read the manifest of agent %s:%s fetched into %s", name, version,
                 root);
        goto out;
    }
    if (digest && strcmp(content, digest) != 0) {
        rc = AT_EINVAL;
        snprintf(why, wn,
                 "agent %s:%s fetched from the control plane has content digest %s, the "
                 "assignment names %s (re-registered meanwhile?): not run",
                 name, version, content, digest);
        goto out;
    }
    char source[700];
    snprintf(source, sizeof(source), "%s/%s@%s", host, name, mdigest);
    artifact =
        json_pack("{s:s%,s:O,s:s}", "manifest", mtext, mlen, "signatures", sigs, "source", source);
    struct at_reg_result res;
    if ((rc = at_http_register_checked(&na->dmn->api, dir, name, 1, artifact, &res, &d))) {
        snprintf(why, wn, "cannot register agent %s:%s on node %s: %s", name, version, na->name,
                 d.msg);
        goto out;
    }
    at_info("node",
            "agent %s:%s fetched from the control plane (manifest %s, %d blob(s) "
            "downloaded, content %s): %s",
            name, version, mdigest, downloaded, content, res.status);
    char ref[300];
    snprintf(ref, sizeof(ref), "%s:%s", name, version);
    json_object_set_new(na->uses, ref,
                        json_pack("{s:s,s:s,s:I}", "manifest", mdigest, "content", content,
                                  "last_used_ms", (json_int_t)at_wall_ms()));
out:
    if (dir) {
        at_fs_remove_tree(dir);
        free(dir);
    }
    json_decref(artifact);
    json_decref(sigs);
    free(mtext);
    at_oci_client_free(c);
    free(work);
    free(root);
    return rc;
}

/* ---- the cache's bound (docs/scheduling.md "The cache") ---- */

static void uses_save(struct at_node_agent *na)
{
    char *p = at_fs_join(na->cache_root, USES_FILE);
    char *text = json_dumps(na->uses, JSON_COMPACT | JSON_SORT_KEYS);
    if (at_fs_mkdir_p(na->cache_root, 0700) != 0 ||
        at_fs_write_atomic(p, text, strlen(text), 0600) != 0)
        at_warn("node", "cannot write %s: the cache's last uses are not kept", p);
    free(text);
    free(p);
}

static void uses_load(struct at_node_agent *na)
{
    char *p = at_fs_join(na->cache_root, USES_FILE);
    json_t *j = at_fs_is_file(p) ? json_load_file(p, 0, NULL) : NULL;
    free(p);
    na->uses = json_is_object(j) ? j : json_object();
    if (!json_is_object(j))
        json_decref(j);
}

/* 1 when a job of this node runs version ref */
static int runs_version(struct at_node_agent *na, const char *ref)
{
    int yes = 0;
    pthread_mutex_lock(&na->mu);
    for (struct nrun *r = na->runs; r && !yes; r = r->next)
        yes = strcmp(r->ref, ref) == 0;
    pthread_mutex_unlock(&na->mu);
    return yes;
}

/* What the cache holds: its blobs, and the registered copy (snapshot and
 * dependency environment, each counted once) of every version in it. */
static double cache_bytes(struct at_node_agent *na)
{
    char *blobs = at_fs_join(na->cache_root, "blobs");
    double total = (double)at_fs_tree_bytes(blobs);
    free(blobs);
    struct at_map seen;
    at_map_init(&seen);
    const char *k;
    json_t *v;
    json_object_foreach(na->uses, k, v)
    {
        struct at_reg_agent *a;
        if (at_registry_resolve(na->dmn->registry, k, &a))
            continue;
        const char *content = json_string_value(json_object_get(v, "content"));
        const char *paths[] = {a->dir, a->env};
        for (int i = 0; i < 2 && content && strcmp(a->digest, content) == 0; i++)
            if (paths[i] && !at_map_get(&seen, paths[i])) {
                at_map_put(&seen, paths[i], (void *)1);
                total += (double)at_fs_tree_bytes(paths[i]);
            }
        at_reg_agent_unref(a);
    }
    at_map_release(&seen);
    return total;
}

/* Blobs that no version in the cache needs go. */
static void cache_sweep(struct at_node_agent *na)
{
    size_t n = json_object_size(na->uses), i = 0;
    const char **keep = at_calloc(n ? n : 1, sizeof(*keep));
    const char *k;
    json_t *v;
    json_object_foreach(na->uses, k, v) keep[i++] =
        json_string_value(json_object_get(v, "manifest"));
    int removed = 0;
    unsigned long long bytes = 0;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_fs_is_dir(na->cache_root) &&
        at_layout_gc(na->cache_root, keep, i, &removed, &bytes, &d) != 0)
        at_warn("node", "cannot collect the cache's blobs: %s", d.msg);
    else if (removed)
        at_debug("node", "cache: %d blob(s) no cached version needs removed (%llu bytes)", removed,
                 bytes);
    free(keep);
}

/* Version ref leaves the cache: its blobs, and its registration here
 * when it is still the content fetched (the registry then collects its
 * snapshot and environment once no process holds them). */
static void cache_evict(struct at_node_agent *na, const char *ref, double total)
{
    char key[300];
    snprintf(key, sizeof(key), "%s", ref); /* ref is a key of uses */
    json_t *rec = json_incref(json_object_get(na->uses, key));
    const char *content = json_string_value(json_object_get(rec, "content"));
    struct at_reg_agent *a;
    int unreg = 0;
    if (at_registry_resolve(na->dmn->registry, key, &a) == 0) {
        unreg = content && strcmp(a->digest, content) == 0;
        at_reg_agent_unref(a);
    }
    int n = 0;
    if (unreg && at_registry_unregister(na->dmn->registry, key, &n) != 0)
        at_warn("node", "cache: cannot unregister %s here", key);
    json_object_del(na->uses, key);
    cache_sweep(na);
    at_info("node",
            "cache: agent %s pruned (least recently used; the cache held %.2f MB, "
            "node.cache.max_mb is %g): fetched again if the control plane assigns it",
            key, total / 1e6, na->cache_max_bytes / 1e6);
    json_decref(rec);
}

/* Keep the cache within node.cache.max_mb: the least recently used
 * versions go first; a running version and keep (the one about to run)
 * never do. */
static void cache_prune(struct at_node_agent *na, const char *keep)
{
    at_registry_gc(na->dmn->registry, 0, NULL); /* what was held at the last prune */
    cache_sweep(na);
    int changed = 0;
    for (;;) {
        double total = cache_bytes(na);
        if (total <= na->cache_max_bytes) {
            na->warned_full = 0;
            break;
        }
        const char *victim = NULL, *k;
        json_int_t oldest = 0;
        json_t *v;
        json_object_foreach(na->uses, k, v)
        {
            if ((keep && strcmp(k, keep) == 0) || runs_version(na, k))
                continue;
            json_int_t t = json_integer_value(json_object_get(v, "last_used_ms"));
            if (!victim || t < oldest) {
                victim = k;
                oldest = t;
            }
        }
        if (!victim) {
            if (!na->warned_full)
                at_warn("node",
                        "cache: %.2f MB is over node.cache.max_mb (%g) but every version in it "
                        "runs or is about to: nothing pruned",
                        total / 1e6, na->cache_max_bytes / 1e6);
            na->warned_full = 1;
            break;
        }
        cache_evict(na, victim, total);
        changed = 1;
    }
    if (changed)
        uses_save(na);
}

/* ref was used now (in memory: saved with the next fetch, prune or stop) */
static void cache_touch(struct at_node_agent *na, const char *ref)
{
    json_t *rec = json_object_get(na->uses, ref);
    if (json_is_object(rec))
        json_object_set_new(rec, "last_used_ms", json_integer(at_wall_ms()));
}

/* The agent of the assignment: fetched from the control plane when this
 * node does not have that version with that digest. */
static int ensure_agent(struct at_node_agent *na, const json_t *agent, char *ref, size_t n,
                        char *why, size_t wn)
{
    const char *name = json_string_value(json_object_get(agent, "name"));
    const char *version = json_string_value(json_object_get(agent, "version"));
    const char *digest = json_string_value(json_object_get(agent, "digest"));
    if (!name || !version) {
        snprintf(why, wn, "the assignment names no agent");
        return AT_EINVAL;
    }
    snprintf(ref, n, "%s:%s", name, version);
    struct at_reg_agent *a;
    if (at_registry_resolve(na->dmn->registry, ref, &a) == 0) {
        int same = !digest || strcmp(a->digest, digest) == 0;
        at_reg_agent_unref(a);
        if (same) {
            cache_touch(na, ref);
            return 0;
        }
    }
    int rc = fetch_agent(na, name, version, digest, why, wn);
    if (rc == 0) {
        cache_prune(na, ref);
        uses_save(na);
    }
    return rc;
}

static void handle_run(struct at_node_agent *na, json_t *m)
{
    const char *cp_id = json_string_value(json_object_get(m, "job_id"));
    long long dispatch = (long long)json_integer_value(json_object_get(m, "dispatch"));
    if (!cp_id)
        return;
    char ref[300], why[800];
    int rc = ensure_agent(na, json_object_get(m, "agent"), ref, sizeof(ref), why, sizeof(why));
    if (rc) {
        report(na, result_event(cp_id, dispatch, rc, why));
        return;
    }
    struct nrun *r = at_calloc(1, sizeof(*r));
    r->na = na;
    snprintf(r->cp_id, sizeof(r->cp_id), "%s", cp_id);
    r->dispatch = dispatch;
    snprintf(r->ref, sizeof(r->ref), "%s", ref);
    pthread_mutex_lock(&na->mu);
    r->next = na->runs;
    na->runs = r;
    na->running++;
    pthread_mutex_unlock(&na->mu);
    struct at_submit s = {
        .agent = ref,
        .input = json_object_get(m, "input"),
        .priority = (int)json_integer_value(json_object_get(m, "priority")),
        .source = "node",
        .on_done = on_done,
        .done_arg = r,
        .on_event = on_event,
        .event_arg = r,
    };
    struct at_job *j = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    /* the nrun is freed by on_done, which may run before submit returns */
    pthread_mutex_lock(&na->mu);
    rc = at_engine_submit(na->dmn->engine, &s, &j, &d);
    if (rc == 0)
        snprintf(r->local_id, sizeof(r->local_id), "%s", j->rec.id);
    pthread_mutex_unlock(&na->mu);
    if (j)
        at_job_unref(j);
    if (rc) {
        free(run_take(na, cp_id, dispatch));
        snprintf(why, sizeof(why), "node %s refused the run: %s", na->name, d.msg);
        report(na, result_event(cp_id, dispatch, rc, why));
        return;
    }
    at_info("node", "job %s (dispatch %lld) runs here as %s", cp_id, dispatch, r->local_id);
}

static void handle_cancel(struct at_node_agent *na, json_t *m)
{
    const char *cp_id = json_string_value(json_object_get(m, "job_id"));
    char local[AT_ID_MAX] = "";
    pthread_mutex_lock(&na->mu);
    for (struct nrun *r = na->runs; cp_id && r; r = r->next)
        if (strcmp(r->cp_id, cp_id) == 0)
            snprintf(local, sizeof(local), "%s", r->local_id);
    pthread_mutex_unlock(&na->mu);
    if (local[0])
        at_engine_cancel(na->dmn->engine, local, "cancelled by the control plane");
}

static void *worker_main(void *arg)
{
    struct at_node_agent *na = arg;
    cache_prune(na, NULL); /* node.cache.max_mb may be lower than at the last start */
    pthread_mutex_lock(&na->mu);
    while (!atomic_load(&na->stop)) {
        if (na->work.n == 0) {
            pthread_cond_wait(&na->cv_work, &na->mu);
            continue;
        }
        json_t *m = na->work.v[0];
        memmove(na->work.v, na->work.v + 1, (size_t)(na->work.n - 1) * sizeof(json_t *));
        na->work.n--;
        pthread_mutex_unlock(&na->mu);
        const char *type = json_string_value(json_object_get(m, "type"));
        if (type && strcmp(type, "run") == 0)
            handle_run(na, m);
        else if (type && strcmp(type, "cancel") == 0)
            handle_cancel(na, m);
        else if (type && strcmp(type, "removed") == 0)
            at_warn("node", "the control plane removed this node (atlas node rm): it takes no "
                            "more work until it joins again");
        json_decref(m);
        pthread_mutex_lock(&na->mu);
    }
    pthread_mutex_unlock(&na->mu);
    return NULL;
}

int at_node_agent_start(struct at_daemon *dmn, const char *url, const char *name, const char *token,
                        struct at_node_agent **out, struct at_diag *d)
{
    *out = NULL;
    if (!url || strncmp(url, "http", 4) != 0 || !name || !*name || !token || !*token) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                    "atlasd node needs --join URL (http[s]://...), --name NAME and --token T");
        return AT_EINVAL;
    }
    struct at_node_agent *na = at_calloc(1, sizeof(*na));
    na->dmn = dmn;
    na->url = at_strdup(url);
    size_t ul = strlen(na->url);
    while (ul && na->url[ul - 1] == '/')
        na->url[--ul] = 0;
    na->name = at_strdup(name);
    na->token = at_strdup(token);
    na->cache_root = at_fs_join(dmn->data_dir, "node-cache");
    uses_load(na);
    const json_t *mb = json_object_get(
        json_object_get(json_object_get(dmn->config->json, "node"), "cache"), "max_mb");
    na->cache_max_bytes = (json_is_number(mb) ? json_number_value(mb) : CACHE_DEFAULT_MB) * 1e6;
    atomic_init(&na->heartbeat_ms, 1000);
    pthread_mutex_init(&na->mu, NULL);
    pthread_cond_init(&na->cv_work, NULL);
    pthread_cond_init(&na->cv_send, NULL);
    na->have_worker = pthread_create(&na->worker, NULL, worker_main, na) == 0;
    na->have_sender = pthread_create(&na->sender, NULL, sender_main, na) == 0;
    na->have_link = pthread_create(&na->link, NULL, link_main, na) == 0;
    if (!na->have_worker || !na->have_sender || !na->have_link) {
        at_node_agent_stop(na);
        at_node_agent_free(na);
        at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the node agent's threads");
        return AT_EIO;
    }
    *out = na;
    return 0;
}

void at_node_agent_stop(struct at_node_agent *na)
{
    if (!na)
        return;
    atomic_store(&na->stop, 1);
    pthread_mutex_lock(&na->mu);
    pthread_cond_broadcast(&na->cv_work);
    pthread_cond_broadcast(&na->cv_send);
    pthread_mutex_unlock(&na->mu);
    if (na->have_link)
        pthread_join(na->link, NULL);
    if (na->have_sender)
        pthread_join(na->sender, NULL);
    if (na->have_worker)
        pthread_join(na->worker, NULL);
    na->have_worker = 0;
    if (json_object_size(na->uses))
        uses_save(na); /* the last uses since the last fetch */
}

void at_node_agent_free(struct at_node_agent *na)
{
    if (!na)
        return;
    q_clear(&na->work);
    q_clear(&na->events);
    while (na->runs) {
        struct nrun *r = na->runs;
        na->runs = r->next;
        free(r);
    }
    json_decref(na->uses);
    free(na->cache_root);
    free(na->url);
    free(na->name);
    free(na->token);
    pthread_mutex_destroy(&na->mu);
    pthread_cond_destroy(&na->cv_work);
    pthread_cond_destroy(&na->cv_send);
    free(na);
}
