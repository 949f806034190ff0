#include "dist/oci.h"

#include "base/alloc.h"
#include "base/err.h"
#include "dist/layer.h"
#include "json/json.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OCI_MAX_DEPTH 32

int at_oci_digest_valid(const char *s)
{
    size_t hexlen;
    if (!strncmp(s, "sha256:", 7))
        hexlen = 64;
    else if (!strncmp(s, "sha512:", 7))
        hexlen = 128;
    else
        return 0;
    const char *h = s + 7;
    for (size_t i = 0; i < hexlen; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return 0;
    return h[hexlen] == '\0';
}

void at_oci_digest_bytes(const void *data, size_t len, char out[AT_OCI_DIGEST_MAX])
{
    unsigned char sum[crypto_hash_sha256_BYTES];
    if (sodium_init() < 0)
        abort();
    crypto_hash_sha256(sum, data, len);
    memcpy(out, "sha256:", 8);
    sodium_bin2hex(out + 7, AT_OCI_DIGEST_MAX - 7, sum, sizeof(sum));
}

static int bad(struct at_diag *d, int code, const char *ptr, const char *msg)
{
    at_diag_set(d, code, "", 0, 0, "%s", msg);
    at_diag_set_pointer(d, ptr);
    return code;
}

/* Copy the string member key of obj into out: 0, or AT_ESCHEMA when it is
 * required and missing, not a string or too long. */
static int str_member(const json_t *obj, const char *key, int required, char *out, size_t outlen,
                      const char *ptr, struct at_diag *d)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", ptr, key);
    json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (!v)
        return required ? bad(d, AT_ESCHEMA, p, "a required member is missing") : 0;
    if (!json_is_string(v))
        return bad(d, AT_ESCHEMA, p, "must be a string");
    size_t n = json_string_length(v);
    if (n >= outlen || strlen(json_string_value(v)) != n)
        return bad(d, AT_E2BIG, p, "too long, or holds a NUL");
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

static int annotations(json_t *obj, const char *ptr, json_t **out, struct at_diag *d)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/annotations", ptr);
    json_t *a = json_object_get(obj, "annotations");
    *out = NULL;
    if (!a)
        return 0;
    if (!json_is_object(a))
        return bad(d, AT_ESCHEMA, p, "must be an object of strings");
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        if (!json_is_string(v)) {
            char q[512];
            snprintf(q, sizeof(q), "%s/%.200s", p, k);
            return bad(d, AT_ESCHEMA, q, "an annotation's value must be a string");
        }
    }
    *out = a;
    return 0;
}

/* OCI image-spec 1.1 §descriptor: mediaType, digest, size required. */
static int parse_desc(json_t *v, const char *ptr, struct at_oci_desc *o, struct at_diag *d)
{
    memset(o, 0, sizeof(*o));
    if (!json_is_object(v))
        return bad(d, AT_ESCHEMA, ptr, "a descriptor must be an object");
    int rc;
    if ((rc = str_member(v, "mediaType", 1, o->media_type, sizeof(o->media_type), ptr, d)) ||
        (rc = str_member(v, "artifactType", 0, o->artifact_type, sizeof(o->artifact_type), ptr,
                         d)) ||
        (rc = str_member(v, "digest", 1, o->digest, sizeof(o->digest), ptr, d)))
        return rc;
    char p[512];
    snprintf(p, sizeof(p), "%s/digest", ptr);
    if (!at_oci_digest_valid(o->digest))
        return bad(d, AT_EUNSUPPORTED, p,
                   "not a sha256 or sha512 digest in canonical form (algorithm:lowercase hex)");
    json_t *sz = json_object_get(v, "size");
    snprintf(p, sizeof(p), "%s/size", ptr);
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return bad(d, AT_ESCHEMA, p, "size must be a non-negative integer");
    o->size = json_integer_value(sz);
    return annotations(v, ptr, &o->annotations, d);
}

static int parse_doc(const char *buf, size_t len, json_t **out, struct at_diag *d)
{
    *out = NULL;
    if (len > AT_OCI_MANIFEST_MAX) {
        at_diag_set(d, AT_E2BIG, "", 0, 0, "a manifest larger than %u bytes", AT_OCI_MANIFEST_MAX);
        return AT_E2BIG;
    }
    json_t *j = NULL;
    int rc = at_json_parse(buf, len, OCI_MAX_DEPTH, &j, d);
    if (rc)
        return rc;
    if (!json_is_object(j)) {
        json_decref(j);
        return bad(d, AT_ESCHEMA, "", "must be a JSON object");
    }
    json_t *sv = json_object_get(j, "schemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        json_decref(j);
        return bad(d, AT_EUNSUPPORTED, "/schemaVersion", "schemaVersion must be 2");
    }
    *out = j;
    return 0;
}

int at_oci_manifest_parse(const char *buf, size_t len, struct at_oci_manifest *m, struct at_diag *d)
{
    memset(m, 0, sizeof(*m));
    json_t *j = NULL;
    int rc = parse_doc(buf, len, &j, d);
    if (rc)
        return rc;
    m->json = j;
    if ((rc = str_member(j, "mediaType", 0, m->media_type, sizeof(m->media_type), "", d)) ||
        (rc = str_member(j, "artifactType", 0, m->artifact_type, sizeof(m->artifact_type), "", d)))
        goto fail;
    if (m->media_type[0] && strcmp(m->media_type, AT_OCI_MANIFEST_TYPE) != 0) {
        rc = bad(d, AT_EUNSUPPORTED, "/mediaType", "not an OCI image manifest");
        goto fail;
    }
    if ((rc = parse_desc(json_object_get(j, "config"), "/config", &m->config, d)))
        goto fail;
    json_t *layers = json_object_get(j, "layers");
    if (!json_is_array(layers)) {
        rc = bad(d, AT_ESCHEMA, "/layers", "layers must be an array");
        goto fail;
    }
    if (json_array_size(layers) > AT_OCI_MAX_LAYERS) {
        rc = bad(d, AT_E2BIG, "/layers", "more layers than Atlas reads (128)");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(layers); i++) {
        char p[64];
        snprintf(p, sizeof(p), "/layers/%zu", i);
        if ((rc = parse_desc(json_array_get(layers, i), p, &m->layers[i], d)))
            goto fail;
        m->nlayers++;
    }
    json_t *subject = json_object_get(j, "subject");
    if (subject) {
        if ((rc = parse_desc(subject, "/subject", &m->subject, d)))
            goto fail;
        m->has_subject = 1;
    }
    if ((rc = annotations(j, "", &m->annotations, d)))
        goto fail;
    return 0;
fail:
    at_oci_manifest_release(m);
    return rc;
}

void at_oci_manifest_release(struct at_oci_manifest *m)
{
    json_decref(m->json);
    memset(m, 0, sizeof(*m));
}

int at_oci_manifest_is_agent(const struct at_oci_manifest *m, struct at_diag *d)
{
    if (strcmp(m->artifact_type, AT_OCI_AGENT_ARTIFACT) != 0)
        return bad(d, AT_EUNSUPPORTED, "/artifactType",
                   "not an Atlas agent (artifactType is not " AT_OCI_AGENT_ARTIFACT ")");
    if (strcmp(m->config.media_type, AT_OCI_AGENT_CONFIG) != 0)
        return bad(d, AT_EUNSUPPORTED, "/config/mediaType",
                   "the config is not an Atlas contract (" AT_OCI_AGENT_CONFIG ")");
    if (m->nlayers != 1)
        return bad(d, AT_EUNSUPPORTED, "/layers", "an Atlas agent has exactly one layer");
    if (strcmp(m->layers[0].media_type, AT_LAYER_MEDIA_TYPE) != 0)
        return bad(d, AT_EUNSUPPORTED, "/layers/0/mediaType",
                   "the layer is not an Atlas agent directory (" AT_LAYER_MEDIA_TYPE ")");
    json_t *cd = m->layers[0].annotations
                     ? json_object_get(m->layers[0].annotations, AT_OCI_ANN_CONTENT)
                     : NULL;
    if (!cd || !at_oci_digest_valid(json_string_value(cd)))
        return bad(d, AT_ESCHEMA, "/layers/0/annotations/" AT_OCI_ANN_CONTENT,
                   "the layer does not name the agent's content digest");
    return 0;
}

int at_oci_index_parse(const char *buf, size_t len, struct at_oci_index *ix, struct at_diag *d)
{
    memset(ix, 0, sizeof(*ix));
    json_t *j = NULL;
    int rc = parse_doc(buf, len, &j, d);
    if (rc)
        return rc;
    ix->json = j;
    char mt[AT_OCI_TYPE_MAX];
    if ((rc = str_member(j, "mediaType", 0, mt, sizeof(mt), "", d)))
        goto fail;
    if (mt[0] && strcmp(mt, AT_OCI_INDEX_TYPE) != 0) {
        rc = bad(d, AT_EUNSUPPORTED, "/mediaType", "not an OCI image index");
        goto fail;
    }
    json_t *ms = json_object_get(j, "manifests");
    if (!json_is_array(ms)) {
        rc = bad(d, AT_ESCHEMA, "/manifests", "manifests must be an array");
        goto fail;
    }
    size_t n = json_array_size(ms);
    if (n > AT_OCI_MAX_INDEX) {
        rc = bad(d, AT_E2BIG, "/manifests", "more entries than Atlas reads (4096)");
        goto fail;
    }
    ix->manifests = n ? at_calloc(n, sizeof(*ix->manifests)) : NULL;
    for (size_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/manifests/%zu", i);
        if ((rc = parse_desc(json_array_get(ms, i), p, &ix->manifests[i], d)))
            goto fail;
        ix->n++;
    }
    return 0;
fail:
    at_oci_index_release(ix);
    return rc;
}

void at_oci_index_release(struct at_oci_index *ix)
{
    json_decref(ix->json);
    free(ix->manifests);
    memset(ix, 0, sizeof(*ix));
}

static char *dump_sorted(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        at_malloc((size_t)-1); /* the out-of-memory handler: it does not return */
        abort();
    }
    *len = strlen(s);
    return s;
}

char *at_oci_config_blob(const struct at_contract *c, size_t *len)
{
    return dump_sorted(c->json, len);
}

json_t *at_oci_agent_annotations(const struct at_contract *c)
{
    json_t *a = json_object();
    json_object_set_new(a, "org.opencontainers.image.title", json_string(c->name));
    json_object_set_new(a, "org.opencontainers.image.version", json_string(c->version));
    if (c->description)
        json_object_set_new(a, "org.opencontainers.image.description", json_string(c->description));
    json_t *src = json_object_get(c->json, "source");
    if (json_is_string(src))
        json_object_set(a, "org.opencontainers.image.source", src);
    if (c->type)
        json_object_set_new(a, AT_OCI_ANN_TYPE, json_string(c->type));
    json_t *caps = json_object_get(c->json, "capabilities");
    if (json_is_array(caps) && json_array_size(caps)) {
        size_t len;
        char *s = dump_sorted(caps, &len);
        json_object_set_new(a, AT_OCI_ANN_CAPABILITIES, json_stringn(s, len));
        free(s);
    }
    return a;
}

static json_t *desc_json(const char *media_type, const char *digest, int64_t size)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
                     (json_int_t)size);
}

char *at_oci_agent_manifest(const struct at_contract *c, const char *config_digest,
                            int64_t config_size, const char *layer_digest, int64_t layer_size,
                            const char *content_digest, size_t *len)
{
    json_t *layer = desc_json(AT_LAYER_MEDIA_TYPE, layer_digest, layer_size);
    char *title = at_asprintf("%s-%s.tar.gz", c->name, c->version);
    json_object_set_new(layer, "annotations",
                        json_pack("{s:s, s:s}", "org.opencontainers.image.title", title,
                                  AT_OCI_ANN_CONTENT, content_digest));
    free(title);
    json_t *m = json_pack("{s:i, s:s, s:s, s:o, s:[o], s:o}", "schemaVersion", 2, "mediaType",
                          AT_OCI_MANIFEST_TYPE, "artifactType", AT_OCI_AGENT_ARTIFACT, "config",
                          desc_json(AT_OCI_AGENT_CONFIG, config_digest, config_size), "layers",
                          layer, "annotations", at_oci_agent_annotations(c));
    char *s = dump_sorted(m, len);
    json_decref(m);
    return s;
}
