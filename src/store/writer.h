/*
 * writer.h - group-committed writes on a dedicated thread.
 *
 * The dispatch path never waits on disk: it queues a write (a function run
 * against the store) with a completion callback and goes on.  The writer
 * thread takes every write queued so far, runs them in one transaction and
 * commits once (group commit), then calls each completion with that write's
 * result (or the commit's error).  Completions run on the writer thread and
 * must only hand off (post to a loop, resume a connection), never block.
 *
 * The queue is bounded (max_pending): at_writer_submit returns AT_EBUSY
 * when it is full, which callers surface as 503.  Thread-safe.
 */
#ifndef AT_STORE_WRITER_H
#define AT_STORE_WRITER_H

#include "store/store.h"

#include <stddef.h>

struct at_writer;

typedef int (*at_write_fn)(struct at_store *s, void *arg);
typedef void (*at_write_done_fn)(int rc, void *arg);
/* Fold a newer write (arg) into a queued one (queued) of the same key, so
 * the queued write now also writes what the newer one would have: 0 when
 * merged, non-zero to queue the newer write on its own. */
typedef int (*at_write_merge_fn)(void *queued, void *arg);

struct at_writer_stats {
    unsigned long long writes; /* completions called (coalesced ones included) */
    unsigned long long commits;
    unsigned long long failures;
    unsigned long long coalesced; /* writes folded into a queued one (not run) */
    size_t pending;
};

/* Start the writer thread over store s (borrowed; must outlive the writer). */
int at_writer_new(struct at_store *s, size_t max_pending, struct at_writer **out);
/* Finish every queued write, then stop the thread and free. */
void at_writer_free(struct at_writer *w);

/* Queue fn(store, arg); done(rc, arg) is called after the commit (may be
 * NULL).  Returns 0 or AT_EBUSY (queue full: neither fn nor done runs). */
int at_writer_submit(struct at_writer *w, at_write_fn fn, at_write_done_fn done, void *arg);

/* Like at_writer_submit, with a coalescing key (a job id: copied).  When a
 * write with the same key is still queued (the writer thread has not taken
 * it yet), merge(queued's arg, arg) is called under the writer's lock and,
 * when it returns 0, this write is not queued: the queued one writes both,
 * and done(rc, arg) is called right after the queued write's done, with
 * its result, so completions keep their order and none runs before the
 * commit that holds its data.  A job that finishes before its `running`
 * row is committed is then one row written instead of two (or three).
 * flags:
 *   AT_WRITE_HOLD       nobody waits on this write: it may wait in the queue
 *                       for the coalescing window (at_writer_set_window);
 *                       a later write folded into it without AT_WRITE_HOLD
 *                       makes it due at once
 *   AT_WRITE_FOLD_ONLY  fold into the queued write of key, or do nothing and
 *                       return AT_AGAIN (it was taken: committed, or being
 *                       committed) -- "still uncommitted?" and "write with
 *                       it" in one step */
#define AT_WRITE_HOLD 1
#define AT_WRITE_FOLD_ONLY 2
int at_writer_submit_keyed(struct at_writer *w, const char *key, at_write_fn fn,
                           at_write_merge_fn merge, at_write_done_fn done, void *arg, int flags);

/* The coalescing window (store.coalesce_ms; 0, the writer's default, turns
 * it off): a write submitted with AT_WRITE_HOLD is not taken before it has
 * waited this long, so a short job's rows meet in the queue.  Every
 * completion still waits for the commit that holds its data. */
void at_writer_set_window(struct at_writer *w, double ms);

/* Block until everything queued before this call is committed.  Not for
 * the dispatch path (start-up, shutdown and tests). */
void at_writer_flush(struct at_writer *w);

void at_writer_get_stats(struct at_writer *w, struct at_writer_stats *st);

/* The queue's limit (max_pending as given to at_writer_new, or its default). */
size_t at_writer_max_pending(struct at_writer *w);

/*
 * Synchronous writes, for the threads that may block (HTTP handlers,
 * registration, control calls; never the dispatch loop): fn(store, arg)
 * runs on the writer thread in its next group commit, and the call returns
 * once that commit is done, with fn's result, the commit's error, or
 * AT_EBUSY when the queue is full.  Store writes happen on the writer thread
 * only, so they are ordered with the dispatch path's writes and never race
 * a transaction the writer has open.  With w NULL (tools and unit tests that
 * run no writer) fn runs at once on s.  Called on the writer thread itself
 * (from a write or a completion), fn runs at once too.
 */
int at_writer_call(struct at_writer *w, struct at_store *s, at_write_fn fn, void *arg);

/* The catalog's and the monitor's writes through at_writer_call (same
 * arguments and results as the store.h entries of the same names). */
int at_writer_agent_put(struct at_writer *w, struct at_store *s, const struct at_agent_rec *r,
                        int force);
int at_writer_agent_delete(struct at_writer *w, struct at_store *s, const char *name,
                           const char *version, int *deleted);
int at_writer_chain_put(struct at_writer *w, struct at_store *s, const struct at_chain_rec *r);
int at_writer_chain_delete(struct at_writer *w, struct at_store *s, const char *name, int *deleted);
int at_writer_kv_put(struct at_writer *w, struct at_store *s, const char *key, const char *value);
int at_writer_eval_put(struct at_writer *w, struct at_store *s, const struct at_eval_rec *r);
int at_writer_eval_delete(struct at_writer *w, struct at_store *s, const char *name, int *deleted);
/* Job retention (store.h job_prune) to the end: one write of at most 1000
 * trees at a time, so other writes go between; *deleted counts trees. */
int at_writer_job_prune(struct at_writer *w, struct at_store *s, int64_t before_ms, long long keep,
                        long long *deleted);

#endif
