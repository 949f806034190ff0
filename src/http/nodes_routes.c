/*
 * nodes_routes.c - the cluster's nodes (docs/scheduling.md "Nodes",
 * docs/api.md):
 *   GET    /api/v1/nodes                    every node (the control plane's own too)
 *   GET    /api/v1/nodes/{name}             its profile, reservations, connection
 *   GET    /api/v1/nodes/{name}/health      its last health report, heartbeat age
 *   POST   /api/v1/nodes/{name}/labels      {"key": "value", ...}: set labels
 *   POST   /api/v1/nodes/{name}/drain       no new work; drained once nothing runs;
 *                                           {"migrate": true}: running jobs that can
 *                                           move are migrated
 *   POST   /api/v1/nodes/{name}/undrain     ready again
 *   DELETE /api/v1/nodes/{name}             forget a remote node (nothing may run there)
 * and, for node agents (a token of role node):
 *   POST   /api/v1/nodes/register           {name, address, profile}: join
 *   GET    /api/v1/nodes/{name}/stream      SSE: `message` events, one per assignment
 *   POST   /api/v1/nodes/{name}/heartbeat   {health}
 *   POST   /api/v1/nodes/{name}/events      {events: [...]}: logs, results (engine.h)
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "sched/hub.h"
#include "sched/sched.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_BUFFER (64u << 20)

static int cluster(struct at_http_req *r, struct at_sched **s, struct at_hub **h)
{
    *s = at_sched_current();
    *h = at_hub_current();
    if (!*s || !*h) {
        at_http_reply_problem(r, AT_EUNSUPPORTED,
                              "this daemon is not a control plane (no cluster of nodes)", NULL,
                              NULL);
        return -1;
    }
    return 0;
}

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static void h_list(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    if (cluster(r, &s, &h))
        return;
    at_http_reply_json(r, 200, at_hub_nodes_json(s, h));
}

static int get_node(struct at_http_req *r, struct at_sched *s, struct at_sched_node *n)
{
    const char *name = at_http_param(r, "name");
    if (at_sched_get_node(s, name, n)) {
        at_sched_node_release(n);
        at_http_reply_missing(r, AT_ENOENT, "node", name, NULL);
        return -1;
    }
    return 0;
}

static void h_get(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    struct at_sched_node n;
    if (cluster(r, &s, &h) || get_node(r, s, &n))
        return;
    json_t *o = at_hub_node_json(h, &n);
    at_sched_node_release(&n);
    at_http_reply_json(r, 200, o);
}

static void h_health(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    if (cluster(r, &s, &h))
        return;
    const char *name = at_http_param(r, "name");
    json_t *o = at_hub_health_json(s, h, name);
    if (!o)
        at_http_reply_missing(r, AT_ENOENT, "node", name, NULL);
    else
        at_http_reply_json(r, 200, o);
}

static void h_labels(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    struct at_sched_node n;
    if (cluster(r, &s, &h) || get_node(r, s, &n))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body)) {
        at_sched_node_release(&n);
        return;
    }
    const char *k;
    json_t *v;
    int rc = json_is_object(body) && json_object_size(body) ? 0 : AT_EINVAL;
    json_object_foreach(body, k, v)
    {
        if (rc)
            break;
        rc = json_is_string(v) ? at_sched_set_label(s, n.name, k, json_string_value(v)) : AT_EINVAL;
    }
    json_decref(body);
    if (rc) {
        at_http_reply_problem(
            r, rc, "the body must be {\"key\": \"value\", ...} with short keys and values", NULL,
            NULL);
    } else {
        struct at_sched_node m;
        at_sched_get_node(s, n.name, &m);
        at_http_reply_json(r, 200, at_hub_node_json(h, &m));
        at_sched_node_release(&m);
        struct at_engine *e = at_http_api_of(r)->engine;
        if (e)
            at_engine_sched_kick(e);
    }
    at_sched_node_release(&n);
}

static void drain(struct at_http_req *r, int on)
{
    struct at_sched *s;
    struct at_hub *h;
    if (cluster(r, &s, &h))
        return;
    const char *name = at_http_param(r, "name");
    json_t *body = NULL;
    if (r->body.len && at_http_body_json(r, 0, &body))
        return;
    int migrate = json_is_true(json_object_get(body, "migrate"));
    json_decref(body);
    if (migrate && !on) {
        at_http_reply_problem(r, AT_EINVAL, "migrate goes with drain, not undrain", "/migrate",
                              NULL);
        return;
    }
    json_t *o;
    if (at_hub_drain(s, name, on, &o)) {
        at_http_reply_missing(r, AT_ENOENT, "node", name, NULL);
        return;
    }
    struct at_engine *e = at_http_api_of(r)->engine;
    if (migrate && e) {
        json_t *m = NULL;
        at_engine_migrate_node(e, name, &m);
        json_object_update(o, m);
        json_decref(m);
    }
    at_info("sched", "node %s: %s%s (%s)", name, on ? "drain" : "undrain",
            migrate ? " --migrate" : "", json_string_value(json_object_get(o, "status")));
    char detail[200];
    snprintf(detail, sizeof(detail), "%s%s", name, migrate ? " (migrate)" : "");
    at_http_audit(r, on ? "node.drain" : "node.undrain", "ok", "admin", detail);
    if (e)
        at_engine_sched_kick(e);
    at_http_reply_json(r, 200, o);
}

static void h_drain(struct at_http_req *r)
{
    drain(r, 1);
}

static void h_undrain(struct at_http_req *r)
{
    drain(r, 0);
}

static void h_remove(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    struct at_sched_node n;
    if (cluster(r, &s, &h) || get_node(r, s, &n))
        return;
    if (!at_hub_known(h, n.name)) {
        at_http_reply_problem(r, AT_EPERM,
                              "this is the control plane's own node: it cannot be removed (drain "
                              "it to keep work off it)",
                              NULL, NULL);
    } else if (n.nresv > 0) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "node %s still runs %d job(s): drain it (atlas node drain %s) and wait until it "
                 "is drained",
                 n.name, n.nresv, n.name);
        at_http_reply_problem(r, AT_ESTATE, msg, NULL, NULL);
    } else {
        json_t *bye = json_pack("{s:s}", "type", "removed"); /* the node stops */
        at_hub_send(h, n.name, bye);
        json_decref(bye);
        at_hub_remove(h, n.name);
        at_sched_remove_node(s, n.name);
        at_http_audit(r, "node.remove", "ok", "admin", n.name);
        at_http_reply_json(r, 200, json_pack("{s:s,s:b}", "name", n.name, "removed", 1));
    }
    at_sched_node_release(&n);
}

/* ---- node agents ---- */

/* May r's caller act for node `name`?  A token of role node is bound to
 * one node (at creation, or the first it joins as: token.h) and is
 * refused, audited, for any other.  0, or -1 with r answered (403). */
static int acts_for(struct at_http_req *r, const char *name)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (r->who_kind != AT_WHO_USER || strncmp(r->who_id, "t:", 2) != 0 || !api->security ||
        !api->security->tokens)
        return 0; /* the Unix socket (the local administrator) */
    char bound[AT_SCHED_NAME_MAX];
    int first = 0;
    int rc = at_tokens_bind_node(api->security->tokens, r->who_id + 2, name, bound, sizeof(bound),
                                 &first);
    if (rc == AT_EPERM) {
        char msg[300];
        snprintf(msg, sizeof(msg), "token \"%s\" is bound to node %s: it cannot act for node %s",
                 r->who, bound, name);
        at_warn("sched", "%s (%s %s)", msg, r->method, r->path);
        at_http_audit(r, "node.denied", "denied", "node", msg);
        at_http_reply_problem(r, AT_EPERM, msg, NULL, NULL);
        return -1;
    }
    if (rc) {
        at_http_reply_problem(r, rc, "cannot bind the token to the node", NULL, NULL);
        return -1;
    }
    if (first) {
        char msg[300];
        snprintf(msg, sizeof(msg), "token \"%s\" is bound to node %s from now on", r->who, name);
        at_info("sched", "%s", msg);
        at_http_audit(r, "node.bind", "ok", "node", msg);
    }
    return 0;
}

static void h_register(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    if (cluster(r, &s, &h))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *address = json_string_value(json_object_get(body, "address"));
    if (!name_ok(name)) {
        at_http_reply_problem(r, AT_EINVAL,
                              "name must be 1-63 characters of letters, digits, '-', '_', '.'",
                              "/name", NULL);
        json_decref(body);
        return;
    }
    if (acts_for(r, name)) {
        json_decref(body);
        return;
    }
    struct at_sched_node old;
    int existed = at_sched_get_node(s, name, &old) == 0;
    if (existed && !at_hub_known(h, name)) {
        at_sched_node_release(&old);
        char msg[300];
        snprintf(msg, sizeof(msg), "node name \"%s\" is the control plane's own: pick another",
                 name);
        at_http_reply_problem(r, AT_EEXIST, msg, "/name", NULL);
        json_decref(body);
        return;
    }
    struct at_sched_node n;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_hub_node_from_profile(&n, name, json_object_get(body, "profile"), &d);
    if (rc) {
        at_sched_node_release(&old);
        at_http_reply_problem(r, rc, d.msg, d.pointer[0] ? d.pointer : "/profile", NULL);
        json_decref(body);
        return;
    }
    if (existed) {
        /* labels set with `atlas node label` and a drain outlive a rejoin */
        for (int i = 0; i < old.nlabels; i++)
            if (!at_sched_node_label(&n, old.labels[i].key))
                at_sched_node_set_label(&n, old.labels[i].key, old.labels[i].value);
        if (old.state == AT_SCHED_DRAINING || old.state == AT_SCHED_DRAINED ||
            old.state == AT_SCHED_UNHEALTHY)
            n.state = old.state; /* unhealthy: the liveness check says when it is back */
    }
    at_sched_node_release(&old);
    at_sched_put_node(s, &n);
    at_sched_node_release(&n);
    int joins = at_hub_join(h, name, address, json_object_get(body, "profile"));
    struct at_hub_policy hp;
    at_hub_get_policy(h, &hp);
    double hb = hp.detection_timeout_s > 0 ? hp.detection_timeout_s / 4 : 5;
    if (hb > 5)
        hb = 5;
    if (hb < 0.1)
        hb = 0.1;
    at_info("sched", "node %s joined from %s (%d)", name, address ? address : "?", joins);
    at_http_audit(r, "node.join", "ok", "node", name);
    struct at_engine *e = at_http_api_of(r)->engine;
    if (e)
        at_engine_sched_kick(e);
    at_http_reply_json(r, 200,
                       json_pack("{s:s,s:i,s:i,s:f}", "name", name, "joins", joins, "heartbeat_ms",
                                 (int)(hb * 1000), "detection_timeout_s", hp.detection_timeout_s));
    json_decref(body);
}

struct nstream {
    atomic_int refs;
    struct at_http_stream *st;
    struct at_hub *h;
    char name[AT_SCHED_NAME_MAX];
};

static void ns_unref(struct nstream *ns)
{
    if (atomic_fetch_sub(&ns->refs, 1) == 1) {
        at_http_stream_unref(ns->st);
        free(ns);
    }
}

static int ns_sink(void *arg, const char *text, size_t len)
{
    struct nstream *ns = arg;
    char *ev = at_asprintf("event: message\ndata: %.*s\n\n", (int)len, text);
    int rc = at_http_stream_write(ns->st, ev, strlen(ev));
    free(ev);
    return rc;
}

static void ns_closed(void *arg)
{
    struct nstream *ns = arg;
    at_hub_detach(ns->h, ns->name, ns);
    at_info("sched", "node %s: its stream closed", ns->name);
    ns_unref(ns);
}

static void h_stream(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    if (cluster(r, &s, &h))
        return;
    const char *name = at_http_param(r, "name");
    if (acts_for(r, name))
        return;
    if (!at_hub_known(h, name)) {
        at_http_reply_problem(r, AT_ENOENT, "no such node: register first", NULL, NULL);
        return;
    }
    struct nstream *ns = at_calloc(1, sizeof(*ns));
    atomic_init(&ns->refs, 2);
    ns->h = h;
    snprintf(ns->name, sizeof(ns->name), "%s", name);
    ns->st = at_http_stream_start(r, 200, "text/event-stream", STREAM_BUFFER, ns_closed, ns);
    at_http_stream_set_sse(ns->st);
    const char *hello = ": connected\n\n";
    at_http_stream_write(ns->st, hello, strlen(hello));
    at_hub_attach(h, name, ns_sink, ns);
    ns_unref(ns); /* the handler's; the stream's is dropped in ns_closed */
}

static void h_heartbeat(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    if (cluster(r, &s, &h))
        return;
    const char *name = at_http_param(r, "name");
    if (acts_for(r, name))
        return;
    json_t *body;
    if (at_http_body_json(r, 1, &body))
        return;
    int rc = at_hub_heartbeat(h, name, json_object_get(body, "health"));
    json_decref(body);
    if (rc) {
        at_http_reply_problem(r, AT_ENOENT, "no such node: register again", NULL, NULL);
        return;
    }
    struct at_sched_node n;
    at_sched_get_node(s, name, &n);
    json_t *o = json_pack("{s:s,s:s}", "name", name, "status", at_sched_state_name(n.state));
    at_sched_node_release(&n);
    at_http_reply_json(r, 200, o);
}

static void h_events(struct at_http_req *r)
{
    struct at_sched *s;
    struct at_hub *h;
    if (cluster(r, &s, &h))
        return;
    const char *name = at_http_param(r, "name");
    if (acts_for(r, name))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    json_t *events = json_object_get(body, "events");
    if (!json_is_array(events)) {
        at_http_reply_problem(r, AT_EINVAL, "the body must be {\"events\": [...]}", "/events",
                              NULL);
    } else if (at_hub_heartbeat(h, name, NULL)) {
        at_http_reply_problem(r, AT_ENOENT, "no such node: register again", NULL, NULL);
    } else {
        at_engine_node_events(at_http_api_of(r)->engine, name, events);
        at_http_reply_json(r, 200,
                           json_pack("{s:I}", "accepted", (json_int_t)json_array_size(events)));
    }
    json_decref(body);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/nodes", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/nodes/register", h_register, AT_HTTP_NEED_NODE, 0, 0, NULL},
    {"GET", AT_HTTP_API "/nodes/{name}", h_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"DELETE", AT_HTTP_API "/nodes/{name}", h_remove, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"GET", AT_HTTP_API "/nodes/{name}/health", h_health, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/nodes/{name}/labels", h_labels, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/nodes/{name}/drain", h_drain, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/nodes/{name}/undrain", h_undrain, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"GET", AT_HTTP_API "/nodes/{name}/stream", h_stream, AT_HTTP_NEED_NODE, 0, 0, NULL},
    {"POST", AT_HTTP_API "/nodes/{name}/heartbeat", h_heartbeat, AT_HTTP_NEED_NODE, 0, 0, NULL},
    {"POST", AT_HTTP_API "/nodes/{name}/events", h_events, AT_HTTP_NEED_NODE, 0, 64u << 20, NULL},
};

int at_http_nodes_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
