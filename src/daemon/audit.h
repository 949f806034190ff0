/*
 * audit.h - atlasd's audit trail brought up (docs/audit.md): the signed
 * Merkle tree log (tlog/) fed by the audit funnel (security/audit.h) and
 * by an engine observer that writes every finished job's execution
 * receipt; the TPM co-signer when one is configured.
 */
#ifndef AT_DAEMON_AUDIT_H
#define AT_DAEMON_AUDIT_H

#include "base/diag.h"
#include "contract/config.h"
#include "exec/engine.h"
#include "registry/registry.h"
#include "security/audit.h"
#include "tlog/tlog.h"

struct at_daemon_audit {
    struct at_tlogstore *ts;
    struct at_tlog *log;
    struct at_audit *funnel; /* borrowed: the security layer's */
    struct at_registry *registry;
    struct at_tlog_tpm *tpm;
};

/* Open the log in db (migrated), sign with the data directory's key and
 * feed it from funnel.  d explains failures. */
int at_daemon_audit_start(struct at_daemon_audit *a, const struct at_config *config,
                          const char *data_dir, const char *db, struct at_audit *funnel,
                          struct at_diag *d);
/* The registry (agent digests of receipts) and the engine observer; before
 * at_engine_start. */
int at_daemon_audit_attach(struct at_daemon_audit *a, struct at_registry *registry,
                           struct at_engine *engine);
/* After the engine and the writer have stopped (no more receipts). */
void at_daemon_audit_stop(struct at_daemon_audit *a);

#endif
