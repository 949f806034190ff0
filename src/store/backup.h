/*
 * backup.h - the SQLite store's file as a whole: a consistent online copy
 * (SQLite's backup API), an integrity check, and a few read-only queries,
 * all on the database path with a connection of their own.
 *
 * These work beside a running atlasd (another process) as well as on a
 * stopped one: SQLite's locking (WAL) gives each a consistent view.  They do
 * not use struct at_store (nothing here needs the daemon's connections).
 * Thread-safe: every call opens and closes its own connection.
 */
#ifndef AT_STORE_BACKUP_H
#define AT_STORE_BACKUP_H

#include "base/diag.h"

#include <jansson.h>

/* Copy the database at src into a new file dst (which must not exist) in one
 * read transaction (sqlite3_backup_step(-1): the copy is the database as of
 * one commit, whatever is being written meanwhile).  dst is written with mode
 * 0600, complete or not at all (through dst.tmp and a rename).  Returns 0,
 * AT_ENOENT (no database at src), AT_EEXIST (dst exists) or AT_EIO with d
 * saying what SQLite answered. */
int at_store_backup(const char *src, const char *dst, struct at_diag *d);

/* PRAGMA quick_check (full: integrity_check) on the database at path, opened
 * read-only.  Returns 0 when SQLite answers "ok"; AT_EIO with the first
 * problem in d; AT_ENOENT when there is no database. */
int at_store_check(const char *path, int full, struct at_diag *d);

/* What a backup records about the database at path (read-only):
 * {"schema_version": N, "agents": [{"name","version","digest","kind"}...],
 *  "jobs": N, "chains": N, "backend": "sqlite" | "postgres"} ("postgres": the
 * local file of a PostgreSQL store, which holds no jobs or agents).  Caller decrefs *out. */
int at_store_describe(const char *path, json_t **out, struct at_diag *d);

#endif
