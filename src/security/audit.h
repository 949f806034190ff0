/*
 * audit.h - the audit of security events (docs/security.md "Audit
 * records"): token use, token creation and revocation, denials, role
 * changes, secrets set or deleted, sandbox refusals; who, what, when, from
 * where, in the store (sec_audit) with a stable shape.
 *
 * Denials are recorded at most AT_AUDIT_DENIALS_PER_S per second (the
 * rest are counted and the count recorded with the next one), so that a
 * flood of bad requests cannot fill the disk.  Thread-safe.
 */
#ifndef AT_SECURITY_AUDIT_H
#define AT_SECURITY_AUDIT_H

#include "store/store.h"

#define AT_AUDIT_DENIALS_PER_S 20

struct at_audit;

#define AT_AUDIT_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL */

/* The sink of the audit trail (tlog/, docs/audit.md): every record the
 * audit accepts (after the denial rate limit), semantic logs and
 * execution receipts included, is handed to fn on the recording thread.
 * fn must copy what it keeps and must not block. */
typedef void (*at_audit_sink_fn)(void *arg, const struct at_audit_rec *r);

/* ss may be NULL (records are then only logged).  Caller frees. */
struct at_audit *at_audit_new(struct at_secstore *ss);
void at_audit_free(struct at_audit *a);
/* Record r (r->event required); logged at info (denials at warn). */
void at_audit_record(struct at_audit *a, const struct at_audit_rec *r);
/* Set (fn NULL: clear) the sink; safe against concurrent at_audit_record.
 * Records from before the first sink (the daemon's start-up) are kept, at
 * most 256 in order, and handed to it first (an "audit.dropped" event
 * counts any beyond); once a sink has been set nothing is kept. */
void at_audit_set_sink(struct at_audit *a, at_audit_sink_fn fn, void *arg);
/* The content digest of a record (docs/audit.md "Digests"): "sha256:" and
 * the hex SHA-256 of data serialised compact with sorted keys.  An
 * execution receipt names the semantic log it executes by this digest
 * (its "semantic_log" member).  0, or AT_EINVAL when data is NULL. */
int at_audit_digest(const json_t *data, char out[AT_AUDIT_DIGEST_MAX]);

#endif
