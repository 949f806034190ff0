/*
 * internal.h - structures shared by engine.c and worker.c (exec/ only).
 * Everything here belongs to the engine's loop thread unless noted.
 */
#ifndef AT_EXEC_INTERNAL_H
#define AT_EXEC_INTERNAL_H

#include "base/buf.h"
#include "base/loop.h"
#include "base/map.h"
#include "exec/engine.h"
#include "exec/job.h"
#include "exec/proc.h"
#include "exec/queue.h"
#include "mcp/client.h"
#include "sched/sched.h"

#include <pthread.h>
#include <stdatomic.h>

#define AT_STDERR_TAIL 4096
#define AT_CANCEL_GRACE_MS 2000
#define AT_PING_TIMEOUT_MS 5000
#define AT_KILL_GRACE_MS 2000

enum at_wstate {
    AT_W_DISCOVER, /* server/discover sent */
    AT_W_INIT,     /* initialize sent (2025-11-25) */
    AT_W_LIST,     /* tools/list sent */
    AT_W_IDLE,
    AT_W_BUSY,     /* a job is assigned (call sent, or waiting for its commit) */
    AT_W_STOPPING, /* stdin closed / signalled; waiting for the exit */
    AT_W_DEAD,     /* exited and reaped; freed once unwatched */
};

struct at_pool {
    char *key; /* "name@version" */
    struct at_reg_agent *agent;
    int min, max;
    double idle_timeout;
    struct at_jobq queue;      /* jobs waiting for a process of this pool */
    struct at_worker *workers; /* doubly linked */
    int nworkers, nidle, nstarting;
    int nwaiting;      /* busy processes whose job waits on its children: they do not
                          count against max, so a tree of one agent cannot deadlock */
    int draining;      /* unregistered or replaced: no new work, workers stop when idle */
    int sched_blocked; /* during one pump: its head job fits no node (engine_sched.c) */
    struct at_pool *next_all;
};

struct at_worker {
    struct at_engine *eng;
    struct at_pool *pool;
    struct at_worker *prev, *next;
    struct at_proc proc;
    struct at_watch w_out, w_err, w_in, w_pid;
    struct at_mcp_client mc; /* the MCP client of this process (mcp/client.h) */
    struct at_buf wbuf;      /* bytes not yet written to stdin */
    enum at_wstate state;
    char *tool;
    long long op_id;    /* id of the tools/list in flight during start-up */
    long long call_id;  /* id of the tools/call in flight (0: none) */
    long long ping_id;  /* id of the health check in flight (0: none) */
    struct at_job *job; /* assigned job (ref) */
    int call_sent;
    int cancel_sent;
    int waiting;              /* its job waits on children: the job's slot is lent to them */
    struct at_timer t_op;     /* start-up or call deadline */
    struct at_timer t_idle;   /* idle timeout */
    struct at_timer t_health; /* next health check / ping deadline */
    struct at_timer t_kill;   /* escalation while stopping, or cancel grace */
    struct at_timer t_reap;   /* polling fallback when pidfd is unavailable */
    char errtail[AT_STDERR_TAIL];
    size_t errlen;
    int exited, exit_status;
    int stdout_eof;
    const char *pipe_closed;  /* "stdin" / "stdout": the agent closed it (static) */
    int kill_stage;           /* 0 none, 1 stdin closed, 2 SIGTERM, 3 SIGKILL, 4 hard */
    const char *death_reason; /* why we are stopping it (static) */
    int death_code;           /* AT_E* for the job when it dies unexpectedly */
    char death_detail[512];
    unsigned long served;
    char token[48];
    int64_t started_ns;
};

struct at_engine {
    struct at_engine_cfg cfg;
    /* the settings: a snapshot, swapped whole by a reload
     * (at_engine_set_config); an atomic pointer, read from any thread */
    _Atomic(const struct at_config *) conf;
    struct at_loop *loop;
    pthread_t thread;
    int started;
    atomic_int stopping;

    struct at_map pools;       /* key -> pool (live pools only) */
    struct at_pool *all_pools; /* live and draining */
    struct at_map jobs;        /* id -> job, every job in flight */
    int running;               /* jobs assigned to workers */
    unsigned long long order;  /* FIFO counter */

    atomic_int queued;   /* jobs submitted and not yet assigned */
    atomic_int inflight; /* jobs not yet final */

    /* at__engine_call's answers (engine_ctl.c) */
    pthread_mutex_t call_mu;
    pthread_cond_t call_cv;
    int loop_exited; /* under call_mu: the loop thread returned */
    /* counters (loop thread) */
    unsigned long long n_completed, n_failed, n_cancelled;
    unsigned long long n_cold_starts, n_worker_crashes, n_worker_replaced;

    /* tokens: process and job tokens -> job id (for the MCP surface) */
    pthread_mutex_t tok_mu;
    struct at_map tokens;

    char **base_env; /* PATH, HOME, ... copied at start */
    struct at_remote *remote;
    struct at_engine_observer observers[8];
    int nobservers;
    at_engine_request_fn request_handler;
    void *request_arg;

    /* guardrails */
    pthread_mutex_t brk_mu;
    struct at_map breakers;    /* "name@version" -> struct at_breaker */
    struct at_map root_tokens; /* root job id -> long long* (loop-owned) */
    atomic_int draining;
    /* dispatch held (atlas queue drain; loop-owned): every pool, or the
     * pools of the agent names in held */
    int hold_all;
    struct at_map held; /* agent name -> (void *)1 */

    /* the cap on agent processes (worker.c): 0 until the first start */
    int proc_cap;
    char start_why[300]; /* why the last at__worker_start refused (loop thread) */

    /* placement (engine_sched.c): the cluster (sched/sched.h), NULL without
     * one (admission checks this machine's hardware then); the timer that
     * retries jobs waiting unschedulable and fails them at their deadline */
    struct at_sched *sched;
    struct at_timer t_sched;
    /* remote nodes (engine_node.c): dispatches sent, the liveness check */
    long long node_seq;
    struct at_timer t_nodes;

    /* the orchestrator slot */
    pthread_mutex_t orch_mu;
    char *orch_default;
    struct at_map orch_chains; /* chain -> agent ref (char*) */
};

struct at_breaker {
    int failures;       /* consecutive */
    int state;          /* 0 closed, 1 open, 2 half-open (one trial in flight) */
    int64_t open_until; /* wall ms */
};

/* chainrun.c: chain runs on the loop */
void at__chain_start(struct at_engine *e, struct at_job *j);
void at__chain_child_done(struct at_engine *e, struct at_job *chainjob, struct at_job *child);
void at__chain_stop(struct at_engine *e, struct at_job *j);
void at__chain_free(struct at_chainrun *cr);

/* engine.c, for chainrun.c.  meta (taken, may be NULL) is the child's
 * meta from the start: set before the job can be dispatched or persisted,
 * so its tokens and its first row carry it. */
struct at_job *at__engine_child(struct at_engine *e, struct at_job *parent, const char *agent,
                                json_t *input, json_t *meta, int role, int step, int member,
                                int *rc, struct at_diag *d);
struct at_job *at__engine_child_chain(struct at_engine *e, struct at_job *parent, const char *chain,
                                      json_t *input, int role, int step, int *rc,
                                      struct at_diag *d);
void at__engine_finalize(struct at_engine *e, struct at_job *j, int code, json_t *output,
                         const char *detail, const char *pointer);
void at__engine_persist(struct at_engine *e, struct at_job *j);
void at__engine_decision(struct at_engine *e, struct at_job *j, const char *text);
long long at__engine_tree_tokens(struct at_engine *e, const char *root_id);
char *at__engine_orchestrator_for(struct at_engine *e, const char *chain);

/* tokens (engine.c): token -> struct at_token_info (a copy of j's, or an
 * idle process token when j is NULL) */
void at__token_put(struct at_engine *e, const char *token, const struct at_job *j);
void at__token_del(struct at_engine *e, const char *token);
/* The job of a process token was cancelled while its call is still out:
 * the token no longer stands for the job (as at__token_put(e, token,
 * NULL)), except for at_engine_token_egress_info during grace_ms, so that
 * the agent can still tell the outside world to stop (an A2A bridge's
 * CancelTask through the egress proxy). */
void at__token_wind_down(struct at_engine *e, const char *token, int grace_ms);

/* worker.c */
struct at_worker *at__worker_start(struct at_engine *e, struct at_pool *p, int *rc,
                                   const char **why);
void at__worker_send_call(struct at_worker *w);
void at__worker_cancel(struct at_worker *w, const char *reason);
void at__worker_stop(struct at_worker *w, const char *reason);
void at__worker_kill(struct at_worker *w, int code, const char *detail);
void at__worker_become_idle(struct at_worker *w);
/* Answer a request the agent sent (code 0: result, else an error). */
void at__worker_reply(struct at_worker *w, const json_t *id, int code, const char *message,
                      json_t *result);

/* engine.c, called by worker.c */
void at__engine_worker_ready(struct at_engine *e, struct at_worker *w);
void at__engine_worker_gone(struct at_engine *e, struct at_worker *w);
/* The daemon stops with w's job in flight: detach it from w and leave it
 * as the store has it (running) for the next start's recovery; it stays in
 * the job table, whose waiters at_engine_stop releases. */
void at__engine_job_interrupted(struct at_engine *e, struct at_worker *w);
void at__engine_job_result(struct at_engine *e, struct at_worker *w, int code, json_t *output,
                           const char *detail, const char *pointer, json_t *usage);
void at__engine_job_progress(struct at_engine *e, struct at_job *j, json_t *params);
void at__engine_job_log(struct at_engine *e, struct at_job *j, const char *stream, const char *text,
                        size_t len);
void at__engine_pump(struct at_engine *e);
/* An agent's request (not ping) while it runs j: 0 when a handler will
 * answer (the answer is written to the agent later), else not handled. */
int at__engine_agent_request(struct at_engine *e, struct at_job *j, const char *method,
                             json_t *params, const json_t *id);
/* remote.c: a remote job started / produced its result (loop thread) */
void at__engine_remote_started(struct at_engine *e, struct at_job *j);
void at__engine_remote_result(struct at_engine *e, struct at_job *j, int code, json_t *output,
                              const char *detail);

#endif
