/*
 * layer.h - the agent layer of an OCI artifact: a reproducible tar.gz of an
 * agent directory (docs/distribution.md "The layer").
 *
 * Writing: the entries of a snapshot directory (registry/snapshot.h: only
 * directories, regular files and symbolic links) in sorted path order (each
 * directory's names by byte value, a directory before what it holds), as
 * POSIX tar (libarchive, pax_restricted: plain ustar headers unless a name
 * needs more), every time zero, owner and group 0 with no names, mode 0755
 * for directories and executables, 0644 for other files, 0777 for links;
 * then gzip (zlib, level AT_LAYER_GZIP_LEVEL, no name, time 0, OS 3).  The same directory
 * always gives the same bytes, so the same digest: a re-push uploads
 * nothing new.
 *
 * Reading: hostile input.  Only gzip-compressed tar is accepted; only
 * directories, regular files and symbolic links; refused with a located
 * error ("layer entry #3 'a/../b': ..."): an absolute path, a ".." or empty
 * component, a path or name too long, a hard link, a device, fifo or socket,
 * a duplicate entry, a symbolic link whose text leads out of the directory,
 * an entry that would be written through a symbolic link, more than
 * limits->max_files entries, more than limits->max_bytes bytes in all or a
 * declared size above that, and an expansion above limits->max_ratio times
 * the compressed bytes read (a zip bomb).  Nothing is ever created outside
 * dest: each entry is created with *at() calls relative to dest's own
 * descriptor, walking real directories only (O_NOFOLLOW).  Where links lead
 * once resolved is checked again by at_snapshot_store when the extracted
 * directory is registered.  Thread-safe (no shared state).
 */
#ifndef AT_DIST_LAYER_H
#define AT_DIST_LAYER_H

#include "base/diag.h"
#include "registry/snapshot.h"

#include <stddef.h>
#include <stdint.h>

#define AT_LAYER_MEDIA_TYPE "application/vnd.atlas.agent.layer.v1.tar+gzip"
/* zlib level of the layer: speed first (a push compresses the whole agent) */
#define AT_LAYER_GZIP_LEVEL 1

struct at_layer_limits {
    uint64_t max_bytes; /* uncompressed bytes of all files together */
    unsigned long max_files;
    double max_ratio; /* uncompressed / compressed, checked past 1 MiB */
};

/* The snapshot's own bounds (AT_SNAPSHOT_MAX_*) and a ratio of 200. */
void at_layer_limits_default(struct at_layer_limits *l);

/* Write the layer of directory dir to the file out_path (created 0644,
 * replaced when present, through a temporary file and a rename).  digest
 * receives "sha256:<hex>" of the written bytes, *size their count.  Errors:
 * what cannot be read (located at the file), AT_EUNSUPPORTED for a special
 * file, AT_E2BIG past the snapshot bounds, AT_EIO when writing fails. */
int at_layer_write(const char *dir, const char *out_path, char digest[AT_DIGEST_MAX],
                   uint64_t *size, struct at_diag *d);

/* Extract the layer in file path (or in memory: data, len) into the
 * directory dest, which must exist and be empty.  On error dest may hold
 * part of the layer (the caller removes it); d says which entry and why. */
int at_layer_extract_file(const char *path, const char *dest, const struct at_layer_limits *lim,
                          struct at_diag *d);
int at_layer_extract_mem(const void *data, size_t len, const char *dest,
                         const struct at_layer_limits *lim, struct at_diag *d);

#endif
