/*
 * service.h - what atlasd does for a service manager beyond readiness
 * (notify.h): the watchdog's health check and the reload of the settings.
 *
 * Both run on the main thread (the one that waits for signals).
 */
#ifndef AT_DAEMON_SERVICE_H
#define AT_DAEMON_SERVICE_H

#include "base/diag.h"
#include "contract/config.h"
#include "daemon/daemon.h"

/* The watchdog's check: the engine's loop answers a request, and the HTTP
 * server answers GET /api/v1/health/live on its own address within
 * timeout_ms (a hung loop hangs this call, which is what the watchdog must
 * see: no WATCHDOG=1, and the manager restarts the daemon).  Returns 0, or
 * AT_ECONN / AT_ETIMEDOUT / AT_EIO with d saying what did not answer. */
int at_daemon_alive(struct at_daemon *dmn, int timeout_ms, struct at_diag *d);

/* Reload (SIGHUP, `systemctl reload`, POST /api/v1/reload): next is the
 * settings read again the same way as at start (file, environment,
 * flags).  The keys that are safe to change in a running daemon (the table
 * in service.c, docs/install.md "Reload") are taken from next into a new
 * settings snapshot, published whole to the engine and the routes (readers
 * load an atomic pointer; every snapshot is kept until the daemon stops)
 * and to the components that keep their own copy (approvals, the monitor's
 * retention); every other key that differs keeps its running value until
 * a restart.  *result: {"ok": true, "at", "source", "applied": [keys],
 * "restart": [keys], "overridden": [keys a flag overrides]}; the dotted
 * keys are those that differ between the running settings and the file,
 * so a key waiting for a restart is named at every reload until then.
 * keep_log_level: --log-level was given (the flag wins over the file, as
 * at start).  Returns 0, or an error with d located (approvals.require
 * naming an unknown action): nothing is applied then.  Callers serialize. */
int at_daemon_reload(struct at_daemon *dmn, const struct at_config *next, int keep_log_level,
                     json_t **result, struct at_diag *d);
/* The running settings snapshot (the start's until a reload). */
const struct at_config *at_daemon_settings(struct at_daemon *dmn);
/* Frees the reloads' snapshots (at_daemon_stop, after every reader). */
void at_daemon_release_snapshots(struct at_daemon *dmn);

/* The dotted keys ("http.max_connections", "models.backends.local") whose
 * values differ between two settings trees, appended to b comma-separated.
 * Exposed for tests. */
struct at_buf;
void at_daemon_config_diff(const json_t *a, const json_t *b, const char *prefix,
                           struct at_buf *out);

#endif
