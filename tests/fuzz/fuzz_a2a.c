/* libFuzzer target: the A2A request parser and message reader (a2a/a2a.c)
 * and the card canonicalisation (a2a/card.c).  The first input byte picks
 * the A2A-Version header (none, 1.0, 0.3, 2.0).  Properties: a parsed
 * request has an operation and a params object; an input read from a
 * message is an object; the canonical form of any object is valid JSON
 * whose canonical form is itself (idempotent; read back with integers as
 * doubles, as a JavaScript verifier reads them), and a signed card verifies
 * with the key it was signed with. */
#include "a2a/a2a.h"
#include "base/buf.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void canonical_idempotent(const json_t *v)
{
    struct at_buf a, b;
    at_buf_init(&a, 1u << 22);
    at_buf_init(&b, 1u << 22);
    if (at_a2a_canonical(v, &a) == 0) {
        json_error_t je;
        json_t *again = json_loadb(a.p ? a.p : "", a.len,
                                   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        if (!again)
            abort();
        if (json_is_object(again) &&
            (at_a2a_canonical(again, &b) || a.len != b.len || memcmp(a.p, b.p, a.len) != 0))
            abort();
        json_decref(again);
    }
    at_buf_release(&a);
    at_buf_release(&b);
}

/* RFC 7515 §5.2 by hand: BASE64URL(protected) '.' BASE64URL(canonical). */
static void verify(const json_t *card, const unsigned char pk[32])
{
    json_t *sig = json_array_get(json_object_get(card, "signatures"), 0);
    const char *prot = json_string_value(json_object_get(sig, "protected"));
    const char *s64 = json_string_value(json_object_get(sig, "signature"));
    if (!prot || !s64)
        abort();
    struct at_buf c, in;
    at_buf_init(&c, 1u << 22);
    at_buf_init(&in, 1u << 24);
    if (at_a2a_canonical(card, &c))
        abort();
    char *p64 = malloc(c.len * 2 + 8);
    if (!p64 || at_a2a_b64url((const unsigned char *)(c.p ? c.p : ""), c.len, p64, c.len * 2 + 8))
        abort();
    at_buf_printf(&in, "%s.%s", prot, p64);
    unsigned char raw[64];
    size_t rl = 0;
    if (sodium_base642bin(raw, sizeof(raw), s64, strlen(s64), NULL, &rl, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
        rl != 64 || crypto_sign_verify_detached(raw, (const unsigned char *)in.p, in.len, pk) != 0)
        abort();
    free(p64);
    at_buf_release(&c);
    at_buf_release(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const versions[] = {NULL, "1.0", "0.3", "2.0"};
    if (size < 1)
        return 0;
    const char *ver = versions[data[0] & 3];
    struct at_a2a_req q;
    struct at_a2a_err err;
    if (at_a2a_req_parse((const char *)data + 1, size - 1, ver, &q, &err) == 0) {
        if ((unsigned)q.op >= AT_A2A_NOPS || !json_is_object(q.params) || !q.id)
            abort();
        json_t *in = NULL;
        if (at_a2a_message_input(json_object_get(q.params, "message"), &in, &err) == 0) {
            if (!json_is_object(in))
                abort();
            json_decref(in);
        } else if (err.code == 0 || in) {
            abort();
        }
        canonical_idempotent(q.params);
        if ((data[0] & 4) && json_object_size(q.params) < 64) {
            static unsigned char pk[32], sk[64];
            static int have;
            if (!have) {
                if (sodium_init() < 0)
                    abort();
                crypto_sign_keypair(pk, sk);
                have = 1;
            }
            json_t *card = json_deep_copy(q.params);
            if (at_a2a_card_sign(card, sk, "k", NULL) == 0)
                verify(card, pk);
            json_decref(card);
        }
    } else if (err.code == 0 || err.msg[0] == '\0' || q.params) {
        abort();
    }
    at_a2a_req_release(&q);
    return 0;
}
