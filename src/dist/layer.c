#include "dist/layer.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

void at_layer_limits_default(struct at_layer_limits *l)
{
    l->max_bytes = AT_SNAPSHOT_MAX_BYTES;
    l->max_files = AT_SNAPSHOT_MAX_FILES;
    l->max_ratio = 200.0;
}

/* ---- writing ---- */

struct gz_sink {
    int fd;
    z_stream z;
    crypto_hash_sha256_state h;
    uint64_t size;
    int failed; /* errno of the first failed write, or -1 for zlib */
    unsigned char out[65536];
};

static int sink_flush(struct gz_sink *s, size_t n)
{
    crypto_hash_sha256_update(&s->h, s->out, n);
    s->size += n;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(s->fd, s->out + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            s->failed = errno;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

static int sink_deflate(struct gz_sink *s, const void *buf, size_t len, int flush)
{
    s->z.next_in = (Bytef *)(uintptr_t)buf;
    s->z.avail_in = (uInt)len;
    do {
        s->z.next_out = s->out;
        s->z.avail_out = sizeof(s->out);
        int zr = deflate(&s->z, flush);
        if (zr == Z_STREAM_ERROR) {
            s->failed = -1;
            return -1;
        }
        size_t have = sizeof(s->out) - s->z.avail_out;
        if (have && sink_flush(s, have) < 0)
            return -1;
        if (flush == Z_FINISH && zr == Z_STREAM_END)
            break;
    } while (s->z.avail_out == 0 || (flush == Z_FINISH));
    return 0;
}

static la_ssize_t sink_write(struct archive *a, void *arg, const void *buf, size_t len)
{
    (void)a;
    struct gz_sink *s = arg;
    /* libarchive hands blocks of at most bytes_per_block: fits uInt */
    if (sink_deflate(s, buf, len, Z_NO_FLUSH) < 0)
        return -1;
    return (la_ssize_t)len;
}

struct wwalk {
    const char *root;
    struct archive *a;
    struct archive_entry *e;
    struct at_diag *d;
    unsigned long files;
    uint64_t bytes;
};

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int put_file_data(struct wwalk *w, const char *abs)
{
    int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return at_diag_set(w->d, at_err_from_errno(errno), abs, 0, 0, "cannot read: %s",
                           strerror(errno));
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = at_diag_set(w->d, AT_EIO, abs, 0, 0, "read failed: %s", strerror(errno));
            break;
        }
        if (r == 0)
            break;
        if (archive_write_data(w->a, buf, (size_t)r) != r) {
            rc = at_diag_set(w->d, AT_EIO, abs, 0, 0, "cannot write the layer: %s",
                             archive_error_string(w->a) ? archive_error_string(w->a) : "?");
            break;
        }
    }
    close(fd);
    return rc;
}

static int put_header(struct wwalk *w, const char *crel, const char *cabs)
{
    if (archive_write_header(w->a, w->e) != ARCHIVE_OK)
        return at_diag_set(w->d, AT_EIO, cabs, 0, 0, "cannot write the layer entry %s: %s", crel,
                           archive_error_string(w->a) ? archive_error_string(w->a) : "?");
    return 0;
}

static int wwalk_dir(struct wwalk *w, const char *rel, int depth)
{
    if (depth > AT_SNAPSHOT_MAX_DEPTH)
        return at_diag_set(w->d, AT_E2BIG, w->root, 0, 0,
                           "directory nesting deeper than %d levels at %s", AT_SNAPSHOT_MAX_DEPTH,
                           rel);
    char *abs = rel[0] ? at_fs_join(w->root, rel) : at_strdup(w->root);
    DIR *dir = opendir(abs);
    if (!dir) {
        int e = errno;
        int rc = at_diag_set(w->d, at_err_from_errno(e), abs, 0, 0, "cannot open directory: %s",
                             strerror(e));
        free(abs);
        return rc;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(dir))) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = at_realloc(names, cap * sizeof(*names));
        }
        names[n++] = at_strdup(ent->d_name);
    }
    closedir(dir);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char *crel = rel[0] ? at_asprintf("%s/%s", rel, names[i]) : at_strdup(names[i]);
        char *cabs = at_fs_join(w->root, crel);
        struct stat st;
        archive_entry_clear(w->e);
        archive_entry_set_pathname(w->e, crel);
        archive_entry_set_mtime(w->e, 0, 0);
        archive_entry_set_uid(w->e, 0);
        archive_entry_set_gid(w->e, 0);
        if (lstat(cabs, &st) < 0) {
            rc = at_diag_set(w->d, at_err_from_errno(errno), cabs, 0, 0, "cannot stat: %s",
                             strerror(errno));
        } else if (++w->files > AT_SNAPSHOT_MAX_FILES) {
            rc = at_diag_set(w->d, AT_E2BIG, w->root, 0, 0, "more than %d files",
                             AT_SNAPSHOT_MAX_FILES);
        } else if (S_ISDIR(st.st_mode)) {
            archive_entry_set_filetype(w->e, AE_IFDIR);
            archive_entry_set_perm(w->e, 0755);
            rc = put_header(w, crel, cabs);
            if (!rc)
                rc = wwalk_dir(w, crel, depth + 1);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlink(cabs, target, sizeof(target) - 1);
            if (tl < 0) {
                rc = at_diag_set(w->d, AT_EIO, cabs, 0, 0, "cannot read link: %s", strerror(errno));
            } else {
                target[tl] = '\0';
                archive_entry_set_filetype(w->e, AE_IFLNK);
                archive_entry_set_perm(w->e, 0777);
                archive_entry_set_symlink(w->e, target);
                rc = put_header(w, crel, cabs);
            }
        } else if (S_ISREG(st.st_mode)) {
            w->bytes += (uint64_t)st.st_size;
            if (w->bytes > AT_SNAPSHOT_MAX_BYTES) {
                rc = at_diag_set(w->d, AT_E2BIG, w->root, 0, 0, "more than %llu bytes",
                                 (unsigned long long)AT_SNAPSHOT_MAX_BYTES);
            } else {
                archive_entry_set_filetype(w->e, AE_IFREG);
                archive_entry_set_perm(w->e, (st.st_mode & 0111) ? 0755 : 0644);
                archive_entry_set_size(w->e, st.st_size);
                rc = put_header(w, crel, cabs);
                if (!rc)
                    rc = put_file_data(w, cabs);
            }
        } else {
            rc = at_diag_set(w->d, AT_EUNSUPPORTED, cabs, 0, 0,
                             "a special file (socket, fifo or device) cannot be part of a layer");
        }
        free(cabs);
        free(crel);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(abs);
    return rc;
}

int at_layer_write(const char *dir, const char *out_path, char digest[AT_DIGEST_MAX],
                   uint64_t *size, struct at_diag *d)
{
    if (sodium_init() < 0)
        return AT_EINTERNAL;
    char *tmp_prefix = at_asprintf("%s.tmp-", out_path);
    char *tmp = NULL;
    int fd = at_fs_mkstemp(tmp_prefix, &tmp);
    free(tmp_prefix);
    if (fd < 0)
        return at_diag_set(d, at_err_from_errno(errno), out_path, 0, 0, "cannot create: %s",
                           strerror(errno));
    fchmod(fd, 0644);
    struct gz_sink *s = at_calloc(1, sizeof(*s));
    s->fd = fd;
    crypto_hash_sha256_init(&s->h);
    int rc = 0;
    /* windowBits 15 + 16: a gzip wrapper, zlib's default header (no name,
     * no time, OS 3) so the bytes depend on the content only */
    if (deflateInit2(&s->z, AT_LAYER_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        close(fd);
        unlink(tmp);
        free(tmp);
        free(s);
        return at_diag_set(d, AT_EINTERNAL, out_path, 0, 0, "zlib initialisation failed");
    }
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    if (!a || !e)
        at_malloc((size_t)-1); /* aborts through the OOM handler */
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_per_block(a, 10240);
    if (archive_write_open2(a, s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
        rc = at_diag_set(d, AT_EIO, out_path, 0, 0, "cannot start the layer: %s",
                         archive_error_string(a) ? archive_error_string(a) : "?");
    } else {
        struct wwalk w = {.root = dir, .a = a, .e = e, .d = d};
        rc = wwalk_dir(&w, "", 0);
        if (archive_write_close(a) != ARCHIVE_OK && !rc)
            rc = at_diag_set(d, AT_EIO, out_path, 0, 0, "cannot finish the layer: %s",
                             archive_error_string(a) ? archive_error_string(a) : "?");
    }
    archive_entry_free(e);
    archive_write_free(a);
    if (!rc && sink_deflate(s, NULL, 0, Z_FINISH) < 0)
        rc = AT_EIO;
    if (!rc && s->failed)
        rc = AT_EIO;
    if (rc == AT_EIO && d && !d->msg[0])
        at_diag_set(d, AT_EIO, out_path, 0, 0, "cannot write: %s",
                    s->failed > 0 ? strerror(s->failed) : "compression failed");
    deflateEnd(&s->z);
    if (close(fd) < 0 && !rc)
        rc = at_diag_set(d, AT_EIO, out_path, 0, 0, "cannot write: %s", strerror(errno));
    if (!rc && rename(tmp, out_path) < 0)
        rc = at_diag_set(d, at_err_from_errno(errno), out_path, 0, 0, "cannot store: %s",
                         strerror(errno));
    if (rc) {
        unlink(tmp);
    } else {
        unsigned char sum[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&s->h, sum);
        memcpy(digest, "sha256:", 8);
        sodium_bin2hex(digest + 7, AT_DIGEST_MAX - 7, sum, sizeof(sum));
        *size = s->size;
    }
    free(tmp);
    free(s);
    return rc;
}

/* ---- reading ---- */

struct rd {
    struct archive *a;
    const struct at_layer_limits *lim;
    struct at_diag *d;
    const char *src; /* for messages: the file, or "layer" */
    int rootfd;
    unsigned long nentry;
    uint64_t bytes;
};

static int refuse(struct rd *r, int code, const char *path, const char *fmt, const char *arg)
{
    char why[512];
    snprintf(why, sizeof(why), fmt, arg ? arg : "");
    if (!code)
        code = AT_EIO; /* at_err_from_errno(0): a refusal is never success */
    at_diag_set(r->d, code, r->src, 0, 0, "layer entry #%lu '%.300s': %s", r->nentry,
                path ? path : "?", why);
    return code;
}

/* "." and ".." components, empty ones (but a trailing "/"), absolute paths
 * and overlong names are refused.  Writes the path without "./" prefixes
 * and the trailing slash into out. */
static int clean_path(struct rd *r, const char *p, char *out, size_t outlen)
{
    if (!p || !*p)
        return refuse(r, AT_EINVAL, p, "an empty path", NULL);
    if (p[0] == '/')
        return refuse(r, AT_EPERM, p, "an absolute path", NULL);
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    size_t len = strlen(p);
    if (len >= outlen || len >= PATH_MAX)
        return refuse(r, AT_E2BIG, p, "a path longer than %s bytes", "4095");
    memcpy(out, p, len + 1);
    if (len && out[len - 1] == '/')
        out[--len] = '\0';
    if (!len)
        return refuse(r, AT_EINVAL, p, "names the layer's root", NULL);
    for (const char *c = out; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 0)
            return refuse(r, AT_EINVAL, p, "an empty path component", NULL);
        if (n > NAME_MAX)
            return refuse(r, AT_E2BIG, p, "a name longer than %s bytes", "255");
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return refuse(r, AT_EPERM, p, "a '.' or '..' component (path traversal)", NULL);
        c += n;
        if (*c == '/')
            c++;
    }
    return 0;
}

/* Open the directory that holds path's last component, creating missing
 * directories, never following a link: *leaf points into path. */
static int open_parent(struct rd *r, char *path, const char **leaf, int *out)
{
    int cur = dup(r->rootfd);
    if (cur < 0)
        return refuse(r, AT_EIO, path, "cannot open the destination: %s", strerror(errno));
    char *c = path;
    for (;;) {
        char *slash = strchr(c, '/');
        if (!slash)
            break;
        *slash = '\0';
        int next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT) {
            if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                *slash = '/';
                close(cur);
                return refuse(r, at_err_from_errno(e), path, "cannot create a directory: %s",
                              strerror(e));
            }
            next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        *slash = '/';
        close(cur);
        if (next < 0)
            return refuse(r, AT_EPERM, path,
                          (e == ELOOP || e == ENOTDIR)
                              ? "would be written through a symbolic link or a file%s"
                              : "cannot open its directory%s",
                          "");
        cur = next;
        c = slash + 1;
    }
    *leaf = c;
    *out = cur;
    return 0;
}

/* Does the link text, from the link at rel, stay inside (as text)? */
static int link_text_inside(const char *rel, const char *target)
{
    if (!target[0] || target[0] == '/')
        return 0;
    int depth = 0;
    for (const char *p = rel; *p; p++)
        if (*p == '/')
            depth++;
    for (const char *t = target; *t;) {
        size_t n = strcspn(t, "/");
        if (n == 2 && t[0] == '.' && t[1] == '.') {
            if (--depth < 0)
                return 0;
        } else if (n > 0 && !(n == 1 && t[0] == '.')) {
            depth++;
        }
        t += n;
        if (*t == '/')
            t++;
    }
    return 1;
}

static int check_ratio(struct rd *r, const char *path)
{
    la_int64_t in = archive_filter_bytes(r->a, -1);
    if (in < 1)
        in = 1;
    if (r->bytes > (1u << 20) && (double)r->bytes > r->lim->max_ratio * (double)in)
        return refuse(r, AT_E2BIG, path,
                      "expands more than %s times its compressed size (a compression bomb)",
                      r->lim->max_ratio >= 1e6 ? "a million" : "the allowed");
    return 0;
}

static int extract_file(struct rd *r, int dirfd, const char *leaf, const char *path, int mode)
{
    int fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        return refuse(r, e == EEXIST ? AT_EINVAL : at_err_from_errno(e), path,
                      e == EEXIST ? "a duplicate entry%s" : "cannot create: %s",
                      e == EEXIST ? "" : strerror(e));
    }
    fchmod(fd, (mode_t)mode);
    char buf[65536];
    int rc = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(r->a, buf, sizeof(buf));
        if (n < 0) {
            rc = refuse(r, AT_EPARSE, path, "corrupt data: %s",
                        archive_error_string(r->a) ? archive_error_string(r->a) : "?");
            break;
        }
        if (n == 0)
            break;
        r->bytes += (uint64_t)n;
        if (r->bytes > r->lim->max_bytes) {
            rc = refuse(r, AT_E2BIG, path, "the layer holds more than the allowed bytes%s", "");
            break;
        }
        if ((rc = check_ratio(r, path)))
            break;
        for (la_ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = refuse(r, AT_EIO, path, "cannot write: %s", strerror(errno));
                goto done;
            }
            off += w;
        }
    }
done:
    if (close(fd) < 0 && !rc)
        rc = refuse(r, AT_EIO, path, "cannot write: %s", strerror(errno));
    return rc;
}

static int extract_entry(struct rd *r, struct archive_entry *e)
{
    const char *raw = archive_entry_pathname(e);
    char path[PATH_MAX];
    int rc = clean_path(r, raw, path, sizeof(path));
    if (rc)
        return rc;
    if (archive_entry_hardlink(e))
        return refuse(r, AT_EPERM, path, "a hard link (-> %s) is not allowed",
                      archive_entry_hardlink(e));
    mode_t type = archive_entry_filetype(e);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return refuse(r, AT_EPERM, path, "%s is not allowed",
                      type == AE_IFCHR || type == AE_IFBLK ? "a device file"
                      : type == AE_IFIFO                   ? "a fifo"
                      : type == AE_IFSOCK                  ? "a socket"
                                                           : "an unknown file type");
    if (type == AE_IFREG) {
        la_int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
        if (sz < 0 || (uint64_t)sz > r->lim->max_bytes - r->bytes)
            return refuse(r, AT_E2BIG, path, "declares a size beyond the allowed bytes%s", "");
    }
    const char *target = NULL;
    if (type == AE_IFLNK) {
        target = archive_entry_symlink(e);
        if (!target || !link_text_inside(path, target))
            return refuse(r, AT_EPERM, path,
                          "a symbolic link pointing outside the agent directory (-> %s)", target);
        if (strlen(target) >= PATH_MAX)
            return refuse(r, AT_E2BIG, path, "a link target longer than %s bytes", "4095");
    }
    const char *leaf = NULL;
    int pfd = -1;
    if ((rc = open_parent(r, path, &leaf, &pfd)))
        return rc;
    if (type == AE_IFDIR) {
        if (mkdirat(pfd, leaf, 0755) < 0) {
            struct stat st;
            if (errno != EEXIST || fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                !S_ISDIR(st.st_mode))
                rc = refuse(r, AT_EINVAL, path, "a duplicate entry (not a directory before)%s", "");
        }
    } else if (type == AE_IFLNK) {
        if (symlinkat(target, pfd, leaf) < 0)
            rc = refuse(r, errno == EEXIST ? AT_EINVAL : at_err_from_errno(errno), path,
                        errno == EEXIST ? "a duplicate entry%s" : "cannot create the link: %s",
                        errno == EEXIST ? "" : strerror(errno));
    } else {
        int mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
        rc = extract_file(r, pfd, leaf, path, mode);
    }
    close(pfd);
    return rc;
}

static int extract(struct archive *a, const char *src, const char *dest,
                   const struct at_layer_limits *lim, struct at_diag *d)
{
    struct rd r = {.a = a, .lim = lim, .d = d, .src = src};
    r.rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (r.rootfd < 0)
        return at_diag_set(d, at_err_from_errno(errno), dest, 0, 0, "cannot open: %s",
                           strerror(errno));
    int rc = 0;
    for (;;) {
        struct archive_entry *e;
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        r.nentry++;
        if (archive_filter_code(a, 0) != ARCHIVE_FILTER_GZIP) {
            rc = at_diag_set(d, AT_EUNSUPPORTED, src, 0, 0,
                             "the layer is not gzip-compressed (media type %s)",
                             AT_LAYER_MEDIA_TYPE);
            break;
        }
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
            rc = at_diag_set(d, AT_EPARSE, src, 0, 0, "layer entry #%lu: not a valid tar: %s",
                             r.nentry, archive_error_string(a) ? archive_error_string(a) : "?");
            break;
        }
        if (r.nentry > lim->max_files) {
            rc = at_diag_set(d, AT_E2BIG, src, 0, 0, "the layer holds more than %lu entries",
                             lim->max_files);
            break;
        }
        if ((rc = extract_entry(&r, e)))
            break;
    }
    close(r.rootfd);
    return rc;
}

static struct archive *reader(void)
{
    struct archive *a = archive_read_new();
    if (!a)
        at_malloc((size_t)-1);
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    return a;
}

int at_layer_extract_file(const char *path, const char *dest, const struct at_layer_limits *lim,
                          struct at_diag *d)
{
    struct archive *a = reader();
    int rc;
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
        rc = at_diag_set(d, AT_EPARSE, path, 0, 0, "not a gzip-compressed tar: %s",
                         archive_error_string(a) ? archive_error_string(a) : "?");
    else
        rc = extract(a, path, dest, lim, d);
    archive_read_free(a);
    return rc;
}

int at_layer_extract_mem(const void *data, size_t len, const char *dest,
                         const struct at_layer_limits *lim, struct at_diag *d)
{
    struct archive *a = reader();
    int rc;
    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK)
        rc = at_diag_set(d, AT_EPARSE, "layer", 0, 0, "not a gzip-compressed tar: %s",
                         archive_error_string(a) ? archive_error_string(a) : "?");
    else
        rc = extract(a, "layer", dest, lim, d);
    archive_read_free(a);
    return rc;
}
