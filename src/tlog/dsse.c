/*
 * dsse.c - DSSE envelopes (dsse.h).
 */
#include "tlog/dsse.h"

#include "base/alloc.h"
#include "base/err.h"
#include "json/json.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int at_dsse_pae(struct at_buf *b, const char *type, const void *payload, size_t len)
{
    /* DSSE protocol.md: PAE(type, body) */
    int rc = at_buf_printf(b, "DSSEv1 %zu %s %zu ", strlen(type), type, len);
    if (rc == 0)
        rc = at_buf_append(b, payload, len);
    return rc;
}

static json_t *b64(const void *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = at_malloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *v = json_string(s);
    free(s);
    return v;
}

char *at_dsse_envelope(const char *type, const void *payload, size_t len,
                       const struct at_dsse_sig *sigs, size_t n, size_t *out_len)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:o}", "keyid", sigs[i].keyid, "sig",
                                             b64(sigs[i].sig, sigs[i].len)));
    json_t *env = json_pack("{s:o,s:s,s:o}", "payload", b64(payload, len), "payloadType", type,
                            "signatures", arr);
    char *s = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(env);
    if (!s)
        abort();
    if (out_len)
        *out_len = strlen(s);
    return s;
}

static int unb64(const char *s, size_t sl, unsigned char **out, size_t *n)
{
    size_t cap = sl / 4 * 3 + 3;
    *out = at_malloc(cap + 1);
    if (sodium_base642bin(*out, cap, s, sl, NULL, n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(*out);
        *out = NULL;
        return AT_EPARSE;
    }
    return 0;
}

int at_dsse_parse(const char *env, size_t len, struct at_dsse *out, struct at_diag *d)
{
    memset(out, 0, sizeof(*out));
    if (len > AT_DSSE_MAX)
        return at_diag_set(d, AT_E2BIG, NULL, 0, 0, "envelope: over %u bytes", AT_DSSE_MAX);
    json_t *v = NULL;
    int rc = at_json_parse(env, len, 8, &v, d);
    if (rc)
        return rc;
    const char *where = NULL;
    json_t *t = json_object_get(v, "payloadType"), *p = json_object_get(v, "payload");
    json_t *sigs = json_object_get(v, "signatures");
    if (!json_is_object(v))
        where = "";
    else if (!json_is_string(t) || json_string_length(t) >= sizeof(out->type) ||
             strlen(json_string_value(t)) != json_string_length(t))
        where = "/payloadType";
    else if (!json_is_string(p) ||
             unb64(json_string_value(p), json_string_length(p), &out->payload, &out->payload_len))
        where = "/payload";
    else if (!json_is_array(sigs) || json_array_size(sigs) == 0 ||
             json_array_size(sigs) > AT_DSSE_SIGS_MAX)
        where = "/signatures";
    if (where) {
        json_decref(v);
        at_dsse_release(out);
        at_diag_set(d, AT_ESCHEMA, NULL, 0, 0, "envelope: %s is missing or malformed",
                    *where ? where + 1 : "the envelope");
        at_diag_set_pointer(d, where);
        return AT_ESCHEMA;
    }
    memcpy(out->type, json_string_value(t), json_string_length(t) + 1);
    size_t i;
    json_t *s;
    json_array_foreach(sigs, i, s)
    {
        json_t *k = json_object_get(s, "keyid"), *g = json_object_get(s, "sig");
        unsigned char *raw = NULL;
        size_t n = 0;
        if (!json_is_string(k) || json_string_length(k) >= sizeof(out->keyid[0]) ||
            strlen(json_string_value(k)) != json_string_length(k) || !json_is_string(g) ||
            json_string_length(g) > 256 ||
            unb64(json_string_value(g), json_string_length(g), &raw, &n) ||
            n > sizeof(out->sig[0])) {
            free(raw);
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/signatures/%zu", i);
            json_decref(v);
            at_dsse_release(out);
            at_diag_set(d, AT_ESCHEMA, NULL, 0, 0,
                        "envelope: signatures[%zu] needs a keyid and a base64 sig", i);
            at_diag_set_pointer(d, ptr);
            return AT_ESCHEMA;
        }
        memcpy(out->keyid[i], json_string_value(k), json_string_length(k) + 1);
        memcpy(out->sig[i], raw, n);
        out->sig_len[i] = n;
        free(raw);
        out->nsigs++;
    }
    json_decref(v);
    return 0;
}

int at_dsse_verify_ed25519(const struct at_dsse *e, const char *keyid, const unsigned char pk[32])
{
    for (size_t i = 0; i < e->nsigs; i++) {
        if (strcmp(e->keyid[i], keyid) != 0)
            continue;
        if (e->sig_len[i] != crypto_sign_BYTES)
            return AT_EPERM;
        struct at_buf b;
        at_buf_init(&b, AT_DSSE_MAX + 256);
        int rc = at_dsse_pae(&b, e->type, e->payload, e->payload_len);
        if (rc == 0)
            rc = crypto_sign_verify_detached(e->sig[i], (const unsigned char *)b.p, b.len, pk) == 0
                     ? 0
                     : AT_EPERM;
        at_buf_release(&b);
        return rc;
    }
    return AT_ENOENT;
}

void at_dsse_release(struct at_dsse *e)
{
    if (!e)
        return;
    free(e->payload);
    e->payload = NULL;
    e->payload_len = 0;
}
