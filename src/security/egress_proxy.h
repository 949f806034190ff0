/*
 * security/egress_proxy.h - the egress proxy of sandboxed agents.
 *
 * An agent whose contract lists `requires.egress` runs with no host network:
 * its sandbox relays a loopback port to this proxy's Unix socket, and its
 * HTTP_PROXY / HTTPS_PROXY name that port with the job's token as the
 * password.  The proxy takes `CONNECT host:port` (any TCP, TLS included:
 * it never sees inside) and absolute-form plain HTTP requests
 * (`GET http://host:port/path`), asks the daemon whether the token's
 * contract lets host:port through, and only then connects (the name is
 * resolved here, by atlasd) and copies bytes both ways.
 *
 * Answers: 407 without a known token, 403 with the reason for a host:port
 * the allowlist does not name, 400 for what does not parse, 502 when the
 * connection fails.  Threads: one accepting, one per connection (at most
 * AT_EGRESS_MAX_CONNS at once; above that, 503).
 */
#ifndef AT_SECURITY_EGRESS_PROXY_H
#define AT_SECURITY_EGRESS_PROXY_H

#include "base/diag.h"
#include "contract/egress.h"

#include <stddef.h>

#define AT_EGRESS_MAX_CONNS 256
#define AT_EGRESS_HEAD_MAX 16384

/* May the holder of token reach host:port?  0 (who: the job, for the log),
 * AT_EAUTH (unknown token), or AT_EPERM with why.  Called on the
 * connection's thread. */
typedef int (*at_egress_authorize_fn)(void *arg, const char *token, const char *host, int port,
                                      char *who, size_t wlen, char *why, size_t n);

struct at_egress_proxy;

/* Listen on the Unix socket path (mode 0600, replacing a stale one).
 * Requests for 127.0.0.1:platform_port (the sandbox's own relay of atlasd,
 * from a client that ignores NO_PROXY) go to platform_socket instead, with
 * no allowlist: atlasd judges their token itself.  platform_socket may be
 * NULL. */
int at_egress_proxy_start(const char *path, const char *platform_socket, int platform_port,
                          at_egress_authorize_fn fn, void *arg, struct at_egress_proxy **out,
                          struct at_diag *d);
/* Stop accepting, end every connection, wait for their threads. */
void at_egress_proxy_stop(struct at_egress_proxy *p);

/* ---- the request head (exposed for tests and the fuzzer) ---- */
struct at_proxy_req {
    int connect;                   /* CONNECT (else absolute-form HTTP) */
    char host[AT_EGRESS_HOST_MAX]; /* lower case */
    int port;
    char token[256]; /* from Proxy-Authorization, or "" */
    char *head;      /* absolute-form: the head to send upstream (origin-form,
                        no Proxy-* headers), caller frees; NULL for CONNECT */
    size_t head_len;
};

/* Parse a complete request head buf[0..len) (through its blank line).
 * 0, or AT_EINVAL / AT_EUNSUPPORTED with why. */
int at_proxy_parse_head(const char *buf, size_t len, struct at_proxy_req *r, char *why, size_t n);
void at_proxy_req_release(struct at_proxy_req *r);

#endif
