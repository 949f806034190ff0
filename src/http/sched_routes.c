/*
 * sched_routes.c - placement explained (docs/scheduling.md "Explain"):
 *   GET  /api/v1/jobs/{id}/placement   the job's explanation: live for a
 *                                      job still queued, else the one its
 *                                      placement stored (meta.placement)
 *   POST /api/v1/schedule/explain      {"agent": REF, "priority"?: N}: a dry
 *                                      run, nothing reserved or run
 *   POST /api/v1/jobs/{id}/migrate     {"to": NODE}: restart a running job
 *                                      of an idempotent agent on NODE
 *                                      (docs/scheduling.md "Migrate")
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/err.h"
#include "base/log.h"
#include "exec/admit.h"
#include "json/json.h"
#include "sched/sched.h"

#include <stdio.h>
#include <string.h>

/* the explanation of placing agent ref now (a new reference), or NULL with
 * the problem answered */
static json_t *explain_agent(struct at_http_req *r, const char *ref, int priority,
                             const char *job_id)
{
    const struct at_http_api *api = at_http_api_of(r);
    struct at_sched *s = at_sched_current();
    if (!s) {
        at_http_reply_problem(r, AT_EUNSUPPORTED, "this daemon has no cluster to place on", NULL,
                              NULL);
        return NULL;
    }
    struct at_reg_agent *a;
    if (at_registry_resolve(api->registry, ref, &a)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "no agent \"%s\" is registered", ref);
        at_http_reply_problem(r, AT_ENOENT, msg, "/agent", NULL);
        return NULL;
    }
    struct at_sched_req q;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_admit_req(a->contract, &q, &d);
    at_reg_agent_unref(a);
    if (rc) {
        at_http_reply_problem(r, rc, d.msg, d.pointer, NULL);
        return NULL;
    }
    q.priority = priority;
    if (job_id)
        snprintf(q.job_id, sizeof(q.job_id), "%s", job_id);
    json_t *ex = at_sched_explain(s, &q);
    json_object_set_new(ex, "dry_run", json_boolean(job_id == NULL));
    return ex;
}

static void h_job_placement(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = at_http_param(r, "id");
    struct at_job_rec rec;
    int rc = at_store_call(api->store, job_get, id, &rec);
    if (rc) {
        at_http_reply_missing(r, rc, "job", id, NULL);
        return;
    }
    json_t *stored = json_object_get(rec.meta, "placement");
    json_t *out = NULL;
    if (rec.state == AT_JOB_QUEUED && rec.agent) {
        char ref[300];
        snprintf(ref, sizeof(ref), "%s%s%s", rec.agent, rec.agent_version ? ":" : "",
                 rec.agent_version ? rec.agent_version : "");
        out = explain_agent(r, ref, rec.priority, id);
        if (!out) {
            at_job_rec_release(&rec);
            return;
        }
        json_object_set_new(out, "live", json_true());
    } else if (json_is_object(stored)) {
        out = json_deep_copy(stored);
        json_object_set_new(out, "live", json_false());
    } else {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "job %s has no placement (a chain, a remote agent, or it ended before dispatch)",
                 id);
        at_http_reply_problem(r, AT_ENOENT, msg, NULL, NULL);
        at_job_rec_release(&rec);
        return;
    }
    json_object_set_new(out, "job_id", json_string(id));
    json_object_set_new(out, "job_state", json_string(at_job_state_name(rec.state)));
    at_job_rec_release(&rec);
    at_http_reply_json(r, 200, out);
}

static void h_explain(struct at_http_req *r)
{
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    const char *agent = json_string_value(json_object_get(body, "agent"));
    json_t *prio = json_object_get(body, "priority");
    if (!agent || (prio && !json_is_integer(prio))) {
        at_http_reply_problem(r, AT_EINVAL,
                              "the body must be {\"agent\": NAME[:VERSION], \"priority\"?: N}",
                              agent ? "/priority" : "/agent", NULL);
        json_decref(body);
        return;
    }
    json_t *out = explain_agent(r, agent, prio ? (int)json_integer_value(prio) : 0, NULL);
    json_decref(body);
    if (out)
        at_http_reply_json(r, 200, out);
}

static void h_migrate(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    const char *id = at_http_param(r, "id");
    const char *to = at_json_str(body, "to", NULL);
    if (!to || !*to) {
        at_http_reply_problem(r, AT_EINVAL, "the body is {\"to\": NODE}", "/to", NULL);
        json_decref(body);
        return;
    }
    if (!api->engine || !at_sched_current()) {
        at_http_reply_problem(r, AT_EUNSUPPORTED, "this daemon has no cluster to migrate in", NULL,
                              NULL);
        json_decref(body);
        return;
    }
    char why[1600];
    json_t *out = NULL;
    int rc = at_engine_migrate(api->engine, id, to, why, sizeof(why), &out);
    char detail[400];
    snprintf(detail, sizeof(detail), "job %s to %s%s%.300s", id, to, rc ? ": refused: " : "",
             rc ? why : "");
    at_http_audit(r, "job.migrate", rc ? "refused" : "ok", "admin", detail);
    if (rc) {
        at_info("sched", "migrate of job %s to %s refused: %s", id, to, why);
        at_http_reply_problem(r, rc, why, NULL, NULL);
    } else {
        at_http_reply_json(r, 200, out);
    }
    json_decref(body);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/jobs/{id}/placement", h_job_placement, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/schedule/explain", h_explain, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/jobs/{id}/migrate", h_migrate, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
};

int at_http_sched_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
