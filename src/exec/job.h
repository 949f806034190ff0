/*
 * job.h - a run in flight: the runtime object behind a jobs row.
 *
 * Reference-counted and shared between threads: the HTTP thread that
 * submitted it (while it waits), the engine loop (which owns every field
 * except the waiter list), and write operations queued to the store.  The
 * persisted fields live in `rec`; whenever they go to the store a copy is
 * taken on the loop thread, so the writer never reads a record the loop is
 * changing.  Waiters are called once, after the job's final state is
 * committed to the store, with that committed record.
 *
 * The copy shares the JSON members (input, output, error, meta) by
 * reference, so the rule is: a JSON value reachable from a record that
 * another thread may hold is immutable.  The loop replaces output and
 * error (a new value each time) and changes meta only through
 * at__job_meta_mut, which copies it first when anyone else holds it
 * (copy-on-write; docs/architecture.md "Threads").
 */
#ifndef AT_EXEC_JOB_H
#define AT_EXEC_JOB_H

#include "base/loop.h"
#include "registry/registry.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>

struct at_job;
struct at_engine;
struct at_chain;
struct at_chainrun;
struct at_token_info;
typedef void (*at_engine_reply_fn)(void *reply_arg, int code, const char *message, json_t *result);
typedef int (*at_engine_request_fn)(void *arg, const struct at_token_info *job, const char *method,
                                    json_t *params, at_engine_reply_fn reply, void *reply_arg);
struct at_pool;
struct at_worker;

/* Called once on some thread (writer or loop) when the job is final and
 * committed; rec is valid during the call only.  store_rc is the commit's
 * result (non-zero: the final state could not be stored). */
typedef void (*at_job_done_fn)(const struct at_job_rec *rec, int store_rc, void *arg);
/* Called once when the job row is first committed (the acknowledgement),
 * or with an error when it could not be stored. */
typedef void (*at_job_accept_fn)(const char *job_id, int store_rc, void *arg);

/* Events of a job in flight, on the engine's loop thread: "state"
 * ({"state": ...}), "progress" ({"progress","total"?,"message"?}), "log"
 * ({"stream": "stderr"|"mcp", "text": ...}), then "end" (data NULL) once
 * the final state is committed; fn is not called after "end".  fn must
 * not block. */
typedef void (*at_job_event_fn)(const char *job_id, const char *event, json_t *data, void *arg);

struct at_job_sub {
    struct at_job_sub *next;
    at_job_event_fn fn;
    void *arg;
};

struct at_job_waiter {
    struct at_job_waiter *next;
    at_job_done_fn fn;
    void *arg;
};

struct at_job {
    atomic_int refs;
    struct at_job_rec rec;      /* loop-owned; copied for every store write */
    struct at_reg_agent *agent; /* the resolved agent version */
    char token[48];             /* job-scoped token */
    char owner[AT_ID_MAX];      /* at_submit.owner, inherited by children ("" when none) */

    /* loop-owned runtime state */
    int heap_idx; /* position in its pool's queue, -1 if not queued */
    struct at_pool *pool;
    struct at_worker *worker;
    int persisted; /* an insert has been submitted */
    /* armed while the first row of a job dispatched at once waits on the
     * loop for store.coalesce_ms: its end within the window makes it one
     * INSERT of the final row, with no store write (and no writer wakeup)
     * before; when it fires the `running` row is written */
    struct at_timer t_first;
    int cancel_requested;
    int final; /* final state decided (maybe not yet committed) */
    char *cancel_reason;
    int64_t accepted_ns;             /* monotonic time of submission */
    struct at_job_sub *subs;         /* event subscribers (loop-owned) */
    struct at_engine *engine;        /* for observers */
    at_engine_request_fn on_request; /* from at_submit */
    void *request_arg;
    json_t *call_meta; /* extra _meta for tools/call, or NULL */
    json_t *input_rid; /* the agent's elicitation/create id while it waits for
                          its caller's answer (engine_input.c), or NULL */

    /* composition (loop-owned) */
    int waiting_children;     /* children in flight (an agent parent waits on them) */
    struct at_chain *chain;   /* chain runs: the chain (agent is NULL) */
    struct at_chainrun *cr;   /* chain runs: the run's state */
    int role;                 /* as a chain's child: AT_ROLE_* */
    int step_idx, member_idx; /* as a chain's child: which step / member */

    /* placement (loop-owned, engine_sched.c) */
    int sched_held;       /* holds a reservation in the cluster */
    int sched_waiting;    /* waits unschedulable (meta.waited_for says why) */
    int sched_requeue;    /* preempted: back to the queue when its call ends */
    char sched_node[128]; /* the node it was placed on; a chain: its last step's */
    /* on a remote node (engine_node.c): sent there and not yet answered;
     * node_dispatch numbers the sending (a result must carry it) */
    int node_run;
    long long node_dispatch;
    char sched_pin[128]; /* migrated: its next placement is on this node only ("" none) */

    /* acknowledgement and completion, guarded by mu */
    pthread_mutex_t mu;
    at_job_accept_fn on_accept;
    void *accept_arg;
    struct at_job_waiter *waiters;
    int committed_final;
    struct at_job_rec final_rec; /* copy of the committed final record */
    int final_rc;
};

enum { AT_ROLE_NONE, AT_ROLE_STEP, AT_ROLE_FALLBACK, AT_ROLE_ORCH };

struct at_job *at_job_new(struct at_reg_agent *agent, json_t *input);
/* A chain run: a job without an agent whose children are its steps. */
struct at_job *at_job_new_chain(struct at_chain *chain, json_t *input);
struct at_job *at_job_ref(struct at_job *j);
void at_job_unref(struct at_job *j);

/* Register fn to run when the job is final and committed; runs at once
 * (on this thread) if that already happened.  Thread-safe. */
void at_job_on_done(struct at_job *j, at_job_done_fn fn, void *arg);

/* Internal to exec/: the engine stopped with j not final (it stays queued
 * or running in the store, for recovery): its acknowledgement (if still
 * due) and its waiters are called now with code (rec as it stands, not
 * final) and dropped, so that what they hold is released.  After the
 * engine's loop has stopped. */
void at__job_abandon(struct at_job *j, int code);
/* Internal to exec/: the committed final state arrives. */
void at__job_finish_committed(struct at_job *j, const struct at_job_rec *rec, int store_rc);
void at__job_accept_committed(struct at_job *j, int store_rc);

/* Loop thread: j's meta, private to the loop and safe to change in place:
 * created when missing, deep-copied first when another reference exists
 * (a record queued to the store writer, an observer's copy).  Valid until
 * the next persist or event hands the record out. */
json_t *at__job_meta_mut(struct at_job *j);
/* Loop thread: member key of obj (an array or object, made by make when
 * missing), copied first when it is shared: for values changed in place
 * inside a private meta (meta.decisions). */
json_t *at__json_member_mut(json_t *obj, const char *key, json_t *(*make)(void));
/* Another reference to v may exist (v NULL: no). */
int at__json_shared(const json_t *v);

/* Set the job's error from a code and message (and optional pointer). */
void at_job_set_error(struct at_job *j, int code, const char *detail, const char *pointer);

/* A problem-style error object {"type","title","status","detail",...}. */
json_t *at_error_json(int code, const char *detail, const char *pointer);

#endif
