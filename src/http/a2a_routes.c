/*
 * a2a_routes.c - Atlas at the edge of A2A (docs/a2a.md): agent cards and
 * the JSON-RPC binding, a task being a job.
 *
 *   GET  /.well-known/agent-card.json                 atlasd's card (every agent and chain a skill)
 *   GET  /.well-known/jwks.json                       the key the cards are signed with
 *   GET  /a2a/agents/NAME/.well-known/agent-card.json one agent's card (chains:
 * /a2a/chains/NAME/...) POST /a2a                                         JSON-RPC; the skill in
 * metadata "atlas.agent" POST /a2a/agents/NAME, /a2a/chains/NAME           JSON-RPC for that agent
 * or chain
 *
 * Protocol shapes are src/a2a/'s; this file maps them onto the engine and
 * the store.  Sends suspend the request until the job's end (or its
 * acknowledgement when the client asked to return immediately); streams
 * are SSE fed by the job's events, whose final "state" carries the output.
 */
#include "http/api.h"

#include "a2a/a2a.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/sse.h"
#include "chain/chain.h"
#include "http/a2a_push.h"
#include "http/auth.h"
#include "json/json.h"
#include "security/secret.h"
#include "trigger/trigger.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A2A_EXT_SCHEMAS "urn:atlas:a2a:ext:schemas:v1"
#define A2A_NAME_MAX 256

/* ---- answers ---- */

/* The answer in the binding's form: JSON-RPC (a response envelope, HTTP
 * 200) or HTTP+JSON (the result itself, or an error body with its HTTP
 * status).  result and data are stolen; result NULL: the error. */
static json_t *answer(int rest, const json_t *id, json_t *result, int code, const char *msg,
                      json_t *data, int *status)
{
    *status = 200;
    if (result)
        return rest ? result : at_a2a_result(id, result);
    if (rest) {
        json_decref(data);
        return at_a2a_rest_error(code, msg, status);
    }
    return at_a2a_error(id, code, msg, data);
}

static void reply_ok(struct at_http_req *r, const struct at_a2a_req *q, json_t *result)
{
    int status;
    json_t *b = answer(q->rest, q->id, result, 0, NULL, NULL, &status);
    at_http_reply_json(r, status, b);
}

static void reply_error(struct at_http_req *r, const struct at_a2a_req *q, int code,
                        const char *msg)
{
    int status;
    json_t *b = answer(q->rest, q->id, NULL, code, msg, NULL, &status);
    at_http_reply_json(r, status, b);
}

/* An Atlas error code as the JSON-RPC code a client can act on. */
static int rpc_code(int at_code)
{
    switch (at_code) {
    case AT_ENOENT:
    case AT_EINVAL:
    case AT_ESCHEMA:
        return AT_A2A_EPARAMS;
    default:
        return AT_A2A_EINTERNAL;
    }
}

/* ---- the task a job is ---- */

static const char *rec_context(const struct at_job_rec *rec)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(rec->meta, "event"), "a2a"), "contextId"));
}

static const char *error_detail(const json_t *error)
{
    const char *s = json_string_value(json_object_get(error, "detail"));
    return s ? s : json_string_value(json_object_get(error, "title"));
}

static void task_of_rec(const struct at_job_rec *rec, struct at_a2a_task *t)
{
    memset(t, 0, sizeof(*t));
    t->id = rec->id;
    t->context_id = rec_context(rec);
    t->job_state = at_job_state_name(rec->state);
    t->output = rec->state == AT_JOB_COMPLETED ? rec->output : NULL;
    t->detail = rec->state == AT_JOB_FAILED || rec->state == AT_JOB_CANCELLED
                    ? error_detail(rec->error)
                    : NULL;
    t->updated_ms = rec->finished_ms  ? rec->finished_ms
                    : rec->started_ms ? rec->started_ms
                                      : rec->created_ms;
    t->agent = rec->agent;
    /* a running job whose agent waits for its caller's answer */
    const json_t *q = json_object_get(rec->meta, "input_required");
    if (rec->state == AT_JOB_RUNNING && json_is_object(q)) {
        t->job_state = "input_required";
        t->detail = json_string_value(json_object_get(q, "message"));
        json_int_t since = json_integer_value(json_object_get(q, "since"));
        if (since > 0)
            t->updated_ms = since;
    }
}

/* ---- which agent or chain ---- */

struct target {
    char agent[A2A_NAME_MAX]; /* or */
    char chain[A2A_NAME_MAX];
};

/* The target of r: the path's, or (POST /a2a) metadata "atlas.agent" /
 * "atlas.chain" of params or of params.message.  0, or answered. */
static int target_of(struct at_http_req *r, const struct at_a2a_req *q, struct target *t)
{
    const struct at_http_api *api = at_http_api_of(r);
    memset(t, 0, sizeof(*t));
    const char *a = at_http_param(r, "agent"), *c = at_http_param(r, "chain");
    if (!a && !c) {
        const json_t *mds[] = {json_object_get(q->params, "metadata"),
                               json_object_get(json_object_get(q->params, "message"), "metadata")};
        for (size_t i = 0; i < 2 && !a && !c; i++) {
            a = json_string_value(json_object_get(mds[i], "atlas.agent"));
            c = json_string_value(json_object_get(mds[i], "atlas.chain"));
        }
    }
    if (!a && !c) {
        reply_error(r, q, AT_A2A_EPARAMS,
                    "name the skill: POST /a2a/agents/NAME, or metadata {\"atlas.agent\": NAME} "
                    "(or \"atlas.chain\") on the message");
        return -1;
    }
    if ((a && strlen(a) >= A2A_NAME_MAX) || (c && strlen(c) >= A2A_NAME_MAX)) {
        reply_error(r, q, AT_A2A_EPARAMS, "the agent or chain name is too long");
        return -1;
    }
    char msg[600];
    if (a) {
        struct at_reg_agent *ra;
        if (at_registry_resolve(api->registry, a, &ra)) {
            char why[400];
            at_registry_explain_missing(api->registry, a, why, sizeof(why));
            snprintf(msg, sizeof(msg), "unknown agent: %s", why);
            reply_error(r, q, AT_A2A_EPARAMS, msg);
            return -1;
        }
        at_reg_agent_unref(ra);
        snprintf(t->agent, sizeof(t->agent), "%s", a);
    } else {
        struct at_chain *ch;
        if (at_registry_chain_get(api->registry, c, &ch)) {
            snprintf(msg, sizeof(msg), "unknown chain: no chain \"%s\"", c);
            reply_error(r, q, AT_A2A_EPARAMS, msg);
            return -1;
        }
        at_chain_unref(ch);
        snprintf(t->chain, sizeof(t->chain), "%s", c);
    }
    return 0;
}

/* The task id of params ("id"; 0.3's tasks/get and tasks/cancel too). */
static const char *param_id(struct at_http_req *r, const struct at_a2a_req *q)
{
    const char *id = json_string_value(json_object_get(q->params, "id"));
    if (!id || !*id || strlen(id) >= AT_ID_MAX) {
        reply_error(r, q, AT_A2A_EPARAMS, "params.id must be a task id");
        return NULL;
    }
    return id;
}

/* Read the job of task id; answers TaskNotFound when there is none. */
static int read_task(struct at_http_req *r, const struct at_a2a_req *q, const char *id,
                     struct at_job_rec *rec)
{
    int rc = at_store_call(at_http_api_of(r)->store, job_get, id, rec);
    if (rc == 0 && r->agents[0] && !at_http_job_visible(r, rec)) {
        at_job_rec_release(rec); /* a token narrowed to agents sees only theirs */
        rc = AT_ENOENT;
    }
    if (rc == 0)
        return 0;
    char msg[300];
    if (rc == AT_ENOENT || rc == AT_EINVAL)
        snprintf(msg, sizeof(msg), "no task \"%s\"", id);
    else
        snprintf(msg, sizeof(msg), "cannot read task \"%s\" from the store: %s", id,
                 at_err_msg(rc));
    reply_error(
        r, q, rc == AT_ENOENT || rc == AT_EINVAL ? AT_A2A_ETASK_NOT_FOUND : AT_A2A_EINTERNAL, msg);
    return -1;
}

/* A token narrowed to agents (agent:NAME scopes) runs only those. */
static int scope_check(struct at_http_req *r, const struct at_submit *s, struct at_diag *d)
{
    if (r->agents[0] &&
        (s->chain ? !at_http_chain_ok(r, s->chain) : !at_http_agent_ok(r, s->agent)))
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "the token is narrowed to named agents and chains (agent:NAME, "
                           "chain:NAME scopes), not %s",
                           s->chain   ? s->chain
                           : s->agent ? s->agent
                                      : "?");
    return 0;
}

/* ---- SendMessage: the job, answered at its end ---- */

struct send_wait {
    struct at_http_wait hw; /* first */
    enum at_a2a_ver ver;
    int rest;
    int async;
    char job_id[AT_ID_MAX];
    char context_id[160];
    char agent[A2A_NAME_MAX];
    char id_json[160]; /* the request's id, serialised */
    char history[];    /* the user's message, serialised */
};

static json_t *wait_id(const struct send_wait *w)
{
    return json_loads(w->id_json, JSON_DECODE_ANY, NULL);
}

static json_t *wait_history(const struct send_wait *w)
{
    return json_loads(w->history, 0, NULL);
}

static void send_complete(struct send_wait *w, struct at_a2a_task *t, json_t *err)
{
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req) {
        json_t *id = wait_id(w);
        json_t *resp;
        int status;
        if (err || !t) {
            resp = answer(w->rest, id, NULL, AT_A2A_EINTERNAL,
                          err ? json_string_value(err) : "the task is gone", NULL, &status);
        } else {
            json_t *h = wait_history(w);
            t->history = h;
            resp = answer(w->rest, id, at_a2a_send_result(t, w->ver), 0, NULL, NULL, &status);
            json_decref(h);
        }
        json_decref(id);
        at_http_add_header(req, "Atlas-Job-Id", w->job_id);
        at_http_complete_json(req, status, resp);
    }
    at_http_wait_unlock(&w->hw, req != NULL);
}

static void on_send_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct send_wait *w = arg;
    if (!w->async) {
        if (store_rc) {
            json_t *e = json_string("the task's result could not be written to the store");
            send_complete(w, NULL, e);
            json_decref(e);
        } else {
            /* rec's JSON is shared with other threads: read it through a copy */
            json_t *output = rec->output ? json_deep_copy(rec->output) : NULL;
            json_t *error = rec->error ? json_deep_copy(rec->error) : NULL;
            struct at_a2a_task t;
            task_of_rec(rec, &t);
            t.context_id = w->context_id;
            t.output = rec->state == AT_JOB_COMPLETED ? output : NULL;
            t.detail = t.detail ? error_detail(error) : NULL;
            send_complete(w, &t, NULL);
            json_decref(output);
            json_decref(error);
        }
    }
    at_http_wait_unref(&w->hw);
}

/* 1 when an "input" event's data is a question (not its answer). */
static int input_asks(const json_t *data)
{
    return !json_is_true(json_object_get(data, "answered"));
}

/* The job's events (loop thread): a blocking send is answered when the job
 * stops for input (A2A 1.0 §9.4.1: terminal or interrupted). */
static void on_send_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct send_wait *w = arg;
    if (strcmp(event, "end") == 0) {
        at_http_wait_unref(&w->hw);
        return;
    }
    if (w->async || strcmp(event, "input") != 0 || !input_asks(data))
        return;
    json_t *q = json_deep_copy(data);
    struct at_a2a_task t = {.id = w->job_id,
                            .context_id = w->context_id,
                            .job_state = "input_required",
                            .detail = json_string_value(json_object_get(q, "message")),
                            .updated_ms = at_wall_ms(),
                            .agent = w->agent};
    send_complete(w, &t, NULL);
    json_decref(q);
}

static void on_send_accepted(const char *job_id, int store_rc, void *arg)
{
    struct send_wait *w = arg;
    (void)job_id;
    if (w->async || store_rc) {
        if (store_rc) {
            json_t *e = json_string("the task could not be written to the store");
            send_complete(w, NULL, e);
            json_decref(e);
        } else {
            struct at_a2a_task t = {.id = w->job_id,
                                    .context_id = w->context_id,
                                    .job_state = "queued",
                                    .agent = w->agent};
            send_complete(w, &t, NULL);
        }
    }
    at_http_wait_unref(&w->hw);
}

/* What a send submits: the input, the target, the event carrying the A2A
 * context (meta.event.a2a), the pre-made job id.  0, or answered. */
struct send_prep {
    struct target t;
    json_t *input;
    json_t *event;
    char job_id[AT_ID_MAX];
    char context_id[160];
    json_t *message;
};

static int send_prepare(struct at_http_req *r, const struct at_a2a_req *q, struct send_prep *p)
{
    memset(p, 0, sizeof(*p));
    if (target_of(r, q, &p->t))
        return -1;
    p->message = json_object_get(q->params, "message");
    struct at_a2a_err err;
    if (at_a2a_message_input(p->message, &p->input, &err)) {
        reply_error(r, q, err.code, err.msg);
        return -1;
    }
    at_id_new("job", p->job_id);
    /* a push notification config for the new task (A2A 1.0 §3.5.1): set
     * before the job exists, so its first update is delivered too */
    const json_t *conf = json_object_get(q->params, "configuration");
    const json_t *pc = json_object_get(conf, q->ver == AT_A2A_V10 ? "taskPushNotificationConfig"
                                                                  : "pushNotificationConfig");
    if (pc && !json_is_null(pc)) {
        struct at_a2a_push *push = at_http_api_of(r)->a2a_push;
        json_t *params = q->ver == AT_A2A_V10 ? json_deep_copy(pc)
                                              : json_pack("{s:O}", "pushNotificationConfig", pc);
        json_t *out = NULL;
        char why[300] = "push notifications are not supported yet by this atlasd";
        int code = push && json_is_object(params)
                       ? at_a2a_push_set(push, p->job_id, q->ver, params, &out, why, sizeof(why))
                       : AT_A2A_EPUSH_UNSUPPORTED;
        json_decref(params);
        json_decref(out);
        if (code) {
            reply_error(r, q, code, why);
            json_decref(p->input);
            return -1;
        }
    }
    const char *ctx = json_string_value(json_object_get(p->message, "contextId"));
    snprintf(p->context_id, sizeof(p->context_id), "%s",
             ctx && *ctx && strlen(ctx) < sizeof(p->context_id) ? ctx : p->job_id);
    p->event = at_trigger_event_plain("a2a", p->t.agent[0] ? p->t.agent : NULL,
                                      p->t.chain[0] ? p->t.chain : NULL, p->input, NULL);
    const char *mid = json_string_value(json_object_get(p->message, "messageId"));
    json_object_set_new(p->event, "a2a",
                        json_pack("{s:s,s:s,s:s}", "contextId", p->context_id, "messageId",
                                  mid ? mid : "", "version", q->ver == AT_A2A_V10 ? "1.0" : "0.3"));
    return 0;
}

static void send_prep_release(struct send_prep *p)
{
    json_decref(p->input);
    json_decref(p->event);
}

static int return_immediately(const struct at_a2a_req *q)
{
    json_t *cfg = json_object_get(q->params, "configuration");
    if (q->ver == AT_A2A_V10)
        return json_is_true(json_object_get(cfg, "returnImmediately"));
    return json_is_false(json_object_get(cfg, "blocking")); /* 0.3 */
}

static void h_continue(struct at_http_req *r, const struct at_a2a_req *q, const char *task_id,
                       int stream);

/* message.taskId: the message continues that task (answers its question). */
static const char *continued_task(const struct at_a2a_req *q)
{
    const char *tid =
        json_string_value(json_object_get(json_object_get(q->params, "message"), "taskId"));
    return tid && *tid ? tid : NULL;
}

static void h_send(struct at_http_req *r, const struct at_a2a_req *q)
{
    if (continued_task(q)) {
        h_continue(r, q, continued_task(q), 0);
        return;
    }
    struct send_prep p;
    if (send_prepare(r, q, &p))
        return;
    char *hist = at_json_dumps(p.message);
    char *idj = json_dumps(q->id, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!idj || strlen(idj) >= sizeof(((struct send_wait *)0)->id_json)) {
        reply_error(r, q, AT_A2A_EREQUEST, "the request id is longer than 150 characters");
        free(idj);
        free(hist);
        send_prep_release(&p);
        return;
    }
    struct send_wait *w = at_http_wait_new(r, sizeof(*w) + strlen(hist) + 1, 1);
    w->ver = q->ver;
    w->rest = q->rest;
    w->async = return_immediately(q);
    snprintf(w->job_id, sizeof(w->job_id), "%s", p.job_id);
    snprintf(w->context_id, sizeof(w->context_id), "%s", p.context_id);
    snprintf(w->agent, sizeof(w->agent), "%s", p.t.agent[0] ? p.t.agent : p.t.chain);
    snprintf(w->id_json, sizeof(w->id_json), "%s", idj);
    memcpy(w->history, hist, strlen(hist) + 1);
    free(idj);
    free(hist);
    at_http_wait_ref(&w->hw, 3); /* accept, done, events */
    struct at_submit s = {
        .agent = p.t.agent[0] ? p.t.agent : NULL,
        .chain = p.t.chain[0] ? p.t.chain : NULL,
        .input = p.input,
        .source = "a2a",
        .on_accept = on_send_accepted,
        .accept_arg = w,
        .on_done = on_send_done,
        .done_arg = w,
        .on_event = on_send_event,
        .event_arg = w,
        .event = p.event,
        .job_id = p.job_id,
        .owner = at_http_owner_token(r), /* its daily quota pays */
    };
    struct at_diag d;
    at_diag_clear(&d);
    int rc = scope_check(r, &s, &d);
    if (!rc)
        rc = at_engine_submit(at_http_api_of(r)->engine, &s, NULL, &d);
    send_prep_release(&p);
    if (rc) {
        atomic_fetch_sub(&w->hw.refs, 3);
        struct at_http_req *req = at_http_wait_lock(&w->hw);
        if (req) {
            json_t *id = wait_id(w);
            json_t *data = d.pointer[0] ? json_pack("{s:s}", "pointer", d.pointer) : NULL;
            int status;
            json_t *b = answer(w->rest, id, NULL, rpc_code(d.code ? d.code : rc),
                               d.msg[0] ? d.msg : at_err_msg(rc), data, &status);
            at_http_complete_json(req, status, b);
            json_decref(id);
        }
        at_http_wait_unlock(&w->hw, req != NULL);
    }
    at_http_wait_unref(&w->hw);
}

/* ---- streams: SendStreamingMessage, SubscribeToTask ---- */

struct a2a_sse {
    atomic_int refs; /* the job subscription, the stream's close callback */
    struct at_http_stream *stream;
    enum at_a2a_ver ver;
    int rest;
    int done; /* the final status was sent (loop thread) */
    char job_id[AT_ID_MAX];
    char context_id[160];
    char agent[A2A_NAME_MAX];
    char *id_json;
};

static void sse_unref(struct a2a_sse *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    at_http_stream_unref(c->stream);
    free(c->id_json);
    free(c);
}

/* One SSE event whose data is the JSON-RPC response carrying ev (stolen). */
static void sse_put(struct a2a_sse *c, json_t *ev)
{
    json_t *id = json_loads(c->id_json, JSON_DECODE_ANY, NULL);
    int status;
    json_t *resp = answer(c->rest, id, ev, 0, NULL, NULL, &status);
    json_decref(id);
    char *text = at_json_dumps(resp);
    json_decref(resp);
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_sse_write(&b, NULL, NULL, text, strlen(text));
    at_http_stream_write(c->stream, b.p, b.len);
    at_buf_release(&b);
    free(text);
}

static void sse_put_error(struct a2a_sse *c, int code, const char *msg)
{
    json_t *id = json_loads(c->id_json, JSON_DECODE_ANY, NULL);
    int status;
    json_t *resp = answer(c->rest, id, NULL, code, msg, NULL, &status);
    json_decref(id);
    char *text = at_json_dumps(resp);
    json_decref(resp);
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_sse_write(&b, NULL, NULL, text, strlen(text));
    at_http_stream_write(c->stream, b.p, b.len);
    at_buf_release(&b);
    free(text);
}

/* The job's events (loop thread): non-final states as status updates; the
 * final one as the output's artifact and the last status; "end" closes. */
static void sse_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct a2a_sse *c = arg;
    if (strcmp(event, "end") == 0) {
        if (!c->done) /* the job was not in flight: say what the store says */
            sse_put_error(c, AT_A2A_EINTERNAL, "the task ended; read it with GetTask");
        at_http_stream_close(c->stream);
        sse_unref(c);
        return;
    }
    if (c->done)
        return;
    if (strcmp(event, "input") == 0) {
        if (!input_asks(data))
            return;
        /* A2A 1.0 §3.1.2: the stream ends at an interrupted state; the
         * client answers with a message carrying the taskId */
        json_t *q = json_deep_copy(data);
        struct at_a2a_task t = {.id = c->job_id,
                                .context_id = c->context_id,
                                .job_state = "input_required",
                                .detail = json_string_value(json_object_get(q, "message")),
                                .updated_ms = at_wall_ms(),
                                .agent = c->agent};
        sse_put(c, at_a2a_event_status(&t, 1, c->ver));
        json_decref(q);
        c->done = 1;
        at_http_stream_close(c->stream);
        return;
    }
    if (strcmp(event, "state") != 0)
        return;
    const char *state = json_string_value(json_object_get(data, "state"));
    if (!state || !at_a2a_state(state, c->ver))
        return;
    int final = strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
                strcmp(state, "cancelled") == 0;
    /* data is shared with the engine's other subscribers: copies only */
    json_t *output = final ? json_deep_copy(json_object_get(data, "output")) : NULL;
    json_t *error = json_deep_copy(json_object_get(data, "error"));
    struct at_a2a_task t = {.id = c->job_id,
                            .context_id = c->context_id,
                            .job_state = state,
                            .output = strcmp(state, "completed") == 0 ? output : NULL,
                            .detail = final && strcmp(state, "completed") != 0 ? error_detail(error)
                                                                               : NULL,
                            .updated_ms = at_wall_ms(),
                            .agent = c->agent};
    if (t.output)
        sse_put(c, at_a2a_event_artifact(&t, c->ver));
    sse_put(c, at_a2a_event_status(&t, final, c->ver));
    json_decref(output);
    json_decref(error);
    if (final)
        c->done = 1;
}

static void sse_closed(void *arg)
{
    /* the client left; the job goes on (A2A: a dropped stream is no cancel) */
    sse_unref(arg);
}

static struct a2a_sse *sse_start(struct at_http_req *r, const struct at_a2a_req *q)
{
    struct a2a_sse *c = at_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 2);
    c->ver = q->ver;
    c->rest = q->rest;
    c->id_json = json_dumps(q->id, JSON_ENCODE_ANY | JSON_COMPACT);
    c->stream = at_http_stream_start(r, 200, "text/event-stream", 0, sse_closed, c);
    at_http_stream_set_sse(c->stream);
    return c;
}

static void h_stream(struct at_http_req *r, const struct at_a2a_req *q)
{
    if (continued_task(q)) {
        h_continue(r, q, continued_task(q), 1);
        return;
    }
    struct send_prep p;
    if (send_prepare(r, q, &p))
        return;
    struct a2a_sse *c = sse_start(r, q);
    snprintf(c->job_id, sizeof(c->job_id), "%s", p.job_id);
    snprintf(c->context_id, sizeof(c->context_id), "%s", p.context_id);
    snprintf(c->agent, sizeof(c->agent), "%s", p.t.agent[0] ? p.t.agent : p.t.chain);
    /* the task first (A2A 1.0 §3.1.2), before the loop can emit anything */
    json_t *hist = json_deep_copy(p.message);
    struct at_a2a_task t = {.id = c->job_id,
                            .context_id = c->context_id,
                            .job_state = "queued",
                            .history = hist,
                            .agent = c->agent};
    sse_put(c, at_a2a_event_task(&t, c->ver));
    json_decref(hist);
    struct at_submit s = {
        .agent = p.t.agent[0] ? p.t.agent : NULL,
        .chain = p.t.chain[0] ? p.t.chain : NULL,
        .input = p.input,
        .source = "a2a",
        .on_event = sse_event,
        .event_arg = c,
        .event = p.event,
        .job_id = p.job_id,
        .owner = at_http_owner_token(r), /* its daily quota pays */
    };
    struct at_diag d;
    at_diag_clear(&d);
    int rc = scope_check(r, &s, &d);
    if (!rc)
        rc = at_engine_submit(at_http_api_of(r)->engine, &s, NULL, &d);
    send_prep_release(&p);
    if (rc) {
        sse_put_error(c, rpc_code(d.code ? d.code : rc), d.msg[0] ? d.msg : at_err_msg(rc));
        at_http_stream_close(c->stream);
        sse_unref(c); /* the subscription's: no event will come */
    }
}

/* ---- continuing a task: the answer to its question (A2A 1.0 §3.4.3) ---- */

/* A blocking continuation, answered when the job asks again or ends (the
 * wait has no destructor: nothing here needs freeing). */
struct cont_wait {
    struct at_http_wait hw; /* first */
    enum at_a2a_ver ver;
    int rest;
    char job_id[AT_ID_MAX];
    char context_id[160];
    char agent[A2A_NAME_MAX];
    char state[16];
    char id_json[160];
};

static void cont_complete(struct cont_wait *w, const struct at_a2a_task *t)
{
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req) {
        json_t *id = json_loads(w->id_json, JSON_DECODE_ANY, NULL);
        int status;
        json_t *b = answer(w->rest, id, at_a2a_send_result(t, w->ver), 0, NULL, NULL, &status);
        at_http_add_header(req, "Atlas-Job-Id", w->job_id);
        at_http_complete_json(req, status, b);
        json_decref(id);
    }
    at_http_wait_unlock(&w->hw, req != NULL);
}

static void cont_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct cont_wait *w = arg;
    struct at_a2a_task t = {.id = w->job_id,
                            .context_id = w->context_id,
                            .updated_ms = at_wall_ms(),
                            .agent = w->agent[0] ? w->agent : NULL};
    if (strcmp(event, "end") == 0) {
        t.job_state = w->state; /* the job ended before a final state reached us */
        cont_complete(w, &t);
        at_http_wait_unref(&w->hw);
        return;
    }
    json_t *copy = json_deep_copy(data); /* shared with the other subscribers */
    if (strcmp(event, "input") == 0 && input_asks(copy)) {
        t.job_state = "input_required";
        t.detail = json_string_value(json_object_get(copy, "message"));
        cont_complete(w, &t);
    } else if (strcmp(event, "state") == 0) {
        const char *st = json_string_value(json_object_get(copy, "state"));
        if (st && at_a2a_state(st, w->ver)) {
            snprintf(w->state, sizeof(w->state), "%s", st);
            if (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 ||
                strcmp(st, "cancelled") == 0) {
                t.job_state = st;
                if (strcmp(st, "completed") == 0)
                    t.output = json_object_get(copy, "output");
                else
                    t.detail = error_detail(json_object_get(copy, "error"));
                cont_complete(w, &t);
            }
        }
    }
    json_decref(copy);
}

static void h_continue(struct at_http_req *r, const struct at_a2a_req *q, const char *task_id,
                       int stream)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (strlen(task_id) >= AT_ID_MAX) {
        reply_error(r, q, AT_A2A_EPARAMS, "message.taskId is not a task id");
        return;
    }
    struct at_job_rec rec;
    if (read_task(r, q, task_id, &rec))
        return;
    struct at_a2a_task t;
    task_of_rec(&rec, &t);
    char msg[300];
    if (strcmp(t.job_state, "input_required") != 0) {
        snprintf(msg, sizeof(msg),
                 "task %s is %s: a message continues only a task that waits for input "
                 "(input-required); send a new message without taskId",
                 task_id, at_a2a_state(t.job_state, q->ver));
        reply_error(r, q, AT_A2A_EUNSUPPORTED, msg);
        at_job_rec_release(&rec);
        return;
    }
    json_t *input = NULL;
    struct at_a2a_err err;
    if (at_a2a_message_input(json_object_get(q->params, "message"), &input, &err)) {
        reply_error(r, q, err.code, err.msg);
        at_job_rec_release(&rec);
        return;
    }
    json_t *result = json_pack("{s:s,s:o}", "action", "accept", "content", input);
    const char *ctx = rec_context(&rec);
    char context_id[160], agent[A2A_NAME_MAX];
    snprintf(context_id, sizeof(context_id), "%s", ctx ? ctx : rec.id);
    snprintf(agent, sizeof(agent), "%s", rec.agent ? rec.agent : "");
    at_job_rec_release(&rec);
    struct at_diag d;
    at_diag_clear(&d);
    if (stream) {
        struct a2a_sse *c = sse_start(r, q);
        snprintf(c->job_id, sizeof(c->job_id), "%s", task_id);
        snprintf(c->context_id, sizeof(c->context_id), "%s", context_id);
        snprintf(c->agent, sizeof(c->agent), "%s", agent);
        struct at_a2a_task tw = {
            .id = c->job_id, .context_id = c->context_id, .job_state = "running", .agent = agent};
        sse_put(c, at_a2a_event_task(&tw, c->ver));
        at_engine_watch(api->engine, c->job_id, sse_event, c);
        if (at_engine_input_answer(api->engine, task_id, result, &d)) {
            sse_put_error(c, AT_A2A_EUNSUPPORTED, d.msg);
            c->done = 1;
            at_http_stream_close(c->stream);
        }
        json_decref(result);
        return;
    }
    char *idj = json_dumps(q->id, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!idj || strlen(idj) >= sizeof(((struct cont_wait *)0)->id_json)) {
        free(idj);
        json_decref(result);
        reply_error(r, q, AT_A2A_EREQUEST, "the request id is longer than 150 characters");
        return;
    }
    struct cont_wait *w = at_http_wait_new(r, sizeof(*w), 1); /* the watch's */
    w->ver = q->ver;
    w->rest = q->rest;
    snprintf(w->job_id, sizeof(w->job_id), "%s", task_id);
    snprintf(w->context_id, sizeof(w->context_id), "%s", context_id);
    snprintf(w->agent, sizeof(w->agent), "%s", agent);
    snprintf(w->state, sizeof(w->state), "%s", "running");
    snprintf(w->id_json, sizeof(w->id_json), "%s", idj);
    free(idj);
    at_engine_watch(api->engine, w->job_id, cont_event, w);
    if (at_engine_input_answer(api->engine, task_id, result, &d)) {
        struct at_http_req *req = at_http_wait_lock(&w->hw);
        if (req) {
            json_t *id = json_loads(w->id_json, JSON_DECODE_ANY, NULL);
            int status;
            json_t *b = answer(w->rest, id, NULL, AT_A2A_EUNSUPPORTED, d.msg, NULL, &status);
            at_http_complete_json(req, status, b);
            json_decref(id);
        }
        at_http_wait_unlock(&w->hw, req != NULL);
    }
    json_decref(result);
}

static void h_subscribe(struct at_http_req *r, const struct at_a2a_req *q)
{
    const char *id = param_id(r, q);
    struct at_job_rec rec;
    if (!id || read_task(r, q, id, &rec))
        return;
    if (at_job_state_final(rec.state)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "task %s is already %s: read it with GetTask", id,
                 at_a2a_state(at_job_state_name(rec.state), q->ver));
        reply_error(r, q, AT_A2A_EUNSUPPORTED, msg);
        at_job_rec_release(&rec);
        return;
    }
    struct a2a_sse *c = sse_start(r, q);
    snprintf(c->job_id, sizeof(c->job_id), "%s", rec.id);
    const char *ctx = rec_context(&rec);
    snprintf(c->context_id, sizeof(c->context_id), "%s", ctx ? ctx : rec.id);
    snprintf(c->agent, sizeof(c->agent), "%s", rec.agent ? rec.agent : "");
    struct at_a2a_task t;
    task_of_rec(&rec, &t);
    sse_put(c, at_a2a_event_task(&t, c->ver));
    int interrupted = strcmp(t.job_state, "input_required") == 0;
    at_job_rec_release(&rec);
    if (interrupted) {
        /* A2A 1.0 §3.1.2: a stream ends at an interrupted state; the task
         * already is in one (answer it with a message carrying its taskId) */
        c->done = 1;
        at_http_stream_close(c->stream);
        sse_unref(c); /* the subscription's: there is none */
        return;
    }
    at_engine_watch(at_http_api_of(r)->engine, c->job_id, sse_event, c);
}

/* ---- GetTask, ListTasks, CancelTask ---- */

static void h_get(struct at_http_req *r, const struct at_a2a_req *q)
{
    const char *id = param_id(r, q);
    struct at_job_rec rec;
    if (!id || read_task(r, q, id, &rec))
        return;
    struct at_a2a_task t;
    task_of_rec(&rec, &t);
    reply_ok(r, q, at_a2a_task_json(&t, q->ver));
    at_job_rec_release(&rec);
}

static void h_list(struct at_http_req *r, const struct at_a2a_req *q)
{
    const struct at_http_api *api = at_http_api_of(r);
    struct at_job_filter f = {.state = -1};
    f.agent = at_http_param(r, "agent");
    const char *status = json_string_value(json_object_get(q->params, "status"));
    if (status && *status && strcmp(status, "TASK_STATE_UNSPECIFIED") != 0) {
        const char *js = at_a2a_job_state(status);
        if (!js) {
            reply_error(r, q, AT_A2A_EPARAMS,
                        "params.status names no state an Atlas task can be in (submitted, "
                        "working, input-required, completed, failed, canceled)");
            return;
        }
        f.state = at_job_state_parse(strcmp(js, "input_required") == 0 ? "running" : js);
    }
    int want_input = status && at_a2a_job_state(status) &&
                     strcmp(at_a2a_job_state(status), "input_required") == 0;
    json_t *ps = json_object_get(q->params, "pageSize");
    long long page = json_is_integer(ps) ? json_integer_value(ps) : 50;
    if (page < 1 || page > 100) {
        reply_error(r, q, AT_A2A_EPARAMS, "params.pageSize must be between 1 and 100");
        return;
    }
    f.limit = (int)page;
    const char *tok = json_string_value(json_object_get(q->params, "pageToken"));
    if (tok && *tok) {
        char *end;
        long long before = strtoll(tok, &end, 10);
        if (*end || before <= 0) {
            reply_error(r, q, AT_A2A_EPARAMS, "params.pageToken is not one this server gave");
            return;
        }
        f.before_seq = before;
    }
    const char *ctx = json_string_value(json_object_get(q->params, "contextId"));
    struct at_job_rec *recs;
    size_t n;
    int rc = at_store_call(api->store, job_list, &f, &recs, &n);
    if (rc) {
        reply_error(r, q, AT_A2A_EINTERNAL, "cannot read tasks from the store");
        return;
    }
    json_t *tasks = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *c = rec_context(&recs[i]);
        if (ctx && *ctx && strcmp(ctx, c ? c : recs[i].id) != 0)
            continue;
        /* a token narrowed to agents or chains sees their tasks only (the
         * page may then hold fewer than pageSize: nextPageToken goes on) */
        if (r->agents[0] && !at_http_job_visible(r, &recs[i]))
            continue;
        struct at_a2a_task t;
        task_of_rec(&recs[i], &t);
        if (f.state == AT_JOB_RUNNING && want_input != (strcmp(t.job_state, "input_required") == 0))
            continue;
        json_array_append_new(tasks, at_a2a_task_json(&t, q->ver));
    }
    json_t *res = json_pack("{s:o,s:I,s:I}", "tasks", tasks, "pageSize", (json_int_t)page,
                            "totalSize", (json_int_t)json_array_size(tasks));
    char next[32] = "";
    if (n == (size_t)f.limit)
        snprintf(next, sizeof(next), "%lld", (long long)recs[n - 1].seq);
    json_object_set_new(res, "nextPageToken", json_string(next));
    at_job_recs_free(recs, n);
    reply_ok(r, q, res);
}

/* CancelTask: answered once the job has ended, with the state it ended in. */
struct cancel_wait {
    struct at_http_wait hw; /* first */
    enum at_a2a_ver ver;
    int rest;
    char job_id[AT_ID_MAX];
    char context_id[160];
    char agent[A2A_NAME_MAX];
    char state[16];
    char id_json[160];
};

static void cancel_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct cancel_wait *w = arg;
    if (strcmp(event, "state") == 0) {
        const char *s = json_string_value(json_object_get(data, "state"));
        if (s)
            snprintf(w->state, sizeof(w->state), "%s", s);
        return;
    }
    if (strcmp(event, "end") != 0)
        return;
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req) {
        json_t *id = json_loads(w->id_json, JSON_DECODE_ANY, NULL);
        struct at_a2a_task t = {
            .id = w->job_id,
            .context_id = w->context_id,
            .job_state = w->state,
            .detail = strcmp(w->state, "cancelled") == 0 ? "cancelled by request" : NULL,
            .updated_ms = at_wall_ms(),
            .agent = w->agent[0] ? w->agent : NULL};
        int status;
        json_t *b = answer(w->rest, id, at_a2a_task_json(&t, w->ver), 0, NULL, NULL, &status);
        at_http_complete_json(req, status, b);
        json_decref(id);
    }
    at_http_wait_unlock(&w->hw, req != NULL);
    at_http_wait_unref(&w->hw);
}

static void h_cancel(struct at_http_req *r, const struct at_a2a_req *q)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = param_id(r, q);
    struct at_job_rec rec;
    if (!id || read_task(r, q, id, &rec))
        return;
    if (at_job_state_final(rec.state)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "task %s is already %s", id,
                 at_a2a_state(at_job_state_name(rec.state), q->ver));
        reply_error(r, q, AT_A2A_ENOT_CANCELABLE, msg);
        at_job_rec_release(&rec);
        return;
    }
    char *idj = json_dumps(q->id, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!idj || strlen(idj) >= sizeof(((struct cancel_wait *)0)->id_json)) {
        free(idj);
        at_job_rec_release(&rec);
        reply_error(r, q, AT_A2A_EREQUEST, "the request id is longer than 150 characters");
        return;
    }
    struct cancel_wait *w = at_http_wait_new(r, sizeof(*w), 1); /* the watch's */
    w->ver = q->ver;
    w->rest = q->rest;
    snprintf(w->job_id, sizeof(w->job_id), "%s", rec.id);
    const char *ctx = rec_context(&rec);
    snprintf(w->context_id, sizeof(w->context_id), "%s", ctx ? ctx : rec.id);
    snprintf(w->agent, sizeof(w->agent), "%s", rec.agent ? rec.agent : "");
    snprintf(w->state, sizeof(w->state), "%s", "cancelled");
    snprintf(w->id_json, sizeof(w->id_json), "%s", idj);
    free(idj);
    at_job_rec_release(&rec);
    at_engine_watch(api->engine, w->job_id, cancel_event, w);
    at_engine_cancel(api->engine, w->job_id, "cancelled by an A2A client (CancelTask)");
}

/* ---- push notification configs (A2A 1.0 §9.4.6-9.4.9; a2a_push.h) ---- */

/* The task id of a push method: 1.0 params.taskId; 0.3 params.taskId
 * (set) or params.id (get, list, delete). */
static const char *push_task_id(const struct at_a2a_req *q)
{
    const char *k = q->ver == AT_A2A_V10 || q->op == AT_A2A_PUSH_SET ? "taskId" : "id";
    return json_string_value(json_object_get(q->params, k));
}

/* The config id: 1.0 params.id; 0.3 params.pushNotificationConfigId. */
static const char *push_config_id(const struct at_a2a_req *q)
{
    return json_string_value(
        json_object_get(q->params, q->ver == AT_A2A_V10 ? "id" : "pushNotificationConfigId"));
}

static void h_push(struct at_http_req *r, const struct at_a2a_req *q)
{
    struct at_a2a_push *p = at_http_api_of(r)->a2a_push;
    if (!p) {
        reply_error(r, q, AT_A2A_EPUSH_UNSUPPORTED,
                    "push notifications are not supported yet by this atlasd");
        return;
    }
    const char *tid = push_task_id(q);
    if (!tid || !*tid || strlen(tid) >= AT_ID_MAX) {
        reply_error(r, q, AT_A2A_EPARAMS,
                    q->ver == AT_A2A_V10 || q->op == AT_A2A_PUSH_SET
                        ? "params.taskId must be a task id"
                        : "params.id must be a task id");
        return;
    }
    struct at_job_rec rec;
    if (read_task(r, q, tid, &rec))
        return;
    at_job_rec_release(&rec);
    const char *cid = push_config_id(q);
    char msg[400];
    switch (q->op) {
    case AT_A2A_PUSH_SET: {
        json_t *out = NULL;
        char why[300] = "";
        int code = at_a2a_push_set(p, tid, q->ver, q->params, &out, why, sizeof(why));
        if (code)
            reply_error(r, q, code, why);
        else
            reply_ok(r, q, out);
        break;
    }
    case AT_A2A_PUSH_GET: {
        if (q->ver == AT_A2A_V10 && (!cid || !*cid)) {
            reply_error(r, q, AT_A2A_EPARAMS, "params.id must name the push notification config");
            break;
        }
        json_t *c = at_a2a_push_get(p, tid, cid, q->ver);
        if (!c) {
            snprintf(msg, sizeof(msg), "task %s has no push notification config%s%.140s", tid,
                     cid ? " " : "", cid ? cid : "");
            reply_error(r, q, AT_A2A_ETASK_NOT_FOUND, msg);
        } else {
            reply_ok(r, q, c);
        }
        break;
    }
    case AT_A2A_PUSH_LIST: {
        json_t *l = at_a2a_push_list(p, tid, q->ver);
        if (q->ver == AT_A2A_V10)
            l = json_pack("{s:o,s:s}", "configs", l, "nextPageToken", "");
        reply_ok(r, q, l);
        break;
    }
    default: { /* AT_A2A_PUSH_DEL */
        if (!cid || !*cid) {
            reply_error(r, q, AT_A2A_EPARAMS,
                        q->ver == AT_A2A_V10
                            ? "params.id must name the push notification config"
                            : "params.pushNotificationConfigId must name the config");
            break;
        }
        int rc = at_a2a_push_delete(p, tid, cid);
        if (rc == AT_ENOENT) {
            snprintf(msg, sizeof(msg), "task %s has no push notification config %.140s", tid, cid);
            reply_error(r, q, AT_A2A_ETASK_NOT_FOUND, msg);
        } else if (rc) {
            reply_error(r, q, AT_A2A_EINTERNAL, at_err_msg(rc));
        } else {
            reply_ok(r, q, json_null());
        }
        break;
    }
    }
}

/* ---- the endpoint ---- */

static void dispatch(struct at_http_req *r, const struct at_a2a_req *q)
{
    at_http_add_header(r, "A2A-Version", q->ver == AT_A2A_V10 ? "1.0" : "0.3");
    switch (q->op) {
    case AT_A2A_SEND:
        h_send(r, q);
        break;
    case AT_A2A_STREAM:
        h_stream(r, q);
        break;
    case AT_A2A_GET:
        h_get(r, q);
        break;
    case AT_A2A_LIST:
        h_list(r, q);
        break;
    case AT_A2A_CANCEL:
        h_cancel(r, q);
        break;
    case AT_A2A_SUBSCRIBE:
        h_subscribe(r, q);
        break;
    case AT_A2A_PUSH_SET:
    case AT_A2A_PUSH_GET:
    case AT_A2A_PUSH_LIST:
    case AT_A2A_PUSH_DEL:
        h_push(r, q);
        break;
    case AT_A2A_EXT_CARD:
    default:
        reply_error(r, q, AT_A2A_EEXT_CARD,
                    "the extended agent card is not supported yet: the public card "
                    "(/.well-known/agent-card.json) is the whole card");
        break;
    }
}

/* The JSON-RPC binding (A2A 1.0 §9). */
static void h_rpc(struct at_http_req *r)
{
    struct at_a2a_req q;
    struct at_a2a_err err;
    if (at_a2a_req_parse(r->body.p, r->body.len, at_http_header(r, "A2A-Version"), &q, &err)) {
        reply_error(r, &q, err.code, err.msg);
        at_a2a_req_release(&q);
        return;
    }
    dispatch(r, &q);
    at_a2a_req_release(&q);
}

/* ---- the HTTP+JSON binding (A2A 1.0 §11): the same operations ---- */

/* A request of op with params (stolen); 1.0 only. */
static void rest_go(struct at_http_req *r, enum at_a2a_op op, json_t *params)
{
    struct at_a2a_req q = {
        .id = json_null(), .params = params, .op = op, .ver = AT_A2A_V10, .rest = 1};
    const char *v = at_http_header(r, "A2A-Version");
    if (v && *v && strncmp(v, "1", 1) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "A2A-Version %.40s is not supported on the HTTP+JSON binding: it speaks 1.0 "
                 "(0.3 clients: the JSON-RPC binding)",
                 v);
        reply_error(r, &q, AT_A2A_EVERSION, msg);
    } else {
        dispatch(r, &q);
    }
    at_a2a_req_release(&q);
}

static void rest_body(struct at_http_req *r, enum at_a2a_op op)
{
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (r->body.len > AT_A2A_MAX_BODY ||
        at_json_parse(r->body.p ? r->body.p : "", r->body.len, 64, &v, &d) || !json_is_object(v)) {
        json_decref(v);
        struct at_a2a_req q = {.rest = 1};
        reply_error(r, &q, AT_A2A_EPARSE, "the body must be a JSON object (a SendMessageRequest)");
        return;
    }
    rest_go(r, op, v);
}

static void h_rest_send(struct at_http_req *r)
{
    rest_body(r, AT_A2A_SEND);
}

static void h_rest_stream(struct at_http_req *r)
{
    rest_body(r, AT_A2A_STREAM);
}

static void h_rest_get(struct at_http_req *r)
{
    rest_go(r, AT_A2A_GET, json_pack("{s:s}", "id", at_http_param(r, "task")));
}

/* POST tasks/ID:cancel, tasks/ID:subscribe (AIP-136 custom methods) */
static void h_rest_task_post(struct at_http_req *r)
{
    const char *t = at_http_param(r, "task");
    const char *colon = strrchr(t, ':');
    enum at_a2a_op op = AT_A2A_NOPS;
    if (colon && strcmp(colon, ":cancel") == 0)
        op = AT_A2A_CANCEL;
    else if (colon && strcmp(colon, ":subscribe") == 0)
        op = AT_A2A_SUBSCRIBE;
    if (op == AT_A2A_NOPS) {
        struct at_a2a_req q = {.rest = 1};
        reply_error(r, &q, AT_A2A_EMETHOD, "no such method: POST tasks/ID:cancel or :subscribe");
        return;
    }
    rest_go(r, op, json_pack("{s:s%}", "id", t, (size_t)(colon - t)));
}

static void h_rest_list(struct at_http_req *r)
{
    json_t *p = json_object();
    static const char *const keys[] = {"contextId", "status", "pageToken"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = at_http_query_str(r, keys[i]);
        if (v)
            json_object_set_new(p, keys[i], json_string(v));
    }
    const char *ps = at_http_query_str(r, "pageSize");
    if (ps) {
        char *end;
        long long n = strtoll(ps, &end, 10);
        json_object_set_new(p, "pageSize", *end ? json_string(ps) : json_integer(n));
    }
    rest_go(r, AT_A2A_LIST, p);
}

/* P/tasks/ID/pushNotificationConfigs[/CID] (A2A 1.0 §11.3): POST creates
 * (the body is the config), GET lists or reads one, DELETE deletes one. */
static void h_rest_push(struct at_http_req *r)
{
    const char *t = at_http_param(r, "task"), *more = at_http_param(r, "more");
    static const char coll[] = "pushNotificationConfigs";
    size_t cl = sizeof(coll) - 1;
    const char *cid = NULL;
    int ok = more && strncmp(more, coll, cl) == 0 && (more[cl] == '\0' || more[cl] == '/');
    if (ok && more[cl] == '/') {
        cid = more + cl + 1;
        ok = *cid && !strchr(cid, '/');
    }
    enum at_a2a_op op = AT_A2A_NOPS;
    if (ok && strcmp(r->method, "POST") == 0 && !cid)
        op = AT_A2A_PUSH_SET;
    else if (ok && strcmp(r->method, "GET") == 0)
        op = cid ? AT_A2A_PUSH_GET : AT_A2A_PUSH_LIST;
    else if (ok && strcmp(r->method, "DELETE") == 0 && cid)
        op = AT_A2A_PUSH_DEL;
    if (op == AT_A2A_NOPS) {
        struct at_a2a_req q = {.rest = 1};
        reply_error(r, &q, AT_A2A_EMETHOD,
                    "no such method: POST|GET tasks/ID/pushNotificationConfigs, GET|DELETE "
                    "tasks/ID/pushNotificationConfigs/CID");
        return;
    }
    json_t *params = NULL;
    if (op == AT_A2A_PUSH_SET) {
        struct at_diag d;
        at_diag_clear(&d);
        if (r->body.len > AT_A2A_MAX_BODY ||
            at_json_parse(r->body.p ? r->body.p : "", r->body.len, 16, &params, &d) ||
            !json_is_object(params)) {
            json_decref(params);
            struct at_a2a_req q = {.rest = 1};
            reply_error(r, &q, AT_A2A_EPARSE,
                        "the body must be a JSON object (a TaskPushNotificationConfig)");
            return;
        }
    } else {
        params = json_object();
    }
    json_object_set_new(params, "taskId", json_string(t));
    if (cid)
        json_object_set_new(params, "id", json_string(cid));
    rest_go(r, op, params);
}

static void h_rest_ext(struct at_http_req *r)
{
    rest_go(r, AT_A2A_EXT_CARD, json_object());
}

/* ---- cards ---- */

static void base_url(struct at_http_req *r, char *out, size_t n)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *host = at_http_header(r, "Host");
    if (!host || !*host || strlen(host) > 200 || strpbrk(host, "/\\@ \"<>"))
        host = "127.0.0.1";
    snprintf(out, n, "%s://%s", api->security && api->security->tls ? "https" : "http", host);
}

static json_t *security_json(void)
{
    return json_pack(
        "{s:{s:{s:s,s:s,s:s}}}", "atlasBearer", "httpAuthSecurityScheme", "scheme", "Bearer",
        "bearerFormat", "atl_ user token", "description",
        "An Atlas user token (atlas token create) as Authorization: Bearer; the same roles "
        "as /api/v1 (sending needs the run action)");
}

static json_t *interfaces(const char *url)
{
    return json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]", "url", url, "protocolBinding",
                     "JSONRPC", "protocolVersion", "1.0", "url", url, "protocolBinding",
                     "HTTP+JSON", "protocolVersion", "1.0", "url", url, "protocolBinding",
                     "JSONRPC", "protocolVersion", "0.3");
}

static json_t *skill_of_agent(const struct at_reg_agent *a, json_t *schemas)
{
    json_t *j = at_reg_agent_to_json(a, 1);
    const char *name = json_string_value(json_object_get(j, "name"));
    json_t *tags = json_array();
    json_array_append_new(tags, json_string("agent"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(j, "capabilities"), i, c)
    {
        if (json_is_string(c))
            json_array_append(tags, c);
    }
    json_t *desc = json_object_get(j, "description");
    json_t *sk = json_pack(
        "{s:s,s:s,s:s,s:o,s:[s,s],s:[s]}", "id", name, "name", name, "description",
        json_is_string(desc) && json_string_length(desc) ? json_string_value(desc) : name, "tags",
        tags, "inputModes", "application/json", "text/plain", "outputModes", "application/json");
    json_object_set_new(schemas, name,
                        json_pack("{s:O,s:O,s:s}", "input", json_object_get(j, "input_schema"),
                                  "output", json_object_get(j, "output_schema"), "version",
                                  json_string_value(json_object_get(j, "version"))));
    json_decref(j);
    return sk;
}

static json_t *card_base(int push, const char *name, const char *desc, const char *url,
                         const char *base, json_t *skills, json_t *schemas)
{
    json_t *card = json_pack(
        "{s:s,s:s,s:o,s:{s:s,s:s},s:s,s:{s:b,s:b,s:[{s:s,s:s,s:o}]},s:o,s:[{s:{s:{s:[]}}}],"
        "s:[s,s],s:[s],s:o}",
        "name", name, "description", desc, "supportedInterfaces", interfaces(url), "provider",
        "organization", "Atlas", "url", base, "version", ATLAS_VERSION, "capabilities", "streaming",
        1, "pushNotifications", push, "extensions", "uri", A2A_EXT_SCHEMAS, "description",
        "Atlas: each skill's JSON Schemas (input, output); send the input as a data part", "params",
        json_pack("{s:o}", "skills", schemas), "securitySchemes", security_json(),
        "securityRequirements", "schemes", "atlasBearer", "list", "defaultInputModes",
        "application/json", "text/plain", "defaultOutputModes", "application/json", "skills",
        skills);
    return card;
}

/* Sign with the daemon's key (security/secret.h at_seckey_signing). */
static int card_sign(struct at_http_req *r, json_t *card, const char *base)
{
    unsigned char pk[32], sk[64];
    struct at_diag d;
    at_diag_clear(&d);
    if (at_seckey_signing(at_http_api_of(r)->data_dir, pk, sk, &d))
        return -1;
    char kid[40], jku[300];
    at_a2a_kid(pk, kid, sizeof(kid));
    snprintf(jku, sizeof(jku), "%s/.well-known/jwks.json", base);
    int rc = at_a2a_card_sign(card, sk, kid, jku);
    sodium_memzero(sk, sizeof(sk));
    return rc;
}

static void reply_card(struct at_http_req *r, json_t *card, const char *base)
{
    if (card_sign(r, card, base)) {
        json_decref(card);
        at_http_reply_problem(r, AT_EIO, "the card could not be signed with the daemon's key", NULL,
                              NULL);
        return;
    }
    at_http_reply_json(r, 200, card);
}

static void h_card(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    char base[300], url[400];
    base_url(r, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/a2a", base);
    json_t *skills = json_array(), *schemas = json_object();
    struct at_reg_agent **as;
    size_t n = at_registry_latest(api->registry, &as);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(skills, skill_of_agent(as[i], schemas));
        at_reg_agent_unref(as[i]);
    }
    free(as);
    json_t *chains = at_registry_chains_json(api->registry, NULL, 0);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(chains, "chains"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *desc = json_string_value(json_object_get(c, "description"));
        if (!name)
            continue;
        json_array_append_new(skills,
                              json_pack("{s:s,s:s,s:s,s:[s],s:[s,s],s:[s]}", "id", name, "name",
                                        name, "description", desc && *desc ? desc : name, "tags",
                                        "chain", "inputModes", "application/json", "text/plain",
                                        "outputModes", "application/json"));
    }
    json_decref(chains);
    json_t *card =
        card_base(api->a2a_push != NULL, "atlasd",
                  "Atlas agent runtime: every registered agent and chain is a skill. POST "
                  "JSON-RPC to /a2a with metadata {\"atlas.agent\": SKILL} (or \"atlas.chain\"), "
                  "or to /a2a/agents/SKILL whose card is /a2a/agents/SKILL/.well-known/"
                  "agent-card.json",
                  url, base, skills, schemas);
    reply_card(r, card, base);
}

static void h_agent_card(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *name = at_http_param(r, "agent");
    struct at_reg_agent *a;
    if (at_registry_resolve(api->registry, name, &a)) {
        char why[400];
        at_registry_explain_missing(api->registry, name, why, sizeof(why));
        at_http_reply_problem(r, AT_ENOENT, why, NULL, NULL);
        return;
    }
    char base[300], url[600];
    base_url(r, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/a2a/agents/%s", base, a->contract->name);
    json_t *schemas = json_object();
    json_t *skill = skill_of_agent(a, schemas);
    const char *desc = a->contract->description && *a->contract->description
                           ? a->contract->description
                           : a->contract->name;
    json_t *card = card_base(api->a2a_push != NULL, a->contract->name, desc, url, base,
                             json_pack("[o]", skill), schemas);
    json_object_set_new(card, "version", json_string(a->contract->version));
    at_reg_agent_unref(a);
    reply_card(r, card, base);
}

static void h_chain_card(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *name = at_http_param(r, "chain");
    struct at_chain *ch;
    if (at_registry_chain_get(api->registry, name, &ch)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "no chain \"%s\"", name);
        at_http_reply_problem(r, AT_ENOENT, msg, NULL, NULL);
        return;
    }
    char base[300], url[600];
    base_url(r, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/a2a/chains/%s", base, ch->name);
    const char *desc = ch->description && *ch->description ? ch->description : ch->name;
    json_t *skill = json_pack("{s:s,s:s,s:s,s:[s],s:[s,s],s:[s]}", "id", ch->name, "name", ch->name,
                              "description", desc, "tags", "chain", "inputModes",
                              "application/json", "text/plain", "outputModes", "application/json");
    json_t *card = card_base(api->a2a_push != NULL, ch->name, desc, url, base,
                             json_pack("[o]", skill), json_object());
    at_chain_unref(ch);
    reply_card(r, card, base);
}

static void h_jwks(struct at_http_req *r)
{
    unsigned char pk[32], sk[64];
    struct at_diag d;
    at_diag_clear(&d);
    if (at_seckey_signing(at_http_api_of(r)->data_dir, pk, sk, &d)) {
        at_http_reply_diag(r, &d);
        return;
    }
    sodium_memzero(sk, sizeof(sk));
    char kid[40];
    at_a2a_kid(pk, kid, sizeof(kid));
    at_http_reply_json(r, 200, at_a2a_jwks(pk, kid));
}

static const struct at_http_route routes[] = {
    {"GET", "/.well-known/agent-card.json", h_card, AT_HTTP_NEED_READ, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", "/.well-known/jwks.json", h_jwks, AT_HTTP_NEED_READ, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", "/a2a/agents/{agent}/.well-known/agent-card.json", h_agent_card, AT_HTTP_NEED_READ,
     AT_HTTP_BLOCKING, 0, NULL},
    {"GET", "/a2a/chains/{chain}/.well-known/agent-card.json", h_chain_card, AT_HTTP_NEED_READ,
     AT_HTTP_BLOCKING, 0, NULL},
    {"POST", "/a2a", h_rpc, AT_HTTP_NEED_RUN, 0, AT_A2A_MAX_BODY, NULL},
    {"POST", "/a2a/agents/{agent}", h_rpc, AT_HTTP_NEED_RUN, 0, AT_A2A_MAX_BODY, NULL},
    {"POST", "/a2a/chains/{chain}", h_rpc, AT_HTTP_NEED_RUN, 0, AT_A2A_MAX_BODY, NULL},
/* clang-format off */
#define REST(P)                                                                                   \
    {"POST", P "/message:send", h_rest_send, AT_HTTP_NEED_RUN, 0, AT_A2A_MAX_BODY, NULL},         \
    {"POST", P "/message:stream", h_rest_stream, AT_HTTP_NEED_RUN, 0, AT_A2A_MAX_BODY, NULL},     \
    {"GET", P "/tasks", h_rest_list, AT_HTTP_NEED_RUN, 0, 0, NULL},                               \
    {"GET", P "/tasks/{task}", h_rest_get, AT_HTTP_NEED_RUN, 0, 0, NULL},                         \
    {"POST", P "/tasks/{task}", h_rest_task_post, AT_HTTP_NEED_RUN, 0, 0, NULL},                  \
    {"*", P "/tasks/{task}/{more*}", h_rest_push, AT_HTTP_NEED_RUN, AT_HTTP_BLOCKING,              \
     AT_A2A_MAX_BODY, NULL},                                                                      \
    {"GET", P "/extendedAgentCard", h_rest_ext, AT_HTTP_NEED_RUN, 0, 0, NULL}
    REST("/a2a"),
    REST("/a2a/agents/{agent}"),
    REST("/a2a/chains/{chain}"),
#undef REST
    /* clang-format on */
};

int at_http_a2a_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
