/*
 * bench/sandbox/cold.c - the cold start the agent sandbox adds, measured
 * through the daemon's own code (docs/performance.md "Agent cold start"):
 * at_sandbox_build makes the command line and seccomp filter atlasd makes
 * for an agent with requires.network: none (a snapshot folder, the
 * Landlock fence of atlas-init), and at_proc_spawn starts it, as
 * exec/worker.c does.  The agent is /bin/true; each start is timed from
 * the spawn until the process is reaped.
 *
 *   bench_sandbox_cold [N]
 *
 * The ways are run round-robin (one of each per round), so that the load
 * of a shared machine falls on all of them alike; p10 and p50 of the wall
 * time in ms, and the p50 of the CPU time the start's processes used
 * (atlas-init reaps every process below it, so its rusage holds them all):
 * on a loaded machine the wall time is mostly waiting for a CPU, and the
 * CPU time is the steadier figure.
 */
#include "base/fs.h"
#include "exec/proc.h"
#include "security/sandbox.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double cpu_ms(const struct rusage *ru)
{
    return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e3 +
           (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e3;
}

/* One start: 0, or -1 (it failed: printed); its wall and CPU time. */
static int once(const struct at_proc_spec *spec, double *ms, double *cpu)
{
    struct at_proc p;
    const char *err = "";
    double t = now_ms();
    if (at_proc_spawn(spec, &p, &err) != 0) {
        fprintf(stderr, "spawn: %s\n", err);
        return -1;
    }
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    while (wait4(p.pid, &st, 0, &ru) < 0 && errno == EINTR)
        ;
    *ms = now_ms() - t;
    *cpu = cpu_ms(&ru);
    char buf[512];
    ssize_t n = read(p.err_fd, buf, sizeof(buf) - 1);
    at_proc_close_fds(&p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        buf[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "the agent failed (status %d): %s\n", st, buf);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 100;
    if (n < 1 || n > 100000)
        n = 100;
    char why[300];
    if (at_sandbox_probe(why, sizeof(why)) != 0) {
        fprintf(stderr, "bench_sandbox_cold: no sandbox here (%s): skipped\n", why);
        return 0;
    }
    char *prefix = at_fs_join(at_fs_tmpdir(), "atlas-bench-agent.");
    char *dir = at_fs_mkdtemp(prefix);
    free(prefix);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    char *const true_argv[] = {(char *)"true", NULL};
    struct at_sandbox_opts o = {
        .agent_dir = dir,
        .program = "/bin/true",
        .net = AT_SANDBOX_NET_NONE,
        .workspace_mb = 256,
        .workspace = "/workspace",
        .landlock = at_proc_init_path(),
    };
    struct {
        const char *name;
        int sandbox;
        int landlock;
        double *xs, *cs;
    } ways[] = {{"atlas-init (no sandbox)", 0, 0, NULL, NULL},
                {"sandbox without Landlock", 1, 0, NULL, NULL},
                {"sandbox as atlasd starts it", 1, 1, NULL, NULL}};
    size_t nw = sizeof(ways) / sizeof(ways[0]);
    for (size_t k = 0; k < nw; k++) {
        ways[k].xs = calloc((size_t)n, sizeof(double));
        ways[k].cs = calloc((size_t)n, sizeof(double));
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        for (size_t k = 0; k < nw && rc == 0; k++) {
            struct at_sandbox sb = {.seccomp_fd = -1};
            struct at_proc_spec spec = {.argv = true_argv, .envp = environ, .fd3 = -1};
            if (ways[k].sandbox) {
                o.landlock = ways[k].landlock ? at_proc_init_path() : NULL;
                if (at_sandbox_build(&o, &sb, why, sizeof(why)) != 0) {
                    fprintf(stderr, "at_sandbox_build: %s\n", why);
                    rc = 1;
                    break;
                }
                if (i == 0 && getenv("BENCH_ARGV")) /* the command line, to compare by hand */
                    for (size_t a = 0; a < sb.argc; a++)
                        fprintf(stderr, "%s%s", sb.argv[a], a + 1 < sb.argc ? " " : "\n");
                spec.wrap = sb.argv;
                spec.program = "/bin/true";
                spec.fd3 = sb.seccomp_fd;
            }
            rc = once(&spec, &ways[k].xs[i], &ways[k].cs[i]) ? 1 : 0;
            at_sandbox_release(&sb);
        }
    }
    rmdir(dir);
    free(dir);
    double base = 0, cbase = 0;
    for (size_t k = 0; k < nw && rc == 0; k++) {
        qsort(ways[k].xs, (size_t)n, sizeof(double), cmp);
        qsort(ways[k].cs, (size_t)n, sizeof(double), cmp);
        double p50 = ways[k].xs[n / 2], p10 = ways[k].xs[n / 10], c50 = ways[k].cs[n / 2];
        if (k == 0) {
            base = p50;
            cbase = c50;
        }
        printf("%-28s wall p10 %6.2f  p50 %6.2f  added p50 %6.2f ms | cpu p50 %5.2f  added %5.2f "
               "ms\n",
               ways[k].name, p10, p50, p50 - base, c50, c50 - cbase);
    }
    for (size_t k = 0; k < nw; k++) {
        free(ways[k].xs);
        free(ways[k].cs);
    }
    return rc;
}
