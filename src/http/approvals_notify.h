/*
 * approvals_notify.h - webhook notifications of proposals (docs/supervisor.md
 * "Webhook notifications"): approvals.notify.url gets a signed JSON POST
 * when a proposal is filed, amended, decided, executed or expired.
 *
 * The body is {"event", "proposal": {id, kind, state, hash, title,
 * proposer}, "at_ms", "url"?}; it is signed with the daemon's Ed25519 key
 * (the audit trail's: GET /api/v1/audit/log public_key), over
 * "<X-Atlas-Timestamp>.<body>", in X-Atlas-Signature: ed25519=<base64>.
 * Deliveries run on one thread of their own, in order, each tried up to
 * AT_AP_NOTIFY_ATTEMPTS times with a doubling backoff; at most
 * AT_AP_NOTIFY_QUEUE wait (more are dropped, with a warning); redirects are
 * not followed.  The URL's host must be listed in approvals.notify.allow_hosts
 * (default: 127.0.0.1, ::1, localhost), checked at start, and curl connects
 * only to it.  Thread-safe; the listener only copies and queues.
 */
#ifndef AT_HTTP_APPROVALS_NOTIFY_H
#define AT_HTTP_APPROVALS_NOTIFY_H

#include "base/diag.h"

#include <jansson.h>

#define AT_AP_NOTIFY_QUEUE 1024
#define AT_AP_NOTIFY_ATTEMPTS 4
#define AT_AP_NOTIFY_BACKOFF_MS 250
#define AT_AP_NOTIFY_TIMEOUT_MS 5000

struct at_ap_notify;

/* cfg: the approvals.notify section (NULL: *out NULL, 0).  data_dir: the
 * signing key's.  AT_EINVAL with d when the URL or its host is refused. */
int at_http_apnotify_new(const json_t *cfg, const char *data_dir, struct at_ap_notify **out,
                         struct at_diag *d);
/* Stop (the delivery in flight ends within its timeout; queued ones are
 * dropped, logged) and free.  NULL: a no-op. */
void at_http_apnotify_free(struct at_ap_notify *n);
/* The approvals listener (supervisor/approvals.h at_approvals_listen_fn). */
void at_http_apnotify_listener(void *arg, const char *event, const json_t *doc);
/* Deliveries made, failed (out of attempts) and dropped so far. */
void at_http_apnotify_counts(struct at_ap_notify *n, long long *sent, long long *failed,
                             long long *dropped);

#endif
