/*
 * jobs_routes.c - jobs: list, read, cancel (docs/api.md "Jobs").  The
 * events stream is in runs_routes.c, the logs in monitor_routes.c.
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <string.h>

static void h_list(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    struct at_job_filter f = {.state = -1};
    const char *state = at_http_query_str(r, "state");
    if (state) {
        f.state = at_job_state_parse(state);
        if (f.state < 0) {
            at_http_reply_problem(r, AT_EINVAL,
                                  "state must be one of queued, running, completed, failed, "
                                  "cancelled",
                                  NULL, NULL);
            return;
        }
    }
    f.agent = at_http_query_str(r, "agent");
    f.parent = at_http_query_str(r, "parent");
    f.source = at_http_query_str(r, "source");
    f.trigger = at_http_query_str(r, "trigger");
    long long limit, before;
    if (at_http_query_int(r, "limit", 1, 1000, 50, &limit) ||
        at_http_query_int(r, "before", 0, (long long)1 << 62, 0, &before))
        return;
    f.limit = (int)limit;
    f.before_seq = before;
    const char *since = at_http_query_str(r, "since");
    if (since && at_time_parse_iso8601(since, &f.since_ms)) {
        at_http_reply_problem(r, AT_EINVAL, "since must be an RFC 3339 time", NULL, NULL);
        return;
    }
    struct at_job_rec *recs;
    size_t n;
    int rc = at_store_call(api->store, job_list, &f, &recs, &n);
    if (rc) {
        at_http_reply_problem(r, rc, "cannot read jobs from the store", NULL, NULL);
        return;
    }
    json_t *arr = json_array();
    int full = at_http_query_has(r, "full");
    for (size_t i = 0; i < n; i++) {
        json_t *j = at_job_rec_to_json(&recs[i]);
        if (!full) {
            json_object_del(j, "input");
            json_object_del(j, "output");
        }
        json_array_append_new(arr, j);
    }
    at_http_jobs_filter(r, arr, "root");
    json_t *out = json_pack("{s:o}", "jobs", arr);
    if (n == (size_t)f.limit)
        json_object_set_new(out, "next_before", json_integer(recs[n - 1].seq));
    at_job_recs_free(recs, n);
    at_http_reply_json(r, 200, out);
}

static void h_get(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = at_http_param(r, "id");
    struct at_job_rec rec;
    int rc = at_store_call(api->store, job_get, id, &rec);
    if (rc) {
        at_http_reply_missing(r, rc, "job", id, NULL);
        return;
    }
    at_http_reply_json(r, 200, at_job_rec_to_json(&rec));
    at_job_rec_release(&rec);
}

/* POST /api/v1/jobs/ID/cancel, DELETE /api/v1/jobs/ID */
static void h_cancel(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = at_http_param(r, "id");
    struct at_job_rec rec;
    int rc = at_store_call(api->store, job_get, id, &rec);
    if (rc) {
        at_http_reply_missing(r, rc, "job", id, NULL);
        return;
    }
    int final = at_job_state_final(rec.state);
    const char *state = at_job_state_name(rec.state);
    at_job_rec_release(&rec);
    if (final) {
        char msg[200];
        snprintf(msg, sizeof(msg), "job %s is already %s", id, state);
        at_http_reply_problem(r, AT_ESTATE, msg, NULL, json_pack("{s:s}", "state", state));
        return;
    }
    json_t *body = NULL;
    const char *reason = "cancelled by request";
    if (r->body.len) {
        if (at_http_body_json(r, 1, &body))
            return; /* answered */
        reason = at_json_str(body, "reason", reason);
    }
    rc = at_engine_cancel(api->engine, id, reason);
    json_decref(body);
    if (rc && rc != AT_ENOENT) {
        char msg[200];
        snprintf(msg, sizeof(msg), "cannot cancel job %s: %s", id, at_err_msg(rc));
        at_http_reply_problem(r, rc, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 202, json_pack("{s:s,s:s}", "job", id, "state", "cancelling"));
}

/* POST /api/v1/jobs/{id}/input {"input": {...}} | {"action": "decline" |
 * "cancel"}: answer the question the job's agent asked its caller
 * (meta.input_required; exec/engine_input.c, docs/api.md). */
static void h_input(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *id = at_http_param(r, "id");
    json_t *body = NULL;
    if (at_http_body_json(r, 1, &body))
        return; /* answered */
    const char *action = at_json_str(body, "action", NULL);
    const json_t *input = json_object_get(body, "input");
    json_t *result;
    if (input && action && strcmp(action, "accept") != 0) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL, "an answer with input is an accept", "/action", NULL);
        return;
    }
    if (input) {
        result = json_pack("{s:s,s:O}", "action", "accept", "content", input);
    } else if (action) {
        result = json_pack("{s:s}", "action", action);
        const json_t *content = json_object_get(body, "content");
        if (content)
            json_object_set(result, "content", (json_t *)content);
    } else {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL,
                              "the body needs \"input\" (an object: the answer) or \"action\": "
                              "\"decline\" | \"cancel\"",
                              NULL, NULL);
        return;
    }
    json_decref(body);
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_engine_input_answer(api->engine, id, result, &d);
    if (rc) {
        json_decref(result);
        if (!d.msg[0])
            at_diag_set(&d, rc, NULL, 0, 0, "cannot answer job %s: %s", id, at_err_msg(rc));
        at_http_reply_diag(r, &d);
        return;
    }
    at_http_reply_json(r, 200,
                       json_pack("{s:s,s:b,s:O}", "job", id, "answered", 1, "action",
                                 json_object_get(result, "action")));
    json_decref(result);
}

/* POST /api/v1/jobs/prune {"older_than": SECONDS, "keep": N}: job retention
 * now (store.h job_prune), through the writer; answers how many trees. */
static void h_prune(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body = NULL;
    if (at_http_body_json(r, 1, &body))
        return; /* answered */
    json_t *older = json_object_get(body, "older_than"), *keep = json_object_get(body, "keep");
    const char *bad = NULL;
    if (older && !json_is_null(older) && (!json_is_number(older) || json_number_value(older) < 0))
        bad = "older_than must be a number of seconds (>= 0)";
    else if (keep && !json_is_null(keep) &&
             (!json_is_integer(keep) || json_integer_value(keep) < 0))
        bad = "keep must be an integer (>= 0)";
    else if ((!older || json_is_null(older)) && (!keep || json_is_null(keep)))
        bad = "give older_than (seconds), keep (newest finished jobs kept), or both";
    if (bad) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL, bad, NULL, NULL);
        return;
    }
    int64_t before = 0;
    if (json_is_number(older)) {
        double s = json_number_value(older);
        int64_t now = at_wall_ms();
        before = s * 1000.0 >= (double)now ? 1 : now - (int64_t)(s * 1000.0);
    }
    long long k = json_is_integer(keep) ? (long long)json_integer_value(keep) : -1;
    long long deleted = 0;
    int rc = at_writer_job_prune(api->writer, api->store, before, k, &deleted);
    if (rc) {
        json_decref(body);
        char msg[200];
        snprintf(msg, sizeof(msg), "cannot prune jobs: %s (%lld pruned before the error)",
                 at_err_msg(rc), deleted);
        at_http_reply_problem(r, rc, msg, NULL, NULL);
        return;
    }
    json_t *out = json_pack("{s:I}", "deleted", (json_int_t)deleted);
    json_object_set(out, "older_than", older ? older : json_null());
    json_object_set(out, "keep", keep ? keep : json_null());
    json_decref(body);
    at_http_reply_json(r, 200, out);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/jobs", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/jobs/{id}", h_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"DELETE", AT_HTTP_API "/jobs/{id}", h_cancel, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/jobs/{id}/cancel", h_cancel, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/jobs/{id}/input", h_input, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/jobs/prune", h_prune, AT_HTTP_NEED_ADMIN, AT_HTTP_BLOCKING, 0, NULL},
};

int at_http_jobs_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
