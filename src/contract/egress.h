/*
 * contract/egress.h - the egress allowlist of a contract (requires.egress).
 *
 * An entry is "HOST:PORT": HOST a DNS name, "*.SUFFIX" (any name below
 * SUFFIX, not SUFFIX itself), an IPv4 address or "[IPv6]"; PORT a number
 * (1-65535) or "*".  Names compare without case and without a trailing dot.
 * Pure functions: no I/O, no allocation.
 */
#ifndef AT_CONTRACT_EGRESS_H
#define AT_CONTRACT_EGRESS_H

#include <jansson.h>
#include <stddef.h>

#define AT_EGRESS_HOST_MAX 254

/* Is rule a well-formed entry?  0, or -1 with why. */
int at_egress_rule_check(const char *rule, char *why, size_t n);

/* Split "HOST:PORT" (HOST may be "[v6]") of a request: 0 with host (no
 * brackets, lower case, no trailing dot) and port 1-65535, or -1. */
int at_egress_split(const char *hostport, char *host, size_t hlen, int *port);

/* Does the allowlist (an array of rules) let host:port through?  1 or 0. */
int at_egress_allowed(const json_t *rules, const char *host, int port);

#endif
