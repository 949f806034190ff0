/*
 * chains_routes.c - chains and the orchestrator slot (docs/api.md
 * "Chains, routing and the orchestrator").  A chain's run is in
 * runs_routes.c.  Chain registration parses YAML from the request: it runs
 * on the blocking workers.
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/alloc.h"
#include "base/err.h"
#include "chain/chain.h"
#include "json/json.h"
#include "llm/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reply_no_chain(struct at_http_req *r, int rc, const char *name, const char *pointer)
{
    char msg[300];
    if (rc == AT_ENOENT)
        snprintf(msg, sizeof(msg), "no chain \"%s\" is registered", name);
    else
        snprintf(msg, sizeof(msg), "cannot read chain \"%s\" from the store: %s", name,
                 at_err_msg(rc));
    at_http_reply_problem(r, rc, msg, pointer, NULL);
}

static void h_list(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *list = at_registry_chains_json(api->registry, NULL, 0);
    at_http_chains_filter(r, list, "name");
    at_http_reply_json(r, 200, json_pack("{s:o}", "chains", list));
}

/* POST /api/v1/chains {"file": name for messages, "yaml": text} (a
 * blocking worker) */
static void h_register(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *body;
    if (at_http_body_json(r, 0, &body))
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
    if (r->role == AT_ROLE_DEVELOPER) {
        /* a developer replaces only its own chains: its name first (the
         * format only; registering reports everything else) */
        struct at_chain *c = NULL;
        struct at_diag cd;
        at_diag_clear(&cd);
        int orc = 0;
        if (at_chain_load_string(file, text, strlen(text), NULL, &c, &cd) == 0)
            orc = at_http_chain_owner_check(r, c->name, &d);
        at_chain_unref(c);
        if (orc) {
            json_decref(body);
            at_http_reply_diag(r, &d);
            return;
        }
    }
    int rc = at_registry_chain_register(api->registry, file, text, strlen(text), &res, &d);
    json_decref(body);
    if (rc) {
        at_http_reply_diag(r, &d);
        return;
    }
    at_http_chain_owner_record(r, res.name);
    json_t *all = at_registry_chains_json(api->registry, res.name, 0);
    json_t *j = json_pack("{s:s,s:s,s:s,s:O}", "name", res.name, "digest", res.digest, "status",
                          res.status, "chain", json_array_get(all, 0));
    json_decref(all);
    at_http_reply_json(r, strcmp(res.status, "unchanged") == 0 ? 200 : 201, j);
}

static void h_get(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *name = at_http_param(r, "name");
    json_t *all = at_registry_chains_json(api->registry, name, 1);
    if (json_array_size(all) == 0) {
        json_decref(all);
        reply_no_chain(r, AT_ENOENT, name, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_incref(json_array_get(all, 0)));
    json_decref(all);
}

static void h_delete(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *name = at_http_param(r, "name");
    struct at_diag d;
    at_diag_clear(&d);
    if (at_http_chain_owner_check(r, name, &d)) {
        at_http_reply_diag(r, &d);
        return;
    }
    int rc = at_registry_chain_delete(api->registry, name);
    if (rc) {
        reply_no_chain(r, rc, name, NULL);
        return;
    }
    at_http_chain_owner_forget(r, name);
    at_http_reply_json(r, 200, json_pack("{s:s}", "unregistered", name));
}

/* ---- the orchestrator slot ---- */

/* The slot's state is persisted (kv "orchestrator") so that a restart
 * keeps it; when the store refuses, the change is undone and the error
 * returned, so the answer never claims what a restart would forget. */
static int set_slot(const struct at_http_api *api, const char *agent, const char *chain,
                    json_t **out, struct at_diag *d)
{
    json_t *before = at_engine_orchestrator_json(api->engine);
    const char *prev =
        chain ? json_string_value(json_object_get(json_object_get(before, "chains"), chain))
              : json_string_value(json_object_get(before, "default"));
    char *prev_copy = prev ? at_strdup(prev) : NULL;
    json_decref(before);
    at_engine_set_orchestrator(api->engine, agent, chain);
    json_t *o = at_engine_orchestrator_json(api->engine);
    char *text = at_json_dumps(o);
    int rc = at_writer_kv_put(api->writer, api->store, "orchestrator", text);
    free(text);
    if (rc) {
        at_engine_set_orchestrator(api->engine, prev_copy, chain);
        free(prev_copy);
        json_decref(o);
        return at_diag_set(d, rc, NULL, 0, 0, "the orchestrator slot could not be saved: %s",
                           at_err_msg(rc));
    }
    free(prev_copy);
    *out = o;
    return 0;
}

int at_http_orchestrator_set(const struct at_http_api *api, const char *agent, const char *chain,
                             json_t **out, struct at_diag *d)
{
    *out = NULL;
    struct at_reg_agent *a = NULL;
    if (!agent || at_registry_resolve(api->registry, agent, &a)) {
        at_diag_set(d, agent ? AT_ENOENT : AT_EINVAL, NULL, 0, 0, "no agent \"%s\" is registered",
                    agent ? agent : "");
        at_diag_set_pointer(d, "/agent");
        return d->code;
    }
    int is_orch = strcmp(a->contract->type, "orchestrator") == 0;
    /* its model_selection.tiers must name models the gateway serves
     * (without a gateway no model call is made: nothing to check) */
    int rc =
        is_orch && api->llm ? at_llm_orchestrator_check(api->llm, agent, a->contract->json, d) : 0;
    at_reg_agent_unref(a);
    if (rc) {
        at_diag_set_pointer(d, "/agent");
        return rc;
    }
    if (!is_orch) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                    "agent \"%s\" is not an orchestrator (its contract needs type: orchestrator)",
                    agent);
        at_diag_set_pointer(d, "/agent");
        return d->code;
    }
    if (chain) {
        struct at_chain *c;
        if ((rc = at_registry_chain_get(api->registry, chain, &c))) {
            if (rc == AT_ENOENT)
                at_diag_set(d, rc, NULL, 0, 0, "no chain \"%s\" is registered", chain);
            else
                at_diag_set(d, rc, NULL, 0, 0, "cannot read chain \"%s\" from the store: %s", chain,
                            at_err_msg(rc));
            at_diag_set_pointer(d, "/chain");
            return rc;
        }
        at_chain_unref(c);
    }
    return set_slot(api, agent, chain, out, d);
}

static void h_orch_get(struct at_http_req *r)
{
    at_http_reply_json(r, 200, at_engine_orchestrator_json(at_http_api_of(r)->engine));
}

static void reply_slot(struct at_http_req *r, int rc, json_t *o, struct at_diag *d)
{
    if (rc) {
        if (d->pointer[0])
            at_http_reply_problem(r, rc, d->msg, d->pointer, NULL);
        else
            at_http_reply_problem(r, rc, d->msg, NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, o);
}

/* PUT (or POST) /api/v1/orchestrator {"agent", "chain"?} */
static void h_orch_put(struct at_http_req *r)
{
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *o = NULL;
    int rc = at_http_orchestrator_set(at_http_api_of(r), at_json_str(body, "agent", NULL),
                                      at_json_str(body, "chain", NULL), &o, &d);
    reply_slot(r, rc, o, &d);
    json_decref(body);
}

/* DELETE /api/v1/orchestrator[?chain=NAME] */
static void h_orch_delete(struct at_http_req *r)
{
    struct at_diag d;
    at_diag_clear(&d);
    json_t *o = NULL;
    int rc = set_slot(at_http_api_of(r), NULL, at_http_query_str(r, "chain"), &o, &d);
    reply_slot(r, rc, o, &d);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/chains", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/chains", h_register, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", AT_HTTP_API "/chains/{name}", h_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"DELETE", AT_HTTP_API "/chains/{name}", h_delete, AT_HTTP_NEED_REGISTER, 0, 0, NULL},
    {"GET", AT_HTTP_API "/orchestrator", h_orch_get, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"PUT", AT_HTTP_API "/orchestrator", h_orch_put, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/orchestrator", h_orch_put, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
    {"DELETE", AT_HTTP_API "/orchestrator", h_orch_delete, AT_HTTP_NEED_ADMIN, 0, 0, NULL},
};

int at_http_chains_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
