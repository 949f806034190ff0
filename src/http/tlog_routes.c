/*
 * tlog_routes.c - the signed audit trail (docs/audit.md, docs/api.md
 * "Audit trail").  Every route needs the audit permission.
 *
 *   GET  /api/v1/audit/log                    the log: origin, size, keys, queue
 *   GET  /api/v1/audit/checkpoint             the latest signed checkpoint
 *        (Accept: text/plain: the note itself)
 *   POST /api/v1/audit/checkpoint             sign one now (after what is queued)
 *   GET  /api/v1/audit/proof/inclusion?index=I[&size=N]
 *   GET  /api/v1/audit/proof/consistency?from=M[&to=N]
 *   GET  /api/v1/audit/export                 the bundle (tlog/bundle.h)
 *   POST /api/v1/audit/accept {reason}        accept a break found at start
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/err.h"
#include "json/json.h"
#include "tlog/tlog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int have_log(struct at_http_req *r, const struct at_http_api *api)
{
    if (api->tlog)
        return 1;
    at_http_reply_problem(r, AT_EUNAVAIL, "the audit trail is not running", NULL, NULL);
    return 0;
}

static void h_log(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (have_log(r, api))
        at_http_reply_json(r, 200, at_tlog_info(api->tlog));
}

static void reply_checkpoint(struct at_http_req *r, const struct at_http_api *api, int status,
                             char *note, uint64_t size)
{
    const char *accept = at_http_header(r, "Accept");
    if (accept && strstr(accept, "text/plain")) {
        at_http_reply_text(r, status, "text/plain; charset=utf-8", note, strlen(note));
    } else {
        json_t *info = at_tlog_info(api->tlog);
        json_t *o =
            json_pack("{s:s,s:I,s:O,s:O}", "note", note, "size", (json_int_t)size, "origin",
                      json_object_get(info, "origin"), "vkey", json_object_get(info, "vkey"));
        json_decref(info);
        at_http_reply_json(r, status, o);
    }
    free(note);
}

static void h_checkpoint(struct at_http_req *r, int post)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!have_log(r, api))
        return;
    char *note = NULL;
    uint64_t size = 0;
    int rc = at_tlog_checkpoint(api->tlog, &note, &size);
    if (rc) {
        at_http_reply_problem(r, rc,
                              rc == AT_ESTATE
                                  ? "the stored entries do not match the latest checkpoint: no "
                                    "checkpoint is signed over them (run atlas audit verify)"
                                  : "cannot sign a checkpoint",
                              NULL, NULL);
        return;
    }
    reply_checkpoint(r, api, post ? 201 : 200, note, size);
}

static void h_cp_get(struct at_http_req *r)
{
    h_checkpoint(r, 0);
}

static void h_cp_post(struct at_http_req *r)
{
    h_checkpoint(r, 1);
}

static void h_inclusion(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    long long index, size;
    if (!have_log(r, api) || at_http_query_int(r, "index", 0, INT64_MAX, -1, &index) ||
        at_http_query_int(r, "size", 0, INT64_MAX, 0, &size))
        return;
    json_t *out;
    if (index < 0 || at_tlog_inclusion(api->tlog, (uint64_t)index, (uint64_t)size, &out)) {
        at_http_reply_problem(r, AT_EINVAL, "index must be below size, and size at most the log's",
                              "/index", NULL);
        return;
    }
    at_http_reply_json(r, 200, out);
}

static void h_consistency(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    long long from, to;
    if (!have_log(r, api) || at_http_query_int(r, "from", 1, INT64_MAX, -1, &from) ||
        at_http_query_int(r, "to", 1, INT64_MAX, 0, &to))
        return;
    json_t *out;
    if (from < 1 || at_tlog_consistency(api->tlog, (uint64_t)from, (uint64_t)to, &out)) {
        at_http_reply_problem(r, AT_EINVAL, "need 0 < from <= to <= the log's size", "/from", NULL);
        return;
    }
    at_http_reply_json(r, 200, out);
}

static void h_export(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!have_log(r, api))
        return;
    json_t *b;
    int rc = at_tlog_export(api->tlog, &b);
    if (rc)
        at_http_reply_problem(r, rc, "cannot export the audit log", NULL, NULL);
    else
        at_http_reply_json(r, 200, b);
}

static void h_accept(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!have_log(r, api))
        return;
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    const char *why = json_string_value(json_object_get(body, "reason"));
    if (!why || !*why) {
        json_decref(body);
        at_http_reply_problem(r, AT_EINVAL,
                              "reason is required: say why the damage is accepted (it is signed "
                              "into the log)",
                              "/reason", NULL);
        return;
    }
    json_t *out = NULL;
    int rc = at_tlog_accept(api->tlog, r->who[0] ? r->who : "anonymous", why, &out);
    if (rc == 0)
        at_http_audit(r, "audit.accept", "allowed", "POST " AT_HTTP_API "/audit/accept", why);
    json_decref(body);
    if (rc == AT_ENOENT)
        at_http_reply_problem(
            r, AT_ESTATE, "the audit log is not marked tampered: nothing to accept", NULL, NULL);
    else if (rc)
        at_http_reply_problem(r, rc, "cannot accept the break", NULL, NULL);
    else
        at_http_reply_json(r, 200, out);
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/audit/log", h_log, AT_HTTP_NEED_AUDIT, 0, 0, NULL},
    {"GET", AT_HTTP_API "/audit/checkpoint", h_cp_get, AT_HTTP_NEED_AUDIT, AT_HTTP_BLOCKING, 0,
     NULL},
    {"POST", AT_HTTP_API "/audit/checkpoint", h_cp_post, AT_HTTP_NEED_AUDIT, AT_HTTP_BLOCKING, 0,
     NULL},
    {"GET", AT_HTTP_API "/audit/proof/inclusion", h_inclusion, AT_HTTP_NEED_AUDIT, 0, 0, NULL},
    {"GET", AT_HTTP_API "/audit/proof/consistency", h_consistency, AT_HTTP_NEED_AUDIT, 0, 0, NULL},
    {"GET", AT_HTTP_API "/audit/export", h_export, AT_HTTP_NEED_AUDIT, AT_HTTP_BLOCKING, 0, NULL},
    {"POST", AT_HTTP_API "/audit/accept", h_accept, AT_HTTP_NEED_AUDIT, AT_HTTP_BLOCKING, 0, NULL},
};

int at_http_tlog_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
