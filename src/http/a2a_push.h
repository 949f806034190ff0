/*
 * a2a_push.h - A2A push notifications (A2A 1.0 §3.5, §9.4.6-9.4.9;
 * docs/a2a.md "Push notifications"): the configs a client sets on a task
 * (a webhook URL, a token, an auth header), kept in the store (migration
 * 8) and in memory, and the delivery of the task's updates to them.
 *
 * On each state change of a task that has configs (an engine observer, on
 * the loop thread: it only copies and queues), one HTTP POST per config
 * carries the update: A2A 1.0 configs get the StreamResponse
 * ({"statusUpdate": ...}, and {"artifactUpdate": ...} before a completed
 * task's last status), 0.3 configs the Task object.  Headers:
 * `Authorization: SCHEME CREDENTIALS` when the config has authentication,
 * else `X-A2A-Notification-Token: TOKEN` when it has a token.  Deliveries
 * run on one thread of their own, in order (a task's updates arrive in
 * the order they happened), each tried up to `attempts` times with a
 * doubling backoff; the queue holds `queue_max` deliveries (more are
 * dropped, with a warning).  Redirects are not followed.  The limits are
 * the a2a.push config block (struct at_a2a_push_cfg; the defaults are the
 * AT_A2A_PUSH_* constants).  Deliveries still queued at a stop (and the
 * one in flight) are kept in DATA/a2a-push-pending.json, by config id and
 * body (never the credentials), and sent first at the next start.
 *
 * URLs (at_a2a_push_check_url): http or https only, no user name or
 * password, a host; loopback and private addresses are allowed unless
 * a2a.push.allowed_hosts lists the hosts that may receive pushes (the
 * SSRF considerations are in docs/a2a.md).
 *
 * Thread-safe; nothing here blocks the caller on the network, and the
 * engine's loop (the observer) never waits on the store (set and delete
 * write it without the lock the observer takes).
 */
#ifndef AT_HTTP_A2A_PUSH_H
#define AT_HTTP_A2A_PUSH_H

#include "a2a/a2a.h"
#include "base/diag.h"
#include "exec/engine.h"

#include <jansson.h>
#include <stddef.h>

#define AT_A2A_PUSH_PER_TASK 10    /* configs one task may have */
#define AT_A2A_PUSH_MAX 10000      /* configs in all */
#define AT_A2A_PUSH_QUEUE 4096     /* deliveries waiting */
#define AT_A2A_PUSH_ATTEMPTS 4     /* tries of one delivery */
#define AT_A2A_PUSH_BACKOFF_MS 250 /* before the second try; doubles */
#define AT_A2A_PUSH_TIMEOUT_MS 5000
#define AT_A2A_PUSH_URL_MAX 2048

struct at_a2a_push;

struct at_a2a_push_cfg {
    const char *db;       /* the store database (migrated) */
    const char *data_dir; /* where deliveries pending at a stop are kept; NULL: not kept */
    /* the a2a.push config block (checked by contract/config.c), or NULL:
     * per_task, max_configs, queue_max, attempts, backoff_ms, timeout_ms,
     * allowed_hosts */
    const json_t *config;
};

/* Open the configs of the store database and start the delivery thread
 * (with the deliveries pending from the last stop first).  Caller frees
 * with at_a2a_push_free.  0, or an error with d. */
int at_a2a_push_new(const struct at_a2a_push_cfg *cfg, struct at_a2a_push **out, struct at_diag *d);
/* Stop the thread (the delivery in flight ends within its timeout), keep
 * what is still queued in the data dir for the next start, and free.
 * NULL: a no-op. */
void at_a2a_push_free(struct at_a2a_push *p);
/* Deliveries waiting or in flight (for tests and metrics). */
size_t at_a2a_push_pending(struct at_a2a_push *p);
/* The observer that turns job events into deliveries (add it before the
 * engine starts; p outlives the engine). */
struct at_engine_observer at_a2a_push_observer(struct at_a2a_push *p);

/* 0 when url may receive pushes, else -1 with why[0..n) saying why.
 * allowed: NULL (any host), or a JSON array of host names (exact, case
 * insensitive; "*.example.com" matches its subdomains) and IP literals. */
int at_a2a_push_check_url(const char *url, const json_t *allowed, char *why, size_t n);

/* The record of a config of task_id from params (version ver's shape, as
 * at_a2a_push_set takes them): {taskId, id, url, token?, scheme?,
 * credentials?, version, createdMs}, a new object; or NULL with why.  A
 * missing id is made.  Pure: a parser of hostile input
 * (tests/fuzz/fuzz_a2a_push.c). */
json_t *at_a2a_push_parse(const char *task_id, enum at_a2a_ver ver, const json_t *params, char *why,
                          size_t n);
/* The host of url is one that allowed (as in at_a2a_push_check_url) lists:
 * 1, else 0.  Pure. */
int at_a2a_push_host_allowed(const char *host, const json_t *allowed);
/* A record as version ver's TaskPushNotificationConfig (a new object). */
json_t *at_a2a_push_shape(const json_t *rec, enum at_a2a_ver ver);

/* Set a config of task_id from params (the request's params, in version
 * ver's shape: 1.0 TaskPushNotificationConfig {taskId, id?, url, token?,
 * authentication?}; 0.3 {taskId, pushNotificationConfig: {id?, url,
 * token?, authentication?: {schemes, credentials}}}); a config with the
 * same id is replaced.  *out: the config as answered (caller frees).
 * 0, or an A2A error code (AT_A2A_EPARAMS, AT_A2A_EINTERNAL) with why. */
int at_a2a_push_set(struct at_a2a_push *p, const char *task_id, enum at_a2a_ver ver,
                    const json_t *cfg, json_t **out, char *why, size_t n);
/* Config id of task_id (NULL: its first) in version ver's shape, or NULL
 * when there is none.  A new reference. */
json_t *at_a2a_push_get(struct at_a2a_push *p, const char *task_id, const char *id,
                        enum at_a2a_ver ver);
/* Every config of task_id, oldest first, in version ver's shape.  A new
 * array. */
json_t *at_a2a_push_list(struct at_a2a_push *p, const char *task_id, enum at_a2a_ver ver);
/* Delete config id of task_id: 0, AT_ENOENT, or a store error. */
int at_a2a_push_delete(struct at_a2a_push *p, const char *task_id, const char *id);

/* Deliver task t's update (its state is t->job_state) to each config of
 * the task; final marks the last update.  Copies what it needs.  Used by
 * the observer; exported for the input-required updates. */
void at_a2a_push_notify(struct at_a2a_push *p, const struct at_a2a_task *t, int final);

#endif
