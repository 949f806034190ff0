/*
 * sandbox_seccomp.c - the seccomp filter of the agent sandbox (libseccomp).
 *
 * Everything is allowed except what an agent never needs and what turns a
 * sandboxed process into an attacker of the kernel or of its neighbours:
 * debugging other processes, mounting, loading kernels, modules and BPF,
 * the kernel keyring, new namespaces, performance counters, userfaultfd,
 * io_uring, handles that bypass paths, the clock, and pushing input into a
 * terminal (TIOCSTI).  A denied call fails with EPERM; clone3 fails with
 * ENOSYS so that the C library falls back to clone, whose flags can be
 * checked (no CLONE_NEWUSER and friends).  The program is built once and
 * handed to bubblewrap (--seccomp FD) in a fresh pipe for each process.
 */
#include "base/err.h"
#include "security/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const denied[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    "syslog",
    "acct",
    "quotactl",
    "lookup_dcookie",
    "setns",
    "unshare",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "nfsservctl",
    "uselib",
    "vhangup",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
};

static unsigned char *prog;
static size_t prog_len;
static char prog_err[200];
static pthread_once_t prog_once = PTHREAD_ONCE_INIT;

static void build(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(prog_err, sizeof(prog_err), "seccomp_init failed");
        return;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]) && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* clone with a namespace flag (one rule per flag: rules are or-ed) */
    const unsigned long long ns[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,   CLONE_NEWNET,
                                     CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]) && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns[i], ns[i]));
    int nr3 = seccomp_syscall_resolve_name("clone3");
    if (rc == 0 && nr3 != __NR_SCMP_ERROR)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr3, 0);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
    int fd = rc == 0 ? memfd_create("atlas-seccomp", MFD_CLOEXEC) : -1;
    if (rc == 0 && fd >= 0 && seccomp_export_bpf(ctx, fd) == 0) {
        off_t len = lseek(fd, 0, SEEK_END);
        if (len > 0 && len < 65536) {
            prog = malloc((size_t)len);
            if (prog && pread(fd, prog, (size_t)len, 0) == len)
                prog_len = (size_t)len;
        }
    }
    if (!prog_len)
        snprintf(prog_err, sizeof(prog_err), "cannot build the seccomp filter (libseccomp: %s)",
                 rc ? strerror(-rc) : "export failed");
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
}

int at__sandbox_seccomp_fd(char *why, size_t n)
{
    pthread_once(&prog_once, build);
    if (!prog_len) {
        snprintf(why, n, "%s", prog_err);
        return AT_EUNAVAIL;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(why, n, "cannot create a pipe for the seccomp filter: %s", strerror(errno));
        return at_err_from_errno(errno);
    }
    /* the program (a few hundred bytes) fits the pipe's buffer */
    ssize_t w = write(p[1], prog, prog_len);
    close(p[1]);
    if (w != (ssize_t)prog_len) {
        close(p[0]);
        snprintf(why, n, "cannot write the seccomp filter");
        return AT_EIO;
    }
    return p[0];
}
