/*
 * engine.h - the execution engine: job queue, warm process pools, dispatch.
 *
 * One thread runs an event loop that owns the queues, the pools and every
 * agent process; nothing on it waits for disk, a child or the network
 * (store writes go to the group-committing writer, processes are watched
 * through non-blocking pipes and pidfds).  Other threads talk to it through
 * at_engine_submit / at_engine_cancel, which hand work over with a post.
 *
 * Ordering: jobs run in priority order (higher first), FIFO within a
 * priority; at most execution.max_concurrent_agents run at once; each
 * agent version has a pool of warm processes (min, max, idle timeout).
 */
#ifndef AT_EXEC_ENGINE_H
#define AT_EXEC_ENGINE_H

#include "base/diag.h"
#include "contract/config.h"
#include "exec/job.h"
#include "registry/registry.h"
#include "store/store.h"
#include "store/writer.h"

#include <jansson.h>

struct at_engine;
struct at_token_info;
struct at_secrets;
struct at_audit;

struct at_engine_cfg {
    const struct at_config *config; /* borrowed; must outlive the engine */
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *registry;
    const char *mcp_url;        /* given to agents as ATLAS_MCP_URL */
    const char *agent_socket;   /* atlasd's agent socket, bound into sandboxes (or NULL) */
    const char *egress_socket;  /* atlasd's egress proxy, bound into sandboxes of agents with
                                   requires.egress (or NULL) */
    const char *python_sdk_dir; /* put on PYTHONPATH of every agent */
    /* the values of the secrets a contract lists under requires.secrets
     * go into its processes' environment; NULL: none (borrowed) */
    struct at_secrets *secrets;
    /* where security events of the engine go (sandbox refusals: record
     * them with at_audit_record, event "sandbox.refused"); NULL: none */
    struct at_audit *audit;
};

int at_engine_new(const struct at_engine_cfg *cfg, struct at_engine **out);
/* Before start: requeue or fail jobs left unfinished by a previous run
 * (queued: requeued; running: requeued if the agent is idempotent, else
 * failed with reason daemon-restart).  Blocks until the store has it. */
int at_engine_recover(struct at_engine *e, int *requeued, int *failed);
/* Start the loop thread. */
int at_engine_start(struct at_engine *e);
/* Stop accepting, stop every agent process (stdin closed, then SIGTERM,
 * then SIGKILL) and join the thread.  Jobs still running are left
 * `running` in the store and handled by recovery on the next start. */
void at_engine_stop(struct at_engine *e);
void at_engine_free(struct at_engine *e);

/* Requests an agent sends to the runtime while it runs a job (MCP
 * sampling/createMessage, elicitation/create, roots/list, ...).  A handler
 * returns 0 when it will answer, by calling reply exactly once from any
 * thread (code 0 with a result, or an AT_E* code and a message), or an
 * error code when it does not handle the method (the next handler is
 * asked; at the end the agent gets -32601).  params is borrowed for the
 * call only. */
typedef void (*at_engine_reply_fn)(void *reply_arg, int code, const char *message, json_t *result);
typedef int (*at_engine_request_fn)(void *arg, const struct at_token_info *job, const char *method,
                                    json_t *params, at_engine_reply_fn reply, void *reply_arg);

struct at_submit {
    const char *agent;          /* "name" or "name:version" */
    const char *chain;          /* or: run this registered chain (agent is then NULL) */
    json_t *input;              /* borrowed; defaults are applied to a copy */
    int priority;               /* higher runs first; default 0 */
    const char *source;         /* "http", "cli", "mcp", ... */
    const char *parent_id;      /* spawning job, or NULL */
    const char *root_id;        /* root of the spawning job's tree (NULL: parent or self) */
    int depth;                  /* spawn depth (0 for a root job) */
    at_job_accept_fn on_accept; /* after the job row is committed (may be NULL) */
    void *accept_arg;
    at_job_done_fn on_done; /* after the final state is committed (may be NULL) */
    void *done_arg;
    at_job_event_fn on_event; /* progress, logs, state, end (may be NULL) */
    void *event_arg;
    at_engine_request_fn on_request; /* the submitter answers the agent's requests first */
    void *request_arg;
    json_t *meta;      /* extra _meta for the agent's tools/call (e.g. W3C trace
                          context); borrowed, copied into the job */
    json_t *decisions; /* the orchestrator's decisions taken before the job existed
                          (routing): borrowed, copied into meta.decisions */
    /* triggers (src/trigger/): the event the run came from, recorded as
     * meta.event (never given to the agent; borrowed, copied), and the job
     * id the trigger recorded before submitting (NULL: a new one) */
    const json_t *event;
    const char *job_id;
    /* the digest of the semantic log (docs/audit.md) the job executes,
     * recorded as meta.semantic_log and in its execution receipt; NULL:
     * none (a spawned child inherits its parent's) */
    const char *semantic_log;
    /* the API token ("tok_...") that asked for the run, or NULL: the job
     * tree's model tokens count against its daily quota (docs/security.md
     * "Quotas"); spawned and chain children inherit it */
    const char *owner;
};

/* Validate the input against the agent's contract (defaults applied) and
 * queue the run.  Returns 0 and, when out is not NULL, a job reference, or:
 * AT_ENOENT (no such agent), AT_ESCHEMA (d->pointer names the value),
 * AT_EBUSY (queue full), AT_ESTATE (engine stopping).  Thread-safe. */
int at_engine_submit(struct at_engine *e, const struct at_submit *s, struct at_job **out,
                     struct at_diag *d);

/* Spawn a child of the job `parent` stands for (from at_engine_token_info):
 * refused with AT_EPERM unless the parent's contract has
 * requires.spawn_agents, with AT_ELIMIT when a guardrail stops it
 * (execution.max_spawn_depth, ...; d names the limit).  s->parent_id,
 * root_id and depth are filled from parent.  Otherwise as
 * at_engine_submit.  Thread-safe. */
int at_engine_spawn(struct at_engine *e, const struct at_token_info *parent,
                    const struct at_submit *s, struct at_job **out, struct at_diag *d);

/* The orchestrator slot: the agent (type orchestrator) asked for chain
 * decisions, for every chain (chain NULL) or one chain; agent NULL resets
 * it to the default orchestrator.  In memory: the caller persists it.
 * Thread-safe. */
void at_engine_set_orchestrator(struct at_engine *e, const char *agent, const char *chain);
/* {"default": "name"|null, "chains": {"chain": "name"}}. Thread-safe. */
json_t *at_engine_orchestrator_json(struct at_engine *e);

/* Tokens a job's tree used (from the model gateway): counted against
 * execution.resource_budget.max_tokens_per_chain for root_id.  Thread-safe. */
void at_engine_add_usage(struct at_engine *e, const char *root_id, long long tokens);

/* Circuit breakers: {"agent": {"state": closed|open|half_open, "failures",
 * "open_until"?}}.  Thread-safe. */
json_t *at_engine_breakers_json(struct at_engine *e);

/* Placement may have changed (a node joined, came back, was relabelled):
 * jobs waiting unschedulable are tried again now, on the loop.  Thread-safe. */
void at_engine_sched_kick(struct at_engine *e);

/* What a remote node reports about the jobs it was sent (docs/scheduling.md
 * "Nodes"): events (borrowed, deep-copied) is an array of {type: "log"|
 * "progress"|"result", job_id, dispatch, ...}; a result carries code (an
 * error slug, "ok" for success), output, detail, usage.  A result that does
 * not match a job running on that node under that dispatch (late, from a
 * node declared dead, of a job already final) is discarded and recorded
 * (sched/hub.h).  Handled on the loop.  Thread-safe. */
void at_engine_node_events(struct at_engine *e, const char *node, const json_t *events);

/* `atlas schedule migrate JOB --to NODE` (docs/scheduling.md "Migrate"):
 * the running job job_id of an idempotent agent is stopped where it runs
 * (a node is sent `cancel`, whose late result is discarded; a local
 * process is asked to stop) and placed again, on `to`.  Refused, nothing
 * changed, with the reason in why: AT_ENOENT (no such job in flight),
 * AT_ESTATE (not running, a chain, a remote agent, still starting, waits
 * on child jobs, already on `to`), AT_EPERM (its agent is not idempotent),
 * AT_EUNSCHEDULABLE (`to` does not fit it now: the node's verdict).  *out
 * (may be NULL): {job_id, from, to, status: "migrated"}.  Blocks until the
 * loop has done it.  Thread-safe. */
int at_engine_migrate(struct at_engine *e, const char *job_id, const char *to, char *why, size_t n,
                      json_t **out);
/* `atlas node drain NAME --migrate`: after node was set draining, each job
 * running there that can move (as at_engine_migrate, to wherever
 * placement puts it) moves; the others finish there.  *out {migrated:
 * [{job_id, to}], kept: [{job_id, why}]}.  0 or AT_ESTATE (the engine is
 * stopping).  Thread-safe. */
int at_engine_migrate_node(struct at_engine *e, const char *node, json_t **out);
/* Change the priority of a queued job (AT_ENOENT when it is not queued).
 * Thread-safe (waits for the loop briefly). */
int at_engine_set_priority(struct at_engine *e, const char *job_id, int priority);

/* The queue (atlas queue ...), thread-safe, each waiting for the loop
 * briefly; AT_ESTATE before start or while stopping, AT_EBUSY when the
 * loop is overloaded.
 *
 * at_engine_queue_json: *out (caller frees) is {"held_all", "held": [names],
 * "queued", "running", "agents": [{"agent": "name@version", "name",
 * "version", "held", "draining", "running", "max", "queued", "jobs": [{"id",
 * "priority", "position" (1: next in its agent's queue), "order" (1: next
 * across all agents), "created_at", "source", "parent"}]}]}, for the agents
 * agent names ("name", "name:version"; NULL: all) that have a pool.
 *
 * at_engine_queue_hold: on: stop dispatching queued jobs of the agent
 * named agent (every version; NULL: of every agent); what runs finishes,
 * new jobs are still accepted and queue.  off: dispatch again (agent NULL:
 * every hold goes).  AT_EINVAL when agent is not a bare name.  *queued and
 * *running (may be NULL) get what the hold concerns.
 *
 * at_engine_queue_priority: as at_engine_set_priority; the job moves in
 * the dispatch order at once, *position (may be NULL) gets its place in
 * its agent's queue afterwards. */
int at_engine_queue_json(struct at_engine *e, const char *agent, json_t **out);
int at_engine_queue_hold(struct at_engine *e, const char *agent, int on, int *queued, int *running);
int at_engine_queue_priority(struct at_engine *e, const char *job_id, int priority, int *position);
/* Draining: while on, new runs are refused (busy) and what is queued or
 * running finishes.  Returns the jobs still in flight.  Thread-safe.  (The
 * daemon's graceful stop; `atlas queue drain` is the other way round: it
 * holds dispatch and keeps accepting, at_engine_queue_hold.) */
int at_engine_drain(struct at_engine *e, int on);
/* A reload (daemon/service.c): from now on the engine reads the settings
 * from c, an immutable snapshot that must outlive the engine (the daemon
 * keeps every snapshot until it stops).  Queued jobs are then dispatched
 * again (a larger execution.max_concurrent_agents starts them).  Any thread. */
void at_engine_set_config(struct at_engine *e, const struct at_config *c);

/* Ask for a job to be cancelled.  Returns 0 when the request was handed to
 * the loop (the job ends `cancelled` unless it finishes first), AT_ENOENT
 * when the job is not in flight.  Thread-safe. */
int at_engine_cancel(struct at_engine *e, const char *job_id, const char *reason);

/* Subscribe to the events of a job in flight (see at_job_event_fn).  When
 * the job is not in flight, fn gets "end" at once (on the loop thread).
 * at_engine_unwatch removes the subscription registered with arg; fn may
 * still run until the unwatch has reached the loop, and gets a final
 * "end" call from the unwatch itself so arg can be released there.
 * Thread-safe. */
void at_engine_watch(struct at_engine *e, const char *job_id, at_job_event_fn fn, void *arg);
void at_engine_unwatch(struct at_engine *e, const char *job_id, void *arg);

/* The runtime-wide handler of agents' requests, asked after the job's own
 * (e.g. sampling through the model gateway).  Set before at_engine_start. */
void at_engine_set_request_handler(struct at_engine *e, at_engine_request_fn fn, void *arg);

/* Observers of every job (the monitor: traces, logs, metrics, evals).
 * on_event runs on the engine's loop thread for every job's events (as
 * at_job_event_fn, with the job's current record); on_final runs after a
 * job's final state is committed (on the store writer's thread) with the
 * committed record.  Both must not block: hand work to your own thread.
 * At most 8 observers, added before at_engine_start.  Thread-safe to call
 * at start-up only. */
/* Answer the question the agent of job_id asked its caller
 * (elicitation/create on its stdio that no handler took; the job's
 * meta.input_required, docs/api.md): result is the ElicitResult
 * {"action": "accept"|"decline"|"cancel", "content"?: {...}} (borrowed),
 * handed to the agent.  0; AT_EINVAL (the shape); AT_ENOENT (no such job
 * in flight); AT_ESTATE (it waits for no answer), with d.  Thread-safe:
 * waits for the loop. */
int at_engine_input_answer(struct at_engine *e, const char *job_id, const json_t *result,
                           struct at_diag *d);

struct at_engine_observer {
    void (*on_event)(void *arg, const struct at_job_rec *rec, const char *event, json_t *data);
    void (*on_final)(void *arg, const struct at_job_rec *rec);
    void *arg;
};
int at_engine_add_observer(struct at_engine *e, const struct at_engine_observer *obs);

/* What a token (ATLAS_TOKEN of an agent process, or the per-job token in
 * a call's _meta) stands for: the job it acts for and what that job's
 * contract allows.  A process token stands for the job the process is
 * running now (AT_ENOENT while it is idle). */
struct at_token_info {
    char job_id[AT_ID_MAX];
    char root_id[AT_ID_MAX];
    char agent[160];        /* "name@version" */
    int depth;              /* spawn depth of the job */
    int platform_tools;     /* requires.platform_tools */
    int spawn_agents;       /* requires.spawn_agents */
    int tier;               /* model tier the orchestrator chose for the job: 0 fast,
                               1 balanced, 2 powerful, -1 none */
    char orchestrator[160]; /* the custom orchestrator of the job's chain
                               ("name:version"; its model_selection applies to
                               the job's model calls), "" when none */
    char scope[2048];       /* the job input's "scope" (the paths a supervised run may
                               give its tasks, docs/supervisor.md) as compact JSON;
                               "" when none, "!" when too long to keep */
    char semantic_log[80];  /* the semantic log the job executes ("sha256:..."), "" */
    char owner[AT_ID_MAX];  /* the API token whose run the tree is (at_submit.owner), "" */
};

/* Look up a token.  Returns 0 and fills out, or AT_ENOENT.  Thread-safe. */
int at_engine_token_info(struct at_engine *e, const char *token, struct at_token_info *out);
/* The same for the egress proxy, which also honours, for a short grace
 * period, the token of a job just cancelled whose agent is still winding
 * down (so that it can cancel what it started outside: an A2A task).
 * Thread-safe. */
int at_engine_token_egress_info(struct at_engine *e, const char *token, struct at_token_info *out);

/* Name the semantic log (a supervisor's plan, docs/audit.md) that the job
 * holding token now executes: its execution receipt and those of the jobs
 * it spawns from now on carry digest ("sha256:" and 64 hex).  AT_ENOENT
 * (no such job), AT_EINVAL, AT_EBUSY (the loop is overloaded).  Thread-safe. */
int at_engine_set_semantic(struct at_engine *e, const char *token, const char *digest);

/* Snapshot of queue and pool state for /health and /metrics.  Thread-safe
 * (asks the loop and waits briefly). */
json_t *at_engine_stats_json(struct at_engine *e);

#endif
