/*
 * tlog.c - the signed, tamper-evident audit trail (tlog.h).
 */
#include "tlog/tlog.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "json/json.h"
#include "security/audit.h"
#include "tlog/bundle.h"
#include "tlog/dsse.h"
#include "tlog/merkle.h"
#include "tlog/note.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HWM_HEADER "atlas-audit-hwm/v1\n"
/* the spool is set aside for a new file beyond this many bytes, so that it
 * does not grow while the queue never drains (docs/audit.md) */
#define SPOOL_ROTATE (16u << 20)
#define SPOOL_OLDS 64

struct item {
    struct item *next;
    const char *kind; /* static */
    json_t *content;
    int resolve;  /* a receipt whose agent digest is looked up when it is written */
    char qid[48]; /* its spool id ("" when not spooled: audit.dropped) */
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

    pthread_mutex_t mu, hwm_mu;
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
    json_t *breaks; /* what the start-up check found (strings), while tampered */
    /* the latest checkpoint */
    char *note;
    uint64_t note_size;
    int64_t note_ms;
    /* the spool (docs/audit.md "Crash safety"): every accepted record is
     * appended as one line before submit returns, and the file is emptied
     * whenever the queue has drained into the store */
    int spool_fd;
    int spooling; /* set before the thread starts, read without mu */
    int spool_sync;
    uint64_t spooled, spooled_done; /* spooled records accepted, and written (or dropped) */
    char *spool_path;
    size_t spool_bytes; /* written to the current file since it was emptied */
    /* full files set aside (SPOOL.N), each deleted once the records
     * submitted up to its end are committed; oldest first */
    struct {
        char *path;
        uint64_t end;
    } olds[SPOOL_OLDS];
    size_t nolds;
    unsigned long long rot_k;
    char spool_nonce[20];
    atomic_ullong spool_seq;
    /* the high-water mark: a signed note of the tree's size and last leaf,
     * rewritten after every committed batch (frozen while tampered) */
    char *hwm_path;
    char *hwm_note;
};

static void mark_tampered(struct at_tlog *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Caller holds mu or is the only thread (start-up). */
static void mark_tampered(struct at_tlog *t, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    at_error("audit", "audit log: %s", msg);
    t->tampered = 1;
    if (!t->breaks)
        t->breaks = json_array();
    if (json_array_size(t->breaks) < 32)
        json_array_append_new(t->breaks, json_string(msg));
}

static void b64(const unsigned char *p, size_t n, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

/* The spool line of it (and its qid): caller frees. */
static char *spool_line(struct at_tlog *t, struct item *it, size_t *len)
{
    unsigned long long seq = atomic_fetch_add(&t->spool_seq, 1);
    snprintf(it->qid, sizeof(it->qid), "%s:%llu", t->spool_nonce, seq);
    json_t *o = json_pack("{s:s,s:s,s:I,s:O}", "id", it->qid, "kind", it->kind, "ts_ms",
                          (json_int_t)it->ts_ms, "record", it->content);
    if (it->resolve)
        json_object_set_new(o, "resolve", json_true());
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!line)
        return NULL;
    *len = strlen(line);
    line = at_realloc(line, *len + 2);
    line[(*len)++] = '\n';
    line[*len] = '\0';
    return line;
}

static void spool_write(struct at_tlog *t, const char *line, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(t->spool_fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            at_warn("audit",
                    "cannot write the audit spool: %s (the record is queued in memory "
                    "only)",
                    strerror(errno));
            return;
        }
        off += (size_t)w;
    }
    if (t->spool_sync && fdatasync(t->spool_fd) != 0)
        at_warn("audit", "cannot sync the audit spool: %s", strerror(errno));
}

/* mu held: count a spooled line; 1 when the file is due to be set aside */
static int line_len_add(struct at_tlog *t, size_t ll)
{
    t->spool_bytes += ll;
    size_t limit = t->cfg.spool_rotate_bytes ? t->cfg.spool_rotate_bytes : SPOOL_ROTATE;
    return t->spool_fd >= 0 && t->spool_bytes > limit && t->nolds < SPOOL_OLDS;
}

/* mu held: set the full spool aside as SPOOL.N and start a new one. */
static void spool_rotate(struct at_tlog *t)
{
    char *old = at_asprintf("%s.%llu", t->spool_path, ++t->rot_k);
    int fd = -1;
    if (rename(t->spool_path, old) != 0 ||
        (fd = open(t->spool_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
        at_warn("audit", "cannot set the audit spool aside: %s", strerror(errno));
        free(old);
        return;
    }
    close(t->spool_fd);
    t->spool_fd = fd;
    t->olds[t->nolds].path = old;
    t->olds[t->nolds].end = t->spooled;
    t->nolds++;
    t->spool_bytes = 0;
}

/* mu held, after a commit: delete the files set aside whose records are
 * all in the store (all == everything accepted). */
static void spool_release(struct at_tlog *t, int all)
{
    size_t k = 0;
    while (k < t->nolds && (all || t->spooled_done >= t->olds[k].end)) {
        if (unlink(t->olds[k].path) != 0 && errno != ENOENT)
            at_warn("audit", "cannot remove %s: %s", t->olds[k].path, strerror(errno));
        free(t->olds[k].path);
        k++;
    }
    memmove(t->olds, t->olds + k, (t->nolds - k) * sizeof(t->olds[0]));
    t->nolds -= k;
}

static int push(struct at_tlog *t, struct item *it)
{
    size_t ll = 0;
    char *line = t->spooling && !it->qid[0] ? spool_line(t, it, &ll) : NULL;
    pthread_mutex_lock(&t->mu);
    if (t->stop || t->queued >= t->cfg.queue_max) {
        t->dropped++;
        long long dr = t->dropped;
        pthread_mutex_unlock(&t->mu);
        if (dr == 1 || dr % 1000 == 0)
            at_warn("audit", "audit log queue full: %lld records dropped", dr);
        json_decref(it->content);
        free(it);
        free(line);
        return AT_EBUSY;
    }
    /* durable (against a crash of the process; with audit.spool_sync, a power
     * loss too) before submit returns, in queue order */
    if (line) {
        spool_write(t, line, ll);
        t->spooled++;
    }
    free(line);
    if (t->tail)
        t->tail->next = it;
    else
        t->head = it;
    t->tail = it;
    t->queued++;
    t->submitted++;
    if (line_len_add(t, ll))
        spool_rotate(t);
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

static json_t *job_receipt(struct at_tlog *t, const struct at_job_rec *j);

void at_tlog_job_final(struct at_tlog *t, const struct at_job_rec *rec)
{
    if (!t)
        return;
    struct item *it = at_calloc(1, sizeof(*it));
    it->kind = "receipt";
    /* built here, on the caller's thread, so that it can be spooled (and the
     * job's JSON is not shared with the log thread); the agent's digest is
     * looked up when it is written */
    it->content = job_receipt(t, rec);
    it->resolve = 1;
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

/* Fill the agent digest of a receipt built by job_receipt (log thread). */
static void receipt_resolve(struct at_tlog *t, json_t *c)
{
    json_t *agent = json_object_get(c, "agent");
    const char *name = json_string_value(json_object_get(agent, "name"));
    const char *ver = json_string_value(json_object_get(agent, "version"));
    char dg[80] = "";
    if (t->cfg.agent_digest && name && ver &&
        t->cfg.agent_digest(t->cfg.agent_arg, name, ver, dg) == 0 && dg[0])
        json_object_set_new(agent, "digest", json_string(dg));
    else
        json_object_set_new(agent, "digest", json_null());
}

/* The receipt of a finished job (docs/audit.md "Execution receipts"), its
 * agent digest still null (receipt_resolve). */
static json_t *job_receipt(struct at_tlog *t, const struct at_job_rec *j)
{
    json_t *agent = json_pack("{s:s?,s:s?}", "name", j->agent, "version", j->agent_version);
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
                        int64_t ts_ms, const char *qid, size_t *len)
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
    if (qid && qid[0])
        json_object_set_new(json_object_get(st, "predicate"), "queue", json_string(qid));
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

/* The high-water mark's text: HWM_HEADER, the origin, the size and the
 * base64 of the last leaf hash (docs/audit.md "The high-water mark"). */
static char *hwm_text(const struct at_tlog *t, uint64_t size, int64_t next,
                      const unsigned char leaf[32], size_t *len)
{
    char lh[64];
    b64(leaf, 32, lh, sizeof(lh));
    char *s = at_asprintf(HWM_HEADER "%s\n%llu\n%lld\n%s\n", t->key.name, (unsigned long long)size,
                          (long long)next, lh);
    *len = strlen(s);
    return s;
}

/* Rewrite the high-water mark to the current tree (not while tampered: it
 * keeps what was found). Log thread, or under no lock. */
static void hwm_write(struct at_tlog *t)
{
    if (!t->hwm_path)
        return;
    unsigned char leaf[32] = {0};
    pthread_mutex_lock(&t->hwm_mu); /* one writer at a time, newest last */
    pthread_mutex_lock(&t->mu);
    uint64_t size = t->n;
    int64_t next = t->next_idx;
    int frozen = t->tampered;
    if (size)
        memcpy(leaf, t->leaves[size - 1], 32);
    pthread_mutex_unlock(&t->mu);
    if (frozen) {
        pthread_mutex_unlock(&t->hwm_mu);
        return;
    }
    size_t tl, nl;
    char *text = hwm_text(t, size, next, leaf, &tl);
    char *note = at_note_sign(text, tl, &t->key, t->sk, &nl);
    free(text);
    int rc = at_fs_write_atomic(t->hwm_path, note, nl, 0600);
    if (rc)
        at_warn("audit", "cannot write the audit high-water mark %s: %s", t->hwm_path,
                at_err_msg(rc));
    pthread_mutex_lock(&t->mu);
    free(t->hwm_note);
    t->hwm_note = note;
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_unlock(&t->hwm_mu);
}

int at_tlog_hwm_open(const char *note, size_t len, const struct at_note_key *key, uint64_t *size,
                     int64_t *next, unsigned char leaf[32], struct at_diag *d)
{
    size_t tl = 0;
    int rc = at_note_open(note, len, key, &tl, d);
    if (rc)
        return rc;
    size_t hl = strlen(HWM_HEADER), ol = strlen(key->name);
    if (tl < hl + ol + 4 || memcmp(note, HWM_HEADER, hl) != 0 ||
        memcmp(note + hl, key->name, ol) != 0 || note[hl + ol] != '\n')
        return at_diag_set(d, AT_EPARSE, NULL, 1, 0,
                           "not a high-water mark of this log (\"%s\" then the origin expected)",
                           "atlas-audit-hwm/v1");
    const char *p = note + hl + ol + 1, *stop = note + tl;
    /* digits only (strtoull would skip white space): the text ends in a
     * newline, so the number ends inside it */
    if (p >= stop || *p < '0' || *p > '9')
        return at_diag_set(d, AT_EPARSE, NULL, 3, 0, "the high-water mark's size is not a number");
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || *end != '\n')
        return at_diag_set(d, AT_EPARSE, NULL, 3, 0, "the high-water mark's size is not a number");
    p = end + 1;
    if (p >= stop || *p < '0' || *p > '9')
        return at_diag_set(d, AT_EPARSE, NULL, 4, 0,
                           "the high-water mark's next index is not a number");
    errno = 0;
    long long nx = strtoll(p, &end, 10);
    if (errno || *end != '\n')
        return at_diag_set(d, AT_EPARSE, NULL, 4, 0,
                           "the high-water mark's next index is not a number");
    const char *lh = end + 1;
    const char *nl = lh < stop ? memchr(lh, '\n', (size_t)(stop - lh)) : NULL;
    size_t n = 0;
    if (!nl ||
        sodium_base642bin(leaf, 32, lh, (size_t)(nl - lh), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != 32)
        return at_diag_set(d, AT_EPARSE, NULL, 5, 0,
                           "the high-water mark's leaf hash is not 32 bytes of base64");
    *size = v;
    if (next)
        *next = nx;
    return 0;
}

/* Start-up: the stored rows against the high-water mark (t->n loaded). */
static void hwm_check(struct at_tlog *t)
{
    char *note = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(t->hwm_path, AT_NOTE_MAX, &note, &len);
    if (rc) {
        if (t->n)
            at_warn("audit",
                    "audit log: no high-water mark (%s: %s): a removal of entries after the "
                    "latest checkpoint cannot be detected at this start",
                    t->hwm_path, at_err_msg(rc));
        return;
    }
    uint64_t size = 0;
    int64_t next = 0;
    unsigned char leaf[32];
    struct at_diag d;
    at_diag_clear(&d);
    if (at_tlog_hwm_open(note, len, &t->key, &size, &next, leaf, &d)) {
        mark_tampered(t, "the high-water mark %s does not verify: %s", t->hwm_path, d.msg);
    } else if (size > t->n) {
        mark_tampered(t,
                      "the high-water mark counts %llu entries, the store holds %zu: entries "
                      "were removed from the end (run `atlas audit verify`)",
                      (unsigned long long)size, t->n);
    } else if (size && sodium_memcmp(t->leaves[size - 1], leaf, 32) != 0) {
        mark_tampered(t,
                      "entry %llu is not the one the high-water mark signed (entries were "
                      "removed or changed; run `atlas audit verify`)",
                      (unsigned long long)size - 1);
    }
    /* an index once signed is never issued again, not even after the
     * entries that held it were removed */
    if (next > t->next_idx)
        t->next_idx = next;
    t->hwm_note = note;
}

/* ---- the spool ---- */

struct spooled {
    char *id;
    const char *kind;
    int64_t ts_ms;
    json_t *record;
    int resolve;
};

struct tail_scan {
    json_t *ids; /* id -> position in the spool */
    long long last;
};

static int tail_row(void *arg, const struct at_tlog_row *r)
{
    struct tail_scan *ts = arg;
    struct at_dsse env;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_dsse_parse(r->envelope, r->len, &env, &d))
        return 0;
    json_t *st = NULL;
    if (at_json_parse((const char *)env.payload, env.payload_len, 32, &st, NULL) == 0) {
        const char *q = at_json_str(json_object_get(st, "predicate"), "queue", NULL);
        json_t *pos = q ? json_object_get(ts->ids, q) : NULL;
        if (json_is_integer(pos) && json_integer_value(pos) > ts->last)
            ts->last = json_integer_value(pos);
    }
    json_decref(st);
    at_dsse_release(&env);
    return 0;
}

static const char *static_kind(const char *k)
{
    return !k                       ? NULL
           : !strcmp(k, "event")    ? "event"
           : !strcmp(k, "semantic") ? "semantic"
           : !strcmp(k, "receipt")  ? "receipt"
                                    : NULL;
}

/* Open the spool and queue what a crash left in it that the store lacks
 * (before the thread starts). */
static int cmp_ull(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

/* The spool's files in order (SPOOL.N by N, then SPOOL) into *buf; the
 * set-aside ones are remembered to be deleted once written. */
static int spool_read(struct at_tlog *t, const char *path, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    unsigned long long ks[SPOOL_OLDS];
    size_t nk = 0;
    char *dir = at_strdup(path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *slash = '\0';
    DIR *dp = opendir(slash ? dir : ".");
    size_t bl = strlen(base);
    for (struct dirent *e; dp && (e = readdir(dp));) {
        if (strncmp(e->d_name, base, bl) != 0 || e->d_name[bl] != '.' || e->d_name[bl + 1] < '0' ||
            e->d_name[bl + 1] > '9' || nk >= SPOOL_OLDS)
            continue;
        char *end = NULL;
        unsigned long long k = strtoull(e->d_name + bl + 1, &end, 10);
        if (end && !*end)
            ks[nk++] = k;
    }
    if (dp)
        closedir(dp);
    free(dir);
    qsort(ks, nk, sizeof(ks[0]), cmp_ull);
    struct at_buf all;
    at_buf_init(&all, (size_t)1 << 31);
    int rc = 0;
    for (size_t i = 0; i <= nk && !rc; i++) {
        char *p = i < nk ? at_asprintf("%s.%llu", path, ks[i]) : at_strdup(path);
        char *text = NULL;
        size_t tl = 0;
        rc = at_fs_read_file(p, (size_t)1 << 30, &text, &tl);
        if (rc == AT_ENOENT)
            rc = 0;
        else if (!rc && at_buf_append(&all, text, tl) != 0)
            rc = AT_E2BIG;
        free(text);
        if (i < nk && !rc) {
            t->olds[t->nolds].path = p;
            t->olds[t->nolds].end = 0; /* set once the replay is queued */
            t->nolds++;
            t->rot_k = ks[i];
        } else {
            free(p);
        }
    }
    if (rc) {
        at_buf_release(&all);
        return rc;
    }
    *len = all.len;
    *buf = at_malloc(all.len + 1);
    memcpy(*buf, all.p ? all.p : "", all.len);
    (*buf)[all.len] = '\0';
    at_buf_release(&all);
    return 0;
}

static int spool_open(struct at_tlog *t, const char *path, struct at_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    t->spool_path = at_strdup(path);
    int rc = spool_read(t, path, &buf, &len);
    if (rc)
        return at_diag_set(d, rc, path, 0, 0, "cannot read the audit spool: %s", at_err_msg(rc));
    struct spooled *L = NULL;
    size_t n = 0, cap = 0, bad = 0;
    json_t *ids = json_object();
    for (size_t off = 0; buf && off < len;) {
        char *nl = memchr(buf + off, '\n', len - off);
        if (!nl) {
            bad++; /* a line cut short by the crash */
            break;
        }
        json_t *o = NULL;
        size_t ll = (size_t)(nl - (buf + off));
        if (at_json_parse(buf + off, ll, 64, &o, NULL) == 0 &&
            json_is_object(json_object_get(o, "record")) &&
            static_kind(at_json_str(o, "kind", NULL)) && at_json_str(o, "id", NULL)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                L = at_realloc(L, cap * sizeof(*L));
            }
            L[n] = (struct spooled){
                at_strdup(at_json_str(o, "id", "")), static_kind(at_json_str(o, "kind", NULL)),
                at_json_int(o, "ts_ms", 0), json_incref(json_object_get(o, "record")),
                json_is_true(json_object_get(o, "resolve"))};
            json_object_set_new(ids, L[n].id, json_integer((json_int_t)n));
            n++;
        } else {
            bad++;
        }
        json_decref(o);
        off = (size_t)(nl - buf) + 1;
    }
    free(buf);
    struct tail_scan ts = {ids, -1};
    if (n) {
        /* what was committed is a prefix of the spool, and the rows not from
         * it (audit.dropped) are few: the tail holds the last committed one */
        int64_t from = t->next_idx - (int64_t)n - 2 * (int64_t)AT_TLOG_BATCH;
        if (at_tlogstore_scan(t->ts, from > 0 ? from : 0, 0, tail_row, &ts) != 0)
            at_warn("audit", "audit spool: cannot read the log's last entries: every spooled "
                             "record is written again");
    }
    size_t replay = 0;
    for (size_t i = 0; i < n; i++) {
        if ((long long)i > ts.last) {
            struct item *it = at_calloc(1, sizeof(*it));
            it->kind = L[i].kind;
            it->content = L[i].record;
            it->resolve = L[i].resolve;
            it->ts_ms = L[i].ts_ms;
            snprintf(it->qid, sizeof(it->qid), "%s", L[i].id);
            L[i].record = NULL;
            if (t->tail)
                t->tail->next = it;
            else
                t->head = it;
            t->tail = it;
            t->queued++;
            t->submitted++;
            t->spooled++;
            replay++;
        }
        json_decref(L[i].record);
        free(L[i].id);
    }
    free(L);
    json_decref(ids);
    if (n || bad)
        at_log(replay || bad ? AT_LOG_WARN : AT_LOG_INFO, "audit",
               "audit spool: %zu records a crash left unwritten are written now (%zu already "
               "in the log, %zu unreadable lines skipped)",
               replay, n - replay, bad);
    for (size_t i = 0; i < t->nolds; i++)
        t->olds[i].end = t->spooled; /* deleted once the replay is written */
    t->spool_bytes = (size_t)len;
    t->spool_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (t->spool_fd < 0)
        return at_diag_set(d, AT_EIO, path, 0, 0, "cannot open the audit spool: %s",
                           strerror(errno));
    unsigned char nonce[8];
    randombytes_buf(nonce, sizeof(nonce));
    sodium_bin2hex(t->spool_nonce, sizeof(t->spool_nonce), nonce, sizeof(nonce));
    t->spooling = 1;
    return 0;
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
        if (it->resolve)
            receipt_resolve(t, c);
        rows[i].idx = t->next_idx + (int64_t)i;
        rows[i].kind = it->kind;
        rows[i].ts_ms = it->ts_ms;
        envs[i] = make_entry(t, it->kind, c, rows[i].idx, it->ts_ms, it->qid, &rows[i].len);
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
    for (struct item *it = batch; it; it = it->next)
        t->spooled_done += it->qid[0] != '\0';
    /* everything accepted is in the store: the spool starts again (O_APPEND) */
    if (t->spool_fd >= 0 && !t->head && t->committed == t->submitted) {
        if (ftruncate(t->spool_fd, 0) != 0)
            at_warn("audit", "cannot empty the audit spool: %s", strerror(errno));
        t->spool_bytes = 0;
        spool_release(t, 1);
    } else if (t->nolds) {
        spool_release(t, 0);
    }
    pthread_cond_broadcast(&t->done_cv);
    pthread_mutex_unlock(&t->mu);
    if (rc)
        at_error("audit", "cannot append %zu records to the audit log: %s (dropped)", nb,
                 at_err_msg(rc));
    else
        hwm_write(t);
    for (i = 0; i < nb; i++)
        free(envs[i]);
    free(envs);
    free(rows);
    while (batch) {
        struct item *n = batch->next;
        json_decref(batch->content);
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
        if (t->cfg.test_stall_ms > 0 && !t->stop) {
            struct timespec st = {(time_t)(t->cfg.test_stall_ms / 1000),
                                  (long)(t->cfg.test_stall_ms % 1000) * 1000000L};
            nanosleep(&st, NULL);
        }
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
    size_t last_gap; /* the row position of the last gap */
    char first[160];
};

static int load_row(void *arg, const struct at_tlog_row *r)
{
    struct load *l = arg;
    unsigned char h[32];
    at_merkle_leaf(r->envelope, r->len, h);
    leaves_push(l->t, h);
    if (r->idx != l->expect) {
        if (!l->gaps++)
            snprintf(l->first, sizeof(l->first), "entry %lld is stored where %lld was expected",
                     (long long)r->idx, (long long)l->expect);
        l->last_gap = l->t->n - 1;
    }
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
    pthread_mutex_init(&t->hwm_mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    pthread_cond_init(&t->done_cv, NULL);
    t->spool_fd = -1;
    t->spool_sync = cfg && cfg->spool_sync;
    struct load l = {t, 0, 0, 0, ""};
    int rc = at_tlogstore_scan(ts, 0, 0, load_row, &l);
    if (rc) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot read the audit log: %s", at_err_msg(rc));
        goto fail;
    }
    t->next_idx = l.expect;
    /* a gap is damage unless a checkpoint signed after it (after an accepted
     * break, docs/audit.md "Accepting a break") covers it */
    uint64_t vouched = 0;
    json_t *cps = NULL;
    if (at_tlogstore_checkpoints(ts, 0, &cps) == 0 && json_array_size(cps)) {
        json_t *last = json_array_get(cps, json_array_size(cps) - 1);
        const char *note = at_json_str(last, "note", "");
        struct at_checkpoint c;
        struct at_diag cd;
        at_diag_clear(&cd);
        unsigned char root[32];
        if (at_checkpoint_open(note, strlen(note), &t->key, &c, &cd) != 0) {
            mark_tampered(t, "the latest checkpoint does not verify: %s", cd.msg);
        } else if (c.size > t->n) {
            mark_tampered(t,
                          "the latest checkpoint has %llu entries, the store %zu (entries "
                          "deleted? run `atlas audit verify`)",
                          (unsigned long long)c.size, t->n);
        } else {
            at_merkle_root(t->leaves, (size_t)c.size, root);
            if (sodium_memcmp(root, c.root, 32) != 0)
                mark_tampered(t,
                              "the entries do not match the latest checkpoint of size %llu "
                              "(tampered? run `atlas audit verify`)",
                              (unsigned long long)c.size);
            else
                vouched = c.size;
            t->note = at_strdup(note);
            t->note_size = c.size;
            t->note_ms = at_json_int(last, "ts_ms", 0);
        }
    }
    json_decref(cps);
    if (l.gaps && l.last_gap >= vouched)
        mark_tampered(t, "the indexes have %d gaps: %s (run `atlas audit verify`)", l.gaps,
                      l.first);
    if (cfg && cfg->hwm_path) {
        t->hwm_path = at_strdup(cfg->hwm_path);
        hwm_check(t);
    }
    if (cfg && cfg->spool_path && (rc = spool_open(t, cfg->spool_path, d)))
        goto fail;
    if (pthread_create(&t->thread, NULL, run, t) != 0) {
        rc = at_diag_set(d, AT_EINTERNAL, NULL, 0, 0, "cannot start the audit log's thread");
        goto fail;
    }
    t->started = 1;
    at_info("audit", "audit log %s: %zu entries, key %s", t->key.name, t->n, t->keyid);
    *out = t;
    return 0;
fail:
    while (t->head) {
        struct item *nx = t->head->next;
        json_decref(t->head->content);
        free(t->head);
        t->head = nx;
    }
    if (t->spool_fd >= 0)
        close(t->spool_fd);
    for (size_t i = 0; i < t->nolds; i++)
        free(t->olds[i].path);
    free(t->spool_path);
    json_decref(t->breaks);
    free(t->hwm_path);
    free(t->hwm_note);
    free(t->note);
    free(t->leaves);
    free(t->node);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->hwm_mu);
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
    if (t->spool_fd >= 0)
        close(t->spool_fd);
    for (size_t i = 0; i < t->nolds; i++)
        free(t->olds[i].path);
    free(t->spool_path);
    json_decref(t->breaks);
    free(t->hwm_path);
    free(t->hwm_note);
    free(t->leaves);
    free(t->node);
    free(t->note);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->hwm_mu);
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
    json_object_set_new(o, "breaks", t->breaks ? json_deep_copy(t->breaks) : json_array());
    uint64_t hs = 0;
    unsigned char leaf[32];
    if (t->hwm_note &&
        at_tlog_hwm_open(t->hwm_note, strlen(t->hwm_note), &t->key, &hs, NULL, leaf, NULL) == 0)
        json_object_set_new(o, "high_water", json_integer((json_int_t)hs));
    else
        json_object_set_new(o, "high_water", json_null());
    json_object_set_new(o, "spool", json_boolean(t->spool_fd >= 0));
    pthread_mutex_unlock(&t->mu);
    return o;
}

int at_tlog_accept(struct at_tlog *t, const char *by, const char *why, json_t **out)
{
    *out = NULL;
    at_tlog_sync(t);
    pthread_mutex_lock(&t->mu);
    if (!t->tampered) {
        pthread_mutex_unlock(&t->mu);
        return AT_ENOENT;
    }
    char root64[64], old64[64] = "";
    unsigned char root[32];
    at_merkle_root(t->leaves, t->n, root);
    b64(root, 32, root64, sizeof(root64));
    struct at_checkpoint c;
    int have_cp = t->note && at_checkpoint_open(t->note, strlen(t->note), &t->key, &c, NULL) == 0;
    if (have_cp)
        b64(c.root, 32, old64, sizeof(old64));
    json_t *rec = json_pack("{s:s,s:s,s:s?,s:O,s:{s:I,s:s}}", "type", AT_TLOG_BREAK_ACCEPTED, "by",
                            by ? by : "anonymous", "why", why, "problems",
                            t->breaks ? t->breaks : json_array(), "store", "size", (json_int_t)t->n,
                            "root", root64);
    json_object_set_new(rec, "checkpoint",
                        have_cp ? json_pack("{s:I,s:s}", "size", (json_int_t)c.size, "root", old64)
                                : json_null());
    pthread_mutex_unlock(&t->mu);
    /* the acknowledgement is itself a signed entry, and the first checkpoint
     * after the break covers it */
    /* a copy: jansson's reference counts are not visible to the other thread's free */
    int rc = at_tlog_submit(t, "semantic", json_deep_copy(rec));
    if (rc) {
        json_decref(rec);
        return rc;
    }
    at_tlog_sync(t);
    pthread_mutex_lock(&t->mu);
    t->tampered = 0;
    json_decref(t->breaks);
    t->breaks = NULL;
    pthread_mutex_unlock(&t->mu);
    at_warn("audit", "audit log: the break was accepted by %s (%s): signing checkpoints again",
            by ? by : "anonymous", why ? why : "no reason given");
    hwm_write(t);
    char *note = NULL;
    uint64_t size = 0;
    rc = checkpoint_make(t, &note, &size);
    if (rc) {
        json_decref(rec);
        return rc;
    }
    *out = json_pack("{s:o,s:s,s:I}", "accepted", rec, "note", note, "size", (json_int_t)size);
    free(note);
    return 0;
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
    pthread_mutex_lock(&t->mu);
    if (t->hwm_note)
        json_object_set_new(b, "high_water", json_string(t->hwm_note));
    pthread_mutex_unlock(&t->mu);
    at_tlog_bundle_add_proofs(b);
    *out = b;
    return 0;
}
