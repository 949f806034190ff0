/*
 * chains.c - the registry's index of chains: checked at registration
 * against the agents registered then, stored in the store, reloaded at
 * start-up.
 */
#include "registry/registry.h"
#include "registry/internal.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/map.h"
#include "chain/chain.h"
#include "json/json.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct at__reg_chain {
    struct at_chain *chain;
    char *source;
    char digest[AT_DIGEST_MAX];
    int64_t registered_ms;
};

static void entry_free(struct at__reg_chain *e)
{
    if (!e)
        return;
    at_chain_unref(e->chain);
    free(e->source);
    free(e);
}

static void digest_of(const json_t *def, char out[AT_DIGEST_MAX])
{
    char *text = at_json_dumps(def);
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(sum, (const unsigned char *)text, strlen(text));
    free(text);
    memcpy(out, "sha256:", 8); /* the hex digits follow, NUL-terminated */
    sodium_bin2hex(out + 7, AT_DIGEST_MAX - 7, sum, sizeof(sum));
}

/* ---- what chain/ sees of the registry (struct at_chain_env) ---- */

static int env_agent(void *arg, const char *ref, struct at_contract **out, char *why, size_t whylen)
{
    struct at_registry *r = arg;
    struct at_reg_agent *a;
    int rc = at_registry_resolve(r, ref, &a);
    if (rc) {
        at_registry_explain_missing(r, ref, why, whylen);
        return AT_ENOENT;
    }
    *out = at_contract_ref(a->contract);
    at_reg_agent_unref(a);
    return 0;
}

/* The chain index read by a caller that holds r->lock. */
static struct at_chain *env_chain_locked(void *arg, const char *name)
{
    struct at_registry *r = arg;
    struct at__reg_chain *e = at_map_get(&r->chains, name);
    return e ? at_chain_ref(e->chain) : NULL;
}

int at__registry_chains_load(struct at_registry *r)
{
    struct at_chain_rec *recs;
    size_t n;
    int rc = at_store_call(r->store, chain_list, &recs, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct at_chain *c;
        struct at_diag d;
        at_diag_clear(&d);
        if (at_chain_from_json(recs[i].definition, &c, &d)) {
            at_warn("registry", "skipping stored chain %s: %s", recs[i].name, d.msg);
            continue;
        }
        struct at__reg_chain *e = at_calloc(1, sizeof(*e));
        e->chain = c;
        e->source = at_strdup(recs[i].source ? recs[i].source : "");
        snprintf(e->digest, sizeof(e->digest), "%s", recs[i].digest ? recs[i].digest : "");
        e->registered_ms = recs[i].registered_ms;
        entry_free(at_map_put(&r->chains, c->name, e));
    }
    at_chain_recs_free(recs, n);
    /* chains stored before cycles were refused: say so (a run of one ends
     * at the spawn depth) */
    const struct at_chain_env chains = {.arg = r, .chain = env_chain_locked};
    size_t it = 0;
    void *v;
    while (at_map_next(&r->chains, &it, NULL, &v)) {
        struct at__reg_chain *e = v;
        struct at_diag d;
        at_diag_clear(&d);
        if (at_chain_check_cycles(e->chain, &chains, e->source, &d))
            at_warn("registry", "stored chain %s: %s", e->chain->name, d.msg);
    }
    return 0;
}

void at__registry_chains_free(struct at_registry *r)
{
    size_t it = 0;
    void *v;
    while (at_map_next(&r->chains, &it, NULL, &v))
        entry_free(v);
}

int at_registry_chain_register(struct at_registry *r, const char *file, const char *text,
                               size_t len, struct at_reg_result *res, struct at_diag *d)
{
    struct at_chain *c = NULL;
    at_reg_result_init(res);
    /* the agents are checked without the write lock (they only gain
     * versions meanwhile); cycles under it, where no other registration
     * can close one at the same time */
    const struct at_chain_env agents = {.arg = r, .agent = env_agent};
    int rc = at_chain_load_string(file, text, len, &agents, &c, d);
    if (rc)
        return rc;
    struct at__reg_chain *e = at_calloc(1, sizeof(*e));
    e->chain = c;
    e->source = at_strdup(file);
    e->registered_ms = at_wall_ms();
    digest_of(c->json, e->digest);
    snprintf(res->name, sizeof(res->name), "%s", c->name);
    res->version[0] = '\0';
    snprintf(res->digest, sizeof(res->digest), "%s", e->digest);
    pthread_rwlock_wrlock(&r->lock);
    struct at__reg_chain *old = at_map_get(&r->chains, c->name);
    if (old && strcmp(old->digest, e->digest) == 0) {
        pthread_rwlock_unlock(&r->lock);
        res->status = "unchanged";
        entry_free(e);
        return 0;
    }
    const struct at_chain_env chains = {.arg = r, .chain = env_chain_locked};
    if ((rc = at_chain_check_cycles(c, &chains, file, d))) {
        pthread_rwlock_unlock(&r->lock);
        entry_free(e);
        return rc;
    }
    struct at_chain_rec rec = {.name = c->name,
                               .definition = c->json,
                               .source = (char *)file,
                               .digest = e->digest,
                               .registered_ms = e->registered_ms};
    rc = at_writer_chain_put(r->writer, r->store, &rec);
    if (rc) {
        pthread_rwlock_unlock(&r->lock);
        entry_free(e);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot store the chain: %s", at_err_msg(rc));
    }
    res->status = old ? "replaced" : "created";
    entry_free(at_map_put(&r->chains, c->name, e));
    pthread_rwlock_unlock(&r->lock);
    return 0;
}

int at_registry_chain_get(struct at_registry *r, const char *name, struct at_chain **out)
{
    pthread_rwlock_rdlock(&r->lock);
    struct at__reg_chain *e = at_map_get(&r->chains, name);
    if (e)
        *out = at_chain_ref(e->chain);
    pthread_rwlock_unlock(&r->lock);
    return e ? 0 : AT_ENOENT;
}

int at_registry_chain_delete(struct at_registry *r, const char *name)
{
    pthread_rwlock_wrlock(&r->lock);
    int deleted = 0;
    int rc = at_writer_chain_delete(r->writer, r->store, name, &deleted);
    if (!rc && deleted)
        entry_free(at_map_del(&r->chains, name));
    pthread_rwlock_unlock(&r->lock);
    if (rc)
        return rc;
    return deleted ? 0 : AT_ENOENT;
}

static json_t *step_json(const struct at_chain_step *st)
{
    if (st->agent)
        return json_pack("{s:s,s:o}", "agent", st->agent, "id",
                         st->id ? json_string(st->id) : json_null());
    json_t *members = json_array();
    for (size_t i = 0; i < st->nmembers; i++)
        json_array_append_new(members, step_json(&st->members[i]));
    return json_pack("{s:o,s:o}", "parallel", members, "id",
                     st->id ? json_string(st->id) : json_null());
}

json_t *at_registry_chains_json(struct at_registry *r, const char *name, int full)
{
    json_t *arr = json_array();
    pthread_rwlock_rdlock(&r->lock);
    size_t it = 0;
    void *v;
    while (at_map_next(&r->chains, &it, NULL, &v)) {
        struct at__reg_chain *e = v;
        if (name && strcmp(e->chain->name, name) != 0)
            continue;
        char ts[40];
        json_t *steps = json_array();
        for (size_t i = 0; i < e->chain->nsteps; i++)
            json_array_append_new(steps, step_json(&e->chain->steps[i]));
        json_t *j =
            json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:s}", "name", e->chain->name, "description",
                      e->chain->description, "steps", steps, "source", e->source, "digest",
                      e->digest, "registered_at", at_time_iso8601(e->registered_ms, ts, sizeof(ts)),
                      "on_failure", at_chain_strategy_name(e->chain->on_failure.strategy));
        if (full)
            json_object_set(j, "definition", e->chain->json);
        json_array_append_new(arr, j);
    }
    pthread_rwlock_unlock(&r->lock);
    return arr;
}
