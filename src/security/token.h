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
/* the agents and chains an agent:NAME- or chain:NAME-scoped token may
 * use, ",a,b,chain:c," (agent names never hold ':') */
#define AT_TOKEN_AGENTS_MAX 512

struct at_tokens;

/* Who a checked token stands for. */
struct at_principal {
    char id[AT_ID_MAX];           /* the token's id ("tok_..."), "" for local */
    char name[AT_TOKEN_NAME_MAX]; /* the token's name, "local", "job:<id>" */
    enum at_role role;
    int64_t expires_ms; /* 0: never */
    int scoped;         /* the token was made with --scope: only `scope` of the role's grants */
    unsigned scope;     /* AT_ACCESS_* bits its scopes name */
    /* agent:NAME scopes: ",name1,name2," ("" when the token is not narrowed
     * to agents) */
    char agents[AT_TOKEN_AGENTS_MAX];
    long long tokens_per_day; /* its own quota, 0: the default */
};

/* What a token's scopes name: the AT_ACCESS_* bits of its actions ("read",
 * "run", "register", ...: *mask, 0 when none) and the agents of its
 * "agent:NAME" scopes (",a,b," into agents, "" when none; agents may be
 * NULL).  0, or AT_EINVAL with why for a scope that is neither. */
int at_tokens_scope_mask(const json_t *scopes, unsigned *mask, char *agents, size_t an, char *why,
                         size_t n);
/* 1 when a caller narrowed to agents (",a,b,", "" for none) may use the
 * agent ref ("name", "name:version" or "name@version"). */
int at_tokens_agent_ok(const char *agents, const char *ref);

/* 1 when a caller narrowed to agents and chains (",a,chain:c,", "" for
 * none: not narrowed) may run and read the chain name ("chain:NAME"
 * scopes). */
int at_tokens_chain_ok(const char *agents, const char *name);
/* 1 when such a caller may see a job of kind ("agent" or NULL, "chain",
 * "orchestrator") whose agent (the chain's name for chains) is agent, by
 * the job alone. */
int at_tokens_job_ok(const char *agents, const char *kind, const char *agent);
/* 1 when such a caller may see rec: by the job itself, or as a job of a
 * chain run it may see (the tree's root, read from st; NULL: not looked
 * up).  Blocks on the store. */
int at_tokens_job_visible(const char *agents, struct at_store *st, const struct at_job_rec *rec);

/* The live tokens from ss, hashed with key (32 bytes).  Caller frees. */
int at_tokens_new(struct at_secstore *ss, const unsigned char key[32], struct at_tokens **out,
                  struct at_diag *d);
void at_tokens_free(struct at_tokens *t);

struct at_token_spec {
    const char *name;
    enum at_role role;
    int64_t expires_ms;       /* wall clock; 0: never */
    const json_t *scopes;     /* array of strings, or NULL (borrowed) */
    long long rate_per_min;   /* 0: the default (at_tokens_set_default_rate) */
    long long tokens_per_day; /* model tokens per UTC day; 0: the default */
    const char *created_by;   /* the creator's name, or NULL */
    const char *node;         /* role node only: the node it acts for (NULL: bound on first join) */
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
/* A token's daily quota of model tokens (docs/security.md "Quotas"):
 * counted per UTC day, from 00:00 UTC. */
struct at_quota {
    char name[AT_TOKEN_NAME_MAX]; /* the token's name */
    long long limit;              /* tokens per day; 0: none */
    long long used;               /* used today */
    int64_t resets_ms;            /* wall clock of the next 00:00 UTC */
    int retry_after_s;            /* seconds until then */
};
/* Why a used-up quota refuses: the token, the quota, when it resets. */
void at_tokens_quota_describe(const struct at_quota *q, char *out, size_t n);
/* The default model tokens per day per token but admin tokens (0: no quota). */
void at_tokens_set_default_quota(struct at_tokens *t, long long tokens_per_day);
/* The quota of the live token id into *q: 0, or AT_ELIMIT when today's is
 * used up.  An unknown id (NULL included) has no quota: 0, q zeroed. */
int at_tokens_quota_check(struct at_tokens *t, const char *id, struct at_quota *q);
/* Count tokens model tokens against id's day (in memory and in the store,
 * so that a restart keeps the count).  Any thread. */
void at_tokens_quota_add(struct at_tokens *t, const char *id, long long tokens);
/* Every token row (live and revoked) as JSON, without hashes.  Caller owns. */
json_t *at_tokens_list(struct at_tokens *t);
/* The live (not revoked, not expired) token named name: its id into id (n
 * bytes) and its role.  0, or AT_ENOENT. */
int at_tokens_find(struct at_tokens *t, const char *name, char *id, size_t n, enum at_role *role);
/* 1 when text verifies as a live token of role admin. */
int at_tokens_is_admin(struct at_tokens *t, const char *text);

#endif
