/*
 * service.h - the daemon's triggers: registration, persistence, cron
 * scheduling with exactly-once firing, webhook deliveries.
 *
 * Persistence (written through the writer thread; docs/internals/triggers.md):
 *   kv trigger.index         JSON array of names
 *   kv trigger.def/NAME      {file, source, paused, registered_ms}
 *   kv trigger.firings/NAME  {last, seq} at registration and resume
 *   trigger_firings rows     one per firing (its history entry; its event
 *                            and input while its job is not yet stored)
 *   trigger_idem rows        the idempotency keys of the last 1000 firings
 * A firing is recorded (committed, in a group commit with the others of
 * the moment) with the job id it will use before the job is submitted; at
 * start, a recorded firing whose job is not in the store is submitted then
 * (the daemon died between the two), so a restart never fires one twice
 * nor loses one.  Cron firings that fell while the daemon was down follow
 * the trigger's `missed` policy; those due in one second are recorded in
 * one commit.
 *
 * Clock: ATLAS_CLOCK=file:PATH makes the service read "now" (Unix seconds)
 * from PATH and look at it every 50 ms (a test hook).
 *
 * Thread-safety: every function may be called from any thread.  Job
 * completions never wait on the service's lock (they run on the writer).
 */
#ifndef AT_TRIGGER_SERVICE_H
#define AT_TRIGGER_SERVICE_H

#include "base/buf.h"
#include "base/diag.h"
#include "exec/engine.h"
#include "registry/registry.h"
#include "security/secret.h"
#include "store/store.h"
#include "store/writer.h"
#include "trigger/trigger.h"

#include <jansson.h>

struct at_trigger_svc;

struct at_trigger_svc_cfg {
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *registry;
    struct at_engine *engine;
    const char *dir;            /* triggers.dir: *.yaml registered at start (NULL: none) */
    int history;                /* firings kept per trigger (triggers.history; 0: 100) */
    struct at_secrets *secrets; /* signature.secret, reply.token_secret (NULL: none) */
};

int at_trigger_svc_new(const struct at_trigger_svc_cfg *cfg, struct at_trigger_svc **out);
/* Load the registered triggers, recover firings recorded but not queued,
 * register cfg->dir's files, start the cron thread.  d explains a failure
 * (a file of the directory that does not load stops the start). */
int at_trigger_svc_start(struct at_trigger_svc *s, struct at_diag *d);
/* Stop the cron thread: before the engine is freed (no firing after). */
void at_trigger_svc_stop(struct at_trigger_svc *s);
/* Stop (if not yet) and free: after the engine is freed (job completions
 * reach the service until then). */
void at_trigger_svc_free(struct at_trigger_svc *s);

/* Register (or replace) from a file's text.  The target must exist.
 * *out (may be NULL): the description. */
int at_trigger_register(struct at_trigger_svc *s, const char *file, const char *text, size_t len,
                        json_t **out, struct at_diag *d);
int at_trigger_remove(struct at_trigger_svc *s, const char *name, struct at_diag *d);
int at_trigger_set_paused(struct at_trigger_svc *s, const char *name, int paused,
                          struct at_diag *d);
/* An array of descriptions / one description (new references). */
json_t *at_trigger_list(struct at_trigger_svc *s);
int at_trigger_describe(struct at_trigger_svc *s, const char *name, json_t **out,
                        struct at_diag *d);
/* Last firings, newest first, with their jobs' states. */
int at_trigger_history(struct at_trigger_svc *s, const char *name, int limit, json_t **out,
                       struct at_diag *d);
/* The next n firing times (cron triggers). */
int at_trigger_next(struct at_trigger_svc *s, const char *name, int n, json_t **out,
                    struct at_diag *d);
/* Fire by hand (source "manual"); input (may be NULL) is merged last.
 * *out: the firing {id, job_id, ...}. */
/* The conversations of trigger name held in memory (its interface's, the
 * newest last turns kept): [{conversation_id, turns, started_at,
 * updated_at, last}] (caller frees).  AT_ENOENT with d. */
int at_trigger_conversations(struct at_trigger_svc *s, const char *name, json_t **out,
                             struct at_diag *d);
int at_trigger_fire(struct at_trigger_svc *s, const char *name, const json_t *input, json_t **out,
                    struct at_diag *d);

struct at_trigger_result;
/* An asynchronous delivery's answer (see on_accepted): rc 0 and res (its
 * jobs and conversation, borrowed for the call), or an error with msg. */
typedef void (*at_trigger_accepted_fn)(int rc, const struct at_trigger_result *res, const char *msg,
                                       void *arg);

/* A delivery to an HTTP trigger (webhook, alertmanager, conversational). */
struct at_trigger_delivery {
    const char *path; /* "/hooks/..." */
    const char *body; /* raw body */
    size_t len;
    const json_t *headers;  /* all request headers, lower-case names */
    const json_t *identity; /* caller identity or NULL */
    at_job_done_fn on_done; /* respond: sync (NULL: async) */
    void *done_arg;
    /* where the conversation id is written before the job can start, so
     * that on_done (another thread, maybe before at_trigger_deliver
     * returns) sees it; NULL: not wanted */
    char *conversation_out;
    size_t conversation_out_len;
    /* the conversation this message belongs to (a WebSocket connection's);
     * NULL: the body's conversation_id, the Atlas-Conversation header, or
     * a new one */
    const char *conversation;
    /* the job's progress and log events (at_job_event_fn, engine loop
     * thread, ends with "end"); only with on_done, for sync triggers */
    at_job_event_fn on_event;
    void *event_arg;
    int websocket; /* a message of a WebSocket connection (not a POST) */
    /* asynchronous acknowledgement (NULL: none): when the delivery starts
     * one job without waiting for it (not respond: sync, not chat, not
     * per-alert), at_trigger_deliver may return AT_AGAIN once the firing's
     * record is queued; on_accepted then runs once, on the store's writer
     * thread, after the record's commit and the job's submission, so that
     * no thread waits on the disk.  It must only hand off. */
    at_trigger_accepted_fn on_accepted;
    void *accepted_arg;
};

struct at_trigger_result {
    json_t *jobs;  /* array of job ids started (or the duplicate's) */
    int duplicate; /* idempotency key seen: no new job */
    int sync;      /* the trigger answers with the output (on_done runs once) */
    char conversation[AT_ID_MAX + 64];
    /* slack, discord: answer at once with 200 and this JSON (NULL: an empty
     * body); the job's output goes to the reply URL */
    int chat;
    json_t *answer;
};

/* Verify, record and submit.  Returns 0 and fills res (release jobs),
 * AT_AGAIN (dv->on_accepted will answer; release res->jobs), or
 * AT_ENOENT (no trigger at path), AT_E2BIG (body over max_body), AT_EPERM
 * (signature missing, invalid or outside the replay window), AT_EEXIST (a
 * replayed signature), AT_EAUTH (a Discord signature that does not
 * verify: Discord asks for 401), AT_ESTATE (paused), AT_EMETHOD (a POST
 * to a websocket trigger), AT_EPARSE (an alertmanager, Slack or Discord
 * payload that is not one), or the engine's refusal.  Release res->jobs
 * and res->answer. */
int at_trigger_deliver(struct at_trigger_svc *s, const struct at_trigger_delivery *dv,
                       struct at_trigger_result *res, struct at_diag *d);

/* An event of a custom trigger (atlas.triggers.emit): fire name with body.
 * caller_job: the job that emits; it must be the trigger's running emitter
 * (NULL: a user, allowed).  idem_key (may be NULL) or the trigger's
 * idempotency.body_path identifies the event: one seen before starts
 * nothing.  *out: {job_id, duplicate}.  AT_ENOENT, AT_EINVAL (not a custom
 * trigger), AT_EPERM (another job), AT_ESTATE (paused), or the engine's
 * refusal. */
int at_trigger_emit(struct at_trigger_svc *s, const char *caller_job, const char *name,
                    const json_t *body, const char *idem_key, json_t **out, struct at_diag *d);

/* Does the trigger at path take deliveries only with a token (auth:
 * token)?  1 yes, 0 no or no such trigger. */
int at_trigger_needs_token(struct at_trigger_svc *s, const char *path);

/* Is there a websocket trigger at path that takes connections now?  0
 * and its max_body, or AT_ENOENT (no trigger), AT_ESTATE (paused),
 * AT_EMETHOD (a trigger that takes POSTs), with d saying so. */
int at_trigger_ws_lookup(struct at_trigger_svc *s, const char *path, size_t *max_body,
                         struct at_diag *d);

/* Append the triggers' metrics (Prometheus text, docs/triggers.md
 * "Metrics") to b. */
void at_trigger_svc_metrics(struct at_trigger_svc *s, struct at_buf *b);

/* Hex HMAC-SHA256 of the parts (for tests and signature checks). */
void at_trigger_hmac_hex(const char *secret, const char *a, size_t alen, const char *b, size_t blen,
                         char out[65]);

#endif
