#include "base/fs.h"

#include "base/alloc.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int at_fs_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return at_err_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return at_err_from_errno(e);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return AT_EINVAL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (cap > max + 1)
        cap = max + 1;
    char *p = at_malloc(cap);
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                free(p);
                close(fd);
                return AT_E2BIG;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            p = at_realloc(p, cap);
        }
        ssize_t r = read(fd, p + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(p);
            close(fd);
            return at_err_from_errno(e);
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            free(p);
            close(fd);
            return AT_E2BIG;
        }
    }
    close(fd);
    p[n] = '\0';
    *out = p;
    if (len)
        *len = n;
    return 0;
}

int at_fs_write_atomic(const char *path, const void *data, size_t len, int mode)
{
    char *tmp = at_asprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return at_err_from_errno(e);
    }
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return at_err_from_errno(e);
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return at_err_from_errno(e);
    }
    free(tmp);
    return 0;
}

int at_fs_mkdir_p(const char *path, int mode)
{
    char *p = at_strdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return at_err_from_errno(e);
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
        rc = at_err_from_errno(errno);
    else if (!at_fs_is_dir(p))
        rc = AT_EEXIST;
    free(p);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int at_fs_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : at_err_from_errno(errno);
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
        return at_err_from_errno(errno);
    return 0;
}

/* nftw has no argument: the sum is per thread */
static _Thread_local unsigned long long tree_sum;

static int add_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F || flag == FTW_SL)
        tree_sum += (unsigned long long)st->st_size;
    return 0;
}

unsigned long long at_fs_tree_bytes(const char *path)
{
    tree_sum = 0;
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (nftw(path, add_one, 32, FTW_PHYS) < 0)
        return tree_sum;
    return tree_sum;
}

int at_fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int at_fs_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *at_fs_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    return at_asprintf("%.*s/%s", (int)la, a, b);
}

const char *at_fs_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

/* prefix followed by the six template characters mkdtemp and mkostemp
 * replace. */
static char *template_of(const char *prefix)
{
    size_t n = strlen(prefix);
    char *t = at_malloc(n + 7);
    memcpy(t, prefix, n);
    memset(t + n, 'X', 6);
    t[n + 6] = '\0';
    return t;
}

char *at_fs_mkdtemp(const char *prefix)
{
    char *t = template_of(prefix);
    if (!mkdtemp(t)) {
        int e = errno;
        free(t);
        errno = e;
        return NULL;
    }
    return t;
}

int at_fs_mkstemp(const char *prefix, char **path)
{
    char *t = template_of(prefix);
    int fd = mkostemp(t, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(t);
        errno = e;
        *path = NULL;
        return -1;
    }
    *path = t;
    return fd;
}
