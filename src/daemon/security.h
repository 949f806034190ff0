/*
 * security.h - atlasd's security layer brought up (docs/security.md): the
 * data directory's key, the token table, the secrets, the audit, the
 * first admin token (DATA/admin.token, 0600) and the TLS key pair.
 */
#ifndef AT_DAEMON_SECURITY_H
#define AT_DAEMON_SECURITY_H

#include "base/diag.h"
#include "contract/config.h"
#include "http/auth.h"

#define AT_ADMIN_TOKEN_FILE "admin.token"
#define AT_SOCKET_FILE "atlasd.sock"
/* the agent socket (tokens needed), bound into sandboxes */
#define AT_AGENT_SOCKET_FILE "agents.sock"
/* the egress proxy of agents with requires.egress (security/egress_proxy.h) */
#define AT_EGRESS_SOCKET_FILE "egress.sock"

struct at_daemon_security {
    struct at_http_security sec;
    char *cert_pem, *key_pem; /* TLS (NULL: plain HTTP) */
};

/* Open everything in data_dir (db: the store's file).  Logs where the
 * admin token is (never the token).  d explains failures. */
int at_daemon_security_start(struct at_daemon_security *s, const struct at_config *config,
                             const char *data_dir, const char *db, struct at_diag *d);
/* After bind: the names and port requests must use (Host, Origin). */
void at_daemon_security_bound(struct at_daemon_security *s, const struct at_config *config,
                              const char *base_url);
void at_daemon_security_stop(struct at_daemon_security *s);
/* 1 when listen names a loopback address. */
int at_daemon_listen_is_loopback(const char *listen);

#endif
