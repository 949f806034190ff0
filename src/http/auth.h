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

/* Record an audit event for the caller of r (outcome, action, detail). */
void at_http_audit(struct at_http_req *r, const char *event, const char *outcome,
                   const char *action, const char *detail);

#endif
