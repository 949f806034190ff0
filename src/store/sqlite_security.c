/*
 * sqlite_security.c - the security records in SQLite (store.h, "security
 * records"): tokens (keyed hashes only), secrets (ciphertext only) and the
 * audit of security events, in sec_* tables of the store's database file.
 */
#include "store/store.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "json/json.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct at_secstore {
    pthread_mutex_t mu;
    sqlite3 *db;
};

/* The schema: tables are only ever added to (IF NOT EXISTS), so a newer
 * daemon opens an older file and an older daemon ignores newer tables. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS sec_tokens(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, scopes TEXT, rate_per_min INTEGER NOT NULL"
    " DEFAULT 0, created_by TEXT, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL"
    " DEFAULT 0, revoked_ms INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE UNIQUE INDEX IF NOT EXISTS sec_tokens_live ON sec_tokens(name) WHERE revoked_ms = 0;"
    /* the node a token of role node acts for (docs/scheduling.md "Node tokens") */
    "CREATE TABLE IF NOT EXISTS sec_token_nodes(token_id TEXT PRIMARY KEY, node TEXT NOT NULL,"
    " bound_ms INTEGER NOT NULL) STRICT;"
    "CREATE TABLE IF NOT EXISTS sec_secrets(name TEXT PRIMARY KEY, blob BLOB NOT NULL,"
    " updated_ms INTEGER NOT NULL) STRICT;"
    "CREATE TABLE IF NOT EXISTS sec_audit(id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL,"
    " event TEXT NOT NULL, actor TEXT, role TEXT, action TEXT, outcome TEXT, source TEXT,"
    " detail TEXT) STRICT;"
    "CREATE INDEX IF NOT EXISTS sec_audit_ts ON sec_audit(ts_ms);"
    /* daily model-token quotas: a token's own limit, and what each token
     * used on each UTC day (docs/security.md "Quotas") */
    "CREATE TABLE IF NOT EXISTS sec_token_limits(id TEXT PRIMARY KEY,"
    " tokens_per_day INTEGER NOT NULL) STRICT;"
    "CREATE TABLE IF NOT EXISTS sec_quota_use(token_id TEXT NOT NULL, day INTEGER NOT NULL,"
    " tokens INTEGER NOT NULL, PRIMARY KEY(token_id, day)) STRICT;"
    /* who owns an agent (docs/security.md "Ownership of agents") */
    "CREATE TABLE IF NOT EXISTS sec_agent_owners(agent TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " owner_id TEXT, since_ms INTEGER NOT NULL) STRICT;";

static int db_err(sqlite3 *db, int rc, const char *what)
{
    at_error("store", "%s: %s", what, sqlite3_errmsg(db));
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return AT_EBUSY;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return AT_EEXIST;
    return AT_EIO;
}

int at_secstore_open(const char *path, struct at_secstore **out, struct at_diag *d)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        at_diag_set(d, AT_EIO, path, 0, 0, "cannot open the database for the security records: %s",
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return AT_EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        at_diag_set(d, AT_EIO, path, 0, 0, "cannot create the security tables: %s",
                    msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return AT_EIO;
    }
    struct at_secstore *s = at_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->db = db;
    *out = s;
    return 0;
}

void at_secstore_close(struct at_secstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? at_strdup((const char *)t) : NULL;
}

/* Prepare sql under s->mu (held by the caller). */
static int prep(struct at_secstore *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : db_err(s->db, rc, "prepare");
}

/* Step a statement that returns no rows, finalize it. */
static int step_done(struct at_secstore *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE ? 0 : db_err(s->db, rc, what);
    sqlite3_finalize(st);
    return out;
}

int at_secstore_token_put(struct at_secstore *s, const struct at_token_rec *r)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s,
                  "INSERT INTO sec_tokens(id, name, role, hash, scopes, rate_per_min, created_by,"
                  " created_ms, expires_ms, revoked_ms) VALUES (?,?,?,?,?,?,?,?,?,0)",
                  &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, r->role, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, r->hash, -1, SQLITE_TRANSIENT);
        char *sc = r->scopes ? json_dumps(r->scopes, JSON_COMPACT) : NULL;
        bind_opt(st, 5, sc);
        free(sc);
        sqlite3_bind_int64(st, 6, r->rate_per_min);
        bind_opt(st, 7, r->created_by);
        sqlite3_bind_int64(st, 8, r->created_ms);
        sqlite3_bind_int64(st, 9, r->expires_ms);
        rc = step_done(s, st, "token insert");
    }
    if (rc == 0 && r->tokens_per_day > 0 &&
        (rc = prep(s, "INSERT OR REPLACE INTO sec_token_limits(id, tokens_per_day) VALUES (?,?)",
                   &st)) == 0) {
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, r->tokens_per_day);
        rc = step_done(s, st, "token limit insert");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_token_list(struct at_secstore *s, struct at_token_rec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s,
                  "SELECT t.id, name, role, hash, scopes, rate_per_min, created_by, created_ms,"
                  " expires_ms, revoked_ms,"
                  " (SELECT node FROM sec_token_nodes WHERE token_id = t.id),"
                  " coalesce(l.tokens_per_day, 0) FROM sec_tokens t"
                  " LEFT JOIN sec_token_limits l ON l.id = t.id ORDER BY created_ms, t.id",
                  &st);
    size_t cap = 0;
    struct at_token_rec *v = NULL;
    while (rc == 0) {
        int sr = sqlite3_step(st);
        if (sr == SQLITE_DONE)
            break;
        if (sr != SQLITE_ROW) {
            rc = db_err(s->db, sr, "token list");
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            v = at_realloc(v, cap * sizeof(*v));
        }
        struct at_token_rec *r = &v[(*n)++];
        memset(r, 0, sizeof(*r));
        const unsigned char *id = sqlite3_column_text(st, 0);
        snprintf(r->id, sizeof(r->id), "%s", id ? (const char *)id : "");
        r->name = col_dup(st, 1);
        r->role = col_dup(st, 2);
        r->hash = col_dup(st, 3);
        const unsigned char *sc = sqlite3_column_text(st, 4);
        if (sc)
            r->scopes = json_loads((const char *)sc, 0, NULL);
        r->rate_per_min = sqlite3_column_int64(st, 5);
        r->created_by = col_dup(st, 6);
        r->created_ms = sqlite3_column_int64(st, 7);
        r->expires_ms = sqlite3_column_int64(st, 8);
        r->revoked_ms = sqlite3_column_int64(st, 9);
        r->node = col_dup(st, 10);
        r->tokens_per_day = sqlite3_column_int64(st, 11);
    }
    if (st)
        sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        at_token_recs_free(v, *n);
        *n = 0;
        return rc;
    }
    *out = v;
    return 0;
}

int at_secstore_token_bind_node(struct at_secstore *s, const char *id, const char *node,
                                int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s, "INSERT INTO sec_token_nodes(token_id, node, bound_ms) VALUES (?,?,?)", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now_ms);
        rc = step_done(s, st, "token node binding");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_token_revoke(struct at_secstore *s, const char *id_or_name, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(
        s, "UPDATE sec_tokens SET revoked_ms = ? WHERE revoked_ms = 0 AND (id = ? OR name = ?)",
        &st);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, now_ms ? now_ms : 1);
        sqlite3_bind_text(st, 2, id_or_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, id_or_name, -1, SQLITE_TRANSIENT);
        rc = step_done(s, st, "token revoke");
        if (rc == 0 && sqlite3_changes(s->db) == 0)
            rc = AT_ENOENT;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_quota_used(struct at_secstore *s, const char *token_id, int64_t day,
                           long long *used)
{
    *used = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT tokens FROM sec_quota_use WHERE token_id = ? AND day = ?", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, token_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, day);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW)
            *used = sqlite3_column_int64(st, 0);
        else if (sr != SQLITE_DONE)
            rc = db_err(s->db, sr, "quota read");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_quota_add(struct at_secstore *s, const char *token_id, int64_t day,
                          long long tokens)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s,
                  "INSERT INTO sec_quota_use(token_id, day, tokens) VALUES (?,?,?)"
                  " ON CONFLICT(token_id, day) DO UPDATE SET tokens = tokens + excluded.tokens",
                  &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, token_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, day);
        sqlite3_bind_int64(st, 3, tokens);
        rc = step_done(s, st, "quota add");
    }
    /* days before yesterday are of no use to anyone */
    if (rc == 0 && prep(s, "DELETE FROM sec_quota_use WHERE day < ?", &st) == 0) {
        sqlite3_bind_int64(st, 1, day - 1);
        step_done(s, st, "quota prune");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_owner_get(struct at_secstore *s, const char *agent, char **owner, char **owner_id)
{
    *owner = NULL;
    if (owner_id)
        *owner_id = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT owner, owner_id FROM sec_agent_owners WHERE agent = ?", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, agent, -1, SQLITE_TRANSIENT);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW) {
            *owner = col_dup(st, 0);
            if (owner_id)
                *owner_id = col_dup(st, 1);
        } else if (sr == SQLITE_DONE) {
            rc = AT_ENOENT;
        } else {
            rc = db_err(s->db, sr, "owner read");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_owner_set(struct at_secstore *s, const char *agent, const char *owner,
                          const char *owner_id, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc;
    if (owner) {
        rc = prep(s,
                  "INSERT OR REPLACE INTO sec_agent_owners(agent, owner, owner_id, since_ms)"
                  " VALUES (?,?,?,?)",
                  &st);
        if (rc == 0) {
            sqlite3_bind_text(st, 1, agent, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, owner, -1, SQLITE_TRANSIENT);
            bind_opt(st, 3, owner_id);
            sqlite3_bind_int64(st, 4, now_ms);
            rc = step_done(s, st, "owner set");
        }
    } else {
        rc = prep(s, "DELETE FROM sec_agent_owners WHERE agent = ?", &st);
        if (rc == 0) {
            sqlite3_bind_text(st, 1, agent, -1, SQLITE_TRANSIENT);
            rc = step_done(s, st, "owner delete");
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void at_token_recs_free(struct at_token_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].role);
        free(r[i].hash);
        free(r[i].created_by);
        free(r[i].node);
        json_decref(r[i].scopes);
    }
    free(r);
}

int at_secstore_secret_put(struct at_secstore *s, const char *name, const void *blob, size_t len,
                           int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc =
        prep(s, "INSERT OR REPLACE INTO sec_secrets(name, blob, updated_ms) VALUES (?,?,?)", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now_ms);
        rc = step_done(s, st, "secret put");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_secret_get(struct at_secstore *s, const char *name, unsigned char **blob,
                           size_t *len)
{
    *blob = NULL;
    *len = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT blob FROM sec_secrets WHERE name = ?", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW) {
            int n = sqlite3_column_bytes(st, 0);
            *blob = at_malloc(n > 0 ? (size_t)n : 1);
            if (n > 0)
                memcpy(*blob, sqlite3_column_blob(st, 0), (size_t)n);
            *len = (size_t)n;
        } else if (sr == SQLITE_DONE) {
            rc = AT_ENOENT;
        } else {
            rc = db_err(s->db, sr, "secret get");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_secret_list(struct at_secstore *s, json_t **out)
{
    *out = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT name, updated_ms FROM sec_secrets ORDER BY name", &st);
    while (rc == 0) {
        int sr = sqlite3_step(st);
        if (sr == SQLITE_DONE)
            break;
        if (sr != SQLITE_ROW) {
            rc = db_err(s->db, sr, "secret list");
            break;
        }
        json_array_append_new(*out, json_pack("{s:s,s:I}", "name",
                                              (const char *)sqlite3_column_text(st, 0),
                                              "updated_ms", sqlite3_column_int64(st, 1)));
    }
    if (st)
        sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_secret_delete(struct at_secstore *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s, "DELETE FROM sec_secrets WHERE name = ?", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = step_done(s, st, "secret delete");
        if (rc == 0 && sqlite3_changes(s->db) == 0)
            rc = AT_ENOENT;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_audit_append(struct at_secstore *s, const struct at_audit_rec *r)
{
    char id[AT_ID_MAX];
    at_id_new("aud", id);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s,
                  "INSERT INTO sec_audit(id, ts_ms, event, actor, role, action, outcome, source,"
                  " detail) VALUES (?,?,?,?,?,?,?,?,?)",
                  &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, at_wall_ms());
        sqlite3_bind_text(st, 3, r->event ? r->event : "unknown", -1, SQLITE_TRANSIENT);
        bind_opt(st, 4, r->actor);
        bind_opt(st, 5, r->role);
        bind_opt(st, 6, r->action);
        bind_opt(st, 7, r->outcome);
        bind_opt(st, 8, r->source);
        bind_opt(st, 9, r->detail);
        rc = step_done(s, st, "audit append");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int at_secstore_audit_list(struct at_secstore *s, int64_t before_ms, const char *event, int limit,
                           json_t **out)
{
    *out = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = prep(s,
                  "SELECT id, ts_ms, event, actor, role, action, outcome, source, detail"
                  " FROM sec_audit WHERE (?1 = 0 OR ts_ms < ?1) AND (?2 IS NULL OR event = ?2)"
                  " ORDER BY ts_ms DESC, id DESC LIMIT ?3",
                  &st);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, before_ms);
        bind_opt(st, 2, event);
        sqlite3_bind_int(st, 3, limit > 0 ? limit : 100);
    }
    static const char *const cols[] = {"id",     "ts_ms",   "event",  "actor", "role",
                                       "action", "outcome", "source", "detail"};
    while (rc == 0) {
        int sr = sqlite3_step(st);
        if (sr == SQLITE_DONE)
            break;
        if (sr != SQLITE_ROW) {
            rc = db_err(s->db, sr, "audit list");
            break;
        }
        json_t *o = json_object();
        for (int i = 0; i < 9; i++) {
            if (i == 1)
                json_object_set_new(o, cols[i], json_integer(sqlite3_column_int64(st, i)));
            else if (sqlite3_column_type(st, i) == SQLITE_NULL)
                json_object_set_new(o, cols[i], json_null());
            else
                json_object_set_new(o, cols[i],
                                    json_string((const char *)sqlite3_column_text(st, i)));
        }
        json_array_append_new(*out, o);
    }
    if (st)
        sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
