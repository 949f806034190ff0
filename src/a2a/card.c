/*
 * card.c - agent cards: the canonical form A2A 1.0 §8.4 signs (RFC 8785
 * JCS over the card cleaned of empty values, as the official SDKs
 * canonicalise it), the detached-payload JWS (RFC 7515 appendix F) made
 * with Ed25519 (RFC 8037), and the JWK Set a verifier fetches.
 */
#include "a2a/a2a.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when v is removed by cleaning: null, "", and arrays or objects with
 * nothing left once their members are cleaned. */
static int is_empty(const json_t *v, int depth)
{
    if (!v || json_is_null(v))
        return 1;
    if (json_is_string(v))
        return json_string_length(v) == 0;
    if (depth > 64)
        return 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!is_empty(json_array_get(v, i), depth + 1))
                return 0;
        return 1;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (!is_empty(m, depth + 1))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* RFC 8785 §3.2.2.2: strings with the minimal escapes. */
static int put_string(struct at_buf *b, const char *s, size_t n)
{
    int rc = at_buf_putc(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            rc = at_buf_puts(b, "\\\"");
            break;
        case '\\':
            rc = at_buf_puts(b, "\\\\");
            break;
        case '\b':
            rc = at_buf_puts(b, "\\b");
            break;
        case '\f':
            rc = at_buf_puts(b, "\\f");
            break;
        case '\n':
            rc = at_buf_puts(b, "\\n");
            break;
        case '\r':
            rc = at_buf_puts(b, "\\r");
            break;
        case '\t':
            rc = at_buf_puts(b, "\\t");
            break;
        default:
            if (c < 0x20)
                rc = at_buf_printf(b, "\\u%04x", c);
            else
                rc = at_buf_putc(b, (char)c);
        }
    }
    return rc ? rc : at_buf_putc(b, '"');
}

/* RFC 8785 §3.2.2.3: ECMAScript's Number.prototype.toString of the
 * shortest digits that read back as the same double. */
static int put_number(struct at_buf *b, double x)
{
    if (!isfinite(x))
        return AT_EINVAL;
    if (x == 0)
        return at_buf_putc(b, '0');
    char e[40];
    for (int p = 0; p < 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e: [-]d[.ddd]e[+-]XX */
    const char *s = e;
    int neg = *s == '-';
    if (neg)
        s++;
    char digits[24];
    size_t k = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && k < sizeof(digits) - 1)
            digits[k++] = *s;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    int ex = *s == 'e' ? (int)strtol(s + 1, NULL, 10) : 0;
    int n = ex + 1; /* the decimal point after n digits */
    int rc = neg ? at_buf_putc(b, '-') : 0;
    if (rc)
        return rc;
    if ((int)k <= n && n <= 21) {
        rc = at_buf_append(b, digits, k);
        for (int i = (int)k; i < n && !rc; i++)
            rc = at_buf_putc(b, '0');
    } else if (0 < n && n <= 21) {
        rc = at_buf_append(b, digits, (size_t)n);
        if (!rc)
            rc = at_buf_putc(b, '.');
        if (!rc)
            rc = at_buf_append(b, digits + n, k - (size_t)n);
    } else if (-6 < n && n <= 0) {
        rc = at_buf_puts(b, "0.");
        for (int i = 0; i < -n && !rc; i++)
            rc = at_buf_putc(b, '0');
        if (!rc)
            rc = at_buf_append(b, digits, k);
    } else {
        rc = at_buf_putc(b, digits[0]);
        if (!rc && k > 1) {
            rc = at_buf_putc(b, '.');
            if (!rc)
                rc = at_buf_append(b, digits + 1, k - 1);
        }
        if (!rc)
            rc = at_buf_printf(b, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    return rc;
}

static int cmp_keys(const void *x, const void *y)
{
    /* UTF-8 byte order; equals RFC 8785's UTF-16 order for keys without
     * characters above U+FFFF mixed with U+E000..U+FFFF */
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int put_value(struct at_buf *b, const json_t *v, int depth, int top)
{
    if (depth > 64)
        return AT_E2BIG;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0;
        const char **keys = at_calloc(n ? n : 1, sizeof(*keys));
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m)
        {
            if (top && strcmp(key, "signatures") == 0)
                continue;
            if (!is_empty(m, depth + 1))
                keys[k++] = key;
        }
        qsort(keys, k, sizeof(*keys), cmp_keys);
        int rc = at_buf_putc(b, '{');
        for (size_t i = 0; i < k && !rc; i++) {
            if (i)
                rc = at_buf_putc(b, ',');
            if (!rc)
                rc = put_string(b, keys[i], strlen(keys[i]));
            if (!rc)
                rc = at_buf_putc(b, ':');
            if (!rc)
                rc = put_value(b, json_object_get(v, keys[i]), depth + 1, 0);
        }
        free(keys);
        return rc ? rc : at_buf_putc(b, '}');
    }
    case JSON_ARRAY: {
        int rc = at_buf_putc(b, '['), first = 1;
        for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
            const json_t *m = json_array_get(v, i);
            if (is_empty(m, depth + 1))
                continue;
            if (!first)
                rc = at_buf_putc(b, ',');
            first = 0;
            if (!rc)
                rc = put_value(b, m, depth + 1, 0);
        }
        return rc ? rc : at_buf_putc(b, ']');
    }
    case JSON_STRING:
        return put_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        /* beyond 2^53 a JavaScript verifier reads a different number */
        if (i > 9007199254740991LL || i < -9007199254740991LL)
            return put_number(b, (double)i);
        return at_buf_printf(b, "%lld", (long long)i);
    }
    case JSON_REAL:
        return put_number(b, json_real_value(v));
    case JSON_TRUE:
        return at_buf_puts(b, "true");
    case JSON_FALSE:
        return at_buf_puts(b, "false");
    case JSON_NULL:
        return at_buf_puts(b, "null");
    }
    return AT_EINVAL;
}

int at_a2a_canonical(const json_t *card, struct at_buf *out)
{
    if (!json_is_object(card))
        return AT_EINVAL;
    return put_value(out, card, 0, 1);
}

int at_a2a_b64url(const unsigned char *data, size_t len, char *out, size_t n)
{
    size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (n < need)
        return AT_E2BIG;
    sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

void at_a2a_kid(const unsigned char pk[32], char *out, size_t n)
{
    unsigned char h[32];
    crypto_hash_sha256(h, pk, 32);
    char b[64];
    at_a2a_b64url(h, sizeof(h), b, sizeof(b));
    snprintf(out, n, "atlas-%.16s", b);
}

int at_a2a_card_sign(json_t *card, const unsigned char sk[64], const char *kid, const char *jku)
{
    struct at_buf payload;
    at_buf_init(&payload, AT_A2A_MAX_BODY);
    int rc = at_a2a_canonical(card, &payload);
    if (rc) {
        at_buf_release(&payload);
        return rc;
    }
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", "EdDSA", "typ", "JOSE", "kid", kid);
    if (jku)
        json_object_set_new(hdr, "jku", json_string(jku));
    char *htext = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    size_t hlen = strlen(htext);
    size_t plen64 =
        sodium_base64_ENCODED_LEN(payload.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t hlen64 = sodium_base64_ENCODED_LEN(hlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *prot = at_malloc(hlen64);
    char *input = at_malloc(hlen64 + plen64 + 1);
    at_a2a_b64url((const unsigned char *)htext, hlen, prot, hlen64);
    free(htext);
    /* RFC 7515 §5.1: the signing input is BASE64URL(header) '.' BASE64URL(payload) */
    size_t pl = strlen(prot);
    memcpy(input, prot, pl + 1);
    input[pl] = '.';
    at_a2a_b64url((const unsigned char *)(payload.p ? payload.p : ""), payload.len, input + pl + 1,
                  plen64);
    at_buf_release(&payload);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)input, strlen(input), sk);
    free(input);
    char sig64[128];
    at_a2a_b64url(sig, sizeof(sig), sig64, sizeof(sig64));
    json_object_set_new(card, "signatures",
                        json_pack("[{s:s,s:s}]", "protected", prot, "signature", sig64));
    free(prot);
    return 0;
}

json_t *at_a2a_jwks(const unsigned char pk[32], const char *kid)
{
    char x[64];
    at_a2a_b64url(pk, 32, x, sizeof(x));
    return json_pack("{s:[{s:s,s:s,s:s,s:s,s:s,s:s}]}", "keys", "kty", "OKP", "crv", "Ed25519", "x",
                     x, "kid", kid, "use", "sig", "alg", "EdDSA");
}
