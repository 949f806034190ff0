/*
 * sqlite_side.h - what the side stores of the SQLite file share
 * (sqlite_a2a.c, sqlite_approvals.c, sqlite_tlog.c; private to
 * src/store/): each opens a connection of its own to the migrated
 * database, behind its own mutex, so its writes never wait behind the
 * store's writer queue.
 */
#ifndef AT_STORE_SQLITE_SIDE_H
#define AT_STORE_SQLITE_SIDE_H

#include "base/diag.h"

#include <sqlite3.h>

/* Open the database at path for the store named what (in messages),
 * whose table must exist: WAL, synchronous=FULL (a write reported done
 * survives a power loss), a 5 s busy timeout.  0 and *out, or AT_EIO
 * (cannot open), AT_ESTATE (table missing: the store is not migrated)
 * with d. */
int at__store_side_open(const char *path, const char *table, const char *what, sqlite3 **out,
                        struct at_diag *d);
/* Log SQLite's error of the operation op of the store what, and map rc:
 * AT_EBUSY (busy, locked), AT_EEXIST (a constraint), else AT_EIO. */
int at__store_side_err(sqlite3 *db, int rc, const char *what, const char *op);

#endif
