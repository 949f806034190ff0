/*
 * sqlite_monitor.c - the SQLite backend's monitor group: traces (read from
 * the jobs of a tree), retention, logs, spans, evals and their results
 * (see sqlite_int.h and docs/internals/monitor.md).
 */
#include "store/sqlite_int.h"

#include "base/clock.h"

/* ---- the monitor: traces, logs, spans, evals ---- */

/* Run one write statement with the binder; returns 0 or an AT_E*. */
static int write_one(struct sq_store *s, const char *what, const char *sql,
                     void (*bind)(sqlite3_stmt *, const void *), const void *arg)
{
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_err(db, SQLITE_ERROR, what);
        wunlock(s);
        return rc;
    }
    bind(st, arg);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, what);
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

/* Read every row of a prepared SELECT as a JSON object keyed by column
 * name; columns named *_json are parsed as JSON. */
static int rows_json(sqlite3_stmt *st, json_t **out)
{
    json_t *arr = json_array();
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        int nc = sqlite3_column_count(st);
        for (int i = 0; i < nc; i++) {
            const char *name = sqlite3_column_name(st, i);
            size_t nl = strlen(name);
            json_t *v;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                v = json_integer(sqlite3_column_int64(st, i));
                break;
            case SQLITE_FLOAT:
                v = json_real(sqlite3_column_double(st, i));
                break;
            case SQLITE_NULL:
                v = json_null();
                break;
            default:
                if (nl > 5 && strcmp(name + nl - 5, "_json") == 0) {
                    v = col_json(st, i);
                    if (!v)
                        v = json_null();
                    char key[64];
                    snprintf(key, sizeof(key), "%.*s", (int)(nl - 5), name);
                    json_object_set_new(o, key, v);
                    continue;
                }
                v = json_stringn((const char *)sqlite3_column_text(st, i),
                                 (size_t)sqlite3_column_bytes(st, i));
                if (!v)
                    v = json_string("");
                break;
            }
            json_object_set_new(o, name, v);
        }
        json_array_append_new(arr, o);
    }
    if (src != SQLITE_DONE) {
        json_decref(arr);
        return AT_EIO;
    }
    *out = arr;
    return 0;
}

/* Prepare sql on a reader, bind up to three text values, read all rows. */
static int read_rows(struct sq_store *s, const char *what, const char *sql, const char *a,
                     const char *b, const char *c, json_t **out)
{
    struct reader *rd = rlock(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, what);
        runlock(rd);
        return rc;
    }
    int np = sqlite3_bind_parameter_count(st);
    if (np >= 1)
        bind_text(st, 1, a);
    if (np >= 2)
        bind_text(st, 2, b);
    if (np >= 3)
        bind_text(st, 3, c);
    int rc = rows_json(st, out);
    sqlite3_finalize(st);
    runlock(rd);
    return rc;
}

static int sq_trace_list(struct at_store *base, const struct at_trace_filter *f, json_t **out)
{
    struct reader *rd = rlock(SQ(base));
    sqlite3_stmt *st;
    /* roots newest first (by seq, the primary key), then per root its job
     * count (jobs_root index) and its usage (usage_root index) */
    const char *sql =
        "SELECT r.id, r.agent, r.kind, CASE r.state WHEN 0 THEN 'queued' WHEN 1 THEN 'running'"
        " WHEN 2 THEN 'completed' WHEN 3 THEN 'failed' ELSE 'cancelled' END AS status,"
        " r.created_ms AS started_ms, r.finished_ms,"
        " 1 + (SELECT COUNT(*) FROM jobs c WHERE c.root_id = r.id AND c.id != r.id) AS jobs,"
        " (SELECT at_satsum(tokens_in, tokens_out) FROM usage u WHERE u.root_id = r.id)"
        "   AS tokens,"
        " (SELECT TOTAL(cost_usd) FROM usage u WHERE u.root_id = r.id) AS cost_usd"
        " FROM jobs r WHERE r.parent_id IS NULL AND (?1 IS NULL OR r.agent = ?1)"
        " AND (?2 < 0 OR r.state = ?2) AND (?3 = 0 OR r.created_ms >= ?3)"
        " AND (?4 = 0 OR r.created_ms < ?4) ORDER BY r.seq DESC LIMIT ?5";
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, "trace_list");
        runlock(rd);
        return rc;
    }
    bind_text(st, 1, f->agent);
    sqlite3_bind_int(st, 2, f->status ? at_job_state_parse(f->status) : -1);
    sqlite3_bind_int64(st, 3, f->since_ms);
    sqlite3_bind_int64(st, 4, f->before_ms);
    sqlite3_bind_int(st, 5, f->limit > 0 ? f->limit : 50);
    int rc = rows_json(st, out);
    if (!rc && f->status && at_job_state_parse(f->status) < 0)
        json_array_clear(*out); /* no such state: no trace */
    sqlite3_finalize(st);
    runlock(rd);
    return rc;
}

static int sq_trace_load(struct at_store *base, const char *root_id, json_t **out)
{
    struct sq_store *s = SQ(base);
    json_t *jobs = NULL, *usage = NULL, *spans = NULL, *evals = NULL;
    int rc = read_rows(s, "trace_load",
                       "SELECT id, agent, agent_version AS version, kind, CASE state"
                       " WHEN 0 THEN 'queued' WHEN 1 THEN 'running' WHEN 2 THEN 'completed'"
                       " WHEN 3 THEN 'failed' ELSE 'cancelled' END AS state, parent_id,"
                       " root_id, depth, attempts, source, created_ms, started_ms, finished_ms,"
                       " error AS error_json, meta AS meta_json FROM jobs"
                       " WHERE root_id = ?1 OR id = ?1 ORDER BY seq",
                       root_id, NULL, NULL, &jobs);
    if (!rc)
        rc = read_rows(s, "trace_load",
                       "SELECT u.id, u.job_id, u.agent, u.backend, u.model, u.tier, u.tokens_in,"
                       " u.tokens_out, u.cost_usd, u.latency_ms, u.ttft_ms, u.status,"
                       " u.created_ms, u.kind AS call, s.attrs AS attrs_json FROM usage u"
                       " LEFT JOIN spans s ON s.id = u.id"
                       " WHERE u.root_id = ?1 ORDER BY u.created_ms, u.id",
                       root_id, NULL, NULL, &usage);
    if (!rc)
        rc = read_rows(s, "trace_load",
                       "SELECT id, job_id, kind, name, status, started_ms, duration_ms,"
                       " attrs AS attrs_json FROM spans WHERE root_id = ?1 AND kind != 'model'"
                       " ORDER BY started_ms, id",
                       root_id, NULL, NULL, &spans);
    if (!rc)
        rc = read_rows(s, "trace_load",
                       "SELECT eval, job_id, check_name AS \"check\", type, passed, score, detail,"
                       " tokens, cost_usd, created_ms FROM eval_results WHERE root_id = ?1"
                       " ORDER BY created_ms, id",
                       root_id, NULL, NULL, &evals);
    if (rc) {
        json_decref(jobs);
        json_decref(usage);
        json_decref(spans);
        json_decref(evals);
        return rc;
    }
    *out = json_pack("{s:o,s:o,s:o,s:o}", "jobs", jobs, "usage", usage, "spans", spans, "evals",
                     evals);
    return 0;
}

/* Delete the trees whose root ids select_sql (one integer parameter, then
 * the limit) picks.  Adds the number of trees to *deleted. */
int at_store_sqlite_prune_trees(sqlite3 *db, const char *select_sql, sqlite3_int64 arg, int limit,
                                int *deleted)
{
    static const char *const dels[] = {
        "DELETE FROM job_logs WHERE root_id IN (SELECT id FROM doomed)",
        "DELETE FROM spans WHERE root_id IN (SELECT id FROM doomed)",
        "DELETE FROM eval_results WHERE root_id IN (SELECT id FROM doomed)",
        ("DELETE FROM jobs WHERE root_id IN (SELECT id FROM doomed) AND id NOT IN"
         " (SELECT id FROM doomed)"),
        "DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)",
    };
    char sql[768];
    snprintf(sql, sizeof(sql), "CREATE TEMP TABLE doomed AS %s", select_sql);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sq_err(db, SQLITE_ERROR, "trace_prune");
    sqlite3_bind_int64(st, 1, arg);
    sqlite3_bind_int(st, 2, limit);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE) {
        exec_sql(db, "DROP TABLE IF EXISTS temp.doomed");
        return sq_err(db, src, "trace_prune");
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof(dels) / sizeof(dels[0]) && !rc; i++) {
        rc = exec_sql(db, dels[i]);
        if (!rc && i + 1 == sizeof(dels) / sizeof(dels[0]))
            *deleted += sqlite3_changes(db);
    }
    exec_sql(db, "DROP TABLE temp.doomed");
    return rc;
}

/* Bytes of the pages in use (the file minus its free list). */
static long long used_bytes(sqlite3 *db)
{
    long long v[3] = {0, 0, 0};
    const char *q[3] = {"PRAGMA page_count", "PRAGMA freelist_count", "PRAGMA page_size"};
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v[i] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return (v[0] - v[1]) * v[2];
}

static int sq_trace_prune(struct at_store *base, int64_t before_ms, long long max_bytes,
                          int max_trees, int *deleted)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    *deleted = 0;
    if (max_trees <= 0)
        max_trees = 1000;
    int rc = exec_sql(db, "SAVEPOINT prune");
    if (!rc && before_ms > 0)
        rc = at_store_sqlite_prune_trees(db,
                                         PRUNABLE " AND r.finished_ms < ?1 ORDER BY r.seq LIMIT ?2",
                                         before_ms, max_trees, deleted);
    if (!rc && max_bytes > 0 && *deleted < max_trees && used_bytes(db) > max_bytes) {
        /* a tenth of what is left (at least 10, at most the budget) */
        sqlite3_stmt *st;
        long long roots = 0;
        if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM jobs WHERE parent_id IS NULL", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            roots = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        long long n = roots / 10 < 10 ? 10 : roots / 10;
        if (n > max_trees - *deleted)
            n = max_trees - *deleted;
        rc = at_store_sqlite_prune_trees(db, PRUNABLE " AND ?1 ORDER BY r.seq LIMIT ?2", 1, (int)n,
                                         deleted);
    }
    if (rc)
        exec_sql(db, "ROLLBACK TO prune");
    exec_sql(db, "RELEASE prune");
    wunlock(s);
    return rc;
}

static int sq_log_append(struct at_store *base, const struct at_log_line *lines, size_t n)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO job_logs(job_id, seq, root_id, ts_ms, stream,"
                           " text) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sq_err(db, SQLITE_ERROR, "log_append");
        wunlock(s);
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        bind_text(st, 1, lines[i].job_id);
        sqlite3_bind_int(st, 2, lines[i].seq);
        bind_text(st, 3, lines[i].root_id);
        sqlite3_bind_int64(st, 4, lines[i].ts_ms);
        bind_text(st, 5, lines[i].stream);
        bind_text(st, 6, lines[i].text);
        int src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = sq_err(db, src, "log_append");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

static int sq_log_get(struct at_store *base, const char *job_id, json_t **out)
{
    return read_rows(SQ(base), "log_get",
                     "SELECT seq, ts_ms, stream, text FROM job_logs WHERE job_id = ?1 ORDER BY seq",
                     job_id, NULL, NULL, out);
}

static void bind_span(sqlite3_stmt *st, const void *arg)
{
    const struct at_span_rec *r = arg;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->root_id);
    bind_text(st, 3, r->job_id);
    bind_text(st, 4, r->kind);
    bind_text(st, 5, r->name ? r->name : "");
    bind_text(st, 6, r->status ? r->status : "ok");
    sqlite3_bind_int64(st, 7, r->started_ms);
    sqlite3_bind_int64(st, 8, r->duration_ms);
    bind_json(st, 9, r->attrs);
}

static int sq_span_put(struct at_store *base, const struct at_span_rec *r)
{
    return write_one(SQ(base), "span_put",
                     "INSERT OR REPLACE INTO spans(id, root_id, job_id, kind, name, status,"
                     " started_ms, duration_ms, attrs) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                     bind_span, r);
}

static void bind_eval(sqlite3_stmt *st, const void *arg)
{
    const struct at_eval_rec *r = arg;
    bind_text(st, 1, r->name);
    bind_text(st, 2, r->target_agent);
    bind_text(st, 3, r->trigger);
    bind_json(st, 4, r->definition);
    bind_text(st, 5, r->source ? r->source : "");
    sqlite3_bind_int64(st, 6, r->registered_ms ? r->registered_ms : at_wall_ms());
}

static int sq_eval_put(struct at_store *base, const struct at_eval_rec *r)
{
    return write_one(SQ(base), "eval_put",
                     "INSERT OR REPLACE INTO evals(name, target_agent, trigger, definition,"
                     " source, registered_ms) VALUES(?1,?2,?3,?4,?5,?6)",
                     bind_eval, r);
}

static int sq_eval_list(struct at_store *base, json_t **out)
{
    return read_rows(SQ(base), "eval_list",
                     "SELECT name, target_agent, trigger, definition AS definition_json, source,"
                     " registered_ms FROM evals ORDER BY name",
                     NULL, NULL, NULL, out);
}

static void bind_name(sqlite3_stmt *st, const void *arg)
{
    bind_text(st, 1, arg);
}

static int sq_eval_delete(struct at_store *base, const char *name, int *deleted)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s); /* recursive: held across write_one and changes() */
    int rc = write_one(s, "eval_delete", "DELETE FROM evals WHERE name = ?1", bind_name, name);
    *deleted = rc ? 0 : sqlite3_changes(db);
    wunlock(s);
    return rc;
}

static void bind_result(sqlite3_stmt *st, const void *arg)
{
    const struct at_eval_result *r = arg;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->eval);
    bind_text(st, 3, r->job_id);
    bind_text(st, 4, r->root_id);
    bind_text(st, 5, r->agent);
    bind_text(st, 6, r->check_name);
    bind_text(st, 7, r->type);
    sqlite3_bind_int(st, 8, r->passed);
    if (r->has_score)
        sqlite3_bind_double(st, 9, r->score);
    else
        sqlite3_bind_null(st, 9);
    bind_text(st, 10, r->detail);
    sqlite3_bind_int64(st, 11, r->tokens);
    sqlite3_bind_double(st, 12, r->cost_usd);
    sqlite3_bind_int64(st, 13, r->created_ms ? r->created_ms : at_wall_ms());
}

static int sq_eval_result_put(struct at_store *base, const struct at_eval_result *r)
{
    return write_one(SQ(base), "eval_result_put",
                     "INSERT OR REPLACE INTO eval_results(id, eval, job_id, root_id, agent,"
                     " check_name, type, passed, score, detail, tokens, cost_usd, created_ms)"
                     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
                     bind_result, r);
}

static int sq_eval_results(struct at_store *base, const char *job_id, const char *eval, int limit,
                           json_t **out)
{
    char lim[32];
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    return read_rows(SQ(base), "eval_results",
                     "SELECT id, eval, job_id, root_id, agent, check_name AS \"check\", type,"
                     " passed, score, detail, tokens, cost_usd, created_ms FROM eval_results"
                     " WHERE (?1 IS NULL OR job_id = ?1) AND (?2 IS NULL OR eval = ?2)"
                     " ORDER BY created_ms DESC, id LIMIT CAST(?3 AS INTEGER)",
                     job_id, eval, lim, out);
}

void at_store_sqlite_monitor_ops(struct at_store_ops *ops)
{
    ops->trace_list = sq_trace_list;
    ops->trace_load = sq_trace_load;
    ops->trace_prune = sq_trace_prune;
    ops->log_append = sq_log_append;
    ops->log_get = sq_log_get;
    ops->span_put = sq_span_put;
    ops->eval_put = sq_eval_put;
    ops->eval_list = sq_eval_list;
    ops->eval_delete = sq_eval_delete;
    ops->eval_result_put = sq_eval_result_put;
    ops->eval_results = sq_eval_results;
}
