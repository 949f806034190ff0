/*
 * trust.h - what the daemon knows of an agent version's provenance and
 * what registry.policy requires of it (docs/distribution.md "Trust and
 * policy").
 *
 * The trusted keys are DATA/trust.json ({"publishers": {PUBLISHER:
 * ["ed25519:...", ...]}}, written through at_dist_trust_add, which
 * serialises writers with a process-wide lock).  A registration from a
 * pull carries the artifact: the manifest's bytes and the signature
 * envelopes found as its referrers; the daemon checks them itself
 * (at_dist_artifact_trust) and keeps the result beside the snapshot,
 * DATA/trust/<content hex>.json, for `atlas describe`.  Thread-safe.
 */
#ifndef AT_DIST_TRUST_H
#define AT_DIST_TRUST_H

#include "base/diag.h"

#include <jansson.h>

/* The trusted keys ({PUBLISHER: [KEY, ...]}, a new object; empty when none). */
json_t *at_dist_trust_keys(const char *data_dir);
/* Trust key (ed25519:BASE64) for publisher.  *added: 0 when it was already. */
int at_dist_trust_add(const char *data_dir, const char *publisher, const char *key, int *added,
                      struct at_diag *d);

/* The trust of an agent whose snapshot has content_digest, from artifact
 * ({"manifest": TEXT, "signatures": [ENVELOPE TEXT, ...], "source": REF},
 * NULL for a registration from a directory or a remote): a new object
 * {"publisher", "signed", "verified", "signature", "keyid", "manifest",
 * "source"}.  Errors: AT_EINVAL when the manifest is not an agent's or
 * names another content digest, AT_EPERM for a signature by a trusted
 * key that does not verify or that is for another manifest. */
int at_dist_artifact_trust(const json_t *artifact, const char *content_digest,
                           const json_t *trusted, json_t **out, struct at_diag *d);

/* registry.policy (the config's object, NULL: none) against trust:
 * AT_EPERM naming the rule ("registry.policy.allow_unsigned is false:
 * NAME is not signed by a trusted key") or 0. */
int at_dist_policy_check(const json_t *policy, const json_t *trust, const char *agent,
                         struct at_diag *d);

/* Keep / read the trust of a content digest (a new object, or NULL). */
int at_dist_trust_record(const char *data_dir, const char *content_digest, const json_t *trust);
json_t *at_dist_trust_lookup(const char *data_dir, const char *content_digest);

#endif
