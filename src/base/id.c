#include "base/id.h"

#include "base/clock.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms = -1;
static unsigned char last_rand[10];

void at_id_new(const char *prefix, char *out)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char raw[16];
    if (sodium_init() < 0)
        abort();
    pthread_mutex_lock(&mu);
    int64_t ms = at_wall_ms();
    if (ms <= last_ms) {
        ms = last_ms;
        for (int i = 9; i >= 0; i--)
            if (++last_rand[i] != 0)
                break;
    } else {
        randombytes_buf(last_rand, sizeof(last_rand));
        last_rand[0] &= 0x7f; /* leave room to increment */
        last_ms = ms;
    }
    for (int i = 0; i < 6; i++)
        raw[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
    memcpy(raw + 6, last_rand, 10);
    pthread_mutex_unlock(&mu);

    size_t off = (size_t)snprintf(out, AT_ID_MAX, "%.8s_", prefix);
    /* 128 bits -> 26 base32 chars (first char holds 3 bits) */
    int bit = -2; /* 130 bits of output, 2 leading zero bits */
    for (int c = 0; c < 26; c++) {
        unsigned v = 0;
        for (int k = 0; k < 5; k++, bit++) {
            v <<= 1;
            if (bit >= 0)
                v |= (raw[bit / 8] >> (7 - bit % 8)) & 1u;
        }
        out[off++] = b32[v];
    }
    out[off] = '\0';
}

void at_token_new(size_t bytes, char *out, size_t outlen)
{
    unsigned char raw[64];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    if (sodium_init() < 0)
        abort();
    randombytes_buf(raw, bytes);
    sodium_bin2base64(out, outlen, raw, bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
