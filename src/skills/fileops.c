/*
 * fileops.c - the built-in skill file-ops: read, write, list, stat, move,
 * delete, mkdir inside the job's workspace (DATA/skills/work/ROOT/JOB) and the
 * contract's requires.scope.paths (read or write), docs/skills.md.
 *
 * The scope is enforced by the kernel, not by string checks: every path is
 * resolved with openat2(2) relative to a descriptor of its root with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV, and every operation after that works on the descriptors
 * it returned (openat, fstat, mkdirat, renameat2, unlinkat on the parent's
 * descriptor with a plain last component).  So `..` out of the root, an
 * absolute path outside the scope, a symbolic link anywhere in the path
 * and a directory swapped for a link between a check and a use are all
 * refused: there is no separate check.  A regular file with more than one
 * hard link is refused too (its other name may be outside the scope), and
 * it is checked before anything is truncated.
 */
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/utf8.h"
#include "json/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FO_MAX_READ (16u << 20)
#define FO_DEFAULT_READ (1u << 20)
#define FO_MAX_LIST 10000
#define FO_MAX_ROOTS 32

struct root {
    const char *path;
    int write;
};

struct target {
    int rootfd;
    int write;
    char rel[4096]; /* relative to the root, "." for the root itself */
    const char *shown;
};

static int fo_openat2(int dirfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC),
                           .mode = (flags & O_CREAT) ? mode : 0,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    return fd < 0 ? -1 : (int)fd;
}

/* errno of a failed resolution as an answer */
static int fo_errno(struct at_diag *d, const char *path, int e)
{
    switch (e) {
    case ELOOP:
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "file-ops: %s: a symbolic link in the path is refused", path);
    case EXDEV:
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "file-ops: %s: the path leaves the scope (refused)", path);
    case ENOENT:
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "file-ops: %s: no such file or directory",
                           path);
    case ENOTDIR:
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: %s: not a directory", path);
    case EISDIR:
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: %s: is a directory", path);
    case EEXIST:
        return at_diag_set(d, AT_EEXIST, NULL, 0, 0, "file-ops: %s: already exists", path);
    case ENOTEMPTY:
        return at_diag_set(d, AT_ESTATE, NULL, 0, 0, "file-ops: %s: the directory is not empty",
                           path);
    case ENOSYS:
        return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0,
                           "file-ops needs openat2(2) (Linux 5.6 or later): refused");
    case EACCES:
    case EPERM:
        return at_diag_set(d, AT_EPERM, NULL, 0, 0, "file-ops: %s: permission denied", path);
    default:
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "file-ops: %s: %s", path, strerror(e));
    }
}

static size_t roots_of(const struct at__call *c, struct root *r)
{
    size_t n = 0;
    r[n++] = (struct root){c->workspace, 1};
    size_t i;
    json_t *v;
    const json_t *scope = json_object_get(c->caller->requires, "scope");
    json_array_foreach(json_object_get(scope, "paths"), i, v)
    {
        const char *p = json_string_value(json_object_get(v, "path"));
        const char *mode = json_string_value(json_object_get(v, "mode"));
        if (p && p[0] == '/' && n < FO_MAX_ROOTS && c->caller->agent)
            r[n++] = (struct root){p, mode && !strcmp(mode, "write")};
    }
    return n;
}

/* path within a root: 1 and the rest, or 0 (compared by components) */
static int under(const char *root, const char *path, const char **rest)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (strncmp(root, path, n) != 0 || (path[n] != '/' && path[n] != '\0'))
        return 0;
    *rest = path + n;
    while (**rest == '/')
        (*rest)++;
    return 1;
}

/* Map the agent's path onto a root and open that root. */
static int target_of(const struct at__call *c, const json_t *jpath, int want_write,
                     struct target *t, struct at_diag *d)
{
    const char *path = json_string_value(jpath);
    t->rootfd = -1;
    t->shown = path ? path : "";
    if (!path || json_string_length(jpath) != strlen(path) || strlen(path) >= sizeof(t->rel))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: the path is not a valid string");
    struct root roots[FO_MAX_ROOTS];
    size_t n = roots_of(c, roots);
    const struct root *r = NULL;
    const char *rest = NULL;
    if (path[0] != '/') {
        r = &roots[0];
        rest = path;
    } else {
        size_t best = 0;
        for (size_t i = 1; i < n; i++) {
            const char *x;
            if (under(roots[i].path, path, &x) && strlen(roots[i].path) >= best) {
                best = strlen(roots[i].path);
                r = &roots[i];
                rest = x;
            }
        }
        if (!r)
            return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                               "file-ops: %s: an absolute path outside the job's workspace and "
                               "requires.scope.paths is refused",
                               path);
    }
    /* ".." never names anything a job may reach: refused outright (the
     * kernel would refuse an escape too) */
    for (const char *p = rest; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return at_diag_set(d, AT_EPERM, NULL, 0, 0, "file-ops: %s: \"..\" in a path is refused",
                               path);
        p += len;
        while (*p == '/')
            p++;
    }
    if (want_write && !r->write)
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "file-ops: %s: the scope %s is read-only (requires.scope.paths mode: "
                           "read)",
                           path, r->path);
    snprintf(t->rel, sizeof(t->rel), "%s", *rest ? rest : ".");
    size_t len = strlen(t->rel);
    while (len > 1 && t->rel[len - 1] == '/')
        t->rel[--len] = '\0';
    t->write = r->write;
    t->rootfd = open(r->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (t->rootfd < 0)
        return fo_errno(d, r->path, errno);
    return 0;
}

static void target_close(struct target *t)
{
    if (t->rootfd >= 0)
        close(t->rootfd);
    t->rootfd = -1;
}

/* The parent directory of t (opened beneath the root) and the last
 * component (a plain name). */
static int parent_of(struct target *t, int mkdirs, int *pfd, char *base, size_t n,
                     struct at_diag *d)
{
    *pfd = -1;
    if (!strcmp(t->rel, "."))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: %s: the root itself", t->shown);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", t->rel);
    char *slash = strrchr(dir, '/');
    const char *b = slash ? slash + 1 : dir;
    if (!*b || !strcmp(b, ".") || strlen(b) >= n)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: %s: not a file name", t->shown);
    snprintf(base, n, "%s", b);
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (mkdirs && strcmp(dir, ".") != 0) {
        /* one component at a time, each resolved beneath the root */
        char part[4096] = "";
        for (char *p = dir; *p;) {
            char *e = strchr(p, '/');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len) {
                size_t pl = strlen(part);
                snprintf(part + pl, sizeof(part) - pl, "%s%.*s", pl ? "/" : "", (int)len, p);
                char *last = strrchr(part, '/');
                int parent = -1;
                if (last) {
                    *last = '\0';
                    parent = fo_openat2(t->rootfd, part, O_PATH | O_DIRECTORY, 0);
                    *last = '/';
                } else {
                    parent = fo_openat2(t->rootfd, ".", O_PATH | O_DIRECTORY, 0);
                }
                if (parent < 0)
                    return fo_errno(d, t->shown, errno);
                int rc = mkdirat(parent, last ? last + 1 : part, 0755);
                int e2 = errno;
                close(parent);
                if (rc && e2 != EEXIST)
                    return fo_errno(d, t->shown, e2);
            }
            p += len;
            while (*p == '/')
                p++;
        }
    }
    *pfd = fo_openat2(t->rootfd, dir, O_PATH | O_DIRECTORY, 0);
    if (*pfd < 0)
        return fo_errno(d, t->shown, errno);
    return 0;
}

static int one_link(int fd, const char *shown, struct stat *st, struct at_diag *d)
{
    if (fstat(fd, st))
        return fo_errno(d, shown, errno);
    if (S_ISREG(st->st_mode) && st->st_nlink > 1)
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "file-ops: %s: the file has %lu hard links: refused (another name of "
                           "it may be outside the scope)",
                           shown, (unsigned long)st->st_nlink);
    return 0;
}

static const char *type_of(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

static int op_read(struct target *t, const json_t *in, json_t **out, struct at_diag *d)
{
    int fd = fo_openat2(t->rootfd, t->rel, O_RDONLY | O_NOFOLLOW, 0);
    if (fd < 0)
        return fo_errno(d, t->shown, errno);
    struct stat st;
    int rc = one_link(fd, t->shown, &st, d);
    if (!rc && !S_ISREG(st.st_mode))
        rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: %s: not a regular file", t->shown);
    if (rc) {
        close(fd);
        return rc;
    }
    long long off = at_json_int(in, "offset", 0);
    long long max = at_json_int(in, "max_bytes", FO_DEFAULT_READ);
    size_t want = st.st_size > off ? (size_t)(st.st_size - off) : 0;
    int truncated = want > (size_t)max;
    if (truncated)
        want = (size_t)max;
    char *buf = at_malloc(want + 1);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, (off_t)off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    json_t *o = json_pack("{s:s,s:I,s:b}", "path", t->shown, "size", (json_int_t)st.st_size,
                          "truncated", truncated);
    if (at_utf8_valid_prefix(buf, got) == got && memchr(buf, '\0', got) == NULL) {
        json_object_set_new(o, "encoding", json_string("utf8"));
        json_object_set_new(o, "content", json_stringn(buf, got));
    } else {
        size_t bl = sodium_base64_encoded_len(got, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = at_malloc(bl);
        sodium_bin2base64(b64, bl, (const unsigned char *)buf, got, sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(o, "encoding", json_string("base64"));
        json_object_set_new(o, "content", json_string(b64));
        free(b64);
    }
    free(buf);
    *out = o;
    return 0;
}

static int op_write(struct target *t, const json_t *in, json_t **out, struct at_diag *d)
{
    const json_t *jc = json_object_get(in, "content");
    const char *content = json_string_value(jc);
    size_t clen = json_string_length(jc);
    unsigned char *bin = NULL;
    if (!content)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: write needs content");
    if (!strcmp(at_json_str(in, "encoding", "utf8"), "base64")) {
        bin = at_malloc(clen + 1);
        size_t bl = 0;
        if (sodium_base642bin(bin, clen + 1, content, clen, " \n\r\t", &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL)) {
            free(bin);
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: content is not base64");
        }
        content = (const char *)bin;
        clen = bl;
    }
    int pfd;
    char base[256];
    int rc = parent_of(t, at_json_bool(in, "mkdirs", 0), &pfd, base, sizeof(base), d);
    if (rc) {
        free(bin);
        return rc;
    }
    int append = at_json_bool(in, "append", 0);
    int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    int e = errno;
    close(pfd);
    if (fd < 0) {
        free(bin);
        return fo_errno(d, t->shown, e);
    }
    struct stat st;
    rc = one_link(fd, t->shown, &st, d);
    if (!rc && !S_ISREG(st.st_mode))
        rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: %s: not a regular file", t->shown);
    off_t pos = append ? st.st_size : 0;
    if (!rc && !append && ftruncate(fd, 0))
        rc = fo_errno(d, t->shown, errno);
    size_t done = 0;
    while (!rc && done < clen) {
        ssize_t w = pwrite(fd, content + done, clen - done, pos + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = fo_errno(d, t->shown, errno);
        else
            done += (size_t)w;
    }
    close(fd);
    free(bin);
    if (!rc)
        *out = json_pack("{s:s,s:I}", "path", t->shown, "written", (json_int_t)done);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

static int op_list(struct target *t, json_t **out, struct at_diag *d)
{
    int fd = fo_openat2(t->rootfd, t->rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fo_errno(d, t->shown, errno);
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return fo_errno(d, t->shown, errno);
    }
    json_t **items = NULL;
    size_t n = 0, cap = 0;
    int truncated = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == FO_MAX_LIST) {
            truncated = 1;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            items = at_realloc(items, cap * sizeof(*items));
        }
        items[n++] = json_pack("{s:s,s:s,s:I}", "name", de->d_name, "type", type_of(st.st_mode),
                               "size", (json_int_t)st.st_size);
    }
    closedir(dir);
    if (n)
        qsort(items, n, sizeof(*items), name_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
    *out = json_pack("{s:s,s:o,s:b}", "path", t->shown, "entries", arr, "truncated", truncated);
    return 0;
}

static int op_stat(struct target *t, json_t **out, struct at_diag *d)
{
    int fd = fo_openat2(t->rootfd, t->rel, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0)
        return fo_errno(d, t->shown, errno);
    struct stat st;
    int rc = fstat(fd, &st) ? fo_errno(d, t->shown, errno) : 0;
    close(fd);
    if (rc)
        return rc;
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
    *out = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "path", t->shown, "type", type_of(st.st_mode),
                     "size", (json_int_t)st.st_size, "mode", mode, "mtime_ms",
                     (json_int_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000, "nlink",
                     (json_int_t)st.st_nlink);
    return 0;
}

static int op_delete(struct target *t, json_t **out, struct at_diag *d)
{
    int pfd;
    char base[256];
    int rc = parent_of(t, 0, &pfd, base, sizeof(base), d);
    if (rc)
        return rc;
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) ||
        unlinkat(pfd, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0))
        rc = fo_errno(d, t->shown, errno);
    close(pfd);
    if (!rc)
        *out = json_pack("{s:s,s:b}", "path", t->shown, "deleted", 1);
    return rc;
}

static int op_mkdir(struct target *t, const json_t *in, json_t **out, struct at_diag *d)
{
    int pfd;
    char base[256];
    int rc = parent_of(t, at_json_bool(in, "mkdirs", 0), &pfd, base, sizeof(base), d);
    if (rc)
        return rc;
    if (mkdirat(pfd, base, 0755))
        rc = fo_errno(d, t->shown, errno);
    close(pfd);
    if (!rc)
        *out = json_pack("{s:s,s:b}", "path", t->shown, "created", 1);
    return rc;
}

static int op_move(const struct at__call *c, struct target *t, const json_t *in, json_t **out,
                   struct at_diag *d)
{
    struct target t2;
    int rc = target_of(c, json_object_get(in, "to"), 1, &t2, d);
    if (rc) {
        target_close(&t2);
        return rc;
    }
    int p1 = -1, p2 = -1;
    char b1[256], b2[256];
    if (!(rc = parent_of(t, 0, &p1, b1, sizeof(b1), d)) &&
        !(rc = parent_of(&t2, at_json_bool(in, "mkdirs", 0), &p2, b2, sizeof(b2), d))) {
        unsigned flags = at_json_bool(in, "overwrite", 0) ? 0 : RENAME_NOREPLACE;
        if (renameat2(p1, b1, p2, b2, flags))
            rc = fo_errno(d, t->shown, errno);
    }
    if (p1 >= 0)
        close(p1);
    if (p2 >= 0)
        close(p2);
    if (!rc)
        *out = json_pack("{s:s,s:s}", "path", t->shown, "to", t2.shown);
    target_close(&t2);
    return rc;
}

static int file_ops(struct at_skills *s, const struct at__call *c, const json_t *in, json_t **out,
                    struct at_diag *d)
{
    (void)s;
    const char *op = at_json_str(in, "op", "");
    int write = strcmp(op, "read") != 0 && strcmp(op, "list") != 0 && strcmp(op, "stat") != 0;
    struct target t;
    int rc = target_of(c, json_object_get(in, "path"), write, &t, d);
    if (!rc) {
        if (!strcmp(op, "read"))
            rc = op_read(&t, in, out, d);
        else if (!strcmp(op, "write"))
            rc = op_write(&t, in, out, d);
        else if (!strcmp(op, "list"))
            rc = op_list(&t, out, d);
        else if (!strcmp(op, "stat"))
            rc = op_stat(&t, out, d);
        else if (!strcmp(op, "delete"))
            rc = op_delete(&t, out, d);
        else if (!strcmp(op, "mkdir"))
            rc = op_mkdir(&t, in, out, d);
        else if (!strcmp(op, "move"))
            rc = op_move(c, &t, in, out, d);
        else
            rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "file-ops: unknown op \"%s\"", op);
    }
    target_close(&t);
    return rc;
}

const struct at__builtin at__skill_file_ops = {
    "file-ops",
    "Read, write, list, stat, move, delete and make directories inside the job's workspace and "
    "the contract's requires.scope.paths; symbolic links, '..', hard links and paths outside "
    "are refused.",
    "{\"type\":\"object\",\"required\":[\"op\",\"path\"],\"properties\":{"
    "\"op\":{\"enum\":[\"read\",\"write\",\"list\",\"stat\",\"move\",\"delete\",\"mkdir\"]},"
    "\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4095},"
    "\"to\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4095},"
    "\"content\":{\"type\":\"string\"},\"encoding\":{\"enum\":[\"utf8\",\"base64\"]},"
    "\"append\":{\"type\":\"boolean\"},\"mkdirs\":{\"type\":\"boolean\"},"
    "\"overwrite\":{\"type\":\"boolean\"},"
    "\"offset\":{\"type\":\"integer\",\"minimum\":0},"
    "\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":16777216}},"
    "\"additionalProperties\":false}",
    "{\"type\":\"object\",\"required\":[\"path\"],\"properties\":{"
    "\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"},"
    "\"encoding\":{\"enum\":[\"utf8\",\"base64\"]},\"size\":{\"type\":\"integer\"},"
    "\"truncated\":{\"type\":\"boolean\"},\"written\":{\"type\":\"integer\"},"
    "\"entries\":{\"type\":\"array\"},\"type\":{\"type\":\"string\"},"
    "\"mode\":{\"type\":\"string\"},\"mtime_ms\":{\"type\":\"integer\"},"
    "\"nlink\":{\"type\":\"integer\"},\"to\":{\"type\":\"string\"},"
    "\"deleted\":{\"type\":\"boolean\"},\"created\":{\"type\":\"boolean\"}}}",
    file_ops,
    NULL,
};
