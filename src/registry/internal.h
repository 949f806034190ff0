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
#include <stdatomic.h>

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
    /* dependency builds (build.c): settings, and one build at a time */
    char *envs_dir;           /* DATA/envs: the environments */
    char *builds_dir;         /* DATA/builds: the build record of each name@version */
    char *build_pip_index;    /* NULL: dependencies.packages are checked, not installed */
    char *build_pip_shown;    /* the same without user information (messages, the lock) */
    char *build_npm_registry; /* NULL: npm's own */
    char *build_init;         /* atlas-init for the sandbox's Landlock fence, or NULL */
    int build_sandbox;
    double build_timeout_s;
    char *build_egress_socket; /* NULL: builds have the host's network */
    char *build_platform_socket;
    json_t *build_egress; /* the HOST:PORTs a build may reach (the index's first) */
    /* the running build's proxy token ("" when none), under build_tok_mu:
     * the egress proxy's threads read it while build_mu is held */
    pthread_mutex_t build_tok_mu;
    char build_token[65];
    char build_who[200];
    char build_what[180]; /* "name:version" being built (under build_mu) */
    /* the builds' output as it comes (at_registry_build_log): the last
     * BUILD_LOG_MAX lines, numbered, under log_mu */
    pthread_mutex_t log_mu;
    json_t *log_lines;
    long long log_seq;
    char log_building[180]; /* "" between builds */
    pthread_mutex_t build_mu;
    /* garbage collection (gc.c): registrations hold gc_gate shared from
     * their snapshot to their commit, a collection holds it exclusive, so
     * it never removes what a registration in flight is about to use */
    pthread_rwlock_t gc_gate;
    atomic_int gc_pending; /* a collection was asked for while registrations ran */
    /* unregistered or replaced versions (owned refs, under lock): their
     * snapshot and environment stay while anyone else (a running job, a
     * warm pool) still holds them */
    struct at_reg_agent **retired;
    size_t nretired, cap_retired;
};

/* gc.c: keep a (the index's reference, taken) until nobody else holds it.
 * Caller holds the write lock. */
void at__registry_retire(struct at_registry *r, struct at_reg_agent *a);
/* gc.c: after a registration (gc_gate released): the collection that was
 * asked for meanwhile, when the gate is free now. */
void at__registry_gc_pending(struct at_registry *r);

/* build.c: build what contract c (its snapshot snap) depends on.  0 and
 * *out NULL when there is nothing to build (or no index is configured for
 * it); 0 and *out the build record (new reference: {kind, env, key,
 * lock_digest, packages, sandbox, status: built | cached, steps, ms}); or
 * AT_EDEPS / AT_EUNSUPPORTED with d saying which requirement and what the
 * installer printed last.  Blocks; serialised on r->build_mu. */
/* pins (NULL: none): the packages of an earlier build's lock ([{name,
 * version, sha256}]): a Python environment is rebuilt with exactly those
 * (pip --require-hashes --no-deps), not resolved again. */
int at__registry_build(struct at_registry *r, const struct at_contract *c, const char *snap,
                       const json_t *pins, json_t **out, struct at_diag *d);
/* The version of Python interpreter interp ("3.11.2"), cached per
 * interpreter; NULL with d set (AT_EDEPS) when it does not run. Valid while
 * r lives. */
const char *at__registry_python_version(struct at_registry *r, const char *interp,
                                        struct at_diag *d);

/* Read the stored chains into r->chains (at start-up, before r is shared);
 * a stored chain that no longer loads is logged and skipped, one that is
 * part of a cycle (stored before cycles were refused) is logged. */
int at__registry_chains_load(struct at_registry *r);
/* Free r->chains' entries (r->chains itself is released by the caller). */
void at__registry_chains_free(struct at_registry *r);

#endif
