/*
 * hub.h - the control plane's remote nodes (docs/scheduling.md "Nodes"):
 * who joined, from where, when each was last heard from, its last health
 * report, and the one connection (an SSE stream, http/nodes_routes.c) that
 * carries its assignments.  The facts placement reads (profile, state,
 * reservations) are the cluster's (sched.h); the hub holds what the
 * cluster does not: liveness and the message channel.
 *
 * Messages to a node are JSON texts.  While its stream is attached they go
 * out at once through the sink; otherwise they wait in the node's outbox
 * (bounded) and go out when the stream attaches.  Every function is
 * thread-safe (one mutex); a sink is called with the hub's mutex held and
 * must not block or call back into the hub.
 */
#ifndef AT_SCHED_HUB_H
#define AT_SCHED_HUB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct at_hub;

enum at_hub_reschedule {
    AT_HUB_RETRY = 0, /* re-run elsewhere if the agent is idempotent, else fail */
    AT_HUB_FAIL,      /* fail the job */
    AT_HUB_QUEUE,     /* leave it: the node's result is taken when it comes back */
};

struct at_hub_policy {
    double detection_timeout_s; /* no heartbeat for this long: unhealthy (default 30) */
    enum at_hub_reschedule reschedule;
    /* scheduling.health_thresholds: a node whose last health report is over
     * one of these is "hot" (no new work) until it is back under (0: none) */
    double hot_temperature_c;
    double hot_memory_used_pct;
};

/* Is a health report ({temperature_c, memory_used_pct, ...}) over p's
 * thresholds?  1 with why (e.g. "memory 96.1 % used, over 95 %"), else 0. */
int at_hub_health_hot(const struct at_hub_policy *p, const json_t *health, char *why, size_t n);

/* Parse scheduling.node_failure (NULL: defaults: 30 s, retry).  0 or AT_EINVAL. */
int at_hub_policy_parse(const json_t *node_failure, struct at_hub_policy *p);
const char *at_hub_reschedule_name(enum at_hub_reschedule r);

struct at_hub *at_hub_new(const struct at_hub_policy *p);
void at_hub_free(struct at_hub *h);
void at_hub_get_policy(struct at_hub *h, struct at_hub_policy *out);

/* Published once by the control plane before it serves (NULL elsewhere). */
void at_hub_publish(struct at_hub *h);
struct at_hub *at_hub_current(void);

/* A node joined (or joined again): address is where it serves, profile
 * its profile (copied).  Its heartbeat clock starts now.  Returns the join
 * count of that name (1 the first time). */
int at_hub_join(struct at_hub *h, const char *name, const char *address, const json_t *profile);
/* A heartbeat (health may be NULL; copied).  AT_ENOENT for an unknown node. */
int at_hub_heartbeat(struct at_hub *h, const char *name, const json_t *health);
/* 1 when name joined (and was not removed). */
int at_hub_known(struct at_hub *h, const char *name);
int at_hub_remove(struct at_hub *h, const char *name);

/* The sink of name's stream: called with each message text.  Returns 0
 * when it took it.  at_hub_attach flushes the outbox into it;
 * at_hub_detach(h, name, arg) removes it if arg is still the sink's. */
typedef int (*at_hub_sink_fn)(void *arg, const char *text, size_t len);
int at_hub_attach(struct at_hub *h, const char *name, at_hub_sink_fn fn, void *arg);
void at_hub_detach(struct at_hub *h, const char *name, void *arg);
/* Send msg (borrowed) to name: 0, AT_ENOENT (unknown), AT_ELIMIT (outbox full). */
int at_hub_send(struct at_hub *h, const char *name, const json_t *msg);

/* Milliseconds since name's last heartbeat (or join), -1 when unknown. */
int64_t at_hub_silence_ms(struct at_hub *h, const char *name);
/* Names of the known nodes (a new array of strings). */
json_t *at_hub_names(struct at_hub *h);
/* {address, joined_at, joins, last_heartbeat_ms_ago, connected, health,
 * discarded_results, discarded: [{job_id, dispatch, at, why}]} of name (a
 * new reference), or NULL. */
json_t *at_hub_info(struct at_hub *h, const char *name);
/* A result from name that was not taken (late, from a node declared dead,
 * of a job already final or moved): recorded for at_hub_info. */
void at_hub_record_discard(struct at_hub *h, const char *name, const char *job_id,
                           long long dispatch, const char *why);

/* The scheduler's node n (initialised by the call) from a node's profile
 * as at_sched_node_to_json writes it (resources, architecture, devices,
 * labels, overridden); name is the node's.  AT_EINVAL (d says where) on a
 * malformed profile; n is released then. */
struct at_sched_node;
struct at_diag;
int at_hub_node_from_profile(struct at_sched_node *n, const char *name, const json_t *profile,
                             struct at_diag *d);

/* What GET /api/v1/nodes and the MCP node tools show (s, h: the
 * daemon's).  at_hub_node_json: a node's profile (at_sched_node_to_json)
 * with `local`, and for a remote node `address` and `connection`
 * (at_hub_info less health).  at_hub_nodes_json: {nodes: [...]}.
 * at_hub_health_json: {name, status, running, health, heartbeat?|local}
 * of name, NULL when there is no such node.  at_hub_drain: drain (on) or
 * undrain name: draining while jobs hold reservations there, else drained;
 * *out {name, status, running}; AT_ENOENT.  New references. */
json_t *at_hub_node_json(struct at_hub *h, const struct at_sched_node *n);
struct at_sched;
json_t *at_hub_nodes_json(struct at_sched *s, struct at_hub *h);
json_t *at_hub_health_json(struct at_sched *s, struct at_hub *h, const char *name);
int at_hub_drain(struct at_sched *s, const char *name, int on, json_t **out);

/* This machine's health now (what a node's heartbeat carries, what
 * /api/v1/nodes/local/health shows): {load_1m, memory_total_gb,
 * memory_available_gb, memory_used_pct, temperature_c (the hottest
 * thermal zone, or null), at}.  A new reference. */
json_t *at_hub_local_health(void);

#endif
