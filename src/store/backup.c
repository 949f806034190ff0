/*
 * backup.c - online copy and checks of the SQLite store file (backup.h).
 */
#include "store/backup.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_ro(const char *path, sqlite3 **db, struct at_diag *d)
{
    if (!at_fs_is_file(path))
        return at_diag_set(d, AT_ENOENT, path, 0, 0, "no database here");
    /* read-only, but not immutable: the WAL of a running daemon is read */
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        at_diag_set(d, AT_EIO, path, 0, 0, "cannot open: %s", sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return AT_EIO;
    }
    sqlite3_busy_timeout(*db, 10000);
    return 0;
}

int at_store_backup(const char *src, const char *dst, struct at_diag *d)
{
    if (access(dst, F_OK) == 0)
        return at_diag_set(d, AT_EEXIST, dst, 0, 0, "already exists");
    sqlite3 *from = NULL, *to = NULL;
    int rc = open_ro(src, &from, d);
    if (rc)
        return rc;
    char *tmp = at_asprintf("%s.tmp", dst);
    unlink(tmp);
    mode_t old = umask(077);
    int orc = sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    umask(old);
    if (orc != SQLITE_OK) {
        rc = at_diag_set(d, AT_EIO, tmp, 0, 0, "cannot create: %s", sqlite3_errmsg(to));
        goto out;
    }
    /* SQLite "Online Backup API": one step copies every page inside one read
     * transaction on the source, so the copy is one commit's state */
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) {
        rc = at_diag_set(d, AT_EIO, src, 0, 0, "cannot start the backup: %s", sqlite3_errmsg(to));
        goto out;
    }
    int st;
    while ((st = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || st == SQLITE_LOCKED)
        sqlite3_sleep(20);
    sqlite3_backup_finish(b);
    if (st != SQLITE_DONE) {
        rc = at_diag_set(d, AT_EIO, src, 0, 0, "backup failed: %s", sqlite3_errstr(st));
        goto out;
    }
    /* the copy keeps the source's WAL mode in its header; fold it into one
     * file so the backup is self-contained */
    if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = at_diag_set(d, AT_EIO, tmp, 0, 0, "cannot finish the copy: %s", sqlite3_errmsg(to));
        goto out;
    }
    if (sqlite3_close(to) != SQLITE_OK) {
        to = NULL;
        rc = at_diag_set(d, AT_EIO, tmp, 0, 0, "cannot close the copy");
        goto out;
    }
    to = NULL;
    if (rename(tmp, dst) != 0) {
        int e = errno;
        rc = at_diag_set(d, at_err_from_errno(e), dst, 0, 0, "cannot rename: %s", strerror(e));
    }
out:
    if (to)
        sqlite3_close(to);
    if (rc)
        unlink(tmp);
    free(tmp);
    sqlite3_close(from);
    return rc;
}

int at_store_check(const char *path, int full, struct at_diag *d)
{
    sqlite3 *db = NULL;
    int rc = open_ro(path, &db, d);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, full ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = at_diag_set(d, AT_EIO, path, 0, 0, "%s", sqlite3_errmsg(db));
        goto out;
    }
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = at_diag_set(d, AT_EIO, path, 0, 0, "%s", sqlite3_errmsg(db));
        goto out;
    }
    const char *ans = (const char *)sqlite3_column_text(st, 0);
    if (!ans || strcmp(ans, "ok") != 0)
        rc = at_diag_set(d, AT_EIO, path, 0, 0, "%s", ans ? ans : "no answer");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static long long count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int at_store_describe(const char *path, json_t **out, struct at_diag *d)
{
    sqlite3 *db = NULL;
    int rc = open_ro(path, &db, d);
    if (rc)
        return rc;
    json_t *o = json_object();
    json_t *agents = json_array();
    json_object_set_new(o, "schema_version", json_integer(count(db, "PRAGMA user_version")));
    json_object_set_new(o, "jobs", json_integer(count(db, "SELECT count(*) FROM jobs")));
    json_object_set_new(o, "chains", json_integer(count(db, "SELECT count(*) FROM chains")));
    /* atlasd marks the local file of a PostgreSQL store (daemon.c) */
    sqlite3_stmt *kv = NULL;
    const char *backend = "sqlite";
    if (sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key = 'atlas.store.backend'", -1, &kv,
                           NULL) == SQLITE_OK &&
        sqlite3_step(kv) == SQLITE_ROW && sqlite3_column_text(kv, 0))
        backend = (const char *)sqlite3_column_text(kv, 0);
    json_object_set_new(o, "backend", json_string(backend));
    sqlite3_finalize(kv);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT name, version, digest, kind FROM agents ORDER BY name, version",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = at_diag_set(d, AT_EIO, path, 0, 0, "cannot read the agents: %s", sqlite3_errmsg(db));
        json_decref(agents);
        json_decref(o);
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *a = json_object();
        static const char *const cols[] = {"name", "version", "digest", "kind"};
        for (int i = 0; i < 4; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            json_object_set_new(a, cols[i], json_string(v ? v : ""));
        }
        json_array_append_new(agents, a);
    }
    json_object_set_new(o, "agents", agents);
    *out = o;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
