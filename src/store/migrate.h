/*
 * migrate.h - moving a SQLite store into PostgreSQL (atlas migrate,
 * docs/postgres.md "Moving an installation").
 *
 * Copies the control-plane tables (agents, chains, kv, jobs, usage,
 * job_logs, spans, evals, eval_results) from the SQLite file at path into
 * the empty PostgreSQL database at url in one PostgreSQL transaction, read
 * from one SQLite read transaction (a consistent snapshot), then verifies
 * every table: its row count and a SHA-256 digest of its rows in primary key
 * order, computed the same way on both sides.  The side tables (sec_*,
 * tlog_*, approvals, a2a_push, skills') stay in the SQLite file, which
 * atlasd keeps as its local file on the postgres backend.
 *
 * Not thread-safe (one call at a time); blocking.  Library code: it prints
 * nothing, progress goes to the callback.
 */
#ifndef AT_STORE_MIGRATE_H
#define AT_STORE_MIGRATE_H

#include "base/diag.h"

#include <jansson.h>

/* Called after each batch of rows of a table and once at its end
 * (done == total). */
typedef void (*at_store_migrate_fn)(void *arg, const char *table, long long done, long long total);

/* Returns 0 with *report {"from", "schema_version", "tables": [{"table",
 * "rows", "digest"}], "rows", "repaired_texts"} (caller decrefs); AT_ENOENT
 * (no SQLite store at path), AT_EEXIST (the database already has
 * control-plane rows: nothing is copied), AT_EBUSY (an atlasd holds the
 * database), AT_EIO (d says what failed; on a failed copy or verification
 * nothing stays in the database). */
int at_store_migrate(const char *path, const char *url, at_store_migrate_fn progress, void *arg,
                     json_t **report, struct at_diag *d);

#endif
