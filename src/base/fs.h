/*
 * fs.h - small filesystem helpers.  errno is converted to AT_E* at the call.
 */
#ifndef AT_BASE_FS_H
#define AT_BASE_FS_H

#include <stddef.h>

/* Read a whole file (at most max bytes, else AT_E2BIG) into a fresh
 * NUL-terminated buffer; caller frees *out. */
int at_fs_read_file(const char *path, size_t max, char **out, size_t *len);
/* Write data to path atomically (temp file, fsync, rename). */
int at_fs_write_atomic(const char *path, const void *data, size_t len, int mode);
/* mkdir -p with mode for created directories. */
int at_fs_mkdir_p(const char *path, int mode);
/* rm -rf; missing paths are not an error. Does not follow symlinks. */
int at_fs_remove_tree(const char *path);
/* The bytes (st_size) of the files under path, links not
 * followed; 0 when path does not exist.  Thread-safe. */
unsigned long long at_fs_tree_bytes(const char *path);
/* 1 if path is an existing directory / regular file. */
int at_fs_is_dir(const char *path);
int at_fs_is_file(const char *path);
/* Join a and b with one '/'; caller frees. */
char *at_fs_join(const char *a, const char *b);
/* $TMPDIR when set and not empty, else /tmp. */
const char *at_fs_tmpdir(void);
/* A new directory (mode 0700) named prefix and six random characters, as
 * mkdtemp(3) makes it: its path (caller frees), or NULL with errno set. */
char *at_fs_mkdtemp(const char *prefix);
/* A new file (mode 0600, O_CLOEXEC) named likewise, as mkostemp(3) makes
 * it: its descriptor with *path (caller frees), or -1 with errno set. */
int at_fs_mkstemp(const char *prefix, char **path);

#endif
