/*
 * sqlite.c - the embedded store backend: one SQLite file in WAL mode.
 *
 * One writer connection (behind a recursive mutex, so a transaction opened
 * by begin() can span several calls from the same thread) and a few reader
 * connections, which WAL lets run beside the writer.  synchronous=NORMAL
 * (the default, `store.sync: normal`) survives a killed process;
 * synchronous=FULL (`store.sync: full`) also survives power loss.
 *
 * This file: the connections, the schema migrations, the WAL checkpoint
 * thread, transactions, open and close; the groups of the table live in
 * sqlite_catalog.c, sqlite_jobs.c and sqlite_monitor.c (sqlite_int.h).
 */
#include "store/sqlite_int.h"

#include "base/clock.h"

#include <stdint.h>
#include <time.h>

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
    /* 5: the audit trail (sqlite_tlog.c, docs/audit.md): signed entries of
     * the Merkle tree log, in leaf order, and its signed checkpoints */
    "CREATE TABLE tlog_entries(idx INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL, envelope BLOB NOT NULL) STRICT;"
    "CREATE TABLE tlog_checkpoints(size INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
    "  note TEXT NOT NULL) STRICT;",
    /* 6: proposals and their decisions (sqlite_approvals.c, docs/supervisor.md):
     * one row per proposal, its whole record as JSON, its state and content
     * hash as columns for listing */
    "CREATE TABLE approvals(id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
    "  state TEXT NOT NULL, hash TEXT NOT NULL, proposer TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, doc TEXT NOT NULL) STRICT;"
    "CREATE INDEX approvals_seq ON approvals(seq);",
    /* 7: the schema's own history: a row per migration from this one on,
     * written in the migration's transaction (when, by which atlasd), so
     * an upgrade shows which migrations ran and that each ran once */
    ("CREATE TABLE schema_log(version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL,"
     "  atlas_version TEXT NOT NULL) STRICT;"),
    /* 8: A2A push notification configs (sqlite_a2a.c, docs/a2a.md "Push
     * notifications"): one row per (task, config), its record as JSON */
    "CREATE TABLE a2a_push(task_id TEXT NOT NULL, id TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, doc TEXT NOT NULL,"
    "  PRIMARY KEY(task_id, id)) STRICT;",
    /* 9: what each usage row counts: a chat call (every row before) or an
     * embeddings call (docs/gateway.md "Embeddings") */
    "ALTER TABLE usage ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat';",
    /* 10: trigger firings (sqlite_triggers.c, docs/internals/triggers.md): a
     * row per firing (its history entry, and the event and input to
     * submit while its job is not yet queued), and the idempotency keys
     * of deliveries, each with the firing that took it */
    "CREATE TABLE trigger_firings(trigger TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  job_id TEXT, scheduled INTEGER NOT NULL, doc TEXT NOT NULL, pending TEXT,"
    "  PRIMARY KEY(trigger, seq)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX trigger_firings_pending ON trigger_firings(trigger, seq)"
    "  WHERE pending IS NOT NULL;"
    "CREATE TABLE trigger_idem(trigger TEXT NOT NULL, key TEXT NOT NULL,"
    "  job_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY(trigger, key)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX trigger_idem_seq ON trigger_idem(trigger, seq);",
};

/* The first migration that writes its row to schema_log. */
#define SCHEMA_LOG_FROM 7

/* at_satsum(x, ...): the sum of every argument over the group, in 64-bit
 * integers that saturate at INT64_MAX / INT64_MIN instead of failing the
 * query ("integer overflow", which SUM raises) or turning into a REAL as +
 * does.  Usage and trace reads sum tokens with it, so a report near 2^63
 * shows the largest count, not a negative one or a 500.  NULLs count 0. */
struct satsum {
    int64_t v;
};

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static void satsum_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct satsum *s = sqlite3_aggregate_context(ctx, sizeof(*s));
    if (!s) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    for (int i = 0; i < argc; i++) {
        switch (sqlite3_value_numeric_type(argv[i])) {
        case SQLITE_INTEGER:
            s->v = sat_add(s->v, sqlite3_value_int64(argv[i]));
            break;
        case SQLITE_FLOAT: {
            double d = sqlite3_value_double(argv[i]);
            int64_t x = d >= 9.2233720368547758e18    ? INT64_MAX
                        : d <= -9.2233720368547758e18 ? INT64_MIN
                        : d == d                      ? (int64_t)d
                                                      : 0;
            s->v = sat_add(s->v, x);
            break;
        }
        default:
            break;
        }
    }
}

static void satsum_final(sqlite3_context *ctx)
{
    struct satsum *s = sqlite3_aggregate_context(ctx, 0);
    sqlite3_result_int64(ctx, s ? s->v : 0);
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
    rc = sqlite3_create_function_v2(db, "at_satsum", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                    NULL, satsum_step, satsum_final, NULL);
    if (rc != SQLITE_OK) {
        at_diag_set(d, AT_EIO, path, 0, 0, "cannot register at_satsum: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return AT_EIO;
    }
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
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return at_diag_set(d, AT_EIO, path, 0, 0, "cannot read the schema version: %s",
                           sqlite3_errmsg(db));
    }
    version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int target = (int)(sizeof(migrations) / sizeof(migrations[0]));
#ifdef ATLAS_TEST_STORE_MIGRATIONS
    /* a test build (CMakeLists.txt): an older atlasd for the upgrade test */
    if (ATLAS_TEST_STORE_MIGRATIONS < target)
        target = ATLAS_TEST_STORE_MIGRATIONS;
#endif
    if (version > target)
        return at_diag_set(d, AT_EUNSUPPORTED, path, 0, 0,
                           "database schema version %d is newer than this atlasd (%d)", version,
                           target);
    for (int v = version; v < target; v++) {
        char set[64], row[160];
        snprintf(set, sizeof(set), "PRAGMA user_version=%d;", v + 1);
        snprintf(row, sizeof(row), "INSERT INTO schema_log VALUES(%d, %lld, '%s');", v + 1,
                 (long long)at_wall_ms(), ATLAS_VERSION);
        if (exec_sql(db, "BEGIN IMMEDIATE") || exec_sql(db, migrations[v]) ||
            (v + 1 >= SCHEMA_LOG_FROM && exec_sql(db, row)) || exec_sql(db, set) ||
            exec_sql(db, "COMMIT")) {
            exec_sql(db, "ROLLBACK");
            return at_diag_set(d, AT_EIO, path, 0, 0, "schema migration %d failed: %s", v + 1,
                               sqlite3_errmsg(db));
        }
    }
    if (version > 0 && version < target) /* not for a new store */
        at_info("store", "%s: schema migrated from version %d to %d", path, version, target);
    return 0;
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

static struct at_store_ops sqlite_ops;
static pthread_once_t sqlite_ops_once = PTHREAD_ONCE_INIT;

static void sqlite_ops_init(void)
{
    sqlite_ops.name = "sqlite";
    sqlite_ops.close = sq_close;
    sqlite_ops.begin = sq_begin;
    sqlite_ops.commit = sq_commit;
    sqlite_ops.rollback = sq_rollback;
    at_store_sqlite_catalog_ops(&sqlite_ops);
    at_store_sqlite_jobs_ops(&sqlite_ops);
    at_store_sqlite_monitor_ops(&sqlite_ops);
    at_store_sqlite_triggers_ops(&sqlite_ops);
}

int at_store_sqlite_open(const struct at_store_cfg *cfg, struct at_store **out, struct at_diag *d)
{
    struct sq_store *s = at_calloc(1, sizeof(*s));
    pthread_once(&sqlite_ops_once, sqlite_ops_init);
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
