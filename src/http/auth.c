/*
 * auth.c - the security middleware and the security routes (auth.h):
 *   GET    /api/v1/whoami              who the caller is
 *   GET    /api/v1/access              the role x action table, every route's and
 *                                      every MCP platform tool's needs
 *   GET    /api/v1/tokens              token rows (never their text or hash)
 *   POST   /api/v1/tokens              create {name, role, expires?, scopes?, rate_per_min?,
 *                                      tokens_per_day?}
 *   DELETE /api/v1/tokens/{id}         revoke by id or name
 *   GET    /api/v1/secrets             secret names
 *   PUT    /api/v1/secrets/{name}      set (the body is the value, as is)
 *   DELETE /api/v1/secrets/{name}
 *   GET    /api/v1/audit               audit records, newest first
 */
#include "http/auth.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/str.h"
#include "chain/chain.h"
#include "contract/agent.h"
#include "http/api.h"
#include "json/json.h"
#include "mcp/mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <strings.h>
#include <limits.h>
#include <sys/stat.h>

void at_http_security_allow_host(struct at_http_security *sec, const char *host)
{
    if (!host || !*host || sec->nhosts >= AT_AUTH_MAX_HOSTS)
        return;
    char low[128];
    size_t n = strlen(host);
    if (n >= sizeof(low))
        return;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    for (int i = 0; i < sec->nhosts; i++)
        if (!strcmp(sec->hosts[i], low))
            return;
    memcpy(sec->hosts[sec->nhosts++], low, n + 1);
}

/* ---- Host and Origin ---- */

int at_http_authority_parse(const char *s, size_t len, char *host, size_t hn, int *port)
{
    *port = -1;
    size_t hl;
    const char *rest;
    if (len && s[0] == '[') {
        const char *e = memchr(s, ']', len);
        if (!e)
            return 0;
        hl = (size_t)(e - s) + 1;
        rest = e + 1;
    } else {
        const char *c = memchr(s, ':', len);
        hl = c ? (size_t)(c - s) : len;
        rest = s + hl;
    }
    if (hl == 0 || hl >= hn)
        return 0;
    for (size_t i = 0; i < hl; i++) {
        char ch = s[i];
        if ((unsigned char)ch <= ' ' || ch == '/' || ch == '@' || ch == '\\')
            return 0;
        host[i] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
    }
    host[hl] = '\0';
    size_t left = len - (size_t)(rest - s);
    if (left == 0)
        return 1;
    if (rest[0] != ':' || left < 2 || left > 6)
        return 0;
    int p = 0;
    for (size_t i = 1; i < left; i++) {
        if (rest[i] < '0' || rest[i] > '9')
            return 0;
        p = p * 10 + (rest[i] - '0');
    }
    *port = p;
    return 1;
}

static int host_known(const struct at_http_security *sec, const char *host)
{
    for (int i = 0; i < sec->nhosts; i++)
        if (!strcmp(sec->hosts[i], host))
            return 1;
    return 0;
}

/* Host: one of the names, and the port served (or none). */
static int host_ok(const struct at_http_security *sec, const char *value)
{
    char host[128];
    int port;
    if (!at_http_authority_parse(value, strlen(value), host, sizeof(host), &port))
        return 0;
    return host_known(sec, host) && (port < 0 || port == sec->port);
}

/* Origin: scheme://host[:port] exactly, the scheme the server speaks and
 * the port it serves. */
static int origin_ok(const struct at_http_security *sec, const char *value)
{
    const char *scheme = sec->tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    if (strncmp(value, scheme, sl) != 0)
        return 0;
    char host[128];
    int port;
    if (!at_http_authority_parse(value + sl, strlen(value + sl), host, sizeof(host), &port))
        return 0;
    int dflt = sec->tls ? 443 : 80;
    return host_known(sec, host) && (port < 0 ? dflt : port) == sec->port;
}

/* The content types a browser sends cross-site without asking first
 * (Fetch "CORS-safelisted request-header"): never accepted with an Origin. */
static int form_type(const char *ct)
{
    if (!ct)
        return 0;
    return !strncasecmp(ct, "text/plain", 10) ||
           !strncasecmp(ct, "application/x-www-form-urlencoded", 33) ||
           !strncasecmp(ct, "multipart/form-data", 19);
}

/* ---- the hook ---- */

static void source_of(struct at_http_req *r, char *out, size_t n)
{
    char peer[64];
    at_http_peer_name(r, peer, sizeof(peer));
    if (!strcmp(peer, "unix") || !strcmp(peer, "test") || !strcmp(peer, "sandbox"))
        snprintf(out, n, "%s", peer);
    else
        snprintf(out, n, "tcp:%s", peer);
}

void at_http_audit(struct at_http_req *r, const char *event, const char *outcome,
                   const char *action, const char *detail)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api || !api->security)
        return;
    char src[80], act[300];
    source_of(r, src, sizeof(src));
    if (!action) {
        snprintf(act, sizeof(act), "%s %s", r->method, r->path ? r->path : "");
        action = act;
    }
    const char *role = NULL;
    if (r->who_kind == AT_WHO_LOCAL)
        role = "admin";
    else if (r->who_kind == AT_WHO_JOB)
        role = "job";
    else if (r->who_kind == AT_WHO_USER) {
        struct at_principal p;
        const char *tok = at_http_bearer(r);
        if (tok && at_tokens_check(api->security->tokens, tok, &p, NULL) == 0)
            role = at_role_name(p.role);
    }
    struct at_audit_rec rec = {.event = event,
                               .actor = r->who[0] ? r->who : "anonymous",
                               .role = role,
                               .action = action,
                               .outcome = outcome,
                               .source = src,
                               .detail = detail};
    at_audit_record(api->security->audit, &rec);
}

static int deny(struct at_http_req *r, int code, struct at_diag *d, const char *fmt, const char *a)
{
    at_diag_set(d, code, NULL, 0, 0, fmt, a);
    if (code == AT_EAUTH) /* OCI clients (/v2/) then retry with basic: a token as password */
        at_http_add_header(r, "WWW-Authenticate",
                           r->path && !strncmp(r->path, "/v2", 3) ? "Basic realm=\"atlas\""
                                                                  : "Bearer realm=\"atlas\"");
    at_http_audit(r, code == AT_EAUTH ? "auth.failed" : "access.denied", "denied", NULL, d->msg);
    return code;
}

/* "Authorization: Basic base64(user:atl_...)": a token as the password, for
 * OCI clients that only do basic authentication (skopeo --creds, `atlas
 * login REGISTRY`); the user name is ignored.  NULL when it is not that. */
static const char *basic_token(struct at_http_req *r, char *out, size_t n)
{
    if (!r->auth.scheme || strcasecmp(r->auth.scheme, "Basic") != 0 || !r->auth.credentials)
        return NULL;
    unsigned char bin[256];
    size_t len = 0;
    const char *c = r->auth.credentials;
    if (strlen(c) >= 340 || sodium_base642bin(bin, sizeof(bin) - 1, c, strlen(c), NULL, &len, NULL,
                                              sodium_base64_VARIANT_ORIGINAL) != 0)
        return NULL;
    bin[len] = '\0';
    const char *colon = memchr(bin, ':', len);
    const char *pw = colon ? colon + 1 : NULL;
    size_t pl = pw ? len - (size_t)(pw - (const char *)bin) : 0;
    const char *res = NULL;
    if (pw && pl < n && strncmp(pw, AT_TOKEN_PREFIX, strlen(AT_TOKEN_PREFIX)) == 0) {
        memcpy(out, pw, pl);
        out[pl] = '\0';
        res = out;
    }
    sodium_memzero(bin, sizeof(bin));
    return res;
}

/* ---- agent:NAME scopes ---- */

/* The value of r's route parameter name ("" when absent), into out. */
static const char *route_param(const struct at_http_req *r, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < r->match.nparams; i++) {
        const struct at_http_param *p = &r->match.params[i];
        if (p->name && !strcmp(p->name, name) && p->len < n) {
            memcpy(out, p->value, p->len);
            out[p->len] = '\0';
            break;
        }
    }
    return out;
}

/* What a caller narrowed to agents may reach, by route pattern: the
 * routes about one agent (its name a parameter), one job (its agent
 * looked up), and the lists and protocols that filter by the agent
 * themselves.  Everything else is refused: closed by default, so a new
 * route is not open to such tokens until it is listed here. */
enum { SCOPE_OPEN, SCOPE_AGENT_PARAM, SCOPE_CHAIN_PARAM, SCOPE_JOB_PARAM };
static const struct {
    const char *pattern;
    int how;
    const char *param;
} agent_routes[] = {
    {AT_HTTP_API "/whoami", SCOPE_OPEN, NULL},
    {"/ui", SCOPE_OPEN, NULL}, /* static files; the dashboard reads through the API */
    {"/ui/{path*}", SCOPE_OPEN, NULL},
    {AT_HTTP_API "/health", SCOPE_OPEN, NULL},
    {AT_HTTP_API "/health/live", SCOPE_OPEN, NULL},
    {AT_HTTP_API "/health/ready", SCOPE_OPEN, NULL},
    {AT_HTTP_API "/agents", SCOPE_OPEN, NULL}, /* filtered (agents_routes.c) */
    {AT_HTTP_API "/jobs", SCOPE_OPEN, NULL},   /* filtered (jobs_routes.c) */
    {AT_HTTP_API "/traces", SCOPE_OPEN, NULL}, /* filtered (monitor_routes.c) */
    {"/mcp", SCOPE_OPEN, NULL},                /* filtered (mcp/tools.c) */
    {"/mcp/{rest*}", SCOPE_OPEN, NULL},
    {AT_HTTP_API "/chains", SCOPE_OPEN, NULL}, /* filtered (chains_routes.c) */
    {AT_HTTP_API "/agents/{ref}", SCOPE_AGENT_PARAM, "ref"},
    {AT_HTTP_API "/agents/{ref}/run", SCOPE_AGENT_PARAM, "ref"},
    {AT_HTTP_API "/agents/{ref}/rating", SCOPE_AGENT_PARAM, "ref"},
    {AT_HTTP_API "/agents/{ref}/review", SCOPE_AGENT_PARAM, "ref"},
    {"/a2a/agents/{agent}", SCOPE_AGENT_PARAM, "agent"},
    {"/a2a/agents/{agent}/.well-known/agent-card.json", SCOPE_AGENT_PARAM, "agent"},
    {AT_HTTP_API "/chains/{name}", SCOPE_CHAIN_PARAM, "name"},
    {AT_HTTP_API "/chains/{name}/run", SCOPE_CHAIN_PARAM, "name"},
    {"/a2a/chains/{chain}", SCOPE_CHAIN_PARAM, "chain"},
    {"/a2a/chains/{chain}/.well-known/agent-card.json", SCOPE_CHAIN_PARAM, "chain"},
    {AT_HTTP_API "/jobs/{id}", SCOPE_JOB_PARAM, "id"},
    {AT_HTTP_API "/jobs/{id}/cancel", SCOPE_JOB_PARAM, "id"},
    {AT_HTTP_API "/jobs/{id}/events", SCOPE_JOB_PARAM, "id"},
    {AT_HTTP_API "/jobs/{id}/logs", SCOPE_JOB_PARAM, "id"},
    {AT_HTTP_API "/jobs/{id}/placement", SCOPE_JOB_PARAM, "id"},
};

static int agent_scope_check(const struct at_http_api *api, struct at_http_req *r,
                             struct at_diag *d)
{
    const struct at_http_route *rt = r->match.route;
    if (!rt || !rt->pattern)
        return 0; /* test requests without a route */
    size_t i, n = sizeof(agent_routes) / sizeof(agent_routes[0]);
    for (i = 0; i < n; i++)
        if (!strcmp(agent_routes[i].pattern, rt->pattern))
            break;
    if (i == n)
        return deny(r, AT_EPERM, d,
                    "the token is narrowed to named agents and chains (agent:NAME, chain:NAME "
                    "scopes): %s is not open to it",
                    rt->pattern);
    char val[256];
    route_param(r, agent_routes[i].param ? agent_routes[i].param : "", val, sizeof(val));
    if (agent_routes[i].how == SCOPE_AGENT_PARAM && !at_tokens_agent_ok(r->agents, val))
        return deny(r, AT_EPERM, d,
                    "the token is narrowed to named agents and chains (agent:NAME, chain:NAME "
                    "scopes), not \"%s\"",
                    val);
    if (agent_routes[i].how == SCOPE_CHAIN_PARAM && !at_tokens_chain_ok(r->agents, val))
        return deny(r, AT_EPERM, d,
                    "the token is narrowed to named agents and chains (agent:NAME, chain:NAME "
                    "scopes), not the chain \"%s\"",
                    val);
    if (agent_routes[i].how == SCOPE_JOB_PARAM && api->store) {
        struct at_job_rec rec;
        if (at_store_call(api->store, job_get, val, &rec) != 0)
            return 0; /* the handler answers 404 */
        int ok = at_tokens_job_visible(r->agents, api->store, &rec);
        at_job_rec_release(&rec);
        if (!ok)
            return deny(r, AT_EPERM, d,
                        "the token is narrowed to named agents and chains (agent:NAME, "
                        "chain:NAME scopes): job %s is another agent's or chain's",
                        val);
    }
    return 0;
}

int at_http_deny_quota(struct at_http_req *r, const struct at_quota *q, struct at_diag *d)
{
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", q->retry_after_s);
    at_http_add_header(r, "Retry-After", ra);
    char msg[400];
    at_tokens_quota_describe(q, msg, sizeof(msg));
    return deny(r, AT_ELIMIT, d, "%s", msg);
}

void at_http_reply_quota(struct at_http_req *r, const struct at_quota *q)
{
    struct at_diag d;
    at_diag_clear(&d);
    at_http_deny_quota(r, q, &d);
    at_http_reply_problem(r, AT_ELIMIT, d.msg, NULL, NULL);
}

int at_http_agent_ok(const struct at_http_req *r, const char *ref)
{
    return at_tokens_agent_ok(r->agents, ref);
}

int at_http_chain_ok(const struct at_http_req *r, const char *name)
{
    return at_tokens_chain_ok(r->agents, name);
}

int at_http_job_visible(struct at_http_req *r, const struct at_job_rec *rec)
{
    const struct at_http_api *api = at_http_api_of(r);
    return at_tokens_job_visible(r->agents, api ? api->store : NULL, rec);
}

/* ",a,chain:c," -> "a, chain:c" */
static void scope_list(const char *agents, char *list, size_t ln)
{
    size_t n = strlen(agents);
    size_t k = 0;
    for (size_t i = 1; i + 1 < n && k + 3 < ln; i++) {
        if (agents[i] == ',') {
            list[k++] = ',';
            list[k++] = ' ';
        } else {
            list[k++] = agents[i];
        }
    }
    list[k] = '\0';
}

void at_http_reply_agent_denied(struct at_http_req *r, const char *ref)
{
    char list[AT_HTTP_AGENTS_MAX];
    scope_list(r->agents, list, sizeof(list));
    char msg[AT_HTTP_AGENTS_MAX + 300];
    if (ref)
        snprintf(msg, sizeof(msg),
                 "the token is narrowed to %s (agent:NAME, chain:NAME scopes): not \"%.100s\"",
                 list, ref);
    else
        snprintf(msg, sizeof(msg),
                 "the token is narrowed to %s (agent:NAME, chain:NAME scopes): routing, which "
                 "may run any agent, is refused",
                 list);
    struct at_diag d;
    at_diag_clear(&d);
    deny(r, AT_EPERM, &d, "%s", msg);
    at_http_reply_problem(r, AT_EPERM, d.msg, NULL, NULL);
}

void at_http_agents_filter(const struct at_http_req *r, json_t *arr, const char *key)
{
    if (!r->agents[0] || !json_is_array(arr))
        return;
    for (size_t i = json_array_size(arr); i-- > 0;)
        if (!at_tokens_agent_ok(r->agents,
                                json_string_value(json_object_get(json_array_get(arr, i), key))))
            json_array_remove(arr, i);
}

void at_http_chains_filter(const struct at_http_req *r, json_t *arr, const char *key)
{
    if (!r->agents[0] || !json_is_array(arr))
        return;
    for (size_t i = json_array_size(arr); i-- > 0;)
        if (!at_tokens_chain_ok(r->agents,
                                json_string_value(json_object_get(json_array_get(arr, i), key))))
            json_array_remove(arr, i);
}

void at_http_jobs_filter(struct at_http_req *r, json_t *arr, const char *root_key)
{
    if (!r->agents[0] || !json_is_array(arr))
        return;
    const struct at_http_api *api = at_http_api_of(r);
    /* the roots already judged (a list holds few trees): "" none */
    char yes[AT_ID_MAX] = "", no[AT_ID_MAX] = "";
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *j = json_array_get(arr, i);
        const char *kind = json_string_value(json_object_get(j, "kind"));
        const char *agent = json_string_value(json_object_get(j, "agent"));
        if (at_tokens_job_ok(r->agents, kind, agent))
            continue;
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *root = root_key ? json_string_value(json_object_get(j, root_key)) : NULL;
        int ok = 0;
        if (root && id && strcmp(root, id) != 0 && strlen(root) < AT_ID_MAX &&
            strstr(r->agents, ",chain:") && api && api->store) {
            if (!strcmp(root, yes)) {
                ok = 1;
            } else if (strcmp(root, no) != 0) {
                struct at_job_rec rec;
                if (at_store_call(api->store, job_get, root, &rec) == 0) {
                    ok = rec.kind && !strcmp(rec.kind, "chain") &&
                         at_tokens_chain_ok(r->agents, rec.agent);
                    at_job_rec_release(&rec);
                }
                snprintf(ok ? yes : no, AT_ID_MAX, "%s", root);
            }
        }
        if (!ok)
            json_array_remove(arr, i);
    }
}

const char *at_http_owner_token(const struct at_http_req *r)
{
    return r->who_kind == AT_WHO_USER && !strncmp(r->who_id, "t:", 2) ? r->who_id + 2 : NULL;
}

int at_http_authorize(void *arg, struct at_http_req *r, unsigned needs, struct at_diag *d)
{
    const struct at_http_api *api = arg;
    struct at_http_security *sec = api->security;
    if (!sec)
        return 0; /* unit tests that mount routes without the security layer */
    int unix_sock = at_http_peer_is_unix(r);
    /* Host and Origin fence browsers off the TCP port (DNS rebinding); no
     * browser reaches a Unix socket, and a sandbox's relay names its own
     * loopback port (a token is needed there all the same) */
    if (!unix_sock && !at_http_peer_is_sandbox(r) && r->conn) {
        const char *host = at_http_header(r, "Host");
        if (host && !host_ok(sec, host))
            return deny(r, AT_EPERM, d,
                        "the Host header \"%s\" is not a name this daemon serves "
                        "(security.allowed_hosts; DNS rebinding protection)",
                        host);
        const char *origin = at_http_header(r, "Origin");
        if (origin && !origin_ok(sec, origin))
            return deny(r, AT_EPERM, d,
                        "requests from the web origin \"%s\" are refused (cross-origin requests "
                        "are closed)",
                        origin);
        if (origin && form_type(at_http_header(r, "Content-Type")))
            return deny(r, AT_EPERM, d,
                        "a browser form's content type (%s) is refused: send application/json",
                        at_http_header(r, "Content-Type"));
    }
    if (strcmp(r->method, "POST") == 0 && r->conn) {
        const char *ct = at_http_header(r, "Content-Type");
        if (ct && !strncasecmp(ct, "text/plain", 10))
            return deny(r, AT_EPERM, d, "%s bodies are refused: send application/json", ct);
    }
    char basic[AT_TOKEN_TEXT_MAX];
    const char *tok = at_http_bearer(r);
    if (!tok)
        tok = basic_token(r, basic, sizeof(basic));
    if (!tok && unix_sock) {
        r->who_kind = AT_WHO_LOCAL;
        r->role = AT_ROLE_ADMIN;
        r->granted = at_access_grants(AT_ROLE_ADMIN);
        snprintf(r->who, sizeof(r->who), "local");
        return 0;
    }
    if (!tok) {
        if (needs == 0)
            return 0;
        if (at_http_header(r, "Authorization"))
            return deny(r, AT_EAUTH, d, "%s", "the Authorization header is not \"Bearer TOKEN\"");
        return deny(r, AT_EAUTH, d, "%s",
                    "a bearer token is required (Authorization: Bearer atl_...; the CLI reads "
                    "ATLAS_TOKEN, ~/.config/atlas/credentials or the data directory's "
                    "admin.token)");
    }
    enum at_role role;
    unsigned scope = ~0u; /* what the token's --scope leaves of its role */
    if (!strncmp(tok, AT_TOKEN_PREFIX, strlen(AT_TOKEN_PREFIX))) {
        struct at_principal p;
        int first = 0;
        int rc = at_tokens_check(sec->tokens, tok, &p, &first);
        if (rc && needs == 0)
            return 0; /* public (probes): a stale token does not fail them */
        if (rc == AT_ETIMEDOUT) {
            snprintf(r->who, sizeof(r->who), "%s", p.name);
            return deny(r, AT_EAUTH, d, "the token \"%s\" has expired", p.name);
        }
        if (rc)
            return deny(r, AT_EAUTH, d, "%s",
                        "the bearer token is not valid (revoked, or not "
                        "a token of this daemon)");
        role = p.role;
        if (p.scoped)
            scope = p.scope;
        r->who_kind = AT_WHO_USER;
        r->role = (int)p.role;
        snprintf(r->agents, sizeof(r->agents), "%s", p.agents);
        snprintf(r->who, sizeof(r->who), "%s", p.name);
        snprintf(r->who_id, sizeof(r->who_id), "t:%s", p.id);
        if (first)
            at_http_audit(r, "token.use", "allowed", NULL, "first use since the daemon started");
        int retry = 0;
        if (at_tokens_rate(sec->tokens, p.id, &retry) == AT_ELIMIT) {
            char ra[16];
            snprintf(ra, sizeof(ra), "%d", retry);
            at_http_add_header(r, "Retry-After", ra);
            return deny(r, AT_ELIMIT, d,
                        "token \"%s\" is over its rate limit (requests per "
                        "minute: security.rate_limit_per_min or the token's "
                        "rate_per_min)",
                        p.name);
        }
        /* the day's model tokens: no new run or model call once they are
         * spent (a run's agents spend them too) */
        struct at_quota q;
        if ((needs & (AT_ACCESS_RUN | AT_ACCESS_MODEL)) &&
            at_tokens_quota_check(sec->tokens, p.id, &q) == AT_ELIMIT)
            return at_http_deny_quota(r, &q, d);
    } else {
        /* an agent's job token */
        struct at_token_info ti;
        int ok = api->engine && at_engine_token_info(api->engine, tok, &ti) == 0;
        if (!ok && needs == 0)
            return 0;
        if (!ok && needs != AT_HTTP_NEED_MCP)
            return deny(r, AT_EAUTH, d, "%s",
                        "the bearer token is not valid (the job it belongs "
                        "to has ended?)");
        /* /mcp: the MCP server judges process tokens itself (idle ones) */
        role = AT_ROLE_JOB;
        r->who_kind = AT_WHO_JOB;
        r->role = AT_ROLE_JOB;
        snprintf(r->who, sizeof(r->who), "job:%s", ok ? ti.job_id : "?");
        if (strlen(tok) + 3 <= sizeof(r->who_id))
            snprintf(r->who_id, sizeof(r->who_id), "j:%s", tok);
        if (!ok)
            r->who_id[0] = '\0'; /* nothing to revalidate yet */
    }
    r->granted = at_access_grants(role) & scope;
    if (needs & AT_HTTP_OR_NODE) {
        needs &= ~(unsigned)AT_HTTP_OR_NODE;
        if (role == AT_ROLE_NODE)
            needs = AT_ACCESS_NODE; /* a node pulls the agents it runs */
    }
    if (!at_access_allows(role, needs)) {
        char need[128];
        at_access_names(needs & ~r->granted, need, sizeof(need));
        char msg[200];
        snprintf(msg, sizeof(msg), "role %s may not do this (it needs: %s)", at_role_name(role),
                 need);
        return deny(r, AT_EPERM, d, "%s", msg);
    }
    if ((r->granted & needs) != needs) {
        char need[128];
        at_access_names(needs & ~r->granted, need, sizeof(need));
        char msg[200];
        snprintf(msg, sizeof(msg), "the token's scopes do not include: %s", need);
        return deny(r, AT_EPERM, d, "%s", msg);
    }
    if (r->agents[0])
        return agent_scope_check(api, r, d);
    return 0;
}

int at_http_revalidate(void *arg, const char *who_id)
{
    const struct at_http_api *api = arg;
    if (!api->security)
        return 1;
    if (!strncmp(who_id, "t:", 2))
        return at_tokens_live(api->security->tokens, who_id + 2);
    if (!strncmp(who_id, "j:", 2)) {
        struct at_token_info ti;
        return !api->engine || at_engine_token_info(api->engine, who_id + 2, &ti) == 0;
    }
    return 1;
}

int at_http_may_quote(void *arg, struct at_http_req *r, const char *file)
{
    const struct at_http_api *api = arg;
    if (!api->security || r->who_kind == AT_WHO_LOCAL)
        return 1;
    if (r->who_kind == AT_WHO_USER) {
        struct at_principal p;
        const char *tok = at_http_bearer(r);
        if (tok && at_tokens_check(api->security->tokens, tok, &p, NULL) == 0 &&
            p.role == AT_ROLE_ADMIN)
            return 1;
    }
    char real[PATH_MAX];
    if (!realpath(file, real))
        return 0;
    struct stat st;
    if (stat(real, &st) != 0 || !(st.st_mode & S_IROTH))
        return 0;
    for (char *slash = strrchr(real, '/'); slash && slash != real; slash = strrchr(real, '/')) {
        *slash = '\0';
        if (stat(real, &st) != 0 || !(st.st_mode & S_IXOTH))
            return 0;
    }
    return 1;
}

char *at_http_redact(void *arg, const char *body, size_t len, size_t *out_len)
{
    const struct at_http_api *api = arg;
    if (!api->security || !api->security->secrets ||
        !at_secrets_contains(api->security->secrets, body, len))
        return NULL;
    struct at_buf b;
    at_buf_init(&b, len * 3 + 1024);
    at_secrets_redact(api->security->secrets, body, len, &b);
    at_buf_putc(&b, '\0');
    char *out = at_buf_detach(&b, out_len);
    (*out_len)--;
    return out;
}

size_t at_http_log_redact(void *secrets, char *line, size_t len, size_t cap)
{
    if (!secrets || !at_secrets_contains(secrets, line, len))
        return len;
    struct at_buf b;
    at_buf_init(&b, cap + 64);
    at_secrets_redact(secrets, line, len, &b);
    size_t n = b.len < cap ? b.len : cap;
    memcpy(line, b.p, n);
    at_buf_release(&b);
    return n;
}

/* ---- ownership of agents ---- */

/* The rule of owners for a developer token (the caller checked the role):
 * key's owner must be the caller's token; a name without an owner is the
 * developer's to take unless it exists (an administrator's, or from before
 * owners).  what/name say it in the refusal.  0, or AT_EPERM with d (the
 * denial recorded). */
static int owner_rule(struct at_http_req *r, const char *key, const char *what, const char *name,
                      int exists, struct at_diag *d)
{
    const struct at_http_api *api = at_http_api_of(r);
    char *owner = NULL, *owner_id = NULL;
    int rc = at_secstore_owner_get(api->security->ss, key, &owner, &owner_id);
    const char *mine = at_http_owner_token(r);
    int ok;
    char msg[400];
    if (rc == AT_ENOENT) {
        ok = !exists;
        snprintf(msg, sizeof(msg),
                 "%s \"%.200s\" has no owner (an administrator registered it): a developer "
                 "token may change only the %ss it registered",
                 what, name, what);
    } else {
        ok = rc == 0 && mine && owner_id && !strcmp(owner_id, mine);
        snprintf(msg, sizeof(msg),
                 "%s \"%.200s\" is owned by the token \"%.64s\": a developer token may change "
                 "only the %ss it registered",
                 what, name, owner ? owner : "?", what);
    }
    free(owner);
    free(owner_id);
    if (ok)
        return 0;
    at_diag_set(d, AT_EPERM, NULL, 0, 0, "%s", msg);
    at_http_audit(r, "access.denied", "denied", NULL, msg);
    return AT_EPERM;
}

int at_http_owner_check(struct at_http_req *r, const char *name, const char *dir, struct at_diag *d)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api || !api->security || r->role != AT_ROLE_DEVELOPER)
        return 0; /* only developers are bound to their own agents */
    struct at_contract *c = NULL;
    char nm[AT_AGENT_NAME_MAX + 1] = "";
    if (name) {
        snprintf(nm, sizeof(nm), "%.*s", (int)strcspn(name, ":@"), name);
    } else if (dir) {
        struct at_diag cd;
        at_diag_clear(&cd);
        if (at_contract_load_dir(dir, &c, &cd) != 0)
            return 0; /* registering reports what is wrong with it */
        snprintf(nm, sizeof(nm), "%s", at_json_str(c->json, "name", ""));
        at_contract_unref(c);
    }
    if (!nm[0])
        return 0;
    struct at_reg_agent *a = NULL;
    int exists = at_registry_resolve(api->registry, nm, &a) == 0;
    at_reg_agent_unref(a);
    return owner_rule(r, nm, "agent", nm, exists, d);
}

void at_http_owner_record_as(const struct at_http_api *api, const char *name, const char *owner,
                             const char *owner_id)
{
    if (!api || !api->security || !name || !*name || !owner || !*owner)
        return;
    char nm[AT_AGENT_NAME_MAX + 1];
    snprintf(nm, sizeof(nm), "%.*s", (int)strcspn(name, ":@"), name);
    char *had = NULL;
    if (at_secstore_owner_get(api->security->ss, nm, &had, NULL) == 0) {
        free(had); /* it has one: kept, whoever registered now */
        return;
    }
    at_secstore_owner_set(api->security->ss, nm, owner, owner_id, at_wall_ms());
}

void at_http_owner_record(struct at_http_req *r, const char *name)
{
    at_http_owner_record_as(at_http_api_of(r), name, r->who[0] ? r->who : "local",
                            at_http_owner_token(r));
}

void at_http_owner_forget(struct at_http_req *r, const char *name)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api || !api->security || !name)
        return;
    char nm[AT_AGENT_NAME_MAX + 1];
    snprintf(nm, sizeof(nm), "%.*s", (int)strcspn(name, ":@"), name);
    struct at_reg_agent *a = NULL;
    if (at_registry_resolve(api->registry, nm, &a) == 0) {
        at_reg_agent_unref(a); /* versions are left */
        return;
    }
    at_secstore_owner_set(api->security->ss, nm, NULL, NULL, 0);
}

int at_http_owner_transfer(struct at_http_req *r, const char *name, const char *to, json_t **out,
                           struct at_diag *d)
{
    *out = NULL;
    const struct at_http_api *api = at_http_api_of(r);
    if (!api || !api->security)
        return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0, "the security layer is off");
    char nm[AT_AGENT_NAME_MAX + 1];
    snprintf(nm, sizeof(nm), "%.*s", (int)strcspn(name ? name : "", ":@"), name ? name : "");
    struct at_reg_agent *a = NULL;
    if (!nm[0] || at_registry_resolve(api->registry, nm, &a) != 0)
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no agent \"%s\" is registered", nm);
    at_reg_agent_unref(a);
    if (!to || !*to)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "the body must be {\"to\": TOKEN_NAME}: the live token to own it");
    char *owner = NULL, *owner_id = NULL;
    int rc = at_secstore_owner_get(api->security->ss, nm, &owner, &owner_id);
    if (rc != 0 && rc != AT_ENOENT)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot read the owner of \"%s\": %s", nm,
                           at_err_msg(rc));
    const char *mine = at_http_owner_token(r);
    int is_owner = mine && owner_id && !strcmp(owner_id, mine);
    char msg[400];
    if (r->role != AT_ROLE_ADMIN && !is_owner) {
        snprintf(msg, sizeof(msg),
                 "only an administrator or the agent's owner may hand agent \"%s\" to another "
                 "token (its owner is %s%s%s)",
                 nm, owner ? "the token \"" : "nobody", owner ? owner : "", owner ? "\"" : "");
        free(owner);
        free(owner_id);
        at_http_audit(r, "access.denied", "denied", NULL, msg);
        return at_diag_set(d, AT_EPERM, NULL, 0, 0, "%s", msg);
    }
    char id[AT_ID_MAX];
    enum at_role role;
    if (at_tokens_find(api->security->tokens, to, id, sizeof(id), &role) != 0) {
        free(owner);
        free(owner_id);
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "no live token is named \"%.64s\" (atlas token ls)", to);
    }
    if (!(at_access_grants(role) & AT_ACCESS_REGISTER)) {
        free(owner);
        free(owner_id);
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "the token \"%.64s\" is of role %s, which may not register agents: "
                           "an owner is an admin or developer token",
                           to, at_role_name(role));
    }
    rc = at_secstore_owner_set(api->security->ss, nm, to, id, at_wall_ms());
    if (rc) {
        free(owner);
        free(owner_id);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot record the new owner: %s", at_err_msg(rc));
    }
    snprintf(msg, sizeof(msg), "agent %s: owner %s -> %s", nm, owner ? owner : "(none)", to);
    at_http_audit(r, "agent.transfer", "ok", NULL, msg);
    json_t *prev = owner ? json_pack("{s:s,s:s?}", "name", owner, "id", owner_id) : json_null();
    *out = json_pack("{s:s,s:{s:s,s:s},s:o}", "name", nm, "owner", "name", to, "id", id, "previous",
                     prev);
    free(owner);
    free(owner_id);
    return 0;
}

int at_http_chain_owner_check(struct at_http_req *r, const char *name, struct at_diag *d)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api || !api->security || r->role != AT_ROLE_DEVELOPER || !name || !*name)
        return 0; /* only developers are bound to their own chains */
    char key[300];
    snprintf(key, sizeof(key), "chain:%.250s", name);
    struct at_chain *c = NULL;
    int exists = at_registry_chain_get(api->registry, name, &c) == 0;
    at_chain_unref(c);
    return owner_rule(r, key, "chain", name, exists, d);
}

void at_http_chain_owner_record(struct at_http_req *r, const char *name)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api || !api->security || !name || !*name)
        return;
    char key[300];
    snprintf(key, sizeof(key), "chain:%.250s", name);
    char *had = NULL;
    if (at_secstore_owner_get(api->security->ss, key, &had, NULL) == 0) {
        free(had);
        return;
    }
    at_secstore_owner_set(api->security->ss, key, r->who[0] ? r->who : "local",
                          at_http_owner_token(r), at_wall_ms());
}

void at_http_chain_owner_forget(struct at_http_req *r, const char *name)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api || !api->security || !name)
        return;
    char key[300];
    snprintf(key, sizeof(key), "chain:%.250s", name);
    at_secstore_owner_set(api->security->ss, key, NULL, NULL, 0);
}

json_t *at_http_owner_json(const struct at_http_api *api, const char *name)
{
    if (!api || !api->security || !name)
        return json_null();
    char *owner = NULL, *owner_id = NULL;
    if (at_secstore_owner_get(api->security->ss, name, &owner, &owner_id) != 0)
        return json_null();
    json_t *o = json_pack("{s:s,s:s?}", "name", owner, "id", owner_id);
    free(owner);
    free(owner_id);
    return o ? o : json_null();
}

/* ---- routes ---- */

static struct at_http_security *sec_of(struct at_http_req *r)
{
    return at_http_api_of(r)->security;
}

static int64_t parse_duration_ms(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > 100000000)
        return -1;
    long long mul;
    if (!*end || !strcmp(end, "s"))
        mul = 1000;
    else if (!strcmp(end, "m"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else if (!strcmp(end, "d"))
        mul = 86400000;
    else
        return -1;
    return v * mul;
}

static void h_whoami(struct at_http_req *r)
{
    if (r->who_kind == AT_WHO_NONE) {
        at_http_add_header(r, "WWW-Authenticate", "Bearer realm=\"atlas\"");
        at_http_reply_problem(r, AT_EAUTH,
                              "no credentials: this route needs a bearer token "
                              "(or the Unix socket)",
                              NULL, NULL);
        return;
    }
    static const char *const kinds[] = {"none", "local", "token", "job"};
    json_t *actions = json_array();
    for (int i = 0; i < AT_ACCESS_NACTIONS; i++)
        if (r->granted & (1u << i))
            json_array_append_new(actions, json_string(at_access_action_name(1u << i)));
    const char *role = r->who_kind == AT_WHO_LOCAL ? "admin" : "?";
    struct at_principal p;
    if (r->who_kind == AT_WHO_JOB)
        role = "job";
    else if (r->who_kind == AT_WHO_USER &&
             at_tokens_check(sec_of(r)->tokens, at_http_bearer(r), &p, NULL) == 0)
        role = at_role_name(p.role);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "name", r->who, "kind", kinds[r->who_kind], "role",
                          role, "actions", actions);
    if (r->agents[0]) {
        json_t *names = json_array();
        json_t *chains = json_array();
        char copy[AT_HTTP_AGENTS_MAX];
        snprintf(copy, sizeof(copy), "%s", r->agents);
        for (char *s = copy + 1, *c; (c = strchr(s, ',')); s = c + 1) {
            *c = '\0';
            if (!strncmp(s, "chain:", 6))
                json_array_append_new(chains, json_string(s + 6));
            else
                json_array_append_new(names, json_string(s));
        }
        json_object_set_new(o, "agents", names);
        json_object_set_new(o, "chains", chains);
    }
    struct at_quota q;
    const char *id = at_http_owner_token(r);
    if (id) {
        at_tokens_quota_check(sec_of(r)->tokens, id, &q);
        json_object_set_new(o, "quota",
                            json_pack("{s:I,s:I,s:I}", "tokens_per_day", (json_int_t)q.limit,
                                      "used_today", (json_int_t)q.used, "resets_ms",
                                      (json_int_t)q.resets_ms));
    }
    at_http_reply_json(r, 200, o);
}

static json_t *needs_json(unsigned needs)
{
    json_t *a = json_array();
    for (int i = 0; i < AT_ACCESS_NACTIONS; i++)
        if (needs & (1u << i))
            json_array_append_new(a, json_string(at_access_action_name(1u << i)));
    return a;
}

static void h_access(struct at_http_req *r)
{
    json_t *roles = json_object();
    for (int i = 0; i < AT_ROLE_COUNT; i++)
        json_object_set_new(roles, at_role_name((enum at_role)i),
                            needs_json(at_access_grants((enum at_role)i)));
    json_t *routes = json_array();
    const struct at_http_router *rt = at_http_router_of(at_http_server_of(r));
    for (size_t i = 0; i < at_http_router_count(rt); i++) {
        const struct at_http_route *x = at_http_router_route(rt, i);
        json_t *row = json_pack("{s:s,s:s,s:o,s:b}", "method", x->method, "pattern", x->pattern,
                                "needs", needs_json(x->needs), "public", x->needs == 0);
        if (x->needs & AT_HTTP_OR_NODE) /* or a node token (nodes pull their agents) */
            json_object_set_new(row, "or_roles", json_pack("[s]", "node"));
        json_array_append_new(routes, row);
    }
    json_t *tools = json_array();
    for (size_t i = 0;; i++) {
        const char *name = at_mcp_platform_tool_name(i);
        if (!name)
            break;
        json_array_append_new(tools, json_pack("{s:s,s:o}", "name", name, "needs",
                                               needs_json(at_mcp_tool_needs(name))));
    }
    /* the routes open to tokens narrowed with agent:NAME or chain:NAME scopes */
    json_t *scoped = json_array();
    for (size_t i = 0; i < sizeof(agent_routes) / sizeof(agent_routes[0]); i++)
        json_array_append_new(scoped, json_string(agent_routes[i].pattern));
    at_http_reply_json(r, 200,
                       json_pack("{s:o,s:o,s:o,s:o}", "roles", roles, "routes", routes, "mcp_tools",
                                 tools, "agent_scoped_routes", scoped));
}

static void h_tokens_list(struct at_http_req *r)
{
    at_http_reply_json(r, 200, json_pack("{s:o}", "tokens", at_tokens_list(sec_of(r)->tokens)));
}

static void h_tokens_create(struct at_http_req *r)
{
    json_t *body;
    if (at_http_body_json(r, 0, &body))
        return;
    struct at_token_spec spec = {0};
    spec.name = at_json_str(body, "name", NULL);
    const char *role = at_json_str(body, "role", NULL);
    int rl = at_role_parse(role);
    const char *exp = at_json_str(body, "expires", NULL);
    json_t *scopes = json_object_get(body, "scopes");
    json_t *rate = json_object_get(body, "rate_per_min");
    if (!spec.name || rl < 0 || rl == AT_ROLE_JOB) {
        at_http_reply_problem(r, AT_EINVAL,
                              "a token needs \"name\" and \"role\" (admin, operator, developer, "
                              "viewer or node)",
                              rl < 0 && spec.name ? "/role" : "/name", NULL);
        json_decref(body);
        return;
    }
    spec.role = (enum at_role)rl;
    if (exp) {
        int64_t ms = parse_duration_ms(exp);
        if (ms < 0) {
            at_http_reply_problem(r, AT_EINVAL,
                                  "\"expires\" is a duration: a number and s, m, h or d (\"30d\")",
                                  "/expires", NULL);
            json_decref(body);
            return;
        }
        spec.expires_ms = at_wall_ms() + ms;
    }
    if (scopes && !json_is_array(scopes)) {
        at_http_reply_problem(r, AT_EINVAL, "\"scopes\" is a list of strings", "/scopes", NULL);
        json_decref(body);
        return;
    }
    spec.scopes = scopes;
    if (rate && (!json_is_integer(rate) || json_integer_value(rate) < 0)) {
        at_http_reply_problem(r, AT_EINVAL, "\"rate_per_min\" is a whole number >= 0",
                              "/rate_per_min", NULL);
        json_decref(body);
        return;
    }
    spec.rate_per_min = rate ? json_integer_value(rate) : 0;
    json_t *quota = json_object_get(body, "tokens_per_day");
    if (quota && (!json_is_integer(quota) || json_integer_value(quota) < 0)) {
        at_http_reply_problem(r, AT_EINVAL, "\"tokens_per_day\" is a whole number >= 0",
                              "/tokens_per_day", NULL);
        json_decref(body);
        return;
    }
    spec.tokens_per_day = quota ? json_integer_value(quota) : 0;
    spec.created_by = r->who[0] ? r->who : NULL;
    json_t *node = json_object_get(body, "node");
    if (node && !json_is_null(node) && !json_is_string(node)) {
        at_http_reply_problem(r, AT_EINVAL, "\"node\" is a node's name", "/node", NULL);
        json_decref(body);
        return;
    }
    spec.node = json_string_value(node);
    char text[AT_TOKEN_TEXT_MAX];
    json_t *row = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_tokens_create(sec_of(r)->tokens, &spec, text, &row, &d);
    if (rc) {
        at_http_reply_diag(r, &d);
        json_decref(body);
        return;
    }
    char detail[200];
    snprintf(detail, sizeof(detail), "token %s (%s) role %s%s%s", spec.name,
             json_string_value(json_object_get(row, "id")), at_role_name(spec.role),
             spec.node ? " for node " : "", spec.node ? spec.node : "");
    at_http_audit(r, "token.create", "ok", NULL, detail);
    json_object_set_new(row, "token", json_string(text));
    memset(text, 0, sizeof(text));
    at_http_reply_json(r, 201, row);
    json_decref(body);
}

static void h_tokens_revoke(struct at_http_req *r)
{
    const char *id = at_http_param(r, "id");
    int rc = at_tokens_revoke(sec_of(r)->tokens, id);
    if (rc) {
        at_http_reply_missing(r, rc, "live token", id, NULL);
        return;
    }
    char detail[200];
    snprintf(detail, sizeof(detail), "token %s revoked", id);
    at_http_audit(r, "token.revoke", "ok", NULL, detail);
    at_http_reply_json(r, 200, json_pack("{s:s,s:b}", "token", id, "revoked", 1));
}

static void h_secrets_list(struct at_http_req *r)
{
    json_t *list = NULL;
    int rc = at_secrets_list(sec_of(r)->secrets, &list);
    if (rc) {
        json_decref(list);
        at_http_reply_problem(r, rc, "cannot read the secrets", NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:o}", "secrets", list));
}

static void h_secret_put(struct at_http_req *r)
{
    const char *name = at_http_param(r, "name");
    struct at_diag d;
    at_diag_clear(&d);
    size_t len = r->body.len;
    /* `echo value | atlas secret set NAME`: one trailing newline is not
     * part of the value */
    if (len && r->body.p[len - 1] == '\n')
        len--;
    if (len && r->body.p[len - 1] == '\r')
        len--;
    int rc = at_secrets_set(sec_of(r)->secrets, name, r->body.p ? r->body.p : "", len, &d);
    if (rc) {
        at_http_reply_diag(r, &d);
        return;
    }
    char detail[200];
    snprintf(detail, sizeof(detail), "secret %s set", name);
    at_http_audit(r, "secret.set", "ok", NULL, detail);
    at_http_reply_json(r, 200, json_pack("{s:s,s:b}", "name", name, "set", 1));
}

static void h_secret_delete(struct at_http_req *r)
{
    const char *name = at_http_param(r, "name");
    int rc = at_secrets_delete(sec_of(r)->secrets, name);
    if (rc) {
        at_http_reply_missing(r, rc, "secret", name, NULL);
        return;
    }
    char detail[200];
    snprintf(detail, sizeof(detail), "secret %s deleted", name);
    at_http_audit(r, "secret.delete", "ok", NULL, detail);
    at_http_reply_json(r, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

static void h_audit(struct at_http_req *r)
{
    long long limit, before;
    if (at_http_query_int(r, "limit", 1, 1000, 100, &limit) ||
        at_http_query_int(r, "before_ms", 0, INT64_MAX, 0, &before))
        return;
    json_t *rows = NULL;
    int rc = at_secstore_audit_list(sec_of(r)->ss, before, at_http_query_str(r, "event"),
                                    (int)limit, &rows);
    if (rc) {
        json_decref(rows);
        at_http_reply_problem(r, rc, "cannot read the audit records", NULL, NULL);
        return;
    }
    at_http_reply_json(r, 200, json_pack("{s:o}", "records", rows));
}

static const struct at_http_route routes[] = {
    {"GET", AT_HTTP_API "/whoami", h_whoami, 0, 0, 0, NULL},
    {"GET", AT_HTTP_API "/access", h_access, AT_HTTP_NEED_READ, 0, 0, NULL},
    {"GET", AT_HTTP_API "/tokens", h_tokens_list, AT_HTTP_NEED_TOKENS, 0, 0, NULL},
    {"POST", AT_HTTP_API "/tokens", h_tokens_create, AT_HTTP_NEED_TOKENS, 0, 0, NULL},
    {"DELETE", AT_HTTP_API "/tokens/{id}", h_tokens_revoke, AT_HTTP_NEED_TOKENS, 0, 0, NULL},
    {"GET", AT_HTTP_API "/secrets", h_secrets_list, AT_HTTP_NEED_SECRETS, 0, 0, NULL},
    {"PUT", AT_HTTP_API "/secrets/{name}", h_secret_put, AT_HTTP_NEED_SECRETS, 0,
     AT_SECRET_VALUE_MAX + 2, NULL},
    {"DELETE", AT_HTTP_API "/secrets/{name}", h_secret_delete, AT_HTTP_NEED_SECRETS, 0, 0, NULL},
    {"GET", AT_HTTP_API "/audit", h_audit, AT_HTTP_NEED_AUDIT, 0, 0, NULL},
};

int at_http_security_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
