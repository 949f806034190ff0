/*
 * daemon.h - atlasd assembled: the one place that builds the components
 * in order, recovers, then serves, and stops them in reverse.
 *
 *   data directory (and its lock) -> store -> writer -> registry
 *   -> HTTP server bound and serving probes only (its address is the
 *      agents' ATLAS_MCP_URL)
 *   -> engine (recovery) -> monitor -> model gateway -> MCP surface
 *   -> engine started -> ready: every route is served
 *
 * No request other than a health probe is answered before every component
 * exists and recovery is done (the server's readiness gate), so handlers
 * never see a component that is not there.
 */
#ifndef AT_DAEMON_DAEMON_H
#define AT_DAEMON_DAEMON_H

#include "base/diag.h"
#include "contract/config.h"
#include "daemon/audit.h"
#include "daemon/security.h"
#include "http/api.h"
#include "supervisor/approvals.h"

#include <stdint.h>

struct at_egress_proxy;

struct at_a2a_push;
struct at_ap_notify;

struct at_daemon {
    struct at_config *config; /* borrowed */
    char *data_dir;
    int lock_fd; /* flock on DATA/atlasd.lock: one daemon per data dir */
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *registry;
    struct at_engine *engine;
    struct at_sched *sched; /* the cluster placement sees (sched/sched.h) */
    struct at_hub *hub;     /* remote nodes (sched/hub.h); NULL on a node agent */
    struct at_monitor *monitor;
    struct at_llm *llm; /* NULL: no model backend configured */
    struct at_http_mcp *mcp;
    struct at_trigger_svc *triggers;
    struct at_skills *skills;
    /* what the engine's observer hands finished trees to: the skills while
     * they exist, NULL from their stop on (under skills_obs_mu, daemon.c) */
    struct at_skills *skills_obs;
    struct at_approvals *approvals; /* proposals and approvals (supervisor/approvals.h) */
    struct at_a2a_push *a2a_push;   /* A2A push notification configs (http/a2a_push.h) */
    struct at_ap_notify
        *ap_notify; /* webhook notifications of proposals (http/approvals_notify.h) */
    struct at_http_server *http;
    struct at_egress_proxy *egress; /* the agents' egress proxy (requires.egress) */
    struct at_http_api api;         /* what the routes read */
    struct at_daemon_security security;
    struct at_daemon_audit audit; /* the signed audit trail (docs/audit.md) */
    char base_url[160];
    /* the settings snapshots reloads published (daemon/service.c), kept
     * until the daemon stops: a reader may hold any of them */
    struct at_config **snapshots;
    size_t nsnapshots;
};

/* Before at_daemon_start: this daemon is a node agent (`atlasd node`):
 * its cluster is itself alone and it accepts no nodes. */
void at_daemon_set_node_mode(int on);

/* Before at_daemon_start: what POST and GET /api/v1/reload call (the
 * reload needs what the command line asked for: daemon/main.c). */
void at_daemon_set_reload(json_t *(*reload)(void *arg), json_t *(*status)(void *arg), void *arg);

/* registry.policy of config against the last one recorded (DATA/policy.json):
 * a change is an audited event, its action "start" or "reload". */
void at_daemon_record_policy(struct at_daemon *dmn, const struct at_config *config,
                             const char *action);

/* Build everything and serve.  Returns once the daemon is ready, or an
 * error with d saying what and where (everything built is stopped). */
int at_daemon_start(struct at_daemon *dmn, struct at_config *config, struct at_diag *d);
/* Stop in reverse order; every accepted job is in the store. */
void at_daemon_stop(struct at_daemon *dmn);

/* Where the Python SDK is: $ATLAS_PYTHON_SDK, else next to the binary
 * (../sdk/python), else the source tree.  Caller frees. */
char *at_daemon_python_sdk_dir(void);

#endif
