/*
 * build.c - dependency builds (build.h): a virtual environment per set of
 * dependencies.packages, node_modules per package-lock.json.
 */
#include "registry/build.h"
#include "registry/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/utf8.h"
#include "contract/egress.h"
#include "json/json.h"
#include "security/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOCK_FILE "atlas-lock.json"
#define REPORT_FILE ".atlas-pip-report.json"
#define TAIL_MAX 4096
#define LOCK_MAX ((size_t)16 << 20)
#define BUILD_LOG_MAX 512
#define LINE_MAX_SHOWN 2000

static char *dup_or_null(const char *s)
{
    return s && *s ? at_strdup(s) : NULL;
}

/* url without its user information (the part before "@" in the host is
 * shown as three stars): what the lock and the messages show of an index;
 * the key still covers the whole URL.  Caller frees. */
static char *url_shown(const char *url)
{
    const char *s = strstr(url, "://");
    if (!s)
        return at_strdup(url);
    s += 3;
    size_t host = strcspn(s, "/?#");
    const char *at = memchr(s, '@', host);
    if (!at)
        return at_strdup(url);
    return at_asprintf("%.*s***%s", (int)(s - url), url, at);
}

static void hex_of(const unsigned char *h, size_t n, char *out);
static int url_hostport(const char *url, char *out, size_t n);

void at_registry_set_build(struct at_registry *r, const struct at_build_cfg *cfg)
{
    free(r->build_pip_index);
    free(r->build_npm_registry);
    free(r->build_init);
    free(r->build_pip_shown);
    r->build_pip_index = dup_or_null(cfg->pip_index_url);
    r->build_pip_shown = r->build_pip_index ? url_shown(r->build_pip_index) : NULL;
    r->build_npm_registry = dup_or_null(cfg->npm_registry);
    r->build_init = dup_or_null(cfg->init_path);
    r->build_sandbox = cfg->sandbox;
    r->build_timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 600;
    free(r->build_egress_socket);
    free(r->build_platform_socket);
    r->build_egress_socket = dup_or_null(cfg->egress_socket);
    r->build_platform_socket = dup_or_null(cfg->platform_socket);
    json_decref(r->build_egress);
    r->build_egress = json_array();
    const char *urls[] = {r->build_pip_index, r->build_npm_registry
                                                  ? r->build_npm_registry
                                                  : "https://registry.npmjs.org/"};
    for (size_t i = 0; i < 2; i++) {
        char rule[AT_EGRESS_HOST_MAX + 16];
        if (urls[i] && url_hostport(urls[i], rule, sizeof(rule)) == 0)
            json_array_append_new(r->build_egress, json_string(rule));
    }
    size_t i;
    json_t *v;
    json_array_foreach(cfg->egress, i, v)
    {
        if (json_is_string(v))
            json_array_append(r->build_egress, v);
    }
}

/* "HOST:PORT" of url (the scheme's port when it names none) */
static int url_hostport(const char *url, char *out, size_t n)
{
    const char *s = strstr(url, "://");
    if (!s)
        return -1;
    int https = (size_t)(s - url) == 5 && strncasecmp(url, "https", 5) == 0;
    s += 3;
    size_t len = strcspn(s, "/?#");
    const char *at = memchr(s, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    if (len == 0 || len >= n)
        return -1;
    const char *colon = s[0] == '[' ? memchr(s, ']', len) : s;
    colon = colon ? memchr(colon, ':', len - (size_t)(colon - s)) : NULL;
    if (colon)
        snprintf(out, n, "%.*s", (int)len, s);
    else
        snprintf(out, n, "%.*s:%d", (int)len, s, https ? 443 : 80);
    return 0;
}

int at_registry_build_egress(struct at_registry *r, const char *token, const char *host, int port,
                             char *who, size_t wlen, char *why, size_t n)
{
    pthread_mutex_lock(&r->build_tok_mu);
    size_t tl = strlen(token);
    int mine = r->build_token[0] && tl == strlen(r->build_token) &&
               sodium_memcmp(token, r->build_token, tl) == 0;
    if (mine)
        snprintf(who, wlen, "%s", r->build_who);
    pthread_mutex_unlock(&r->build_tok_mu);
    if (!mine)
        return AT_EAUTH;
    if (at_egress_allowed(r->build_egress, host, port))
        return 0;
    char *rules = json_dumps(r->build_egress, JSON_COMPACT);
    snprintf(why, n,
             "%s:%d is not the package index (a build reaches %s only; add it to "
             "registry.build.egress)",
             host, port, rules ? rules : "[]");
    free(rules);
    return AT_EPERM;
}

/* ---- the live log ---- */

static void log_line(struct at_registry *r, const char *p, size_t n)
{
    if (n > LINE_MAX_SHOWN)
        n = LINE_MAX_SHOWN;
    while (n && (p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (n == 0)
        return;
    char *clean = at_utf8_sanitize(p, n); /* pip and npm print what they like */
    pthread_mutex_lock(&r->log_mu);
    json_t *text = json_string(clean);
    free(clean);
    if (text) {
        json_array_append_new(r->log_lines,
                              json_pack("{s:I,s:s,s:o}", "seq", (json_int_t)++r->log_seq, "agent",
                                        r->log_building, "text", text));
        while (json_array_size(r->log_lines) > BUILD_LOG_MAX)
            json_array_remove(r->log_lines, 0);
    }
    pthread_mutex_unlock(&r->log_mu);
}

static void log_building(struct at_registry *r, const char *what)
{
    pthread_mutex_lock(&r->log_mu);
    snprintf(r->log_building, sizeof(r->log_building), "%s", what ? what : "");
    pthread_mutex_unlock(&r->log_mu);
}

json_t *at_registry_build_log(struct at_registry *r, long long after)
{
    pthread_mutex_lock(&r->log_mu);
    json_t *lines = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(r->log_lines, i, l)
    {
        if (after >= 0 && json_integer_value(json_object_get(l, "seq")) > after)
            json_array_append_new(lines, json_deep_copy(l));
    }
    json_t *out = json_pack("{s:o,s:I,s:o}", "building",
                            r->log_building[0] ? json_string(r->log_building) : json_null(), "next",
                            (json_int_t)r->log_seq, "lines", lines);
    pthread_mutex_unlock(&r->log_mu);
    return out;
}

/* The proxy token of the build about to run (who: what it builds), or
 * none (who NULL). */
static void build_token_set(struct at_registry *r, const char *who)
{
    pthread_mutex_lock(&r->build_tok_mu);
    if (who) {
        unsigned char raw[24];
        randombytes_buf(raw, sizeof(raw));
        hex_of(raw, sizeof(raw), r->build_token);
        snprintf(r->build_who, sizeof(r->build_who), "build of %s", who);
    } else {
        sodium_memzero(r->build_token, sizeof(r->build_token));
        r->build_who[0] = '\0';
    }
    pthread_mutex_unlock(&r->build_tok_mu);
}

/* ---- digests ---- */

static void hex_of(const unsigned char *h, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = x[h[i] >> 4];
        out[2 * i + 1] = x[h[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, p, n);
    hex_of(h, sizeof(h), out);
}

/* the key of an environment: parts separated by NULs */
struct keyer {
    crypto_hash_sha256_state st;
};

static void key_add(struct keyer *k, const char *s, size_t n)
{
    crypto_hash_sha256_update(&k->st, (const unsigned char *)s, n);
    crypto_hash_sha256_update(&k->st, (const unsigned char *)"", 1);
}

static void key_done(struct keyer *k, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&k->st, h);
    hex_of(h, sizeof(h), out);
}

/* ---- running a build command ---- */

/* Keep the last TAIL_MAX bytes of the output (what a failure shows). */
static void tail_add(struct at_buf *t, const char *p, size_t n)
{
    if (n >= TAIL_MAX) {
        at_buf_clear(t);
        at_buf_append(t, p + n - TAIL_MAX, TAIL_MAX);
        return;
    }
    if (t->len + n > TAIL_MAX)
        at_buf_consume(t, t->len + n - TAIL_MAX);
    at_buf_append(t, p, n);
}

/* prog found in the sandbox's PATH (or itself when it has a slash), or NULL;
 * caller frees */
static char *which(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0 ? at_strdup(prog) : NULL;
    char path[] = AT_SANDBOX_PATH;
    char *save = NULL;
    for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *cand = at_asprintf("%s/%s", dir, prog);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
    }
    return NULL;
}

/* Run argv (argv[0] a full path) in workdir, in the sandbox when the
 * registry's builds are sandboxed (workdir its only writable place but
 * /tmp; the network: the egress proxy's relay and HTTP(S)_PROXY with this
 * command's token, else the host's), with envp, for at most the build
 * timeout.
 * 0 and *status (the exit code, or 128+signal), or an error with why.  The
 * output's tail goes to tail. */
static int run_cmd(struct at_registry *r, const char *label, char **argv, char **envp,
                   const char *workdir, struct at_buf *tail, int *status, char *why, size_t n)
{
    char mark[64];
    snprintf(mark, sizeof(mark), "[%s]", label);
    log_line(r, mark, strlen(mark));
    struct at_sandbox sb = {.seccomp_fd = -1};
    char **full = NULL, **penv = NULL;
    size_t pne = 0;
    const char *prog = argv[0];
    int rc = 0;
    /* the sandbox's network is atlasd's egress proxy, which lets this
     * build's token reach the index only */
    int filtered =
        r->build_sandbox && r->build_egress_socket && r->build_platform_socket && r->build_init;
    if (r->build_sandbox) {
        struct at_sandbox_opts o = {
            .agent_dir = NULL,
            .program = argv[0],
            .net = filtered ? AT_SANDBOX_NET_FILTERED : AT_SANDBOX_NET_EGRESS,
            .workspace_mb = 512,
            .workspace = workdir,
            .workspace_host = workdir,
            .landlock = r->build_init,
            .egress_socket = filtered ? r->build_egress_socket : NULL,
            .platform_socket = filtered ? r->build_platform_socket : NULL,
        };
        if ((rc = at_sandbox_build(&o, &sb, why, n)) != 0) {
            at_sandbox_release(&sb);
            return rc;
        }
        size_t na = 0;
        while (argv[na])
            na++;
        full = at_calloc(sb.argc + na + 1, sizeof(*full));
        size_t k = 0;
        for (size_t i = 0; i < sb.argc; i++)
            full[k++] = sb.argv[i];
        for (size_t i = 0; i < na; i++)
            full[k++] = argv[i];
        full[k] = NULL;
        prog = sb.argv[0];
    }
    if (filtered) {
        build_token_set(r, r->build_what);
        size_t ne = 0;
        while (envp[ne])
            ne++;
        penv = at_calloc(ne + 5, sizeof(*penv));
        for (size_t i = 0; i < ne; i++)
            penv[i] = envp[i];
        pne = ne;
        pthread_mutex_lock(&r->build_tok_mu);
        const char *vars[] = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"};
        for (size_t v = 0; v < 4; v++)
            penv[ne + v] = at_asprintf("%s=http://atlas-build:%s@127.0.0.1:%d", vars[v],
                                       r->build_token, AT_SANDBOX_EGRESS_PORT);
        pthread_mutex_unlock(&r->build_tok_mu);
        envp = penv;
    }
    char *const *args = full ? full : argv;
    int pfd[2] = {-1, -1};
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(why, n, "pipe: %s", strerror(errno));
        rc = AT_EIO;
        goto out;
    }
    int fd3 = sb.seccomp_fd;
    pid_t pid = fork();
    if (pid == 0) {
        /* the child: async-signal-safe calls only */
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        if (fd3 >= 0)
            dup2(fd3, 3);
        close_range(fd3 >= 0 ? 4 : 3, ~0U, 0);
        if (chdir(workdir) != 0)
            _exit(126);
        execve(prog, args, envp);
        _exit(127);
    }
    close(pfd[1]);
    pfd[1] = -1;
    if (pid < 0) {
        snprintf(why, n, "fork: %s", strerror(errno));
        rc = AT_EIO;
        goto out;
    }
    int64_t deadline = at_now_ms() + (int64_t)(r->build_timeout_s * 1000);
    char buf[8192];
    struct at_buf line; /* the output's current line, for the live log */
    at_buf_init(&line, LINE_MAX_SHOWN + 1);
    for (;;) {
        int64_t left = deadline - at_now_ms();
        if (left <= 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            rc = AT_ETIMEDOUT;
            snprintf(why, n, "it ran past registry.build.timeout (%.0f s)", r->build_timeout_s);
            break;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int pr = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t got = read(pfd[0], buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        tail_add(tail, buf, (size_t)got);
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n' || line.len >= LINE_MAX_SHOWN) {
                log_line(r, line.p ? line.p : "", line.len);
                at_buf_clear(&line);
                if (buf[i] == '\n')
                    continue;
            }
            at_buf_putc(&line, buf[i]);
        }
    }
    if (line.len)
        log_line(r, line.p, line.len);
    at_buf_release(&line);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0) { /* never reaped here: no exit status to believe */
        snprintf(why, n, "waitpid: %s", strerror(errno));
        rc = rc ? rc : AT_EIO;
    }
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
out:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (penv) {
        build_token_set(r, NULL);            /* the token dies with the command */
        for (size_t v = pne; penv[v]; v++) { /* the proxy variables are ours */
            sodium_memzero(penv[v], strlen(penv[v]));
            free(penv[v]);
        }
        free(penv);
    }
    free(full);
    at_sandbox_release(&sb);
    return rc;
}

/* The last lines of the output, at most max bytes, from a line start. */
static void tail_text(const struct at_buf *t, size_t max, char *out, size_t n)
{
    const char *s = at_buf_str(t);
    size_t len = t->len;
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
        len--;
    size_t from = len > max ? len - max : 0;
    if (from > 0) {
        const char *nl = memchr(s + from, '\n', len - from);
        if (nl)
            from = (size_t)(nl + 1 - s);
    }
    snprintf(out, n, "%.*s", (int)(len - from), s + from);
}

static json_t *step_json(const char *what, int64_t t0)
{
    return json_pack("{s:s,s:I}", "step", what, "ms", (json_int_t)(at_now_ms() - t0));
}

/* The record of a build (what is stored with the version). */
static json_t *record_new(struct at_registry *r, const char *kind, const char *env, const char *key,
                          const char *lock_digest, json_t *packages)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:O,s:s}", "kind", kind, "env", env, "key", key,
                     "lock_digest", lock_digest, "packages", packages, "sandbox",
                     r->build_sandbox ? "bubblewrap" : "off");
}

/* A complete environment's lock: its digest and record, or 0 with *out
 * NULL when env has none. */
static int read_lock(struct at_registry *r, const char *kind, const char *env, const char *key,
                     json_t **out, struct at_diag *d)
{
    *out = NULL;
    char *lf = at_asprintf("%s/%s", env, LOCK_FILE);
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_is_file(lf) ? at_fs_read_file(lf, LOCK_MAX, &text, &len) : 0;
    if (rc || !text) {
        if (rc)
            at_diag_set(d, AT_EDEPS, lf, 0, 0, "cannot read the build's lock");
        free(lf);
        return rc ? AT_EDEPS : 0;
    }
    json_t *lock = json_loadb(text, len, 0, NULL);
    char hex[65], digest[80];
    sha256_hex(text, len, hex);
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    free(text);
    free(lf);
    if (!json_is_object(lock)) {
        json_decref(lock);
        return 0; /* damaged: built again */
    }
    json_t *pk = json_object_get(lock, "packages");
    json_t *rec = record_new(r, kind, env, key, digest, pk ? pk : json_array());
    json_decref(lock);
    *out = rec;
    return 0;
}

/* Write the lock (compact JSON with sorted keys: its bytes are what the
 * digest covers) last: from then on env is complete. */
static int write_lock(const char *env, json_t *lock, char digest[80], struct at_diag *d)
{
    char *text = json_dumps(lock, JSON_COMPACT | JSON_SORT_KEYS);
    char hex[65];
    sha256_hex(text, strlen(text), hex);
    snprintf(digest, 80, "sha256:%s", hex);
    char *lf = at_asprintf("%s/%s", env, LOCK_FILE);
    int rc = at_fs_write_atomic(lf, text, strlen(text), 0644);
    if (rc)
        at_diag_set(d, AT_EDEPS, lf, 0, 0, "cannot write the build's lock: %s", at_err_msg(rc));
    free(lf);
    free(text);
    return rc;
}

/* the name of a requirement ("Foo[x]>=1; marker" -> "Foo") */
static void req_name(const char *spec, char *out, size_t n)
{
    size_t k = strcspn(spec, "<>=!~;[ @(");
    snprintf(out, n, "%.*s", (int)k, spec);
}

/* ---- Python: dependencies.packages ---- */

static const char *PIP_ENV[] = {"LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PIP_NO_INPUT=1",
                                "PIP_DISABLE_PIP_VERSION_CHECK=1", NULL};

static char **build_envp(const char *const *extra, const char *home)
{
    size_t n = 0;
    while (extra[n])
        n++;
    char **env = at_calloc(n + 4, sizeof(*env));
    size_t k = 0;
    env[k++] = at_strdup("PATH=" AT_SANDBOX_PATH);
    env[k++] = at_asprintf("HOME=%s", home);
    for (size_t i = 0; i < n; i++)
        env[k++] = at_strdup(extra[i]);
    env[k] = NULL;
    return env;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* The pip report's "install" list as [{name, version, sha256}]. */
static json_t *report_packages(const char *path)
{
    json_t *rep = json_load_file(path, 0, NULL);
    json_t *pk = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(rep, "install"), i, it)
    {
        json_t *md = json_object_get(it, "metadata");
        json_t *ai = json_object_get(json_object_get(it, "download_info"), "archive_info");
        const char *h = json_string_value(json_object_get(ai, "hash"));
        const char *h256 =
            json_string_value(json_object_get(json_object_get(ai, "hashes"), "sha256"));
        const char *sha = h256 ? h256 : h && strncmp(h, "sha256=", 7) == 0 ? h + 7 : NULL;
        json_array_append_new(
            pk,
            json_pack("{s:s?,s:s?,s:s?}", "name", json_string_value(json_object_get(md, "name")),
                      "version", json_string_value(json_object_get(md, "version")), "sha256", sha));
    }
    json_decref(rep);
    return pk;
}

/* The lock's packages as a pip requirements file with hashes (a rebuild
 * from the lock); NULL when a package has no sha256 to pin. */
static char *pins_file(const json_t *pins, const char *env)
{
    struct at_buf b;
    at_buf_init(&b, LOCK_MAX);
    size_t i;
    json_t *p;
    json_array_foreach(pins, i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        const char *v = json_string_value(json_object_get(p, "version"));
        const char *h = json_string_value(json_object_get(p, "sha256"));
        if (!n || !v || !h || strspn(h, "0123456789abcdef") != 64 || h[64] ||
            strcspn(n, " \n;#@") != strlen(n) || strcspn(v, " \n;#@") != strlen(v)) {
            at_buf_release(&b);
            return NULL;
        }
        at_buf_printf(&b, "%s==%s --hash=sha256:%s\n", n, v, h);
    }
    char *path = at_asprintf("%s/.atlas-pins.txt", env);
    if (at_fs_write_atomic(path, b.p ? b.p : "", b.len, 0644) != 0) {
        free(path);
        path = NULL;
    }
    at_buf_release(&b);
    return path;
}

static int build_python(struct at_registry *r, const struct at_contract *c, const json_t *pins,
                        json_t **out, struct at_diag *d)
{
    json_t *reqs = json_object_get(json_object_get(c->json, "dependencies"), "packages");
    const char *ep0 = json_string_value(json_array_get(c->entrypoint, 0));
    char *interp = which(ep0);
    if (!interp)
        return at_diag_set(d, AT_EDEPS, NULL, 0, 0,
                           "dependencies.packages: the agent's interpreter \"%s\" is not found in "
                           "%s, so no environment can be built for it",
                           ep0, AT_SANDBOX_PATH);
    /* the index is the only source: a direct reference (NAME @ URL, a URL,
     * a path) would fetch from anywhere */
    size_t i;
    json_t *v;
    json_array_foreach(reqs, i, v)
    {
        const char *s = json_string_value(v);
        if (strstr(s, "://") || strchr(s, '@') || s[0] == '.' || s[0] == '/' || s[0] == '-') {
            free(interp);
            at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                        "dependencies.packages: \"%s\": not supported yet: requirements that "
                        "are direct references (NAME @ URL, a URL, a path, an option) bypass "
                        "the package index; publish it on the index and name it there",
                        s);
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/dependencies/packages/%zu", i);
            at_diag_set_pointer(d, ptr);
            return AT_EUNSUPPORTED;
        }
    }
    const char *ver = at__registry_python_version(r, interp, d);
    if (!ver) {
        free(interp);
        return AT_EDEPS;
    }
    struct keyer k;
    crypto_hash_sha256_init(&k.st);
    key_add(&k, "atlas-env-v1", 12);
    key_add(&k, "python", 6);
    key_add(&k, interp, strlen(interp));
    key_add(&k, ver, strlen(ver));
    key_add(&k, r->build_pip_index, strlen(r->build_pip_index));
    json_array_foreach(reqs, i, v) key_add(&k, json_string_value(v), json_string_length(v));
    char hex[65], key[80];
    key_done(&k, hex);
    snprintf(key, sizeof(key), "sha256:%s", hex);
    char *env = at_asprintf("%s/py-%.32s", r->envs_dir, hex);
    int64_t t0 = at_now_ms();
    int rc = read_lock(r, "python", env, key, out, d);
    if (rc || *out) {
        if (*out) {
            json_object_set_new(*out, "status", json_string("cached"));
            json_object_set_new(*out, "steps", json_array());
        }
        free(env);
        free(interp);
        return rc;
    }
    /* a directory without a lock is a build that did not finish */
    at_fs_remove_tree(env);
    json_t *steps = json_array();
    struct at_buf tail;
    at_buf_init(&tail, TAIL_MAX + 1);
    char why[400] = "", shown[700];
    int status = 0;
    char **envp = build_envp(PIP_ENV, "/tmp");
    char *py = at_asprintf("%s/bin/python", env);
    char *report = at_asprintf("%s/%s", env, REPORT_FILE);
    json_t *pk = NULL;
    if ((rc = at_fs_mkdir_p(env, 0755)) != 0) {
        at_diag_set(d, AT_EDEPS, env, 0, 0, "cannot create the environment: %s", at_err_msg(rc));
        goto fail;
    }
    at_info("registry", "build %s:%s: python environment %s (%zu requirements)", c->name,
            c->version, env, json_array_size(reqs));
    int64_t ts = at_now_ms();
    char *venv[] = {interp, "-m", "venv", "--without-pip", env, NULL};
    rc = run_cmd(r, "venv", venv, envp, env, &tail, &status, why, sizeof(why));
    if (rc || status != 0) {
        tail_text(&tail, 500, shown, sizeof(shown));
        at_diag_set(d, AT_EDEPS, NULL, 0, 0,
                    "dependencies.packages: cannot create the virtual environment with %s -m "
                    "venv: %s",
                    interp, rc ? why : shown);
        rc = AT_EDEPS;
        goto fail;
    }
    json_array_append_new(steps, step_json("venv", ts));
    ts = at_now_ms();
    size_t nr = json_array_size(reqs);
    char **pip = at_calloc(nr + 24, sizeof(*pip));
    size_t a = 0;
    const char *fixed[] = {interp,
                           "-m",
                           "pip",
                           "--isolated",
                           "--python",
                           py,
                           "install",
                           "--no-input",
                           "--disable-pip-version-check",
                           "--no-cache-dir",
                           "--progress-bar",
                           "off",
                           "--no-compile",
                           "--index-url",
                           r->build_pip_index,
                           "--report",
                           report,
                           "--",
                           NULL};
    for (const char **f = fixed; *f; f++)
        pip[a++] = (char *)*f;
    char *pinned = json_array_size(pins) ? pins_file(pins, env) : NULL;
    if (pinned) { /* a rebuild from the lock: exactly its files, nothing resolved again */
        a--;      /* no "--" */
        pip[a++] = "--no-deps";
        pip[a++] = "--require-hashes";
        pip[a++] = "-r";
        pip[a++] = pinned;
    } else {
        json_array_foreach(reqs, i, v) pip[a++] = (char *)json_string_value(v);
    }
    pip[a] = NULL;
    at_buf_clear(&tail);
    rc = run_cmd(r, "pip install", pip, envp, env, &tail, &status, why, sizeof(why));
    free(pip);
    if (pinned)
        unlink(pinned);
    free(pinned);
    if (rc || status != 0) {
        tail_text(&tail, 600, shown, sizeof(shown));
        /* name the requirement pip could not install when its output does:
         * its error lines first, the requirement as written before its name */
        struct at_buf errs;
        at_buf_init(&errs, TAIL_MAX + 1);
        for (const char *l = at_buf_str(&tail); *l;) {
            size_t ll = strcspn(l, "\n");
            if (strncmp(l, "ERROR:", 6) == 0) {
                at_buf_append(&errs, l, ll);
                at_buf_putc(&errs, '\n');
            }
            l += ll + (l[ll] == '\n');
        }
        const char *bad = NULL;
        size_t bi = 0;
        const char *hay[] = {at_buf_str(&errs), at_buf_str(&tail)};
        for (int pass = 0; pass < 4 && !bad; pass++) {
            const char *h = hay[pass / 2];
            json_array_foreach(reqs, i, v)
            {
                const char *s = json_string_value(v);
                char nm[128];
                req_name(s, nm, sizeof(nm));
                if (pass % 2 == 0 ? strstr(h, s) != NULL : nm[0] && strcasestr(h, nm) != NULL) {
                    bad = s;
                    bi = i;
                    break;
                }
            }
        }
        at_buf_release(&errs);
        if (bad) {
            at_diag_set(d, AT_EDEPS, NULL, 0, 0,
                        "dependencies.packages: pip cannot install \"%s\" from %s: %s", bad,
                        r->build_pip_shown, rc ? why : shown);
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/dependencies/packages/%zu", bi);
            at_diag_set_pointer(d, ptr);
        } else {
            at_diag_set(d, AT_EDEPS, NULL, 0, 0,
                        "dependencies.packages: pip install from %s failed: %s", r->build_pip_shown,
                        rc ? why : shown);
        }
        rc = AT_EDEPS;
        goto fail;
    }
    json_array_append_new(steps, step_json("pip install", ts));
    pk = report_packages(report);
    unlink(report);
    json_t *lock =
        json_pack("{s:s,s:s,s:s,s:s,s:O,s:O}", "kind", "python", "interpreter", interp, "python",
                  ver, "index", r->build_pip_shown, "requirements", reqs, "packages", pk);
    char digest[80];
    rc = write_lock(env, lock, digest, d);
    json_decref(lock);
    if (rc)
        goto fail;
    *out = record_new(r, "python", env, key, digest, pk);
    json_object_set_new(*out, "status", json_string("built"));
    json_object_set_new(*out, "steps", steps);
    json_object_set_new(*out, "ms", json_integer(at_now_ms() - t0));
    steps = NULL;
    at_info("registry", "build %s:%s: %zu packages installed, lock %s", c->name, c->version,
            json_array_size(pk), digest);
fail:
    if (rc)
        at_fs_remove_tree(env);
    json_decref(pk);
    json_decref(steps);
    free(report);
    free(py);
    free_strv(envp);
    at_buf_release(&tail);
    free(env);
    free(interp);
    return rc;
}

/* ---- Node: package.json + package-lock.json ---- */

/* [{name, version, integrity}] of a package-lock.json (v2/v3 "packages",
 * v1 "dependencies"). */
static json_t *npm_packages(const json_t *lock)
{
    json_t *pk = json_array();
    const char *key;
    json_t *v;
    json_t *pkgs = json_object_get(lock, "packages");
    if (json_is_object(pkgs)) {
        json_object_foreach(pkgs, key, v)
        {
            const char *mark = strstr(key, "node_modules/");
            if (!key[0] || !mark)
                continue; /* "": the project itself */
            /* scoped names keep their scope: node_modules/@s/x */
            const char *nm = mark + 13;
            const char *inner = strstr(nm, "/node_modules/");
            while (inner) {
                nm = inner + 14;
                inner = strstr(nm, "/node_modules/");
            }
            json_array_append_new(
                pk, json_pack("{s:s,s:s?,s:s?}", "name", nm, "version",
                              json_string_value(json_object_get(v, "version")), "integrity",
                              json_string_value(json_object_get(v, "integrity"))));
        }
        return pk;
    }
    json_object_foreach(json_object_get(lock, "dependencies"), key, v) json_array_append_new(
        pk, json_pack("{s:s,s:s?,s:s?}", "name", key, "version",
                      json_string_value(json_object_get(v, "version")), "integrity",
                      json_string_value(json_object_get(v, "integrity"))));
    return pk;
}

static int copy_file(const char *from, const char *to)
{
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(from, LOCK_MAX, &text, &len);
    if (!rc)
        rc = at_fs_write_atomic(to, text, len, 0644);
    free(text);
    return rc;
}

static int build_node(struct at_registry *r, const struct at_contract *c, const char *snap,
                      const char *pj, size_t pjlen, json_t **out, struct at_diag *d)
{
    char *lockf = at_asprintf("%s/package-lock.json", snap);
    char *lock = NULL;
    size_t llen = 0;
    int rc = 0;
    if (!at_fs_is_file(lockf)) {
        free(lockf);
        return at_diag_set(d, AT_EDEPS, "package.json", 0, 0,
                           "package.json declares dependencies but the agent has no "
                           "package-lock.json: builds run `npm ci`, which needs one (create it "
                           "with npm install --package-lock-only)");
    }
    if ((rc = at_fs_read_file(lockf, LOCK_MAX, &lock, &llen)) != 0) {
        at_diag_set(d, AT_EDEPS, lockf, 0, 0, "cannot read package-lock.json: %s", at_err_msg(rc));
        free(lockf);
        return AT_EDEPS;
    }
    json_error_t je;
    json_t *lj = json_loadb(lock, llen, 0, &je);
    if (!json_is_object(lj)) {
        at_diag_set(d, AT_EDEPS, "package-lock.json", je.line, je.column,
                    "package-lock.json is not a JSON object: %s", je.text);
        json_decref(lj);
        free(lock);
        free(lockf);
        return AT_EDEPS;
    }
    char lhex[65], ldigest[80];
    sha256_hex(lock, llen, lhex);
    snprintf(ldigest, sizeof(ldigest), "sha256:%s", lhex);
    const char *reg = r->build_npm_registry ? r->build_npm_registry : "";
    struct keyer k;
    crypto_hash_sha256_init(&k.st);
    key_add(&k, "atlas-env-v1", 12);
    key_add(&k, "node", 4);
    key_add(&k, reg, strlen(reg));
    key_add(&k, pj, pjlen);
    key_add(&k, lock, llen);
    char hex[65], key[80];
    key_done(&k, hex);
    snprintf(key, sizeof(key), "sha256:%s", hex);
    char *env = at_asprintf("%s/npm-%.32s", r->envs_dir, hex);
    char *npm = which("npm");
    char *cache = at_asprintf("%s/.npm-cache", env);
    char *cache_env = at_asprintf("npm_config_cache=%s", cache);
    char **envp = NULL;
    json_t *steps = json_array();
    struct at_buf tail;
    at_buf_init(&tail, TAIL_MAX + 1);
    int64_t t0 = at_now_ms();
    if (at_fs_is_file(env) || at_fs_is_dir(env)) {
        char *lf = at_asprintf("%s/%s", env, LOCK_FILE);
        int done = at_fs_is_file(lf);
        free(lf);
        if (done) {
            json_t *pk = npm_packages(lj);
            *out = record_new(r, "node", env, key, ldigest, pk);
            json_decref(pk);
            json_object_set_new(*out, "status", json_string("cached"));
            json_object_set_new(*out, "steps", json_array());
            goto done;
        }
        at_fs_remove_tree(env);
    }
    if (!npm) {
        rc = at_diag_set(d, AT_EDEPS, NULL, 0, 0,
                         "the agent has a package-lock.json but npm is not found in %s",
                         AT_SANDBOX_PATH);
        goto done;
    }
    char *to_pj = at_asprintf("%s/package.json", env);
    char *to_lock = at_asprintf("%s/package-lock.json", env);
    char *from_pj = at_asprintf("%s/package.json", snap);
    rc = at_fs_mkdir_p(env, 0755);
    if (!rc)
        rc = copy_file(from_pj, to_pj);
    if (!rc)
        rc = copy_file(lockf, to_lock);
    free(to_pj);
    free(to_lock);
    free(from_pj);
    if (rc) {
        at_diag_set(d, AT_EDEPS, env, 0, 0, "cannot prepare the node environment: %s",
                    at_err_msg(rc));
        rc = AT_EDEPS;
        goto done;
    }
    at_info("registry", "build %s:%s: npm ci in %s", c->name, c->version, env);
    const char *extra[] = {"LANG=C.UTF-8",
                           cache_env,
                           "npm_config_update_notifier=false",
                           "npm_config_fund=false",
                           "npm_config_audit=false",
                           NULL};
    envp = build_envp(extra, env);
    char *argv[] = {npm,          "ci",         "--ignore-scripts", "--no-audit", "--no-fund",
                    "--omit=dev", "--registry", (char *)reg,        NULL};
    if (!reg[0])
        argv[6] = NULL;
    char why[400] = "", shown[700];
    int status = 0;
    int64_t ts = at_now_ms();
    rc = run_cmd(r, "npm ci", argv, envp, env, &tail, &status, why, sizeof(why));
    at_fs_remove_tree(cache);
    if (rc || status != 0) {
        tail_text(&tail, 600, shown, sizeof(shown));
        at_diag_set(d, AT_EDEPS, "package-lock.json", 0, 0, "npm ci failed: %s", rc ? why : shown);
        rc = AT_EDEPS;
        goto done;
    }
    json_array_append_new(steps, step_json("npm ci", ts));
    json_t *pk = npm_packages(lj);
    json_t *lk = json_pack("{s:s,s:s,s:s,s:O}", "kind", "node", "package_lock", ldigest, "registry",
                           reg[0] ? reg : "https://registry.npmjs.org/", "packages", pk);
    char digest[80];
    rc = write_lock(env, lk, digest, d);
    json_decref(lk);
    if (rc) {
        json_decref(pk);
        goto done;
    }
    /* the lock of a Node build is the package-lock.json itself */
    *out = record_new(r, "node", env, key, ldigest, pk);
    json_decref(pk);
    json_object_set_new(*out, "status", json_string("built"));
    json_object_set_new(*out, "steps", steps);
    json_object_set_new(*out, "ms", json_integer(at_now_ms() - t0));
    steps = NULL;
done:
    if (rc)
        at_fs_remove_tree(env);
    json_decref(steps);
    at_buf_release(&tail);
    free_strv(envp);
    free(cache_env);
    free(cache);
    free(npm);
    free(env);
    json_decref(lj);
    free(lock);
    free(lockf);
    return rc;
}

/* 1 when the program of the entrypoint is node */
static int is_node(const struct at_contract *c)
{
    const char *p = json_string_value(json_array_get(c->entrypoint, 0));
    if (!p)
        return 0;
    const char *b = strrchr(p, '/');
    b = b ? b + 1 : p;
    return strcmp(b, "node") == 0 || strncmp(b, "nodejs", 6) == 0;
}

/* 1 when the agent is ES modules: package.json "type": "module", or an
 * entrypoint argument ending in .mjs */
static int is_esm(const struct at_contract *c, const char *pj, size_t pjlen)
{
    json_t *j = json_loadb(pj, pjlen, 0, NULL);
    int esm = !strcmp(at_json_str(j, "type", ""), "module");
    json_decref(j);
    size_t i;
    json_t *v;
    json_array_foreach(c->entrypoint, i, v)
    {
        size_t n = json_string_length(v);
        if (i > 0 && n >= 4 && !strcmp(json_string_value(v) + n - 4, ".mjs"))
            esm = 1;
    }
    return esm;
}

int at__registry_build(struct at_registry *r, const struct at_contract *c, const char *snap,
                       const json_t *pins, json_t **out, struct at_diag *d)
{
    *out = NULL;
    json_t *deps = json_object_get(c->json, "dependencies");
    size_t npk = json_array_size(json_object_get(deps, "packages"));
    int rc = 0;
    pthread_mutex_lock(&r->build_mu);
    snprintf(r->build_what, sizeof(r->build_what), "%s:%s", c->name, c->version);
    log_building(r, r->build_what);
    char *vendored = at_asprintf("%s/node_modules", snap);
    if (npk > 0 && at_contract_is_python(c) && r->build_pip_index) {
        rc = build_python(r, c, pins, out, d);
    } else if (at_fs_is_dir(vendored)) {
        /* the agent ships its node_modules: nothing to install */
    } else {
        char *pjf = at_asprintf("%s/package.json", snap);
        char *pj = NULL;
        size_t pjlen = 0;
        if (at_fs_is_file(pjf) && at_fs_read_file(pjf, LOCK_MAX, &pj, &pjlen) == 0) {
            json_t *pjj = json_loadb(pj, pjlen, 0, NULL);
            int has = json_object_size(json_object_get(pjj, "dependencies")) > 0;
            json_decref(pjj);
            char *lockf = at_asprintf("%s/package-lock.json", snap);
            if (!has && at_fs_is_file(lockf) && is_node(c))
                has = 1;
            free(lockf);
            if (has && !is_node(c) && !json_object_get(deps, "node"))
                has = 0; /* a package.json of something else's (a web UI, tooling) */
            if (has && is_esm(c, pj, pjlen))
                rc = at_diag_set(d, AT_EUNSUPPORTED, "package.json", 0, 0,
                                 "not supported yet: installing the dependencies of an ES-module "
                                 "agent (\"type\": \"module\" or a .mjs entrypoint), whose "
                                 "imports do not read NODE_PATH; ship its node_modules in the "
                                 "agent's directory instead");
            else if (has)
                rc = build_node(r, c, snap, pj, pjlen, out, d);
        }
        free(pj);
        free(pjf);
    }
    free(vendored);
    log_building(r, NULL);
    pthread_mutex_unlock(&r->build_mu);
    return rc;
}
