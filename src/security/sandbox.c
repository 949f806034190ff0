#include "security/sandbox.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/spawn.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- finding bwrap, and whether it works here ---- */

static char bwrap_path[PATH_MAX];
static pthread_once_t bwrap_once = PTHREAD_ONCE_INIT;

static void bwrap_find(void)
{
    const char *env = getenv("ATLAS_BWRAP");
    if (env && *env) {
        if (access(env, X_OK) == 0 && strlen(env) < sizeof(bwrap_path))
            snprintf(bwrap_path, sizeof(bwrap_path), "%s", env);
        return;
    }
    const char *dirs[] = {"/usr/bin", "/bin", "/usr/local/bin"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char cand[PATH_MAX];
        snprintf(cand, sizeof(cand), "%s/bwrap", dirs[i]);
        if (access(cand, X_OK) == 0) {
            snprintf(bwrap_path, sizeof(bwrap_path), "%s", cand);
            return;
        }
    }
}

const char *at_sandbox_bwrap(void)
{
    pthread_once(&bwrap_once, bwrap_find);
    return bwrap_path[0] ? bwrap_path : NULL;
}

static int probe_rc = 1; /* 1: not tried */
static char probe_why[300];
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
    const char *bw = at_sandbox_bwrap();
    if (!bw) {
        probe_rc = AT_EUNAVAIL;
        snprintf(probe_why, sizeof(probe_why),
                 "bubblewrap (bwrap) is not installed (Debian package bubblewrap)");
        return;
    }
    char *argv[] = {(char *)bw,
                    "--unshare-user",
                    "--unshare-pid",
                    "--unshare-net",
                    "--unshare-ipc",
                    "--ro-bind",
                    "/",
                    "/",
                    "--proc",
                    "/proc",
                    "--dev",
                    "/dev",
                    "--die-with-parent",
                    "true",
                    NULL};
    struct at_buf out;
    at_buf_init(&out, 2048);
    int status = -1;
    int rc = at_spawn_capture(argv, 5000, &out, &status);
    if (rc == 0 && status == 0) {
        probe_rc = 0;
    } else {
        probe_rc = AT_EUNAVAIL;
        size_t len = out.len;
        while (len > 0 && (out.p[len - 1] == '\n' || out.p[len - 1] == ' '))
            len--;
        snprintf(probe_why, sizeof(probe_why),
                 "bwrap cannot create its namespaces here (user namespaces disabled?): %.*s",
                 (int)(len > 200 ? 200 : len), out.p ? out.p : "");
    }
    at_buf_release(&out);
}

int at_sandbox_probe(char *why, size_t n)
{
    pthread_once(&probe_once, probe);
    if (probe_rc && why)
        snprintf(why, n, "%s", probe_why);
    return probe_rc;
}

/* ---- the command line ---- */

static void add(struct at_sandbox *sb, const char *s)
{
    if (sb->argc + 2 > sb->cap) {
        sb->cap = sb->cap ? sb->cap * 2 : 64;
        sb->argv = at_realloc(sb->argv, sb->cap * sizeof(*sb->argv));
    }
    sb->argv[sb->argc++] = at_strdup(s);
    sb->argv[sb->argc] = NULL;
}

static void add2(struct at_sandbox *sb, const char *a, const char *b)
{
    add(sb, a);
    add(sb, b);
}

static void add3(struct at_sandbox *sb, const char *a, const char *b, const char *c)
{
    add(sb, a);
    add(sb, b);
    add(sb, c);
}

/* /bin, /lib... are links into /usr on a merged-/usr system, folders on
 * others: recreate the link, or bind the folder. */
static void add_root_dir(struct at_sandbox *sb, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            add3(sb, "--symlink", target, path);
        }
    } else if (S_ISDIR(st.st_mode)) {
        add3(sb, "--ro-bind", path, path);
    }
}

/* An /etc entry: a symbolic link whose target is below /usr (shown
 * read-only already) is made again as the same link; anything else is
 * bound read-only when it exists. */
static void add_etc(struct at_sandbox *sb, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX], real[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 0 && target[0] == '/' && realpath(path, real) && !strncmp(real, "/usr/", 5)) {
            target[n] = '\0';
            /* the link's own text: relative links keep their meaning too */
            if (!strncmp(target, "/usr/", 5)) {
                add3(sb, "--symlink", target, path);
                return;
            }
        }
    }
    add3(sb, "--ro-bind-try", path, path);
}

/* Is path below (or equal to) one of the folders the sandbox already shows? */
static int shown(const char *path)
{
    const char *roots[] = {"/usr/", "/bin/", "/lib/", "/lib64/", "/sbin/"};
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        if (strncmp(path, roots[i], strlen(roots[i])) == 0)
            return 1;
    return 0;
}

int at_sandbox_build(const struct at_sandbox_opts *o, struct at_sandbox *sb, char *why, size_t n)
{
    memset(sb, 0, sizeof(*sb));
    sb->seccomp_fd = -1;
    int rc = at_sandbox_probe(why, n);
    if (rc)
        return rc;
    int platform = o->net == AT_SANDBOX_NET_PLATFORM || o->net == AT_SANDBOX_NET_FILTERED;
    if (o->net == AT_SANDBOX_NET_FILTERED && !o->egress_socket) {
        snprintf(why, n, "requires.egress needs atlasd's egress proxy, and it is not running");
        return AT_EUNAVAIL;
    }
    if (platform && (!o->platform_socket || !o->landlock)) {
        snprintf(why, n,
                 "requires.network: platform needs atlasd's agent socket and atlas-init (the "
                 "relay inside the sandbox), and %s is missing",
                 !o->landlock ? "atlas-init" : "the socket");
        return AT_EUNAVAIL;
    }
    /* devices: only absolute paths under /dev that exist */
    size_t i;
    json_t *d;
    json_array_foreach(o->devices, i, d)
    {
        const char *p = json_string_value(d);
        struct stat st;
        if (!p || strncmp(p, "/dev/", 5) != 0 || strstr(p, "/../") || stat(p, &st) != 0) {
            snprintf(why, n, "hardware.device_access: %s is not a device under /dev here",
                     p ? p : "?");
            return AT_EINVAL;
        }
    }
    add(sb, at_sandbox_bwrap());
    add(sb, "--unshare-user");
    add(sb, "--unshare-pid");
    add(sb, "--unshare-ipc");
    add(sb, "--unshare-uts");
    add(sb, "--unshare-cgroup-try");
    if (o->net != AT_SANDBOX_NET_EGRESS)
        add(sb, "--unshare-net");
    add(sb, "--die-with-parent");
    add(sb, "--disable-userns");
    add2(sb, "--cap-drop", "ALL");
    add2(sb, "--hostname", "atlas-agent");
    /* the runtime: /usr and the root links into it */
    add3(sb, "--ro-bind", "/usr", "/usr");
    const char *roots[] = {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};
    for (size_t k = 0; k < sizeof(roots) / sizeof(roots[0]); k++)
        add_root_dir(sb, roots[k]);
    /* what programs read from /etc; not passwd's secrets, not the host's
     * keys.  Each bind costs bubblewrap a read of the whole mount table
     * (docs/performance.md "Agent cold start"), so: no ld.so.conf (only
     * ldconfig reads it: the loader reads the cache), and a link into /usr
     * (localtime) is made again as a link, not bound */
    const char *etc[] = {"/etc/ld.so.cache",   "/etc/alternatives",    "/etc/localtime",
                         "/etc/nsswitch.conf", "/etc/passwd",          "/etc/group",
                         "/etc/ssl",           "/etc/ca-certificates", "/etc/mime.types"};
    for (size_t k = 0; k < sizeof(etc) / sizeof(etc[0]); k++)
        add_etc(sb, etc[k]);
    glob_t g;
    if (glob("/etc/python3*", 0, NULL, &g) == 0) {
        for (size_t k = 0; k < g.gl_pathc; k++)
            add3(sb, "--ro-bind", g.gl_pathv[k], g.gl_pathv[k]);
        globfree(&g);
    }
    if (o->net == AT_SANDBOX_NET_EGRESS) {
        add3(sb, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf");
        add3(sb, "--ro-bind-try", "/etc/hosts", "/etc/hosts");
        add3(sb, "--ro-bind-try", "/etc/gai.conf", "/etc/gai.conf");
    }
    add2(sb, "--proc", "/proc");
    add2(sb, "--dev", "/dev");
    json_array_foreach(o->devices, i, d)
        add3(sb, "--dev-bind", json_string_value(d), json_string_value(d));
    char size[32];
    snprintf(size, sizeof(size), "%lld", (o->workspace_mb > 0 ? o->workspace_mb : 256) << 20);
    add2(sb, "--size", size);
    add2(sb, "--tmpfs", "/tmp");
    if (o->workspace_host) {
        add3(sb, "--bind", o->workspace_host, o->workspace);
    } else {
        add2(sb, "--size", size);
        add2(sb, "--tmpfs", o->workspace);
    }
    /* the program when it lives outside /usr (a virtual environment, /opt) */
    if (o->program && o->program[0] == '/' && !shown(o->program)) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", o->program);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (!o->agent_dir || strcmp(dir, o->agent_dir) != 0)
                add3(sb, "--ro-bind", dir, dir);
        }
    }
    for (const char *const *r = o->ro; r && *r; r++)
        add3(sb, "--ro-bind-try", *r, *r);
    for (const char *const *r = o->rw; r && *r; r++)
        add3(sb, "--bind", *r, *r);
    if (o->landlock && !shown(o->landlock))
        add3(sb, "--ro-bind", o->landlock, o->landlock);
    if (platform) { /* before / is read-only */
        add2(sb, "--dir", "/run/atlas");
        add3(sb, "--bind", o->platform_socket, AT_SANDBOX_PLATFORM_SOCKET);
        if (o->net == AT_SANDBOX_NET_FILTERED)
            add3(sb, "--bind", o->egress_socket, AT_SANDBOX_EGRESS_SOCKET);
    }
    /* the snapshot, last: nothing above may hide it */
    if (o->agent_dir)
        add3(sb, "--ro-bind", o->agent_dir, o->agent_dir);
    add2(sb, "--remount-ro", "/"); /* the folders made for the mount points */
    add2(sb, "--chdir", o->cwd ? o->cwd : o->agent_dir ? o->agent_dir : o->workspace);
    add2(sb, "--setenv", "HOME");
    add(sb, o->workspace);
    add2(sb, "--setenv", "PATH");
    add(sb, o->path ? o->path : AT_SANDBOX_PATH);
    add2(sb, "--setenv", "TMPDIR");
    add(sb, "/tmp");
    add2(sb, "--setenv", "ATLAS_WORKSPACE");
    add(sb, o->workspace);
    char url[80];
    if (platform) {
        /* atlasd through its agent socket, relayed to a loopback port of
         * the sandbox's own (atlas-init --relay): every SDK and OpenAI
         * client speaks plain HTTP to it; each request still needs the
         * job's token */
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp", AT_SANDBOX_PLATFORM_PORT);
        add2(sb, "--setenv", "ATLAS_MCP_URL");
        add(sb, url);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", AT_SANDBOX_PLATFORM_PORT);
        add2(sb, "--setenv", "OPENAI_BASE_URL");
        add(sb, url);
    } else if (o->net == AT_SANDBOX_NET_NONE) {
        /* nothing to reach: not even an address that would not answer */
        add2(sb, "--unsetenv", "ATLAS_MCP_URL");
        add2(sb, "--unsetenv", "OPENAI_BASE_URL");
    }
    int fd = at__sandbox_seccomp_fd(why, n);
    if (fd < 0)
        return fd;
    sb->seccomp_fd = fd;
    add2(sb, "--seccomp", "3"); /* exec/proc.c makes the pipe fd 3 of bwrap */
    add(sb, "--");
    if (o->landlock) {
        /* the second fence, set up inside by atlas-init just before the agent */
        add2(sb, o->landlock, "--landlock");
        if (platform) {
            char port[16];
            snprintf(port, sizeof(port), "%d", AT_SANDBOX_PLATFORM_PORT);
            add3(sb, "--relay", port, AT_SANDBOX_PLATFORM_SOCKET);
        }
        if (o->net == AT_SANDBOX_NET_FILTERED) {
            char port[16];
            snprintf(port, sizeof(port), "%d", AT_SANDBOX_EGRESS_PORT);
            add3(sb, "--relay", port, AT_SANDBOX_EGRESS_SOCKET);
        }
        const char *ro[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc"};
        for (size_t k = 0; k < sizeof(ro) / sizeof(ro[0]); k++)
            add2(sb, "ro", ro[k]);
        if (o->agent_dir)
            add2(sb, "ro", o->agent_dir);
        for (const char *const *r = o->ro; r && *r; r++)
            add2(sb, "ro", *r);
        if (o->program && o->program[0] == '/') {
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%s", o->program);
            char *slash = strrchr(dir, '/');
            if (slash && slash != dir) {
                *slash = '\0';
                add2(sb, "ro", dir);
            }
        }
        add2(sb, "ro", o->landlock);
        add2(sb, "rw", "/dev");
        add2(sb, "rw", "/tmp");
        add2(sb, "rw", o->workspace);
        for (const char *const *r = o->rw; r && *r; r++)
            add2(sb, "rw", *r);
        add(sb, "--");
    }
    sb->rlimit_data = o->memory_mb > 0 ? o->memory_mb << 20 : 0;
    return 0;
}

void at_sandbox_release(struct at_sandbox *sb)
{
    for (size_t i = 0; i < sb->argc; i++)
        free(sb->argv[i]);
    free(sb->argv);
    if (sb->seccomp_fd >= 0)
        close(sb->seccomp_fd);
    memset(sb, 0, sizeof(*sb));
    sb->seccomp_fd = -1;
}

json_t *at_sandbox_health_json(int enabled)
{
    json_t *j = json_object();
    if (!enabled) {
        json_object_set_new(j, "sandbox", json_string("off"));
        json_object_set_new(j, "reason",
                            json_string("sandbox.mode is off: agents run as the daemon's user, "
                                        "in their own process tree (atlas-init) only"));
        return j;
    }
    char why[300];
    if (at_sandbox_probe(why, sizeof(why))) {
        json_object_set_new(j, "sandbox", json_string("unavailable"));
        json_object_set_new(j, "reason", json_string(why));
        json_object_set_new(j, "effect",
                            json_string("runs of sandboxed agents fail (fail closed)"));
        return j;
    }
    json_object_set_new(j, "sandbox", json_string("bubblewrap"));
    json_object_set_new(j, "bwrap", json_string(at_sandbox_bwrap()));
    json_object_set_new(j, "namespaces",
                        json_pack("[s,s,s,s,s,s,s]", "user", "mount", "pid", "ipc", "uts", "cgroup",
                                  "net (unless requires.network: egress)"));
    char sw[200];
    int fd = at__sandbox_seccomp_fd(sw, sizeof(sw));
    if (fd >= 0)
        close(fd);
    json_object_set_new(j, "seccomp", json_boolean(fd >= 0));
    json_object_set_new(j, "capabilities", json_string("none"));
    int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* the ABI version */);
    json_object_set_new(j, "landlock", abi > 0 ? json_pack("{s:i}", "abi", abi) : json_false());
    return j;
}
