#include "exec/queue.h"

#include "base/alloc.h"
#include "exec/job.h"

#include <stdlib.h>

void at_jobq_init(struct at_jobq *q)
{
    q->q = NULL;
    q->len = q->cap = 0;
}

void at_jobq_release(struct at_jobq *q)
{
    for (int i = 0; i < q->len; i++)
        q->q[i]->heap_idx = -1;
    free(q->q);
    at_jobq_init(q);
}

int at_jobq_before(const struct at_job *a, const struct at_job *b)
{
    if (a->rec.priority != b->rec.priority)
        return a->rec.priority > b->rec.priority;
    return a->rec.seq < b->rec.seq;
}

static void swap(struct at_jobq *q, int a, int b)
{
    struct at_job *t = q->q[a];
    q->q[a] = q->q[b];
    q->q[b] = t;
    q->q[a]->heap_idx = a;
    q->q[b]->heap_idx = b;
}

static void up(struct at_jobq *q, int i)
{
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!at_jobq_before(q->q[i], q->q[parent]))
            break;
        swap(q, i, parent);
        i = parent;
    }
}

static void down(struct at_jobq *q, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->len && at_jobq_before(q->q[l], q->q[m]))
            m = l;
        if (r < q->len && at_jobq_before(q->q[r], q->q[m]))
            m = r;
        if (m == i)
            return;
        swap(q, i, m);
        i = m;
    }
}

void at_jobq_push(struct at_jobq *q, struct at_job *j)
{
    if (q->len == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 16;
        q->q = at_realloc(q->q, (size_t)q->cap * sizeof(*q->q));
    }
    j->heap_idx = q->len;
    q->q[q->len++] = j;
    up(q, j->heap_idx);
}

struct at_job *at_jobq_peek(const struct at_jobq *q)
{
    return q->len ? q->q[0] : NULL;
}

void at_jobq_remove(struct at_jobq *q, struct at_job *j)
{
    int i = j->heap_idx;
    if (i < 0 || i >= q->len || q->q[i] != j)
        return;
    int last = --q->len;
    if (i != last) {
        swap(q, i, last);
        down(q, i);
        up(q, i);
    }
    j->heap_idx = -1;
}

struct at_job *at_jobq_pop(struct at_jobq *q)
{
    struct at_job *j = at_jobq_peek(q);
    if (j)
        at_jobq_remove(q, j);
    return j;
}
