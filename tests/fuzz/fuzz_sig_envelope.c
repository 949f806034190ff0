/* libFuzzer target: the DSSE signature envelope check (dist/sign.h) on
 * hostile bytes, against a fixed trusted key.  Properties: random bytes
 * never verify (the key's secret is not in the corpus), a refusal has a
 * message, the publisher fits its buffer. */
#include "dist/sign.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *trust;
    if (!trust) {
        unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
        if (sodium_init() < 0)
            abort();
        crypto_sign_keypair(pk, sk);
        char pub[AT_SIG_PUBTEXT_MAX];
        at_sig_public_text(pk, pub);
        trust = json_pack("{s:[s]}", "my-org", pub);
    }
    struct at_sig_check c;
    struct at_diag d;
    at_diag_clear(&d);
    const char *md = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    int rc = at_sig_check((const char *)data, size, md, trust, &c, &d);
    if (rc && !d.msg[0])
        abort();
    if (c.verified || strlen(c.publisher) >= sizeof(c.publisher))
        abort();
    return 0;
}
