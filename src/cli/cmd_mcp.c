/*
 * cmd_mcp.c - `atlas mcp`: the MCP stdio transport for desktop MCP clients
 * (MCP 2025-11-25 basic/transports#stdio), bridged to atlasd's Streamable
 * HTTP endpoint at URL/mcp.
 *
 * Each newline-delimited message read from stdin is POSTed to /mcp (several
 * at once: a notifications/cancelled must not wait behind the tools/call it
 * cancels); each JSON answer, and each event of an SSE answer as it arrives
 * (progress, logs, requests from the server, then the response), is written
 * to stdout as one line.  The bridge keeps the session id the daemon hands
 * out at initialize, opens the session's GET stream for server-initiated
 * notifications (list_changed), and ends the session on EOF.  For
 * 2026-07-28 messages it sets MCP-Protocol-Version, Mcp-Method and Mcp-Name
 * from the body.  $ATLAS_TOKEN, when set, is sent as the bearer token.
 * Diagnostics go to stderr only: stdout carries JSON-RPC.
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/sse.h"
#include "base/str.h"
#include "json/json.h"
#include "mcp/message.h"
#include "mcp/session.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_LINE AT_MCP_MAX_MESSAGE
#define MAX_INFLIGHT 64

struct bridge;

struct xfer {
    struct bridge *b;
    CURL *h;
    struct curl_slist *hd;
    char *payload;
    json_t *id;  /* request id (NULL for notifications / GET) */
    int is_init; /* an initialize request */
    int is_get;  /* the session's GET stream */
    int is_sse;  /* the answer is an event stream */
    int wrote;   /* something went to stdout for it */
    long status;
    char ctype[128];
    char session[AT_MCP_SESSION_ID_MAX];
    struct at_buf body; /* JSON answers */
    struct at_sse_parser sse;
    struct xfer *next;
};

struct bridge {
    struct cli *c;
    char url[1100];
    const char *token;
    CURLM *multi;
    char session[AT_MCP_SESSION_ID_MAX];
    char proto[16];
    struct xfer *active;
    int ninflight;
    struct at_buf in; /* stdin bytes not yet split into lines */
    int in_eof;
    int get_open;
    int get_tries;
    int init_done;
    int init_pending; /* hold further messages until the session id is known */
};

static void emit_line(const char *text, size_t len)
{
    /* one write per message: the client reads lines */
    char *line = at_malloc(len + 1);
    memcpy(line, text, len);
    line[len] = '\n';
    size_t off = 0;
    while (off < len + 1) {
        ssize_t n = write(1, line + off, len + 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(line);
}

static void emit_json(json_t *msg)
{
    char *s = at_json_dumps(msg);
    emit_line(s, strlen(s));
    free(s);
    json_decref(msg);
}

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)event;
    (void)id;
    struct xfer *x = arg;
    if (len == 0)
        return 0; /* priming event */
    /* keep only JSON-RPC messages, re-serialised on one line */
    json_t *v;
    if (at_json_parse(data, len, AT_MCP_MAX_DEPTH, &v, NULL) == 0) {
        x->wrote = 1;
        emit_json(v);
    }
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = sz * n;
    if (x->status == 0)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (!x->is_sse && strncasecmp(x->ctype, "text/event-stream", 17) == 0) {
        x->is_sse = 1;
        at_sse_parser_init(&x->sse, MAX_LINE, on_event, x);
    }
    if (x->is_sse)
        return at_sse_feed(&x->sse, p, len) ? 0 : len;
    return at_buf_append(&x->body, p, len) ? 0 : len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = sz * n;
    if (!at_header_value(p, len, "content-type", x->ctype, sizeof(x->ctype)))
        at_header_value(p, len, "mcp-session-id", x->session, sizeof(x->session));
    return len;
}

static struct xfer *xfer_new(struct bridge *b, const char *method)
{
    struct xfer *x = at_calloc(1, sizeof(*x));
    x->b = b;
    x->h = curl_easy_init();
    at_buf_init(&x->body, MAX_LINE);
    x->hd = curl_slist_append(x->hd, "Accept: application/json, text/event-stream");
    char line[1200];
    if (b->token) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", b->token);
        x->hd = curl_slist_append(x->hd, line);
    }
    if (b->session[0]) {
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", b->session);
        x->hd = curl_slist_append(x->hd, line);
    }
    curl_easy_setopt(x->h, CURLOPT_URL, b->url);
    curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    return x;
}

static void xfer_start(struct bridge *b, struct xfer *x)
{
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hd);
    x->next = b->active;
    b->active = x;
    b->ninflight++;
    curl_multi_add_handle(b->multi, x->h);
}

static void xfer_free(struct xfer *x)
{
    curl_slist_free_all(x->hd);
    curl_easy_cleanup(x->h);
    if (x->is_sse)
        at_sse_parser_release(&x->sse);
    at_buf_release(&x->body);
    json_decref(x->id);
    free(x->payload);
    free(x);
}

static void open_get(struct bridge *b)
{
    if (b->get_open || !b->session[0] || b->get_tries >= 5)
        return;
    struct xfer *x = xfer_new(b, "GET");
    x->is_get = 1;
    char line[64];
    snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", b->proto);
    x->hd = curl_slist_append(x->hd, line);
    b->get_open = 1;
    b->get_tries++;
    xfer_start(b, x);
}

/* One message from the client. */
static void send_message(struct bridge *b, const char *line, size_t len)
{
    struct at_mcp_msg msg;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *eid = NULL;
    int rc = at_mcp_msg_parse(line, len, &msg, &eid, &d);
    if (rc) {
        emit_json(at_mcp_error(eid, rc, d.msg, NULL));
        json_decref(eid);
        return;
    }
    json_decref(eid);
    if (msg.kind == AT_MCP_NOTIFICATION && !strcmp(msg.method, "notifications/cancelled") &&
        msg.meta && json_object_get(msg.meta, AT_MCP_META_VERSION)) {
        /* MCP 2026-07-28 over HTTP: a request is cancelled by closing its
         * stream, so end the transfer that carries it */
        json_t *rid = json_object_get(msg.params, "requestId");
        for (struct xfer **pp = &b->active; rid && *pp; pp = &(*pp)->next) {
            struct xfer *x = *pp;
            if (x->id && json_equal(x->id, rid)) {
                *pp = x->next;
                b->ninflight--;
                curl_multi_remove_handle(b->multi, x->h);
                xfer_free(x);
                break;
            }
        }
        at_mcp_msg_release(&msg);
        return;
    }
    struct xfer *x = xfer_new(b, "POST");
    x->hd = curl_slist_append(x->hd, "Content-Type: application/json");
    char hdr[600];
    const char *mver =
        msg.meta ? json_string_value(json_object_get(msg.meta, AT_MCP_META_VERSION)) : NULL;
    if (mver) {
        /* MCP 2026-07-28 standard headers mirror the body */
        snprintf(hdr, sizeof(hdr), "MCP-Protocol-Version: %.40s", mver);
        x->hd = curl_slist_append(x->hd, hdr);
        if (msg.method) {
            snprintf(hdr, sizeof(hdr), "Mcp-Method: %.200s", msg.method);
            x->hd = curl_slist_append(x->hd, hdr);
            const char *name = json_string_value(json_object_get(msg.params, "name"));
            if (!strcmp(msg.method, "resources/read"))
                name = json_string_value(json_object_get(msg.params, "uri"));
            if (name &&
                (!strcmp(msg.method, "tools/call") || !strcmp(msg.method, "prompts/get") ||
                 !strcmp(msg.method, "resources/read")) &&
                !strpbrk(name, "\r\n")) {
                snprintf(hdr, sizeof(hdr), "Mcp-Name: %.500s", name);
                x->hd = curl_slist_append(x->hd, hdr);
            }
        }
    } else if (b->proto[0]) {
        snprintf(hdr, sizeof(hdr), "MCP-Protocol-Version: %s", b->proto);
        x->hd = curl_slist_append(x->hd, hdr);
    }
    if (msg.kind == AT_MCP_REQUEST) {
        x->id = json_incref(msg.id);
        x->is_init = !strcmp(msg.method, "initialize");
        b->init_pending |= x->is_init;
    }
    int initialized =
        msg.kind == AT_MCP_NOTIFICATION && !strcmp(msg.method, "notifications/initialized");
    x->payload = at_strndup(line, len);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->payload);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    xfer_start(b, x);
    if (initialized)
        b->init_done = 1;
    at_mcp_msg_release(&msg);
}

static void xfer_done(struct bridge *b, struct xfer *x, CURLcode cc)
{
    for (struct xfer **pp = &b->active; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    b->ninflight--;
    curl_multi_remove_handle(b->multi, x->h);
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->is_get) {
        b->get_open = 0;
        if (x->status == 405 || x->status == 404)
            b->get_tries = 1000; /* no stream offered */
        xfer_free(x);
        return;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "atlas mcp: cannot reach %s: %s\n", b->url, curl_easy_strerror(cc));
        if (x->id && !x->wrote)
            emit_json(at_mcp_error(x->id, AT_MCP_INTERNAL_ERROR, "atlasd is not reachable", NULL));
        xfer_free(x);
        return;
    }
    if (x->is_init) {
        b->init_pending = 0;
        if (x->session[0])
            snprintf(b->session, sizeof(b->session), "%s", x->session);
    }
    if (x->is_sse) {
        at_sse_feed(&x->sse, "\n\n", 2);
    } else if (x->body.len > 0) {
        json_t *v;
        if (at_json_parse(x->body.p, x->body.len, AT_MCP_MAX_DEPTH, &v, NULL) == 0 &&
            json_is_object(v) && json_object_get(v, "jsonrpc")) {
            if (x->is_init) {
                const char *pv = json_string_value(
                    json_object_get(json_object_get(v, "result"), "protocolVersion"));
                if (pv)
                    snprintf(b->proto, sizeof(b->proto), "%s", pv);
            }
            x->wrote = 1;
            emit_json(v);
        } else {
            json_decref(v);
        }
    }
    if (x->id && !x->wrote) {
        char msg[200];
        snprintf(msg, sizeof(msg), "atlasd answered HTTP %ld without a JSON-RPC message",
                 x->status);
        emit_json(at_mcp_error(x->id, AT_MCP_INTERNAL_ERROR, msg, NULL));
    }
    xfer_free(x);
}

static void read_stdin(struct bridge *b)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            b->in_eof = 1;
            break;
        }
        if (at_buf_append(&b->in, buf, (size_t)n)) {
            fprintf(stderr, "atlas mcp: a message longer than %u bytes; giving up\n", MAX_LINE);
            b->in_eof = 1;
            break;
        }
        if ((size_t)n < sizeof(buf))
            break;
    }
}

/* Send the complete lines read so far (all of them, unless an initialize
 * must be answered first). */
static void split_lines(struct bridge *b)
{
    size_t start = 0;
    for (size_t i = 0; i < b->in.len; i++) {
        if (b->in.p[i] != '\n')
            continue;
        size_t len = i - start;
        const char *line = b->in.p + start;
        if (len && line[len - 1] == '\r')
            len--;
        if (len)
            send_message(b, line, len);
        start = i + 1;
        if (b->init_pending)
            break;
    }
    at_buf_consume(&b->in, start);
    if (b->in_eof && b->in.len && !b->init_pending && !memchr(b->in.p, '\n', b->in.len)) {
        send_message(b, b->in.p, b->in.len);
        at_buf_clear(&b->in);
    }
}

static void end_session(struct bridge *b)
{
    if (!b->session[0])
        return;
    struct xfer *x = xfer_new(b, "DELETE");
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hd);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_perform(x->h);
    xfer_free(x);
}

static void usage(FILE *f)
{
    fputs("usage: atlas mcp\n\n"
          "Serves MCP on stdin/stdout (newline-delimited JSON-RPC) for desktop MCP clients,\n"
          "bridged to atlasd's /mcp endpoint at --url / $ATLAS_URL.  Every registered agent\n"
          "is a tool, and so are the platform tools (atlas.*).  $ATLAS_TOKEN, when set, is\n"
          "sent as the bearer token.  Example client configuration:\n"
          "  {\"command\": \"atlas\", \"args\": [\"mcp\"]}\n",
          f);
}

int cmd_mcp(struct cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc > 1) {
        usage(stderr);
        return CLI_USAGE;
    }
    struct bridge b;
    memset(&b, 0, sizeof(b));
    b.c = c;
    snprintf(b.url, sizeof(b.url), "%s/mcp", c->url);
    b.token = getenv("ATLAS_TOKEN");
    if (b.token && !*b.token)
        b.token = NULL;
    b.multi = curl_multi_init();
    at_buf_init(&b.in, MAX_LINE + 2);
    int fl = fcntl(0, F_GETFL);
    if (fl >= 0)
        fcntl(0, F_SETFL, fl | O_NONBLOCK);
    struct curl_waitfd wfd = {.fd = 0, .events = CURL_WAIT_POLLIN};
    while (!b.in_eof || b.in.len || b.ninflight > (b.get_open ? 1 : 0)) {
        if (!b.init_pending && b.in.len)
            split_lines(&b); /* including lines held back during initialize */
        if (b.init_done && !b.get_open)
            open_get(&b);
        int running;
        curl_multi_perform(b.multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(b.multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            xfer_done(&b, x, m->data.result);
        }
        if (b.in_eof && !b.in.len && b.ninflight <= (b.get_open ? 1 : 0))
            break;
        if (!b.init_pending && b.in.len)
            continue;
        int nfd = 0;
        curl_multi_poll(b.multi, b.in_eof || b.ninflight >= MAX_INFLIGHT ? NULL : &wfd,
                        b.in_eof || b.ninflight >= MAX_INFLIGHT ? 0 : 1, 1000, &nfd);
        if (!b.in_eof && !b.init_pending && b.ninflight < MAX_INFLIGHT &&
            (wfd.revents & CURL_WAIT_POLLIN))
            read_stdin(&b);
        wfd.revents = 0;
    }
    /* stop the GET stream, end the session */
    while (b.active) {
        struct xfer *x = b.active;
        b.active = x->next;
        curl_multi_remove_handle(b.multi, x->h);
        xfer_free(x);
    }
    end_session(&b);
    curl_multi_cleanup(b.multi);
    at_buf_release(&b.in);
    return CLI_OK;
}
