/*
 * tpm.h - the TPM 2.0 co-signer of execution receipts (docs/audit.md
 * "TPM"): an ECDSA P-256 primary key in the owner hierarchy (created from
 * the TPM's seed with a fixed template, so the same key on every start),
 * through libtss2's ESAPI and a TCTI named like tpm2-tools' ("device:/dev/
 * tpmrm0", "swtpm:host=127.0.0.1,port=2321").  Signatures are IEEE P1363
 * (r || s, 64 bytes) over SHA-256 of the DSSE PAE; the key's public point
 * is published in the bundle and checked by at_tlog_tpm_verify.
 *
 * One TPM context, used from the log's thread (a mutex guards it).
 */
#ifndef AT_TLOG_TPM_H
#define AT_TLOG_TPM_H

#include "base/diag.h"
#include "tlog/tlog.h"

#include <stddef.h>

struct at_tlog_tpm;

/* Open the TPM through tcti, start it if needed, create the signing key.
 * AT_EUNAVAIL with d saying why when there is no TPM there. */
int at_tlog_tpm_open(const char *tcti, const char *data_dir, struct at_tlog_tpm **out,
                     struct at_diag *d);
void at_tlog_tpm_close(struct at_tlog_tpm *t);
/* Fill co with the co-signer of t (valid until at_tlog_tpm_close). */
void at_tlog_tpm_cosigner(struct at_tlog_tpm *t, struct at_tlog_cosigner *co);
/* 0 when sig[0..len) is a P1363 ECDSA P-256 signature over SHA-256 of
 * msg by the key public_key ("p256:<base64 of 04 || X || Y>"); AT_EPERM
 * when not, AT_EINVAL for a malformed key. */
int at_tlog_tpm_verify(const char *public_key, const unsigned char *msg, size_t mlen,
                       const unsigned char *sig, size_t len);

#endif
