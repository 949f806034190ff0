#include "dist/artifact.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/map.h"
#include "json/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_NAME "org.opencontainers.image.ref.name"

int at_layout_init(const char *root, struct at_diag *d)
{
    char *blobs = at_asprintf("%s/blobs/sha256", root);
    int rc = at_fs_mkdir_p(blobs, 0755);
    free(blobs);
    if (rc)
        return at_diag_set(d, rc, root, 0, 0, "cannot create the blob store");
    char *lay = at_fs_join(root, "oci-layout");
    if (!at_fs_is_file(lay)) {
        static const char text[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        rc = at_fs_write_atomic(lay, text, sizeof(text) - 1, 0644);
    }
    free(lay);
    char *ix = at_fs_join(root, "index.json");
    if (!rc && !at_fs_is_file(ix)) {
        static const char text[] =
            "{\"manifests\":[],\"mediaType\":\"" AT_OCI_INDEX_TYPE "\",\"schemaVersion\":2}";
        rc = at_fs_write_atomic(ix, text, sizeof(text) - 1, 0644);
    }
    free(ix);
    if (rc)
        return at_diag_set(d, rc, root, 0, 0, "cannot write the image layout");
    return 0;
}

char *at_layout_blob_path(const char *root, const char *digest)
{
    if (!at_oci_digest_valid(digest))
        return NULL;
    return at_asprintf("%s/blobs/%.6s/%s", root, digest, digest + 7);
}

int at_layout_has_blob(const char *root, const char *digest)
{
    char *p = at_layout_blob_path(root, digest);
    int ok = p && at_fs_is_file(p);
    free(p);
    return ok;
}

int at_layout_put_bytes(const char *root, const void *data, size_t len,
                        char digest[AT_OCI_DIGEST_MAX], struct at_diag *d)
{
    at_oci_digest_bytes(data, len, digest);
    char *p = at_layout_blob_path(root, digest);
    int rc = 0;
    if (!at_fs_is_file(p) && (rc = at_fs_write_atomic(p, data, len, 0644)))
        at_diag_set(d, rc, p, 0, 0, "cannot store the blob");
    free(p);
    return rc;
}

int at_layout_file_digest(const char *path, const char *want, char digest[AT_OCI_DIGEST_MAX],
                          uint64_t *size, struct at_diag *d)
{
    if (sodium_init() < 0)
        return AT_EINTERNAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return at_diag_set(d, at_err_from_errno(errno), path, 0, 0, "cannot read: %s",
                           strerror(errno));
    int sha512 = want && !strncmp(want, "sha512:", 7);
    crypto_hash_sha256_state h256;
    crypto_hash_sha512_state h512;
    crypto_hash_sha256_init(&h256);
    crypto_hash_sha512_init(&h512);
    unsigned char *buf = at_malloc(65536);
    uint64_t n = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = at_diag_set(d, AT_EIO, path, 0, 0, "read failed: %s", strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (uint64_t)r;
        if (sha512)
            crypto_hash_sha512_update(&h512, buf, (size_t)r);
        else
            crypto_hash_sha256_update(&h256, buf, (size_t)r);
    }
    close(fd);
    free(buf);
    if (rc)
        return rc;
    unsigned char sum[crypto_hash_sha512_BYTES];
    if (sha512) {
        crypto_hash_sha512_final(&h512, sum);
        memcpy(digest, "sha512:", 8);
        sodium_bin2hex(digest + 7, AT_OCI_DIGEST_MAX - 7, sum, crypto_hash_sha512_BYTES);
    } else {
        crypto_hash_sha256_final(&h256, sum);
        memcpy(digest, "sha256:", 8);
        sodium_bin2hex(digest + 7, AT_OCI_DIGEST_MAX - 7, sum, crypto_hash_sha256_BYTES);
    }
    if (size)
        *size = n;
    return 0;
}

static int read_index(const char *root, struct at_oci_index *ix, struct at_diag *d)
{
    char *p = at_fs_join(root, "index.json");
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(p, AT_OCI_MANIFEST_MAX, &text, &len);
    if (rc)
        at_diag_set(d, rc, p, 0, 0, "cannot read the image layout's index");
    else if ((rc = at_oci_index_parse(text, len, ix, d)) && d)
        snprintf(d->file, sizeof(d->file), "%s", p);
    free(text);
    free(p);
    return rc;
}

int at_layout_tag(const char *root, const char *tag, const char *digest, int64_t size,
                  const char *artifact_type, struct at_diag *d)
{
    struct at_oci_index ix;
    int rc = read_index(root, &ix, d);
    if (rc)
        return rc;
    json_t *ms = json_object_get(ix.json, "manifests");
    for (size_t i = json_array_size(ms); i-- > 0;) {
        json_t *ann = json_object_get(json_array_get(ms, i), "annotations");
        json_t *name = json_object_get(ann, REF_NAME);
        if (json_is_string(name) && !strcmp(json_string_value(name), tag))
            json_array_remove(ms, i);
    }
    json_t *e = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", AT_OCI_MANIFEST_TYPE, "digest",
                          digest, "size", (json_int_t)size, "annotations", REF_NAME, tag);
    if (artifact_type && *artifact_type)
        json_object_set_new(e, "artifactType", json_string(artifact_type));
    json_array_append_new(ms, e);
    char *text = json_dumps(ix.json, JSON_SORT_KEYS | JSON_COMPACT);
    char *p = at_fs_join(root, "index.json");
    rc = at_fs_write_atomic(p, text, strlen(text), 0644);
    if (rc)
        at_diag_set(d, rc, p, 0, 0, "cannot write the image layout's index");
    free(p);
    free(text);
    at_oci_index_release(&ix);
    return rc;
}

/* ---- garbage collection ---- */

/* the referrer manifests Atlas stores are small: bigger blobs are not read */
#define GC_REFERRER_MAX (64u << 10)

/* Mark the manifest digest and, when it parses, its config and layers. */
static void gc_mark_manifest(const char *root, const char *digest, struct at_map *live)
{
    if (at_map_get(live, digest))
        return;
    at_map_put(live, digest, (void *)1);
    char *p = at_layout_blob_path(root, digest);
    char *text = NULL;
    size_t len = 0;
    int rc = p ? at_fs_read_file(p, AT_OCI_MANIFEST_MAX, &text, &len) : AT_EINVAL;
    free(p);
    if (rc)
        return;
    struct at_oci_manifest *m = at_calloc(1, sizeof(*m));
    if (at_oci_manifest_parse(text, len, m, NULL) == 0) {
        at_map_put(live, m->config.digest, (void *)1);
        for (int i = 0; i < m->nlayers; i++)
            at_map_put(live, m->layers[i].digest, (void *)1);
    }
    if (m->json)
        at_oci_manifest_release(m);
    free(m);
    free(text);
}

/* Each blob of the layout: fn(root, digest, path, size, arg). */
static void gc_each_blob(const char *root,
                         void (*fn)(const char *, const char *, const char *, off_t, void *),
                         void *arg)
{
    static const char *const algs[] = {"sha256", "sha512"};
    for (size_t a = 0; a < 2; a++) {
        char *dir = at_asprintf("%s/blobs/%s", root, algs[a]);
        DIR *dp = opendir(dir);
        struct dirent *e;
        while (dp && (e = readdir(dp)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char digest[AT_OCI_DIGEST_MAX];
            snprintf(digest, sizeof(digest), "%s:%s", algs[a], e->d_name);
            char *path = at_fs_join(dir, e->d_name);
            struct stat st;
            if (at_oci_digest_valid(digest) && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
                fn(root, digest, path, st.st_size, arg);
            free(path);
        }
        if (dp)
            closedir(dp);
        free(dir);
    }
}

struct gc_pass {
    struct at_map *live;
    int changed;
    int removed;
    unsigned long long bytes;
};

/* a referrer (a signature) of a live manifest is live */
static void gc_referrer(const char *root, const char *digest, const char *path, off_t size,
                        void *arg)
{
    struct gc_pass *g = arg;
    if (size > (off_t)GC_REFERRER_MAX || at_map_get(g->live, digest))
        return;
    char *text = NULL;
    size_t len = 0;
    if (at_fs_read_file(path, GC_REFERRER_MAX, &text, &len))
        return;
    struct at_oci_manifest *m = at_calloc(1, sizeof(*m));
    if (at_oci_manifest_parse(text, len, m, NULL) == 0 && m->has_subject &&
        at_map_get(g->live, m->subject.digest)) {
        gc_mark_manifest(root, digest, g->live);
        g->changed = 1;
    }
    if (m->json)
        at_oci_manifest_release(m);
    free(m);
    free(text);
}

static void gc_sweep(const char *root, const char *digest, const char *path, off_t size, void *arg)
{
    (void)root;
    struct gc_pass *g = arg;
    if (at_map_get(g->live, digest) || unlink(path) != 0)
        return;
    g->removed++;
    g->bytes += (unsigned long long)size;
}

int at_layout_gc(const char *root, const char *const *keep, size_t nkeep, int *removed,
                 unsigned long long *bytes, struct at_diag *d)
{
    *removed = 0;
    *bytes = 0;
    struct at_map live;
    at_map_init(&live);
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] && at_oci_digest_valid(keep[i]))
            gc_mark_manifest(root, keep[i], &live);
    /* the tags of index.json are roots too */
    struct at_oci_index ix;
    int rc = read_index(root, &ix, d);
    if (rc) {
        at_map_release(&live);
        return rc; /* an unreadable index: nothing is removed */
    }
    for (size_t i = 0; i < ix.n; i++)
        gc_mark_manifest(root, ix.manifests[i].digest, &live);
    at_oci_index_release(&ix);
    struct gc_pass g = {.live = &live, .changed = 1};
    for (int round = 0; round < 4 && g.changed; round++) { /* signatures of signatures */
        g.changed = 0;
        gc_each_blob(root, gc_referrer, &g);
    }
    gc_each_blob(root, gc_sweep, &g);
    at_map_release(&live);
    *removed = g.removed;
    *bytes = g.bytes;
    return 0;
}

int at_layout_resolve_tag(const char *root, const char *tag, char digest[AT_OCI_DIGEST_MAX],
                          struct at_diag *d)
{
    struct at_oci_index ix;
    int rc = read_index(root, &ix, d);
    if (rc)
        return rc;
    rc = AT_ENOENT;
    for (size_t i = 0; i < ix.n; i++) {
        json_t *name = ix.manifests[i].annotations
                           ? json_object_get(ix.manifests[i].annotations, REF_NAME)
                           : NULL;
        if (json_is_string(name) && !strcmp(json_string_value(name), tag)) {
            snprintf(digest, AT_OCI_DIGEST_MAX, "%s", ix.manifests[i].digest);
            rc = 0;
        }
    }
    at_oci_index_release(&ix);
    if (rc)
        at_diag_set(d, rc, root, 0, 0, "no tag %s in the image layout", tag);
    return rc;
}

int at_dist_pack(const char *root, const struct at_reg_agent *a, struct at_packed *out,
                 struct at_diag *d)
{
    memset(out, 0, sizeof(*out));
    if (!a->dir || !a->digest || !a->digest[0])
        return at_diag_set(d, AT_EUNSUPPORTED, "", 0, 0,
                           "%s is a remote agent: there is no directory to push", a->key);
    int rc = at_layout_init(root, d);
    if (rc)
        return rc;
    /* packed before: ROOT/packed/<content hex> names the manifest (packing
     * compresses the whole agent, the slow part of a push) */
    char memo_id[AT_OCI_DIGEST_MAX];
    char *memo_key = at_asprintf("%s %s", a->digest, a->key);
    at_oci_digest_bytes(memo_key, strlen(memo_key), memo_id); /* the same content, the same name */
    free(memo_key);
    char *memo = at_asprintf("%s/packed/%s", root, memo_id + 7);
    char *mtext = NULL;
    size_t mtlen = 0;
    if (at_fs_read_file(memo, AT_OCI_DIGEST_MAX, &mtext, &mtlen) == 0) {
        char md[AT_OCI_DIGEST_MAX];
        snprintf(md, sizeof(md), "%.*s", (int)mtlen, mtext);
        free(mtext);
        mtext = NULL;
        char *mp = at_layout_blob_path(root, md);
        struct at_oci_manifest m;
        if (mp && at_fs_read_file(mp, AT_OCI_MANIFEST_MAX, &mtext, &mtlen) == 0 &&
            at_oci_manifest_parse(mtext, mtlen, &m, NULL) == 0) {
            if (at_oci_manifest_is_agent(&m, NULL) == 0 &&
                at_layout_has_blob(root, m.config.digest) &&
                at_layout_has_blob(root, m.layers[0].digest)) {
                snprintf(out->manifest, sizeof(out->manifest), "%s", md);
                out->manifest_size = (int64_t)mtlen;
                snprintf(out->config, sizeof(out->config), "%s", m.config.digest);
                out->config_size = m.config.size;
                snprintf(out->layer, sizeof(out->layer), "%s", m.layers[0].digest);
                out->layer_size = m.layers[0].size;
            }
            at_oci_manifest_release(&m);
        }
        free(mp);
        free(mtext);
        if (out->manifest[0]) {
            free(memo);
            return 0;
        }
    }
    /* the layer: written beside the blobs, renamed to its digest */
    char *tmp = at_asprintf("%s/blobs/sha256/.layer-%d", root, (int)getpid());
    char digest[AT_DIGEST_MAX];
    uint64_t size = 0;
    rc = at_layer_write(a->dir, tmp, digest, &size, d);
    if (!rc) {
        char *p = at_layout_blob_path(root, digest);
        if (rename(tmp, p) < 0)
            rc = at_diag_set(d, at_err_from_errno(errno), p, 0, 0, "cannot store the layer: %s",
                             strerror(errno));
        free(p);
    }
    if (rc) {
        unlink(tmp);
        free(tmp);
        free(memo);
        return rc;
    }
    free(tmp);
    snprintf(out->layer, sizeof(out->layer), "%s", digest);
    out->layer_size = (int64_t)size;
    size_t clen;
    char *cfg = at_oci_config_blob(a->contract, &clen);
    rc = at_layout_put_bytes(root, cfg, clen, out->config, d);
    free(cfg);
    if (rc) {
        free(memo);
        return rc;
    }
    out->config_size = (int64_t)clen;
    size_t mlen;
    char *man = at_oci_agent_manifest(a->contract, out->config, out->config_size, out->layer,
                                      out->layer_size, a->digest, &mlen);
    rc = at_layout_put_bytes(root, man, mlen, out->manifest, d);
    free(man);
    out->manifest_size = (int64_t)mlen;
    if (!rc) {
        char *pd = at_fs_join(root, "packed");
        if (at_fs_mkdir_p(pd, 0755) == 0)
            at_fs_write_atomic(memo, out->manifest, strlen(out->manifest), 0644);
        free(pd);
    }
    free(memo);
    return rc;
}

/* The blob digest names, read and checked against its digest and size. */
static int verify_blob(const char *root, const struct at_oci_desc *desc, const char *what,
                       struct at_diag *d)
{
    char *p = at_layout_blob_path(root, desc->digest);
    char got[AT_OCI_DIGEST_MAX];
    uint64_t size = 0;
    int rc = at_layout_file_digest(p, desc->digest, got, &size, d);
    if (!rc && strcmp(got, desc->digest) != 0)
        rc = at_diag_set(d, AT_EINVAL, p, 0, 0, "the %s blob does not match its digest %s (got %s)",
                         what, desc->digest, got);
    else if (!rc && (int64_t)size != desc->size)
        rc = at_diag_set(d, AT_EINVAL, p, 0, 0,
                         "the %s blob has %llu bytes where its descriptor says %lld", what,
                         (unsigned long long)size, (long long)desc->size);
    free(p);
    return rc;
}

int at_dist_extract(const char *root, const char *manifest, const char *work, char **dirp,
                    char content[AT_DIGEST_MAX], struct at_diag *d)
{
    *dirp = NULL;
    char *mp = at_layout_blob_path(root, manifest);
    if (!mp)
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "not a digest: %s", manifest);
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(mp, AT_OCI_MANIFEST_MAX, &text, &len);
    if (rc) {
        at_diag_set(d, rc, mp, 0, 0, "cannot read the manifest");
        free(mp);
        return rc;
    }
    char got[AT_OCI_DIGEST_MAX];
    at_oci_digest_bytes(text, len, got);
    struct at_oci_manifest m;
    memset(&m, 0, sizeof(m));
    char *dir = NULL;
    if (!strncmp(manifest, "sha256:", 7) && strcmp(got, manifest) != 0) {
        rc = at_diag_set(d, AT_EINVAL, mp, 0, 0, "the manifest does not match its digest %s",
                         manifest);
        goto out;
    }
    if ((rc = at_oci_manifest_parse(text, len, &m, d)) || (rc = at_oci_manifest_is_agent(&m, d)))
        goto out;
    if ((rc = verify_blob(root, &m.config, "config", d)) ||
        (rc = verify_blob(root, &m.layers[0], "layer", d)))
        goto out;
    const char *want =
        json_string_value(json_object_get(m.layers[0].annotations, AT_OCI_ANN_CONTENT));
    char *dir_prefix = at_fs_join(work, ".unpack-");
    if ((rc = at_fs_mkdir_p(work, 0755)) == 0)
        dir = at_fs_mkdtemp(dir_prefix);
    free(dir_prefix);
    if (!dir) {
        rc = at_diag_set(d, rc ? rc : at_err_from_errno(errno), work, 0, 0,
                         "cannot create a directory to unpack into");
        goto out;
    }
    struct at_layer_limits lim;
    at_layer_limits_default(&lim);
    char *lp = at_layout_blob_path(root, m.layers[0].digest);
    rc = at_layer_extract_file(lp, dir, &lim, d);
    free(lp);
    if (!rc)
        rc = at_snapshot_digest(dir, content, d);
    if (!rc && strcmp(content, want) != 0)
        rc = at_diag_set(d, AT_EINVAL, "", 0, 0,
                         "the unpacked agent's content digest %s differs from the manifest's %s",
                         content, want);
out:
    if (rc && dir) {
        at_fs_remove_tree(dir);
        free(dir);
        dir = NULL;
    }
    *dirp = dir;
    at_oci_manifest_release(&m);
    free(text);
    free(mp);
    return rc;
}

int at_dist_unpack(const char *root, const char *manifest, struct at_registry *r, const char *work,
                   int force, struct at_reg_result *res, struct at_diag *d)
{
    char *dir = NULL;
    char content[AT_DIGEST_MAX];
    int rc = at_dist_extract(root, manifest, work, &dir, content, d);
    if (rc)
        return rc;
    rc = at_registry_register_dir(r, dir, NULL, force, res, d);
    at_fs_remove_tree(dir);
    free(dir);
    return rc;
}
