/*
 * postgres_triggers.c - group 5 of the store's table (store.h) on
 * PostgreSQL: the firings of triggers and the idempotency keys of their
 * deliveries (the tables of migration 10), as sqlite_triggers.c does them.
 *
 * Writes run on the writer, inside its group commit; retention is applied
 * with each write by primary-key ranges.
 */
#include "store/postgres_int.h"

static int firing_put(struct at_store *base, const struct at_trigger_firing_row *rows, size_t n)
{
    struct pg_store *s = PG(base);
    int rc = 0;
    at__store_pg_wlock(s);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct at_trigger_firing_row *r = &rows[i];
        struct pg_params p = {.n = 0};
        if (r->update) {
            pgp_text(&p, r->trigger);
            pgp_i64(&p, r->seq);
            pgp_text(&p, r->job_id);
            pgp_text(&p, r->doc);
            rc = at__store_pg_write(s, "trigger_firing_put",
                                    "UPDATE trigger_firings SET doc=$4, pending=NULL"
                                    " WHERE trigger=$1 AND seq=$2 AND job_id=$3",
                                    &p, NULL, NULL);
            pg_params_release(&p);
            continue;
        }
        if (r->doc) {
            pgp_text(&p, r->trigger);
            pgp_i64(&p, r->seq);
            pgp_text(&p, r->job_id);
            pgp_i64(&p, r->scheduled);
            pgp_text(&p, r->doc);
            pgp_text(&p, r->pending);
            rc = at__store_pg_write(s, "trigger_firing_put",
                                    "INSERT INTO trigger_firings(trigger, seq, job_id, scheduled,"
                                    " doc, pending) VALUES($1, $2, $3, $4, $5, $6)"
                                    " ON CONFLICT (trigger, seq) DO UPDATE SET"
                                    " job_id=EXCLUDED.job_id, scheduled=EXCLUDED.scheduled,"
                                    " doc=EXCLUDED.doc, pending=EXCLUDED.pending",
                                    &p, NULL, NULL);
            pg_params_release(&p);
        }
        if (!rc && r->idem && r->job_id) {
            pgp_text(&p, r->trigger);
            pgp_text(&p, r->idem);
            pgp_text(&p, r->job_id);
            pgp_i64(&p, r->seq);
            rc = at__store_pg_write(s, "trigger_firing_put",
                                    "INSERT INTO trigger_idem(trigger, key, job_id, seq)"
                                    " VALUES($1, $2, $3, $4) ON CONFLICT (trigger, key) DO UPDATE"
                                    " SET job_id=EXCLUDED.job_id, seq=EXCLUDED.seq",
                                    &p, NULL, NULL);
            pg_params_release(&p);
        }
        if (!rc && r->keep > 0 && r->seq > r->keep) {
            pgp_text(&p, r->trigger);
            pgp_i64(&p, r->seq - r->keep);
            rc = at__store_pg_write(s, "trigger_firing_put",
                                    "DELETE FROM trigger_firings WHERE trigger=$1 AND seq<=$2", &p,
                                    NULL, NULL);
            pg_params_release(&p);
        }
        if (!rc && r->idem_keep > 0 && r->seq > r->idem_keep) {
            pgp_text(&p, r->trigger);
            pgp_i64(&p, r->seq - r->idem_keep);
            rc = at__store_pg_write(s, "trigger_firing_put",
                                    "DELETE FROM trigger_idem WHERE trigger=$1 AND seq<=$2", &p,
                                    NULL, NULL);
            pg_params_release(&p);
        }
    }
    at__store_pg_wunlock(s);
    return rc;
}

/* A read of trigger's rows ($1, and $2 the integer arg when has_arg). */
static int read_rows(struct at_store *base, const char *what, const char *sql, const char *trigger,
                     int has_arg, long long arg, PGresult **res)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, trigger);
    if (has_arg)
        pgp_i64(&p, arg);
    int rc = at__store_pg_read(PG(base), what, sql, &p, res);
    pg_params_release(&p);
    return rc;
}

static int firing_list(struct at_store *base, const char *trigger, int limit, json_t **out)
{
    PGresult *res = NULL;
    int rc = read_rows(base, "trigger_firing_list",
                       "SELECT doc, pending IS NOT NULL FROM trigger_firings WHERE trigger=$1"
                       " ORDER BY seq DESC LIMIT $2",
                       trigger, 1, limit > 0 ? limit : 100, &res);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *doc = pg_col_json(res, i, 0);
        if (!json_is_object(doc)) {
            json_decref(doc);
            continue;
        }
        if (strcmp(PQgetvalue(res, i, 1), "t") == 0)
            json_object_set_new(doc, "pending", json_true());
        json_array_append_new(arr, doc);
    }
    PQclear(res);
    *out = arr;
    return 0;
}

static int firing_pending(struct at_store *base, const char *trigger, json_t **out)
{
    PGresult *res = NULL;
    int rc = read_rows(base, "trigger_firing_pending",
                       "SELECT seq, doc, pending FROM trigger_firings WHERE trigger=$1"
                       " AND pending IS NOT NULL ORDER BY seq",
                       trigger, 0, 0, &res);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *doc = pg_col_json(res, i, 1), *pd = pg_col_json(res, i, 2);
        if (json_is_object(doc) && json_is_object(pd)) {
            json_array_append_new(arr, json_pack("{s:I,s:o,s:o}", "seq",
                                                 (json_int_t)pg_col_i64(res, i, 0), "doc", doc,
                                                 "pending", pd));
        } else {
            json_decref(doc);
            json_decref(pd);
        }
    }
    PQclear(res);
    *out = arr;
    return 0;
}

static int idem_load(struct at_store *base, const char *trigger, int limit, json_t **out)
{
    PGresult *res = NULL;
    int rc = read_rows(base, "trigger_idem_load",
                       "SELECT key, job_id, seq FROM trigger_idem WHERE trigger=$1"
                       " ORDER BY seq DESC LIMIT $2",
                       trigger, 1, limit > 0 ? limit : 1000, &res);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 0) || PQgetisnull(res, i, 1))
            continue;
        json_array_insert_new(arr, 0,
                              json_pack("[s,s,I]", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                                        (json_int_t)pg_col_i64(res, i, 2)));
    }
    PQclear(res);
    *out = arr;
    return 0;
}

static int firing_state(struct at_store *base, const char *trigger, int64_t *seq,
                        int64_t *scheduled)
{
    PGresult *res = NULL;
    *seq = 0;
    *scheduled = 0;
    int rc = read_rows(base, "trigger_firing_state",
                       "SELECT coalesce(max(seq), 0), coalesce(max(scheduled), 0)"
                       " FROM trigger_firings WHERE trigger=$1",
                       trigger, 0, 0, &res);
    if (rc)
        return rc;
    if (PQntuples(res) > 0) {
        *seq = pg_col_i64(res, 0, 0);
        *scheduled = pg_col_i64(res, 0, 1);
    }
    PQclear(res);
    return 0;
}

static int firing_delete(struct at_store *base, const char *trigger)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, trigger);
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(s, "trigger_firing_delete",
                                "DELETE FROM trigger_firings WHERE trigger=$1", &p, NULL, NULL);
    if (!rc)
        rc = at__store_pg_write(s, "trigger_firing_delete",
                                "DELETE FROM trigger_idem WHERE trigger=$1", &p, NULL, NULL);
    at__store_pg_wunlock(s);
    pg_params_release(&p);
    return rc;
}

void at__store_pg_triggers_ops(struct at_store_ops *ops)
{
    ops->trigger_firing_put = firing_put;
    ops->trigger_firing_list = firing_list;
    ops->trigger_firing_pending = firing_pending;
    ops->trigger_idem_load = idem_load;
    ops->trigger_firing_state = firing_state;
    ops->trigger_firing_delete = firing_delete;
}
