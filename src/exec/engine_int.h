/*
 * engine_int.h - internals shared by the engine's files (exec/ only).
 *
 * The engine is one object on one loop thread, split along its seams:
 *   engine.c          the job's life on the loop: persistence through the
 *                     writer, events, arrival, results, final states,
 *                     children, submission, start and stop
 *   engine_pool.c     warm process pools and the pump (dispatch)
 *   engine_guard.c    guardrails: circuit breakers, token budgets, queue
 *                     and spawn limits
 *   engine_ctl.c      control calls from other threads (tokens, cancel,
 *                     watch, priority, drain, queue inspection, stats, the
 *                     orchestrator slot) through one "run this on the loop
 *                     and wait" helper
 *   engine_check.c    the job state transition table and the invariants
 *                     checked once per loop turn in debug builds
 *   engine_recover.c  recovery of the jobs a previous run left unfinished
 * Everything here runs on the loop thread unless its comment says
 * otherwise.  The structures themselves are in internal.h (shared with
 * worker.c and remote.c).
 */
#ifndef AT_EXEC_ENGINE_INT_H
#define AT_EXEC_ENGINE_INT_H

#include "exec/internal.h"

/* Posts the loop's queue takes beyond execution.max_queue before
 * at_loop_try_post refuses (submissions, cancels, control calls). */
#define AT_ENGINE_POST_SLACK 1024

/* What happens once a store write commits (bits). */
/* AT_THEN_HOLD: nobody waits on this write (the call already went out, or
 * it only acknowledges a queued job): the writer may hold it for its
 * coalescing window (store.coalesce_ms) */
/* AT_THEN_INPUT: the job's question is committed: tell its subscribers
 * (engine_input.c), so that a reader sent by the event finds it stored */
enum {
    AT_THEN_NONE = 0,
    AT_THEN_ACK = 1,
    AT_THEN_SEND = 2,
    AT_THEN_FINAL = 4,
    AT_THEN_HOLD = 8,
    AT_THEN_INPUT = 16
};

/* ---- engine.c ---- */

/* Queue the job's current record for the store (a copy: the writer never
 * reads the loop's record); then says what follows the commit. */
void at__engine_persist_then(struct at_engine *e, struct at_job *j, unsigned then);
/* A job dispatched at once (never persisted): its first row waits on the
 * loop for store.coalesce_ms instead of in the writer's queue, so a job
 * that ends within the window is one INSERT of its final row and the
 * writer is not woken for it before; the next persist (its end, a
 * progress update, shutdown) or the window's end writes it.  0, or
 * AT_AGAIN when it cannot wait (no window, no writer, stopping, already
 * persisted): persist at once.  On the loop. */
int at__engine_defer_first(struct at_engine *e, struct at_job *j);
/* The job's current record folded into its INSERT if that is still in the
 * writer's queue (so not committed, never acknowledged): 0, or AT_AGAIN
 * when it was taken (then nothing was queued).  On the loop. */
int at__engine_persist_fold(struct at_engine *e, struct at_job *j);
/* Events to the job's subscribers and the engine's observers. */
void at__job_emit(struct at_job *j, const char *event, json_t *data);
void at__job_emit_state(struct at_job *j);
void at__job_sub_add(struct at_job *j, at_job_event_fn fn, void *arg);
void at__engine_cancel_job(struct at_engine *e, struct at_job *j, const char *reason);
/* Hand a job to the loop (the loop takes the reference).  force: a post
 * that must not be refused (recovery, before the loop runs); otherwise
 * AT_EBUSY when the loop's post queue is full (the caller still owns j). */
int at__engine_post_arrive(struct at_engine *e, struct at_job *j, int force);

/* ---- engine_pool.c ---- */

struct at_pool *at__pool_get(struct at_engine *e, struct at_reg_agent *a);
void at__pool_free_if_empty(struct at_engine *e, struct at_pool *p);
/* A parent's first child arrived / its last child ended: its slot is lent
 * to its children / taken back. */
void at__engine_wait_on_child(struct at_engine *e, struct at_job *parent);
void at__engine_unwait(struct at_engine *e, struct at_job *parent);
/* Registry listener (any thread): pools of removed versions drain. */
void at__engine_on_registry_event(void *arg, enum at_reg_event ev, const char *name,
                                  const char *version);
/* Dispatch of the pool's queue is held (atlas queue drain): queued jobs
 * stay queued, running ones finish. */
int at__pool_held(const struct at_engine *e, const struct at_pool *p);

/* ---- engine_sched.c ---- */

/* Place queued job j (the head of its pool's queue) in the cluster before
 * it binds: 0 placed (or nothing to place: no cluster, a remote agent);
 * 1 a pump inside a preemption already dispatched it (leave it); AT_AGAIN
 * it waits unschedulable (its pool is skipped this pump, a timer retries);
 * AT_EUNSCHEDULABLE (its wait is over) or AT_EINVAL with why: fail it. */
int at__engine_place(struct at_engine *e, struct at_job *j, char *why, size_t n);
/* j's reservation is released (its end; a requeue). */
void at__engine_unplace(struct at_engine *e, struct at_job *j);
/* A preempted job of an idempotent agent whose call ended: queued again. */
void at__engine_requeue_preempted(struct at_engine *e, struct at_job *j);

/* ---- engine_node.c ---- */

/* Placed job j (out of its queue, counted queued) runs on a remote node:
 * sent there, 1; 0 when its node is this one (run it here). */
int at__engine_node_take(struct at_engine *e, struct at_job *j);
/* Cancel j, which runs on a remote node (node_run). */
void at__engine_node_cancel(struct at_engine *e, struct at_job *j);
/* Start / stop the liveness check of the nodes (on the loop). */
void at__engine_nodes_start(struct at_engine *e);
void at__engine_nodes_stop(struct at_engine *e);

/* ---- engine_guard.c ---- */

/* 0 when runs of agent key may start; AT_ECIRCUIT (d says until when)
 * when its breaker is open.  Thread-safe. */
int at__breaker_check(struct at_engine *e, const char *key, struct at_diag *d);
/* A run of key ended with code.  Thread-safe. */
void at__breaker_record(struct at_engine *e, const char *key, int code);
/* Usage an agent reported in its result: counted against its tree's
 * budget and recorded for costs. */
void at__engine_record_usage(struct at_engine *e, struct at_job *j, json_t *usage);
/* Add tokens to a tree's counter, saturating at LLONG_MAX (never wraps:
 * a wrapped counter would pass max_tokens_per_chain again). */
void at__engine_tree_add(struct at_engine *e, const char *root_id, long long tokens);
/* a + b for counts >= 0, saturating at LLONG_MAX. */
long long at__sat_add(long long a, long long b);
/* 0 when one more job may queue, else AT_EBUSY (d says why).  Thread-safe. */
int at__guard_queue_admit(struct at_engine *e, struct at_diag *d);
/* 0 when the job parent stands for may spawn a child, else AT_EPERM or
 * AT_ELIMIT (d names the limit).  Thread-safe. */
int at__guard_spawn(struct at_engine *e, const struct at_token_info *parent, struct at_diag *d);

/* ---- engine_ctl.c ---- */

/* Run fn(e, arg) on the loop thread and wait for it to return.  Returns
 * 0 once fn ran; AT_ESTATE when the loop is not running (not started, or
 * stopping, or it stopped before it reached fn: fn did not run); AT_EBUSY when the loop's post
 * queue is full (fn did not run).  On the loop thread itself fn runs at once.  Thread- safe; must
 * not be called with a lock the loop may take. */
int at__engine_call(struct at_engine *e, void (*fn)(struct at_engine *e, void *arg), void *arg);

/* ---- engine_input.c ---- */

/* The agent running j asks its caller (elicitation/create with id) and no
 * handler took it: keep the question (meta.input_required, an "input"
 * event).  0 when kept or answered at once (a second question is
 * refused), AT_ESTATE when j is not on a process. */
int at__engine_input_ask(struct at_engine *e, struct at_job *j, json_t *params, const json_t *id);
/* Loop post (arg: a job reference, consumed): j's question is committed:
 * the "input" event and the log line, when it still waits. */
void at__engine_input_committed(struct at_loop *loop, void *arg);
/* Forget j's question (its final state is decided). */
void at__job_input_clear(struct at_job *j);

/* ---- engine_check.c ---- */

/* May a job go from state `from` to state `to`?  One table for every
 * change of rec.state (job.c, engine*.c, chainrun.c). */
int at__job_transition_ok(enum at_job_state from, enum at_job_state to);
/* Change j's state through the table: an illegal change is an assertion
 * failure in debug builds and a logged error in release builds (the
 * change is made either way, as before the table existed). */
void at__job_set_state(struct at_job *j, enum at_job_state to);
/* Check the engine's invariants (pool counters against their workers,
 * queue accounting, jobs in flight): returns the number of violations and
 * writes the first into why; the loop-turn hook asserts it is 0 in debug
 * builds. */
int at__engine_check(struct at_engine *e, char *why, size_t whylen);
/* Install the loop-turn hook (debug builds; a no-op with NDEBUG). */
void at__engine_install_checks(struct at_engine *e);

#endif
