/*
 * skills_routes.c - the installed skills (docs/api.md "Skills",
 * docs/skills.md).
 *
 *   GET    /api/v1/skills                 {"skills": [...]}
 *   GET    /api/v1/skills/{name}          one skill (?version=), schemas, an MCP server's tools
 *   POST   /api/v1/skills                 install: a definition, or {"path": DIR} of a SKILL.md
 *                                         folder (optional "version"; "force" replaces), or
 *                                         {"artifact": {manifest, definition, signatures},
 *                                         "reference"} of a pull (signatures checked here)
 *
 * registry.policy applies to every install as to agents' (an install that
 * is not a pull is unsigned).
 *   DELETE /api/v1/skills/{name}          remove (?version=, else every version)
 *   POST   /api/v1/skills/{name}/invoke   run it as a user (RUN): {"input": {...}}
 *   POST   /api/v1/skills/{name}/review   record a review (REVIEW: admin, reviewer):
 *                                         {status, note, version} of an installed one, or
 *                                         {status, note, definition | path} before its install
 *
 * Installing and removing are capability changes: each is one audit
 * record (skill.installed, skill.removed) with what was installed.
 */
#include "http/api.h"

#include "base/err.h"
#include "dist/trust.h"
#include "http/auth.h"
#include "json/json.h"
#include "skills/skills.h"
#include "supervisor/approvals.h"

#include <stdio.h>
#include <string.h>

static int no_skills(struct at_http_req *r, const struct at_http_api *api)
{
    if (api->skills)
        return 0;
    at_http_reply_problem(r, AT_EUNAVAIL, "skills are not running in this daemon", NULL, NULL);
    return 1;
}

/* The review recorded of j's content digest (docs/skills.md "Reviews"):
 * review_status, and review {status, by, at, note, digest} when there is
 * one. */
static void review_into(const struct at_http_api *api, json_t *j)
{
    const char *dg = json_string_value(json_object_get(j, "digest"));
    if (!dg)
        return;
    json_t *v = at_dist_trust_view(api->data_dir, dg);
    const char *st = json_string_value(json_object_get(v, "review_status"));
    json_object_set_new(j, "review_status", json_string(st ? st : "unreviewed"));
    json_t *rev = json_object_get(v, "review");
    if (json_is_object(rev)) {
        json_t *c = json_deep_copy(rev);
        json_object_set_new(c, "digest", json_string(dg));
        json_object_set_new(j, "review", c);
    }
    json_decref(v);
}

static void h_list(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (no_skills(r, api))
        return;
    json_t *j = at_skills_list_json(api->skills, NULL);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "skills"), i, s) review_into(api, s);
    at_http_reply_json(r, 200, j);
}

static void h_get(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (no_skills(r, api))
        return;
    json_t *j = NULL;
    const char *name = at_http_param(r, "name");
    if (at_skills_describe(api->skills, name, at_http_query_str(r, "version"), &j)) {
        at_http_reply_missing(r, AT_ENOENT, "skill", name, NULL);
        return;
    }
    review_into(api, j);
    at_http_reply_json(r, 200, j);
}

/* POST /api/v1/skills/{name}/review (admin, reviewer) */
static void h_review(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (no_skills(r, api))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    const char *name = at_http_param(r, "name");
    const char *version = at_json_str(body, "version", NULL);
    const json_t *given = json_object_get(body, "definition");
    const char *path = at_json_str(body, "path", NULL);
    struct at_diag d;
    at_diag_clear(&d);
    json_t *def = NULL;
    int rc = 0;
    if (given)
        def = json_incref((json_t *)given);
    else if (path)
        rc = at_skills_dir_def(path, version, &def, &d);
    else if (at_skills_describe(api->skills, name, version, &def)) {
        json_decref(body);
        at_http_reply_missing(r, AT_ENOENT, "skill", name, NULL);
        return;
    }
    char digest[80] = "";
    if (!rc && !json_is_object(def))
        rc = at_diag_set(&d, AT_EINVAL, NULL, 0, 0, "definition: a skill definition (an object)");
    if (!rc && strcmp(at_json_str(def, "name", ""), name) != 0)
        rc = at_diag_set(&d, AT_EINVAL, NULL, 0, 0, "the definition is of skill \"%s\", not %s",
                         at_json_str(def, "name", ""), name);
    if (!rc && !strcmp(at_json_str(def, "kind", ""), "builtin"))
        rc = at_diag_set(&d, AT_EINVAL, NULL, 0, 0,
                         "%s is a built-in skill: it comes with atlasd and is not reviewed", name);
    if (!rc && !given && !path)
        snprintf(digest, sizeof(digest), "%s", at_json_str(def, "digest", ""));
    else if (!rc)
        rc = at_skills_digest(def, digest, sizeof(digest));
    if (!rc)
        rc = at_dist_review_set(api->data_dir, digest, at_json_str(body, "status", NULL),
                                at_json_str(body, "note", NULL), r->who[0] ? r->who : NULL, &d);
    if (rc) {
        json_decref(def);
        json_decref(body);
        at_http_reply_diag(r, &d);
        return;
    }
    char detail[400];
    snprintf(detail, sizeof(detail), "%s@%s %s review_status %s", name,
             at_json_str(def, "version", "?"), digest, at_json_str(body, "status", ""));
    at_http_audit(r, "skill.review", "ok", "POST review", detail);
    json_t *j = json_pack("{s:s,s:s,s:s}", "name", name, "version", at_json_str(def, "version", ""),
                          "digest", digest);
    review_into(api, j);
    json_decref(def);
    json_decref(body);
    at_http_reply_json(r, 200, j);
}

static void h_register(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (no_skills(r, api))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_diag d;
    at_diag_clear(&d);
    int force = at_json_bool(body, "force", 0);
    json_t *out = NULL;
    int rc = 0;
    const char *path = at_json_str(body, "path", NULL);
    /* what is installed, and its trust: a pull's artifact is checked here */
    const json_t *artifact = json_object_get(body, "artifact");
    json_t *trust = NULL, *def = NULL;
    if (artifact) {
        json_t *keys = at_dist_trust_keys(api->data_dir);
        rc = at_dist_skill_trust(artifact, keys, &trust, &d);
        json_decref(keys);
        const json_t *dt = json_object_get(artifact, "definition");
        if (!rc && (at_json_parse(json_string_value(dt), json_string_length(dt), 64, &def, NULL) ||
                    !json_is_object(def)))
            rc = at_diag_set(&d, AT_EINVAL, NULL, 0, 0,
                             "the artifact's definition is not a JSON object");
        if (!rc) {
            json_object_del(def, "source");
            json_object_set_new(
                def, "source",
                json_pack(
                    "{s:s,s:O,s:O,s:O,s:O,s:O}", "reference",
                    at_json_str(body, "reference", at_json_str(artifact, "source", "")), "digest",
                    json_object_get(trust, "manifest"), "signed", json_object_get(trust, "signed"),
                    "verified", json_object_get(trust, "verified"), "publisher",
                    json_object_get(trust, "publisher"), "keyid", json_object_get(trust, "keyid")));
        }
    } else {
        trust = at_dist_unsigned_trust();
        if (path) {
            /* the folder's definition, for the policy (its digest); the
             * install (or the proposal, which pins the folder) reads it again */
            rc = at_skills_dir_def(path, at_json_str(body, "version", NULL), &def, &d);
        } else {
            def = json_deep_copy(body);
            json_object_del(def, "force");
            json_object_del(def, "reference");
        }
    }
    if (!rc) {
        const json_t *policy =
            json_object_get(json_object_get(api->config->json, "registry"), "policy");
        char what[300], digest[80] = "";
        at_skills_digest(def, digest, sizeof(digest));
        snprintf(what, sizeof(what), "skill %s@%s (%s)", at_json_str(def, "name", "?"),
                 at_json_str(def, "version", "?"), digest);
        /* with the review recorded here of this content (atlas skill review) */
        json_t *view = at_dist_trust_combine(api->data_dir, digest[0] ? digest : NULL, trust);
        rc = at_dist_policy_check(policy, view, what, &d);
        const char *min = json_string_value(json_object_get(policy, "minimum_review_status"));
        if (rc && at_dist_review_rank(min) > 0 &&
            at_dist_review_rank(json_string_value(json_object_get(view, "review_status"))) <
                at_dist_review_rank(min))
            at_diag_set(&d, AT_EPERM, NULL, 0, 0,
                        "registry.policy.minimum_review_status is %s: %s is %s (a reviewer "
                        "records one with atlas skill review %s@%s --status %s, or with the file "
                        "before it is installed)",
                        min, what, at_json_str(view, "review_status", "unreviewed"),
                        at_json_str(def, "name", "?"), at_json_str(def, "version", "?"), min);
        json_decref(view);
    }
    json_decref(trust);
    if (rc) {
        at_http_reply_diag(r, &d);
        json_decref(def);
        json_decref(body);
        return;
    }
    /* approvals.require: skill_install files a proposal instead */
    if (at_approvals_required(api->approvals, "skill_install")) {
        json_t *payload = path ? json_pack("{s:s,s:s?}", "path", path, "version",
                                           at_json_str(body, "version", NULL))
                               : json_pack("{s:O}", "definition", def);
        char title[400];
        snprintf(title, sizeof(title), "install the skill %.200s",
                 path ? path : at_json_str(def, "name", "?"));
        at_http_approvals_gate(r, "skill_install", force ? "skill_change" : "new_skill", title,
                               payload, NULL);
        json_decref(def);
        json_decref(body);
        return;
    }
    if (path) {
        rc = at_skills_register_dir(api->skills, path, at_json_str(body, "version", NULL), force,
                                    &out, &d);
    } else {
        rc = at_skills_register(api->skills, def, force, &out, &d);
    }
    json_decref(def);
    if (rc) {
        at_http_reply_diag(r, &d);
    } else {
        char what[200];
        snprintf(what, sizeof(what), "%s@%s (%s)", at_json_str(out, "name", ""),
                 at_json_str(out, "version", ""), at_json_str(out, "kind", ""));
        at_http_audit(r, "skill.installed", "ok", "install skill", what);
        at_http_reply_json(r, 201, out);
    }
    json_decref(body);
}

static void h_delete(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (no_skills(r, api))
        return;
    const char *name = at_http_param(r, "name");
    const char *version = at_http_query_str(r, "version");
    struct at_diag d;
    at_diag_clear(&d);
    int removed = 0;
    if (at_skills_remove(api->skills, name, version, &removed, &d)) {
        at_http_reply_diag(r, &d);
        return;
    }
    char what[200];
    snprintf(what, sizeof(what), "%s%s%s", name, version ? "@" : "", version ? version : "");
    at_http_audit(r, "skill.removed", "ok", "remove skill", what);
    at_http_reply_json(r, 200, json_pack("{s:s,s:i}", "name", name, "removed", removed));
}

/* A user's call answers from the skills' worker (or an MCP mount's
 * thread): no HTTP thread waits on a skill, and a stop does not wait on
 * one either. */
struct invoke_wait {
    struct at_http_wait hw;
};

static void invoke_done(void *arg, int rc, json_t *output, const struct at_diag *d)
{
    struct invoke_wait *w = arg;
    struct at_http_req *req = at_http_wait_lock(&w->hw);
    if (req) {
        if (rc) {
            at_http_complete_problem(req,
                                     at_http_problem(rc, d && d->msg[0] ? d->msg : at_err_msg(rc),
                                                     d && d->pointer[0] ? d->pointer : NULL));
        } else {
            at_http_complete_json(req, 200, output);
            output = NULL;
        }
    }
    at_http_wait_unlock(&w->hw, req != NULL);
    at_http_wait_unref(&w->hw);
    json_decref(output);
}

static void h_invoke(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (no_skills(r, api))
        return;
    json_t *body;
    if (at_http_body_json(r, 1, &body))
        return;
    struct at_skill_caller user = {0};
    const json_t *in = json_object_get(body, "input");
    struct invoke_wait *w = at_http_wait_new(r, sizeof(*w), 1);
    int rc =
        at_skills_invoke_async(api->skills, &user, at_http_param(r, "name"), in, invoke_done, w);
    if (rc) {
        struct at_diag d;
        at_diag_clear(&d);
        at_diag_set(&d, rc, NULL, 0, 0, "too many skill calls wait (skills.queue)");
        invoke_done(w, rc, NULL, &d);
    }
    json_decref(body);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/skills", h_list, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"POST", AT_HTTP_API "/skills", h_register, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", AT_HTTP_API "/skills/{name}", h_get, AT_HTTP_NEED_READ, AT_HTTP_BLOCKING, 0, NULL},
    {"DELETE", AT_HTTP_API "/skills/{name}", h_delete, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, 0,
     NULL},
    /* not blocking: it answers from the skills' threads (invoke_done) */
    {"POST", AT_HTTP_API "/skills/{name}/invoke", h_invoke, AT_HTTP_NEED_RUN, 0, 0, NULL},
    {"POST", AT_HTTP_API "/skills/{name}/review", h_review, AT_HTTP_NEED_REVIEW, AT_HTTP_BLOCKING,
     0, NULL},
};

int at_http_skills_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
