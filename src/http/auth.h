/*
 * auth.h - the security middleware of the API (docs/security.md): the
 * server's authorize hook and the routes that manage tokens, secrets and
 * the audit.
 *
 * Every request passes, before its handler:
 *   1. Host and Origin: exact matches against the configured names (the
 *      bound address, loopback names, security.allowed_hosts), on TCP;
 *      Origin "null" and a cross-site form content type are refused;
 *   2. who: the Unix socket (owner-only) is the local administrator;
 *      on TCP a bearer token ("atl_...": a user token, token.h; any
 *      other: an agent's job token, the engine's) is required on every
 *      route whose `needs` is not 0 (only health liveness and readiness);
 *   3. the role x action table (security/access.h) with the route's needs;
 *   4. the token's rate limit (429 with Retry-After).
 * Denials and first uses are audited.  Streams opened with a token end
 * when it is revoked or expires (the server revalidates them).
 */
#ifndef AT_HTTP_AUTH_H
#define AT_HTTP_AUTH_H

#include "base/diag.h"
#include "http/server.h"
#include "security/access.h"
#include "security/audit.h"
#include "security/secret.h"
#include "security/token.h"

/* r->who_kind */
enum { AT_WHO_NONE, AT_WHO_LOCAL, AT_WHO_USER, AT_WHO_JOB };

#define AT_AUTH_MAX_HOSTS 16

struct at_http_security {
    struct at_secstore *ss;
    struct at_tokens *tokens;
    struct at_secrets *secrets;
    struct at_audit *audit;
    /* allowed Host names (lower case, without port) and the port they
     * are served on; Origins allowed are scheme://host:port of these */
    char hosts[AT_AUTH_MAX_HOSTS][128];
    int nhosts;
    int port;
    int tls;
};

/* Add an allowed host name ("127.0.0.1", "atlas.example.org", "[::1]"). */
void at_http_security_allow_host(struct at_http_security *sec, const char *host);

/* Split a Host header's or an Origin's "host[:port]" (host may be "[v6]")
 * into a lower-case host (NUL-terminated, under hn bytes) and the port
 * (-1: none; 0..99999 else).  1 when well formed, 0 when not (and *host is
 * then undefined).  A hostile-input parser: tests/fuzz/fuzz_authority.c. */
int at_http_authority_parse(const char *s, size_t len, char *host, size_t hn, int *port);

/* The hooks, for struct at_http_cfg (arg: the struct at_http_api). */
int at_http_authorize(void *api, struct at_http_req *r, unsigned needs, struct at_diag *d);
int at_http_revalidate(void *api, const char *who_id);
/* May r's caller see what file holds?  The local administrator (the Unix
 * socket) and admin tokens may; anyone else only when every local user
 * could read the file (world-readable, its directories searchable),
 * symbolic links followed. */
int at_http_may_quote(void *api, struct at_http_req *r, const char *file);

/* The server's redact hook and the log filter: secret values become
 * "[redacted]" (secret.h). */
char *at_http_redact(void *api, const char *body, size_t len, size_t *out_len);
size_t at_http_log_redact(void *secrets, char *line, size_t len, size_t cap);

/* Refuse r for a used-up daily quota q (security/token.h): 429 with
 * Retry-After (the seconds to 00:00 UTC) and a detail naming the quota and
 * when it resets; records the denial.  Returns AT_ELIMIT with d filled (the
 * middleware's way); at_http_reply_quota answers r with it (a handler's). */
int at_http_deny_quota(struct at_http_req *r, const struct at_quota *q, struct at_diag *d);
void at_http_reply_quota(struct at_http_req *r, const struct at_quota *q);
/* The id of the API token r's caller used ("tok_..."), or NULL (the Unix
 * socket, a job token, none): the owner of the runs it submits. */
const char *at_http_owner_token(const struct at_http_req *r);
/* 1 when r's caller may use the agent ref (a token narrowed with
 * agent:NAME scopes may use only those). */
int at_http_agent_ok(const struct at_http_req *r, const char *ref);
/* 1 when r's caller may run and read the chain name (chain:NAME scopes;
 * not narrowed: any). */
int at_http_chain_ok(const struct at_http_req *r, const char *name);
/* 1 when r's caller may see the job rec: its agent's or chain's, or a job
 * of a chain run it may see (the chain's steps run under the chain's
 * authority).  May read the tree's root from the store. */
int at_http_job_visible(struct at_http_req *r, const struct at_job_rec *rec);
/* Answer 403 for a caller narrowed to agents: ref is not one of them, or
 * (ref NULL) the route may reach any agent (chains, routing); recorded. */
void at_http_reply_agent_denied(struct at_http_req *r, const char *ref);
/* Drop the objects of arr whose member key names an agent r's caller may
 * not see (nothing when it is not narrowed to agents). */
void at_http_agents_filter(const struct at_http_req *r, json_t *arr, const char *key);
/* The same for chains: drop the objects whose member key names a chain r's
 * caller may not see. */
void at_http_chains_filter(const struct at_http_req *r, json_t *arr, const char *key);
/* The same for jobs and traces ("kind", "agent", "id" members): keep a
 * caller narrowed to agents and chains to the jobs at_http_job_visible
 * allows; root_key names the member holding the tree's root ("root"), or
 * NULL for lists of roots.  Reads the roots from the store. */
void at_http_jobs_filter(struct at_http_req *r, json_t *arr, const char *root_key);

struct at_http_api;
/* Ownership of agents (docs/security.md "Ownership of agents"): the token
 * that first registered an agent's name owns it.  A developer-role token
 * may register a new name, and replace or remove only agents it owns; the
 * other roles with the register action (admin, the local administrator)
 * may change any agent and never take its ownership.
 * at_http_owner_check: may r's caller register, replace or remove agent
 * name?  0, or AT_EPERM with d (the denial recorded).  dir: when name is
 * NULL, the agent folder whose contract names it. */
int at_http_owner_check(struct at_http_req *r, const char *name, const char *dir,
                        struct at_diag *d);
/* After r's caller registered name: record it as the owner when the name has none. */
void at_http_owner_record(struct at_http_req *r, const char *name);
/* The same for a registration made for someone else (an approved
 * proposal: its proposer, owner_id NULL for the Unix socket); owner NULL:
 * nothing recorded. */
void at_http_owner_record_as(const struct at_http_api *api, const char *name, const char *owner,
                             const char *owner_id);
/* After the last version of name went: forget its owner. */
void at_http_owner_forget(struct at_http_req *r, const char *name);
/* Hand agent name (all its versions) to the live token named to (role
 * admin or developer: one that may register).  Only an administrator (an
 * admin token, the Unix socket) or the current owner may; recorded as an
 * agent.transfer audit record (a refusal as access.denied).  0 and *out
 * {"name", "owner": {"name", "id"}, "previous": {...} or null} (caller
 * owns); AT_ENOENT (no such agent), AT_EPERM, AT_EINVAL (no such token,
 * or one that may not own), with d. */
int at_http_owner_transfer(struct at_http_req *r, const char *name, const char *to, json_t **out,
                           struct at_diag *d);
/* Chains have owners by the same rule (docs/security.md "Ownership of
 * agents"), kept under "chain:NAME" (no agent name holds ':').  May r's
 * caller register (replace) or remove chain name?  0, or AT_EPERM with d
 * (the denial recorded). */
int at_http_chain_owner_check(struct at_http_req *r, const char *name, struct at_diag *d);
/* After r's caller registered chain name: its owner, when it has none. */
void at_http_chain_owner_record(struct at_http_req *r, const char *name);
/* After chain name was removed: forget its owner. */
void at_http_chain_owner_forget(struct at_http_req *r, const char *name);
/* {"name": token name, "id": token id or null, "since_ms"} of name's owner, or null. */
json_t *at_http_owner_json(const struct at_http_api *api, const char *name);

/* Record an audit event for the caller of r (outcome, action, detail). */
void at_http_audit(struct at_http_req *r, const char *event, const char *outcome,
                   const char *action, const char *detail);

#endif
