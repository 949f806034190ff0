/*
 * resources.c - MCP resources, prompts and completions
 * (MCP 2025-11-25 server/resources, server/prompts,
 * server/utilities/completion).
 *
 * Built in: every agent's contract (atlas://agents/NAME/contract) and
 * every job (atlas://jobs/ID: state, input, output, error, timing), and,
 * with the monitor, every trace (atlas://traces/ID).
 *
 * Agents may also publish resources and prompts next to their contract:
 * mcp/resources.json ({"resources": [...], "resourceTemplates": [...]},
 * entries as in the MCP schema plus "text" or "blob" for the contents, "{var}"
 * in a template's text replaced by the URI's value) and mcp/prompts.json
 * ({"prompts": [...]}, each with "messages" whose strings may use
 * "{{argument}}").  They are read from the registered snapshot, so they
 * change only when the agent is registered again.  docs/mcp.md has the
 * details.
 */
#include "mcp/internal.h"
#include "monitor/monitor.h"
#include "security/token.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (1u << 20)

/* ---- agent-published files ---- */

static json_t *agent_file(const struct at_reg_agent *a, const char *rel)
{
    if (!a->dir)
        return NULL;
    char *path = at_asprintf("%s/%s", a->dir, rel);
    char *text = NULL;
    size_t len = 0;
    json_t *v = NULL;
    if (at_fs_read_file(path, MAX_FILE, &text, &len) == 0) {
        if (at_json_parse(text, len, 0, &v, NULL) || !json_is_object(v)) {
            json_decref(v);
            v = NULL;
        }
    }
    free(text);
    free(path);
    return v;
}

/* Collect arrays `key` of every latest agent's file `rel` into one array. */
static json_t *collect(struct at_mcp *m, const char *rel, const char *key)
{
    json_t *all = json_array();
    if (!m->cfg.registry)
        return all;
    struct at_reg_agent **agents = NULL;
    size_t n = at_registry_latest(m->cfg.registry, &agents);
    for (size_t i = 0; i < n; i++) {
        json_t *f = agent_file(agents[i], rel);
        json_t *arr = json_object_get(f, key);
        size_t k;
        json_t *e;
        json_array_foreach(arr, k, e)
        {
            if (json_is_object(e))
                json_array_append(all, e);
        }
        json_decref(f);
        at_reg_agent_unref(agents[i]);
    }
    free(agents);
    return all;
}

/* The entry without its contents (for lists). */
static json_t *listing(const json_t *e)
{
    json_t *c = json_deep_copy(e);
    json_object_del(c, "text");
    json_object_del(c, "blob");
    json_object_del(c, "messages");
    return c;
}

/* ---- resources ---- */

int at__mcp_resources_list(struct at_mcp *m, const struct at__mcp_caller *c, const char *cursor,
                           json_t **result)
{
    json_t *all = json_array();
    if (m->cfg.registry) {
        struct at_reg_agent **agents = NULL;
        size_t n = at_registry_latest(m->cfg.registry, &agents);
        for (size_t i = 0; i < n; i++) {
            const struct at_contract *ct = agents[i]->contract;
            if (!at__mcp_agent_ok(c, ct->name)) { /* a token narrowed to other agents */
                at_reg_agent_unref(agents[i]);
                continue;
            }
            char *uri = at_asprintf("atlas://agents/%s/contract", ct->name);
            char *title = at_asprintf("%s %s contract", ct->name, ct->version);
            json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:s,s:s}", "uri", uri, "name",
                                                 ct->name, "title", title, "description",
                                                 "The agent's contract (agent.yaml as JSON)",
                                                 "mimeType", "application/json"));
            free(uri);
            free(title);
            at_reg_agent_unref(agents[i]);
        }
        free(agents);
    }
    json_t *pub = collect(m, "mcp/resources.json", "resources");
    size_t i;
    json_t *e;
    json_array_foreach(pub, i, e)
    {
        if (json_is_string(json_object_get(e, "uri")) && json_is_string(json_object_get(e, "name")))
            json_array_append_new(all, listing(e));
    }
    json_decref(pub);
    *result = json_object();
    int rc = at__mcp_paginate(all, cursor, m->cfg.page_size, "resources", *result);
    json_decref(all);
    return rc;
}

int at__mcp_resource_templates_list(struct at_mcp *m, const char *cursor, json_t **result)
{
    json_t *all = json_array();
    json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:s}", "uriTemplate",
                                         "atlas://agents/{name}/contract", "name", "agent-contract",
                                         "description",
                                         "An agent's contract (NAME or "
                                         "NAME:VERSION)",
                                         "mimeType", "application/json"));
    json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:s}", "uriTemplate", "atlas://jobs/{id}",
                                         "name", "job", "description",
                                         "A job: state, input, output, error, timing", "mimeType",
                                         "application/json"));
    if (m->cfg.monitor)
        json_array_append_new(
            all, json_pack("{s:s,s:s,s:s,s:s}", "uriTemplate", "atlas://traces/{id}", "name",
                           "trace", "description",
                           "A job tree's trace (id: any job of the tree, or tr_...): steps, "
                           "spans, tokens, cost",
                           "mimeType", "application/json"));
    json_t *pub = collect(m, "mcp/resources.json", "resourceTemplates");
    size_t i;
    json_t *e;
    json_array_foreach(pub, i, e)
    {
        if (json_is_string(json_object_get(e, "uriTemplate")))
            json_array_append_new(all, listing(e));
    }
    json_decref(pub);
    *result = json_object();
    int rc = at__mcp_paginate(all, cursor, m->cfg.page_size, "resourceTemplates", *result);
    json_decref(all);
    return rc;
}

/* Match uri against a level-1 URI template (RFC 6570 simple {var}
 * expansions without '/').  Fills vars {name: value}.  1 on a match. */
static int template_match(const char *tmpl, const char *uri, json_t *vars)
{
    while (*tmpl) {
        if (*tmpl == '{') {
            const char *end = strchr(tmpl, '}');
            if (!end || end - tmpl > 64)
                return 0;
            char name[66];
            snprintf(name, sizeof(name), "%.*s", (int)(end - tmpl - 1), tmpl + 1);
            const char *next = end + 1;
            /* the value runs to the next literal character (or the end) */
            size_t vlen = 0;
            while (uri[vlen] && uri[vlen] != '/' && (!*next || uri[vlen] != *next))
                vlen++;
            if (vlen == 0)
                return 0;
            char *val = at_strndup(uri, vlen);
            json_object_set_new(vars, name, json_string(val));
            free(val);
            uri += vlen;
            tmpl = next;
        } else {
            if (*tmpl != *uri)
                return 0;
            tmpl++;
            uri++;
        }
    }
    return *uri == '\0';
}

/* Replace "{name}" (or "{{name}}" when dbl) in text by vars' strings. */
static char *expand(const char *text, const json_t *vars, int dbl)
{
    struct at_buf b;
    at_buf_init(&b, MAX_FILE);
    const char *open = dbl ? "{{" : "{", *close = dbl ? "}}" : "}";
    size_t ol = strlen(open), cl = strlen(close);
    const char *p = text;
    while (*p) {
        const char *s = strstr(p, open);
        if (!s) {
            at_buf_puts(&b, p);
            break;
        }
        const char *e = strstr(s + ol, close);
        if (!e) {
            at_buf_puts(&b, p);
            break;
        }
        at_buf_append(&b, p, (size_t)(s - p));
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(e - s - ol), s + ol);
        const json_t *v = json_object_get(vars, name);
        if (json_is_string(v))
            at_buf_puts(&b, json_string_value(v));
        else if (v) {
            char *t = at_json_dumps(v);
            at_buf_puts(&b, t);
            free(t);
        }
        p = e + cl;
    }
    return at_buf_detach(&b, NULL);
}

static json_t *contents(const char *uri, const json_t *e, const json_t *vars)
{
    json_t *c = json_pack("{s:s}", "uri", uri);
    const char *mime = json_string_value(json_object_get(e, "mimeType"));
    if (mime)
        json_object_set_new(c, "mimeType", json_string(mime));
    const char *blob = json_string_value(json_object_get(e, "blob"));
    const char *text = json_string_value(json_object_get(e, "text"));
    if (blob) {
        json_object_set_new(c, "blob", json_string(blob));
    } else {
        char *t = expand(text ? text : "", vars, 0);
        json_object_set_new(c, "text", json_string(t));
        free(t);
    }
    return json_pack("{s:[o]}", "contents", c);
}

static json_t *json_contents(const char *uri, json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    json_t *r = json_pack("{s:[{s:s,s:s,s:s}]}", "contents", "uri", uri, "mimeType",
                          "application/json", "text", text ? text : "null");
    free(text);
    return r;
}

int at__mcp_resources_read(struct at_mcp *m, const struct at__mcp_caller *c, const char *uri,
                           json_t **result, char *errmsg, size_t errlen)
{
    json_t *vars = json_object();
    int rc = AT_MCP_RESOURCE_NOT_FOUND;
    if (template_match("atlas://agents/{name}/contract", uri, vars)) {
        struct at_reg_agent *a;
        const char *name = json_string_value(json_object_get(vars, "name"));
        if (m->cfg.registry && at__mcp_agent_ok(c, name) &&
            at_registry_resolve(m->cfg.registry, name, &a) == 0) {
            *result = json_contents(uri, json_incref(a->contract->json));
            at_reg_agent_unref(a);
            rc = 0;
        }
    } else if (template_match("atlas://jobs/{id}", uri, vars)) {
        const char *id = json_string_value(json_object_get(vars, "id"));
        struct at_job_rec rec;
        if (m->cfg.store && at_store_call(m->cfg.store, job_get, id, &rec) == 0) {
            const char *root = rec.root_id ? rec.root_id : rec.id;
            /* a user narrowed to agents sees their jobs only */
            int scoped_ok = at_tokens_job_visible(c->agents, m->cfg.store, &rec);
            if ((!c->has_token && scoped_ok) ||
                (c->has_token && strcmp(root, c->tok.root_id) == 0)) {
                *result = json_contents(uri, at_job_rec_to_json(&rec));
                rc = 0;
            }
            at_job_rec_release(&rec);
        }
    } else if (template_match("atlas://traces/{id}", uri, vars) && m->cfg.monitor &&
               (c->has_token || !c->agents[0])) { /* not for users narrowed to agents */
        const char *id = json_string_value(json_object_get(vars, "id"));
        json_t *tr = NULL;
        if (at_monitor_trace(m->cfg.monitor, id, &tr) == 0) {
            /* agents see the traces of their own tree only */
            const char *root = json_string_value(json_object_get(tr, "root_job"));
            if (!c->has_token || (root && strcmp(root, c->tok.root_id) == 0)) {
                *result = json_contents(uri, tr);
                rc = 0;
            } else {
                json_decref(tr);
            }
        }
    } else {
        json_t *pub = collect(m, "mcp/resources.json", "resources");
        size_t i;
        json_t *e;
        json_array_foreach(pub, i, e)
        {
            const char *u = json_string_value(json_object_get(e, "uri"));
            if (u && strcmp(u, uri) == 0) {
                *result = contents(uri, e, vars);
                rc = 0;
                break;
            }
        }
        json_decref(pub);
        if (rc) {
            pub = collect(m, "mcp/resources.json", "resourceTemplates");
            json_array_foreach(pub, i, e)
            {
                const char *t = json_string_value(json_object_get(e, "uriTemplate"));
                json_object_clear(vars);
                if (t && template_match(t, uri, vars)) {
                    *result = contents(uri, e, vars);
                    rc = 0;
                    break;
                }
            }
            json_decref(pub);
        }
    }
    json_decref(vars);
    if (rc)
        snprintf(errmsg, errlen, "Resource not found: %.300s", uri);
    return rc;
}

/* ---- prompts ---- */

int at__mcp_prompts_list(struct at_mcp *m, const char *cursor, json_t **result)
{
    json_t *pub = collect(m, "mcp/prompts.json", "prompts");
    json_t *all = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(pub, i, e)
    {
        if (json_is_string(json_object_get(e, "name")))
            json_array_append_new(all, listing(e));
    }
    json_decref(pub);
    *result = json_object();
    int rc = at__mcp_paginate(all, cursor, m->cfg.page_size, "prompts", *result);
    json_decref(all);
    return rc;
}

/* Copy v with "{{arg}}" replaced in every string (bounded depth). */
static json_t *substitute(const json_t *v, const json_t *args, int depth)
{
    if (depth > 16)
        return json_null();
    if (json_is_string(v)) {
        char *t = expand(json_string_value(v), args, 1);
        json_t *r = json_string(t);
        free(t);
        return r ? r : json_string("");
    }
    if (json_is_array(v)) {
        json_t *r = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(r, substitute(e, args, depth + 1));
        return r;
    }
    if (json_is_object(v)) {
        json_t *r = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
            json_object_set_new(r, k, substitute(e, args, depth + 1));
        return r;
    }
    return json_deep_copy(v);
}

int at__mcp_prompts_get(struct at_mcp *m, const char *name, const json_t *args, json_t **result,
                        char *errmsg, size_t errlen)
{
    json_t *pub = collect(m, "mcp/prompts.json", "prompts");
    json_t *found = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(pub, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0) {
            found = e;
            break;
        }
    }
    int rc = 0;
    if (!found) {
        snprintf(errmsg, errlen, "Unknown prompt: %.200s", name);
        rc = AT_MCP_INVALID_PARAMS;
    } else {
        /* required arguments (MCP 2025-11-25 server/prompts) */
        json_t *decl = json_object_get(found, "arguments");
        json_array_foreach(decl, i, e)
        {
            const char *an = json_string_value(json_object_get(e, "name"));
            if (an && json_is_true(json_object_get(e, "required")) &&
                !json_is_string(json_object_get(args, an))) {
                snprintf(errmsg, errlen, "prompt %.100s needs argument %.100s", name, an);
                rc = AT_MCP_INVALID_PARAMS;
                break;
            }
        }
        if (!rc) {
            json_t *msgs = substitute(json_object_get(found, "messages"), args, 0);
            if (!json_is_array(msgs)) {
                json_decref(msgs);
                msgs = json_array();
            }
            *result = json_pack("{s:o}", "messages", msgs);
            const char *d = json_string_value(json_object_get(found, "description"));
            if (d)
                json_object_set_new(*result, "description", json_string(d));
        }
    }
    json_decref(pub);
    return rc;
}

/* ---- completion ---- */

int at__mcp_complete(struct at_mcp *m, const json_t *params, json_t **result, char *errmsg,
                     size_t errlen)
{
    json_t *ref = json_object_get(params, "ref");
    json_t *arg = json_object_get(params, "argument");
    const char *type = json_string_value(json_object_get(ref, "type"));
    const char *aname = json_string_value(json_object_get(arg, "name"));
    const char *prefix = json_string_value(json_object_get(arg, "value"));
    if (!type || !aname) {
        snprintf(errmsg, errlen, "completion/complete needs ref.type and argument.name");
        return AT_MCP_INVALID_PARAMS;
    }
    json_t *values = json_array();
    if (!prefix)
        prefix = "";
    const char *uri = json_string_value(json_object_get(ref, "uri"));
    if (!strcmp(type, "ref/resource") && uri && !strcmp(aname, "name") &&
        !strncmp(uri, "atlas://agents/", 15) && m->cfg.registry) {
        /* agent names for atlas://agents/{name}/contract */
        struct at_reg_agent **agents = NULL;
        size_t n = at_registry_latest(m->cfg.registry, &agents);
        for (size_t i = 0; i < n; i++) {
            const char *an = agents[i]->contract->name;
            if (!strncmp(an, prefix, strlen(prefix)) && json_array_size(values) < 100)
                json_array_append_new(values, json_string(an));
            at_reg_agent_unref(agents[i]);
        }
        free(agents);
    } else if (!strcmp(type, "ref/prompt")) {
        /* a published prompt argument may list its "values" */
        json_t *pub = collect(m, "mcp/prompts.json", "prompts");
        const char *pname = json_string_value(json_object_get(ref, "name"));
        size_t i, k;
        json_t *p, *a, *v;
        json_array_foreach(pub, i, p)
        {
            const char *pn = json_string_value(json_object_get(p, "name"));
            if (!pname || !pn || strcmp(pname, pn) != 0)
                continue;
            json_array_foreach(json_object_get(p, "arguments"), k, a)
            {
                const char *an = json_string_value(json_object_get(a, "name"));
                if (!an || strcmp(an, aname) != 0)
                    continue;
                size_t j;
                json_array_foreach(json_object_get(a, "values"), j, v)
                {
                    const char *s = json_string_value(v);
                    if (s && !strncmp(s, prefix, strlen(prefix)) && json_array_size(values) < 100)
                        json_array_append_new(values, json_string(s));
                }
            }
        }
        json_decref(pub);
    }
    size_t total = json_array_size(values);
    *result = json_pack("{s:{s:o,s:I,s:b}}", "completion", "values", values, "total",
                        (json_int_t)total, "hasMore", 0);
    return 0;
}
