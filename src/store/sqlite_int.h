/*
 * sqlite_int.h - what the files of the SQLite backend share (private to
 * src/store/sqlite*.c): the connections, the statement cache and the small
 * bind/column helpers.
 *
 * The backend is one object over several files, one per group of
 * struct at_store_ops (store.h): sqlite.c (connections, migrations,
 * transactions, open/close), sqlite_catalog.c (agents, chains, kv),
 * sqlite_jobs.c (jobs and usage), sqlite_monitor.c (traces, logs, spans,
 * evals), sqlite_triggers.c (trigger firings).  Each group file fills its entries of the table.
 */
#ifndef AT_STORE_SQLITE_INT_H
#define AT_STORE_SQLITE_INT_H

#include "store/store.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_READERS 16
#define AT_WAL_RESTART_FRAMES 4096 /* about 16 MiB of 4 KiB pages */

/* Statements on the hot path are prepared once per connection and reused
 * (sqlite3_reset after each use) instead of parsed on every call. */
enum {
    ST_JOB_INSERT,
    ST_JOB_UPDATE,
    ST_JOB_GET,
    ST_USAGE_INSERT,
    ST_FIRING_PUT,
    ST_IDEM_PUT,
    ST_FIRING_PRUNE,
    ST_IDEM_PRUNE,
    ST_FIRING_UPDATE,
    ST_COUNT
};

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

static inline struct sq_store *SQ(struct at_store *s)
{
    return (struct sq_store *)s;
}

static inline int sq_err(sqlite3 *db, int rc, const char *what)
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

static inline int exec_sql(sqlite3 *db, const char *sql)
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

/* ---- connection helpers ---- */

static inline sqlite3 *wlock(struct sq_store *s)
{
    pthread_mutex_lock(&s->wmu);
    return s->w;
}

static inline void wunlock(struct sq_store *s)
{
    pthread_mutex_unlock(&s->wmu);
}

static inline struct reader *rlock(struct sq_store *s)
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

static inline void runlock(struct reader *r)
{
    pthread_mutex_unlock(&r->mu);
}

static inline void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static inline void bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    if (!v) {
        sqlite3_bind_null(st, i);
        return;
    }
    char *s = at_json_dumps(v);
    sqlite3_bind_text(st, i, s, -1, free);
}

static inline char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? at_strdup((const char *)t) : NULL;
}

static inline json_t *col_json(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    json_t *v = NULL;
    /* Atlas wrote it: strings may hold NUL (agent output with "\u0000") */
    if (at_json_parse_flags(t, (size_t)sqlite3_column_bytes(st, i), 0, AT_JSON_ALLOW_NUL, &v, NULL))
        return NULL;
    return v;
}

/* A cached statement for slot (prepared on first use).  Release it with
 * stmt_done, never sqlite3_finalize. */
static inline sqlite3_stmt *stmt_get(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot &&
        sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        *slot = NULL;
        return NULL;
    }
    return *slot;
}

static inline void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Finished roots whose trees have no unfinished job, oldest first. */
#define PRUNABLE                                                                                   \
    "SELECT r.id FROM jobs r WHERE r.parent_id IS NULL AND r.state >= 2"                           \
    " AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.root_id = r.id AND c.state < 2)"

/* Delete the trees whose root ids select_sql (one integer parameter ?1,
 * then the limit ?2) picks, with their jobs, logs, spans and eval results.
 * Adds the number of trees to *deleted.  On the writer connection, in the
 * caller's transaction or savepoint. */
int at_store_sqlite_prune_trees(sqlite3 *db, const char *select_sql, sqlite3_int64 arg, int limit,
                                int *deleted);

/* The groups of the table (store.h), each filled by its file. */
void at_store_sqlite_catalog_ops(struct at_store_ops *ops);
void at_store_sqlite_jobs_ops(struct at_store_ops *ops);
void at_store_sqlite_monitor_ops(struct at_store_ops *ops);
void at_store_sqlite_triggers_ops(struct at_store_ops *ops);

#endif
