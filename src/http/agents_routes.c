/*
 * agents_routes.c - the registry's agents (docs/api.md "Agents").
 *
 * Registration reads a directory, parses agent.yaml, runs the agent's
 * Python to check dependencies.python, snapshots the directory (or asks a
 * remote MCP server for its tools): seconds of work on hostile input, so
 * it is AT_HTTP_BLOCKING and runs on the server's blocking workers.
 */
#include "http/api.h"
#include "http/auth.h"
#include "supervisor/approvals.h"

#include "base/err.h"
#include "base/str.h"
#include "dist/scan.h"
#include "dist/trust.h"
#include "exec/remote.h"
#include "registry/snapshot.h"
#include "json/json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void reply_no_agent(struct at_http_req *r, int rc, const char *ref)
{
    char msg[400];
    /* "no agent ...", or why not: only pre-releases, no such version */
    at_registry_explain_missing(at_http_api_of(r)->registry, ref, msg, sizeof(msg));
    at_http_reply_problem(r, rc == AT_EINVAL ? AT_EINVAL : AT_ENOENT, msg, NULL, NULL);
}

static void h_list(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *list = at_registry_list_json(api->registry, at_http_query_str(r, "name"));
    at_http_agents_filter(r, list, "name");
    at_http_reply_json(r, 200, json_pack("{s:o}", "agents", list));
}

static void h_search(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *q = at_http_query(r, "q");
    if (!q || !*q) {
        at_http_reply_problem(r, AT_EINVAL, "query parameter q (the text to search) is required",
                              NULL, NULL);
        return;
    }
    at_http_reply_json(
        r, 200,
        json_pack("{s:s,s:o}", "query", q, "agents", at_registry_search_json(api->registry, q)));
}

static void h_get(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *ref = at_http_param(r, "ref");
    struct at_reg_agent *a;
    int rc = at_registry_resolve(api->registry, ref, &a);
    if (rc) {
        reply_no_agent(r, rc, ref);
        return;
    }
    json_t *j = at_reg_agent_to_json(a, 1);
    /* every version of this name, newest first */
    json_t *all = at_registry_list_json(api->registry, a->contract->name);
    json_t *versions = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) json_array_append(versions, json_object_get(v, "version"));
    json_decref(all);
    json_object_set_new(j, "versions", versions);
    /* provenance (docs/distribution.md "Trust and policy") */
    json_object_set_new(j, "trust", at_dist_trust_view(api->data_dir, a->digest));
    json_object_set_new(j, "owner", at_http_owner_json(api, a->contract->name));
    at_reg_agent_unref(a);
    at_http_reply_json(r, 200, j);
}

static void h_delete(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *ref = at_http_param(r, "ref");
    int count = 0;
    struct at_diag od;
    at_diag_clear(&od);
    if (at_http_owner_check(r, ref, NULL, &od)) {
        at_http_reply_diag(r, &od);
        return;
    }
    int rc = at_registry_unregister(api->registry, ref, &count);
    if (rc == 0)
        at_http_owner_forget(r, ref);
    if (rc == AT_ENOENT || rc == AT_EINVAL) {
        reply_no_agent(r, rc, ref);
        return;
    }
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof(msg), "cannot unregister \"%s\": %s", ref, at_err_msg(rc));
        at_http_reply_problem(r, rc, msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:s,s:i}", "unregistered", ref, "versions", count));
}

/* POST /api/v1/agents/NAME/transfer {"to": TOKEN_NAME}: a new owner
 * (docs/security.md "Ownership of agents"). */
static void h_transfer(struct at_http_req *r)
{
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    if (at_http_owner_transfer(r, at_http_param(r, "ref"), at_json_str(body, "to", NULL), &out,
                               &d) != 0)
        at_http_reply_diag(r, &d);
    else
        at_http_reply_json(r, 200, out);
    json_decref(body);
}

/* The built-in scan of what was registered, into its trust record. */
static void scan_into(const struct at_http_api *api, const struct at_reg_result *res, json_t *rec)
{
    char ref[300];
    struct at_reg_agent *a;
    snprintf(ref, sizeof(ref), "%s:%s", res->name, res->version);
    if (at_registry_resolve(api->registry, ref, &a))
        return;
    json_t *scan = at_dist_scan(a->dir, a->contract->json);
    at_reg_agent_unref(a);
    json_object_update(rec, scan);
    json_decref(scan);
}

int at_http_register_checked(const struct at_http_api *api, const char *path, const char *name,
                             int force, const json_t *artifact, struct at_reg_result *res,
                             struct at_diag *d)
{
    const json_t *policy =
        json_object_get(json_object_get(api->config->json, "registry"), "policy");
    json_t *trust = NULL;
    char content[AT_DIGEST_MAX] = "";
    json_t *keys = at_dist_trust_keys(api->data_dir);
    /* the content digest is needed to check an artifact against, and for
     * the reviews recorded of this content */
    int need = artifact || at_dist_review_rank(json_string_value(
                               json_object_get(policy, "minimum_review_status"))) > 0;
    int rc = need ? at_snapshot_digest(path, content, d) : 0;
    if (!rc)
        rc = at_dist_artifact_trust(artifact, content, keys, &trust, d);
    json_decref(keys);
    if (!rc) {
        json_t *view = at_dist_trust_combine(api->data_dir, content, trust);
        const char *src = json_string_value(json_object_get(artifact, "source"));
        rc = at_dist_policy_check(policy, view, name ? name : src ? src : path, d);
        json_decref(view);
    }
    if (!rc)
        rc = at_registry_register_dir(api->registry, path, name, force, res, d);
    if (!rc && artifact && strcmp(res->digest, content) != 0) {
        /* the directory changed between the check and the snapshot */
        if (!strcmp(res->status, "created")) {
            char ref[300];
            int n = 0;
            snprintf(ref, sizeof(ref), "%s:%s", res->name, res->version);
            at_registry_unregister(api->registry, ref, &n);
        }
        rc = at_diag_set(d, AT_EINVAL, path, 0, 0,
                         "the directory changed while it was registered (%s, checked %s)",
                         res->digest, content);
    }
    json_t *kept = rc ? NULL : at_dist_trust_lookup(api->data_dir, res->digest);
    if (!rc) {
        json_t *rec = artifact || !kept ? trust : kept;
        scan_into(api, res, rec);
        at_dist_trust_record(api->data_dir, res->digest, rec);
    }
    json_decref(kept);
    json_decref(trust);
    return rc;
}

/* An agent directory is untrusted unless an artifact's signature on its
 * exact content verifies with a trusted key (docs/distribution.md). */
static int untrusted(const struct at_http_api *api, const char *path, const json_t *artifact)
{
    if (!path || !artifact)
        return 1;
    struct at_diag d;
    at_diag_clear(&d);
    char content[AT_DIGEST_MAX] = "";
    json_t *keys = at_dist_trust_keys(api->data_dir);
    json_t *trust = NULL;
    int rc = at_snapshot_digest(path, content, &d);
    if (!rc)
        rc = at_dist_artifact_trust(artifact, content, keys, &trust, &d);
    int ok = !rc && at_json_bool(trust, "verified", 0);
    json_decref(keys);
    json_decref(trust);
    return !ok;
}

/* POST /api/v1/agents (a blocking worker) */
static void h_register(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    const char *path = at_json_str(body, "path", NULL);
    const char *remote = at_json_str(body, "remote", NULL);
    const char *name = at_json_str(body, "name", NULL);
    const char *tool = at_json_str(body, "tool", NULL);
    int force = at_json_bool(body, "force", 0);
    int trust_platform = at_json_bool(body, "trust_platform", 0);
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
    if (json_object_get(body, "auth") && !remote) {
        at_http_reply_problem(r, AT_EINVAL, "auth (a server's credentials) goes with remote",
                              "/auth", NULL);
        json_decref(body);
        return;
    }
    /* a developer changes only its own agents */
    if (at_http_owner_check(r, remote ? name : NULL, path, &d)) {
        at_http_reply_diag(r, &d);
        json_decref(body);
        return;
    }
    /* registry.policy, and the trust the artifact of a pull proves */
    const json_t *policy =
        json_object_get(json_object_get(api->config->json, "registry"), "policy");
    const json_t *artifact = json_object_get(body, "artifact");
    json_t *trust = NULL;
    if (path || remote) {
        /* approvals.require (docs/supervisor.md): a proposal instead */
        const char *gate = at_approvals_required(api->approvals, "agent_register")
                               ? "agent_register"
                           : at_approvals_required(api->approvals, "register_untrusted") &&
                                   untrusted(api, path, artifact)
                               ? "register_untrusted"
                               : NULL;
        if (gate && remote) {
            at_http_reply_problem(r, AT_EUNSUPPORTED,
                                  "registering a remote agent behind approvals is not supported "
                                  "yet (approvals.require lists it)",
                                  "/remote", NULL);
            json_decref(body);
            return;
        }
        if (gate) {
            char title[600];
            snprintf(title, sizeof(title), "register the agent in %.200s", path);
            const char *oid = at_http_owner_token(r);
            json_t *payload =
                json_pack("{s:s,s:s?,s:b,s:s,s:s*}", "path", path, "name", name, "force", force,
                          "owner", r->who[0] ? r->who : "local", "owner_id", oid);
            json_t *ev = json_pack("{s:{s:s,s:b}}", "impact", "action", "register an agent",
                                   "trusted", !untrusted(api, path, artifact));
            /* the capabilities it would get, in the sandbox's terms */
            struct at_contract *ct = NULL;
            struct at_diag cd;
            at_diag_clear(&cd);
            if (at_contract_load_dir(path, &ct, &cd) == 0) {
                json_t *imp = json_object_get(ev, "impact");
                json_object_set_new(imp, "agent",
                                    json_pack("{s:s?,s:s?}", "name",
                                              at_json_str(ct->json, "name", NULL), "version",
                                              at_json_str(ct->json, "version", NULL)));
                json_t *req = json_object_get(ct->json, "requires");
                json_object_set_new(imp, "requires", req ? json_deep_copy(req) : json_object());
                at_http_impact_add(api, at_json_str(ct->json, "name", NULL), imp);
                at_contract_unref(ct);
            }
            at_http_approvals_gate(r, gate, "new_agent", title, payload, ev);
            json_decref(ev);
            json_decref(body);
            return;
        }
    }
    if (path) {
        rc = at_http_register_checked(api, path, name, force, artifact, &res, &d);
    } else if ((rc = at_dist_artifact_trust(NULL, "", NULL, &trust, &d)) != 0 ||
               (rc = at_dist_policy_check(policy, trust, name ? name : remote, &d)) != 0) {
        json_decref(trust);
    } else {
        json_decref(trust);
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
        struct at_remote_opts ro = {
            .url = remote,
            .name = name,
            .tool = tool,
            .timeout_ms = (int)(api->config->exec.timeout_startup * 1000),
            .trust_platform = trust_platform,
            .auth = json_object_get(body, "auth"),
            .secrets = api->security ? api->security->secrets : NULL,
        };
        rc = at_remote_describe(&ro, &c, &d);
        if (!rc) {
            rc = at_registry_register_remote(api->registry, c, force, &res, &d);
            at_contract_unref(c);
        }
    }
    json_decref(body);
    if (rc) {
        at_http_reply_diag(r, &d);
        return;
    }
    at_http_owner_record(r, res.name);
    struct at_reg_agent *a;
    char ref[300];
    snprintf(ref, sizeof(ref), "%s:%s", res.name, res.version);
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:s,s:o}", "name", res.name, "version", res.version, "digest",
                  res.digest, "status", res.status, "warnings", at_reg_result_warnings_json(&res));
    if (at_registry_resolve(api->registry, ref, &a) == 0) {
        json_object_set_new(j, "agent", at_reg_agent_to_json(a, 0));
        /* the dependency build, with its steps (registry/build.h) */
        json_object_set_new(j, "build", a->build ? json_deep_copy(a->build) : json_null());
        at_reg_agent_unref(a);
    }
    json_object_set_new(
        j, "trust", res.digest[0] ? at_dist_trust_view(api->data_dir, res.digest) : json_null());
    json_object_set_new(j, "owner", at_http_owner_json(api, res.name));
    at_http_reply_json(r, strcmp(res.status, "unchanged") == 0 ? 200 : 201, j);
}

/* The local agent a ref names, or a reply. */
static struct at_reg_agent *local_agent(struct at_http_req *r, const char *ref)
{
    struct at_reg_agent *a;
    int rc = at_registry_resolve(at_http_api_of(r)->registry, ref, &a);
    if (rc) {
        reply_no_agent(r, rc, ref);
        return NULL;
    }
    if (!a->digest || !a->digest[0]) {
        at_reg_agent_unref(a);
        at_http_reply_problem(r, AT_EUNSUPPORTED,
                              "not supported yet: a remote agent has no content to review or rate",
                              NULL, NULL);
        return NULL;
    }
    return a;
}

/* POST /api/v1/agents/{ref}/review {"status", "note"} (the review action:
 * admin and reviewer) */
static void h_review(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_reg_agent *a = local_agent(r, at_http_param(r, "ref"));
    if (!a) {
        json_decref(body);
        return;
    }
    struct at_diag d;
    at_diag_clear(&d);
    const char *status = at_json_str(body, "status", NULL);
    const char *note = at_json_str(body, "note", NULL);
    int rc =
        at_dist_review_set(api->data_dir, a->digest, status, note, r->who[0] ? r->who : NULL, &d);
    if (rc) {
        at_reg_agent_unref(a);
        json_decref(body);
        at_http_reply_diag(r, &d);
        return;
    }
    char detail[400];
    snprintf(detail, sizeof(detail), "%s:%s %s review_status %s", a->contract->name,
             a->contract->version, a->digest, status);
    at_http_audit(r, "agent.review", "ok", "POST review", detail);
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:o}", "name", a->contract->name, "version", a->contract->version,
                  "digest", a->digest, "trust", at_dist_trust_view(api->data_dir, a->digest));
    at_reg_agent_unref(a);
    json_decref(body);
    at_http_reply_json(r, 200, j);
}

/* POST /api/v1/agents/{ref}/rating {"rating": 1..5} (run) */
static void h_rate(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    json_t *v = json_object_get(body, "rating");
    if (!json_is_integer(v)) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL, "the body must be {\"rating\": 1..5}", "/rating", NULL);
        return;
    }
    struct at_reg_agent *a = local_agent(r, at_http_param(r, "ref"));
    if (!a) {
        json_decref(body);
        return;
    }
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_dist_rate(api->data_dir, a->digest, r->who[0] ? r->who : "anonymous",
                          (int)json_integer_value(v), &d);
    json_decref(body);
    if (rc) {
        at_reg_agent_unref(a);
        at_http_reply_diag(r, &d);
        return;
    }
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:o}", "name", a->contract->name, "version", a->contract->version,
                  "digest", a->digest, "trust", at_dist_trust_view(api->data_dir, a->digest));
    at_reg_agent_unref(a);
    at_http_reply_json(r, 200, j);
}

/* GET /api/v1/builds/log?after=SEQ: the dependency builds' output as it
 * comes (registry/build.h at_registry_build_log); `atlas register` and
 * `atlas pull` follow it while their registration runs */
static void h_build_log(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *q = at_http_query(r, "after");
    long long after = -1;
    if (q && at_parse_i64(q, -1, INT64_MAX, &after) != 0) {
        at_http_reply_problem(r, AT_EINVAL, "after must be a line number (or -1)", NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, at_registry_build_log(api->registry, after));
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/builds/log", h_build_log, AT_HTTP_NEED_REGISTER, 0, 0, NULL},
    {"POST", AT_HTTP_API "/agents/{ref}/review", h_review, AT_HTTP_NEED_REVIEW, 0, 0, NULL},
    {"POST", AT_HTTP_API "/agents/{ref}/rating", h_rate, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"GET", AT_HTTP_API "/agents", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/agents", h_register, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", AT_HTTP_API "/agents/{ref}", h_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"DELETE", AT_HTTP_API "/agents/{ref}", h_delete, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0,
     NULL}, /* blocking: the collection after it removes files */
    {"POST", AT_HTTP_API "/agents/{ref}/transfer", h_transfer, AT_HTTP_NEED_REGISTER, 0, 0, NULL},
    {"GET", AT_HTTP_API "/search", h_search, AT_HTTP_NEED_READ, 0, 0, NULL},
};

int at_http_agents_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
