/*
 * postgres_int.h - what the files of the PostgreSQL backend share (private
 * to src/store/postgres*.c): the connections and the query helpers.
 *
 * The backend mirrors the SQLite one (sqlite_int.h), one file per group of
 * struct at_store_ops (store.h): postgres.c (connections, migrations, the
 * single-instance lock, transactions, open/close), postgres_catalog.c
 * (agents, chains, kv), postgres_jobs.c (jobs and usage), postgres_monitor.c
 * (traces, logs, spans, evals).
 *
 * Connections: one writer (behind a recursive mutex, so a transaction that
 * begin() opened spans the writer's calls) and a small pool of readers, each
 * behind its own mutex.  A PGconn is never used by two threads at once.
 * Every query is sent with PQexecParams, values as text: nothing from a
 * caller is ever spliced into SQL.
 */
#ifndef AT_STORE_POSTGRES_INT_H
#define AT_STORE_POSTGRES_INT_H

#include "store/store.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_MAX_READERS 16
#define PG_MAX_PARAMS 24

struct pg_reader {
    PGconn *c;
    pthread_mutex_t mu;
};

struct pg_store {
    struct at_store base;
    char *conninfo;
    PGconn *w;
    pthread_mutex_t wmu; /* recursive */
    int in_txn;
    struct pg_reader r[PG_MAX_READERS];
    int nreaders;
    unsigned next_reader;
    pthread_mutex_t rr_mu;
};

static inline struct pg_store *PG(struct at_store *s)
{
    return (struct pg_store *)s;
}

/* The parameters of one query, as text (NULL is SQL NULL).  Numbers are
 * formatted into buf; JSON and other owned strings are freed by
 * pg_params_release. */
struct pg_params {
    const char *v[PG_MAX_PARAMS];
    char *owned[PG_MAX_PARAMS];
    char buf[PG_MAX_PARAMS][32];
    int n;
};

static inline void pgp_text(struct pg_params *p, const char *v)
{
    p->owned[p->n] = NULL;
    p->v[p->n++] = v;
}

static inline void pgp_take(struct pg_params *p, char *v)
{
    p->owned[p->n] = v;
    p->v[p->n++] = v;
}

static inline void pgp_i64(struct pg_params *p, long long v)
{
    snprintf(p->buf[p->n], sizeof(p->buf[0]), "%lld", v);
    p->owned[p->n] = NULL;
    p->v[p->n] = p->buf[p->n];
    p->n++;
}

static inline void pgp_f64(struct pg_params *p, double v)
{
    snprintf(p->buf[p->n], sizeof(p->buf[0]), "%.17g", v);
    p->owned[p->n] = NULL;
    p->v[p->n] = p->buf[p->n];
    p->n++;
}

static inline void pgp_json(struct pg_params *p, const json_t *v)
{
    if (v)
        pgp_take(p, at_json_dumps(v));
    else
        pgp_text(p, NULL);
}

static inline void pg_params_release(struct pg_params *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->owned[i]);
    p->n = 0;
}

/* ---- results ---- */

static inline char *pg_col_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : at_strdup(PQgetvalue(r, row, col));
}

static inline long long pg_col_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static inline double pg_col_f64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtod(PQgetvalue(r, row, col), NULL);
}

static inline json_t *pg_col_json(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    json_t *v = NULL;
    /* Atlas wrote it: strings may hold NUL (agent output with "\u0000") */
    if (at_json_parse_flags(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col), 0,
                            AT_JSON_ALLOW_NUL, &v, NULL))
        return NULL;
    return v;
}

/* PostgreSQL's text is UTF-8 (the test cluster and docs/postgres.md ask
 * for a UTF8 database): a log line's invalid bytes become U+FFFD instead of
 * failing the batch, and NUL (which text cannot hold) is dropped. */
static inline char *pg_utf8_clean(const char *t, long long *repaired)
{
    size_t n = strlen(t), k = 0;
    char *o = at_malloc(n * 3 + 1);
    const unsigned char *u = (const unsigned char *)t;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t j = 1; ok && j < len; j++)
            ok = (u[i + j] & 0xC0) == 0x80;
        if (ok && len == 2)
            ok = c >= 0xC2;
        if (ok && len == 3) {
            unsigned cp = ((c & 0x0Fu) << 12) | ((u[i + 1] & 0x3Fu) << 6) | (u[i + 2] & 0x3Fu);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && len == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((u[i + 1] & 0x3Fu) << 12) |
                          ((u[i + 2] & 0x3Fu) << 6) | (u[i + 3] & 0x3Fu);
            ok = cp >= 0x10000 && cp <= 0x10FFFF;
        }
        if (ok) {
            memcpy(o + k, t + i, len);
            k += len;
            i += len;
        } else {
            if (repaired)
                ++*repaired; /* bytes replaced */
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    o[k] = '\0';
    return o;
}

/* ---- connections (postgres.c) ---- */

PGconn *at__store_pg_wlock(struct pg_store *s);
void at__store_pg_wunlock(struct pg_store *s);
struct pg_reader *at__store_pg_rlock(struct pg_store *s);
void at__store_pg_runlock(struct pg_reader *r);

/* Run sql with p (NULL: no parameters, the simple protocol) on the reader connection c; *out
 * (when not NULL) is the result, the caller's to PQclear.  Reconnects once
 * when the connection was lost.  Returns 0 or an AT_E* (logged with what). */
int at__store_pg_query(PGconn *c, const char *what, const char *sql, const struct pg_params *p,
                       PGresult **out);
/* The same on the writer connection, with the writer lock held by the
 * caller: inside a transaction the statement runs under a savepoint, so a
 * failed write (a duplicate key) leaves the rest of the batch intact.
 * *changed (when not NULL): rows the statement touched. */
int at__store_pg_write(struct pg_store *s, const char *what, const char *sql,
                       const struct pg_params *p, PGresult **out, long long *changed);
/* One statement (no parameters, no savepoint: transaction control) on the
 * writer, lock held by the caller. */
int at__store_pg_wexec(struct pg_store *s, const char *what, const char *sql);
/* A read on a reader of the pool (locks and unlocks it). */
int at__store_pg_read(struct pg_store *s, const char *what, const char *sql,
                      const struct pg_params *p, PGresult **out);

/* Every row of r as a JSON object keyed by column name; columns named
 * *_json are parsed as JSON; integer, float and bool columns become
 * numbers. */
json_t *at__store_pg_rows_json(const PGresult *r);

/* Finished roots whose trees have no unfinished job (a SELECT of r.id). */
#define PG_PRUNABLE                                                                                \
    "SELECT r.id, r.seq FROM jobs r WHERE r.parent_id IS NULL AND r.state >= 2"                    \
    " AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.root_id = r.id AND c.state < 2)"

/* Delete the trees whose root ids select_sql (parameters $1 a bigint and
 * $2 the limit) picks, with their jobs, logs, spans and eval results, in
 * one statement on the writer (lock held).  Adds the trees to *deleted. */
int at__store_pg_prune_trees(struct pg_store *s, const char *select_sql, long long arg, int limit,
                             int *deleted);

/* The groups of the table (store.h), each filled by its file. */
void at__store_pg_catalog_ops(struct at_store_ops *ops);
void at__store_pg_jobs_ops(struct at_store_ops *ops);
void at__store_pg_monitor_ops(struct at_store_ops *ops);
void at__store_pg_triggers_ops(struct at_store_ops *ops);

#endif
