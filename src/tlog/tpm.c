/*
 * tpm.c - the TPM 2.0 co-signer of execution receipts (tpm.h).
 */
#include "tlog/tpm.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

struct at_tlog_tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *ctx;
    ESYS_TR key;
    pthread_mutex_t mu;
    char keyid[80];
    char pub[128];
};

/* The primary key's template: ECDSA P-256 with SHA-256, unrestricted, so it
 * signs digests computed outside the TPM (TPM 2.0 Part 3 §20.2). */
static const TPM2B_PUBLIC key_template = {
    .publicArea =
        {
            .type = TPM2_ALG_ECC,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                                TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                TPMA_OBJECT_USERWITHAUTH,
            .parameters.eccDetail =
                {
                    .symmetric = {.algorithm = TPM2_ALG_NULL},
                    .scheme = {.scheme = TPM2_ALG_ECDSA,
                               .details = {.ecdsa = {.hashAlg = TPM2_ALG_SHA256}}},
                    .curveID = TPM2_ECC_NIST_P256,
                    .kdf = {.scheme = TPM2_ALG_NULL},
                },
        },
};

void at_tlog_tpm_close(struct at_tlog_tpm *t)
{
    if (!t)
        return;
    if (t->ctx) {
        if (t->key != ESYS_TR_NONE)
            Esys_FlushContext(t->ctx, t->key);
        Esys_Finalize(&t->ctx);
    }
    if (t->tcti)
        Tss2_TctiLdr_Finalize(&t->tcti);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int at_tlog_tpm_open(const char *tcti, const char *data_dir, struct at_tlog_tpm **out,
                     struct at_diag *d)
{
    (void)data_dir;
    *out = NULL;
    struct at_tlog_tpm *t = at_calloc(1, sizeof(*t));
    t->key = ESYS_TR_NONE;
    pthread_mutex_init(&t->mu, NULL);
    TSS2_RC r = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
    const char *step = "open the TCTI";
    if (r == TSS2_RC_SUCCESS) {
        step = "start ESAPI";
        r = Esys_Initialize(&t->ctx, t->tcti, NULL);
    }
    if (r == TSS2_RC_SUCCESS) {
        step = "start the TPM";
        r = Esys_Startup(t->ctx, TPM2_SU_CLEAR);
        if ((r & ~TSS2_RC_LAYER_MASK) == TPM2_RC_INITIALIZE)
            r = TSS2_RC_SUCCESS; /* already started */
    }
    TPM2B_PUBLIC *pub = NULL;
    if (r == TSS2_RC_SUCCESS) {
        step = "create the signing key";
        TPM2B_SENSITIVE_CREATE sens = {0};
        TPM2B_DATA outside = {0};
        TPML_PCR_SELECTION pcrs = {0};
        r = Esys_CreatePrimary(t->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &sens, &key_template, &outside, &pcrs, &t->key, &pub,
                               NULL, NULL, NULL);
    }
    if (r != TSS2_RC_SUCCESS) {
        at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0, "audit.tpm \"%s\": cannot %s: %s", tcti, step,
                    Tss2_RC_Decode(r));
        Esys_Free(pub);
        at_tlog_tpm_close(t);
        return AT_EUNAVAIL;
    }
    const TPMS_ECC_POINT *q = &pub->publicArea.unique.ecc;
    unsigned char point[65] = {0x04};
    if (q->x.size > 32 || q->y.size > 32) {
        Esys_Free(pub);
        at_tlog_tpm_close(t);
        return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0, "audit.tpm: not a P-256 point");
    }
    memcpy(point + 1 + 32 - q->x.size, q->x.buffer, q->x.size);
    memcpy(point + 33 + 32 - q->y.size, q->y.buffer, q->y.size);
    Esys_Free(pub);
    memcpy(t->pub, "p256:", 5);
    sodium_bin2base64(t->pub + 5, sizeof(t->pub) - 5, point, sizeof(point),
                      sodium_base64_VARIANT_ORIGINAL);
    unsigned char h[32];
    crypto_hash_sha256(h, point, sizeof(point));
    memcpy(t->keyid, "tpm:", 4);
    sodium_bin2hex(t->keyid + 4, sizeof(t->keyid) - 4, h, 8);
    at_info("audit", "TPM co-signer %s (%s)", t->keyid, tcti);
    *out = t;
    return 0;
}

static void pad32(unsigned char *dst, const TPM2B_ECC_PARAMETER *p)
{
    memset(dst, 0, 32);
    size_t n = p->size > 32 ? 32 : p->size;
    memcpy(dst + 32 - n, p->buffer + (p->size - n), n);
}

static int tpm_sign(void *arg, const unsigned char *msg, size_t len, unsigned char *sig,
                    size_t *sig_len)
{
    struct at_tlog_tpm *t = arg;
    TPM2B_DIGEST dg = {.size = 32};
    crypto_hash_sha256(dg.buffer, msg, len);
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_ECDSA,
                              .details = {.ecdsa = {.hashAlg = TPM2_ALG_SHA256}}};
    TPMT_TK_HASHCHECK none = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
    TPMT_SIGNATURE *s = NULL;
    pthread_mutex_lock(&t->mu);
    TSS2_RC r = Esys_Sign(t->ctx, t->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &dg,
                          &scheme, &none, &s);
    pthread_mutex_unlock(&t->mu);
    if (r != TSS2_RC_SUCCESS) {
        at_warn("audit", "TPM sign: %s", Tss2_RC_Decode(r));
        return AT_EIO;
    }
    pad32(sig, &s->signature.ecdsa.signatureR);
    pad32(sig + 32, &s->signature.ecdsa.signatureS);
    *sig_len = 64;
    Esys_Free(s);
    return 0;
}

void at_tlog_tpm_cosigner(struct at_tlog_tpm *t, struct at_tlog_cosigner *co)
{
    co->keyid = t->keyid;
    co->sign = tpm_sign;
    co->arg = t;
    co->public_key = t->pub;
}

int at_tlog_tpm_verify(const char *public_key, const unsigned char *msg, size_t mlen,
                       const unsigned char *sig, size_t len)
{
    unsigned char point[65];
    size_t n = 0;
    if (!public_key || strncmp(public_key, "p256:", 5) != 0 ||
        sodium_base642bin(point, sizeof(point), public_key + 5, strlen(public_key + 5), NULL, &n,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != 65 || point[0] != 0x04)
        return AT_EINVAL;
    if (len != 64)
        return AT_EPERM;
    gnutls_pubkey_t pk;
    if (gnutls_pubkey_init(&pk) < 0)
        return AT_EINTERNAL;
    gnutls_datum_t x = {point + 1, 32}, y = {point + 33, 32};
    int rc = AT_EINVAL;
    if (gnutls_pubkey_import_ecc_raw(pk, GNUTLS_ECC_CURVE_SECP256R1, &x, &y) >= 0) {
        gnutls_datum_t r = {(unsigned char *)sig, 32}, s = {(unsigned char *)sig + 32, 32};
        gnutls_datum_t der = {NULL, 0};
        gnutls_datum_t data = {(unsigned char *)msg, (unsigned)mlen};
        rc = AT_EPERM;
        if (gnutls_encode_rs_value(&der, &r, &s) >= 0 &&
            gnutls_pubkey_verify_data2(pk, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der) >= 0)
            rc = 0;
        gnutls_free(der.data);
    }
    gnutls_pubkey_deinit(pk);
    return rc;
}
