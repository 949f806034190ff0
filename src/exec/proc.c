#include "exec/proc.h"

#include "base/alloc.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

char *at_proc_which(const char *prog, const char *path)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0 ? at_strdup(prog) : NULL;
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) {
            char *cand = at_asprintf("%.*s/%s", (int)n, p, prog);
            if (access(cand, X_OK) == 0)
                return cand;
            free(cand);
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return NULL;
}

/* atlas-init (src/daemon/init/init.c): $ATLAS_INIT, beside the running
 * executable, one folder up (the tests' binaries live in build/tests), or
 * where this build wrote it. */
static char init_path[PATH_MAX];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int init_try(const char *cand)
{
    if (!cand || !*cand || strlen(cand) >= sizeof(init_path) || access(cand, X_OK) != 0)
        return 0;
    snprintf(init_path, sizeof(init_path), "%s", cand);
    return 1;
}

static void init_find(void)
{
    if (init_try(getenv("ATLAS_INIT")))
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            const char *rel[] = {"atlas-init", "../atlas-init"};
            for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                char *cand = at_asprintf("%s/%s", exe, rel[i]);
                int ok = init_try(cand);
                free(cand);
                if (ok)
                    return;
            }
        }
    }
#ifdef ATLAS_INIT_BUILT
    init_try(ATLAS_INIT_BUILT);
#endif
}

const char *at_proc_init_path(void)
{
    pthread_once(&init_once, init_find);
    return init_path[0] ? init_path : NULL;
}

static const char *env_get(char *const *envp, const char *key)
{
    size_t n = strlen(key);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

char *at_proc_resolve(const struct at_proc_spec *spec)
{
    char *prog = at_proc_which(spec->argv[0], env_get(spec->envp, "PATH"));
    if (!prog && spec->cwd && strchr(spec->argv[0], '/') && spec->argv[0][0] != '/') {
        /* "./agent" is relative to the agent's directory */
        char *cand = at_asprintf("%s/%s", spec->cwd, spec->argv[0]);
        if (access(cand, X_OK) == 0)
            prog = cand;
        else
            free(cand);
    }
    return prog;
}

int at_proc_spawn(const struct at_proc_spec *spec, struct at_proc *p, const char **err_msg)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    int rc = 0;
    char *prog = NULL;
    memset(p, 0, sizeof(*p));
    p->pidfd = p->in_fd = p->out_fd = p->err_fd = -1;
    *err_msg = "";

    prog = spec->program ? at_strdup(spec->program) : at_proc_resolve(spec);
    if (!prog) {
        *err_msg = "program not found or not executable";
        return AT_ENOENT;
    }
    const char *init = at_proc_init_path();
    if (!init) {
        *err_msg = "atlas-init not found (it is installed beside atlasd; or set ATLAS_INIT)";
        free(prog);
        return AT_ENOENT;
    }
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = at_err_from_errno(errno);
        *err_msg = "cannot create pipes";
        goto fail;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    if (spec->wrap && spec->fd3 >= 0) {
        posix_spawn_file_actions_adddup2(&fa, spec->fd3, 3);
        posix_spawn_file_actions_addclosefrom_np(&fa, 4);
    } else {
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    }
    if (spec->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, spec->cwd);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_USEVFORK);
    /* atlas-init PARENT_PID [--rlimit-data=N] [--pids=N] [--cpu-quota=N] PATH ARGV0 [ARG...],
     * where the sandbox's command line comes first when there is one (it
     * runs the agent's program by its path) */
    size_t argc = 0, nwrap = 0;
    while (spec->argv[argc])
        argc++;
    while (spec->wrap && spec->wrap[nwrap])
        nwrap++;
    char **argv = at_calloc(argc + nwrap + 8, sizeof(*argv));
    char parent[24], rl[48], pl[48], cl[48];
    snprintf(parent, sizeof(parent), "%d", (int)getpid());
    size_t k = 0;
    argv[k++] = (char *)"atlas-init";
    argv[k++] = parent;
    if (spec->wrap && spec->rlimit_data > 0) {
        snprintf(rl, sizeof(rl), "--rlimit-data=%lld", spec->rlimit_data);
        argv[k++] = rl;
    }
    if (spec->wrap && spec->pids > 0) {
        snprintf(pl, sizeof(pl), "--pids=%lld", spec->pids);
        argv[k++] = pl;
    }
    if (spec->wrap && spec->cpu_quota > 0) {
        snprintf(cl, sizeof(cl), "--cpu-quota=%lld", spec->cpu_quota);
        argv[k++] = cl;
    }
    if (nwrap) {
        argv[k++] = spec->wrap[0];
        for (size_t i = 0; i < nwrap; i++)
            argv[k++] = spec->wrap[i];
        argv[k++] = prog;
    } else {
        argv[k++] = prog;
        argv[k++] = spec->argv[0];
    }
    for (size_t i = 1; i < argc; i++)
        argv[k++] = spec->argv[i];
    int err = posix_spawn(&p->pid, init, &fa, &at, argv, spec->envp);
    free(argv);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (err) {
        rc = at_err_from_errno(err);
        *err_msg = err == ENOENT   ? "program or working directory not found"
                   : err == EACCES ? "permission denied"
                                   : "cannot start the process";
        goto fail;
    }
    close(in[0]);
    close(out[1]);
    close(errp[1]);
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = errp[0];
    fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
    p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    if (p->pidfd >= 0)
        fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
    free(prog);
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    free(prog);
    return rc;
}

void at_proc_kill(const struct at_proc *p, int sig)
{
    /* atlas-init forwards SIGTERM to the agent's group; SIGKILL cannot be
     * forwarded, so it is asked with SIGUSR1 to kill the whole tree */
    if (p->pid > 0)
        kill(p->pid, sig == SIGKILL ? SIGUSR1 : sig);
}

void at_proc_kill_hard(const struct at_proc *p)
{
    if (p->pid > 0) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
    }
}

int at_proc_reap(struct at_proc *p, int *status)
{
    if (p->pid <= 0)
        return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0)
        return 0;
    if (r < 0 && errno != ECHILD)
        return 0;
    if (status)
        *status = r < 0           ? -1
                  : WIFEXITED(st) ? WEXITSTATUS(st)
                                  : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    p->pid = 0;
    return 1;
}

void at_proc_close_fds(struct at_proc *p)
{
    int *fds[] = {&p->pidfd, &p->in_fd, &p->out_fd, &p->err_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    }
}
