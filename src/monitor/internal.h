/*
 * internal.h - the monitor's state, shared by monitor.c (observers,
 * lifecycle, reads, evals) and collect.c (the thread, batched writes, log
 * buffers, metrics).  monitor/ only.
 */
#ifndef AT_MONITOR_INTERNAL_H
#define AT_MONITOR_INTERNAL_H

/* After a batch, the monitor thread waits this long for more before it
 * sleeps: what finishes meanwhile is one batch and one wakeup (metrics and
 * spans trail the jobs by at most this much). */
#define AT_MON_LINGER_MS 2

#include "base/buf.h"
#include "base/map.h"
#include "monitor/eval.h"
#include "monitor/metrics.h"
#include "monitor/monitor.h"
#include "monitor/otlp.h"

#include <pthread.h>
#include <stdatomic.h>

enum mon_kind { MON_FINAL, MON_MODEL, MON_TOOL, MON_CALL };

struct mon_item {
    struct mon_item *next;
    enum mon_kind kind;
    struct at_job_rec rec; /* MON_FINAL: the committed record (a copy) */
    json_t *data;          /* MON_MODEL / MON_TOOL */
    void (*fn)(void *arg); /* MON_CALL */
    void *arg;
};

/* Log lines of a job in flight (guarded by log_mu). */
struct mon_live {
    char *root_id;
    json_t *lines;         /* [{seq, ts_ms, stream, text}] */
    struct at_buf partial; /* stderr after its last newline */
    int seq;
    size_t bytes;
    size_t dropped; /* bytes not kept (monitor.logs.max_bytes_per_job) */
    int flushing;   /* handed to the writer; freed when that commits */
};

struct at_monitor {
    struct at_monitor_cfg cfg;
    struct at_store *store;
    struct at_writer *writer;
    struct at_engine *engine;
    struct at_llm *llm; /* llm_lock */
    pthread_rwlock_t llm_lock;
    struct at_metrics *metrics;
    struct at_otlp *otlp;

    pthread_t thread;
    int started;
    pthread_mutex_t mu; /* queue */
    pthread_cond_t cv;
    struct mon_item *qhead, *qtail;
    int qlen;
    int idle; /* the monitor thread waits for work: a push wakes it (under mu) */
    int stop;
    unsigned long long queued_total, dropped, write_drops;
    atomic_int writes_pending;
    atomic_int job_prune_more; /* the last job retention pass hit its limit */
    int64_t next_prune_ms;
    int64_t next_job_prune_ms;
    /* store.jobs from a reload (at_monitor_set_job_retention), taken into
     * cfg by the monitor thread at its next pass */
    pthread_mutex_t ret_mu;
    atomic_int ret_pending;
    double ret_days, ret_interval_s;
    long long ret_count;

    pthread_mutex_t log_mu;
    struct at_map live; /* job id -> struct mon_live (log_mu) */
    unsigned long long log_dropped_bytes;

    pthread_rwlock_t eval_lock;
    struct at_map evals;    /* name -> struct at_eval (ref) */
    unsigned long long rng; /* monitor thread */
    atomic_int judges;
    struct at_eval_hooks hooks;
};

/* collect.c */
void *at__mon_main(void *arg);
void at__mon_item_free(struct mon_item *it);
void at__mon_live_free(struct mon_live *l);
void at__mon_log_append(struct at_monitor *m, const char *job_id, const char *root_id,
                        const char *stream, const char *text);
void at__mon_write_eval_result(struct at_monitor *m, const struct at_eval_result *r);
/* monitor.c */
void at__mon_run_evals(struct at_monitor *m, const struct at_job_rec *rec);

#endif
