/*
 * sqlite_jobs.c - the SQLite backend's jobs group: jobs and the usage rows
 * of model calls (see sqlite_int.h).
 */
#include "store/sqlite_int.h"

#include "base/clock.h"

#include <float.h>
#include <math.h>

/* ---- jobs ---- */

static int sq_job_insert(struct at_store *base, struct at_job_rec *r)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    const char *sql =
        "INSERT INTO jobs(id, agent, agent_version, priority, state, input, output, error,"
        " parent_id, root_id, depth, attempts, idempotent, source, meta, created_ms, started_ms,"
        " finished_ms, kind) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
        "?18,?19)";
    if (!(st = stmt_get(db, &s->wst[ST_JOB_INSERT], sql))) {
        rc = sq_err(db, SQLITE_ERROR, "job_insert");
        wunlock(s);
        return rc;
    }
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->agent);
    bind_text(st, 3, r->agent_version ? r->agent_version : "");
    sqlite3_bind_int(st, 4, r->priority);
    sqlite3_bind_int(st, 5, (int)r->state);
    bind_json(st, 6, r->input);
    bind_json(st, 7, r->output);
    bind_json(st, 8, r->error);
    bind_text(st, 9, r->parent_id);
    bind_text(st, 10, r->root_id);
    sqlite3_bind_int(st, 11, r->depth);
    sqlite3_bind_int(st, 12, r->attempts);
    sqlite3_bind_int(st, 13, r->idempotent);
    bind_text(st, 14, r->source);
    bind_json(st, 15, r->meta);
    sqlite3_bind_int64(st, 16, r->created_ms);
    sqlite3_bind_int64(st, 17, r->started_ms);
    sqlite3_bind_int64(st, 18, r->finished_ms);
    bind_text(st, 19, r->kind ? r->kind : "agent");
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "job_insert");
    else
        r->seq = sqlite3_last_insert_rowid(db);
    stmt_done(st);
    wunlock(s);
    return rc;
}

static int sq_job_update(struct at_store *base, const struct at_job_rec *r)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    const char *sql = "UPDATE jobs SET state=?2, output=?3, error=?4, attempts=?5, meta=?6,"
                      " started_ms=?7, finished_ms=?8, priority=?9 WHERE id=?1";
    if (!(st = stmt_get(db, &s->wst[ST_JOB_UPDATE], sql))) {
        rc = sq_err(db, SQLITE_ERROR, "job_update");
        wunlock(s);
        return rc;
    }
    bind_text(st, 1, r->id);
    sqlite3_bind_int(st, 2, (int)r->state);
    bind_json(st, 3, r->output);
    bind_json(st, 4, r->error);
    sqlite3_bind_int(st, 5, r->attempts);
    bind_json(st, 6, r->meta);
    sqlite3_bind_int64(st, 7, r->started_ms);
    sqlite3_bind_int64(st, 8, r->finished_ms);
    sqlite3_bind_int(st, 9, r->priority);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "job_update");
    else if (sqlite3_changes(db) == 0)
        rc = AT_ENOENT;
    stmt_done(st);
    wunlock(s);
    return rc;
}

#define JOB_COLS                                                                                   \
    "seq, id, agent, agent_version, priority, state, input, output, error, parent_id, root_id,"    \
    " depth, attempts, idempotent, source, meta, created_ms, started_ms, finished_ms, kind"

static void read_job(sqlite3_stmt *st, struct at_job_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->seq = sqlite3_column_int64(st, 0);
    const char *id = (const char *)sqlite3_column_text(st, 1);
    snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
    r->agent = col_text(st, 2);
    r->agent_version = col_text(st, 3);
    r->priority = sqlite3_column_int(st, 4);
    r->state = (enum at_job_state)sqlite3_column_int(st, 5);
    r->input = col_json(st, 6);
    r->output = col_json(st, 7);
    r->error = col_json(st, 8);
    r->parent_id = col_text(st, 9);
    r->root_id = col_text(st, 10);
    r->depth = sqlite3_column_int(st, 11);
    r->attempts = sqlite3_column_int(st, 12);
    r->idempotent = sqlite3_column_int(st, 13);
    r->source = col_text(st, 14);
    r->meta = col_json(st, 15);
    r->created_ms = sqlite3_column_int64(st, 16);
    r->started_ms = sqlite3_column_int64(st, 17);
    r->finished_ms = sqlite3_column_int64(st, 18);
    r->kind = col_text(st, 19);
}

static int sq_job_get(struct at_store *base, const char *id, struct at_job_rec *out)
{
    struct sq_store *s = SQ(base);
    struct reader *rd = rlock(s);
    sqlite3_stmt *st;
    int rc = AT_ENOENT;
    if (!(st =
              stmt_get(rd->db, &rd->st[ST_JOB_GET], "SELECT " JOB_COLS " FROM jobs WHERE id=?1"))) {
        rc = sq_err(rd->db, SQLITE_ERROR, "job_get");
        runlock(rd);
        return rc;
    }
    bind_text(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        read_job(st, out);
        rc = 0;
    }
    stmt_done(st);
    runlock(rd);
    return rc;
}

static int jobs_collect(sqlite3_stmt *st, struct at_job_rec **out, size_t *n)
{
    size_t cap = 0;
    int src;
    *out = NULL;
    *n = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = at_realloc(*out, cap * sizeof(**out));
        }
        read_job(st, &(*out)[(*n)++]);
    }
    if (src != SQLITE_DONE) {
        at_job_recs_free(*out, *n);
        *out = NULL;
        *n = 0;
        return AT_EIO;
    }
    return 0;
}

/* The WHERE clause names only the filters given, so SQLite can walk the
 * rowid from `before` (or an index) instead of testing every row: a deep
 * page of 100,000 jobs costs what the first does (bench/jobs). */
static int sq_job_list(struct at_store *base, const struct at_job_filter *f,
                       struct at_job_rec **out, size_t *n)
{
    struct sq_store *s = SQ(base);
    char sql[900];
    int k = snprintf(sql, sizeof(sql), "SELECT " JOB_COLS " FROM jobs WHERE 1");
    if (f->agent)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND agent=?1");
    if (f->state >= 0)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND state=?2");
    if (f->parent)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND parent_id=?3");
    if (f->before_seq)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND seq<?4");
    if (f->since_ms)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND created_ms>=?5");
    if (f->source)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND source=?7");
    if (f->trigger)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k,
                      " AND source='trigger' AND CASE WHEN json_valid(meta)"
                      " THEN json_extract(meta, '$.event.source.name') END=?8");
    snprintf(sql + k, sizeof(sql) - (size_t)k, " ORDER BY seq DESC LIMIT ?6");
    struct reader *rd = rlock(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, "job_list");
        runlock(rd);
        return rc;
    }
    if (f->agent)
        bind_text(st, 1, f->agent);
    if (f->state >= 0)
        sqlite3_bind_int(st, 2, f->state);
    if (f->parent)
        bind_text(st, 3, f->parent);
    if (f->before_seq)
        sqlite3_bind_int64(st, 4, f->before_seq);
    if (f->since_ms)
        sqlite3_bind_int64(st, 5, f->since_ms);
    sqlite3_bind_int(st, 6, f->limit > 0 ? f->limit : 100);
    if (f->source)
        bind_text(st, 7, f->source);
    if (f->trigger)
        bind_text(st, 8, f->trigger);
    int rc = jobs_collect(st, out, n);
    sqlite3_finalize(st);
    runlock(rd);
    return rc;
}

static int sq_job_unfinished(struct at_store *base, struct at_job_rec **out, size_t *n)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT " JOB_COLS " FROM jobs WHERE state < 2"
                           " ORDER BY priority DESC, seq",
                           -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(db, SQLITE_ERROR, "job_unfinished");
        wunlock(s);
        return rc;
    }
    int rc = jobs_collect(st, out, n);
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

static int sq_job_prune(struct at_store *base, int64_t before_ms, long long keep, int max_trees,
                        int *deleted)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    *deleted = 0;
    if (max_trees <= 0)
        max_trees = 1000;
    int rc = exec_sql(db, "SAVEPOINT job_prune");
    if (!rc && before_ms > 0)
        rc = at_store_sqlite_prune_trees(db,
                                         PRUNABLE " AND r.finished_ms < ?1 ORDER BY r.seq LIMIT ?2",
                                         before_ms, max_trees, deleted);
    /* beyond the keep newest finished roots: those at or below the seq of
     * the (keep+1)-th newest */
    if (!rc && keep >= 0 && *deleted < max_trees)
        rc = at_store_sqlite_prune_trees(
            db,
            PRUNABLE " AND r.seq <= (SELECT f.seq FROM jobs f WHERE f.parent_id IS NULL"
                     " AND f.state >= 2 ORDER BY f.seq DESC LIMIT 1 OFFSET ?1)"
                     " ORDER BY r.seq LIMIT ?2",
            keep, max_trees - *deleted, deleted);
    if (rc) {
        exec_sql(db, "ROLLBACK TO job_prune");
        *deleted = 0;
    }
    exec_sql(db, "RELEASE job_prune");
    wunlock(s);
    return rc;
}

/* ---- usage ---- */

static int sq_usage_insert(struct at_store *base, const struct at_usage_rec *r)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    const char *sql = "INSERT INTO usage(id, job_id, root_id, agent, backend, model, tier,"
                      " tokens_in, tokens_out, cost_usd, latency_ms, ttft_ms, status, created_ms,"
                      " kind) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)";
    if (!(st = stmt_get(db, &s->wst[ST_USAGE_INSERT], sql))) {
        rc = sq_err(db, SQLITE_ERROR, "usage_insert");
        wunlock(s);
        return rc;
    }
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->job_id);
    bind_text(st, 3, r->root_id);
    bind_text(st, 4, r->agent);
    bind_text(st, 5, r->backend);
    bind_text(st, 6, r->model);
    bind_text(st, 7, r->tier);
    sqlite3_bind_int64(st, 8, r->tokens_in);
    sqlite3_bind_int64(st, 9, r->tokens_out);
    sqlite3_bind_double(st, 10, r->cost_usd);
    sqlite3_bind_int64(st, 11, r->latency_ms);
    sqlite3_bind_int64(st, 12, r->ttft_ms);
    bind_text(st, 13, r->status ? r->status : "ok");
    sqlite3_bind_int64(st, 14, r->created_ms ? r->created_ms : at_wall_ms());
    bind_text(st, 15, r->kind ? r->kind : "chat");
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "usage_insert");
    stmt_done(st);
    wunlock(s);
    return rc;
}

static int sq_usage_sum(struct at_store *base, const struct at_usage_filter *f, json_t **out)
{
    /* the grouping column comes from a fixed list, never from the caller */
    static const char *const groups[][2] = {
        {"agent", "COALESCE(agent, '')"},
        {"model", "COALESCE(model, '')"},
        {"backend", "COALESCE(backend, '')"},
        {"kind", "kind"},
        {"job_id", "COALESCE(job_id, '')"},
        {"root_id", "COALESCE(root_id, '')"},
        {"day", "strftime('%Y-%m-%d', created_ms / 1000, 'unixepoch')"},
        /* the trigger that started the usage's job tree (the root's
         * recorded event); '' for runs no trigger started, or pruned */
        {"trigger", "COALESCE((SELECT CASE WHEN json_valid(j.meta) THEN"
                    " json_extract(j.meta, '$.event.source.name') END FROM jobs j"
                    " WHERE j.id = COALESCE(usage.root_id, usage.job_id) AND"
                    " j.source = 'trigger'), '')"},
        {"all", "'all'"},
    };
    const char *expr = NULL;
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (strcmp(f->group_by ? f->group_by : "all", groups[i][0]) == 0)
            expr = groups[i][1];
    if (!expr)
        return AT_EINVAL;
    char sql[1024];
    snprintf(
        sql, sizeof(sql),
        "SELECT %s AS k, COUNT(*), at_satsum(tokens_in), at_satsum(tokens_out), TOTAL(cost_usd),"
        " %s AS d FROM usage WHERE (?1 IS NULL OR job_id=?1) AND (?2 IS NULL OR root_id=?2)"
        " AND (?3 = 0 OR created_ms >= ?3) GROUP BY k, d ORDER BY %s TOTAL(cost_usd) DESC, k",
        expr, f->per_day ? "strftime('%Y-%m-%d', created_ms / 1000, 'unixepoch')" : "''",
        f->per_day ? "d," : "");
    struct reader *rd = rlock(SQ(base));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, "usage_sum");
        runlock(rd);
        return rc;
    }
    bind_text(st, 1, f->job_id);
    bind_text(st, 2, f->root_id);
    sqlite3_bind_int64(st, 3, f->since_ms);
    json_t *arr = json_array();
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        double cost = sqlite3_column_double(st, 4);
        if (!isfinite(cost))
            cost = cost > 0 ? DBL_MAX : 0; /* JSON has no infinity */
        json_t *row = json_pack("{s:s,s:I,s:I,s:I,s:f}", "key", k ? k : "", "calls",
                                (json_int_t)sqlite3_column_int64(st, 1), "tokens_in",
                                (json_int_t)sqlite3_column_int64(st, 2), "tokens_out",
                                (json_int_t)sqlite3_column_int64(st, 3), "cost_usd", cost);
        if (f->per_day)
            json_object_set_new(row, "day", json_string((const char *)sqlite3_column_text(st, 5)));
        json_array_append_new(arr, row);
    }
    sqlite3_finalize(st);
    runlock(rd);
    if (src != SQLITE_DONE) {
        json_decref(arr);
        return AT_EIO;
    }
    *out = arr;
    return 0;
}

void at_store_sqlite_jobs_ops(struct at_store_ops *ops)
{
    ops->job_insert = sq_job_insert;
    ops->job_update = sq_job_update;
    ops->job_get = sq_job_get;
    ops->job_list = sq_job_list;
    ops->job_unfinished = sq_job_unfinished;
    ops->job_prune = sq_job_prune;
    ops->usage_insert = sq_usage_insert;
    ops->usage_sum = sq_usage_sum;
}
