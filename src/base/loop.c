#include "base/loop.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 128

struct post_node {
    struct post_node *next;
    at_post_fn fn;
    void *arg;
};

struct at_loop {
    int epfd;
    int evfd;
    struct at_watch evwatch;
    atomic_int stop;
    int64_t now_ns;

    struct at_timer **heap;
    int heap_len, heap_cap;

    pthread_mutex_t post_mu;
    struct post_node *post_head, *post_tail;
    size_t post_len;   /* nodes queued (under post_mu) */
    size_t post_limit; /* at_loop_try_post refuses at this length */

    at_loop_turn_fn turn_fn; /* after every turn (invariant checks), or NULL */
    void *turn_arg;

    /* events of the batch being dispatched, so unwatch can void them */
    struct epoll_event events[LOOP_MAX_EVENTS];
    int nevents;
};

static void drain_posts(struct at_loop *loop, struct at_watch *w, uint32_t revents);

struct at_loop *at_loop_new(int *err)
{
    struct at_loop *loop = at_calloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->evfd < 0) {
        if (err)
            *err = at_err_from_errno(errno);
        if (loop->epfd >= 0)
            close(loop->epfd);
        if (loop->evfd >= 0)
            close(loop->evfd);
        free(loop);
        return NULL;
    }
    pthread_mutex_init(&loop->post_mu, NULL);
    loop->post_limit = AT_LOOP_POST_LIMIT;
    loop->now_ns = at_now_ns();
    at_loop_watch(loop, &loop->evwatch, loop->evfd, EPOLLIN, drain_posts, NULL);
    return loop;
}

void at_loop_free(struct at_loop *loop)
{
    if (!loop)
        return;
    struct post_node *n = loop->post_head;
    while (n) {
        struct post_node *next = n->next;
        free(n);
        n = next;
    }
    close(loop->epfd);
    close(loop->evfd);
    pthread_mutex_destroy(&loop->post_mu);
    free(loop->heap);
    free(loop);
}

/* ---- watchers ---- */

int at_loop_watch(struct at_loop *loop, struct at_watch *w, int fd, uint32_t events, at_watch_fn cb,
                  void *arg)
{
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return at_err_from_errno(errno);
    w->active = 1;
    return 0;
}

void at_loop_unwatch(struct at_loop *loop, struct at_watch *w)
{
    if (!w->active)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->active = 0;
    for (int i = 0; i < loop->nevents; i++)
        if (loop->events[i].data.ptr == w)
            loop->events[i].data.ptr = NULL;
}

/* ---- timers: a binary min-heap on due_ns ---- */

void at_timer_init(struct at_timer *t)
{
    memset(t, 0, sizeof(*t));
    t->heap_idx = -1;
}

static void heap_swap(struct at_loop *loop, int a, int b)
{
    struct at_timer *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_idx = a;
    loop->heap[b]->heap_idx = b;
}

static void heap_up(struct at_loop *loop, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (loop->heap[p]->due_ns <= loop->heap[i]->due_ns)
            break;
        heap_swap(loop, p, i);
        i = p;
    }
}

static void heap_down(struct at_loop *loop, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->heap_len && loop->heap[l]->due_ns < loop->heap[m]->due_ns)
            m = l;
        if (r < loop->heap_len && loop->heap[r]->due_ns < loop->heap[m]->due_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(loop, i, m);
        i = m;
    }
}

void at_loop_timer_stop(struct at_loop *loop, struct at_timer *t)
{
    int i = t->heap_idx;
    if (i < 0)
        return;
    int last = --loop->heap_len;
    if (i != last) {
        heap_swap(loop, i, last);
        heap_down(loop, i);
        heap_up(loop, i);
    }
    t->heap_idx = -1;
}

void at_loop_timer_start(struct at_loop *loop, struct at_timer *t, int64_t ms, at_timer_fn cb,
                         void *arg)
{
    at_loop_timer_stop(loop, t);
    if (loop->heap_len == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = at_realloc(loop->heap, sizeof(*loop->heap) * (size_t)loop->heap_cap);
    }
    t->due_ns = at_now_ns() + ms * 1000000;
    t->cb = cb;
    t->arg = arg;
    t->heap_idx = loop->heap_len;
    loop->heap[loop->heap_len++] = t;
    heap_up(loop, t->heap_idx);
}

static void run_timers(struct at_loop *loop)
{
    int64_t now = loop->now_ns;
    while (loop->heap_len > 0 && loop->heap[0]->due_ns <= now) {
        struct at_timer *t = loop->heap[0];
        at_loop_timer_stop(loop, t);
        t->cb(loop, t);
    }
}

/* ---- posts ---- */

void at_loop_set_post_limit(struct at_loop *loop, size_t limit)
{
    pthread_mutex_lock(&loop->post_mu);
    loop->post_limit = limit ? limit : 1;
    pthread_mutex_unlock(&loop->post_mu);
}

size_t at_loop_post_len(struct at_loop *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    size_t n = loop->post_len;
    pthread_mutex_unlock(&loop->post_mu);
    return n;
}

/* bounded: refuse (AT_EBUSY) at the limit; otherwise always queue */
static int post(struct at_loop *loop, at_post_fn fn, void *arg, int bounded)
{
    struct post_node *n = at_malloc(sizeof(*n));
    n->next = NULL;
    n->fn = fn;
    n->arg = arg;
    pthread_mutex_lock(&loop->post_mu);
    if (bounded && loop->post_len >= loop->post_limit) {
        pthread_mutex_unlock(&loop->post_mu);
        free(n);
        return AT_EBUSY;
    }
    int was_empty = loop->post_head == NULL;
    if (loop->post_tail)
        loop->post_tail->next = n;
    else
        loop->post_head = n;
    loop->post_tail = n;
    loop->post_len++;
    pthread_mutex_unlock(&loop->post_mu);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t r = write(loop->evfd, &one, sizeof(one));
        (void)r;
    }
    return 0;
}

int at_loop_try_post(struct at_loop *loop, at_post_fn fn, void *arg)
{
    return post(loop, fn, arg, 1);
}

void at_loop_post(struct at_loop *loop, at_post_fn fn, void *arg)
{
    (void)post(loop, fn, arg, 0);
}

size_t at_loop_run_pending(struct at_loop *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    struct post_node *n = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    loop->post_len = 0;
    pthread_mutex_unlock(&loop->post_mu);
    size_t ran = 0;
    while (n) {
        struct post_node *next = n->next;
        n->fn(loop, n->arg);
        free(n);
        n = next;
        ran++;
    }
    return ran;
}

void at_loop_set_turn_hook(struct at_loop *loop, at_loop_turn_fn fn, void *arg)
{
    loop->turn_fn = fn;
    loop->turn_arg = arg;
}

static void drain_posts(struct at_loop *loop, struct at_watch *w, uint32_t revents)
{
    (void)w;
    (void)revents;
    uint64_t v;
    ssize_t r = read(loop->evfd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&loop->post_mu);
    struct post_node *n = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    loop->post_len = 0;
    pthread_mutex_unlock(&loop->post_mu);
    while (n) {
        struct post_node *next = n->next;
        n->fn(loop, n->arg);
        free(n);
        n = next;
    }
}

void at_loop_stop(struct at_loop *loop)
{
    atomic_store(&loop->stop, 1);
    uint64_t one = 1;
    ssize_t r = write(loop->evfd, &one, sizeof(one));
    (void)r;
}

int at_loop_run(struct at_loop *loop)
{
    while (!atomic_load(&loop->stop)) {
        loop->now_ns = at_now_ns();
        int timeout = -1;
        if (loop->heap_len > 0) {
            int64_t d = loop->heap[0]->due_ns - loop->now_ns;
            timeout = d <= 0 ? 0 : (int)((d + 999999) / 1000000);
        }
        int n = epoll_wait(loop->epfd, loop->events, LOOP_MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return at_err_from_errno(errno);
        }
        loop->now_ns = at_now_ns();
        loop->nevents = n;
        for (int i = 0; i < n; i++) {
            struct at_watch *w = loop->events[i].data.ptr;
            if (w && w->active)
                w->cb(loop, w, loop->events[i].events);
        }
        loop->nevents = 0;
        run_timers(loop);
        if (loop->turn_fn)
            loop->turn_fn(loop, loop->turn_arg);
    }
    return 0;
}
