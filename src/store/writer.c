#include "store/writer.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/map.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 512

struct wop {
    struct wop *next;
    at_write_fn fn;
    at_write_done_fn done;
    void *arg;
    int rc;
    char *key;                  /* coalescing key or NULL */
    at_write_merge_fn merge;    /* for writes folded into this one */
    struct wop *folded, *ftail; /* writes folded into this one, in order */
    int64_t hold_until;         /* monotonic ns: not taken before (0: at once) */
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
    struct at_map queued; /* key -> the queued (not yet taken) wop of that key */
    int64_t window_ns;    /* how long a write submitted with hold waits */
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
        for (struct wop *f = op->folded; f;) {
            struct wop *fn = f->next;
            if (f->done)
                f->done(r, f->arg);
            free(f);
            f = fn;
            n++;
        }
        free(op->key);
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
        /* take up to BATCH_MAX queued writes, leaving those held for the
         * coalescing window (unless something was folded into them, or
         * the writer is stopping) */
        int64_t now = at_now_ns(), next = 0;
        struct wop *batch = NULL, *btail = NULL, *prev = NULL, *op = w->head;
        size_t n = 0;
        while (op && n < BATCH_MAX) {
            struct wop *nx = op->next;
            if (!w->stop && op->hold_until > now) {
                if (!next || op->hold_until < next)
                    next = op->hold_until;
                prev = op;
                op = nx;
                continue;
            }
            if (prev)
                prev->next = nx;
            else
                w->head = nx;
            if (w->tail == op)
                w->tail = prev;
            op->next = NULL;
            if (btail)
                btail->next = op;
            else
                batch = op;
            btail = op;
            n++;
            op = nx;
        }
        if (!batch) {
            /* only held writes: sleep until the first one is due */
            struct timespec ts = {.tv_sec = (time_t)(next / 1000000000),
                                  .tv_nsec = (long)(next % 1000000000)};
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            continue;
        }
        w->pending -= n;
        /* taken: later writes of these keys queue anew */
        for (struct wop *b = batch; b; b = b->next)
            if (b->key && at_map_get(&w->queued, b->key) == b)
                at_map_del(&w->queued, b->key);
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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the window's timed wait */
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&w->flushed, NULL);
    at_map_init(&w->queued);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->flushed);
        at_map_release(&w->queued);
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
    at_map_release(&w->queued);
    free(w);
}

int at_writer_submit(struct at_writer *w, at_write_fn fn, at_write_done_fn done, void *arg)
{
    return at_writer_submit_keyed(w, NULL, fn, NULL, done, arg, 0);
}

void at_writer_set_window(struct at_writer *w, double ms)
{
    pthread_mutex_lock(&w->mu);
    w->window_ns = ms > 0 ? (int64_t)(ms * 1e6) : 0;
    pthread_mutex_unlock(&w->mu);
}

int at_writer_submit_keyed(struct at_writer *w, const char *key, at_write_fn fn,
                           at_write_merge_fn merge, at_write_done_fn done, void *arg, int flags)
{
    struct wop *op = at_calloc(1, sizeof(*op));
    op->fn = fn;
    op->done = done;
    op->arg = arg;
    op->merge = merge;
    pthread_mutex_lock(&w->mu);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        free(op);
        return AT_EBUSY;
    }
    struct wop *q = key && merge ? at_map_get(&w->queued, key) : NULL;
    if ((flags & AT_WRITE_FOLD_ONLY) && !q) {
        pthread_mutex_unlock(&w->mu);
        free(op);
        return AT_AGAIN;
    }
    if (q && merge(q->arg, arg) == 0) {
        /* folded: runs no statement, completes right after q */
        if (q->ftail)
            q->ftail->next = op;
        else
            q->folded = op;
        q->ftail = op;
        w->submitted++;
        w->stats.coalesced++;
        if (q->hold_until && !(flags & AT_WRITE_HOLD)) {
            q->hold_until = 0; /* folded by a write that may not wait: due now */
            pthread_cond_signal(&w->cv);
        }
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    if (flags & AT_WRITE_FOLD_ONLY) {
        pthread_mutex_unlock(&w->mu);
        free(op);
        return AT_AGAIN;
    }
    if (w->pending >= w->max_pending) {
        pthread_mutex_unlock(&w->mu);
        free(op);
        return AT_EBUSY;
    }
    if (key && merge) {
        op->key = at_strdup(key);
        at_map_put(&w->queued, key, op);
        if ((flags & AT_WRITE_HOLD) && w->window_ns)
            op->hold_until = at_now_ns() + w->window_ns;
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

size_t at_writer_max_pending(struct at_writer *w)
{
    return w->max_pending;
}

/* ---- synchronous writes ---- */

struct call_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int rc;
};

static void call_done(int rc, void *arg)
{
    struct call_wait *cw = arg;
    pthread_mutex_lock(&cw->mu);
    cw->rc = rc;
    cw->done = 1;
    pthread_cond_signal(&cw->cv);
    pthread_mutex_unlock(&cw->mu);
}

struct call_op {
    at_write_fn fn;
    void *arg;
    struct call_wait wait;
};

static int call_run(struct at_store *s, void *arg)
{
    struct call_op *op = arg;
    return op->fn(s, op->arg);
}

static void call_op_done(int rc, void *arg)
{
    struct call_op *op = arg;
    call_done(rc, &op->wait);
}

int at_writer_call(struct at_writer *w, struct at_store *s, at_write_fn fn, void *arg)
{
    if (!w)
        return fn(s, arg);
    if (pthread_equal(pthread_self(), w->thread))
        return fn(w->store, arg);
    struct call_op op = {.fn = fn, .arg = arg};
    pthread_mutex_init(&op.wait.mu, NULL);
    pthread_cond_init(&op.wait.cv, NULL);
    int rc = at_writer_submit(w, call_run, call_op_done, &op);
    if (!rc) {
        pthread_mutex_lock(&op.wait.mu);
        while (!op.wait.done)
            pthread_cond_wait(&op.wait.cv, &op.wait.mu);
        rc = op.wait.rc;
        pthread_mutex_unlock(&op.wait.mu);
    }
    pthread_mutex_destroy(&op.wait.mu);
    pthread_cond_destroy(&op.wait.cv);
    return rc;
}

struct cat_args {
    const struct at_agent_rec *agent;
    const struct at_chain_rec *chain;
    const struct at_eval_rec *eval;
    const char *a, *b;
    int force;
    int *deleted;
};

static int w_agent_put(struct at_store *s, void *arg)
{
    struct cat_args *c = arg;
    return s->ops->agent_put(s, c->agent, c->force);
}

static int w_agent_delete(struct at_store *s, void *arg)
{
    struct cat_args *c = arg;
    return s->ops->agent_delete(s, c->a, c->b, c->deleted);
}

static int w_chain_put(struct at_store *s, void *arg)
{
    struct cat_args *c = arg;
    return s->ops->chain_put(s, c->chain);
}

static int w_chain_delete(struct at_store *s, void *arg)
{
    struct cat_args *c = arg;
    return s->ops->chain_delete(s, c->a, c->deleted);
}

static int w_kv_put(struct at_store *s, void *arg)
{
    struct cat_args *c = arg;
    return s->ops->kv_put(s, c->a, c->b);
}

static int w_eval_put(struct at_store *s, void *arg)
{
    struct cat_args *c = arg;
    return s->ops->eval_put(s, c->eval);
}

static int w_eval_delete(struct at_store *s, void *arg)
{
    struct cat_args *c = arg;
    return s->ops->eval_delete(s, c->a, c->deleted);
}

int at_writer_agent_put(struct at_writer *w, struct at_store *s, const struct at_agent_rec *r,
                        int force)
{
    struct cat_args c = {.agent = r, .force = force};
    return at_writer_call(w, s, w_agent_put, &c);
}

int at_writer_agent_delete(struct at_writer *w, struct at_store *s, const char *name,
                           const char *version, int *deleted)
{
    *deleted = 0;
    struct cat_args c = {.a = name, .b = version, .deleted = deleted};
    return at_writer_call(w, s, w_agent_delete, &c);
}

int at_writer_chain_put(struct at_writer *w, struct at_store *s, const struct at_chain_rec *r)
{
    struct cat_args c = {.chain = r};
    return at_writer_call(w, s, w_chain_put, &c);
}

int at_writer_chain_delete(struct at_writer *w, struct at_store *s, const char *name, int *deleted)
{
    *deleted = 0;
    struct cat_args c = {.a = name, .deleted = deleted};
    return at_writer_call(w, s, w_chain_delete, &c);
}

int at_writer_kv_put(struct at_writer *w, struct at_store *s, const char *key, const char *value)
{
    struct cat_args c = {.a = key, .b = value};
    return at_writer_call(w, s, w_kv_put, &c);
}

int at_writer_eval_put(struct at_writer *w, struct at_store *s, const struct at_eval_rec *r)
{
    struct cat_args c = {.eval = r};
    return at_writer_call(w, s, w_eval_put, &c);
}

int at_writer_eval_delete(struct at_writer *w, struct at_store *s, const char *name, int *deleted)
{
    *deleted = 0;
    struct cat_args c = {.a = name, .deleted = deleted};
    return at_writer_call(w, s, w_eval_delete, &c);
}

struct prune_args {
    int64_t before_ms;
    long long keep;
    int deleted;
};

static int w_job_prune(struct at_store *s, void *arg)
{
    struct prune_args *p = arg;
    return s->ops->job_prune(s, p->before_ms, p->keep, 1000, &p->deleted);
}

int at_writer_job_prune(struct at_writer *w, struct at_store *s, int64_t before_ms, long long keep,
                        long long *deleted)
{
    *deleted = 0;
    for (;;) {
        struct prune_args p = {.before_ms = before_ms, .keep = keep};
        int rc = at_writer_call(w, s, w_job_prune, &p);
        if (rc)
            return rc;
        *deleted += p.deleted;
        if (p.deleted < 1000)
            return 0;
    }
}
