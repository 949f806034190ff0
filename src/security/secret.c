/*
 * secret.c - the data directory's key and sealed secrets (secret.h).
 *
 * The values are kept decrypted in memory (the daemon needs them for
 * every spawn of an agent that lists them, and to redact them); they are
 * wiped when replaced, deleted or freed.
 */
#include "security/secret.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE "atlas.key"

static int load_master(const char *data_dir, unsigned char master[crypto_kdf_KEYBYTES],
                       struct at_diag *d)
{
    if (sodium_init() < 0)
        return at_diag_set(d, AT_EINTERNAL, NULL, 0, 0, "libsodium cannot start");
    char *path = at_fs_join(data_dir, KEY_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = 0;
    if (fd < 0 && errno == ENOENT) {
        crypto_kdf_keygen(master);
        rc = at_fs_write_atomic(path, master, crypto_kdf_KEYBYTES, 0600);
        if (rc)
            at_diag_set(d, rc, path, 0, 0, "cannot write the data directory's key: %s",
                        at_err_msg(rc));
    } else if (fd < 0) {
        int e = errno;
        rc = at_diag_set(d, at_err_from_errno(e), path, 0, 0, "cannot open the key: %s",
                         strerror(e));
    } else {
        struct stat st;
        ssize_t n = -1;
        if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
            rc = at_diag_set(d, AT_EPERM, path, 0, 0,
                             "the key file may be read by others (mode %03o): chmod 600 it",
                             (unsigned)(st.st_mode & 0777));
        } else if (fstat(fd, &st) == 0 && st.st_uid != geteuid()) {
            rc = at_diag_set(d, AT_EPERM, path, 0, 0, "the key file belongs to another user");
        } else {
            n = read(fd, master, crypto_kdf_KEYBYTES);
            if (n != (ssize_t)crypto_kdf_KEYBYTES)
                rc = at_diag_set(d, AT_EIO, path, 0, 0, "the key file is not %d bytes",
                                 crypto_kdf_KEYBYTES);
        }
        close(fd);
    }
    free(path);
    return rc;
}

int at_seckey_load(const char *data_dir, unsigned char token_key[32], unsigned char box_key[32],
                   struct at_diag *d)
{
    unsigned char master[crypto_kdf_KEYBYTES];
    int rc = load_master(data_dir, master, d);
    if (rc == 0) {
        crypto_kdf_derive_from_key(token_key, 32, 1, "atltoken", master);
        crypto_kdf_derive_from_key(box_key, 32, 2, "atlsecrt", master);
    }
    sodium_memzero(master, sizeof(master));
    return rc;
}

int at_seckey_signing(const char *data_dir, unsigned char pk[32], unsigned char sk[64],
                      struct at_diag *d)
{
    unsigned char master[crypto_kdf_KEYBYTES], seed[crypto_sign_SEEDBYTES];
    int rc = load_master(data_dir, master, d);
    if (rc == 0) {
        crypto_kdf_derive_from_key(seed, sizeof(seed), 3, "atlsignk", master);
        crypto_sign_seed_keypair(pk, sk, seed);
    }
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(master, sizeof(master));
    return rc;
}

struct plain {
    char name[AT_SECRET_NAME_MAX];
    char *value;
    size_t len;
};

struct at_secrets {
    struct at_secstore *ss;
    unsigned char key[crypto_secretbox_KEYBYTES];
    pthread_rwlock_t lock;
    struct plain *v;
    size_t n, cap;
};

static void plain_wipe(struct plain *p)
{
    if (p->value) {
        sodium_memzero(p->value, p->len);
        free(p->value);
    }
    p->value = NULL;
    p->len = 0;
}

static int open_box(const unsigned char *key, const unsigned char *blob, size_t len, char **out,
                    size_t *olen)
{
    if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return AT_EPARSE;
    size_t clen = len - crypto_secretbox_NONCEBYTES;
    size_t mlen = clen - crypto_secretbox_MACBYTES;
    char *m = at_malloc(mlen + 1);
    if (crypto_secretbox_open_easy((unsigned char *)m, blob + crypto_secretbox_NONCEBYTES, clen,
                                   blob, key) != 0) {
        free(m);
        return AT_EPERM;
    }
    m[mlen] = '\0';
    *out = m;
    *olen = mlen;
    return 0;
}

/* Under the write lock: replace or add the plain value. */
static void plain_put(struct at_secrets *s, const char *name, char *value, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) {
            plain_wipe(&s->v[i]);
            s->v[i].value = value;
            s->v[i].len = len;
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = at_realloc(s->v, s->cap * sizeof(*s->v));
    }
    struct plain *p = &s->v[s->n++];
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->value = value;
    p->len = len;
}

int at_secrets_new(struct at_secstore *ss, const unsigned char box_key[32], struct at_secrets **out,
                   struct at_diag *d)
{
    struct at_secrets *s = at_calloc(1, sizeof(*s));
    s->ss = ss;
    memcpy(s->key, box_key, sizeof(s->key));
    pthread_rwlock_init(&s->lock, NULL);
    json_t *names = NULL;
    int rc = at_secstore_secret_list(ss, &names);
    size_t i;
    json_t *row;
    json_array_foreach(names, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "name"));
        unsigned char *blob = NULL;
        size_t len = 0;
        if (!name || at_secstore_secret_get(ss, name, &blob, &len) != 0)
            continue;
        char *m = NULL;
        size_t mlen = 0;
        if (open_box(s->key, blob, len, &m, &mlen) == 0)
            plain_put(s, name, m, mlen);
        else /* the daemon still starts: the secret is missing until set again */
            at_warn("security",
                    "secret %s cannot be opened with this data directory's key (a store "
                    "restored without its atlas.key?): set it again with `atlas secret set %s`",
                    name, name);
        free(blob);
    }
    json_decref(names);
    if (rc) {
        at_secrets_free(s);
        if (!d->msg[0])
            at_diag_set(d, rc, NULL, 0, 0, "cannot read the secrets: %s", at_err_msg(rc));
        return rc;
    }
    *out = s;
    return 0;
}

void at_secrets_free(struct at_secrets *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        plain_wipe(&s->v[i]);
    free(s->v);
    sodium_memzero(s->key, sizeof(s->key));
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

static int valid_name(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len >= AT_SECRET_NAME_MAX || (n[0] >= '0' && n[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
            return 0;
    return 1;
}

int at_secrets_set(struct at_secrets *s, const char *name, const char *value, size_t len,
                   struct at_diag *d)
{
    if (!valid_name(name))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "a secret's name is an environment variable name: A-Z, 0-9 and _, "
                           "not starting with a digit, at most %d characters",
                           AT_SECRET_NAME_MAX - 1);
    if (len == 0)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "a secret's value may not be empty");
    if (len > AT_SECRET_VALUE_MAX)
        return at_diag_set(d, AT_E2BIG, NULL, 0, 0, "a secret's value is at most %u bytes",
                           AT_SECRET_VALUE_MAX);
    if (memchr(value, '\0', len))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "a secret's value may not hold a NUL byte (it goes into an "
                           "environment variable)");
    size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    unsigned char *blob = at_malloc(blen);
    randombytes_buf(blob, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(blob + crypto_secretbox_NONCEBYTES, (const unsigned char *)value, len,
                          blob, s->key);
    pthread_rwlock_wrlock(&s->lock);
    int rc = at_secstore_secret_put(s->ss, name, blob, blen, at_wall_ms());
    if (rc == 0) {
        char *copy = at_malloc(len + 1);
        memcpy(copy, value, len);
        copy[len] = '\0';
        plain_put(s, name, copy, len);
    }
    pthread_rwlock_unlock(&s->lock);
    free(blob);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot store the secret: %s", at_err_msg(rc));
    return 0;
}

int at_secrets_get(struct at_secrets *s, const char *name, char **value)
{
    *value = NULL;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) {
            *value = at_malloc(s->v[i].len + 1);
            memcpy(*value, s->v[i].value, s->v[i].len + 1);
            break;
        }
    pthread_rwlock_unlock(&s->lock);
    return *value ? 0 : AT_ENOENT;
}

int at_secrets_has(struct at_secrets *s, const char *name)
{
    int found = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n && !found; i++)
        found = !strcmp(s->v[i].name, name);
    pthread_rwlock_unlock(&s->lock);
    return found;
}

void at_secret_free(char *value)
{
    if (value) {
        sodium_memzero(value, strlen(value));
        free(value);
    }
}

int at_secrets_delete(struct at_secrets *s, const char *name)
{
    pthread_rwlock_wrlock(&s->lock);
    int rc = at_secstore_secret_delete(s->ss, name);
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) {
            plain_wipe(&s->v[i]);
            s->v[i] = s->v[--s->n];
            break;
        }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int at_secrets_list(struct at_secrets *s, json_t **out)
{
    return at_secstore_secret_list(s->ss, out);
}

/* The secret starting at text[i], longest first; its length or 0.  Values
 * shorter than 4 bytes are not redacted (they would blank common text). */
static size_t match_at(const struct at_secrets *s, const char *text, size_t len, size_t i)
{
    size_t best = 0;
    for (size_t k = 0; k < s->n; k++) {
        size_t n = s->v[k].len;
        if (n >= 4 && n > best && n <= len - i && memcmp(text + i, s->v[k].value, n) == 0)
            best = n;
    }
    return best;
}

int at_secrets_contains(struct at_secrets *s, const char *text, size_t len)
{
    if (!s || !text)
        return 0;
    int found = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t k = 0; k < s->n && !found; k++)
        found = s->v[k].len >= 4 && memmem(text, len, s->v[k].value, s->v[k].len) != NULL;
    pthread_rwlock_unlock(&s->lock);
    return found;
}

int at_secrets_redact(struct at_secrets *s, const char *text, size_t len, struct at_buf *out)
{
    int count = 0;
    pthread_rwlock_rdlock(&s->lock);
    size_t i = 0;
    while (i < len) {
        size_t m = s->n ? match_at(s, text, len, i) : 0;
        if (m) {
            at_buf_append(out, AT_SECRET_REDACTED, strlen(AT_SECRET_REDACTED));
            i += m;
            count++;
        } else {
            at_buf_putc(out, text[i]);
            i++;
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return count;
}

size_t at_secrets_count(struct at_secrets *s)
{
    if (!s)
        return 0;
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->n;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

json_t *at_secrets_redacted_copy(struct at_secrets *s, const json_t *v)
{
    if (!v || !at_secrets_count(s))
        return NULL;
    json_t *c = json_deep_copy(v);
    if (at_secrets_redact_json(s, c) > 0)
        return c;
    json_decref(c);
    return NULL;
}

int at_secrets_redact_json(struct at_secrets *s, json_t *v)
{
    if (!s || !v)
        return 0;
    int count = 0;
    if (json_is_string(v)) {
        const char *t = json_string_value(v);
        size_t n = json_string_length(v);
        if (!at_secrets_contains(s, t, n))
            return 0;
        struct at_buf b;
        at_buf_init(&b, n + (size_t)1024 * 1024);
        count = at_secrets_redact(s, t, n, &b);
        json_string_setn(v, b.p ? b.p : "", b.len);
        at_buf_release(&b);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) count += at_secrets_redact_json(s, x);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) count += at_secrets_redact_json(s, x);
    }
    return count;
}
