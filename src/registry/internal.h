/*
 * internal.h - what registry.c (agents) and chains.c (chains) share: the
 * registry's state and the chain index's life cycle.  Not for other
 * folders: they use registry.h.
 */
#ifndef AT_REGISTRY_INTERNAL_H
#define AT_REGISTRY_INTERNAL_H

#include "base/map.h"
#include "registry/registry.h"

#include <pthread.h>

#define AT__REG_MAX_LISTENERS 8

struct at_registry {
    struct at_store *store;
    struct at_writer *writer; /* NULL: writes on the calling thread */
    char *agents_dir;         /* DATA/agents: snapshots */
    char *contracts_dir;      /* DATA/contracts: contract JSON per name@version */
    /* Guards by_key, latest, chains and the listener table.  Writers
     * (registration, removal) hold it across the store write, so the index
     * and the store change together. */
    pthread_rwlock_t lock;
    struct at_map by_key; /* "name@version" -> struct at_reg_agent (owned) */
    struct at_map latest; /* "name" -> the default version (borrowed from by_key);
                             absent when a name has only pre-releases */
    at_reg_listener_fn listeners[AT__REG_MAX_LISTENERS];
    void *listener_args[AT__REG_MAX_LISTENERS];
    int nlisteners;
    pthread_mutex_t py_mu;
    struct at_map py_versions; /* interpreter -> version string (owned) */
    struct at_map chains;      /* name -> struct at__reg_chain (owned; chains.c) */
};

/* Read the stored chains into r->chains (at start-up, before r is shared);
 * a stored chain that no longer loads is logged and skipped, one that is
 * part of a cycle (stored before cycles were refused) is logged. */
int at__registry_chains_load(struct at_registry *r);
/* Free r->chains' entries (r->chains itself is released by the caller). */
void at__registry_chains_free(struct at_registry *r);

#endif
