/* Unit tests: job queue ordering (priority, then FIFO) and removal. */
#include "exec/job.h"
#include "exec/queue.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

static struct at_job *mk(int priority, long long seq)
{
    struct at_job *j = calloc(1, sizeof(*j));
    j->rec.priority = priority;
    j->rec.seq = seq;
    j->heap_idx = -1;
    return j;
}

static void test_priority_then_fifo(void **state)
{
    (void)state;
    struct at_jobq q;
    at_jobq_init(&q);
    int prio[] = {0, 5, 0, 5, -1, 9, 0};
    struct at_job *jobs[7];
    for (int i = 0; i < 7; i++) {
        jobs[i] = mk(prio[i], i + 1);
        at_jobq_push(&q, jobs[i]);
    }
    int want[] = {5, 1, 3, 0, 2, 6, 4}; /* 9, 5(seq2), 5(seq4), 0(1), 0(3), 0(7), -1 */
    for (int i = 0; i < 7; i++) {
        struct at_job *j = at_jobq_pop(&q);
        assert_ptr_equal(j, jobs[want[i]]);
        assert_int_equal(j->heap_idx, -1);
    }
    assert_null(at_jobq_pop(&q));
    for (int i = 0; i < 7; i++)
        free(jobs[i]);
    at_jobq_release(&q);
}

static void test_remove_keeps_order(void **state)
{
    (void)state;
    struct at_jobq q;
    at_jobq_init(&q);
    enum { N = 500 };
    struct at_job *jobs[N];
    srand(42);
    for (int i = 0; i < N; i++) {
        jobs[i] = mk(rand() % 7, i);
        at_jobq_push(&q, jobs[i]);
    }
    /* remove every third job (cancelled while queued) */
    for (int i = 0; i < N; i += 3)
        at_jobq_remove(&q, jobs[i]);
    at_jobq_remove(&q, jobs[0]); /* twice is harmless */
    struct at_job *prev = NULL;
    int n = 0;
    struct at_job *j;
    while ((j = at_jobq_pop(&q))) {
        assert_true(j->rec.seq % 3 != 0);
        if (prev)
            assert_false(at_jobq_before(j, prev));
        prev = j;
        n++;
    }
    assert_int_equal(n, N - (N + 2) / 3);
    for (int i = 0; i < N; i++)
        free(jobs[i]);
    at_jobq_release(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_then_fifo),
        cmocka_unit_test(test_remove_keeps_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
