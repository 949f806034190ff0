/*
 * sqlite_side.c - the connection the side stores of the SQLite file open
 * (sqlite_side.h).
 */
#include "store/sqlite_side.h"

#include "base/err.h"
#include "base/log.h"

#include <stddef.h>

int at__store_side_open(const char *path, const char *table, const char *what, sqlite3 **out,
                        struct at_diag *d)
{
    *out = NULL;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        at_diag_set(d, AT_EIO, path, 0, 0, "cannot open the database for %s: %s", what,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return AT_EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name=?1", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        at_diag_set(d, AT_ESTATE, path, 0, 0,
                    "the %s table of %s is missing (the store is not migrated)", table, what);
        sqlite3_close(db);
        return AT_ESTATE;
    }
    sqlite3_finalize(st);
    *out = db;
    return 0;
}

int at__store_side_err(sqlite3 *db, int rc, const char *what, const char *op)
{
    at_error("store", "%s: %s: %s", what, op, sqlite3_errmsg(db));
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return AT_EBUSY;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return AT_EEXIST;
    return AT_EIO;
}
