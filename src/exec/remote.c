/*
 * remote.c - remote agents: the Streamable HTTP transports of the MCP
 * client (mcp/client.h) over libcurl.  Registration asks the server for its
 * tools with blocking curl (not on the dispatch path); runs go through one
 * thread driving libcurl's multi interface, and their results come back to
 * the engine loop as posts.  The protocol (revision, handshake, sessions'
 * headers, JSON or SSE answers, what a tool result means) is the client's;
 * this file moves bytes, keeps one session per URL, resumes streams and
 * turns answers into job results.
 */
#include "exec/remote.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/map.h"
#include "base/str.h"
#include "contract/semver.h"
#include "exec/internal.h"
#include "exec/remote_auth.h"
#include "json/json.h"
#include "json/schema.h"
#include "mcp/client.h"
#include "mcp/client_curl.h"
#include "mcp/message.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESPONSE (16u << 20)
/* A stream that ended before the response is resumed this many times at
 * most (MCP 2025-11-25 "Resumability and Redelivery"; SEP-1699). */
#define MAX_RESUMES 5
/* the reconnection delay when the server gives none, and the longest one
 * honoured */
#define RESUME_DEFAULT_MS 1000
#define RESUME_MAX_MS 600000

enum { TAG_LIST = 1, TAG_CALL };

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

/* A server that wants credentials (MCP authorization: 401 with
 * WWW-Authenticate) is not one that broke the protocol. */
static void auth_required(const char *url, long status, char *out, size_t n)
{
    snprintf(out, n,
             "%s requires authentication (HTTP %ld): Atlas's MCP client does not do OAuth or "
             "send credentials to remote servers yet (not supported yet)",
             url, status);
}

/* ------------------------------------------------------------------------
 * Blocking client (registration).
 * ------------------------------------------------------------------------ */

struct sync_client {
    CURL *h;
    const char *url;
    long timeout_ms;
    char *auth_header; /* NULL: none */
    struct at_mcp_client mc;
    struct at_mcp_xfer x;
};

/* POST one message.  Returns 0 (for a request: x.ev is its answer's
 * event, or the client went on without one), or an error with d set. */
static int sync_post(struct sync_client *c, const struct at_mcp_out *o, int *answered,
                     struct at_diag *d)
{
    *answered = 0;
    struct curl_slist *hd =
        at_mcp_xfer_prepare(c->h, c->url, at_mcp_client_peer(&c->mc), o, NULL,
                            (const char *const[]){c->auth_header, NULL}, &c->x, c->timeout_ms);
    CURLcode cc = curl_easy_perform(c->h);
    curl_slist_free_all(hd);
    long status;
    cc = at_mcp_xfer_end(&c->x, c->h, cc, &status);
    if (cc != CURLE_OK)
        return at_diag_set(d, cc == CURLE_OPERATION_TIMEDOUT ? AT_ETIMEDOUT : AT_ECONN, NULL, 0, 0,
                           "cannot reach %s: %s", c->url, curl_easy_strerror(cc));
    if (status == 401 || status == 403) {
        char why[300];
        auth_required(c->url, status, why, sizeof(why));
        return at_diag_set(d, AT_EPERM, NULL, 0, 0, "%s", why);
    }
    if (o->id == 0)
        return status >= 200 && status < 300
                   ? 0
                   : at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s: HTTP %ld", o->method, status);
    if (c->x.answered) {
        *answered = 1;
        return 0;
    }
    if (at_mcp_client_unanswered(&c->mc, o->id))
        return 0; /* server/discover not understood: the handshake goes on */
    if (status >= 400 && c->x.resp.body.len == 0 && !c->x.resp.sse)
        return at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s answered %s with HTTP %ld", c->url,
                           o->method, status);
    char why[300];
    at_mcp_xfer_no_answer(&c->x, status, o->id, why, sizeof(why));
    return at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s", why);
}

/* Send what the client queued until it has nothing more to say.  Returns
 * 0, or an error with d set (a FAILED handshake included). */
static int sync_flush(struct sync_client *c, struct at_diag *d)
{
    struct at_mcp_out *o;
    while ((o = at_mcp_client_pop(&c->mc))) {
        int answered;
        int rc = sync_post(c, o, &answered, d);
        at_mcp_out_free(o);
        if (rc)
            return rc;
        if (answered && c->x.ev.kind == AT_MCP_EV_FAILED)
            return at_diag_set(d, c->x.ev.code, NULL, 0, 0, "%s %s", c->url, c->x.ev.detail);
    }
    return 0;
}

/* One request and its answer's result (new reference). */
static int sync_request(struct sync_client *c, const char *method, json_t *params, json_t **result,
                        struct at_diag *d)
{
    long long id = at_mcp_client_request(&c->mc, TAG_LIST, method, params);
    if (id < 0)
        return at_diag_set(d, (int)id, NULL, 0, 0, "%s: cannot send %s", c->url, method);
    struct at_mcp_out *o = at_mcp_client_pop(&c->mc);
    int answered;
    int rc = sync_post(c, o, &answered, d);
    at_mcp_out_free(o);
    if (rc)
        return rc;
    struct at_mcp_ev *ev = &c->x.ev;
    if (!answered || ev->kind != AT_MCP_EV_RESPONSE)
        return at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s: no answer to %s", c->url, method);
    if (!ev->result) {
        char text[400];
        at_mcp_ev_error_text(ev, text, sizeof(text));
        return at_diag_set(d, AT_EAGENT, NULL, 0, 0, "%s: %s", method, text);
    }
    *result = json_incref(ev->result);
    return 0;
}

static const char *version_from(const char *v)
{
    struct at_semver sv;
    return v[0] && at_semver_parse(v, &sv) == 0 ? v : NULL;
}

int at_remote_describe(const struct at_remote_opts *ro, struct at_contract **out, struct at_diag *d)
{
    const char *url = ro->url, *name = ro->name, *tool = ro->tool;
    int timeout_ms = ro->timeout_ms;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "\"%s\" is not an http(s) URL", url);
    char why[300];
    if (ro->auth && at_remote_auth_check(ro->auth, why, sizeof(why)) != 0)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s", why);
    struct sync_client c;
    memset(&c, 0, sizeof(c));
    if (ro->auth) {
        struct at_remote_auth *ra = at_remote_auth_new(ro->secrets);
        int arc = at_remote_auth_header(ra, url, ro->auth, timeout_ms, &c.auth_header, d);
        at_remote_auth_free(ra);
        if (arc)
            return arc;
    }
    c.h = curl_easy_init();
    if (!c.h) {
        at_remote_auth_header_free(c.auth_header);
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start an HTTP client (libcurl)");
    }
    c.url = url;
    c.timeout_ms = timeout_ms;
    struct at_mcp_client_cfg cfg = {.transport = AT_MCP_HTTP, .max_message = MAX_RESPONSE};
    at_mcp_client_init(&c.mc, &cfg);
    at_mcp_xfer_init(&c.x, &c.mc, MAX_RESPONSE);
    json_t *tools = json_array();
    at_mcp_client_start(&c.mc);
    int rc = sync_flush(&c, d);
    if (!rc && !at_mcp_client_ready(&c.mc))
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s: the MCP handshake did not finish", url);
    json_t *cursor = NULL;
    for (int page = 0; !rc && page < 100; page++) {
        json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : json_object();
        json_t *res = NULL;
        rc = sync_request(&c, "tools/list", params, &res, d);
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
        char bad[300];
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
        } else if (at_mcp_check_param_headers(json_object_get(pick, "inputSchema"), bad,
                                              sizeof(bad))) {
            /* MCP 2026-07-28 (SEP-2243): a client must not use such a tool */
            rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                             "%s: tool \"%s\" has an invalid x-mcp-header annotation: %s", url,
                             json_string_value(json_object_get(pick, "name")), bad);
        } else {
            const char *tn = json_string_value(json_object_get(pick, "name"));
            const char *desc = json_string_value(json_object_get(pick, "description"));
            /* the agent's version is the server's, when it is a semver */
            const char *ver = version_from(at_mcp_client_peer(&c.mc)->server_version);
            rc = at_contract_new_remote_trust(
                name, ver ? ver : "1.0.0", url, tn, desc, json_object_get(pick, "inputSchema"),
                json_object_get(pick, "outputSchema"), ro->trust_platform, ro->auth, out, d);
        }
    }
    json_decref(tools);
    if (at_mcp_client_peer(&c.mc)->session[0]) {
        /* end the session politely (MCP 2025-11-25: DELETE with the id) */
        struct curl_slist *hd = NULL;
        at_mcp_http_headers(AT_MCP_HTTP_DELETE, at_mcp_client_peer(&c.mc), NULL, NULL,
                            at_mcp_curl_add_line, &hd);
        if (c.auth_header)
            hd = curl_slist_append(hd, c.auth_header);
        curl_easy_reset(c.h);
        curl_easy_setopt(c.h, CURLOPT_URL, url);
        curl_easy_setopt(c.h, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &c.x);
        at_mcp_xfer_reset(&c.x, 0);
        curl_easy_perform(c.h);
        curl_slist_free_all(hd);
    }
    at_mcp_xfer_release(&c.x);
    at_mcp_client_release(&c.mc);
    curl_easy_cleanup(c.h);
    at_remote_auth_header_free(c.auth_header);
    return rc;
}

/* ------------------------------------------------------------------------
 * Asynchronous runs: one thread, libcurl multi.
 * ------------------------------------------------------------------------ */

struct rjob {
    struct rjob *next;
    struct at_engine *e;
    struct at_job *job;
    char *url;
    char *tool;
    json_t *input;
    json_t *input_schema; /* the tool's, for its Mcp-Param-* headers (or NULL) */
    char job_id[AT_ID_MAX];
    char token[48];
    long timeout_ms;
    int trusted;       /* the contract trusts the server with the job's token */
    json_t *auth;      /* the contract's remote_auth (a copy), or NULL */
    char *auth_header; /* what it gave (remote_auth.h), or NULL */
    int auth_retried;  /* a 401 made it ask for new credentials once */
    CURL *h;
    struct curl_slist *hd;
    struct at_mcp_client mc;
    struct at_mcp_xfer x;
    struct at_mcp_out *cur; /* the message in flight (NULL: a resumption or nothing) */
    long long call_id;      /* the tools/call, once queued */
    int in_flight;          /* a transfer is on the multi handle */
    int resuming;           /* the transfer in flight is a resumption GET */
    int cancelled;
    int retried_session;
    int known; /* the peer came from the session cache */
    int resumes;
    int waiting; /* a resumption is due at resume_at_ms */
    int64_t resume_at_ms;
    /* MCP 2026-07-28 input required: the answers gathered for the retry */
    int rounds;
    int inputs_waiting;
    json_t *input_responses;
    json_t *request_state;
};

/* A side exchange of a run, on its own handle: a message to the remote
 * server that waits for no answer (our answer to one of its requests, a
 * cancellation), or a request of the server relayed to atlasd's own /mcp
 * with the job's token, for the job's caller to answer (as an agent on
 * stdio or HTTP asks it: mcp/server.c relay_request). */
enum side_kind { SIDE_NOTE, SIDE_RELAY };

struct side {
    struct side *next;
    enum side_kind kind;
    CURL *h;
    struct curl_slist *hd;
    int added; /* on the multi handle */
    char job_id[AT_ID_MAX];
    /* SIDE_RELAY */
    struct at_mcp_client mc;
    struct at_mcp_xfer x;
    json_t *rid;   /* the remote server's request id, or NULL: an input request */
    char key[128]; /* the input request's key */
    char method[64];
    json_t *params; /* what is relayed (kept for a second try) */
    int attempt;    /* 0, then 1 for the second try */
    int64_t due_ms; /* not added to the multi handle before (0: at once) */
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
    int count;                   /* jobs not yet finished (mu) */
    int started;                 /* multi handle and thread exist (engine loop thread) */
    struct at_map sessions;      /* url -> struct at_mcp_peer* (thread) */
    struct side *sides;          /* side exchanges (thread) */
    long long ids;               /* request ids of every run's client (thread): unique
                                    within each session the runs share */
    struct at_remote_auth *auth; /* remote servers' credentials (thread-safe) */
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
    at_mcp_xfer_release(&rj->x);
    at_mcp_out_free(rj->cur);
    at_mcp_client_release(&rj->mc);
    json_decref(rj->input_responses);
    json_decref(rj->request_state);
    json_decref(rj->input_schema);
    json_decref(rj->input);
    json_decref(rj->auth);
    at_remote_auth_header_free(rj->auth_header);
    free(rj->url);
    free(rj->tool);
    free(rj);
    pthread_mutex_lock(&rm->mu);
    rm->count--;
    pthread_mutex_unlock(&rm->mu);
}

static void session_put(struct at_remote *rm, const char *url, const struct at_mcp_peer *p)
{
    struct at_mcp_peer *c = at_malloc(sizeof(*c));
    *c = *p;
    free(at_map_put(&rm->sessions, url, c));
}

static void session_drop(struct at_remote *rm, const char *url)
{
    free(at_map_del(&rm->sessions, url));
}

/* ---- what the server says besides its answer ---- */

struct rpost {
    struct at_engine *e;
    struct at_job *job;
    json_t *params; /* progress: the notification's params */
    char *text;     /* log: the line */
};

static void deliver_progress(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct rpost *p = arg;
    if (p->params)
        at__engine_job_progress(p->e, p->job, p->params);
    else
        at__engine_job_log(p->e, p->job, "mcp", p->text, strlen(p->text));
    json_decref(p->params);
    free(p->text);
    at_job_unref(p->job);
    free(p);
}

static void post_event(struct rjob *rj, json_t *params, char *text)
{
    struct rpost *p = at_calloc(1, sizeof(*p));
    p->e = rj->e;
    p->job = at_job_ref(rj->job);
    p->params = params;
    p->text = text;
    at_loop_post(rj->e->loop, deliver_progress, p);
}

static int relayed_method(const char *m)
{
    return !strcmp(m, "sampling/createMessage") || !strcmp(m, "elicitation/create") ||
           !strcmp(m, "roots/list");
}

static void side_free(struct side *sd)
{
    if (sd->hd)
        curl_slist_free_all(sd->hd);
    if (sd->h)
        curl_easy_cleanup(sd->h);
    if (sd->kind == SIDE_RELAY) {
        at_mcp_xfer_release(&sd->x);
        at_mcp_client_release(&sd->mc);
    }
    json_decref(sd->rid);
    json_decref(sd->params);
    free(sd);
}

/* Queue a side exchange; the loop adds it to the multi handle (never from
 * a curl callback). */
static void side_push(struct at_remote *rm, struct side *sd)
{
    curl_easy_setopt(sd->h, CURLOPT_PRIVATE, sd);
    sd->next = rm->sides;
    rm->sides = sd;
}

/* POST a message of the run's client (an answer, a notification) to the
 * remote server; nobody waits for what comes back.  o is freed. */
static void side_note(struct at_remote *rm, struct rjob *rj, struct at_mcp_out *o)
{
    struct side *sd = at_calloc(1, sizeof(*sd));
    sd->kind = SIDE_NOTE;
    sd->h = curl_easy_init();
    snprintf(sd->job_id, sizeof(sd->job_id), "%s", rj->job_id);
    at_mcp_http_headers(AT_MCP_HTTP_POST, at_mcp_client_peer(&rj->mc), o, NULL,
                        at_mcp_curl_add_line, &sd->hd);
    if (rj->auth_header)
        sd->hd = curl_slist_append(sd->hd, rj->auth_header);
    curl_easy_setopt(sd->h, CURLOPT_URL, rj->url);
    curl_easy_setopt(sd->h, CURLOPT_HTTPHEADER, sd->hd);
    curl_easy_setopt(sd->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->len);
    curl_easy_setopt(sd->h, CURLOPT_COPYPOSTFIELDS, o->body);
    curl_easy_setopt(sd->h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(sd->h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(sd->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(sd->h, CURLOPT_PROTOCOLS_STR, "http,https");
    at_mcp_out_free(o);
    side_push(rm, sd);
}

/* Send aside what the run's client queued once the call is out (answers
 * to the server's requests, ping's included; cancellations). */
static void rjob_flush(struct at_remote *rm, struct rjob *rj)
{
    if (!rj->call_id)
        return; /* the handshake's own messages go through rjob_pump */
    struct at_mcp_out *o;
    while ((o = at_mcp_client_pop(&rj->mc)))
        side_note(rm, rj, o);
}

/* Relay a request (method, params borrowed) of the remote server to the
 * job's caller through atlasd's /mcp.  rid: the server's request id (its
 * answer goes back to it), or NULL with key: an input request of an
 * input_required result.  Returns 0, or an error when it cannot be sent. */
static int side_relay_try(struct at_remote *rm, struct rjob *rj, const char *method,
                          const json_t *params, const json_t *rid, const char *key, int attempt)
{
    const char *mcp_url = rj->e->cfg.mcp_url;
    if (!mcp_url || !*mcp_url)
        return AT_ENOENT;
    struct side *sd = at_calloc(1, sizeof(*sd));
    sd->kind = SIDE_RELAY;
    sd->h = curl_easy_init();
    snprintf(sd->job_id, sizeof(sd->job_id), "%s", rj->job_id);
    snprintf(sd->method, sizeof(sd->method), "%s", method);
    snprintf(sd->key, sizeof(sd->key), "%s", key ? key : "");
    sd->rid = rid ? json_deep_copy(rid) : NULL;
    sd->params = json_is_object(params) ? json_deep_copy(params) : json_object();
    sd->attempt = attempt;
    if (attempt)
        sd->due_ms = at_now_ms() + 200;
    struct at_mcp_client_cfg cfg = {
        .transport = AT_MCP_HTTP, .max_message = MAX_RESPONSE, .ids = &rm->ids};
    at_mcp_client_init(&sd->mc, &cfg);
    struct at_mcp_peer self;
    memset(&self, 0, sizeof(self));
    self.stateless = 1;
    snprintf(self.proto, sizeof(self.proto), "%s", AT_MCP_V2026);
    at_mcp_client_resume(&sd->mc, &self);
    at_mcp_xfer_init(&sd->x, &sd->mc, MAX_RESPONSE);
    json_t *p = json_is_object(params) ? json_deep_copy(params) : json_object();
    json_object_del(p, "_meta"); /* the server's envelope is not the caller's business */
    if (at_mcp_client_request(&sd->mc, 0, method, p) <= 0) {
        side_free(sd);
        return AT_ELIMIT;
    }
    struct at_mcp_out *o = at_mcp_client_pop(&sd->mc);
    sd->hd = at_mcp_xfer_prepare(sd->h, mcp_url, &self, o, NULL, NULL, &sd->x, rj->timeout_ms);
    char auth[96];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", rj->token);
    sd->hd = curl_slist_append(sd->hd, auth);
    curl_easy_setopt(sd->h, CURLOPT_HTTPHEADER, sd->hd);
    at_mcp_out_free(o);
    side_push(rm, sd);
    return 0;
}

static int side_relay(struct at_remote *rm, struct rjob *rj, const char *method,
                      const json_t *params, const json_t *rid, const char *key)
{
    return side_relay_try(rm, rj, method, params, rid, key, 0);
}

/* A notification or request of the remote server, during the run (a curl
 * callback: no multi calls). */
static void rjob_on_other(void *arg, struct at_mcp_ev *ev)
{
    struct rjob *rj = arg;
    struct at_remote *rm = rj->e->remote;
    if (ev->kind == AT_MCP_EV_NOTIFICATION) {
        if (!strcmp(ev->method, "notifications/progress") && ev->params) {
            post_event(rj, json_incref(ev->params), NULL);
        } else if (!strcmp(ev->method, "notifications/message") && ev->params) {
            json_t *data = json_object_get(ev->params, "data");
            post_event(rj, NULL,
                       json_is_string(data) ? at_strdup(json_string_value(data))
                       : data               ? at_json_dumps(data)
                                            : at_strdup(""));
        }
        return;
    }
    if (ev->kind != AT_MCP_EV_REQUEST)
        return;
    /* MCP 2025-11-25 client/sampling, client/elicitation, client/roots:
     * whoever started the job answers; anything else is refused */
    if (!relayed_method(ev->method) || side_relay(rm, rj, ev->method, ev->params, ev->rid, NULL))
        at_mcp_client_reply_error(&rj->mc, ev->rid, AT_MCP_METHOD_NOT_FOUND, "Method not found");
}

static void rjob_transfer(struct at_remote *rm, struct rjob *rj, const struct at_mcp_out *o)
{
    if (rj->in_flight)
        curl_multi_remove_handle(rm->multi, rj->h);
    if (rj->hd)
        curl_slist_free_all(rj->hd);
    rj->x.want = o ? o->id : rj->call_id;
    rj->hd = at_mcp_xfer_prepare(
        rj->h, rj->url, at_mcp_client_peer(&rj->mc), o, o ? NULL : rj->x.resp.last_event_id,
        (const char *const[]){rj->auth_header, NULL}, &rj->x, rj->timeout_ms);
    if (o && o->version[0] && !strcmp(o->method, "tools/call") && rj->input_schema) {
        /* MCP 2026-07-28 (SEP-2243): annotated arguments go in headers too */
        at_mcp_param_headers(rj->input_schema, rj->input, at_mcp_curl_add_line, &rj->hd);
        curl_easy_setopt(rj->h, CURLOPT_HTTPHEADER, rj->hd);
    }
    curl_easy_setopt(rj->h, CURLOPT_PRIVATE, rj);
    curl_multi_add_handle(rm->multi, rj->h);
    rj->in_flight = 1;
    rj->resuming = o == NULL;
}

/* Send the next message: what the client queued (handshake), else the
 * call once the peer is known. */
static void rjob_pump(struct at_remote *rm, struct rjob *rj)
{
    at_mcp_out_free(rj->cur);
    rj->cur = at_mcp_client_pop(&rj->mc);
    if (!rj->cur && at_mcp_client_ready(&rj->mc) && !rj->call_id) {
        /* the handshake is over: the next job to this URL skips it */
        if (!rj->known)
            session_put(rm, rj->url, at_mcp_client_peer(&rj->mc));
        json_t *meta = at_mcp_job_meta(rj->job_id, rj->trusted ? rj->token : NULL);
        long long id = at_mcp_client_call_tool(&rj->mc, TAG_CALL, rj->tool, rj->input, meta);
        rj->call_id = id > 0 ? id : 0;
        rj->cur = at_mcp_client_pop(&rj->mc);
    }
    if (rj->cur)
        rjob_transfer(rm, rj, rj->cur);
}

/* The run's credentials for its server (remote_auth.h; a cached token, or
 * a fetch that blocks this thread up to 10 s).  0, or the job is finished
 * (and freed) with why. */
static int rjob_auth(struct at_remote *rm, struct rjob *rj)
{
    if (!rj->auth)
        return 0;
    at_remote_auth_header_free(rj->auth_header);
    rj->auth_header = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_remote_auth_header(rm->auth, rj->url, rj->auth,
                                   rj->timeout_ms < 10000 ? rj->timeout_ms : 10000,
                                   &rj->auth_header, &d);
    if (rc)
        rjob_finish(rm, rj, rc == AT_ECONN ? AT_ECONN : AT_EPERM, NULL, d.msg);
    return rc;
}

static void rjob_begin(struct at_remote *rm, struct rjob *rj)
{
    rj->h = curl_easy_init();
    struct at_mcp_client_cfg cfg = {
        .transport = AT_MCP_HTTP, .max_message = MAX_RESPONSE, .relay = 1, .ids = &rm->ids};
    at_mcp_client_init(&rj->mc, &cfg);
    at_mcp_xfer_init(&rj->x, &rj->mc, MAX_RESPONSE);
    rj->x.on_other = rjob_on_other;
    rj->x.other_arg = rj;
    struct at_mcp_peer *known = at_map_get(&rm->sessions, rj->url);
    if (known)
        at_mcp_client_resume(&rj->mc, known);
    else
        at_mcp_client_start(&rj->mc);
    rj->known = known != NULL;
    rjob_pump(rm, rj); /* a fresh client always has something to send */
}

/* The rounds of input one call may ask for (MCP 2026-07-28 input required). */
#define MAX_INPUT_ROUNDS 8

/* Send the call again with the inputs gathered (MCP 2026-07-28
 * multi-round-trip requests).  Returns 1 (the job goes on) or 0 (it
 * finished). */
static int rjob_retry(struct at_remote *rm, struct rjob *rj)
{
    json_t *params = json_object();
    json_object_set_new(params, "name", json_string(rj->tool));
    json_object_set(params, "arguments", rj->input);
    json_object_set_new(params, "_meta",
                        at_mcp_job_meta(rj->job_id, rj->trusted ? rj->token : NULL));
    json_object_set_new(params, "inputResponses",
                        rj->input_responses ? rj->input_responses : json_object());
    rj->input_responses = NULL;
    if (rj->request_state)
        json_object_set_new(params, "requestState", rj->request_state);
    rj->request_state = NULL;
    long long id = at_mcp_client_request(&rj->mc, TAG_CALL, "tools/call", params);
    if (id <= 0) {
        rjob_finish(rm, rj, AT_EINTERNAL, NULL, "remote agent: cannot send the call again");
        return 0;
    }
    rj->call_id = id;
    rj->resumes = 0;
    rj->x.resp.last_event_id[0] = '\0';
    at_mcp_out_free(rj->cur);
    rj->cur = at_mcp_client_pop(&rj->mc);
    rjob_transfer(rm, rj, rj->cur);
    return 1;
}

/* An input_required answer: relay each input request to the job's caller;
 * the call goes again once every answer is in.  Returns 1 (the job goes
 * on) or 0 (it finished). */
static int rjob_input_required(struct at_remote *rm, struct rjob *rj, const json_t *result)
{
    char detail[600];
    if (++rj->rounds > MAX_INPUT_ROUNDS) {
        snprintf(detail, sizeof(detail),
                 "remote agent %s still asks for input after %d rounds: given up", rj->url,
                 MAX_INPUT_ROUNDS);
        rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
        return 0;
    }
    const json_t *reqs = json_object_get(result, "inputRequests");
    const json_t *state = json_object_get(result, "requestState");
    if ((reqs && !json_is_object(reqs)) || (state && !json_is_string(state)) ||
        (!json_object_size(reqs) && !state)) {
        snprintf(detail, sizeof(detail),
                 "remote agent %s answered input_required without valid inputRequests or "
                 "requestState",
                 rj->url);
        rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
        return 0;
    }
    const char *key;
    json_t *r;
    json_object_foreach((json_t *)reqs, key, r)
    {
        const char *method = json_string_value(json_object_get(r, "method"));
        if (!method || !relayed_method(method) || strlen(key) >= sizeof(((struct side *)0)->key)) {
            snprintf(detail, sizeof(detail),
                     "remote agent %s needs input Atlas cannot ask for (\"%s\": %s)", rj->url, key,
                     method ? method : "no method");
            rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
            return 0;
        }
    }
    json_decref(rj->input_responses);
    json_decref(rj->request_state);
    rj->input_responses = json_object();
    rj->request_state = state ? json_incref((json_t *)state) : NULL;
    rj->inputs_waiting = 0;
    json_object_foreach((json_t *)reqs, key, r)
    {
        const char *method = json_string_value(json_object_get(r, "method"));
        if (side_relay(rm, rj, method, json_object_get(r, "params"), NULL, key)) {
            snprintf(detail, sizeof(detail),
                     "remote agent %s needs input (%s) and there is no MCP endpoint to ask "
                     "the job's caller through",
                     rj->url, method);
            rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
            return 0;
        }
        rj->inputs_waiting++;
    }
    if (rj->inputs_waiting == 0)
        return rjob_retry(rm, rj); /* requestState alone: just go again */
    return 1;
}

/* The call's answer: the job's result.  Returns 1 when the job goes on
 * (input required), 0 when it finished. */
static int rjob_answer(struct at_remote *rm, struct rjob *rj, struct at_mcp_ev *ev)
{
    char detail[600];
    if (ev->result && at_mcp_result_input_required(ev->result))
        return rjob_input_required(rm, rj, ev->result);
    if (!ev->result) {
        at_mcp_ev_error_text(ev, detail, sizeof(detail));
        rjob_finish(rm, rj, AT_EAGENT, NULL, detail);
        return 0;
    }
    json_t *out = NULL;
    int rc = at_mcp_tool_output(ev->result, &out, detail, sizeof(detail));
    if (rc) {
        rjob_finish(rm, rj, rc, NULL, detail);
        return 0;
    }
    rjob_finish(rm, rj, 0, out, NULL);
    json_decref(out);
    return 0;
}

/* Returns 1 when the job went on to another step (still alive), 0 when it
 * finished (and was freed). */
static int rjob_step_done(struct at_remote *rm, struct rjob *rj, CURLcode cc)
{
    char detail[600];
    rj->in_flight = 0;
    curl_multi_remove_handle(rm->multi, rj->h);
    if (rj->cancelled) {
        rjob_finish(rm, rj, AT_ECANCELED, NULL, NULL);
        return 0;
    }
    long status;
    cc = at_mcp_xfer_end(&rj->x, rj->h, cc, &status);
    long long id = rj->cur ? rj->cur->id : rj->call_id;
    int is_call = rj->call_id && id == rj->call_id;
    if (cc != CURLE_OK) {
        if (!is_call)
            session_drop(rm, rj->url);
        snprintf(detail, sizeof(detail), "remote agent %s: %s", rj->url, curl_easy_strerror(cc));
        rjob_finish(rm, rj, cc == CURLE_OPERATION_TIMEDOUT ? AT_ETIMEDOUT : AT_ECONN, NULL, detail);
        return 0;
    }
    if (is_call && !rj->x.answered && rj->x.resp.sse && status == 200 &&
        rj->x.resp.last_event_id[0] && rj->resumes < MAX_RESUMES) {
        /* the stream ended before the response: come back after the
         * server's retry delay with Last-Event-ID (SEP-1699) */
        long ms = rj->x.resp.retry_ms >= 0 ? rj->x.resp.retry_ms : RESUME_DEFAULT_MS;
        rj->resumes++;
        rj->waiting = 1;
        rj->resume_at_ms = at_now_ms() + (ms < RESUME_MAX_MS ? ms : RESUME_MAX_MS);
        at_mcp_out_free(rj->cur);
        rj->cur = NULL;
        return 1;
    }
    if (status == 401 && rj->auth && !rj->auth_retried && rj->cur) {
        /* the credentials were refused (an expired or revoked token):
         * forget them, ask once more, send the same message again */
        rj->auth_retried = 1;
        at_remote_auth_forget(rm->auth, rj->url, rj->auth);
        if (rjob_auth(rm, rj))
            return 0;
        rjob_transfer(rm, rj, rj->cur);
        return 1;
    }
    if (status == 401 || status == 403) {
        if (rj->auth)
            snprintf(detail, sizeof(detail),
                     "%s refused the credentials of remote_auth (%s, HTTP %ld)", rj->url,
                     json_string_value(json_object_get(rj->auth, "type")), status);
        else
            auth_required(rj->url, status, detail, sizeof(detail));
        rjob_finish(rm, rj, AT_EPERM, NULL, detail);
        return 0;
    }
    if (is_call && status == 404 && at_mcp_client_peer(&rj->mc)->session[0] &&
        !rj->retried_session) {
        /* MCP 2025-11-25: a 404 for a session id means the session ended */
        session_drop(rm, rj->url);
        at_mcp_client_reset(&rj->mc);
        at_mcp_client_start(&rj->mc);
        rj->retried_session = 1;
        rj->known = 0;
        rj->call_id = 0;
        rjob_pump(rm, rj);
        return 1;
    }
    if (id == 0) {
        rjob_pump(rm, rj); /* a notification (initialized) went through */
        return 1;
    }
    if (!rj->x.answered) {
        if (at_mcp_client_unanswered(&rj->mc, id)) {
            rjob_pump(rm, rj); /* server/discover not understood: initialize */
            return 1;
        }
        char why[300];
        at_mcp_xfer_no_answer(&rj->x, status, id, why, sizeof(why));
        snprintf(detail, sizeof(detail), "remote agent %s: %s", rj->url, why);
        rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
        return 0;
    }
    struct at_mcp_ev *ev = &rj->x.ev;
    if (ev->kind == AT_MCP_EV_FAILED) {
        snprintf(detail, sizeof(detail), "remote agent %s %s", rj->url, ev->detail);
        rjob_finish(rm, rj, AT_EPROTO, NULL, detail);
        return 0;
    }
    if (is_call && ev->kind == AT_MCP_EV_RESPONSE)
        return rjob_answer(rm, rj, ev);
    rjob_pump(rm, rj); /* a handshake step */
    if (!rj->cur) {
        rjob_finish(rm, rj, AT_EINTERNAL, NULL, "remote agent: nothing to send");
        return 0;
    }
    return 1;
}

/* ---- side exchanges ending ---- */

static struct rjob *rjob_unlink(struct at_remote *rm, const char *job_id)
{
    for (struct rjob **pp = &rm->active; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->job_id, job_id)) {
            struct rjob *rj = *pp;
            *pp = rj->next;
            return rj;
        }
    return NULL;
}

/* A relay's answer for run rj (unlinked).  Returns 1 when the job goes on,
 * 0 when it finished. */
static int relay_result(struct at_remote *rm, struct rjob *rj, struct side *sd, CURLcode cc)
{
    long status;
    cc = at_mcp_xfer_end(&sd->x, sd->h, cc, &status);
    const struct at_mcp_ev *ev =
        sd->x.answered && sd->x.ev.kind == AT_MCP_EV_RESPONSE ? &sd->x.ev : NULL;
    char why[400], detail[600];
    if (ev && !ev->result && ev->error_code == AT_MCP_METHOD_NOT_FOUND && sd->attempt == 0 &&
        !side_relay_try(rm, rj, sd->method, sd->params, sd->rid, sd->key[0] ? sd->key : NULL, 1)) {
        /* "no MCP client to ask" may be the caller's tools/call not yet
         * registered when the server asked at once: one more try */
        return 1;
    }
    if (!ev) {
        if (cc != CURLE_OK)
            snprintf(why, sizeof(why), "the relay through atlasd's /mcp failed: %s",
                     curl_easy_strerror(cc));
        else
            snprintf(why, sizeof(why), "atlasd's /mcp gave no answer (HTTP %ld)", status);
    } else if (!ev->result) {
        at_mcp_ev_error_text(ev, why, sizeof(why));
    }
    if (sd->rid) {
        /* the server's request: our answer goes back to it */
        if (ev && ev->result)
            at_mcp_client_reply(&rj->mc, sd->rid, ev->result);
        else if (ev)
            at_mcp_client_reply_error(&rj->mc, sd->rid, (int)ev->error_code, ev->error_message);
        else
            at_mcp_client_reply_error(&rj->mc, sd->rid, AT_MCP_INTERNAL_ERROR, why);
        rjob_flush(rm, rj);
        return 1;
    }
    if (!ev || !ev->result) {
        snprintf(detail, sizeof(detail),
                 "remote agent %s needs input (%s) from the job's caller: %s", rj->url, sd->method,
                 why);
        rjob_finish(rm, rj, AT_EAGENT, NULL, detail);
        return 0;
    }
    json_object_set(rj->input_responses, sd->key, ev->result);
    if (--rj->inputs_waiting > 0)
        return 1;
    return rjob_retry(rm, rj);
}

static void side_done(struct at_remote *rm, struct side *sd, CURLcode cc)
{
    if (sd->kind != SIDE_RELAY)
        return;
    struct rjob *rj = rjob_unlink(rm, sd->job_id);
    if (!rj)
        return; /* the run ended meanwhile */
    if (relay_result(rm, rj, sd, cc)) {
        rj->next = rm->active;
        rm->active = rj;
    }
}

static struct side *side_take(struct at_remote *rm, void *h)
{
    for (struct side **pp = &rm->sides; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h) {
            struct side *sd = *pp;
            *pp = sd->next;
            return sd;
        }
    return NULL;
}

/* Drop the relays of a run that ends (its caller is no longer asked). */
static void sides_drop_relays(struct at_remote *rm, const char *job_id)
{
    for (struct side **pp = &rm->sides; *pp;) {
        struct side *sd = *pp;
        if (sd->kind == SIDE_RELAY && !strcmp(sd->job_id, job_id)) {
            *pp = sd->next;
            if (sd->added)
                curl_multi_remove_handle(rm->multi, sd->h);
            side_free(sd);
            continue;
        }
        pp = &sd->next;
    }
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
            if (rjob_auth(rm, in) != 0) { /* finished: it cannot be authorised */
                in = next;
                continue;
            }
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
        /* finish cancelled jobs at once; a session-mode server is told
         * (MCP 2025-11-25 basic/utilities/cancellation), a stateless one
         * sees its request's stream closed */
        for (struct rjob **pp = &rm->active; *pp;) {
            struct rjob *rj = *pp;
            if (rj->cancelled || stop) {
                *pp = rj->next;
                if (!stop && rj->call_id &&
                    at_mcp_client_cancel(&rj->mc, rj->call_id, "cancelled") == 0)
                    rjob_flush(rm, rj);
                sides_drop_relays(rm, rj->job_id);
                rjob_finish(rm, rj, AT_ECANCELED, NULL,
                            stop ? "the daemon is shutting down" : NULL);
                continue;
            }
            pp = &rj->next;
        }
        if (stop)
            break;
        int64_t t_now = at_now_ms();
        for (struct side *sd = rm->sides; sd; sd = sd->next)
            if (!sd->added && sd->due_ms <= t_now) {
                curl_multi_add_handle(rm->multi, sd->h);
                sd->added = 1;
            }
        int running = 0;
        curl_multi_perform(rm->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(rm->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURLcode cc = msg->data.result;
            struct side *sd = side_take(rm, msg->easy_handle);
            if (sd) {
                curl_multi_remove_handle(rm->multi, sd->h);
                sd->added = 0;
                side_done(rm, sd, cc);
                side_free(sd);
                continue;
            }
            struct rjob *rj = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&rj);
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
        /* answers the runs' clients queued (ping's, relayed ones) */
        int more = 0;
        for (struct rjob *rj = rm->active; rj; rj = rj->next)
            if (rj->call_id && rj->mc.out_head)
                rjob_flush(rm, rj);
        int64_t now = at_now_ms(), next_at = now + 1000;
        for (struct side *sd = rm->sides; sd; sd = sd->next) {
            if (sd->added)
                continue;
            if (sd->due_ms <= now) {
                curl_multi_add_handle(rm->multi, sd->h);
                sd->added = 1;
                more = 1;
            } else if (sd->due_ms < next_at) {
                next_at = sd->due_ms;
            }
        }
        if (more)
            next_at = now;
        /* resumptions that are due, and when the next one is */
        for (struct rjob *rj = rm->active; rj; rj = rj->next) {
            if (!rj->waiting)
                continue;
            if (rj->resume_at_ms <= now) {
                rj->waiting = 0;
                rjob_transfer(rm, rj, NULL); /* GET the rest of the stream */
            } else if (rj->resume_at_ms < next_at) {
                next_at = rj->resume_at_ms;
            }
        }
        curl_multi_poll(rm->multi, NULL, 0, (int)(next_at - now > 0 ? next_at - now : 1), NULL);
    }
    while (rm->sides) {
        struct side *sd = rm->sides;
        rm->sides = sd->next;
        if (sd->added)
            curl_multi_remove_handle(rm->multi, sd->h);
        side_free(sd);
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
    rm->auth = at_remote_auth_new(e->cfg.secrets);
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
    at_remote_auth_free(rm->auth);
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
    const json_t *schema = c->input ? at_schema_json(c->input) : NULL;
    rj->input_schema = schema ? json_deep_copy(schema) : NULL;
    snprintf(rj->job_id, sizeof(rj->job_id), "%s", j->rec.id);
    snprintf(rj->token, sizeof(rj->token), "%s", j->token);
    rj->trusted = c->platform_tools;
    const json_t *auth = json_object_get(c->json, "remote_auth");
    rj->auth = auth ? json_deep_copy(auth) : NULL;
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
