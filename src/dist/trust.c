#include "dist/trust.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "dist/oci.h"
#include "dist/sign.h"
#include "json/json.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t trust_mu = PTHREAD_MUTEX_INITIALIZER;

int at_dist_review_rank(const char *s);

static json_t *read_json(const char *path, size_t max)
{
    char *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    if (at_fs_read_file(path, max, &text, &len) == 0)
        at_json_parse(text, len, 16, &j, NULL);
    free(text);
    return j;
}

json_t *at_dist_trust_keys(const char *data_dir)
{
    char *p = at_fs_join(data_dir, "trust.json");
    pthread_mutex_lock(&trust_mu);
    json_t *j = read_json(p, 1 << 20);
    pthread_mutex_unlock(&trust_mu);
    free(p);
    json_t *pubs = json_object_get(j, "publishers");
    json_t *out = json_is_object(pubs) ? json_deep_copy(pubs) : json_object();
    json_decref(j);
    return out;
}

int at_dist_trust_add(const char *data_dir, const char *publisher, const char *key, int *added,
                      struct at_diag *d)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    *added = 0;
    if (!publisher || !*publisher || strlen(publisher) >= 128)
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "a publisher name of 1 to 127 bytes");
    if (at_sig_public_parse(key, pk))
        return at_diag_set(d, AT_EINVAL, "", 0, 0,
                           "the key must be ed25519:BASE64 (atlas key "
                           "export)");
    char *p = at_fs_join(data_dir, "trust.json");
    pthread_mutex_lock(&trust_mu);
    json_t *j = read_json(p, 1 << 20);
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    json_t *pubs = json_object_get(j, "publishers");
    if (!json_is_object(pubs)) {
        pubs = json_object();
        json_object_set_new(j, "publishers", pubs);
    }
    json_t *list = json_object_get(pubs, publisher);
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(pubs, publisher, list);
    }
    size_t i;
    json_t *k;
    int have = 0;
    json_array_foreach(list, i, k) have |= json_is_string(k) && !strcmp(json_string_value(k), key);
    int rc = 0;
    if (!have) {
        json_array_append_new(list, json_string(key));
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        rc = at_fs_write_atomic(p, text, strlen(text), 0644);
        free(text);
        if (rc)
            at_diag_set(d, rc, p, 0, 0, "cannot write the trusted keys");
        else
            *added = 1;
    }
    pthread_mutex_unlock(&trust_mu);
    json_decref(j);
    free(p);
    return rc;
}

static json_t *unsigned_trust(void)
{
    return json_pack("{s:n, s:b, s:b, s:n, s:n, s:n, s:n}", "publisher", "signed", 0, "verified", 0,
                     "signature", "keyid", "manifest", "source");
}

int at_dist_artifact_trust(const json_t *artifact, const char *content_digest,
                           const json_t *trusted, json_t **out, struct at_diag *d)
{
    *out = unsigned_trust();
    if (!artifact)
        return 0;
    const char *text = json_string_value(json_object_get(artifact, "manifest"));
    if (!text)
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "artifact.manifest must be the manifest's text");
    size_t len = json_string_length(json_object_get(artifact, "manifest"));
    struct at_oci_manifest m;
    int rc = at_oci_manifest_parse(text, len, &m, d);
    if (rc)
        return AT_EINVAL;
    if (at_oci_manifest_is_agent(&m, d)) {
        at_oci_manifest_release(&m);
        return AT_EINVAL;
    }
    const char *cd =
        json_string_value(json_object_get(m.layers[0].annotations, AT_OCI_ANN_CONTENT));
    if (strcmp(cd, content_digest) != 0) {
        rc = at_diag_set(d, AT_EINVAL, "", 0, 0,
                         "the directory's content digest %s is not the artifact's %s",
                         content_digest, cd);
        at_oci_manifest_release(&m);
        return rc;
    }
    at_oci_manifest_release(&m);
    char md[AT_OCI_DIGEST_MAX];
    at_oci_digest_bytes(text, len, md);
    json_object_set_new(*out, "manifest", json_string(md));
    const char *src = json_string_value(json_object_get(artifact, "source"));
    if (src)
        json_object_set_new(*out, "source", json_string(src));
    /* what the serving atlasd said of it (its word: not signed) */
    const json_t *sv = json_object_get(artifact, "served");
    if (json_is_object(sv)) {
        const char *rs = json_string_value(json_object_get(sv, "review_status"));
        json_int_t dl = json_integer_value(json_object_get(sv, "downloads"));
        json_int_t nr = json_integer_value(json_object_get(sv, "ratings"));
        double rt = json_number_value(json_object_get(sv, "rating"));
        json_t *keep = json_object();
        if (at_dist_review_rank(rs) >= 0)
            json_object_set_new(keep, "review_status", json_string(rs));
        if (dl > 0)
            json_object_set_new(keep, "downloads", json_integer(dl));
        if (nr > 0 && rt >= 1 && rt <= 5) {
            json_object_set_new(keep, "ratings", json_integer(nr));
            json_object_set_new(keep, "rating", json_real(rt));
        }
        json_object_set_new(*out, "served", keep);
    }
    json_t *sigs = json_object_get(artifact, "signatures");
    size_t i;
    json_t *e;
    json_array_foreach(sigs, i, e)
    {
        if (!json_is_string(e))
            continue;
        struct at_sig_check chk;
        struct at_diag sd;
        at_diag_clear(&sd);
        int src_rc =
            at_sig_check(json_string_value(e), json_string_length(e), md, trusted, &chk, &sd);
        if (src_rc == AT_EPERM) {
            if (d)
                *d = sd;
            return AT_EPERM;
        }
        if (src_rc)
            continue; /* another tool's referrer, not an Atlas signature */
        char ed[AT_OCI_DIGEST_MAX];
        at_oci_digest_bytes(json_string_value(e), json_string_length(e), ed);
        int first = !json_is_true(json_object_get(*out, "signed"));
        json_object_set_new(*out, "signed", json_true());
        if (first || (chk.verified && !json_is_true(json_object_get(*out, "verified")))) {
            json_object_set_new(*out, "publisher", json_string(chk.publisher));
            json_object_set_new(*out, "keyid", json_string(chk.keyid));
            json_object_set_new(*out, "signature", json_string(ed));
        }
        if (chk.verified)
            json_object_set_new(*out, "verified", json_true());
    }
    return 0;
}

/* ---- skills (docs/skills.md "Marketplace") ---- */

int at_dist_skill_trust(const json_t *artifact, const json_t *trusted, json_t **out,
                        struct at_diag *d)
{
    *out = unsigned_trust();
    const char *text = json_string_value(json_object_get(artifact, "manifest"));
    const char *def = json_string_value(json_object_get(artifact, "definition"));
    if (!text || !def)
        return at_diag_set(d, AT_EINVAL, "", 0, 0,
                           "artifact.manifest and artifact.definition must be the pulled "
                           "manifest's and definition layer's text");
    size_t len = json_string_length(json_object_get(artifact, "manifest"));
    struct at_oci_manifest m;
    if (at_oci_manifest_parse(text, len, &m, d))
        return AT_EINVAL;
    char ld[AT_OCI_DIGEST_MAX];
    at_oci_digest_bytes(def, json_string_length(json_object_get(artifact, "definition")), ld);
    int rc = 0;
    if (strcmp(m.artifact_type, AT_DIST_SKILL_ARTIFACT) != 0 || m.nlayers != 1)
        rc = at_diag_set(d, AT_EINVAL, "", 0, 0, "the manifest is not an Atlas skill's (%s)",
                         AT_DIST_SKILL_ARTIFACT);
    else if (strcmp(m.layers[0].digest, ld) != 0)
        rc = at_diag_set(d, AT_EINVAL, "", 0, 0,
                         "the definition (%s) is not the one the manifest names (%s)", ld,
                         m.layers[0].digest);
    at_oci_manifest_release(&m);
    if (rc)
        return rc;
    char md[AT_OCI_DIGEST_MAX];
    at_oci_digest_bytes(text, len, md);
    json_object_set_new(*out, "manifest", json_string(md));
    const char *src = json_string_value(json_object_get(artifact, "source"));
    if (src)
        json_object_set_new(*out, "source", json_string(src));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(artifact, "signatures"), i, e)
    {
        if (!json_is_string(e))
            continue;
        struct at_sig_check chk;
        struct at_diag sd;
        at_diag_clear(&sd);
        int src_rc =
            at_sig_check(json_string_value(e), json_string_length(e), md, trusted, &chk, &sd);
        if (src_rc == AT_EPERM) {
            if (d)
                *d = sd;
            return AT_EPERM;
        }
        if (src_rc)
            continue; /* another tool's referrer */
        char ed[AT_OCI_DIGEST_MAX];
        at_oci_digest_bytes(json_string_value(e), json_string_length(e), ed);
        int first = !json_is_true(json_object_get(*out, "signed"));
        json_object_set_new(*out, "signed", json_true());
        if (first || (chk.verified && !json_is_true(json_object_get(*out, "verified")))) {
            json_object_set_new(*out, "publisher", json_string(chk.publisher));
            json_object_set_new(*out, "keyid", json_string(chk.keyid));
            json_object_set_new(*out, "signature", json_string(ed));
        }
        if (chk.verified)
            json_object_set_new(*out, "verified", json_true());
    }
    return 0;
}

json_t *at_dist_unsigned_trust(void)
{
    return unsigned_trust();
}

int at_dist_policy_check(const json_t *policy, const json_t *trust, const char *agent,
                         struct at_diag *d)
{
    if (!json_is_object(policy))
        return 0;
    int verified = json_is_true(json_object_get(trust, "verified"));
    const char *pub = json_string_value(json_object_get(trust, "publisher"));
    json_t *au = json_object_get(policy, "allow_unsigned");
    if (json_is_false(au) && !verified)
        return at_diag_set(d, AT_EPERM, "", 0, 0,
                           "registry.policy.allow_unsigned is false: %s is not signed by a "
                           "trusted key%s",
                           agent,
                           json_is_true(json_object_get(trust, "signed"))
                               ? " (it is signed, by a key not in atlas trust)"
                               : "");
    const char *min = json_string_value(json_object_get(policy, "minimum_review_status"));
    const char *have = json_string_value(json_object_get(trust, "review_status"));
    if (at_dist_review_rank(min) > 0 && at_dist_review_rank(have) < at_dist_review_rank(min))
        return at_diag_set(d, AT_EPERM, "", 0, 0,
                           "registry.policy.minimum_review_status is %s: %s is %s (atlas review "
                           "on the atlasd it is pulled from)",
                           min, agent, have ? have : "unreviewed");
    json_t *ap = json_object_get(policy, "allowed_publishers");
    if (json_is_array(ap)) {
        size_t i;
        json_t *p;
        int ok = 0;
        json_array_foreach(ap, i, p) ok |=
            verified && pub && json_is_string(p) && !strcmp(json_string_value(p), pub);
        if (!ok)
            return at_diag_set(d, AT_EPERM, "", 0, 0,
                               "registry.policy.allowed_publishers: %s is %s", agent,
                               verified ? "signed by a publisher not in the list"
                                        : "not signed by a trusted key of a listed publisher");
    }
    return 0;
}

int at_dist_trust_record(const char *data_dir, const char *content_digest, const json_t *trust)
{
    if (!at_oci_digest_valid(content_digest))
        return AT_EINVAL;
    char *dir = at_fs_join(data_dir, "trust");
    char *p = at_asprintf("%s/%s.json", dir, content_digest + 7);
    int rc = at_fs_mkdir_p(dir, 0755);
    if (!rc) {
        char *text = json_dumps(trust, JSON_SORT_KEYS | JSON_COMPACT);
        rc = at_fs_write_atomic(p, text, strlen(text), 0644);
        free(text);
    }
    free(p);
    free(dir);
    return rc;
}

json_t *at_dist_trust_lookup(const char *data_dir, const char *content_digest)
{
    if (!content_digest || !at_oci_digest_valid(content_digest))
        return NULL;
    char *p = at_asprintf("%s/trust/%s.json", data_dir, content_digest + 7);
    json_t *j = read_json(p, 1 << 16);
    free(p);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ---- reviews, downloads, ratings (the serving atlasd's records) ---- */

static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;

int at_dist_review_rank(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "unreviewed"))
        return 0;
    if (!strcmp(s, "community"))
        return 1;
    if (!strcmp(s, "verified"))
        return 2;
    return -1;
}

static char *stats_path(const char *data_dir, const char *digest)
{
    return at_asprintf("%s/stats/%s.json", data_dir, digest + 7);
}

static json_t *stats_read_locked(const char *data_dir, const char *digest)
{
    char *p = stats_path(data_dir, digest);
    json_t *j = read_json(p, 1 << 22);
    free(p);
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

static int stats_write_locked(const char *data_dir, const char *digest, const json_t *j)
{
    char *dir = at_fs_join(data_dir, "stats");
    int rc = at_fs_mkdir_p(dir, 0755);
    free(dir);
    if (rc)
        return rc;
    char *p = stats_path(data_dir, digest);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    rc = at_fs_write_atomic(p, text, strlen(text), 0644);
    free(text);
    free(p);
    return rc;
}

int at_dist_review_set(const char *data_dir, const char *digest, const char *status,
                       const char *note, const char *by, struct at_diag *d)
{
    if (!digest || !at_oci_digest_valid(digest))
        return at_diag_set(d, AT_EUNSUPPORTED, "", 0, 0, "a remote agent has no content to review");
    if (at_dist_review_rank(status) < 0)
        return at_diag_set(d, AT_EINVAL, "", 0, 0,
                           "status must be unreviewed, community or verified");
    if (note && strlen(note) > 1000)
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "a note of 1000 bytes at most");
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&stats_mu);
    json_t *j = stats_read_locked(data_dir, digest);
    json_t *rev = json_pack("{s:s,s:s,s:s}", "status", status, "by", by ? by : "?", "at", at);
    if (note && *note)
        json_object_set_new(rev, "note", json_string(note));
    json_object_set_new(j, "review", rev);
    int rc = stats_write_locked(data_dir, digest, j);
    pthread_mutex_unlock(&stats_mu);
    json_decref(j);
    if (rc)
        return at_diag_set(d, rc, "", 0, 0, "cannot record the review");
    return 0;
}

int at_dist_rate(const char *data_dir, const char *digest, const char *who, int stars,
                 struct at_diag *d)
{
    if (!digest || !at_oci_digest_valid(digest))
        return at_diag_set(d, AT_EUNSUPPORTED, "", 0, 0, "a remote agent cannot be rated");
    if (stars < 1 || stars > 5)
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "a rating is 1 to 5");
    pthread_mutex_lock(&stats_mu);
    json_t *j = stats_read_locked(data_dir, digest);
    json_t *r = json_object_get(j, "ratings");
    if (!json_is_object(r)) {
        r = json_object();
        json_object_set_new(j, "ratings", r);
    }
    if (json_object_size(r) >= 100000 && !json_object_get(r, who)) {
        pthread_mutex_unlock(&stats_mu);
        json_decref(j);
        return at_diag_set(d, AT_E2BIG, "", 0, 0, "too many ratings for one version");
    }
    json_object_set_new(r, who && *who ? who : "anonymous", json_integer(stars));
    int rc = stats_write_locked(data_dir, digest, j);
    pthread_mutex_unlock(&stats_mu);
    json_decref(j);
    if (rc)
        return at_diag_set(d, rc, "", 0, 0, "cannot record the rating");
    return 0;
}

void at_dist_download(const char *data_dir, const char *digest)
{
    if (!digest || !at_oci_digest_valid(digest))
        return;
    pthread_mutex_lock(&stats_mu);
    json_t *j = stats_read_locked(data_dir, digest);
    json_int_t n = json_integer_value(json_object_get(j, "downloads"));
    json_object_set_new(j, "downloads", json_integer(n + 1));
    stats_write_locked(data_dir, digest, j);
    pthread_mutex_unlock(&stats_mu);
    json_decref(j);
}

/* local + carried: review (local wins), downloads (sum), ratings (pooled) */
static json_t *combine(const json_t *stats, const json_t *served)
{
    const char *review =
        json_string_value(json_object_get(json_object_get(stats, "review"), "status"));
    const char *carried = json_string_value(json_object_get(served, "review_status"));
    if (at_dist_review_rank(review) < 0)
        review = at_dist_review_rank(carried) >= 0 ? carried : "unreviewed";
    json_int_t downloads = json_integer_value(json_object_get(stats, "downloads"));
    json_int_t sd = json_integer_value(json_object_get(served, "downloads"));
    if (sd > 0)
        downloads += sd;
    double sum = 0;
    json_int_t count = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(stats, "ratings"), k, v)
    {
        json_int_t s = json_integer_value(v);
        if (s >= 1 && s <= 5) {
            sum += (double)s;
            count++;
        }
    }
    json_int_t sc = json_integer_value(json_object_get(served, "ratings"));
    double sr = json_number_value(json_object_get(served, "rating"));
    if (sc > 0 && sr >= 1 && sr <= 5) {
        sum += sr * (double)sc;
        count += sc;
    }
    json_t *out = json_pack("{s:s,s:I,s:I}", "review_status", review, "downloads", downloads,
                            "ratings", count);
    json_object_set_new(out, "rating",
                        count ? json_real((double)(long)(sum / (double)count * 100 + 0.5) / 100)
                              : json_null());
    return out;
}

json_t *at_dist_served(const char *data_dir, const char *digest)
{
    pthread_mutex_lock(&stats_mu);
    json_t *stats =
        digest && at_oci_digest_valid(digest) ? stats_read_locked(data_dir, digest) : json_object();
    pthread_mutex_unlock(&stats_mu);
    json_t *trust = at_dist_trust_lookup(data_dir, digest);
    json_t *out = combine(stats, json_object_get(trust, "served"));
    json_decref(trust);
    json_decref(stats);
    return out;
}

json_t *at_dist_trust_view(const char *data_dir, const char *digest)
{
    json_t *t = at_dist_trust_lookup(data_dir, digest);
    json_t *v = at_dist_trust_combine(data_dir, digest, t);
    json_decref(t);
    return v;
}

json_t *at_dist_trust_combine(const char *data_dir, const char *digest, const json_t *trust)
{
    json_t *t = trust ? json_deep_copy(trust) : unsigned_trust();
    pthread_mutex_lock(&stats_mu);
    json_t *stats =
        digest && at_oci_digest_valid(digest) ? stats_read_locked(data_dir, digest) : json_object();
    pthread_mutex_unlock(&stats_mu);
    json_t *c = combine(stats, json_object_get(t, "served"));
    json_object_update(t, c);
    json_decref(c);
    const json_t *rev = json_object_get(stats, "review");
    if (json_is_object(rev))
        json_object_set(t, "review", (json_t *)rev);
    json_decref(stats);
    if (!json_object_get(t, "scan_status"))
        json_object_set_new(t, "scan_status", json_string("not scanned"));
    return t;
}
