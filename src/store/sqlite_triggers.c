/*
 * sqlite_triggers.c - group 5 of the store's table (store.h): the firings of
 * triggers and the idempotency keys of their deliveries, the tables of
 * migration 10 (docs/internals/triggers.md).
 *
 * Writes run on the writer thread, inside its group commit: a firing is one
 * row (and one key), so concurrent deliveries to one trigger share a commit.
 * Retention is applied with each write by primary-key ranges that hold one
 * row at most in the steady state (every write deletes what fell out of the
 * window), so it stays cheap.
 */
#include "store/sqlite_int.h"

static int firing_put(struct at_store *base, const struct at_trigger_firing_row *rows, size_t n)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    int rc = 0;
    sqlite3_stmt *put = stmt_get(db, &s->wst[ST_FIRING_PUT],
                                 "INSERT OR REPLACE INTO trigger_firings(trigger, seq, job_id,"
                                 " scheduled, doc, pending) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    sqlite3_stmt *idem = stmt_get(db, &s->wst[ST_IDEM_PUT],
                                  "INSERT OR REPLACE INTO trigger_idem(trigger, key, job_id, seq)"
                                  " VALUES(?1, ?2, ?3, ?4)");
    sqlite3_stmt *prune = stmt_get(db, &s->wst[ST_FIRING_PRUNE],
                                   "DELETE FROM trigger_firings WHERE trigger=?1 AND seq<=?2");
    sqlite3_stmt *iprune = stmt_get(db, &s->wst[ST_IDEM_PRUNE],
                                    "DELETE FROM trigger_idem WHERE trigger=?1 AND seq<=?2");
    sqlite3_stmt *upd = stmt_get(db, &s->wst[ST_FIRING_UPDATE],
                                 "UPDATE trigger_firings SET doc=?4, pending=NULL"
                                 " WHERE trigger=?1 AND seq=?2 AND job_id=?3");
    if (!put || !idem || !prune || !iprune || !upd) {
        rc = sq_err(db, SQLITE_ERROR, "trigger_firing_put");
        wunlock(s);
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        const struct at_trigger_firing_row *r = &rows[i];
        int src;
        if (r->update) {
            bind_text(upd, 1, r->trigger);
            sqlite3_bind_int64(upd, 2, r->seq);
            bind_text(upd, 3, r->job_id);
            bind_text(upd, 4, r->doc);
            src = sqlite3_step(upd);
            stmt_done(upd);
            if (src != SQLITE_DONE)
                rc = sq_err(db, src, "trigger_firing_put");
            continue;
        }
        if (r->doc) {
            bind_text(put, 1, r->trigger);
            sqlite3_bind_int64(put, 2, r->seq);
            bind_text(put, 3, r->job_id);
            sqlite3_bind_int64(put, 4, r->scheduled);
            bind_text(put, 5, r->doc);
            bind_text(put, 6, r->pending);
            src = sqlite3_step(put);
            stmt_done(put);
            if (src != SQLITE_DONE) {
                rc = sq_err(db, src, "trigger_firing_put");
                break;
            }
        }
        if (r->idem && r->job_id) {
            bind_text(idem, 1, r->trigger);
            bind_text(idem, 2, r->idem);
            bind_text(idem, 3, r->job_id);
            sqlite3_bind_int64(idem, 4, r->seq);
            src = sqlite3_step(idem);
            stmt_done(idem);
            if (src != SQLITE_DONE) {
                rc = sq_err(db, src, "trigger_firing_put");
                break;
            }
        }
        if (r->keep > 0 && r->seq > r->keep) {
            bind_text(prune, 1, r->trigger);
            sqlite3_bind_int64(prune, 2, r->seq - r->keep);
            src = sqlite3_step(prune);
            stmt_done(prune);
            if (src != SQLITE_DONE) {
                rc = sq_err(db, src, "trigger_firing_put");
                break;
            }
        }
        if (r->idem_keep > 0 && r->seq > r->idem_keep) {
            bind_text(iprune, 1, r->trigger);
            sqlite3_bind_int64(iprune, 2, r->seq - r->idem_keep);
            src = sqlite3_step(iprune);
            stmt_done(iprune);
            if (src != SQLITE_DONE)
                rc = sq_err(db, src, "trigger_firing_put");
        }
    }
    wunlock(s);
    return rc;
}

/* Run sql (bound to trigger ?1 and the integer ?2) on a reader; row(st,
 * arg) for each row. */
static int read_rows(struct at_store *base, const char *what, const char *sql, const char *trigger,
                     sqlite3_int64 arg, void (*row)(sqlite3_stmt *st, json_t *out), json_t *out)
{
    struct reader *rd = rlock(SQ(base));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, what);
        runlock(rd);
        return rc;
    }
    bind_text(st, 1, trigger);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, arg);
    int src, rc = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        row(st, out);
    if (src != SQLITE_DONE)
        rc = sq_err(rd->db, src, what);
    sqlite3_finalize(st);
    runlock(rd);
    return rc;
}

static void list_row(sqlite3_stmt *st, json_t *out)
{
    json_t *doc = col_json(st, 0);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    if (sqlite3_column_type(st, 1) != SQLITE_NULL)
        json_object_set_new(doc, "pending", json_true());
    json_array_append_new(out, doc);
}

static int firing_list(struct at_store *base, const char *trigger, int limit, json_t **out)
{
    json_t *arr = json_array();
    int rc = read_rows(base, "trigger_firing_list",
                       "SELECT doc, pending IS NOT NULL FROM trigger_firings WHERE trigger=?1"
                       " ORDER BY seq DESC LIMIT ?2",
                       trigger, limit > 0 ? limit : 100, list_row, arr);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static void pending_row(sqlite3_stmt *st, json_t *out)
{
    json_t *doc = col_json(st, 1), *p = col_json(st, 2);
    if (json_is_object(doc) && json_is_object(p))
        json_array_append_new(out, json_pack("{s:I,s:o,s:o}", "seq",
                                             (json_int_t)sqlite3_column_int64(st, 0), "doc", doc,
                                             "pending", p));
    else {
        json_decref(doc);
        json_decref(p);
    }
}

static int firing_pending(struct at_store *base, const char *trigger, json_t **out)
{
    json_t *arr = json_array();
    int rc = read_rows(base, "trigger_firing_pending",
                       "SELECT seq, doc, pending FROM trigger_firings WHERE trigger=?1"
                       " AND pending IS NOT NULL ORDER BY seq",
                       trigger, 0, pending_row, arr);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static void idem_row(sqlite3_stmt *st, json_t *out)
{
    const char *k = (const char *)sqlite3_column_text(st, 0);
    const char *j = (const char *)sqlite3_column_text(st, 1);
    if (k && j)
        json_array_insert_new(out, 0,
                              json_pack("[s,s,I]", k, j, (json_int_t)sqlite3_column_int64(st, 2)));
}

static int idem_load(struct at_store *base, const char *trigger, int limit, json_t **out)
{
    json_t *arr = json_array();
    int rc = read_rows(base, "trigger_idem_load",
                       "SELECT key, job_id, seq FROM trigger_idem WHERE trigger=?1"
                       " ORDER BY seq DESC LIMIT ?2",
                       trigger, limit > 0 ? limit : 1000, idem_row, arr);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static void state_row(sqlite3_stmt *st, json_t *out)
{
    json_array_append_new(out, json_integer(sqlite3_column_int64(st, 0)));
    json_array_append_new(out, json_integer(sqlite3_column_int64(st, 1)));
}

static int firing_state(struct at_store *base, const char *trigger, int64_t *seq,
                        int64_t *scheduled)
{
    json_t *arr = json_array();
    int rc = read_rows(base, "trigger_firing_state",
                       "SELECT coalesce(max(seq), 0), coalesce(max(scheduled), 0)"
                       " FROM trigger_firings WHERE trigger=?1",
                       trigger, 0, state_row, arr);
    *seq = json_integer_value(json_array_get(arr, 0));
    *scheduled = json_integer_value(json_array_get(arr, 1));
    json_decref(arr);
    return rc;
}

static int firing_delete(struct at_store *base, const char *trigger)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    int rc = 0;
    static const char *const sql[] = {"DELETE FROM trigger_firings WHERE trigger=?1",
                                      "DELETE FROM trigger_idem WHERE trigger=?1"};
    for (size_t i = 0; i < 2 && !rc; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) != SQLITE_OK) {
            rc = sq_err(db, SQLITE_ERROR, "trigger_firing_delete");
            break;
        }
        bind_text(st, 1, trigger);
        int src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = sq_err(db, src, "trigger_firing_delete");
        sqlite3_finalize(st);
    }
    wunlock(s);
    return rc;
}

void at_store_sqlite_triggers_ops(struct at_store_ops *ops)
{
    ops->trigger_firing_put = firing_put;
    ops->trigger_firing_list = firing_list;
    ops->trigger_firing_pending = firing_pending;
    ops->trigger_idem_load = idem_load;
    ops->trigger_firing_state = firing_state;
    ops->trigger_firing_delete = firing_delete;
}
