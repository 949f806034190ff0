/*
 * merkle.h - the RFC 6962 Merkle tree hash (RFC 6962 §2.1, RFC 9162 §2.1):
 * leaves are SHA-256(0x00 || data), interior nodes SHA-256(0x01 || left ||
 * right), the split point the largest power of two below the size.
 * Inclusion and consistency proofs are produced from the leaf hashes and
 * checked with the verification algorithms of RFC 9162 §2.1.3.2 and
 * §2.1.4.2, which need only the proof, the sizes and the roots.
 *
 * Pure functions over caller-owned arrays; thread-safe.
 */
#ifndef AT_TLOG_MERKLE_H
#define AT_TLOG_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define AT_MERKLE_HASH 32
/* An inclusion proof has at most 64 hashes, a consistency proof 128. */
#define AT_MERKLE_PROOF_MAX 128

typedef unsigned char at_merkle_hash[AT_MERKLE_HASH];

void at_merkle_leaf(const void *data, size_t len, unsigned char out[AT_MERKLE_HASH]);
void at_merkle_node(const unsigned char l[AT_MERKLE_HASH], const unsigned char r[AT_MERKLE_HASH],
                    unsigned char out[AT_MERKLE_HASH]);
/* MTH(leaves[0..n)); the empty tree's hash is SHA-256 of nothing. */
void at_merkle_root(const at_merkle_hash *leaves, size_t n, unsigned char out[AT_MERKLE_HASH]);
/* PATH(m, D[0..n)) into proof (AT_MERKLE_PROOF_MAX entries), *k its length.
 * AT_EINVAL when m >= n. */
int at_merkle_inclusion(const at_merkle_hash *leaves, size_t n, size_t m, at_merkle_hash *proof,
                        size_t *k);
/* PROOF(m, D[0..n)) (RFC 6962 §2.1.2).  AT_EINVAL unless 0 < m <= n. */
int at_merkle_consistency(const at_merkle_hash *leaves, size_t n, size_t m, at_merkle_hash *proof,
                          size_t *k);
/* 0 when proof[0..k) proves leaf at index in the tree of size with root;
 * AT_EPERM otherwise. */
int at_merkle_inclusion_check(uint64_t index, uint64_t size,
                              const unsigned char leaf[AT_MERKLE_HASH], const at_merkle_hash *proof,
                              size_t k, const unsigned char root[AT_MERKLE_HASH]);
/* 0 when proof[0..k) proves the tree of size m (root1) is a prefix of the
 * tree of size n (root2); AT_EPERM otherwise. */
int at_merkle_consistency_check(uint64_t m, uint64_t n, const unsigned char root1[AT_MERKLE_HASH],
                                const unsigned char root2[AT_MERKLE_HASH],
                                const at_merkle_hash *proof, size_t k);

#endif
