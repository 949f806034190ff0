/*
 * sqlite_catalog.c - the SQLite backend's catalog group: agents, chains
 * and the key-value settings (see sqlite_int.h).
 */
#include "store/sqlite_int.h"

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

static int sq_agent_put(struct at_store *base, const struct at_agent_rec *r, int force)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (!force) {
        if (sqlite3_prepare_v2(db, "SELECT digest FROM agents WHERE name=?1 AND version=?2", -1,
                               &st, NULL) != SQLITE_OK) {
            rc = sq_err(db, SQLITE_ERROR, "agent_put");
            wunlock(s);
            return rc;
        }
        bind_text(st, 1, r->name);
        bind_text(st, 2, r->version);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *dg = (const char *)sqlite3_column_text(st, 0);
            rc = dg && strcmp(dg, r->digest) == 0 ? 0 : AT_EEXIST;
            sqlite3_finalize(st);
            wunlock(s);
            return rc == 0 ? AT_AGAIN : rc; /* AT_AGAIN: identical, nothing to do */
        }
        sqlite3_finalize(st);
    }
    const char *sql =
        "INSERT OR REPLACE INTO agents(name, version, digest, kind, source, contract,"
        " description, capabilities, registered_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_err(db, SQLITE_ERROR, "agent_put");
        wunlock(s);
        return rc;
    }
    bind_text(st, 1, r->name);
    bind_text(st, 2, r->version);
    bind_text(st, 3, r->digest ? r->digest : "");
    bind_text(st, 4, r->kind ? r->kind : "local");
    bind_text(st, 5, r->source ? r->source : "");
    bind_json(st, 6, r->contract);
    const char *desc = json_string_value(json_object_get(r->contract, "description"));
    bind_text(st, 7, desc ? desc : "");
    sqlite3_bind_text(st, 8, capabilities_text(r->contract), -1, free);
    sqlite3_bind_int64(st, 9, r->registered_ms ? r->registered_ms : at_wall_ms());
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "agent_put");
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

#define AGENT_COLS "name, version, digest, kind, source, contract, registered_ms"

static void read_agent(sqlite3_stmt *st, struct at_agent_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->name = col_text(st, 0);
    r->version = col_text(st, 1);
    r->digest = col_text(st, 2);
    r->kind = col_text(st, 3);
    r->source = col_text(st, 4);
    r->contract = col_json(st, 5);
    r->registered_ms = sqlite3_column_int64(st, 6);
}

/* Run a SELECT of AGENT_COLS on a reader with up to two text binds. */
static int agents_query(struct sq_store *s, const char *sql, const char *a, const char *b,
                        struct at_agent_rec **out, size_t *n)
{
    struct reader *rd = rlock(s);
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, "agents_query");
        runlock(rd);
        return rc;
    }
    if (a)
        bind_text(st, 1, a);
    if (b)
        bind_text(st, 2, b);
    size_t cap = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = at_realloc(*out, cap * sizeof(**out));
        }
        read_agent(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    runlock(rd);
    if (src != SQLITE_DONE) {
        at_agent_recs_free(*out, *n);
        *out = NULL;
        *n = 0;
        return AT_EIO;
    }
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

static int sq_agent_get(struct at_store *base, const char *name, const char *version,
                        struct at_agent_rec *out)
{
    struct at_agent_rec *recs;
    size_t n;
    int rc;
    if (version)
        rc =
            agents_query(SQ(base), "SELECT " AGENT_COLS " FROM agents WHERE name=?1 AND version=?2",
                         name, version, &recs, &n);
    else
        rc = agents_query(SQ(base), "SELECT " AGENT_COLS " FROM agents WHERE name=?1", name, NULL,
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

static int sq_agent_list(struct at_store *base, const char *name, struct at_agent_rec **out,
                         size_t *n)
{
    int rc = name ? agents_query(SQ(base), "SELECT " AGENT_COLS " FROM agents WHERE name=?1", name,
                                 NULL, out, n)
                  : agents_query(SQ(base), "SELECT " AGENT_COLS " FROM agents", NULL, NULL, out, n);
    if (!rc && *n > 1)
        qsort(*out, *n, sizeof(**out), cmp_agent_recs);
    return rc;
}

static int sq_agent_search(struct at_store *base, const char *text, struct at_agent_rec **out,
                           size_t *n)
{
    /* Escape LIKE wildcards so the text is matched literally. */
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
    int rc = agents_query(SQ(base),
                          "SELECT " AGENT_COLS " FROM agents WHERE name LIKE ?1 ESCAPE '\\'"
                          " OR description LIKE ?1 ESCAPE '\\' OR capabilities LIKE ?1 ESCAPE '\\'",
                          pat, NULL, out, n);
    free(pat);
    if (rc)
        return rc;
    /* keep only the highest version of each name */
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

static int sq_agent_delete(struct at_store *base, const char *name, const char *version,
                           int *deleted)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    const char *sql = version ? "DELETE FROM agents WHERE name=?1 AND version=?2"
                              : "DELETE FROM agents WHERE name=?1";
    int rc = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_err(db, SQLITE_ERROR, "agent_delete");
        wunlock(s);
        return rc;
    }
    bind_text(st, 1, name);
    if (version)
        bind_text(st, 2, version);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "agent_delete");
    *deleted = sqlite3_changes(db);
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

/* ---- chains ---- */

static int sq_chain_put(struct at_store *base, const struct at_chain_rec *r)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO chains(name, definition, source, digest,"
                           " registered_ms) VALUES(?1,?2,?3,?4,?5)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sq_err(db, SQLITE_ERROR, "chain_put");
        wunlock(s);
        return rc;
    }
    bind_text(st, 1, r->name);
    bind_json(st, 2, r->definition);
    bind_text(st, 3, r->source ? r->source : "");
    bind_text(st, 4, r->digest ? r->digest : "");
    sqlite3_bind_int64(st, 5, r->registered_ms ? r->registered_ms : at_wall_ms());
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "chain_put");
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

static int sq_chain_list(struct at_store *base, struct at_chain_rec **out, size_t *n)
{
    struct reader *rd = rlock(SQ(base));
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(rd->db,
                           "SELECT name, definition, source, digest, registered_ms FROM chains"
                           " ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, "chain_list");
        runlock(rd);
        return rc;
    }
    size_t cap = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = at_realloc(*out, cap * sizeof(**out));
        }
        struct at_chain_rec *r = &(*out)[(*n)++];
        r->name = col_text(st, 0);
        r->definition = col_json(st, 1);
        r->source = col_text(st, 2);
        r->digest = col_text(st, 3);
        r->registered_ms = sqlite3_column_int64(st, 4);
    }
    int rc = src == SQLITE_DONE ? 0 : sq_err(rd->db, src, "chain_list");
    sqlite3_finalize(st);
    runlock(rd);
    if (rc) {
        at_chain_recs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int sq_chain_delete(struct at_store *base, const char *name, int *deleted)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    *deleted = 0;
    if (sqlite3_prepare_v2(db, "DELETE FROM chains WHERE name=?1", -1, &st, NULL) != SQLITE_OK) {
        rc = sq_err(db, SQLITE_ERROR, "chain_delete");
        wunlock(s);
        return rc;
    }
    bind_text(st, 1, name);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "chain_delete");
    else
        *deleted = sqlite3_changes(db);
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

/* ---- kv ---- */

static int sq_kv_get(struct at_store *base, const char *key, char **value)
{
    struct reader *rd = rlock(SQ(base));
    sqlite3_stmt *st;
    int rc = AT_ENOENT;
    if (sqlite3_prepare_v2(rd->db, "SELECT value FROM kv WHERE key=?1", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = sq_err(rd->db, SQLITE_ERROR, "kv_get");
        runlock(rd);
        return rc;
    }
    bind_text(st, 1, key);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *value = col_text(st, 0);
        rc = 0;
    } else if (src != SQLITE_DONE) {
        rc = sq_err(rd->db, src, "kv_get");
    }
    sqlite3_finalize(st);
    runlock(rd);
    return rc;
}

static int sq_kv_put(struct at_store *base, const char *key, const char *value)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    const char *sql = value ? "INSERT OR REPLACE INTO kv(key, value) VALUES(?1, ?2)"
                            : "DELETE FROM kv WHERE key=?1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_err(db, SQLITE_ERROR, "kv_put");
        wunlock(s);
        return rc;
    }
    if (value)
        bind_text(st, 2, value);
    bind_text(st, 1, key);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "kv_put");
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

void at_store_sqlite_catalog_ops(struct at_store_ops *ops)
{
    ops->agent_put = sq_agent_put;
    ops->agent_get = sq_agent_get;
    ops->agent_list = sq_agent_list;
    ops->agent_search = sq_agent_search;
    ops->agent_delete = sq_agent_delete;
    ops->chain_put = sq_chain_put;
    ops->chain_list = sq_chain_list;
    ops->chain_delete = sq_chain_delete;
    ops->kv_get = sq_kv_get;
    ops->kv_put = sq_kv_put;
}
