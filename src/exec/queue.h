/*
 * queue.h - the job queue: a binary heap of jobs ordered by priority
 * (higher first), then by arrival (rec.seq, lower first: FIFO within a
 * priority).  Each job records its heap position (heap_idx, -1 when not
 * queued) so a cancelled job leaves in O(log n).  Caller-embedded; owned by
 * the engine's loop thread; holds no references.
 */
#ifndef AT_EXEC_QUEUE_H
#define AT_EXEC_QUEUE_H

struct at_job;

struct at_jobq {
    struct at_job **q;
    int len, cap;
};

void at_jobq_init(struct at_jobq *q);
void at_jobq_release(struct at_jobq *q);
void at_jobq_push(struct at_jobq *q, struct at_job *j);
/* The next job to run, or NULL; at_jobq_pop also removes it. */
struct at_job *at_jobq_peek(const struct at_jobq *q);
struct at_job *at_jobq_pop(struct at_jobq *q);
/* Remove j wherever it is (no-op when not queued). */
void at_jobq_remove(struct at_jobq *q, struct at_job *j);
/* 1 when a should run before b. */
int at_jobq_before(const struct at_job *a, const struct at_job *b);

#endif
