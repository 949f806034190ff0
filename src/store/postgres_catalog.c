/*
 * postgres_catalog.c - the PostgreSQL backend's catalog group: agents,
 * chains and the key-value settings (see postgres_int.h; the SQLite
 * twin is sqlite_catalog.c).
 */
#include "store/postgres_int.h"

#include "base/clock.h"
#include "contract/semver.h"

/* ---- agents ---- */

static char *capabilities_text(const json_t *contract)
{
    json_t *caps = json_object_get(contract, "capabilities");
    size_t i;
    json_t *c;
    size_t len = 1;
    json_array_foreach(caps, i, c) len += json_string_length(c) + 1;
    char *out = at_malloc(len);
    out[0] = '\0';
    size_t off = 0;
    json_array_foreach(caps, i, c)
    {
        size_t n = json_string_length(c);
        if (off)
            out[off++] = ' ';
        memcpy(out + off, json_string_value(c), n);
        off += n;
        out[off] = '\0';
    }
    return out;
}

static int pg_agent_put(struct at_store *base, const struct at_agent_rec *r, int force)
{
    struct pg_store *s = PG(base);
    at__store_pg_wlock(s);
    int rc = 0;
    struct pg_params p = {.n = 0};
    if (!force) {
        PGresult *res = NULL;
        pgp_text(&p, r->name);
        pgp_text(&p, r->version);
        rc = at__store_pg_write(s, "agent_put",
                                "SELECT digest FROM agents WHERE name=$1 AND version=$2", &p, &res,
                                NULL);
        pg_params_release(&p);
        if (rc) {
            at__store_pg_wunlock(s);
            return rc;
        }
        if (PQntuples(res) > 0) {
            rc = strcmp(PQgetvalue(res, 0, 0), r->digest ? r->digest : "") == 0 ? AT_AGAIN
                                                                                : AT_EEXIST;
            PQclear(res);
            at__store_pg_wunlock(s);
            return rc; /* AT_AGAIN: identical, nothing to do */
        }
        PQclear(res);
    }
    pgp_text(&p, r->name);
    pgp_text(&p, r->version);
    pgp_text(&p, r->digest ? r->digest : "");
    pgp_text(&p, r->kind ? r->kind : "local");
    pgp_text(&p, r->source ? r->source : "");
    pgp_json(&p, r->contract);
    const char *desc = json_string_value(json_object_get(r->contract, "description"));
    pgp_text(&p, desc ? desc : "");
    pgp_take(&p, capabilities_text(r->contract));
    pgp_i64(&p, r->registered_ms ? r->registered_ms : at_wall_ms());
    rc = at__store_pg_write(
        s, "agent_put",
        "INSERT INTO agents(name, version, digest, kind, source, contract, description,"
        " capabilities, registered_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9::bigint)"
        " ON CONFLICT (name, version) DO UPDATE SET digest=EXCLUDED.digest, kind=EXCLUDED.kind,"
        " source=EXCLUDED.source, contract=EXCLUDED.contract, description=EXCLUDED.description,"
        " capabilities=EXCLUDED.capabilities, registered_ms=EXCLUDED.registered_ms",
        &p, NULL, NULL);
    pg_params_release(&p);
    at__store_pg_wunlock(s);
    return rc;
}

#define AGENT_COLS "name, version, digest, kind, source, contract, registered_ms"

static void read_agent(const PGresult *res, int row, struct at_agent_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->name = pg_col_text(res, row, 0);
    r->version = pg_col_text(res, row, 1);
    r->digest = pg_col_text(res, row, 2);
    r->kind = pg_col_text(res, row, 3);
    r->source = pg_col_text(res, row, 4);
    r->contract = pg_col_json(res, row, 5);
    r->registered_ms = pg_col_i64(res, row, 6);
}

/* Run a SELECT of AGENT_COLS on a reader with up to two text parameters. */
static int agents_query(struct pg_store *s, const char *sql, const char *a, const char *b,
                        struct at_agent_rec **out, size_t *n)
{
    struct pg_params p = {.n = 0};
    if (a)
        pgp_text(&p, a);
    if (b)
        pgp_text(&p, b);
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    int rc = at__store_pg_read(s, "agents_query", sql, &p, &res);
    if (rc)
        return rc;
    int nr = PQntuples(res);
    if (nr > 0) {
        *out = at_calloc((size_t)nr, sizeof(**out));
        for (int i = 0; i < nr; i++)
            read_agent(res, i, &(*out)[i]);
        *n = (size_t)nr;
    }
    PQclear(res);
    return 0;
}

static int semver_cmp_str(const char *a, const char *b)
{
    struct at_semver va, vb;
    int ea = at_semver_parse(a, &va), eb = at_semver_parse(b, &vb);
    if (ea || eb)
        return ea ? (eb ? strcmp(a, b) : -1) : 1;
    return at_semver_cmp(&va, &vb);
}

static int pg_agent_get(struct at_store *base, const char *name, const char *version,
                        struct at_agent_rec *out)
{
    struct at_agent_rec *recs;
    size_t n;
    int rc;
    if (version)
        rc =
            agents_query(PG(base), "SELECT " AGENT_COLS " FROM agents WHERE name=$1 AND version=$2",
                         name, version, &recs, &n);
    else
        rc = agents_query(PG(base), "SELECT " AGENT_COLS " FROM agents WHERE name=$1", name, NULL,
                          &recs, &n);
    if (rc)
        return rc;
    if (n == 0) {
        free(recs);
        return AT_ENOENT;
    }
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (semver_cmp_str(recs[i].version, recs[best].version) > 0)
            best = i;
    *out = recs[best];
    memset(&recs[best], 0, sizeof(recs[best]));
    at_agent_recs_free(recs, n);
    return 0;
}

static int cmp_agent_recs(const void *a, const void *b)
{
    const struct at_agent_rec *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : -semver_cmp_str(x->version, y->version);
}

static int pg_agent_list(struct at_store *base, const char *name, struct at_agent_rec **out,
                         size_t *n)
{
    int rc = name ? agents_query(PG(base), "SELECT " AGENT_COLS " FROM agents WHERE name=$1", name,
                                 NULL, out, n)
                  : agents_query(PG(base), "SELECT " AGENT_COLS " FROM agents", NULL, NULL, out, n);
    if (!rc && *n > 1)
        qsort(*out, *n, sizeof(**out), cmp_agent_recs);
    return rc;
}

static int pg_agent_search(struct at_store *base, const char *text, struct at_agent_rec **out,
                           size_t *n)
{
    /* Escape LIKE wildcards so the text is matched literally.  SQLite's
     * LIKE is case-insensitive for ASCII: ILIKE here. */
    size_t len = strlen(text);
    char *pat = at_malloc(len * 2 + 3);
    size_t k = 0;
    pat[k++] = '%';
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '%' || text[i] == '_' || text[i] == '\\')
            pat[k++] = '\\';
        pat[k++] = text[i];
    }
    pat[k++] = '%';
    pat[k] = '\0';
    int rc = agents_query(PG(base),
                          "SELECT " AGENT_COLS " FROM agents WHERE name ILIKE $1 ESCAPE '\\'"
                          " OR description ILIKE $1 ESCAPE '\\' OR capabilities ILIKE $1"
                          " ESCAPE '\\'",
                          pat, NULL, out, n);
    free(pat);
    if (rc)
        return rc;
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cmp_agent_recs);
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (w > 0 && strcmp((*out)[w - 1].name, (*out)[i].name) == 0) {
            at_agent_rec_release(&(*out)[i]);
            continue;
        }
        (*out)[w++] = (*out)[i];
    }
    *n = w;
    return 0;
}

static int pg_agent_delete(struct at_store *base, const char *name, const char *version,
                           int *deleted)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, name);
    if (version)
        pgp_text(&p, version);
    long long ch = 0;
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(s, "agent_delete",
                                version ? "DELETE FROM agents WHERE name=$1 AND version=$2"
                                        : "DELETE FROM agents WHERE name=$1",
                                &p, NULL, &ch);
    at__store_pg_wunlock(s);
    *deleted = rc ? 0 : (int)ch;
    return rc;
}

/* ---- chains ---- */

static int pg_chain_put(struct at_store *base, const struct at_chain_rec *r)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, r->name);
    pgp_json(&p, r->definition);
    pgp_text(&p, r->source ? r->source : "");
    pgp_text(&p, r->digest ? r->digest : "");
    pgp_i64(&p, r->registered_ms ? r->registered_ms : at_wall_ms());
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(
        s, "chain_put",
        "INSERT INTO chains(name, definition, source, digest, registered_ms)"
        " VALUES($1,$2,$3,$4,$5::bigint) ON CONFLICT (name) DO UPDATE SET"
        " definition=EXCLUDED.definition, source=EXCLUDED.source, digest=EXCLUDED.digest,"
        " registered_ms=EXCLUDED.registered_ms",
        &p, NULL, NULL);
    at__store_pg_wunlock(s);
    pg_params_release(&p);
    return rc;
}

static int pg_chain_list(struct at_store *base, struct at_chain_rec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    PGresult *res = NULL;
    int rc = at__store_pg_read(PG(base), "chain_list",
                               "SELECT name, definition, source, digest, registered_ms FROM chains"
                               " ORDER BY name COLLATE \"C\"",
                               NULL, &res);
    if (rc)
        return rc;
    int nr = PQntuples(res);
    if (nr > 0) {
        *out = at_calloc((size_t)nr, sizeof(**out));
        for (int i = 0; i < nr; i++) {
            struct at_chain_rec *r = &(*out)[i];
            r->name = pg_col_text(res, i, 0);
            r->definition = pg_col_json(res, i, 1);
            r->source = pg_col_text(res, i, 2);
            r->digest = pg_col_text(res, i, 3);
            r->registered_ms = pg_col_i64(res, i, 4);
        }
        *n = (size_t)nr;
    }
    PQclear(res);
    return 0;
}

static int pg_chain_delete(struct at_store *base, const char *name, int *deleted)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, name);
    long long ch = 0;
    at__store_pg_wlock(s);
    int rc =
        at__store_pg_write(s, "chain_delete", "DELETE FROM chains WHERE name=$1", &p, NULL, &ch);
    at__store_pg_wunlock(s);
    *deleted = rc ? 0 : (int)ch;
    return rc;
}

/* ---- kv ---- */

static int pg_kv_get(struct at_store *base, const char *key, char **value)
{
    struct pg_params p = {.n = 0};
    pgp_text(&p, key);
    PGresult *res = NULL;
    int rc = at__store_pg_read(PG(base), "kv_get", "SELECT value FROM kv WHERE key=$1", &p, &res);
    if (rc)
        return rc;
    rc = AT_ENOENT;
    if (PQntuples(res) > 0) {
        *value = pg_col_text(res, 0, 0);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

static int pg_kv_put(struct at_store *base, const char *key, const char *value)
{
    struct pg_store *s = PG(base);
    struct pg_params p = {.n = 0};
    pgp_text(&p, key);
    if (value)
        pgp_text(&p, value);
    at__store_pg_wlock(s);
    int rc = at__store_pg_write(s, "kv_put",
                                value ? "INSERT INTO kv(key, value) VALUES($1, $2)"
                                        " ON CONFLICT (key) DO UPDATE SET value=EXCLUDED.value"
                                      : "DELETE FROM kv WHERE key=$1",
                                &p, NULL, NULL);
    at__store_pg_wunlock(s);
    return rc;
}

void at__store_pg_catalog_ops(struct at_store_ops *ops)
{
    ops->agent_put = pg_agent_put;
    ops->agent_get = pg_agent_get;
    ops->agent_list = pg_agent_list;
    ops->agent_search = pg_agent_search;
    ops->agent_delete = pg_agent_delete;
    ops->chain_put = pg_chain_put;
    ops->chain_list = pg_chain_list;
    ops->chain_delete = pg_chain_delete;
    ops->kv_get = pg_kv_get;
    ops->kv_put = pg_kv_put;
}
