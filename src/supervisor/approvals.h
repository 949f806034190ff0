/*
 * approvals.h - proposals and approvals as platform objects
 * (docs/supervisor.md "Approvals"): a request to widen Atlas's
 * capabilities (a new agent or skill, a dependency, a policy change, ...)
 * that a person decides on, and that Atlas then executes exactly as
 * decided.
 *
 * A proposal is {kind, title, reason, payload, evidence}; its content hash
 * is "sha256:" and the hex SHA-256 of {"kind", "payload"} serialised
 * compact with sorted keys (at_audit_digest).  States:
 *
 *   pending -> approved | modified | rejected | expired
 *   approved | modified -> executing -> done | failed
 *
 * A decision names the hash its maker saw (a mismatch is refused, 409), is
 * single use (a second decision finds the proposal no longer pending,
 * 409), is recorded with who, when and why, and is never made by the
 * identity that filed (or amended) the proposal (403).  Approving executes
 * the approved payload through the executor the daemon installed;
 * `modify` replaces the payload (validated, re-hashed, the edit recorded)
 * and executes the edited one.  Every filing, amendment, decision and
 * execution is one audit record (event and semantic log).
 *
 * The evidence a proposal carries (diff, check results, auditor score,
 * impact) is sealed at filing as a certification package: a DSSE envelope
 * around an in-toto Statement naming the proposal and its content hash,
 * signed with the daemon's Ed25519 key.
 *
 * Thread-safe (one mutex); the executor runs without it.
 */
#ifndef AT_SUPERVISOR_APPROVALS_H
#define AT_SUPERVISOR_APPROVALS_H

#include "base/diag.h"
#include "security/audit.h"

#include <jansson.h>
#include <stdint.h>

#define AT_PROPOSAL_MAX (256u << 10) /* the serialised proposal's limit */
#define AT_APPROVALS_TTL_S 604800    /* a pending proposal expires after a week */

/* The proposal kinds and whether Atlas can execute an approved one. */
enum at_proposal_kind {
    AT_PROP_NEW_SKILL,
    AT_PROP_SKILL_CHANGE,
    AT_PROP_NEW_AGENT,
    AT_PROP_DEPENDENCY,
    AT_PROP_POLICY,
    AT_PROP_ORCHESTRATOR,
    AT_PROP_CONFIG,
    AT_PROP_TOOL_FIX,
    AT_PROP_NKINDS
};
/* The kind named s, or -1. */
int at_proposal_kind_parse(const char *s);
const char *at_proposal_kind_name(int kind);
/* 1 when an approved proposal of kind can be executed by Atlas (whatever
 * its payload). */
int at_proposal_kind_executable(int kind);
/* 1 when a config proposal may set key (docs/supervisor.md "Config proposals"). */
int at_proposal_config_key_ok(const char *key);
/* 1 when this approved proposal can be executed: as the kind's, and a
 * policy proposal when it names a policy Atlas applies (below). */
int at_proposal_executable(int kind, const json_t *payload);
/* The policy that sets the auto-approve rules (a policy proposal's name). */
#define AT_POLICY_AUTO_APPROVE "approvals.auto_approve"

/* Validate payload for kind (its typed shape, docs/supervisor.md
 * "Payloads"): 0, or AT_ESCHEMA / AT_EINVAL with d naming the member as a
 * JSON Pointer.  A parser of hostile input: tests/fuzz/fuzz_proposal.c. */
int at_proposal_validate(int kind, const json_t *payload, struct at_diag *d);
/* Validate a whole filing {kind, title, reason?, payload, evidence?}. */
int at_proposal_validate_filing(const json_t *filing, struct at_diag *d);
/* The content hash of (kind, payload) into out. */
int at_proposal_hash(const char *kind, const json_t *payload, char out[AT_AUDIT_DIGEST_MAX]);

/* Who acts. */
struct at_ap_actor {
    const char *name; /* "local", a token's name, "job:<id>" */
    const char *role; /* or NULL */
    const char *root; /* a job's tree root, or NULL */
};

/* The executor: apply an approved payload of kind; *result (owned by the
 * service) says what was done.  Runs on the deciding thread, without the
 * service's lock.  Returns 0 or an error with d. */
typedef int (*at_approvals_exec_fn)(void *arg, const char *kind, const json_t *payload,
                                    json_t **result, struct at_diag *d);
/* A change: event "proposal.filed" | "proposal.amended" | "proposal.decided"
 * | "proposal.executed" | "proposal.expired", doc the proposal (borrowed
 * for the call).  Called without the service's lock; must not block. */
typedef void (*at_approvals_listen_fn)(void *arg, const char *event, const json_t *doc);

struct at_approvals_cfg {
    const char *db;         /* the migrated store database */
    const json_t *config;   /* the "approvals" section, or NULL */
    struct at_audit *audit; /* borrowed, or NULL */
    const char *data_dir;   /* the signing key's; NULL: packages unsigned */
    at_approvals_exec_fn exec;
    void *exec_arg;
};

struct at_approvals;
int at_approvals_new(const struct at_approvals_cfg *cfg, struct at_approvals **out,
                     struct at_diag *d);
void at_approvals_free(struct at_approvals *a);
/* Set the executor (before serving). */
void at_approvals_set_exec(struct at_approvals *a, at_approvals_exec_fn fn, void *arg);

/* The actions config may put behind approvals (approvals.require). */
#define AT_APPROVAL_ACTIONS "register_untrusted, agent_register, skill_install"
/* 1 when action is listed in approvals.require. */
int at_approvals_required(const struct at_approvals *a, const char *action);
/* A reload: approvals.require and approvals.ttl_s of config (the
 * "approvals" section) from now on; AT_EUNSUPPORTED, nothing changed, when
 * require names an action that is not known.  Any thread. */
int at_approvals_set_config(struct at_approvals *a, const json_t *config, struct at_diag *d);

/* File filing ({kind, title, reason?, payload, evidence?}) as by.  *out:
 * the new proposal (caller frees). */
int at_approvals_propose(struct at_approvals *a, const json_t *filing, const struct at_ap_actor *by,
                         json_t **out, struct at_diag *d);
/* Replace a pending proposal's payload (its proposer only): a new hash,
 * so a decision made on the old content is refused. */
int at_approvals_amend(struct at_approvals *a, const char *id, const json_t *payload,
                       const struct at_ap_actor *by, json_t **out, struct at_diag *d);
/* One proposal (a copy, with "package_verified"), AT_ENOENT. */
int at_approvals_get(struct at_approvals *a, const char *id, json_t **out);
/* Proposals, newest first (without packages and history); state NULL:
 * any; proposer non-NULL: only those it filed. */
json_t *at_approvals_list(struct at_approvals *a, const char *state, const char *proposer);

struct at_decision {
    const char *id;
    const char *action;    /* "approve" | "reject" | "modify" */
    const char *hash;      /* the content hash the decider saw (required) */
    const char *why;       /* may be NULL */
    const json_t *payload; /* modify: the edited payload */
};
/* Decide.  *out: the proposal after the decision (and, for approve and
 * modify, after its execution: done or failed). */
int at_approvals_decide(struct at_approvals *a, const struct at_decision *dec,
                        const struct at_ap_actor *by, json_t **out, struct at_diag *d);

/* The auto-approve rules in force: [{kind, checks_pass?, auditor_score_min?,
 * proposal, approved_by, set_at}] (caller frees).  Set only by an approved
 * policy proposal named AT_POLICY_AUTO_APPROVE. */
json_t *at_approvals_rules(struct at_approvals *a);

/* Listeners; returns a handle > 0. */
int at_approvals_listen(struct at_approvals *a, at_approvals_listen_fn fn, void *arg);
void at_approvals_unlisten(struct at_approvals *a, int handle);

#endif
