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

struct at_writer_stats {
    unsigned long long writes;
    unsigned long long commits;
    unsigned long long failures;
    size_t pending;
};

/* Start the writer thread over store s (borrowed; must outlive the writer). */
int at_writer_new(struct at_store *s, size_t max_pending, struct at_writer **out);
/* Finish every queued write, then stop the thread and free. */
void at_writer_free(struct at_writer *w);

/* Queue fn(store, arg); done(rc, arg) is called after the commit (may be
 * NULL).  Returns 0 or AT_EBUSY (queue full: neither fn nor done runs). */
int at_writer_submit(struct at_writer *w, at_write_fn fn, at_write_done_fn done, void *arg);

/* Block until everything queued before this call is committed.  Not for
 * the dispatch path (start-up, shutdown and tests). */
void at_writer_flush(struct at_writer *w);

void at_writer_get_stats(struct at_writer *w, struct at_writer_stats *st);

#endif
