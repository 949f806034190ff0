/*
 * sem.h - the pool's bookkeeping, free of threads and I/O so that it can be
 * tested alone: per-backend concurrency semaphores with a FIFO wait queue
 * and queue-time metrics, backend health (down after repeated failures,
 * probed), Retry-After parsing and backoff with jitter.
 *
 * All of it is used from the gateway's pool thread only: not thread-safe.
 * Times are monotonic nanoseconds passed in by the caller.
 */
#ifndef AT_LLM_SEM_H
#define AT_LLM_SEM_H

#include <stddef.h>
#include <stdint.h>

/* Caller-embedded link of a request waiting for a slot. */
struct at_llm_waiter {
    struct at_llm_waiter *next, *prev;
    int64_t enqueued_ns;
    int queued; /* linked in a semaphore's queue */
};

struct at_llm_sem {
    int limit;       /* max_concurrency */
    int in_use;      /* slots held */
    size_t max_wait; /* bounded queue: max_queue */
    struct at_llm_waiter *head, *tail;
    size_t waiting;
    /* metrics */
    uint64_t acquired;     /* slots granted */
    uint64_t queued_total; /* grants that had to wait */
    uint64_t rejected;     /* refused: queue full */
    int64_t queue_ns_sum;  /* total wait of granted waiters */
    int64_t queue_ns_max;
    int peak_in_use;
};

void at_llm_sem_init(struct at_llm_sem *s, int limit, size_t max_wait);

/* Take a slot for w: 0 (granted now), AT_AGAIN (queued: granted later by
 * at_llm_sem_release's return value), AT_EBUSY (the queue is full). */
int at_llm_sem_acquire(struct at_llm_sem *s, struct at_llm_waiter *w, int64_t now_ns);

/* Give a slot back.  When a waiter was queued it gets the slot (FIFO) and
 * is returned, with *waited_ns set to its queue time; else NULL. */
struct at_llm_waiter *at_llm_sem_release(struct at_llm_sem *s, int64_t now_ns, int64_t *waited_ns);

/* Remove a queued waiter that gave up (cancelled). */
void at_llm_sem_remove(struct at_llm_sem *s, struct at_llm_waiter *w);

/* Backend health: after `threshold` consecutive failures the backend is
 * down; while down, one request at a time is let through as a probe every
 * probe interval (doubling up to 8x on failed probes); a success brings it
 * back.  A Retry-After cools the backend down without marking it failed. */
struct at_llm_health {
    int failures; /* consecutive */
    int down;
    int probing; /* a probe is in flight */
    int64_t next_probe_ns;
    int64_t probe_every_ns;
    int64_t cool_until_ns; /* from Retry-After */
    uint64_t downs;        /* times marked down */
};

void at_llm_health_init(struct at_llm_health *h);
/* May a request go to the backend now?  1: yes (*probe set when it is the
 * probe of a down backend), 0: skip it. */
int at_llm_health_usable(struct at_llm_health *h, int64_t now_ns, int *probe);
/* Record the outcome of a request (probe: it was the probe). */
void at_llm_health_success(struct at_llm_health *h, int probe);
void at_llm_health_failure(struct at_llm_health *h, int probe, int threshold,
                           int64_t probe_interval_ns, int64_t now_ns);

/* Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.  Returns
 * the delay in ms (>= 0), or -1 when the value is neither.  now_wall_s is
 * the current Unix time for dates. */
long long at_llm_retry_after_ms(const char *value, size_t len, int64_t now_wall_s);

/* Backoff before retry `attempt` (0-based) with "full jitter": a uniform
 * random delay in [base/2, base * 2^attempt], capped at cap_ms.  rnd is a
 * uniform 32-bit random number. */
long long at_llm_backoff_ms(int attempt, long long base_ms, long long cap_ms, uint32_t rnd);

#endif
