/*
 * remote_auth.h - credentials of remote MCP servers (docs/mcp.md
 * "Authorization of remote servers").
 *
 * A remote agent's contract may carry `remote_auth` (set by `atlas
 * register --remote URL --auth ...`); it names secrets, never holds them:
 *   {"type": "bearer", "secret": NAME}
 *       Authorization: Bearer <the secret NAME's value>
 *   {"type": "oauth", "client_id": ID, "client_secret": NAME,
 *    "scope"?: "a b", "auth_method"?: "client_secret_basic" | "client_secret_post"}
 *       the OAuth 2.1 client credentials grant, for unattended agents, as
 *       the MCP authorization spec discovers it: the protected resource
 *       metadata (RFC 9728) at the path-aware, then the root well-known URL;
 *       its first authorization server's metadata (RFC 8414 path insertion,
 *       then OpenID Connect discovery; the issuer must match); a token
 *       request to its token endpoint with the resource indicator (RFC 8707:
 *       the metadata's resource, else the server URL) and the scope (the
 *       configured one, else the metadata's scopes_supported).  Endpoints
 *       other than https are refused unless on a loopback host.
 *
 * Tokens are cached per (server URL, client id) until shortly before they
 * expire; a server's 401 drops the cached one (at_remote_auth_forget) and
 * the caller asks again once.  Fetching blocks (bounded by timeout_ms): it
 * runs on the remote agents' client thread, once per token lifetime.
 * Header values are secrets: wiped when freed, never logged.  Thread-safe.
 */
#ifndef AT_EXEC_REMOTE_AUTH_H
#define AT_EXEC_REMOTE_AUTH_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

struct at_secrets;
struct at_remote_auth;

/* A cache over secrets (which outlives it; NULL: every secret is missing). */
struct at_remote_auth *at_remote_auth_new(struct at_secrets *secrets);
void at_remote_auth_free(struct at_remote_auth *a);

/* Check a remote_auth block: 0, or -1 with why[0..n).  Pure (a parser of
 * hostile input: tests/fuzz/fuzz_remote_auth.c). */
int at_remote_auth_check(const json_t *auth, char *why, size_t n);

/* The header line ("Authorization: Bearer ...") for a call to url under
 * auth, in *header (caller frees with at_remote_auth_header_free); auth
 * NULL: *header NULL and 0.  Errors: AT_ENOENT (a secret is not set),
 * AT_EPERM (the authorization server refused), AT_ECONN / AT_EPROTO
 * (discovery or the token endpoint failed), with d saying which. */
int at_remote_auth_header(struct at_remote_auth *a, const char *url, const json_t *auth,
                          long timeout_ms, char **header, struct at_diag *d);
void at_remote_auth_header_free(char *header);
/* The server refused what at_remote_auth_header gave: forget it. */
void at_remote_auth_forget(struct at_remote_auth *a, const char *url, const json_t *auth);

/* Parse the JSON answer of a token endpoint: the access token (a new
 * string) and its lifetime in seconds (3600 when not given); NULL with why
 * when it is not a usable bearer token.  Pure (fuzzed). */
char *at_remote_auth_parse_token(const char *body, size_t len, long long *expires_s, char *why,
                                 size_t n);

#endif
