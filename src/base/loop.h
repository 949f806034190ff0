/*
 * loop.h - a small epoll event loop (in the spirit of Redis's ae).
 *
 * One thread runs at_loop_run(); watchers and timers are caller-embedded
 * structs and must only be touched from that thread.  at_loop_post() and
 * at_loop_stop() are the only thread-safe entry points: they queue a callback
 * and wake the loop through an eventfd.
 */
#ifndef AT_BASE_LOOP_H
#define AT_BASE_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct at_loop;
struct at_watch;
struct at_timer;

typedef void (*at_watch_fn)(struct at_loop *loop, struct at_watch *w, uint32_t revents);
typedef void (*at_timer_fn)(struct at_loop *loop, struct at_timer *t);
typedef void (*at_post_fn)(struct at_loop *loop, void *arg);

struct at_watch {
    int fd;
    uint32_t events; /* EPOLLIN | EPOLLOUT ... */
    at_watch_fn cb;
    void *arg;
    int active;
};

struct at_timer {
    int64_t due_ns;
    int heap_idx; /* -1 when not armed */
    at_timer_fn cb;
    void *arg;
};

/* Create a loop; NULL on failure (errno-derived code in *err when non-NULL). */
struct at_loop *at_loop_new(int *err);
/* Free a loop that is not running.  Pending posts are dropped (their callbacks
 * are not run).  Watchers and timers are not freed (caller-owned). */
void at_loop_free(struct at_loop *loop);

/* Run until at_loop_stop().  Returns 0, or a negative code on epoll failure. */
int at_loop_run(struct at_loop *loop);
/* Thread-safe: ask the loop to return from at_loop_run after this iteration. */
void at_loop_stop(struct at_loop *loop);

/* Start watching w->fd for `events`.  Returns 0 or an AT_E* code. */
int at_loop_watch(struct at_loop *loop, struct at_watch *w, int fd, uint32_t events, at_watch_fn cb,
                  void *arg);
/* Stop watching; safe from inside any callback, also for w itself. */
void at_loop_unwatch(struct at_loop *loop, struct at_watch *w);

/* Zero a timer so that stop/armed checks work before it is first armed. */
void at_timer_init(struct at_timer *t);
/* Arm (or re-arm) t to fire once after ms milliseconds. */
void at_loop_timer_start(struct at_loop *loop, struct at_timer *t, int64_t ms, at_timer_fn cb,
                         void *arg);
void at_loop_timer_stop(struct at_loop *loop, struct at_timer *t);
static inline int at_timer_armed(const struct at_timer *t)
{
    return t->heap_idx >= 0;
}

/* Thread-safe: run fn(loop, arg) on the loop thread soon. */
void at_loop_post(struct at_loop *loop, at_post_fn fn, void *arg);

#endif
