#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "contract/semver.h"
#include "dist/artifact.h"
#include "dist/client.h"
#include "dist/sign.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push_blob(struct at_oci_client *c, const char *root, const char *repo,
                     const struct at_oci_desc *desc, const char *what, int progress, int *uploaded,
                     struct at_diag *d)
{
    int exists = 0;
    int rc = at_oci_blob_exists(c, repo, desc->digest, &exists, d);
    if (rc)
        return rc;
    if (exists) {
        if (progress)
            fprintf(stderr, "  %-6s %.19s  %lld bytes  already there\n", what, desc->digest,
                    (long long)desc->size);
        return 0;
    }
    char *p = at_layout_blob_path(root, desc->digest);
    if (progress)
        fprintf(stderr, "  %-6s %.19s  %lld bytes  uploading\n", what, desc->digest,
                (long long)desc->size);
    rc = at_oci_blob_put(c, repo, desc->digest, p, d);
    free(p);
    if (!rc)
        (*uploaded)++;
    return rc;
}

static int read_manifest(const char *root, const char *digest, char **text, size_t *len,
                         struct at_oci_manifest *m, struct at_diag *d)
{
    char *p = at_layout_blob_path(root, digest);
    if (!p) {
        at_diag_set(d, AT_EINVAL, "", 0, 0, "not a digest: %s", digest);
        return AT_EINVAL;
    }
    int rc = at_fs_read_file(p, AT_OCI_MANIFEST_MAX, text, len);
    if (rc)
        at_diag_set(d, rc, p, 0, 0, "cannot read the manifest");
    free(p);
    if (rc)
        return rc;
    if ((rc = at_oci_manifest_parse(*text, *len, m, d))) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

int at_dist_push(struct at_oci_client *c, const char *root, const char *manifest_digest,
                 const char *repo, const char *tag, const struct at_dist_sig *sig, int *uploaded,
                 struct at_diag *d)
{
    *uploaded = 0;
    char *text = NULL;
    size_t len = 0;
    struct at_oci_manifest m;
    memset(&m, 0, sizeof(m));
    int rc = read_manifest(root, manifest_digest, &text, &len, &m, d);
    if (rc)
        return rc;
    int progress = at_oci_client_progress(c);
    rc = push_blob(c, root, repo, &m.config, "config", progress, uploaded, d);
    for (int i = 0; !rc && i < m.nlayers; i++)
        rc = push_blob(c, root, repo, &m.layers[i], "layer", progress, uploaded, d);
    /* the signature before the manifest: a registry that enforces a
     * signing policy (an atlasd) finds it when the manifest arrives */
    if (!rc && sig)
        rc = at_dist_push_signature(c, root, repo, manifest_digest, (int64_t)len, sig->envelope,
                                    sig->len, sig->publisher, d);
    if (!rc)
        rc = at_oci_manifest_put(c, repo, tag, text, len, AT_OCI_MANIFEST_TYPE, d);
    at_oci_manifest_release(&m);
    free(text);
    return rc;
}

int at_dist_resolve_tag(struct at_oci_client *c, const char *repo, const char *want, char tag[129],
                        struct at_diag *d)
{
    json_t *tags = NULL;
    int rc = at_oci_tags(c, repo, &tags, d);
    if (rc)
        return rc;
    int want_latest = !want || !*want || !strcmp(want, "latest");
    size_t i;
    json_t *t;
    const char *best = NULL, *best_pre = NULL;
    struct at_semver bv, bpv;
    json_array_foreach(tags, i, t)
    {
        const char *s = json_string_value(t);
        if (!s)
            continue;
        if (want && *want && !strcmp(s, want)) {
            snprintf(tag, 129, "%s", s);
            json_decref(tags);
            return 0;
        }
        struct at_semver v;
        if (!want_latest || at_semver_parse(s, &v))
            continue;
        if (!v.pre[0]) {
            if (!best || at_semver_cmp(&v, &bv) > 0) {
                best = s;
                bv = v;
            }
        } else if (!best_pre || at_semver_cmp(&v, &bpv) > 0) {
            best_pre = s;
            bpv = v;
        }
    }
    const char *pick = best ? best : best_pre;
    if (pick && want_latest) {
        snprintf(tag, 129, "%s", pick);
        rc = 0;
    } else {
        rc = at_diag_set(d, AT_ENOENT, "", 0, 0, "%s has no tag %s%s", repo,
                         want && *want ? want : "latest", want_latest ? " and no SemVer tag" : "");
    }
    json_decref(tags);
    return rc;
}

static int pull_blob(struct at_oci_client *c, const char *root, const char *repo,
                     const struct at_oci_desc *desc, const char *what, int progress,
                     int *downloaded, struct at_diag *d)
{
    if (at_layout_has_blob(root, desc->digest))
        return 0;
    if (progress)
        fprintf(stderr, "  %-6s %.19s  %lld bytes  downloading\n", what, desc->digest,
                (long long)desc->size);
    char *p = at_layout_blob_path(root, desc->digest);
    int rc = at_oci_blob_get(c, repo, desc->digest, desc->size, p, d);
    free(p);
    if (!rc)
        (*downloaded)++;
    return rc;
}

int at_dist_pull(struct at_oci_client *c, const char *root, const char *repo, const char *ref,
                 char manifest_digest[AT_OCI_DIGEST_MAX], int *downloaded, struct at_diag *d)
{
    *downloaded = 0;
    int rc = at_layout_init(root, d);
    if (rc)
        return rc;
    char *text = NULL;
    size_t len = 0;
    char mt[AT_OCI_TYPE_MAX];
    if ((rc = at_oci_manifest_get(c, repo, ref, &text, &len, mt, manifest_digest, d)))
        return rc;
    struct at_oci_manifest m;
    if (!strcmp(mt, AT_OCI_INDEX_TYPE)) {
        free(text);
        return at_diag_set(d, AT_EUNSUPPORTED, "", 0, 0,
                           "%s:%s is an image index, not an Atlas agent manifest", repo, ref);
    }
    if ((rc = at_oci_manifest_parse(text, len, &m, d)) || (rc = at_oci_manifest_is_agent(&m, d))) {
        if (!m.json)
            memset(&m, 0, sizeof(m));
        at_oci_manifest_release(&m);
        free(text);
        return rc;
    }
    int progress = at_oci_client_progress(c);
    rc = pull_blob(c, root, repo, &m.config, "config", progress, downloaded, d);
    if (!rc)
        rc = pull_blob(c, root, repo, &m.layers[0], "layer", progress, downloaded, d);
    char stored[AT_OCI_DIGEST_MAX];
    if (!rc)
        rc = at_layout_put_bytes(root, text, len, stored, d);
    at_oci_manifest_release(&m);
    free(text);
    return rc;
}

static int put_blob_bytes(struct at_oci_client *c, const char *root, const char *repo,
                          const char *data, size_t len, char digest[AT_OCI_DIGEST_MAX],
                          struct at_diag *d)
{
    int rc = at_layout_put_bytes(root, data, len, digest, d);
    if (rc)
        return rc;
    int exists = 0;
    if ((rc = at_oci_blob_exists(c, repo, digest, &exists, d)) || exists)
        return rc;
    char *p = at_layout_blob_path(root, digest);
    rc = at_oci_blob_put(c, repo, digest, p, d);
    free(p);
    return rc;
}

int at_dist_push_signature(struct at_oci_client *c, const char *root, const char *repo,
                           const char *subject, int64_t subject_size, const char *envelope,
                           size_t len, const char *publisher, struct at_diag *d)
{
    int rc = at_layout_init(root, d);
    char env_digest[AT_OCI_DIGEST_MAX], empty[AT_OCI_DIGEST_MAX], ref_digest[AT_OCI_DIGEST_MAX];
    if (!rc)
        rc = put_blob_bytes(c, root, repo, envelope, len, env_digest, d);
    if (!rc)
        rc = put_blob_bytes(c, root, repo, AT_OCI_EMPTY_JSON, 2, empty, d);
    if (rc)
        return rc;
    size_t mlen;
    char *man =
        at_sig_referrer_manifest(env_digest, (int64_t)len, subject, subject_size, publisher, &mlen);
    at_oci_digest_bytes(man, mlen, ref_digest);
    rc = at_oci_manifest_put(c, repo, ref_digest, man, mlen, AT_OCI_MANIFEST_TYPE, d);
    free(man);
    if (rc)
        return rc;
    /* the fallback tag: read, add this referrer, write back */
    char tag[80];
    snprintf(tag, sizeof(tag), "sha256-%.64s", subject + 7);
    char *text = NULL, mt[AT_OCI_TYPE_MAX], got[AT_OCI_DIGEST_MAX];
    size_t tlen = 0;
    json_t *ix = NULL;
    struct at_diag d2;
    at_diag_clear(&d2);
    if (at_oci_manifest_get(c, repo, tag, &text, &tlen, mt, got, &d2) == 0) {
        struct at_oci_index parsed;
        if (at_oci_index_parse(text, tlen, &parsed, NULL) == 0) {
            ix = json_incref(parsed.json);
            at_oci_index_release(&parsed);
        }
        free(text);
    }
    if (!ix)
        ix = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", AT_OCI_INDEX_TYPE,
                       "manifests");
    json_t *ms = json_object_get(ix, "manifests");
    size_t i;
    json_t *e;
    int have = 0;
    json_array_foreach(ms, i, e) have |= !strcmp(at_json_str(e, "digest", ""), ref_digest);
    if (!have)
        json_array_append_new(
            ms, json_pack("{s:s, s:s, s:s, s:I, s:{s:s}}", "mediaType", AT_OCI_MANIFEST_TYPE,
                          "artifactType", AT_SIG_ENVELOPE_TYPE, "digest", ref_digest, "size",
                          (json_int_t)mlen, "annotations", AT_SIG_ANN_PUBLISHER, publisher));
    char *ixt = json_dumps(ix, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(ix);
    rc = at_oci_manifest_put(c, repo, tag, ixt, strlen(ixt), AT_OCI_INDEX_TYPE, d);
    free(ixt);
    return rc;
}

int at_dist_fetch_signatures(struct at_oci_client *c, const char *root, const char *repo,
                             const char *subject, json_t **envelopes, struct at_diag *d)
{
    *envelopes = json_array();
    int rc = at_layout_init(root, d);
    if (rc)
        return rc;
    char *text = NULL, mt[AT_OCI_TYPE_MAX], got[AT_OCI_DIGEST_MAX];
    size_t len = 0;
    struct at_diag quiet;
    at_diag_clear(&quiet);
    struct at_oci_index ix;
    memset(&ix, 0, sizeof(ix));
    /* the referrers API (OCI 1.1), then the fallback tag */
    int found = at_oci_referrers_get(c, repo, subject, &text, &len, &quiet) == 0 &&
                at_oci_index_parse(text, len, &ix, NULL) == 0 && ix.n > 0;
    free(text);
    text = NULL;
    if (!found) {
        at_oci_index_release(&ix);
        char tag[80];
        snprintf(tag, sizeof(tag), "sha256-%.64s", subject + 7);
        if (at_oci_manifest_get(c, repo, tag, &text, &len, mt, got, &quiet) == 0)
            at_oci_index_parse(text, len, &ix, NULL);
        free(text);
        text = NULL;
    }
    for (size_t i = 0; i < ix.n && !rc; i++) {
        if (strcmp(ix.manifests[i].artifact_type, AT_SIG_ENVELOPE_TYPE) != 0)
            continue;
        char *m = NULL;
        size_t mlen = 0;
        struct at_oci_manifest man;
        if ((rc = at_oci_manifest_get(c, repo, ix.manifests[i].digest, &m, &mlen, mt, got, d)))
            break;
        if (at_oci_manifest_parse(m, mlen, &man, NULL) == 0) {
            if (man.nlayers == 1 && !strcmp(man.layers[0].media_type, AT_SIG_ENVELOPE_TYPE) &&
                man.has_subject && !strcmp(man.subject.digest, subject) &&
                man.layers[0].size <= (int64_t)AT_SIG_ENVELOPE_MAX) {
                char *p = at_layout_blob_path(root, man.layers[0].digest);
                if (!at_layout_has_blob(root, man.layers[0].digest))
                    rc = at_oci_blob_get(c, repo, man.layers[0].digest, man.layers[0].size, p, d);
                char *env = NULL;
                size_t elen = 0;
                if (!rc && at_fs_read_file(p, AT_SIG_ENVELOPE_MAX, &env, &elen) == 0)
                    json_array_append_new(*envelopes, json_stringn(env, elen));
                free(env);
                free(p);
            }
            at_oci_manifest_release(&man);
        }
        free(m);
    }
    at_oci_index_release(&ix);
    return rc;
}
