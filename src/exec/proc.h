/*
 * proc.h - starting and stopping agent processes.
 *
 * at_proc_spawn is the one function that starts agent processes.  It uses
 * posix_spawn (whose cost does not grow with the daemon's memory, unlike
 * fork) to start atlas-init (src/daemon/init/init.c), which starts the agent
 * in a process group of its own and kills every process below it when the
 * agent exits, when asked, or when atlasd dies (kill -9 included): the
 * process the daemon sees (pid, pidfd) is atlas-init, and its exit means the
 * whole tree is gone.  Signal dispositions and mask are reset, every other
 * descriptor is closed, and it returns non-blocking pipes for stdin, stdout
 * and stderr plus a pidfd that becomes readable when the tree is gone (so
 * the event loop never blocks in waitpid).
 */
#ifndef AT_EXEC_PROC_H
#define AT_EXEC_PROC_H

#include <sys/types.h>

struct at_proc_spec {
    char *const *argv; /* argv[0] is searched in the spec's PATH when it has no '/' */
    char *const *envp; /* the complete environment */
    const char *cwd;   /* working directory, or NULL */
    /* the sandbox (security/sandbox.h), or all zero: wrap is its command
     * line ("bwrap" ... "--"), which runs the agent's program; fd3 (or -1)
     * becomes descriptor 3 of it; rlimit_data (bytes, 0: none) is set for it;
     * pids bounds its processes */
    char *const *wrap;
    const char *program; /* the program, resolved by the sandbox's PATH (or NULL) */
    int fd3;
    long long rlimit_data;
    long long pids;      /* pids.max of a cgroup of its own (atlas-init --pids), 0: none */
    long long cpu_quota; /* CPU microseconds per 100 ms (atlas-init --cpu-quota), 0: none */
};

struct at_proc {
    pid_t pid;
    int pidfd;  /* readable when the process exits; -1 if unsupported */
    int in_fd;  /* write end of the child's stdin (non-blocking) */
    int out_fd; /* read end of the child's stdout (non-blocking) */
    int err_fd; /* read end of the child's stderr (non-blocking) */
};

/* Start a process.  Returns 0 or AT_ENOENT (program not found), AT_EPERM,
 * AT_EIO; *err_msg (static text) says what failed. */
int at_proc_spawn(const struct at_proc_spec *spec, struct at_proc *p, const char **err_msg);

/* Signal the agent: SIGTERM (and SIGINT, SIGHUP, SIGQUIT) reach the agent's
 * process group; SIGKILL kills every process of the tree, and atlas-init then
 * exits as killed by SIGKILL. */
void at_proc_kill(const struct at_proc *p, int sig);

/* SIGKILL to atlas-init itself and its group: the fallback when it did not
 * exit after at_proc_kill(p, SIGKILL) (it was stopped, say). */
void at_proc_kill_hard(const struct at_proc *p);

/* The atlas-init program in use (static storage), or NULL when none was
 * found ($ATLAS_INIT, beside the executable, or one folder up).
 * Thread-safe. */
const char *at_proc_init_path(void);

/* Reap the child if it exited (non-blocking).  Returns 1 and *status
 * (exit code, or 128+signal) when reaped, 0 when still running. */
int at_proc_reap(struct at_proc *p, int *status);

/* Close every descriptor of p that is still open. */
void at_proc_close_fds(struct at_proc *p);

/* The program spec would start: argv[0] in the spec's PATH, or relative to
 * its cwd ("./agent").  Caller frees; NULL when not found. */
char *at_proc_resolve(const struct at_proc_spec *spec);

/* Resolve a program name against a PATH string; caller frees, NULL when
 * not found or not executable. */
char *at_proc_which(const char *prog, const char *path);

#endif
