/*
 * routes.c - the /api/v1 handlers (docs/api.md).
 */
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sse.h"
#include "base/str.h"
#include "exec/remote.h"
#include "chain/chain.h"
#include "http/app.h"
#include "orch/orch.h"
#include "http/llm_routes.h"
#include "http/mcp_transport.h"
#include "http/monitor_routes.h"
#include "http/server.h"
#include "json/json.h"
#include "llm/gateway.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>

#define API "/api/v1"

static struct at_engine *engine_of(struct at_http_req *r)
{
    return __atomic_load_n(&r->app->engine, __ATOMIC_ACQUIRE);
}

/* Parse the request body as a JSON object (an empty body is {} when
 * allow_empty).  Answers the request and returns non-zero on failure. */
static int body_json(struct at_http_req *r, int allow_empty, json_t **out)
{
    if (r->body.len == 0 && allow_empty) {
        *out = json_object();
        return 0;
    }
    struct at_diag d;
    at_diag_clear(&d);
    json_t *v;
    if (at_json_parse(r->body.p ? r->body.p : "", r->body.len, 0, &v, &d)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "the request body is not valid JSON: %s (line %d, column %d)",
                 d.msg, d.line, d.col);
        at_http_reply_problem(r, AT_EPARSE, msg, NULL, NULL);
        return -1;
    }
    *out = v;
    return 0;
}

static int query_int(struct at_http_req *r, const char *name, long long min, long long max,
                     long long dflt, long long *out)
{
    const char *v = at_http_query(r, name);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    if (at_parse_i64(v, min, max, out)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "query parameter %s must be an integer between %lld and %lld",
                 name, min, max);
        at_http_reply_problem(r, AT_EINVAL, msg, NULL, NULL);
        return -1;
    }
    return 0;
}

/* ---- health ---- */

static void h_health(struct at_http_req *r)
{
    struct at_engine *e = engine_of(r);
    char ts[40];
    json_t *j = json_object();
    json_object_set_new(j, "status", json_string(e ? "ok" : "starting"));
    json_object_set_new(j, "version", json_string(ATLAS_VERSION));
    json_object_set_new(j, "started_at",
                        json_string(at_time_iso8601(r->app->started_ms, ts, sizeof(ts))));
    json_object_set_new(j, "uptime_s",
                        json_real((double)(at_wall_ms() - r->app->started_ms) / 1000.0));
    json_object_set_new(j, "pid", json_integer(getpid()));
    json_object_set_new(j, "data_dir", json_string(r->app->data_dir));
    json_object_set_new(j, "store", json_string(r->app->store->ops->name));
    json_object_set_new(j, "agents", json_integer((json_int_t)at_registry_count(r->app->registry)));
    if (e) {
        json_t *stats = at_engine_stats_json(e);
        json_object_set_new(stats, "breakers", at_engine_breakers_json(e));
        json_object_set_new(j, "engine", stats);
    }
    struct at_writer_stats ws;
    at_writer_get_stats(r->app->writer, &ws);
    json_object_set_new(j, "store_writer",
                        json_pack("{s:I,s:I,s:I,s:I}", "writes", (json_int_t)ws.writes, "commits",
                                  (json_int_t)ws.commits, "failures", (json_int_t)ws.failures,
                                  "pending", (json_int_t)ws.pending));
    at_http_reply_json(r, e ? 200 : 503, j);
}

/* ---- agents ---- */

static void h_agents_list(struct at_http_req *r)
{
    const char *name = at_http_query(r, "name");
    json_t *list = at_registry_list_json(r->app->registry, name && *name ? name : NULL);
    at_http_reply_json(r, 200, json_pack("{s:o}", "agents", list));
}

static void h_search(struct at_http_req *r)
{
    const char *q = at_http_query(r, "q");
    if (!q || !*q) {
        at_http_reply_problem(r, AT_EINVAL, "query parameter q (the text to search) is required",
                              NULL, NULL);
        return;
    }
    at_http_reply_json(
        r, 200,
        json_pack("{s:s,s:o}", "query", q, "agents", at_registry_search_json(r->app->registry, q)));
}

static void h_agent_get(struct at_http_req *r, const char *ref)
{
    struct at_reg_agent *a;
    int rc = at_registry_resolve(r->app->registry, ref, &a);
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof(msg), "no agent \"%s\" is registered", ref);
        at_http_reply_problem(r, rc == AT_EINVAL ? AT_EINVAL : AT_ENOENT, msg, NULL, NULL);
        return;
    }
    json_t *j = at_reg_agent_to_json(a, 1);
    /* every version of this name, newest first */
    json_t *all = at_registry_list_json(r->app->registry, a->contract->name);
    json_t *versions = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) json_array_append(versions, json_object_get(v, "version"));
    json_decref(all);
    json_object_set_new(j, "versions", versions);
    at_reg_agent_unref(a);
    at_http_reply_json(r, 200, j);
}

static void h_agent_delete(struct at_http_req *r, const char *ref)
{
    int count = 0;
    int rc = at_registry_unregister(r->app->registry, ref, &count);
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof(msg), "no agent \"%s\" is registered", ref);
        at_http_reply_problem(r, rc == AT_EINVAL ? AT_EINVAL : AT_ENOENT, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:s,s:i}", "unregistered", ref, "versions", count));
}

static void h_agents_register(struct at_http_req *r)
{
    json_t *body;
    if (body_json(r, 0, &body))
        return;
    const char *path = at_json_str(body, "path", NULL);
    const char *remote = at_json_str(body, "remote", NULL);
    const char *name = at_json_str(body, "name", NULL);
    const char *tool = at_json_str(body, "tool", NULL);
    int force = at_json_bool(body, "force", 0);
    struct at_diag d;
    at_diag_clear(&d);
    struct at_reg_result res;
    int rc;
    if (!json_is_object(body) || (!path == !remote)) {
        at_http_reply_problem(r, AT_EINVAL,
                              "the body must be {\"path\": \"/abs/dir\"} or {\"remote\": URL, "
                              "\"name\": NAME} (plus optional name, tool, force)",
                              NULL, NULL);
        json_decref(body);
        return;
    }
    if (path) {
        rc = at_registry_register_dir(r->app->registry, path, name, force, &res, &d);
    } else {
        if (!name) {
            at_http_reply_problem(r, AT_EINVAL, "a remote agent needs a name", "/name", NULL);
            json_decref(body);
            return;
        }
        if (!at_agent_name_valid(name)) {
            char msg[200];
            snprintf(msg, sizeof(msg), "\"%s\" is not a valid agent name", name);
            at_http_reply_problem(r, AT_EINVAL, msg, "/name", NULL);
            json_decref(body);
            return;
        }
        struct at_contract *c = NULL;
        rc = at_remote_describe(remote, name, tool,
                                (int)(r->app->config->exec.timeout_startup * 1000), &c, &d);
        if (!rc) {
            rc = at_registry_register_remote(r->app->registry, c, force, &res, &d);
            at_contract_unref(c);
        }
    }
    json_decref(body);
    if (rc) {
        at_http_reply_diag(r, &d);
        return;
    }
    struct at_reg_agent *a;
    char ref[300];
    snprintf(ref, sizeof(ref), "%s:%s", res.name, res.version);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "name", res.name, "version", res.version, "digest",
                          res.digest, "status", res.status);
    if (at_registry_resolve(r->app->registry, ref, &a) == 0) {
        json_object_set_new(j, "agent", at_reg_agent_to_json(a, 0));
        at_reg_agent_unref(a);
    }
    at_http_reply_json(r, strcmp(res.status, "unchanged") == 0 ? 200 : 201, j);
}

/* ---- runs ---- */

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
    snprintf(inst, sizeof(inst), API "/jobs/%s", rec->id);
    json_object_set_new(p, "instance", json_string(inst));
    return p;
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
                req, 500,
                at_http_problem(AT_EIO, "the job's result could not be written to the store",
                                NULL));
        } else if (rec->state == AT_JOB_COMPLETED) {
            at_http_complete_json(req, 200, json_incref(rec->output));
        } else {
            json_t *p = problem_from_job(rec);
            int status = (int)json_integer_value(json_object_get(p, "status"));
            at_http_complete_problem(req, status ? status : 500, p);
        }
    }
    at_http_wait_unlock(&w->hw, 1);
    at_http_wait_unref(&w->hw);
}

static void on_run_accepted(const char *job_id, int store_rc, void *arg)
{
    struct run_wait *w = arg;
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    int answer = req && w->async;
    if (answer) {
        if (store_rc) {
            at_http_complete_problem(
                req, 500,
                at_http_problem(AT_EIO, "the job could not be written to the store", NULL));
        } else {
            char loc[128];
            snprintf(loc, sizeof(loc), API "/jobs/%s", job_id);
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

/* Run an agent (ref) or a chain (chain): sync, or async with Prefer. */
static void run_target(struct at_http_req *r, const char *ref, const char *chain, json_t *input);

static void h_run(struct at_http_req *r, const char *ref)
{
    json_t *input;
    if (body_json(r, 1, &input))
        return;
    run_target(r, ref, NULL, input);
    json_decref(input);
}

static void h_chain_run(struct at_http_req *r, const char *name)
{
    json_t *input;
    if (body_json(r, 1, &input))
        return;
    run_target(r, NULL, name, input);
    json_decref(input);
}

/* What a run needs once the request is suspended (routing may decide on
 * another thread, after the handler returned). */
struct run_args {
    struct at_engine *e;
    int priority;
    const char *source; /* static */
    json_t *decisions;  /* routing's, or NULL */
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
    };
    struct at_diag d;
    at_diag_clear(&d);
    if (at_engine_submit(a->e, &s, NULL, &d)) {
        atomic_fetch_sub(&w->hw.refs, 2); /* neither callback will run */
        req = at_http_wait_lock(&w->hw);
        if (req) {
            int code = d.code ? d.code : AT_EINTERNAL;
            at_http_complete_problem(req, at_err_http(code),
                                     at_http_problem(code, d.msg, d.pointer[0] ? d.pointer : NULL));
        }
        at_http_wait_unlock(&w->hw, 1);
    }
    at_http_wait_unref(&w->hw);
}

static int run_args_init(struct at_http_req *r, struct run_args *a)
{
    a->e = engine_of(r);
    if (!a->e) {
        at_http_reply_problem(r, AT_ESTATE, "the daemon is still starting", NULL, NULL);
        return -1;
    }
    long long priority;
    if (query_int(r, "priority", -1000000, 1000000, 0, &priority))
        return -1;
    a->priority = (int)priority;
    const char *src = at_http_header(r, "Atlas-Source");
    a->source = src && strcmp(src, "cli") == 0 ? "cli" : "http";
    a->decisions = NULL;
    return 0;
}

static void run_target(struct at_http_req *r, const char *ref, const char *chain, json_t *input)
{
    struct run_args a;
    if (run_args_init(r, &a))
        return;
    start_run(run_wait_start(r), &a, ref, chain, input, NULL);
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

/* POST /api/v1/run {"input": {...}, "hint"?: "..."}: the orchestrator
 * routes an input that names no agent: the agents whose input schemas
 * accept it, ranked by fields, capabilities and description (rule-based);
 * with a model gateway and more than one candidate, a model (tier fast)
 * picks among them. */
static void h_route(struct at_http_req *r)
{
    json_t *body;
    if (body_json(r, 0, &body))
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
    if (at_orch_route(r->app->registry, input, hint, &agent, decisions, &candidates, &d)) {
        at_http_reply_problem(r, d.code, d.msg, NULL, json_pack("{s:o}", "decisions", decisions));
        json_decref(candidates);
        json_decref(body);
        return;
    }
    a.decisions = decisions;
    struct run_wait *w = run_wait_start(r);
    struct at_llm *g = at_http_llm_gateway(r->app);
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

static void method_not_allowed(struct at_http_req *r, const char *allow);

/* ---- chains ---- */

static void h_chains_list(struct at_http_req *r)
{
    at_http_reply_json(
        r, 200, json_pack("{s:o}", "chains", at_registry_chains_json(r->app->registry, NULL, 0)));
}

/* POST /api/v1/chains {"file": name for messages, "yaml": text} */
static void h_chains_register(struct at_http_req *r)
{
    json_t *body;
    if (body_json(r, 0, &body))
        return;
    const char *text = at_json_str(body, "yaml", NULL);
    const char *file = at_json_str(body, "file", "chain.yaml");
    if (!text) {
        at_http_reply_problem(r, AT_EINVAL, "the body must be {\"yaml\": TEXT, \"file\"?: NAME}",
                              "/yaml", NULL);
        json_decref(body);
        return;
    }
    struct at_reg_result res;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_registry_chain_register(r->app->registry, file, text, strlen(text), &res, &d);
    json_decref(body);
    if (rc) {
        at_http_reply_diag(r, &d);
        return;
    }
    json_t *all = at_registry_chains_json(r->app->registry, res.name, 0);
    json_t *j = json_pack("{s:s,s:s,s:s,s:O}", "name", res.name, "digest", res.digest, "status",
                          res.status, "chain", json_array_get(all, 0));
    json_decref(all);
    at_http_reply_json(r, strcmp(res.status, "unchanged") == 0 ? 200 : 201, j);
}

static void h_chain_get(struct at_http_req *r, const char *name)
{
    json_t *all = at_registry_chains_json(r->app->registry, name, 1);
    if (json_array_size(all) == 0) {
        json_decref(all);
        char msg[300];
        snprintf(msg, sizeof(msg), "no chain \"%s\" is registered", name);
        at_http_reply_problem(r, AT_ENOENT, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_incref(json_array_get(all, 0)));
    json_decref(all);
}

static void h_chain_delete(struct at_http_req *r, const char *name)
{
    if (at_registry_chain_delete(r->app->registry, name)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "no chain \"%s\" is registered", name);
        at_http_reply_problem(r, AT_ENOENT, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:s}", "unregistered", name));
}

/* ---- the orchestrator slot ---- */

static void h_orchestrator(struct at_http_req *r, int get, int put, int del)
{
    struct at_engine *e = engine_of(r);
    if (!e) {
        at_http_reply_problem(r, AT_ESTATE, "the daemon is still starting", NULL, NULL);
        return;
    }
    if (put) {
        json_t *body;
        if (body_json(r, 0, &body))
            return;
        const char *agent = at_json_str(body, "agent", NULL);
        const char *chain = at_json_str(body, "chain", NULL);
        struct at_reg_agent *a = NULL;
        if (!agent || at_registry_resolve(r->app->registry, agent, &a)) {
            char msg[300];
            snprintf(msg, sizeof(msg), "no agent \"%s\" is registered", agent ? agent : "");
            at_http_reply_problem(r, agent ? AT_ENOENT : AT_EINVAL, msg, "/agent", NULL);
            json_decref(body);
            return;
        }
        int is_orch = strcmp(a->contract->type, "orchestrator") == 0;
        at_reg_agent_unref(a);
        if (!is_orch) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "agent \"%s\" is not an orchestrator (its contract "
                     "needs type: orchestrator)",
                     agent);
            at_http_reply_problem(r, AT_EINVAL, msg, "/agent", NULL);
            json_decref(body);
            return;
        }
        if (chain) {
            struct at_chain *c;
            if (at_registry_chain_get(r->app->registry, chain, &c)) {
                char msg[300];
                snprintf(msg, sizeof(msg), "no chain \"%s\" is registered", chain);
                at_http_reply_problem(r, AT_ENOENT, msg, "/chain", NULL);
                json_decref(body);
                return;
            }
            at_chain_unref(c);
        }
        at_engine_set_orchestrator(e, agent, chain);
        json_decref(body);
    } else if (del) {
        const char *chain = at_http_query(r, "chain");
        at_engine_set_orchestrator(e, NULL, chain && *chain ? chain : NULL);
    } else if (!get) {
        method_not_allowed(r, "GET, PUT, DELETE");
        return;
    }
    json_t *o = at_engine_orchestrator_json(e);
    if (put || del) { /* persisted so a restart keeps the slot */
        char *text = at_json_dumps(o);
        at_store_call(r->app->store, kv_put, "orchestrator", text);
        free(text);
    }
    at_http_reply_json(r, 200, o);
}

/* ---- jobs ---- */

static void h_jobs_list(struct at_http_req *r)
{
    struct at_job_filter f = {.state = -1};
    const char *state = at_http_query(r, "state");
    if (state && *state) {
        f.state = at_job_state_parse(state);
        if (f.state < 0) {
            at_http_reply_problem(r, AT_EINVAL,
                                  "state must be one of queued, running, completed, failed, "
                                  "cancelled",
                                  NULL, NULL);
            return;
        }
    }
    f.agent = at_http_query(r, "agent");
    if (f.agent && !*f.agent)
        f.agent = NULL;
    f.parent = at_http_query(r, "parent");
    if (f.parent && !*f.parent)
        f.parent = NULL;
    long long limit, before;
    if (query_int(r, "limit", 1, 1000, 50, &limit) ||
        query_int(r, "before", 0, (long long)1 << 62, 0, &before))
        return;
    f.limit = (int)limit;
    f.before_seq = before;
    const char *since = at_http_query(r, "since");
    if (since && *since && at_time_parse_iso8601(since, &f.since_ms)) {
        at_http_reply_problem(r, AT_EINVAL, "since must be an RFC 3339 time", NULL, NULL);
        return;
    }
    struct at_job_rec *recs;
    size_t n;
    int rc = at_store_call(r->app->store, job_list, &f, &recs, &n);
    if (rc) {
        at_http_reply_problem(r, rc, "cannot read jobs from the store", NULL, NULL);
        return;
    }
    json_t *arr = json_array();
    int full = at_http_query(r, "full") != NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *j = at_job_rec_to_json(&recs[i]);
        if (!full) {
            json_object_del(j, "input");
            json_object_del(j, "output");
        }
        json_array_append_new(arr, j);
    }
    json_t *out = json_pack("{s:o}", "jobs", arr);
    if (n == (size_t)f.limit)
        json_object_set_new(out, "next_before", json_integer(recs[n - 1].seq));
    at_job_recs_free(recs, n);
    at_http_reply_json(r, 200, out);
}

static void h_job_get(struct at_http_req *r, const char *id)
{
    struct at_job_rec rec;
    int rc = at_store_call(r->app->store, job_get, id, &rec);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job \"%s\"", id);
        at_http_reply_problem(r, rc == AT_ENOENT ? AT_ENOENT : rc, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, at_job_rec_to_json(&rec));
    at_job_rec_release(&rec);
}

static void h_job_cancel(struct at_http_req *r, const char *id)
{
    struct at_job_rec rec;
    int rc = at_store_call(r->app->store, job_get, id, &rec);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job \"%s\"", id);
        at_http_reply_problem(r, AT_ENOENT, msg, NULL, NULL);
        return;
    }
    if (at_job_state_final(rec.state)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "job %s is already %s", id, at_job_state_name(rec.state));
        at_http_reply_problem(r, AT_ESTATE, msg, NULL,
                              json_pack("{s:s}", "state", at_job_state_name(rec.state)));
        at_job_rec_release(&rec);
        return;
    }
    at_job_rec_release(&rec);
    json_t *body = NULL;
    const char *reason = "cancelled by request";
    if (r->body.len && body_json(r, 1, &body) == 0)
        reason = at_json_str(body, "reason", reason);
    else if (r->body.len)
        return; /* body_json answered */
    at_engine_cancel(engine_of(r), id, reason);
    json_decref(body);
    at_http_reply_json(r, 202, json_pack("{s:s,s:s}", "job", id, "state", "cancelling"));
}

/* GET /api/v1/jobs/ID/events: Server-Sent Events of a job (state,
 * progress, log), ending with "end".  A finished job gets its final state
 * and "end" at once. */
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

static void h_job_events(struct at_http_req *r, const char *id)
{
    struct at_engine *e = engine_of(r);
    struct at_job_rec rec;
    int rc = at_store_call(r->app->store, job_get, id, &rec);
    if (rc || !e) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job \"%s\"", id);
        at_http_reply_problem(r, e ? AT_ENOENT : AT_ESTATE, msg, NULL, NULL);
        if (!rc)
            at_job_rec_release(&rec);
        return;
    }
    struct job_sse *c = at_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 2);
    c->e = e;
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->stream = at_http_stream_start(r, 200, "text/event-stream", 0, job_sse_closed, c);
    at_http_stream_set_sse(c->stream);
    if (at_job_state_final(rec.state)) {
        json_t *d = at_job_rec_to_json(&rec);
        sse_send(c->stream, &c->seq, "state", d);
        json_decref(d);
        job_sse_event(id, "end", NULL, c);
    } else {
        at_engine_watch(e, id, job_sse_event, c);
    }
    at_job_rec_release(&rec);
}

/* ---- routing ---- */

static int ends_with(const char *s, const char *suffix, size_t *prefix_len)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (n <= m || strcmp(s + n - m, suffix) != 0)
        return 0;
    *prefix_len = n - m;
    return 1;
}

static void method_not_allowed(struct at_http_req *r, const char *allow)
{
    at_http_add_header(r, "Allow", allow);
    char msg[128];
    snprintf(msg, sizeof(msg), "%s is not allowed here (allowed: %s)", r->method, allow);
    json_t *p = at_http_problem(AT_EINVAL, msg, NULL);
    json_object_set_new(p, "status", json_integer(405));
    json_object_set_new(p, "type", json_string("urn:atlas:error:method-not-allowed"));
    char *s = at_json_dumps(p);
    json_decref(p);
    at_http_reply_text(r, 405, "application/problem+json", s, strlen(s));
    free(s);
}

void at_http_route(struct at_http_req *r)
{
    const char *p = r->path;
    const char *m = r->method;
    int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    int post = strcmp(m, "POST") == 0;
    int del = strcmp(m, "DELETE") == 0;

    if (strcmp(p, "/mcp") == 0 || strncmp(p, "/mcp/", 5) == 0) {
        at_http_mcp(r);
        return;
    }
    if (strncmp(p, "/v1/", 4) == 0) {
        at_http_llm(r);
        return;
    }
    if (at_http_monitor_route(r)) /* /metrics, traces, costs, evals, job logs */
        return;
    if (strcmp(p, "/") == 0 && get) {
        at_http_reply_json(r, 200,
                           json_pack("{s:s,s:s,s:s,s:s}", "name", "atlasd", "version",
                                     ATLAS_VERSION, "api", API, "health", API "/health"));
        return;
    }
    if (strncmp(p, API "/", sizeof(API)) != 0) {
        at_http_reply_problem(r, AT_ENOENT, "no such endpoint", NULL, NULL);
        return;
    }
    const char *rest = p + sizeof(API); /* after "/api/v1/" */
    size_t plen;

    if (strcmp(rest, "health") == 0) {
        get ? h_health(r) : method_not_allowed(r, "GET");
        return;
    }
    if (strcmp(rest, "search") == 0) {
        get ? h_search(r) : method_not_allowed(r, "GET");
        return;
    }
    if (strcmp(rest, "agents") == 0) {
        if (get)
            h_agents_list(r);
        else if (post)
            h_agents_register(r);
        else
            method_not_allowed(r, "GET, POST");
        return;
    }
    if (strncmp(rest, "agents/", 7) == 0) {
        const char *ref = rest + 7;
        if (ends_with(ref, "/run", &plen)) {
            char *name = at_strndup(ref, plen);
            post ? h_run(r, name) : method_not_allowed(r, "POST");
            free(name);
            return;
        }
        if (get)
            h_agent_get(r, ref);
        else if (del)
            h_agent_delete(r, ref);
        else
            method_not_allowed(r, "GET, DELETE");
        return;
    }
    if (strcmp(rest, "jobs") == 0) {
        get ? h_jobs_list(r) : method_not_allowed(r, "GET");
        return;
    }
    if (strcmp(rest, "run") == 0) {
        post ? h_route(r) : method_not_allowed(r, "POST");
        return;
    }
    if (strcmp(rest, "orchestrator") == 0) {
        h_orchestrator(r, get, strcmp(m, "PUT") == 0 || post, del);
        return;
    }
    if (strcmp(rest, "chains") == 0) {
        if (get)
            h_chains_list(r);
        else if (post)
            h_chains_register(r);
        else
            method_not_allowed(r, "GET, POST");
        return;
    }
    if (strncmp(rest, "chains/", 7) == 0) {
        const char *name = rest + 7;
        if (ends_with(name, "/run", &plen)) {
            char *n = at_strndup(name, plen);
            post ? h_chain_run(r, n) : method_not_allowed(r, "POST");
            free(n);
            return;
        }
        if (get)
            h_chain_get(r, name);
        else if (del)
            h_chain_delete(r, name);
        else
            method_not_allowed(r, "GET, DELETE");
        return;
    }
    if (strncmp(rest, "jobs/", 5) == 0) {
        const char *id = rest + 5;
        if (ends_with(id, "/events", &plen)) {
            char *jid = at_strndup(id, plen);
            get ? h_job_events(r, jid) : method_not_allowed(r, "GET");
            free(jid);
            return;
        }
        if (ends_with(id, "/cancel", &plen)) {
            char *jid = at_strndup(id, plen);
            post ? h_job_cancel(r, jid) : method_not_allowed(r, "POST");
            free(jid);
            return;
        }
        if (strchr(id, '/')) {
            at_http_reply_problem(r, AT_ENOENT, "no such endpoint", NULL, NULL);
            return;
        }
        if (get)
            h_job_get(r, id);
        else if (del)
            h_job_cancel(r, id);
        else
            method_not_allowed(r, "GET, DELETE");
        return;
    }
    at_http_reply_problem(r, AT_ENOENT, "no such endpoint", NULL, NULL);
}
