#include "store/writer.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 512

struct wop {
    struct wop *next;
    at_write_fn fn;
    at_write_done_fn done;
    void *arg;
    int rc;
};

struct at_writer {
    struct at_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work queued or stop */
    pthread_cond_t flushed; /* a batch was committed */
    struct wop *head, *tail;
    size_t pending, max_pending;
    unsigned long long submitted, completed;
    int stop;
    struct at_writer_stats stats;
};

static void run_batch(struct at_writer *w, struct wop *batch)
{
    int rc = w->store->ops->begin(w->store);
    for (struct wop *op = batch; op; op = op->next)
        op->rc = rc ? rc : op->fn(w->store, op->arg);
    if (!rc)
        rc = w->store->ops->commit(w->store);
    unsigned long long n = 0, fails = 0;
    struct wop *op = batch;
    while (op) {
        struct wop *next = op->next;
        int r = rc ? rc : op->rc;
        if (r && r != AT_AGAIN)
            fails++;
        if (op->done)
            op->done(r, op->arg);
        free(op);
        op = next;
        n++;
    }
    pthread_mutex_lock(&w->mu);
    w->stats.writes += n;
    w->stats.commits++;
    w->stats.failures += fails;
    w->completed += n;
    pthread_cond_broadcast(&w->flushed);
    pthread_mutex_unlock(&w->mu);
    if (rc)
        at_error("store", "group commit of %llu writes failed: %s", n, at_err_msg(rc));
}

static void *writer_main(void *arg)
{
    struct at_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head && w->stop)
            break;
        /* take up to BATCH_MAX queued writes */
        struct wop *batch = w->head, *last = batch;
        size_t n = 1;
        while (last->next && n < BATCH_MAX) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->pending -= n;
        pthread_mutex_unlock(&w->mu);
        run_batch(w, batch);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int at_writer_new(struct at_store *s, size_t max_pending, struct at_writer **out)
{
    struct at_writer *w = at_calloc(1, sizeof(*w));
    w->store = s;
    w->max_pending = max_pending ? max_pending : 100000;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->flushed, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->flushed);
        free(w);
        return AT_EIO;
    }
    *out = w;
    return 0;
}

void at_writer_free(struct at_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->flushed);
    free(w);
}

int at_writer_submit(struct at_writer *w, at_write_fn fn, at_write_done_fn done, void *arg)
{
    struct wop *op = at_malloc(sizeof(*op));
    op->next = NULL;
    op->fn = fn;
    op->done = done;
    op->arg = arg;
    op->rc = 0;
    pthread_mutex_lock(&w->mu);
    if (w->pending >= w->max_pending || w->stop) {
        pthread_mutex_unlock(&w->mu);
        free(op);
        return AT_EBUSY;
    }
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    w->pending++;
    w->submitted++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void at_writer_flush(struct at_writer *w)
{
    pthread_mutex_lock(&w->mu);
    unsigned long long target = w->submitted;
    while (w->completed < target)
        pthread_cond_wait(&w->flushed, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void at_writer_get_stats(struct at_writer *w, struct at_writer_stats *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->stats;
    st->pending = w->pending;
    pthread_mutex_unlock(&w->mu);
}
