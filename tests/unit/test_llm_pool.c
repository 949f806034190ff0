/*
 * test_llm_pool.c - the pool's bookkeeping: FIFO semaphores with a bounded
 * queue and queue-time metrics, backend health (down, probe, back up),
 * Retry-After (RFC 9110 §10.2.3) and backoff with jitter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "llm/sem.h"

#include <string.h>

#define MS 1000000LL

static void test_sem_fifo(void **state)
{
    (void)state;
    struct at_llm_sem s;
    at_llm_sem_init(&s, 2, 3);
    struct at_llm_waiter w[6];
    assert_int_equal(at_llm_sem_acquire(&s, &w[0], 0), 0);
    assert_int_equal(at_llm_sem_acquire(&s, &w[1], 0), 0);
    assert_int_equal(at_llm_sem_acquire(&s, &w[2], 10 * MS), AT_AGAIN);
    assert_int_equal(at_llm_sem_acquire(&s, &w[3], 20 * MS), AT_AGAIN);
    assert_int_equal(at_llm_sem_acquire(&s, &w[4], 30 * MS), AT_AGAIN);
    assert_int_equal(at_llm_sem_acquire(&s, &w[5], 30 * MS), AT_EBUSY); /* queue bound */
    assert_int_equal(s.rejected, 1);
    assert_int_equal(s.in_use, 2);
    assert_int_equal(s.waiting, 3);
    int64_t waited;
    assert_ptr_equal(at_llm_sem_release(&s, 50 * MS, &waited), &w[2]); /* first in, first out */
    assert_int_equal(waited, 40 * MS);
    assert_int_equal(s.in_use, 2);
    at_llm_sem_remove(&s, &w[3]); /* gave up */
    assert_int_equal(s.waiting, 1);
    assert_ptr_equal(at_llm_sem_release(&s, 100 * MS, &waited), &w[4]);
    assert_int_equal(waited, 70 * MS);
    assert_null(at_llm_sem_release(&s, 100 * MS, &waited));
    assert_null(at_llm_sem_release(&s, 100 * MS, &waited));
    assert_int_equal(s.in_use, 0);
    assert_int_equal(s.peak_in_use, 2);
    assert_int_equal(s.acquired, 4);
    assert_int_equal(s.queued_total, 2);
    assert_int_equal(s.queue_ns_sum, 110 * MS);
    assert_int_equal(s.queue_ns_max, 70 * MS);
    at_llm_sem_remove(&s, &w[0]); /* not queued: no-op */
    assert_int_equal(s.waiting, 0);
}

static void test_sem_no_barging(void **state)
{
    (void)state;
    struct at_llm_sem s;
    at_llm_sem_init(&s, 1, 10);
    struct at_llm_waiter a, b, c;
    assert_int_equal(at_llm_sem_acquire(&s, &a, 0), 0);
    assert_int_equal(at_llm_sem_acquire(&s, &b, 0), AT_AGAIN);
    /* the slot goes to b, and a newcomer does not jump the queue */
    assert_ptr_equal(at_llm_sem_release(&s, 1, NULL), &b);
    assert_int_equal(at_llm_sem_acquire(&s, &c, 2), AT_AGAIN);
    assert_ptr_equal(at_llm_sem_release(&s, 3, NULL), &c);
    assert_null(at_llm_sem_release(&s, 4, NULL));
}

static void test_sem_limit_held(void **state)
{
    (void)state;
    /* 200 requests through a limit of 4, released in random order */
    struct at_llm_sem s;
    at_llm_sem_init(&s, 4, 1000);
    struct at_llm_waiter w[200];
    struct at_llm_waiter *holding[200];
    size_t nh = 0, done = 0;
    uint32_t seed = 1;
    for (int i = 0; i < 200; i++)
        if (at_llm_sem_acquire(&s, &w[i], i) == 0)
            holding[nh++] = &w[i];
    assert_int_equal(nh, 4);
    while (nh) {
        seed = seed * 1103515245u + 12345u;
        size_t k = seed % nh;
        holding[k] = holding[--nh];
        done++;
        struct at_llm_waiter *next = at_llm_sem_release(&s, 1000, NULL);
        if (next)
            holding[nh++] = next;
        assert_true(s.in_use <= 4);
    }
    assert_int_equal(done, 200);
    assert_int_equal(s.peak_in_use, 4);
    assert_int_equal(s.queued_total, 196);
}

static void test_health(void **state)
{
    (void)state;
    struct at_llm_health h;
    at_llm_health_init(&h);
    int probe;
    assert_int_equal(at_llm_health_usable(&h, 0, &probe), 1);
    assert_int_equal(probe, 0);
    at_llm_health_failure(&h, 0, 3, 100 * MS, 0);
    at_llm_health_failure(&h, 0, 3, 100 * MS, 0);
    assert_int_equal(h.down, 0);
    at_llm_health_success(&h, 0); /* a success resets the count */
    for (int i = 0; i < 3; i++)
        at_llm_health_failure(&h, 0, 3, 100 * MS, 10 * MS);
    assert_int_equal(h.down, 1);
    assert_int_equal(h.downs, 1);
    assert_int_equal(at_llm_health_usable(&h, 50 * MS, &probe), 0);
    assert_int_equal(at_llm_health_usable(&h, 110 * MS, &probe), 1);
    assert_int_equal(probe, 1);
    assert_int_equal(at_llm_health_usable(&h, 111 * MS, &probe), 0); /* one probe at a time */
    at_llm_health_failure(&h, 1, 3, 100 * MS, 120 * MS); /* failed probe: wait twice as long */
    assert_int_equal(at_llm_health_usable(&h, 250 * MS, &probe), 0);
    assert_int_equal(at_llm_health_usable(&h, 321 * MS, &probe), 1);
    assert_int_equal(probe, 1);
    at_llm_health_success(&h, 1);
    assert_int_equal(h.down, 0);
    assert_int_equal(at_llm_health_usable(&h, 322 * MS, &probe), 1);
    assert_int_equal(probe, 0);
    /* the probe interval stops growing at 8x */
    at_llm_health_init(&h);
    at_llm_health_failure(&h, 0, 1, 100 * MS, 0);
    for (int i = 0; i < 10; i++)
        at_llm_health_failure(&h, 1, 1, 100 * MS, 0);
    assert_true(h.probe_every_ns <= 800 * MS);
}

static void test_retry_after(void **state)
{
    (void)state;
    const char *s;
    assert_int_equal(at_llm_retry_after_ms("1", 1, 0), 1000);
    assert_int_equal(at_llm_retry_after_ms(" 120 \r\n", 7, 0), 120000);
    assert_int_equal(at_llm_retry_after_ms("0", 1, 0), 0);
    assert_int_equal(at_llm_retry_after_ms("1.5", 3, 0), 1500);
    s = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_int_equal(at_llm_retry_after_ms(s, strlen(s), 784111777 - 30), 30000);
    assert_int_equal(at_llm_retry_after_ms(s, strlen(s), 784111777 + 30), 0); /* past */
    const char *bad[] = {"",
                         "abc",
                         "-1",
                         "1x",
                         "Sun, 06 Nov 1994 08:49:37 PST",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(at_llm_retry_after_ms(bad[i], strlen(bad[i]), 0), -1);
}

static void test_backoff(void **state)
{
    (void)state;
    for (uint32_t r = 0; r < 5000; r += 7) {
        long long b0 = at_llm_backoff_ms(0, 200, 10000, r * 2654435761u);
        assert_true(b0 >= 100 && b0 <= 200);
        long long b3 = at_llm_backoff_ms(3, 200, 10000, r * 2654435761u);
        assert_true(b3 >= 100 && b3 <= 1600);
        long long big = at_llm_backoff_ms(30, 200, 5000, r * 2654435761u);
        assert_true(big >= 100 && big <= 5000);
    }
    assert_int_equal(at_llm_backoff_ms(2, 0, 1000, 5), 0);
    /* jitter: not every delay is the same */
    assert_true(at_llm_backoff_ms(4, 200, 10000, 1) != at_llm_backoff_ms(4, 200, 10000, 999));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sem_fifo),       cmocka_unit_test(test_sem_no_barging),
        cmocka_unit_test(test_sem_limit_held), cmocka_unit_test(test_health),
        cmocka_unit_test(test_retry_after),    cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
