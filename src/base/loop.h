/*
 * loop.h - a small epoll event loop (in the spirit of Redis's ae).
 *
 * One thread runs at_loop_run(); watchers and timers are caller-embedded
 * structs and must only be touched from that thread.  at_loop_try_post(),
 * at_loop_post() and at_loop_stop() are the thread-safe entry points: they
 * queue a callback and wake the loop through an eventfd.
 *
 * The post queue is bounded (STYLE rule 9): at_loop_try_post refuses with
 * AT_EBUSY once AT_LOOP_POST_LIMIT (or at_loop_set_post_limit's value)
 * posts wait.  It is the entry for new work from other threads (a
 * submission, a cancel, a control call), whose callers pass the refusal
 * on.  at_loop_post is the must-deliver variant, for internal completions
 * of work the loop already accepted (a store commit, a remote agent's
 * answer, an agent's request being answered, shutdown): refusing those
 * would lose a job, and their number is bounded by the jobs in flight,
 * which the bounded entry points limit.  It is never refused.
 */
#ifndef AT_BASE_LOOP_H
#define AT_BASE_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct at_loop;
struct at_watch;
struct at_timer;

typedef void (*at_watch_fn)(struct at_loop *loop, struct at_watch *w, uint32_t revents);
typedef void (*at_timer_fn)(struct at_loop *loop, struct at_timer *t);
typedef void (*at_post_fn)(struct at_loop *loop, void *arg);
typedef void (*at_loop_turn_fn)(struct at_loop *loop, void *arg);

/* Posts at_loop_try_post accepts before it refuses (default). */
#define AT_LOOP_POST_LIMIT 65536

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

/* Thread-safe: run fn(loop, arg) on the loop thread soon.  Returns 0, or
 * AT_EBUSY when the post queue holds its limit (fn will not run; the
 * caller keeps arg). */
int at_loop_try_post(struct at_loop *loop, at_post_fn fn, void *arg);
/* Thread-safe: as at_loop_try_post, never refused: only for internal
 * must-deliver posts (see the top of this file). */
void at_loop_post(struct at_loop *loop, at_post_fn fn, void *arg);
/* Runs the posts queued so far on the calling thread and returns how many
 * ran.  Only once at_loop_run has returned (the caller owns the loop):
 * completions that other threads post after the loop stopped still run,
 * so what they carry is released. */
size_t at_loop_run_pending(struct at_loop *loop);
/* Thread-safe: the limit of at_loop_try_post (>= 1). */
void at_loop_set_post_limit(struct at_loop *loop, size_t limit);
/* Thread-safe: posts waiting now. */
size_t at_loop_post_len(struct at_loop *loop);
/* Loop thread or before at_loop_run: fn(loop, arg) runs after every turn
 * (watchers and timers dispatched), e.g. to check invariants; NULL: none. */
void at_loop_set_turn_hook(struct at_loop *loop, at_loop_turn_fn fn, void *arg);

#endif
