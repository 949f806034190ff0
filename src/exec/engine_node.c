/*
 * engine_node.c - jobs on remote nodes (docs/scheduling.md "Nodes",
 * docs/internals/sched.md).  A job placed on a node the hub knows
 * (sched/hub.h) is not bound to a local process: it is sent to the node
 * as a `run` message with a dispatch number, and is `running` until the
 * node's `result` for that number comes back (at_engine_node_events).  The
 * liveness check (every CHECK_MS) marks a node unhealthy once it has been
 * silent for node_failure.detection_timeout and applies
 * reschedule_strategy to its jobs; a node heard from again is ready.
 * Draining nodes with nothing reserved become drained.  Loop thread only,
 * at_engine_node_events aside.
 */
#include "exec/admit.h"
#include "exec/engine_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"
#include "json/schema.h"
#include "sched/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_MS 200

static void lost_text(char *out, size_t n, const char *node, double timeout, const char *what)
{
    snprintf(out, n,
             "node %s stopped answering (no heartbeat for %.1f s, "
             "scheduling.node_failure.detection_timeout)%s",
             node, timeout, what);
}

/* j no longer runs on its node: its execution.max_concurrent_agents slot
 * (taken in at__engine_node_take) is given back. */
static void node_end(struct at_engine *e, struct at_job *j)
{
    if (j->node_run) {
        j->node_run = 0;
        e->running--;
    }
}

int at__engine_node_take(struct at_engine *e, struct at_job *j)
{
    struct at_hub *h = at_hub_current();
    if (!h || !j->sched_held || !at_hub_known(h, j->sched_node))
        return 0;
    atomic_fetch_sub(&e->queued, 1);
    j->heap_idx = -1;
    j->node_run = 1;
    e->running++; /* a job on a node holds a slot of max_concurrent_agents as a local one */
    j->node_dispatch = ++e->node_seq;
    at__engine_remote_started(e, j);
    at__job_emit_state(j);
    const struct at_reg_agent *a = j->agent;
    const struct at_contract *c = a->contract;
    double t = c->timeout_s > 0 ? c->timeout_s : e->conf->exec.timeout_agent;
    json_t *msg = json_pack("{s:s,s:s,s:I,s:{s:s,s:s,s:s?},s:O,s:i,s:f}", "type", "run", "job_id",
                            j->rec.id, "dispatch", (json_int_t)j->node_dispatch, "agent", "name",
                            c->name, "version", c->version, "digest", a->digest, "input",
                            j->rec.input, "priority", j->rec.priority, "timeout_s", t);
    int rc = msg ? at_hub_send(h, j->sched_node, msg) : AT_EINVAL;
    json_decref(msg);
    at_info("sched", "job %s sent to node %s (dispatch %lld)", j->rec.id, j->sched_node,
            j->node_dispatch);
    if (rc) {
        char why[300];
        snprintf(why, sizeof(why), "cannot send the job to node %s: %s", j->sched_node,
                 at_err_msg(rc));
        node_end(e, j);
        at__engine_finalize(e, j, AT_ENODELOST, NULL, why, NULL);
    }
    return 1;
}

void at__engine_node_cancel(struct at_engine *e, struct at_job *j)
{
    struct at_hub *h = at_hub_current();
    if (h) {
        json_t *msg = json_pack("{s:s,s:s,s:I}", "type", "cancel", "job_id", j->rec.id, "dispatch",
                                (json_int_t)j->node_dispatch);
        at_hub_send(h, j->sched_node, msg);
        json_decref(msg);
    }
    node_end(e, j);
    at__engine_finalize(e, j, AT_ECANCELED, NULL, NULL, NULL);
    at__engine_pump(e);
}

/* ---- what nodes report ---- */

struct node_events {
    struct at_engine *e;
    char node[AT_SCHED_NAME_MAX];
    json_t *events;
};

static void discard(struct at_engine *e, const char *node, struct at_job *j, const char *id,
                    long long dispatch, const char *why)
{
    at_warn("sched", "result of job %s (dispatch %lld) from node %s discarded: %s", id, dispatch,
            node, why);
    struct at_hub *h = at_hub_current();
    if (h)
        at_hub_record_discard(h, node, id, dispatch, why);
    if (j) {
        json_t *meta = at__job_meta_mut(j);
        json_t *arr = json_object_get(meta, "discarded_results");
        if (!json_is_array(arr)) {
            arr = json_array();
            json_object_set_new(meta, "discarded_results", arr);
        }
        json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:I}", "node", node, "dispatch",
                                             (json_int_t)dispatch, "why", why, "at",
                                             (json_int_t)at_wall_ms()));
        if (j->persisted && !j->final)
            at__engine_persist(e, j);
    }
}

static void one_event(struct at_engine *e, const char *node, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *id = json_string_value(json_object_get(ev, "job_id"));
    long long dispatch = (long long)json_integer_value(json_object_get(ev, "dispatch"));
    if (!type || !id)
        return;
    struct at_job *j = at_map_get(&e->jobs, id);
    const char *why = NULL;
    if (!j)
        why = "the job is not in flight (it ended or was moved)";
    else if (j->final)
        why = "the job already ended";
    else if (!j->node_run || strcmp(j->sched_node, node) != 0)
        why = "the job no longer runs on this node (declared lost, or rescheduled)";
    else if (j->node_dispatch != dispatch)
        why = "the result is of an earlier dispatch";
    if (why) {
        if (strcmp(type, "result") == 0)
            discard(e, node, j, id, dispatch, why);
        return;
    }
    if (strcmp(type, "log") == 0) {
        const char *text = json_string_value(json_object_get(ev, "text"));
        const char *stream = json_string_value(json_object_get(ev, "stream"));
        if (text)
            at__engine_job_log(e, j, stream ? stream : "stderr", text, strlen(text));
        return;
    }
    if (strcmp(type, "progress") == 0) {
        at__engine_job_progress(e, j, json_object_get(ev, "progress"));
        return;
    }
    if (strcmp(type, "result") != 0)
        return;
    const char *slug = json_string_value(json_object_get(ev, "code"));
    int code = !slug || strcmp(slug, "ok") == 0 ? 0 : at_err_from_slug(slug);
    json_t *usage = json_object_get(ev, "usage");
    if (json_is_object(usage)) {
        json_t *meta = at__job_meta_mut(j);
        json_object_set(meta, "usage", usage);
        at__engine_record_usage(e, j, usage);
    }
    node_end(e, j);
    at__engine_remote_result(e, j, code, code == 0 ? json_object_get(ev, "output") : NULL,
                             json_string_value(json_object_get(ev, "detail")));
    at__engine_pump(e);
}

static void do_events(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct node_events *ne = arg;
    size_t i;
    json_t *ev;
    json_array_foreach(ne->events, i, ev) one_event(ne->e, ne->node, ev);
    json_decref(ne->events);
    free(ne);
}

void at_engine_node_events(struct at_engine *e, const char *node, const json_t *events)
{
    if (!json_is_array(events))
        return;
    struct node_events *ne = at_calloc(1, sizeof(*ne));
    ne->e = e;
    snprintf(ne->node, sizeof(ne->node), "%s", node);
    ne->events = json_deep_copy(events);
    at_loop_post(e->loop, do_events, ne);
}

/* ---- liveness ---- */

static void node_lost(struct at_engine *e, const char *node, const struct at_hub_policy *hp)
{
    size_t it = 0;
    void *v;
    int n = 0, cap = 0;
    struct at_job **js = NULL;
    while (at_map_next(&e->jobs, &it, NULL, &v)) {
        struct at_job *j = v;
        if (j->node_run && !j->final && strcmp(j->sched_node, node) == 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                js = at_realloc(js, (size_t)cap * sizeof(*js));
            }
            js[n++] = at_job_ref(j);
        }
    }
    for (int i = 0; i < n; i++) {
        struct at_job *j = js[i];
        char why[600];
        json_t *meta = at__job_meta_mut(j);
        if (hp->reschedule == AT_HUB_QUEUE) {
            lost_text(why, sizeof(why), node, hp->detection_timeout_s,
                      ": reschedule_strategy queue: waiting for the node to come back");
            json_object_set_new(meta, "waited_for", json_string(why));
            json_t *l = json_pack("{s:s,s:s}", "stream", "scheduler", "text", why);
            at__job_emit(j, "log", l);
            json_decref(l);
            at__engine_persist(e, j);
        } else if (hp->reschedule == AT_HUB_RETRY && j->agent->contract->idempotent) {
            lost_text(why, sizeof(why), node, hp->detection_timeout_s,
                      ": reschedule_strategy retry: re-run elsewhere (the agent is idempotent)");
            at_warn("sched", "job %s: %s", j->rec.id, why);
            json_t *moves = json_object_get(meta, "rescheduled");
            if (!json_is_array(moves)) {
                moves = json_array();
                json_object_set_new(meta, "rescheduled", moves);
            }
            json_array_append_new(moves, json_pack("{s:s,s:I,s:s}", "from", node, "dispatch",
                                                   (json_int_t)j->node_dispatch, "why", why));
            node_end(e, j);
            at__engine_unplace(e, j);
            at__job_set_state(j, AT_JOB_QUEUED);
            at__job_emit_state(j);
            atomic_fetch_add(&e->queued, 1);
            at_jobq_push(&j->pool->queue, j);
            at__engine_persist(e, j);
        } else {
            lost_text(why, sizeof(why), node, hp->detection_timeout_s,
                      hp->reschedule == AT_HUB_FAIL
                          ? ": reschedule_strategy fail"
                          : ": reschedule_strategy retry, but the agent is not idempotent");
            at_warn("sched", "job %s failed: %s", j->rec.id, why);
            node_end(e, j);
            at__engine_finalize(e, j, AT_ENODELOST, NULL, why, NULL);
        }
        at_job_unref(j);
    }
    free(js);
    if (n)
        at__engine_pump(e);
}

static void check(struct at_loop *loop, struct at_timer *t)
{
    struct at_engine *e = t->arg;
    struct at_hub *h = at_hub_current();
    if (atomic_load(&e->stopping))
        return;
    struct at_hub_policy hp;
    at_hub_get_policy(h, &hp);
    struct at_sched_cluster c;
    at_sched_snapshot(e->sched, &c);
    int kick = 0;
    for (int i = 0; i < c.nnodes; i++) {
        const struct at_sched_node *n = &c.nodes[i];
        int64_t quiet = at_hub_silence_ms(h, n->name);
        if (quiet >= 0) { /* a remote node */
            int late =
                hp.detection_timeout_s > 0 && quiet > (int64_t)(hp.detection_timeout_s * 1000);
            if (late && n->state != AT_SCHED_UNHEALTHY) {
                at_warn("sched", "node %s is unhealthy: no heartbeat for %.1f s", n->name,
                        (double)quiet / 1000);
                at_sched_set_state(e->sched, n->name, AT_SCHED_UNHEALTHY);
                node_lost(e, n->name, &hp);
                kick = 1;
                continue;
            }
            if (!late && n->state == AT_SCHED_UNHEALTHY) {
                at_info("sched", "node %s is back", n->name);
                at_sched_set_state(e->sched, n->name, AT_SCHED_READY);
                kick = 1;
                continue;
            }
        }
        if ((hp.hot_temperature_c > 0 || hp.hot_memory_used_pct > 0 || n->state == AT_SCHED_HOT) &&
            (n->state == AT_SCHED_READY || n->state == AT_SCHED_HOT)) {
            /* the health API's thresholds: the last report (a remote node's
             * heartbeat, this machine's now) */
            json_t *info = quiet >= 0 ? at_hub_info(h, n->name) : NULL;
            json_t *health =
                quiet >= 0 ? json_incref(json_object_get(info, "health")) : at_hub_local_health();
            char why[200];
            int hot = at_hub_health_hot(&hp, health, why, sizeof(why));
            json_decref(health);
            json_decref(info);
            if (hot && n->state == AT_SCHED_READY) {
                at_warn("sched", "node %s is hot (%s): it takes no new work", n->name, why);
                at_sched_set_state(e->sched, n->name, AT_SCHED_HOT);
            } else if (!hot && n->state == AT_SCHED_HOT) {
                at_info("sched", "node %s is no longer hot", n->name);
                at_sched_set_state(e->sched, n->name, AT_SCHED_READY);
                kick = 1;
            }
        }
        if (n->state == AT_SCHED_DRAINING && n->nresv == 0) {
            at_info("sched", "node %s is drained", n->name);
            at_sched_set_state(e->sched, n->name, AT_SCHED_DRAINED);
        }
    }
    at_sched_cluster_release(&c);
    if (kick)
        at__engine_pump(e);
    at_loop_timer_start(loop, &e->t_nodes, CHECK_MS, check, e);
}

void at__engine_nodes_start(struct at_engine *e)
{
    if (!e->sched || !at_hub_current())
        return;
    at_loop_timer_start(e->loop, &e->t_nodes, CHECK_MS, check, e);
}

void at__engine_nodes_stop(struct at_engine *e)
{
    at_loop_timer_stop(e->loop, &e->t_nodes);
}

/* ---- migration (docs/scheduling.md "Migrate") ---- */

/* Can running job j move?  0, or the refusal (why). */
static int movable(const struct at_job *j, char *why, size_t n)
{
    if (j->chain) {
        snprintf(why, n, "job %s is a chain: its steps are placed (and migrate) one by one",
                 j->rec.id);
        return AT_ESTATE;
    }
    if (j->final || j->rec.state != AT_JOB_RUNNING) {
        snprintf(why, n,
                 "job %s is %s: only a running job migrates (a queued one is placed when "
                 "it starts)",
                 j->rec.id, at_job_state_name(j->rec.state));
        return AT_ESTATE;
    }
    if (!j->sched_held) {
        snprintf(why, n, "job %s was not placed on a node (a remote agent, or no cluster)",
                 j->rec.id);
        return AT_ESTATE;
    }
    if (!j->agent->contract->idempotent) {
        snprintf(why, n,
                 "agent %s is not idempotent (idempotent: true in its contract): restarting it "
                 "elsewhere could repeat what it already did; it finishes on %s",
                 j->agent->key, j->sched_node);
        return AT_EPERM;
    }
    if (j->waiting_children > 0) {
        snprintf(why, n, "job %s waits on %d child job(s): it finishes on %s", j->rec.id,
                 j->waiting_children, j->sched_node);
        return AT_ESTATE;
    }
    if (!j->node_run) {
        const struct at_worker *w = j->worker;
        if (!w || w->state != AT_W_BUSY || !w->call_id) {
            snprintf(why, n, "job %s is still starting on %s: try again", j->rec.id, j->sched_node);
            return AT_ESTATE;
        }
    }
    return 0;
}

/* Where j would be placed now, pinned to `to` (NULL: anywhere): 0 and the
 * node in where, or AT_EUNSCHEDULABLE with the verdicts in why. */
static int where_to(struct at_engine *e, const struct at_job *j, const char *to, char *where,
                    size_t wn, char *why, size_t n)
{
    struct at_sched_req r;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_admit_req(j->agent->contract, &r, &d)) {
        snprintf(why, n, "%s", d.msg);
        return AT_EINVAL;
    }
    r.priority = j->rec.priority;
    if (to)
        snprintf(r.node_affinity, sizeof(r.node_affinity), "%s", to);
    json_t *ex = at_sched_explain(e->sched, &r);
    const char *status = json_string_value(json_object_get(ex, "status"));
    const char *node = json_string_value(json_object_get(ex, "node"));
    int rc = 0;
    if (status && strcmp(status, "placed") == 0 && node) {
        snprintf(where, wn, "%s", node);
    } else {
        rc = AT_EUNSCHEDULABLE;
        const char *mine = NULL;
        int found = 0;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(ex, "nodes"), i, v)
        {
            if (to && strcmp(at_json_str(v, "name", ""), to) == 0) {
                found = 1;
                mine = json_string_value(json_object_get(v, "reason"));
            }
        }
        if (to && !found)
            snprintf(why, n, "there is no node %s", to);
        else if (status && strcmp(status, "preempt") == 0)
            snprintf(why, n,
                     "job %s fits %s only by evicting jobs of lower priority: a migration "
                     "evicts nothing",
                     j->rec.id,
                     node ? node
                     : to ? to
                          : "another node");
        else if (to)
            snprintf(why, n, "job %s cannot move to %s now: %s", j->rec.id, to,
                     mine ? mine : (status ? status : "?"));
        else {
            char reasons[1200];
            at_admit_reasons(ex, reasons, sizeof(reasons));
            snprintf(why, n, "no other node fits job %s now: %s", j->rec.id, reasons);
        }
    }
    json_decref(ex);
    return rc;
}

/* Stop j where it runs and queue it again for node `where` (loop). */
static void move(struct at_engine *e, struct at_job *j, const char *where, const char *how)
{
    char from[AT_SCHED_NAME_MAX];
    snprintf(from, sizeof(from), "%s", j->sched_node);
    char msg[400];
    snprintf(msg, sizeof(msg), "migrated from %s to %s (%s)", from, where, how);
    at_info("sched", "job %s %s", j->rec.id, msg);
    json_t *meta = at__job_meta_mut(j);
    json_t *moves = json_object_get(meta, "migrated");
    if (!json_is_array(moves)) {
        moves = json_array();
        json_object_set_new(meta, "migrated", moves);
    }
    json_array_append_new(moves, json_pack("{s:s,s:s,s:s,s:I}", "from", from, "to", where, "how",
                                           how, "at", (json_int_t)at_wall_ms()));
    json_t *l = json_pack("{s:s,s:s}", "stream", "scheduler", "text", msg);
    at__job_emit(j, "log", l);
    json_decref(l);
    snprintf(j->sched_pin, sizeof(j->sched_pin), "%s", where);
    if (j->node_run) {
        struct at_hub *h = at_hub_current();
        json_t *c = json_pack("{s:s,s:s,s:I}", "type", "cancel", "job_id", j->rec.id, "dispatch",
                              (json_int_t)j->node_dispatch);
        if (h)
            at_hub_send(h, from, c); /* its late result is discarded (another dispatch) */
        json_decref(c);
        node_end(e, j);
        at__engine_requeue_preempted(e, j);
        at__engine_pump(e);
    } else {
        /* a local process: its call is ended (the agent is asked to stop)
         * and the job goes back to the queue, as a preempted one does */
        j->sched_requeue = 1;
        at__engine_job_result(e, j->worker, AT_EPREEMPTED, NULL, msg, NULL, NULL);
    }
}

struct migrate_req {
    const char *id, *to;
    char *why;
    size_t n;
    int rc;
    json_t *out;
};

static void do_migrate(struct at_engine *e, void *arg)
{
    struct migrate_req *m = arg;
    struct at_job *j = e->sched ? at_map_get(&e->jobs, m->id) : NULL;
    if (!e->sched) {
        snprintf(m->why, m->n, "this daemon has no cluster of nodes");
        m->rc = AT_EUNSUPPORTED;
        return;
    }
    if (!j) {
        snprintf(m->why, m->n, "no job %s in flight", m->id);
        m->rc = AT_ENOENT;
        return;
    }
    if ((m->rc = movable(j, m->why, m->n)))
        return;
    if (strcmp(j->sched_node, m->to) == 0) {
        snprintf(m->why, m->n, "job %s already runs on %s", j->rec.id, m->to);
        m->rc = AT_ESTATE;
        return;
    }
    char where[AT_SCHED_NAME_MAX];
    if ((m->rc = where_to(e, j, m->to, where, sizeof(where), m->why, m->n)))
        return;
    m->out = json_pack("{s:s,s:s,s:s,s:s}", "job_id", j->rec.id, "from", j->sched_node, "to", where,
                       "status", "migrated");
    at_job_ref(j);
    move(e, j, where, "atlas schedule migrate");
    at_job_unref(j);
}

int at_engine_migrate(struct at_engine *e, const char *job_id, const char *to, char *why, size_t n,
                      json_t **out)
{
    if (out)
        *out = NULL;
    if (why && n)
        why[0] = '\0';
    struct migrate_req m = {.id = job_id, .to = to, .why = why, .n = n};
    if (!to || !*to) {
        snprintf(why, n, "migrate needs the node to move the job to");
        return AT_EINVAL;
    }
    int rc = at__engine_call(e, do_migrate, &m);
    if (rc) {
        snprintf(why, n, "the engine is stopping");
        return rc;
    }
    if (out)
        *out = m.out;
    else
        json_decref(m.out);
    return m.rc;
}

struct migrate_node_req {
    const char *node;
    json_t *out;
};

static void do_migrate_node(struct at_engine *e, void *arg)
{
    struct migrate_node_req *m = arg;
    json_t *moved = json_array(), *kept = json_array();
    m->out = json_pack("{s:o,s:o}", "migrated", moved, "kept", kept);
    if (!e->sched)
        return;
    int n = 0, cap = 0;
    struct at_job **js = NULL;
    size_t it = 0;
    void *v;
    while (at_map_next(&e->jobs, &it, NULL, &v)) {
        struct at_job *j = v;
        if (!j->final && j->sched_held && !j->chain && j->rec.state == AT_JOB_RUNNING &&
            strcmp(j->sched_node, m->node) == 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                js = at_realloc(js, (size_t)cap * sizeof(*js));
            }
            js[n++] = at_job_ref(j);
        }
    }
    for (int i = 0; i < n; i++) {
        struct at_job *j = js[i];
        char why[1500], where[AT_SCHED_NAME_MAX];
        int rc = j->final ? AT_ESTATE : movable(j, why, sizeof(why));
        if (!rc)
            rc = where_to(e, j, NULL, where, sizeof(where), why, sizeof(why));
        if (rc) {
            if (!j->final)
                json_array_append_new(kept,
                                      json_pack("{s:s,s:s}", "job_id", j->rec.id, "why", why));
        } else {
            json_array_append_new(moved, json_pack("{s:s,s:s}", "job_id", j->rec.id, "to", where));
            move(e, j, where, "atlas node drain --migrate");
        }
        at_job_unref(j);
    }
    free(js);
}

int at_engine_migrate_node(struct at_engine *e, const char *node, json_t **out)
{
    struct migrate_node_req m = {.node = node};
    int rc = at__engine_call(e, do_migrate_node, &m);
    *out = m.out ? m.out : json_pack("{s:[],s:[]}", "migrated", "kept");
    return rc;
}
