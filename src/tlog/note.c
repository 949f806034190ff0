/*
 * note.c - C2SP signed notes and tlog checkpoints (note.h).
 */
#include "tlog/note.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH "\xe2\x80\x94"

static int name_ok(const char *n, size_t len)
{
    if (len == 0 || len >= AT_NOTE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        if (c <= 0x20 || c == 0x7f || c == '+')
            return 0;
    }
    return 1;
}

static uint32_t key_id(const char *name, const unsigned char pk[32])
{
    crypto_hash_sha256_state st;
    unsigned char h[32];
    static const unsigned char sep[2] = {0x0a, 0x01};
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, 2);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

int at_note_key_init(struct at_note_key *k, const char *name, const unsigned char pk[32])
{
    memset(k, 0, sizeof(*k));
    if (!name || !name_ok(name, strlen(name)))
        return AT_EINVAL;
    memcpy(k->name, name, strlen(name) + 1);
    memcpy(k->pk, pk, 32);
    k->id = key_id(name, pk);
    return 0;
}

void at_note_vkey(const struct at_note_key *k, char out[AT_NOTE_VKEY_MAX])
{
    unsigned char raw[33];
    raw[0] = 0x01;
    memcpy(raw + 1, k->pk, 32);
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, AT_NOTE_VKEY_MAX, "%s+%08x+%s", k->name, (unsigned)k->id, b64);
}

int at_note_vkey_parse(const char *text, struct at_note_key *k, struct at_diag *d)
{
    memset(k, 0, sizeof(*k));
    const char *p1 = text ? strchr(text, '+') : NULL;
    const char *p2 = p1 ? strchr(p1 + 1, '+') : NULL;
    if (!p1 || !p2 || p2 - p1 != 9 || !name_ok(text, (size_t)(p1 - text)))
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                           "verifier key: expected NAME+KEYID(8 hex)+BASE64(0x01||key)");
    char hex[9];
    memcpy(hex, p1 + 1, 8);
    hex[8] = '\0';
    char *end;
    unsigned long id = strtoul(hex, &end, 16);
    unsigned char raw[40];
    size_t n = 0;
    if (*end ||
        sodium_base642bin(raw, sizeof(raw), p2 + 1, strlen(p2 + 1), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != 33 || raw[0] != 0x01)
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                           "verifier key: bad key ID or key (only Ed25519, type 0x01)");
    char name[AT_NOTE_NAME_MAX];
    memcpy(name, text, (size_t)(p1 - text));
    name[p1 - text] = '\0';
    at_note_key_init(k, name, raw + 1);
    if (k->id != (uint32_t)id)
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                           "verifier key: key ID %08lx does not match the name and key", id);
    return 0;
}

char *at_note_sign(const char *text, size_t len, const struct at_note_key *k,
                   const unsigned char sk[64], size_t *out_len)
{
    unsigned char sig[4 + 64];
    sig[0] = (unsigned char)(k->id >> 24);
    sig[1] = (unsigned char)(k->id >> 16);
    sig[2] = (unsigned char)(k->id >> 8);
    sig[3] = (unsigned char)k->id;
    crypto_sign_detached(sig + 4, NULL, (const unsigned char *)text, len, sk);
    char b64[128];
    sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    struct at_buf b;
    at_buf_init(&b, (size_t)AT_NOTE_MAX * 2);
    at_buf_append(&b, text, len);
    at_buf_printf(&b, "\n" EM_DASH " %s %s\n", k->name, b64);
    return at_buf_detach(&b, out_len);
}

int at_note_open(const char *note, size_t len, const struct at_note_key *k, size_t *text_len,
                 struct at_diag *d)
{
    *text_len = 0;
    if (len > AT_NOTE_MAX)
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0, "note: over %u bytes", AT_NOTE_MAX);
    if (len == 0 || note[len - 1] != '\n')
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0, "note: does not end in a newline");
    /* the text: printable UTF-8 lines (no control characters but \n),
     * ended by the first blank line */
    size_t split = 0;
    int line = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)note[i];
        if (c == '\n') {
            if (i + 1 < len && note[i + 1] == '\n') {
                split = i + 1;
                break;
            }
            line++;
        } else if (c < 0x20 || c == 0x7f) {
            return at_diag_set(d, AT_EPARSE, NULL, line, 0, "note: control character 0x%02x", c);
        }
    }
    if (split == 0)
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0, "note: no blank line before the signatures");
    size_t tl = split; /* the text, its last newline included */
    const char *p = note + split + 1, *end = note + len;
    int nsig = 0, found = 0;
    line += 2;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = (size_t)(nl - p);
        if (++nsig > AT_NOTE_SIGS_MAX)
            return at_diag_set(d, AT_EPARSE, NULL, line, 0, "note: over %d signatures",
                               AT_NOTE_SIGS_MAX);
        if (ll < 5 || memcmp(p, EM_DASH " ", 4) != 0)
            return at_diag_set(d, AT_EPARSE, NULL, line, 0,
                               "note: a signature line starts with \"" EM_DASH " \"");
        const char *nm = p + 4;
        const char *sp = memchr(nm, ' ', (size_t)(nl - nm));
        if (!sp || !name_ok(nm, (size_t)(sp - nm)))
            return at_diag_set(d, AT_EPARSE, NULL, line, 0,
                               "note: signature line: expected a key name and a signature");
        unsigned char sig[128];
        size_t sl = 0;
        if (sodium_base642bin(sig, sizeof(sig), sp + 1, (size_t)(nl - sp - 1), NULL, &sl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            sl < 5)
            return at_diag_set(d, AT_EPARSE, NULL, line, 0,
                               "note: signature line: the signature is not base64");
        uint32_t id =
            (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 | (uint32_t)sig[2] << 8 | sig[3];
        if (k && (size_t)(sp - nm) == strlen(k->name) &&
            memcmp(nm, k->name, (size_t)(sp - nm)) == 0 && id == k->id) {
            if (sl != 68 ||
                crypto_sign_verify_detached(sig + 4, (const unsigned char *)note, tl, k->pk) != 0)
                return at_diag_set(d, AT_EPERM, NULL, line, 0,
                                   "note: the signature by %s does not verify", k->name);
            found = 1;
        }
        p = nl + 1;
        line++;
    }
    if (nsig == 0)
        return at_diag_set(d, AT_EPARSE, NULL, line, 0, "note: no signature line");
    if (k && !found)
        return at_diag_set(d, AT_EPERM, NULL, 0, 0, "note: not signed by %s+%08x", k->name,
                           (unsigned)k->id);
    *text_len = tl;
    return 0;
}

char *at_checkpoint_text(const struct at_checkpoint *c, size_t *len)
{
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), c->root, 32, sodium_base64_VARIANT_ORIGINAL);
    char *t = at_asprintf("%s\n%llu\n%s\n", c->origin, (unsigned long long)c->size, b64);
    if (len)
        *len = strlen(t);
    return t;
}

int at_checkpoint_parse(const char *text, size_t len, struct at_checkpoint *c, struct at_diag *d)
{
    memset(c, 0, sizeof(*c));
    if (len > AT_NOTE_MAX)
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0, "checkpoint: too long");
    const char *lines[3];
    size_t lens[3];
    const char *p = text, *end = text + len;
    for (int i = 0; i < 3; i++) {
        const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!nl)
            return at_diag_set(d, AT_EPARSE, NULL, i + 1, 0,
                               "checkpoint: expected origin, tree size and root hash lines");
        lines[i] = p;
        lens[i] = (size_t)(nl - p);
        p = nl + 1;
    }
    if (lens[0] == 0 || lens[0] >= sizeof(c->origin))
        return at_diag_set(d, AT_EPARSE, NULL, 1, 0, "checkpoint: empty or too long origin");
    memcpy(c->origin, lines[0], lens[0]);
    c->origin[lens[0]] = '\0';
    if (lens[1] == 0 || lens[1] > 20 || (lens[1] > 1 && lines[1][0] == '0'))
        return at_diag_set(d, AT_EPARSE, NULL, 2, 0, "checkpoint: tree size is not a decimal");
    uint64_t v = 0;
    for (size_t i = 0; i < lens[1]; i++) {
        char ch = lines[1][i];
        if (ch < '0' || ch > '9' || v > (UINT64_MAX - 9) / 10)
            return at_diag_set(d, AT_EPARSE, NULL, 2, 0, "checkpoint: tree size is not a decimal");
        v = v * 10 + (uint64_t)(ch - '0');
    }
    c->size = v;
    size_t n = 0;
    if (sodium_base642bin(c->root, sizeof(c->root), lines[2], lens[2], NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != 32)
        return at_diag_set(d, AT_EPARSE, NULL, 3, 0,
                           "checkpoint: root hash is not 32 bytes of base64");
    return 0;
}

int at_checkpoint_open(const char *note, size_t len, const struct at_note_key *k,
                       struct at_checkpoint *c, struct at_diag *d)
{
    size_t tl;
    int rc = at_note_open(note, len, k, &tl, d);
    if (rc == 0)
        rc = at_checkpoint_parse(note, tl, c, d);
    if (rc == 0 && k && strcmp(c->origin, k->name) != 0)
        rc = at_diag_set(d, AT_EPERM, NULL, 1, 0, "checkpoint: origin \"%s\" is not the key's %s",
                         c->origin, k->name);
    return rc;
}
