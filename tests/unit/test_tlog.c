/* Unit tests: the audit trail's pure parts (src/tlog/): the RFC 6962 Merkle
 * tree against the RFC's test vectors (the ones of certificate-
 * transparency's reference tests) and against an independent Python
 * implementation (tlog_oracle.py, standard library only) for every
 * inclusion and consistency proof of trees up to 40 leaves; C2SP signed
 * notes and checkpoints; DSSE envelopes; the high-water mark's note. */
#include "base/err.h"
#include "tlog/dsse.h"
#include "tlog/merkle.h"
#include "tlog/note.h"
#include "tlog/tlog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

static void unhex(const char *hex, unsigned char *out)
{
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(out, 32, hex, 64, NULL, &n, NULL), 0);
    assert_int_equal(n, 32);
}

/* RFC 6962 test data (certificate-transparency merkle_tree_test). */
static const char *const rfc_leaves[8] = {"",
                                          "00",
                                          "10",
                                          "2021",
                                          "3031",
                                          "40414243",
                                          "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"};
static const char *const rfc_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void rfc_tree(at_merkle_hash L[8])
{
    for (int i = 0; i < 8; i++) {
        unsigned char b[32];
        size_t n = 0;
        sodium_hex2bin(b, sizeof(b), rfc_leaves[i], strlen(rfc_leaves[i]), NULL, &n, NULL);
        at_merkle_leaf(b, n, L[i]);
    }
}

static void check_proof(const at_merkle_hash *p, size_t k, const char *const *want, size_t nw)
{
    assert_int_equal(k, nw);
    for (size_t i = 0; i < k; i++) {
        unsigned char w[32];
        unhex(want[i], w);
        assert_memory_equal(p[i], w, 32);
    }
}

static void test_rfc6962_vectors(void **state)
{
    (void)state;
    at_merkle_hash L[8], p[AT_MERKLE_PROOF_MAX];
    unsigned char root[32], want[32], roots[9][32];
    rfc_tree(L);
    at_merkle_root(L, 0, root);
    unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
    assert_memory_equal(root, want, 32);
    for (size_t n = 1; n <= 8; n++) {
        at_merkle_root(L, n, roots[n]);
        unhex(rfc_roots[n - 1], want);
        assert_memory_equal(roots[n], want, 32);
    }
    size_t k;
    /* inclusion: leaf 0 and 5 of 8, 2 of 3, 1 of 5 */
    const char *i08[] = {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                         "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                         "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"};
    assert_int_equal(at_merkle_inclusion(L, 8, 0, p, &k), 0);
    check_proof(p, k, i08, 3);
    assert_int_equal(at_merkle_inclusion_check(0, 8, L[0], p, k, roots[8]), 0);
    const char *i58[] = {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                         "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"};
    assert_int_equal(at_merkle_inclusion(L, 8, 5, p, &k), 0);
    check_proof(p, k, i58, 3);
    assert_int_equal(at_merkle_inclusion_check(5, 8, L[5], p, k, roots[8]), 0);
    assert_int_equal(at_merkle_inclusion_check(4, 8, L[5], p, k, roots[8]), AT_EPERM);
    const char *i23[] = {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"};
    assert_int_equal(at_merkle_inclusion(L, 3, 2, p, &k), 0);
    check_proof(p, k, i23, 1);
    assert_int_equal(at_merkle_inclusion(L, 3, 3, p, &k), AT_EINVAL);
    /* consistency: 1->8, 6->8, 2->5 */
    const char *c18[] = {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                         "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                         "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"};
    assert_int_equal(at_merkle_consistency(L, 8, 1, p, &k), 0);
    check_proof(p, k, c18, 3);
    assert_int_equal(at_merkle_consistency_check(1, 8, roots[1], roots[8], p, k), 0);
    const char *c68[] = {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                         "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"};
    assert_int_equal(at_merkle_consistency(L, 8, 6, p, &k), 0);
    check_proof(p, k, c68, 3);
    assert_int_equal(at_merkle_consistency_check(6, 8, roots[6], roots[8], p, k), 0);
    assert_int_equal(at_merkle_consistency_check(6, 8, roots[5], roots[8], p, k), AT_EPERM);
    const char *c25[] = {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                         "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"};
    assert_int_equal(at_merkle_consistency(L, 5, 2, p, &k), 0);
    check_proof(p, k, c25, 2);
    assert_int_equal(at_merkle_consistency_check(2, 5, roots[2], roots[5], p, k), 0);
    assert_int_equal(at_merkle_consistency_check(8, 8, roots[8], roots[8], p, 0), 0);
    assert_int_equal(at_merkle_consistency(L, 8, 0, p, &k), AT_EINVAL);
}

/* Every proof of trees of 1..N leaves equals the Python oracle's and
 * verifies; the same proof with one byte changed does not. */
static void test_python_oracle(void **state)
{
    (void)state;
    enum { N = 40 };
    FILE *f = popen("/usr/bin/python3 tlog_oracle.py 40", "r");
    assert_non_null(f);
    at_merkle_hash L[N], p[AT_MERKLE_PROOF_MAX], roots[N + 1];
    for (int i = 0; i < N; i++) {
        char b[16];
        int n = snprintf(b, sizeof(b), "leaf-%d", i);
        at_merkle_leaf(b, (size_t)n, L[i]);
    }
    for (size_t n = 1; n <= N; n++)
        at_merkle_root(L, n, roots[n]);
    static char line[8192];
    int lines = 0, roots_seen = 0, incl = 0, cons = 0;
    while (fgets(line, sizeof(line), f)) {
        char kind[8];
        unsigned m = 0, n = 0;
        int off = 0;
        lines++;
        if (sscanf(line, "root %u %n", &n, &off) == 1) {
            unsigned char w[32];
            unhex(line + off, w);
            assert_memory_equal(roots[n], w, 32);
            roots_seen++;
            continue;
        }
        assert_int_equal(sscanf(line, "%7s %u %u %n", kind, &m, &n, &off), 3);
        size_t k;
        int is_incl = strcmp(kind, "incl") == 0;
        if (is_incl)
            assert_int_equal(at_merkle_inclusion(L, n, m, p, &k), 0);
        else
            assert_int_equal(at_merkle_consistency(L, n, m, p, &k), 0);
        const char *h = line + off;
        size_t got = 0;
        while (*h && *h != '\n') {
            unsigned char w[32];
            unhex(h, w);
            assert_true(got < k);
            assert_memory_equal(p[got], w, 32);
            got++;
            h += 64;
            if (*h == ',')
                h++;
        }
        assert_int_equal(got, k);
        if (is_incl) {
            assert_int_equal(at_merkle_inclusion_check(m, n, L[m], p, k, roots[n]), 0);
            incl++;
        } else {
            assert_int_equal(at_merkle_consistency_check(m, n, roots[m], roots[n], p, k), 0);
            cons++;
        }
        if (k) {
            p[k / 2][7] ^= 1;
            if (is_incl)
                assert_int_equal(at_merkle_inclusion_check(m, n, L[m], p, k, roots[n]), AT_EPERM);
            else
                assert_int_equal(at_merkle_consistency_check(m, n, roots[m], roots[n], p, k),
                                 AT_EPERM);
        }
    }
    assert_int_equal(pclose(f), 0);
    assert_int_equal(roots_seen, N);
    assert_int_equal(incl, N * (N + 1) / 2);
    assert_int_equal(cons, N * (N + 1) / 2);
    assert_int_equal(lines, roots_seen + incl + cons);
}

static void test_note_checkpoint(void **state)
{
    (void)state;
    unsigned char pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    struct at_note_key k, k2;
    assert_int_equal(at_note_key_init(&k, "example.com/log", pk), 0);
    assert_int_equal(at_note_key_init(&k2, "bad name", pk), AT_EINVAL);
    char vkey[AT_NOTE_VKEY_MAX];
    at_note_vkey(&k, vkey);
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_note_vkey_parse(vkey, &k2, &d), 0);
    assert_int_equal(k2.id, k.id);
    assert_memory_equal(k2.pk, pk, 32);
    vkey[strlen("example.com/log+")] ^= 1; /* the key ID */
    assert_int_equal(at_note_vkey_parse(vkey, &k2, &d), AT_EPARSE);

    struct at_checkpoint c = {.origin = "example.com/log", .size = 12345};
    memset(c.root, 0xab, 32);
    size_t tl, nl;
    char *text = at_checkpoint_text(&c, &tl);
    char *note = at_note_sign(text, tl, &k, sk, &nl);
    assert_string_equal(text,
                        "example.com/log\n12345\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n");
    assert_true(strncmp(note + tl, "\n\xe2\x80\x94 example.com/log ", 20) == 0);
    struct at_checkpoint got;
    assert_int_equal(at_checkpoint_open(note, nl, &k, &got, &d), 0);
    assert_int_equal(got.size, 12345);
    assert_memory_equal(got.root, c.root, 32);
    /* a changed size: the signature no longer verifies, and says which line */
    note[strlen("example.com/log\n1")] = '9';
    at_diag_clear(&d);
    assert_int_equal(at_checkpoint_open(note, nl, &k, &got, &d), AT_EPERM);
    assert_int_equal(d.line, 5);
    /* another key */
    unsigned char pk2[32], sk2[64];
    crypto_sign_keypair(pk2, sk2);
    at_note_key_init(&k2, "example.com/log", pk2);
    note[strlen("example.com/log\n1")] = '2';
    assert_int_equal(at_checkpoint_open(note, nl, &k2, &got, &d), AT_EPERM);
    free(note);
    /* malformed bodies name their line */
    assert_int_equal(at_checkpoint_parse("o\n01\nAA==\n", 10, &got, &d), AT_EPARSE);
    assert_int_equal(d.line, 2);
    assert_int_equal(at_checkpoint_parse("o\n1\nAA==\n", 9, &got, &d), AT_EPARSE);
    assert_int_equal(d.line, 3);
    assert_int_equal(at_note_open("a\n", 2, &k, &tl, &d), AT_EPARSE);
    free(text);
}

static void test_dsse(void **state)
{
    (void)state;
    unsigned char pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    const char *payload = "{\"a\":1}";
    struct at_buf pae;
    at_buf_init(&pae, 1 << 16);
    at_dsse_pae(&pae, AT_DSSE_INTOTO, payload, strlen(payload));
    /* DSSE protocol.md's PAE, byte for byte */
    assert_string_equal(at_buf_str(&pae), "DSSEv1 28 application/vnd.in-toto+json 7 {\"a\":1}");
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, (const unsigned char *)pae.p, pae.len, sk);
    at_buf_release(&pae);
    struct at_dsse_sig s = {"ed25519:k", sig, 64};
    size_t len;
    char *env = at_dsse_envelope(AT_DSSE_INTOTO, payload, strlen(payload), &s, 1, &len);
    struct at_dsse e;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_dsse_parse(env, len, &e, &d), 0);
    assert_int_equal(at_dsse_verify_ed25519(&e, "ed25519:k", pk), 0);
    assert_int_equal(at_dsse_verify_ed25519(&e, "ed25519:other", pk), AT_ENOENT);
    e.payload[1] = 'b';
    assert_int_equal(at_dsse_verify_ed25519(&e, "ed25519:k", pk), AT_EPERM);
    at_dsse_release(&e);
    free(env);
    const char *bad = "{\"payload\":\"!!\",\"payloadType\":\"x\",\"signatures\":[]}";
    assert_int_equal(at_dsse_parse(bad, strlen(bad), &e, &d), AT_ESCHEMA);
    assert_string_equal(d.pointer, "/payload");
}

/* docs/audit.md "The high-water mark": parsed back, and refused when it is
 * a checkpoint, another log's, or changed. */
static void test_hwm(void **state)
{
    (void)state;
    unsigned char pk[32], sk[64], leaf[32];
    crypto_sign_keypair(pk, sk);
    struct at_note_key k, k2;
    at_note_key_init(&k, "example.com/log", pk);
    at_note_key_init(&k2, "example.com/other", pk);
    const char *text = "atlas-audit-hwm/v1\nexample.com/log\n7\n9\n"
                       "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n";
    size_t nl;
    char *note = at_note_sign(text, strlen(text), &k, sk, &nl);
    uint64_t size = 0;
    int64_t next = 0;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_tlog_hwm_open(note, nl, &k, &size, &next, leaf, &d), 0);
    assert_int_equal(size, 7);
    assert_int_equal(next, 9);
    assert_int_equal(leaf[0], 0xab);
    /* a checkpoint is not a high-water mark, nor is another origin's */
    struct at_checkpoint c = {.origin = "example.com/log", .size = 7};
    size_t tl, cl;
    char *ct = at_checkpoint_text(&c, &tl);
    char *cn = at_note_sign(ct, tl, &k, sk, &cl);
    assert_int_equal(at_tlog_hwm_open(cn, cl, &k, &size, &next, leaf, &d), AT_EPARSE);
    char *other = at_note_sign(text, strlen(text), &k2, sk, &cl);
    assert_int_equal(at_tlog_hwm_open(other, cl, &k2, &size, &next, leaf, &d), AT_EPARSE);
    /* a changed size does not verify */
    note[strlen("atlas-audit-hwm/v1\nexample.com/log\n")] = '8';
    assert_int_equal(at_tlog_hwm_open(note, nl, &k, &size, &next, leaf, &d), AT_EPERM);
    free(note);
    free(ct);
    free(cn);
    free(other);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6962_vectors),
        cmocka_unit_test(test_python_oracle),
        cmocka_unit_test(test_note_checkpoint),
        cmocka_unit_test(test_dsse),
        cmocka_unit_test(test_hwm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
