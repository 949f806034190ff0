/*
 * queue_routes.c - the job queue (docs/api.md "Queue"): inspect it, hold
 * (drain) and resume dispatch per agent or for all, change a queued job's
 * priority.  The engine answers from its loop (at_engine_queue_*).
 */
#include "http/api.h"

#include "base/err.h"
#include "json/json.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Answer an engine error: busy (503), stopping (409), anything else. */
static void reply_engine(struct at_http_req *r, int rc, const char *what)
{
    char msg[200];
    if (rc == AT_ESTATE)
        snprintf(msg, sizeof(msg), "cannot %s: the daemon is stopping", what);
    else if (rc == AT_EBUSY)
        snprintf(msg, sizeof(msg), "cannot %s: the engine is overloaded, try again", what);
    else
        snprintf(msg, sizeof(msg), "cannot %s: %s", what, at_err_msg(rc));
    at_http_reply_problem(r, rc, msg, NULL, NULL);
}

/* GET /api/v1/queue[?agent=NAME] */
static void h_inspect(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *agent = at_http_query_str(r, "agent");
    json_t *out;
    int rc = at_engine_queue_json(api->engine, agent, &out);
    if (rc) {
        reply_engine(r, rc, "read the queue");
        return;
    }
    at_http_reply_json(r, 200, out);
}

/* The body's "agent" (a registered agent's name), or NULL for all; answers
 * and returns non-zero when it is not acceptable. */
static int body_agent(struct at_http_req *r, json_t *body, const char **agent)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *a = json_object_get(body, "agent");
    *agent = NULL;
    if (!a || json_is_null(a))
        return 0;
    const char *name = json_string_value(a);
    if (!name || !*name || strchr(name, ':') || strchr(name, '@')) {
        at_http_reply_problem(r, AT_EINVAL,
                              "agent must be an agent's name (every version of it is held)",
                              "/agent", NULL);
        return -1;
    }
    struct at_reg_agent *ra;
    int rc = at_registry_resolve(api->registry, name, &ra);
    if (rc) {
        at_http_reply_missing(r, rc == AT_EINVAL ? AT_ENOENT : rc, "agent", name, "/agent");
        return -1;
    }
    at_reg_agent_unref(ra);
    *agent = name;
    return 0;
}

/* POST /api/v1/queue/drain, /api/v1/queue/resume: {"agent": NAME}? */
static void hold(struct at_http_req *r, int on)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body = NULL;
    if (at_http_body_json(r, 1, &body))
        return; /* answered */
    const char *agent;
    if (body_agent(r, body, &agent)) {
        json_decref(body);
        return;
    }
    int queued = 0, running = 0;
    int rc = at_engine_queue_hold(api->engine, agent, on, &queued, &running);
    if (rc) {
        json_decref(body);
        reply_engine(r, rc, on ? "drain the queue" : "resume the queue");
        return;
    }
    json_t *out = json_pack("{s:o,s:b,s:i,s:i}", "agent", agent ? json_string(agent) : json_null(),
                            "held", on, "queued", queued, "running", running);
    json_decref(body);
    at_http_reply_json(r, 200, out);
}

static void h_drain(struct at_http_req *r)
{
    hold(r, 1);
}

static void h_resume(struct at_http_req *r)
{
    hold(r, 0);
}

/* POST /api/v1/queue/jobs/{id}/priority {"priority": N} */
static void h_priority(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = at_http_param(r, "id");
    json_t *body = NULL;
    if (at_http_body_json(r, 0, &body))
        return;
    json_t *p = json_object_get(body, "priority");
    if (!json_is_integer(p) || json_integer_value(p) < INT_MIN || json_integer_value(p) > INT_MAX) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL, "priority must be an integer (higher runs first)",
                              "/priority", NULL);
        return;
    }
    int prio = (int)json_integer_value(p);
    json_decref(body);
    struct at_job_rec rec;
    int rc = at_store_call(api->store, job_get, id, &rec);
    if (rc) {
        at_http_reply_missing(r, rc, "job", id, NULL);
        return;
    }
    enum at_job_state state = rec.state;
    at_job_rec_release(&rec);
    int position = 0;
    rc = state == AT_JOB_QUEUED ? at_engine_queue_priority(api->engine, id, prio, &position)
                                : AT_ENOENT;
    if (rc == AT_ENOENT) {
        /* not (or no longer) in the queue: dispatched, ended, or a chain */
        char msg[200];
        const char *now = state == AT_JOB_QUEUED ? "no longer queued" : at_job_state_name(state);
        snprintf(msg, sizeof(msg),
                 "job %s is not queued (%s): only a queued job's priority changes", id, now);
        at_http_reply_problem(r, AT_ESTATE, msg, NULL,
                              json_pack("{s:s}", "state", at_job_state_name(state)));
        return;
    }
    if (rc) {
        reply_engine(r, rc, "change the priority");
        return;
    }
    at_http_reply_json(
        r, 200, json_pack("{s:s,s:i,s:i}", "job", id, "priority", prio, "position", position));
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/queue", h_inspect, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/queue/drain", h_drain, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/queue/resume", h_resume, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/queue/jobs/{id}/priority", h_priority, AT_HTTP_NEED_RUN, 0, 0, NULL},
};

int at_http_queue_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
