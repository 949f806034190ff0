#include "exec/proc.h"

#include "base/alloc.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

static const char *env_get(char *const *envp, const char *key)
{
    size_t n = strlen(key);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

int at_proc_spawn(const struct at_proc_spec *spec, struct at_proc *p, const char **err_msg)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    int rc = 0;
    char *prog = NULL;
    memset(p, 0, sizeof(*p));
    p->pidfd = p->in_fd = p->out_fd = p->err_fd = -1;
    *err_msg = "";

    prog = at_proc_which(spec->argv[0], env_get(spec->envp, "PATH"));
    if (!prog && spec->cwd && strchr(spec->argv[0], '/') && spec->argv[0][0] != '/') {
        /* "./agent" is relative to the agent's directory */
        char *cand = at_asprintf("%s/%s", spec->cwd, spec->argv[0]);
        if (access(cand, X_OK) == 0)
            prog = cand;
        else
            free(cand);
    }
    if (!prog) {
        *err_msg = "program not found or not executable";
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
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
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
    int err = posix_spawn(&p->pid, prog, &fa, &at, spec->argv, spec->envp);
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
    if (p->pid > 0) {
        if (kill(-p->pid, sig) < 0)
            kill(p->pid, sig);
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
