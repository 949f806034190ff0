/*
 * token.h - API tokens: created random (256 bits, libsodium), shown once,
 * stored only as a keyed hash (BLAKE2b keyed with a key derived from the
 * data directory's key, secret.h), checked against an in-memory table of
 * the live tokens (a hash lookup: well under 2 us per request), with a
 * per-token rate limit (a token bucket).
 *
 * Token text: "atl_" + 43 base64url characters, so that secret scanners
 * recognise it.  Job tokens (the agents' ATLAS_TOKEN) are the engine's and
 * never start with "atl_".
 *
 * Thread-safe: checks take a read lock; create and revoke a write lock and
 * the store's mutex.
 */
#ifndef AT_SECURITY_TOKEN_H
#define AT_SECURITY_TOKEN_H

#include "base/diag.h"
#include "base/id.h"
#include "security/access.h"
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

#define AT_TOKEN_PREFIX "atl_"
#define AT_TOKEN_TEXT_MAX 64
#define AT_TOKEN_NAME_MAX 64

struct at_tokens;

/* Who a checked token stands for. */
struct at_principal {
    char id[AT_ID_MAX];           /* the token's id ("tok_..."), "" for local */
    char name[AT_TOKEN_NAME_MAX]; /* the token's name, "local", "job:<id>" */
    enum at_role role;
    int64_t expires_ms; /* 0: never */
    int scoped;         /* the token was made with --scope: only `scope` of the role's grants */
    unsigned scope;     /* AT_ACCESS_* bits its scopes name */
};

/* The AT_ACCESS_* bits a token's scopes name (each an action of the role
 * table: "read", "run", "register", ...).  0, or AT_EINVAL with why for a
 * scope that is no action ("agent:NAME" narrowing: not supported yet). */
int at_tokens_scope_mask(const json_t *scopes, unsigned *mask, char *why, size_t n);

/* The live tokens from ss, hashed with key (32 bytes).  Caller frees. */
int at_tokens_new(struct at_secstore *ss, const unsigned char key[32], struct at_tokens **out,
                  struct at_diag *d);
void at_tokens_free(struct at_tokens *t);

struct at_token_spec {
    const char *name;
    enum at_role role;
    int64_t expires_ms;     /* wall clock; 0: never */
    const json_t *scopes;   /* array of strings, or NULL (borrowed) */
    long long rate_per_min; /* 0: the default (at_tokens_set_default_rate) */
    const char *created_by; /* the creator's name, or NULL */
    const char *node;       /* role node only: the node it acts for (NULL: bound on first join) */
};

/* Create a token: its text into text (AT_TOKEN_TEXT_MAX; shown once, never
 * kept) and its row as JSON (without the hash) into *row (caller owns).
 * AT_EEXIST: a live token has that name; AT_EINVAL: a bad name. */
int at_tokens_create(struct at_tokens *t, const struct at_token_spec *spec, char *text,
                     json_t **row, struct at_diag *d);
/* Revoke by id or name: AT_ENOENT when no live token matches. */
int at_tokens_revoke(struct at_tokens *t, const char *id_or_name);
/* Check text: 0 and *p filled; AT_ENOENT (unknown or revoked),
 * AT_ETIMEDOUT (expired).  *first_use, when not NULL, is set to 1 the
 * first time a token is used in this process (for the audit). */
int at_tokens_check(struct at_tokens *t, const char *text, struct at_principal *p, int *first_use);
/* A node agent with token id acts for node: a token of role node is bound
 * to the first node it acts for (or the one it was created for) and to no
 * other.  0 (bound now, *first = 1, or before to that node; tokens of
 * other roles are never bound), AT_EPERM (bound to another node: its name
 * in bound), AT_ENOENT (no such live token), or the store's error.  bound
 * (n bytes, may be NULL) receives the bound node. */
int at_tokens_bind_node(struct at_tokens *t, const char *id, const char *node, char *bound,
                        size_t n, int *first);
/* Still live (not revoked, not expired)?  For streams opened earlier. */
int at_tokens_live(struct at_tokens *t, const char *id);
/* Take one request from the token's bucket: 0, or AT_ELIMIT with the
 * seconds until the next one is allowed in *retry_after. */
int at_tokens_rate(struct at_tokens *t, const char *id, int *retry_after);
/* The default requests per minute per token (0: no limit). */
void at_tokens_set_default_rate(struct at_tokens *t, long long per_min);
/* Every token row (live and revoked) as JSON, without hashes.  Caller owns. */
json_t *at_tokens_list(struct at_tokens *t);
/* 1 when text verifies as a live token of role admin. */
int at_tokens_is_admin(struct at_tokens *t, const char *text);

#endif
