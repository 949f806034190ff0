/*
 * cmd_mcp_client.c - `atlas mcp-client`: a small MCP client on the command
 * line.  It lists the tools, resources and prompts of an MCP server, calls
 * a tool with JSON arguments, reads a resource or gets a prompt, against
 * atlasd's own /mcp (the default, with the CLI's token), any Streamable
 * HTTP server (--server URL) or a stdio server it starts (-- CMD ARGS...).
 *
 * The protocol is Atlas's one MCP client (mcp/client.h: revision choice,
 * ids, ping, headers, JSON or SSE answers); this file is its blocking
 * transport for a CLI process: one curl easy handle per exchange, or the
 * pipes of a child process.  The server's requests other than ping are
 * answered -32601 "not supported yet" (the client announces no sampling,
 * elicitation or roots); its progress and log notifications go to stderr.
 * A 2026-07-28 input_required result is refused the same way.  A third
 * party server gets no Atlas token: only --token-env's value is sent to it.
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"
#include "mcp/client.h"
#include "mcp/message.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ANSWER AT_MCP_MAX_MESSAGE
#define MAX_PAGES 100
#define MAX_RESUMES 5

static const char usage_text[] =
    "usage: atlas mcp-client [--server URL] [--token-env VAR] [--header 'N: V']...\n"
    "                        [--timeout SECONDS] [--json] COMMAND [ARGS]\n"
    "                        [-- SERVER-CMD ARGS...]\n\n"
    "A small MCP client.  The server is atlasd's /mcp (--url / $ATLAS_URL, with the CLI's\n"
    "token), or any Streamable HTTP server (--server URL), or a stdio server started from\n"
    "the words after --.  The revision is chosen as Atlas's client does: server/discover\n"
    "(2026-07-28, stateless), else initialize (2025-11-25, a session).\n\n"
    "commands:\n"
    "  info                  the handshake: revision, session, server version\n"
    "  tools                 list the tools (every page)\n"
    "  call TOOL [ARGS]      call TOOL with ARGS (a JSON object, @FILE or -; default {})\n"
    "  resources             list the resources and resource templates\n"
    "  read URI              read a resource\n"
    "  prompts               list the prompts\n"
    "  prompt NAME [ARGS]    get a prompt with ARGS (a JSON object of strings)\n\n"
    "options:\n"
    "  --server URL          a Streamable HTTP MCP server (no Atlas token is sent to it)\n"
    "  --token-env VAR       send $VAR as the bearer token\n"
    "  --header 'N: V'       an extra HTTP header (repeatable)\n"
    "  --timeout SECONDS     for each exchange (default 60)\n"
    "  --json                print the MCP result objects as JSON\n\n"
    "The server's progress and log notifications go to stderr.  Its requests other than\n"
    "ping (sampling, elicitation, roots) and 2026-07-28 input_required results are refused\n"
    "as not supported yet.  Exit status: 0; 1 an error answer or a tool error (isError);\n"
    "2 bad arguments; 3 the server cannot be reached or broke the protocol.\n";

struct conn {
    struct cli *c;
    int stdio;
    char url[1100];
    char *auth; /* "Authorization: Bearer ..." or NULL */
    struct curl_slist *extra;
    long timeout_ms;
    CURL *h, *aux;
    struct at_mcp_client mc;
    struct at_mcp_http_resp resp;
    long long want; /* the request whose answer ends the wait */
    int done;       /* its answer came */
    json_t *result; /* the answer's result, or NULL */
    char err[600];  /* the answer's error, or why the exchange failed */
    long err_code;  /* the JSON-RPC error code, 0 when none */
    int broken;     /* the transport or protocol failed (exit 3) */
    long long xid;  /* the request the current exchange carries (0: none) */
    int xanswered;  /* its answer came on the exchange */
    /* stdio */
    pid_t pid;
    int to_child, from_child;
};

static void add_line(void *arg, const char *line)
{
    struct curl_slist **hd = arg;
    size_t n = strlen(line);
    if (n >= 2 && line[n - 2] == ':' && line[n - 1] == ' ') {
        /* an empty value: libcurl sends "Name;" as "Name:" */
        char *semi = at_asprintf("%.*s;", (int)(n - 2), line);
        *hd = curl_slist_append(*hd, semi);
        free(semi);
        return;
    }
    *hd = curl_slist_append(*hd, line);
}

static const char *str_or(const char *s, const char *def)
{
    return s ? s : def;
}

static void fail_conn(struct conn *k, const char *fmt, const char *a, const char *b)
{
    if (!k->broken && !k->done)
        snprintf(k->err, sizeof(k->err), fmt, a, b);
    k->broken = 1;
}

static void notify(struct conn *k, const struct at_mcp_ev *ev)
{
    if (k->c->quiet)
        return;
    if (!strcmp(ev->method, "notifications/progress")) {
        json_t *p = ev->params;
        json_t *total = json_object_get(p, "total");
        const char *msg = json_string_value(json_object_get(p, "message"));
        fprintf(stderr, "progress: %g", json_number_value(json_object_get(p, "progress")));
        if (json_is_number(total))
            fprintf(stderr, "/%g", json_number_value(total));
        fprintf(stderr, "%s%s\n", msg ? " " : "", msg ? msg : "");
    } else if (!strcmp(ev->method, "notifications/message")) {
        json_t *data = json_object_get(ev->params, "data");
        char *text = json_is_string(data) ? NULL : at_json_dumps(data);
        fprintf(stderr, "log %s%s%s: %s\n",
                str_or(json_string_value(json_object_get(ev->params, "level")), "info"),
                json_object_get(ev->params, "logger") ? " " : "",
                str_or(json_string_value(json_object_get(ev->params, "logger")), ""),
                text ? text : json_string_value(data));
        free(text);
    }
}

/* One event from the client core. */
static void on_event(struct conn *k, struct at_mcp_ev *ev)
{
    switch (ev->kind) {
    case AT_MCP_EV_RESPONSE:
        if (ev->id != k->want || k->done)
            break;
        k->done = 1;
        if (ev->result) {
            k->result = json_incref(ev->result);
        } else {
            at_mcp_ev_error_text(ev, k->err, sizeof(k->err));
            k->err_code = (long)ev->error_code;
        }
        break;
    case AT_MCP_EV_REQUEST: {
        char why[200];
        snprintf(why, sizeof(why), "atlas mcp-client does not answer %s (not supported yet)",
                 ev->method);
        if (at_mcp_client_reply_error(&k->mc, ev->rid, AT_MCP_METHOD_NOT_FOUND, why))
            fail_conn(k, "%s%s", "too many messages queued for the server", "");
        break;
    }
    case AT_MCP_EV_NOTIFICATION:
        notify(k, ev);
        break;
    case AT_MCP_EV_FAILED:
        fail_conn(k, "the server broke the MCP protocol: %s %s", ev->detail, ev->excerpt);
        break;
    default:
        break;
    }
}

/* ---- Streamable HTTP ---- */

static void http_post_answers(struct conn *k);

static int on_msg(void *arg, json_t *v)
{
    struct conn *k = arg;
    if (k->resp.session[0])
        at_mcp_client_session(&k->mc, k->resp.session);
    json_t *vid = json_object_get(v, "id");
    if (k->xid && json_is_integer(vid) && json_integer_value(vid) == k->xid &&
        (json_object_get(v, "result") || json_object_get(v, "error")))
        k->xanswered = 1; /* (the handshake's answers are the client's business) */
    struct at_mcp_ev ev;
    at_mcp_client_recv(&k->mc, v, &ev);
    on_event(k, &ev);
    at_mcp_ev_release(&ev);
    /* our answers to the server's requests go at once, on another
     * connection: the server waits for them before it answers */
    http_post_answers(k);
    return k->done || k->broken;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct conn *k = arg;
    return at_mcp_http_resp_body(&k->resp, p, sz * n) == 0 ? sz * n : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct conn *k = arg;
    at_mcp_http_resp_header(&k->resp, p, sz * n);
    return sz * n;
}

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

static struct curl_slist *base_headers(struct conn *k, struct curl_slist *hd)
{
    if (k->auth)
        hd = curl_slist_append(hd, k->auth);
    for (struct curl_slist *e = k->extra; e; e = e->next)
        hd = curl_slist_append(hd, e->data);
    return hd;
}

static void setup(struct conn *k, CURL *h, struct curl_slist *hd, const char *verb)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, k->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, verb);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms < 10000 ? k->timeout_ms : 10000);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    cli_tls(k->c, h);
}

/* POST queued answers (id 0, no method) on the second handle. */
static void http_post_answers(struct conn *k)
{
    while (k->mc.out_head && k->mc.out_head->id == 0 && !k->mc.out_head->method[0]) {
        struct at_mcp_out *o = at_mcp_client_pop(&k->mc);
        struct curl_slist *hd = base_headers(k, NULL);
        at_mcp_http_headers(AT_MCP_HTTP_POST, at_mcp_client_peer(&k->mc), o, NULL, add_line, &hd);
        setup(k, k->aux, hd, "POST");
        curl_easy_setopt(k->aux, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(k->aux, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->len);
        curl_easy_setopt(k->aux, CURLOPT_WRITEFUNCTION, discard);
        CURLcode cc = curl_easy_perform(k->aux);
        curl_slist_free_all(hd);
        at_mcp_out_free(o);
        if (cc != CURLE_OK)
            fail_conn(k, "cannot reach %s: %s", k->url, curl_easy_strerror(cc));
    }
}

/* One exchange: POST o, or GET the rest of a stream (o NULL).  Returns the
 * HTTP status, or -1 with the connection failed. */
static long http_exchange(struct conn *k, const struct at_mcp_out *o)
{
    struct curl_slist *hd = base_headers(k, NULL);
    at_mcp_http_headers(o ? AT_MCP_HTTP_POST : AT_MCP_HTTP_GET, at_mcp_client_peer(&k->mc), o,
                        o ? NULL : k->resp.last_event_id, add_line, &hd);
    setup(k, k->h, hd, o ? "POST" : "GET");
    if (o) {
        curl_easy_setopt(k->h, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(k->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->len);
    }
    curl_easy_setopt(k->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k->h, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(k->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k->h, CURLOPT_HEADERDATA, k);
    at_mcp_http_resp_reset(&k->resp);
    CURLcode cc = curl_easy_perform(k->h);
    curl_slist_free_all(hd);
    long status = 0;
    curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_WRITE_ERROR && k->resp.stopped)
        cc = CURLE_OK; /* we stopped reading: the answer is in */
    if (cc == CURLE_OK && !k->resp.stopped && at_mcp_http_resp_end(&k->resp))
        fail_conn(k, "%s answered with something that is not JSON (%s)", k->url,
                  k->resp.content_type[0] ? k->resp.content_type : "no content type");
    if (cc != CURLE_OK && !k->done) {
        fail_conn(k, "cannot reach %s: %s", k->url, curl_easy_strerror(cc));
        return -1;
    }
    return status;
}

/* Send everything queued; a request's answer is waited for on its own
 * exchange (and the streams that resume it). */
static void http_flush(struct conn *k)
{
    struct at_mcp_out *o;
    while (!k->broken && (o = at_mcp_client_pop(&k->mc))) {
        long long id = o->id;
        char method[128];
        snprintf(method, sizeof(method), "%s", o->method);
        k->xid = id;
        k->xanswered = 0;
        long status = http_exchange(k, o);
        at_mcp_out_free(o);
        if (status < 0)
            return;
        if (status == 401 || status == 403) {
            char st[16];
            snprintf(st, sizeof(st), "%ld", status);
            fail_conn(k, "%s requires authentication (HTTP %s): give a token with --token-env",
                      k->url, st);
            return;
        }
        if (id == 0)
            continue;
        /* a stream that ended before the answer is resumed (MCP 2025-11-25
         * "Resumability and Redelivery") */
        for (int tries = 0; !k->done && !k->broken && k->resp.sse && k->resp.last_event_id[0] &&
                            tries < MAX_RESUMES && at_mcp_client_ready(&k->mc);
             tries++) {
            long wait = k->resp.retry_ms >= 0 ? k->resp.retry_ms : 1000;
            usleep((useconds_t)(wait > 5000 ? 5000 : wait) * 1000);
            if (http_exchange(k, NULL) < 0)
                return;
        }
        if (k->done || k->broken || k->xanswered)
            continue;
        if (id == k->want || !at_mcp_client_ready(&k->mc)) {
            if (at_mcp_client_unanswered(&k->mc, id))
                continue; /* server/discover not understood: initialize is queued */
            char st[16];
            snprintf(st, sizeof(st), "%ld", status);
            fail_conn(k, "%s gave no answer to %s", k->url, method);
            if (status >= 400)
                snprintf(k->err + strlen(k->err), sizeof(k->err) - strlen(k->err), " (HTTP %s)",
                         st);
            return;
        }
    }
}

/* ---- stdio ---- */

static int stdio_start(struct conn *k, char **argv)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out)) {
        fail_conn(k, "cannot make pipes: %s%s", strerror(errno), "");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fail_conn(k, "cannot start %s: %s", argv[0], strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "atlas mcp-client: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    k->pid = pid;
    k->to_child = in[1];
    k->from_child = out[0];
    fcntl(k->to_child, F_SETFD, FD_CLOEXEC);
    fcntl(k->from_child, F_SETFD, FD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void stdio_write_all(struct conn *k)
{
    struct at_mcp_out *o;
    while (!k->broken && (o = at_mcp_client_pop(&k->mc))) {
        struct at_buf b;
        at_buf_init(&b, o->len + 2);
        at_buf_append(&b, o->body, o->len);
        at_buf_append(&b, "\n", 1);
        size_t off = 0;
        while (off < b.len) {
            ssize_t n = write(k->to_child, b.p + off, b.len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                fail_conn(k, "the server's stdin closed: %s%s", strerror(errno), "");
                break;
            }
            off += (size_t)n;
        }
        at_buf_release(&b);
        at_mcp_out_free(o);
    }
}

/* Read and handle the server's messages until the wait ends (done, broken,
 * READY during the handshake) or the deadline passes. */
static void stdio_pump(struct conn *k, int until_ready)
{
    long long deadline = at_now_ms() + k->timeout_ms;
    while (!k->broken && !k->done && !(until_ready && at_mcp_client_ready(&k->mc))) {
        stdio_write_all(k);
        struct at_mcp_ev ev;
        int got = 0;
        while (!k->broken && at_mcp_client_next(&k->mc, &ev) == 1) {
            got = 1;
            on_event(k, &ev);
            at_mcp_ev_release(&ev);
        }
        stdio_write_all(k);
        if (got || k->broken || k->done || (until_ready && at_mcp_client_ready(&k->mc)))
            continue;
        long long left = deadline - at_now_ms();
        if (left <= 0) {
            fail_conn(k, "the server did not answer within %s%s", "the timeout", "");
            return;
        }
        struct pollfd p = {.fd = k->from_child, .events = POLLIN};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR) {
            fail_conn(k, "poll: %s%s", strerror(errno), "");
            return;
        }
        if (r <= 0)
            continue;
        char buf[65536];
        ssize_t n = read(k->from_child, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fail_conn(k, "the server exited before it answered%s%s", "", "");
            return;
        }
        /* AT_E2BIG: the next at_mcp_client_next reports it */
        (void)at_mcp_client_feed(&k->mc, buf, (size_t)n);
    }
}

static void stdio_stop(struct conn *k)
{
    if (k->pid <= 0)
        return;
    /* MCP 2025-11-25 basic/transports#stdio, shutdown: close the server's
     * stdin, wait for it to exit (reading what it still writes, so that it
     * does not die of EPIPE), then SIGTERM, then SIGKILL */
    close(k->to_child);
    int st;
    long long deadline = at_now_ms() + 2000;
    for (;;) {
        long long left = deadline - at_now_ms();
        struct pollfd p = {.fd = k->from_child, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        char buf[4096];
        ssize_t n = read(k->from_child, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    close(k->from_child);
    for (int i = 0; i < 20; i++) {
        if (waitpid(k->pid, &st, WNOHANG) == k->pid)
            return;
        usleep(50000);
    }
    kill(k->pid, SIGTERM);
    for (int i = 0; i < 40; i++) {
        if (waitpid(k->pid, &st, WNOHANG) == k->pid)
            return;
        usleep(50000);
    }
    kill(k->pid, SIGKILL);
    waitpid(k->pid, &st, 0);
}

/* ---- requests ---- */

static void pump(struct conn *k, int until_ready)
{
    if (k->stdio)
        stdio_pump(k, until_ready);
    else
        http_flush(k);
}

static int conn_open(struct conn *k)
{
    at_mcp_client_start(&k->mc);
    pump(k, 1);
    if (!k->broken && !at_mcp_client_ready(&k->mc))
        fail_conn(k, "%s: the MCP handshake did not finish%s", k->stdio ? "the server" : k->url,
                  "");
    return k->broken ? -1 : 0;
}

/* Send a request built by the caller (id from at_mcp_client_request or
 * call_tool) and wait for its answer: 0 with k->result, or -1 (k->err). */
static int conn_wait(struct conn *k, long long id)
{
    if (id < 0) {
        fail_conn(k, "cannot send the request (%s)%s", at_err_slug((int)id), "");
        return -1;
    }
    json_decref(k->result);
    k->result = NULL;
    k->err[0] = '\0';
    k->err_code = 0;
    k->done = 0;
    k->want = id;
    pump(k, 0);
    if (!k->done && !k->broken)
        fail_conn(k, "no answer to the request%s%s", "", "");
    k->want = 0;
    return k->result ? 0 : -1;
}

static int conn_request(struct conn *k, const char *method, json_t *params)
{
    return conn_wait(k, at_mcp_client_request(&k->mc, 0, method, params));
}

/* Every page of a list: the arrays under key, gathered into out[key]. */
static int list_all(struct conn *k, const char *method, const char *key, json_t *out)
{
    json_t *all = json_array();
    json_t *cursor = NULL;
    int rc = 0;
    for (int page = 0; page < MAX_PAGES; page++) {
        json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : json_object();
        json_decref(cursor);
        cursor = NULL;
        rc = conn_request(k, method, params);
        if (rc)
            break;
        json_array_extend(all, json_object_get(k->result, key));
        json_t *next = json_object_get(k->result, "nextCursor");
        if (json_is_string(next) && json_string_length(next))
            cursor = json_incref(next);
        else
            break;
    }
    json_decref(cursor);
    json_object_set_new(out, key, all);
    return rc;
}

/* ---- output ---- */

static void print_clean(FILE *f, const char *s)
{
    /* text from a server: no terminal control characters */
    for (; s && *s; s++)
        fputc(((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') || *s == 0x7f ? '?' : *s, f);
}

static void print_list(const json_t *items, const char *key, const char *desc_key)
{
    size_t i, w = 0;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        size_t n = strlen(str_or(json_string_value(json_object_get(it, key)), ""));
        w = n > w ? n : w;
    }
    json_array_foreach(items, i, it)
    {
        const char *name = str_or(json_string_value(json_object_get(it, key)), "");
        const char *d = json_string_value(json_object_get(it, desc_key));
        print_clean(stdout, name);
        if (d && *d) {
            printf("%*s  ", (int)(w - strlen(name)), "");
            /* the first line, at most 100 bytes, cut on a UTF-8 boundary */
            char line[104];
            size_t n = strcspn(d, "\n");
            if (n > 100) {
                n = 100;
                while (n > 0 && ((unsigned char)d[n] & 0xC0) == 0x80)
                    n--;
            }
            memcpy(line, d, n);
            line[n] = '\0';
            print_clean(stdout, line);
        }
        putchar('\n');
    }
}

static void print_block(const json_t *b)
{
    const char *type = str_or(json_string_value(json_object_get(b, "type")), "?");
    if (!strcmp(type, "text")) {
        print_clean(stdout, json_string_value(json_object_get(b, "text")));
        putchar('\n');
    } else if (!strcmp(type, "resource")) {
        const json_t *r = json_object_get(b, "resource");
        const char *text = json_string_value(json_object_get(r, "text"));
        printf("[resource ");
        print_clean(stdout, json_string_value(json_object_get(r, "uri")));
        printf("]\n");
        if (text) {
            print_clean(stdout, text);
            putchar('\n');
        }
    } else if (!strcmp(type, "resource_link")) {
        printf("[resource link ");
        print_clean(stdout, json_string_value(json_object_get(b, "uri")));
        printf("]\n");
    } else {
        printf("[%s ", type);
        print_clean(stdout, str_or(json_string_value(json_object_get(b, "mimeType")), "?"));
        printf(", %zu base64 bytes]\n", json_string_length(json_object_get(b, "data")));
    }
}

static int print_tool_result(struct conn *k, const json_t *res)
{
    int is_error = json_is_true(json_object_get(res, "isError"));
    if (k->c->json) {
        cli_print_json(stdout, res);
        return is_error ? CLI_FAILED : CLI_OK;
    }
    const json_t *content = json_object_get(res, "content");
    const json_t *sc = json_object_get(res, "structuredContent");
    if (is_error) {
        size_t i;
        json_t *b;
        fprintf(stderr, "atlas mcp-client: the tool failed:");
        json_array_foreach(content, i, b) if (json_is_string(json_object_get(b, "text")))
        {
            fputc(' ', stderr);
            print_clean(stderr, json_string_value(json_object_get(b, "text")));
        }
        fputc('\n', stderr);
        return CLI_FAILED;
    }
    if (sc) {
        cli_print_json(stdout, sc);
        return CLI_OK;
    }
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) print_block(b);
    return CLI_OK;
}

static void print_read(const json_t *res)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(res, "contents"), i, r)
    {
        const char *text = json_string_value(json_object_get(r, "text"));
        if (text) {
            print_clean(stdout, text);
            putchar('\n');
        } else {
            printf("[blob ");
            print_clean(stdout, str_or(json_string_value(json_object_get(r, "mimeType")), "?"));
            printf(", %zu base64 bytes]\n", json_string_length(json_object_get(r, "blob")));
        }
    }
}

static void print_prompt(const json_t *res)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(res, "messages"), i, m)
    {
        print_clean(stdout, str_or(json_string_value(json_object_get(m, "role")), "?"));
        printf(": ");
        const json_t *b = json_object_get(m, "content");
        if (json_is_string(json_object_get(b, "text"))) {
            print_clean(stdout, json_string_value(json_object_get(b, "text")));
            putchar('\n');
        } else {
            print_block(b);
        }
    }
}

/* ---- the command ---- */

static int run_op(struct conn *k, const char *op, const char *arg1, json_t *args)
{
    struct cli *c = k->c;
    if (!strcmp(op, "info")) {
        const struct at_mcp_peer *p = at_mcp_client_peer(&k->mc);
        json_t *o = json_pack("{s:s,s:b}", "protocolVersion", p->proto, "stateless", p->stateless);
        if (p->server_version[0])
            json_object_set_new(o, "serverVersion", json_string(p->server_version));
        if (p->session[0])
            json_object_set_new(o, "session", json_true());
        if (c->json) {
            cli_print_json(stdout, o);
        } else {
            printf("protocol  %s%s\n", p->proto, p->stateless ? " (stateless)" : " (session)");
            if (p->server_version[0]) {
                printf("server    ");
                print_clean(stdout, p->server_version);
                putchar('\n');
            }
        }
        json_decref(o);
        return CLI_OK;
    }
    json_t *out = json_object();
    int rc = 0;
    if (!strcmp(op, "tools")) {
        rc = list_all(k, "tools/list", "tools", out);
        if (!rc && !c->json)
            print_list(json_object_get(out, "tools"), "name", "description");
    } else if (!strcmp(op, "prompts")) {
        rc = list_all(k, "prompts/list", "prompts", out);
        if (!rc && !c->json)
            print_list(json_object_get(out, "prompts"), "name", "description");
    } else if (!strcmp(op, "resources")) {
        rc = list_all(k, "resources/list", "resources", out);
        if (!rc) {
            json_t *t = json_object();
            if (list_all(k, "resources/templates/list", "resourceTemplates", t) == 0)
                json_object_set(out, "resourceTemplates", json_object_get(t, "resourceTemplates"));
            else if (k->broken)
                rc = -1;
            else
                json_object_set_new(out, "resourceTemplates", json_array()); /* none offered */
            json_decref(t);
        }
        if (!rc && !c->json) {
            print_list(json_object_get(out, "resources"), "uri", "name");
            print_list(json_object_get(out, "resourceTemplates"), "uriTemplate", "name");
        }
    } else {
        long long id;
        if (!strcmp(op, "call"))
            id = at_mcp_client_call_tool(&k->mc, 0, arg1, args, NULL);
        else if (!strcmp(op, "read"))
            id =
                at_mcp_client_request(&k->mc, 0, "resources/read", json_pack("{s:s}", "uri", arg1));
        else
            id = at_mcp_client_request(&k->mc, 0, "prompts/get",
                                       json_pack("{s:s,s:O}", "name", arg1, "arguments", args));
        rc = conn_wait(k, id);
        if (!rc && at_mcp_result_input_required(k->result)) {
            /* MCP 2026-07-28 multi-round-trip requests */
            snprintf(k->err, sizeof(k->err),
                     "the server asks for input (resultType input_required): answering it is "
                     "not supported yet by atlas mcp-client");
            json_decref(k->result);
            k->result = NULL;
            rc = -1;
        } else if (!rc) {
            json_decref(out);
            if (!strcmp(op, "call"))
                return print_tool_result(k, k->result);
            if (c->json)
                cli_print_json(stdout, k->result);
            else if (!strcmp(op, "read"))
                print_read(k->result);
            else
                print_prompt(k->result);
            return CLI_OK;
        }
    }
    if (!rc && c->json)
        cli_print_json(stdout, out);
    json_decref(out);
    if (!rc)
        return CLI_OK;
    if (c->json && !k->broken) {
        json_t *e =
            json_pack("{s:{s:I,s:s}}", "error", "code", (json_int_t)k->err_code, "message", k->err);
        cli_print_json(stdout, e);
        json_decref(e);
    }
    fprintf(stderr, "atlas mcp-client: ");
    print_clean(stderr, k->err);
    fputc('\n', stderr);
    return k->broken ? CLI_UNREACHABLE : CLI_FAILED;
}

int cmd_mcp_client(struct cli *c, int argc, char **argv)
{
    const char *server = NULL, *token_env = NULL;
    const char *pos[3] = {0};
    int npos = 0;
    long timeout_s = 60;
    char **server_cmd = NULL;
    struct curl_slist *extra = NULL;
    int rc = CLI_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            server_cmd = argv + i + 1;
            if (i + 1 >= argc) {
                rc = cli_usage_error("mcp-client", usage_text, "no server command after --");
                goto done;
            }
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            rc = CLI_OK;
            goto done;
        }
        if (!strcmp(a, "--json")) {
            c->json = 1;
            continue;
        }
        if (!strcmp(a, "--server") || !strcmp(a, "--token-env") || !strcmp(a, "--header") ||
            !strcmp(a, "--timeout")) {
            if (i + 1 >= argc || !argv[i + 1][0]) {
                rc = cli_usage_error("mcp-client", usage_text, "%s needs a value", a);
                goto done;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--server")) {
                server = v;
            } else if (!strcmp(a, "--token-env")) {
                token_env = v;
            } else if (!strcmp(a, "--header")) {
                const char *colon = strchr(v, ':');
                if (!colon || colon == v || strpbrk(v, "\r\n")) {
                    rc = cli_usage_error("mcp-client", usage_text,
                                         "--header wants \"NAME: VALUE\", not \"%s\"", v);
                    goto done;
                }
                extra = curl_slist_append(extra, v);
            } else {
                char *end;
                errno = 0;
                timeout_s = strtol(v, &end, 10);
                if (errno != 0 || *end != '\0' || timeout_s < 1 || timeout_s > 86400) {
                    rc = cli_usage_error("mcp-client", usage_text,
                                         "--timeout wants seconds (1-86400), not \"%s\"", v);
                    goto done;
                }
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("mcp-client", usage_text, "unknown option \"%s\"", a);
            goto done;
        }
        if (npos >= 3) {
            rc = cli_usage_error("mcp-client", usage_text, "unexpected argument \"%s\"", a);
            goto done;
        }
        pos[npos++] = a;
    }
    if (npos == 0) {
        rc = cli_usage_error("mcp-client", usage_text, "which command? (tools, call, ...)");
        goto done;
    }
    const char *op = pos[0];
    static const char *const ops[] = {"info", "tools", "resources", "prompts",
                                      "call", "read",  "prompt"};
    int known = 0, takes = 0;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (!strcmp(op, ops[i])) {
            known = 1;
            takes = i >= 4;
        }
    if (!known) {
        rc = cli_usage_error("mcp-client", usage_text, "unknown command \"%s\"", op);
        goto done;
    }
    int max = takes ? (!strcmp(op, "read") ? 2 : 3) : 1;
    if (npos > max || (takes && npos < 2)) {
        rc = cli_usage_error("mcp-client", usage_text, "%s takes %s", op,
                             !takes                ? "no arguments"
                             : !strcmp(op, "read") ? "one URI"
                                                   : "a name and optional JSON arguments");
        goto done;
    }
    if (takes && (rc = cli_need("mcp-client", !strcmp(op, "read") ? "URI" : "NAME", pos[1])))
        goto done;
    if (server && server_cmd) {
        rc = cli_usage_error("mcp-client", usage_text, "--server and -- CMD exclude each other");
        goto done;
    }
    if (server && strncmp(server, "http://", 7) != 0 && strncmp(server, "https://", 8) != 0) {
        rc = cli_usage_error("mcp-client", usage_text, "--server wants an http(s) URL, not \"%s\"",
                             server);
        goto done;
    }
    json_t *args = NULL;
    if (npos == 3) {
        if ((rc = cli_read_json_arg(pos[2], &args)))
            goto done;
        if (!json_is_object(args)) {
            json_decref(args);
            rc = cli_usage_error("mcp-client", usage_text, "ARGS must be a JSON object");
            goto done;
        }
    } else if (takes) {
        args = json_object();
    }

    struct conn k;
    memset(&k, 0, sizeof(k));
    k.c = c;
    k.timeout_ms = timeout_s * 1000;
    k.extra = extra;
    const char *token = NULL;
    if (token_env) {
        token = getenv(token_env);
        if (!token || !*token) {
            json_decref(args);
            rc = cli_usage_error("mcp-client", usage_text, "$%s is not set", token_env);
            goto done;
        }
    } else if (!server && !server_cmd) {
        token = cli_token(c); /* atlasd's own /mcp */
    }
    if (token)
        k.auth = at_asprintf("Authorization: Bearer %s", token);
    if (server)
        snprintf(k.url, sizeof(k.url), "%s", server);
    else
        snprintf(k.url, sizeof(k.url), "%s/mcp", c->url);
    struct at_mcp_client_cfg cfg = {.transport = server_cmd ? AT_MCP_STDIO : AT_MCP_HTTP,
                                    .max_message = MAX_ANSWER};
    at_mcp_client_init(&k.mc, &cfg);
    at_mcp_http_resp_init(&k.resp, MAX_ANSWER, on_msg, &k);
    if (server_cmd) {
        k.stdio = 1;
        stdio_start(&k, server_cmd);
    } else {
        k.h = curl_easy_init();
        k.aux = curl_easy_init();
        if (!k.h || !k.aux)
            fail_conn(&k, "cannot start an HTTP client (libcurl)%s%s", "", "");
    }
    if (!k.broken)
        conn_open(&k);
    if (k.broken) {
        fprintf(stderr, "atlas mcp-client: ");
        print_clean(stderr, k.err);
        fputc('\n', stderr);
        rc = CLI_UNREACHABLE;
    } else {
        rc = run_op(&k, op, pos[1], args);
    }
    json_decref(args);
    json_decref(k.result);
    if (k.stdio) {
        stdio_stop(&k);
    } else if (k.h && at_mcp_client_peer(&k.mc)->session[0]) {
        /* end the session (MCP 2025-11-25: DELETE with its id) */
        struct curl_slist *hd = base_headers(&k, NULL);
        at_mcp_http_headers(AT_MCP_HTTP_DELETE, at_mcp_client_peer(&k.mc), NULL, NULL, add_line,
                            &hd);
        setup(&k, k.h, hd, "DELETE");
        curl_easy_setopt(k.h, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(k.h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_perform(k.h);
        curl_slist_free_all(hd);
    }
    if (k.h)
        curl_easy_cleanup(k.h);
    if (k.aux)
        curl_easy_cleanup(k.aux);
    at_mcp_http_resp_release(&k.resp);
    at_mcp_client_release(&k.mc);
    free(k.auth);
done:
    curl_slist_free_all(extra);
    return rc;
}
