/*
 * dsse.h - DSSE envelopes (github.com/secure-systems-lab/dsse, v1.0
 * "envelope.md" and "protocol.md"): {"payload": base64, "payloadType",
 * "signatures": [{"keyid", "sig": base64}]}, each signature over the PAE
 * "DSSEv1 <len(type)> <type> <len(payload)> <payload>".
 *
 * The audit trail signs in-toto Statements (AT_DSSE_INTOTO) with Ed25519
 * (signatures whose keyid starts "ed25519:"); an execution receipt may
 * carry a second signature by a TPM key (keyid "tpm:..."), checked by the
 * caller.  Parsers take hostile input: bounded (AT_DSSE_MAX), located
 * errors (a JSON Pointer) in d.  Thread-safe.
 */
#ifndef AT_TLOG_DSSE_H
#define AT_TLOG_DSSE_H

#include "base/buf.h"
#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

#define AT_DSSE_INTOTO "application/vnd.in-toto+json"
#define AT_DSSE_MAX (1u << 20)
#define AT_DSSE_SIGS_MAX 8

/* The PAE of (type, payload) appended to b. */
int at_dsse_pae(struct at_buf *b, const char *type, const void *payload, size_t len);

/* A signature to put in an envelope. */
struct at_dsse_sig {
    const char *keyid;
    const unsigned char *sig;
    size_t len;
};

/* The compact envelope (keys sorted) of payload with signatures sigs[0..n):
 * caller frees; *out_len its length. */
char *at_dsse_envelope(const char *type, const void *payload, size_t len,
                       const struct at_dsse_sig *sigs, size_t n, size_t *out_len);

/* An opened envelope.  Release with at_dsse_release. */
struct at_dsse {
    char type[128];
    unsigned char *payload;
    size_t payload_len;
    size_t nsigs;
    char keyid[AT_DSSE_SIGS_MAX][128];
    unsigned char sig[AT_DSSE_SIGS_MAX][128];
    size_t sig_len[AT_DSSE_SIGS_MAX];
};
/* Parse env[0..len).  AT_EPARSE / AT_ESCHEMA (d names the member) when it
 * is not an envelope. */
int at_dsse_parse(const char *env, size_t len, struct at_dsse *out, struct at_diag *d);
/* 0 when a signature with keyid verifies as Ed25519 by pk over the PAE;
 * AT_ENOENT when no signature has that keyid; AT_EPERM when it does not
 * verify. */
int at_dsse_verify_ed25519(const struct at_dsse *e, const char *keyid, const unsigned char pk[32]);
void at_dsse_release(struct at_dsse *e);

#endif
