/*
 * scan.h - the built-in scan of an agent version at register and pull
 * time (docs/distribution.md "The scan"): what the contract asks of the
 * sandbox, an entrypoint outside the snapshot, executables built for
 * another architecture than this machine's.  A report, not a gate: the
 * result is the trust block's scan_status and findings.  Thread-safe.
 */
#ifndef AT_DIST_SCAN_H
#define AT_DIST_SCAN_H

#include <jansson.h>

/* Scan the agent directory dir (NULL for a remote agent) against its
 * contract (the normalised agent block as JSON).  A new object
 * {"scan_status": "passed"|"warnings"|"failed", "findings": [{"severity":
 * "info"|"warning"|"error", "rule", "detail"}, ...]}: failed when a finding
 * is an error, warnings when one is a warning, else passed. */
json_t *at_dist_scan(const char *dir, const json_t *contract);

/* The ELF machine (e_machine) of the executable header in buf (len bytes),
 * or -1 when buf is not an ELF header.  This machine's: at_dist_elf_host. */
int at_dist_elf_machine(const unsigned char *buf, size_t len);
int at_dist_elf_host(void);

#endif
