/*
 * postgres_jobs.c - the PostgreSQL backend's jobs group: jobs and the
 * usage rows of model calls (see postgres_int.h; the SQLite twin is
 * sqlite_jobs.c).
 */
#include "store/postgres_int.h"

#include "base/clock.h"

#include <float.h>
#include <math.h>

/* The sum of a bigint expression over the group, saturated to 64 bits
 * (SUM of bigint is numeric: it never overflows, the cast clamps), as the
 * SQLite backend's at_satsum. */
#define SATSUM(x)                                                                                  \
    "LEAST(GREATEST(COALESCE(SUM(" x "), 0), -9223372036854775808), 9223372036854775807)::bigint"

/* ---- jobs ---- */

static int pg_job_insert(struct at_store *base, struct at_job_rec *r)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, r->id);
    pgp_text(&p, r->agent);
    pgp_text(&p, r->agent_version ? r->agent_version : "");
    pgp_i64(&p, r->priority);
    pgp_i64(&p, (int)r->state);
    pgp_json(&p, r->input);
    pgp_json(&p, r->output);
    pgp_json(&p, r->error);
    pgp_text(&p, r->parent_id);
    pgp_text(&p, r->root_id);
    pgp_i64(&p, r->depth);
    pgp_i64(&p, r->attempts);
    pgp_i64(&p, r->idempotent);
    pgp_text(&p, r->source);
    pgp_json(&p, r->meta);
    pgp_i64(&p, r->created_ms);
    pgp_i64(&p, r->started_ms);
    pgp_i64(&p, r->finished_ms);
    pgp_text(&p, r->kind ? r->kind : "agent");
    PGresult *res = NULL;
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(
        s, "job_insert",
        "INSERT INTO jobs(id, agent, agent_version, priority, state, input, output, error,"
        " parent_id, root_id, depth, attempts, idempotent, source, meta, created_ms, started_ms,"
        " finished_ms, kind) VALUES($1,$2,$3,$4::bigint,$5::bigint,$6,$7,$8,$9,$10,$11::bigint,"
        "$12::bigint,$13::bigint,$14,$15,$16::bigint,$17::bigint,$18::bigint,$19) RETURNING seq",
        &p, &res, NULL);
    at__store_pg_wunlock(s);
    pg_params_release(&p);
    if (!rc) {
        r->seq = pg_col_i64(res, 0, 0);
        PQclear(res);
    }
    return rc;
}

static int pg_job_update(struct at_store *base, const struct at_job_rec *r)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, r->id);
    pgp_i64(&p, (int)r->state);
    pgp_json(&p, r->output);
    pgp_json(&p, r->error);
    pgp_i64(&p, r->attempts);
    pgp_json(&p, r->meta);
    pgp_i64(&p, r->started_ms);
    pgp_i64(&p, r->finished_ms);
    pgp_i64(&p, r->priority);
    long long ch = 0;
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(s, "job_update",
                                "UPDATE jobs SET state=$2::bigint, output=$3, error=$4,"
                                " attempts=$5::bigint, meta=$6, started_ms=$7::bigint,"
                                " finished_ms=$8::bigint, priority=$9::bigint WHERE id=$1",
                                &p, NULL, &ch);
    at__store_pg_wunlock(s);
    pg_params_release(&p);
    if (!rc && ch == 0)
        rc = AT_ENOENT;
    return rc;
}

#define JOB_COLS                                                                                   \
    "seq, id, agent, agent_version, priority, state, input, output, error, parent_id, root_id,"    \
    " depth, attempts, idempotent, source, meta, created_ms, started_ms, finished_ms, kind"

static void read_job(const PGresult *res, int row, struct at_job_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->seq = pg_col_i64(res, row, 0);
    snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, row, 1));
    r->agent = pg_col_text(res, row, 2);
    r->agent_version = pg_col_text(res, row, 3);
    r->priority = (int)pg_col_i64(res, row, 4);
    r->state = (enum at_job_state)pg_col_i64(res, row, 5);
    r->input = pg_col_json(res, row, 6);
    r->output = pg_col_json(res, row, 7);
    r->error = pg_col_json(res, row, 8);
    r->parent_id = pg_col_text(res, row, 9);
    r->root_id = pg_col_text(res, row, 10);
    r->depth = (int)pg_col_i64(res, row, 11);
    r->attempts = (int)pg_col_i64(res, row, 12);
    r->idempotent = (int)pg_col_i64(res, row, 13);
    r->source = pg_col_text(res, row, 14);
    r->meta = pg_col_json(res, row, 15);
    r->created_ms = pg_col_i64(res, row, 16);
    r->started_ms = pg_col_i64(res, row, 17);
    r->finished_ms = pg_col_i64(res, row, 18);
    r->kind = pg_col_text(res, row, 19);
}

static void jobs_collect(const PGresult *res, struct at_job_rec **out, size_t *n)
{
    int nr = PQntuples(res);
    *out = NULL;
    *n = 0;
    if (nr <= 0)
        return;
    *out = at_calloc((size_t)nr, sizeof(**out));
    for (int i = 0; i < nr; i++)
        read_job(res, i, &(*out)[i]);
    *n = (size_t)nr;
}

static int pg_job_get(struct at_store *base, const char *id, struct at_job_rec *out)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, id);
    PGresult *res = NULL;
    int rc = at__store_pg_read(PG(base), "job_get", "SELECT " JOB_COLS " FROM jobs WHERE id=$1", &p,
                               &res);
    if (rc)
        return rc;
    rc = AT_ENOENT;
    if (PQntuples(res) > 0) {
        read_job(res, 0, out);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

static int pg_job_list(struct at_store *base, const struct at_job_filter *f,
                       struct at_job_rec **out, size_t *n)
{
    char sql[900];
    struct pg_params p = {.n = 0};
    int k = snprintf(sql, sizeof(sql), "SELECT " JOB_COLS " FROM jobs WHERE TRUE");
    char ph[16];
#define NEXT() (snprintf(ph, sizeof(ph), "$%d", p.n + 1), ph)
    if (f->agent) {
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND agent=%s", NEXT());
        pgp_text(&p, f->agent);
    }
    if (f->state >= 0) {
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND state=%s::bigint", NEXT());
        pgp_i64(&p, f->state);
    }
    if (f->parent) {
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND parent_id=%s", NEXT());
        pgp_text(&p, f->parent);
    }
    if (f->before_seq) {
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND seq<%s::bigint", NEXT());
        pgp_i64(&p, f->before_seq);
    }
    if (f->since_ms) {
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND created_ms>=%s::bigint", NEXT());
        pgp_i64(&p, f->since_ms);
    }
    if (f->source) {
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND source=%s", NEXT());
        pgp_text(&p, f->source);
    }
    if (f->trigger) {
        /* meta is JSON Atlas wrote (json, not jsonb: it keeps "\u0000") */
        k += snprintf(sql + k, sizeof(sql) - (size_t)k,
                      " AND source='trigger' AND meta IS NOT NULL AND"
                      " (meta::json #>> '{event,source,name}')=%s",
                      NEXT());
        pgp_text(&p, f->trigger);
    }
    snprintf(sql + k, sizeof(sql) - (size_t)k, " ORDER BY seq DESC LIMIT %s::bigint", NEXT());
#undef NEXT
    pgp_i64(&p, f->limit > 0 ? f->limit : 100);
    PGresult *res = NULL;
    int rc = at__store_pg_read(PG(base), "job_list", sql, &p, &res);
    if (rc)
        return rc;
    jobs_collect(res, out, n);
    PQclear(res);
    return 0;
}

static int pg_job_unfinished(struct at_store *base, struct at_job_rec **out, size_t *n)
{
    struct pg_store *s = PG(base);
    PGresult *res = NULL;
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(s, "job_unfinished",
                                "SELECT " JOB_COLS " FROM jobs WHERE state < 2"
                                " ORDER BY priority DESC, seq",
                                NULL, &res, NULL);
    at__store_pg_wunlock(s);
    if (rc)
        return rc;
    jobs_collect(res, out, n);
    PQclear(res);
    return 0;
}

/* A group of statements all or none: a savepoint inside the writer's
 * transaction, else a transaction of its own. */
static int group_begin(struct pg_store *s)
{
    return at__store_pg_wexec(s, "prune", s->in_txn ? "SAVEPOINT at_prune" : "BEGIN");
}

static void group_end(struct pg_store *s, int failed)
{
    if (s->in_txn) {
        if (failed)
            at__store_pg_wexec(s, "prune", "ROLLBACK TO SAVEPOINT at_prune");
        at__store_pg_wexec(s, "prune", "RELEASE SAVEPOINT at_prune");
    } else {
        at__store_pg_wexec(s, "prune", failed ? "ROLLBACK" : "COMMIT");
    }
}

static int pg_job_prune(struct at_store *base, int64_t before_ms, long long keep, int max_trees,
                        int *deleted)
{
    struct pg_store *s = PG(base);
    at__store_pg_wlock(s);
    *deleted = 0;
    if (max_trees <= 0)
        max_trees = 1000;
    int rc = group_begin(s);
    if (rc) {
        at__store_pg_wunlock(s);
        return rc;
    }
    /* prune_trees' own savepoint nests in this group */
    s->in_txn++;
    if (!rc && before_ms > 0)
        rc = at__store_pg_prune_trees(s,
                                      PG_PRUNABLE " AND r.finished_ms < $1::bigint ORDER BY r.seq"
                                                  " LIMIT $2::bigint",
                                      before_ms, max_trees, deleted);
    if (!rc && keep >= 0 && *deleted < max_trees)
        rc = at__store_pg_prune_trees(
            s,
            PG_PRUNABLE " AND r.seq <= (SELECT f.seq FROM jobs f WHERE f.parent_id IS NULL"
                        " AND f.state >= 2 ORDER BY f.seq DESC LIMIT 1 OFFSET $1::bigint)"
                        " ORDER BY r.seq LIMIT $2::bigint",
            keep, max_trees - *deleted, deleted);
    s->in_txn--;
    if (rc)
        *deleted = 0;
    group_end(s, rc != 0);
    at__store_pg_wunlock(s);
    return rc;
}

/* ---- usage ---- */

static int pg_usage_insert(struct at_store *base, const struct at_usage_rec *r)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, r->id);
    pgp_text(&p, r->job_id);
    pgp_text(&p, r->root_id);
    pgp_text(&p, r->agent);
    pgp_text(&p, r->backend);
    pgp_text(&p, r->model);
    pgp_text(&p, r->tier);
    pgp_i64(&p, r->tokens_in);
    pgp_i64(&p, r->tokens_out);
    pgp_f64(&p, isfinite(r->cost_usd) ? r->cost_usd : (r->cost_usd > 0 ? DBL_MAX : 0));
    pgp_i64(&p, r->latency_ms);
    pgp_i64(&p, r->ttft_ms);
    pgp_text(&p, r->status ? r->status : "ok");
    pgp_i64(&p, r->created_ms ? r->created_ms : at_wall_ms());
    pgp_text(&p, r->kind ? r->kind : "chat");
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(
        s, "usage_insert",
        "INSERT INTO usage(id, job_id, root_id, agent, backend, model, tier, tokens_in,"
        " tokens_out, cost_usd, latency_ms, ttft_ms, status, created_ms, kind) VALUES($1,$2,$3,$4,"
        "$5,$6,$7,$8::bigint,$9::bigint,$10::float8,$11::bigint,$12::bigint,$13,$14::bigint,$15)",
        &p, NULL, NULL);
    at__store_pg_wunlock(s);
    pg_params_release(&p);
    return rc;
}

#define PG_DAY "to_char(to_timestamp(created_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

static int pg_usage_sum(struct at_store *base, const struct at_usage_filter *f, json_t **out)
{
    /* the grouping column comes from a fixed list, never from the caller */
    static const char *const groups[][2] = {
        {"agent", "COALESCE(agent, '')"},
        {"model", "COALESCE(model, '')"},
        {"backend", "COALESCE(backend, '')"},
        {"kind", "kind"},
        {"job_id", "COALESCE(job_id, '')"},
        {"root_id", "COALESCE(root_id, '')"},
        {"day", PG_DAY},
        {"trigger", "COALESCE((SELECT j.meta::json #>> '{event,source,name}' FROM jobs j"
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
    char sql[1400];
    snprintf(
        sql, sizeof(sql),
        "SELECT k, COUNT(*), " SATSUM("tokens_in") ", " SATSUM(
            "tokens_out") ","
                          " COALESCE(SUM(cost_usd), 0)::float8 AS cost, d FROM"
                          " (SELECT %s AS k, %s AS d, tokens_in, tokens_out, cost_usd FROM usage"
                          "  WHERE ($1::text IS NULL OR job_id=$1) AND ($2::text IS NULL OR "
                          "root_id=$2)"
                          "  AND ($3::bigint = 0 OR created_ms >= $3::bigint)) u"
                          " GROUP BY k, d ORDER BY %s cost DESC, k COLLATE \"C\"",
        expr, f->per_day ? PG_DAY : "''", f->per_day ? "d COLLATE \"C\"," : "");
    struct pg_params p = {.n = 0};
    pgp_text(&p, f->job_id);
    pgp_text(&p, f->root_id);
    pgp_i64(&p, f->since_ms);
    PGresult *res = NULL;
    int rc = at__store_pg_read(PG(base), "usage_sum", sql, &p, &res);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        double cost = pg_col_f64(res, i, 4);
        if (!isfinite(cost))
            cost = cost > 0 ? DBL_MAX : 0; /* JSON has no infinity */
        json_t *row = json_pack("{s:s,s:I,s:I,s:I,s:f}", "key", PQgetvalue(res, i, 0), "calls",
                                (json_int_t)pg_col_i64(res, i, 1), "tokens_in",
                                (json_int_t)pg_col_i64(res, i, 2), "tokens_out",
                                (json_int_t)pg_col_i64(res, i, 3), "cost_usd", cost);
        if (f->per_day)
            json_object_set_new(row, "day", json_string(PQgetvalue(res, i, 5)));
        json_array_append_new(arr, row);
    }
    PQclear(res);
    *out = arr;
    return 0;
}

void at__store_pg_jobs_ops(struct at_store_ops *ops)
{
    ops->job_insert = pg_job_insert;
    ops->job_update = pg_job_update;
    ops->job_get = pg_job_get;
    ops->job_list = pg_job_list;
    ops->job_unfinished = pg_job_unfinished;
    ops->job_prune = pg_job_prune;
    ops->usage_insert = pg_usage_insert;
    ops->usage_sum = pg_usage_sum;
}
