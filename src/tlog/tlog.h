/*
 * tlog.h - the signed, tamper-evident audit trail (docs/audit.md).
 *
 * Every record (a security event of the audit, a semantic log, an
 * execution receipt) becomes an in-toto Statement v1 in a DSSE envelope
 * signed with the daemon's Ed25519 key, appended as a leaf to an RFC 6962
 * Merkle tree whose signed checkpoints (C2SP tlog-checkpoint in a signed
 * note) are made periodically and on demand.
 *
 *   audit funnel (any thread) ──at_tlog_audit_sink──┐
 *   store writer (job final) ──at_tlog_job_final────┼──▶ bounded queue ──▶ log thread
 *                                                   │     sign, hash, append a batch in one
 *                                                   │     transaction (tlog_entries), then the
 *                                                   │     tree in memory; checkpoints
 *
 * Submitting copies and enqueues (no signing, no disk): it never blocks.
 * A full queue (AT_TLOG_QUEUE_MAX) drops the record and counts it (the
 * count is in at_tlog_info and in the next "audit.dropped" event).  An
 * entry is in the tree only once its row is committed (crash-safe: the
 * tree is rebuilt from the rows at start).  Thread-safe.
 */
#ifndef AT_TLOG_TLOG_H
#define AT_TLOG_TLOG_H

#include "base/diag.h"
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

#define AT_TLOG_QUEUE_MAX 65536
#define AT_TLOG_BATCH 256
#define AT_TLOG_CHECKPOINT_MS 60000
#define AT_TLOG_EVENT "urn:atlas:audit:event:v1"
#define AT_TLOG_SEMANTIC "urn:atlas:audit:semantic:v1"
#define AT_TLOG_RECEIPT "urn:atlas:audit:receipt:v1"
#define AT_TLOG_STATEMENT "https://in-toto.io/Statement/v1"
#define AT_TLOG_BUNDLE_FORMAT "atlas-audit-bundle/v1"

/* A co-signer of execution receipts (the TPM, tlog/tpm.h): sign the PAE
 * msg[0..len) into sig (up to 128 bytes), *sig_len its length; 0 or an
 * AT_E* code (the receipt is then logged without the co-signature). */
struct at_tlog_cosigner {
    const char *keyid; /* "tpm:<hex of SHA-256 of the public key>" */
    int (*sign)(void *arg, const unsigned char *msg, size_t len, unsigned char *sig,
                size_t *sig_len);
    void *arg;
    const char *public_key; /* "p256:<base64 of the uncompressed point 04 X Y>", in the bundle */
};

struct at_tlog_cfg {
    const char *origin;          /* NULL: "atlas.local/<key id>" */
    int64_t checkpoint_every_ms; /* 0: AT_TLOG_CHECKPOINT_MS; < 0: on demand only */
    size_t queue_max;            /* 0: AT_TLOG_QUEUE_MAX */
    const char *node;            /* the node receipts name; NULL: the host name */
    /* the digest of agent name@version ("sha256:..."), asked on the log's
     * thread for each receipt; NULL: receipts carry no agent digest */
    int (*agent_digest)(void *arg, const char *name, const char *version, char out[80]);
    void *agent_arg;
    const struct at_tlog_cosigner *cosigner; /* NULL: none (copied) */
    /* the spool: every accepted record is appended here before submit
     * returns, and what a crash left is written at the next start (NULL:
     * no spool, a crash loses the queue) */
    const char *spool_path;
    int spool_sync; /* fdatasync each spooled record (power loss too) */
    /* the signed high-water mark (NULL: none): the size and last leaf of
     * the tree, rewritten after each batch and checked at start */
    const char *hwm_path;
    int64_t test_stall_ms;     /* tests only: the log thread waits this long before each batch */
    size_t spool_rotate_bytes; /* 0: 16 MiB; the spool is set aside for a new file beyond it */
};

struct at_tlog;
/* Load the tree from ts (borrowed, outlives the log) and start the log's
 * thread.  pk/sk: the daemon's key (security/secret.h at_seckey_signing;
 * copied).  Caller frees with at_tlog_free, which writes what is queued and
 * a last checkpoint. */
int at_tlog_new(struct at_tlogstore *ts, const unsigned char pk[32], const unsigned char sk[64],
                const struct at_tlog_cfg *cfg, struct at_tlog **out, struct at_diag *d);
void at_tlog_free(struct at_tlog *t);

/* The audit funnel's sink (security/audit.h at_audit_sink_fn; arg: the
 * log).  Accepts kind NULL/"event" (the record's fields), "semantic" and
 * "receipt" (r->data, an object; see docs/audit.md "Records"). */
void at_tlog_audit_sink(void *arg, const struct at_audit_rec *r);
/* The execution receipt of a finished job (an engine observer's on_final:
 * copies rec). */
void at_tlog_job_final(struct at_tlog *t, const struct at_job_rec *rec);
/* Enqueue one record: kind "event" | "semantic" | "receipt", content an
 * object (stolen).  AT_EBUSY when the queue is full (dropped, counted),
 * AT_EINVAL for another kind. */
int at_tlog_submit(struct at_tlog *t, const char *kind, json_t *content);
/* Wait until everything submitted before the call is committed. */
void at_tlog_sync(struct at_tlog *t);

/* Sync, then sign and store a checkpoint of the current tree (the latest
 * one again when nothing was added).  *note: caller frees.  AT_ESTATE when
 * the store's entries did not match the latest checkpoint at start (or had
 * gaps): the log never signs over history it cannot vouch for. */
int at_tlog_checkpoint(struct at_tlog *t, char **note, uint64_t *size);
/* {origin, size, checkpoint_size, root, public_key, vkey, keyid, queued,
 * dropped, cosigner, tampered, breaks, high_water, spool}. New reference. */
json_t *at_tlog_info(struct at_tlog *t);
#define AT_TLOG_BREAK_ACCEPTED "audit.break_accepted"
/* Accept the break the start-up check found (docs/audit.md "Accepting a
 * break"): append a signed semantic record of it (by, why, what was found,
 * the old checkpoint and the store's root), then sign checkpoints again.
 * *out: {accepted: the record, note, size}.  AT_ENOENT when the log is not
 * marked tampered. */
int at_tlog_accept(struct at_tlog *t, const char *by, const char *why, json_t **out);
struct at_note_key;
/* Open a high-water mark note (signed by key): the tree's size, the next
 * index to issue (next may be NULL) and the last leaf hash.  AT_EPARSE /
 * AT_EPERM with d filled (d may be NULL). */
int at_tlog_hwm_open(const char *note, size_t len, const struct at_note_key *key, uint64_t *size,
                     int64_t *next, unsigned char leaf[32], struct at_diag *d);
/* {index, tree_size, leaf_hash, hashes: [base64]} for the leaf at index in
 * the tree of size (0: the current size).  AT_EINVAL out of range. */
int at_tlog_inclusion(struct at_tlog *t, uint64_t index, uint64_t size, json_t **out);
/* {from, to, hashes} (to 0: the current size).  AT_EINVAL out of range. */
int at_tlog_consistency(struct at_tlog *t, uint64_t from, uint64_t to, json_t **out);
/* Sync and checkpoint, then the bundle of what the store holds (docs/audit.md
 * "Bundle"): entries as stored, checkpoints, keys, proofs.  New reference. */
int at_tlog_export(struct at_tlog *t, json_t **out);

#endif
