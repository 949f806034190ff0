/*
 * build.h - the dependency build of an agent version (docs/distribution.md,
 * "Dependency builds"): dependencies.packages installed with pip into a
 * virtual environment of its own, and a Node agent's package-lock.json
 * installed with `npm ci`, at registration (register and pull).
 *
 * An environment lives under DATA/envs/ and is named by the digest of what
 * determines it (the kind, the interpreter and its version, the index, the
 * requirements as written, or the npm lock file's bytes), so versions and
 * agents with the same dependencies share one: a second registration finds
 * it and installs nothing.  An environment is complete when its lock file
 * (atlas-lock.json: what was installed, with versions and hashes) exists;
 * the lock is written last, and a directory without one is removed and
 * built again.  The build runs in the agent sandbox (security/sandbox.h)
 * when the agent would: the file system is the sandbox's, with the
 * environment the only writable path besides /tmp, and no network but
 * atlasd's egress proxy (security/egress_proxy.h), which lets the build's
 * own token reach the package index's host:port, the npm registry's and
 * registry.build.egress only (at_registry_build_egress).  Unsandboxed
 * builds (sandbox.enabled: false) have the host's network.
 *
 * Blocking (spawns pip or npm): at registration only, never on the dispatch
 * path.  Builds are serialised by the registry.
 */
#ifndef AT_REGISTRY_BUILD_H
#define AT_REGISTRY_BUILD_H

#include <jansson.h>

struct at_registry;

/* registry.build in atlas.config.yaml (docs/configuration.md) */
struct at_build_cfg {
    const char *pip_index_url;   /* registry.build.pip_index_url / ATLAS_PIP_INDEX_URL; NULL or
                                    "": dependencies.packages are not installed (checked only) */
    const char *npm_registry;    /* registry.build.npm_registry; NULL: npm's own */
    int sandbox;                 /* 1: builds run in the sandbox (sandbox.enabled) */
    const char *init_path;       /* atlas-init (the Landlock fence), or NULL */
    double timeout_s;            /* registry.build.timeout: one build command; 0: 600 s */
    const char *egress_socket;   /* atlasd's egress proxy: sandboxed builds reach the index
                                    through it only; NULL: they have the host's network */
    const char *platform_socket; /* atlasd's agent socket (the sandbox relays it too) */
    const json_t *egress;        /* registry.build.egress: more HOST:PORTs builds may reach
                                    (an index's file host), or NULL */
};

/* Set the build settings (copied).  Set once, before r is shared; without
 * it no Python packages are installed, and npm builds run unsandboxed. */
void at_registry_set_build(struct at_registry *r, const struct at_build_cfg *cfg);

/* The builds' output since line after (-1: none, only where the log
 * stands): {"building": "NAME:VERSION" or null, "next": SEQ (the number
 * to ask after next), "lines": [{"seq", "agent", "text"}]}, the step
 * markers ("[pip install]") and every line pip and npm print, as they
 * print them.  At most the last 512 lines are kept.  New reference.
 * Thread-safe (read while a build runs). */
json_t *at_registry_build_log(struct at_registry *r, long long after);

/* The egress proxy's question for a build: 0 when token is the running
 * build's and host:port is the package index's, the npm registry's or in
 * registry.build.egress; AT_EPERM with why for another host; AT_EAUTH
 * when token is no build's (the caller asks the jobs next).  who names the
 * build.  Thread-safe (the proxy's connection threads). */
int at_registry_build_egress(struct at_registry *r, const char *token, const char *host, int port,
                             char *who, size_t wlen, char *why, size_t n);

#endif
