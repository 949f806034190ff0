/*
 * sign.h - signatures of agent artifacts: Ed25519 (libsodium) over the
 * manifest digest, in a DSSE envelope (github.com/secure-systems-lab/dsse,
 * v1.0) stored as an OCI 1.1 referrer of the agent manifest
 * (docs/distribution.md "Signing").
 *
 * The envelope's payload (type AT_SIG_PAYLOAD_TYPE) is
 * {"manifest": {"digest", "mediaType", "size"}, "name", "publisher",
 * "version"} as sorted compact JSON; the signature is over DSSE's PAE:
 * "DSSEv1 <len(type)> <type> <len(payload)> <payload>".  Keys are written
 * "ed25519:<base64 of the 32-byte public key>"; a key's id is the first 16
 * hex digits of the SHA-256 of the public key bytes.  Parsers take hostile
 * input (bounded, located errors).  Thread-safe.
 */
#ifndef AT_DIST_SIGN_H
#define AT_DIST_SIGN_H

#include "base/diag.h"
#include "dist/oci.h"

#include <jansson.h>
#include <sodium.h>
#include <stddef.h>

#define AT_SIG_ENVELOPE_TYPE "application/vnd.dsse.envelope.v1+json"
#define AT_SIG_PAYLOAD_TYPE "application/vnd.atlas.agent.signature.v1+json"
#define AT_SIG_ANN_PUBLISHER "vnd.atlas.signature.publisher"
#define AT_SIG_ENVELOPE_MAX (64u << 10)
#define AT_SIG_KEYID_LEN 17 /* 16 hex + NUL */
#define AT_SIG_PUBTEXT_MAX 64

/* "ed25519:<base64>" of pk. */
void at_sig_public_text(const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
                        char out[AT_SIG_PUBTEXT_MAX]);
/* Parse "ed25519:<base64>": 0 or AT_EINVAL. */
int at_sig_public_parse(const char *text, unsigned char pk[crypto_sign_PUBLICKEYBYTES]);
void at_sig_keyid(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[AT_SIG_KEYID_LEN]);

/* The DSSE envelope signing the manifest (digest, size) of agent
 * name:version for publisher with secret key sk: serialised, caller frees,
 * *len its length. */
char *at_sig_envelope(const char *publisher, const char *name, const char *version,
                      const char *manifest_digest, int64_t manifest_size,
                      const unsigned char sk[crypto_sign_SECRETKEYBYTES], size_t *len);

/* The referrer manifest holding envelope (digest, size) for subject
 * (the agent manifest's digest and size): serialised, caller frees. */
char *at_sig_referrer_manifest(const char *envelope_digest, int64_t envelope_size,
                               const char *subject_digest, int64_t subject_size,
                               const char *publisher, size_t *len);

/* The content of the empty config blob ("{}") and its digest. */
#define AT_OCI_EMPTY_JSON "{}"
#define AT_OCI_EMPTY_DIGEST                                                                        \
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* What checking an envelope found. */
struct at_sig_check {
    int verified; /* a trusted key of the publisher signed this manifest */
    char publisher[128];
    char keyid[AT_SIG_KEYID_LEN]; /* the key that verified, or the first named */
    char why[256];                /* when not verified: why not */
};

/* Check the envelope (len bytes) against manifest_digest and trust, an
 * object {PUBLISHER: ["ed25519:...", ...]} (borrowed; NULL: none).
 * Returns 0 with c filled (verified or not: an untrusted key is not an
 * error), AT_EPARSE/AT_ESCHEMA for an envelope that is not one (d says
 * where), AT_EPERM for a signature by a trusted key that does not verify
 * or an envelope for another manifest (tampering). */
int at_sig_check(const char *envelope, size_t len, const char *manifest_digest, const json_t *trust,
                 struct at_sig_check *c, struct at_diag *d);

#endif
