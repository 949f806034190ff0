/*
 * atlas-init - the first process of every agent's process tree.
 *
 *   atlas-init PARENT_PID [--rlimit-data=BYTES] [--pids=N] [--cpu-quota=US] PATH ARGV0 [ARG...]
 *
 * atlasd starts each agent process through this small program (exec/proc.c)
 * so that nothing the agent starts outlives it, its job or the daemon:
 *
 * - it is a child subreaper (PR_SET_CHILD_SUBREAPER): descendants of the
 *   agent whose parent dies are re-parented here, even those that left the
 *   agent's process group or session (setsid, double fork);
 * - it asks for a signal when atlasd dies (PR_SET_PDEATHSIG), kill -9
 *   included, and checks PARENT_PID to close the race with that;
 * - it runs the agent (PATH, with ARGV0 as its argv[0]) in a process group
 *   of its own (so an agent that kills its group does not kill this
 *   process) and forwards SIGTERM, SIGINT, SIGHUP and SIGQUIT to that group;
 * - when the agent exits, when atlasd asks (SIGUSR1) or when atlasd dies
 *   (SIGUSR2, the parent-death signal), it kills every process left below it
 *   (SIGKILL to the group, then to each child until none is left: the killed
 *   ones' children come back here) and only then exits, with the agent's status
 *   (dying by the same signal when the agent died by one).  When this process
 *   exits, the whole tree is gone.
 *
 * It holds none of the agent's pipes (its own 0, 1 and 2 become /dev/null
 * once the agent is started), so the daemon still sees the agent close them.
 * With --rlimit-data, the agent (and the sandbox that runs it) gets that
 * RLIMIT_DATA: the memory it may allocate.  With --pids, the agent's tree
 * runs in a pids cgroup of its own (cgroup v2 below this process's own
 * cgroup, or the v1 pids hierarchy) whose pids.max is N; with --cpu-quota,
 * in a cpu cgroup that may use US microseconds of CPU per 100 ms (cpu.max,
 * or v1's cpu.cfs_quota_us).  When such a cgroup cannot be made, the agent
 * is not started (status 126, and why).
 * No dependency but libc: it starts on every cold start.
 *
 *   atlas-init --landlock [--relay PORT SOCKET]... [ro PATH | rw PATH]... -- PATH [ARG...]
 *
 * is the second fence of the sandbox (security/sandbox.c), run inside it by
 * bubblewrap just before the agent: it restricts itself with Landlock to
 * reading (and executing) below the ro paths and to everything below the
 * rw paths, then executes the agent.  A kernel without Landlock runs the
 * agent without it (the sandbox's health says which).
 *
 * With --relay, the agent reaches atlasd from a sandbox that has no network
 * but its own loopback: before the agent starts, 127.0.0.1:PORT listens in
 * the sandbox's network namespace, and a child process (which dies with the
 * agent) copies each connection to and from SOCKET, atlasd's agent socket
 * bound into the sandbox (a token is still needed for every request).
 */
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <dirent.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t agent_pid;
static char cg_dirs[3][600]; /* the cgroups made for the agent (v1: one per controller) */
static int n_cg;
#define CPU_PERIOD_US 100000

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Does the comma-separated list of a /proc/self/cgroup line name ctl? */
static int names_controller(const char *list, const char *ctl)
{
    size_t n = strlen(ctl);
    for (const char *p = list;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, ctl, n) == 0)
            return 1;
        if (!c)
            return 0;
        p = c + 1;
    }
}

/* Put the agent's tree under a cgroup of its own where controller ctl
 * applies a limit: in ctl's v1 hierarchy (file1 = value1 first, when given,
 * then v1_file = v1_value), or in cgroup v2 (the unified hierarchy, below
 * our own cgroup, where ctl is enabled for children; one directory for
 * every controller: v2_file = v2_value).  Returns 0 with the directory in
 * cg_dirs, or -1 with why. */
static int make_cgroup(const char *ctl, const char *file1, const char *value1, const char *v1_file,
                       const char *v1_value, const char *v2_file, const char *v2_value, char *why,
                       size_t n)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[512], v1[400] = "", v2[400] = "";
    int has_v1 = 0, has_v2 = 0;
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(v2, sizeof(v2), "%s", line + 3);
            has_v2 = 1;
        }
        char *c = strchr(line, ':');
        char *c2 = c ? strchr(c + 1, ':') : NULL;
        if (c && c2) {
            *c2 = '\0';
            if (names_controller(c + 1, ctl)) {
                snprintf(v1, sizeof(v1), "%s", c2 + 1);
                has_v1 = 1;
            }
        }
    }
    if (f)
        fclose(f);
    const char *tried = "no such controller in /proc/self/cgroup";
    int err = 0;
    for (int pass = 0; pass < 2; pass++) {
        char base[450], dir[600];
        if (pass == 0 && has_v1)
            snprintf(base, sizeof(base), "/sys/fs/cgroup/%s%s", ctl, strcmp(v1, "/") ? v1 : "");
        else if (pass == 1 && has_v2)
            snprintf(base, sizeof(base), "/sys/fs/cgroup%s%s",
                     access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "" : "/unified",
                     strcmp(v2, "/") ? v2 : "");
        else
            continue;
        snprintf(dir, sizeof(dir), "%s/atlas-agent-%d", base, (int)getpid());
        int known = 0;
        for (int i = 0; i < n_cg; i++)
            known |= strcmp(cg_dirs[i], dir) == 0;
        if (!known && mkdir(dir, 0755) != 0) {
            tried = "cannot create a cgroup";
            err = errno;
            continue;
        }
        int ok = pass == 0 ? (!file1 || write_file(dir, file1, value1) == 0) &&
                                 write_file(dir, v1_file, v1_value) == 0
                           : write_file(dir, v2_file, v2_value) == 0;
        if (ok) {
            if (!known && n_cg < (int)(sizeof(cg_dirs) / sizeof(cg_dirs[0])))
                snprintf(cg_dirs[n_cg++], sizeof(cg_dirs[0]), "%s", dir);
            return 0;
        }
        err = errno;
        tried = "the controller is not enabled for it";
        if (!known)
            rmdir(dir);
    }
    snprintf(why, n, "a %s cgroup atlasd may create (%s%s%s)", ctl, tried, err ? ": " : "",
             err ? strerror(err) : "");
    return -1;
}

/* Kill every direct child (and its group); the grandchildren of a killed
 * child are re-parented here and found by the next round.  Returns the
 * number of children signalled. */
static int kill_children(void)
{
    pid_t self = getpid();
    int n = 0;
    char path[64];
    /* /proc/self/task/TID/children lists the children started by this
     * (single) thread; re-parented orphans count too */
    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)self);
    FILE *f = fopen(path, "re");
    if (f) {
        char num[24];
        size_t len = 0;
        for (int ch = fgetc(f);; ch = fgetc(f)) {
            if (ch >= '0' && ch <= '9' && len + 1 < sizeof(num)) {
                num[len++] = (char)ch;
                continue;
            }
            if (len > 0) {
                num[len] = '\0';
                int pid = (int)strtol(num, NULL, 10);
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                n++;
                len = 0;
            }
            if (ch == EOF)
                break;
        }
        fclose(f);
        return n;
    }
    /* no CONFIG_PROC_CHILDREN: scan /proc for processes whose parent is us */
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char sp[300], buf[512];
        snprintf(sp, sizeof(sp), "/proc/%s/stat", de->d_name);
        int fd = open(sp, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        /* "PID (NAME) STATE PPID ...": the name may hold spaces and parentheses */
        char *rp = strrchr(buf, ')');
        if (!rp || strlen(rp) < 5)
            continue;
        long ppid = strtol(rp + 4, NULL, 10);
        if (ppid == (long)self) {
            int pid = (int)strtol(de->d_name, NULL, 10);
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Reap what has exited; remember the agent's status.  Returns -1 when no child
 * is left. */
static int reap(int *agent_status, int *agent_done, int block)
{
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, block ? 0 : WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (r == agent_pid && !*agent_done) {
            *agent_status = st;
            *agent_done = 1;
        }
        block = 0;
    }
}

/* Kill the whole tree below this process and wait until it is gone. */
static void kill_tree(int *agent_status, int *agent_done)
{
    if (agent_pid > 0)
        kill(-agent_pid, SIGKILL);
    for (;;) {
        kill_children();
        if (reap(agent_status, agent_done, 1) < 0)
            return;
    }
}

static void exit_like(int st)
{
    for (int i = 0; i < n_cg; i++)
        rmdir(cg_dirs[i]); /* empty now: the tree is gone */
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(sig, SIG_DFL);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, sig);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        raise(sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

/* ---- the Landlock fence (--landlock) ---- */

#define LL_TRUNCATE (1ULL << 14)
#define LL_IOCTL_DEV (1ULL << 15)

/* ---- the platform relay (--relay) ---- */

#define RELAY_MAX 64    /* connections at once */
#define RELAY_BUF 65536 /* bytes in flight per direction */

struct half {
    char buf[RELAY_BUF];
    size_t len, off;
    int eof; /* the reading side closed: shut the writing side once drained */
};

struct pair {
    int fd[2];        /* 0: the agent's connection, 1: atlasd's socket */
    struct half h[2]; /* h[k]: read from fd[k], written to fd[1 - k] */
};

static int relay_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int relay_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void pair_close(struct pair *p)
{
    close(p->fd[0]);
    close(p->fd[1]);
    p->fd[0] = p->fd[1] = -1;
}

/* Move what can move on one pair; 1 when the pair is finished. */
static int pair_step(struct pair *p, const short *rev)
{
    for (int k = 0; k < 2; k++) {
        struct half *h = &p->h[k];
        int in = p->fd[k], out = p->fd[1 - k];
        if (!h->eof && h->len == 0 && (rev[k] & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(in, h->buf, sizeof(h->buf));
            if (n > 0) {
                h->len = (size_t)n;
                h->off = 0;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                h->eof = 1;
            }
        }
        while (h->len > h->off) {
            ssize_t n = write(out, h->buf + h->off, h->len - h->off);
            if (n > 0) {
                h->off += (size_t)n;
            } else {
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                    return 1; /* the other side is gone */
                break;
            }
        }
        if (h->off == h->len)
            h->len = h->off = 0;
        if (h->eof && h->len == 0 && h->eof != 2) {
            shutdown(out, SHUT_WR);
            h->eof = 2;
        }
    }
    return p->h[0].eof == 2 && p->h[1].eof == 2;
}

static void relay_run(int lfd, const char *path)
{
    static struct pair pairs[RELAY_MAX];
    for (int i = 0; i < RELAY_MAX; i++)
        pairs[i].fd[0] = pairs[i].fd[1] = -1;
    for (;;) {
        struct pollfd pf[1 + 2 * RELAY_MAX];
        int map[1 + 2 * RELAY_MAX];
        int n = 0, used = 0;
        pf[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
        map[n++] = -1;
        for (int i = 0; i < RELAY_MAX; i++) {
            struct pair *p = &pairs[i];
            if (p->fd[0] < 0)
                continue;
            used++;
            for (int k = 0; k < 2; k++) {
                short ev = 0;
                if (!p->h[k].eof && p->h[k].len == 0)
                    ev |= POLLIN;
                if (p->h[1 - k].len > p->h[1 - k].off)
                    ev |= POLLOUT;
                pf[n] = (struct pollfd){.fd = p->fd[k], .events = ev};
                map[n++] = i * 2 + k;
            }
        }
        if (used == RELAY_MAX)
            pf[0].events = 0; /* full: new connections wait in the backlog */
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (pf[0].revents & POLLIN) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            int u = c >= 0 ? relay_connect(path) : -1;
            int slot = -1;
            for (int i = 0; i < RELAY_MAX && slot < 0; i++)
                if (pairs[i].fd[0] < 0)
                    slot = i;
            if (c >= 0 && u >= 0 && slot >= 0) {
                memset(&pairs[slot], 0, sizeof(pairs[slot]));
                pairs[slot].fd[0] = c;
                pairs[slot].fd[1] = u;
            } else {
                if (c >= 0)
                    close(c);
                if (u >= 0)
                    close(u);
            }
        }
        short rev[RELAY_MAX][2];
        memset(rev, 0, sizeof(rev));
        for (int j = 1; j < n; j++)
            rev[map[j] / 2][map[j] % 2] = pf[j].revents;
        for (int i = 0; i < RELAY_MAX; i++)
            if (pairs[i].fd[0] >= 0 && (rev[i][0] || rev[i][1]) && pair_step(&pairs[i], rev[i]))
                pair_close(&pairs[i]);
    }
}

/* Listen on 127.0.0.1:port now (so the agent finds it from its first
 * instruction) and relay from a child that dies with this process's
 * successor, the agent.  0, or -1 with the reason on stderr. */
static int relay_start(const char *port_s, const char *path)
{
    int port = (int)strtol(port_s, NULL, 10);
    int lfd = port > 0 && port < 65536 ? relay_listen(port) : -1;
    if (lfd < 0) {
        fprintf(stderr, "atlas-init: cannot listen on 127.0.0.1:%s (relay to %s): %s\n", port_s,
                path, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "atlas-init: fork: %s\n", strerror(errno));
        close(lfd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the agent is this process after exec */
        signal(SIGPIPE, SIG_IGN);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) { /* none of the agent's pipes: the daemon sees them close */
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        if (getppid() == 1)
            _exit(0);
        if (lfd > 3)
            close_range(3, (unsigned)lfd - 1, 0);
        close_range((unsigned)lfd + 1, ~0U, 0);
        relay_run(lfd, path);
        _exit(0);
    }
    close(lfd);
    return 0;
}

static int landlock_main(int argc, char **argv)
{
    int i = 2;
    while (i + 2 < argc && strcmp(argv[i], "--relay") == 0) {
        if (relay_start(argv[i + 1], argv[i + 2]) != 0)
            return 126;
        i += 3;
    }
    int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    unsigned long long all = (1ULL << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
    if (abi >= 2)
        all |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        all |= LL_TRUNCATE;
    if (abi >= 5)
        all |= LL_IOCTL_DEV;
    const unsigned long long ro =
        LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    int rs = -1;
    if (abi >= 1) {
        struct landlock_ruleset_attr attr = {.handled_access_fs = all};
        rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (rs < 0) {
            fprintf(stderr, "atlas-init: landlock: %s\n", strerror(errno));
            return 126;
        }
    }
    for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (rs < 0)
            continue;
        int fd = open(argv[i + 1], O_PATH | O_CLOEXEC);
        if (fd < 0)
            continue; /* not in this sandbox: nothing to allow */
        struct stat st;
        unsigned long long want = strcmp(argv[i], "rw") == 0 ? all : ro;
        if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
            want &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
                    LANDLOCK_ACCESS_FS_WRITE_FILE | LL_TRUNCATE | LL_IOCTL_DEV;
        want &= all;
        struct landlock_path_beneath_attr pb = {.allowed_access = want, .parent_fd = fd};
        if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
            fprintf(stderr, "atlas-init: landlock rule for %s: %s\n", argv[i + 1], strerror(errno));
            return 126;
        }
        close(fd);
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fprintf(stderr, "usage: atlas-init --landlock [ro PATH | rw PATH]... -- PATH [ARG...]\n");
        return 2;
    }
    if (rs >= 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
            fprintf(stderr, "atlas-init: landlock: %s\n", strerror(errno));
            return 126;
        }
        close(rs);
    }
    execv(argv[i + 1], argv + i + 1);
    fprintf(stderr, "atlas-init: cannot run %s: %s\n", argv[i + 1], strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--landlock") == 0)
        return landlock_main(argc, argv);
    if (argc < 4) {
        fprintf(stderr, "usage: atlas-init PARENT_PID PATH ARGV0 [ARG...]\n"
                        "(started by atlasd for each agent process; not for direct use)\n");
        return 2;
    }
    pid_t parent = (pid_t)strtol(argv[1], NULL, 10);
    int first = 2; /* PATH */
    long long data_limit = 0, pids = 0, cpu_quota = 0;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        if (strncmp(argv[first], "--rlimit-data=", 14) == 0)
            data_limit = strtoll(argv[first] + 14, NULL, 10);
        else if (strncmp(argv[first], "--pids=", 7) == 0)
            pids = strtoll(argv[first] + 7, NULL, 10);
        else if (strncmp(argv[first], "--cpu-quota=", 12) == 0)
            cpu_quota = strtoll(argv[first] + 12, NULL, 10);
    }
    if (argc < first + 2)
        return 2;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 || prctl(PR_SET_PDEATHSIG, SIGUSR2) != 0) {
        fprintf(stderr, "atlas-init: prctl: %s\n", strerror(errno));
        return 126;
    }
    if (getppid() != parent) /* atlasd died before the parent-death signal was set */
        return 125;

    char why[700], num[48];
    if (pids > 0) {
        snprintf(num, sizeof(num), "%lld", pids);
        if (make_cgroup("pids", NULL, NULL, "pids.max", num, "pids.max", num, why, sizeof(why)) !=
            0) {
            fprintf(stderr, "atlas-init: limits.pids needs %s\n", why);
            return 126;
        }
    }
    if (cpu_quota > 0) {
        char v2[64], period[24];
        snprintf(num, sizeof(num), "%lld", cpu_quota);
        snprintf(period, sizeof(period), "%d", CPU_PERIOD_US);
        snprintf(v2, sizeof(v2), "%lld %d", cpu_quota, CPU_PERIOD_US);
        if (make_cgroup("cpu", "cpu.cfs_period_us", period, "cpu.cfs_quota_us", num, "cpu.max", v2,
                        why, sizeof(why)) != 0) {
            fprintf(stderr, "atlas-init: limits.cpu needs %s\n", why);
            return 126;
        }
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "atlas-init: fork: %s\n", strerror(errno));
        return 126;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* should this process be killed first */
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        char me[24];
        snprintf(me, sizeof(me), "%d", (int)getpid());
        for (int i = 0; i < n_cg; i++) {
            if (write_file(cg_dirs[i], "cgroup.procs", me) != 0) {
                fprintf(stderr, "atlas-init: cannot enter the cgroup %s: %s\n", cg_dirs[i],
                        strerror(errno));
                _exit(126);
            }
        }
        if (data_limit > 0) {
            struct rlimit rl = {(rlim_t)data_limit, (rlim_t)data_limit};
            if (setrlimit(RLIMIT_DATA, &rl) != 0) {
                fprintf(stderr, "atlas-init: cannot limit memory: %s\n", strerror(errno));
                _exit(126);
            }
        }
        execv(argv[first], argv + first + 1);
        fprintf(stderr, "atlas-init: cannot run %s: %s\n", argv[first], strerror(errno));
        _exit(127);
    }
    agent_pid = pid;
    setpgid(pid, pid);
    close_range(3, ~0U, 0); /* the sandbox's filter went to the child */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }

    int agent_status = 0, agent_done = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        switch (sig) {
        case SIGCHLD:
            reap(&agent_status, &agent_done, 0);
            if (agent_done) {
                kill_tree(&agent_status, &agent_done);
                exit_like(agent_status);
            }
            break;
        case SIGTERM:
        case SIGINT:
        case SIGHUP:
        case SIGQUIT:
            kill(-agent_pid, sig);
            break;
        case SIGUSR1: /* atlasd: kill it all now */
        case SIGUSR2: /* atlasd died */
            kill_tree(&agent_status, &agent_done);
            exit_like(W_EXITCODE(0, SIGKILL));
            break;
        default:
            break;
        }
    }
}
