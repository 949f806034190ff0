/*
 * bundle.h - the audit trail's export bundle and its offline verifier
 * (docs/audit.md "Bundle" and "Verifying offline").
 *
 * A bundle is one JSON object: {"format": AT_TLOG_BUNDLE_FORMAT, "origin",
 * "public_key": "ed25519:<base64>", "vkey" (the signed-note verifier key),
 * "keyid" (the DSSE keyid), "entries": [{"index", "kind", "envelope": the
 * exact bytes of the DSSE envelope as a string}], "checkpoints": [signed
 * notes], "proofs": {"inclusion": [{"index", "tree_size", "hashes"}],
 * "consistency": [{"from", "to", "hashes"}]}}; hashes are base64.
 *
 * The verifier takes a hostile bundle (bounded, errors name the member).
 * Thread-safe.
 */
#ifndef AT_TLOG_BUNDLE_H
#define AT_TLOG_BUNDLE_H

#include "base/diag.h"
#include "tlog/merkle.h"

#include <jansson.h>
#include <stdint.h>

#define AT_TLOG_BUNDLE_ENTRIES_MAX (1u << 22)
#define AT_TLOG_BUNDLE_CHECKPOINTS_MAX 100000
#define AT_TLOG_BUNDLE_MAX (1024u << 20)

/* The DSSE keyid of pk: "ed25519:" + the first 16 hex digits of SHA-256(pk). */
void at_tlog_keyid(const unsigned char pk[32], char out[64]);
/* "ed25519:<base64 of pk>". */
void at_tlog_public_text(const unsigned char pk[32], char out[64]);
/* [base64, ...] of p[0..k).  New reference. */
json_t *at_tlog_hashes_json(const at_merkle_hash *p, size_t k);
/* Append {index, kind, envelope} to the array entries. */
void at_tlog_bundle_add_entry(json_t *entries, int64_t idx, const char *kind, const void *env,
                              size_t len);
/* Add "proofs" to bundle, computed from its entries and checkpoints: the
 * inclusion of each entry in the first checkpoint that covers it, and the
 * consistency of each checkpoint with the next. */
void at_tlog_bundle_add_proofs(json_t *bundle);

/* Verify bundle offline: every signature, the tree against every signed
 * checkpoint, the proofs, and (from_note not NULL) that the log extends
 * that checkpoint.  trusted_vkey (NULL: the bundle's own key) is the key
 * the log must be signed by.  0 with *report (new reference: {"ok",
 * "problems": [{"index", "problem", "detail"}], counts...}) whether or not
 * problems were found; AT_EPARSE/AT_ESCHEMA/AT_EUNSUPPORTED for a bundle
 * that is not one, AT_EPERM for a trusted key or --from checkpoint that
 * does not match (d says which). */
int at_tlog_verify(const json_t *bundle, const char *trusted_vkey, const char *from_note,
                   json_t **report, struct at_diag *d);

#endif
