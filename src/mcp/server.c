/*
 * server.c - request admission (revision, session, token), method dispatch,
 * pending calls, server-initiated notifications.
 *
 * References: MCP 2025-11-25 basic/lifecycle, basic/transports
 * (sessions, protocol version header), basic/utilities (ping,
 * cancellation, progress), server/utilities/logging; MCP 2026-07-28
 * (server/discover, per-request _meta, standard headers, cacheable lists).
 */
#include "mcp/internal.h"
#include "monitor/monitor.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/str.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSTRUCTIONS                                                                               \
    "Atlas runs AI agents. Every registered agent is a tool named like the agent: its "            \
    "arguments are the agent's input, its structuredContent the agent's output. Tools named "      \
    "atlas.* are platform capabilities (registry, execution, queue, monitoring)."

/* ---- lifecycle ---- */

static void notify_subs(struct at_mcp *m, const char *method, const char *uri);
static void notify_session_subscribers(struct at_mcp *m, const char *uri);

static void on_registry_change(void *arg, enum at_reg_event ev, const char *name,
                               const char *version)
{
    (void)ev;
    (void)name;
    (void)version;
    struct at_mcp *m = arg;
    atomic_fetch_add(&m->reg_gen, 1);
    if (atomic_load(&m->stopping))
        return;
    /* MCP 2025-11-25 server/tools "List Changed Notification" */
    at__mcp_notify_sessions(m, "notifications/tools/list_changed");
    at__mcp_notify_sessions(m, "notifications/resources/list_changed");
    at__mcp_notify_sessions(m, "notifications/prompts/list_changed");
    if (name) {
        /* the agent's contract resource changed (a new latest version, or
         * gone): subscriptions/listen streams that asked for it hear so */
        char uri[300];
        snprintf(uri, sizeof(uri), "atlas://agents/%s/contract", name);
        notify_subs(m, "notifications/resources/updated", uri);
        notify_session_subscribers(m, uri);
        if (version) {
            snprintf(uri, sizeof(uri), "atlas://agents/%s:%s/contract", name, version);
            notify_subs(m, "notifications/resources/updated", uri);
            notify_session_subscribers(m, uri);
        }
    }
}

int at_mcp_new(const struct at_mcp_cfg *cfg, struct at_mcp **out)
{
    struct at_mcp *m = at_calloc(1, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->cfg = *cfg;
    if (!m->cfg.page_size)
        m->cfg.page_size = 100;
    at_mcp_sessions_init(&m->sessions, cfg->max_sessions, cfg->session_idle_ms);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->cache_mu, NULL);
    at_map_init(&m->calls);
    at_map_init(&m->listeners);
    at_map_init(&m->outbound);
    if (cfg->registry) {
        int rc = at_registry_add_listener(cfg->registry, on_registry_change, m);
        if (rc) {
            at_mcp_free(m);
            return rc;
        }
    }
    *out = m;
    return 0;
}

static void sub_free_all(struct at__mcp_sub *s)
{
    while (s) {
        struct at__mcp_sub *next = s->next;
        s->chan->ops->unref(s->chan);
        json_decref(s->id);
        json_decref(s->uris);
        free(s);
        s = next;
    }
}

static void mcp_unref(struct at_mcp *m)
{
    if (atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    at_map_release(&m->listeners);
    at_map_release(&m->calls);
    at_map_release(&m->outbound);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->cache_mu);
    free(m->list_cache);
    free(m);
}

void at_mcp_free(struct at_mcp *m)
{
    if (!m)
        return;
    /* calls still pending keep m (not its sessions) until their jobs end */
    atomic_store(&m->stopping, 1);
    at_mcp_sessions_release(&m->sessions);
    pthread_mutex_lock(&m->mu);
    size_t it = 0;
    void *v;
    while (at_map_next(&m->listeners, &it, NULL, &v)) {
        struct at_mcp_chan *c = v;
        c->ops->unref(c);
    }
    at_map_release(&m->listeners);
    at_map_init(&m->listeners);
    it = 0;
    while (at_map_next(&m->outbound, &it, NULL, &v)) {
        struct at__mcp_outreq *o = v;
        if (o->agent_chan)
            o->agent_chan->ops->unref(o->agent_chan);
        json_decref(o->agent_id);
        free(o);
    }
    at_map_release(&m->outbound);
    at_map_init(&m->outbound);
    struct at__mcp_sub *subs = m->subs;
    m->subs = NULL;
    m->nsubs = 0;
    pthread_mutex_unlock(&m->mu);
    sub_free_all(subs);
    mcp_unref(m);
}

struct at_mcp_sessions *at_mcp_sessions(struct at_mcp *m)
{
    return &m->sessions;
}

void at_mcp_get_stats(struct at_mcp *m, struct at_mcp_stats *st)
{
    st->requests = atomic_load(&m->n_requests);
    st->notifications = atomic_load(&m->n_notifications);
    st->errors = atomic_load(&m->n_errors);
    st->tool_calls = atomic_load(&m->n_tool_calls);
    st->pending = (unsigned long long)atomic_load(&m->n_pending);
    st->sessions = at_mcp_sessions_count(&m->sessions);
}

void at_mcp_answer_release(struct at_mcp_answer *a)
{
    json_decref(a->body);
    free(a->body_text);
    at_mcp_session_unref(a->session);
    memset(a, 0, sizeof(*a));
}

/* ---- pending calls ---- */

struct at__mcp_call *at__mcp_call_new(struct at_mcp *m, struct at_mcp_chan *chan, const json_t *id,
                                      const struct at__mcp_caller *c, const json_t *progress_token)
{
    struct at__mcp_call *call = at_calloc(1, sizeof(*call));
    atomic_init(&call->refs, 1);
    call->m = m;
    chan->ops->ref(chan);
    call->chan = chan;
    call->id = json_deep_copy(id);
    call->progress_token = progress_token ? json_deep_copy(progress_token) : NULL;
    call->log_level = c->log_level;
    call->stateless = c->stateless;
    pthread_mutex_init(&call->mu, NULL);
    char idk[120];
    at_mcp_id_key(id, idk, sizeof(idk));
    snprintf(call->key, sizeof(call->key), "%s|%s", c->session ? c->session->id : "-", idk);
    if (c->session)
        snprintf(call->session_id, sizeof(call->session_id), "%s", c->session->id);
    atomic_fetch_add(&m->n_pending, 1);
    atomic_fetch_add(&m->refs, 1);
    return call;
}

void at__mcp_call_unref(struct at__mcp_call *call)
{
    if (!call || atomic_fetch_sub(&call->refs, 1) != 1)
        return;
    atomic_fetch_sub(&call->m->n_pending, 1);
    call->chan->ops->unref(call->chan);
    json_decref(call->id);
    json_decref(call->progress_token);
    json_decref(call->buffered);
    json_decref(call->trace);
    pthread_mutex_destroy(&call->mu);
    struct at_mcp *m = call->m;
    free(call);
    mcp_unref(m);
}

void at__mcp_call_register(struct at__mcp_call *call)
{
    struct at_mcp *m = call->m;
    pthread_mutex_lock(&call->mu);
    if (!call->answered) {
        pthread_mutex_lock(&m->mu);
        /* a client reusing an id of a pending request replaces the older entry */
        at_map_put(&m->calls, call->key, call);
        pthread_mutex_unlock(&m->mu);
    }
    pthread_mutex_unlock(&call->mu);
}

void at__mcp_call_forget(struct at__mcp_call *call)
{
    struct at_mcp *m = call->m;
    pthread_mutex_lock(&call->mu);
    call->answered = 1;
    pthread_mutex_unlock(&call->mu);
    pthread_mutex_lock(&m->mu);
    if (at_map_get(&m->calls, call->key) == call)
        at_map_del(&m->calls, call->key);
    pthread_mutex_unlock(&m->mu);
}

void at__mcp_call_finish(struct at__mcp_call *call, json_t *result)
{
    struct at_mcp *m = call->m;
    pthread_mutex_lock(&call->mu);
    int first = !call->answered;
    call->answered = 1;
    pthread_mutex_unlock(&call->mu);
    if (!first) {
        json_decref(result);
        return;
    }
    pthread_mutex_lock(&m->mu);
    if (at_map_get(&m->calls, call->key) == call)
        at_map_del(&m->calls, call->key);
    pthread_mutex_unlock(&m->mu);
    if (call->span_tool[0] && m->cfg.monitor)
        at_monitor_tool_span(m->cfg.monitor, call->span_job, call->span_root, call->span_tool,
                             call->span_started_ms, at_wall_ms() - call->span_started_ms,
                             json_is_true(json_object_get(result, "isError")) ? "failed"
                                                                              : "completed");
    if (call->stateless && json_is_object(result))
        json_object_set_new(result, "resultType", json_string("complete"));
    call->chan->ops->send(call->chan, at_mcp_result(call->id, result), 1);
}

void at_mcp_cancel_chan(struct at_mcp *m, struct at_mcp_chan *chan)
{
    /* a stateless client that goes away cancels its request (2026-07-28
     * has no notifications/cancelled without a session to carry it) */
    char ids[16][AT_ID_MAX];
    size_t n = 0;
    struct at__mcp_sub *gone = NULL;
    pthread_mutex_lock(&m->mu);
    for (struct at__mcp_sub **pp = &m->subs; *pp;) {
        struct at__mcp_sub *sub = *pp;
        if (sub->chan != chan) {
            pp = &sub->next;
            continue;
        }
        /* a listen stream the client closed (MCP 2026-07-28: its cancel) */
        *pp = sub->next;
        m->nsubs--;
        sub->next = gone;
        gone = sub;
    }
    size_t it = 0;
    void *v;
    while (n < 16 && at_map_next(&m->calls, &it, NULL, &v)) {
        struct at__mcp_call *call = v;
        if (call->chan == chan && call->stateless && call->job_id[0])
            snprintf(ids[n++], AT_ID_MAX, "%s", call->job_id);
    }
    pthread_mutex_unlock(&m->mu);
    sub_free_all(gone);
    for (size_t i = 0; i < n; i++)
        at_engine_cancel(m->cfg.engine, ids[i], "the MCP client went away");
}

static void cancel_request(struct at_mcp *m, const struct at__mcp_caller *c, const json_t *rid,
                           const char *reason)
{
    /* ids name requests only within a session: a client without one
     * (stateless 2026-07-28) cancels by closing the request's stream, so
     * one client can never cancel another's request by guessing its id */
    if (!c->session)
        return;
    char idk[120], key[200], job[AT_ID_MAX] = "";
    at_mcp_id_key(rid, idk, sizeof(idk));
    snprintf(key, sizeof(key), "%s|%s", c->session ? c->session->id : "-", idk);
    pthread_mutex_lock(&m->mu);
    struct at__mcp_call *call = at_map_get(&m->calls, key);
    if (call)
        snprintf(job, sizeof(job), "%s", call->job_id);
    pthread_mutex_unlock(&m->mu);
    /* MCP 2025-11-25 basic/utilities/cancellation: unknown or finished
     * requests are ignored */
    if (job[0])
        at_engine_cancel(m->cfg.engine, job,
                         reason && *reason ? reason : "cancelled by the MCP client");
}

/* ---- requests relayed from agents to their caller ----
 *
 * An agent that needs its caller to sample a model, ask the user
 * (elicitation) or list roots sends the request to ATLAS_MCP_URL with its
 * job token.  Atlas forwards it, with an id of its own, on the stream of
 * the tools/call that started the job (or its job tree), and answers the
 * agent with the client's response (MCP 2025-11-25 client/sampling,
 * client/elicitation, client/roots: server-to-client requests travel on
 * the SSE stream of a related client request). */

static void fail(struct at_mcp_answer *ans, int status, const json_t *id, int code, const char *msg,
                 json_t *data);

static int relay_method(const char *method)
{
    return !strcmp(method, "sampling/createMessage") || !strcmp(method, "elicitation/create") ||
           !strcmp(method, "roots/list");
}

static int client_has(struct at_mcp *m, const char *sid, const char *method)
{
    struct at_mcp_session *s = at_mcp_session_find(&m->sessions, sid);
    if (!s)
        return 0;
    const char *cap = !strncmp(method, "sampling", 8)       ? "sampling"
                      : !strncmp(method, "elicitation", 11) ? "elicitation"
                                                            : "roots";
    pthread_mutex_lock(&s->mu);
    int ok = json_object_get(s->client_caps, cap) != NULL;
    pthread_mutex_unlock(&s->mu);
    at_mcp_session_unref(s);
    return ok;
}

static void relay_request(struct at_mcp *m, const struct at__mcp_caller *c,
                          const struct at_mcp_msg *msg, struct at_mcp_chan *chan,
                          struct at_mcp_answer *ans)
{
    if (!c->has_token) {
        fail(ans, 200, msg->id, AT_MCP_METHOD_NOT_FOUND,
             "only agents (with a job token) may ask their caller", NULL);
        return;
    }
    struct at_mcp_chan *target = NULL;
    char sid[AT_MCP_SESSION_ID_MAX] = "";
    pthread_mutex_lock(&m->mu);
    size_t it = 0;
    void *v;
    while (at_map_next(&m->calls, &it, NULL, &v)) {
        struct at__mcp_call *call = v;
        if (call->session_id[0] &&
            (!strcmp(call->job_id, c->tok.job_id) || !strcmp(call->job_id, c->tok.root_id))) {
            target = call->chan;
            target->ops->ref(target);
            snprintf(sid, sizeof(sid), "%s", call->session_id);
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (!target || !client_has(m, sid, msg->method)) {
        if (target)
            target->ops->unref(target);
        fail(ans, 200, msg->id, AT_MCP_METHOD_NOT_FOUND,
             "no MCP client to ask: the job was not started by an MCP client session that "
             "declared this capability",
             NULL);
        return;
    }
    long long id = atomic_fetch_add(&m->next_id, 1) + 1;
    char key[200];
    snprintf(key, sizeof(key), "%s|n:%lld", sid, id);
    struct at__mcp_outreq *o = at_calloc(1, sizeof(*o));
    chan->ops->ref(chan);
    o->agent_chan = chan;
    o->agent_id = json_deep_copy(msg->id);
    pthread_mutex_lock(&m->mu);
    at_map_put(&m->outbound, key, o);
    pthread_mutex_unlock(&m->mu);
    json_t *params = msg->params ? json_deep_copy(msg->params) : json_object();
    json_object_del(params, "_meta"); /* the agent's envelope is not the client's business */
    if (target->ops->send(target, at_mcp_request(id, msg->method, params), 0)) {
        pthread_mutex_lock(&m->mu);
        o = at_map_del(&m->outbound, key);
        pthread_mutex_unlock(&m->mu);
        if (o) {
            o->agent_chan->ops->unref(o->agent_chan);
            json_decref(o->agent_id);
            free(o);
        }
        target->ops->unref(target);
        fail(ans, 200, msg->id, AT_MCP_INTERNAL_ERROR, "the MCP client's stream is gone", NULL);
        return;
    }
    target->ops->unref(target);
    ans->pending = 1;
}

int at__mcp_ask_client(struct at_mcp *m, struct at__mcp_call *call, const json_t *question)
{
    /* MCP 2025-11-25 client/elicitation: a server-to-client request on the
     * stream of the related request, to a client that declared it; a
     * stateless (2026-07-28) caller would need an input_required result,
     * which is not supported yet: its question waits for the API */
    if (!call->session_id[0] || !client_has(m, call->session_id, "elicitation/create"))
        return AT_EUNSUPPORTED;
    long long id = atomic_fetch_add(&m->next_id, 1) + 1;
    char key[200];
    snprintf(key, sizeof(key), "%s|n:%lld", call->session_id, id);
    struct at__mcp_outreq *o = at_calloc(1, sizeof(*o));
    snprintf(o->job_id, sizeof(o->job_id), "%s", call->job_id);
    pthread_mutex_lock(&m->mu);
    at_map_put(&m->outbound, key, o);
    pthread_mutex_unlock(&m->mu);
    const char *text = json_string_value(json_object_get(question, "message"));
    const json_t *schema = json_object_get(question, "requestedSchema");
    json_t *params = json_pack(
        "{s:s,s:o}", "message", text ? text : "the agent asks for input", "requestedSchema",
        json_is_object(schema) ? json_deep_copy(schema)
                               : json_pack("{s:s,s:{}}", "type", "object", "properties"));
    if (call->chan->ops->send(call->chan, at_mcp_request(id, "elicitation/create", params), 0)) {
        pthread_mutex_lock(&m->mu);
        o = at_map_del(&m->outbound, key);
        pthread_mutex_unlock(&m->mu);
        free(o);
        return AT_ECONN;
    }
    return 0;
}

static void relay_response(struct at_mcp *m, const struct at__mcp_caller *c,
                           const struct at_mcp_msg *msg)
{
    if (!c->session)
        return;
    char idk[120], key[200];
    at_mcp_id_key(msg->id, idk, sizeof(idk));
    snprintf(key, sizeof(key), "%s|%s", c->session->id, idk);
    pthread_mutex_lock(&m->mu);
    struct at__mcp_outreq *o = at_map_del(&m->outbound, key);
    pthread_mutex_unlock(&m->mu);
    if (!o)
        return;
    if (o->job_id[0]) {
        /* the answer to a job's question: the path of POST
         * /api/v1/jobs/ID/input; an error answer is a cancel */
        json_t *res = json_is_object(msg->result) ? json_incref(msg->result)
                                                  : json_pack("{s:s}", "action", "cancel");
        struct at_diag d;
        at_diag_clear(&d);
        if (m->cfg.engine && at_engine_input_answer(m->cfg.engine, o->job_id, res, &d))
            at_log(AT_LOG_INFO, "mcp", "the MCP client's answer to job %s was not taken: %s",
                   o->job_id, d.msg);
        json_decref(res);
        free(o);
        return;
    }
    json_t *reply;
    if (msg->result) {
        reply = at_mcp_result(o->agent_id, json_incref(msg->result));
    } else {
        json_t *data = json_object_get(msg->error, "data");
        reply =
            at_mcp_error(o->agent_id, (int)json_integer_value(json_object_get(msg->error, "code")),
                         json_string_value(json_object_get(msg->error, "message")),
                         data ? json_incref(data) : NULL);
    }
    o->agent_chan->ops->send(o->agent_chan, reply, 1);
    o->agent_chan->ops->unref(o->agent_chan);
    json_decref(o->agent_id);
    free(o);
}

/* ---- server-initiated messages ---- */

/* Stamp a notification for one listen stream (MCP 2026-07-28: every
 * message on it carries the listen request's id as the subscription id). */
static json_t *sub_notification(const char *method, const json_t *id, const char *uri)
{
    json_t *params = json_pack("{s:{s:O}}", "_meta", AT_MCP_META_SUBSCRIPTION, id);
    if (uri)
        json_object_set_new(params, "uri", json_string(uri));
    return at_mcp_notification(method, params);
}

static unsigned sub_kind(const char *method)
{
    if (!strcmp(method, "notifications/tools/list_changed"))
        return AT__MCP_SUB_TOOLS;
    if (!strcmp(method, "notifications/prompts/list_changed"))
        return AT__MCP_SUB_PROMPTS;
    if (!strcmp(method, "notifications/resources/list_changed"))
        return AT__MCP_SUB_RESOURCES;
    return 0;
}

static int sub_wants(const struct at__mcp_sub *sub, unsigned kind, const char *uri)
{
    if (!uri)
        return (sub->kinds & kind) != 0;
    size_t i;
    json_t *u;
    json_array_foreach(sub->uris, i, u) if (!strcmp(json_string_value(u), uri)) return 1;
    return 0;
}

/* Send method (a list_changed, or resources/updated of uri) to the listen
 * streams whose filter asked for it, and to no other (the spec's MUST). */
static void notify_subs(struct at_mcp *m, const char *method, const char *uri)
{
    unsigned kind = sub_kind(method);
    pthread_mutex_lock(&m->mu);
    size_t n = 0;
    struct at_mcp_chan **chans = at_calloc(m->nsubs ? m->nsubs : 1, sizeof(*chans));
    json_t **ids = at_calloc(m->nsubs ? m->nsubs : 1, sizeof(*ids));
    for (struct at__mcp_sub *sub = m->subs; sub; sub = sub->next) {
        if (!sub_wants(sub, kind, uri))
            continue;
        sub->chan->ops->ref(sub->chan);
        chans[n] = sub->chan;
        ids[n++] = json_incref(sub->id);
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n; i++) {
        chans[i]->ops->send(chans[i], sub_notification(method, ids[i], uri), 0);
        chans[i]->ops->unref(chans[i]);
        json_decref(ids[i]);
    }
    free(chans);
    free(ids);
}

/* MCP 2025-11-25 server/resources "Subscriptions": the sessions that
 * subscribed to uri (resources/subscribe) hear notifications/resources/
 * updated on their GET stream (sessions without one cannot be told). */
static void notify_session_subscribers(struct at_mcp *m, const char *uri)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->listeners.len, k = 0;
    struct at_mcp_chan **chans = at_calloc(n ? n : 1, sizeof(*chans));
    char(*sids)[AT_MCP_SESSION_ID_MAX] = at_calloc(n ? n : 1, sizeof(*sids));
    size_t it = 0;
    const char *key;
    void *v;
    while (k < n && at_map_next(&m->listeners, &it, &key, &v)) {
        struct at_mcp_chan *c = v;
        c->ops->ref(c);
        snprintf(sids[k], sizeof(sids[k]), "%s", key);
        chans[k++] = c;
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < k; i++) {
        struct at_mcp_session *s = at_mcp_session_find(&m->sessions, sids[i]);
        int wants = 0;
        if (s) {
            pthread_mutex_lock(&s->mu);
            wants = s->subscriptions && json_object_get(s->subscriptions, uri);
            pthread_mutex_unlock(&s->mu);
            at_mcp_session_unref(s);
        }
        if (wants)
            chans[i]->ops->send(chans[i],
                                at_mcp_notification("notifications/resources/updated",
                                                    json_pack("{s:s}", "uri", uri)),
                                0);
        chans[i]->ops->unref(chans[i]);
    }
    free(chans);
    free(sids);
}

void at__mcp_notify_sessions(struct at_mcp *m, const char *method)
{
    notify_subs(m, method, NULL);
    /* only sessions with a GET stream can hear notifications that belong
     * to no request (MCP 2025-11-25 basic/transports) */
    pthread_mutex_lock(&m->mu);
    size_t n = m->listeners.len, k = 0;
    struct at_mcp_chan **chans = at_calloc(n ? n : 1, sizeof(*chans));
    size_t it = 0;
    void *v;
    while (k < n && at_map_next(&m->listeners, &it, NULL, &v)) {
        struct at_mcp_chan *c = v;
        c->ops->ref(c);
        chans[k++] = c;
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < k; i++) {
        chans[i]->ops->send(chans[i], at_mcp_notification(method, NULL), 0);
        chans[i]->ops->unref(chans[i]);
    }
    free(chans);
}

/* ---- admission ---- */

static void fail(struct at_mcp_answer *ans, int status, const json_t *id, int code, const char *msg,
                 json_t *data)
{
    ans->status = status;
    json_decref(ans->body);
    ans->body = at_mcp_error(id, code, msg, data);
}

static json_t *unsupported_data(const char *requested)
{
    return json_pack("{s:o,s:s}", "supported", at_mcp_versions_json(0), "requested",
                     requested ? requested : "");
}

/* A standard header's value equals want (MCP 2026-07-28: values that are
 * not ASCII come as =?base64?...?=; RFC 9110 §5.5: the optional whitespace
 * around a field value is not part of it). */
static int header_is(const char *hdr, const char *want)
{
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    size_t n = strlen(hdr);
    while (n > 0 && (hdr[n - 1] == ' ' || hdr[n - 1] == '\t'))
        n--;
    char v[2048];
    if (n >= sizeof(v))
        return 0;
    memcpy(v, hdr, n);
    v[n] = '\0';
    if (strncmp(v, "=?base64?", 9) != 0)
        return strcmp(v, want) == 0;
    char d[2048];
    return at_mcp_header_decode(v, d, sizeof(d)) == 0 && strcmp(d, want) == 0;
}

/* MCP 2026-07-28 standard headers: Mcp-Method is required and equals the
 * body's method; Mcp-Name is required for tools/call and prompts/get
 * (params.name) and resources/read (params.uri) and equals it.  Else 400
 * with HeaderMismatch (-32020). */
static int check_headers(const struct at_mcp_ctx *ctx, const struct at_mcp_msg *msg,
                         struct at_mcp_answer *ans)
{
    if (!ctx->method_header || !header_is(ctx->method_header, msg->method)) {
        char text[300];
        if (!ctx->method_header)
            snprintf(text, sizeof(text), "the Mcp-Method header is missing");
        else
            snprintf(text, sizeof(text),
                     "Mcp-Method header \"%.100s\" does not match the body's "
                     "method \"%.100s\"",
                     ctx->method_header, msg->method);
        fail(ans, 400, msg->id, AT_MCP_HEADER_MISMATCH, text, NULL);
        return -1;
    }
    const char *field = NULL;
    if (!strcmp(msg->method, "tools/call") || !strcmp(msg->method, "prompts/get"))
        field = "name";
    else if (!strcmp(msg->method, "resources/read"))
        field = "uri";
    else if (!strcmp(msg->method, "tasks/get") || !strcmp(msg->method, "tasks/update") ||
             !strcmp(msg->method, "tasks/cancel"))
        field = "taskId"; /* SEP-2663 "Streamable HTTP: Routing Headers" */
    const char *v = field ? json_string_value(json_object_get(msg->params, field)) : NULL;
    if (field && (ctx->name_header || v)) {
        /* MCP 2026-07-28: a name that is not ASCII comes base64-encoded */
        if (!ctx->name_header || !v || !header_is(ctx->name_header, v)) {
            char text[300];
            if (!ctx->name_header)
                snprintf(text, sizeof(text), "the Mcp-Name header is missing (params.%s)", field);
            else
                snprintf(text, sizeof(text), "Mcp-Name header \"%.100s\" does not match params.%s",
                         ctx->name_header, field);
            fail(ans, 400, msg->id, AT_MCP_HEADER_MISMATCH, text, NULL);
            return -1;
        }
    }
    return 0;
}

int at__mcp_platform_allowed(const struct at__mcp_caller *c)
{
    /* agents by their contract; users admitted by the security layer by
     * their role, tool by tool (at__mcp_user_may) */
    /* a user narrowed to named agents gets their tools only: the platform
     * tools reach every agent and job */
    return c->has_token ? c->tok.platform_tools : c->loopback && !c->agents[0];
}

/* Fill the caller from the context.  Returns 0, or -1 with ans set. */
static int admit(struct at_mcp *m, const struct at_mcp_ctx *ctx, const struct at_mcp_msg *msg,
                 struct at__mcp_caller *c, struct at_mcp_answer *ans)
{
    memset(c, 0, sizeof(*c));
    c->loopback = ctx->loopback;
    c->granted = ctx->granted;
    snprintf(c->who, sizeof(c->who), "%s", ctx->who ? ctx->who : "");
    snprintf(c->agents, sizeof(c->agents), "%s", ctx->agents ? ctx->agents : "");
    snprintf(c->owner, sizeof(c->owner), "%s", ctx->owner ? ctx->owner : "");
    snprintf(c->over_quota, sizeof(c->over_quota), "%s", ctx->over_quota ? ctx->over_quota : "");
    c->log_level = -1;
    c->can_stream = ctx->can_stream;
    c->meta = msg->meta;
    const char *hdr = ctx->proto_header;
    const json_t *mv = msg->meta ? json_object_get(msg->meta, AT_MCP_META_VERSION) : NULL;
    const char *mver = json_string_value(mv);
    if ((mv || (hdr && at_mcp_version_stateless(hdr))) && msg->kind == AT_MCP_REQUEST &&
        (!mver || !json_is_object(json_object_get(msg->meta, AT_MCP_META_CLIENT_CAPS)))) {
        /* MCP 2026-07-28: every request carries the _meta envelope; one
         * without its required fields is Invalid params, HTTP 400 */
        fail(ans, 400, msg->id, AT_MCP_INVALID_PARAMS,
             "a 2026-07-28 request needs params._meta with "
             "io.modelcontextprotocol/protocolVersion and "
             "io.modelcontextprotocol/clientCapabilities",
             NULL);
        return -1;
    }
    if (hdr && !mver && !at_mcp_version_supported(hdr)) {
        /* MCP 2025-11-25 basic/transports "Protocol Version Header" */
        char text[160];
        snprintf(text, sizeof(text), "unsupported MCP-Protocol-Version \"%.40s\"", hdr);
        fail(ans, 400, msg->id, AT_MCP_UNSUPPORTED_VERSION, text, unsupported_data(hdr));
        return -1;
    }
    if (mver) {
        /* MCP 2026-07-28: the request carries its own revision; the
         * header must repeat it (HeaderMismatch before anything else) */
        if (hdr && !header_is(hdr, mver)) {
            fail(ans, 400, msg->id, AT_MCP_HEADER_MISMATCH,
                 "MCP-Protocol-Version header does not match _meta protocolVersion", NULL);
            return -1;
        }
        if (!at_mcp_version_supported(mver) || !at_mcp_version_stateless(mver)) {
            char text[160];
            snprintf(text, sizeof(text), "unsupported protocol version \"%.40s\"", mver);
            fail(ans, 400, msg->id, AT_MCP_UNSUPPORTED_VERSION, text, unsupported_data(mver));
            return -1;
        }
        if (!hdr) {
            fail(ans, 400, msg->id, AT_MCP_HEADER_MISMATCH,
                 "the MCP-Protocol-Version header is missing", NULL);
            return -1;
        }
        if (msg->kind == AT_MCP_REQUEST && check_headers(ctx, msg, ans))
            return -1;
        c->stateless = 1;
        c->proto = AT_MCP_V2026;
        c->log_level =
            at_mcp_log_level(json_string_value(json_object_get(msg->meta, AT_MCP_META_LOG_LEVEL)));
        snprintf(ans->proto, sizeof(ans->proto), "%s", AT_MCP_V2026);
    } else if (ctx->session_id && *ctx->session_id) {
        struct at_mcp_session *s = at_mcp_session_find(&m->sessions, ctx->session_id);
        if (!s) {
            /* MCP 2025-11-25: 404 tells the client to start a new session */
            fail(ans, 404, msg->id, -32001, "Session not found (expired or deleted)", NULL);
            return -1;
        }
        ans->session = s;
        c->session = s;
        pthread_mutex_lock(&s->mu);
        c->log_level = s->log_level;
        snprintf(ans->proto, sizeof(ans->proto), "%s", s->proto);
        pthread_mutex_unlock(&s->mu);
        c->proto = ans->proto;
    } else if (hdr && at_mcp_version_stateless(hdr)) {
        if (msg->kind == AT_MCP_REQUEST && strcmp(msg->method, "server/discover") != 0) {
            fail(ans, 400, msg->id, AT_MCP_INVALID_REQUEST,
                 "a 2026-07-28 request needs the _meta envelope "
                 "(io.modelcontextprotocol/protocolVersion, clientCapabilities)",
                 NULL);
            return -1;
        }
        c->stateless = 1;
        c->proto = AT_MCP_V2026;
        snprintf(ans->proto, sizeof(ans->proto), "%s", AT_MCP_V2026);
    } else {
        /* no session: a sessionless client (or initialize); revisions
         * without the header default to 2025-03-26 (MCP 2025-11-25) */
        snprintf(ans->proto, sizeof(ans->proto), "%s", hdr ? hdr : AT_MCP_V2025_03);
        c->proto = ans->proto;
    }
    const char *token = ctx->token;
    if (!token && msg->meta)
        token = json_string_value(json_object_get(msg->meta, AT_MCP_META_TOKEN));
    if (token && *token) {
        if (!m->cfg.engine || at_engine_token_info(m->cfg.engine, token, &c->tok) != 0) {
            ans->reason = "the token is not valid (the job it belongs to has ended?)";
            fail(ans, 401, msg->id, AT_MCP_INVALID_REQUEST,
                 "the bearer token is not valid (the job it belongs to has ended?)", NULL);
            return -1;
        }
        c->has_token = 1;
        snprintf(c->token, sizeof(c->token), "%s", token);
    }
    return 0;
}

/* ---- methods ---- */

static json_t *capabilities(void)
{
    /* extensions: MCP 2026-07-28 Tasks (SEP-2663) */
    return json_pack("{s:{s:b},s:{s:b,s:b},s:{s:b},s:{},s:{},s:{s:{}}}", "tools", "listChanged", 1,
                     "resources", "subscribe", 1, "listChanged", 1, "prompts", "listChanged", 1,
                     "logging", "completions", "extensions", AT_MCP_EXT_TASKS);
}

static json_t *server_info(void)
{
    return json_pack("{s:s,s:s,s:s}", "name", "atlasd", "title", "Atlas", "version", ATLAS_VERSION);
}

/* Stateless results are cacheable (2026-07-28, SEP-2549). */
static void cacheable(const struct at__mcp_caller *c, json_t *result)
{
    if (!c->stateless)
        return;
    json_object_set_new(result, "ttlMs", json_integer(0));
    json_object_set_new(result, "cacheScope", json_string("private"));
}

static void do_initialize(struct at_mcp *m, const struct at_mcp_msg *msg, struct at_mcp_answer *ans)
{
    /* MCP 2025-11-25 basic/lifecycle "Initialization" */
    const char *want = json_string_value(json_object_get(msg->params, "protocolVersion"));
    if (!want) {
        fail(ans, 400, msg->id, AT_MCP_INVALID_PARAMS, "initialize needs params.protocolVersion",
             NULL);
        return;
    }
    const char *v = at_mcp_version_negotiate(want);
    struct at_mcp_session *s;
    if (at_mcp_session_create(&m->sessions, v, &s)) {
        fail(ans, 503, msg->id, AT_MCP_INTERNAL_ERROR, "too many MCP sessions; try again later",
             NULL);
        return;
    }
    pthread_mutex_lock(&s->mu);
    json_t *ci = json_object_get(msg->params, "clientInfo");
    json_t *cc = json_object_get(msg->params, "capabilities");
    s->client_info = ci ? json_deep_copy(ci) : NULL;
    s->client_caps = cc ? json_deep_copy(cc) : NULL;
    pthread_mutex_unlock(&s->mu);
    snprintf(ans->session_id, sizeof(ans->session_id), "%s", s->id);
    snprintf(ans->proto, sizeof(ans->proto), "%s", v);
    at_mcp_session_unref(ans->session);
    ans->session = s;
    ans->status = 200;
    ans->body = at_mcp_result(msg->id, json_pack("{s:s,s:o,s:o,s:s}", "protocolVersion", v,
                                                 "capabilities", capabilities(), "serverInfo",
                                                 server_info(), "instructions", INSTRUCTIONS));
}

static json_t *do_discover(void)
{
    /* MCP 2026-07-28 server/discover */
    json_t *r = json_pack("{s:o,s:o,s:s,s:i,s:s}", "supportedVersions", at_mcp_versions_json(0),
                          "capabilities", capabilities(), "instructions", INSTRUCTIONS, "ttlMs", 0,
                          "cacheScope", "public");
    json_object_set_new(r, "serverInfo", server_info());
    json_object_set_new(r, "_meta", json_pack("{s:o}", AT_MCP_META_SERVER_INFO, server_info()));
    return r;
}

/* Methods of the 2025 revisions that 2026-07-28 removed. */
static int removed_method(const char *method)
{
    static const char *const removed[] = {"initialize", "ping", "logging/setLevel",
                                          "resources/subscribe", "resources/unsubscribe"};
    for (size_t i = 0; i < sizeof(removed) / sizeof(removed[0]); i++)
        if (!strcmp(method, removed[i]))
            return 1;
    return 0;
}

static void answer(struct at_mcp_answer *ans, const json_t *id, json_t *result)
{
    ans->status = 200;
    ans->body = at_mcp_result(id, result);
}

static const char *cursor_of(const json_t *params)
{
    return json_string_value(json_object_get(params, "cursor"));
}

static void list_result(struct at_mcp_answer *ans, const struct at_mcp_msg *msg,
                        const struct at__mcp_caller *c, int rc, json_t *result)
{
    if (rc) {
        json_decref(result);
        fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS, "invalid cursor", NULL);
        return;
    }
    cacheable(c, result);
    answer(ans, msg->id, result);
}

/* MCP 2026-07-28 subscriptions/listen: the request's stream carries
 * notifications/subscriptions/acknowledged first (the honoured subset of
 * params.notifications), then the change notifications it asked for, each
 * stamped with the request's id, until the client closes it (its cancel).
 * A filter that honours nothing is acknowledged and completed at once. */
static void do_listen(struct at_mcp *m, const struct at__mcp_caller *c,
                      const struct at_mcp_msg *msg, struct at_mcp_chan *chan,
                      struct at_mcp_answer *ans)
{
    const json_t *want = json_object_get(msg->params, "notifications");
    const json_t *uris = json_object_get(want, "resourceSubscriptions");
    if (!json_is_object(want) || (uris && !json_is_array(uris))) {
        fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS,
             "Invalid params: 'notifications' is required and must be a valid SubscriptionFilter",
             NULL);
        return;
    }
    size_t i;
    json_t *u;
    json_array_foreach(uris, i, u) if (!json_is_string(u))
    {
        fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS,
             "Invalid params: resourceSubscriptions must hold URIs (strings)", NULL);
        return;
    }
    if (json_array_size(uris) > AT__MCP_MAX_SUB_URIS) {
        fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS,
             "Invalid params: at most 256 resourceSubscriptions", NULL);
        return;
    }
    if (!c->can_stream) {
        fail(ans, 400, msg->id, AT_MCP_INVALID_REQUEST,
             "subscriptions/listen needs a stream (Accept: text/event-stream)", NULL);
        return;
    }
    struct at__mcp_sub *sub = at_calloc(1, sizeof(*sub));
    json_t *honoured = json_object();
    static const struct {
        const char *key;
        unsigned kind;
    } kinds[] = {{"toolsListChanged", AT__MCP_SUB_TOOLS},
                 {"promptsListChanged", AT__MCP_SUB_PROMPTS},
                 {"resourcesListChanged", AT__MCP_SUB_RESOURCES}};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (json_is_true(json_object_get(want, kinds[k].key))) {
            sub->kinds |= kinds[k].kind;
            json_object_set_new(honoured, kinds[k].key, json_true());
        }
    if (json_array_size(uris)) {
        sub->uris = json_deep_copy(uris);
        json_object_set(honoured, "resourceSubscriptions", sub->uris);
    }
    sub->id = json_incref(msg->id);
    sub->chan = chan;
    chan->ops->ref(chan);
    ans->pending = 1;
    int empty = !sub->kinds && !sub->uris;
    pthread_mutex_lock(&m->mu);
    int full = !empty && m->nsubs >= AT__MCP_MAX_SUBS;
    if (!full && !empty)
        m->nsubs++; /* the slot is held while the ack goes */
    pthread_mutex_unlock(&m->mu);
    if (full) {
        /* the capacity guard comes before the ack */
        chan->ops->send(
            chan, at_mcp_error(msg->id, AT_MCP_INTERNAL_ERROR, "Subscription limit reached", NULL),
            1);
        json_decref(honoured);
        sub_free_all(sub);
        return;
    }
    /* the ack is the first message on the stream; the subscription is
     * seen by the notifiers only after it was queued */
    json_t *ack = sub_notification("notifications/subscriptions/acknowledged", msg->id, NULL);
    json_object_set_new(json_object_get(ack, "params"), "notifications", honoured);
    chan->ops->send(chan, ack, 0);
    if (empty) {
        /* nothing can ever be delivered: the graceful close (the empty
         * result, stamped) */
        json_t *res =
            json_pack("{s:s,s:{s:O,s:o}}", "resultType", "complete", "_meta",
                      AT_MCP_META_SUBSCRIPTION, msg->id, AT_MCP_META_SERVER_INFO, server_info());
        chan->ops->send(chan, at_mcp_result(msg->id, res), 1);
        sub_free_all(sub);
        return;
    }
    pthread_mutex_lock(&m->mu);
    sub->next = m->subs;
    m->subs = sub;
    pthread_mutex_unlock(&m->mu);
}

static void do_request(struct at_mcp *m, const struct at_mcp_ctx *ctx, const struct at_mcp_msg *msg,
                       struct at__mcp_caller *c, struct at_mcp_chan *chan,
                       struct at_mcp_answer *ans)
{
    (void)ctx;
    const char *method = msg->method;
    const json_t *params = msg->params;
    json_t *result = NULL;
    char err[512] = "";
    int rc;
    if (c->stateless && removed_method(method)) {
        /* MCP 2026-07-28 basic/transports: a method the server does not
         * implement is 404 with Method not found */
        char text[200];
        snprintf(text, sizeof(text), "Method not found: %.120s (not part of revision 2026-07-28)",
                 method);
        fail(ans, 404, msg->id, AT_MCP_METHOD_NOT_FOUND, text, NULL);
        return;
    }
    if (!strcmp(method, "ping")) {
        answer(ans, msg->id, json_object());
    } else if (!strcmp(method, "server/discover")) {
        answer(ans, msg->id, do_discover());
    } else if (!strcmp(method, "tools/list")) {
        rc = at__mcp_tools_list(m, c, cursor_of(params), &result);
        list_result(ans, msg, c, rc, result);
    } else if (!strcmp(method, "tools/call")) {
        atomic_fetch_add(&m->n_tool_calls, 1);
        char *raw = NULL;
        rc = at__mcp_tools_call(m, c, params, msg->id, chan, &result, &raw, err, sizeof(err));
        if (rc == AT_AGAIN) {
            ans->pending = 1;
        } else if (rc) {
            fail(ans, 200, msg->id, rc, err, NULL);
        } else if (raw) {
            /* a cached, serialised result: splice it into the response */
            char *id = at_json_dumps(msg->id);
            size_t n = strlen(raw);
            ans->status = 200;
            ans->body_text = at_asprintf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%.*s%s}", id,
                                         (int)(c->stateless ? n - 1 : n), raw,
                                         c->stateless ? ",\"resultType\":\"complete\"}" : "");
            free(id);
            free(raw);
        } else {
            answer(ans, msg->id, result);
        }
    } else if (!strcmp(method, "resources/list")) {
        rc = at__mcp_resources_list(m, c, cursor_of(params), &result);
        list_result(ans, msg, c, rc, result);
    } else if (!strcmp(method, "resources/templates/list")) {
        rc = at__mcp_resource_templates_list(m, cursor_of(params), &result);
        list_result(ans, msg, c, rc, result);
    } else if (!strcmp(method, "resources/read")) {
        const char *uri = json_string_value(json_object_get(params, "uri"));
        if (!uri) {
            fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS, "resources/read needs params.uri", NULL);
            return;
        }
        rc = at__mcp_resources_read(m, c, uri, &result, err, sizeof(err));
        if (rc) {
            /* 2026-07-28 (SEP-2164): an unknown resource is Invalid params */
            if (c->stateless && rc == AT_MCP_RESOURCE_NOT_FOUND)
                rc = AT_MCP_INVALID_PARAMS;
            fail(ans, 200, msg->id, rc, err, json_pack("{s:s}", "uri", uri));
        } else {
            cacheable(c, result); /* 2026-07-28: ReadResourceResult has ttlMs, cacheScope */
            answer(ans, msg->id, result);
        }
    } else if (c->stateless && (!strcmp(method, "tasks/get") || !strcmp(method, "tasks/cancel") ||
                                !strcmp(method, "tasks/update"))) {
        if (!at__mcp_wants_tasks(c)) {
            /* SEP-2663: the task surface is gated on the extension */
            fail(ans, 400, msg->id, AT_MCP_MISSING_CAPABILITY,
                 "Missing required client capability: the io.modelcontextprotocol/tasks "
                 "extension (in _meta clientCapabilities.extensions)",
                 json_pack("{s:[s]}", "requiredCapabilities", "extensions." AT_MCP_EXT_TASKS));
            return;
        }
        rc = at__mcp_task(m, c, method, params, &result, err, sizeof(err));
        if (rc)
            fail(ans, 200, msg->id, rc, err, NULL);
        else
            answer(ans, msg->id, result);
    } else if (!strcmp(method, "subscriptions/listen") && c->stateless) {
        do_listen(m, c, msg, chan, ans);
    } else if (!strcmp(method, "resources/subscribe") || !strcmp(method, "resources/unsubscribe")) {
        const char *uri = json_string_value(json_object_get(params, "uri"));
        if (!uri) {
            fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS, "params.uri is required", NULL);
        } else if (!c->session) {
            fail(ans, 200, msg->id, AT_MCP_INVALID_REQUEST,
                 "subscriptions need a session (initialize first)", NULL);
        } else if (at_mcp_session_subscribe(c->session, uri,
                                            !strcmp(method, "resources/subscribe"))) {
            fail(ans, 200, msg->id, AT_MCP_INVALID_REQUEST, "too many subscriptions", NULL);
        } else {
            answer(ans, msg->id, json_object());
        }
    } else if (!strcmp(method, "prompts/list")) {
        rc = at__mcp_prompts_list(m, cursor_of(params), &result);
        list_result(ans, msg, c, rc, result);
    } else if (!strcmp(method, "prompts/get")) {
        const char *name = json_string_value(json_object_get(params, "name"));
        if (!name) {
            fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS, "prompts/get needs params.name", NULL);
            return;
        }
        rc = at__mcp_prompts_get(m, name, json_object_get(params, "arguments"), &result, err,
                                 sizeof(err));
        if (rc)
            fail(ans, 200, msg->id, rc, err, NULL);
        else
            answer(ans, msg->id, result);
    } else if (!strcmp(method, "completion/complete")) {
        rc = at__mcp_complete(m, params, &result, err, sizeof(err));
        if (rc)
            fail(ans, 200, msg->id, rc, err, NULL);
        else
            answer(ans, msg->id, result);
    } else if (!strcmp(method, "logging/setLevel")) {
        /* MCP 2025-11-25 server/utilities/logging */
        int lvl = at_mcp_log_level(json_string_value(json_object_get(params, "level")));
        if (lvl < 0) {
            fail(ans, 200, msg->id, AT_MCP_INVALID_PARAMS,
                 "level must be one of debug, info, notice, warning, error, critical, alert, "
                 "emergency",
                 NULL);
        } else {
            if (c->session) {
                pthread_mutex_lock(&c->session->mu);
                c->session->log_level = lvl;
                pthread_mutex_unlock(&c->session->mu);
            }
            answer(ans, msg->id, json_object());
        }
    } else if (relay_method(method)) {
        relay_request(m, c, msg, chan, ans);
    } else if (!strcmp(method, "initialize")) {
        do_initialize(m, msg, ans);
    } else {
        char text[200];
        snprintf(text, sizeof(text), "Method not found: %.120s", method);
        fail(ans, c->stateless ? 404 : 200, msg->id, AT_MCP_METHOD_NOT_FOUND, text, NULL);
    }
}

static void do_notification(struct at_mcp *m, const struct at_mcp_msg *msg,
                            struct at__mcp_caller *c)
{
    if (!strcmp(msg->method, "notifications/initialized")) {
        if (c->session) {
            pthread_mutex_lock(&c->session->mu);
            c->session->initialized = 1;
            pthread_mutex_unlock(&c->session->mu);
        }
    } else if (!strcmp(msg->method, "notifications/cancelled")) {
        json_t *rid = json_object_get(msg->params, "requestId");
        if (rid)
            cancel_request(m, c, rid, json_string_value(json_object_get(msg->params, "reason")));
    }
    /* others (progress, roots/list_changed, ...) need nothing from us */
}

void at_mcp_handle(struct at_mcp *m, const struct at_mcp_ctx *ctx, const struct at_mcp_msg *msg,
                   struct at_mcp_chan *chan, struct at_mcp_answer *ans)
{
    memset(ans, 0, sizeof(*ans));
    struct at__mcp_caller c;
    if (msg->kind == AT_MCP_REQUEST && !strcmp(msg->method, "initialize") &&
        !(msg->meta && json_object_get(msg->meta, AT_MCP_META_VERSION)) &&
        !(ctx->proto_header && at_mcp_version_stateless(ctx->proto_header))) {
        atomic_fetch_add(&m->n_requests, 1);
        if (ctx->proto_header && !at_mcp_version_supported(ctx->proto_header)) {
            fail(ans, 400, msg->id, AT_MCP_UNSUPPORTED_VERSION, "unsupported MCP-Protocol-Version",
                 unsupported_data(ctx->proto_header));
            return;
        }
        do_initialize(m, msg, ans);
        return;
    }
    if (admit(m, ctx, msg, &c, ans)) {
        atomic_fetch_add(&m->n_errors, 1);
        return;
    }
    switch (msg->kind) {
    case AT_MCP_REQUEST:
        atomic_fetch_add(&m->n_requests, 1);
        do_request(m, ctx, msg, &c, chan, ans);
        if (ans->body && json_object_get(ans->body, "error"))
            atomic_fetch_add(&m->n_errors, 1);
        /* 2026-07-28: every result says whether it is complete */
        json_t *res = ans->body ? json_object_get(ans->body, "result") : NULL;
        if (c.stateless && json_is_object(res) && !json_object_get(res, "resultType"))
            json_object_set_new(res, "resultType", json_string("complete"));
        break;
    case AT_MCP_NOTIFICATION:
        atomic_fetch_add(&m->n_notifications, 1);
        do_notification(m, msg, &c);
        ans->status = 202;
        break;
    case AT_MCP_RESPONSE:
        relay_response(m, &c, msg);
        ans->status = 202;
        break;
    }
}

/* ---- GET / DELETE ---- */

void at_mcp_check_session(struct at_mcp *m, const struct at_mcp_ctx *ctx, struct at_mcp_answer *ans)
{
    memset(ans, 0, sizeof(*ans));
    if (ctx->proto_header && !at_mcp_version_supported(ctx->proto_header)) {
        fail(ans, 400, NULL, AT_MCP_UNSUPPORTED_VERSION, "unsupported MCP-Protocol-Version",
             unsupported_data(ctx->proto_header));
        return;
    }
    if (!ctx->session_id || !*ctx->session_id) {
        fail(ans, 400, NULL, AT_MCP_INVALID_REQUEST, "Mcp-Session-Id header is required", NULL);
        return;
    }
    struct at_mcp_session *s = at_mcp_session_find(&m->sessions, ctx->session_id);
    if (!s) {
        fail(ans, 404, NULL, -32001, "Session not found (expired or deleted)", NULL);
        return;
    }
    ans->session = s;
    ans->status = 200;
    snprintf(ans->proto, sizeof(ans->proto), "%s", s->proto);
}

void at_mcp_listen(struct at_mcp *m, const struct at_mcp_ctx *ctx, struct at_mcp_chan *chan,
                   struct at_mcp_answer *ans)
{
    at_mcp_check_session(m, ctx, ans);
    if (ans->status != 200)
        return;
    chan->ops->ref(chan);
    pthread_mutex_lock(&m->mu);
    struct at_mcp_chan *old = at_map_put(&m->listeners, ans->session->id, chan);
    pthread_mutex_unlock(&m->mu);
    if (old)
        old->ops->unref(old);
}

void at_mcp_unlisten(struct at_mcp *m, struct at_mcp_session *s, struct at_mcp_chan *chan)
{
    pthread_mutex_lock(&m->mu);
    struct at_mcp_chan *cur = at_map_get(&m->listeners, s->id);
    if (cur == chan)
        at_map_del(&m->listeners, s->id);
    pthread_mutex_unlock(&m->mu);
    if (cur == chan)
        chan->ops->unref(chan);
}

void at_mcp_delete(struct at_mcp *m, const struct at_mcp_ctx *ctx, struct at_mcp_answer *ans)
{
    at_mcp_check_session(m, ctx, ans);
    if (ans->status != 200)
        return;
    struct at_mcp_session *s = ans->session;
    pthread_mutex_lock(&m->mu);
    struct at_mcp_chan *cur = at_map_del(&m->listeners, s->id);
    pthread_mutex_unlock(&m->mu);
    if (cur)
        cur->ops->unref(cur);
    at_mcp_session_close(&m->sessions, s->id);
}

/* ---- pagination ---- */

int at__mcp_paginate(json_t *all, const char *cursor, size_t page, const char *key, json_t *result)
{
    size_t start = 0, n = json_array_size(all);
    if (cursor) {
        /* our cursors are "p<offset>", the offset a positive multiple of
         * the page: anything else was never issued */
        long long off;
        if (cursor[0] != 'p' || at_parse_i64(cursor + 1, 1, 1LL << 40, &off) || (size_t)off > n ||
            page == 0 || (size_t)off % page != 0)
            return AT_EINVAL;
        start = (size_t)off;
    }
    json_t *items = json_array();
    for (size_t i = start; i < n && i < start + page; i++)
        json_array_append(items, json_array_get(all, i));
    json_object_set_new(result, key, items);
    if (start + page < n) {
        char next[32];
        snprintf(next, sizeof(next), "p%zu", start + page);
        json_object_set_new(result, "nextCursor", json_string(next));
    }
    return 0;
}
