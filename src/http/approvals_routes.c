/*
 * approvals_routes.c - proposals and approvals (docs/api.md "Approvals",
 * docs/supervisor.md).
 *
 *   GET  /api/v1/approvals                  {"approvals": [...]} (?state=)
 *   POST /api/v1/approvals                  file a proposal (RUN): {kind, title, reason?,
 *                                           payload, evidence?} -> 201
 *   GET  /api/v1/approvals/events           Server-Sent Events of every change
 *   GET  /api/v1/approvals/{id}             one proposal, its package and history
 *   POST /api/v1/approvals/{id}/amend       the proposer replaces the payload
 *   POST /api/v1/approvals/{id}/approve     {hash, why?}          (ADMIN)
 *   POST /api/v1/approvals/{id}/reject      {hash, why?}          (ADMIN)
 *   POST /api/v1/approvals/{id}/modify      {hash, payload, why?} (ADMIN)
 *   POST /api/v1/approvals/batch            {decisions: [{id, action, hash, why?}]} (ADMIN)
 *
 * Also the executor of approved proposals (at_http_approvals_exec) and the
 * gate other routes call when config puts their action behind approvals
 * (at_http_approvals_gate).
 */
#include "http/api.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/sse.h"
#include "http/auth.h"
#include "base/clock.h"
#include "contract/sysinfo.h"
#include "json/json.h"
#include "registry/snapshot.h"
#include "sched/hub.h"
#include "skills/skills.h"
#include "supervisor/approvals.h"
#include "supervisor/diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct at_approvals *aps(struct at_http_req *r)
{
    return at_http_api_of(r)->approvals;
}

static int no_approvals(struct at_http_req *r)
{
    if (aps(r))
        return 0;
    at_http_reply_problem(r, AT_EUNAVAIL, "approvals are not running in this daemon", NULL, NULL);
    return 1;
}

static struct at_ap_actor actor_of(struct at_http_req *r)
{
    struct at_ap_actor a = {.name = r->who[0] ? r->who : "anonymous", .role = NULL, .root = NULL};
    return a;
}

/* The certification package's diff for a skill definition: the installed
 * version (pretty JSON) against the proposed one, unless the proposer gave
 * one.  filing is changed in place. */
static void add_skill_diff(const struct at_http_api *api, json_t *filing)
{
    const char *kind = at_json_str(filing, "kind", "");
    json_t *def = json_object_get(json_object_get(filing, "payload"), "definition");
    json_t *ev = json_object_get(filing, "evidence");
    if (!api->skills || !json_is_object(def) ||
        (strcmp(kind, "new_skill") != 0 && strcmp(kind, "skill_change") != 0) ||
        json_object_get(ev, "diff"))
        return;
    const char *name = at_json_str(def, "name", "");
    json_t *cur = NULL;
    char *a = NULL;
    if (at_skills_describe(api->skills, name, NULL, &cur) == 0) {
        json_t *d = json_object_get(cur, "definition");
        a = json_dumps(d ? d : cur, JSON_INDENT(2) | JSON_SORT_KEYS);
    }
    json_decref(cur);
    char *b = json_dumps(def, JSON_INDENT(2) | JSON_SORT_KEYS);
    char an[300], bn[300];
    snprintf(an, sizeof(an), "a/%.200s (installed)", name);
    snprintf(bn, sizeof(bn), "b/%.200s (proposed)", name);
    char *diff = b ? at_diff_unified(an, a, bn, b) : NULL;
    if (diff) {
        if (!json_is_object(ev)) {
            ev = json_object();
            json_object_set_new(filing, "evidence", ev);
        }
        json_object_set_new(ev, "diff", json_string(diff));
    }
    free(diff);
    free(a);
    free(b);
}

static void h_list(struct at_http_req *r)
{
    if (no_approvals(r))
        return;
    const char *state = at_http_query_str(r, "state");
    at_http_reply_json(r, 200,
                       json_pack("{s:o}", "approvals", at_approvals_list(aps(r), state, NULL)));
}

static void h_file(struct at_http_req *r)
{
    if (no_approvals(r))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    struct at_ap_actor by = actor_of(r);
    json_t *out = NULL;
    if (json_is_object(body))
        add_skill_diff(at_http_api_of(r), body);
    int rc = at_approvals_propose(aps(r), body, &by, &out, &d);
    json_decref(body);
    if (rc) {
        at_http_reply_diag(r, &d);
        return;
    }
    char loc[160];
    snprintf(loc, sizeof(loc), AT_HTTP_API "/approvals/%s", at_json_str(out, "id", ""));
    at_http_add_header(r, "Location", loc);
    at_http_reply_json(r, 201, out);
}

static void h_get(struct at_http_req *r)
{
    if (no_approvals(r))
        return;
    json_t *out;
    const char *id = at_http_param(r, "id");
    if (at_approvals_get(aps(r), id, &out)) {
        at_http_reply_missing(r, AT_ENOENT, "proposal", id, NULL);
        return;
    }
    at_http_reply_json(r, 200, out);
}

static void h_amend(struct at_http_req *r)
{
    if (no_approvals(r))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    struct at_ap_actor by = actor_of(r);
    json_t *out = NULL;
    json_t *payload = json_object_get(body, "payload");
    json_t *cur = NULL;
    int new_agent = at_approvals_get(aps(r), at_http_param(r, "id"), &cur) == 0 &&
                    !strcmp(at_json_str(cur, "kind", ""), "new_agent");
    json_decref(cur);
    if (json_is_object(payload) && new_agent) {
        /* a registration's owner is the proposer (who alone amends), never
         * what the amended payload says */
        const char *oid = at_http_owner_token(r);
        json_object_set_new(payload, "owner", json_string(r->who[0] ? r->who : "local"));
        if (oid)
            json_object_set_new(payload, "owner_id", json_string(oid));
        else
            json_object_del(payload, "owner_id");
    }
    int rc = payload
                 ? at_approvals_amend(aps(r), at_http_param(r, "id"), payload, &by, &out, &d)
                 : at_diag_set(&d, AT_EINVAL, NULL, 0, 0, "%s", "the body is {\"payload\": {...}}");
    json_decref(body);
    if (rc)
        at_http_reply_diag(r, &d);
    else
        at_http_reply_json(r, 200, out);
}

static void decide(struct at_http_req *r, const char *action)
{
    if (no_approvals(r))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_decision dec = {
        .id = at_http_param(r, "id"),
        .action = action,
        .hash = at_json_str(body, "hash", NULL),
        .why = at_json_str(body, "why", NULL),
        .payload = json_object_get(body, "payload"),
    };
    struct at_diag d;
    at_diag_clear(&d);
    struct at_ap_actor by = actor_of(r);
    json_t *out = NULL;
    int rc = at_approvals_decide(aps(r), &dec, &by, &out, &d);
    json_decref(body);
    if (rc)
        at_http_reply_diag(r, &d);
    else
        at_http_reply_json(r, 200, out);
}

static void h_approve(struct at_http_req *r)
{
    decide(r, "approve");
}

static void h_reject(struct at_http_req *r)
{
    decide(r, "reject");
}

static void h_modify(struct at_http_req *r)
{
    decide(r, "modify");
}

/* Several decisions, each on its own (one refused does not stop the rest). */
static void h_batch(struct at_http_req *r)
{
    if (no_approvals(r))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    json_t *list = json_object_get(body, "decisions");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > 100) {
        at_http_reply_problem(r, AT_EINVAL,
                              "the body is {\"decisions\": [{\"id\", \"action\", \"hash\", "
                              "\"why\"?}, ...]} (1 to 100)",
                              "/decisions", NULL);
        json_decref(body);
        return;
    }
    json_t *results = json_array();
    struct at_ap_actor by = actor_of(r);
    size_t i;
    json_t *v;
    int failed = 0;
    json_array_foreach(list, i, v)
    {
        struct at_decision dec = {
            .id = at_json_str(v, "id", ""),
            .action = at_json_str(v, "action", "approve"),
            .hash = at_json_str(v, "hash", NULL),
            .why = at_json_str(v, "why", NULL),
            .payload = json_object_get(v, "payload"),
        };
        struct at_diag d;
        at_diag_clear(&d);
        json_t *out = NULL;
        int rc = at_approvals_decide(aps(r), &dec, &by, &out, &d);
        if (rc) {
            failed++;
            json_array_append_new(results, json_pack("{s:s,s:s,s:s}", "id", dec.id, "error",
                                                     at_err_slug(rc), "message", d.msg));
        } else {
            json_array_append_new(results, json_pack("{s:s,s:s}", "id", dec.id, "state",
                                                     at_json_str(out, "state", "?")));
            json_decref(out);
        }
    }
    json_decref(body);
    at_http_reply_json(r, 200, json_pack("{s:o,s:i}", "results", results, "refused", failed));
}

/* ---- GET /api/v1/approvals/events ---- */

struct ap_sse {
    struct at_http_stream *stream;
    struct at_approvals *a;
    int handle;
    unsigned long seq;
};

static void ap_sse_event(void *arg, const char *event, const json_t *doc)
{
    struct ap_sse *c = arg;
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", at_json_str(doc, "id", ""), "kind",
                  at_json_str(doc, "kind", ""), "state", at_json_str(doc, "state", ""), "hash",
                  at_json_str(doc, "hash", ""), "title", at_json_str(doc, "title", ""), "proposer",
                  at_json_str(doc, "proposer", ""));
    char *text = at_json_dumps(j);
    json_decref(j);
    char id[32];
    snprintf(id, sizeof(id), "%lu", ++c->seq);
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_sse_write(&b, event, id, text, strlen(text));
    at_http_stream_write(c->stream, b.p, b.len);
    at_buf_release(&b);
    free(text);
}

static void ap_sse_closed(void *arg)
{
    struct ap_sse *c = arg;
    if (c->handle)
        at_approvals_unlisten(c->a, c->handle);
    at_http_stream_unref(c->stream);
    free(c);
}

static void h_events(struct at_http_req *r)
{
    if (no_approvals(r))
        return;
    const char *accept = at_http_header(r, "Accept");
    if (!accept || !strstr(accept, "text/event-stream")) {
        at_http_reply_problem(r, AT_EINVAL,
                              "this is an event stream: ask with Accept: text/event-stream", NULL,
                              NULL);
        return;
    }
    struct ap_sse *c = at_calloc(1, sizeof(*c));
    c->a = aps(r);
    c->stream = at_http_stream_start(r, 200, "text/event-stream", 0, ap_sse_closed, c);
    at_http_stream_set_sse(c->stream);
    static const char hello[] = ": approvals\n\n";
    at_http_stream_write(c->stream, hello, sizeof(hello) - 1);
    c->handle = at_approvals_listen(c->a, ap_sse_event, c);
    if (!c->handle)
        at_http_stream_close(c->stream);
}

/* ---- executing approved proposals ---- */

static int check_digest(const json_t *payload, struct at_diag *d)
{
    const char *want = at_json_str(payload, "digest", NULL);
    const char *path = at_json_str(payload, "path", NULL);
    if (!want || !path)
        return 0;
    char now[AT_DIGEST_MAX];
    int rc = at_snapshot_digest(path, now, d);
    if (rc)
        return rc;
    if (strcmp(now, want) != 0)
        return at_diag_set(d, AT_EEXIST, path, 0, 0,
                           "the directory changed since the proposal was filed (approved %s, it "
                           "is now %s): nothing was installed",
                           want, now);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

#define IMPACT_RUNS 200
#define IMPACT_WINDOW_MS (30LL * 24 * 3600 * 1000)

void at_http_impact_add(const struct at_http_api *api, const char *name, json_t *impact)
{
    /* expected latency and cost: the traces of comparable runs, the
     * agent's (any version) completed jobs of the last 30 days */
    int64_t since = at_wall_ms() - IMPACT_WINDOW_MS;
    struct at_job_filter f = {
        .agent = name, .state = AT_JOB_COMPLETED, .since_ms = since, .limit = IMPACT_RUNS};
    struct at_job_rec *jobs = NULL;
    size_t n = 0;
    json_t *exp = json_pack("{s:s,s:i}", "from", "completed jobs of the agent in the last 30 days",
                            "window_days", 30);
    if (name && at_store_call(api->store, job_list, &f, &jobs, &n) == 0) {
        int64_t *d = at_calloc(n ? n : 1, sizeof(*d));
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (jobs[i].started_ms > 0 && jobs[i].finished_ms >= jobs[i].started_ms)
                d[k++] = jobs[i].finished_ms - jobs[i].started_ms;
        at_job_recs_free(jobs, n);
        qsort(d, k, sizeof(*d), cmp_i64);
        json_object_set_new(exp, "runs", json_integer((json_int_t)k));
        json_object_set_new(exp, "runs_capped", json_boolean(n >= IMPACT_RUNS));
        json_object_set_new(exp, "p50_ms", k ? json_integer(d[k / 2]) : json_null());
        json_object_set_new(exp, "p95_ms",
                            k ? json_integer(d[(k * 95) / 100 < k ? (k * 95) / 100 : k - 1])
                              : json_null());
        free(d);
        struct at_usage_filter uf = {.group_by = "agent", .since_ms = since};
        json_t *sums = NULL;
        double cost = 0;
        long long calls = 0;
        if (at_store_call(api->store, usage_sum, &uf, &sums) == 0) {
            size_t i;
            json_t *x;
            size_t nl = strlen(name);
            json_array_foreach(sums, i, x)
            {
                const char *key = at_json_str(x, "key", "");
                if (!strcmp(key, name) || (!strncmp(key, name, nl) && key[nl] == '@')) {
                    cost += json_number_value(json_object_get(x, "cost_usd"));
                    calls += at_json_int(x, "calls", 0);
                }
            }
            json_decref(sums);
        }
        json_object_set_new(exp, "model_calls", json_integer(calls));
        json_object_set_new(exp, "cost_usd_per_run",
                            k && n < IMPACT_RUNS ? json_real(cost / (double)k) : json_null());
    }
    json_object_set_new(impact, "expected", exp);
    /* the platform's headroom now (the health API) */
    json_t *h = at_hub_local_health();
    const struct at_sysinfo *si = at_sysinfo_current();
    json_t *gpus = json_array();
    for (int i = 0; si && i < si->ngpus; i++)
        json_array_append_new(
            gpus,
            json_pack("{s:s,s:o}", "model", si->gpus[i].model, "vram_gb",
                      si->gpus[i].vram_gb >= 0 ? json_real(si->gpus[i].vram_gb) : json_null()));
    json_object_set_new(h, "gpus", gpus);
    json_object_set_new(impact, "headroom", h);
}

/* A config proposal (docs/supervisor.md "Config proposals"): the key goes
 * into the approved settings, and the settings are reloaded as `atlas
 * reload` does; a reload that refuses them puts the file back. */
static int exec_config(const struct at_http_api *api, const json_t *payload, json_t **result,
                       struct at_diag *d)
{
    const char *key = at_json_str(payload, "key", "");
    if (!at_proposal_config_key_ok(key))
        return at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                           "a config proposal for \"%s\" is not supported yet", key);
    if (!api->reload)
        return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0,
                           "this daemon does not reload its settings (a node agent)");
    const struct at_config *run = atomic_load(&api->config);
    char *dd = api->data_dir ? at_strdup(api->data_dir) : at_config_data_dir(run);
    char *prev = NULL;
    int rc = at_config_approved_set(dd, key, json_object_get(payload, "value"), &prev);
    if (rc) {
        free(dd);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot write %s: %s", AT_CONFIG_APPROVED,
                           at_err_msg(rc));
    }
    json_t *res = api->reload(api->reload_arg);
    if (!json_is_true(json_object_get(res, "ok"))) {
        at_config_approved_restore(dd, prev); /* the failed reload applied nothing */
        rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "the settings refused %s: %s", key,
                         at_json_str(res, "error", "the reload failed"));
        json_decref(res);
        free(dd);
        return rc;
    }
    free(prev);
    free(dd);
    *result =
        json_pack("{s:s,s:O,s:s,s:O,s:O}", "key", key, "value", json_object_get(payload, "value"),
                  "file", AT_CONFIG_APPROVED, "applied", json_object_get(res, "applied"), "restart",
                  json_object_get(res, "restart"));
    json_decref(res);
    return 0;
}

int at_http_approvals_exec(void *arg, const char *kind, const json_t *payload, json_t **result,
                           struct at_diag *d)
{
    const struct at_http_api *api = arg;
    *result = NULL;
    int rc;
    if (!strcmp(kind, "new_agent")) {
        if ((rc = check_digest(payload, d)))
            return rc;
        struct at_reg_result res;
        rc = at_http_register_checked(api, at_json_str(payload, "path", ""),
                                      at_json_str(payload, "name", NULL),
                                      at_json_bool(payload, "force", 0), NULL, &res, d);
        if (rc)
            return rc;
        /* the proposer owns what it registered (docs/security.md) */
        at_http_owner_record_as(api, res.name, at_json_str(payload, "owner", NULL),
                                at_json_str(payload, "owner_id", NULL));
        *result = json_pack("{s:s,s:s,s:s,s:s}", "agent", res.name, "version", res.version,
                            "digest", res.digest, "status", res.status);
        return 0;
    }
    if (!strcmp(kind, "new_skill") || !strcmp(kind, "skill_change")) {
        if (!api->skills)
            return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0, "skills are not running in this daemon");
        int force = !strcmp(kind, "skill_change");
        const json_t *def = json_object_get(payload, "definition");
        if (def)
            return at_skills_register(api->skills, def, force, result, d);
        if ((rc = check_digest(payload, d)))
            return rc;
        return at_skills_register_dir(api->skills, at_json_str(payload, "path", ""),
                                      at_json_str(payload, "version", NULL), force, result, d);
    }
    if (!strcmp(kind, "orchestrator")) {
        if (!api->engine)
            return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0, "the engine is not running");
        return at_http_orchestrator_set(api, at_json_str(payload, "agent", NULL),
                                        at_json_str(payload, "chain", NULL), result, d);
    }
    if (!strcmp(kind, "config"))
        return exec_config(api, payload, result, d);
    return at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                       "executing a %s proposal is not supported yet", kind);
}

int at_http_approvals_gate(struct at_http_req *r, const char *action, const char *kind,
                           const char *title, json_t *payload, const json_t *evidence)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api->approvals || !at_approvals_required(api->approvals, action)) {
        json_decref(payload);
        return 0;
    }
    struct at_diag d;
    at_diag_clear(&d);
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(payload, tmp, key, v)
    {
        if (json_is_null(v))
            json_object_del(payload, key); /* an absent optional member */
    }
    const char *path = at_json_str(payload, "path", NULL);
    if (path && !json_object_get(payload, "digest")) {
        char dg[AT_DIGEST_MAX];
        if (at_snapshot_digest(path, dg, &d)) {
            json_decref(payload);
            at_http_reply_diag(r, &d);
            return 1;
        }
        json_object_set_new(payload, "digest", json_string(dg));
    }
    char reason[300];
    snprintf(reason, sizeof(reason), "approvals.require lists %s", action);
    json_t *filing = json_pack("{s:s,s:s,s:s,s:o,s:O?}", "kind", kind, "title", title, "reason",
                               reason, "payload", payload, "evidence", evidence);
    add_skill_diff(api, filing);
    struct at_ap_actor by = actor_of(r);
    json_t *out = NULL;
    int rc = at_approvals_propose(api->approvals, filing, &by, &out, &d);
    json_decref(filing);
    if (rc) {
        at_http_reply_diag(r, &d);
        return 1;
    }
    char loc[160];
    snprintf(loc, sizeof(loc), AT_HTTP_API "/approvals/%s", at_json_str(out, "id", ""));
    at_http_add_header(r, "Location", loc);
    char msg[300];
    const char *state = at_json_str(out, "state", "pending");
    int pending = !strcmp(state, "pending");
    if (pending)
        snprintf(msg, sizeof(msg), "%s needs approval (approvals.require): proposal %s is pending",
                 action, at_json_str(out, "id", ""));
    else /* an auto-approve rule decided it at once (docs/supervisor.md) */
        snprintf(msg, sizeof(msg),
                 "%s needs approval (approvals.require): proposal %s was approved automatically "
                 "and is %s",
                 action, at_json_str(out, "id", ""), state);
    at_http_reply_json(r, 202,
                       json_pack("{s:s,s:s,s:s,s:s,s:o}", "status",
                                 pending ? "pending_approval" : "auto_approved", "message", msg,
                                 "proposal_id", at_json_str(out, "id", ""), "hash",
                                 at_json_str(out, "hash", ""), "proposal", out));
    return 1;
}

/* GET /api/v1/approvals/rules: the auto-approve rules in force */
static void h_rules(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api->approvals) {
        at_http_reply_problem(r, AT_EUNAVAIL, "approvals are not running in this daemon", NULL,
                              NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:o}", "rules", at_approvals_rules(api->approvals)));
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/approvals", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/approvals/rules", h_rules, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/approvals", h_file, AT_HTTP_NEED_RUN, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", AT_HTTP_API "/approvals/events", h_events, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/approvals/batch", h_batch, AT_HTTP_NEED_ADMIN, AT_HTTP_BLOCKING, 0,
     NULL},
    {"GET", AT_HTTP_API "/approvals/{id}", h_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/approvals/{id}/amend", h_amend, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/approvals/{id}/approve", h_approve, AT_HTTP_NEED_ADMIN, AT_HTTP_BLOCKING,
     0, NULL},
    {"POST", AT_HTTP_API "/approvals/{id}/reject", h_reject, AT_HTTP_NEED_ADMIN, AT_HTTP_BLOCKING,
     0, NULL},
    {"POST", AT_HTTP_API "/approvals/{id}/modify", h_modify, AT_HTTP_NEED_ADMIN, AT_HTTP_BLOCKING,
     0, NULL},
};

int at_http_approvals_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
