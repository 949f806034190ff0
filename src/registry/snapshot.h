/*
 * snapshot.h - content addressing of agent directories.
 *
 * An agent directory is hashed (SHA-256 over every entry's type, executable
 * bit, relative path and content, in sorted path order) and copied into the
 * data directory under its digest, so what runs is exactly what was
 * registered, whatever happens to the source directory afterwards.
 * Skipped: .git, __pycache__, *.pyc, .DS_Store, sockets, fifos, devices.
 * Symbolic links are kept when they stay inside the directory, read as
 * text and resolved as the kernel will (every link they pass through
 * followed, from inside the snapshot); refused when absolute, when either
 * way leads out, or when they loop (more than AT_SNAPSHOT_MAX_HOPS links).
 * A link that dangles inside is kept.  Bounded: AT_SNAPSHOT_MAX_FILES
 * files, AT_SNAPSHOT_MAX_BYTES bytes, AT_SNAPSHOT_MAX_DEPTH levels.
 */
#ifndef AT_REGISTRY_SNAPSHOT_H
#define AT_REGISTRY_SNAPSHOT_H

#include "base/diag.h"

#define AT_SNAPSHOT_MAX_FILES 200000
#define AT_SNAPSHOT_MAX_BYTES (2ull << 30)
#define AT_SNAPSHOT_MAX_DEPTH 64
#define AT_SNAPSHOT_MAX_HOPS 40 /* links followed resolving one (Linux: 40) */
#define AT_DIGEST_MAX 80        /* "sha256:" + 64 hex + NUL */

/* Compute the digest of dir into out ("sha256:<hex>").  d explains errors
 * (a file that cannot be read, an escaping symlink, a limit). */
int at_snapshot_digest(const char *dir, char out[AT_DIGEST_MAX], struct at_diag *d);

/* Copy dir into store_root/sha256-<hex> (through a temporary directory and a
 * rename, so a crash never leaves half a snapshot; the digest is computed on
 * the copy).  Returns the digest and the snapshot's path (caller frees).
 * When that digest is already stored, the existing snapshot is reused. */
int at_snapshot_store(const char *dir, const char *store_root, char digest[AT_DIGEST_MAX],
                      char **path, struct at_diag *d);

#endif
