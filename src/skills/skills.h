/*
 * skills.h - platform skills (docs/skills.md): named, versioned
 * capabilities with an input and an output JSON Schema that an agent
 * declares in requires.skills and calls inside its own job
 * (atlas.skills.invoke, context.skill in the SDKs).
 *
 * Kinds:
 * - builtin: C in this folder (file-ops, code-execution, memory, http,
 *   web-search), scoped by the caller's contract (requires.scope,
 *   requires.network), never by what the agent says;
 * - mcp: an MCP server on stdio (a command) whose tools are the skill's
 *   operations (mount.c: a process of its own, a circuit breaker, restarts
 *   with back-off);
 * - agent: a registered agent offered as a skill (the MCP layer runs it as
 *   a child job of the caller, so its spans, tokens and cost are the
 *   caller's);
 * - skillmd: an Agent Skills folder (SKILL.md: front matter with name and
 *   description, instructions, optional scripts run through
 *   code-execution; skillmd.c).
 *
 * Registered skills are rows of the table `skills` in the store's SQLite
 * file (a connection of this layer's own, like the security records); the
 * memory skill's rows live there too (memory.c).
 *
 * Thread-safe: every function may be called from any thread.  Calls that
 * run a skill block (file system, a child process, the network); the MCP
 * surface uses at_skills_invoke_async, whose worker threads
 * (skills.workers) do that work, so no HTTP thread waits.
 */
#ifndef AT_SKILLS_SKILLS_H
#define AT_SKILLS_SKILLS_H

#include "base/diag.h"
#include "contract/config.h"

#include <jansson.h>
#include <stddef.h>

struct at_skills;
struct at_secrets;

struct at_skills_cfg {
    const struct at_config *config; /* skills.* settings (borrowed, outlives the skills) */
    const char *data_dir;           /* workspaces live in DATA/skills/work */
    const char *db_path;            /* the store's SQLite file */
    int sandbox_required;           /* code-execution refuses to run without the sandbox */
    const char *init_path;          /* atlas-init for the Landlock fence, or NULL */
    struct at_secrets *secrets;     /* remote mounts' mcp.headers ${secret:NAME}, or NULL */
};

/* Open (tables created as needed), the built-ins and the registered
 * skills loaded, MCP servers mounted lazily on first use.  Returns 0, or
 * AT_EIO with d. */
int at_skills_new(const struct at_skills_cfg *cfg, struct at_skills **out, struct at_diag *d);
/* Stop the workers (queued calls are answered AT_ECANCELED), the MCP
 * servers, and free.  NULL is a no-op. */
void at_skills_free(struct at_skills *s);

/* Who calls a skill: an agent's job (agent set, its contract's requires)
 * or a user (agent NULL: every installed skill, no scope beyond its own
 * workspace, no network for code-execution).  Borrowed for the call. */
struct at_skill_caller {
    const char *agent;        /* calling agent's name, or NULL for a user */
    const char *job_id;       /* NULL for a user */
    const char *root_id;      /* job tree: the job's workspace is DATA/skills/work/ROOT/JOB */
    const char *conversation; /* the job's conversation, or NULL */
    const json_t *requires;   /* the contract's requires block, or NULL */
};

/* The hook of contract/agent.h: 1 when a requires.skills entry
 * ("NAME[@CONSTRAINT]") names an installed skill. */
int at_skills_available(void *skills, const char *spec);

/* {"skills": [{name, version, kind, description, ...}]}: every installed
 * skill (caller NULL), or those the caller's requires.skills grants. */
json_t *at_skills_list_json(struct at_skills *s, const struct at_skill_caller *caller);
/* One skill (version NULL: the highest) with its schemas and operations.
 * 0 and *out, or AT_ENOENT. */
int at_skills_describe(struct at_skills *s, const char *name, const char *version, json_t **out);

/* Register def ({name, version, kind, description, input_schema,
 * output_schema, mcp|agent|skillmd}; docs/skills.md "Writing a skill"),
 * replacing the same name@version when force.  0 and *out (the stored
 * form), or AT_EINVAL/AT_ESCHEMA/AT_EEXIST with d naming the field. */
int at_skills_register(struct at_skills *s, const json_t *def, int force, json_t **out,
                       struct at_diag *d);
/* The content digest of a definition ("sha256:" + hex of its canonical
 * JSON without source, registered_ms and what a SKILL.md install adds):
 * what a review is recorded of (docs/skills.md "Reviews"), the same for a
 * file, a pull and the installed skill.  0, or AT_EINVAL. */
int at_skills_digest(const json_t *def, char *out, size_t n);
/* The definition of the SKILL.md folder dir as version (NULL: its
 * metadata's, else 1.0.0) would be installed with, without installing it:
 * 0 and *def (new reference), or an error with d. */
int at_skills_dir_def(const char *dir, const char *version, json_t **def, struct at_diag *d);
/* Register the SKILL.md folder dir (skillmd.c) as version. */
int at_skills_register_dir(struct at_skills *s, const char *dir, const char *version, int force,
                           json_t **out, struct at_diag *d);
/* Remove name (version NULL: every version).  *removed counts rows; a
 * built-in cannot be removed (AT_EPERM). */
int at_skills_remove(struct at_skills *s, const char *name, const char *version, int *removed,
                     struct at_diag *d);

/* For an agent-backed skill the caller may use: 1 and agent ("NAME" or
 * "NAME:VERSION") filled; 0 for another kind; a negative AT_E* with d when
 * the skill is denied or missing. */
int at_skills_agent_target(struct at_skills *s, const struct at_skill_caller *caller,
                           const char *name, char *agent, size_t n, struct at_diag *d);

/* Run skill name with input (borrowed) as caller.  0 and *output (new
 * reference), or: AT_EPERM (not declared in requires.skills, outside the
 * scope), AT_ESKILL (not installed, or no version satisfies the
 * constraint), AT_ESCHEMA (input, with the pointer), AT_EUNAVAIL (off:
 * web-search not configured, no sandbox), AT_ETIMEDOUT, AT_ECIRCUIT (an MCP
 * server's breaker is open), AT_ECRASH (it died during the call), AT_EAGENT
 * (the skill failed: the message says why); d says why.  Blocks. */
int at_skills_invoke(struct at_skills *s, const struct at_skill_caller *caller, const char *name,
                     const json_t *input, json_t **output, struct at_diag *d);

/* The answer of an asynchronous call: rc and output (stolen; NULL on
 * failure), d says why.  Runs on a skills worker or an MCP mount's thread. */
typedef void (*at_skill_done_fn)(void *arg, int rc, json_t *output, const struct at_diag *d);
/* at_skills_invoke on a worker thread (the caller is copied).  Returns 0
 * (done is called exactly once, maybe before this returns) or AT_EBUSY
 * when skills.queue calls wait already (done is not called). */
int at_skills_invoke_async(struct at_skills *s, const struct at_skill_caller *caller,
                           const char *name, const json_t *input, at_skill_done_fn done, void *arg);

/* Workspaces (docs/skills.md "Workspaces"): each job has its own,
 * DATA/skills/work/ROOT/JOB, made on its first skill call.  When the tree
 * ROOT has finished (its root job's final state is committed), the folder
 * DATA/skills/work/ROOT is removed after skills.workspace.grace_s (default
 * 60 s; 0: at once) by a thread of this layer.  Never blocks; ignores a
 * malformed id.  Thread-safe. */
void at_skills_tree_done(struct at_skills *s, const char *root_id);
/* At start: for every tree folder under DATA/skills/work, finished(arg,
 * root, &finished_ms) answers 1 when the tree is over (finished_ms its end,
 * 0 when unknown: the folder is an orphan) or 0 while it runs; the over
 * ones are removed once their grace has passed since finished_ms.
 * Returns the number scheduled. */
typedef int (*at_skills_tree_finished_fn)(void *arg, const char *root_id, long long *finished_ms);
int at_skills_workspaces_recover(struct at_skills *s, at_skills_tree_finished_fn finished,
                                 void *arg);

/* Embeddings for the memory skill (docs/skills.md "memory"): fn embeds
 * text with model (skills.memory.embedding.model: a model or a tier name)
 * for caller and answers the vector (a JSON array of numbers, new
 * reference), or an AT_E* with d.  It may block (it runs on the skills'
 * workers).  Set once at start, before calls; without it (or without the
 * setting) memory searches with FTS5 only. */
typedef int (*at_skills_embed_fn)(void *arg, const struct at_skill_caller *caller,
                                  const char *model, const char *text, json_t **vector,
                                  struct at_diag *d);
void at_skills_set_embedder(struct at_skills *s, at_skills_embed_fn fn, void *arg);

/* SKILL.md (skillmd.c): parse text (len bytes) into {name, description,
 * instructions, metadata}.  0 and *out, or AT_EPARSE/AT_EINVAL with d
 * located (line:col in the file).  Pure: fuzzed (tests/fuzz/fuzz_skillmd.c). */
int at_skillmd_parse(const char *text, size_t len, json_t **out, struct at_diag *d);

#endif
