/*
 * runs_routes.c - runs of agents and chains, routing, and a job's events
 * (docs/api.md "Runs", "Jobs", docs/chains.md#routing).
 *
 * A run suspends its request until the job's acknowledgement (async,
 * Prefer: respond-async) or end (sync); routing may first ask a model
 * (on the gateway's thread) which agent to run.  The events stream is SSE
 * fed by the engine's job watch.
 */
#include "http/api.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/sse.h"
#include "exec/admit.h"
#include "http/auth.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "orch/orch.h"
#include "trigger/trigger.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A run's deferred answer: sync (the job's end) or async (its
 * acknowledgement). */
struct run_wait {
    struct at_http_wait hw; /* first */
    int async;              /* answer at acknowledgement (202) */
};

static json_t *problem_from_job(const struct at_job_rec *rec)
{
    json_t *p = rec->error ? json_deep_copy(rec->error)
                           : at_http_problem(AT_EINTERNAL, "job failed without an error", NULL);
    json_object_del(p, "code");
    json_object_set_new(p, "job", json_string(rec->id));
    json_object_set_new(p, "state", json_string(at_job_state_name(rec->state)));
    char inst[128];
    snprintf(inst, sizeof(inst), AT_HTTP_API "/jobs/%s", rec->id);
    json_object_set_new(p, "instance", json_string(inst));
    return p;
}

/* A failed store write is the server's failure, whatever the backend said
 * (a missing row after a failed insert is AT_ENOENT, not a 404): 503 when
 * the writer was full, else 500. */
static int store_failure(int store_rc)
{
    return store_rc == AT_EBUSY ? AT_EBUSY : AT_EIO;
}

static void on_run_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct run_wait *w = arg;
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req) {
        char hdr[AT_ID_MAX];
        snprintf(hdr, sizeof(hdr), "%s", rec->id);
        at_http_add_header(req, "Atlas-Job-Id", hdr);
        if (store_rc) {
            at_http_complete_problem(
                req, at_http_problem(store_failure(store_rc),
                                     "the job's result could not be written to the store", NULL));
        } else if (rec->state == AT_JOB_COMPLETED) {
            at_http_complete_json(req, 200, json_incref(rec->output));
        } else {
            at_http_complete_problem(req, problem_from_job(rec));
        }
    }
    at_http_wait_unlock(&w->hw, 1);
    at_http_wait_unref(&w->hw);
}

static void on_run_accepted(const char *job_id, int store_rc, void *arg)
{
    struct run_wait *w = arg;
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    /* an async run is answered here; a sync one too when the job could
     * not be stored (its result could not be looked up later) */
    int answer = req && (w->async || store_rc);
    if (answer) {
        if (store_rc) {
            at_http_complete_problem(
                req, at_http_problem(store_failure(store_rc),
                                     "the job could not be written to the store", NULL));
        } else {
            char loc[128];
            snprintf(loc, sizeof(loc), AT_HTTP_API "/jobs/%s", job_id);
            at_http_add_header(req, "Location", loc);
            at_http_add_header(req, "Atlas-Job-Id", job_id);
            at_http_complete_json(
                req, 202,
                json_pack("{s:s,s:s,s:s}", "job", job_id, "state", "queued", "status_url", loc));
        }
    }
    at_http_wait_unlock(&w->hw, answer);
    at_http_wait_unref(&w->hw);
}

static int prefers_async(struct at_http_req *r)
{
    const char *p = at_http_header(r, "Prefer");
    if (!p)
        return 0;
    /* RFC 7240: comma-separated preferences */
    const char *s = p;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (strncasecmp(s, "respond-async", 13) == 0 &&
            (s[13] == '\0' || s[13] == ',' || s[13] == ';' || s[13] == ' '))
            return 1;
        while (*s && *s != ',')
            s++;
    }
    return 0;
}

/* What a run needs once the request is suspended (routing may decide on
 * another thread, after the handler returned). */
struct run_args {
    struct at_engine *e;
    int priority;
    const char *source;    /* static */
    json_t *decisions;     /* routing's, or NULL */
    char owner[AT_ID_MAX]; /* the caller's API token id (its quota pays), "" */
};

static struct run_wait *run_wait_start(struct at_http_req *r)
{
    /* references: the request's, and the caller's until start_run */
    struct run_wait *w = at_http_wait_new(r, sizeof(*w), 1);
    w->async = prefers_async(r);
    return w;
}

/* Submit the job for a suspended request (any thread) and give up the
 * caller's reference to w.  routed: the agent routing chose, for the
 * Atlas-Routed-To header. */
static void start_run(struct run_wait *w, const struct run_args *a, const char *ref,
                      const char *chain, json_t *input, const char *routed)
{
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req && routed)
        at_http_add_header(req, "Atlas-Routed-To", routed);
    at_http_wait_unlock(&w->hw, 0);
    at_http_wait_ref(&w->hw, 2); /* accept callback, done callback */
    struct at_submit s = {
        .agent = ref,
        .chain = chain,
        .input = input,
        .priority = a->priority,
        .source = a->source,
        .on_accept = on_run_accepted,
        .accept_arg = w,
        .on_done = on_run_done,
        .done_arg = w,
        .decisions = a->decisions,
        .owner = a->owner[0] ? a->owner : NULL,
    };
    /* the one event shape every run has (docs/triggers.md) */
    json_t *ev = at_trigger_event_plain(a->source, ref, chain, input, NULL);
    s.event = ev;
    struct at_diag d;
    at_diag_clear(&d);
    int src = at_engine_submit(a->e, &s, NULL, &d);
    json_decref(ev);
    if (src) {
        atomic_fetch_sub(&w->hw.refs, 2); /* neither callback will run */
        req = at_http_wait_lock(&w->hw);
        if (req) {
            int code = d.code ? d.code : AT_EINTERNAL;
            at_http_complete_problem(req,
                                     at_http_problem(code, d.msg, d.pointer[0] ? d.pointer : NULL));
        }
        at_http_wait_unlock(&w->hw, 1);
    }
    at_http_wait_unref(&w->hw);
}

static int run_args_init(struct at_http_req *r, struct run_args *a)
{
    a->e = at_http_api_of(r)->engine;
    long long priority;
    if (at_http_query_int(r, "priority", -1000000, 1000000, 0, &priority))
        return -1;
    a->priority = (int)priority;
    const char *src = at_http_header(r, "Atlas-Source");
    a->source = src && strcmp(src, "cli") == 0 ? "cli" : "http";
    a->decisions = NULL;
    const char *owner = at_http_owner_token(r);
    snprintf(a->owner, sizeof(a->owner), "%s", owner ? owner : "");
    return 0;
}

/* Run an agent (ref) or a chain (chain): sync, or async with Prefer. */
static void run_target(struct at_http_req *r, const char *ref, const char *chain)
{
    json_t *input;
    if (at_http_body_json(r, 1, &input))
        return;
    struct run_args a;
    if (run_args_init(r, &a) == 0)
        start_run(run_wait_start(r), &a, ref, chain, input, NULL);
    json_decref(input);
}

static void h_run(struct at_http_req *r)
{
    const char *ref = at_http_param(r, "ref");
    if (!at_http_agent_ok(r, ref)) {
        at_http_reply_agent_denied(r, ref);
        return;
    }
    run_target(r, ref, NULL);
}

static void h_chain_run(struct at_http_req *r)
{
    const char *name = at_http_param(r, "name");
    if (!at_http_chain_ok(r, name)) { /* its steps run under the chain's authority */
        char ref[300];
        snprintf(ref, sizeof(ref), "chain:%.200s", name ? name : "");
        at_http_reply_agent_denied(r, ref);
        return;
    }
    run_target(r, NULL, name);
}

/* ---- routing ---- */

/* A routing decision waiting for the model (model-based routing). */
struct route_call {
    struct run_wait *w; /* the caller's reference, passed on to start_run */
    struct run_args a;
    json_t *input;
    json_t *candidates;
    char *rule_choice; /* the rule-based choice, used when the model's answer names none */
};

static void route_go(struct route_call *rc, const char *agent)
{
    start_run(rc->w, &rc->a, agent, NULL, rc->input, agent);
    json_decref(rc->a.decisions);
    json_decref(rc->input);
    json_decref(rc->candidates);
    free(rc->rule_choice);
    free(rc);
}

static void decide(json_t *decisions, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void decide(json_t *decisions, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_array_append_new(decisions, json_string(text));
}

/* the model's answer (gateway thread) */
static void route_model_done(void *arg, const struct at_llm_result *res, json_t *body)
{
    struct route_call *rc = arg;
    const char *answer = NULL;
    if (res->code == 0)
        answer = json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(body, "choices"), 0), "message"),
            "content"));
    const char *pick = at_orch_route_answer(answer, rc->candidates);
    if (pick)
        decide(rc->a.decisions, "routing: %s (chosen by model %s among %zu candidates)", pick,
               res->model ? res->model : "?", json_array_size(rc->candidates));
    else if (res->code)
        decide(rc->a.decisions, "routing: the model could not be asked (%s); kept %s",
               res->error ? res->error : at_err_msg(res->code), rc->rule_choice);
    else
        decide(rc->a.decisions,
               "routing: the model's answer names no candidate (\"%.80s\"); kept %s",
               answer ? answer : "", rc->rule_choice);
    route_go(rc, pick ? pick : rc->rule_choice);
}

/* Routing's condition beyond the input schema: an agent this node would
 * refuse (a skill or hardware it lacks, exec/admit.h) is no candidate. */
static int route_fit(void *arg, const struct at_contract *c, char *why, size_t n)
{
    (void)arg;
    return at_admit_check(c, why, n) == 0;
}

/* POST /api/v1/run {"input": {...}, "hint"?: "..."}: the orchestrator
 * routes an input that names no agent: the agents whose input schemas
 * accept it, ranked by fields, capabilities and description (rule-based);
 * with a model gateway and more than one candidate, a model (tier fast)
 * picks among them. */
static void h_route(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (r->agents[0]) { /* routing may choose any agent */
        at_http_reply_agent_denied(r, NULL);
        return;
    }
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    json_t *input = json_object_get(body, "input");
    if (!json_is_object(body) || !json_is_object(input)) {
        at_http_reply_problem(r, AT_EINVAL, "the body must be {\"input\": {...}, \"hint\"?: TEXT}",
                              "/input", NULL);
        json_decref(body);
        return;
    }
    struct run_args a;
    if (run_args_init(r, &a)) {
        json_decref(body);
        return;
    }
    const char *hint = at_json_str(body, "hint", NULL);
    json_t *decisions = json_array();
    json_t *candidates = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    char *agent = NULL;
    if (at_orch_route_fit(api->registry, input, hint, route_fit, NULL, &agent, decisions,
                          &candidates, &d)) {
        at_http_reply_problem(r, d.code, d.msg, NULL, json_pack("{s:o}", "decisions", decisions));
        json_decref(candidates);
        json_decref(body);
        return;
    }
    a.decisions = decisions;
    struct run_wait *w = run_wait_start(r);
    struct at_llm *g = api->llm;
    if (g && json_array_size(candidates) > 1) {
        struct route_call *rc = at_calloc(1, sizeof(*rc));
        rc->w = w;
        rc->a = a;
        rc->input = json_incref(input);
        rc->candidates = candidates;
        rc->rule_choice = agent;
        json_t *prompt = at_orch_route_prompt(input, hint, candidates);
        struct at_llm_request lr = {
            .body = prompt, .override_tier = -1, .on_done = route_model_done, .arg = rc};
        struct at_diag md;
        at_diag_clear(&md);
        int rcode = at_llm_submit(g, &lr, NULL, &md);
        json_decref(prompt);
        if (rcode) { /* no callback will run: the rule-based choice stands */
            decide(decisions, "routing: the model could not be asked (%s); kept %s", md.msg, agent);
            route_go(rc, agent);
        }
        json_decref(body);
        return;
    }
    start_run(w, &a, agent, NULL, input, agent);
    free(agent);
    json_decref(candidates);
    json_decref(decisions);
    json_decref(body);
}

/* ---- GET /api/v1/jobs/ID/events ----
 *
 * Server-Sent Events of a job (state, progress, log), ending with "end".
 * A finished job gets its final state and "end" at once. */
struct job_sse {
    atomic_int refs; /* the engine subscription and the stream's close callback */
    struct at_http_stream *stream;
    struct at_engine *e;
    char id[AT_ID_MAX];
    unsigned long seq;
};

static void job_sse_unref(struct job_sse *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    at_http_stream_unref(c->stream);
    free(c);
}

static void sse_send(struct at_http_stream *st, unsigned long *seq, const char *event, json_t *data)
{
    char *text = data ? at_json_dumps(data) : at_strdup("{}");
    char id[32];
    snprintf(id, sizeof(id), "%lu", ++*seq);
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_sse_write(&b, event, id, text, strlen(text));
    at_http_stream_write(st, b.p, b.len);
    at_buf_release(&b);
    free(text);
}

static void job_sse_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct job_sse *c = arg;
    if (strcmp(event, "end") == 0) {
        sse_send(c->stream, &c->seq, "end", NULL);
        at_http_stream_close(c->stream);
        job_sse_unref(c);
        return;
    }
    sse_send(c->stream, &c->seq, event, data);
}

static void job_sse_closed(void *arg)
{
    struct job_sse *c = arg;
    /* the client left: drop the subscription (its "end" releases that ref) */
    at_engine_unwatch(c->e, c->id, c);
    job_sse_unref(c);
}

static void h_job_events(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = at_http_param(r, "id");
    struct at_job_rec rec;
    int rc = at_store_call(api->store, job_get, id, &rec);
    if (rc) {
        at_http_reply_missing(r, rc, "job", id, NULL);
        return;
    }
    struct job_sse *c = at_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 2);
    c->e = api->engine;
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->stream = at_http_stream_start(r, 200, "text/event-stream", 0, job_sse_closed, c);
    at_http_stream_set_sse(c->stream);
    if (at_job_state_final(rec.state)) {
        json_t *d = at_job_rec_to_json(&rec);
        sse_send(c->stream, &c->seq, "state", d);
        json_decref(d);
        job_sse_event(id, "end", NULL, c);
    } else {
        at_engine_watch(api->engine, id, job_sse_event, c);
    }
    at_job_rec_release(&rec);
}

static const struct at_http_route routes[] = {
    {"POST", AT_HTTP_API "/agents/{ref}/run", h_run, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/chains/{name}/run", h_chain_run, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/run", h_route, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"GET", AT_HTTP_API "/jobs/{id}/events", h_job_events, AT_HTTP_NEED_READ, 0, 0, NULL},
};

int at_http_runs_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
