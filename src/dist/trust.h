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
 * "source"} (and "served": the serving atlasd's review_status, downloads
 * and rating when the artifact carries them, checked for shape).  Errors: AT_EINVAL when the
 * manifest is not an agent's or names another content digest, AT_EPERM for a signature by a trusted
 * key that does not verify or that is for another manifest. */
int at_dist_artifact_trust(const json_t *artifact, const char *content_digest,
                           const json_t *trusted, json_t **out, struct at_diag *d);

/* registry.policy (the config's object, NULL: none) against trust (a
 * view: review_status is compared with minimum_review_status):
 * AT_EPERM naming the rule ("registry.policy.allow_unsigned is false:
 * NAME is not signed by a trusted key") or 0. */
int at_dist_policy_check(const json_t *policy, const json_t *trust, const char *agent,
                         struct at_diag *d);

/* Skills' artifacts (docs/skills.md "Marketplace"): their artifactType. */
#define AT_DIST_SKILL_ARTIFACT "application/vnd.atlas.skill.v1"
#define AT_DIST_SKILL_LAYER "application/vnd.atlas.skill.definition.v1+json"

/* The trust of a pulled skill from artifact ({"manifest": TEXT,
 * "definition": the definition layer's TEXT, "signatures": [ENVELOPE
 * TEXT, ...], "source": REF}): the manifest must be a skill's whose one
 * layer is that definition (by digest); its signatures are checked as an
 * agent's (at_sig_check against trusted).  *out as at_dist_artifact_trust
 * (always set).  AT_EINVAL for a mismatch, AT_EPERM for tampering. */
int at_dist_skill_trust(const json_t *artifact, const json_t *trusted, json_t **out,
                        struct at_diag *d);
/* {"signed": false, "verified": false, ...}: the trust of what came from no
 * artifact (a new object). */
json_t *at_dist_unsigned_trust(void);

/* Keep / read the trust of a content digest (a new object, or NULL). */
int at_dist_trust_record(const char *data_dir, const char *content_digest, const json_t *trust);
json_t *at_dist_trust_lookup(const char *data_dir, const char *content_digest);

/* What the serving atlasd records of a content digest (DATA/stats/<hex>.json,
 * one writer at a time): {"review": {"status", "note", "by", "at"},
 * "downloads": N, "ratings": {WHO: 1..5}}. */
/* status: unreviewed | community | verified; note may be NULL. */
int at_dist_review_set(const char *data_dir, const char *content_digest, const char *status,
                       const char *note, const char *by, struct at_diag *d);
/* who's rating (1 to 5) replaces their earlier one. */
int at_dist_rate(const char *data_dir, const char *content_digest, const char *who, int stars,
                 struct at_diag *d);
/* One more download (a GET of the manifest from /v2/). */
void at_dist_download(const char *data_dir, const char *content_digest);
/* What /v2/ serves of it to a puller: a new {"review_status", "downloads",
 * "rating" (number or null), "ratings" (count)}, this atlasd's view. */
json_t *at_dist_served(const char *data_dir, const char *content_digest);
/* The trust block shown (describe, the agent JSON): the recorded trust
 * (at_dist_trust_lookup, or unsigned) with review_status, downloads and
 * rating computed from this atlasd's records and those the agent was
 * pulled with ("served" in the record).  A new object. */
json_t *at_dist_trust_view(const char *data_dir, const char *content_digest);
/* The same from trust (NULL: unsigned) instead of the recorded one. */
json_t *at_dist_trust_combine(const char *data_dir, const char *content_digest,
                              const json_t *trust);
/* 0 unreviewed, 1 community, 2 verified, -1 anything else. */
int at_dist_review_rank(const char *status);

#endif
