/*
 * merkle.c - the RFC 6962 Merkle tree hash and its proofs (merkle.h).
 */
#include "tlog/merkle.h"

#include "base/err.h"

#include <sodium.h>
#include <string.h>

void at_merkle_leaf(const void *data, size_t len, unsigned char out[AT_MERKLE_HASH])
{
    crypto_hash_sha256_state st;
    static const unsigned char zero = 0x00;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void at_merkle_node(const unsigned char l[AT_MERKLE_HASH], const unsigned char r[AT_MERKLE_HASH],
                    unsigned char out[AT_MERKLE_HASH])
{
    unsigned char buf[1 + 2 * AT_MERKLE_HASH];
    buf[0] = 0x01;
    memcpy(buf + 1, l, AT_MERKLE_HASH);
    memcpy(buf + 1 + AT_MERKLE_HASH, r, AT_MERKLE_HASH);
    crypto_hash_sha256(out, buf, sizeof(buf));
}

/* The largest power of two strictly below n (n >= 2). */
static size_t split(size_t n)
{
    size_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

void at_merkle_root(const at_merkle_hash *leaves, size_t n, unsigned char out[AT_MERKLE_HASH])
{
    if (n == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], AT_MERKLE_HASH);
        return;
    }
    size_t k = split(n);
    unsigned char l[AT_MERKLE_HASH], r[AT_MERKLE_HASH];
    at_merkle_root(leaves, k, l);
    at_merkle_root(leaves + k, n - k, r);
    at_merkle_node(l, r, out);
}

/* RFC 6962 §2.1.1: deeper hashes first. */
static void path(const at_merkle_hash *d, size_t n, size_t m, at_merkle_hash *proof, size_t *k)
{
    if (n <= 1)
        return;
    size_t s = split(n);
    if (m < s) {
        path(d, s, m, proof, k);
        at_merkle_root(d + s, n - s, proof[(*k)++]);
    } else {
        path(d + s, n - s, m - s, proof, k);
        at_merkle_root(d, s, proof[(*k)++]);
    }
}

int at_merkle_inclusion(const at_merkle_hash *leaves, size_t n, size_t m, at_merkle_hash *proof,
                        size_t *k)
{
    *k = 0;
    if (m >= n)
        return AT_EINVAL;
    path(leaves, n, m, proof, k);
    return 0;
}

/* RFC 6962 §2.1.2 SUBPROOF(m, D[n], b). */
static void subproof(const at_merkle_hash *d, size_t n, size_t m, int b, at_merkle_hash *proof,
                     size_t *k)
{
    if (m == n) {
        if (!b)
            at_merkle_root(d, n, proof[(*k)++]);
        return;
    }
    size_t s = split(n);
    if (m <= s) {
        subproof(d, s, m, b, proof, k);
        at_merkle_root(d + s, n - s, proof[(*k)++]);
    } else {
        subproof(d + s, n - s, m - s, 0, proof, k);
        at_merkle_root(d, s, proof[(*k)++]);
    }
}

int at_merkle_consistency(const at_merkle_hash *leaves, size_t n, size_t m, at_merkle_hash *proof,
                          size_t *k)
{
    *k = 0;
    if (m == 0 || m > n)
        return AT_EINVAL;
    subproof(leaves, n, m, 1, proof, k);
    return 0;
}

int at_merkle_inclusion_check(uint64_t index, uint64_t size,
                              const unsigned char leaf[AT_MERKLE_HASH], const at_merkle_hash *proof,
                              size_t k, const unsigned char root[AT_MERKLE_HASH])
{
    /* RFC 9162 §2.1.3.2 */
    if (index >= size)
        return AT_EPERM;
    uint64_t fn = index, sn = size - 1;
    unsigned char r[AT_MERKLE_HASH];
    memcpy(r, leaf, AT_MERKLE_HASH);
    for (size_t i = 0; i < k; i++) {
        if (sn == 0)
            return AT_EPERM;
        if ((fn & 1) || fn == sn) {
            at_merkle_node(proof[i], r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            at_merkle_node(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(r, root, AT_MERKLE_HASH) == 0 ? 0 : AT_EPERM;
}

int at_merkle_consistency_check(uint64_t m, uint64_t n, const unsigned char root1[AT_MERKLE_HASH],
                                const unsigned char root2[AT_MERKLE_HASH],
                                const at_merkle_hash *proof, size_t k)
{
    /* RFC 9162 §2.1.4.2 */
    if (m == 0 || m > n)
        return AT_EPERM;
    if (m == n)
        return k == 0 && sodium_memcmp(root1, root2, AT_MERKLE_HASH) == 0 ? 0 : AT_EPERM;
    size_t start = 0;
    unsigned char fr[AT_MERKLE_HASH], sr[AT_MERKLE_HASH];
    if ((m & (m - 1)) == 0) {
        memcpy(fr, root1, AT_MERKLE_HASH);
    } else {
        if (k == 0)
            return AT_EPERM;
        memcpy(fr, proof[0], AT_MERKLE_HASH);
        start = 1;
    }
    memcpy(sr, fr, AT_MERKLE_HASH);
    uint64_t fn = m - 1, sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (size_t i = start; i < k; i++) {
        if (sn == 0)
            return AT_EPERM;
        if ((fn & 1) || fn == sn) {
            at_merkle_node(proof[i], fr, fr);
            at_merkle_node(proof[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            at_merkle_node(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(fr, root1, AT_MERKLE_HASH) == 0 &&
                   sodium_memcmp(sr, root2, AT_MERKLE_HASH) == 0
               ? 0
               : AT_EPERM;
}
