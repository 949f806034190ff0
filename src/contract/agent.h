/*
 * agent.h - the agent contract (agent.yaml), as in the Atlas spec, plus the
 * Atlas extension keys documented in docs/contract.md (entrypoint, remote,
 * tool, idempotent, timeout, pool).
 *
 * A contract is loaded from a directory (at registration: every key checked,
 * errors located as file:line:col with the dotted key) or from its stored
 * JSON form (at start-up: already checked, errors name the JSON Pointer).
 * A loaded contract is immutable and may be shared between threads; it is
 * reference-counted (at_contract_ref / at_contract_unref).
 */
#ifndef AT_CONTRACT_AGENT_H
#define AT_CONTRACT_AGENT_H

#include "base/diag.h"
#include "contract/semver.h"
#include "json/schema.h"

#include <jansson.h>
#include <stdatomic.h>

#define AT_AGENT_NAME_MAX 64

struct at_pool_limits {
    int min;             /* -1 when not set */
    int max;             /* -1 when not set */
    double idle_timeout; /* seconds; < 0 when not set */
};

/* requires.network */
enum { AT_NETWORK_NONE = 0, AT_NETWORK_PLATFORM, AT_NETWORK_EGRESS };

/* limits: the sandbox's (0 when not set) */
struct at_limits {
    long long memory_mb;
    long long pids;
    double cpu; /* cores */
};

struct at_contract {
    atomic_int refs;
    char *name;
    char *version;
    struct at_semver semver;
    char *description;
    char *type;               /* "agent" | "orchestrator" | "conversational" */
    struct at_schema *input;  /* compiled input.schema */
    struct at_schema *output; /* compiled output.schema */
    int platform_tools;
    int spawn_agents;
    int idempotent;
    double timeout_s; /* 0: use execution.timeouts.agent */
    struct at_pool_limits pool;
    int network;             /* requires.network: AT_NETWORK_* */
    struct at_limits limits; /* limits: */
    json_t *entrypoint;      /* array of strings, or NULL for remote agents */
    char *remote;            /* Streamable HTTP URL of a remote agent, or NULL */
    char *tool;              /* tool name (remote, or an MCP server whose tool is not named
                                after the agent); NULL means the agent's name */
    char *python;            /* dependencies.python constraint or NULL */
    json_t *json;            /* the whole normalised agent block */
};

/* Load DIR/agent.yaml.  When the contract has no entrypoint and DIR has
 * agent.py, the entrypoint becomes the Python SDK runner.  Returns 0 and a
 * contract with one reference, or an error with d located. */
int at_contract_load_dir(const char *dir, struct at_contract **out, struct at_diag *d);

/* Load a contract from a file's text (name is used in diagnostics). */
int at_contract_load_string(const char *name, const char *text, size_t len,
                            struct at_contract **out, struct at_diag *d);

/* Rebuild from the stored JSON (the `json` member of a loaded contract).
 * Takes a reference to json. */
int at_contract_from_json(json_t *json, struct at_contract **out, struct at_diag *d);

/* A contract for a remote MCP tool (register --remote), built from the
 * tool's description and schemas.  Takes no ownership of its arguments. */
int at_contract_new_remote(const char *name, const char *version, const char *url, const char *tool,
                           const char *description, const json_t *input_schema,
                           const json_t *output_schema, struct at_contract **out,
                           struct at_diag *d);
/* The same, trust_platform: the server is trusted with the job's token
 * (requires.platform_tools; register --trust-platform); remote_auth: the
 * server's credentials (exec/remote_auth.h), or NULL. */
int at_contract_new_remote_trust(const char *name, const char *version, const char *url,
                                 const char *tool, const char *description,
                                 const json_t *input_schema, const json_t *output_schema,
                                 int trust_platform, const json_t *remote_auth,
                                 struct at_contract **out, struct at_diag *d);

struct at_contract *at_contract_ref(struct at_contract *c);
void at_contract_unref(struct at_contract *c);

/* 1 when the agent runs on Python (entrypoint's program is python/python3*). */
int at_contract_is_python(const struct at_contract *c);

/* 1 when the skill a requires.skills entry names ("NAME" or
 * "NAME@CONSTRAINT", docs/skills.md) is installed on this node, as the
 * hook set with at_contract_set_skill_check answers (the skills layer sits
 * above this one; the daemon sets the hook).  Without a hook, 0 for every
 * entry: registration warns and runs that need one fail with
 * skill-unavailable.  Thread-safe. */
int at_contract_skill_available(const char *spec);
typedef int (*at_contract_skill_fn)(void *arg, const char *spec);
void at_contract_set_skill_check(at_contract_skill_fn fn, void *arg);
/* Split a requires.skills entry "NAME[@CONSTRAINT]": name into name (n
 * bytes), *constraint points into spec (NULL when none).  0, or AT_EINVAL
 * when the name is not [a-z0-9][a-z0-9._-]* or the constraint does not
 * parse (contract/semver.h). */
int at_contract_skill_spec(const char *spec, char *name, size_t n, const char **constraint);

/* 1 when name is a valid agent name: [a-z0-9][a-z0-9._-]{0,63}, optionally
 * one "org/" prefix of the same form. */
int at_agent_name_valid(const char *name);

#endif
