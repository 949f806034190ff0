/*
 * token.c - API tokens (token.h).
 *
 * The table of live tokens maps hex(BLAKE2b-256(key, text)) to an entry;
 * a check hashes the presented text and looks it up, so a token's text is
 * never stored and never compared byte by byte.  Revoked tokens leave the
 * table at once (the store keeps their rows for `atlas token ls`).
 */
#include "security/token.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/map.h"

#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_HEX (crypto_generichash_BYTES * 2 + 1)

struct entry {
    char id[AT_ID_MAX];
    char name[AT_TOKEN_NAME_MAX];
    char hash[HASH_HEX];
    enum at_role role;
    int64_t expires_ms;
    int scoped;
    unsigned scope;
    char agents[AT_TOKEN_AGENTS_MAX];
    long long rate_per_min;
    char node[AT_TOKEN_NAME_MAX]; /* role node: the node it acts for ("" unbound yet) */
    long long tokens_per_day;     /* 0: the default */
    /* the day's model tokens (rate_mu): used on day (days since the epoch) */
    long long used_today;
    int64_t day;
    /* the bucket and first use (rate_mu) */
    double bucket;
    int64_t bucket_ns;
    int used;
};

struct at_tokens {
    struct at_secstore *ss;
    unsigned char key[32];
    pthread_rwlock_t lock;
    struct at_map by_hash; /* hash hex -> struct entry */
    struct at_map by_id;   /* id -> struct entry (same objects) */
    pthread_mutex_t rate_mu;
    long long default_rate;
    long long default_quota; /* model tokens per day per token; 0: none */
};

#define DAY_MS 86400000LL
#define AGENT_NAME_MAX 64 /* contract/agent.h AT_AGENT_NAME_MAX */

static void hash_hex(const struct at_tokens *t, const char *text, char out[HASH_HEX])
{
    unsigned char h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof(h), (const unsigned char *)text, strlen(text), t->key,
                       sizeof(t->key));
    sodium_bin2hex(out, HASH_HEX, h, sizeof(h));
}

/* Under the write lock. */
static void table_add(struct at_tokens *t, const struct at_token_rec *r)
{
    int role = at_role_parse(r->role);
    if (role < 0 || role == AT_ROLE_JOB)
        return; /* a row this build does not know: no access */
    struct entry *e = at_calloc(1, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", r->id);
    snprintf(e->name, sizeof(e->name), "%s", r->name ? r->name : "");
    snprintf(e->hash, sizeof(e->hash), "%s", r->hash ? r->hash : "");
    e->role = (enum at_role)role;
    e->expires_ms = r->expires_ms;
    if (json_array_size(r->scopes) > 0) {
        char why[200];
        if (at_tokens_scope_mask(r->scopes, &e->scope, e->agents, sizeof(e->agents), why,
                                 sizeof(why)) != 0) {
            e->scoped = 1; /* a scope this build does not know: nothing */
            e->scope = 0;
        } else {
            e->scoped = e->scope != 0; /* only agent:NAME scopes: every action of the role */
        }
    }
    e->rate_per_min = r->rate_per_min;
    snprintf(e->node, sizeof(e->node), "%s", r->node ? r->node : "");
    e->tokens_per_day = r->tokens_per_day;
    e->day = at_wall_ms() / DAY_MS;
    if (at_secstore_quota_used(t->ss, e->id, e->day, &e->used_today) != 0)
        e->used_today = 0;
    e->bucket = -1; /* full on first use */
    struct entry *old = at_map_put(&t->by_hash, e->hash, e);
    if (old) {
        at_map_del(&t->by_id, old->id);
        free(old);
    }
    at_map_put(&t->by_id, e->id, e);
}

int at_tokens_new(struct at_secstore *ss, const unsigned char key[32], struct at_tokens **out,
                  struct at_diag *d)
{
    if (sodium_init() < 0)
        return at_diag_set(d, AT_EINTERNAL, NULL, 0, 0, "libsodium cannot start");
    struct at_token_rec *recs = NULL;
    size_t n = 0;
    int rc = at_secstore_token_list(ss, &recs, &n);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot read the tokens from the store: %s",
                           at_err_msg(rc));
    struct at_tokens *t = at_calloc(1, sizeof(*t));
    t->ss = ss;
    memcpy(t->key, key, sizeof(t->key));
    pthread_rwlock_init(&t->lock, NULL);
    pthread_mutex_init(&t->rate_mu, NULL);
    at_map_init(&t->by_hash);
    at_map_init(&t->by_id);
    for (size_t i = 0; i < n; i++)
        if (recs[i].revoked_ms == 0)
            table_add(t, &recs[i]);
    at_token_recs_free(recs, n);
    *out = t;
    return 0;
}

void at_tokens_free(struct at_tokens *t)
{
    if (!t)
        return;
    size_t it = 0;
    void *v;
    while (at_map_next(&t->by_hash, &it, NULL, &v))
        free(v);
    at_map_release(&t->by_hash);
    at_map_release(&t->by_id);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->rate_mu);
    sodium_memzero(t->key, sizeof(t->key));
    free(t);
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= AT_TOKEN_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '@'))
            return 0;
    }
    return 1;
}

static json_t *row_json(const struct at_token_rec *r)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", r->id, "name", r->name ? r->name : "",
                          "role", r->role ? r->role : "", "created_ms", (json_int_t)r->created_ms,
                          "rate_per_min", (json_int_t)r->rate_per_min);
    json_object_set_new(o, "tokens_per_day", json_integer(r->tokens_per_day));
    json_object_set_new(o, "expires_ms", r->expires_ms ? json_integer(r->expires_ms) : json_null());
    json_object_set_new(o, "revoked_ms", r->revoked_ms ? json_integer(r->revoked_ms) : json_null());
    json_object_set_new(o, "created_by", r->created_by ? json_string(r->created_by) : json_null());
    json_object_set_new(o, "scopes", r->scopes ? json_incref(r->scopes) : json_array());
    if (r->role && !strcmp(r->role, "node"))
        json_object_set_new(o, "node", r->node ? json_string(r->node) : json_null());
    const char *state = r->revoked_ms                                      ? "revoked"
                        : (r->expires_ms && r->expires_ms <= at_wall_ms()) ? "expired"
                                                                           : "live";
    json_object_set_new(o, "state", json_string(state));
    return o;
}

/* An agent's name as contracts have it: a-z, 0-9, '-', '_', '.'. */
static int agent_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= AGENT_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

int at_tokens_scope_mask(const json_t *scopes, unsigned *mask, char *agents, size_t an, char *why,
                         size_t n)
{
    *mask = 0;
    if (agents && an)
        agents[0] = '\0';
    size_t alen = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(scopes, i, v)
    {
        const char *s = json_string_value(v);
        unsigned bit = 0;
        for (int k = 0; s && k < AT_ACCESS_NACTIONS; k++)
            if (!strcmp(s, at_access_action_name(1u << k)))
                bit = 1u << k;
        if (bit) {
            *mask |= bit;
            continue;
        }
        if (s && !strncmp(s, "agent:", 6)) {
            const char *name = s + 6;
            if (!agent_name_ok(name)) {
                snprintf(why, n,
                         "scope \"%s\": agent:NAME names one agent (letters, digits, '-', '_', "
                         "'.'; no version)",
                         s);
                return AT_EINVAL;
            }
            size_t nl = strlen(name);
            if (agents && an) {
                if (alen + nl + 2 >= an) {
                    snprintf(why, n, "too many agent:NAME scopes (at most %zu bytes of names)",
                             an - 2);
                    return AT_E2BIG;
                }
                snprintf(agents + alen, an - alen, "%s%s,", alen ? "" : ",", name);
                alen = strlen(agents);
            }
            continue;
        }
        if (s && !strncmp(s, "chain:", 6)) {
            const char *name = s + 6;
            if (!agent_name_ok(name)) {
                snprintf(why, n,
                         "scope \"%s\": chain:NAME names one chain (letters, digits, '-', '_', "
                         "'.')",
                         s);
                return AT_EINVAL;
            }
            size_t nl = strlen(name) + 6;
            if (agents && an) {
                if (alen + nl + 2 >= an) {
                    snprintf(why, n,
                             "too many agent:NAME and chain:NAME scopes (at most %zu bytes of "
                             "names)",
                             an - 2);
                    return AT_E2BIG;
                }
                snprintf(agents + alen, an - alen, "%s%s,", alen ? "" : ",", s);
                alen = strlen(agents);
            }
            continue;
        }
        if (s && strchr(s, ':'))
            snprintf(why, n,
                     "scope \"%s\": narrowing a token to resources other than agents "
                     "(agent:NAME) and chains (chain:NAME) is not supported yet (scopes are "
                     "actions: read, run, register, model, mcp, ...)",
                     s);
        else
            snprintf(why, n,
                     "scope \"%s\" is not an action (read, run, register, admin, model, "
                     "mcp, tokens, secrets, audit, node)",
                     s ? s : "?");
        return AT_EINVAL;
    }
    return 0;
}

int at_tokens_agent_ok(const char *agents, const char *ref)
{
    if (!agents || !agents[0])
        return 1;
    if (!ref)
        return 0;
    size_t n = strcspn(ref, ":@");
    if (n == 0 || n >= AGENT_NAME_MAX)
        return 0;
    char pat[AGENT_NAME_MAX + 2];
    snprintf(pat, sizeof(pat), ",%.*s,", (int)n, ref);
    return strstr(agents, pat) != NULL;
}

int at_tokens_chain_ok(const char *agents, const char *name)
{
    if (!agents || !agents[0])
        return 1;
    if (!name || !name[0] || strlen(name) >= AGENT_NAME_MAX)
        return 0;
    char pat[AGENT_NAME_MAX + 10];
    snprintf(pat, sizeof(pat), ",chain:%s,", name);
    return strstr(agents, pat) != NULL;
}

int at_tokens_job_ok(const char *agents, const char *kind, const char *agent)
{
    if (!agents || !agents[0])
        return 1;
    if (!kind || !strcmp(kind, "agent"))
        return agent && at_tokens_agent_ok(agents, agent);
    if (!strcmp(kind, "chain"))
        return at_tokens_chain_ok(agents, agent);
    return 0; /* an orchestrator's decision: only through its tree's root */
}

int at_tokens_job_visible(const char *agents, struct at_store *st, const struct at_job_rec *rec)
{
    if (!agents || !agents[0])
        return 1;
    if (at_tokens_job_ok(agents, rec->kind, rec->agent))
        return 1;
    /* a chain's steps run under the chain's authority: a token that may
     * run the chain sees the jobs of its trees */
    if (!st || !strstr(agents, ",chain:") || !rec->root_id || !strcmp(rec->root_id, rec->id))
        return 0;
    struct at_job_rec root;
    if (at_store_call(st, job_get, rec->root_id, &root) != 0)
        return 0;
    int ok = root.kind && !strcmp(root.kind, "chain") && at_tokens_chain_ok(agents, root.agent);
    at_job_rec_release(&root);
    return ok;
}
/* A refused spec: the JSON Pointer of the field is the diag's pointer (its
 * file is a file name, which the HTTP layer does not quote). */
static int spec_err(struct at_diag *d, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int spec_err(struct at_diag *d, const char *ptr, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s", msg);
    at_diag_set_pointer(d, ptr);
    return rc;
}

int at_tokens_create(struct at_tokens *t, const struct at_token_spec *spec, char *text,
                     json_t **row, struct at_diag *d)
{
    if (!valid_name(spec->name))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "a token name is 1 to %d letters, digits, '-', '_', '.' or '@'",
                           AT_TOKEN_NAME_MAX - 1);
    if ((unsigned)spec->role >= AT_ROLE_COUNT || spec->role == AT_ROLE_JOB)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "a token's role is admin, operator, developer, viewer or node (job "
                           "tokens are made by the engine for each job)");
    unsigned mask;
    char why[300];
    char agents[AT_TOKEN_AGENTS_MAX];
    if (at_tokens_scope_mask(spec->scopes, &mask, agents, sizeof(agents), why, sizeof(why)) != 0)
        return spec_err(d, "/scopes", "%s", why);
    if (spec->tokens_per_day < 0)
        return spec_err(d, "/tokens_per_day",
                        "tokens_per_day is a whole number >= 0 (0: the default)");
    if (mask & ~at_access_grants(spec->role))
        return spec_err(d, "/scopes", "a scope can only narrow the role: %s may not do all of them",
                        at_role_name(spec->role));
    if (spec->node &&
        (spec->role != AT_ROLE_NODE || !valid_name(spec->node) || strchr(spec->node, '@')))
        return spec_err(d, "/node", "%s",
                        spec->role != AT_ROLE_NODE
                            ? "only a token of role node is bound to a node"
                            : "a node name is 1-63 letters, digits, '-', '_' or '.'");
    char rnd[AT_TOKEN_TEXT_MAX];
    at_token_new(32, rnd, sizeof(rnd)); /* 256 bits from randombytes_buf */
    snprintf(text, AT_TOKEN_TEXT_MAX, "%s%s", AT_TOKEN_PREFIX, rnd);
    sodium_memzero(rnd, sizeof(rnd));
    char hash[HASH_HEX];
    hash_hex(t, text, hash);
    struct at_token_rec r;
    memset(&r, 0, sizeof(r));
    at_id_new("tok", r.id);
    r.name = (char *)spec->name;
    r.role = (char *)at_role_name(spec->role);
    r.hash = hash;
    r.scopes = (json_t *)spec->scopes;
    r.rate_per_min = spec->rate_per_min;
    r.tokens_per_day = spec->tokens_per_day;
    r.created_by = (char *)spec->created_by;
    r.created_ms = at_wall_ms();
    r.expires_ms = spec->expires_ms;
    r.node = (char *)spec->node;
    pthread_rwlock_wrlock(&t->lock);
    int rc = at_secstore_token_put(t->ss, &r);
    if (rc == 0 && spec->node)
        rc = at_secstore_token_bind_node(t->ss, r.id, spec->node, r.created_ms);
    if (rc == 0)
        table_add(t, &r);
    pthread_rwlock_unlock(&t->lock);
    if (rc) {
        sodium_memzero(text, AT_TOKEN_TEXT_MAX);
        text[0] = '\0';
        if (rc == AT_EEXIST)
            return at_diag_set(d, rc, NULL, 0, 0,
                               "a live token is already named \"%s\" (revoke it first)",
                               spec->name);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot store the token: %s", at_err_msg(rc));
    }
    if (row)
        *row = row_json(&r);
    return 0;
}

int at_tokens_revoke(struct at_tokens *t, const char *id_or_name)
{
    pthread_rwlock_wrlock(&t->lock);
    int rc = at_secstore_token_revoke(t->ss, id_or_name, at_wall_ms());
    if (rc == 0) {
        /* drop every entry with that id or name */
        for (;;) {
            struct entry *victim = NULL;
            size_t it = 0;
            void *v;
            while (at_map_next(&t->by_hash, &it, NULL, &v)) {
                struct entry *e = v;
                if (!strcmp(e->id, id_or_name) || !strcmp(e->name, id_or_name)) {
                    victim = e;
                    break;
                }
            }
            if (!victim)
                break;
            at_map_del(&t->by_hash, victim->hash);
            at_map_del(&t->by_id, victim->id);
            free(victim);
        }
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int at_tokens_check(struct at_tokens *t, const char *text, struct at_principal *p, int *first_use)
{
    if (first_use)
        *first_use = 0;
    if (!text || strncmp(text, AT_TOKEN_PREFIX, strlen(AT_TOKEN_PREFIX)) != 0 ||
        strlen(text) >= AT_TOKEN_TEXT_MAX)
        return AT_ENOENT;
    char hash[HASH_HEX];
    hash_hex(t, text, hash);
    int rc = AT_ENOENT;
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = at_map_get(&t->by_hash, hash);
    if (e) {
        rc = e->expires_ms && e->expires_ms <= at_wall_ms() ? AT_ETIMEDOUT : 0;
        memcpy(p->id, e->id, sizeof(p->id));
        memcpy(p->name, e->name, sizeof(p->name));
        p->role = e->role;
        p->expires_ms = e->expires_ms;
        p->scoped = e->scoped;
        p->scope = e->scope;
        memcpy(p->agents, e->agents, sizeof(p->agents));
        p->tokens_per_day = e->tokens_per_day;
        if (first_use && rc == 0) {
            pthread_mutex_lock(&t->rate_mu);
            *first_use = !e->used;
            e->used = 1;
            pthread_mutex_unlock(&t->rate_mu);
        }
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int at_tokens_bind_node(struct at_tokens *t, const char *id, const char *node, char *bound,
                        size_t n, int *first)
{
    if (first)
        *first = 0;
    if (bound && n)
        bound[0] = '\0';
    pthread_rwlock_wrlock(&t->lock);
    struct entry *e = at_map_get(&t->by_id, id);
    int rc = 0;
    if (!e) {
        rc = AT_ENOENT;
    } else if (e->role != AT_ROLE_NODE) {
        rc = 0; /* admin and operator tokens act for any node */
    } else if (e->node[0]) {
        if (strcmp(e->node, node) != 0)
            rc = AT_EPERM;
        if (bound && n)
            snprintf(bound, n, "%s", e->node);
    } else if (strlen(node) >= sizeof(e->node)) {
        rc = AT_EINVAL;
    } else if ((rc = at_secstore_token_bind_node(t->ss, id, node, at_wall_ms())) == 0) {
        snprintf(e->node, sizeof(e->node), "%s", node);
        if (bound && n)
            snprintf(bound, n, "%s", node);
        if (first)
            *first = 1;
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int at_tokens_live(struct at_tokens *t, const char *id)
{
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = at_map_get(&t->by_id, id);
    int live = e && !(e->expires_ms && e->expires_ms <= at_wall_ms());
    pthread_rwlock_unlock(&t->lock);
    return live;
}

int at_tokens_rate(struct at_tokens *t, const char *id, int *retry_after)
{
    *retry_after = 0;
    int rc = 0;
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = at_map_get(&t->by_id, id);
    if (e) {
        pthread_mutex_lock(&t->rate_mu);
        long long rate = e->rate_per_min ? e->rate_per_min : t->default_rate;
        if (rate > 0) {
            int64_t now = at_now_ns();
            double per_ns = (double)rate / 60e9;
            if (e->bucket < 0)
                e->bucket = (double)rate;
            else
                e->bucket += (double)(now - e->bucket_ns) * per_ns;
            if (e->bucket > (double)rate)
                e->bucket = (double)rate;
            e->bucket_ns = now;
            if (e->bucket >= 1.0) {
                e->bucket -= 1.0;
            } else {
                double wait_s = (1.0 - e->bucket) / (per_ns * 1e9);
                *retry_after = (int)wait_s + 1;
                rc = AT_ELIMIT;
            }
        }
        pthread_mutex_unlock(&t->rate_mu);
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

void at_tokens_set_default_rate(struct at_tokens *t, long long per_min)
{
    pthread_mutex_lock(&t->rate_mu);
    t->default_rate = per_min > 0 ? per_min : 0;
    pthread_mutex_unlock(&t->rate_mu);
}

void at_tokens_set_default_quota(struct at_tokens *t, long long tokens_per_day)
{
    pthread_mutex_lock(&t->rate_mu);
    t->default_quota = tokens_per_day > 0 ? tokens_per_day : 0;
    pthread_mutex_unlock(&t->rate_mu);
}

void at_tokens_quota_describe(const struct at_quota *q, char *out, size_t n)
{
    snprintf(out, n,
             "token \"%s\" has used its daily quota of model tokens (tokens_per_day: %lld, used "
             "today: %lld); it resets at 00:00 UTC, in %d s",
             q->name, q->limit, q->used, q->retry_after_s);
}

/* Under rate_mu: a new UTC day starts from nothing. */
static void quota_roll(struct entry *e, int64_t now_ms)
{
    int64_t day = now_ms / DAY_MS;
    if (day != e->day) {
        e->day = day;
        e->used_today = 0;
    }
}

int at_tokens_quota_check(struct at_tokens *t, const char *id, struct at_quota *q)
{
    memset(q, 0, sizeof(*q));
    int rc = 0;
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = id ? at_map_get(&t->by_id, id) : NULL;
    if (e) {
        int64_t now = at_wall_ms();
        pthread_mutex_lock(&t->rate_mu);
        quota_roll(e, now);
        snprintf(q->name, sizeof(q->name), "%s", e->name);
        /* the default binds every role but admin (the local administrator's
         * own token is never locked out by it) */
        q->limit = e->tokens_per_day          ? e->tokens_per_day
                   : e->role == AT_ROLE_ADMIN ? 0
                                              : t->default_quota;
        q->used = e->used_today;
        q->resets_ms = (e->day + 1) * DAY_MS;
        q->retry_after_s = (int)((q->resets_ms - now + 999) / 1000);
        if (q->limit > 0 && q->used >= q->limit)
            rc = AT_ELIMIT;
        pthread_mutex_unlock(&t->rate_mu);
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

void at_tokens_quota_add(struct at_tokens *t, const char *id, long long tokens)
{
    if (!id || tokens <= 0)
        return;
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = at_map_get(&t->by_id, id);
    int64_t day = 0;
    if (e) {
        pthread_mutex_lock(&t->rate_mu);
        quota_roll(e, at_wall_ms());
        e->used_today = e->used_today > LLONG_MAX - tokens ? LLONG_MAX : e->used_today + tokens;
        day = e->day;
        pthread_mutex_unlock(&t->rate_mu);
        /* kept across restarts; a failed write loses this call's count only */
        at_secstore_quota_add(t->ss, id, day, tokens);
    }
    pthread_rwlock_unlock(&t->lock);
}

json_t *at_tokens_list(struct at_tokens *t)
{
    struct at_token_rec *recs = NULL;
    size_t n = 0;
    json_t *arr = json_array();
    if (at_secstore_token_list(t->ss, &recs, &n) == 0)
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, row_json(&recs[i]));
    at_token_recs_free(recs, n);
    return arr;
}

int at_tokens_find(struct at_tokens *t, const char *name, char *id, size_t n, enum at_role *role)
{
    int rc = AT_ENOENT;
    int64_t now = at_wall_ms();
    pthread_rwlock_rdlock(&t->lock);
    const char *k;
    void *v;
    for (size_t i = 0; name && at_map_next(&t->by_id, &i, &k, &v);) {
        const struct entry *e = v;
        if (strcmp(e->name, name) != 0 || (e->expires_ms && e->expires_ms <= now))
            continue;
        snprintf(id, n, "%s", e->id);
        *role = e->role;
        rc = 0;
        break;
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int at_tokens_is_admin(struct at_tokens *t, const char *text)
{
    struct at_principal p;
    return at_tokens_check(t, text, &p, NULL) == 0 && p.role == AT_ROLE_ADMIN;
}
