/*
 * internal.h - shared between the files of src/skills/ only.
 */
#ifndef AT_SKILLS_INTERNAL_H
#define AT_SKILLS_INTERNAL_H

#include "base/map.h"
#include "json/schema.h"
#include "skills/skills.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

enum at__skill_kind { AT__SK_BUILTIN, AT__SK_MCP, AT__SK_AGENT, AT__SK_SKILLMD };

struct at__call;
typedef int (*at__builtin_fn)(struct at_skills *s, const struct at__call *c, const json_t *input,
                              json_t **out, struct at_diag *d);

struct at__builtin {
    const char *name;
    const char *description;
    const char *input;  /* JSON Schema text */
    const char *output; /* JSON Schema text */
    at__builtin_fn fn;
    int (*enabled)(struct at_skills *s, char *why, size_t n); /* NULL: always on */
};

struct at__mount;

/* One installed skill version.  Immutable once in the table, shared by
 * reference (the table may drop it while a call runs). */
struct at__skill {
    atomic_int refs;
    char name[65];
    char version[64];
    enum at__skill_kind kind;
    json_t *def; /* the stored definition (name, version, kind, description, schemas, ...) */
    struct at_schema *input;
    const struct at__builtin *builtin;
    struct at__mount *mount; /* MCP: the server (shared by the skill's versions) */
    char digest[80];         /* at_skills_digest of def: what reviews are recorded of */
};

/* One call being run: the caller, where its files are. */
struct at__call {
    const struct at_skill_caller *caller;
    const struct at__skill *skill;
    char workspace[4096]; /* DATA/skills/work/ROOT/JOB (created) */
};

struct at_skills {
    struct at_skills_cfg cfg;
    char *data_dir, *db_path;
    sqlite3 *db; /* the skills' connection to the store's file */
    pthread_mutex_t db_mu;
    pthread_rwlock_t lock; /* the table */
    struct at__skill **tab;
    size_t n, cap;
    /* settings */
    char *search_url;
    double search_timeout_s;
    double code_timeout_s;
    long long code_memory_mb;
    long long code_max_output;
    char *embed_model; /* skills.memory.embedding.model, or NULL */
    at_skills_embed_fn embed_fn;
    void *embed_arg;
    double http_timeout_s;
    long long http_max_bytes;
    /* the worker pool */
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;
    struct at__job *q_head, *q_tail;
    size_t q_len, q_max;
    int stopping;
    pthread_t *workers;
    int nworkers;
    /* MCP mounts */
    pthread_mutex_t mounts_mu;
    struct at__mount *mounts;
    /* workspaces of finished trees, removed after the grace (skills.c) */
    double ws_grace_s;
    pthread_mutex_t ws_mu;
    pthread_cond_t ws_cv;
    struct at__ws_due *ws_due, *ws_tail; /* by due time, earliest first */
    struct at_map ws_byroot;             /* root -> its entry (borrowed) */
    int ws_stopping, ws_started;
    pthread_t ws_thread;
};

/* the built-ins (one file each) */
extern const struct at__builtin at__skill_file_ops;
extern const struct at__builtin at__skill_code_execution;
extern const struct at__builtin at__skill_memory;
extern const struct at__builtin at__skill_http;
extern const struct at__builtin at__skill_web_search;

/* memory.c: the tables (called once at open, under db_mu) */
int at__memory_init(struct at_skills *s, struct at_diag *d);

/* codeexec.c: run code in a fresh sandbox with workspace bound at
 * /workspace; used by code-execution and SKILL.md scripts. */
struct at__exec_req {
    const char *language; /* "python" | "shell" */
    const char *code;
    const char *script;    /* a file to run instead of code (inside /skill), or NULL */
    const char *skill_dir; /* bound read-only at /skill, or NULL */
    const char *stdin_text;
    const json_t *args; /* strings passed to the code, or NULL */
    double timeout_s;
    int network;
};
int at__exec_run(struct at_skills *s, const struct at__call *c, const struct at__exec_req *r,
                 json_t **out, struct at_diag *d);

/* mount.c: MCP servers as skills */
struct at__mount *at__mount_get(struct at_skills *s, const char *key, const json_t *mcp);
void at__mounts_free(struct at_skills *s);
/* mcp.sandbox of a stdio mount (docs/skills.md "Sandboxed servers"): true,
 * or {paths: [{path, mode: read|write}], network: none|egress}.  0, or
 * AT_EINVAL with d's pointer; with probe, AT_EUNAVAIL when no sandbox can
 * be built here (registration refuses what could never start). */
/* mcp.headers of a remote mount: {Name: value}, values may hold
 * ${secret:NAME} (the secrets store's, filled in at each connection).  0,
 * or AT_EINVAL with d's pointer. */
int at__mount_headers_check(const json_t *headers, struct at_diag *d);
/* mcp.concurrency of a remote mount: calls in flight at once (default
 * AT__MOUNT_CONCURRENCY), at most this */
#define AT__MOUNT_CONCURRENCY 16
#define AT__MOUNT_MAX_CONCURRENCY 64
int at__mount_sandbox_check(const json_t *sandbox, int probe, struct at_diag *d);
/* tools/call of tool (or tools/list when tool is NULL), answer through done
 * on the mount's thread.  Never blocks on the server. */
void at__mount_call(struct at__mount *m, const char *tool, const json_t *arguments,
                    double timeout_s, at_skill_done_fn done, void *arg);
/* The server's tools as last seen (new reference, [] before the first
 * start), and its state {state, restarts, failures, ...}. */
json_t *at__mount_info(struct at__mount *m);

/* skillmd.c: a SKILL.md script's name is [A-Za-z0-9._-]+, not starting with '.' */
int at__skillmd_script_ok(const char *name);
/* Write def's skillmd.files under DATA/skills/dirs/NAME-VERSION and set
 * skillmd.dir and skillmd.scripts (def changed in place). */
int at__skillmd_materialize(struct at_skills *s, json_t *def, struct at_diag *d);

/* skills.c */
void at__skill_unref(struct at__skill *k);
/* "1.2.3" the highest version of name satisfying constraint (NULL: any).
 * Returns a reference or NULL. */
struct at__skill *at__skill_find(struct at_skills *s, const char *name, const char *constraint);

#endif
