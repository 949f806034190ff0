/*
 * api.h - Atlas's HTTP surface: the components the route files serve
 * (struct at_http_api), the helpers they share, and one mount function
 * per resource (docs/api.md).
 *
 * The daemon (src/daemon/) fills a struct at_http_api as it builds the
 * components and calls at_http_set_ready once every one of them exists and
 * recovery is done.  Until then the server answers only AT_HTTP_PROBE
 * routes (health), which read nothing but the members marked "before
 * serving"; every other handler may rely on every member (llm excepted: it
 * is NULL when no model backend is configured).  After ready the struct is
 * immutable, so handlers read it without locks.
 */
#ifndef AT_HTTP_API_H
#define AT_HTTP_API_H

#include "base/diag.h"
#include "contract/config.h"
#include "exec/engine.h"
#include "http/server.h"
#include "registry/registry.h"
#include "security/access.h"
#include "store/store.h"
#include "store/writer.h"

#include <jansson.h>
#include <stdint.h>

struct at_monitor;
struct at_llm;
struct at_http_mcp;
struct at_trigger_svc;
struct at_http_security;
struct at_skills;
struct at_tlog;
struct at_approvals;
struct at_a2a_push;

struct at_http_api {
    /* before serving */
    /* the settings: a snapshot a reload swaps whole (daemon/service.c);
     * an atomic pointer, each snapshot kept until the daemon stops */
    _Atomic(const struct at_config *) config;
    const char *data_dir;
    int64_t started_ms;
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *registry;
    struct at_http_security *security; /* the authorize hook's (http/auth.h) */
    struct at_tlog *tlog;              /* the signed audit trail (tlog/tlog.h) */
    /* once ready */
    struct at_engine *engine;
    struct at_monitor *monitor;
    struct at_llm *llm; /* NULL: no model backend configured */
    struct at_http_mcp *mcp;
    struct at_trigger_svc *triggers;
    struct at_skills *skills;
    struct at_approvals *approvals; /* proposals and approvals (supervisor/approvals.h) */
    /* POST /api/v1/reload (`atlas reload`): read the settings again, as
     * SIGHUP does, and answer what was applied and what needs a restart;
     * GET: the last reload's answer.  NULL: not offered (a node agent). */
    json_t *(*reload)(void *arg);
    json_t *(*reload_status)(void *arg);
    void *reload_arg;
    struct at_a2a_push *a2a_push; /* A2A push notification configs (http/a2a_push.h) */
};

/* What a route needs to be allowed (the route's `needs`): the actions of
 * the security layer's one table (security/access.h), applied by the
 * authorize hook (http/auth.h).  0: public (health liveness only). */
enum {
    AT_HTTP_NEED_READ = AT_ACCESS_READ,         /* read agents, jobs, traces, costs */
    AT_HTTP_NEED_RUN = AT_ACCESS_RUN,           /* run agents and chains, cancel jobs */
    AT_HTTP_NEED_REGISTER = AT_ACCESS_REGISTER, /* register and remove agents, chains, evals */
    AT_HTTP_NEED_ADMIN = AT_ACCESS_ADMIN,       /* the orchestrator slot */
    AT_HTTP_NEED_MODEL = AT_ACCESS_MODEL,       /* the model gateway */
    AT_HTTP_NEED_MCP = AT_ACCESS_MCP,           /* the MCP endpoint (tools check their own) */
    AT_HTTP_NEED_TOKENS = AT_ACCESS_TOKENS,     /* manage tokens */
    AT_HTTP_NEED_SECRETS = AT_ACCESS_SECRETS,   /* manage secrets */
    AT_HTTP_NEED_AUDIT = AT_ACCESS_AUDIT,       /* read the audit */
    AT_HTTP_NEED_NODE = AT_ACCESS_NODE,         /* a node agent: join, heartbeat, report */
    AT_HTTP_NEED_REVIEW = AT_ACCESS_REVIEW,     /* record reviews of agent versions */
    /* with READ: a node token (role node) may too: GET /v2/ is how a node
     * fetches the agents it is asked to run (docs/scheduling.md) */
    AT_HTTP_OR_NODE = 1u << 30,
};

#define AT_HTTP_API "/api/v1"
#define AT_HTTP_NROUTES(t) (sizeof(t) / sizeof((t)[0]))

/* Register the agent directory path as POST /api/v1/agents does: the
 * artifact's trust checked (artifact: {"manifest", "signatures",
 * "source"} or NULL), registry.policy applied (AT_EPERM naming the rule),
 * then registered and its trust kept (agents_routes.c).  Blocks. */
int at_http_register_checked(const struct at_http_api *api, const char *path, const char *name,
                             int force, const json_t *artifact, struct at_reg_result *res,
                             struct at_diag *d);

/* Put agent (an orchestrator, "name[:version]") in the orchestrator slot,
 * for chain or (NULL) as the default, as PUT /api/v1/orchestrator does
 * (chains_routes.c): checked, persisted.  *out: the slot, or d (pointer
 * /agent or /chain). */
int at_http_orchestrator_set(const struct at_http_api *api, const char *agent, const char *chain,
                             json_t **out, struct at_diag *d);

/* Add to impact (a proposal's evidence.impact) what registering a version
 * of agent name may cost: "expected" ({runs, p50_ms, p95_ms, model_calls,
 * cost_usd_per_run} from its completed jobs of the last 30 days) and
 * "headroom" (this machine's health now, with its GPUs' VRAM). */
void at_http_impact_add(const struct at_http_api *api, const char *name, json_t *impact);

/* The executor of approved proposals (supervisor/approvals.h), arg the
 * api: new_agent registers (at_http_register_checked), new_skill and
 * skill_change install, orchestrator fills the orchestrator slot; a
 * payload naming a directory and its digest is refused when the directory
 * changed since. */
int at_http_approvals_exec(void *arg, const char *kind, const json_t *payload, json_t **result,
                           struct at_diag *d);
/* When approvals.require lists action, file a proposal of kind with
 * payload (taken) as r's caller and answer 202 with its id: returns 1 (r
 * answered).  Else 0 (payload freed) and the route goes on. */
int at_http_approvals_gate(struct at_http_req *r, const char *action, const char *kind,
                           const char *title, json_t *payload, const json_t *evidence);

/* The api a route was mounted with. */
static inline const struct at_http_api *at_http_api_of(struct at_http_req *r)
{
    return (const struct at_http_api *)at_http_arg(r);
}

/* Parse the body as JSON (empty is {} when allow_empty).  On failure the
 * request is answered (400) and non-zero returned. */
int at_http_body_json(struct at_http_req *r, int allow_empty, json_t **out);
/* Query parameter name as an integer in [min, max] (dflt when absent);
 * answers 400 and returns non-zero when it is not. */
int at_http_query_int(struct at_http_req *r, const char *name, long long min, long long max,
                      long long dflt, long long *out);
/* Query parameter name, or NULL when absent or empty. */
const char *at_http_query_str(struct at_http_req *r, const char *name);
/* Answer "no <what> \"<name>\"..." with code (AT_ENOENT, or the store's
 * error when it is another one, which is then named as such). */
void at_http_reply_missing(struct at_http_req *r, int code, const char *what, const char *name,
                           const char *pointer);

/* One mount function per resource: each adds its routes. */
int at_http_health_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_agents_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_runs_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_jobs_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_sched_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_nodes_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_chains_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_monitor_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_llm_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_mcp_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_queue_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_oci_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_trust_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_triggers_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_security_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_skills_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_tlog_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
/* The dashboard's files at /ui (ui_routes.c). */
int at_http_ui_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
int at_http_approvals_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
/* A2A: agent cards and the JSON-RPC binding (a2a_routes.c, docs/a2a.md). */
int at_http_a2a_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);
/* Every resource above. */
int at_http_api_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d);

#endif
