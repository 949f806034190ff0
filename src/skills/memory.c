/*
 * memory.c - the built-in skill memory: put, get, search, forget, list
 * with a TTL, on the store's SQLite file (table skill_memory and its FTS5
 * index skill_memory_fts, external content kept in step by triggers).
 *
 * Isolation: every row carries its tenant (the calling agent's name; a
 * user is "user:") and its conversation (the job's conversation when it
 * has one, else the input's `conversation`, else ""), and every statement
 * filters on both, so one agent never sees another's memories and one
 * conversation never sees another's.  search is FTS5 MATCH ordered by
 * bm25() (lower is better, as SQLite ranks); the score is returned.
 *
 * Embeddings: with skills.memory.embedding.model and the daemon's embedder
 * (the gateway's /v1/embeddings), each put also stores the value's vector
 * (table skill_memory_vec: float32, with the model that made it) and
 * search ranks the rows that have one by cosine similarity to the query's
 * vector (higher is better); mode "fts" still asks FTS5.  Vectors are made
 * outside the database lock (a model call may take long).
 */
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int at__memory_init(struct at_skills *s, struct at_diag *d)
{
    char *err = NULL;
    const char *sql =
        "CREATE TABLE IF NOT EXISTS skill_memory (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, "
        "conv TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, created_ms INTEGER NOT "
        "NULL, expires_ms INTEGER, UNIQUE (tenant, conv, key));"
        "CREATE VIRTUAL TABLE IF NOT EXISTS skill_memory_fts USING fts5(key, value, "
        "content='skill_memory', content_rowid='id');"
        "CREATE TRIGGER IF NOT EXISTS skill_memory_ai AFTER INSERT ON skill_memory BEGIN "
        "INSERT INTO skill_memory_fts(rowid, key, value) VALUES (new.id, new.key, new.value); "
        "END;"
        "CREATE TRIGGER IF NOT EXISTS skill_memory_ad AFTER DELETE ON skill_memory BEGIN "
        "INSERT INTO skill_memory_fts(skill_memory_fts, rowid, key, value) VALUES ('delete', "
        "old.id, old.key, old.value); END;"
        "CREATE TRIGGER IF NOT EXISTS skill_memory_au AFTER UPDATE ON skill_memory BEGIN "
        "INSERT INTO skill_memory_fts(skill_memory_fts, rowid, key, value) VALUES ('delete', "
        "old.id, old.key, old.value); INSERT INTO skill_memory_fts(rowid, key, value) VALUES "
        "(new.id, new.key, new.value); END;"
        "CREATE TABLE IF NOT EXISTS skill_memory_vec (id INTEGER PRIMARY KEY, model TEXT NOT "
        "NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL);"
        "CREATE TRIGGER IF NOT EXISTS skill_memory_vd AFTER DELETE ON skill_memory BEGIN "
        "DELETE FROM skill_memory_vec WHERE id = old.id; END;";
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        at_diag_set(d, AT_EIO, s->db_path, 0, 0, "skills: the memory tables: %s",
                    err ? err : "sqlite error");
        sqlite3_free(err);
        return AT_EIO;
    }
    return 0;
}

static void who(const struct at__call *c, const json_t *in, char *tenant, size_t tn,
                const char **conv)
{
    snprintf(tenant, tn, "%s%s",
             c->caller->agent ? "agent:" : "user:", c->caller->agent ? c->caller->agent : "");
    *conv = c->caller->conversation ? c->caller->conversation : at_json_str(in, "conversation", "");
}

static int db_fail(struct at_skills *s, struct at_diag *d)
{
    return at_diag_set(d, AT_EIO, NULL, 0, 0, "memory: %s", sqlite3_errmsg(s->db));
}

/* The vector of a JSON array of numbers (malloc'd floats), or NULL. */
static float *vec_of(const json_t *v, size_t *dim)
{
    size_t n = json_array_size(v);
    *dim = n;
    if (!n || n > 65536)
        return NULL;
    float *f = at_calloc(n, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_number(x)) {
            free(f);
            return NULL;
        }
        f[i] = (float)json_number_value(x);
    }
    return f;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / (sqrt(aa) * sqrt(bb)) : 0;
}

static int vec_put(struct at_skills *s, const char *tenant, const char *conv, const char *key,
                   const float *vec, size_t dim)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->db,
                                "INSERT OR REPLACE INTO skill_memory_vec (id, model, dim, vec) "
                                "SELECT id, ?, ?, ? FROM skill_memory WHERE tenant = ? AND conv = "
                                "? AND key = ?",
                                -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, s->embed_model, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)dim);
        sqlite3_bind_blob(st, 3, vec, (int)(dim * sizeof(float)), SQLITE_STATIC);
        sqlite3_bind_text(st, 4, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, conv, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, key, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return ok ? 0 : AT_EIO;
}

static int mem_put(struct at_skills *s, const char *tenant, const char *conv, const json_t *in,
                   const float *vec, size_t dim, json_t **out, struct at_diag *d)
{
    const json_t *v = json_object_get(in, "value");
    char *text = json_is_string(v) ? at_strdup(json_string_value(v)) : at_json_dumps(v);
    int64_t now = at_wall_ms();
    const json_t *ttl = json_object_get(in, "ttl_s");
    sqlite3_stmt *st = NULL;
    int rc = 0;
    /* expired rows of this tenant go first (bounded: the TTL is a promise) */
    sqlite3_stmt *gc = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM skill_memory WHERE tenant = ? AND expires_ms IS NOT NULL "
                           "AND expires_ms <= ?",
                           -1, &gc, NULL) == SQLITE_OK) {
        sqlite3_bind_text(gc, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(gc, 2, now);
        sqlite3_step(gc);
    }
    sqlite3_finalize(gc);
    if (sqlite3_prepare_v2(
            s->db,
            "INSERT INTO skill_memory (tenant, conv, key, value, created_ms, "
            "expires_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, conv, key) "
            "DO UPDATE SET value = excluded.value, created_ms = excluded.created_ms, "
            "expires_ms = excluded.expires_ms",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, d);
        goto out;
    }
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, conv, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, at_json_str(in, "key", ""), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    if (ttl)
        sqlite3_bind_int64(st, 6, now + (int64_t)(json_number_value(ttl) * 1000));
    else
        sqlite3_bind_null(st, 6);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(s, d);
    else
        *out = json_pack("{s:s,s:b}", "key", at_json_str(in, "key", ""), "stored", 1);
    if (!rc && vec) {
        if (vec_put(s, tenant, conv, at_json_str(in, "key", ""), vec, dim))
            rc = db_fail(s, d);
        else
            json_object_set_new(*out, "embedded", json_true());
    }
out:
    sqlite3_finalize(st);
    free(text);
    return rc;
}

static int mem_get(struct at_skills *s, const char *tenant, const char *conv, const json_t *in,
                   json_t **out, struct at_diag *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT value, created_ms, expires_ms FROM skill_memory WHERE tenant = "
                           "? AND conv = ? AND key = ? AND (expires_ms IS NULL OR expires_ms > ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, d);
    const char *key = at_json_str(in, "key", "");
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, conv, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, at_wall_ms());
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = json_pack("{s:s,s:b,s:s,s:I}", "key", key, "found", 1, "value",
                         (const char *)sqlite3_column_text(st, 0), "created_ms",
                         (json_int_t)sqlite3_column_int64(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            json_object_set_new(*out, "expires_ms",
                                json_integer((json_int_t)sqlite3_column_int64(st, 2)));
    } else {
        *out = json_pack("{s:s,s:b}", "key", key, "found", 0);
    }
    sqlite3_finalize(st);
    return rc;
}

static int mem_search(struct at_skills *s, const char *tenant, const char *conv, const json_t *in,
                      json_t **out, struct at_diag *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT m.key, m.value, bm25(skill_memory_fts) AS score FROM "
                           "skill_memory_fts JOIN skill_memory m ON m.id = skill_memory_fts.rowid "
                           "WHERE skill_memory_fts MATCH ? AND m.tenant = ? AND m.conv = ? AND "
                           "(m.expires_ms IS NULL OR m.expires_ms > ?) ORDER BY score, m.id "
                           "LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, d);
    sqlite3_bind_text(st, 1, at_json_str(in, "query", ""), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, conv, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, at_wall_ms());
    sqlite3_bind_int64(st, 5, at_json_int(in, "limit", 10));
    json_t *res = json_array();
    int rc, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(res, json_pack("{s:s,s:s,s:f}", "key",
                                             (const char *)sqlite3_column_text(st, 0), "value",
                                             (const char *)sqlite3_column_text(st, 1), "score",
                                             sqlite3_column_double(st, 2)));
    if (step != SQLITE_DONE) {
        rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                         "memory: the query is not an FTS5 query (%s): quote words with "
                         "special characters",
                         sqlite3_errmsg(s->db));
        json_decref(res);
    } else {
        rc = 0;
        *out = json_pack("{s:s,s:s,s:o}", "query", at_json_str(in, "query", ""), "ranking", "bm25",
                         "results", res);
    }
    sqlite3_finalize(st);
    return rc;
}

struct hit {
    double score;
    long long id;
    char *key, *value;
};

static int hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int mem_search_vec(struct at_skills *s, const char *tenant, const char *conv,
                          const json_t *in, const float *q, size_t dim, json_t **out,
                          struct at_diag *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT m.id, m.key, m.value, v.vec FROM skill_memory m JOIN "
                           "skill_memory_vec v ON v.id = m.id WHERE m.tenant = ? AND m.conv = ? "
                           "AND (m.expires_ms IS NULL OR m.expires_ms > ?) AND v.model = ? AND "
                           "v.dim = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, d);
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, conv, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, at_wall_ms());
    sqlite3_bind_text(st, 4, s->embed_model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)dim);
    struct hit *h = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 3);
        if (!blob || (size_t)sqlite3_column_bytes(st, 3) != dim * sizeof(float))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            h = at_realloc(h, cap * sizeof(*h));
        }
        float *v = at_malloc(dim * sizeof(float));
        memcpy(v, blob, dim * sizeof(float));
        h[n].score = cosine(q, v, dim);
        free(v);
        h[n].id = sqlite3_column_int64(st, 0);
        h[n].key = at_strdup((const char *)sqlite3_column_text(st, 1));
        h[n].value = at_strdup((const char *)sqlite3_column_text(st, 2));
        n++;
    }
    sqlite3_finalize(st);
    if (n)
        qsort(h, n, sizeof(*h), hit_cmp);
    size_t limit = (size_t)at_json_int(in, "limit", 10);
    json_t *res = json_array();
    for (size_t i = 0; i < n; i++) {
        if (i < limit)
            json_array_append_new(res, json_pack("{s:s,s:s,s:f}", "key", h[i].key, "value",
                                                 h[i].value, "score", h[i].score));
        free(h[i].key);
        free(h[i].value);
    }
    free(h);
    *out = json_pack("{s:s,s:s,s:s,s:o}", "query", at_json_str(in, "query", ""), "ranking",
                     "cosine", "model", s->embed_model, "results", res);
    return 0;
}

static int mem_forget(struct at_skills *s, const char *tenant, const char *conv, const json_t *in,
                      json_t **out, struct at_diag *d)
{
    sqlite3_stmt *st = NULL;
    const char *key = at_json_str(in, "key", NULL);
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM skill_memory WHERE tenant = ?1 AND conv = ?2 AND "
                           "(?3 IS NULL OR key = ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, d);
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, conv, -1, SQLITE_STATIC);
    if (key)
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(s, d);
    else
        *out = json_pack("{s:i}", "forgotten", sqlite3_changes(s->db));
    sqlite3_finalize(st);
    return rc;
}

static int memory(struct at_skills *s, const struct at__call *c, const json_t *in, json_t **out,
                  struct at_diag *d)
{
    char tenant[128];
    const char *conv;
    who(c, in, tenant, sizeof(tenant), &conv);
    const char *op = at_json_str(in, "op", "");
    if ((!strcmp(op, "put") || !strcmp(op, "get")) && !json_is_string(json_object_get(in, "key")))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "memory: %s needs a key", op);
    if (!strcmp(op, "put") && !json_object_get(in, "value"))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "memory: put needs a value");
    if (!strcmp(op, "search") && !json_is_string(json_object_get(in, "query")))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "memory: search needs a query");
    const char *mode = at_json_str(in, "mode", NULL);
    int emb_on = s->embed_model && s->embed_fn;
    if (mode && !strcmp(mode, "embedding") && !emb_on)
        return at_diag_set(
            d, AT_EUNAVAIL, NULL, 0, 0,
            "memory: embedding search is off: it needs skills.memory.embedding.model "
            "(a model or tier) and a model backend (docs/skills.md \"memory\")");
    int use_vec = emb_on && (!mode || !strcmp(mode, "embedding"));
    /* the vector first, outside the database lock */
    float *vec = NULL;
    size_t dim = 0;
    if (use_vec && (!strcmp(op, "put") || !strcmp(op, "search"))) {
        const json_t *v = json_object_get(in, !strcmp(op, "put") ? "value" : "query");
        char *text = json_is_string(v) ? at_strdup(json_string_value(v)) : at_json_dumps(v);
        json_t *jv = NULL;
        struct at_diag ed;
        at_diag_clear(&ed);
        int erc = s->embed_fn(s->embed_arg, c->caller, s->embed_model, text, &jv, &ed);
        free(text);
        if (!erc && !(vec = vec_of(jv, &dim)))
            erc = at_diag_set(&ed, AT_EPROTO, NULL, 0, 0, "the embedding is not a vector");
        json_decref(jv);
        if (erc)
            return at_diag_set(d, erc, NULL, 0, 0, "memory: the embedding of the %s failed: %s",
                               !strcmp(op, "put") ? "value" : "query", ed.msg);
    }
    pthread_mutex_lock(&s->db_mu);
    int rc;
    if (!strcmp(op, "put"))
        rc = mem_put(s, tenant, conv, in, vec, dim, out, d);
    else if (!strcmp(op, "get"))
        rc = mem_get(s, tenant, conv, in, out, d);
    else if (!strcmp(op, "search"))
        rc = vec ? mem_search_vec(s, tenant, conv, in, vec, dim, out, d)
                 : mem_search(s, tenant, conv, in, out, d);
    else
        rc = mem_forget(s, tenant, conv, in, out, d);
    pthread_mutex_unlock(&s->db_mu);
    free(vec);
    return rc;
}

const struct at__builtin at__skill_memory = {
    "memory",
    "Per-agent and per-conversation memory on the store: put, get, search (SQLite FTS5, bm25 "
    "ranking, or cosine over embeddings from the model gateway when configured), forget, with a "
    "TTL; isolated per agent and per conversation.",
    "{\"type\":\"object\",\"required\":[\"op\"],\"properties\":{"
    "\"op\":{\"enum\":[\"put\",\"get\",\"search\",\"forget\"]},"
    "\"key\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":512},"
    "\"value\":{},\"ttl_s\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
    "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},"
    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000},"
    "\"mode\":{\"enum\":[\"fts\",\"embedding\"]},"
    "\"conversation\":{\"type\":\"string\",\"maxLength\":128}},"
    "\"additionalProperties\":false}",
    "{\"type\":\"object\",\"properties\":{\"key\":{\"type\":\"string\"},"
    "\"found\":{\"type\":\"boolean\"},\"value\":{\"type\":\"string\"},"
    "\"stored\":{\"type\":\"boolean\"},\"forgotten\":{\"type\":\"integer\"},"
    "\"ranking\":{\"enum\":[\"bm25\",\"cosine\"]},\"embedded\":{\"type\":\"boolean\"},\"results\":{"
    "\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"required\":[\"key\",\"value\",\"score\"]}}}}",
    memory,
    NULL,
};
