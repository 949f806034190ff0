/*
 * sqlite_tlog.c - the audit trail's log in SQLite (store.h, "the audit
 * trail's log"): tlog_entries and tlog_checkpoints of migration 5.
 */
#include "store/store.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"
#include "store/sqlite_side.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct at_tlogstore {
    pthread_mutex_t mu;
    sqlite3 *db;
};

static int db_err(sqlite3 *db, int rc, const char *what)
{
    return at__store_side_err(db, rc, "audit log", what);
}

int at_tlogstore_open(const char *path, struct at_tlogstore **out, struct at_diag *d)
{
    sqlite3 *db = NULL;
    int rc = at__store_side_open(path, "tlog_entries", "the audit log", &db, d);
    if (rc)
        return rc;
    struct at_tlogstore *s = at_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->db = db;
    *out = s;
    return 0;
}

void at_tlogstore_close(struct at_tlogstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int at_tlogstore_append(struct at_tlogstore *s, const struct at_tlog_row *rows, size_t n)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = db_err(s->db, rc, "begin");
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO tlog_entries(idx, kind, ts_ms, envelope) VALUES(?,?,?,?)",
                            -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, rows[i].idx);
        sqlite3_bind_text(st, 2, rows[i].kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, rows[i].ts_ms);
        sqlite3_bind_blob(st, 4, rows[i].envelope, (int)rows[i].len, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    int out = 0;
    if (rc != SQLITE_OK) {
        out = db_err(s->db, rc, "append");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

int at_tlogstore_scan(struct at_tlogstore *s, int64_t from, int64_t limit, at_tlog_row_fn fn,
                      void *arg)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db,
        "SELECT idx, kind, ts_ms, envelope FROM tlog_entries WHERE idx >= ? ORDER BY idx"
        " LIMIT ?",
        -1, &st, NULL);
    int out = 0;
    if (rc != SQLITE_OK) {
        out = db_err(s->db, rc, "scan");
    } else {
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *kind = (const char *)sqlite3_column_text(st, 1);
            struct at_tlog_row r = {.idx = sqlite3_column_int64(st, 0),
                                    .kind = kind ? kind : "",
                                    .ts_ms = sqlite3_column_int64(st, 2),
                                    .envelope = sqlite3_column_blob(st, 3),
                                    .len = (size_t)sqlite3_column_bytes(st, 3)};
            if (!r.envelope)
                r.envelope = "";
            if ((out = fn(arg, &r)))
                break;
        }
        if (!out && rc != SQLITE_DONE)
            out = db_err(s->db, rc, "scan");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return out;
}

int at_tlogstore_checkpoint_put(struct at_tlogstore *s, int64_t size, int64_t ts_ms,
                                const char *note)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db, "INSERT OR REPLACE INTO tlog_checkpoints(size, ts_ms, note) VALUES(?,?,?)", -1, &st,
        NULL);
    int out = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, size);
        sqlite3_bind_int64(st, 2, ts_ms);
        sqlite3_bind_text(st, 3, note, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        out = db_err(s->db, rc, "checkpoint");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return out;
}

int at_tlogstore_checkpoints(struct at_tlogstore *s, int64_t min_size, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db, "SELECT size, ts_ms, note FROM tlog_checkpoints WHERE size >= ? ORDER BY size", -1,
        &st, NULL);
    int res = 0;
    if (rc != SQLITE_OK) {
        res = db_err(s->db, rc, "checkpoints");
    } else {
        json_t *a = json_array();
        sqlite3_bind_int64(st, 1, min_size);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *note = (const char *)sqlite3_column_text(st, 2);
            json_array_append_new(a, json_pack("{s:I,s:I,s:s}", "size",
                                               (json_int_t)sqlite3_column_int64(st, 0), "ts_ms",
                                               (json_int_t)sqlite3_column_int64(st, 1), "note",
                                               note ? note : ""));
        }
        if (rc != SQLITE_DONE) {
            res = db_err(s->db, rc, "checkpoints");
            json_decref(a);
        } else {
            *out = a;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return res;
}
