/*
 * chains.c - the registry's index of chains: checked at registration
 * against the agents registered then, stored in the store, reloaded at
 * start-up.
 */
#include "registry/registry.h"

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

/* The chain index lives beside the agents' in struct at_registry; these
 * accessors are in registry.c. */
struct at_map *at__registry_chains(struct at_registry *r);
pthread_rwlock_t *at__registry_lock(struct at_registry *r);
struct at_store *at__registry_store(struct at_registry *r);

struct chain_entry {
    struct at_chain *chain;
    char *source;
    char digest[AT_DIGEST_MAX];
    int64_t registered_ms;
};

static void entry_free(struct chain_entry *e)
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
    memcpy(out, "sha256:", 7);
    sodium_bin2hex(out + 7, AT_DIGEST_MAX - 7, sum, sizeof(sum));
}

int at__registry_chains_load(struct at_registry *r);
int at__registry_chains_load(struct at_registry *r)
{
    struct at_chain_rec *recs;
    size_t n;
    int rc = at_store_call(at__registry_store(r), chain_list, &recs, &n);
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
        struct chain_entry *e = at_calloc(1, sizeof(*e));
        e->chain = c;
        e->source = at_strdup(recs[i].source ? recs[i].source : "");
        snprintf(e->digest, sizeof(e->digest), "%s", recs[i].digest ? recs[i].digest : "");
        e->registered_ms = recs[i].registered_ms;
        entry_free(at_map_put(at__registry_chains(r), c->name, e));
    }
    at_chain_recs_free(recs, n);
    return 0;
}

void at__registry_chains_free(struct at_registry *r);
void at__registry_chains_free(struct at_registry *r)
{
    size_t it = 0;
    void *v;
    while (at_map_next(at__registry_chains(r), &it, NULL, &v))
        entry_free(v);
}

int at_registry_chain_register(struct at_registry *r, const char *file, const char *text,
                               size_t len, struct at_reg_result *res, struct at_diag *d)
{
    struct at_chain *c = NULL;
    int rc = at_chain_load_string(file, text, len, r, &c, d);
    if (rc)
        return rc;
    struct chain_entry *e = at_calloc(1, sizeof(*e));
    e->chain = c;
    e->source = at_strdup(file);
    e->registered_ms = at_wall_ms();
    digest_of(c->json, e->digest);
    snprintf(res->name, sizeof(res->name), "%s", c->name);
    res->version[0] = '\0';
    snprintf(res->digest, sizeof(res->digest), "%s", e->digest);
    pthread_rwlock_wrlock(at__registry_lock(r));
    struct chain_entry *old = at_map_get(at__registry_chains(r), c->name);
    if (old && strcmp(old->digest, e->digest) == 0) {
        pthread_rwlock_unlock(at__registry_lock(r));
        res->status = "unchanged";
        entry_free(e);
        return 0;
    }
    struct at_chain_rec rec = {.name = c->name,
                               .definition = c->json,
                               .source = (char *)file,
                               .digest = e->digest,
                               .registered_ms = e->registered_ms};
    rc = at_store_call(at__registry_store(r), chain_put, &rec);
    if (rc) {
        pthread_rwlock_unlock(at__registry_lock(r));
        entry_free(e);
        return at_diag_set(d, rc, NULL, 0, 0, "cannot store the chain: %s", at_err_msg(rc));
    }
    res->status = old ? "replaced" : "created";
    entry_free(at_map_put(at__registry_chains(r), c->name, e));
    pthread_rwlock_unlock(at__registry_lock(r));
    return 0;
}

int at_registry_chain_get(struct at_registry *r, const char *name, struct at_chain **out)
{
    pthread_rwlock_rdlock(at__registry_lock(r));
    struct chain_entry *e = at_map_get(at__registry_chains(r), name);
    if (e)
        *out = at_chain_ref(e->chain);
    pthread_rwlock_unlock(at__registry_lock(r));
    return e ? 0 : AT_ENOENT;
}

int at_registry_chain_delete(struct at_registry *r, const char *name)
{
    pthread_rwlock_wrlock(at__registry_lock(r));
    int deleted = 0;
    int rc = at_store_call(at__registry_store(r), chain_delete, name, &deleted);
    if (!rc && deleted)
        entry_free(at_map_del(at__registry_chains(r), name));
    pthread_rwlock_unlock(at__registry_lock(r));
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
    pthread_rwlock_rdlock(at__registry_lock(r));
    size_t it = 0;
    void *v;
    while (at_map_next(at__registry_chains(r), &it, NULL, &v)) {
        struct chain_entry *e = v;
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
    pthread_rwlock_unlock(at__registry_lock(r));
    return arr;
}
