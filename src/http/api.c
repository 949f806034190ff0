/*
 * api.c - helpers shared by the route files, and the mount of them all.
 */
#include "http/api.h"

#include "base/err.h"
#include "base/str.h"
#include "json/json.h"

#include <stdio.h>
#include <string.h>

int at_http_body_json(struct at_http_req *r, int allow_empty, json_t **out)
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

int at_http_query_int(struct at_http_req *r, const char *name, long long min, long long max,
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

const char *at_http_query_str(struct at_http_req *r, const char *name)
{
    const char *v = at_http_query(r, name);
    return v && *v ? v : NULL;
}

void at_http_reply_missing(struct at_http_req *r, int code, const char *what, const char *name,
                           const char *pointer)
{
    char msg[400];
    if (code == AT_ENOENT || code == AT_EINVAL)
        snprintf(msg, sizeof(msg), "no %s \"%s\"", what, name);
    else /* the store failed: say so, not "not found" */
        snprintf(msg, sizeof(msg), "cannot read %s \"%s\" from the store: %s", what, name,
                 at_err_msg(code));
    at_http_reply_problem(r, code, msg, pointer, NULL);
}

int at_http_api_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    int (*const mounts[])(struct at_http_server *, struct at_http_api *, struct at_diag *) = {
        at_http_health_mount,    at_http_agents_mount, at_http_runs_mount,
        at_http_jobs_mount,      at_http_chains_mount, at_http_monitor_mount,
        at_http_llm_mount,       at_http_mcp_mount,    at_http_queue_mount,
        at_http_oci_mount,       at_http_trust_mount,  at_http_triggers_mount,
        at_http_security_mount,  at_http_skills_mount, at_http_tlog_mount,
        at_http_sched_mount,     at_http_ui_mount,     at_http_nodes_mount,
        at_http_approvals_mount, at_http_a2a_mount,
    };
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        int rc = mounts[i](s, api, d);
        if (rc)
            return rc;
    }
    return 0;
}
