/*
 * client.c - the MCP client core (sans-IO): revision choice and handshake,
 * request ids and correlation, ping, cancellation, stdio framing, and the
 * meaning of a CallToolResult.  See client.h.
 */
#include "mcp/client.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/utf8.h"
#include "json/json.h"
#include "mcp/message.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_NAME "atlasd"

/* ---- small helpers ---- */

/* s is a JSON string equal to want (a NUL inside never matches). */
static int str_is(const json_t *s, const char *want)
{
    return json_is_string(s) && strlen(json_string_value(s)) == json_string_length(s) &&
           strcmp(json_string_value(s), want) == 0;
}

/* A JSON string as a bounded C string ("" when absent, not a string, or
 * holding NUL). */
static void copy_str(char *dst, size_t n, const json_t *s)
{
    const char *v = json_string_value(s);
    if (!v || strlen(v) != json_string_length(s))
        v = "";
    snprintf(dst, n, "%s", v);
}

static json_t *client_caps(int sampling, int relay)
{
    json_t *caps = json_object();
    if (sampling || relay)
        json_object_set_new(caps, "sampling", json_object());
    if (relay) {
        json_object_set_new(caps, "elicitation", json_pack("{s:{}}", "form"));
        json_object_set_new(caps, "roots", json_object());
    }
    return caps;
}

static json_t *client_meta(int sampling, int relay)
{
    json_t *caps = client_caps(sampling, relay);
    return json_pack("{s:s,s:{s:s,s:s},s:o}", AT_MCP_META_VERSION, AT_MCP_V2026,
                     AT_MCP_META_CLIENT_INFO, "name", CLIENT_NAME, "version", ATLAS_VERSION,
                     AT_MCP_META_CLIENT_CAPS, caps);
}

json_t *at_mcp_client_meta(int sampling)
{
    return client_meta(sampling, 0);
}

int at_mcp_result_input_required(const json_t *result)
{
    return str_is(json_object_get(result, "resultType"), "input_required");
}

json_t *at_mcp_job_meta(const char *job_id, const char *token)
{
    json_t *m = json_pack("{s:s,s:s}", "progressToken", job_id, AT_MCP_META_JOB, job_id);
    if (token)
        json_object_set_new(m, AT_MCP_META_TOKEN, json_string(token));
    return m;
}

/* ---- life cycle ---- */

void at_mcp_client_init(struct at_mcp_client *c, const struct at_mcp_client_cfg *cfg)
{
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    if (!c->cfg.max_message)
        c->cfg.max_message = AT_MCP_MAX_MESSAGE;
    if (c->cfg.transport == AT_MCP_STDIO)
        at_rpc_reader_init(&c->rd, c->cfg.max_message);
}

static void drop_outbox(struct at_mcp_client *c)
{
    while (c->out_head) {
        struct at_mcp_out *o = c->out_head;
        c->out_head = o->next;
        at_mcp_out_free(o);
    }
    c->out_last = NULL;
    c->nout = 0;
}

void at_mcp_client_release(struct at_mcp_client *c)
{
    drop_outbox(c);
    if (c->cfg.transport == AT_MCP_STDIO)
        at_rpc_reader_release(&c->rd);
    c->npending = 0;
}

void at_mcp_client_reset(struct at_mcp_client *c)
{
    drop_outbox(c);
    memset(&c->peer, 0, sizeof(c->peer));
    c->npending = 0;
    c->hs_id = 0;
    c->discovers = 0;
    c->state = AT_MCP_CLIENT_NEW;
}

void at_mcp_client_resume(struct at_mcp_client *c, const struct at_mcp_peer *peer)
{
    c->peer = *peer;
    c->hs_id = 0;
    c->state = AT_MCP_CLIENT_READY;
}

void at_mcp_out_free(struct at_mcp_out *o)
{
    if (!o)
        return;
    free(o->body);
    free(o);
}

struct at_mcp_out *at_mcp_client_pop(struct at_mcp_client *c)
{
    struct at_mcp_out *o = c->out_head;
    if (!o)
        return NULL;
    c->out_head = o->next;
    if (!c->out_head)
        c->out_last = NULL;
    c->nout--;
    o->next = NULL;
    return o;
}

/* Queue msg (stolen).  Returns 0 or AT_ELIMIT. */
static int enqueue(struct at_mcp_client *c, json_t *msg)
{
    if (c->nout >= AT_MCP_CLIENT_MAX_OUT) {
        json_decref(msg);
        return AT_ELIMIT;
    }
    struct at_mcp_out *o = at_calloc(1, sizeof(*o));
    at_mcp_out_describe(o, msg);
    o->body = at_json_dumps(msg);
    o->len = strlen(o->body);
    json_decref(msg);
    if (c->out_last)
        c->out_last->next = o;
    else
        c->out_head = o;
    c->out_last = o;
    c->nout++;
    return 0;
}

/* ---- requests ---- */

static int pending_find(const struct at_mcp_client *c, long long id)
{
    for (size_t i = 0; i < c->npending; i++)
        if (c->pending[i].id == id)
            return (int)i;
    return -1;
}

static void pending_drop(struct at_mcp_client *c, int i)
{
    c->pending[i] = c->pending[--c->npending];
}

/* Send a request whatever the state (the handshake's own requests too).
 * params stolen.  Returns the id or AT_ELIMIT. */
static long long send_request(struct at_mcp_client *c, const char *method, json_t *params,
                              int envelope)
{
    if (!params)
        params = json_object();
    if (envelope) {
        /* MCP 2026-07-28: every request carries version, client info and
         * capabilities in _meta (the caller's own keys win) */
        json_t *meta = json_object_get(params, "_meta");
        if (!json_is_object(meta)) {
            meta = json_object();
            json_object_set_new(params, "_meta", meta);
        }
        json_t *env = client_meta(c->cfg.sampling, c->cfg.relay);
        json_object_update_missing(meta, env);
        json_decref(env);
    }
    long long id = c->cfg.ids ? ++*c->cfg.ids : ++c->next_id;
    if (enqueue(c, at_mcp_request(id, method, params)))
        return AT_ELIMIT;
    return id;
}

long long at_mcp_client_request(struct at_mcp_client *c, int tag, const char *method,
                                json_t *params)
{
    if (c->state != AT_MCP_CLIENT_READY) {
        json_decref(params);
        return AT_ESTATE;
    }
    if (c->npending >= AT_MCP_CLIENT_MAX_PENDING) {
        json_decref(params);
        return AT_ELIMIT;
    }
    long long id = send_request(c, method, params, c->peer.stateless);
    if (id > 0) {
        c->pending[c->npending].id = id;
        c->pending[c->npending].tag = tag;
        c->npending++;
    }
    return id;
}

long long at_mcp_client_call_tool(struct at_mcp_client *c, int tag, const char *tool,
                                  json_t *arguments, json_t *meta)
{
    json_t *params = json_object();
    json_object_set_new(params, "name", json_string(tool));
    json_object_set_new(params, "arguments", arguments ? json_incref(arguments) : json_object());
    if (meta)
        json_object_set_new(params, "_meta", meta);
    return at_mcp_client_request(c, tag, "tools/call", params);
}

long long at_mcp_client_ping(struct at_mcp_client *c, int tag)
{
    return at_mcp_client_request(c, tag, c->peer.stateless ? "server/discover" : "ping", NULL);
}

int at_mcp_client_cancel(struct at_mcp_client *c, long long id, const char *reason)
{
    /* 2026-07-28 over HTTP: closing the request's stream is the
     * cancellation; on stdio and in sessions, MCP 2025-11-25
     * basic/utilities/cancellation */
    if (c->cfg.transport == AT_MCP_HTTP && c->peer.stateless)
        return 1;
    json_t *params = json_pack("{s:I,s:s}", "requestId", (json_int_t)id, "reason",
                               reason ? reason : "cancelled");
    enqueue(c, at_mcp_notification("notifications/cancelled", params));
    return 0;
}

void at_mcp_client_forget(struct at_mcp_client *c, long long id)
{
    int i = pending_find(c, id);
    if (i >= 0)
        pending_drop(c, i);
}

int at_mcp_client_reply(struct at_mcp_client *c, const json_t *rid, json_t *result)
{
    return enqueue(c, at_mcp_result(rid, result ? json_incref(result) : json_object()));
}

int at_mcp_client_reply_error(struct at_mcp_client *c, const json_t *rid, int code,
                              const char *message)
{
    return enqueue(c, at_mcp_error(rid, code, message, NULL));
}

/* ---- the handshake ---- */

int at_mcp_client_start(struct at_mcp_client *c)
{
    /* DESIGN.md §1: ask first; a 2026-07-28 server answers server/discover */
    c->state = AT_MCP_CLIENT_DISCOVER;
    c->discovers = 1;
    c->hs_id = send_request(c, "server/discover", NULL, 1);
    return c->hs_id > 0 ? 0 : (int)c->hs_id;
}

static void send_initialize(struct at_mcp_client *c)
{
    /* MCP 2025-11-25 basic/lifecycle#initialization */
    json_t *caps = client_caps(c->cfg.sampling, c->cfg.relay);
    json_t *params =
        json_pack("{s:s,s:o,s:{s:s,s:s}}", "protocolVersion", AT_MCP_V2025_11, "capabilities", caps,
                  "clientInfo", "name", CLIENT_NAME, "version", ATLAS_VERSION);
    c->state = AT_MCP_CLIENT_INIT;
    c->hs_id = send_request(c, "initialize", params, 0);
}

static void server_version(struct at_mcp_client *c, const json_t *result)
{
    const json_t *v = json_object_get(json_object_get(result, "serverInfo"), "version");
    if (json_is_string(v))
        copy_str(c->peer.server_version, sizeof(c->peer.server_version), v);
}

static void fail(struct at_mcp_client *c, struct at_mcp_ev *ev, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct at_mcp_client *c, struct at_mcp_ev *ev, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->detail, sizeof(ev->detail), fmt, ap);
    va_end(ap);
    ev->kind = AT_MCP_EV_FAILED;
    ev->code = code;
    c->state = AT_MCP_CLIENT_FAILED;
    c->hs_id = 0;
}

/* The answer to the handshake request in flight. */
static void handshake_answer(struct at_mcp_client *c, struct at_mcp_ev *ev)
{
    c->hs_id = 0;
    if (c->state == AT_MCP_CLIENT_DISCOVER) {
        const json_t *sv = json_object_get(ev->result, "supportedVersions");
        size_t i;
        json_t *v;
        int stateless = 0;
        json_array_foreach(sv, i, v) stateless |= str_is(v, AT_MCP_V2026);
        server_version(c, ev->result);
        if (stateless) {
            c->peer.stateless = 1;
            snprintf(c->peer.proto, sizeof(c->peer.proto), "%s", AT_MCP_V2026);
            c->state = AT_MCP_CLIENT_READY;
            ev->kind = AT_MCP_EV_READY;
            return;
        }
        /* an error that lists 2026-07-28 as supported: ask again (once),
         * a 2025 fallback would lose a revision both sides speak */
        const json_t *sup = json_object_get(json_object_get(ev->error, "data"), "supported");
        int listed = 0;
        json_array_foreach(sup, i, v) listed |= str_is(v, AT_MCP_V2026);
        if (ev->error && listed) {
            if (c->discovers >= 2) {
                fail(c, ev, AT_EPROTO,
                     "rejected server/discover twice while listing 2026-07-28 as supported: %s "
                     "(%lld)",
                     ev->error_message, ev->error_code);
                return;
            }
            c->discovers++;
            c->hs_id = send_request(c, "server/discover", NULL, 1);
            return;
        }
        /* an error (Method not found) or a server without 2026-07-28 */
        send_initialize(c);
        return;
    }
    /* AT_MCP_CLIENT_INIT */
    if (!ev->result) {
        fail(c, ev, AT_EPROTO, "rejected initialize: %s (%lld)", ev->error_message, ev->error_code);
        return;
    }
    const json_t *pv = json_object_get(ev->result, "protocolVersion");
    const char *v = json_string_value(pv);
    if (!v || strlen(v) != json_string_length(pv) || !at_mcp_version_supported(v) ||
        at_mcp_version_stateless(v)) {
        char shown[64];
        copy_str(shown, sizeof(shown), pv);
        fail(c, ev, AT_EPROTO, "answered initialize with unsupported protocolVersion \"%s\"",
             shown[0] ? shown : "(none)");
        return;
    }
    snprintf(c->peer.proto, sizeof(c->peer.proto), "%s", v);
    server_version(c, ev->result);
    enqueue(c, at_mcp_notification("notifications/initialized", NULL));
    c->state = AT_MCP_CLIENT_READY;
    ev->kind = AT_MCP_EV_READY;
}

int at_mcp_client_unanswered(struct at_mcp_client *c, long long id)
{
    if (id > 0 && id == c->hs_id && c->state == AT_MCP_CLIENT_DISCOVER) {
        /* a server that does not know server/discover may answer it with
         * anything (HTTP 400, 404, no JSON): try the 2025-11-25 handshake */
        send_initialize(c);
        return 1;
    }
    if (id > 0 && id == c->hs_id) {
        c->hs_id = 0;
        c->state = AT_MCP_CLIENT_FAILED;
        return 0;
    }
    at_mcp_client_forget(c, id);
    return 0;
}

void at_mcp_client_session(struct at_mcp_client *c, const char *session_id)
{
    /* MCP 2025-11-25 basic/transports#session-management: the session is
     * the one the answer to initialize names (not one a server hands out
     * with its answer to server/discover) */
    if (session_id && *session_id && !c->peer.session[0] && !c->peer.stateless &&
        (c->state == AT_MCP_CLIENT_INIT || c->state == AT_MCP_CLIENT_READY))
        snprintf(c->peer.session, sizeof(c->peer.session), "%s", session_id);
}

/* ---- what the peer sent ---- */

void at_mcp_ev_release(struct at_mcp_ev *ev)
{
    at_rpc_msg_release(&ev->msg);
    ev->kind = AT_MCP_EV_NONE;
}

/* Turn a classified message (ev->msg) into an event. */
static void on_message(struct at_mcp_client *c, struct at_mcp_ev *ev)
{
    struct at_rpc_msg *m = &ev->msg;
    switch (m->kind) {
    case AT_RPC_REQUEST:
        if (strcmp(m->method, "ping") == 0) {
            /* MCP 2025-11-25 basic/utilities/ping: answer at once */
            at_mcp_client_reply(c, m->id, NULL);
            return;
        }
        ev->kind = AT_MCP_EV_REQUEST;
        ev->rid = m->id;
        ev->method = m->method;
        ev->params = json_is_object(m->params) ? m->params : NULL;
        return;
    case AT_RPC_NOTIFICATION:
        ev->kind = AT_MCP_EV_NOTIFICATION;
        ev->method = m->method;
        ev->params = json_is_object(m->params) ? m->params : NULL;
        return;
    case AT_RPC_RESULT:
    case AT_RPC_ERROR:
        break;
    }
    long long id = at_rpc_id_int(m->id);
    ev->id = id;
    ev->result = m->result;
    ev->error = m->error;
    ev->error_code = m->error_code;
    ev->error_message = m->error_message ? m->error_message : "";
    if (id <= 0)
        return; /* our ids are positive integers: an answer to nothing of ours */
    if (id == c->hs_id) {
        handshake_answer(c, ev);
        return;
    }
    int i = pending_find(c, id);
    if (i < 0)
        return; /* an answer nobody waits for any more (cancelled, forgotten) */
    ev->kind = AT_MCP_EV_RESPONSE;
    ev->tag = c->pending[i].tag;
    pending_drop(c, i);
}

int at_mcp_client_feed(struct at_mcp_client *c, const char *data, size_t len)
{
    return at_rpc_reader_feed(&c->rd, data, len);
}

int at_mcp_client_next(struct at_mcp_client *c, struct at_mcp_ev *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (c->state == AT_MCP_CLIENT_FAILED)
        return 0;
    for (;;) {
        const char *line;
        size_t len;
        int got = at_rpc_reader_next(&c->rd, &line, &len);
        if (got == 0)
            return 0;
        if (got < 0) {
            fail(c, ev, AT_E2BIG, "a message longer than %zu bytes", c->cfg.max_message);
            return 1;
        }
        struct at_diag d;
        at_diag_clear(&d);
        if (at_rpc_parse(line, len, &ev->msg, &d)) {
            /* MCP 2025-11-25 basic/transports#stdio: stdout carries only
             * MCP messages */
            char *clean = at_utf8_sanitize(line, len > 120 ? 120 : len);
            snprintf(ev->excerpt, sizeof(ev->excerpt), "%s%s", clean, len > 120 ? "..." : "");
            free(clean);
            fail(c, ev, AT_EPROTO, "%s", d.msg);
            return 1;
        }
        on_message(c, ev);
        if (ev->kind != AT_MCP_EV_NONE)
            return 1;
        at_mcp_ev_release(ev);
        memset(ev, 0, sizeof(*ev));
    }
}

void at_mcp_client_recv(struct at_mcp_client *c, json_t *v, struct at_mcp_ev *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (c->state == AT_MCP_CLIENT_FAILED || !json_is_object(v))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    /* over HTTP a message that is not JSON-RPC is skipped: the answer we
     * wait for is found by id or is missing */
    if (at_rpc_classify(json_incref(v), &ev->msg, &d))
        return;
    on_message(c, ev);
}

void at_mcp_ev_error_text(const struct at_mcp_ev *ev, char *out, size_t n)
{
    snprintf(out, n, "%s (JSON-RPC error %lld)",
             ev->error_message && *ev->error_message ? ev->error_message : "error", ev->error_code);
}

/* ---- tool results ---- */

/* A copy of a JSON string that can go into a C string message (NUL and
 * bad UTF-8 replaced). */
static void text_of(const json_t *s, char *out, size_t n)
{
    char *clean = at_utf8_sanitize(json_string_value(s), json_string_length(s));
    snprintf(out, n, "%s", clean);
    free(clean);
}

int at_mcp_tool_output(const json_t *result, json_t **out, char *why, size_t whylen)
{
    *out = NULL;
    const json_t *content = json_object_get(result, "content");
    size_t i;
    json_t *item;
    const json_t *rt = json_object_get(result, "resultType");
    if (rt && !str_is(rt, "complete")) {
        /* MCP 2026-07-28: only a complete result is a tool's answer */
        char shown[64];
        copy_str(shown, sizeof(shown), rt);
        snprintf(why, whylen, "the server answered with a result of type \"%s\", not a tool result",
                 shown[0] ? shown : "?");
        return AT_EPROTO;
    }
    if (json_is_true(json_object_get(result, "isError"))) {
        /* MCP 2025-11-25 server/tools#error-handling: a tool execution
         * error, explained in the content */
        json_array_foreach(content, i, item)
        {
            const json_t *text = json_object_get(item, "text");
            if (json_is_string(text)) {
                text_of(text, why, whylen);
                return AT_EAGENT;
            }
        }
        snprintf(why, whylen, "the agent reported an error without a message");
        return AT_EAGENT;
    }
    json_t *sc = json_object_get(result, "structuredContent");
    if (sc) {
        *out = json_incref(sc);
        return 0;
    }
    json_array_foreach(content, i, item)
    {
        const json_t *text = json_object_get(item, "text");
        if (!str_is(json_object_get(item, "type"), "text") || !json_is_string(text))
            continue;
        json_t *v;
        if (at_json_parse_flags(json_string_value(text), json_string_length(text), AT_MCP_MAX_DEPTH,
                                AT_JSON_ALLOW_NUL, &v, NULL) == 0) {
            *out = v;
            return 0;
        }
        break; /* text that is not JSON: the blocks themselves are the output */
    }
    if (json_array_size(content) > 0) {
        *out = json_pack("{s:O}", "content", content);
        return 0;
    }
    snprintf(why, whylen, "tool result has neither structuredContent nor content");
    return AT_EPROTO;
}
