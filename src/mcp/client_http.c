/*
 * client_http.c - the Streamable HTTP side of the MCP client, with no
 * HTTP library in it: which headers a request carries, and reading an
 * answer that is JSON or an event stream (MCP 2025-11-25
 * basic/transports#streamable-http; 2026-07-28 standard headers).  The
 * transports (libcurl in exec/remote.c and cli/cmd_mcp.c) feed it.
 */
#include "mcp/client.h"

#include "base/err.h"
#include "base/str.h"
#include "json/json.h"
#include "mcp/message.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- headers ---- */

/* A JSON string that can be a C string (no NUL) and fits n bytes, else "". */
static void take(char *dst, size_t n, const json_t *s)
{
    const char *v = json_string_value(s);
    if (!v || strlen(v) != json_string_length(s) || json_string_length(s) >= n)
        v = "";
    snprintf(dst, n, "%s", v);
}

void at_mcp_out_describe(struct at_mcp_out *o, const json_t *msg)
{
    o->id = 0;
    o->method[0] = o->name[0] = o->version[0] = '\0';
    const json_t *method = json_object_get(msg, "method");
    if (!json_is_string(method))
        return;
    take(o->method, sizeof(o->method), method);
    const json_t *id = json_object_get(msg, "id");
    if (json_is_integer(id) && json_integer_value(id) > 0)
        o->id = json_integer_value(id);
    const json_t *params = json_object_get(msg, "params");
    const json_t *meta = json_object_get(params, "_meta");
    take(o->version, sizeof(o->version), json_object_get(meta, AT_MCP_META_VERSION));
    if (!o->version[0])
        return; /* the standard headers belong to 2026-07-28 messages */
    /* MCP 2026-07-28: Mcp-Name names the tool, prompt or resource */
    const char *field = NULL;
    if (!strcmp(o->method, "tools/call") || !strcmp(o->method, "prompts/get"))
        field = "name";
    else if (!strcmp(o->method, "resources/read"))
        field = "uri";
    if (field)
        take(o->name, sizeof(o->name), json_object_get(params, field));
}

struct hdr {
    char line[AT_MCP_NAME_HEADER_MAX * 2 + 64];
};

/* "Name: value", the value in MCP's =?base64?...?= form unless it is
 * printable ASCII (so a control character can never split a header). */
static void add_value(void (*add)(void *, const char *), void *arg, const char *name, const char *v)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct hdr h;
    int plain = 1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            plain = 0;
    size_t n = strlen(v);
    /* surrounding whitespace would be trimmed away (RFC 9110 §5.5) */
    if (n && (v[0] == ' ' || v[n - 1] == ' '))
        plain = 0;
    if (plain) {
        snprintf(h.line, sizeof(h.line), "%s: %s", name, v);
    } else {
        if (n > AT_MCP_NAME_HEADER_MAX)
            return;
        size_t k = (size_t)snprintf(h.line, sizeof(h.line), "%s: =?base64?", name);
        const unsigned char *s = (const unsigned char *)v;
        for (size_t i = 0; i < n; i += 3) {
            unsigned x = (unsigned)s[i] << 16;
            if (i + 1 < n)
                x |= (unsigned)s[i + 1] << 8;
            if (i + 2 < n)
                x |= s[i + 2];
            h.line[k++] = tab[(x >> 18) & 63];
            h.line[k++] = tab[(x >> 12) & 63];
            const char *q3 = i + 1 < n ? &tab[(x >> 6) & 63] : "=";
            const char *q4 = i + 2 < n ? &tab[x & 63] : "=";
            h.line[k++] = *q3;
            h.line[k++] = *q4;
        }
        snprintf(h.line + k, sizeof(h.line) - k, "?=");
    }
    add(arg, h.line);
}

void at_mcp_http_headers(enum at_mcp_http_verb verb, const struct at_mcp_peer *peer,
                         const struct at_mcp_out *o, const char *last_event_id,
                         void (*add)(void *arg, const char *line), void *arg)
{
    const char *proto = peer && peer->proto[0] ? peer->proto : NULL;
    switch (verb) {
    case AT_MCP_HTTP_POST:
        add(arg, "Content-Type: application/json");
        /* a POST may be answered with JSON or with an event stream */
        add(arg, "Accept: application/json, text/event-stream");
        if (o && o->version[0]) {
            add_value(add, arg, "MCP-Protocol-Version", o->version);
            if (o->method[0])
                add_value(add, arg, "Mcp-Method", o->method);
            if (o->name[0])
                add_value(add, arg, "Mcp-Name", o->name);
        } else if (proto) {
            add_value(add, arg, "MCP-Protocol-Version", proto);
        }
        break;
    case AT_MCP_HTTP_GET:
        add(arg, "Accept: text/event-stream");
        if (last_event_id && *last_event_id)
            add_value(add, arg, "Last-Event-ID", last_event_id);
        if (proto)
            add_value(add, arg, "MCP-Protocol-Version", proto);
        break;
    case AT_MCP_HTTP_DELETE:
        if (proto)
            add_value(add, arg, "MCP-Protocol-Version", proto);
        break;
    }
    if (peer && peer->session[0])
        add_value(add, arg, "Mcp-Session-Id", peer->session);
}

/* ---- custom headers (SEP-2243) ---- */

static int tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int at_mcp_check_param_headers(const json_t *input_schema, char *why, size_t n)
{
    const json_t *props = json_object_get(input_schema, "properties");
    const char *key, *names[64];
    size_t count = 0;
    json_t *p;
    json_object_foreach((json_t *)props, key, p)
    {
        const json_t *h = json_object_get(p, "x-mcp-header");
        if (!h)
            continue;
        const char *name = json_string_value(h);
        if (!name || !*name || strlen(name) != json_string_length(h) || strlen(name) > 200) {
            snprintf(why, n, "property \"%.80s\": x-mcp-header must be a non-empty header name",
                     key);
            return AT_EINVAL;
        }
        for (const unsigned char *c = (const unsigned char *)name; *c; c++)
            if (!tchar(*c)) {
                snprintf(why, n,
                         "property \"%.80s\": x-mcp-header \"%.80s\" is not a valid header name "
                         "(RFC 9110 token)",
                         key, name);
                return AT_EINVAL;
            }
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!type || (strcmp(type, "string") != 0 && strcmp(type, "integer") != 0 &&
                      strcmp(type, "boolean") != 0)) {
            snprintf(why, n,
                     "property \"%.80s\": x-mcp-header is only allowed on string, integer or "
                     "boolean properties",
                     key);
            return AT_EINVAL;
        }
        for (size_t i = 0; i < count; i++)
            if (strcasecmp(names[i], name) == 0) {
                snprintf(why, n, "x-mcp-header \"%.80s\" is used twice", name);
                return AT_EINVAL;
            }
        if (count == sizeof(names) / sizeof(names[0])) {
            snprintf(why, n, "too many x-mcp-header annotations");
            return AT_EINVAL;
        }
        names[count++] = name;
    }
    return 0;
}

void at_mcp_param_headers(const json_t *input_schema, const json_t *arguments,
                          void (*add)(void *arg, const char *line), void *arg)
{
    const json_t *props = json_object_get(input_schema, "properties");
    const char *key;
    json_t *p;
    json_object_foreach((json_t *)props, key, p)
    {
        const char *name = json_string_value(json_object_get(p, "x-mcp-header"));
        const json_t *v = json_object_get(arguments, key);
        if (!name || !v || json_is_null(v))
            continue;
        char hname[256], num[64];
        snprintf(hname, sizeof(hname), "Mcp-Param-%s", name);
        if (json_is_string(v)) {
            if (strlen(json_string_value(v)) != json_string_length(v))
                continue; /* a NUL cannot be carried */
            add_value(add, arg, hname, json_string_value(v));
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            add_value(add, arg, hname, num);
        } else if (json_is_boolean(v)) {
            add_value(add, arg, hname, json_is_true(v) ? "true" : "false");
        }
    }
}

/* ---- answers ---- */

static int deliver(struct at_mcp_http_resp *r, json_t *v)
{
    int rc = 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) if ((rc = r->on_msg(r->arg, m)) != 0) break;
    } else {
        rc = r->on_msg(r->arg, v);
    }
    if (rc)
        r->stopped = 1;
    return rc ? 1 : 0;
}

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)event;
    (void)id;
    struct at_mcp_http_resp *r = arg;
    if (len == 0 || r->stopped)
        return 0; /* a priming event (an id, no data) */
    json_t *v;
    /* events that are not JSON are skipped (a comment-like keep-alive, a
     * server's own event types) */
    if (at_json_parse_flags(data, len, AT_MCP_MAX_DEPTH, AT_JSON_ALLOW_NUL, &v, NULL))
        return 0;
    int rc = deliver(r, v);
    json_decref(v);
    return rc;
}

void at_mcp_http_resp_init(struct at_mcp_http_resp *r, size_t max, at_mcp_msg_fn on_msg, void *arg)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->on_msg = on_msg;
    r->arg = arg;
    r->retry_ms = -1;
    at_buf_init(&r->body, max);
    at_sse_parser_init(&r->parser, max, on_event, r);
}

void at_mcp_http_resp_reset(struct at_mcp_http_resp *r)
{
    at_buf_clear(&r->body);
    at_sse_parser_release(&r->parser);
    at_sse_parser_init(&r->parser, r->max, on_event, r);
    r->content_type[0] = r->session[0] = '\0';
    r->sse = r->stopped = r->not_json = 0;
}

void at_mcp_http_resp_release(struct at_mcp_http_resp *r)
{
    at_buf_release(&r->body);
    at_sse_parser_release(&r->parser);
}

/* MCP 2025-11-25: a session id is visible ASCII (0x21 to 0x7E) */
static int visible_ascii(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return 0;
    return 1;
}

void at_mcp_http_resp_header(struct at_mcp_http_resp *r, const char *line, size_t len)
{
    char v[AT_MCP_PEER_SESSION_MAX];
    if (at_header_value(line, len, "mcp-session-id", v, sizeof(v))) {
        if (visible_ascii(v))
            snprintf(r->session, sizeof(r->session), "%s", v);
        return;
    }
    at_header_value(line, len, "content-type", r->content_type, sizeof(r->content_type));
}

static void keep_stream_fields(struct at_mcp_http_resp *r)
{
    /* WHATWG HTML 9.2.6: the last event ID and the reconnection time, for
     * resuming with Last-Event-ID (MCP 2025-11-25 "Resumability and
     * Redelivery") */
    if (r->parser.id[0])
        snprintf(r->last_event_id, sizeof(r->last_event_id), "%s", r->parser.id);
    if (r->parser.retry_ms >= 0)
        r->retry_ms = r->parser.retry_ms;
}

int at_mcp_http_resp_body(struct at_mcp_http_resp *r, const char *p, size_t len)
{
    if (r->stopped)
        return 1;
    if (!r->sse && strncasecmp(r->content_type, "text/event-stream", 17) == 0)
        r->sse = 1;
    if (r->sse) {
        int rc = at_sse_feed(&r->parser, p, len);
        keep_stream_fields(r);
        if (rc < 0)
            return rc;
        return r->stopped ? 1 : 0;
    }
    return at_buf_append(&r->body, p, len) ? AT_E2BIG : 0;
}

int at_mcp_http_resp_end(struct at_mcp_http_resp *r)
{
    if (r->stopped)
        return 0;
    if (r->sse) {
        /* an event cut off by the end of the stream still counts */
        at_sse_feed(&r->parser, "\n\n", 2);
        keep_stream_fields(r);
        return 0;
    }
    if (r->body.len == 0)
        return 0;
    json_t *v;
    if (at_json_parse_flags(r->body.p, r->body.len, AT_MCP_MAX_DEPTH, AT_JSON_ALLOW_NUL, &v,
                            NULL)) {
        r->not_json = 1;
        return AT_EPROTO;
    }
    deliver(r, v);
    json_decref(v);
    return 0;
}
