/*
 * sqlite.c - the embedded store backend: one SQLite file in WAL mode.
 *
 * One writer connection (behind a recursive mutex, so a transaction opened
 * by begin() can span several calls from the same thread) and a few reader
 * connections, which WAL lets run beside the writer.  synchronous=NORMAL
 * (the default, `store.sync: normal`) survives a killed process;
 * synchronous=FULL (`store.sync: full`) also survives power loss.
 */
#include "store/store.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "contract/semver.h"
#include "json/json.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_READERS 16
#define AT_WAL_RESTART_FRAMES 4096 /* about 16 MiB of 4 KiB pages */

/* Statements on the hot path are prepared once per connection and reused
 * (sqlite3_reset after each use) instead of parsed on every call. */
enum { ST_JOB_INSERT, ST_JOB_UPDATE, ST_JOB_GET, ST_USAGE_INSERT, ST_COUNT };

struct reader {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *st[ST_COUNT];
};

struct sq_store {
    struct at_store base;
    sqlite3 *w;
    sqlite3_stmt *wst[ST_COUNT];
    pthread_mutex_t wmu; /* recursive */
    int in_txn;
    struct reader r[MAX_READERS];
    int nreaders;
    unsigned next_reader;
    pthread_mutex_t rr_mu;
    /* WAL checkpoints run on their own connection and thread so a commit
     * never waits for one (the writer's auto-checkpoint is off) */
    sqlite3 *ck;
    pthread_t ck_thread;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    int ck_stop;
    int ck_started;
};

/* Called by SQLite after each commit on the writer connection. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    struct sq_store *s = arg;
    if (frames > AT_WAL_RESTART_FRAMES) {
        pthread_mutex_lock(&s->ck_mu);
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
    }
    return SQLITE_OK;
}

static void *checkpoint_main(void *arg)
{
    struct sq_store *s = arg;
    pthread_mutex_lock(&s->ck_mu);
    while (!s->ck_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->ck_cv, &s->ck_mu, &ts);
        if (s->ck_stop)
            break;
        pthread_mutex_unlock(&s->ck_mu);
        int log = 0, done = 0;
        /* PASSIVE copies what it can without blocking anyone.  Under a
         * steady stream of commits it never catches up, so once the WAL
         * passes AT_WAL_RESTART_FRAMES a RESTART briefly holds the writer
         * back and lets the WAL start over: the file stays bounded. */
        sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (log > AT_WAL_RESTART_FRAMES)
            sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
        pthread_mutex_lock(&s->ck_mu);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return NULL;
}

static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE agents("
    "  name TEXT NOT NULL, version TEXT NOT NULL,"
    "  digest TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,"
    "  contract TEXT NOT NULL, description TEXT NOT NULL, capabilities TEXT NOT NULL,"
    "  registered_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(name, version)) STRICT;"
    "CREATE TABLE jobs("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    "  agent TEXT NOT NULL, agent_version TEXT NOT NULL, priority INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, input TEXT, output TEXT, error TEXT,"
    "  parent_id TEXT, root_id TEXT, depth INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    "  idempotent INTEGER NOT NULL, source TEXT, meta TEXT,"
    "  created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX jobs_unfinished ON jobs(state, priority DESC, seq) WHERE state < 2;"
    "CREATE INDEX jobs_agent ON jobs(agent, seq);"
    "CREATE INDEX jobs_parent ON jobs(parent_id) WHERE parent_id IS NOT NULL;"
    "CREATE INDEX jobs_finished ON jobs(finished_ms) WHERE state >= 2;"
    "CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;",
    /* 2: model calls and reported usage */
    "CREATE TABLE usage("
    "  id TEXT PRIMARY KEY, job_id TEXT, root_id TEXT, agent TEXT, backend TEXT,"
    "  model TEXT, tier TEXT, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,"
    "  cost_usd REAL NOT NULL, latency_ms INTEGER NOT NULL, ttft_ms INTEGER NOT NULL,"
    "  status TEXT NOT NULL, created_ms INTEGER NOT NULL) STRICT;"
    "CREATE INDEX usage_root ON usage(root_id) WHERE root_id IS NOT NULL;"
    "CREATE INDEX usage_job ON usage(job_id) WHERE job_id IS NOT NULL;"
    "CREATE INDEX usage_time ON usage(created_ms);",
    /* 3: chains, and the kind of each job (agent run or chain run) */
    "CREATE TABLE chains(name TEXT PRIMARY KEY, definition TEXT NOT NULL, source TEXT NOT NULL,"
    "  digest TEXT NOT NULL, registered_ms INTEGER NOT NULL) STRICT;"
    "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'agent';"
    "CREATE INDEX jobs_root ON jobs(root_id) WHERE root_id IS NOT NULL;",
    /* 4 and later: the monitor's tables (traces, logs, evals) */
    /* 4: job logs, model/tool spans, evals and their results (traces are
     * read from the jobs of a tree) */
    "CREATE TABLE job_logs(job_id TEXT NOT NULL, seq INTEGER NOT NULL, root_id TEXT,"
    "  ts_ms INTEGER NOT NULL, stream TEXT NOT NULL, text TEXT NOT NULL,"
    "  PRIMARY KEY(job_id, seq)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX job_logs_root ON job_logs(root_id);"
    "CREATE TABLE spans(id TEXT PRIMARY KEY, root_id TEXT, job_id TEXT, kind TEXT NOT NULL,"
    "  name TEXT NOT NULL, status TEXT NOT NULL, started_ms INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL, attrs TEXT) STRICT;"
    "CREATE INDEX spans_root ON spans(root_id);"
    "CREATE TABLE evals(name TEXT PRIMARY KEY, target_agent TEXT NOT NULL, trigger TEXT NOT NULL,"
    "  definition TEXT NOT NULL, source TEXT NOT NULL, registered_ms INTEGER NOT NULL) STRICT;"
    "CREATE TABLE eval_results(id TEXT PRIMARY KEY, eval TEXT NOT NULL, job_id TEXT NOT NULL,"
    "  root_id TEXT, agent TEXT, check_name TEXT NOT NULL, type TEXT NOT NULL,"
    "  passed INTEGER NOT NULL, score REAL, detail TEXT, tokens INTEGER NOT NULL,"
    "  cost_usd REAL NOT NULL, created_ms INTEGER NOT NULL) STRICT;"
    "CREATE INDEX eval_results_job ON eval_results(job_id);"
    "CREATE INDEX eval_results_root ON eval_results(root_id);"
    "CREATE INDEX eval_results_eval ON eval_results(eval, created_ms);",
};

static struct sq_store *SQ(struct at_store *s)
{
    return (struct sq_store *)s;
}

static int sq_err(sqlite3 *db, int rc, const char *what)
{
    at_error("store", "%s: %s (%d)", what, sqlite3_errmsg(db), rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return AT_EBUSY;
    case SQLITE_NOMEM:
        return AT_ENOMEM;
    case SQLITE_CONSTRAINT:
        return AT_EEXIST;
    case SQLITE_FULL:
    case SQLITE_IOERR:
        return AT_EIO;
    default:
        return AT_EIO;
    }
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        at_error("store", "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return sq_err(db, rc, "exec");
    }
    return 0;
}

static int open_conn(const char *path, int sync_full, int readonly, sqlite3 **out,
                     struct at_diag *d)
{
    sqlite3 *db = NULL;
    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        at_diag_set(d, AT_EIO, path, 0, 0, "cannot open database: %s",
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return AT_EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    char pragmas[256];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
             "PRAGMA temp_store=MEMORY;",
             sync_full ? "FULL" : "NORMAL");
    if (!readonly && exec_sql(db, pragmas)) {
        at_diag_set(d, AT_EIO, path, 0, 0, "cannot configure database: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return AT_EIO;
    }
    *out = db;
    return 0;
}

static int migrate(sqlite3 *db, const char *path, struct at_diag *d)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    int target = (int)(sizeof(migrations) / sizeof(migrations[0]));
    if (version > target)
        return at_diag_set(d, AT_EUNSUPPORTED, path, 0, 0,
                           "database schema version %d is newer than this atlasd (%d)", version,
                           target);
    for (int v = version; v < target; v++) {
        char set[64];
        snprintf(set, sizeof(set), "PRAGMA user_version=%d;", v + 1);
        if (exec_sql(db, "BEGIN IMMEDIATE") || exec_sql(db, migrations[v]) || exec_sql(db, set) ||
            exec_sql(db, "COMMIT")) {
            exec_sql(db, "ROLLBACK");
            return at_diag_set(d, AT_EIO, path, 0, 0, "schema migration %d failed: %s", v + 1,
                               sqlite3_errmsg(db));
        }
    }
    return 0;
}

/* ---- connection helpers ---- */

static sqlite3 *wlock(struct sq_store *s)
{
    pthread_mutex_lock(&s->wmu);
    return s->w;
}

static void wunlock(struct sq_store *s)
{
    pthread_mutex_unlock(&s->wmu);
}

static struct reader *rlock(struct sq_store *s)
{
    pthread_mutex_lock(&s->rr_mu);
    unsigned start = s->next_reader++;
    pthread_mutex_unlock(&s->rr_mu);
    for (int i = 0; i < s->nreaders; i++) {
        struct reader *r = &s->r[(start + (unsigned)i) % (unsigned)s->nreaders];
        if (pthread_mutex_trylock(&r->mu) == 0)
            return r;
    }
    struct reader *r = &s->r[start % (unsigned)s->nreaders];
    pthread_mutex_lock(&r->mu);
    return r;
}

static void runlock(struct reader *r)
{
    pthread_mutex_unlock(&r->mu);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    if (!v) {
        sqlite3_bind_null(st, i);
        return;
    }
    char *s = at_json_dumps(v);
    sqlite3_bind_text(st, i, s, -1, free);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? at_strdup((const char *)t) : NULL;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    json_t *v = NULL;
    if (at_json_parse(t, (size_t)sqlite3_column_bytes(st, i), 0, &v, NULL))
        return NULL;
    return v;
}

/* A cached statement for slot (prepared on first use).  Release it with
 * stmt_done, never sqlite3_finalize. */
static sqlite3_stmt *stmt_get(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot &&
        sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        *slot = NULL;
        return NULL;
    }
    return *slot;
}

static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* ---- transactions (writer) ---- */

static int sq_begin(struct at_store *base)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    int rc = exec_sql(db, "BEGIN IMMEDIATE");
    if (rc) {
        wunlock(s);
        return rc;
    }
    s->in_txn++;
    return 0; /* the lock is held until commit/rollback */
}

static int sq_commit(struct at_store *base)
{
    struct sq_store *s = SQ(base);
    int rc = exec_sql(s->w, "COMMIT");
    if (rc)
        exec_sql(s->w, "ROLLBACK");
    s->in_txn--;
    wunlock(s);
    return rc;
}

static int sq_rollback(struct at_store *base)
{
    struct sq_store *s = SQ(base);
    int rc = exec_sql(s->w, "ROLLBACK");
    s->in_txn--;
    wunlock(s);
    return rc;
}

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
        sqlite3_prepare_v2(db, "SELECT digest FROM agents WHERE name=?1 AND version=?2", -1, &st,
                           NULL);
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

static int sq_job_list(struct at_store *base, const struct at_job_filter *f,
                       struct at_job_rec **out, size_t *n)
{
    struct sq_store *s = SQ(base);
    struct reader *rd = rlock(s);
    sqlite3_stmt *st;
    const char *sql = "SELECT " JOB_COLS " FROM jobs WHERE (?1 IS NULL OR agent=?1)"
                      " AND (?2 < 0 OR state=?2) AND (?3 IS NULL OR parent_id=?3)"
                      " AND (?4 = 0 OR seq < ?4) AND (?5 = 0 OR created_ms >= ?5)"
                      " ORDER BY seq DESC LIMIT ?6";
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        int rc = sq_err(rd->db, SQLITE_ERROR, "job_list");
        runlock(rd);
        return rc;
    }
    bind_text(st, 1, f->agent);
    sqlite3_bind_int(st, 2, f->state);
    bind_text(st, 3, f->parent);
    sqlite3_bind_int64(st, 4, f->before_seq);
    sqlite3_bind_int64(st, 5, f->since_ms);
    sqlite3_bind_int(st, 6, f->limit > 0 ? f->limit : 100);
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

static int sq_job_prune(struct at_store *base, int64_t before_ms, int *deleted)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    sqlite3_prepare_v2(db, "DELETE FROM jobs WHERE state >= 2 AND finished_ms < ?1", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, before_ms);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "job_prune");
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
    sqlite3_prepare_v2(db,
                       "INSERT OR REPLACE INTO chains(name, definition, source, digest,"
                       " registered_ms) VALUES(?1,?2,?3,?4,?5)",
                       -1, &st, NULL);
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
    while (sqlite3_step(st) == SQLITE_ROW) {
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
    sqlite3_finalize(st);
    runlock(rd);
    return 0;
}

static int sq_chain_delete(struct at_store *base, const char *name, int *deleted)
{
    struct sq_store *s = SQ(base);
    sqlite3 *db = wlock(s);
    sqlite3_stmt *st;
    int rc = 0;
    sqlite3_prepare_v2(db, "DELETE FROM chains WHERE name=?1", -1, &st, NULL);
    bind_text(st, 1, name);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sq_err(db, SQLITE_ERROR, "chain_delete");
    *deleted = sqlite3_changes(db);
    sqlite3_finalize(st);
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
                      " tokens_in, tokens_out, cost_usd, latency_ms, ttft_ms, status, created_ms)"
                      " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)";
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
        {"job_id", "COALESCE(job_id, '')"},
        {"root_id", "COALESCE(root_id, '')"},
        {"day", "strftime('%Y-%m-%d', created_ms / 1000, 'unixepoch')"},
        {"all", "'all'"},
    };
    const char *expr = NULL;
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (strcmp(f->group_by ? f->group_by : "all", groups[i][0]) == 0)
            expr = groups[i][1];
    if (!expr)
        return AT_EINVAL;
    char sql[768];
    snprintf(sql, sizeof(sql),
             "SELECT %s AS k, COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost_usd)"
             " FROM usage WHERE (?1 IS NULL OR job_id=?1) AND (?2 IS NULL OR root_id=?2)"
             " AND (?3 = 0 OR created_ms >= ?3) GROUP BY k ORDER BY SUM(cost_usd) DESC, k",
             expr);
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
        json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:I,s:f}", "key", k ? k : "", "calls",
                                             (json_int_t)sqlite3_column_int64(st, 1), "tokens_in",
                                             (json_int_t)sqlite3_column_int64(st, 2), "tokens_out",
                                             (json_int_t)sqlite3_column_int64(st, 3), "cost_usd",
                                             sqlite3_column_double(st, 4)));
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

/* ---- kv ---- */

static int sq_kv_get(struct at_store *base, const char *key, char **value)
{
    struct reader *rd = rlock(SQ(base));
    sqlite3_stmt *st;
    int rc = AT_ENOENT;
    sqlite3_prepare_v2(rd->db, "SELECT value FROM kv WHERE key=?1", -1, &st, NULL);
    bind_text(st, 1, key);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *value = col_text(st, 0);
        rc = 0;
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
    if (value) {
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv(key, value) VALUES(?1, ?2)", -1, &st,
                           NULL);
        bind_text(st, 2, value);
    } else {
        sqlite3_prepare_v2(db, "DELETE FROM kv WHERE key=?1", -1, &st, NULL);
    }
    bind_text(st, 1, key);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = sq_err(db, src, "kv_put");
    sqlite3_finalize(st);
    wunlock(s);
    return rc;
}

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
        " (SELECT COALESCE(SUM(tokens_in + tokens_out), 0) FROM usage u WHERE u.root_id = r.id)"
        "   AS tokens,"
        " (SELECT COALESCE(SUM(cost_usd), 0.0) FROM usage u WHERE u.root_id = r.id) AS cost_usd"
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
                       " u.created_ms, s.attrs AS attrs_json FROM usage u"
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
static int prune_trees(sqlite3 *db, const char *select_sql, sqlite3_int64 arg, int limit,
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

/* Finished roots whose trees have no unfinished job, oldest first. */
#define PRUNABLE                                                                                   \
    "SELECT r.id FROM jobs r WHERE r.parent_id IS NULL AND r.state >= 2"                           \
    " AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.root_id = r.id AND c.state < 2)"

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
        rc = prune_trees(db, PRUNABLE " AND r.finished_ms < ?1 ORDER BY r.seq LIMIT ?2", before_ms,
                         max_trees, deleted);
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
        rc = prune_trees(db, PRUNABLE " AND ?1 ORDER BY r.seq LIMIT ?2", 1, (int)n, deleted);
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

static void sq_close(struct at_store *base)
{
    struct sq_store *s = SQ(base);
    if (s->ck_started) {
        pthread_mutex_lock(&s->ck_mu);
        s->ck_stop = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
        pthread_join(s->ck_thread, NULL);
    }
    if (s->ck)
        sqlite3_close(s->ck);
    pthread_mutex_destroy(&s->ck_mu);
    pthread_cond_destroy(&s->ck_cv);
    for (int i = 0; i < s->nreaders; i++) {
        for (int k = 0; k < ST_COUNT; k++)
            sqlite3_finalize(s->r[i].st[k]);
        sqlite3_close(s->r[i].db);
        pthread_mutex_destroy(&s->r[i].mu);
    }
    for (int k = 0; k < ST_COUNT; k++)
        sqlite3_finalize(s->wst[k]);
    if (s->w) {
        /* fold the WAL back so the file is self-contained after a clean stop */
        exec_sql(s->w, "PRAGMA wal_checkpoint(TRUNCATE)");
        sqlite3_close(s->w);
    }
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->rr_mu);
    free(s);
}

static const struct at_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .agent_put = sq_agent_put,
    .agent_get = sq_agent_get,
    .agent_list = sq_agent_list,
    .agent_search = sq_agent_search,
    .agent_delete = sq_agent_delete,
    .job_insert = sq_job_insert,
    .job_update = sq_job_update,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_unfinished = sq_job_unfinished,
    .job_prune = sq_job_prune,
    .chain_put = sq_chain_put,
    .chain_list = sq_chain_list,
    .chain_delete = sq_chain_delete,
    .usage_insert = sq_usage_insert,
    .usage_sum = sq_usage_sum,
    .kv_get = sq_kv_get,
    .kv_put = sq_kv_put,
    .trace_list = sq_trace_list,
    .trace_load = sq_trace_load,
    .trace_prune = sq_trace_prune,
    .log_append = sq_log_append,
    .log_get = sq_log_get,
    .span_put = sq_span_put,
    .eval_put = sq_eval_put,
    .eval_list = sq_eval_list,
    .eval_delete = sq_eval_delete,
    .eval_result_put = sq_eval_result_put,
    .eval_results = sq_eval_results,
};

int at_store_sqlite_open(const struct at_store_cfg *cfg, struct at_store **out, struct at_diag *d)
{
    struct sq_store *s = at_calloc(1, sizeof(*s));
    s->base.ops = &sqlite_ops;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->wmu, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&s->rr_mu, NULL);
    pthread_mutex_init(&s->ck_mu, NULL);
    pthread_cond_init(&s->ck_cv, NULL);
    int rc = open_conn(cfg->path, cfg->sync_full, 0, &s->w, d);
    if (rc)
        goto fail;
    if ((rc = migrate(s->w, cfg->path, d)))
        goto fail;
    if ((rc = open_conn(cfg->path, cfg->sync_full, 0, &s->ck, d)))
        goto fail;
    exec_sql(s->w, "PRAGMA wal_autocheckpoint=0");
    if (pthread_create(&s->ck_thread, NULL, checkpoint_main, s) == 0) {
        s->ck_started = 1;
        sqlite3_wal_hook(s->w, wal_hook, s);
    } else
        exec_sql(s->w, "PRAGMA wal_autocheckpoint=1000"); /* fall back to inline */
    s->nreaders = cfg->readers > 0 ? cfg->readers : 4;
    if (s->nreaders > MAX_READERS)
        s->nreaders = MAX_READERS;
    for (int i = 0; i < s->nreaders; i++) {
        pthread_mutex_init(&s->r[i].mu, NULL);
        if ((rc = open_conn(cfg->path, 0, 1, &s->r[i].db, d))) {
            s->nreaders = i + 1;
            goto fail;
        }
    }
    *out = &s->base;
    return 0;
fail:
    sq_close(&s->base);
    return rc;
}
