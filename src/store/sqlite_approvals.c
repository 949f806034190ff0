/*
 * sqlite_approvals.c - proposals and their decisions in SQLite (store.h,
 * "proposals and approvals"): the approvals table of migration 6.
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

struct at_apstore {
    pthread_mutex_t mu;
    sqlite3 *db;
};

static int db_err(sqlite3 *db, int rc, const char *what)
{
    return at__store_side_err(db, rc, "approvals", what);
}

int at_apstore_open(const char *path, struct at_apstore **out, struct at_diag *d)
{
    sqlite3 *db = NULL;
    int rc = at__store_side_open(path, "approvals", "approvals", &db, d);
    if (rc)
        return rc;
    struct at_apstore *s = at_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->db = db;
    *out = s;
    return 0;
}

void at_apstore_close(struct at_apstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int at_apstore_put(struct at_apstore *s, const struct at_approval_row *r)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "INSERT OR REPLACE INTO approvals(id, seq, kind, state, hash,"
                                " proposer, created_ms, updated_ms, doc) VALUES(?,?,?,?,?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r->seq);
        sqlite3_bind_text(st, 3, r->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->state, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, r->proposer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, r->created_ms);
        sqlite3_bind_int64(st, 8, r->updated_ms);
        sqlite3_bind_text(st, 9, r->doc, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int out = rc == SQLITE_DONE ? 0 : db_err(s->db, rc, "put");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return out;
}

int at_apstore_load(struct at_apstore *s, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT id, doc FROM approvals ORDER BY seq", -1, &st, NULL);
    int res = 0;
    if (rc != SQLITE_OK) {
        res = db_err(s->db, rc, "load");
    } else {
        json_t *a = json_array();
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *doc = (const char *)sqlite3_column_text(st, 1);
            json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
            if (json_is_object(j))
                json_array_append_new(a, j);
            else {
                json_decref(j);
                at_warn("store", "approvals: proposal %s has an unreadable record: skipped",
                        (const char *)sqlite3_column_text(st, 0));
            }
        }
        if (rc != SQLITE_DONE) {
            res = db_err(s->db, rc, "load");
            json_decref(a);
        } else {
            *out = a;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return res;
}

/* The approvals' own settings (the auto-approve rules) in the store's kv
 * table, on this connection. */
int at_apstore_kv_get(struct at_apstore *s, const char *key, char **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM kv WHERE key = ?", -1, &st, NULL);
    int res = AT_ENOENT;
    if (rc != SQLITE_OK) {
        res = db_err(s->db, rc, "kv get");
    } else {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = at_strdup((const char *)sqlite3_column_text(st, 0));
            res = 0;
        } else if (rc != SQLITE_DONE) {
            res = db_err(s->db, rc, "kv get");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return res;
}

int at_apstore_kv_put(struct at_apstore *s, const char *key, const char *value)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv(key, value) VALUES(?, ?)", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int out = rc == SQLITE_DONE ? 0 : db_err(s->db, rc, "kv put");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return out;
}
