/*
 * service.c - registered triggers, firings and deliveries (service.h).
 *
 * Locks, in the order they may nest (docs/internals/triggers.md):
 *   mu       the table of triggers (byname, bypath) and the entries' fields;
 *            held across the rare kv writes of registration, never across a
 *            firing's record
 *   fmu      the firing state of each trigger (struct tstate: seq, the last
 *            cron second, idempotency keys, firings in flight) and the
 *            entries' paused/removed flags (written under both); fcv signals
 *            a firing that ended.  Never held across a wait on the writer.
 *   done_mu  running jobs of cron triggers, conversations, emitters
 * A firing reserves its seq (and key) under fmu, then its row is written
 * through the writer with no lock held, so concurrent firings share one
 * group commit.  The writer thread (firing and job completions) takes fmu
 * and done_mu, never mu.
 */
#include "trigger/service.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/id.h"
#include "base/log.h"
#include "base/map.h"
#include "chain/chain.h"
#include "contract/yaml.h"
#include "json/json.h"
#include "monitor/metrics.h"
#include "trigger/chat.h"

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define GRACE_S 60        /* a cron firing later than this counts as missed */
#define MAX_IDEM 1000     /* idempotency keys kept: those of the last 1000 firings */
#define MAX_SEEN 4096     /* signatures remembered for replay refusal */
#define MAX_CONV_TURNS 50 /* history kept per conversation */
#define MAX_CONVS 1000
#define MAX_REPLIES 1024 /* slack/discord answers waiting to be posted */
#define REPLY_TIMEOUT_MS 10000
#define SLACK_TEXT_MAX 39000 /* Slack cuts messages at 40,000 characters */
#define DISCORD_TEXT_MAX 2000

struct reply_item {
    struct reply_item *next;
    char *trigger;
    char *url;
    char *auth; /* "Authorization: Bearer ..." or NULL */
    char *body;
};

struct idem_slot {
    char job[AT_ID_MAX];
    int64_t seq;
    int pending; /* its firing's record is not committed yet */
};

/* A trigger's firing state, by name: it outlives re-registrations (which
 * keep the firings) and is emptied by a removal.  Under fmu. */
struct tstate {
    int64_t seq;        /* the last firing's */
    int64_t last;       /* cron: the latest scheduled second handled */
    struct at_map idem; /* key -> struct idem_slot */
    struct idem_ring {
        char *key;
        int64_t seq;
    } * ring; /* the keys, oldest first (MAX_IDEM) */
    size_t head, n;
    int inflight; /* firings reserved and not yet finished */
};

struct entry {
    atomic_int refs; /* the table's, and each firing's in flight */
    struct at_trigger *t;
    char *file;
    char *source;
    int paused;  /* written under mu and fmu */
    int removed; /* written under mu and fmu */
    int64_t registered_ms;
    struct tstate *st; /* borrowed from the service's states */
    int64_t next_due;  /* cron: next scheduled second; 0 unknown */
    /* custom: when the emitter may start next (monotonic ms), its back-off */
    int64_t emitter_due_ms, emitter_backoff_ms, emitter_started_ms;
};

struct at_trigger_svc {
    struct at_trigger_svc_cfg cfg;
    char *dir;
    pthread_mutex_t mu;
    struct at_map byname; /* name -> struct entry */
    struct at_map bypath; /* path -> struct entry (borrowed) */
    pthread_t thread;
    int started, stop;
    pthread_cond_t cv;
    char *clock_file;
    pthread_mutex_t fmu;
    pthread_cond_t fcv;
    struct at_map states; /* name -> struct tstate */
    int inflight;         /* firings in flight, all triggers (under fmu) */
    int closing;          /* no new firings (under fmu) */
    /* the acker: submits the jobs of async deliveries once their records
     * are committed and answers them, off the writer thread (which then
     * goes on to the next commit) */
    pthread_mutex_t aq_mu;
    pthread_cond_t aq_cv;
    struct firing *aq_head, **aq_tail;
    int aq_stop, aq_started;
    pthread_t aq_thread;
    pthread_mutex_t done_mu;
    struct at_map running;  /* name -> job id (char *) */
    struct at_map convs;    /* conversation id -> json array of turns */
    struct at_map convmeta; /* conversation id -> struct conv_meta (its trigger, last turn) */
    struct at_map emitters; /* custom trigger name -> its emitter's job id (char *) */
    size_t nconvs;
    pthread_mutex_t seen_mu;
    struct at_map seen; /* signature -> expiry (int64_t *) */
    struct at_metrics *metrics;
    /* the replier: posts slack/discord answers (a thread of its own, so a
     * slow platform never holds a job's completion) */
    pthread_mutex_t rq_mu;
    pthread_cond_t rq_cv;
    struct reply_item *rq_head, **rq_tail;
    size_t rq_n;
    int rq_stop, rq_started;
    pthread_t rq_thread;
};

static void count(struct at_trigger_svc *s, const char *name, const char *help, const char *trigger,
                  const char *k2, const char *v2)
{
    char labels[AT_METRICS_MAX_LABELS];
    at_metrics_labels(labels, sizeof(labels), "trigger", trigger, k2, v2, NULL);
    at_metrics_inc(s->metrics, name, help, labels, 1);
}

/* ---- clock ---- */

static int64_t svc_now(struct at_trigger_svc *s)
{
    if (s->clock_file) {
        char *text = NULL;
        size_t len;
        if (at_fs_read_file(s->clock_file, 64, &text, &len) == 0) {
            long long v = strtoll(text, NULL, 10);
            free(text);
            if (v > 0)
                return v;
        }
    }
    return at_wall_ms() / 1000;
}

static void iso_s(int64_t t, char *out, size_t n)
{
    at_time_iso8601(t * 1000, out, n);
}

/* ---- store (kv rows through the writer) ---- */

struct kvw {
    const char *key;
    char *val;
    int rc, done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static int kv_fn(struct at_store *st, void *arg)
{
    struct kvw *w = arg;
    return at_store_call(st, kv_put, w->key, w->val);
}

static void kv_done(int rc, void *arg)
{
    struct kvw *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Write key = value (JSON) and wait for the commit. */
static int kv_write(struct at_trigger_svc *s, const char *key, const json_t *value)
{
    struct kvw w = {.key = key};
    w.val = value ? json_dumps(value, JSON_COMPACT) : at_strdup("");
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = at_writer_submit(s->cfg.writer, kv_fn, kv_done, &w);
    if (rc == 0) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.rc;
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    free(w.val);
    return rc;
}

static json_t *kv_read(struct at_trigger_svc *s, const char *key)
{
    char *v = NULL;
    if (at_store_call(s->cfg.store, kv_get, key, &v) || !v)
        return NULL;
    json_t *j = v[0] ? json_loads(v, 0, NULL) : NULL;
    free(v);
    return j;
}

static int write_index(struct at_trigger_svc *s)
{
    json_t *names = json_array();
    size_t it = 0;
    const char *k;
    void *v;
    while (at_map_next(&s->byname, &it, &k, &v))
        json_array_append_new(names, json_string(k));
    int rc = kv_write(s, "trigger.index", names);
    json_decref(names);
    return rc;
}

static int write_def(struct at_trigger_svc *s, const struct entry *e)
{
    char key[128];
    snprintf(key, sizeof(key), "trigger.def/%s", e->t->name);
    json_t *def = json_pack("{s:s,s:s,s:b,s:I}", "file", e->file, "source", e->source, "paused",
                            e->paused, "registered_ms", (json_int_t)e->registered_ms);
    int rc = kv_write(s, key, def);
    json_decref(def);
    return rc;
}

/* The summary row (the last cron second and the seq): written at
 * registration and resume; the firings' rows carry the rest. */
static int write_summary(struct at_trigger_svc *s, const struct entry *e)
{
    char key[128];
    snprintf(key, sizeof(key), "trigger.firings/%s", e->t->name);
    pthread_mutex_lock(&s->fmu);
    json_t *v =
        json_pack("{s:I,s:I}", "last", (json_int_t)e->st->last, "seq", (json_int_t)e->st->seq);
    pthread_mutex_unlock(&s->fmu);
    int rc = kv_write(s, key, v);
    json_decref(v);
    return rc;
}

/* Firing rows through the writer: one write (one commit) for n rows. */
struct rows_write {
    struct at_trigger_firing_row *rows;
    char **texts; /* owned strings the rows point at */
    size_t n, ntexts;
    int rc, done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*then)(int rc, void *arg); /* async: called after the commit (writer thread) */
    void *then_arg;
    int wait; /* someone waits on cv (else the write frees itself) */
};

static int rows_fn(struct at_store *st, void *arg)
{
    struct rows_write *w = arg;
    return at_store_call(st, trigger_firing_put, w->rows, w->n);
}

static void rows_free(struct rows_write *w)
{
    for (size_t i = 0; i < w->ntexts; i++)
        free(w->texts[i]);
    free(w->texts);
    free(w->rows);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

static void rows_done(int rc, void *arg)
{
    struct rows_write *w = arg;
    if (w->then)
        w->then(rc, w->then_arg);
    if (!w->wait) {
        rows_free(w);
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static struct rows_write *rows_new(size_t n)
{
    struct rows_write *w = at_calloc(1, sizeof(*w));
    w->rows = at_calloc(n ? n : 1, sizeof(*w->rows));
    w->texts = at_calloc(5 * (n ? n : 1), sizeof(*w->texts));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    return w;
}

/* Keep text (owned) for the write's life; returns it. */
static const char *rows_keep(struct rows_write *w, char *text)
{
    if (text)
        w->texts[w->ntexts++] = text;
    return text;
}

/* Submit w; with wait, block until it is committed and free it (its
 * result), else it frees itself after the commit (0 or AT_EBUSY, when it is
 * freed at once). */
static int rows_submit(struct at_trigger_svc *s, struct rows_write *w, int wait)
{
    w->wait = wait;
    int rc = at_writer_submit(s->cfg.writer, rows_fn, rows_done, w);
    if (rc) {
        rows_free(w);
        return rc;
    }
    if (!wait)
        return 0;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    rc = w->rc;
    rows_free(w);
    return rc;
}

static int keep_of(const struct at_trigger_svc *s)
{
    return s->cfg.history > 0 ? s->cfg.history : 100;
}

/* Append the row of a firing (everything copied; job, pending and idem may be NULL). */
static void rows_add(struct at_trigger_svc *s, struct rows_write *w, const char *trigger,
                     int64_t seq, const char *job, int64_t scheduled, const json_t *doc,
                     const json_t *pending, const char *idem, int update)
{
    struct at_trigger_firing_row *r = &w->rows[w->n++];
    r->trigger = rows_keep(w, at_strdup(trigger));
    r->seq = seq;
    r->job_id = job ? rows_keep(w, at_strdup(job)) : NULL;
    r->scheduled = scheduled;
    r->doc = doc ? rows_keep(w, json_dumps(doc, JSON_COMPACT)) : NULL;
    r->pending = pending ? rows_keep(w, json_dumps(pending, JSON_COMPACT)) : NULL;
    r->idem = idem && idem[0] ? rows_keep(w, at_strdup(idem)) : NULL;
    r->update = update;
    r->keep = update ? 0 : keep_of(s);
    r->idem_keep = update ? 0 : MAX_IDEM;
}

/* ---- firing state ---- */

/* The state of name (created empty); under fmu. */
static struct tstate *state_get(struct at_trigger_svc *s, const char *name)
{
    struct tstate *st = at_map_get(&s->states, name);
    if (!st) {
        st = at_calloc(1, sizeof(*st));
        at_map_init(&st->idem);
        st->ring = at_calloc(MAX_IDEM, sizeof(*st->ring));
        at_map_put(&s->states, name, st);
    }
    return st;
}

static void state_clear(struct tstate *st)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (at_map_next(&st->idem, &it, &k, &v))
        free(v);
    at_map_release(&st->idem);
    at_map_init(&st->idem);
    for (size_t i = 0; i < st->n; i++)
        free(st->ring[(st->head + i) % MAX_IDEM].key);
    st->head = st->n = 0;
    st->seq = 0;
    st->last = 0;
}

static void state_free(struct tstate *st)
{
    if (!st)
        return;
    state_clear(st);
    at_map_release(&st->idem);
    free(st->ring);
    free(st);
}

/* Forget the oldest key (unless a newer firing took it since); under fmu. */
static void idem_pop(struct tstate *st)
{
    struct idem_ring *r = &st->ring[st->head];
    struct idem_slot *slot = at_map_get(&st->idem, r->key);
    if (slot && slot->seq == r->seq)
        free(at_map_del(&st->idem, r->key));
    free(r->key);
    r->key = NULL;
    st->head = (st->head + 1) % MAX_IDEM;
    st->n--;
}

/* Forget the keys of firings older than the newest MAX_IDEM (the rows'
 * retention, so a restart knows the same keys); under fmu. */
static void idem_expire(struct tstate *st)
{
    while (st->n && st->ring[st->head].seq <= st->seq - MAX_IDEM)
        idem_pop(st);
}

/* Remember key -> job (firing seq); under fmu. */
static void idem_add(struct tstate *st, const char *key, const char *job, int64_t seq, int pending)
{
    idem_expire(st);
    if (st->n == MAX_IDEM) /* full (keys loaded from rows of another retention) */
        idem_pop(st);
    struct idem_slot *slot = at_map_get(&st->idem, key);
    if (!slot) {
        slot = at_calloc(1, sizeof(*slot));
        at_map_put(&st->idem, key, slot);
    }
    snprintf(slot->job, sizeof(slot->job), "%s", job);
    slot->seq = seq;
    slot->pending = pending;
    struct idem_ring *r = &st->ring[(st->head + st->n) % MAX_IDEM];
    r->key = at_strdup(key);
    r->seq = seq;
    st->n++;
}

static int delete_fn(struct at_store *st, void *arg)
{
    return at_store_call(st, trigger_firing_delete, (const char *)arg);
}

static int firings_delete(struct at_trigger_svc *s, const char *name)
{
    return at_writer_call(s->cfg.writer, s->cfg.store, delete_fn, (void *)name);
}
/* ---- entries ---- */

static void entry_free(struct entry *e)
{
    if (!e)
        return;
    at_trigger_free(e->t);
    free(e->file);
    free(e->source);
    free(e);
}

static struct entry *entry_ref(struct entry *e)
{
    atomic_fetch_add(&e->refs, 1);
    return e;
}

/* Any thread, any lock (the last reference frees). */
static void entry_unref(struct entry *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1)
        entry_free(e);
}

static json_t *describe(struct at_trigger_svc *s, const struct entry *e)
{
    const struct at_trigger *t = e->t;
    char ts[40];
    at_time_iso8601(e->registered_ms, ts, sizeof(ts));
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:b,s:s}", "name", t->name, "type", at_trigger_type_name(t->type),
                  "file", e->file, "paused", e->paused, "registered_at", ts);
    json_object_set_new(o, "target",
                        t->agent ? json_pack("{s:s}", "agent", t->agent)
                                 : json_pack("{s:s}", "chain", t->chain));
    if (t->schedule) {
        json_object_set_new(o, "schedule", json_string(t->schedule));
        json_object_set_new(o, "timezone", json_string(at_tz_name(t->tz)));
        json_object_set_new(o, "missed",
                            json_string(t->missed == AT_MISSED_SKIP ? "skip" : "run_once"));
        static const char *const conc[] = {"allow", "forbid", "replace"};
        json_object_set_new(o, "concurrency", json_string(conc[t->concurrency]));
        json_object_set_new(o, "jitter", json_integer(t->jitter_s));
        if (!e->paused && e->next_due > 0) {
            iso_s(e->next_due, ts, sizeof(ts));
            json_object_set_new(o, "next_at", json_string(ts));
        }
    }
    if (t->path) {
        json_object_set_new(o, "path", json_string(t->path));
        json_object_set_new(o, "respond", json_string(t->respond_sync ? "sync" : "async"));
        json_object_set_new(o, "max_body", json_integer((json_int_t)t->max_body));
        static const char *const sig[] = {"none", "github", "stripe", "hmac", "slack", "discord"};
        _Static_assert(sizeof(sig) / sizeof(sig[0]) == AT_SIG_DISCORD + 1, "a name per scheme");
        json_object_set_new(o, "signature", json_string(sig[t->sig]));
        json_object_set_new(o, "auth", json_string(t->auth_token ? "token" : "none"));
        if (t->interface)
            json_object_set_new(o, "interface", json_string(t->interface));
    }
    if (t->emitter_agent) {
        json_object_set_new(o, "emitter", json_string(t->emitter_agent));
        pthread_mutex_lock(&s->done_mu);
        const char *ej = at_map_get(&s->emitters, t->name);
        if (ej)
            json_object_set_new(o, "emitter_job", json_string(ej));
        pthread_mutex_unlock(&s->done_mu);
    }
    pthread_mutex_lock(&s->fmu);
    json_object_set_new(o, "firings", json_integer(e->st ? (json_int_t)e->st->seq : 0));
    pthread_mutex_unlock(&s->fmu);
    json_object_set(o, "definition", t->definition);
    return o;
}

static int check_target(struct at_trigger_svc *s, const struct at_trigger *t, const char *file,
                        const char *text, size_t len, struct at_diag *d)
{
    int rc = 0;
    if (t->agent) {
        struct at_reg_agent *a;
        rc = at_registry_resolve(s->cfg.registry, t->agent, &a);
        if (rc == 0)
            at_reg_agent_unref(a);
    } else {
        struct at_chain *c;
        rc = at_registry_chain_get(s->cfg.registry, t->chain, &c);
        if (rc == 0)
            at_chain_unref(c);
    }
    if (rc == 0)
        return 0;
    /* locate target.agent / target.chain in the file */
    struct at_yaml_doc doc;
    memset(&doc, 0, sizeof(doc));
    struct at_diag yd;
    at_diag_clear(&yd);
    int line = 0, col = 0;
    if (at_yaml_load_string(&doc, file, text, len, &yd) == 0)
        at_yaml_locate(&doc, t->agent ? "/trigger/target/agent" : "/trigger/target/chain", 0, &line,
                       &col);
    at_yaml_doc_release(&doc);
    return at_diag_set(
        d, AT_ENOENT, file, line, col, "trigger.target.%s: no %s named \"%s\" is registered",
        t->agent ? "agent" : "chain", t->agent ? "agent" : "chain", t->agent ? t->agent : t->chain);
}

/* A value from an environment variable, a file (trailing newlines cut) or
 * the secrets store.  Caller wipes and frees. */
static int value_get(struct at_trigger_svc *s, const char *env, const char *file,
                     const char *secret, char **out)
{
    *out = NULL;
    if (env) {
        const char *v = getenv(env);
        if (!v || !v[0])
            return AT_ENOENT;
        *out = at_strdup(v);
        return 0;
    }
    if (file) {
        size_t len;
        if (at_fs_read_file(file, 4096, out, &len))
            return AT_ENOENT;
        while (len && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
            (*out)[--len] = '\0';
        return len ? 0 : AT_ENOENT;
    }
    if (secret) {
        char *v = NULL;
        if (!s || !s->cfg.secrets || at_secrets_get(s->cfg.secrets, secret, &v) || !v)
            return AT_ENOENT;
        *out = at_strdup(v);
        at_secret_free(v);
        return (*out)[0] ? 0 : AT_ENOENT;
    }
    return AT_ENOENT;
}

static int secret_get(struct at_trigger_svc *s, const struct at_trigger *t, char **out)
{
    if (t->public_key) {
        *out = at_strdup(t->public_key);
        return 0;
    }
    return value_get(s, t->secret_env, t->secret_file, t->secret_name, out);
}

static void wipe(char *v)
{
    if (v) {
        sodium_memzero(v, strlen(v));
        free(v);
    }
}

static void compute_next(struct at_trigger_svc *s, struct entry *e)
{
    if (e->t->type != AT_TRIGGER_CRON)
        return;
    pthread_mutex_lock(&s->fmu);
    int64_t last = e->st->last;
    pthread_mutex_unlock(&s->fmu);
    e->next_due = at_cron_next(&e->t->cron, e->t->tz, last);
}

/* Insert e (replacing one of the same name); under mu. */
static void table_put(struct at_trigger_svc *s, struct entry *e)
{
    struct entry *old = at_map_put(&s->byname, e->t->name, e);
    if (old) {
        if (old->t->path)
            at_map_del(&s->bypath, old->t->path);
        entry_unref(old);
    }
    if (e->t->path)
        at_map_put(&s->bypath, e->t->path, e);
}

static struct entry *entry_load(struct at_trigger_svc *s, const char *file, const char *text,
                                size_t len, struct at_diag *d)
{
    struct at_trigger *t;
    if (at_trigger_load(file, text, len, &t, d))
        return NULL;
    if (check_target(s, t, file, text, len, d)) {
        at_trigger_free(t);
        return NULL;
    }
    if (t->emitter_agent) {
        struct at_reg_agent *a;
        if (at_registry_resolve(s->cfg.registry, t->emitter_agent, &a) == 0) {
            at_reg_agent_unref(a);
        } else {
            struct at_yaml_doc doc;
            memset(&doc, 0, sizeof(doc));
            struct at_diag yd;
            at_diag_clear(&yd);
            int line = 0, col = 0;
            if (at_yaml_load_string(&doc, file, text, len, &yd) == 0)
                at_yaml_locate(&doc, "/trigger/emitter/agent", 0, &line, &col);
            at_yaml_doc_release(&doc);
            at_diag_set(d, AT_ENOENT, file, line, col,
                        "trigger.emitter.agent: no agent named \"%s\" is registered",
                        t->emitter_agent);
            at_trigger_free(t);
            return NULL;
        }
    }
    if (t->sig) {
        char *sec;
        if (secret_get(s, t, &sec)) {
            at_diag_set(d, AT_EINVAL, file, 0, 0,
                        "trigger.signature: the secret is not available (%s %s is %s)",
                        t->secret_env    ? "environment variable"
                        : t->secret_file ? "file"
                                         : "secret",
                        t->secret_env    ? t->secret_env
                        : t->secret_file ? t->secret_file
                                         : t->secret_name,
                        t->secret_env    ? "not set in the daemon's environment"
                        : t->secret_file ? "unreadable or empty"
                                         : "not in the secrets store: atlas secret set NAME");
            at_trigger_free(t);
            return NULL;
        }
        if (t->sig == AT_SIG_DISCORD && !t->public_key) {
            unsigned char pk[32];
            size_t n = 0;
            int ok = strlen(sec) == 64 &&
                     sodium_hex2bin(pk, sizeof(pk), sec, 64, NULL, &n, NULL) == 0 && n == 32;
            wipe(sec);
            if (!ok) {
                at_diag_set(d, AT_EINVAL, file, 0, 0,
                            "trigger.signature: the Discord public key must be 64 hex digits");
                at_trigger_free(t);
                return NULL;
            }
        } else {
            wipe(sec);
        }
    }
    if (t->reply_token_env || t->reply_token_file || t->reply_token_secret) {
        char *tok;
        if (value_get(s, t->reply_token_env, t->reply_token_file, t->reply_token_secret, &tok)) {
            at_diag_set(d, AT_EINVAL, file, 0, 0,
                        "trigger.reply: the bot token is not available (%s %s)",
                        t->reply_token_env    ? "environment variable"
                        : t->reply_token_file ? "file"
                                              : "secret",
                        t->reply_token_env    ? t->reply_token_env
                        : t->reply_token_file ? t->reply_token_file
                                              : t->reply_token_secret);
            at_trigger_free(t);
            return NULL;
        }
        wipe(tok);
    }
    struct entry *e = at_calloc(1, sizeof(*e));
    atomic_init(&e->refs, 1);
    e->t = t;
    e->file = at_strdup(file);
    e->source = at_malloc(len + 1);
    memcpy(e->source, text, len);
    e->source[len] = '\0';
    return e;
}

static void emitter_cancel(struct at_trigger_svc *s, const char *name, const char *why);

int at_trigger_register(struct at_trigger_svc *s, const char *file, const char *text, size_t len,
                        json_t **out, struct at_diag *d)
{
    struct entry *e = entry_load(s, file, text, len, d);
    if (!e)
        return d->code ? d->code : AT_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (e->t->path) {
        struct entry *other = at_map_get(&s->bypath, e->t->path);
        if (other && strcmp(other->t->name, e->t->name) != 0) {
            pthread_mutex_unlock(&s->mu);
            int line = 0, col = 0;
            struct at_yaml_doc doc;
            memset(&doc, 0, sizeof(doc));
            struct at_diag yd;
            if (at_yaml_load_string(&doc, file, text, len, &yd) == 0)
                at_yaml_locate(&doc, "/trigger/path", 0, &line, &col);
            at_yaml_doc_release(&doc);
            at_diag_set(d, AT_EEXIST, file, line, col,
                        "trigger.path: \"%s\" is already the path of trigger \"%s\"", e->t->path,
                        other->t->name);
            entry_free(e);
            return AT_EEXIST;
        }
    }
    struct entry *old = at_map_get(&s->byname, e->t->name);
    e->registered_ms = at_wall_ms();
    pthread_mutex_lock(&s->fmu);
    e->st = state_get(s, e->t->name);
    if (old) { /* re-registration keeps the firings and the pause */
        e->paused = old->paused;
    } else {
        e->st->last = svc_now(s);
    }
    pthread_mutex_unlock(&s->fmu);
    if (old && old->t->type == AT_TRIGGER_CUSTOM) /* the new definition's emitter replaces it */
        emitter_cancel(s, old->t->name, "the trigger was registered again");
    int rc = write_def(s, e);
    if (!rc)
        rc = write_summary(s, e);
    if (rc) {
        pthread_mutex_unlock(&s->mu);
        entry_free(e);
        return at_diag_set(d, rc, NULL, 0, 0, "the trigger could not be stored");
    }
    table_put(s, e);
    rc = write_index(s);
    compute_next(s, e);
    if (out)
        *out = describe(s, e);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    at_info("trigger", "registered %s trigger %s from %s", at_trigger_type_name(e->t->type),
            e->t->name, file);
    return rc ? at_diag_set(d, rc, NULL, 0, 0, "the trigger index could not be stored") : 0;
}

static int missing(const char *name, struct at_diag *d)
{
    return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no trigger named \"%s\" is registered", name);
}

int at_trigger_remove(struct at_trigger_svc *s, const char *name, struct at_diag *d)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_del(&s->byname, name);
    if (!e) {
        pthread_mutex_unlock(&s->mu);
        return missing(name, d);
    }
    if (e->t->path)
        at_map_del(&s->bypath, e->t->path);
    if (e->t->type == AT_TRIGGER_CUSTOM)
        emitter_cancel(s, name, "the trigger was removed");
    /* no new firing of it; those in flight end (their rows are written)
     * before its rows are deleted, so none comes back after */
    pthread_mutex_lock(&s->fmu);
    e->removed = 1;
    while (e->st->inflight > 0)
        pthread_cond_wait(&s->fcv, &s->fmu);
    state_clear(e->st);
    pthread_mutex_unlock(&s->fmu);
    char key[128];
    snprintf(key, sizeof(key), "trigger.def/%s", name);
    int rc = kv_write(s, key, NULL);
    snprintf(key, sizeof(key), "trigger.firings/%s", name);
    if (!rc)
        rc = kv_write(s, key, NULL);
    if (!rc)
        rc = firings_delete(s, name);
    if (!rc)
        rc = write_index(s);
    pthread_mutex_unlock(&s->mu);
    entry_unref(e);
    return rc ? at_diag_set(d, rc, NULL, 0, 0, "the removal could not be stored") : 0;
}

int at_trigger_set_paused(struct at_trigger_svc *s, const char *name, int paused, struct at_diag *d)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_get(&s->byname, name);
    if (!e) {
        pthread_mutex_unlock(&s->mu);
        return missing(name, d);
    }
    int rc = 0;
    if (e->paused != paused) {
        pthread_mutex_lock(&s->fmu);
        e->paused = paused;
        pthread_mutex_unlock(&s->fmu);
        if (e->t->type == AT_TRIGGER_CUSTOM) {
            if (paused)
                emitter_cancel(s, name, "the trigger was paused");
            e->emitter_due_ms = 0;
            e->emitter_backoff_ms = 0;
        }
        if (!paused && e->t->type == AT_TRIGGER_CRON) {
            /* firings that fell while paused are not run: resume from now */
            pthread_mutex_lock(&s->fmu);
            e->st->last = svc_now(s);
            pthread_mutex_unlock(&s->fmu);
            rc = write_summary(s, e);
            compute_next(s, e);
        }
        if (!rc)
            rc = write_def(s, e);
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return rc ? at_diag_set(d, rc, NULL, 0, 0, "the change could not be stored") : 0;
}

json_t *at_trigger_list(struct at_trigger_svc *s)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&s->mu);
    size_t it = 0;
    const char *k;
    void *v;
    while (at_map_next(&s->byname, &it, &k, &v))
        json_array_append_new(arr, describe(s, v));
    pthread_mutex_unlock(&s->mu);
    /* by name, for stable output */
    size_t n = json_array_size(arr);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(arr, j - 1), *b = json_array_get(arr, j);
            if (strcmp(at_json_str(a, "name", ""), at_json_str(b, "name", "")) <= 0)
                break;
            json_incref(a);
            json_array_set(arr, j - 1, b);
            json_array_set_new(arr, j, a);
        }
    return arr;
}

int at_trigger_describe(struct at_trigger_svc *s, const char *name, json_t **out, struct at_diag *d)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_get(&s->byname, name);
    if (e)
        *out = describe(s, e);
    pthread_mutex_unlock(&s->mu);
    return e ? 0 : missing(name, d);
}

int at_trigger_next(struct at_trigger_svc *s, const char *name, int n, json_t **out,
                    struct at_diag *d)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_get(&s->byname, name);
    if (!e) {
        pthread_mutex_unlock(&s->mu);
        return missing(name, d);
    }
    if (e->t->type != AT_TRIGGER_CRON) {
        pthread_mutex_unlock(&s->mu);
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "trigger \"%s\" is a %s trigger: only cron triggers have firing times",
                           name, at_trigger_type_name(e->t->type));
    }
    json_t *arr = json_array();
    int64_t t = svc_now(s);
    for (int i = 0; i < n; i++) {
        t = at_cron_next(&e->t->cron, e->t->tz, t);
        if (t < 0)
            break;
        char ts[40];
        iso_s(t, ts, sizeof(ts));
        json_array_append_new(arr, json_string(ts));
    }
    pthread_mutex_unlock(&s->mu);
    *out = arr;
    return 0;
}

/* ---- firing ---- */

struct done_ctx {
    struct at_trigger_svc *s;
    char name[AT_TRIGGER_NAME_MAX + 1];
    char job[AT_ID_MAX];
    char conv[AT_ID_MAX + 64];
    int64_t seq;
    json_t *doc; /* the firing, written "queued" (its pending cleared) once the job's row is
                    committed; NULL: nothing to write */
    at_job_done_fn user_done;
    void *user_arg;
};

struct conv_meta {
    char trigger[AT_TRIGGER_NAME_MAX + 1];
    int64_t started_ms, updated_ms;
};

/* Under done_mu. */
static void conv_append(struct at_trigger_svc *s, const char *trigger, const char *conv,
                        json_t *turn)
{
    json_t *h = at_map_get(&s->convs, conv);
    if (!h) {
        if (s->nconvs >= MAX_CONVS) {
            /* forget one (the table is bounded; the memory skill keeps
             * conversations for good once it exists) */
            size_t it = 0;
            const char *k;
            void *v;
            if (at_map_next(&s->convs, &it, &k, &v)) {
                char *kk = at_strdup(k);
                json_decref(at_map_del(&s->convs, kk));
                free(at_map_del(&s->convmeta, kk));
                free(kk);
                s->nconvs--;
            }
        }
        h = json_array();
        at_map_put(&s->convs, conv, h);
        s->nconvs++;
    }
    struct conv_meta *m = at_map_get(&s->convmeta, conv);
    if (!m) {
        m = at_calloc(1, sizeof(*m));
        snprintf(m->trigger, sizeof(m->trigger), "%s", trigger ? trigger : "");
        m->started_ms = at_wall_ms();
        free(at_map_put(&s->convmeta, conv, m));
    }
    m->updated_ms = at_wall_ms();
    json_array_append_new(h, turn);
    while (json_array_size(h) > MAX_CONV_TURNS)
        json_array_remove(h, 0);
}

static void on_job_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct done_ctx *c = arg;
    pthread_mutex_lock(&c->s->done_mu);
    char *cur = at_map_get(&c->s->running, c->name);
    if (cur && strcmp(cur, c->job) == 0)
        free(at_map_del(&c->s->running, c->name));
    if (c->conv[0] && rec && rec->state == AT_JOB_COMPLETED && rec->output)
        conv_append(
            c->s, c->name, c->conv,
            json_pack("{s:s,s:o}", "role", "assistant", "content", json_deep_copy(rec->output)));
    pthread_mutex_unlock(&c->s->done_mu);
    if (c->doc && !store_rc) {
        /* the job's row is committed: recovery no longer needs the firing's
         * event and input (a row still pending at a start whose job is in
         * the store is marked queued then) */
        struct rows_write *w = rows_new(1);
        rows_add(c->s, w, c->name, c->seq, c->job, 0, c->doc, NULL, NULL, 1);
        rows_submit(c->s, w, 0);
    }
    json_decref(c->doc);
    if (c->user_done)
        c->user_done(rec, store_rc, c->user_arg);
    free(c);
}

/* Submit the firing's job (its id already recorded).  doc (may be NULL):
 * the firing, rewritten when the job ends. */
static int submit_job(struct at_trigger_svc *s, struct entry *e, const char *job_id,
                      const json_t *ev, const json_t *input, const char *conv, int64_t seq,
                      const json_t *doc, at_job_done_fn user_done, void *user_arg,
                      at_job_event_fn on_event, void *event_arg, struct at_diag *d)
{
    struct done_ctx *c = at_calloc(1, sizeof(*c));
    c->s = s;
    snprintf(c->name, sizeof(c->name), "%s", e->t->name);
    snprintf(c->job, sizeof(c->job), "%s", job_id);
    if (conv)
        snprintf(c->conv, sizeof(c->conv), "%s", conv);
    c->seq = seq;
    if (doc) {
        /* a copy of its own: it is released on the writer thread, and nested
         * JSON freed inside libjansson is invisible to TSan's view of the
         * reference counts (CMakeLists.txt, ATLAS_TSAN) */
        c->doc = json_deep_copy(doc);
        json_object_set_new(c->doc, "status", json_string("queued"));
    }
    c->user_done = user_done;
    c->user_arg = user_arg;
    struct at_submit sub = {
        .agent = e->t->agent,
        .chain = e->t->chain,
        .input = (json_t *)input,
        .source = "trigger",
        .on_done = on_job_done,
        .done_arg = c,
        .event = ev,
        .job_id = job_id,
        .on_event = on_event,
        .event_arg = event_arg,
    };
    pthread_mutex_lock(&s->done_mu);
    free(at_map_put(&s->running, e->t->name, at_strdup(job_id)));
    pthread_mutex_unlock(&s->done_mu);
    int rc = at_engine_submit(s->cfg.engine, &sub, NULL, d);
    if (rc) {
        pthread_mutex_lock(&s->done_mu);
        char *cur = at_map_get(&s->running, e->t->name);
        if (cur && strcmp(cur, job_id) == 0)
            free(at_map_del(&s->running, e->t->name));
        pthread_mutex_unlock(&s->done_mu);
        json_decref(c->doc);
        free(c);
    }
    return rc;
}

/* One firing, from its reservation to its job's submission. */
struct firing {
    struct firing *next; /* the acker's queue */
    int commit_rc;
    struct at_trigger_svc *s;
    struct entry *e;    /* referenced once reserved */
    const char *source; /* static */
    int64_t scheduled, seq;
    int missed;
    int skip; /* recorded as skipped (doc says why): no job */
    int reserved;
    char job[AT_ID_MAX];
    char idem[300];
    char conv[AT_ID_MAX + 64];
    json_t *doc, *ev, *input;
    at_job_done_fn user_done;
    void *user_arg;
    at_job_event_fn on_event;
    void *event_arg;
    int rc;
    struct at_diag d;
    /* async deliveries: called after the job is submitted (writer thread) */
    void (*then)(struct firing *f, void *arg);
    void *then_arg;
};

static struct firing *firing_new(struct at_trigger_svc *s, struct entry *e, const char *source,
                                 int64_t scheduled, int missed, const char *idem, const char *conv)
{
    struct firing *f = at_calloc(1, sizeof(*f));
    f->s = s;
    f->e = e;
    f->source = source;
    f->scheduled = scheduled;
    f->missed = missed;
    if (idem)
        snprintf(f->idem, sizeof(f->idem), "%s", idem);
    if (conv)
        snprintf(f->conv, sizeof(f->conv), "%s", conv);
    at_diag_clear(&f->d);
    return f;
}

static void firing_free(struct firing *f)
{
    if (!f)
        return;
    json_decref(f->doc);
    json_decref(f->ev);
    json_decref(f->input);
    if (f->reserved)
        entry_unref(f->e);
    free(f);
}

/* Take the firing's seq (and its key) under fmu.  0: reserved; 1: the key
 * was seen (f->job is the job it started; a firing of it still being
 * recorded is waited for); or an error with f->d. */
static int reserve(struct at_trigger_svc *s, struct firing *f, int check_paused)
{
    struct entry *e = f->e;
    pthread_mutex_lock(&s->fmu);
    int rc = 0;
    for (;;) {
        if (s->closing) {
            rc = at_diag_set(&f->d, AT_ESTATE, NULL, 0, 0, "the daemon is shutting down");
            break;
        }
        if (e->removed) {
            rc = at_diag_set(&f->d, AT_ENOENT, NULL, 0, 0, "no trigger named \"%s\" is registered",
                             e->t->name);
            break;
        }
        if (check_paused && e->paused) {
            rc = at_diag_set(&f->d, AT_ESTATE, NULL, 0, 0, "trigger \"%s\" is paused", e->t->name);
            break;
        }
        const struct idem_slot *slot = f->idem[0] ? at_map_get(&e->st->idem, f->idem) : NULL;
        if (slot && slot->pending) {
            pthread_cond_wait(&s->fcv, &s->fmu);
            continue;
        }
        if (slot) {
            snprintf(f->job, sizeof(f->job), "%s", slot->job);
            rc = 1;
        }
        break;
    }
    if (rc == 0) {
        struct tstate *st = e->st;
        f->seq = ++st->seq;
        if (f->scheduled > st->last)
            st->last = f->scheduled;
        if (!f->skip)
            at_id_new("job", f->job);
        if (f->idem[0] && !f->skip)
            idem_add(st, f->idem, f->job, f->seq, 1);
        idem_expire(st);
        st->inflight++;
        s->inflight++;
        entry_ref(e);
        f->reserved = 1;
    }
    pthread_mutex_unlock(&s->fmu);
    return rc;
}

/* The firing's event, input and history entry (no lock held). */
static void build(struct firing *f, const json_t *body, const json_t *headers,
                  const json_t *identity, const json_t *extra_input, const char *skip_reason)
{
    struct at_trigger_svc *s = f->s;
    const struct at_trigger *t = f->e->t;
    char id[AT_ID_MAX], ts[40];
    at_id_new("fir", id);
    iso_s(svc_now(s), ts, sizeof(ts));
    f->doc = json_pack("{s:s,s:I,s:s,s:s}", "id", id, "seq", (json_int_t)f->seq, "source",
                       f->source, "fired_at", ts);
    if (f->scheduled > 0) {
        iso_s(f->scheduled, ts, sizeof(ts));
        json_object_set_new(f->doc, "scheduled_at", json_string(ts));
    }
    if (f->missed > 1)
        json_object_set_new(f->doc, "missed", json_integer(f->missed));
    if (f->skip) {
        json_object_set_new(f->doc, "status", json_string("skipped"));
        json_object_set_new(f->doc, "reason", json_string(skip_reason ? skip_reason : ""));
        return;
    }
    json_t *extra = json_object();
    if (f->scheduled > 0) {
        iso_s(f->scheduled, ts, sizeof(ts));
        json_object_set_new(extra, "scheduled_at", json_string(ts));
    }
    if (f->missed > 1)
        json_object_set_new(extra, "missed", json_integer(f->missed));
    if (t->path)
        json_object_set_new(extra, "path", json_string(t->path));
    json_t *conversation = NULL;
    if (f->conv[0]) {
        pthread_mutex_lock(&s->done_mu);
        json_t *h = at_map_get(&s->convs, f->conv);
        conversation =
            json_pack("{s:s,s:o}", "id", f->conv, "history", h ? json_deep_copy(h) : json_array());
        pthread_mutex_unlock(&s->done_mu);
    }
    f->ev = at_trigger_event_new(t, strcmp(f->source, "manual") == 0 ? "manual" : NULL, body,
                                 headers, identity, conversation, extra);
    json_decref(extra);
    json_decref(conversation);
    f->input = at_trigger_input(t, f->ev, extra_input);
    json_object_set_new(f->doc, "job_id", json_string(f->job));
    json_object_set_new(f->doc, "event_id", json_incref(json_object_get(f->ev, "id")));
    json_object_set_new(f->doc, "status", json_string("recorded"));
    if (f->idem[0])
        json_object_set_new(f->doc, "idempotency_key", json_string(f->idem));
}

/* Add f's row to w: with what recovery needs to submit its job if the
 * daemon dies before the job's row is committed. */
static void firing_row(struct rows_write *w, struct firing *f)
{
    json_t *pending = f->skip ? NULL : json_pack("{s:O,s:O}", "event", f->ev, "input", f->input);
    rows_add(f->s, w, f->e->t->name, f->seq, f->skip ? NULL : f->job, f->scheduled, f->doc, pending,
             f->skip ? NULL : f->idem, 0);
    json_decref(pending);
}

/* After the record's commit (commit_rc): submit the job, settle the key,
 * end the firing's flight.  Any thread; takes fmu and done_mu only. */
static void finish(struct firing *f, int commit_rc)
{
    struct at_trigger_svc *s = f->s;
    struct entry *e = f->e;
    if (commit_rc) {
        f->rc = at_diag_set(&f->d, commit_rc, NULL, 0, 0, "the firing could not be recorded");
        if (!f->skip)
            count(s, "atlas_trigger_failures_total", "Firings whose job could not be submitted",
                  e->t->name, "source", f->source);
    } else if (!f->skip) {
        if (getenv("ATLAS_TEST_KILL_AFTER_RECORD")) /* test hook: die between record and job */
            kill(getpid(), SIGKILL);
        if (f->conv[0]) {
            pthread_mutex_lock(&s->done_mu);
            conv_append(
                s, e->t->name, f->conv,
                json_pack("{s:s,s:O?}", "role", "user", "content", json_object_get(f->ev, "body")));
            pthread_mutex_unlock(&s->done_mu);
        }
        f->rc = submit_job(s, e, f->job, f->ev, f->input, f->conv[0] ? f->conv : NULL, f->seq,
                           f->doc, f->user_done, f->user_arg, f->on_event, f->event_arg, &f->d);
        if (f->rc) {
            json_object_set_new(f->doc, "status", json_string("failed"));
            json_object_set_new(f->doc, "reason", json_string(f->d.msg));
            struct rows_write *w = rows_new(1);
            rows_add(s, w, e->t->name, f->seq, f->job, 0, f->doc, NULL, NULL, 1);
            rows_submit(s, w, 0);
            count(s, "atlas_trigger_failures_total", "Firings whose job could not be submitted",
                  e->t->name, "source", f->source);
        } else {
            json_object_set_new(f->doc, "status", json_string("queued"));
            count(s, "atlas_trigger_firings_total", "Firings that started a job", e->t->name,
                  "source", f->source);
            if (f->scheduled > 0) {
                char labels[AT_METRICS_MAX_LABELS];
                at_metrics_labels(labels, sizeof(labels), "trigger", e->t->name, NULL);
                at_metrics_observe(
                    s->metrics, "atlas_trigger_lag_seconds",
                    "Seconds between a cron firing's scheduled time and its job", labels,
                    (s->clock_file ? (double)svc_now(s) : (double)at_wall_ms() / 1000.0) -
                        (double)f->scheduled);
            }
        }
    }
    pthread_mutex_lock(&s->fmu);
    struct idem_slot *slot = f->idem[0] ? at_map_get(&e->st->idem, f->idem) : NULL;
    if (slot && slot->seq == f->seq && slot->pending) {
        if (commit_rc)
            free(at_map_del(&e->st->idem, f->idem)); /* not recorded: the key is free */
        else
            slot->pending = 0;
    }
    e->st->inflight--;
    s->inflight--;
    pthread_cond_broadcast(&s->fcv);
    pthread_mutex_unlock(&s->fmu);
}

/* Reserve, record (waiting for the commit) and submit one firing.  f is
 * the caller's (firing_free).  0, 1 (a duplicate: f->job), or an error
 * (f->d). */
static int fire(struct firing *f, int check_paused, const json_t *body, const json_t *headers,
                const json_t *identity, const json_t *extra_input)
{
    int rc = reserve(f->s, f, check_paused);
    if (rc)
        return rc;
    build(f, body, headers, identity, extra_input, NULL);
    struct rows_write *w = rows_new(1);
    firing_row(w, f);
    finish(f, rows_submit(f->s, w, 1));
    return f->rc;
}

/* The record of an async delivery is committed (writer thread): hand it
 * to the acker. */
static void fire_committed(int rc, void *arg)
{
    struct firing *f = arg;
    struct at_trigger_svc *s = f->s;
    f->commit_rc = rc;
    pthread_mutex_lock(&s->aq_mu);
    *s->aq_tail = f;
    s->aq_tail = &f->next;
    pthread_cond_signal(&s->aq_cv);
    pthread_mutex_unlock(&s->aq_mu);
}

static void *acker_main(void *arg)
{
    struct at_trigger_svc *s = arg;
    pthread_mutex_lock(&s->aq_mu);
    for (;;) {
        while (!s->aq_head && !s->aq_stop)
            pthread_cond_wait(&s->aq_cv, &s->aq_mu);
        if (!s->aq_head)
            break;
        struct firing *f = s->aq_head;
        s->aq_head = NULL;
        s->aq_tail = &s->aq_head;
        pthread_mutex_unlock(&s->aq_mu);
        while (f) { /* all those queued, in order */
            struct firing *next = f->next;
            finish(f, f->commit_rc);
            f->then(f, f->then_arg);
            firing_free(f);
            f = next;
        }
        pthread_mutex_lock(&s->aq_mu);
    }
    pthread_mutex_unlock(&s->aq_mu);
    return NULL;
}

/* The same without waiting: AT_AGAIN when the record is queued (then(f)
 * runs after the commit and the job's submission, on the writer thread,
 * and f is freed after it), 1 (a duplicate) or an error, f the caller's. */
static int fire_async(struct firing *f, int check_paused, const json_t *body, const json_t *headers,
                      const json_t *identity)
{
    int rc = reserve(f->s, f, check_paused);
    if (rc)
        return rc;
    build(f, body, headers, identity, NULL, NULL);
    struct rows_write *w = rows_new(1);
    firing_row(w, f);
    w->then = fire_committed;
    w->then_arg = f;
    rc = rows_submit(f->s, w, 0);
    if (rc) { /* the queue is full: nothing was written */
        finish(f, rc);
        return f->rc;
    }
    return AT_AGAIN;
}

int at_trigger_conversations(struct at_trigger_svc *s, const char *name, json_t **out,
                             struct at_diag *d)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    int known = at_map_get(&s->byname, name) != NULL;
    pthread_mutex_unlock(&s->mu);
    if (!known)
        return missing(name, d);
    json_t *list = json_array();
    pthread_mutex_lock(&s->done_mu);
    size_t it = 0;
    const char *k;
    void *v;
    while (at_map_next(&s->convmeta, &it, &k, &v)) {
        const struct conv_meta *m = v;
        if (strcmp(m->trigger, name) != 0)
            continue;
        const json_t *h = at_map_get(&s->convs, k);
        const json_t *last = json_array_get(h, json_array_size(h) - 1);
        char a[40], b[40];
        at_time_iso8601(m->started_ms, a, sizeof(a));
        at_time_iso8601(m->updated_ms, b, sizeof(b));
        json_array_append_new(list, json_pack("{s:s,s:I,s:s,s:s,s:O?}", "conversation_id", k,
                                              "turns", (json_int_t)json_array_size(h), "started_at",
                                              a, "updated_at", b, "last", last));
    }
    pthread_mutex_unlock(&s->done_mu);
    *out = list;
    return 0;
}

/* The entry of name, referenced (NULL: none). */
static struct entry *entry_get(struct at_trigger_svc *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_get(&s->byname, name);
    if (e)
        entry_ref(e);
    pthread_mutex_unlock(&s->mu);
    return e;
}

int at_trigger_fire(struct at_trigger_svc *s, const char *name, const json_t *input, json_t **out,
                    struct at_diag *d)
{
    struct entry *e = entry_get(s, name);
    if (!e)
        return missing(name, d);
    struct firing *f = firing_new(s, e, "manual", 0, 0, NULL, NULL);
    int rc = fire(f, 0, input, NULL, NULL, input);
    if (rc)
        *d = f->d;
    else if (out)
        *out = json_deep_copy(f->doc);
    firing_free(f);
    entry_unref(e);
    return rc;
}

int at_trigger_history(struct at_trigger_svc *s, const char *name, int limit, json_t **out,
                       struct at_diag *d)
{
    struct entry *e = entry_get(s, name);
    if (!e)
        return missing(name, d);
    entry_unref(e);
    int keep = keep_of(s);
    if (limit <= 0 || limit > keep)
        limit = keep;
    json_t *arr = NULL;
    int rc = at_store_call(s->cfg.store, trigger_firing_list, name, limit, &arr);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "the firings could not be read");
    size_t i;
    json_t *f;
    json_array_foreach(arr, i, f)
    {
        int pending = json_is_true(json_object_get(f, "pending"));
        json_object_del(f, "pending");
        const char *job = at_json_str(f, "job_id", NULL);
        struct at_job_rec rec;
        if (job && (pending || strcmp(at_json_str(f, "status", ""), "queued") == 0) &&
            at_store_call(s->cfg.store, job_get, job, &rec) == 0) {
            /* a row still pending whose job is stored: queued */
            json_object_set_new(f, "status", json_string("queued"));
            json_object_set_new(f, "job_state", json_string(at_job_state_name(rec.state)));
            if (rec.error)
                json_object_set(f, "error", json_object_get(rec.error, "title"));
            at_job_rec_release(&rec);
        }
    }
    *out = arr;
    return 0;
}

/* ---- custom triggers: the emitter ---- */

struct emitter_ctx {
    struct at_trigger_svc *s;
    char name[AT_TRIGGER_NAME_MAX + 1];
    char job[AT_ID_MAX];
};

/* The emitter's job ended (writer thread): the cron thread starts another
 * once its back-off has passed. */
static void emitter_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct emitter_ctx *c = arg;
    (void)store_rc;
    pthread_mutex_lock(&c->s->done_mu);
    char *cur = at_map_get(&c->s->emitters, c->name);
    if (cur && strcmp(cur, c->job) == 0)
        free(at_map_del(&c->s->emitters, c->name));
    pthread_mutex_unlock(&c->s->done_mu);
    at_info("trigger", "%s: emitter job %s ended (%s)", c->name, c->job,
            rec ? at_job_state_name(rec->state) : "?");
    free(c);
}

/* Stop the running emitter of name (under mu; its end is asynchronous). */
static void emitter_cancel(struct at_trigger_svc *s, const char *name, const char *why)
{
    pthread_mutex_lock(&s->done_mu);
    char *cur = at_map_get(&s->emitters, name);
    char job[AT_ID_MAX] = "";
    if (cur)
        snprintf(job, sizeof(job), "%s", cur);
    pthread_mutex_unlock(&s->done_mu);
    if (job[0])
        at_engine_cancel(s->cfg.engine, job, why);
}

/* Start e's emitter when none runs and its back-off has passed (under mu,
 * cron thread). */
static void emitter_tick(struct at_trigger_svc *s, struct entry *e)
{
    const struct at_trigger *t = e->t;
    int64_t now = at_now_ms();
    pthread_mutex_lock(&s->done_mu);
    int running = at_map_get(&s->emitters, t->name) != NULL;
    pthread_mutex_unlock(&s->done_mu);
    if (running || now < e->emitter_due_ms)
        return;
    /* back-off 1 s, doubling to 60 s, back to 1 s after a run of a minute */
    if (e->emitter_started_ms && now - e->emitter_started_ms > 60000)
        e->emitter_backoff_ms = 0;
    e->emitter_backoff_ms = e->emitter_backoff_ms ? e->emitter_backoff_ms * 2 : 1000;
    if (e->emitter_backoff_ms > 60000)
        e->emitter_backoff_ms = 60000;
    e->emitter_started_ms = now;
    e->emitter_due_ms = now + e->emitter_backoff_ms;
    struct emitter_ctx *c = at_calloc(1, sizeof(*c));
    c->s = s;
    snprintf(c->name, sizeof(c->name), "%s", t->name);
    at_id_new("job", c->job);
    json_t *input = t->emitter_input ? json_incref(t->emitter_input) : json_object();
    json_t *who = json_pack("{s:s}", "trigger", t->name);
    json_t *ev = at_trigger_event_plain("trigger", t->emitter_agent, NULL, input, who);
    struct at_submit sub = {
        .agent = t->emitter_agent,
        .input = input,
        .source = "trigger",
        .on_done = emitter_done,
        .done_arg = c,
        .event = ev,
        .job_id = c->job,
    };
    pthread_mutex_lock(&s->done_mu);
    free(at_map_put(&s->emitters, t->name, at_strdup(c->job)));
    pthread_mutex_unlock(&s->done_mu);
    struct at_diag d;
    at_diag_clear(&d);
    if (at_engine_submit(s->cfg.engine, &sub, NULL, &d)) {
        pthread_mutex_lock(&s->done_mu);
        free(at_map_del(&s->emitters, t->name));
        pthread_mutex_unlock(&s->done_mu);
        at_warn("trigger", "%s: the emitter %s could not start (next try in %llds): %s", t->name,
                t->emitter_agent, (long long)(e->emitter_backoff_ms / 1000), d.msg);
        free(c);
    } else {
        at_info("trigger", "%s: emitter %s started as job %s", t->name, t->emitter_agent, c->job);
    }
    json_decref(ev);
    json_decref(who);
    json_decref(input);
}

int at_trigger_emit(struct at_trigger_svc *s, const char *caller_job, const char *name,
                    const json_t *body, const char *idem_key, json_t **out, struct at_diag *d)
{
    struct entry *e = entry_get(s, name);
    if (!e)
        return missing(name, d);
    const struct at_trigger *t = e->t;
    int rc = 0;
    if (t->type != AT_TRIGGER_CUSTOM) {
        rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                         "trigger \"%s\" is a %s trigger: only custom triggers take events", name,
                         at_trigger_type_name(t->type));
        goto out;
    }
    if (caller_job) {
        pthread_mutex_lock(&s->done_mu);
        const char *cur = at_map_get(&s->emitters, name);
        int mine = cur && strcmp(cur, caller_job) == 0;
        pthread_mutex_unlock(&s->done_mu);
        if (!mine) {
            rc = at_diag_set(d, AT_EPERM, NULL, 0, 0,
                             "only the emitter job of trigger \"%s\" (%s) may emit its events",
                             name, t->emitter_agent);
            goto out;
        }
    }
    char idem[300] = "";
    if (idem_key && idem_key[0])
        snprintf(idem, sizeof(idem), "%s", idem_key);
    else if (t->idem_path) {
        json_t *v = at_jsonpath_value(t->idem_path, body);
        if (json_is_string(v))
            snprintf(idem, sizeof(idem), "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(idem, sizeof(idem), "%lld", (long long)json_integer_value(v));
        json_decref(v);
    }
    json_t *who = caller_job ? json_pack("{s:s}", "job", caller_job) : NULL;
    struct firing *f = firing_new(s, e, "custom", 0, 0, idem[0] ? idem : NULL, NULL);
    rc = fire(f, 1, body, NULL, who, NULL);
    json_decref(who);
    if (rc == 1) {
        rc = 0;
        *out = json_pack("{s:s,s:b}", "job_id", f->job, "duplicate", 1);
        count(s, "atlas_trigger_duplicates_total",
              "Deliveries whose idempotency key was seen (no new job)", name, NULL, NULL);
    } else if (rc == 0) {
        *out = json_pack("{s:s,s:b}", "job_id", f->job, "duplicate", 0);
    } else {
        *d = f->d;
    }
    firing_free(f);
out:
    entry_unref(e);
    return rc;
}

/* ---- cron ---- */

static int64_t jitter_of(const struct at_trigger *t, int64_t due)
{
    if (t->jitter_s <= 0)
        return 0;
    /* deterministic per firing, so a restart waits for the same instant */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = t->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h ^= (uint64_t)due;
    h *= 1099511628211ull;
    return (int64_t)(h % (uint64_t)(t->jitter_s + 1));
}

/* The firings of one tick of the cron thread, recorded in one commit. */
struct batch {
    struct firing **f;
    size_t n, cap;
};

static void batch_add(struct batch *b, struct firing *f)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->f = at_realloc(b->f, b->cap * sizeof(*b->f));
    }
    b->f[b->n++] = f;
}

/* Decide e's firing of this tick, if one is due, and reserve it into b
 * (under mu). */
static void cron_tick(struct at_trigger_svc *s, struct entry *e, int64_t now, struct batch *b)
{
    const struct at_trigger *t = e->t;
    if (e->next_due <= 0 || now < e->next_due + jitter_of(t, e->next_due))
        return;
    int64_t latest = e->next_due;
    int n = 1;
    for (;;) {
        int64_t x = at_cron_next(&t->cron, t->tz, latest);
        if (x < 0 || x > now)
            break;
        latest = x;
        if (++n >= 1000000) {
            /* a per-second schedule over a long downtime: jump to now */
            latest = now;
            break;
        }
    }
    int is_missed = n > 1 || now - latest > GRACE_S;
    struct firing *f = firing_new(s, e, "cron", latest, is_missed ? n : 0, NULL, NULL);
    const char *why = NULL;
    char reason[160];
    if (is_missed && t->missed == AT_MISSED_SKIP) {
        f->skip = 1;
        f->missed = n;
        why = "missed while the daemon was down (missed: skip)";
        count(s, "atlas_trigger_skipped_total", "Cron firings not run", t->name, "reason",
              "missed");
        at_info("trigger", "%s: %d firing(s) missed, skipped (missed: skip)", t->name, n);
    } else {
        char prev[AT_ID_MAX] = "";
        pthread_mutex_lock(&s->done_mu);
        const char *cur = at_map_get(&s->running, t->name);
        if (cur)
            snprintf(prev, sizeof(prev), "%s", cur);
        pthread_mutex_unlock(&s->done_mu);
        if (prev[0] && t->concurrency == AT_CONC_FORBID) {
            f->skip = 1;
            f->missed = 0;
            snprintf(reason, sizeof(reason), "concurrency: forbid (job %s is still running)", prev);
            why = reason;
            count(s, "atlas_trigger_skipped_total", "Cron firings not run", t->name, "reason",
                  "concurrency");
        } else if (prev[0] && t->concurrency == AT_CONC_REPLACE) {
            at_engine_cancel(s->cfg.engine, prev,
                             "replaced by a newer firing (concurrency: replace)");
        }
    }
    if (reserve(s, f, 0)) {
        at_error("trigger", "%s: firing failed: %s", t->name, f->d.msg);
        firing_free(f);
    } else {
        if (f->skip) { /* the reason is built now: build() runs later */
            f->doc = json_pack("{s:s}", "reason", why);
        }
        batch_add(b, f);
    }
    compute_next(s, e);
}

/* Record the tick's firings in one commit, then submit their jobs (no
 * lock held). */
static void batch_run(struct at_trigger_svc *s, struct batch *b)
{
    struct rows_write *w = rows_new(b->n);
    for (size_t i = 0; i < b->n; i++) {
        struct firing *f = b->f[i];
        json_t *why = f->doc;
        f->doc = NULL;
        build(f, NULL, NULL, NULL, NULL, why ? at_json_str(why, "reason", NULL) : NULL);
        json_decref(why);
        firing_row(w, f);
    }
    int rc = rows_submit(s, w, 1);
    for (size_t i = 0; i < b->n; i++) {
        finish(b->f[i], rc);
        if (b->f[i]->rc && !b->f[i]->skip)
            at_error("trigger", "%s: firing failed: %s", b->f[i]->e->t->name, b->f[i]->d.msg);
        firing_free(b->f[i]);
    }
    b->n = 0;
}

static void *cron_main(void *arg)
{
    struct at_trigger_svc *s = arg;
    struct batch b = {0};
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        int64_t now = svc_now(s);
        size_t it = 0;
        const char *k;
        void *v;
        while (at_map_next(&s->byname, &it, &k, &v)) {
            struct entry *e = v;
            if (!e->paused && e->t->type == AT_TRIGGER_CRON)
                cron_tick(s, e, now, &b);
            else if (!e->paused && e->t->type == AT_TRIGGER_CUSTOM)
                emitter_tick(s, e);
        }
        if (b.n) {
            pthread_mutex_unlock(&s->mu);
            batch_run(s, &b);
            pthread_mutex_lock(&s->mu);
            if (s->stop)
                break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long step_ms = s->clock_file ? 50 : 1000 - (long)(at_wall_ms() % 1000);
        ts.tv_nsec += step_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    free(b.f);
    return NULL;
}

/* ---- life cycle ---- */

int at_trigger_svc_new(const struct at_trigger_svc_cfg *cfg, struct at_trigger_svc **out)
{
    if (sodium_init() < 0)
        return AT_EINTERNAL;
    struct at_trigger_svc *s = at_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->dir = cfg->dir ? at_strdup(cfg->dir) : NULL;
    s->cfg.dir = s->dir;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->fmu, NULL);
    pthread_cond_init(&s->fcv, NULL);
    pthread_mutex_init(&s->aq_mu, NULL);
    pthread_cond_init(&s->aq_cv, NULL);
    s->aq_tail = &s->aq_head;
    at_map_init(&s->states);
    pthread_mutex_init(&s->done_mu, NULL);
    pthread_mutex_init(&s->seen_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    at_map_init(&s->byname);
    at_map_init(&s->bypath);
    at_map_init(&s->running);
    at_map_init(&s->convs);
    at_map_init(&s->convmeta);
    at_map_init(&s->emitters);
    at_map_init(&s->seen);
    pthread_mutex_init(&s->rq_mu, NULL);
    pthread_cond_init(&s->rq_cv, NULL);
    s->rq_tail = &s->rq_head;
    s->metrics = at_metrics_new();
    const char *clk = getenv("ATLAS_CLOCK");
    if (clk && strncmp(clk, "file:", 5) == 0 && clk[5])
        s->clock_file = at_strdup(clk + 5);
    *out = s;
    return 0;
}

/* The scheduled second of a firing's doc (0: none). */
static int64_t sched_of(const json_t *doc)
{
    int64_t ms = 0;
    const char *sa = at_json_str(doc, "scheduled_at", NULL);
    if (!sa || at_time_parse_iso8601(sa, &ms))
        return 0;
    return ms / 1000;
}

/* Load e's firing state from its summary row and its firing rows; a
 * summary of the earlier format (the whole history and the keys in it) is
 * moved into rows first.  Under mu, at start. */
static void state_load(struct at_trigger_svc *s, struct entry *e)
{
    const char *name = e->t->name;
    char key[128];
    snprintf(key, sizeof(key), "trigger.firings/%s", name);
    json_t *sum = kv_read(s, key);
    int64_t seq = 0, sched = 0;
    if (json_is_array(json_object_get(sum, "history")) ||
        json_is_object(json_object_get(sum, "idem"))) {
        /* the format before migration 10: move it into rows */
        json_t *h = json_object_get(sum, "history"), *im = json_object_get(sum, "idem");
        struct rows_write *w = rows_new(json_array_size(h) + json_object_size(im));
        size_t i;
        json_t *f;
        json_array_foreach(h, i, f)
        {
            json_t *doc = json_deep_copy(f);
            json_object_del(doc, "event");
            json_object_del(doc, "input");
            json_t *pending = NULL;
            if (strcmp(at_json_str(f, "status", ""), "recorded") == 0 &&
                json_object_get(f, "event"))
                pending = json_pack("{s:O,s:O?}", "event", json_object_get(f, "event"), "input",
                                    json_object_get(f, "input"));
            rows_add(s, w, name, json_integer_value(json_object_get(f, "seq")),
                     at_json_str(f, "job_id", NULL), sched_of(f), doc, pending, NULL, 0);
            w->rows[w->n - 1].keep = 0;
            json_decref(doc);
            json_decref(pending);
        }
        const char *k;
        json_t *v;
        json_object_foreach(im, k, v)
        {
            int64_t kseq = 0;
            json_array_foreach(h, i, f) if (strcmp(at_json_str(f, "idempotency_key", ""), k) == 0)
                kseq = json_integer_value(json_object_get(f, "seq"));
            if (json_is_string(v))
                rows_add(s, w, name, kseq, json_string_value(v), 0, NULL, NULL, k, 0);
            w->rows[w->n - 1].keep = 0;
            w->rows[w->n - 1].idem_keep = 0;
        }
        int rc = rows_submit(s, w, 1);
        json_t *v2 = json_pack("{s:O?,s:O?}", "last", json_object_get(sum, "last"), "seq",
                               json_object_get(sum, "seq"));
        if (!rc)
            rc = kv_write(s, key, v2);
        json_decref(v2);
        if (rc)
            at_error("trigger", "%s: the firings could not be moved to their rows", name);
        else
            at_info("trigger", "%s: %zu firing(s) moved to their rows (migration 10)", name,
                    json_array_size(h));
    }
    if (at_store_call(s->cfg.store, trigger_firing_state, name, &seq, &sched))
        seq = sched = 0;
    json_t *keys = NULL;
    if (at_store_call(s->cfg.store, trigger_idem_load, name, MAX_IDEM, &keys))
        keys = NULL;
    pthread_mutex_lock(&s->fmu);
    struct tstate *st = e->st = state_get(s, name);
    st->seq = json_integer_value(json_object_get(sum, "seq"));
    if (seq > st->seq)
        st->seq = seq;
    st->last = json_is_integer(json_object_get(sum, "last"))
                   ? json_integer_value(json_object_get(sum, "last"))
                   : svc_now(s);
    if (sched > st->last)
        st->last = sched;
    size_t i;
    json_t *kv;
    json_array_foreach(keys, i, kv) idem_add(st, json_string_value(json_array_get(kv, 0)),
                                             json_string_value(json_array_get(kv, 1)),
                                             json_integer_value(json_array_get(kv, 2)), 0);
    pthread_mutex_unlock(&s->fmu);
    json_decref(keys);
    json_decref(sum);
}

/* Submit the firings recorded but never queued (the daemon died between
 * the record and the job's row); under mu, at start. */
static void recover(struct at_trigger_svc *s, struct entry *e)
{
    json_t *rows = NULL;
    if (at_store_call(s->cfg.store, trigger_firing_pending, e->t->name, &rows))
        return;
    struct rows_write *w = rows_new(json_array_size(rows));
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        json_t *f = json_object_get(r, "doc"), *p = json_object_get(r, "pending");
        int64_t seq = json_integer_value(json_object_get(r, "seq"));
        const char *job = at_json_str(f, "job_id", "");
        struct at_job_rec rec;
        struct at_diag d;
        at_diag_clear(&d);
        if (at_store_call(s->cfg.store, job_get, job, &rec) == 0) {
            at_job_rec_release(&rec);
            json_object_set_new(f, "status", json_string("queued"));
            rows_add(s, w, e->t->name, seq, job, 0, f, NULL, NULL, 1);
            continue;
        }
        json_object_set_new(f, "recovered", json_true());
        if (submit_job(s, e, job, json_object_get(p, "event"), json_object_get(p, "input"), NULL,
                       seq, f, NULL, NULL, NULL, NULL, &d) == 0) {
            /* the row stays pending until the job's row is committed */
            rows_add(s, w, e->t->name, seq, job, sched_of(f), f, p, NULL, 0);
            w->rows[w->n - 1].keep = w->rows[w->n - 1].idem_keep = 0;
            at_info("trigger", "%s: firing %s recorded before a restart, its job %s queued now",
                    e->t->name, at_json_str(f, "id", "?"), job);
            count(s, "atlas_trigger_firings_total", "Firings that started a job", e->t->name,
                  "source", at_json_str(f, "source", "?"));
        } else {
            json_object_set_new(f, "status", json_string("failed"));
            json_object_set_new(f, "reason", json_string(d.msg));
            rows_add(s, w, e->t->name, seq, job, 0, f, NULL, NULL, 1);
        }
    }
    json_decref(rows);
    if (w->n)
        rows_submit(s, w, 1);
    else
        rows_free(w);
}

static int load_dir(struct at_trigger_svc *s, struct at_diag *d)
{
    DIR *dir = opendir(s->dir);
    if (!dir) {
        if (errno == ENOENT)
            return 0;
        return at_diag_set(d, AT_EIO, s->dir, 0, 0, "cannot read the triggers directory: %s",
                           strerror(errno));
    }
    struct dirent *de;
    int rc = 0;
    char **names = NULL;
    size_t n = 0;
    while ((de = readdir(dir))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || !((l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0) ||
                                      (l > 4 && strcmp(de->d_name + l - 4, ".yml") == 0)))
            continue;
        names = at_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = at_asprintf("%s/%s", s->dir, de->d_name);
    }
    closedir(dir);
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        size_t len;
        if (!rc && (rc = at_fs_read_file(names[i], AT_YAML_MAX_BYTES, &text, &len)))
            at_diag_set(d, rc, names[i], 0, 0, "cannot read the trigger file");
        if (!rc)
            rc = at_trigger_register(s, names[i], text, len, NULL, d);
        free(text);
        free(names[i]);
    }
    free(names);
    return rc;
}

static void *replier_main(void *arg);

int at_trigger_svc_start(struct at_trigger_svc *s, struct at_diag *d)
{
    json_t *index = kv_read(s, "trigger.index");
    size_t i;
    json_t *nm;
    pthread_mutex_lock(&s->mu);
    json_array_foreach(index, i, nm)
    {
        const char *name = json_string_value(nm);
        char key[128];
        snprintf(key, sizeof(key), "trigger.def/%s", name ? name : "");
        json_t *def = name ? kv_read(s, key) : NULL;
        if (!def)
            continue;
        const char *src = at_json_str(def, "source", "");
        struct at_diag ld;
        at_diag_clear(&ld);
        struct entry *e = entry_load(s, at_json_str(def, "file", "?"), src, strlen(src), &ld);
        if (!e) {
            at_error("trigger", "registered trigger %s no longer loads: %s", name, ld.msg);
            json_decref(def);
            continue;
        }
        e->paused = json_is_true(json_object_get(def, "paused"));
        e->registered_ms = json_integer_value(json_object_get(def, "registered_ms"));
        json_decref(def);
        state_load(s, e);
        table_put(s, e);
        recover(s, e);
        compute_next(s, e);
    }
    pthread_mutex_unlock(&s->mu);
    json_decref(index);
    if (s->dir) {
        int rc = load_dir(s, d);
        if (rc)
            return rc;
    }
    if (pthread_create(&s->aq_thread, NULL, acker_main, s) != 0)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the trigger acker thread");
    s->aq_started = 1;
    if (pthread_create(&s->rq_thread, NULL, replier_main, s) != 0)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the trigger replier thread");
    s->rq_started = 1;
    if (pthread_create(&s->thread, NULL, cron_main, s) != 0)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the trigger thread");
    s->started = 1;
    return 0;
}

void at_trigger_svc_stop(struct at_trigger_svc *s)
{
    if (s && s->rq_started) {
        /* answers still waiting are dropped: the platforms retry nothing
         * we owe them, and a stop must not wait on their servers */
        pthread_mutex_lock(&s->rq_mu);
        s->rq_stop = 1;
        pthread_cond_signal(&s->rq_cv);
        pthread_mutex_unlock(&s->rq_mu);
        pthread_join(s->rq_thread, NULL);
        s->rq_started = 0;
    }
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->started = 0;
    }
    /* no firing after this: those in flight (deliveries acknowledged
     * later) end first, as their jobs need the engine */
    pthread_mutex_lock(&s->fmu);
    s->closing = 1;
    while (s->inflight > 0)
        pthread_cond_wait(&s->fcv, &s->fmu);
    pthread_mutex_unlock(&s->fmu);
    if (s->aq_started) {
        pthread_mutex_lock(&s->aq_mu);
        s->aq_stop = 1;
        pthread_cond_signal(&s->aq_cv);
        pthread_mutex_unlock(&s->aq_mu);
        pthread_join(s->aq_thread, NULL);
        s->aq_started = 0;
    }
}

void at_trigger_svc_free(struct at_trigger_svc *s)
{
    if (!s)
        return;
    at_trigger_svc_stop(s);
    size_t it = 0;
    const char *k;
    void *v;
    while (at_map_next(&s->byname, &it, &k, &v))
        entry_unref(v);
    at_map_release(&s->byname);
    at_map_release(&s->bypath);
    it = 0;
    while (at_map_next(&s->running, &it, &k, &v))
        free(v);
    at_map_release(&s->running);
    it = 0;
    while (at_map_next(&s->convs, &it, &k, &v))
        json_decref(v);
    at_map_release(&s->convs);
    it = 0;
    while (at_map_next(&s->convmeta, &it, &k, &v))
        free(v);
    at_map_release(&s->convmeta);
    it = 0;
    while (at_map_next(&s->emitters, &it, &k, &v))
        free(v);
    at_map_release(&s->emitters);
    it = 0;
    while (at_map_next(&s->states, &it, &k, &v))
        state_free(v);
    at_map_release(&s->states);
    it = 0;
    while (at_map_next(&s->seen, &it, &k, &v))
        free(v);
    at_map_release(&s->seen);
    for (struct reply_item *ri = s->rq_head, *rnext; ri; ri = rnext) {
        rnext = ri->next;
        free(ri->trigger);
        free(ri->url);
        wipe(ri->auth);
        free(ri->body);
        free(ri);
    }
    pthread_mutex_destroy(&s->rq_mu);
    pthread_cond_destroy(&s->rq_cv);
    at_metrics_free(s->metrics);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->done_mu);
    pthread_mutex_destroy(&s->fmu);
    pthread_cond_destroy(&s->fcv);
    pthread_mutex_destroy(&s->aq_mu);
    pthread_cond_destroy(&s->aq_cv);
    pthread_mutex_destroy(&s->seen_mu);
    pthread_cond_destroy(&s->cv);
    free(s->clock_file);
    free(s->dir);
    free(s);
}

/* ---- slack and discord answers ---- */

struct reply_ctx {
    struct at_trigger_svc *s;
    char name[AT_TRIGGER_NAME_MAX + 1];
    enum at_trigger_iface iface;
    char *url;
    char *auth;
    json_t *base;
};

static void reply_ctx_free(struct reply_ctx *rx)
{
    if (!rx)
        return;
    free(rx->url);
    wipe(rx->auth);
    json_decref(rx->base);
    free(rx);
}

/* Where a message's answer goes (under mu: t is the entry's). */
static struct reply_ctx *reply_ctx_new(struct at_trigger_svc *s, const struct at_trigger *t,
                                       const struct at__chat_req *c)
{
    struct reply_ctx *rx = at_calloc(1, sizeof(*rx));
    rx->s = s;
    snprintf(rx->name, sizeof(rx->name), "%s", t->name);
    rx->iface = t->iface;
    rx->base = json_incref(c->reply_base);
    if (t->iface == AT_IFACE_DISCORD) {
        /* the interaction's follow-up webhook: POST /webhooks/APP/TOKEN */
        const char *base = t->reply_url;
        size_t bl = strlen(base);
        while (bl && base[bl - 1] == '/')
            bl--;
        rx->url = at_asprintf("%.*s/webhooks/%s/%s", (int)bl, base,
                              at_json_str(c->reply_base, "application_id", ""),
                              at_json_str(c->reply_base, "token", ""));
        json_decref(rx->base);
        rx->base = NULL;
        return rx;
    }
    /* slack: a slash command's response_url (when it is one of Slack's),
     * else chat.postMessage with the bot token */
    if (c->reply_url && t->response_url_prefix &&
        strncmp(c->reply_url, t->response_url_prefix, strlen(t->response_url_prefix)) == 0 &&
        !strpbrk(c->reply_url, " \r\n")) {
        rx->url = at_strdup(c->reply_url);
        return rx;
    }
    rx->url = at_strdup(t->reply_url);
    json_object_del(rx->base, "response_type");
    char *tok = NULL;
    if ((t->reply_token_env || t->reply_token_file || t->reply_token_secret) &&
        value_get(s, t->reply_token_env, t->reply_token_file, t->reply_token_secret, &tok) == 0) {
        rx->auth = at_asprintf("Authorization: Bearer %s", tok);
        wipe(tok);
    }
    return rx;
}

static void reply_enqueue(struct at_trigger_svc *s, const char *trigger, const char *url,
                          const char *auth, json_t *body)
{
    struct reply_item *it = at_calloc(1, sizeof(*it));
    it->trigger = at_strdup(trigger);
    it->url = at_strdup(url);
    it->auth = auth ? at_strdup(auth) : NULL;
    it->body = json_dumps(body, JSON_COMPACT);
    pthread_mutex_lock(&s->rq_mu);
    int drop = s->rq_stop || s->rq_n >= MAX_REPLIES;
    if (!drop) {
        *s->rq_tail = it;
        s->rq_tail = &it->next;
        s->rq_n++;
        pthread_cond_signal(&s->rq_cv);
    }
    pthread_mutex_unlock(&s->rq_mu);
    if (drop) {
        at_warn("trigger", "%s: answer to %s dropped (%s)", trigger, url,
                s->rq_stop ? "the daemon is stopping" : "too many answers waiting");
        count(s, "atlas_trigger_replies_total", "Slack and Discord answers posted", trigger,
              "outcome", "dropped");
        free(it->trigger);
        free(it->url);
        wipe(it->auth);
        free(it->body);
        free(it);
    }
}

/* The job of a slack/discord message ended (writer thread): queue its
 * answer. */
static void reply_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct reply_ctx *rx = arg;
    size_t max = rx->iface == AT_IFACE_DISCORD ? DISCORD_TEXT_MAX : SLACK_TEXT_MAX;
    char *text;
    if (!store_rc && rec && rec->state == AT_JOB_COMPLETED) {
        text = at__trigger_chat_text(rec->output, max);
    } else {
        const char *why = rec && rec->error ? at_json_str(rec->error, "detail", NULL) : NULL;
        if (!why && rec && rec->error)
            why = at_json_str(rec->error, "title", NULL);
        char *t = at_asprintf("Sorry, that did not work (%s): %s", rec ? rec->id : "?",
                              why ? why : "the job failed");
        json_t *js = json_string(t);
        text = at__trigger_chat_text(js, max);
        json_decref(js);
        free(t);
    }
    json_t *body = at__trigger_chat_reply_body(rx->iface, rx->base, text);
    reply_enqueue(rx->s, rx->name, rx->url, rx->auth, body);
    json_decref(body);
    free(text);
    reply_ctx_free(rx);
}

static size_t reply_sink(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static void *replier_main(void *arg)
{
    struct at_trigger_svc *s = arg;
    pthread_mutex_lock(&s->rq_mu);
    for (;;) {
        while (!s->rq_stop && !s->rq_head)
            pthread_cond_wait(&s->rq_cv, &s->rq_mu);
        if (s->rq_stop)
            break;
        struct reply_item *it = s->rq_head;
        s->rq_head = it->next;
        if (!s->rq_head)
            s->rq_tail = &s->rq_head;
        s->rq_n--;
        pthread_mutex_unlock(&s->rq_mu);
        long status = 0;
        CURLcode cc = CURLE_FAILED_INIT;
        CURL *h = curl_easy_init();
        if (h) {
            struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json; "
                                                            "charset=utf-8");
            if (it->auth)
                hl = curl_slist_append(hl, it->auth);
            curl_easy_setopt(h, CURLOPT_URL, it->url);
            curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)REPLY_TIMEOUT_MS);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, it->body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(it->body));
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
            curl_easy_setopt(h, CURLOPT_USERAGENT, "atlas-triggers");
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, reply_sink);
            cc = curl_easy_perform(h);
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            curl_slist_free_all(hl);
            curl_easy_cleanup(h);
        }
        int ok = cc == CURLE_OK && status >= 200 && status < 300;
        if (!ok)
            at_warn("trigger", "%s: posting the answer to %s failed: %s", it->trigger, it->url,
                    cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP status not 2xx");
        count(s, "atlas_trigger_replies_total", "Slack and Discord answers posted", it->trigger,
              "outcome", ok ? "ok" : "failed");
        free(it->trigger);
        free(it->url);
        wipe(it->auth);
        free(it->body);
        free(it);
        pthread_mutex_lock(&s->rq_mu);
    }
    pthread_mutex_unlock(&s->rq_mu);
    return NULL;
}

/* ---- webhooks ---- */

void at_trigger_hmac_hex(const char *secret, const char *a, size_t alen, const char *b, size_t blen,
                         char out[65])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    if (a)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)a, alen);
    if (b)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)b, blen);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, 65, mac, sizeof(mac));
}

static int hex_eq(const char *want, const char *got, size_t got_len)
{
    if (got_len != 64)
        return 0;
    char g[65];
    for (size_t i = 0; i < 64; i++)
        g[i] = (char)((got[i] >= 'A' && got[i] <= 'F') ? got[i] + 32 : got[i]);
    g[64] = '\0';
    return sodium_memcmp(want, g, 64) == 0;
}

/* Refuse a signature seen within the window (a replayed delivery). */
static int seen_before(struct at_trigger_svc *s, const char *sig, int64_t now, int64_t window)
{
    pthread_mutex_lock(&s->seen_mu);
    int64_t *exp = at_map_get(&s->seen, sig);
    int seen = exp && *exp > now;
    if (!seen) {
        if (s->seen.len >= MAX_SEEN) { /* drop the expired, then anything */
            size_t it = 0;
            const char *k;
            void *v;
            char *victim = NULL;
            while (at_map_next(&s->seen, &it, &k, &v))
                if (*(int64_t *)v <= now || !victim) {
                    free(victim);
                    victim = at_strdup(k);
                    if (*(int64_t *)v <= now)
                        break;
                }
            if (victim) {
                free(at_map_del(&s->seen, victim));
                free(victim);
            }
        }
        int64_t *x = exp ? exp : at_malloc(sizeof(*x));
        *x = now + window;
        if (!exp)
            at_map_put(&s->seen, sig, x);
    }
    pthread_mutex_unlock(&s->seen_mu);
    return seen;
}

static int verify(struct at_trigger_svc *s, const struct at_trigger *t,
                  const struct at_trigger_delivery *dv, struct at_diag *d)
{
    if (t->sig == AT_SIG_NONE)
        return 0;
    const char *hv = at_json_str(dv->headers, t->sig_header, NULL);
    if (!hv)
        return at_diag_set(d, t->sig == AT_SIG_DISCORD ? AT_EAUTH : AT_EPERM, NULL, 0, 0,
                           "the %s header (signature) is missing", t->sig_header);
    char *secret;
    if (secret_get(s, t, &secret))
        return at_diag_set(d, AT_EPERM, NULL, 0, 0, "the trigger's secret is not available");
    char want[65];
    int ok = 0, rc = 0;
    int64_t now = svc_now(s);
    if (t->sig == AT_SIG_SLACK || t->sig == AT_SIG_DISCORD) {
        /* Slack v0 / Discord Ed25519: a timestamp header within the window,
         * signed together with the body; an accepted signature is not
         * accepted twice */
        const char *tsv = at_json_str(dv->headers, t->sig_ts_header, NULL);
        char *end = NULL;
        long long ts = tsv ? strtoll(tsv, &end, 10) : -1;
        if (!tsv || !tsv[0] || (end && *end) || ts < 0 || strlen(tsv) > 20) {
            rc = at_diag_set(d, t->sig == AT_SIG_DISCORD ? AT_EAUTH : AT_EPERM, NULL, 0, 0,
                             "the %s header (the signed timestamp) is missing or not a number",
                             t->sig_ts_header);
        } else if (ts < now - t->tolerance_s || ts > now + t->tolerance_s) {
            rc = at_diag_set(d, t->sig == AT_SIG_DISCORD ? AT_EAUTH : AT_EPERM, NULL, 0, 0,
                             "the signature's timestamp is outside the replay window (%llds)",
                             (long long)t->tolerance_s);
        } else {
            if (t->sig == AT_SIG_SLACK) {
                ok = at__trigger_slack_sig_ok(secret, tsv, hv, dv->body, dv->len, want);
            } else {
                ok = at__trigger_discord_sig_ok(secret, tsv, hv, dv->body, dv->len);
                snprintf(want, sizeof(want), "%.64s", hv);
            }
            if (ok) {
                char key[200];
                snprintf(key, sizeof(key), "%s:%s:%.64s", t->name, tsv, want);
                if (seen_before(s, key, now, 2 * t->tolerance_s + 1))
                    rc = at_diag_set(d, AT_EEXIST, NULL, 0, 0,
                                     "replayed delivery (this signature was already accepted)");
            } else if (t->sig == AT_SIG_DISCORD) {
                rc = at_diag_set(d, AT_EAUTH, NULL, 0, 0, "invalid request signature");
            }
        }
    } else if (t->sig == AT_SIG_GITHUB || (t->sig == AT_SIG_HMAC && !t->sig_ts_header)) {
        const char *hex = hv;
        if (strncasecmp(hex, "sha256=", 7) == 0)
            hex += 7;
        else if (t->sig == AT_SIG_GITHUB)
            hex = "";
        at_trigger_hmac_hex(secret, dv->body, dv->len, NULL, 0, want);
        ok = hex_eq(want, hex, strlen(hex));
    } else {
        /* timestamped: Stripe "t=TS,v1=HEX[,v1=HEX]" or hmac + timestamp header */
        long long ts = -1;
        const char *sigs[8];
        size_t sl[8], ns = 0;
        if (t->sig == AT_SIG_STRIPE) {
            const char *p = hv;
            while (*p) {
                const char *end = strchr(p, ',');
                size_t l = end ? (size_t)(end - p) : strlen(p);
                if (l > 2 && strncmp(p, "t=", 2) == 0)
                    ts = strtoll(p + 2, NULL, 10);
                else if (l > 3 && strncmp(p, "v1=", 3) == 0 && ns < 8) {
                    sigs[ns] = p + 3;
                    sl[ns++] = l - 3;
                }
                p += l + (end ? 1 : 0);
            }
        } else {
            const char *tsv = at_json_str(dv->headers, t->sig_ts_header, NULL);
            ts = tsv ? strtoll(tsv, NULL, 10) : -1;
            sigs[0] = strncasecmp(hv, "sha256=", 7) == 0 ? hv + 7 : hv;
            sl[0] = strlen(sigs[0]);
            ns = 1;
        }
        if (ts < 0) {
            rc = at_diag_set(d, AT_EPERM, NULL, 0, 0, "the signature has no timestamp");
        } else if (ts < now - t->tolerance_s || ts > now + t->tolerance_s) {
            rc = at_diag_set(d, AT_EPERM, NULL, 0, 0,
                             "the signature's timestamp is outside the replay window (%llds)",
                             (long long)t->tolerance_s);
        } else {
            char tsb[32];
            int tl = snprintf(tsb, sizeof(tsb), "%lld.", ts);
            at_trigger_hmac_hex(secret, tsb, (size_t)tl, dv->body, dv->len, want);
            for (size_t i = 0; i < ns && !ok; i++)
                ok = hex_eq(want, sigs[i], sl[i]);
            if (ok) {
                char key[160];
                snprintf(key, sizeof(key), "%s:%s", t->name, want);
                if (seen_before(s, key, now, 2 * t->tolerance_s + 1))
                    rc = at_diag_set(d, AT_EEXIST, NULL, 0, 0,
                                     "replayed delivery (this signature was already accepted)");
            }
        }
    }
    wipe(secret);
    if (rc)
        return rc;
    return ok ? 0 : at_diag_set(d, AT_EPERM, NULL, 0, 0, "the signature does not match");
}

static json_t *parse_body(const struct at_trigger_delivery *dv)
{
    if (dv->len == 0)
        return json_null();
    const char *ct = at_json_str(dv->headers, "content-type", "");
    if (strstr(ct, "json") || dv->body[0] == '{' || dv->body[0] == '[') {
        json_t *j = json_loadb(dv->body, dv->len, JSON_REJECT_DUPLICATES, NULL);
        if (j)
            return j;
    }
    return json_stringn(dv->body, dv->len) ? json_stringn(dv->body, dv->len) : json_null();
}

struct accept_ctx {
    struct at_trigger_svc *s;
    at_trigger_accepted_fn fn;
    void *arg;
    char conversation[AT_ID_MAX + 64];
};

/* An async delivery's firing was recorded and its job submitted (or not):
 * answer (writer thread). */
static void delivered(struct firing *f, void *arg)
{
    struct accept_ctx *c = arg;
    struct at_trigger_result res;
    memset(&res, 0, sizeof(res));
    res.jobs = json_array();
    snprintf(res.conversation, sizeof(res.conversation), "%s", c->conversation);
    if (!f->rc)
        json_array_append_new(res.jobs, json_string(f->job));
    else
        count(c->s, "atlas_trigger_deliveries_refused_total",
              "HTTP deliveries refused (signature, size, pause, no such path, ...)", f->e->t->name,
              "code", at_err_slug(f->rc));
    c->fn(f->rc, &res, f->d.msg, c->arg);
    json_decref(res.jobs);
    free(c);
}

int at_trigger_deliver(struct at_trigger_svc *s, const struct at_trigger_delivery *dv,
                       struct at_trigger_result *res, struct at_diag *d)
{
    memset(res, 0, sizeof(*res));
    res->jobs = json_array();
    struct at__chat_req chat;
    memset(&chat, 0, sizeof(chat));
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_get(&s->bypath, dv->path);
    if (e)
        entry_ref(e);
    pthread_mutex_unlock(&s->mu);
    int rc = 0;
    json_t *body = NULL, *hdrs = NULL;
    struct firing *f = NULL;
    if (!e) {
        rc = AT_ENOENT;
        at_diag_set(d, rc, NULL, 0, 0, "no trigger listens on %s", dv->path);
        goto out;
    }
    const struct at_trigger *t = e->t;
    pthread_mutex_lock(&s->fmu);
    int paused = e->paused;
    pthread_mutex_unlock(&s->fmu);
    if (paused) {
        rc = at_diag_set(d, AT_ESTATE, NULL, 0, 0, "trigger \"%s\" is paused", t->name);
        goto out;
    }
    if (dv->len > t->max_body) {
        rc = at_diag_set(d, AT_E2BIG, NULL, 0, 0,
                         "the body is %zu bytes, over this trigger's max_body (%zu)", dv->len,
                         t->max_body);
        goto out;
    }
    int is_ws = t->type == AT_TRIGGER_CONVERSATIONAL && t->iface == AT_IFACE_WEBSOCKET;
    if (is_ws != (dv->websocket != 0)) {
        rc = at_diag_set(d, AT_EMETHOD, NULL, 0, 0,
                         is_ws ? "trigger \"%s\" takes WebSocket connections (GET %s with "
                                 "Upgrade: websocket), not POSTs"
                               : "trigger \"%s\" takes POSTs at %s, not WebSocket messages",
                         t->name, t->path);
        goto out;
    }
    if ((rc = verify(s, t, dv, d)))
        goto out;
    int is_chat = t->type == AT_TRIGGER_CONVERSATIONAL &&
                  (t->iface == AT_IFACE_SLACK || t->iface == AT_IFACE_DISCORD);
    if (is_chat) {
        if ((rc = at__trigger_chat_parse(t, dv->headers, dv->body, dv->len, &chat, d)))
            goto out;
        res->chat = 1;
        res->answer = json_incref(chat.answer);
        if (chat.kind != AT_CHAT_MESSAGE)
            goto out;
        body = json_incref(chat.body);
    } else {
        body = parse_body(dv);
    }
    hdrs = at_trigger_filter_headers(t, dv->headers);
    /* the idempotency key: the configured body path, else the header (a
     * GitHub delivery's id for the github scheme) */
    char idem[300] = "";
    if (is_chat && chat.idem[0])
        snprintf(idem, sizeof(idem), "%s", chat.idem);
    if (t->idem_path && !idem[0]) {
        json_t *v = at_jsonpath_value(t->idem_path, body);
        if (json_is_string(v))
            snprintf(idem, sizeof(idem), "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(idem, sizeof(idem), "%lld", (long long)json_integer_value(v));
        json_decref(v);
    }
    if (!idem[0] && !is_chat) {
        const char *iv = at_json_str(dv->headers, t->idem_header, NULL);
        if (!iv && t->sig == AT_SIG_GITHUB)
            iv = at_json_str(dv->headers, "x-github-delivery", NULL);
        if (iv)
            snprintf(idem, sizeof(idem), "%s", iv);
    }
    const char *conv = NULL;
    if (t->type == AT_TRIGGER_CONVERSATIONAL) {
        const char *cid = dv->conversation;
        if (!cid && is_chat)
            cid = chat.conversation;
        if (!cid)
            cid = at_json_str(body, "conversation_id", NULL);
        if (!cid)
            cid = at_json_str(dv->headers, "atlas-conversation", NULL);
        if (cid && strlen(cid) < sizeof(res->conversation) - 1)
            snprintf(res->conversation, sizeof(res->conversation), "%s", cid);
        else
            at_id_new("conv", res->conversation);
        conv = res->conversation;
        if (dv->conversation_out)
            snprintf(dv->conversation_out, dv->conversation_out_len, "%s", conv);
    }
    res->sync = t->respond_sync && dv->on_done && !is_chat;
    if (t->type == AT_TRIGGER_ALERTMANAGER) {
        json_t *alerts = json_object_get(body, "alerts");
        if (!json_is_object(body) || !json_is_array(alerts)) {
            rc = at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                             "not an Alertmanager webhook payload (no \"alerts\" array)");
            goto out;
        }
        if (t->per_alert) {
            json_t *group = json_deep_copy(body);
            json_object_del(group, "alerts");
            size_t i;
            json_t *a;
            res->sync = 0; /* several jobs: answered with their ids */
            json_array_foreach(alerts, i, a)
            {
                json_t *one = json_pack("{s:O,s:O,s:O}", "alert", a, "group", group, "status",
                                        json_object_get(a, "status"));
                struct firing *af =
                    firing_new(s, e, "alertmanager", 0, 0, i == 0 && idem[0] ? idem : NULL, NULL);
                rc = fire(af, 1, one, hdrs, dv->identity, NULL);
                json_decref(one);
                if (rc == 1) { /* the group was delivered before */
                    json_array_append_new(res->jobs, json_string(af->job));
                    res->duplicate = 1;
                    rc = 0;
                    firing_free(af);
                    break;
                }
                if (rc) {
                    *d = af->d;
                    firing_free(af);
                    break;
                }
                json_array_append_new(res->jobs, json_string(af->job));
                firing_free(af);
            }
            json_decref(group);
            goto out;
        }
    }
    at_job_done_fn done = res->sync ? dv->on_done : NULL;
    void *done_arg = res->sync ? dv->done_arg : NULL;
    struct reply_ctx *rx = NULL;
    if (is_chat) {
        rx = reply_ctx_new(s, t, &chat);
        done = reply_done;
        done_arg = rx;
    }
    f = firing_new(s, e, at_trigger_type_name(t->type), 0, 0, idem[0] ? idem : NULL, conv);
    f->user_done = done;
    f->user_arg = done_arg;
    f->on_event = res->sync ? dv->on_event : NULL;
    f->event_arg = res->sync ? dv->event_arg : NULL;
    if (dv->on_accepted && !res->sync && !is_chat) {
        /* acknowledged from the commit's completion: no thread waits */
        struct accept_ctx *ac = at_calloc(1, sizeof(*ac));
        ac->s = s;
        ac->fn = dv->on_accepted;
        ac->arg = dv->accepted_arg;
        snprintf(ac->conversation, sizeof(ac->conversation), "%s", res->conversation);
        f->then = delivered;
        f->then_arg = ac;
        rc = fire_async(f, 1, body, hdrs, dv->identity);
        if (rc == AT_AGAIN) {
            f = NULL; /* the completion's now */
            goto out;
        }
        free(ac);
    } else {
        rc = fire(f, 1, body, hdrs, dv->identity, NULL);
    }
    if (rc == 1) {
        json_array_append_new(res->jobs, json_string(f->job));
        res->duplicate = 1;
        res->sync = 0;
        rc = 0;
        reply_ctx_free(rx);
    } else if (rc == 0) {
        json_array_append_new(res->jobs, json_string(f->job));
    } else {
        *d = f->d;
        res->sync = 0;
        reply_ctx_free(rx);
    }
out:
    if (rc && rc != AT_AGAIN)
        count(s, "atlas_trigger_deliveries_refused_total",
              "HTTP deliveries refused (signature, size, pause, no such path, ...)",
              e ? e->t->name : "", "code", at_err_slug(rc));
    else if (res->duplicate)
        count(s, "atlas_trigger_duplicates_total",
              "Deliveries whose idempotency key was seen (no new job)", e->t->name, NULL, NULL);
    firing_free(f);
    entry_unref(e);
    json_decref(body);
    json_decref(hdrs);
    at__trigger_chat_req_release(&chat);
    if (rc && rc != AT_AGAIN) {
        json_decref(res->answer);
        res->answer = NULL;
        res->chat = 0;
    }
    return rc;
}

int at_trigger_needs_token(struct at_trigger_svc *s, const char *path)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_get(&s->bypath, path);
    int yes = e && e->t->auth_token;
    pthread_mutex_unlock(&s->mu);
    return yes;
}

int at_trigger_ws_lookup(struct at_trigger_svc *s, const char *path, size_t *max_body,
                         struct at_diag *d)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = at_map_get(&s->bypath, path);
    int rc = 0;
    if (!e)
        rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no trigger listens on %s", path);
    else if (e->t->type != AT_TRIGGER_CONVERSATIONAL || e->t->iface != AT_IFACE_WEBSOCKET)
        rc = at_diag_set(d, AT_EMETHOD, NULL, 0, 0,
                         "trigger \"%s\" takes POSTs at %s, not WebSocket connections", e->t->name,
                         path);
    else if (e->paused)
        rc = at_diag_set(d, AT_ESTATE, NULL, 0, 0, "trigger \"%s\" is paused", e->t->name);
    else
        *max_body = e->t->max_body;
    if (rc)
        count(s, "atlas_trigger_deliveries_refused_total",
              "HTTP deliveries refused (signature, size, pause, no such path, ...)",
              e ? e->t->name : "", "code", at_err_slug(rc));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void at_trigger_svc_metrics(struct at_trigger_svc *s, struct at_buf *b)
{
    if (s)
        at_metrics_format(s->metrics, b);
}
