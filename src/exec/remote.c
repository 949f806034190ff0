#include "exec/remote.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/map.h"
#include "base/sse.h"
#include "base/str.h"
#include "base/utf8.h"
#include "contract/semver.h"
#include "exec/internal.h"
#include "json/json.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PROTO_STATELESS "2026-07-28"
#define PROTO_LEGACY "2025-11-25"
#define MAX_RESPONSE (16u << 20)

/* ------------------------------------------------------------------------
 * One HTTP exchange: request JSON-RPC message, response (JSON or SSE).
 * ------------------------------------------------------------------------ */

struct xfer {
    struct at_buf body;
    char session[256];
    char content_type[128];
    long status;
    /* SSE answers are parsed as they arrive (MCP 2025-11-25 "Resumability
     * and Redelivery"): the response may come on a stream that never ends
     * (a resumed GET), and a stream may end before the response does */
    long long want_id; /* the JSON-RPC id whose response we wait for */
    json_t *found;     /* that response, once seen */
    int sse;           /* the answer is text/event-stream */
    struct at_sse_parser parser;
    char last_event_id[128]; /* for Last-Event-ID */
    long retry_ms;           /* the server's reconnection delay, -1 when unset */
    struct at_buf line;      /* partial line, for the id/retry scan */
};

static int xfer_on_event(void *arg, const char *event, const char *data, size_t len,
                         const char *id);

static void xfer_init(struct xfer *x)
{
    memset(x, 0, sizeof(*x));
    at_buf_init(&x->body, MAX_RESPONSE);
    at_buf_init(&x->line, 4096);
    x->retry_ms = -1;
}

static void xfer_reset(struct xfer *x, long long want_id)
{
    at_buf_clear(&x->body);
    at_buf_clear(&x->line);
    if (x->sse)
        at_sse_parser_release(&x->parser);
    x->sse = 0;
    json_decref(x->found);
    x->found = NULL;
    x->want_id = want_id;
    x->session[0] = x->content_type[0] = '\0';
    x->status = 0;
}

static void xfer_release(struct xfer *x)
{
    xfer_reset(x, 0);
    at_buf_release(&x->body);
    at_buf_release(&x->line);
}

/* Remember "id:" and "retry:" fields of an event stream (WHATWG HTML
 * 9.2.6); the parser proper only hands out dispatched events. */
static void scan_fields(struct xfer *x, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '\n' && c != '\r') {
            if (at_buf_putc(&x->line, c))
                at_buf_clear(&x->line); /* overlong line: not a field we care about */
            continue;
        }
        const char *l = at_buf_str(&x->line);
        if (!strncmp(l, "id:", 3)) {
            const char *v = l + 3 + (l[3] == ' ');
            snprintf(x->last_event_id, sizeof(x->last_event_id), "%s", v);
        } else if (!strncmp(l, "retry:", 6)) {
            long long ms;
            const char *v = l + 6 + (l[6] == ' ');
            if (at_parse_i64(v, 0, 600000, &ms) == 0)
                x->retry_ms = (long)ms;
        }
        at_buf_clear(&x->line);
    }
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = sz * n;
    if (!x->sse && strncasecmp(x->content_type, "text/event-stream", 17) == 0) {
        x->sse = 1;
        at_sse_parser_init(&x->parser, MAX_RESPONSE, xfer_on_event, x);
    }
    if (x->sse) {
        scan_fields(x, p, len);
        at_sse_feed(&x->parser, p, len);
        /* the response is here: stop reading (a resumed stream stays open) */
        return x->found ? 0 : len;
    }
    if (at_buf_append(&x->body, p, len))
        return 0; /* too large: curl aborts the transfer */
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = sz * n;
    if (!at_header_value(p, len, "mcp-session-id", x->session, sizeof(x->session)))
        at_header_value(p, len, "content-type", x->content_type, sizeof(x->content_type));
    return len;
}

struct find_ctx {
    long long id;
    json_t *found;
};

static int find_in_msg(struct find_ctx *f, json_t *msg)
{
    if (json_is_object(msg) && at_rpc_id_int(json_object_get(msg, "id")) == f->id &&
        (json_object_get(msg, "result") || json_object_get(msg, "error"))) {
        f->found = json_incref(msg);
        return 1;
    }
    return 0;
}

static int xfer_on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)event;
    (void)id;
    struct xfer *x = arg;
    if (x->found || len == 0)
        return 0;
    json_t *msg;
    if (at_json_parse(data, len, 0, &msg, NULL))
        return 0;
    struct find_ctx f = {.id = x->want_id};
    if (find_in_msg(&f, msg))
        x->found = f.found;
    json_decref(msg);
    return 0;
}

/* Pull the JSON-RPC response with id out of a finished exchange. */
static int extract_response(struct xfer *x, long long id, json_t **out, struct at_diag *d)
{
    struct find_ctx f = {.id = id};
    if (x->sse) {
        at_sse_feed(&x->parser, "\n\n", 2);
        if (x->found && at_rpc_id_int(json_object_get(x->found, "id")) == id)
            f.found = json_incref(x->found);
    } else {
        json_t *msg;
        struct at_diag pd;
        at_diag_clear(&pd);
        if (at_json_parse(x->body.p ? x->body.p : "", x->body.len, 0, &msg, &pd))
            return at_diag_set(d, AT_EPROTO, NULL, 0, 0,
                               "the server's answer is not JSON (HTTP %ld, %s)", x->status,
                               x->content_type[0] ? x->content_type : "no content type");
        if (json_is_array(msg)) {
            size_t i;
            json_t *m;
            json_array_foreach(msg, i, m) if (find_in_msg(&f, m)) break;
        } else {
            find_in_msg(&f, msg);
        }
        json_decref(msg);
    }
    if (!f.found)
        return at_diag_set(d, AT_EPROTO, NULL, 0, 0,
                           "the server's answer (HTTP %ld) holds no JSON-RPC response to "
                           "request %lld",
                           x->status, id);
    *out = f.found;
    return 0;
}

struct session {
    int stateless;
    char proto[16];
    char id[256]; /* Mcp-Session-Id, "" when none */
};

static json_t *meta_2026(void)
{
    return json_pack("{s:s,s:{s:s,s:s},s:{}}", "io.modelcontextprotocol/protocolVersion",
                     PROTO_STATELESS, "io.modelcontextprotocol/clientInfo", "name", "atlasd",
                     "version", ATLAS_VERSION, "io.modelcontextprotocol/clientCapabilities");
}

/* Prepare an easy handle for one POST of msg. */
static struct curl_slist *prepare(CURL *h, const char *url, const struct session *s,
                                  const char *method, const char *name, const char *payload,
                                  struct xfer *x, long timeout_ms, long long want_id)
{
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Accept: application/json, text/event-stream");
    char line[400];
    if (s && s->proto[0]) {
        snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", s->proto);
        hd = curl_slist_append(hd, line);
    }
    if (s && s->id[0]) {
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", s->id);
        hd = curl_slist_append(hd, line);
    }
    if (s && s->stateless && method) {
        snprintf(line, sizeof(line), "Mcp-Method: %s", method);
        hd = curl_slist_append(hd, line);
        if (name) {
            snprintf(line, sizeof(line), "Mcp-Name: %s", name);
            hd = curl_slist_append(hd, line);
        }
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    xfer_reset(x, want_id);
    return hd;
}

static char *request_payload(long long id, const char *method, json_t *params)
{
    json_t *m =
        json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
    if (params)
        json_object_set(m, "params", params);
    char *s = at_json_dumps(m);
    json_decref(m);
    return s;
}

/* ------------------------------------------------------------------------
 * Blocking client (registration).
 * ------------------------------------------------------------------------ */

struct sync_client {
    char server_version[64];
    CURL *h;
    const char *url;
    struct session s;
    long long next_id;
    long timeout_ms;
    struct xfer x;
};

static int sync_post(struct sync_client *c, const char *method, json_t *params, const char *name,
                     int notification, json_t **result, struct at_diag *d)
{
    long long id = ++c->next_id;
    char *payload;
    if (notification) {
        json_t *m = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
        payload = at_json_dumps(m);
        json_decref(m);
    } else {
        payload = request_payload(id, method, params);
    }
    struct curl_slist *hd = prepare(c->h, c->url, &c->s, method, name, payload, &c->x,
                                    c->timeout_ms, notification ? 0 : id);
    free(payload);
    CURLcode cc = curl_easy_perform(c->h);
    curl_slist_free_all(hd);
    if (cc == CURLE_WRITE_ERROR && c->x.found)
        cc = CURLE_OK; /* we stopped reading once the response was in */
    if (cc != CURLE_OK)
        return at_diag_set(d, cc == CURLE_OPERATION_TIMEDOUT ? AT_ETIMEDOUT : AT_ECONN, NULL, 0, 0,
                           "cannot reach %s: %s", c->url, curl_easy_strerror(cc));
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->x.status);
    if (c->x.session[0] && !c->s.id[0])
        snprintf(c->s.id, sizeof(c->s.id), "%s", c->x.session);
    if (notification)
        return c->x.status >= 200 && c->x.status < 300
                   ? 0
                   : at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s: HTTP %ld", method, c->x.status);
    if (c->x.status >= 400 && c->x.body.len == 0)
        return at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s answered %s with HTTP %ld", c->url, method,
                           c->x.status);
    json_t *resp;
    int rc = extract_response(&c->x, id, &resp, d);
    if (rc)
        return rc;
    json_t *err = json_object_get(resp, "error");
    if (err) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        rc = at_diag_set(d, AT_EAGENT, NULL, 0, 0, "%s: %s (JSON-RPC error %lld)", method,
                         msg ? msg : "error",
                         (long long)json_integer_value(json_object_get(err, "code")));
        json_decref(resp);
        return rc;
    }
    *result = json_incref(json_object_get(resp, "result"));
    json_decref(resp);
    return 0;
}

static const char *version_from(json_t *server_info)
{
    const char *v = json_string_value(json_object_get(server_info, "version"));
    struct at_semver sv;
    return v && at_semver_parse(v, &sv) == 0 ? v : NULL;
}

static int sync_connect(struct sync_client *c, struct at_diag *d)
{
    json_t *res = NULL;
    json_t *params = json_pack("{s:o}", "_meta", meta_2026());
    struct session probe = {.stateless = 1};
    snprintf(probe.proto, sizeof(probe.proto), "%s", PROTO_STATELESS);
    c->s = probe;
    struct at_diag dd;
    at_diag_clear(&dd);
    int rc = sync_post(c, "server/discover", params, NULL, 0, &res, &dd);
    json_decref(params);
    if (rc == AT_ECONN || rc == AT_ETIMEDOUT) {
        *d = dd;
        return rc;
    }
    if (!rc) {
        json_t *sv = json_object_get(res, "supportedVersions");
        size_t i;
        json_t *v;
        int ok = 0;
        json_array_foreach(sv, i, v) ok |=
            json_is_string(v) && !strcmp(json_string_value(v), PROTO_STATELESS);
        const char *ver = version_from(json_object_get(res, "serverInfo"));
        if (ver)
            snprintf(c->server_version, sizeof(c->server_version), "%s", ver);
        json_decref(res);
        if (ok)
            return 0;
    }
    /* 2025-11-25: initialize, then notifications/initialized */
    memset(&c->s, 0, sizeof(c->s));
    params = json_pack("{s:s,s:{},s:{s:s,s:s}}", "protocolVersion", PROTO_LEGACY, "capabilities",
                       "clientInfo", "name", "atlasd", "version", ATLAS_VERSION);
    res = NULL;
    rc = sync_post(c, "initialize", params, NULL, 0, &res, d);
    json_decref(params);
    if (rc)
        return rc;
    const char *v = json_string_value(json_object_get(res, "protocolVersion"));
    snprintf(c->s.proto, sizeof(c->s.proto), "%s", v ? v : PROTO_LEGACY);
    const char *ver = version_from(json_object_get(res, "serverInfo"));
    if (ver)
        snprintf(c->server_version, sizeof(c->server_version), "%s", ver);
    json_decref(res);
    return sync_post(c, "notifications/initialized", NULL, NULL, 1, NULL, d);
}

int at_remote_describe(const char *url, const char *name, const char *tool, int timeout_ms,
                       struct at_contract **out, struct at_diag *d)
{
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "\"%s\" is not an http(s) URL", url);
    struct sync_client c;
    memset(&c, 0, sizeof(c));
    c.h = curl_easy_init();
    if (!c.h)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start an HTTP client (libcurl)");
    c.url = url;
    c.timeout_ms = timeout_ms;
    xfer_init(&c.x);
    json_t *tools = json_array();
    int rc = sync_connect(&c, d);
    json_t *cursor = NULL;
    for (int page = 0; !rc && page < 100; page++) {
        json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : json_object();
        if (c.s.stateless)
            json_object_set_new(params, "_meta", meta_2026());
        json_t *res = NULL;
        rc = sync_post(&c, "tools/list", params, NULL, 0, &res, d);
        json_decref(params);
        json_decref(cursor);
        cursor = NULL;
        if (rc)
            break;
        json_array_extend(tools, json_object_get(res, "tools"));
        json_t *next = json_object_get(res, "nextCursor");
        if (json_is_string(next))
            cursor = json_incref(next);
        json_decref(res);
        if (!cursor)
            break;
    }
    json_decref(cursor);
    if (!rc) {
        json_t *pick = NULL;
        size_t i;
        json_t *t;
        const char *want = tool ? tool : name;
        json_array_foreach(tools, i, t)
        {
            const char *tn = json_string_value(json_object_get(t, "name"));
            if (tn && strcmp(tn, want) == 0)
                pick = t;
        }
        if (!pick && !tool && json_array_size(tools) == 1)
            pick = json_array_get(tools, 0);
        if (!pick) {
            struct at_buf names;
            at_buf_init(&names, 1024);
            json_array_foreach(tools, i, t) at_buf_printf(
                &names, "%s%s", i ? ", " : "", json_string_value(json_object_get(t, "name")));
            rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                             "%s has no tool named \"%s\" (it has: %s); choose one with --tool",
                             url, want, names.len ? at_buf_str(&names) : "no tools");
            at_buf_release(&names);
        } else {
            const char *tn = json_string_value(json_object_get(pick, "name"));
            const char *desc = json_string_value(json_object_get(pick, "description"));
            /* the agent's version is the server's, when it is a semver */
            rc = at_contract_new_remote(name, c.server_version[0] ? c.server_version : "1.0.0", url,
                                        tn, desc, json_object_get(pick, "inputSchema"),
                                        json_object_get(pick, "outputSchema"), out, d);
        }
    }
    json_decref(tools);
    if (c.s.id[0]) {
        /* end the session politely (MCP 2025-11-25: DELETE with the id) */
        struct curl_slist *hd = NULL;
        char line[300];
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", c.s.id);
        hd = curl_slist_append(hd, line);
        curl_easy_reset(c.h);
        curl_easy_setopt(c.h, CURLOPT_URL, url);
        curl_easy_setopt(c.h, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &c.x);
        curl_easy_perform(c.h);
        curl_slist_free_all(hd);
    }
    xfer_release(&c.x);
    curl_easy_cleanup(c.h);
    return rc;
}

/* ------------------------------------------------------------------------
 * Asynchronous runs: one thread, libcurl multi.
 * ------------------------------------------------------------------------ */

enum rstep { R_DISCOVER, R_INIT, R_INITIALIZED, R_CALL, R_RESUME };

/* A stream that ended before the response is resumed this many times at
 * most (MCP 2025-11-25 "Resumability and Redelivery"; SEP-1699). */
#define MAX_RESUMES 5

struct rjob {
    struct rjob *next;
    struct at_engine *e;
    struct at_job *job;
    char *url;
    char *tool;
    json_t *input;
    char job_id[AT_ID_MAX];
    char token[48];
    long timeout_ms;
    CURL *h;
    struct curl_slist *hd;
    struct xfer x;
    struct session s;
    enum rstep step;
    long long rpc_id;
    int cancelled;
    int retried_session;
    int resumes;
    int waiting; /* R_RESUME: until resume_at_ms */
    int64_t resume_at_ms;
};

struct at_remote {
    pthread_t thread;
    CURLM *multi;
    pthread_mutex_t mu;
    struct rjob *incoming;
    char **cancels;
    size_t ncancels;
    struct rjob *active; /* owned by the thread */
    int stop;
    int count;              /* jobs not yet finished (mu) */
    int started;            /* multi handle and thread exist (engine loop thread) */
    struct at_map sessions; /* url -> struct session* (thread) */
};

struct rresult {
    struct at_engine *e;
    struct at_job *job;
    int code;
    json_t *output;
    char detail[600];
};

static void deliver(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct rresult *r = arg;
    at__engine_remote_result(r->e, r->job, r->code, r->output, r->detail[0] ? r->detail : NULL);
    json_decref(r->output);
    at_job_unref(r->job);
    free(r);
}

static void rjob_finish(struct at_remote *rm, struct rjob *rj, int code, json_t *output,
                        const char *detail)
{
    struct rresult *r = at_calloc(1, sizeof(*r));
    r->e = rj->e;
    r->job = rj->job; /* the reference moves to the result */
    r->code = code;
    r->output = output ? json_incref(output) : NULL;
    if (detail)
        snprintf(r->detail, sizeof(r->detail), "%s", detail);
    at_loop_post(rj->e->loop, deliver, r);
    if (rj->hd)
        curl_slist_free_all(rj->hd);
    if (rj->h) {
        curl_multi_remove_handle(rm->multi, rj->h);
        curl_easy_cleanup(rj->h);
    }
    xfer_release(&rj->x);
    json_decref(rj->input);
    free(rj->url);
    free(rj->tool);
    free(rj);
    pthread_mutex_lock(&rm->mu);
    rm->count--;
    pthread_mutex_unlock(&rm->mu);
}

static void rjob_send(struct at_remote *rm, struct rjob *rj)
{
    const char *method = NULL, *name = NULL;
    json_t *params = NULL;
    int notification = 0;
    switch (rj->step) {
    case R_DISCOVER:
        method = "server/discover";
        params = json_pack("{s:o}", "_meta", meta_2026());
        break;
    case R_INIT:
        method = "initialize";
        params =
            json_pack("{s:s,s:{},s:{s:s,s:s}}", "protocolVersion", PROTO_LEGACY, "capabilities",
                      "clientInfo", "name", "atlasd", "version", ATLAS_VERSION);
        break;
    case R_INITIALIZED:
        method = "notifications/initialized";
        notification = 1;
        break;
    case R_RESUME: {
        /* GET with Last-Event-ID on the session: the rest of the stream */
        if (rj->hd)
            curl_slist_free_all(rj->hd);
        curl_multi_remove_handle(rm->multi, rj->h);
        long long want = rj->rpc_id;
        struct curl_slist *hd = NULL;
        char line[400];
        hd = curl_slist_append(hd, "Accept: text/event-stream");
        snprintf(line, sizeof(line), "Last-Event-ID: %s", rj->x.last_event_id);
        hd = curl_slist_append(hd, line);
        if (rj->s.id[0]) {
            snprintf(line, sizeof(line), "Mcp-Session-Id: %s", rj->s.id);
            hd = curl_slist_append(hd, line);
        }
        if (rj->s.proto[0]) {
            snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", rj->s.proto);
            hd = curl_slist_append(hd, line);
        }
        curl_easy_reset(rj->h);
        curl_easy_setopt(rj->h, CURLOPT_URL, rj->url);
        curl_easy_setopt(rj->h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(rj->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(rj->h, CURLOPT_WRITEDATA, &rj->x);
        curl_easy_setopt(rj->h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(rj->h, CURLOPT_HEADERDATA, &rj->x);
        curl_easy_setopt(rj->h, CURLOPT_TIMEOUT_MS, rj->timeout_ms);
        curl_easy_setopt(rj->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(rj->h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(rj->h, CURLOPT_PRIVATE, rj);
        char keep_id[128];
        snprintf(keep_id, sizeof(keep_id), "%s", rj->x.last_event_id);
        xfer_reset(&rj->x, want);
        snprintf(rj->x.last_event_id, sizeof(rj->x.last_event_id), "%s", keep_id);
        rj->hd = hd;
        curl_multi_add_handle(rm->multi, rj->h);
        return;
    }
    case R_CALL: {
        method = "tools/call";
        name = rj->tool;
        json_t *meta = json_pack("{s:s,s:s,s:s}", "progressToken", rj->job_id, "io.atlas/jobId",
                                 rj->job_id, "io.atlas/token", rj->token);
        if (rj->s.stateless) {
            json_t *m26 = meta_2026();
            json_object_update(meta, m26);
            json_decref(m26);
        }
        params =
            json_pack("{s:s,s:O,s:o}", "name", rj->tool, "arguments", rj->input, "_meta", meta);
        break;
    }
    }
    char *payload;
    if (notification) {
        json_t *m = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
        payload = at_json_dumps(m);
        json_decref(m);
        rj->rpc_id = 0;
    } else {
        rj->rpc_id++;
        payload = request_payload(rj->rpc_id, method, params);
    }
    json_decref(params);
    struct session probe = {.stateless = 1};
    snprintf(probe.proto, sizeof(probe.proto), "%s", PROTO_STATELESS);
    const struct session *s = rj->step == R_DISCOVER ? &probe : &rj->s;
    if (rj->hd)
        curl_slist_free_all(rj->hd);
    curl_multi_remove_handle(rm->multi, rj->h);
    rj->hd = prepare(rj->h, rj->url, s, method, name, payload, &rj->x, rj->timeout_ms,
                     notification ? 0 : rj->rpc_id);
    curl_easy_setopt(rj->h, CURLOPT_PRIVATE, rj);
    free(payload);
    curl_multi_add_handle(rm->multi, rj->h);
}

static struct session *session_get(struct at_remote *rm, const char *url)
{
    return at_map_get(&rm->sessions, url);
}

static void session_put(struct at_remote *rm, const char *url, const struct session *s)
{
    struct session *c = at_malloc(sizeof(*c));
    *c = *s;
    free(at_map_put(&rm->sessions, url, c));
}

static void session_drop(struct at_remote *rm, const char *url)
{
    free(at_map_del(&rm->sessions, url));
}

static void rjob_begin(struct at_remote *rm, struct rjob *rj)
{
    rj->h = curl_easy_init();
    xfer_init(&rj->x);
    struct session *s = session_get(rm, rj->url);
    if (s) {
        rj->s = *s;
        rj->step = R_CALL;
    } else {
        rj->step = R_DISCOVER;
    }
    rjob_send(rm, rj);
}

/* Returns 1 when the job went on to another step (still alive), 0 when it
 * finished (and was freed). */
static int rjob_step_done(struct at_remote *rm, struct rjob *rj, CURLcode cc)
{
    char detail[600];
    if (rj->cancelled) {
        rjob_finish(rm, rj, AT_ECANCELED, NULL, NULL);
        return 0;
    }
    if (cc == CURLE_WRITE_ERROR && rj->x.found)
        cc = CURLE_OK; /* we stopped reading once the response was in */
    if (cc != CURLE_OK) {
        if (rj->step != R_CALL && rj->step != R_RESUME)
            session_drop(rm, rj->url);
        snprintf(detail, sizeof(detail), "remote agent %s: %s", rj->url, curl_easy_strerror(cc));
        rjob_finish(rm, rj, cc == CURLE_OPERATION_TIMEDOUT ? AT_ETIMEDOUT : AT_ECONN, NULL, detail);
        return 0;
    }
    curl_easy_getinfo(rj->h, CURLINFO_RESPONSE_CODE, &rj->x.status);
    if ((rj->step == R_CALL || rj->step == R_RESUME) && rj->x.sse && !rj->x.found &&
        rj->x.status == 200 && rj->x.last_event_id[0] && rj->resumes < MAX_RESUMES) {
        /* the stream ended before the response: come back after the
         * server's retry delay with Last-Event-ID (SEP-1699) */
        at_sse_feed(&rj->x.parser, "\n\n", 2);
        if (!rj->x.found) {
            rj->resumes++;
            rj->step = R_RESUME;
            rj->waiting = 1;
            rj->resume_at_ms = at_now_ms() + (rj->x.retry_ms >= 0 ? rj->x.retry_ms : 1000);
            return 1;
        }
    }
    if (rj->step == R_INITIALIZED) {
        session_put(rm, rj->url, &rj->s);
        rj->step = R_CALL;
        rjob_send(rm, rj);
        return 1;
    }
    if ((rj->step == R_CALL || rj->step == R_RESUME) && rj->x.status == 404 && rj->s.id[0] &&
        !rj->retried_session) {
        /* MCP 2025-11-25: a 404 for a session id means the session ended */
        session_drop(rm, rj->url);
        memset(&rj->s, 0, sizeof(rj->s));
        rj->retried_session = 1;
        rj->step = R_DISCOVER;
        rjob_send(rm, rj);
        return 1;
    }
    json_t *resp = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = extract_response(&rj->x, rj->rpc_id, &resp, &d);
    if (rj->step == R_DISCOVER) {
        int ok = 0;
        json_t *sv =
            rc ? NULL : json_object_get(json_object_get(resp, "result"), "supportedVersions");
        size_t i;
        json_t *v;
        json_array_foreach(sv, i, v) ok |=
            json_is_string(v) && !strcmp(json_string_value(v), PROTO_STATELESS);
        json_decref(resp);
        memset(&rj->s, 0, sizeof(rj->s));
        if (ok) {
            rj->s.stateless = 1;
            snprintf(rj->s.proto, sizeof(rj->s.proto), "%s", PROTO_STATELESS);
            session_put(rm, rj->url, &rj->s);
            rj->step = R_CALL;
        } else {
            rj->step = R_INIT;
        }
        rjob_send(rm, rj);
        return 1;
    }
    if (rc) {
        snprintf(detail, sizeof(detail), "remote agent %s: %s", rj->url, d.msg);
        rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
        return 0;
    }
    json_t *err = json_object_get(resp, "error");
    json_t *result = json_object_get(resp, "result");
    if (rj->step == R_INIT) {
        if (err) {
            snprintf(detail, sizeof(detail), "remote agent %s rejected initialize: %s", rj->url,
                     json_string_value(json_object_get(err, "message")));
            json_decref(resp);
            rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
            return 0;
        }
        const char *v = json_string_value(json_object_get(result, "protocolVersion"));
        snprintf(rj->s.proto, sizeof(rj->s.proto), "%s", v ? v : PROTO_LEGACY);
        snprintf(rj->s.id, sizeof(rj->s.id), "%s", rj->x.session);
        json_decref(resp);
        rj->step = R_INITIALIZED;
        rjob_send(rm, rj);
        return 1;
    }
    /* R_CALL, R_RESUME */
    if (err) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        snprintf(detail, sizeof(detail), "%s (JSON-RPC error %lld)", msg ? msg : "error",
                 (long long)json_integer_value(json_object_get(err, "code")));
        json_decref(resp);
        rjob_finish(rm, rj, AT_EAGENT, NULL, detail);
        return 0;
    }
    if (json_is_true(json_object_get(result, "isError"))) {
        json_t *c0 = json_array_get(json_object_get(result, "content"), 0);
        const char *text = json_string_value(json_object_get(c0, "text"));
        snprintf(detail, sizeof(detail), "%s", text ? text : "the remote tool reported an error");
        json_decref(resp);
        rjob_finish(rm, rj, AT_EAGENT, NULL, detail);
        return 0;
    }
    json_t *sc = json_object_get(result, "structuredContent");
    json_t *out = NULL;
    if (sc) {
        out = json_incref(sc);
    } else {
        json_t *c0 = json_array_get(json_object_get(result, "content"), 0);
        const char *text = json_string_value(json_object_get(c0, "text"));
        if (text && at_json_parse(text, strlen(text), 0, &out, NULL) == 0) {
            /* text that is JSON */
        } else {
            out = json_pack("{s:O}", "content",
                            json_object_get(result, "content") ? json_object_get(result, "content")
                                                               : json_null());
        }
    }
    json_decref(resp);
    rjob_finish(rm, rj, 0, out, NULL);
    json_decref(out);
    return 0;
}

static void *remote_main(void *arg)
{
    struct at_remote *rm = arg;
    for (;;) {
        pthread_mutex_lock(&rm->mu);
        struct rjob *in = rm->incoming;
        rm->incoming = NULL;
        char **cancels = rm->cancels;
        size_t ncancels = rm->ncancels;
        rm->cancels = NULL;
        rm->ncancels = 0;
        int stop = rm->stop;
        pthread_mutex_unlock(&rm->mu);
        while (in) {
            struct rjob *next = in->next;
            in->next = rm->active;
            rm->active = in;
            rjob_begin(rm, in);
            in = next;
        }
        for (size_t i = 0; i < ncancels; i++) {
            for (struct rjob *rj = rm->active; rj; rj = rj->next)
                if (strcmp(rj->job_id, cancels[i]) == 0)
                    rj->cancelled = 1;
            free(cancels[i]);
        }
        free(cancels);
        /* finish cancelled jobs at once */
        for (struct rjob **pp = &rm->active; *pp;) {
            struct rjob *rj = *pp;
            if (rj->cancelled || stop) {
                *pp = rj->next;
                rjob_finish(rm, rj, AT_ECANCELED, NULL,
                            stop ? "the daemon is shutting down" : NULL);
                continue;
            }
            pp = &rj->next;
        }
        if (stop)
            break;
        int running = 0;
        curl_multi_perform(rm->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(rm->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct rjob *rj = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&rj);
            CURLcode cc = msg->data.result;
            /* unlink before finishing (rjob_step_done may free it) */
            for (struct rjob **pp = &rm->active; *pp; pp = &(*pp)->next)
                if (*pp == rj) {
                    *pp = rj->next;
                    break;
                }
            if (rjob_step_done(rm, rj, cc)) {
                rj->next = rm->active; /* on to its next step */
                rm->active = rj;
            }
        }
        /* resumptions that are due, and when the next one is */
        int64_t now = at_now_ms(), next_at = now + 1000;
        for (struct rjob *rj = rm->active; rj; rj = rj->next) {
            if (!rj->waiting)
                continue;
            if (rj->resume_at_ms <= now) {
                rj->waiting = 0;
                rjob_send(rm, rj);
            } else if (rj->resume_at_ms < next_at) {
                next_at = rj->resume_at_ms;
            }
        }
        curl_multi_poll(rm->multi, NULL, 0, (int)(next_at - now > 0 ? next_at - now : 1), NULL);
    }
    return NULL;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int at__remote_init(struct at_engine *e)
{
    struct at_remote *rm = at_calloc(1, sizeof(*rm));
    pthread_mutex_init(&rm->mu, NULL);
    at_map_init(&rm->sessions);
    e->remote = rm;
    return 0;
}

/* The HTTP client (and libcurl with it) starts with the first remote job:
 * a daemon that runs only local agents never loads it. */
static int remote_start(struct at_remote *rm)
{
    if (rm->started)
        return 0;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    rm->multi = curl_multi_init();
    if (!rm->multi)
        return AT_EIO;
    if (pthread_create(&rm->thread, NULL, remote_main, rm) != 0) {
        curl_multi_cleanup(rm->multi);
        rm->multi = NULL;
        return AT_EIO;
    }
    rm->started = 1;
    return 0;
}

void at__remote_free(struct at_engine *e)
{
    struct at_remote *rm = e->remote;
    if (!rm)
        return;
    if (rm->started) {
        pthread_mutex_lock(&rm->mu);
        rm->stop = 1;
        pthread_mutex_unlock(&rm->mu);
        curl_multi_wakeup(rm->multi);
        pthread_join(rm->thread, NULL);
        curl_multi_cleanup(rm->multi);
    }
    size_t it = 0;
    void *v;
    while (at_map_next(&rm->sessions, &it, NULL, &v))
        free(v);
    at_map_release(&rm->sessions);
    pthread_mutex_destroy(&rm->mu);
    free(rm);
    e->remote = NULL;
}

void at__remote_run(struct at_engine *e, struct at_job *j)
{
    struct at_remote *rm = e->remote;
    const struct at_contract *c = j->agent->contract;
    if (remote_start(rm)) {
        at__engine_remote_started(e, j);
        at__engine_remote_result(e, j, AT_EIO, NULL,
                                 "cannot start the HTTP client for remote agents (libcurl)");
        return;
    }
    struct rjob *rj = at_calloc(1, sizeof(*rj));
    rj->e = e;
    rj->job = at_job_ref(j);
    rj->url = at_strdup(c->remote);
    rj->tool = at_strdup(c->tool ? c->tool : c->name);
    rj->input = json_incref(j->rec.input);
    snprintf(rj->job_id, sizeof(rj->job_id), "%s", j->rec.id);
    snprintf(rj->token, sizeof(rj->token), "%s", j->token);
    double t = c->timeout_s > 0 ? c->timeout_s : e->conf->exec.timeout_agent;
    rj->timeout_ms = (long)(t * 1000);
    at__engine_remote_started(e, j);
    pthread_mutex_lock(&rm->mu);
    rj->next = rm->incoming;
    rm->incoming = rj;
    rm->count++;
    pthread_mutex_unlock(&rm->mu);
    curl_multi_wakeup(rm->multi);
}

void at__remote_cancel(struct at_engine *e, struct at_job *j)
{
    struct at_remote *rm = e->remote;
    if (!rm->started)
        return; /* no remote job was ever started */
    pthread_mutex_lock(&rm->mu);
    rm->cancels = at_realloc(rm->cancels, (rm->ncancels + 1) * sizeof(char *));
    rm->cancels[rm->ncancels++] = at_strdup(j->rec.id);
    pthread_mutex_unlock(&rm->mu);
    curl_multi_wakeup(rm->multi);
}

int at__remote_idle(struct at_engine *e)
{
    struct at_remote *rm = e->remote;
    pthread_mutex_lock(&rm->mu);
    int idle = rm->count == 0;
    pthread_mutex_unlock(&rm->mu);
    return idle;
}
