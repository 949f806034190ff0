/*
 * tls.h - the TLS key pair of a daemon that listens beyond loopback: a
 * self-signed certificate made with GnuTLS when none is configured, and
 * the SHA-256 fingerprint clients pin (docs/security.md "TLS").
 */
#ifndef AT_SECURITY_TLS_H
#define AT_SECURITY_TLS_H

#include "base/diag.h"

#include <stddef.h>

/* Write a new ECDSA P-256 key (0600) and a self-signed certificate for
 * host (an IP address or a DNS name; localhost and 127.0.0.1 are added),
 * valid 825 days, as PEM files. */
int at_tls_self_signed(const char *host, const char *cert_path, const char *key_path,
                       struct at_diag *d);
/* "AB:CD:..." SHA-256 of the first certificate of pem. */
int at_tls_fingerprint(const char *pem, char *out, size_t n);

#endif
