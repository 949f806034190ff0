/* libFuzzer target: the A2A request parser and message reader (a2a/a2a.c)
 * and the card canonicalisation (a2a/card.c).  The first input byte picks
 * the A2A-Version header (none, 1.0, 0.3, 2.0).  Properties: a parsed
 * request has an operation and a params object; an input read from a
 * message is an object; the canonical form of any object is valid JSON
 * whose canonical form is itself (idempotent), and a signed card verifies
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
        json_t *again = json_loadb(a.p ? a.p : "", a.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
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
            if (at_a2a_card_sign(card, sk, "k", NULL) == 0 &&
                !json_is_array(json_object_get(card, "signatures")))
                abort();
            json_decref(card);
        }
    } else if (err.code == 0 || err.msg[0] == '\0' || q.params) {
        abort();
    }
    at_a2a_req_release(&q);
    return 0;
}
