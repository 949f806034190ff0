/*
 * proc.h - starting and stopping agent processes.
 *
 * at_proc_spawn is the one function that starts agent processes: the
 * sandbox (a later issue: bubblewrap, seccomp, Landlock) wraps it by
 * rewriting the spec's argv.  It uses posix_spawn (whose cost does not grow
 * with the daemon's memory, unlike fork), puts the child in its own process
 * group so a kill reaches its children too, resets signal dispositions and
 * mask, closes every other descriptor, and returns non-blocking pipes for
 * stdin, stdout and stderr plus a pidfd that becomes readable when the
 * child exits (so the event loop never blocks in waitpid).
 */
#ifndef AT_EXEC_PROC_H
#define AT_EXEC_PROC_H

#include <sys/types.h>

struct at_proc_spec {
    char *const *argv; /* argv[0] is searched in the spec's PATH when it has no '/' */
    char *const *envp; /* the complete environment */
    const char *cwd;   /* working directory, or NULL */
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

/* Send sig to the whole process group. */
void at_proc_kill(const struct at_proc *p, int sig);

/* Reap the child if it exited (non-blocking).  Returns 1 and *status
 * (exit code, or 128+signal) when reaped, 0 when still running. */
int at_proc_reap(struct at_proc *p, int *status);

/* Close every descriptor of p that is still open. */
void at_proc_close_fds(struct at_proc *p);

/* Resolve a program name against a PATH string; caller frees, NULL when
 * not found or not executable. */
char *at_proc_which(const char *prog, const char *path);

#endif
