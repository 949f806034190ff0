/*
 * registry.h - the local registry: agents by name and semantic version.
 *
 * Registration checks the contract, snapshots the directory under its
 * content digest (snapshot.h) and records it in the store.  Re-registering
 * a name+version with the same digest is a no-op; with a different digest it
 * is refused (AT_EEXIST) unless forced.  "NAME" resolves to its default
 * version: the highest that is not a pre-release (SemVer 2.0.0 §9; a name
 * with only pre-releases has none, and runs must pin one); "NAME:VERSION"
 * resolves to that version, pre-releases included.
 *
 * Resolved entries are immutable and reference-counted, so a run holds its
 * agent even if it is unregistered meanwhile.  All functions are
 * thread-safe (an rwlock guards the in-memory index; the store is the
 * source of truth and is read once at start-up).
 */
#ifndef AT_REGISTRY_REGISTRY_H
#define AT_REGISTRY_REGISTRY_H

#include "base/diag.h"
#include "contract/agent.h"
#include "registry/build.h"
#include "registry/snapshot.h"
#include "store/store.h"
#include "store/writer.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

struct at_registry;

struct at_reg_agent {
    atomic_int refs;
    struct at_contract *contract;
    char *key;           /* "name@version" */
    char *digest;        /* "sha256:..." or "" for remote */
    char *kind;          /* "local" | "remote" */
    char *source;        /* registered-from path, or remote URL */
    char *dir;           /* snapshot directory (local), NULL for remote */
    char *contract_file; /* JSON of the contract, for ATLAS_CONTRACT (local) */
    char *env;           /* the dependency build's environment (build.h), or NULL */
    char *env_kind;      /* "python" (a virtual environment) | "node" (ENV/node_modules) */
    json_t *build;       /* the build record, or NULL (registry/build.h) */
    int64_t registered_ms;
};

#define AT_REG_MAX_WARNINGS 16

/* Something registration accepted but the user should know: a declared
 * skill that does not exist, a package the interpreter cannot import. */
struct at_reg_warning {
    char code[32];     /* "skill-unavailable", "package-missing", ... */
    char pointer[128]; /* where in the contract ("/requires/skills/0"), or "" */
    char msg[400];
};

/* What a registration did.  Filled by the registering function (no
 * allocation: nothing to release); at most AT_REG_MAX_WARNINGS warnings, the
 * last of which says how many more there were. */
struct at_reg_result {
    char name[AT_AGENT_NAME_MAX * 2 + 2];
    char version[96];
    char digest[AT_DIGEST_MAX];
    const char *status; /* "created" | "unchanged" | "replaced" */
    struct at_reg_warning warnings[AT_REG_MAX_WARNINGS];
    int nwarnings;
    int dropped; /* warnings beyond the array */
};

/* Empty res (the registering functions start with it). */
void at_reg_result_init(struct at_reg_result *res);
/* The warnings as the API shows them: [{"code", "message", "pointer"?}]
 * (a new reference). */
json_t *at_reg_result_warnings_json(const struct at_reg_result *res);

enum at_reg_event { AT_REG_ADDED, AT_REG_REMOVED };
typedef void (*at_reg_listener_fn)(void *arg, enum at_reg_event ev, const char *name,
                                   const char *version);

/* Open the registry over store (borrowed) with snapshots under
 * data_dir/agents.  Loads every stored agent; a stored contract that no
 * longer loads is logged and skipped. */
int at_registry_new(struct at_store *store, const char *data_dir, struct at_registry **out,
                    struct at_diag *d);
void at_registry_free(struct at_registry *r);

/* Send the registry's store writes (agents, chains) through writer w
 * (borrowed; must outlive r), so they run on the writer thread only.  Set
 * once, before r is shared; without it (tools, unit tests) they run on the
 * calling thread. */
void at_registry_set_writer(struct at_registry *r, struct at_writer *w);

/* fn(arg, ...) is called (on the registering thread, without locks held)
 * after every change.  At most 8 listeners; AT_ELIMIT beyond. */
int at_registry_add_listener(struct at_registry *r, at_reg_listener_fn fn, void *arg);

/* Register the agent in directory path (absolute).  name, when not NULL,
 * overrides the contract's name.  Errors: the contract's (located in
 * agent.yaml), AT_EDEPS (dependencies.python not satisfied, or the
 * dependency build failed: nothing is registered, the versions already
 * there keep serving), AT_EEXIST (same version, other content, no force),
 * the snapshot's (snapshot.h).  Dependencies are built first (build.h):
 * dependencies.packages into a virtual environment when a package index is
 * configured, a package-lock.json with npm ci.  Warnings in res:
 * requires.skills that are not available (at_contract_skill_available),
 * dependencies.packages the agent's Python cannot import or whose version
 * does not match (when they are not built).  Blocks (copies the directory,
 * runs the interpreter, pip or npm): not on the dispatch path. */
int at_registry_register_dir(struct at_registry *r, const char *path, const char *name, int force,
                             struct at_reg_result *res, struct at_diag *d);

/* Register an already-built contract for a remote agent. */
int at_registry_register_remote(struct at_registry *r, struct at_contract *c, int force,
                                struct at_reg_result *res, struct at_diag *d);

/* Resolve "name" (its default version) or "name:version".  Returns 0 and a
 * reference (release with at_reg_agent_unref) or AT_ENOENT / AT_EINVAL. */
int at_registry_resolve(struct at_registry *r, const char *ref, struct at_reg_agent **out);
/* Why ref does not resolve, as one sentence for the user: it is not a
 * reference, nothing of that name is registered, or the name has only
 * pre-releases ("... has only pre-release versions (1.3.0-beta.1); pin
 * one: NAME:1.3.0-beta.1").  Writes at most len bytes to msg. */
void at_registry_explain_missing(struct at_registry *r, const char *ref, char *msg, size_t len);
struct at_reg_agent *at_reg_agent_ref(struct at_reg_agent *a);
void at_reg_agent_unref(struct at_reg_agent *a);

/* Remove "name" (every version) or "name:version"; *count says how many. */
int at_registry_unregister(struct at_registry *r, const char *ref, int *count);

/* What a collection removed (at_registry_gc). */
struct at_reg_gc {
    int snapshots;            /* DATA/agents/sha256-* directories */
    int envs;                 /* DATA/envs/{py,npm}-* environments */
    unsigned long long bytes; /* their files' bytes */
    int kept_busy;            /* unregistered versions still held (a running job) */
    int deferred;             /* registrations were running: done after the last */
};

/* Remove the snapshots and dependency environments that no registered
 * version uses and nobody holds any more (a job still running an
 * unregistered version keeps its files until a later collection), and
 * what a crashed snapshot left (DATA/agents/.tmp-*).  Run at start
 * (at_registry_new), after an unregistration and after a replacement.
 * wait 0: when registrations are in flight it is deferred to the end of
 * the last one (out->deferred).  Blocks (removes trees).  Thread-safe. */
void at_registry_gc(struct at_registry *r, int wait, struct at_reg_gc *out);

/* Rebuild the dependency environment of every version whose build record
 * names one that is missing or incomplete (a restored backup holds the
 * records, not the environments: docs/distribution.md "Environments"):
 * Python from the record's lock (the same versions and sha256 hashes,
 * pip --require-hashes --no-deps), Node with npm ci from the snapshot's
 * package-lock.json.  After at_registry_set_build, before serving.  A
 * version that cannot be rebuilt (the index is down) is logged and counted
 * in *failed; it stays registered.  Blocks (pip, npm). */
int at_registry_rebuild_envs(struct at_registry *r, int *rebuilt, int *failed);

/* Split "name:version" (version NULL when absent) into caller buffers. */
int at_registry_split_ref(const char *ref, char *name, size_t nlen, char *version, size_t vlen);

/* JSON views for the API. */
json_t *at_reg_agent_to_json(const struct at_reg_agent *a, int full);
/* Every agent (all versions, newest first per name; "latest": true marks
 * each name's default version). */
json_t *at_registry_list_json(struct at_registry *r, const char *name);
/* Agents (each name's default version, or its highest pre-release when it
 * has only those) whose name, description or capabilities contain text
 * (case-insensitive). */
json_t *at_registry_search_json(struct at_registry *r, const char *text);
/* Number of registered agent versions. */
size_t at_registry_count(struct at_registry *r);
/* Snapshot of every name's default version (refs), for tools/list,
 * routing etc.; names with only pre-releases are not in it.  Caller unrefs
 * each and frees the array. */
size_t at_registry_latest(struct at_registry *r, struct at_reg_agent ***out);

/* ---- chains (the files under chains/) ---- */

struct at_chain;

/* Register a chain from its file's text (file names it in messages): checked
 * against the registered agents (chain.h), refused when it would close a
 * cycle of chains through fallbacks (AT_EINVAL naming the path), stored,
 * indexed.  res->status is created, replaced or unchanged; res->digest is
 * the definition's. */
int at_registry_chain_register(struct at_registry *r, const char *file, const char *text,
                               size_t len, struct at_reg_result *res, struct at_diag *d);
/* A reference to the chain (release with at_chain_unref), or AT_ENOENT. */
int at_registry_chain_get(struct at_registry *r, const char *name, struct at_chain **out);
int at_registry_chain_delete(struct at_registry *r, const char *name);
/* {"name","description","steps","source","digest","registered_at"} for
 * each chain (full: with the definition). */
json_t *at_registry_chains_json(struct at_registry *r, const char *name, int full);

#endif
