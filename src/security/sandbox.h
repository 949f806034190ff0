/*
 * sandbox.h - the OS sandbox an agent process starts in (docs/security.md,
 * "The agent sandbox").
 *
 * The sandbox is bubblewrap (Debian's `bubblewrap`): new user, mount, PID,
 * IPC, UTS and cgroup namespaces, and a network namespace unless the
 * contract declares `requires.network: egress`; a file system made of
 * read-only binds of /usr (and the merged-/usr links), a few files of /etc,
 * the agent's snapshot and the runtime it needs (the SDK, its program), a
 * private tmpfs workspace and /tmp, bwrap's minimal /dev plus the contract's
 * `hardware.device_access` paths, its own /proc; every capability dropped and
 * no further user namespaces; a seccomp filter (libseccomp) denying what an
 * agent never needs (sandbox_seccomp.c); and, as a second fence inside,
 * Landlock rules (atlas-init --landlock) allowing reads below the read-only
 * paths and writes below the workspace, /tmp and /dev only.  Limits on memory come as
 * rlimits, applied by atlas-init before bwrap starts.
 *
 * at_sandbox_build only builds the command line and the filter: exec/proc.c
 * starts it.  Thread-safe (the probe is done once).
 */
#ifndef AT_SECURITY_SANDBOX_H
#define AT_SECURITY_SANDBOX_H

#include <jansson.h>
#include <stddef.h>

/* PATH inside the sandbox: programs are found there (and in the agent's
 * snapshot), not in the daemon's PATH */
#define AT_SANDBOX_PATH "/usr/local/bin:/usr/bin:/bin"

/* requires.network in agent.yaml */
enum at_sandbox_net {
    AT_SANDBOX_NET_NONE = 0, /* loopback of its own only */
    AT_SANDBOX_NET_PLATFORM, /* atlasd only: its agent socket, relayed to a loopback port */
    AT_SANDBOX_NET_EGRESS,   /* the host's network */
    AT_SANDBOX_NET_FILTERED, /* the platform, and the HOST:PORTs of requires.egress through
                                atlasd's egress proxy (security/egress_proxy.h) */
};

/* Where a sandbox with the platform finds atlasd: atlas-init relays
 * 127.0.0.1:AT_SANDBOX_PLATFORM_PORT (in the sandbox's own network
 * namespace) to the agent socket, bound at AT_SANDBOX_PLATFORM_SOCKET. */
#define AT_SANDBOX_PLATFORM_PORT 17345
#define AT_SANDBOX_PLATFORM_SOCKET "/run/atlas/atlasd.sock"
/* and the egress proxy (NET_FILTERED), the same way */
#define AT_SANDBOX_EGRESS_PORT 17346
#define AT_SANDBOX_EGRESS_SOCKET "/run/atlas/egress.sock"

struct at_sandbox_opts {
    const char *agent_dir;       /* the snapshot: read-only, and the working directory; NULL:
                                    none (the workspace is the working directory) */
    const char *program;         /* resolved path of the agent's program */
    const char *const *ro;       /* more read-only paths (the SDK), NULL-terminated, or NULL */
    const char *const *rw;       /* host paths bound read-write at the same place (a mounted MCP
                                    server's declared scope), NULL-terminated, or NULL */
    const char *cwd;             /* the working directory inside, or NULL: the snapshot, else
                                    the workspace */
    enum at_sandbox_net net;     /* requires.network */
    const json_t *devices;       /* hardware.device_access: array of paths, or NULL */
    long long memory_mb;         /* limits.memory_mb, 0: none */
    long long workspace_mb;      /* size of the tmpfs workspace and of /tmp */
    const char *workspace;       /* the workspace's path inside the sandbox */
    const char *workspace_host;  /* a host directory bound read-write as the workspace instead
                                    of a tmpfs (the skills' code-execution), or NULL */
    const char *landlock;        /* atlas-init, which adds the Landlock fence inside, or NULL */
    const char *platform_socket; /* atlasd's agent socket (NET_PLATFORM, NET_FILTERED), or NULL */
    const char *egress_socket;   /* atlasd's egress proxy (NET_FILTERED), or NULL; the
                                    caller puts HTTP(S)_PROXY in the agent's environment */
    const char *path;            /* PATH inside, or NULL: AT_SANDBOX_PATH (an agent's
                                    virtual environment goes first: registry/build.h) */
};

struct at_sandbox {
    char **argv;           /* "bwrap" ... "--": the agent's argv follows (owned, NULL-terminated) */
    size_t argc;           /* entries in argv */
    size_t cap;            /* allocated entries */
    int seccomp_fd;        /* read end of a pipe holding the filter: becomes fd 3 of bwrap */
    long long rlimit_data; /* bytes for RLIMIT_DATA, 0: none */
};

/* Where bwrap is ($ATLAS_BWRAP, else found in PATH), or NULL. Static storage. */
const char *at_sandbox_bwrap(void);

/* 0 when a sandbox can be built here (bwrap runs and gets its namespaces:
 * tried once, with a trivial command); else AT_EUNAVAIL and why. */
int at_sandbox_probe(char *why, size_t n);

/* Build the sandbox for o.  Returns 0, or AT_EUNAVAIL / AT_EUNSUPPORTED /
 * AT_EINVAL with the reason in why (the run then fails closed).  Release sb
 * with at_sandbox_release, also on failure. */
int at_sandbox_build(const struct at_sandbox_opts *o, struct at_sandbox *sb, char *why, size_t n);
void at_sandbox_release(struct at_sandbox *sb);

/* What is in force, for GET /api/v1/health: {"sandbox": "bubblewrap" | "off" |
 * "unavailable", "reason": ..., "namespaces": [...], "seccomp": bool, ...}.
 * enabled is the configured mode. New reference. */
json_t *at_sandbox_health_json(int enabled);

/* sandbox_seccomp.c: the filter as a BPF program in a pipe (read end
 * returned), or a negative AT_E* with why. */
int at__sandbox_seccomp_fd(char *why, size_t n);

#endif
