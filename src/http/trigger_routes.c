/*
 * trigger_routes.c - triggers (docs/api.md "Triggers") and the listener of
 * HTTP triggers, POST /hooks/PATH (docs/triggers.md).
 *
 * Registration, removal, pause/resume and manual firing wait for the store
 * (the trigger service writes through the writer thread): they run on the
 * blocking workers.  A delivery waits for its firing's record to commit
 * (nothing acknowledged is lost), then answers 202 with the job id, or,
 * for `respond: sync`, the job's output once it ends.
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/id.h"
#include "base/sse.h"
#include "http/ws.h"
#include "json/json.h"
#include "trigger/service.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_MAX_BODY (16u << 20) /* the largest trigger max_body */

static struct at_trigger_svc *svc(struct at_http_req *r)
{
    return at_http_api_of(r)->triggers;
}

static void reply_diag_or(struct at_http_req *r, const struct at_diag *d, int rc)
{
    if (d->code)
        at_http_reply_diag(r, d);
    else
        at_http_reply_problem(r, rc, at_err_msg(rc), NULL, NULL);
}

static void h_list(struct at_http_req *r)
{
    at_http_reply_json(r, 200, json_pack("{s:o}", "triggers", at_trigger_list(svc(r))));
}

/* POST /api/v1/triggers {"yaml": TEXT, "file"?: NAME} */
static void h_register(struct at_http_req *r)
{
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    const char *text = at_json_str(body, "yaml", NULL);
    const char *file = at_json_str(body, "file", "trigger.yaml");
    if (!text) {
        at_http_reply_problem(r, AT_EINVAL, "the body must be {\"yaml\": TEXT, \"file\"?: NAME}",
                              "/yaml", NULL);
        json_decref(body);
        return;
    }
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    int rc = at_trigger_register(svc(r), file, text, strlen(text), &out, &d);
    json_decref(body);
    if (rc) {
        reply_diag_or(r, &d, rc);
        return;
    }
    at_http_reply_json(r, 201, out);
}

static void h_get(struct at_http_req *r)
{
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out;
    int rc = at_trigger_describe(svc(r), at_http_param(r, "name"), &out, &d);
    if (rc)
        reply_diag_or(r, &d, rc);
    else
        at_http_reply_json(r, 200, out);
}

static void h_delete(struct at_http_req *r)
{
    struct at_diag d;
    at_diag_clear(&d);
    const char *name = at_http_param(r, "name");
    int rc = at_trigger_remove(svc(r), name, &d);
    if (rc)
        reply_diag_or(r, &d, rc);
    else
        at_http_reply_json(r, 200, json_pack("{s:s}", "removed", name));
}

static void set_paused(struct at_http_req *r, int paused)
{
    struct at_diag d;
    at_diag_clear(&d);
    const char *name = at_http_param(r, "name");
    int rc = at_trigger_set_paused(svc(r), name, paused, &d);
    json_t *out;
    if (!rc)
        rc = at_trigger_describe(svc(r), name, &out, &d);
    if (rc)
        reply_diag_or(r, &d, rc);
    else
        at_http_reply_json(r, 200, out);
}

static void h_pause(struct at_http_req *r)
{
    set_paused(r, 1);
}

static void h_resume(struct at_http_req *r)
{
    set_paused(r, 0);
}

/* POST /api/v1/triggers/{name}/fire {"input"?: {...}} */
static void h_fire(struct at_http_req *r)
{
    json_t *body;
    if (at_http_body_json(r, 1, &body))
        return;
    json_t *input = json_object_get(body, "input");
    if (input && !json_is_object(input)) {
        at_http_reply_problem(r, AT_EINVAL, "input must be an object", "/input", NULL);
        json_decref(body);
        return;
    }
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    int rc = at_trigger_fire(svc(r), at_http_param(r, "name"), input, &out, &d);
    json_decref(body);
    if (rc) {
        reply_diag_or(r, &d, rc);
        return;
    }
    at_http_reply_json(r, 202, out);
}

static void h_history(struct at_http_req *r)
{
    long long limit;
    if (at_http_query_int(r, "limit", 1, 10000, 20, &limit))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out;
    int rc = at_trigger_history(svc(r), at_http_param(r, "name"), (int)limit, &out, &d);
    if (rc)
        reply_diag_or(r, &d, rc);
    else
        at_http_reply_json(r, 200, json_pack("{s:o}", "firings", out));
}

static void h_next(struct at_http_req *r)
{
    long long n;
    if (at_http_query_int(r, "n", 1, 1000, 5, &n))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out;
    int rc = at_trigger_next(svc(r), at_http_param(r, "name"), (int)n, &out, &d);
    if (rc)
        reply_diag_or(r, &d, rc);
    else
        at_http_reply_json(r, 200, json_pack("{s:o}", "next", out));
}

/* ---- deliveries ---- */

struct hook_wait {
    struct at_http_wait hw;
    char conversation[AT_ID_MAX + 64];
};

static void hook_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct hook_wait *w = arg;
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req) {
        at_http_add_header(req, "Atlas-Job-Id", rec->id);
        if (store_rc) {
            at_http_complete_problem(
                req, at_http_problem(store_rc, "the job's result could not be stored", NULL));
        } else if (rec->state == AT_JOB_COMPLETED) {
            json_t *out = json_incref(rec->output);
            if (w->conversation[0]) {
                json_t *o = json_pack("{s:s,s:s,s:o}", "conversation_id", w->conversation, "job_id",
                                      rec->id, "output", out);
                out = o;
            }
            at_http_complete_json(req, 200, out);
        } else {
            json_t *p = rec->error ? json_deep_copy(rec->error)
                                   : at_http_problem(AT_EINTERNAL, "the job failed", NULL);
            json_object_del(p, "code");
            json_object_set_new(p, "job", json_string(rec->id));
            json_object_set_new(p, "state", json_string(at_job_state_name(rec->state)));
            at_http_complete_problem(req, p);
        }
    }
    at_http_wait_unlock(&w->hw, 1);
    at_http_wait_unref(&w->hw);
}

/* A conversational answer streamed as SSE (Accept: text/event-stream):
 * "accepted" {conversation_id, job_id}, then "output" {conversation_id,
 * job_id, output} or "error" (a problem), then the stream ends.  The job's
 * end may come before the handler has sent "accepted": it is then kept
 * and sent right after. */
struct hook_sse {
    atomic_int refs; /* the job's completion and the stream's close callback */
    pthread_mutex_t mu;
    struct at_http_stream *stream;
    unsigned long seq;
    int accepted; /* "accepted" was sent */
    int ended;    /* the last event was sent and the stream closed */
    char *pending_event;
    json_t *pending; /* the end that came before "accepted" */
    char conversation[AT_ID_MAX + 64];
};

static void hook_sse_unref(struct hook_sse *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&c->mu);
    json_decref(c->pending);
    free(c->pending_event);
    free(c);
}

static void hook_sse_send(struct hook_sse *c, const char *event, json_t *data)
{
    char *text = at_json_dumps(data);
    char id[32];
    snprintf(id, sizeof(id), "%lu", ++c->seq);
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_sse_write(&b, event, id, text, strlen(text));
    at_http_stream_write(c->stream, b.p, b.len);
    at_buf_release(&b);
    free(text);
}

/* under mu: send the end and close (once) */
static void hook_sse_end(struct hook_sse *c, const char *event, json_t *data)
{
    if (c->ended)
        return;
    hook_sse_send(c, event, data);
    c->ended = 1;
    at_http_stream_close(c->stream);
    at_http_stream_unref(c->stream); /* the handler's reference */
}

static void hook_sse_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct hook_sse *c = arg;
    const char *event = "output";
    json_t *data;
    if (store_rc) {
        event = "error";
        data = at_http_problem(store_rc, "the job's result could not be stored", NULL);
    } else if (rec->state == AT_JOB_COMPLETED) {
        /* a copy: it may be sent after the writer has dropped the record */
        data = json_pack("{s:s,s:s,s:o?}", "conversation_id", c->conversation, "job_id", rec->id,
                         "output", rec->output ? json_deep_copy(rec->output) : NULL);
    } else {
        event = "error";
        data = rec->error ? json_deep_copy(rec->error)
                          : at_http_problem(AT_EINTERNAL, "the job failed", NULL);
        json_object_set_new(data, "job", json_string(rec->id));
    }
    pthread_mutex_lock(&c->mu);
    if (c->accepted) {
        hook_sse_end(c, event, data);
        json_decref(data);
    } else {
        c->pending_event = at_strdup(event);
        c->pending = data;
    }
    pthread_mutex_unlock(&c->mu);
    hook_sse_unref(c);
}

static void hook_sse_closed(void *arg)
{
    hook_sse_unref(arg);
}

static int wants_sse(struct at_http_req *r)
{
    const char *a = at_http_header(r, "Accept");
    return a && strstr(a, "text/event-stream") != NULL;
}

static void hook_stream(struct at_http_req *r, const char *path, json_t *headers,
                        const json_t *identity)
{
    struct hook_sse *c = at_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 2);
    pthread_mutex_init(&c->mu, NULL);
    c->stream = at_http_stream_start(r, 200, "text/event-stream", 0, hook_sse_closed, c);
    at_http_stream_set_sse(c->stream);
    struct at_trigger_delivery dv = {
        .path = path,
        .body = r->body.len ? at_buf_str(&r->body) : "",
        .len = r->body.len,
        .headers = headers,
        .identity = identity,
        .on_done = hook_sse_done,
        .done_arg = c,
        .conversation_out = c->conversation,
        .conversation_out_len = sizeof(c->conversation),
    };
    struct at_trigger_result res;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_trigger_deliver(svc(r), &dv, &res, &d);
    pthread_mutex_lock(&c->mu);
    if (rc || !res.sync) {
        json_t *p = rc              ? at_http_problem(rc, d.msg, NULL)
                    : res.duplicate ? json_pack("{s:O?,s:b}", "job_id", json_array_get(res.jobs, 0),
                                                "duplicate", 1)
                                    : json_pack("{s:O}", "jobs", res.jobs);
        c->accepted = 1;
        /* an async trigger's stream says which jobs it started, and ends */
        hook_sse_end(c, rc ? "error" : "accepted", p);
        json_decref(p);
        pthread_mutex_unlock(&c->mu);
        hook_sse_unref(c); /* the completion will not run */
    } else {
        /* c->conversation was written before the job could start */
        json_t *a = json_pack("{s:s,s:O?}", "conversation_id", res.conversation, "job_id",
                              json_array_get(res.jobs, 0));
        hook_sse_send(c, "accepted", a);
        json_decref(a);
        c->accepted = 1;
        if (c->pending)
            hook_sse_end(c, c->pending_event, c->pending);
        pthread_mutex_unlock(&c->mu);
    }
    json_decref(res.jobs);
}

/* auth: token: the security layer's check, as for the API's run routes
 * (0, or the problem answered).  *identity: who, for the event. */
static int hook_auth(struct at_http_req *r, const char *path, json_t **identity)
{
    *identity = NULL;
    if (!at_trigger_needs_token(svc(r), path))
        return 0;
    struct at_diag d;
    at_diag_clear(&d);
    /* the hook the server runs for every API route (it only reads the api) */
    int rc = at_http_authorize((void *)at_http_api_of(r), r, AT_HTTP_NEED_RUN, &d);
    if (rc) {
        if (rc == AT_EAUTH)
            at_http_add_header(r, "WWW-Authenticate", "Bearer");
        at_http_reply_problem(r, rc, d.msg[0] ? d.msg : at_err_msg(rc), NULL, NULL);
        return rc;
    }
    *identity = json_pack("{s:s}", "user", r->who[0] ? r->who : "local");
    return 0;
}

/* The answer to a delivery that did not wait for its job (under the
 * wait's lock). */
static void hook_answer(struct at_http_req *req, int rc, const char *msg,
                        const struct at_trigger_result *res)
{
    if (!rc && res->chat) {
        /* slack, discord: the platform's answer now (a challenge, a PONG, a
         * deferred message, or an empty 200); the output follows by URL */
        if (res->answer)
            at_http_complete_json(req, 200, json_incref(res->answer));
        else
            at_http_complete_text(req, 200, "text/plain", "");
    } else if (rc) {
        at_http_complete_problem(req, at_http_problem(rc, msg, NULL));
    } else {
        const char *job = json_string_value(json_array_get(res->jobs, 0));
        if (job) {
            char loc[160];
            snprintf(loc, sizeof(loc), AT_HTTP_API "/jobs/%s", job);
            at_http_add_header(req, "Location", loc);
            at_http_add_header(req, "Atlas-Job-Id", job);
        }
        json_t *o = json_pack("{s:s?,s:O,s:b}", "job_id", job, "jobs", res->jobs, "duplicate",
                              res->duplicate);
        if (res->conversation[0])
            json_object_set_new(o, "conversation_id", json_string(res->conversation));
        at_http_complete_json(req, res->duplicate ? 200 : 202, o);
    }
}

/* An async delivery's record is committed (the writer thread): answer. */
static void hook_accepted(int rc, const struct at_trigger_result *res, const char *msg, void *arg)
{
    struct hook_wait *w = arg;
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req)
        hook_answer(req, rc, msg, res);
    at_http_wait_unlock(&w->hw, 1);
    at_http_wait_unref(&w->hw);
}

static void h_hook(struct at_http_req *r)
{
    const char *rest = at_http_param(r, "path");
    char path[300];
    snprintf(path, sizeof(path), "/hooks/%s", rest ? rest : "");
    json_t *identity;
    if (hook_auth(r, path, &identity))
        return;
    json_t *headers = at_http_headers_json(r);
    if (wants_sse(r)) {
        hook_stream(r, path, headers, identity);
        json_decref(headers);
        json_decref(identity);
        return;
    }
    /* two references besides the request's: this handler's, and the
     * completion's (given back below when the trigger answers at once) */
    struct hook_wait *w = at_http_wait_new(r, sizeof(*w), 2);
    struct at_trigger_delivery dv = {
        .path = path,
        .body = r->body.len ? at_buf_str(&r->body) : "",
        .len = r->body.len,
        .headers = headers,
        .identity = identity,
        .on_done = hook_done,
        .done_arg = w,
        .conversation_out = w->conversation,
        .conversation_out_len = sizeof(w->conversation),
        .on_accepted = hook_accepted,
        .accepted_arg = w,
    };
    struct at_trigger_result res;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_trigger_deliver(svc(r), &dv, &res, &d);
    json_decref(headers);
    json_decref(identity);
    if (rc == AT_AGAIN) {
        /* hook_accepted answers, with the completion's reference */
        json_decref(res.jobs);
        at_http_wait_unref(&w->hw);
        return;
    }
    if (!rc && res.sync) {
        /* w->conversation was written before the job could start */
        json_decref(res.jobs);
        at_http_wait_unref(&w->hw);
        return;
    }
    atomic_fetch_sub(&w->hw.refs, 1); /* the completion will not run */
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req)
        hook_answer(req, rc, d.msg, &res);
    at_http_wait_unlock(&w->hw, 1);
    at_http_wait_unref(&w->hw);
    json_decref(res.jobs);
    json_decref(res.answer);
}

/* ---- conversations over WebSocket (interface: websocket) ----
 *
 * GET /hooks/PATH with Upgrade: websocket opens a conversation: the
 * server says {"type": "ready", "conversation_id"}; each text message
 * (a JSON object, the body of one turn, or plain text, taken as
 * {"message": TEXT}) starts a job of the trigger's target and is answered
 * with "accepted" {job_id}, the job's "progress" events, then "output"
 * {output} or "error" {error: problem}.  Every frame names the
 * conversation and the turn's job.  docs/triggers.md "WebSocket". */

#define CHAT_MAX_INFLIGHT 8 /* turns of one connection running at once */

struct chat {
    atomic_int refs; /* the connection's handler, and each turn */
    struct at_trigger_svc *svc;
    struct at_ws *ws; /* set by on_open */
    char path[300];
    char conversation[AT_ID_MAX + 64];
    json_t *headers;
    json_t *identity;
    atomic_int inflight;
    unsigned long turns;
};

static void chat_unref(struct chat *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->ws)
        at_ws_unref(c->ws);
    json_decref(c->headers);
    json_decref(c->identity);
    free(c);
}

static void chat_send(struct at_ws *ws, json_t *frame) /* steals frame */
{
    char *text = at_json_dumps(frame);
    at_ws_send(ws, 0, text, strlen(text));
    free(text);
    json_decref(frame);
}

/* One turn: the job's frames wait until "accepted" went out (the job may
 * end before at_trigger_deliver returns). */
struct turn {
    atomic_int refs; /* the message handler, the completion, the events */
    pthread_mutex_t mu;
    struct chat *c;
    int accepted;
    json_t *pending; /* frames that came before "accepted" */
    char job[AT_ID_MAX];
    unsigned long n;
};

static void turn_unref(struct turn *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    atomic_fetch_sub(&t->c->inflight, 1);
    chat_unref(t->c);
    json_decref(t->pending);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static void turn_frame(struct turn *t, json_t *frame) /* steals frame */
{
    pthread_mutex_lock(&t->mu);
    if (!t->accepted) {
        json_array_append_new(t->pending, frame);
        pthread_mutex_unlock(&t->mu);
        return;
    }
    chat_send(t->c->ws, frame);
    pthread_mutex_unlock(&t->mu);
}

static void turn_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct turn *t = arg;
    json_t *f;
    if (store_rc) {
        f = json_pack("{s:s,s:s,s:s,s:o}", "type", "error", "conversation_id", t->c->conversation,
                      "job_id", rec->id, "error",
                      at_http_problem(store_rc, "the job's result could not be stored", NULL));
    } else if (rec->state == AT_JOB_COMPLETED) {
        f = json_pack("{s:s,s:s,s:s,s:o?}", "type", "output", "conversation_id", t->c->conversation,
                      "job_id", rec->id, "output",
                      rec->output ? json_deep_copy(rec->output) : NULL);
    } else {
        json_t *p = rec->error ? json_deep_copy(rec->error)
                               : at_http_problem(AT_EINTERNAL, "the job failed", NULL);
        json_object_del(p, "code");
        json_object_set_new(p, "state", json_string(at_job_state_name(rec->state)));
        f = json_pack("{s:s,s:s,s:s,s:o}", "type", "error", "conversation_id", t->c->conversation,
                      "job_id", rec->id, "error", p);
    }
    turn_frame(t, f);
    turn_unref(t);
}

/* The job's events (engine loop): progress goes to the client, "end"
 * releases the turn's reference. */
static void turn_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    struct turn *t = arg;
    if (strcmp(event, "end") == 0) {
        turn_unref(t);
        return;
    }
    if (strcmp(event, "progress") != 0 || !json_is_object(data))
        return;
    json_t *f = json_pack("{s:s,s:s,s:s}", "type", "progress", "conversation_id",
                          t->c->conversation, "job_id", job_id);
    /* a copy: the frame may be written on the hub thread after the engine
     * has dropped data (jansson objects cross threads immutable or copied) */
    json_t *cp = json_deep_copy(data);
    json_object_update(f, cp);
    json_decref(cp);
    turn_frame(t, f);
}

static void chat_error(struct chat *c, int code, const char *msg)
{
    chat_send(c->ws, json_pack("{s:s,s:s,s:o}", "type", "error", "conversation_id", c->conversation,
                               "error", at_http_problem(code, msg, NULL)));
}

static void chat_open(struct at_ws *ws, void *arg)
{
    struct chat *c = arg;
    at_ws_ref(ws);
    c->ws = ws;
    chat_send(ws, json_pack("{s:s,s:s}", "type", "ready", "conversation_id", c->conversation));
}

static void chat_message(struct at_ws *ws, int binary, const char *data, size_t len, void *arg)
{
    (void)ws;
    struct chat *c = arg;
    if (binary) {
        chat_error(c, AT_EUNSUPPORTED, "send text messages (JSON objects or plain text)");
        return;
    }
    if (atomic_fetch_add(&c->inflight, 1) >= CHAT_MAX_INFLIGHT) {
        atomic_fetch_sub(&c->inflight, 1);
        chat_error(c, AT_EBUSY, "too many turns of this conversation are running (8)");
        return;
    }
    /* a JSON object is the turn's body; anything else is its message */
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    char *body;
    if (json_is_object(j)) {
        body = at_strndup(data, len);
    } else {
        json_t *o = json_pack("{s:s%}", "message", data, len);
        body = o ? json_dumps(o, JSON_COMPACT) : at_strdup("{}");
        json_decref(o);
    }
    json_decref(j);
    struct turn *t = at_calloc(1, sizeof(*t));
    atomic_init(&t->refs, 3);
    pthread_mutex_init(&t->mu, NULL);
    atomic_fetch_add(&c->refs, 1);
    t->c = c;
    t->pending = json_array();
    t->n = ++c->turns;
    struct at_trigger_delivery dv = {
        .path = c->path,
        .body = body,
        .len = strlen(body),
        .headers = c->headers,
        .identity = c->identity,
        .on_done = turn_done,
        .done_arg = t,
        .conversation = c->conversation,
        .on_event = turn_event,
        .event_arg = t,
        .websocket = 1,
    };
    struct at_trigger_result res;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_trigger_deliver(c->svc, &dv, &res, &d);
    free(body);
    pthread_mutex_lock(&t->mu);
    if (rc || !res.sync) {
        pthread_mutex_unlock(&t->mu);
        chat_error(c, rc ? rc : AT_EINTERNAL, rc ? d.msg : "the trigger did not start a job");
        atomic_fetch_sub(&t->refs, 2); /* neither the completion nor the events will run */
    } else {
        snprintf(t->job, sizeof(t->job), "%s", json_string_value(json_array_get(res.jobs, 0)));
        chat_send(c->ws, json_pack("{s:s,s:s,s:s,s:i}", "type", "accepted", "conversation_id",
                                   c->conversation, "job_id", t->job, "turn", (int)t->n));
        t->accepted = 1;
        size_t i;
        json_t *f;
        json_array_foreach(t->pending, i, f) chat_send(c->ws, json_incref(f));
        json_array_clear(t->pending);
        pthread_mutex_unlock(&t->mu);
    }
    json_decref(res.jobs);
    json_decref(res.answer);
    turn_unref(t);
}

static void chat_close(struct at_ws *ws, int code, void *arg)
{
    (void)ws;
    (void)code;
    chat_unref(arg);
}

static const struct at_ws_handler chat_handler = {chat_open, chat_message, chat_close};

static int conversation_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 100)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("._:-", id[i]))
            return 0;
    return 1;
}

static void h_hook_ws(struct at_http_req *r)
{
    const char *rest = at_http_param(r, "path");
    char path[300];
    snprintf(path, sizeof(path), "/hooks/%s", rest ? rest : "");
    struct at_diag d;
    at_diag_clear(&d);
    size_t max_body = 0;
    int rc = at_trigger_ws_lookup(svc(r), path, &max_body, &d);
    if (rc) {
        if (rc == AT_EMETHOD)
            at_http_add_header(r, "Allow", "POST");
        at_http_reply_problem(r, rc, d.msg, NULL, NULL);
        return;
    }
    json_t *identity;
    if (hook_auth(r, path, &identity))
        return;
    const char *cid = at_http_query(r, "conversation_id");
    if (!cid)
        cid = at_http_header(r, "Atlas-Conversation");
    if (cid && !conversation_ok(cid)) {
        at_http_reply_problem(r, AT_EINVAL, "conversation_id must be 1-100 of [A-Za-z0-9._:-]",
                              NULL, NULL);
        return;
    }
    struct chat *c = at_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    atomic_init(&c->inflight, 0);
    c->svc = svc(r);
    snprintf(c->path, sizeof(c->path), "%s", path);
    if (cid)
        snprintf(c->conversation, sizeof(c->conversation), "%s", cid);
    else
        at_id_new("conv", c->conversation);
    c->headers = at_http_headers_json(r);
    c->identity = identity;
    if (at_ws_accept(r, &chat_handler, c, max_body)) {
        json_decref(c->headers);
        json_decref(c->identity);
        free(c);
    }
}

/* GET /api/v1/triggers/NAME/conversations */
static void h_conversations(struct at_http_req *r)
{
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    int rc = at_trigger_conversations(svc(r), at_http_param(r, "name"), &out, &d);
    if (rc) {
        reply_diag_or(r, &d, rc);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:o}", "conversations", out));
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/triggers", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/triggers", h_register, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", AT_HTTP_API "/triggers/{name}", h_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/triggers/{name}/conversations", h_conversations, AT_HTTP_NEED_READ, 0, 0,
     NULL},
    {"DELETE", AT_HTTP_API "/triggers/{name}", h_delete, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0,
     NULL},
    {"POST", AT_HTTP_API "/triggers/{name}/pause", h_pause, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING,
     0, NULL},
    {"POST", AT_HTTP_API "/triggers/{name}/resume", h_resume, AT_HTTP_NEED_REGISTER,
     AT_HTTP_BLOCKING, 0, NULL},
    {"POST", AT_HTTP_API "/triggers/{name}/fire", h_fire, AT_HTTP_NEED_RUN, AT_HTTP_BLOCKING, 0,
     NULL},
    {"GET", AT_HTTP_API "/triggers/{name}/history", h_history, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/triggers/{name}/next", h_next, AT_HTTP_NEED_READ, 0, 0, NULL},
    /* deliveries authenticate by their trigger's signature, not by tokens */
    {"POST", "/hooks/{path*}", h_hook, 0, 0, HOOK_MAX_BODY, NULL},
    {"GET", "/hooks/{path*}", h_hook_ws, 0, 0, 0, NULL},
};

int at_http_triggers_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
