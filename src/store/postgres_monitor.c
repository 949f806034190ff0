/*
 * postgres_monitor.c - the PostgreSQL backend's monitor group: traces
 * (read from the jobs of a tree), retention, logs, spans, evals and their
 * results (see postgres_int.h; the SQLite twin is sqlite_monitor.c).
 */
#include "store/postgres_int.h"

#include "base/clock.h"

#define SATSUM(x)                                                                                  \
    "LEAST(GREATEST(COALESCE(SUM(" x "), 0), -9223372036854775808), 9223372036854775807)::bigint"

#define STATE_NAME(col)                                                                            \
    "CASE " col " WHEN 0 THEN 'queued' WHEN 1 THEN 'running' WHEN 2 THEN 'completed'"              \
    " WHEN 3 THEN 'failed' ELSE 'cancelled' END"

/* A read returned as JSON rows (at__store_pg_rows_json). */
static int read_rows(struct pg_store *s, const char *what, const char *sql,
                     const struct pg_params *p, json_t **out)
{
    PGresult *res = NULL;
    int rc = at__store_pg_read(s, what, sql, p, &res);
    if (rc)
        return rc;
    *out = at__store_pg_rows_json(res);
    PQclear(res);
    return 0;
}

/* One write under the writer lock. */
static int write_one(struct pg_store *s, const char *what, const char *sql,
                     const struct pg_params *p, long long *changed)
{
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(s, what, sql, p, NULL, changed);
    at__store_pg_wunlock(s);
    return rc;
}

static int pg_trace_list(struct at_store *base, const struct at_trace_filter *f, json_t **out)
{
    const char *sql = "SELECT r.id, r.agent, r.kind, " STATE_NAME(
        "r.state") " AS status,"
                   " r.created_ms AS started_ms, r.finished_ms,"
                   " 1 + (SELECT COUNT(*) FROM jobs c WHERE c.root_id = r.id AND c.id != r.id) AS "
                   "jobs,"
                   " (SELECT " SATSUM(
                       "u.tokens_in::numeric + u.tokens_out") " FROM usage u"
                                                              "   WHERE u.root_id = r.id) AS "
                                                              "tokens,"
                                                              " (SELECT COALESCE(SUM(cost_usd), "
                                                              "0)::float8 FROM usage u WHERE "
                                                              "u.root_id = r.id)"
                                                              "   AS cost_usd"
                                                              " FROM jobs r WHERE r.parent_id IS "
                                                              "NULL AND ($1::text IS NULL OR "
                                                              "r.agent = $1)"
                                                              " AND ($2::bigint < 0 OR r.state = "
                                                              "$2::bigint)"
                                                              " AND ($3::bigint = 0 OR "
                                                              "r.created_ms >= $3::bigint)"
                                                              " AND ($4::bigint = 0 OR "
                                                              "r.created_ms < $4::bigint) ORDER BY "
                                                              "r.seq DESC LIMIT $5::bigint";
    struct pg_params p = {.n = 0};
    pgp_text(&p, f->agent);
    pgp_i64(&p, f->status ? at_job_state_parse(f->status) : -1);
    pgp_i64(&p, f->since_ms);
    pgp_i64(&p, f->before_ms);
    pgp_i64(&p, f->limit > 0 ? f->limit : 50);
    int rc = read_rows(PG(base), "trace_list", sql, &p, out);
    if (!rc && f->status && at_job_state_parse(f->status) < 0)
        json_array_clear(*out); /* no such state: no trace */
    return rc;
}

static int pg_trace_load(struct at_store *base, const char *root_id, json_t **out)
{
    struct pg_store *s = PG(base);
    json_t *jobs = NULL, *usage = NULL, *spans = NULL, *evals = NULL;
    struct pg_params p = {.n = 0};
    pgp_text(&p, root_id);
    int rc = read_rows(
        s, "trace_load",
        "SELECT id, agent, agent_version AS version, kind, " STATE_NAME(
            "state") " AS state, parent_id, root_id, depth, attempts, source, created_ms,"
                     " started_ms, finished_ms, error AS error_json, meta AS meta_json FROM jobs"
                     " WHERE root_id = $1 OR id = $1 ORDER BY seq",
        &p, &jobs);
    if (!rc)
        rc = read_rows(s, "trace_load",
                       "SELECT u.id, u.job_id, u.agent, u.backend, u.model, u.tier, u.tokens_in,"
                       " u.tokens_out, u.cost_usd, u.latency_ms, u.ttft_ms, u.status,"
                       " u.created_ms, u.kind AS call, s.attrs AS attrs_json FROM usage u"
                       " LEFT JOIN spans s ON s.id = u.id"
                       " WHERE u.root_id = $1 ORDER BY u.created_ms, u.id COLLATE \"C\"",
                       &p, &usage);
    if (!rc)
        rc = read_rows(s, "trace_load",
                       "SELECT id, job_id, kind, name, status, started_ms, duration_ms,"
                       " attrs AS attrs_json FROM spans WHERE root_id = $1 AND kind != 'model'"
                       " ORDER BY started_ms, id COLLATE \"C\"",
                       &p, &spans);
    if (!rc)
        rc = read_rows(s, "trace_load",
                       "SELECT eval, job_id, check_name AS \"check\", type, passed, score, detail,"
                       " tokens, cost_usd, created_ms FROM eval_results WHERE root_id = $1"
                       " ORDER BY created_ms, id COLLATE \"C\"",
                       &p, &evals);
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

static int pg_trace_prune(struct at_store *base, int64_t before_ms, long long max_bytes,
                          int max_trees, int *deleted)
{
    struct pg_store *s = PG(base);
    at__store_pg_wlock(s);
    *deleted = 0;
    if (max_trees <= 0)
        max_trees = 1000;
    int rc = 0;
    if (before_ms > 0)
        rc = at__store_pg_prune_trees(s,
                                      PG_PRUNABLE " AND r.finished_ms < $1::bigint ORDER BY r.seq"
                                                  " LIMIT $2::bigint",
                                      before_ms, max_trees, deleted);
    if (!rc && max_bytes > 0 && *deleted < max_trees) {
        /* the size is the database's (pg_database_size): what PostgreSQL
         * holds on disk for it, dead tuples included until vacuumed */
        PGresult *res = NULL;
        long long used = 0, roots = 0;
        if (!at__store_pg_write(s, "trace_prune",
                                "SELECT pg_database_size(current_database()),"
                                " (SELECT COUNT(*) FROM jobs WHERE parent_id IS NULL)",
                                NULL, &res, NULL)) {
            used = pg_col_i64(res, 0, 0);
            roots = pg_col_i64(res, 0, 1);
            PQclear(res);
        }
        if (used > max_bytes) {
            long long n = roots / 10 < 10 ? 10 : roots / 10;
            if (n > max_trees - *deleted)
                n = max_trees - *deleted;
            rc = at__store_pg_prune_trees(s,
                                          PG_PRUNABLE " AND $1::bigint = 1 ORDER BY r.seq"
                                                      " LIMIT $2::bigint",
                                          1, (int)n, deleted);
        }
    }
    at__store_pg_wunlock(s);
    return rc;
}

static int pg_log_append(struct at_store *base, const struct at_log_line *lines, size_t n)
{
    struct pg_store *s = PG(base);
    int rc = 0;
    at__store_pg_wlock(s);
    for (size_t i = 0; i < n && !rc; i++) {
        struct pg_params p = {.n = 0};
        pgp_text(&p, lines[i].job_id);
        pgp_i64(&p, lines[i].seq);
        pgp_text(&p, lines[i].root_id);
        pgp_i64(&p, lines[i].ts_ms);
        pgp_text(&p, lines[i].stream);
        pgp_take(&p, pg_utf8_clean(lines[i].text ? lines[i].text : "", NULL));
        rc = at__store_pg_write(s, "log_append",
                                "INSERT INTO job_logs(job_id, seq, root_id, ts_ms, stream, text)"
                                " VALUES($1, $2::bigint, $3, $4::bigint, $5, $6)"
                                " ON CONFLICT (job_id, seq) DO UPDATE SET root_id=EXCLUDED.root_id,"
                                " ts_ms=EXCLUDED.ts_ms, stream=EXCLUDED.stream,"
                                " text=EXCLUDED.text",
                                &p, NULL, NULL);
        pg_params_release(&p);
    }
    at__store_pg_wunlock(s);
    return rc;
}

static int pg_log_get(struct at_store *base, const char *job_id, json_t **out)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, job_id);
    return read_rows(PG(base), "log_get",
                     "SELECT seq, ts_ms, stream, text FROM job_logs WHERE job_id = $1 ORDER BY seq",
                     &p, out);
}

static int pg_span_put(struct at_store *base, const struct at_span_rec *r)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, r->id);
    pgp_text(&p, r->root_id);
    pgp_text(&p, r->job_id);
    pgp_text(&p, r->kind);
    pgp_take(&p, pg_utf8_clean(r->name ? r->name : "", NULL));
    pgp_text(&p, r->status ? r->status : "ok");
    pgp_i64(&p, r->started_ms);
    pgp_i64(&p, r->duration_ms);
    pgp_json(&p, r->attrs);
    int rc = write_one(PG(base), "span_put",
                       "INSERT INTO spans(id, root_id, job_id, kind, name, status, started_ms,"
                       " duration_ms, attrs) VALUES($1,$2,$3,$4,$5,$6,$7::bigint,$8::bigint,$9)"
                       " ON CONFLICT (id) DO UPDATE SET root_id=EXCLUDED.root_id,"
                       " job_id=EXCLUDED.job_id, kind=EXCLUDED.kind, name=EXCLUDED.name,"
                       " status=EXCLUDED.status, started_ms=EXCLUDED.started_ms,"
                       " duration_ms=EXCLUDED.duration_ms, attrs=EXCLUDED.attrs",
                       &p, NULL);
    pg_params_release(&p);
    return rc;
}

static int pg_eval_put(struct at_store *base, const struct at_eval_rec *r)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, r->name);
    pgp_text(&p, r->target_agent);
    pgp_text(&p, r->trigger);
    pgp_json(&p, r->definition);
    pgp_text(&p, r->source ? r->source : "");
    pgp_i64(&p, r->registered_ms ? r->registered_ms : at_wall_ms());
    int rc = write_one(PG(base), "eval_put",
                       "INSERT INTO evals(name, target_agent, trigger, definition, source,"
                       " registered_ms) VALUES($1,$2,$3,$4,$5,$6::bigint)"
                       " ON CONFLICT (name) DO UPDATE SET target_agent=EXCLUDED.target_agent,"
                       " trigger=EXCLUDED.trigger, definition=EXCLUDED.definition,"
                       " source=EXCLUDED.source, registered_ms=EXCLUDED.registered_ms",
                       &p, NULL);
    pg_params_release(&p);
    return rc;
}

static int pg_eval_list(struct at_store *base, json_t **out)
{
    return read_rows(PG(base), "eval_list",
                     "SELECT name, target_agent, trigger, definition AS definition_json, source,"
                     " registered_ms FROM evals ORDER BY name COLLATE \"C\"",
                     NULL, out);
}

static int pg_eval_delete(struct at_store *base, const char *name, int *deleted)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, name);
    long long ch = 0;
    int rc = write_one(PG(base), "eval_delete", "DELETE FROM evals WHERE name = $1", &p, &ch);
    *deleted = rc ? 0 : (int)ch;
    return rc;
}

static int pg_eval_result_put(struct at_store *base, const struct at_eval_result *r)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, r->id);
    pgp_text(&p, r->eval);
    pgp_text(&p, r->job_id);
    pgp_text(&p, r->root_id);
    pgp_text(&p, r->agent);
    pgp_text(&p, r->check_name);
    pgp_text(&p, r->type);
    pgp_i64(&p, r->passed);
    if (r->has_score)
        pgp_f64(&p, r->score);
    else
        pgp_text(&p, NULL);
    pgp_take(&p, r->detail ? pg_utf8_clean(r->detail, NULL) : NULL);
    pgp_i64(&p, r->tokens);
    pgp_f64(&p, r->cost_usd);
    pgp_i64(&p, r->created_ms ? r->created_ms : at_wall_ms());
    int rc = write_one(PG(base), "eval_result_put",
                       "INSERT INTO eval_results(id, eval, job_id, root_id, agent, check_name,"
                       " type, passed, score, detail, tokens, cost_usd, created_ms)"
                       " VALUES($1,$2,$3,$4,$5,$6,$7,$8::bigint,$9::float8,$10,$11::bigint,"
                       "$12::float8,$13::bigint) ON CONFLICT (id) DO UPDATE SET"
                       " eval=EXCLUDED.eval, job_id=EXCLUDED.job_id, root_id=EXCLUDED.root_id,"
                       " agent=EXCLUDED.agent, check_name=EXCLUDED.check_name,"
                       " type=EXCLUDED.type, passed=EXCLUDED.passed, score=EXCLUDED.score,"
                       " detail=EXCLUDED.detail, tokens=EXCLUDED.tokens,"
                       " cost_usd=EXCLUDED.cost_usd, created_ms=EXCLUDED.created_ms",
                       &p, NULL);
    pg_params_release(&p);
    return rc;
}

static int pg_eval_results(struct at_store *base, const char *job_id, const char *eval, int limit,
                           json_t **out)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, job_id);
    pgp_text(&p, eval);
    pgp_i64(&p, limit > 0 ? limit : 100);
    return read_rows(PG(base), "eval_results",
                     "SELECT id, eval, job_id, root_id, agent, check_name AS \"check\", type,"
                     " passed, score, detail, tokens, cost_usd, created_ms FROM eval_results"
                     " WHERE ($1::text IS NULL OR job_id = $1) AND ($2::text IS NULL OR eval = $2)"
                     " ORDER BY created_ms DESC, id COLLATE \"C\" LIMIT $3::bigint",
                     &p, out);
}

void at__store_pg_monitor_ops(struct at_store_ops *ops)
{
    ops->trace_list = pg_trace_list;
    ops->trace_load = pg_trace_load;
    ops->trace_prune = pg_trace_prune;
    ops->log_append = pg_log_append;
    ops->log_get = pg_log_get;
    ops->span_put = pg_span_put;
    ops->eval_put = pg_eval_put;
    ops->eval_list = pg_eval_list;
    ops->eval_delete = pg_eval_delete;
    ops->eval_result_put = pg_eval_result_put;
    ops->eval_results = pg_eval_results;
}
