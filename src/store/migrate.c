/*
 * migrate.c - a SQLite store into PostgreSQL (migrate.h).
 *
 * The source is first opened as a store (at_store_sqlite_open), which
 * brings its schema to this atlasd's version, then read on a read-only
 * connection inside one read transaction.  The target is opened as a
 * store too (at_store_pg_open: the single-instance lock, the migrations),
 * and written on its writer connection in one transaction.  Values travel
 * as text parameters with a cast per column type; the digest of a table is
 * SHA-256 over its rows in primary key order, each value as its type
 * (integers in decimal, reals as %.17g, text as bytes, NULL as a marker),
 * length-prefixed: the same function of the same data on both sides.
 */
#include "store/migrate.h"

#include "base/fs.h"
#include "store/postgres_int.h"

#include <sodium.h>
#include <sqlite3.h>

struct table {
    const char *name;
    const char *order_sqlite, *order_pg; /* the primary key, as each sorts text bytewise */
};

static const struct table tables[] = {
    {"agents", "name, version", "name COLLATE \"C\", version COLLATE \"C\""},
    {"chains", "name", "name COLLATE \"C\""},
    {"kv", "key", "key COLLATE \"C\""},
    {"jobs", "seq", "seq"},
    {"usage", "id", "id COLLATE \"C\""},
    {"job_logs", "job_id, seq", "job_id COLLATE \"C\", seq"},
    {"spans", "id", "id COLLATE \"C\""},
    {"evals", "name", "name COLLATE \"C\""},
    {"eval_results", "id", "id COLLATE \"C\""},
    {"trigger_firings", "trigger, seq", "trigger COLLATE \"C\", seq"},
    {"trigger_idem", "trigger, key", "trigger COLLATE \"C\", key COLLATE \"C\""},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))
#define MAX_COLS 24

enum ctype { CT_INT, CT_REAL, CT_TEXT };

struct cols {
    int n;
    char *name[MAX_COLS];
    enum ctype type[MAX_COLS];
};

static void cols_release(struct cols *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->name[i]);
    c->n = 0;
}

static int read_cols(sqlite3 *db, const char *table, struct cols *c, struct at_diag *d)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
    sqlite3_stmt *st = NULL;
    c->n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return at_diag_set(d, AT_EIO, table, 0, 0, "%s", sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW && c->n < MAX_COLS) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *type = (const char *)sqlite3_column_text(st, 2);
        c->name[c->n] = at_strdup(name ? name : "");
        c->type[c->n] = type && !strcmp(type, "INTEGER") ? CT_INT
                        : type && !strcmp(type, "REAL")  ? CT_REAL
                                                         : CT_TEXT;
        c->n++;
    }
    sqlite3_finalize(st);
    if (c->n == 0)
        return at_diag_set(d, AT_EIO, table, 0, 0, "the SQLite store has no table %s", table);
    return 0;
}

static char *col_list(const struct cols *c)
{
    size_t len = 1;
    for (int i = 0; i < c->n; i++)
        len += strlen(c->name[i]) + 2;
    char *s = at_malloc(len);
    size_t k = 0;
    for (int i = 0; i < c->n; i++)
        k += (size_t)snprintf(s + k, len - k, "%s%s", i ? ", " : "", c->name[i]);
    s[k] = '\0';
    return s;
}

/* One value into the digest: a type tag, a length, the bytes. */
static void digest_value(crypto_hash_sha256_state *h, enum ctype t, const char *v, size_t len)
{
    char buf[40];
    unsigned char tag = v ? (unsigned char)('0' + (int)t) : 'N';
    if (v && t == CT_INT) {
        snprintf(buf, sizeof(buf), "%lld", strtoll(v, NULL, 10));
        v = buf;
        len = strlen(buf);
    } else if (v && t == CT_REAL) {
        snprintf(buf, sizeof(buf), "%.17g", strtod(v, NULL));
        v = buf;
        len = strlen(buf);
    }
    unsigned char n[8];
    size_t l = v ? len : 0;
    for (int i = 0; i < 8; i++)
        n[i] = (unsigned char)(l >> (8 * i));
    crypto_hash_sha256_update(h, &tag, 1);
    crypto_hash_sha256_update(h, n, 8);
    if (v)
        crypto_hash_sha256_update(h, (const unsigned char *)v, len);
}

static void digest_hex(crypto_hash_sha256_state *h, char out[72])
{
    unsigned char md[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(h, md);
    memcpy(out, "sha256:", 8); /* with its NUL; the hex goes over it */
    sodium_bin2hex(out + 7, 65, md, sizeof(md));
}

/* Copy one table; its digest (of the values as written) into dg. */
static int copy_table(sqlite3 *src, struct pg_store *pg, const struct table *t,
                      const struct cols *c, at_store_migrate_fn progress, void *arg,
                      long long *rows, long long *repaired, char dg[72], struct at_diag *d)
{
    char *list = col_list(c);
    char sql[1024];
    long long total = 0;
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", t->name);
    if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", list, t->name, t->order_sqlite);
    if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK) {
        free(list);
        return at_diag_set(d, AT_EIO, t->name, 0, 0, "%s", sqlite3_errmsg(src));
    }
    int k = snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) VALUES(", t->name, list);
    for (int i = 0; i < c->n; i++)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, "%s$%d%s", i ? "," : "", i + 1,
                      c->type[i] == CT_INT    ? "::bigint"
                      : c->type[i] == CT_REAL ? "::float8"
                                              : "");
    snprintf(sql + k, sizeof(sql) - (size_t)k, ")");
    free(list);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    int rc = 0, src_rc;
    *rows = 0;
    while ((src_rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pg_params p = {.n = 0};
        for (int i = 0; i < c->n; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            if (!v) {
                pgp_text(&p, NULL);
                digest_value(&h, c->type[i], NULL, 0);
                continue;
            }
            char *copy;
            if (c->type[i] == CT_REAL) /* every bit of the double, not SQLite's 15 digits */
                copy = at_asprintf("%.17g", sqlite3_column_double(st, i));
            else
                copy = c->type[i] == CT_TEXT ? pg_utf8_clean(v, repaired) : at_strdup(v);
            digest_value(&h, c->type[i], copy, strlen(copy));
            pgp_take(&p, copy);
        }
        rc = at__store_pg_write(pg, "migrate", sql, &p, NULL, NULL);
        pg_params_release(&p);
        if (rc) {
            at_diag_set(d, rc, t->name, 0, 0, "row %lld could not be written (the log says why)",
                        *rows + 1);
            break;
        }
        if (++*rows % 1000 == 0 && progress)
            progress(arg, t->name, *rows, total);
    }
    if (!rc && src_rc != SQLITE_DONE)
        rc = at_diag_set(d, AT_EIO, t->name, 0, 0, "reading: %s", sqlite3_errmsg(src));
    sqlite3_finalize(st);
    if (!rc && progress)
        progress(arg, t->name, *rows, *rows);
    digest_hex(&h, dg);
    return rc;
}

/* The table as PostgreSQL now holds it: its row count and digest. */
static int verify_table(struct pg_store *pg, const struct table *t, const struct cols *c,
                        long long *rows, char dg[72], struct at_diag *d)
{
    char *list = col_list(c);
    char sql[1024];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", list, t->name, t->order_pg);
    free(list);
    PGresult *r = NULL;
    int rc = at__store_pg_write(pg, "migrate", sql, NULL, &r, NULL);
    if (rc)
        return at_diag_set(d, rc, t->name, 0, 0, "cannot read back from PostgreSQL");
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    int nr = PQntuples(r);
    for (int row = 0; row < nr; row++)
        for (int i = 0; i < c->n; i++) {
            if (PQgetisnull(r, row, i))
                digest_value(&h, c->type[i], NULL, 0);
            else
                digest_value(&h, c->type[i], PQgetvalue(r, row, i), (size_t)PQgetlength(r, row, i));
        }
    PQclear(r);
    *rows = nr;
    digest_hex(&h, dg);
    return 0;
}

int at_store_migrate(const char *path, const char *url, at_store_migrate_fn progress, void *arg,
                     json_t **report, struct at_diag *d)
{
    if (!at_fs_is_file(path))
        return at_diag_set(d, AT_ENOENT, path, 0, 0, "no SQLite store here");
    /* bring the source's schema to this atlasd's (what atlasd does at start) */
    struct at_store_cfg scfg = {.backend = "sqlite", .path = path, .readers = 1};
    struct at_store *tmp = NULL;
    int rc = at_store_sqlite_open(&scfg, &tmp, d);
    if (rc)
        return rc;
    at_store_close(tmp);
    struct at_store_cfg pcfg = {.backend = "postgres", .url = url, .readers = 1};
    struct at_store *pgs = NULL;
    if ((rc = at_store_pg_open(&pcfg, &pgs, d)))
        return rc;
    struct pg_store *pg = PG(pgs);
    sqlite3 *src = NULL;
    json_t *out = json_object(), *arr = json_array();
    json_object_set_new(out, "from", json_string(path));
    json_object_set_new(out, "tables", arr);
    long long all = 0, repaired = 0;
    if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = at_diag_set(d, AT_EIO, path, 0, 0, "cannot open: %s", sqlite3_errmsg(src));
        goto done;
    }
    sqlite3_busy_timeout(src, 10000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(src, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(out, "schema_version", json_integer(sqlite3_column_int(st, 0)));
    sqlite3_finalize(st);
    /* the target must hold no control-plane rows: nothing is merged */
    PGresult *r = NULL;
    at__store_pg_wlock(pg);
    if ((rc =
             at__store_pg_write(pg, "migrate",
                                "SELECT (SELECT COUNT(*) FROM agents) + (SELECT COUNT(*) FROM jobs)"
                                " + (SELECT COUNT(*) FROM chains) + (SELECT COUNT(*) FROM kv)"
                                " + (SELECT COUNT(*) FROM usage) + (SELECT COUNT(*) FROM evals)",
                                NULL, &r, NULL))) {
        at__store_pg_wunlock(pg);
        at_diag_set(d, rc, NULL, 0, 0, "cannot count the rows of the target database");
        goto done;
    }
    long long there = pg_col_i64(r, 0, 0);
    PQclear(r);
    if (there > 0) {
        at__store_pg_wunlock(pg);
        rc = at_diag_set(d, AT_EEXIST, NULL, 0, 0,
                         "the PostgreSQL database already holds %lld rows of an Atlas store: "
                         "atlas migrate copies into an empty one only",
                         there);
        goto done;
    }
    if (sqlite3_exec(src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        at__store_pg_wexec(pg, "migrate", "BEGIN")) {
        at__store_pg_wunlock(pg);
        rc = at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot open the transactions");
        goto done;
    }
    pg->in_txn++; /* a lost connection fails the copy, never resumes it outside the transaction */
    struct cols cols[NTABLES];
    memset(cols, 0, sizeof(cols));
    char dg[NTABLES][72];
    long long n[NTABLES];
    for (size_t i = 0; i < NTABLES && !rc; i++) {
        rc = read_cols(src, tables[i].name, &cols[i], d);
        if (!rc)
            rc = copy_table(src, pg, &tables[i], &cols[i], progress, arg, &n[i], &repaired, dg[i],
                            d);
    }
    /* jobs keep their seq: the identity goes on after the highest */
    if (!rc)
        rc = at__store_pg_wexec(pg, "migrate",
                                "SELECT setval(pg_get_serial_sequence('jobs', 'seq'),"
                                " GREATEST((SELECT MAX(seq) FROM jobs), 1))");
    for (size_t i = 0; i < NTABLES && !rc; i++) {
        long long got = 0;
        char back[72];
        if ((rc = verify_table(pg, &tables[i], &cols[i], &got, back, d)))
            break;
        if (got != n[i] || strcmp(back, dg[i]) != 0) {
            rc = at_diag_set(d, AT_EIO, tables[i].name, 0, 0,
                             "verification failed: %lld rows (%s) written, %lld (%s) read back",
                             n[i], dg[i], got, back);
            break;
        }
        all += n[i];
        json_array_append_new(arr, json_pack("{s:s,s:I,s:s}", "table", tables[i].name, "rows",
                                             (json_int_t)n[i], "digest", dg[i]));
    }
    pg->in_txn--;
    if (rc)
        at__store_pg_wexec(pg, "migrate", "ROLLBACK");
    else if ((rc = at__store_pg_wexec(pg, "migrate", "COMMIT")))
        at_diag_set(d, rc, NULL, 0, 0, "the PostgreSQL transaction did not commit");
    at__store_pg_wunlock(pg);
    sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
    for (size_t i = 0; i < NTABLES; i++)
        cols_release(&cols[i]);
done:
    sqlite3_close(src);
    at_store_close(pgs);
    json_object_set_new(out, "rows", json_integer(all));
    json_object_set_new(out, "replaced_bytes", json_integer(repaired));
    if (rc) {
        json_decref(out);
        return rc;
    }
    *report = out;
    return 0;
}
