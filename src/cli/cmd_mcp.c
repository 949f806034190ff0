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
 * notifications (list_changed), and ends the session on EOF.  The headers
 * (MCP-Protocol-Version, Mcp-Session-Id, and for 2026-07-28 messages
 * Mcp-Method and Mcp-Name from the body) and the reading of JSON or SSE
 * answers are the MCP client's (mcp/client.h), shared with Atlas's other
 * clients.  The CLI's token (cli_token: $ATLAS_TOKEN, the credentials
 * file, the data directory's admin token) is sent as the bearer token.
 * Diagnostics go to stderr only: stdout carries JSON-RPC.
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "json/json.h"
#include "mcp/client.h"
#include "mcp/message.h"

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
    int listen;  /* a subscriptions/listen request (2026-07-28): its stream never ends */
    int wrote;   /* something went to stdout for it */
    int replay;  /* the bridge's own replay of the handshake: nothing to stdout */
    int lost;    /* answered 404 for the session: replayed after a new handshake */
    long status;
    struct at_mcp_http_resp resp; /* the answer, JSON or an event stream */
    struct xfer *next;
};

struct bridge {
    struct cli *c;
    char url[1100];
    const char *token;
    CURLM *multi;
    struct at_mcp_peer peer; /* the revision and session id the daemon gave */
    struct xfer *active;
    int ninflight;
    struct at_buf in; /* stdin bytes not yet split into lines */
    int in_eof;
    int get_open;
    int get_tries;
    int init_done;
    int init_pending;   /* hold further messages until the session id is known */
    char *init_body;    /* the client's initialize, replayed for a new session */
    int replaying;      /* a replayed initialize is in flight */
    struct xfer *retry; /* messages that met the lost session, sent again after it */
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

/* One message of an answer: relayed to the client, re-serialised on one
 * line (only JSON-RPC messages: an event stream may carry others). */
static int on_msg(void *arg, json_t *v)
{
    struct xfer *x = arg;
    if (!json_is_object(v) || !json_object_get(v, "jsonrpc"))
        return 0;
    if (x->status == 404 && x->b->peer.session[0] && !x->is_init && x->payload) {
        /* the daemon lost the session (it restarted, or the session
         * expired): the client never sees that, its message goes again */
        x->lost = 1;
        return 0;
    }
    if (x->is_init) {
        const char *pv =
            json_string_value(json_object_get(json_object_get(v, "result"), "protocolVersion"));
        if (pv)
            snprintf(x->b->peer.proto, sizeof(x->b->peer.proto), "%s", pv);
    }
    if (x->replay)
        return 0;
    x->wrote = 1;
    emit_json(json_incref(v));
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = sz * n;
    if (x->status == 0)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    return at_mcp_http_resp_body(&x->resp, p, len) < 0 ? 0 : len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct xfer *x = arg;
    at_mcp_http_resp_header(&x->resp, p, sz * n);
    return sz * n;
}

static void add_line(void *arg, const char *line)
{
    struct xfer *x = arg;
    x->hd = curl_slist_append(x->hd, line);
}

static struct xfer *xfer_new(struct bridge *b, const char *method)
{
    struct xfer *x = at_calloc(1, sizeof(*x));
    x->b = b;
    x->h = curl_easy_init();
    at_mcp_http_resp_init(&x->resp, MAX_LINE, on_msg, x);
    if (b->token) {
        char line[1200];
        snprintf(line, sizeof(line), "Authorization: Bearer %s", b->token);
        x->hd = curl_slist_append(x->hd, line);
    }
    curl_easy_setopt(x->h, CURLOPT_URL, b->url);
    cli_tls(b->c, x->h);
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
    at_mcp_http_resp_release(&x->resp);
    json_decref(x->id);
    free(x->payload);
    free(x);
}

static void open_get(struct bridge *b)
{
    if (b->get_open || !b->peer.session[0] || b->get_tries >= 5)
        return;
    struct xfer *x = xfer_new(b, "GET");
    x->is_get = 1;
    at_mcp_http_headers(AT_MCP_HTTP_GET, &b->peer, NULL, NULL, add_line, x);
    b->get_open = 1;
    b->get_tries++;
    xfer_start(b, x);
}

/* POST a message (line, len) with the headers its body calls for. */
static struct xfer *post(struct bridge *b, const char *line, size_t len, const json_t *root)
{
    struct xfer *x = xfer_new(b, "POST");
    /* the headers mirror the body: the client's one rule */
    struct at_mcp_out o;
    memset(&o, 0, sizeof(o));
    at_mcp_out_describe(&o, root);
    at_mcp_http_headers(AT_MCP_HTTP_POST, &b->peer, &o, NULL, add_line, x);
    x->payload = at_strndup(line, len);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->payload);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    return x;
}

/* POST a stored message again (a lost session's). */
static void repost(struct bridge *b, struct xfer *old)
{
    json_t *root = NULL;
    at_json_parse(old->payload, strlen(old->payload), 0, &root, NULL);
    struct xfer *x = post(b, old->payload, strlen(old->payload), root);
    json_decref(root);
    x->id = old->id ? json_incref(old->id) : NULL;
    x->replay = old->replay;
    xfer_start(b, x);
}

/* The session is gone: replay the client's initialize (and initialized)
 * for a new one, then the messages that met the old one. */
static void replay_handshake(struct bridge *b)
{
    if (b->replaying || !b->init_body)
        return;
    fprintf(stderr, "atlas mcp: the daemon lost the session; starting a new one\n");
    b->peer.session[0] = '\0';
    b->get_tries = 0;
    json_t *root = NULL;
    at_json_parse(b->init_body, strlen(b->init_body), 0, &root, NULL);
    struct xfer *x = post(b, b->init_body, strlen(b->init_body), root);
    json_decref(root);
    x->is_init = 1;
    x->replay = 1;
    b->replaying = 1;
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
    struct xfer *x = post(b, line, len, msg.root);
    if (msg.kind == AT_MCP_REQUEST) {
        x->id = json_incref(msg.id);
        x->is_init = !strcmp(msg.method, "initialize");
        x->listen = !strcmp(msg.method, "subscriptions/listen");
        b->init_pending |= x->is_init;
        if (x->is_init) {
            free(b->init_body);
            b->init_body = at_strndup(line, len);
        }
    }
    int initialized =
        msg.kind == AT_MCP_NOTIFICATION && !strcmp(msg.method, "notifications/initialized");
    if (b->replaying) {
        /* a new session is being made: this waits for it */
        x->next = b->retry;
        b->retry = x;
        at_mcp_msg_release(&msg);
        return;
    }
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
        if (x->id && !x->wrote && !x->replay)
            emit_json(at_mcp_error(x->id, AT_MCP_INTERNAL_ERROR, "atlasd is not reachable", NULL));
        if (x->is_init) {
            /* the messages held behind it go (and fail) on their own */
            b->init_pending = 0;
            if (x->replay)
                b->replaying = 0;
        }
        xfer_free(x);
        return;
    }
    if (x->is_init) {
        b->init_pending = 0;
        if (x->resp.session[0])
            snprintf(b->peer.session, sizeof(b->peer.session), "%s", x->resp.session);
    }
    at_mcp_http_resp_end(&x->resp);
    if (x->lost) {
        /* after the new handshake, this goes again */
        struct xfer *keep = xfer_new(b, "POST");
        keep->payload = x->payload;
        x->payload = NULL;
        keep->id = x->id;
        x->id = NULL;
        keep->next = b->retry;
        b->retry = keep;
        xfer_free(x);
        replay_handshake(b);
        return;
    }
    if (x->is_init && x->replay) {
        /* the new session is there: initialized, then what waited */
        b->replaying = 0;
        static const char done[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
        json_t *root =
            json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
        struct xfer *n = post(b, done, sizeof(done) - 1, root);
        json_decref(root);
        n->replay = 1;
        xfer_start(b, n);
        struct xfer *r = b->retry;
        b->retry = NULL;
        while (r) {
            struct xfer *next = r->next;
            repost(b, r);
            xfer_free(r);
            r = next;
        }
        xfer_free(x);
        return;
    }
    if (x->id && !x->wrote && !x->replay) {
        char msg[200];
        snprintf(msg, sizeof(msg), "atlasd answered HTTP %ld without a JSON-RPC message",
                 x->status);
        emit_json(at_mcp_error(x->id, AT_MCP_INTERNAL_ERROR, msg, NULL));
    }
    xfer_free(x);
}

/* Close the streams of subscriptions/listen requests: closing one is how a
 * stateless client ends its subscription (MCP 2026-07-28). */
static void drop_listens(struct bridge *b)
{
    for (struct xfer **pp = &b->active; *pp;) {
        struct xfer *x = *pp;
        if (!x->listen) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        b->ninflight--;
        curl_multi_remove_handle(b->multi, x->h);
        xfer_free(x);
    }
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
    if (!b->peer.session[0])
        return;
    struct xfer *x = xfer_new(b, "DELETE");
    at_mcp_http_headers(AT_MCP_HTTP_DELETE, &b->peer, NULL, NULL, add_line, x);
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
          "is a tool, and so are the platform tools (atlas.*) the token's role allows.\n"
          "The CLI's token ($ATLAS_TOKEN, `atlas login`, or the local data directory's\n"
          "admin token) is sent as the bearer token.  Example client configuration:\n"
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
    b.token = cli_token(c);
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
        if (b.in_eof && !b.in.len)
            drop_listens(&b); /* the client is gone: its subscriptions end */
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
    while (b.retry) {
        struct xfer *x = b.retry;
        b.retry = x->next;
        xfer_free(x);
    }
    free(b.init_body);
    end_session(&b);
    curl_multi_cleanup(b.multi);
    at_buf_release(&b.in);
    return CLI_OK;
}
