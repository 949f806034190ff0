/*
 * tlog.c - the signed, tamper-evident audit trail (tlog.h).
 */
#include "tlog/tlog.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"
#include "security/audit.h"
#include "tlog/bundle.h"
#include "tlog/dsse.h"
#include "tlog/merkle.h"
#include "tlog/note.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct item {
    struct item *next;
    const char *kind; /* static */
    json_t *content;  /* or NULL with job set */
    int has_job;
    struct at_job_rec job;
    int64_t ts_ms;
};

struct at_tlog {
    struct at_tlogstore *ts;
    unsigned char pk[32], sk[64];
    struct at_note_key key;
    char keyid[64]; /* DSSE keyid: "ed25519:" + 16 hex */
    char *node;
    struct at_tlog_cfg cfg;
    struct at_tlog_cosigner cosigner;
    int has_cosigner;

    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    pthread_t thread;
    int started, stop;
    struct item *head, *tail;
    size_t queued;
    uint64_t submitted, committed; /* sequence numbers of records */
    long long dropped, dropped_reported;
    /* the tree (rows in order), guarded by mu; appended by the log thread */
    at_merkle_hash *leaves;
    size_t n, cap;
    int64_t next_idx;
    /* the store's rows do not match the latest checkpoint (found at
     * start): no checkpoint is signed over them (docs/audit.md) */
    int tampered;
    /* the latest checkpoint */
    char *note;
    uint64_t note_size;
    int64_t note_ms;
};

static void b64(const unsigned char *p, size_t n, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

static int push(struct at_tlog *t, struct item *it)
{
    pthread_mutex_lock(&t->mu);
    if (t->stop || t->queued >= t->cfg.queue_max) {
        t->dropped++;
        long long dr = t->dropped;
        pthread_mutex_unlock(&t->mu);
        if (dr == 1 || dr % 1000 == 0)
            at_warn("audit", "audit log queue full: %lld records dropped", dr);
        json_decref(it->content);
        if (it->has_job)
            at_job_rec_release(&it->job);
        free(it);
        return AT_EBUSY;
    }
    if (t->tail)
        t->tail->next = it;
    else
        t->head = it;
    t->tail = it;
    t->queued++;
    t->submitted++;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int at_tlog_submit(struct at_tlog *t, const char *kind, json_t *content)
{
    const char *k = NULL;
    if (kind && !strcmp(kind, "event"))
        k = "event";
    else if (kind && !strcmp(kind, "semantic"))
        k = "semantic";
    else if (kind && !strcmp(kind, "receipt"))
        k = "receipt";
    if (!t || !k || !json_is_object(content)) {
        json_decref(content);
        return AT_EINVAL;
    }
    struct item *it = at_calloc(1, sizeof(*it));
    it->kind = k;
    it->content = content;
    it->ts_ms = at_wall_ms();
    return push(t, it);
}

void at_tlog_audit_sink(void *arg, const struct at_audit_rec *r)
{
    struct at_tlog *t = arg;
    if (!r->kind || !strcmp(r->kind, "event")) {
        json_t *c = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?}", "event", r->event, "actor",
                              r->actor, "role", r->role, "action", r->action, "outcome", r->outcome,
                              "source", r->source, "detail", r->detail);
        if (c)
            at_tlog_submit(t, "event", c);
        return;
    }
    if (!json_is_object(r->data)) {
        at_warn("audit", "a %s record without an object as its data: not logged", r->kind);
        return;
    }
    /* a deep copy: the caller's object may change after we return */
    at_tlog_submit(t, r->kind, json_deep_copy(r->data));
}

void at_tlog_job_final(struct at_tlog *t, const struct at_job_rec *rec)
{
    if (!t)
        return;
    struct item *it = at_calloc(1, sizeof(*it));
    it->kind = "receipt";
    it->has_job = 1;
    /* the JSON too: the engine shares a step's input with the chain that mapped it, and
     * jansson's reference counts are not visible to the other thread's free */
    at_job_rec_clone(&it->job, rec);
    it->ts_ms = at_wall_ms();
    push(t, it);
}

void at_tlog_sync(struct at_tlog *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t target = t->submitted;
    while (t->committed < target && t->started)
        pthread_cond_wait(&t->done_cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static void digest_or_null(json_t *o, const char *key, const json_t *v)
{
    char d[AT_AUDIT_DIGEST_MAX];
    if (v && at_audit_digest(v, d) == 0)
        json_object_set_new(o, key, json_string(d));
    else
        json_object_set_new(o, key, json_null());
}

/* The receipt of a finished job (docs/audit.md "Execution receipts"). */
static json_t *job_receipt(struct at_tlog *t, const struct at_job_rec *j)
{
    json_t *agent = json_pack("{s:s?,s:s?}", "name", j->agent, "version", j->agent_version);
    char dg[80] = "";
    if (t->cfg.agent_digest && j->agent && j->agent_version &&
        t->cfg.agent_digest(t->cfg.agent_arg, j->agent, j->agent_version, dg) == 0 && dg[0])
        json_object_set_new(agent, "digest", json_string(dg));
    else
        json_object_set_new(agent, "digest", json_null());
    int64_t dur = j->finished_ms && j->started_ms ? j->finished_ms - j->started_ms : 0;
    json_t *res =
        json_pack("{s:i,s:I,s:I,s:I,s:I}", "attempts", j->attempts, "created_ms",
                  (json_int_t)j->created_ms, "started_ms", (json_int_t)j->started_ms, "finished_ms",
                  (json_int_t)j->finished_ms, "duration_ms", (json_int_t)dur);
    json_t *usage = json_object_get(j->meta, "usage");
    if (usage)
        json_object_set_new(res, "usage", json_deep_copy(usage));
    json_t *c =
        json_pack("{s:s,s:s?,s:s?,s:s,s:o,s:s,s:o,s:s}", "job", j->id, "parent", j->parent_id,
                  "root", j->root_id, "kind", j->kind ? j->kind : "agent", "agent", agent, "node",
                  t->node, "resources", res, "result", at_job_state_name(j->state));
    digest_or_null(c, "input_digest", j->input);
    digest_or_null(c, "output_digest", j->output);
    const char *et = json_string_value(json_object_get(j->error, "type"));
    json_object_set_new(c, "error", et ? json_string(et) : json_null());
    const char *sl = json_string_value(json_object_get(j->meta, "semantic_log"));
    json_object_set_new(c, "semantic_log", sl ? json_string(sl) : json_null());
    return c;
}

static const char *kind_type(const char *kind)
{
    return !strcmp(kind, "semantic")  ? AT_TLOG_SEMANTIC
           : !strcmp(kind, "receipt") ? AT_TLOG_RECEIPT
                                      : AT_TLOG_EVENT;
}

/* The subject's name: what the record is about. */
static char *subject_name(const char *kind, const json_t *c)
{
    if (!strcmp(kind, "receipt"))
        return at_asprintf("job:%s", at_json_str(c, "job", "-"));
    if (!strcmp(kind, "semantic"))
        return at_asprintf("semantic:%s", at_json_str(c, "id", at_json_str(c, "type", "log")));
    return at_asprintf("event:%s", at_json_str(c, "event", "-"));
}

/* The signed envelope of content at idx: caller frees, *len its length. */
static char *make_entry(struct at_tlog *t, const char *kind, const json_t *content, int64_t idx,
                        int64_t ts_ms, size_t *len)
{
    char dg[AT_AUDIT_DIGEST_MAX];
    at_audit_digest(content, dg);
    char *name = subject_name(kind, content);
    char when[40];
    at_time_iso8601(ts_ms, when, sizeof(when));
    json_t *st = json_pack("{s:s,s:[{s:s,s:{s:s}}],s:s,s:{s:{s:s,s:I},s:s,s:I,s:O}}", "_type",
                           AT_TLOG_STATEMENT, "subject", "name", name, "digest", "sha256", dg + 7,
                           "predicateType", kind_type(kind), "predicate", "log", "origin",
                           t->key.name, "index", (json_int_t)idx, "time", when, "ts_ms",
                           (json_int_t)ts_ms, "record", content);
    free(name);
    char *payload = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(st);
    if (!payload)
        abort();
    size_t pl = strlen(payload);
    struct at_buf pae;
    at_buf_init(&pae, AT_DSSE_MAX + 256);
    at_dsse_pae(&pae, AT_DSSE_INTOTO, payload, pl);
    unsigned char sig[64], co[128];
    size_t col = 0;
    crypto_sign_detached(sig, NULL, (const unsigned char *)pae.p, pae.len, t->sk);
    struct at_dsse_sig sigs[2] = {{t->keyid, sig, sizeof(sig)}};
    size_t ns = 1;
    if (t->has_cosigner && !strcmp(kind, "receipt")) {
        int rc = t->cosigner.sign(t->cosigner.arg, (const unsigned char *)pae.p, pae.len, co, &col);
        if (rc == 0) {
            sigs[1] = (struct at_dsse_sig){t->cosigner.keyid, co, col};
            ns = 2;
        } else {
            at_warn("audit", "the TPM did not co-sign receipt %lld: %s", (long long)idx,
                    at_err_msg(rc));
        }
    }
    at_buf_release(&pae);
    char *env = at_dsse_envelope(AT_DSSE_INTOTO, payload, pl, sigs, ns, len);
    free(payload);
    return env;
}

static void leaves_push(struct at_tlog *t, const unsigned char h[32])
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->leaves = at_realloc(t->leaves, t->cap * sizeof(*t->leaves));
    }
    memcpy(t->leaves[t->n++], h, 32);
}

/* Sign a checkpoint of the tree's first n leaves; store it. Log thread or
 * under no lock (reads the leaves under mu). */
static int checkpoint_make(struct at_tlog *t, char **note_out, uint64_t *size_out)
{
    struct at_checkpoint c;
    memset(&c, 0, sizeof(c));
    snprintf(c.origin, sizeof(c.origin), "%s", t->key.name);
    pthread_mutex_lock(&t->mu);
    if (t->tampered) {
        pthread_mutex_unlock(&t->mu);
        return AT_ESTATE;
    }
    if (t->note && t->note_size == t->n) {
        if (note_out)
            *note_out = at_strdup(t->note);
        if (size_out)
            *size_out = t->note_size;
        pthread_mutex_unlock(&t->mu);
        return 0;
    }
    c.size = t->n;
    at_merkle_root(t->leaves, t->n, c.root);
    pthread_mutex_unlock(&t->mu);
    size_t tl, nl;
    char *text = at_checkpoint_text(&c, &tl);
    char *note = at_note_sign(text, tl, &t->key, t->sk, &nl);
    free(text);
    int64_t now = at_wall_ms();
    int rc = at_tlogstore_checkpoint_put(t->ts, (int64_t)c.size, now, note);
    if (rc) {
        free(note);
        return rc;
    }
    pthread_mutex_lock(&t->mu);
    if (!t->note || t->note_size <= c.size) {
        free(t->note);
        t->note = at_strdup(note);
        t->note_size = c.size;
        t->note_ms = now;
    }
    pthread_mutex_unlock(&t->mu);
    if (note_out)
        *note_out = note;
    else
        free(note);
    if (size_out)
        *size_out = c.size;
    return 0;
}

int at_tlog_checkpoint(struct at_tlog *t, char **note, uint64_t *size)
{
    at_tlog_sync(t);
    return checkpoint_make(t, note, size);
}

static void write_batch(struct at_tlog *t, struct item *batch, size_t nb)
{
    struct at_tlog_row *rows = at_calloc(nb, sizeof(*rows));
    char **envs = at_calloc(nb, sizeof(*envs));
    size_t i = 0;
    for (struct item *it = batch; it; it = it->next, i++) {
        json_t *c = it->content;
        if (it->has_job)
            c = it->content = job_receipt(t, &it->job);
        rows[i].idx = t->next_idx + (int64_t)i;
        rows[i].kind = it->kind;
        rows[i].ts_ms = it->ts_ms;
        envs[i] = make_entry(t, it->kind, c, rows[i].idx, it->ts_ms, &rows[i].len);
        rows[i].envelope = envs[i];
    }
    int rc = at_tlogstore_append(t->ts, rows, nb);
    pthread_mutex_lock(&t->mu);
    if (rc == 0) {
        for (i = 0; i < nb; i++) {
            unsigned char h[32];
            at_merkle_leaf(envs[i], rows[i].len, h);
            leaves_push(t, h);
        }
        t->next_idx += (int64_t)nb;
    } else {
        t->dropped += (long long)nb;
    }
    t->committed += nb;
    pthread_cond_broadcast(&t->done_cv);
    pthread_mutex_unlock(&t->mu);
    if (rc)
        at_error("audit", "cannot append %zu records to the audit log: %s (dropped)", nb,
                 at_err_msg(rc));
    for (i = 0; i < nb; i++)
        free(envs[i]);
    free(envs);
    free(rows);
    while (batch) {
        struct item *n = batch->next;
        json_decref(batch->content);
        if (batch->has_job)
            at_job_rec_release(&batch->job);
        free(batch);
        batch = n;
    }
}

static void *run(void *arg)
{
    struct at_tlog *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        if (t->dropped > t->dropped_reported && t->queued < t->cfg.queue_max) {
            long long n = t->dropped - t->dropped_reported;
            t->dropped_reported = t->dropped;
            struct item *it = at_calloc(1, sizeof(*it));
            it->kind = "event";
            char detail[96];
            snprintf(detail, sizeof(detail), "%lld records dropped (queue full or store error)", n);
            it->content = json_pack("{s:s,s:s,s:s,s:s}", "event", "audit.dropped", "actor",
                                    "atlasd", "outcome", "refused", "detail", detail);
            it->ts_ms = at_wall_ms();
            it->next = t->head;
            t->head = it;
            if (!t->tail)
                t->tail = it;
            t->queued++;
            t->submitted++;
        }
        if (!t->head) {
            if (t->stop)
                break;
            int64_t every = t->cfg.checkpoint_every_ms;
            if (every > 0 && t->n > t->note_size && at_wall_ms() - t->note_ms >= every) {
                pthread_mutex_unlock(&t->mu);
                checkpoint_make(t, NULL, NULL);
                pthread_mutex_lock(&t->mu);
                continue;
            }
            if (every > 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t wait = every;
                if (t->n > t->note_size)
                    wait = every - (at_wall_ms() - t->note_ms);
                if (wait < 10)
                    wait = 10;
                ts.tv_sec += wait / 1000;
                ts.tv_nsec += (wait % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&t->cv, &t->mu, &ts);
            } else {
                pthread_cond_wait(&t->cv, &t->mu);
            }
            continue;
        }
        struct item *batch = t->head, *last = batch;
        size_t nb = 1;
        while (last->next && nb < AT_TLOG_BATCH) {
            last = last->next;
            nb++;
        }
        t->head = last->next;
        if (!t->head)
            t->tail = NULL;
        last->next = NULL;
        t->queued -= nb;
        pthread_mutex_unlock(&t->mu);
        write_batch(t, batch, nb);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

struct load {
    struct at_tlog *t;
    int64_t expect;
    int gaps;
};

static int load_row(void *arg, const struct at_tlog_row *r)
{
    struct load *l = arg;
    unsigned char h[32];
    at_merkle_leaf(r->envelope, r->len, h);
    leaves_push(l->t, h);
    if (r->idx != l->expect && l->gaps++ < 3)
        at_error("audit",
                 "audit log: entry %lld where %lld was expected (tampered? run `atlas "
                 "audit verify`)",
                 (long long)r->idx, (long long)l->expect);
    l->expect = r->idx + 1;
    return 0;
}

int at_tlog_new(struct at_tlogstore *ts, const unsigned char pk[32], const unsigned char sk[64],
                const struct at_tlog_cfg *cfg, struct at_tlog **out, struct at_diag *d)
{
    *out = NULL;
    struct at_tlog *t = at_calloc(1, sizeof(*t));
    t->ts = ts;
    memcpy(t->pk, pk, 32);
    memcpy(t->sk, sk, 64);
    if (cfg)
        t->cfg = *cfg;
    if (t->cfg.checkpoint_every_ms == 0)
        t->cfg.checkpoint_every_ms = AT_TLOG_CHECKPOINT_MS;
    if (t->cfg.queue_max == 0)
        t->cfg.queue_max = AT_TLOG_QUEUE_MAX;
    at_tlog_keyid(pk, t->keyid);
    char origin[AT_NOTE_NAME_MAX];
    if (t->cfg.origin)
        snprintf(origin, sizeof(origin), "%s", t->cfg.origin);
    else
        snprintf(origin, sizeof(origin), "atlas.local/%s", t->keyid + 8);
    t->cfg.origin = NULL;
    if (at_note_key_init(&t->key, origin, pk)) {
        free(t);
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "audit.origin \"%s\": a key name has no spaces, '+' or control "
                           "characters",
                           origin);
    }
    char host[256] = "localhost";
    if (!t->cfg.node) {
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
    }
    t->node = at_strdup(t->cfg.node ? t->cfg.node : host);
    t->cfg.node = NULL;
    if (cfg && cfg->cosigner) {
        t->cosigner = *cfg->cosigner;
        t->has_cosigner = 1;
    }
    t->cfg.cosigner = NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    pthread_cond_init(&t->done_cv, NULL);
    struct load l = {t, 0, 0};
    int rc = at_tlogstore_scan(ts, 0, 0, load_row, &l);
    if (rc) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot read the audit log: %s", at_err_msg(rc));
        goto fail;
    }
    t->next_idx = l.expect;
    if (l.gaps)
        t->tampered = 1;
    json_t *cps = NULL;
    if (at_tlogstore_checkpoints(ts, 0, &cps) == 0 && json_array_size(cps)) {
        json_t *last = json_array_get(cps, json_array_size(cps) - 1);
        const char *note = at_json_str(last, "note", "");
        struct at_checkpoint c;
        struct at_diag cd;
        at_diag_clear(&cd);
        unsigned char root[32];
        if (at_checkpoint_open(note, strlen(note), &t->key, &c, &cd) != 0) {
            at_error("audit", "audit log: the latest checkpoint does not verify: %s", cd.msg);
            t->tampered = 1;
        } else if (c.size > t->n) {
            at_error("audit",
                     "audit log: the latest checkpoint has %llu entries, the store %zu "
                     "(entries deleted? run `atlas audit verify`)",
                     (unsigned long long)c.size, t->n);
            t->tampered = 1;
        } else {
            at_merkle_root(t->leaves, (size_t)c.size, root);
            if (sodium_memcmp(root, c.root, 32) != 0) {
                at_error("audit", "audit log: the entries do not match the latest checkpoint "
                                  "(tampered? run `atlas audit verify`)");
                t->tampered = 1;
            }
            t->note = at_strdup(note);
            t->note_size = c.size;
            t->note_ms = at_json_int(last, "ts_ms", 0);
        }
    }
    json_decref(cps);
    if (pthread_create(&t->thread, NULL, run, t) != 0) {
        rc = at_diag_set(d, AT_EINTERNAL, NULL, 0, 0, "cannot start the audit log's thread");
        goto fail;
    }
    t->started = 1;
    at_info("audit", "audit log %s: %zu entries, key %s", t->key.name, t->n, t->keyid);
    *out = t;
    return 0;
fail:
    free(t->leaves);
    free(t->node);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    pthread_cond_destroy(&t->done_cv);
    sodium_memzero(t->sk, sizeof(t->sk));
    free(t);
    return rc;
}

void at_tlog_free(struct at_tlog *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    checkpoint_make(t, NULL, NULL);
    free(t->leaves);
    free(t->node);
    free(t->note);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    pthread_cond_destroy(&t->done_cv);
    sodium_memzero(t->sk, sizeof(t->sk));
    free(t);
}

json_t *at_tlog_info(struct at_tlog *t)
{
    char vkey[AT_NOTE_VKEY_MAX], pub[64], root64[64];
    at_note_vkey(&t->key, vkey);
    at_tlog_public_text(t->pk, pub);
    pthread_mutex_lock(&t->mu);
    unsigned char root[32];
    at_merkle_root(t->leaves, t->n, root);
    b64(root, 32, root64, sizeof(root64));
    json_t *o = json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:s?}", "origin", t->key.name,
                          "size", (json_int_t)t->n, "checkpoint_size", (json_int_t)t->note_size,
                          "root", root64, "public_key", pub, "vkey", vkey, "keyid", t->keyid,
                          "queued", (json_int_t)t->queued, "dropped", (json_int_t)t->dropped,
                          "cosigner", t->has_cosigner ? t->cosigner.keyid : NULL);
    json_object_set_new(o, "tampered", json_boolean(t->tampered));
    pthread_mutex_unlock(&t->mu);
    return o;
}

int at_tlog_inclusion(struct at_tlog *t, uint64_t index, uint64_t size, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&t->mu);
    if (size == 0)
        size = t->n;
    if (size > t->n || index >= size) {
        pthread_mutex_unlock(&t->mu);
        return AT_EINVAL;
    }
    at_merkle_hash proof[AT_MERKLE_PROOF_MAX];
    size_t k;
    at_merkle_inclusion(t->leaves, (size_t)size, (size_t)index, proof, &k);
    char lh[64];
    b64(t->leaves[index], 32, lh, sizeof(lh));
    pthread_mutex_unlock(&t->mu);
    *out = json_pack("{s:I,s:I,s:s,s:o}", "index", (json_int_t)index, "tree_size", (json_int_t)size,
                     "leaf_hash", lh, "hashes", at_tlog_hashes_json(proof, k));
    return 0;
}

int at_tlog_consistency(struct at_tlog *t, uint64_t from, uint64_t to, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&t->mu);
    if (to == 0)
        to = t->n;
    if (from == 0 || from > to || to > t->n) {
        pthread_mutex_unlock(&t->mu);
        return AT_EINVAL;
    }
    at_merkle_hash proof[AT_MERKLE_PROOF_MAX];
    size_t k;
    at_merkle_consistency(t->leaves, (size_t)to, (size_t)from, proof, &k);
    pthread_mutex_unlock(&t->mu);
    *out = json_pack("{s:I,s:I,s:o}", "from", (json_int_t)from, "to", (json_int_t)to, "hashes",
                     at_tlog_hashes_json(proof, k));
    return 0;
}

static int export_row(void *arg, const struct at_tlog_row *r)
{
    at_tlog_bundle_add_entry(arg, r->idx, r->kind, r->envelope, r->len);
    return 0;
}

int at_tlog_export(struct at_tlog *t, json_t **out)
{
    *out = NULL;
    int rc = at_tlog_checkpoint(t, NULL, NULL);
    if (rc && rc != AT_ESTATE)
        return rc;
    char vkey[AT_NOTE_VKEY_MAX], pub[64];
    at_note_vkey(&t->key, vkey);
    at_tlog_public_text(t->pk, pub);
    json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[],s:[]}", "format", AT_TLOG_BUNDLE_FORMAT,
                          "origin", t->key.name, "public_key", pub, "vkey", vkey, "keyid", t->keyid,
                          "entries", "checkpoints");
    if (t->has_cosigner)
        json_object_set_new(b, "cosigner",
                            json_pack("{s:s,s:s?}", "keyid", t->cosigner.keyid, "public_key",
                                      t->cosigner.public_key));
    json_t *entries = json_object_get(b, "entries");
    if ((rc = at_tlogstore_scan(t->ts, 0, 0, export_row, entries))) {
        json_decref(b);
        return rc;
    }
    json_t *cps = NULL;
    if ((rc = at_tlogstore_checkpoints(t->ts, 0, &cps))) {
        json_decref(b);
        return rc;
    }
    size_t i;
    json_t *c;
    json_array_foreach(cps, i, c)
        json_array_append(json_object_get(b, "checkpoints"), json_object_get(c, "note"));
    json_decref(cps);
    at_tlog_bundle_add_proofs(b);
    *out = b;
    return 0;
}
