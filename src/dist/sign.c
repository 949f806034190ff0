#include "dist/sign.h"

#include "base/alloc.h"
#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_sig_public_text(const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
                        char out[AT_SIG_PUBTEXT_MAX])
{
    memcpy(out, "ed25519:", 9);
    sodium_bin2base64(out + 8, AT_SIG_PUBTEXT_MAX - 8, pk, crypto_sign_PUBLICKEYBYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

int at_sig_public_parse(const char *text, unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
    if (!text || strncmp(text, "ed25519:", 8) != 0)
        return AT_EINVAL;
    size_t n = 0;
    const char *b = text + 8;
    if (sodium_base642bin(pk, crypto_sign_PUBLICKEYBYTES, b, strlen(b), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) ||
        n != crypto_sign_PUBLICKEYBYTES)
        return AT_EINVAL;
    return 0;
}

void at_sig_keyid(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[AT_SIG_KEYID_LEN])
{
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(sum, pk, crypto_sign_PUBLICKEYBYTES);
    sodium_bin2hex(out, AT_SIG_KEYID_LEN, sum, 8);
}

/* DSSE v1 pre-authentication encoding (caller frees). */
static unsigned char *pae(const char *type, const unsigned char *body, size_t blen, size_t *len)
{
    char head[256];
    int hl = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(type), type, blen);
    unsigned char *p = at_malloc((size_t)hl + blen + 1);
    memcpy(p, head, (size_t)hl);
    memcpy(p + hl, body, blen);
    *len = (size_t)hl + blen;
    return p;
}

static char *b64(const unsigned char *p, size_t n)
{
    size_t l = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = at_malloc(l);
    sodium_bin2base64(s, l, p, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

static char *dump(json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    if (!s) {
        at_malloc((size_t)-1); /* the out-of-memory handler: it does not return */
        abort();
    }
    *len = strlen(s);
    return s;
}

char *at_sig_envelope(const char *publisher, const char *name, const char *version,
                      const char *manifest_digest, int64_t manifest_size,
                      const unsigned char sk[crypto_sign_SECRETKEYBYTES], size_t *len)
{
    if (sodium_init() < 0)
        abort();
    json_t *payload =
        json_pack("{s:{s:s, s:s, s:I}, s:s, s:s, s:s}", "manifest", "digest", manifest_digest,
                  "mediaType", AT_OCI_MANIFEST_TYPE, "size", (json_int_t)manifest_size, "name",
                  name, "publisher", publisher, "version", version);
    size_t plen;
    char *ptext = dump(payload, &plen);
    json_decref(payload);
    size_t mlen;
    unsigned char *m = pae(AT_SIG_PAYLOAD_TYPE, (const unsigned char *)ptext, plen, &mlen);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, m, mlen, sk);
    free(m);
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    char keyid[AT_SIG_KEYID_LEN];
    at_sig_keyid(pk, keyid);
    char *pb = b64((const unsigned char *)ptext, plen), *sb = b64(sig, sizeof(sig));
    free(ptext);
    json_t *env = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payload", pb, "payloadType",
                            AT_SIG_PAYLOAD_TYPE, "signatures", "keyid", keyid, "sig", sb);
    free(pb);
    free(sb);
    char *out = dump(env, len);
    json_decref(env);
    return out;
}

char *at_sig_referrer_manifest(const char *envelope_digest, int64_t envelope_size,
                               const char *subject_digest, int64_t subject_size,
                               const char *publisher, size_t *len)
{
    json_t *m = json_pack(
        "{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I}], s:{s:s, s:s, s:I}, s:{s:s}}",
        "schemaVersion", 2, "mediaType", AT_OCI_MANIFEST_TYPE, "artifactType", AT_SIG_ENVELOPE_TYPE,
        "config", "mediaType", AT_OCI_EMPTY_TYPE, "digest", AT_OCI_EMPTY_DIGEST, "size", 2,
        "layers", "mediaType", AT_SIG_ENVELOPE_TYPE, "digest", envelope_digest, "size",
        (json_int_t)envelope_size, "subject", "mediaType", AT_OCI_MANIFEST_TYPE, "digest",
        subject_digest, "size", (json_int_t)subject_size, "annotations", AT_SIG_ANN_PUBLISHER,
        publisher);
    char *out = dump(m, len);
    json_decref(m);
    return out;
}

static int unb64(const char *s, unsigned char **out, size_t *n, size_t max)
{
    if (!s)
        return AT_ESCHEMA;
    size_t sl = strlen(s);
    if (sl > max * 2)
        return AT_E2BIG;
    *out = at_malloc(sl + 1);
    if (sodium_base642bin(*out, sl + 1, s, sl, NULL, n, NULL, sodium_base64_VARIANT_ORIGINAL)) {
        free(*out);
        *out = NULL;
        return AT_ESCHEMA;
    }
    return 0;
}

static int bad(struct at_diag *d, int code, const char *ptr, const char *msg)
{
    at_diag_set(d, code, "", 0, 0, "%s", msg);
    at_diag_set_pointer(d, ptr);
    return code;
}

int at_sig_check(const char *envelope, size_t len, const char *manifest_digest, const json_t *trust,
                 struct at_sig_check *c, struct at_diag *d)
{
    memset(c, 0, sizeof(*c));
    if (sodium_init() < 0)
        return AT_EINTERNAL;
    if (len > AT_SIG_ENVELOPE_MAX)
        return at_diag_set(d, AT_E2BIG, "", 0, 0, "a signature envelope larger than 64 KiB");
    json_t *env = NULL, *payload = NULL;
    unsigned char *pbytes = NULL;
    size_t plen = 0;
    int rc = at_json_parse(envelope, len, 8, &env, d);
    if (rc)
        return rc;
    const char *ptype = json_string_value(json_object_get(env, "payloadType"));
    json_t *sigs = json_object_get(env, "signatures");
    if (!json_is_object(env) || !ptype || strcmp(ptype, AT_SIG_PAYLOAD_TYPE) != 0) {
        rc = bad(d, AT_ESCHEMA, "/payloadType", "not an Atlas signature envelope");
        goto out;
    }
    if (!json_is_array(sigs) || !json_array_size(sigs) || json_array_size(sigs) > 16) {
        rc = bad(d, AT_ESCHEMA, "/signatures", "1 to 16 signatures expected");
        goto out;
    }
    if ((rc = unb64(json_string_value(json_object_get(env, "payload")), &pbytes, &plen,
                    AT_SIG_ENVELOPE_MAX))) {
        rc = bad(d, rc, "/payload", "the payload is not base64");
        goto out;
    }
    if (at_json_parse((const char *)pbytes, plen, 8, &payload, NULL) || !json_is_object(payload)) {
        rc = bad(d, AT_ESCHEMA, "/payload", "the payload is not a JSON object");
        goto out;
    }
    const char *pub = json_string_value(json_object_get(payload, "publisher"));
    const char *md =
        json_string_value(json_object_get(json_object_get(payload, "manifest"), "digest"));
    if (!pub || !*pub || strlen(pub) >= sizeof(c->publisher) || !md) {
        rc = bad(d, AT_ESCHEMA, "/payload", "the payload names no publisher or manifest");
        goto out;
    }
    snprintf(c->publisher, sizeof(c->publisher), "%s", pub);
    if (strcmp(md, manifest_digest) != 0) {
        rc = at_diag_set(d, AT_EPERM, "", 0, 0,
                         "the signature of %s is for another manifest (%.80s)", pub, md);
        goto out;
    }
    size_t mlen;
    unsigned char *m = pae(ptype, pbytes, plen, &mlen);
    json_t *keys = trust ? json_object_get(trust, pub) : NULL;
    size_t i, k;
    json_t *s, *key;
    snprintf(c->why, sizeof(c->why), "no trusted key of publisher %s signed it (atlas trust add)",
             pub);
    json_array_foreach(sigs, i, s)
    {
        const char *kid = json_string_value(json_object_get(s, "keyid"));
        if (!c->keyid[0] && kid && strlen(kid) < sizeof(c->keyid))
            snprintf(c->keyid, sizeof(c->keyid), "%s", kid);
        unsigned char *sig = NULL;
        size_t sl = 0;
        if (unb64(json_string_value(json_object_get(s, "sig")), &sig, &sl, 512))
            continue;
        json_array_foreach(keys, k, key)
        {
            unsigned char pk[crypto_sign_PUBLICKEYBYTES];
            char id[AT_SIG_KEYID_LEN];
            if (at_sig_public_parse(json_string_value(key), pk))
                continue;
            at_sig_keyid(pk, id);
            if (kid && strcmp(kid, id) != 0)
                continue;
            if (sl == crypto_sign_BYTES && crypto_sign_verify_detached(sig, m, mlen, pk) == 0) {
                c->verified = 1;
                c->why[0] = '\0';
                snprintf(c->keyid, sizeof(c->keyid), "%s", id);
            } else if (!c->verified) {
                rc =
                    at_diag_set(d, AT_EPERM, "", 0, 0,
                                "the signature by %s's key %s does not verify (tampered)", pub, id);
            }
        }
        free(sig);
    }
    free(m);
    if (c->verified)
        rc = 0;
out:
    free(pbytes);
    json_decref(payload);
    json_decref(env);
    return rc;
}
