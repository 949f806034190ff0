/* Unit tests: content-addressed snapshots of agent directories
 * (registry/snapshot.c): what the digest covers, what is skipped, the
 * limits, and symbolic links, which must not lead out of the directory
 * however they are chained (issue 9: `sub/up -> ..`, `esc -> sub/up/../..`). */
#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "registry/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "%s/atlas-snapshot-test.XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    at_fs_remove_tree(tmp);
    return 0;
}

/* tmp/<rel>, created with its parents; caller frees */
static char *path_of(const char *rel)
{
    return at_asprintf("%s/%s", tmp, rel);
}

static void mkdirs(const char *rel)
{
    char *p = path_of(rel);
    assert_int_equal(at_fs_mkdir_p(p, 0755), 0);
    free(p);
}

static void put(const char *rel, const char *text, mode_t mode)
{
    char *p = path_of(rel);
    char *dir = at_strdup(p);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(at_fs_mkdir_p(dir, 0755), 0);
    free(dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(p, mode);
    free(p);
}

static void link_to(const char *rel, const char *target)
{
    char *p = path_of(rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static int digest(const char *rel, char out[AT_DIGEST_MAX], struct at_diag *d)
{
    char *p = path_of(rel);
    at_diag_clear(d);
    int rc = at_snapshot_digest(p, out, d);
    free(p);
    return rc;
}

/* Snapshot tmp/<rel> into tmp/store; returns the result, leaves no
 * temporary directory behind either way. */
static int store(const char *rel, char out[AT_DIGEST_MAX], char **snap, struct at_diag *d)
{
    char *p = path_of(rel);
    char *root = path_of("store");
    at_diag_clear(d);
    *snap = NULL;
    int rc = at_snapshot_store(p, root, out, snap, d);
    DIR *dir = opendir(root);
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir)))
        assert_true(strncmp(e->d_name, ".tmp-", 5) != 0);
    closedir(dir);
    free(root);
    free(p);
    return rc;
}

static void test_digest(void **state)
{
    (void)state;
    char a[AT_DIGEST_MAX], b[AT_DIGEST_MAX];
    struct at_diag d;
    put("one/agent.yaml", "agent: {}\n", 0644);
    put("one/lib/x.py", "x = 1\n", 0644);
    put("two/agent.yaml", "agent: {}\n", 0644);
    put("two/lib/x.py", "x = 1\n", 0644);
    assert_int_equal(digest("one", a, &d), 0);
    assert_int_equal(strncmp(a, "sha256:", 7), 0);
    assert_int_equal(strlen(a), 7 + 64);
    assert_int_equal(digest("two", b, &d), 0);
    assert_string_equal(a, b); /* the same content, wherever it is */
    /* skipped: .git, __pycache__, *.pyc, .DS_Store */
    put("two/.git/HEAD", "ref\n", 0644);
    put("two/__pycache__/x.cpython-311.pyc", "bytecode", 0644);
    put("two/lib/y.pyc", "bytecode", 0644);
    put("two/.DS_Store", "finder", 0644);
    assert_int_equal(digest("two", b, &d), 0);
    assert_string_equal(a, b);
    /* covered: content, the executable bit, names, links */
    put("two/lib/x.py", "x = 2\n", 0644);
    assert_int_equal(digest("two", b, &d), 0);
    assert_string_not_equal(a, b);
    put("two/lib/x.py", "x = 1\n", 0755);
    assert_int_equal(digest("two", b, &d), 0);
    assert_string_not_equal(a, b);
    put("two/lib/x.py", "x = 1\n", 0644);
    assert_int_equal(digest("two", b, &d), 0);
    assert_string_equal(a, b);
    link_to("two/lib/alias.py", "x.py");
    assert_int_equal(digest("two", b, &d), 0);
    assert_string_not_equal(a, b);
}

static void test_store(void **state)
{
    (void)state;
    char a[AT_DIGEST_MAX], b[AT_DIGEST_MAX];
    char *snap, *again;
    struct at_diag d;
    put("src/agent.yaml", "agent: {}\n", 0644);
    put("src/run.sh", "#!/bin/sh\n", 0755);
    mkdirs("src/empty");
    link_to("src/alias.sh", "run.sh");
    assert_int_equal(store("src", a, &snap, &d), 0);
    char *want = at_asprintf("%s/store/sha256-%s", tmp, a + 7);
    assert_string_equal(snap, want);
    free(want);
    /* the digest is the copy's */
    assert_int_equal(at_snapshot_digest(snap, b, &d), 0);
    assert_string_equal(a, b);
    char *p = at_asprintf("%s/run.sh", snap);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_mode & 0100);
    free(p);
    p = at_asprintf("%s/alias.sh", snap);
    char t[64];
    ssize_t tl = readlink(p, t, sizeof(t) - 1);
    assert_int_equal(tl, 6);
    t[tl] = '\0';
    assert_string_equal(t, "run.sh");
    free(p);
    p = at_asprintf("%s/empty", snap);
    assert_true(at_fs_is_dir(p));
    free(p);
    /* the same content again reuses the snapshot */
    assert_int_equal(store("src", b, &again, &d), 0);
    assert_string_equal(snap, again);
    free(again);
    free(snap);
}

static void test_limits(void **state)
{
    (void)state;
    char a[AT_DIGEST_MAX];
    struct at_diag d;
    char rel[1024] = "deep";
    size_t len = strlen(rel);
    for (int i = 0; i <= AT_SNAPSHOT_MAX_DEPTH + 1; i++)
        len += (size_t)snprintf(rel + len, sizeof(rel) - len, "/d");
    mkdirs(rel);
    assert_int_equal(digest("deep", a, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "deeper than"));
    char *snap;
    assert_int_equal(store("deep", a, &snap, &d), AT_E2BIG);
    assert_null(snap);
}

/* Each case: a fresh directory "c<N>" with the links given as
 * "name=target" pairs (directories created as needed), then a digest and a
 * snapshot.  want: 0 (kept) or the error. */
static void links_case(int n, const char *const *links, int want, const char *msg)
{
    char dir[32];
    snprintf(dir, sizeof(dir), "c%d", n);
    char *rel = at_asprintf("%s/agent.yaml", dir);
    put(rel, "agent: {}\n", 0644);
    free(rel);
    rel = at_asprintf("%s/sub/file.txt", dir);
    put(rel, "inside\n", 0644);
    free(rel);
    for (size_t i = 0; links[i]; i++) {
        const char *eq = strchr(links[i], '=');
        char *name = at_asprintf("%s/%.*s", dir, (int)(eq - links[i]), links[i]);
        char *parent = at_strdup(name);
        if (strrchr(parent, '/'))
            *strrchr(parent, '/') = '\0';
        mkdirs(parent);
        free(parent);
        link_to(name, eq + 1);
        free(name);
    }
    char a[AT_DIGEST_MAX];
    struct at_diag d;
    char *snap;
    int rc = digest(dir, a, &d);
    if (rc != want)
        fail_msg("case %d: digest returned %d, want %d (%s)", n, rc, want, d.msg);
    if (msg && !strstr(d.msg, msg))
        fail_msg("case %d: \"%s\" does not say \"%s\"", n, d.msg, msg);
    rc = store(dir, a, &snap, &d);
    if (rc != want)
        fail_msg("case %d: store returned %d, want %d (%s)", n, rc, want, d.msg);
    if (msg && !strstr(d.msg, msg))
        fail_msg("case %d: \"%s\" does not say \"%s\"", n, d.msg, msg);
    if (want)
        assert_null(snap);
    free(snap);
}

static void test_symlinks(void **state)
{
    (void)state;
    int n = 0;
    /* inside: kept */
    links_case(++n, (const char *[]){"sub/up=..", NULL}, 0, NULL); /* the root itself */
    links_case(++n, (const char *[]){"f=sub/file.txt", "g=./sub/../sub/./file.txt", NULL}, 0, NULL);
    links_case(++n, (const char *[]){"lib=sub", "via=lib/file.txt", "sub/back=../via", NULL}, 0,
               NULL);
    links_case(++n, (const char *[]){"dangling=missing/file", NULL}, 0, NULL);
    links_case(++n, (const char *[]){"sub/up=..", "ok=sub/up/sub/up/sub/file.txt", NULL}, 0, NULL);
    /* the shape of issue 9: each link reads as inside, together they climb out */
    links_case(++n, (const char *[]){"sub/up=..", "esc=sub/up/../..", NULL}, AT_EPERM,
               "leads outside the agent directory once sub/up (-> ..) is followed");
    links_case(++n, (const char *[]){"sub/up=..", "esc=sub/up/..", NULL}, AT_EPERM, "outside");
    links_case(++n, (const char *[]){"sub/up=..", "sub/deeper/x=../up/..", NULL}, AT_EPERM,
               "outside");
    /* through several hops */
    links_case(++n,
               (const char *[]){"sub/up=..", "h3=sub/up", "h2=h3", "h1=h2/..", "h0=h1/file", NULL},
               AT_EPERM, "outside");
    /* a link to a link that is absolute */
    links_case(++n, (const char *[]){"sub/abs=/etc", "rel=sub/abs/passwd", NULL}, AT_EPERM,
               "outside");
    /* absolute, and plainly relative outside: refused as before */
    links_case(++n, (const char *[]){"abs=/etc/passwd", NULL}, AT_EPERM, "outside");
    links_case(++n, (const char *[]){"out=../elsewhere", NULL}, AT_EPERM, "outside");
    /* loops never resolve: refused, not followed forever */
    links_case(++n, (const char *[]){"self=self", NULL}, AT_EINVAL, "a loop");
    links_case(++n, (const char *[]){"l1=l2", "l2=l1", NULL}, AT_EINVAL, "a loop");
    links_case(++n, (const char *[]){"grow=grow/x", NULL}, AT_EINVAL, "a loop");
    links_case(++n, (const char *[]){"sub/up=..", "spin=sub/up/spin", NULL}, AT_EINVAL, "a loop");
    /* a skipped name is not in the snapshot: what goes through it dangles there */
    links_case(++n, (const char *[]){"sub/.git/x=y", "g=sub/.git/../file.txt", NULL}, 0, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
