/* libFuzzer target: the MCP client core (src/mcp/client.c, client_http.c)
 * reading what a peer sends.  The first byte picks the transport and the
 * read size: stdio bytes (framing, classification, the handshake, ids), or
 * an HTTP answer (JSON or an event stream) fed to the answer reader and on
 * to the client.  Properties, not only crashes: every message the client
 * queues is one line of JSON; an answer comes back with the tag of its
 * request, once; after FAILED nothing more comes out; the reader never
 * hands out a value once it was told to stop; header lines built from
 * x-mcp-header annotations never hold CR or LF. */
#include "json/json.h"
#include "mcp/client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREQ 4

struct state {
    struct at_mcp_client c;
    long long ids[NREQ];
    int answered[NREQ];
    int failed;
    int stopped;
};

static void drain_out(struct state *s)
{
    struct at_mcp_out *o;
    while ((o = at_mcp_client_pop(&s->c))) {
        if (memchr(o->body, '\n', o->len) || strlen(o->body) != o->len)
            abort();
        json_t *v;
        if (at_json_parse_flags(o->body, o->len, 0, AT_JSON_ALLOW_NUL, &v, NULL))
            abort();
        json_decref(v);
        at_mcp_out_free(o);
    }
}

/* A header line never holds CR or LF (it could split the request). */
static void header_line(void *arg, const char *line)
{
    (void)arg;
    if (strchr(line, '\r') || strchr(line, '\n'))
        abort();
}

/* x-mcp-header annotations of listed tools (SEP-2243): checked, and the
 * headers of a call with the answer itself as arguments. */
static void param_headers(const json_t *result)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(result, "tools"), i, t)
    {
        const json_t *schema = json_object_get(t, "inputSchema");
        char why[300];
        if (at_mcp_check_param_headers(schema, why, sizeof(why)) == 0)
            at_mcp_param_headers(schema, json_object_get(t, "arguments"), header_line, NULL);
        else if (!why[0])
            abort();
    }
}

static void on_ready(struct state *s)
{
    for (int i = 0; i < NREQ; i++)
        s->ids[i] = at_mcp_client_request(&s->c, i, "tools/list", NULL);
}

static void check(struct state *s, struct at_mcp_ev *ev)
{
    if (s->failed && ev->kind != AT_MCP_EV_NONE)
        abort(); /* nothing after FAILED */
    switch (ev->kind) {
    case AT_MCP_EV_READY:
        if (!at_mcp_client_ready(&s->c))
            abort();
        on_ready(s);
        break;
    case AT_MCP_EV_RESPONSE:
        if (ev->tag < 0 || ev->tag >= NREQ || s->ids[ev->tag] != ev->id || s->answered[ev->tag])
            abort();
        if (!ev->result == !ev->error)
            abort();
        s->answered[ev->tag] = 1;
        if (ev->result) {
            json_t *out = NULL;
            char why[200];
            if (at_mcp_tool_output(ev->result, &out, why, sizeof(why)) == 0 && !out)
                abort();
            json_decref(out);
            param_headers(ev->result);
        }
        break;
    case AT_MCP_EV_REQUEST:
        if (!ev->method || !ev->rid)
            abort();
        at_mcp_client_reply_error(&s->c, ev->rid, -32601, "Method not found");
        break;
    case AT_MCP_EV_NOTIFICATION:
        if (!ev->method)
            abort();
        break;
    case AT_MCP_EV_FAILED:
        s->failed = 1;
        break;
    case AT_MCP_EV_NONE:
        break;
    }
    drain_out(s);
}

static int on_msg(void *arg, json_t *v)
{
    struct state *s = arg;
    if (s->stopped)
        abort(); /* the reader was told to stop */
    struct at_mcp_ev ev;
    at_mcp_client_recv(&s->c, v, &ev);
    check(s, &ev);
    at_mcp_ev_release(&ev);
    /* stop once every request is answered, as the transports do */
    int all = 1;
    for (int i = 0; i < NREQ; i++)
        all &= s->answered[i];
    s->stopped = all;
    return all;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3; /* 0 stdio, 1 HTTP JSON, 2 HTTP event stream */
    size_t chunk = (size_t)(data[0] / 3) % 64 + 1;
    data++;
    size--;
    struct state s;
    memset(&s, 0, sizeof(s));
    struct at_mcp_client_cfg cfg = {
        .transport = mode ? AT_MCP_HTTP : AT_MCP_STDIO, .sampling = 1, .max_message = 4096};
    at_mcp_client_init(&s.c, &cfg);
    at_mcp_client_start(&s.c);
    drain_out(&s);
    struct at_mcp_http_resp r;
    at_mcp_http_resp_init(&r, 8192, on_msg, &s);
    if (mode == 1)
        at_mcp_http_resp_header(&r, "Content-Type: application/json\r\n", 32);
    else if (mode == 2)
        at_mcp_http_resp_header(&r, "Content-Type: text/event-stream\r\n", 33);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        const char *p = (const char *)data + off;
        off += n;
        if (mode == 0) {
            if (at_mcp_client_feed(&s.c, p, n))
                break;
            struct at_mcp_ev ev;
            while (at_mcp_client_next(&s.c, &ev)) {
                if (ev.kind == AT_MCP_EV_NONE)
                    abort(); /* never returned on stdio */
                check(&s, &ev);
                at_mcp_ev_release(&ev);
            }
        } else if (at_mcp_http_resp_body(&r, p, n) != 0) {
            break;
        }
    }
    if (mode)
        at_mcp_http_resp_end(&r);
    at_mcp_http_resp_release(&r);
    at_mcp_client_release(&s.c);
    return 0;
}
