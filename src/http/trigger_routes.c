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

#include "base/alloc.h"
#include "base/err.h"
#include "base/sse.h"
#include "json/json.h"
#include "trigger/service.h"

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
        data = json_pack("{s:s,s:s,s:O?}", "conversation_id", c->conversation, "job_id", rec->id,
                         "output", rec->output);
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

static void hook_stream(struct at_http_req *r, const char *path, json_t *headers)
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

static void h_hook(struct at_http_req *r)
{
    const char *rest = at_http_param(r, "path");
    char path[300];
    snprintf(path, sizeof(path), "/hooks/%s", rest ? rest : "");
    json_t *headers = at_http_headers_json(r);
    if (wants_sse(r)) {
        hook_stream(r, path, headers);
        json_decref(headers);
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
        .on_done = hook_done,
        .done_arg = w,
        .conversation_out = w->conversation,
        .conversation_out_len = sizeof(w->conversation),
    };
    struct at_trigger_result res;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_trigger_deliver(svc(r), &dv, &res, &d);
    json_decref(headers);
    if (!rc && res.sync) {
        /* w->conversation was written before the job could start */
        json_decref(res.jobs);
        at_http_wait_unref(&w->hw);
        return;
    }
    atomic_fetch_sub(&w->hw.refs, 1); /* the completion will not run */
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req) {
        if (rc) {
            at_http_complete_problem(req, at_http_problem(rc, d.msg, NULL));
        } else {
            const char *job = json_string_value(json_array_get(res.jobs, 0));
            if (job) {
                char loc[160];
                snprintf(loc, sizeof(loc), AT_HTTP_API "/jobs/%s", job);
                at_http_add_header(req, "Location", loc);
                at_http_add_header(req, "Atlas-Job-Id", job);
            }
            json_t *o = json_pack("{s:s?,s:O,s:b}", "job_id", job, "jobs", res.jobs, "duplicate",
                                  res.duplicate);
            if (res.conversation[0])
                json_object_set_new(o, "conversation_id", json_string(res.conversation));
            at_http_complete_json(req, res.duplicate ? 200 : 202, o);
        }
    }
    at_http_wait_unlock(&w->hw, 1);
    at_http_wait_unref(&w->hw);
    json_decref(res.jobs);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/triggers", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/triggers", h_register, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", AT_HTTP_API "/triggers/{name}", h_get, AT_HTTP_NEED_READ, 0, 0, NULL},
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
};

int at_http_triggers_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
