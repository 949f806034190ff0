/*
 * sysfilter - run a command under a seccomp filter built like systemd's
 * SystemCallFilter= and RestrictAddressFamilies= (tests/e2e/t_units.sh).
 *
 *   sysfilter --allow FILE [--families AF_UNIX,AF_INET,...] [--errno EPERM] -- CMD ARGS
 *       allow-list: the syscalls named in FILE (one per line) are allowed,
 *       any other kills the process (SIGSYS), as systemd's filter does without
 *       SystemCallErrorNumber=, so a syscall the list lacks cannot go
 *       unnoticed; with --errno it fails with that error instead, as with
 *       SystemCallErrorNumber= (EPERM, EACCES or ENOSYS).  With --families,
 *       socket(2) is allowed only for those.
 *   sysfilter --deny NAME -- CMD ARGS
 *       deny one syscall with EPERM (the agent sandbox's own filter, nested)
 *
 * Like systemd it sets no_new_privs first (needed to load a filter without
 * CAP_SYS_ADMIN) and execs CMD.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int family(const char *s)
{
    static const struct {
        const char *name;
        int af;
    } t[] = {{"AF_UNIX", AF_UNIX},
             {"AF_INET", AF_INET},
             {"AF_INET6", AF_INET6},
             {"AF_NETLINK", AF_NETLINK},
             {"AF_PACKET", AF_PACKET}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(s, t[i].name) == 0)
            return t[i].af;
    return -1;
}

int main(int argc, char **argv)
{
    const char *allow = NULL, *deny = NULL, *families = NULL, *err = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc)
            allow = argv[++i];
        else if (strcmp(argv[i], "--deny") == 0 && i + 1 < argc)
            deny = argv[++i];
        else if (strcmp(argv[i], "--families") == 0 && i + 1 < argc)
            families = argv[++i];
        else if (strcmp(argv[i], "--errno") == 0 && i + 1 < argc)
            err = argv[++i];
        else
            goto usage;
    }
    if (i + 1 >= argc || (!allow == !deny))
        goto usage;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("sysfilter: PR_SET_NO_NEW_PRIVS");
        return 125;
    }
    uint32_t def = SCMP_ACT_KILL_PROCESS;
    if (err) {
        int e = !strcmp(err, "EPERM")    ? EPERM
                : !strcmp(err, "EACCES") ? EACCES
                : !strcmp(err, "ENOSYS") ? ENOSYS
                                         : 0;
        if (!e) {
            fprintf(stderr, "sysfilter: --errno %s: not EPERM, EACCES or ENOSYS\n", err);
            return 2;
        }
        def = SCMP_ACT_ERRNO((uint32_t)e);
    }
    scmp_filter_ctx ctx = seccomp_init(allow ? def : SCMP_ACT_ALLOW);
    if (!ctx)
        return 125;
    if (deny) {
        int nr = seccomp_syscall_resolve_name(deny);
        if (nr == __NR_SCMP_ERROR || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) != 0) {
            fprintf(stderr, "sysfilter: cannot deny %s\n", deny);
            return 125;
        }
    } else {
        FILE *f = fopen(allow, "r");
        if (!f) {
            perror(allow);
            return 125;
        }
        char line[128];
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (!line[0] || (families && strcmp(line, "socket") == 0))
                continue;
            int nr = seccomp_syscall_resolve_name(line);
            if (nr != __NR_SCMP_ERROR) /* names of other architectures */
                seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        }
        fclose(f);
        if (families) {
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", families);
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int af = family(t);
                if (af < 0 || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                               SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af)) != 0) {
                    fprintf(stderr, "sysfilter: family %s\n", t);
                    return 125;
                }
            }
        }
    }
    if (seccomp_load(ctx) != 0) {
        fprintf(stderr, "sysfilter: seccomp_load failed\n");
        return 125;
    }
    seccomp_release(ctx);
    execvp(argv[i + 1], argv + i + 1);
    fprintf(stderr, "sysfilter: %s: %s\n", argv[i + 1], strerror(errno));
    return 127;
usage:
    fprintf(stderr,
            "usage: sysfilter (--allow FILE [--families A,B] [--errno E] | --deny NAME) -- CMD\n");
    return 2;
}
