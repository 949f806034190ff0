#include "dist/scan.h"

#include "base/alloc.h"

#include <dirent.h>
#include <stdarg.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_MAX_ENTRIES 200000
#define SCAN_MAX_FOUND 50 /* foreign executables listed; the rest counted */

static void add(json_t *f, const char *sev, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(json_t *f, const char *sev, const char *rule, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(f,
                          json_pack("{s:s,s:s,s:s}", "severity", sev, "rule", rule, "detail", msg));
}

int at_dist_elf_machine(const unsigned char *b, size_t len)
{
    if (len < 20 || memcmp(b, ELFMAG, SELFMAG) != 0)
        return -1;
    if (b[EI_DATA] == ELFDATA2MSB)
        return (b[18] << 8) | b[19];
    return b[18] | (b[19] << 8);
}

int at_dist_elf_host(void)
{
#if defined(__x86_64__)
    return EM_X86_64;
#elif defined(__aarch64__)
    return EM_AARCH64;
#elif defined(__i386__)
    return EM_386;
#elif defined(__arm__)
    return EM_ARM;
#elif defined(__riscv)
    return EM_RISCV;
#elif defined(__powerpc64__)
    return EM_PPC64;
#elif defined(__s390x__)
    return EM_S390;
#else
    return -1;
#endif
}

static const char *machine_name(int m)
{
    switch (m) {
    case EM_X86_64:
        return "x86-64";
    case EM_AARCH64:
        return "aarch64";
    case EM_386:
        return "i386";
    case EM_ARM:
        return "arm";
    case EM_RISCV:
        return "riscv";
    case EM_PPC64:
        return "ppc64";
    case EM_S390:
        return "s390";
    default:
        return "other";
    }
}

struct walk {
    json_t *findings;
    int host;
    size_t entries, foreign;
};

/* Every regular file under dir/rel (not through links). */
static void walk(struct walk *w, int dfd, const char *rel)
{
    DIR *dp = fdopendir(dfd);
    if (!dp) {
        close(dfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dp)) && w->entries < SCAN_MAX_ENTRIES) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        w->entries++;
        struct stat st;
        if (fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        char *path = *rel ? at_asprintf("%s/%s", rel, e->d_name) : at_strdup(e->d_name);
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(dp), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                walk(w, sub, path);
        } else if (S_ISREG(st.st_mode) && st.st_size >= 20) {
            int fd = openat(dirfd(dp), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            unsigned char hdr[20];
            if (fd >= 0 && read(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr)) {
                int m = at_dist_elf_machine(hdr, sizeof(hdr));
                if (m >= 0 && w->host >= 0 && m != w->host) {
                    if (w->foreign++ < SCAN_MAX_FOUND)
                        add(w->findings, "error", "foreign-executable",
                            "%s is an ELF executable for %s (machine %d), not this machine's %s",
                            path, machine_name(m), m, machine_name(w->host));
                }
            }
            if (fd >= 0)
                close(fd);
        }
        free(path);
    }
    closedir(dp);
}

/* an entrypoint word that names a file: it must stay in the snapshot */
static void check_entrypoint(json_t *f, const char *dir, const json_t *ep)
{
    size_t i;
    json_t *v;
    json_array_foreach(ep, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (i == 0 && !strchr(s, '/'))
            continue; /* a program found on PATH (python3, node) */
        if (s[0] == '/') {
            /* the program itself may be the system's interpreter */
            if (i == 0 && (!strncmp(s, "/usr/", 5) || !strncmp(s, "/bin/", 5)))
                continue;
            if (i > 0 && s[0] == '/')
                add(f, "error", "entrypoint-outside", "entrypoint[%zu] %s is outside the snapshot",
                    i, s);
            else
                add(f, "error", "entrypoint-outside",
                    "entrypoint[0] %s is a program outside the snapshot", s);
            continue;
        }
        if (!strcmp(s, "..") || !strncmp(s, "../", 3) || strstr(s, "/../") ||
            (strlen(s) >= 3 && !strcmp(s + strlen(s) - 3, "/.."))) {
            add(f, "error", "entrypoint-outside", "entrypoint[%zu] %s climbs out of the snapshot",
                i, s);
            continue;
        }
        if (i == 0 && dir) {
            char *p = at_asprintf("%s/%s", dir, s);
            struct stat st;
            if (lstat(p, &st) || !S_ISREG(st.st_mode))
                add(f, "error", "entrypoint-outside",
                    "entrypoint[0] %s is not a regular file in the snapshot", s);
            free(p);
        }
    }
}

json_t *at_dist_scan(const char *dir, const json_t *c)
{
    json_t *f = json_array();
    const json_t *req = json_object_get(c, "requires");
    const char *net = json_string_value(json_object_get(req, "network"));
    const json_t *egress = json_object_get(req, "egress");
    if (net && !strcmp(net, "egress")) {
        if (json_array_size(egress))
            add(f, "info", "network",
                "the sandbox grants host network access to %zu allowed "
                "HOST:PORT%s (requires.egress)",
                json_array_size(egress), json_array_size(egress) == 1 ? "" : "s");
        else
            add(f, "warning", "network",
                "the sandbox grants unrestricted host network access (requires.network: egress "
                "without requires.egress)");
    } else if (net && !strcmp(net, "platform")) {
        add(f, "info", "network",
            "the sandbox grants access to this atlasd's API only "
            "(requires.network: platform)");
    }
    const json_t *secrets = json_object_get(req, "secrets");
    if (json_array_size(secrets)) {
        char names[300] = "";
        size_t i, n = 0;
        json_t *v;
        json_array_foreach(secrets, i, v)
        {
            int w = snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                             json_string_value(v) ? json_string_value(v) : "?");
            if (w < 0 || (size_t)w >= sizeof(names) - n)
                break;
            n += (size_t)w;
        }
        add(f, "warning", "secrets", "the process is handed secret%s %s (requires.secrets)",
            json_array_size(secrets) == 1 ? "" : "s", names);
    }
    if (json_is_true(json_object_get(req, "platform_tools")))
        add(f, "warning", "platform-tools",
            "the agent may call this atlasd's tools with the job's token "
            "(requires.platform_tools)");
    if (json_is_true(json_object_get(req, "spawn_agents")))
        add(f, "warning", "spawning", "the agent may start other agents (requires.spawn_agents)");
    const json_t *hw = json_object_get(c, "hardware");
    if (json_is_true(json_object_get(hw, "gpu")))
        add(f, "warning", "devices", "the sandbox grants the GPU devices (hardware.gpu)");
    if (json_array_size(json_object_get(hw, "device_access")))
        add(f, "warning", "devices",
            "the sandbox grants %zu device path%s (hardware.device_access)",
            json_array_size(json_object_get(hw, "device_access")),
            json_array_size(json_object_get(hw, "device_access")) == 1 ? "" : "s");
    const json_t *ep = json_object_get(c, "entrypoint");
    if (json_is_array(ep))
        check_entrypoint(f, dir, ep);
    if (dir) {
        struct walk w = {.findings = f, .host = at_dist_elf_host()};
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            walk(&w, fd, "");
        if (w.foreign > SCAN_MAX_FOUND)
            add(f, "error", "foreign-executable", "%zu more executables for another architecture",
                w.foreign - SCAN_MAX_FOUND);
    }
    const char *status = "passed";
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v)
    {
        const char *sev = json_string_value(json_object_get(v, "severity"));
        if (!strcmp(sev, "error"))
            status = "failed";
        else if (!strcmp(sev, "warning") && strcmp(status, "failed") != 0)
            status = "warnings";
    }
    return json_pack("{s:s,s:o}", "scan_status", status, "findings", f);
}
