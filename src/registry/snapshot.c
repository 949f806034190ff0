#include "registry/snapshot.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"

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

struct walk {
    const char *root;
    struct at_diag *d;
    unsigned long files;
    unsigned long long bytes;
    /* digest mode */
    crypto_hash_sha256_state *h;
    /* copy mode */
    const char *dest;
};

static int skip_name(const char *n)
{
    size_t len = strlen(n);
    return !strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, ".git") || !strcmp(n, "__pycache__") ||
           !strcmp(n, ".DS_Store") || (len > 4 && !strcmp(n + len - 4, ".pyc"));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does the text of the link at rel (relative to root) stay inside root,
 * read as a path?  Absolute targets never do. */
static int link_inside_lexically(const char *rel, const char *target)
{
    if (target[0] == '/')
        return 0;
    int depth = 0;
    for (const char *p = rel; *p; p++)
        if (*p == '/')
            depth++;
    const char *t = target;
    while (*t) {
        const char *e = strchr(t, '/');
        size_t n = e ? (size_t)(e - t) : strlen(t);
        if (n == 2 && t[0] == '.' && t[1] == '.') {
            if (--depth < 0)
                return 0;
        } else if (!(n == 1 && t[0] == '.') && n > 0) {
            depth++;
        }
        t += n;
        if (*t == '/')
            t++;
    }
    return 1;
}

/* Follow the link at rel the way the kernel will when the agent opens it,
 * component by component from the link's directory, symbolic links
 * included, and say whether it stays inside root.  A lexical check alone
 * is not enough: with `sub/up -> ..`, the text of `esc -> sub/up/../..`
 * stays inside, but "sub/up" is root itself, so the two ".." climb out
 * (into the data directory, once snapshotted).  Returns 0 when it stays
 * inside or stops at a name that does not exist (in the snapshot: skipped
 * names and special files are not copied), AT_EPERM when it leaves root,
 * AT_EINVAL after AT_SNAPSHOT_MAX_HOPS links (a loop), AT_E2BIG for a path
 * too long; why says which link and how. */
static int link_resolve_inside(const char *root, const char *rel, const char *target, char *why,
                               size_t whylen)
{
    char cur[PATH_MAX]; /* where we are, relative to root ("" is root) */
    char pend[PATH_MAX * 2], next[PATH_MAX * 2], sub[PATH_MAX];
    const char *slash = strrchr(rel, '/');
    snprintf(cur, sizeof(cur), "%.*s", slash ? (int)(slash - rel) : 0, rel);
    snprintf(pend, sizeof(pend), "%s", target);
    const char *via = NULL; /* the last link followed after rel itself */
    char via_buf[PATH_MAX];
    int hops = 1;
    const char *p = pend;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            return 0;
        size_t n = strcspn(p, "/");
        char name[NAME_MAX + 1];
        if (n > NAME_MAX)
            return 0; /* ENAMETOOLONG for the kernel too: it resolves to nothing */
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            if (!cur[0]) {
                if (via)
                    snprintf(why, whylen, "leads outside the agent directory once %s is followed",
                             via);
                else
                    snprintf(why, whylen, "leads outside the agent directory");
                return AT_EPERM;
            }
            char *up = strrchr(cur, '/');
            if (up)
                *up = '\0';
            else
                cur[0] = '\0';
            continue;
        }
        if (skip_name(name))
            return 0; /* not in the snapshot: the link dangles there */
        int sl = cur[0] ? snprintf(sub, sizeof(sub), "%s/%s", cur, name)
                        : snprintf(sub, sizeof(sub), "%s", name);
        if (sl < 0 || (size_t)sl >= sizeof(sub)) {
            snprintf(why, whylen, "resolves to a path longer than %d bytes", PATH_MAX);
            return AT_E2BIG;
        }
        char *abs = at_fs_join(root, sub);
        struct stat st;
        int lr = lstat(abs, &st);
        if (lr < 0) {
            free(abs);
            return 0; /* dangles (ENOENT, ENOTDIR): nothing to reach */
        }
        if (S_ISLNK(st.st_mode)) {
            if (++hops > AT_SNAPSHOT_MAX_HOPS) {
                free(abs);
                snprintf(why, whylen, "does not resolve: more than %d links in a row (a loop)",
                         AT_SNAPSHOT_MAX_HOPS);
                return AT_EINVAL;
            }
            char t[PATH_MAX];
            ssize_t tl = readlink(abs, t, sizeof(t) - 1);
            free(abs);
            if (tl < 0)
                return 0;
            t[tl] = '\0';
            snprintf(via_buf, sizeof(via_buf), "%s (-> %s)", sub, t);
            via = via_buf;
            if (t[0] == '/') {
                snprintf(why, whylen, "leads outside the agent directory through %s", via);
                return AT_EPERM;
            }
            /* the link's text replaces its name; resolution goes on from cur */
            int nl = snprintf(next, sizeof(next), "%s/%s", t, p);
            if (nl < 0 || (size_t)nl >= sizeof(next)) {
                snprintf(why, whylen, "resolves to a path longer than %d bytes", PATH_MAX);
                return AT_E2BIG;
            }
            memcpy(pend, next, (size_t)nl + 1);
            p = pend;
            continue;
        }
        free(abs);
        if (!S_ISDIR(st.st_mode))
            return 0; /* a file (anything after it is ENOTDIR) or a special file (not copied) */
        memcpy(cur, sub, (size_t)sl + 1);
    }
}

/* The check applied to every symbolic link, in both passes (the copy reads
 * the source, the digest reads the copy: what is stored is checked). */
static int check_link(struct walk *w, const char *crel, const char *cabs, const char *target)
{
    char why[PATH_MAX + 200];
    if (!link_inside_lexically(crel, target))
        return at_diag_set(w->d, AT_EPERM, cabs, 0, 0,
                           "symbolic link points outside the agent directory (-> %s)", target);
    int rc = link_resolve_inside(w->root, crel, target, why, sizeof(why));
    if (rc)
        return at_diag_set(w->d, rc, cabs, 0, 0, "symbolic link (-> %s) %s", target, why);
    return 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode, struct at_diag *d)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return at_diag_set(d, at_err_from_errno(errno), src, 0, 0, "cannot read: %s",
                           strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0755);
    if (out < 0) {
        int e = errno;
        close(in);
        return at_diag_set(d, at_err_from_errno(e), dst, 0, 0, "cannot create: %s", strerror(e));
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = at_diag_set(d, AT_EIO, src, 0, 0, "read failed: %s", strerror(errno));
            break;
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = at_diag_set(d, AT_EIO, dst, 0, 0, "write failed: %s", strerror(errno));
                goto done;
            }
            off += w;
        }
    }
done:
    close(in);
    if (close(out) < 0 && !rc)
        rc = at_diag_set(d, AT_EIO, dst, 0, 0, "write failed: %s", strerror(errno));
    return rc;
}

static int hash_file(struct walk *w, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return at_diag_set(w->d, at_err_from_errno(errno), path, 0, 0, "cannot read: %s",
                           strerror(errno));
    char buf[65536];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return at_diag_set(w->d, AT_EIO, path, 0, 0, "read failed: %s", strerror(e));
        }
        if (r == 0)
            break;
        crypto_hash_sha256_update(w->h, (unsigned char *)buf, (size_t)r);
    }
    close(fd);
    return 0;
}

static int walk_dir(struct walk *w, const char *rel, int depth)
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
        if (skip_name(ent->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = at_realloc(names, cap * sizeof(*names));
        }
        names[n++] = at_strdup(ent->d_name);
    }
    closedir(dir);
    if (n) /* an empty directory: names is NULL, which qsort must not get */
        qsort(names, n, sizeof(*names), cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char *crel = rel[0] ? at_asprintf("%s/%s", rel, names[i]) : at_strdup(names[i]);
        char *cabs = at_fs_join(w->root, crel);
        struct stat st;
        if (lstat(cabs, &st) < 0) {
            rc = at_diag_set(w->d, at_err_from_errno(errno), cabs, 0, 0, "cannot stat: %s",
                             strerror(errno));
        } else if (++w->files > AT_SNAPSHOT_MAX_FILES) {
            rc = at_diag_set(w->d, AT_E2BIG, w->root, 0, 0, "more than %d files",
                             AT_SNAPSHOT_MAX_FILES);
        } else if (S_ISDIR(st.st_mode)) {
            if (w->h) {
                crypto_hash_sha256_update(w->h, (const unsigned char *)"d ", 2);
                crypto_hash_sha256_update(w->h, (const unsigned char *)crel, strlen(crel) + 1);
            } else {
                char *dst = at_fs_join(w->dest, crel);
                if (mkdir(dst, 0755) < 0)
                    rc = at_diag_set(w->d, at_err_from_errno(errno), dst, 0, 0, "cannot create: %s",
                                     strerror(errno));
                free(dst);
            }
            if (!rc)
                rc = walk_dir(w, crel, depth + 1);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlink(cabs, target, sizeof(target) - 1);
            if (tl < 0) {
                rc = at_diag_set(w->d, AT_EIO, cabs, 0, 0, "cannot read link: %s", strerror(errno));
            } else {
                target[tl] = '\0';
                if ((rc = check_link(w, crel, cabs, target))) {
                    /* refused: rc and the diagnostic are set */
                } else if (w->h) {
                    crypto_hash_sha256_update(w->h, (const unsigned char *)"l ", 2);
                    crypto_hash_sha256_update(w->h, (const unsigned char *)crel, strlen(crel) + 1);
                    crypto_hash_sha256_update(w->h, (const unsigned char *)target, (size_t)tl + 1);
                } else {
                    char *dst = at_fs_join(w->dest, crel);
                    if (symlink(target, dst) < 0)
                        rc = at_diag_set(w->d, at_err_from_errno(errno), dst, 0, 0,
                                         "cannot create link: %s", strerror(errno));
                    free(dst);
                }
            }
        } else if (S_ISREG(st.st_mode)) {
            w->bytes += (unsigned long long)st.st_size;
            if (w->bytes > AT_SNAPSHOT_MAX_BYTES) {
                rc = at_diag_set(w->d, AT_E2BIG, w->root, 0, 0, "more than %llu bytes",
                                 (unsigned long long)AT_SNAPSHOT_MAX_BYTES);
            } else if (w->h) {
                char hdr[64];
                int exec = (st.st_mode & 0111) != 0;
                int hl = snprintf(hdr, sizeof(hdr), "f%c ", exec ? 'x' : '-');
                crypto_hash_sha256_update(w->h, (const unsigned char *)hdr, (size_t)hl);
                crypto_hash_sha256_update(w->h, (const unsigned char *)crel, strlen(crel) + 1);
                hl = snprintf(hdr, sizeof(hdr), "%lld", (long long)st.st_size);
                crypto_hash_sha256_update(w->h, (const unsigned char *)hdr, (size_t)hl + 1);
                rc = hash_file(w, cabs);
            } else {
                char *dst = at_fs_join(w->dest, crel);
                rc = copy_file(cabs, dst, st.st_mode, w->d);
                free(dst);
            }
        } /* sockets, fifos and devices are not part of an agent: skipped */
        free(cabs);
        free(crel);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(abs);
    return rc;
}

int at_snapshot_digest(const char *dir, char out[AT_DIGEST_MAX], struct at_diag *d)
{
    if (sodium_init() < 0)
        return AT_EINTERNAL;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    struct walk w = {.root = dir, .d = d, .h = &h};
    int rc = walk_dir(&w, "", 0);
    if (rc)
        return rc;
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, sum);
    memcpy(out, "sha256:", 8); /* the hex digits follow, NUL-terminated */
    sodium_bin2hex(out + 7, AT_DIGEST_MAX - 7, sum, sizeof(sum));
    return 0;
}

int at_snapshot_store(const char *dir, const char *store_root, char digest[AT_DIGEST_MAX],
                      char **path, struct at_diag *d)
{
    int rc = at_fs_mkdir_p(store_root, 0755);
    if (rc)
        return at_diag_set(d, rc, store_root, 0, 0, "cannot create directory");
    char *tmp_prefix = at_fs_join(store_root, ".tmp-");
    char *tmp = at_fs_mkdtemp(tmp_prefix);
    free(tmp_prefix);
    if (!tmp)
        return at_diag_set(d, at_err_from_errno(errno), store_root, 0, 0,
                           "cannot create snapshot directory: %s", strerror(errno));
    chmod(tmp, 0755);
    /* Copy first, then hash the copy: the digest names exactly the bytes
     * stored, even if the source changes while we read it. */
    struct walk w = {.root = dir, .d = d, .dest = tmp};
    rc = walk_dir(&w, "", 0);
    if (!rc)
        rc = at_snapshot_digest(tmp, digest, d);
    char *dest = NULL;
    if (!rc) {
        dest = at_asprintf("%s/sha256-%s", store_root, digest + 7);
        if (at_fs_is_dir(dest)) {
            at_fs_remove_tree(tmp); /* same content already stored */
        } else if (rename(tmp, dest) < 0) {
            rc = at_diag_set(d, at_err_from_errno(errno), dest, 0, 0, "cannot store snapshot: %s",
                             strerror(errno));
        }
    }
    if (rc) {
        at_fs_remove_tree(tmp);
        free(dest);
        dest = NULL;
    }
    free(tmp);
    *path = dest;
    return rc;
}
