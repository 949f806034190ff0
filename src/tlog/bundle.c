/*
 * bundle.c - the export bundle and its offline verifier (bundle.h).
 */
#include "tlog/bundle.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"
#include "security/audit.h"
#include "tlog/dsse.h"
#include "tlog/note.h"
#include "tlog/tlog.h"
#include "tlog/tpm.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_tlog_keyid(const unsigned char pk[32], char out[64])
{
    unsigned char h[32];
    crypto_hash_sha256(h, pk, 32);
    memcpy(out, "ed25519:", 9); /* with its NUL: the encoder writes after it */
    sodium_bin2hex(out + 8, 64 - 8, h, 8);
}

void at_tlog_public_text(const unsigned char pk[32], char out[64])
{
    memcpy(out, "ed25519:", 9); /* with its NUL: the encoder writes after it */
    sodium_bin2base64(out + 8, 64 - 8, pk, 32, sodium_base64_VARIANT_ORIGINAL);
}

json_t *at_tlog_hashes_json(const at_merkle_hash *p, size_t k)
{
    json_t *a = json_array();
    for (size_t i = 0; i < k; i++) {
        char s[64];
        sodium_bin2base64(s, sizeof(s), p[i], 32, sodium_base64_VARIANT_ORIGINAL);
        json_array_append_new(a, json_string(s));
    }
    return a;
}

void at_tlog_bundle_add_entry(json_t *entries, int64_t idx, const char *kind, const void *env,
                              size_t len)
{
    json_t *e = json_pack("{s:I,s:s}", "index", (json_int_t)idx, "kind", kind);
    json_t *s = json_stringn(env, len);
    if (s) {
        json_object_set_new(e, "envelope", s);
    } else {
        /* not UTF-8 (a tampered row): carried as base64 */
        size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
        char *b = at_malloc(cap);
        sodium_bin2base64(b, cap, env, len, sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(e, "envelope_base64", json_string(b));
        free(b);
    }
    json_array_append_new(entries, e);
}

/* The bytes of entry e (owned by e, or *tmp to free). */
static const char *entry_bytes(const json_t *e, size_t *len, unsigned char **tmp)
{
    *tmp = NULL;
    json_t *s = json_object_get(e, "envelope");
    if (json_is_string(s)) {
        *len = json_string_length(s);
        return json_string_value(s);
    }
    s = json_object_get(e, "envelope_base64");
    if (!json_is_string(s) || json_string_length(s) > (size_t)AT_DSSE_MAX * 2)
        return NULL;
    size_t cap = json_string_length(s) / 4 * 3 + 3;
    *tmp = at_malloc(cap + 1);
    if (sodium_base642bin(*tmp, cap, json_string_value(s), json_string_length(s), NULL, len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    return (const char *)*tmp;
}

static at_merkle_hash *bundle_leaves(const json_t *entries, size_t *n)
{
    *n = json_array_size(entries);
    at_merkle_hash *L = at_calloc(*n ? *n : 1, sizeof(*L));
    for (size_t i = 0; i < *n; i++) {
        size_t len = 0;
        unsigned char *tmp;
        const char *b = entry_bytes(json_array_get(entries, i), &len, &tmp);
        at_merkle_leaf(b ? b : "", b ? len : 0, L[i]);
        free(tmp);
    }
    return L;
}

/* The tree size of a checkpoint note, unverified (0 when not one). */
static uint64_t note_size(const char *note)
{
    struct at_checkpoint c;
    size_t tl;
    if (!note || at_note_open(note, strlen(note), NULL, &tl, NULL) ||
        at_checkpoint_parse(note, tl, &c, NULL))
        return 0;
    return c.size;
}

void at_tlog_bundle_add_proofs(json_t *bundle)
{
    size_t n;
    at_merkle_hash *L = bundle_leaves(json_object_get(bundle, "entries"), &n);
    json_t *cps = json_object_get(bundle, "checkpoints");
    json_t *incl = json_array(), *cons = json_array();
    at_merkle_hash proof[AT_MERKLE_PROOF_MAX];
    size_t k, next = 0;
    uint64_t prev = 0;
    for (size_t c = 0; c < json_array_size(cps); c++) {
        uint64_t size = note_size(json_string_value(json_array_get(cps, c)));
        if (size == 0 || size > n || size <= prev)
            continue;
        for (; next < size; next++) {
            at_merkle_inclusion(L, size, next, proof, &k);
            json_array_append_new(incl, json_pack("{s:I,s:I,s:o}", "index", (json_int_t)next,
                                                  "tree_size", (json_int_t)size, "hashes",
                                                  at_tlog_hashes_json(proof, k)));
        }
        if (prev) {
            at_merkle_consistency(L, size, prev, proof, &k);
            json_array_append_new(cons, json_pack("{s:I,s:I,s:o}", "from", (json_int_t)prev, "to",
                                                  (json_int_t)size, "hashes",
                                                  at_tlog_hashes_json(proof, k)));
        }
        prev = size;
    }
    free(L);
    json_object_set_new(bundle, "proofs",
                        json_pack("{s:o,s:o}", "inclusion", incl, "consistency", cons));
}

/* ---- the verifier ---- */

struct vcp {
    uint64_t size;
    unsigned char root[32];
};

struct verifier {
    json_t *problems;
    struct at_note_key key;
    char keyid[64];
    struct vcp *cps;
    size_t ncps;
    const char *co_keyid, *co_pub; /* the TPM co-signer, if the bundle names one */
    json_t *breaks;                /* accepted breaks: {index, position, by, why} */
    size_t cur_pos;                /* the entry being checked: its place in the bundle */
};

static json_t *problem(struct verifier *v, long long index, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Returns the problem (borrowed) for extra members. */
static json_t *problem(struct verifier *v, long long index, const char *what, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *p = json_pack("{s:s,s:s}", "problem", what, "detail", msg);
    json_object_set_new(p, "index", index >= 0 ? json_integer(index) : json_null());
    json_array_append_new(v->problems, p);
    return p;
}

/* The problem is about the checkpoint of this size (docs/audit.md "Accepting a break"). */
static void about_cp(json_t *p, long long size)
{
    json_object_set_new(p, "checkpoint_size", json_integer(size));
}

static const struct vcp *find_cp(const struct verifier *v, uint64_t size)
{
    for (size_t i = 0; i < v->ncps; i++)
        if (v->cps[i].size == size)
            return &v->cps[i];
    return NULL;
}

static int hashes_of(const json_t *a, at_merkle_hash *out, size_t *k)
{
    *k = 0;
    if (!json_is_array(a) || json_array_size(a) > AT_MERKLE_PROOF_MAX)
        return AT_ESCHEMA;
    size_t i;
    json_t *h;
    json_array_foreach(a, i, h)
    {
        size_t n = 0;
        if (!json_is_string(h) ||
            sodium_base642bin(out[i], 32, json_string_value(h), json_string_length(h), NULL, &n,
                              NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
            n != 32)
            return AT_ESCHEMA;
    }
    *k = json_array_size(a);
    return 0;
}

/* What one entry says: its signed index (or -1), whether it verified. */
struct ventry {
    long long row;   /* the index it is stored at */
    long long claim; /* the index its payload claims (-1: unreadable) */
    int valid;       /* signed by the log's key, well formed */
    char why[160];
};

static void check_entry(struct verifier *v, const json_t *e, struct ventry *out, int *cosigned)
{
    size_t len = 0;
    unsigned char *tmp;
    out->claim = -1;
    const char *b = entry_bytes(e, &len, &tmp);
    struct at_dsse env;
    struct at_diag d;
    at_diag_clear(&d);
    if (!b) {
        snprintf(out->why, sizeof(out->why), "no envelope");
        return;
    }
    if (at_dsse_parse(b, len, &env, &d)) {
        snprintf(out->why, sizeof(out->why), "not a DSSE envelope: %.120s", d.msg);
        free(tmp);
        return;
    }
    free(tmp);
    int sig = at_dsse_verify_ed25519(&env, v->keyid, v->key.pk);
    json_t *st = NULL;
    if (strcmp(env.type, AT_DSSE_INTOTO) == 0)
        at_json_parse((const char *)env.payload, env.payload_len, 32, &st, NULL);
    json_t *pred = json_object_get(st, "predicate");
    json_t *log = json_object_get(pred, "log");
    json_t *ix = json_object_get(log, "index");
    if (json_is_integer(ix) && json_integer_value(ix) >= 0)
        out->claim = json_integer_value(ix);
    for (size_t i = 0; i < env.nsigs; i++) {
        if (strncmp(env.keyid[i], "tpm:", 4) != 0)
            continue;
        /* the TPM's co-signature: over the same PAE, by the bundle's cosigner */
        struct at_buf pae;
        at_buf_init(&pae, AT_DSSE_MAX + 256);
        at_dsse_pae(&pae, env.type, env.payload, env.payload_len);
        if (v->co_keyid && !strcmp(v->co_keyid, env.keyid[i]) &&
            at_tlog_tpm_verify(v->co_pub, (const unsigned char *)pae.p, pae.len, env.sig[i],
                               env.sig_len[i]) == 0)
            (*cosigned)++;
        else
            problem(v, out->claim, "cosignature",
                    "the TPM co-signature (%s) of entry %lld does not verify", env.keyid[i],
                    out->claim);
        at_buf_release(&pae);
    }
    if (sig) {
        snprintf(out->why, sizeof(out->why), "%s",
                 sig == AT_ENOENT ? "not signed by the log's key"
                                  : "the signature does not verify");
    } else if (!st || strcmp(at_json_str(st, "_type", ""), AT_TLOG_STATEMENT) != 0 ||
               out->claim < 0 || strcmp(at_json_str(log, "origin", ""), v->key.name) != 0) {
        snprintf(out->why, sizeof(out->why), "signed, but not a Statement of this log");
    } else {
        /* the subject names the record by its content digest */
        char dg[AT_AUDIT_DIGEST_MAX];
        json_t *sub = json_array_get(json_object_get(st, "subject"), 0);
        const char *want =
            json_string_value(json_object_get(json_object_get(sub, "digest"), "sha256"));
        json_t *rec = json_object_get(pred, "record");
        if (at_audit_digest(rec, dg) || !want || strcmp(want, dg + 7) != 0) {
            snprintf(out->why, sizeof(out->why), "the subject digest is not the record's");
        } else {
            out->valid = 1;
            if (!strcmp(at_json_str(st, "predicateType", ""), AT_TLOG_SEMANTIC) &&
                !strcmp(at_json_str(rec, "type", ""), AT_TLOG_BREAK_ACCEPTED))
                json_array_append_new(v->breaks, json_pack("{s:I,s:I,s:s,s:s?}", "index",
                                                           (json_int_t)out->claim, "position",
                                                           (json_int_t)v->cur_pos, "by",
                                                           at_json_str(rec, "by", "?"), "why",
                                                           at_json_str(rec, "why", NULL)));
        }
    }
    json_decref(st);
    at_dsse_release(&env);
}

static int parse_key(const json_t *bundle, const char *trusted, struct verifier *v,
                     struct at_diag *d)
{
    const char *origin = json_string_value(json_object_get(bundle, "origin"));
    const char *pub = json_string_value(json_object_get(bundle, "public_key"));
    unsigned char pk[32];
    size_t n = 0;
    if (!origin || !pub || strncmp(pub, "ed25519:", 8) != 0 ||
        sodium_base642bin(pk, sizeof(pk), pub + 8, strlen(pub + 8), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != 32 || at_note_key_init(&v->key, origin, pk)) {
        at_diag_set(d, AT_ESCHEMA, NULL, 0, 0,
                    "bundle: origin and public_key (\"ed25519:<base64>\") are required");
        at_diag_set_pointer(d, "/public_key");
        return AT_ESCHEMA;
    }
    if (trusted) {
        struct at_note_key tk;
        int rc = at_note_vkey_parse(trusted, &tk, d);
        if (rc)
            return rc;
        if (strcmp(tk.name, v->key.name) != 0 || sodium_memcmp(tk.pk, v->key.pk, 32) != 0)
            return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                               "the bundle's log key (%s) is not the trusted key %s", origin,
                               trusted);
    }
    at_tlog_keyid(v->key.pk, v->keyid);
    return 0;
}

static void check_checkpoints(struct verifier *v, const json_t *cps, const at_merkle_hash *L,
                              size_t n)
{
    v->cps = at_calloc(json_array_size(cps) + 1, sizeof(*v->cps));
    size_t i;
    json_t *c;
    json_array_foreach(cps, i, c)
    {
        struct at_checkpoint cp;
        struct at_diag d;
        at_diag_clear(&d);
        const char *note = json_string_value(c);
        if (!note || at_checkpoint_open(note, json_string_length(c), &v->key, &cp, &d)) {
            json_t *p = problem(v, -1, "checkpoint", "checkpoint %zu does not verify: %s", i,
                                note ? d.msg : "not a string");
            /* which size it claims, when its text says: for acknowledging it */
            struct at_checkpoint cc;
            if (note) {
                const char *sep = strstr(note, "\n\n");
                if (sep && at_checkpoint_parse(note, (size_t)(sep - note) + 1, &cc, NULL) == 0)
                    about_cp(p, (long long)cc.size);
            }
            continue;
        }
        v->cps[v->ncps].size = cp.size;
        memcpy(v->cps[v->ncps].root, cp.root, 32);
        v->ncps++;
        if (cp.size > n) {
            about_cp(problem(v, (long long)n, "deleted",
                             "checkpoint of size %llu signs %llu entries; the log holds %zu",
                             (unsigned long long)cp.size, (unsigned long long)cp.size, n),
                     (long long)cp.size);
            continue;
        }
        unsigned char root[32];
        at_merkle_root(L, (size_t)cp.size, root);
        if (sodium_memcmp(root, cp.root, 32) != 0)
            about_cp(problem(v, -1, "checkpoint",
                             "entries 0..%llu do not hash to the root signed by the checkpoint of "
                             "size %llu",
                             (unsigned long long)cp.size - (cp.size ? 1 : 0),
                             (unsigned long long)cp.size),
                     (long long)cp.size);
    }
}

static void check_proofs(struct verifier *v, const json_t *proofs, const at_merkle_hash *L,
                         size_t n, long long *ni, long long *nc)
{
    at_merkle_hash p[AT_MERKLE_PROOF_MAX];
    size_t k, i;
    json_t *x;
    json_array_foreach(json_object_get(proofs, "inclusion"), i, x)
    {
        long long idx = at_json_int(x, "index", -1), size = at_json_int(x, "tree_size", -1);
        const struct vcp *cp = size > 0 ? find_cp(v, (uint64_t)size) : NULL;
        if (idx < 0 || !cp || (size_t)idx >= n || hashes_of(json_object_get(x, "hashes"), p, &k) ||
            at_merkle_inclusion_check((uint64_t)idx, (uint64_t)size, L[idx], p, k, cp->root)) {
            about_cp(problem(v, idx, "proof",
                             "the inclusion proof of entry %lld in the checkpoint of size %lld "
                             "does not verify",
                             idx, size),
                     size);
            continue;
        }
        (*ni)++;
    }
    json_array_foreach(json_object_get(proofs, "consistency"), i, x)
    {
        long long from = at_json_int(x, "from", -1), to = at_json_int(x, "to", -1);
        const struct vcp *a = from > 0 ? find_cp(v, (uint64_t)from) : NULL;
        const struct vcp *b = to > 0 ? find_cp(v, (uint64_t)to) : NULL;
        if (!a || !b || hashes_of(json_object_get(x, "hashes"), p, &k) ||
            at_merkle_consistency_check((uint64_t)from, (uint64_t)to, a->root, b->root, p, k)) {
            about_cp(problem(v, -1, "proof",
                             "the consistency proof from the checkpoint of size %lld to %lld does "
                             "not verify",
                             from, to),
                     from);
            continue;
        }
        (*nc)++;
    }
}

/* Name what happened to each index (docs/audit.md "What verify reports"). */
static void classify(struct verifier *v, const struct ventry *E, size_t n, uint64_t signed_size)
{
    long long maxs = -1;
    for (size_t i = 0; i < n; i++)
        if (E[i].valid && E[i].claim > maxs)
            maxs = E[i].claim;
    uint64_t expect = (uint64_t)(maxs + 1) > signed_size ? (uint64_t)(maxs + 1) : signed_size;
    if (expect > (uint64_t)n + AT_TLOG_BUNDLE_ENTRIES_MAX) {
        problem(v, -1, "deleted", "the log signs %llu entries; the bundle holds %zu",
                (unsigned long long)expect, n);
        return;
    }
    unsigned char *seen = at_calloc(expect + 1, 1); /* 1: valid; 2: rewritten */
    long long hi = -1, hi_row = -1;
    for (size_t i = 0; i < n; i++) {
        const struct ventry *e = &E[i];
        if (!e->valid)
            continue;
        if (seen[e->claim]) {
            problem(v, e->row, "inserted",
                    "the entry stored at %lld is a second copy of entry %lld (replayed)", e->row,
                    e->claim);
            continue;
        }
        seen[e->claim] = 1;
        if (e->claim < hi)
            problem(v, e->claim, "reordered",
                    "entry %lld is stored at %lld, after entry %lld (stored at %lld)", e->claim,
                    e->row, hi, hi_row);
        else {
            hi = e->claim;
            hi_row = e->row;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct ventry *e = &E[i];
        if (e->valid)
            continue;
        long long c = e->claim >= 0 ? e->claim : e->row;
        if (c >= 0 && (uint64_t)c < expect && !seen[c]) {
            seen[c] = 2;
            problem(v, c, "rewritten", "entry %lld (stored at %lld) was changed: %s", c, e->row,
                    e->why);
        } else {
            problem(v, e->row, "inserted", "the entry stored at %lld is not the log's: %s", e->row,
                    e->why);
        }
    }
    for (uint64_t k = 0; k < expect; k++) {
        if (seen[k])
            continue;
        uint64_t j = k;
        while (j + 1 < expect && !seen[j + 1])
            j++;
        if (j == k)
            problem(v, (long long)k, "deleted", "entry %llu is missing", (unsigned long long)k);
        else
            problem(v, (long long)k, "deleted", "entries %llu..%llu are missing",
                    (unsigned long long)k, (unsigned long long)j);
        k = j;
    }
    free(seen);
}

int at_tlog_verify(const json_t *bundle, const char *trusted_vkey, const char *from_note,
                   json_t **report, struct at_diag *d)
{
    *report = NULL;
    if (!json_is_object(bundle) ||
        strcmp(at_json_str(bundle, "format", ""), AT_TLOG_BUNDLE_FORMAT) != 0) {
        at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0, "not an audit bundle (format %s expected)",
                    AT_TLOG_BUNDLE_FORMAT);
        at_diag_set_pointer(d, "/format");
        return AT_EUNSUPPORTED;
    }
    const json_t *entries = json_object_get(bundle, "entries");
    const json_t *cps = json_object_get(bundle, "checkpoints");
    if (!json_is_array(entries) || json_array_size(entries) > AT_TLOG_BUNDLE_ENTRIES_MAX ||
        !json_is_array(cps) || json_array_size(cps) > AT_TLOG_BUNDLE_CHECKPOINTS_MAX) {
        at_diag_set(d, AT_ESCHEMA, NULL, 0, 0,
                    "bundle: entries and checkpoints must be arrays (at most %u entries)",
                    AT_TLOG_BUNDLE_ENTRIES_MAX);
        at_diag_set_pointer(d, json_is_array(entries) ? "/checkpoints" : "/entries");
        return AT_ESCHEMA;
    }
    struct verifier v;
    memset(&v, 0, sizeof(v));
    int rc = parse_key(bundle, trusted_vkey, &v, d);
    if (rc)
        return rc;
    struct at_checkpoint from;
    if (from_note && (rc = at_checkpoint_open(from_note, strlen(from_note), &v.key, &from, d)))
        return rc;
    v.problems = json_array();
    v.breaks = json_array();
    json_t *co = json_object_get(bundle, "cosigner");
    v.co_keyid = json_string_value(json_object_get(co, "keyid"));
    v.co_pub = json_string_value(json_object_get(co, "public_key"));
    size_t n;
    at_merkle_hash *L = bundle_leaves(entries, &n);
    struct ventry *E = at_calloc(n ? n : 1, sizeof(*E));
    int cosigned = 0;
    long long nsig = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(entries, i);
        E[i].row = at_json_int(e, "index", (long long)i);
        v.cur_pos = i;
        check_entry(&v, e, &E[i], &cosigned);
        nsig += E[i].valid;
    }
    check_checkpoints(&v, cps, L, n);
    uint64_t signed_size = 0;
    const struct vcp *latest = NULL;
    for (size_t i = 0; i < v.ncps; i++)
        if (v.cps[i].size >= signed_size) {
            signed_size = v.cps[i].size;
            latest = &v.cps[i];
        }
    /* the high-water mark: entries removed from the end after the latest checkpoint */
    json_t *hwj = json_object_get(bundle, "high_water");
    json_t *hw_rep = NULL;
    uint64_t hw_expect = 0; /* the next index the log would issue */
    int hw_short = 0;
    if (json_is_string(hwj)) {
        uint64_t hs = 0;
        unsigned char leaf[32];
        struct at_diag hd;
        at_diag_clear(&hd);
        int64_t hnext = 0;
        if (at_tlog_hwm_open(json_string_value(hwj), json_string_length(hwj), &v.key, &hs, &hnext,
                             leaf, &hd)) {
            problem(&v, -1, "high_water", "the high-water mark does not verify: %s", hd.msg);
        } else if (hs > n) {
            hw_short = 1; /* classify names the missing indexes, up to hnext */
        } else if (hs && sodium_memcmp(L[hs - 1], leaf, 32) != 0) {
            problem(&v, (long long)hs - 1, "high_water",
                    "entry %llu is not the one the high-water mark signed",
                    (unsigned long long)hs - 1);
        }
        hw_rep = json_integer((json_int_t)hs);
        if (hnext > 0 && (uint64_t)hnext > hw_expect)
            hw_expect = (uint64_t)hnext;
        else if (hw_short)
            problem(&v, (long long)n, "deleted",
                    "the high-water mark counts %llu entries; the bundle holds %zu",
                    (unsigned long long)hs, n);
    }
    classify(&v, E, n, hw_expect > signed_size ? hw_expect : signed_size);
    long long ni = 0, nc = 0;
    check_proofs(&v, json_object_get(bundle, "proofs"), L, n, &ni, &nc);
    json_t *fromj = NULL;
    if (from_note) {
        int ok = 0;
        if (!latest || from.size > latest->size) {
            problem(&v, -1, "consistency",
                    "the log's latest checkpoint (size %llu) is older than the --from checkpoint "
                    "(size %llu): entries were removed",
                    latest ? (unsigned long long)latest->size : 0ULL,
                    (unsigned long long)from.size);
        } else if (from.size == 0) {
            ok = 1;
        } else if (latest->size <= n) {
            at_merkle_hash p[AT_MERKLE_PROOF_MAX];
            size_t k;
            at_merkle_consistency(L, (size_t)latest->size, (size_t)from.size, p, &k);
            ok = at_merkle_consistency_check(from.size, latest->size, from.root, latest->root, p,
                                             k) == 0;
            if (ok)
                nc++;
            else
                problem(&v, -1, "consistency",
                        "the log is not an extension of the --from checkpoint (size %llu): its "
                        "first %llu entries changed",
                        (unsigned long long)from.size, (unsigned long long)from.size);
        }
        fromj = json_pack("{s:I,s:b}", "size", (json_int_t)from.size, "consistent", ok);
    }
    /* an accepted break acknowledges what lies before it: problems of
     * entries below its index and of checkpoints signed before it */
    long long accept_at = -1, accept_pos = -1;
    size_t bi;
    json_t *bj;
    json_array_foreach(v.breaks, bi, bj)
    {
        /* it counts only while the first checkpoint over it still verifies:
         * what lies before it is then what was accepted */
        long long pos = at_json_int(bj, "position", -1);
        const struct vcp *first = NULL;
        for (size_t k = 0; k < v.ncps; k++)
            if (v.cps[k].size > (uint64_t)pos && v.cps[k].size <= n &&
                (!first || v.cps[k].size < first->size))
                first = &v.cps[k];
        unsigned char root[32];
        int holds = 0;
        if (first) {
            at_merkle_root(L, (size_t)first->size, root);
            holds = sodium_memcmp(root, first->root, 32) == 0;
        }
        json_object_set_new(bj, "holds", json_boolean(holds));
        if (holds && pos > accept_pos) {
            accept_pos = pos;
            accept_at = at_json_int(bj, "index", -1);
        }
    }
    json_t *ack = json_array(), *keep = json_array();
    json_array_foreach(v.problems, bi, bj)
    {
        json_t *cs = json_object_get(bj, "checkpoint_size");
        json_t *ix = json_object_get(bj, "index");
        const char *what = at_json_str(bj, "problem", "");
        int acked =
            accept_at >= 0 && strcmp(what, "consistency") != 0 &&
            (json_is_integer(cs) ? json_integer_value(cs) <= accept_pos
                                 : json_is_integer(ix) && json_integer_value(ix) < accept_at);
        json_array_append(acked ? ack : keep, bj);
    }
    json_decref(v.problems);
    v.problems = keep;
    char vkey[AT_NOTE_VKEY_MAX], root64[64] = "";
    at_note_vkey(&v.key, vkey);
    if (latest)
        sodium_bin2base64(root64, sizeof(root64), latest->root, 32, sodium_base64_VARIANT_ORIGINAL);
    *report =
        json_pack("{s:b,s:s,s:s,s:s,s:I,s:I,s:i,s:I,s:I,s:I,s:I,s:s,s:o?,s:o}", "ok",
                  json_array_size(v.problems) == 0, "origin", v.key.name, "vkey", vkey,
                  "key_source", trusted_vkey ? "trusted" : "bundle", "entries", (json_int_t)n,
                  "signatures_verified", (json_int_t)nsig, "cosigned_receipts", cosigned,
                  "checkpoints_verified", (json_int_t)v.ncps, "tree_size", (json_int_t)signed_size,
                  "inclusion_proofs_verified", (json_int_t)ni, "consistency_proofs_verified",
                  (json_int_t)nc, "root", root64, "from", fromj, "problems", v.problems);
    json_object_set_new(*report, "acknowledged", ack);
    json_object_set_new(*report, "accepted_breaks", v.breaks);
    json_object_set_new(*report, "high_water", hw_rep ? hw_rep : json_null());
    free(E);
    free(L);
    free(v.cps);
    return 0;
}
