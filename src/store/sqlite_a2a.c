/*
 * sqlite_a2a.c - A2A push notification configs in SQLite (store.h, "A2A
 * push notification configs"): the a2a_push table of migration 8.
 */
#include "store/store.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "store/sqlite_side.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct at_pushstore {
    pthread_mutex_t mu;
    sqlite3 *db;
};

static int db_err(sqlite3 *db, int rc, const char *what)
{
    return at__store_side_err(db, rc, "a2a_push", what);
}

int at_pushstore_open(const char *path, struct at_pushstore **out, struct at_diag *d)
{
    sqlite3 *db = NULL;
    int rc = at__store_side_open(path, "a2a_push", "A2A push configs", &db, d);
    if (rc)
        return rc;
    struct at_pushstore *s = at_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->db = db;
    *out = s;
    return 0;
}

void at_pushstore_close(struct at_pushstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int at_pushstore_put(struct at_pushstore *s, const char *task_id, const char *id,
                     int64_t created_ms, const char *doc)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db, "INSERT OR REPLACE INTO a2a_push(task_id, id, created_ms, doc) VALUES(?,?,?,?)", -1,
        &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, created_ms);
        sqlite3_bind_text(st, 4, doc, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int out = rc == SQLITE_DONE ? 0 : db_err(s->db, rc, "put");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return out;
}

int at_pushstore_delete(struct at_pushstore *s, const char *task_id, const char *id)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "DELETE FROM a2a_push WHERE task_id = ? AND id = ?", -1, &st,
                                NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int out =
        rc == SQLITE_DONE ? (sqlite3_changes(s->db) ? 0 : AT_ENOENT) : db_err(s->db, rc, "delete");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return out;
}

int at_pushstore_load(struct at_pushstore *s, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT task_id, doc FROM a2a_push ORDER BY created_ms", -1,
                                &st, NULL);
    int res = 0;
    if (rc != SQLITE_OK) {
        res = db_err(s->db, rc, "load");
    } else {
        json_t *a = json_array();
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *doc = (const char *)sqlite3_column_text(st, 1);
            json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
            if (json_is_object(j)) {
                json_array_append_new(a, j);
            } else {
                json_decref(j);
                at_warn("store", "a2a_push: a config of task %s is unreadable: skipped",
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
