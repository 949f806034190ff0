/*
 * mount.c - MCP servers mounted as skills: a server's tools are the
 * skill's operations (docs/skills.md "Mounting an MCP server").
 *
 * Each mount is one server process on stdio (started on first use, with
 * mcp.command and mcp.env) and one thread of its own that speaks the MCP
 * client (mcp/client.h, sans-IO: the same client as agent processes) over
 * its pipes, so a slow, hung or dead server holds nothing but its own
 * calls: no skills worker, no HTTP thread, no other mount.
 *
 * Degradation: a call past its deadline is cancelled and answered
 * AT_ETIMEDOUT; a server that exits answers its calls AT_ECRASH with the
 * tail of its stderr; each failure doubles the back-off before the next
 * start (200 ms up to 30 s, reset by a success), and while it runs the
 * circuit is open: calls are answered AT_ECIRCUIT at once, saying when it
 * closes.  Three failures in a row kill a server that is still running
 * (it hangs) and open the circuit the same way.
 *
 * A mount with mcp.url instead speaks Streamable HTTP to a remote server
 * (the same client, mcp/client.h, and the same exchanges over libcurl,
 * mcp/client_curl.h; one session per mount, made again when the server
 * forgets it): its thread drives a libcurl multi handle with up to
 * mcp.concurrency calls in flight (16), each bounded by its deadline, with
 * mcp.headers (secrets filled in from the store at each connection, never
 * logged); an unreachable server, a dropped connection or a timeout count
 * as the failures of the same breaker (a "start" is then a new
 * connection).
 *
 * A stdio mount with mcp.sandbox runs in the agents' sandbox
 * (security/sandbox.h) with the declared paths and network only, and is
 * never started without it.
 */
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"
#include "mcp/client.h"
#include "mcp/client_curl.h"
#include "mcp/message.h"
#include "security/sandbox.h"
#include "security/secret.h"

#include <curl/curl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000
#define HANG_FAILURES 3
#define START_TIMEOUT_MS 20000
#define ERR_TAIL 2048
#define MAX_WAITING 1024

struct req {
    struct req *next;
    char *tool; /* NULL: tools/list */
    json_t *args;
    long long id; /* once sent */
    int retried;  /* sent again after the session was forgotten */
    int64_t deadline_ms;
    at_skill_done_fn done;
    void *arg;
};

struct at__mount {
    struct at__mount *next;
    char key[80];
    json_t *mcp;
    const char *url;       /* mcp.url: Streamable HTTP (in mcp), or NULL: stdio */
    const json_t *sandbox; /* mcp.sandbox (in mcp), or NULL: atlasd's user */
    const char *init_path; /* atlas-init for the Landlock fence (the skills'), or NULL */
    /* mcp.url: the exchanges, on a multi handle of the mount's thread */
    CURLM *multi;
    struct htx *tx;
    int ntx;
    int conn, stale;       /* CONN_*; stale: connect again once no exchange is left */
    int64_t conn_deadline; /* of the handshake under way */
    char **extra;          /* mcp.headers as lines, secrets in (wiped when freed) */
    int concurrency;       /* mcp.concurrency: calls in flight at once (the others wait) */
    struct at_secrets *secrets;
    pthread_mutex_t mu;
    pthread_t thread;
    int wake[2];
    int stopping;
    /* the process */
    pid_t pid;
    int in_fd, out_fd, err_fd;
    int64_t started_ms;
    struct at_mcp_client mc;
    int has_client, ready;
    long long list_id; /* our own tools/list after the handshake */
    struct at_buf wbuf;
    char err_tail[ERR_TAIL];
    size_t err_len;
    /* the calls */
    struct req *waiting, *inflight;
    size_t nwaiting;
    /* the breaker */
    int failures;
    int64_t backoff_ms, open_until_ms;
    int starts;
    json_t *tools;
    char last_error[400];
};

struct fin {
    struct fin *next;
    struct req *r;
    int rc;
    json_t *out;
    struct at_diag d;
};

static void req_free(struct req *r)
{
    free(r->tool);
    json_decref(r->args);
    free(r);
}

static void fin_add(struct fin **list, struct req *r, int rc, json_t *out, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fin_add(struct fin **list, struct req *r, int rc, json_t *out, const char *fmt, ...)
{
    struct fin *f = at_calloc(1, sizeof(*f));
    f->r = r;
    f->rc = rc;
    f->out = out;
    at_diag_clear(&f->d);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        char msg[sizeof(f->d.msg)];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        at_diag_set(&f->d, rc, NULL, 0, 0, "%s", msg);
    }
    f->next = *list;
    *list = f;
}

/* the answers, outside the lock */
static void fin_run(struct fin *list)
{
    /* list is newest first: answer in order */
    struct fin *rev = NULL;
    while (list) {
        struct fin *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct fin *n = rev->next;
        rev->r->done(rev->r->arg, rev->rc, rev->out, &rev->d);
        req_free(rev->r);
        free(rev);
        rev = n;
    }
}

static void tail_text(struct at__mount *m, char *out, size_t n)
{
    size_t len = m->err_len;
    while (len && (m->err_tail[len - 1] == '\n' || m->err_tail[len - 1] == '\r'))
        len--;
    const char *p = m->err_tail;
    if (len > 300) {
        p += len - 300;
        len = 300;
    }
    snprintf(out, n, "%.*s", (int)len, p);
}

/* ---- the process ---- */

static void proc_stop(struct at__mount *m)
{
    if (m->pid > 0) {
        kill(-m->pid, SIGKILL);
        kill(m->pid, SIGKILL);
        while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    m->pid = 0;
    if (m->in_fd >= 0)
        close(m->in_fd);
    if (m->out_fd >= 0)
        close(m->out_fd);
    if (m->err_fd >= 0)
        close(m->err_fd);
    m->in_fd = m->out_fd = m->err_fd = -1;
    if (m->has_client)
        at_mcp_client_release(&m->mc);
    m->has_client = m->ready = 0;
    m->list_id = 0;
    at_buf_clear(&m->wbuf);
}

/* A failure of the server (crash, hang, handshake): the breaker opens. */
static void failed(struct at__mount *m, const char *why)
{
    m->failures++;
    m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (m->backoff_ms > BACKOFF_MAX_MS)
        m->backoff_ms = BACKOFF_MAX_MS;
    m->open_until_ms = at_now_ms() + m->backoff_ms;
    snprintf(m->last_error, sizeof(m->last_error), "%s", why);
    at_log(AT_LOG_WARN, "skills", "MCP skill %s: %s (next start in %lld ms)", m->key, why,
           (long long)m->backoff_ms);
}

/* ---- the sandbox (mcp.sandbox) ---- */

#define SANDBOX_MAX_PATHS 32
#define SANDBOX_WS "/workspace"

static int sandbox_bad(struct at_diag *d, const char *ptr, const char *what)
{
    at_diag_set(d, AT_EINVAL, NULL, 0, 0, "mcp.sandbox%s: %s", ptr + strlen("/mcp/sandbox"), what);
    at_diag_set_pointer(d, ptr);
    return AT_EINVAL;
}

static int path_plain(const char *p)
{
    /* absolute, and no "." or ".." component: what is bound is what was
     * declared */
    if (!p || p[0] != '/' || strlen(p) >= 4096)
        return 0;
    for (const char *c = p; *c;) {
        while (*c == '/')
            c++;
        size_t len = strcspn(c, "/");
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += len;
    }
    return 1;
}

int at__mount_sandbox_check(const json_t *sb, int probe, struct at_diag *d)
{
    char ptr[96];
    if (!json_is_true(sb)) {
        if (!json_is_object(sb))
            return sandbox_bad(
                d, "/mcp/sandbox",
                "true, or {paths: [{path, mode: read|write}], network: none|egress}");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)sb, k, v)
        {
            if (strcmp(k, "paths") != 0 && strcmp(k, "network") != 0) {
                snprintf(ptr, sizeof(ptr), "/mcp/sandbox/%.60s", k);
                return sandbox_bad(d, ptr, "not a key of the sandbox (paths, network)");
            }
        }
        const json_t *net = json_object_get(sb, "network");
        if (net && (!json_is_string(net) || (strcmp(json_string_value(net), "none") != 0 &&
                                             strcmp(json_string_value(net), "egress") != 0)))
            return sandbox_bad(d, "/mcp/sandbox/network", "none (the default) or egress");
        const json_t *paths = json_object_get(sb, "paths");
        if (paths && (!json_is_array(paths) || json_array_size(paths) > SANDBOX_MAX_PATHS))
            return sandbox_bad(d, "/mcp/sandbox/paths", "an array of at most 32 {path, mode}");
        size_t i;
        json_t *p;
        json_array_foreach(paths, i, p)
        {
            snprintf(ptr, sizeof(ptr), "/mcp/sandbox/paths/%zu", i);
            const json_t *mode = json_object_get(p, "mode");
            if (!json_is_object(p) || json_object_size(p) > (mode ? 2u : 1u) ||
                !path_plain(json_string_value(json_object_get(p, "path"))))
                return sandbox_bad(d, ptr,
                                   "{path, mode}: an absolute path without . or .. components");
            if (mode && (!json_is_string(mode) || (strcmp(json_string_value(mode), "read") != 0 &&
                                                   strcmp(json_string_value(mode), "write") != 0)))
                return sandbox_bad(d, ptr, "mode is read (the default) or write");
        }
    }
    char why[300];
    if (probe && at_sandbox_probe(why, sizeof(why)) != 0) {
        at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0,
                    "mcp.sandbox: the sandbox cannot be built on this host (%s), so a sandboxed "
                    "server could never start here",
                    why);
        at_diag_set_pointer(d, "/mcp/sandbox");
        return AT_EUNAVAIL;
    }
    return 0;
}

/* The bwrap command line for the server (mcp.sandbox): the agents' sandbox
 * with the declared paths bound (read-only, or read-write for mode: write),
 * a private tmpfs at /workspace, no network unless network: egress.  Fails
 * closed: 0, or AT_EUNAVAIL with why. */
static int sandbox_build(struct at__mount *m, struct at_sandbox *sb, const char **program,
                         char *why, size_t n)
{
    const json_t *paths = json_object_get(m->sandbox, "paths");
    size_t np = json_array_size(paths);
    const char **ro = at_calloc(np + 1, sizeof(*ro));
    const char **rw = at_calloc(np + 1, sizeof(*rw));
    size_t nro = 0, nrw = 0;
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        const char *mode = json_string_value(json_object_get(p, "mode"));
        struct stat st;
        if (stat(path, &st) != 0) {
            snprintf(why, n, "mcp.sandbox.paths: %s: %s", path, strerror(errno));
            free(ro);
            free(rw);
            return AT_EUNAVAIL;
        }
        if (mode && !strcmp(mode, "write"))
            rw[nrw++] = path;
        else
            ro[nro++] = path;
    }
    const char *net = json_string_value(json_object_get(m->sandbox, "network"));
    struct at_sandbox_opts o = {
        .program = *program && (*program)[0] == '/' ? *program : NULL,
        .ro = ro,
        .rw = rw,
        .cwd = json_string_value(json_object_get(m->mcp, "cwd")),
        .net = net && !strcmp(net, "egress") ? AT_SANDBOX_NET_EGRESS : AT_SANDBOX_NET_NONE,
        .workspace = SANDBOX_WS,
        .landlock = m->init_path,
    };
    int rc = at_sandbox_build(&o, sb, why, n);
    free(ro);
    free(rw);
    if (rc)
        return AT_EUNAVAIL;
    *program = sb->argv[0];
    return 0;
}

static int proc_start(struct at__mount *m, char *why, size_t n)
{
    const json_t *cmd = json_object_get(m->mcp, "command");
    size_t argc = json_array_size(cmd);
    struct at_sandbox sb = {.seccomp_fd = -1};
    const char *program = json_string_value(json_array_get(cmd, 0));
    if (m->sandbox) {
        char sbwhy[400];
        if (sandbox_build(m, &sb, &program, sbwhy, sizeof(sbwhy))) {
            snprintf(why, n, "the sandbox cannot be built, so the server is not started: %s",
                     sbwhy);
            at_sandbox_release(&sb);
            return AT_EUNAVAIL;
        }
    }
    char **argv = at_calloc(sb.argc + argc + 1, sizeof(*argv));
    size_t a = 0;
    for (size_t i = 0; i < sb.argc; i++)
        argv[a++] = sb.argv[i];
    for (size_t i = 0; i < argc; i++)
        argv[a++] = (char *)json_string_value(json_array_get(cmd, i));
    /* the daemon's environment plus mcp.env (later wins); in the sandbox
     * only a PATH, a locale and mcp.env: atlasd's own variables stay out */
    size_t ne = 0;
    while (!m->sandbox && environ[ne])
        ne++;
    const json_t *env = json_object_get(m->mcp, "env");
    char **envp = at_calloc(ne + json_object_size(env) + 3, sizeof(*envp));
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        envp[k++] = at_strdup(environ[i]);
    if (m->sandbox) {
        envp[k++] = at_strdup("PATH=" AT_SANDBOX_PATH);
        envp[k++] = at_strdup("LANG=C.UTF-8");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)env, key, v) if (json_is_string(v)) envp[k++] =
        at_asprintf("%s=%s", key, json_string_value(v));
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int rc = 0;
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        snprintf(why, n, "pipe: %s", strerror(errno));
        rc = AT_EIO;
        goto out;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (sb.seccomp_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, sb.seccomp_fd, 3); /* bwrap --seccomp 3 */
    const char *cwd = json_string_value(json_object_get(m->mcp, "cwd"));
    if (cwd && !m->sandbox)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int e = m->sandbox ? posix_spawn(&pid, program, &fa, &at, argv, envp)
                       : posix_spawnp(&pid, program, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e) {
        snprintf(why, n, "cannot start %s: %s", program, strerror(e));
        rc = AT_ENOENT;
        goto out;
    }
    m->pid = pid;
    m->in_fd = in[1];
    m->out_fd = out[0];
    m->err_fd = err[0];
    in[1] = out[0] = err[0] = -1;
    fcntl(m->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(m->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(m->err_fd, F_SETFL, O_NONBLOCK);
    struct at_mcp_client_cfg cc = {.transport = AT_MCP_STDIO, .max_message = 16u << 20};
    at_mcp_client_init(&m->mc, &cc);
    m->has_client = 1;
    at_mcp_client_start(&m->mc);
    m->started_ms = at_now_ms();
    m->starts++;
    m->err_len = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    for (size_t i = 0; i < k; i++)
        free(envp[i]);
    free(envp);
    free(argv);
    at_sandbox_release(&sb);
    return rc;
}

/* queued messages into the write buffer, and as much of it to the pipe */
static void flush_out(struct at__mount *m)
{
    struct at_mcp_out *o;
    while (m->has_client && (o = at_mcp_client_pop(&m->mc))) {
        at_buf_append(&m->wbuf, o->body, o->len);
        at_buf_putc(&m->wbuf, '\n');
        at_mcp_out_free(o);
    }
    while (m->in_fd >= 0 && m->wbuf.len) {
        ssize_t w = write(m->in_fd, m->wbuf.p, m->wbuf.len);
        if (w > 0)
            at_buf_consume(&m->wbuf, (size_t)w);
        else
            break;
    }
}

/* every call in flight fails with rc */
static void fail_inflight(struct at__mount *m, struct fin **fins, int rc, const char *why)
{
    while (m->inflight) {
        struct req *r = m->inflight;
        m->inflight = r->next;
        fin_add(fins, r, rc, NULL, "MCP skill %s: %s", m->key, why);
    }
}

static void server_died(struct at__mount *m, struct fin **fins)
{
    int status = 0;
    if (m->pid > 0 && waitpid(m->pid, &status, WNOHANG) == m->pid)
        m->pid = 0;
    char tail[400], why[600], during[700];
    tail_text(m, tail, sizeof(tail));
    snprintf(why, sizeof(why), "the MCP server exited%s%s", tail[0] ? ": " : "", tail);
    snprintf(during, sizeof(during), "the MCP server exited during the call%s%s",
             tail[0] ? " (its stderr: " : "", tail[0] ? tail : "");
    if (tail[0])
        snprintf(during + strlen(during), sizeof(during) - strlen(during), ")");
    fail_inflight(m, fins, AT_ECRASH, during);
    proc_stop(m);
    failed(m, why);
}

static void on_event(struct at__mount *m, struct at_mcp_ev *ev, struct fin **fins)
{
    switch (ev->kind) {
    case AT_MCP_EV_READY:
        m->ready = 1;
        m->list_id = at_mcp_client_request(&m->mc, 0, "tools/list", NULL);
        break;
    case AT_MCP_EV_RESPONSE: {
        if (ev->id == m->list_id) {
            m->list_id = 0;
            json_t *tools = json_object_get(ev->result, "tools");
            if (json_is_array(tools)) {
                json_decref(m->tools);
                m->tools = json_incref(tools);
            }
            break;
        }
        struct req **pp = &m->inflight;
        while (*pp && (*pp)->id != ev->id)
            pp = &(*pp)->next;
        struct req *r = *pp;
        if (!r)
            break;
        *pp = r->next;
        if (ev->error) {
            char msg[600];
            at_mcp_ev_error_text(ev, msg, sizeof(msg));
            fin_add(fins, r, AT_EAGENT, NULL, "MCP skill %s: %s", m->key, msg);
        } else if (!r->tool) {
            fin_add(fins, r, 0, json_pack("{s:O}", "tools", json_object_get(ev->result, "tools")),
                    NULL);
        } else {
            json_t *out = NULL;
            char why[600];
            if (at_mcp_tool_output(ev->result, &out, why, sizeof(why)) == 0)
                fin_add(fins, r, 0, out, NULL);
            else
                fin_add(fins, r, AT_EAGENT, NULL, "MCP skill %s: tool %s: %s", m->key, r->tool,
                        why);
        }
        m->failures = 0; /* the server answers: it works */
        m->backoff_ms = 0;
        break;
    }
    case AT_MCP_EV_REQUEST:
        /* roots, sampling, elicitation: a mounted server gets none */
        at_mcp_client_reply_error(&m->mc, ev->rid, AT_MCP_METHOD_NOT_FOUND,
                                  "not supported by an Atlas skill mount");
        break;
    case AT_MCP_EV_FAILED: {
        char why[600];
        snprintf(why, sizeof(why), "the MCP server broke the protocol: %s", ev->detail);
        fail_inflight(m, fins, AT_EPROTO, why);
        proc_stop(m);
        failed(m, why);
        break;
    }
    default:
        break;
    }
}

static void read_out(struct at__mount *m, struct fin **fins)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(m->out_fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            server_died(m, fins);
            return;
        }
        if (n < 0)
            return;
        at_mcp_client_feed(&m->mc, buf, (size_t)n);
        struct at_mcp_ev ev;
        while (m->has_client && at_mcp_client_next(&m->mc, &ev)) {
            on_event(m, &ev, fins);
            at_mcp_ev_release(&ev);
        }
        if (!m->has_client)
            return;
    }
}

static void read_err(struct at__mount *m)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(m->err_fd, buf, sizeof(buf))) > 0) {
        if ((size_t)n >= ERR_TAIL) {
            memcpy(m->err_tail, buf + n - ERR_TAIL, ERR_TAIL);
            m->err_len = ERR_TAIL;
        } else {
            if (m->err_len + (size_t)n > ERR_TAIL) {
                size_t drop = m->err_len + (size_t)n - ERR_TAIL;
                memmove(m->err_tail, m->err_tail + drop, m->err_len - drop);
                m->err_len -= drop;
            }
            memcpy(m->err_tail + m->err_len, buf, (size_t)n);
            m->err_len += (size_t)n;
        }
    }
}

/* ---- the mount's thread ---- */

static void *mount_main(void *arg)
{
    struct at__mount *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct fin *fins = NULL;
        int64_t now = at_now_ms();
        if (m->stopping) {
            fail_inflight(m, &fins, AT_ECANCELED, "the daemon is stopping");
            while (m->waiting) {
                struct req *r = m->waiting;
                m->waiting = r->next;
                fin_add(&fins, r, AT_ECANCELED, NULL, "the daemon is stopping");
            }
            proc_stop(m);
            pthread_mutex_unlock(&m->mu);
            fin_run(fins);
            return NULL;
        }
        /* start the server when calls wait for it */
        if (m->waiting && m->pid <= 0) {
            if (now < m->open_until_ms) {
                while (m->waiting) {
                    struct req *r = m->waiting;
                    m->waiting = r->next;
                    fin_add(&fins, r, AT_ECIRCUIT, NULL,
                            "MCP skill %s: the circuit is open after %d failure%s (%s); the "
                            "server is started again in %lld ms",
                            m->key, m->failures, m->failures == 1 ? "" : "s", m->last_error,
                            (long long)(m->open_until_ms - now));
                }
                m->nwaiting = 0;
            } else {
                char why[600];
                int src = proc_start(m, why, sizeof(why));
                if (src) {
                    failed(m, why);
                    while (m->waiting) {
                        struct req *r = m->waiting;
                        m->waiting = r->next;
                        fin_add(&fins, r, src == AT_EUNAVAIL ? AT_EUNAVAIL : AT_ECONN, NULL,
                                "MCP skill %s: %s", m->key, why);
                    }
                    m->nwaiting = 0;
                }
            }
        }
        /* send what waits once the handshake is done */
        while (m->ready && m->waiting) {
            struct req *r = m->waiting;
            long long id = r->tool ? at_mcp_client_call_tool(&m->mc, 0, r->tool,
                                                             r->args ? r->args : NULL, NULL)
                                   : at_mcp_client_request(&m->mc, 0, "tools/list", NULL);
            if (id == AT_ELIMIT)
                break; /* the client's window is full: later */
            m->waiting = r->next;
            m->nwaiting--;
            if (id < 0) {
                fin_add(&fins, r, AT_EINTERNAL, NULL, "MCP skill %s: %s", m->key,
                        at_err_msg((int)id));
                continue;
            }
            r->id = id;
            r->next = m->inflight;
            m->inflight = r;
        }
        flush_out(m);
        /* deadlines */
        int64_t next = now + 1000;
        if (m->pid > 0 && !m->ready && now - m->started_ms > START_TIMEOUT_MS) {
            fail_inflight(m, &fins, AT_ETIMEDOUT, "the MCP server did not finish its handshake");
            while (m->waiting) {
                struct req *r = m->waiting;
                m->waiting = r->next;
                fin_add(&fins, r, AT_ETIMEDOUT, NULL,
                        "MCP skill %s: the server did not finish its handshake in %d s", m->key,
                        START_TIMEOUT_MS / 1000);
            }
            m->nwaiting = 0;
            proc_stop(m);
            failed(m, "the handshake timed out");
        }
        int timeouts = 0;
        for (struct req **pp = &m->inflight; *pp;) {
            struct req *r = *pp;
            if (r->deadline_ms <= now) {
                *pp = r->next;
                if (m->has_client) {
                    at_mcp_client_cancel(&m->mc, r->id, "timed out");
                    at_mcp_client_forget(&m->mc, r->id);
                }
                fin_add(&fins, r, AT_ETIMEDOUT, NULL, "MCP skill %s: tool %s timed out", m->key,
                        r->tool ? r->tool : "tools/list");
                timeouts++;
                continue;
            }
            if (r->deadline_ms < next)
                next = r->deadline_ms;
            pp = &r->next;
        }
        for (int i = 0; i < timeouts; i++) {
            failed(m, "a call timed out");
            if (m->failures >= HANG_FAILURES && m->pid > 0) {
                fail_inflight(m, &fins, AT_ETIMEDOUT, "the server hangs: it is restarted");
                proc_stop(m);
            }
        }
        flush_out(m);
        struct pollfd pf[4] = {{m->wake[0], POLLIN, 0},
                               {m->out_fd, POLLIN, 0},
                               {m->err_fd, POLLIN, 0},
                               {m->wbuf.len ? m->in_fd : -1, POLLOUT, 0}};
        pthread_mutex_unlock(&m->mu);
        fin_run(fins);
        fins = NULL;
        int wait = (int)(next - at_now_ms());
        poll(pf, 4, wait < 0 ? 0 : wait > 1000 ? 1000 : wait);
        pthread_mutex_lock(&m->mu);
        if (pf[0].revents) {
            char b[64];
            while (read(m->wake[0], b, sizeof(b)) > 0)
                ;
        }
        if (m->err_fd >= 0 && pf[2].revents)
            read_err(m);
        if (m->out_fd >= 0 && pf[1].revents)
            read_out(m, &fins);
        if (fins) {
            pthread_mutex_unlock(&m->mu);
            fin_run(fins);
            pthread_mutex_lock(&m->mu);
        }
    }
}

/* ---- mcp.headers ---- */

#define MAX_HEADERS 32
#define MAX_HEADER_VALUE 8192

static int header_name_ok(const char *n)
{
    static const char *const reserved[] = {
        "host",       "content-type",      "content-length", "accept", "connection",
        "user-agent", "transfer-encoding", "last-event-id",  "expect", NULL};
    if (!n[0] || strlen(n) > 128 || !strncasecmp(n, "mcp-", 4))
        return 0;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("!#$%&'*+.^_`|~-", *c)))
            return 0;
    for (size_t i = 0; reserved[i]; i++)
        if (!strcasecmp(n, reserved[i]))
            return 0;
    return 1;
}

static int secret_name_ok(const char *p, size_t len)
{
    if (len == 0 || len > AT_SECRET_NAME_MAX || (p[0] >= '0' && p[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
            return 0;
    return 1;
}

int at__mount_headers_check(const json_t *headers, struct at_diag *d)
{
    if (!json_is_object(headers) || json_object_size(headers) > MAX_HEADERS) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                    "mcp.headers: an object of at most %d header names to values", MAX_HEADERS);
        at_diag_set_pointer(d, "/mcp/headers");
        return AT_EINVAL;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)headers, name, v)
    {
        char ptr[200];
        snprintf(ptr, sizeof(ptr), "/mcp/headers/%.128s", name);
        const char *val = json_string_value(v);
        const char *bad = NULL;
        if (!header_name_ok(name))
            bad = "not a header name Atlas may set (a token; not Host, Content-*, Accept, "
                  "User-Agent or the MCP transport's own Mcp-* headers)";
        else if (!val || json_string_length(v) > MAX_HEADER_VALUE ||
                 strlen(val) != json_string_length(v))
            bad = "a string of at most 8192 bytes";
        for (const char *c = val; !bad && c && *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                bad = "control characters (CR, LF) are not allowed in a header value";
        for (const char *ref = val; !bad && ref && (ref = strstr(ref, "${")); ref += 2) {
            const char *sn = ref + 2;
            size_t len = strcspn(sn, "}");
            if (strncmp(sn, "secret:", 7) != 0 || !sn[len] || !secret_name_ok(sn + 7, len - 7))
                bad = "${...} is ${secret:NAME}, NAME a secret's name (A-Z, 0-9, _)";
        }
        if (bad) {
            at_diag_set(d, AT_EINVAL, NULL, 0, 0, "mcp.headers.%.128s: %s", name, bad);
            at_diag_set_pointer(d, ptr);
            return AT_EINVAL;
        }
    }
    return 0;
}

/* ---- Streamable HTTP (mcp.url) ---- */

#define HTTP_MAX_RESPONSE (16u << 20)

enum { CONN_DOWN, CONN_CONNECTING, CONN_READY };
enum hstep { HS_HANDSHAKE, HS_LIST, HS_CALL };

/* One exchange on the mount's multi handle: a handshake step, the tools'
 * list, or a call. */
struct htx {
    struct htx *next;
    enum hstep step;
    struct req *r; /* HS_CALL */
    CURL *h;
    struct curl_slist *hd;
    struct at_mcp_xfer x;
    struct at_mcp_out *o;
};

static void htx_free(struct at__mount *m, struct htx *t)
{
    curl_multi_remove_handle(m->multi, t->h);
    curl_easy_cleanup(t->h);
    curl_slist_free_all(t->hd);
    at_mcp_xfer_release(&t->x);
    at_mcp_out_free(t->o);
    free(t);
}

static void extra_free(struct at__mount *m)
{
    for (size_t i = 0; m->extra && m->extra[i]; i++) {
        explicit_bzero(m->extra[i], strlen(m->extra[i]));
        free(m->extra[i]);
    }
    free(m->extra);
    m->extra = NULL;
}

/* mcp.headers as "Name: value" lines, ${secret:NAME} replaced by the
 * secret's value.  0, or AT_EPERM with why (a secret not set). */
static int extra_build(struct at__mount *m, char *why, size_t n)
{
    extra_free(m);
    const json_t *hs = json_object_get(m->mcp, "headers");
    m->extra = at_calloc(json_object_size(hs) + 1, sizeof(*m->extra));
    size_t k = 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)hs, name, v)
    {
        const char *p = json_string_value(v);
        struct at_buf b;
        at_buf_init(&b, AT_SECRET_VALUE_MAX + 16384);
        at_buf_printf(&b, "%s: ", name);
        while (*p) {
            const char *ref = strstr(p, "${secret:");
            if (!ref) {
                at_buf_puts(&b, p);
                break;
            }
            at_buf_append(&b, p, (size_t)(ref - p));
            const char *sn = ref + strlen("${secret:");
            size_t len = strcspn(sn, "}");
            char sname[AT_SECRET_NAME_MAX + 1];
            snprintf(sname, sizeof(sname), "%.*s", (int)len, sn);
            char *val = NULL;
            if (!m->secrets || at_secrets_get(m->secrets, sname, &val) || !val) {
                snprintf(why, n, "mcp.headers.%s: the secret %s is not set (atlas secret set %s)",
                         name, sname, sname);
                explicit_bzero(b.p, b.len);
                at_buf_release(&b);
                extra_free(m);
                return AT_EPERM;
            }
            at_buf_puts(&b, val);
            at_secret_free(val);
            p = sn + len + (sn[len] ? 1 : 0);
        }
        m->extra[k++] = at_buf_detach(&b, NULL);
    }
    return 0;
}

static int htx_start(struct at__mount *m, enum hstep step, struct req *r, struct at_mcp_out *o,
                     int64_t deadline)
{
    struct htx *t = at_calloc(1, sizeof(*t));
    t->step = step;
    t->r = r;
    t->o = o;
    t->h = curl_easy_init();
    at_mcp_xfer_init(&t->x, &m->mc, HTTP_MAX_RESPONSE);
    if (!t->h) {
        at_mcp_xfer_release(&t->x);
        at_mcp_out_free(o);
        free(t);
        return AT_EIO;
    }
    t->hd =
        at_mcp_xfer_prepare(t->h, m->url, at_mcp_client_peer(&m->mc), o, NULL,
                            (const char *const *)m->extra, &t->x, (long)(deadline - at_now_ms()));
    curl_easy_setopt(t->h, CURLOPT_USERAGENT, "atlas-skills/" ATLAS_VERSION);
    curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
    curl_multi_add_handle(m->multi, t->h);
    t->next = m->tx;
    m->tx = t;
    m->ntx++;
    return 0;
}

static void htx_unlink(struct at__mount *m, struct htx *t)
{
    for (struct htx **pp = &m->tx; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            m->ntx--;
            return;
        }
}

static void inflight_unlink(struct at__mount *m, struct req *r)
{
    for (struct req **pp = &m->inflight; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            r->next = NULL;
            return;
        }
}

/* What one exchange came to: 0 (for a request, t->x.answered says whether
 * its answer came), or an AT_E* with why. */
static int htx_eval(struct at__mount *m, struct htx *t, CURLcode cc, char *why, size_t n)
{
    long status = 0;
    const struct at_mcp_out *o = t->o;
    cc = at_mcp_xfer_end(&t->x, t->h, cc, &status);
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, n, "%s did not answer %s in time", m->url, o->method);
        return AT_ETIMEDOUT;
    }
    if (cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_PARTIAL_FILE ||
        cc == CURLE_WRITE_ERROR) {
        snprintf(why, n, "the MCP server at %s dropped the connection during the call: %s", m->url,
                 curl_easy_strerror(cc));
        return AT_ECRASH;
    }
    if (cc != CURLE_OK) {
        snprintf(why, n, "cannot reach the MCP server at %s: %s", m->url, curl_easy_strerror(cc));
        return AT_ECONN;
    }
    if (status == 401 || status == 403) {
        if (json_object_size(json_object_get(m->mcp, "headers")))
            snprintf(why, n, "%s refused the credentials of mcp.headers (HTTP %ld)", m->url,
                     status);
        else
            snprintf(why, n,
                     "%s requires authentication (HTTP %ld): give its credentials in mcp.headers "
                     "(from the secrets store); OAuth is not supported yet",
                     m->url, status);
        return AT_EPERM;
    }
    if (status == 404 && at_mcp_client_peer(&m->mc)->session[0]) {
        snprintf(why, n, "%s forgot the session (HTTP 404)", m->url);
        return AT_ENOENT; /* connected again */
    }
    if (o->id == 0) {
        if (status >= 200 && status < 300)
            return 0;
        snprintf(why, n, "%s answered %s with HTTP %ld", m->url, o->method, status);
        return AT_EPROTO;
    }
    if (t->x.answered || at_mcp_client_unanswered(&m->mc, o->id))
        return 0; /* answered, or server/discover not understood: the handshake goes on */
    at_mcp_xfer_no_answer(&t->x, status, o->id, why, n);
    return AT_EPROTO;
}

static int breaker_counts(int rc)
{
    return rc == AT_ECONN || rc == AT_ECRASH || rc == AT_ETIMEDOUT || rc == AT_EPROTO;
}

static void http_disconnect(struct at__mount *m)
{
    if (m->has_client)
        at_mcp_client_release(&m->mc);
    m->has_client = 0;
    m->conn = CONN_DOWN;
    m->ready = 0;
    m->stale = 0;
    extra_free(m);
}

/* The connection failed (only handshake exchanges were in flight): the
 * calls that wait for it fail with rc. */
static void conn_fail(struct at__mount *m, struct fin **fins, int rc, const char *why)
{
    if (breaker_counts(rc))
        failed(m, why);
    while (m->waiting) {
        struct req *r = m->waiting;
        m->waiting = r->next;
        fin_add(fins, r, rc, NULL, "MCP skill %s: %s", m->key, why);
    }
    m->nwaiting = 0;
    http_disconnect(m);
}

/* The next handshake message, or the tools' list once it is done. */
static void handshake_next(struct at__mount *m, struct fin **fins)
{
    struct at_mcp_out *o = at_mcp_client_pop(&m->mc);
    enum hstep step = HS_HANDSHAKE;
    if (!o && at_mcp_client_ready(&m->mc)) {
        at_mcp_client_request(&m->mc, 0, "tools/list", NULL);
        o = at_mcp_client_pop(&m->mc);
        step = HS_LIST;
    }
    char why[300];
    if (!o) {
        snprintf(why, sizeof(why), "the MCP handshake with %s did not finish", m->url);
        conn_fail(m, fins, AT_EPROTO, why);
        return;
    }
    if (htx_start(m, step, NULL, o, m->conn_deadline)) {
        snprintf(why, sizeof(why), "no HTTP client (libcurl)");
        conn_fail(m, fins, AT_EIO, why);
    }
}

static void http_connect(struct at__mount *m, struct fin **fins)
{
    char why[600];
    int rc = extra_build(m, why, sizeof(why));
    if (rc) {
        conn_fail(m, fins, rc, why);
        return;
    }
    struct at_mcp_client_cfg cc = {.transport = AT_MCP_HTTP, .max_message = HTTP_MAX_RESPONSE};
    at_mcp_client_init(&m->mc, &cc);
    m->has_client = 1;
    m->conn = CONN_CONNECTING;
    m->conn_deadline = m->waiting->deadline_ms;
    at_mcp_client_start(&m->mc);
    handshake_next(m, fins);
}

/* A call's exchange ended. */
static void call_done(struct at__mount *m, struct htx *t, CURLcode cc, struct fin **fins)
{
    struct req *r = t->r;
    t->r = NULL;
    inflight_unlink(m, r);
    char why[700] = "";
    int rc = htx_eval(m, t, cc, why, sizeof(why));
    struct at_mcp_ev *ev = &t->x.ev;
    if (!rc && (!t->x.answered || ev->kind != AT_MCP_EV_RESPONSE)) {
        snprintf(why, sizeof(why), "%s sent no answer to %s", m->url,
                 r->tool ? r->tool : "tools/list");
        rc = AT_EPROTO;
    }
    if (rc) {
        at_mcp_client_forget(&m->mc, t->o->id);
        if (rc == AT_ENOENT && !r->retried) {
            /* the session is gone: the call waits for the next one */
            r->retried = 1;
            r->next = m->waiting;
            m->waiting = r;
            m->nwaiting++;
            m->stale = 1;
            return;
        }
        if (breaker_counts(rc))
            failed(m, why);
        if (rc == AT_ECONN || rc == AT_ECRASH || rc == AT_ENOENT)
            m->stale = 1; /* connect again once the others are done */
        fin_add(fins, r, rc, NULL, "MCP skill %s: %s", m->key, why);
        return;
    }
    m->failures = 0;
    m->backoff_ms = 0;
    if (ev->error) {
        char msg[600];
        at_mcp_ev_error_text(ev, msg, sizeof(msg));
        fin_add(fins, r, AT_EAGENT, NULL, "MCP skill %s: %s", m->key, msg);
        return;
    }
    if (!r->tool) {
        fin_add(fins, r, 0, json_pack("{s:O}", "tools", json_object_get(ev->result, "tools")),
                NULL);
        return;
    }
    json_t *out = NULL;
    char w[600];
    if (at_mcp_tool_output(ev->result, &out, w, sizeof(w))) {
        fin_add(fins, r, AT_EAGENT, NULL, "MCP skill %s: tool %s: %s", m->key, r->tool, w);
        return;
    }
    if (m->secrets && m->extra && m->extra[0]) {
        /* what the server says never shows the credentials it was given */
        json_t *clean = at_secrets_redacted_copy(m->secrets, out);
        if (clean) {
            json_decref(out);
            out = clean;
        }
    }
    fin_add(fins, r, 0, out, NULL);
}

static void htx_done(struct at__mount *m, struct htx *t, CURLcode cc, struct fin **fins)
{
    if (t->step == HS_CALL) {
        call_done(m, t, cc, fins);
        return;
    }
    char why[700] = "";
    int rc = htx_eval(m, t, cc, why, sizeof(why));
    if (!rc && t->x.answered && t->x.ev.kind == AT_MCP_EV_FAILED) {
        snprintf(why, sizeof(why), "the MCP handshake with %s failed: %s", m->url, t->x.ev.detail);
        rc = AT_EPROTO;
    }
    if (!rc && t->step == HS_LIST && (!t->x.answered || t->x.ev.kind != AT_MCP_EV_RESPONSE)) {
        snprintf(why, sizeof(why), "%s sent no answer to tools/list", m->url);
        rc = AT_EPROTO;
    }
    if (rc) {
        conn_fail(m, fins, rc, why);
        return;
    }
    if (t->step == HS_HANDSHAKE) {
        handshake_next(m, fins);
        return;
    }
    json_t *tools = json_object_get(t->x.ev.result, "tools");
    if (json_is_array(tools)) {
        json_decref(m->tools);
        m->tools = json_incref(tools);
    }
    m->conn = CONN_READY;
    m->ready = 1;
    m->starts++;
    m->failures = 0;
    m->backoff_ms = 0;
}

/* Send what waits, as far as the window allows. */
static void calls_send(struct at__mount *m, struct fin **fins)
{
    while (m->waiting && m->ntx < m->concurrency) {
        struct req *r = m->waiting;
        long long id = r->tool ? at_mcp_client_call_tool(&m->mc, 0, r->tool, r->args, NULL)
                               : at_mcp_client_request(&m->mc, 0, "tools/list", NULL);
        if (id == AT_ELIMIT)
            break; /* the client's window is full: later */
        m->waiting = r->next;
        m->nwaiting--;
        r->next = NULL;
        struct at_mcp_out *o = id < 0 ? NULL : at_mcp_client_pop(&m->mc);
        if (!o || htx_start(m, HS_CALL, r, o, r->deadline_ms)) {
            if (id >= 0)
                at_mcp_client_forget(&m->mc, id);
            fin_add(fins, r, AT_EINTERNAL, NULL, "MCP skill %s: cannot send the request: %s",
                    m->key, id < 0 ? at_err_msg((int)id) : "no HTTP client");
            continue;
        }
        r->id = id;
        r->next = m->inflight;
        m->inflight = r;
    }
}

static void *http_main(void *arg)
{
    struct at__mount *m = arg;
    m->multi = curl_multi_init();
    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct fin *fins = NULL;
        if (m->stopping) {
            while (m->tx) {
                struct htx *t = m->tx;
                m->tx = t->next;
                if (t->r) {
                    inflight_unlink(m, t->r);
                    fin_add(&fins, t->r, AT_ECANCELED, NULL, "the daemon is stopping");
                }
                htx_free(m, t);
            }
            while (m->waiting) {
                struct req *r = m->waiting;
                m->waiting = r->next;
                fin_add(&fins, r, AT_ECANCELED, NULL, "the daemon is stopping");
            }
            http_disconnect(m);
            pthread_mutex_unlock(&m->mu);
            fin_run(fins);
            break;
        }
        int64_t now = at_now_ms();
        if (m->waiting && (!m->multi || (now < m->open_until_ms && m->conn != CONN_READY))) {
            while (m->waiting) {
                struct req *r = m->waiting;
                m->waiting = r->next;
                if (!m->multi)
                    fin_add(&fins, r, AT_EIO, NULL, "MCP skill %s: no HTTP client (libcurl)",
                            m->key);
                else
                    fin_add(&fins, r, AT_ECIRCUIT, NULL,
                            "MCP skill %s: the circuit is open after %d failure%s (%s); the "
                            "server is tried again in %lld ms",
                            m->key, m->failures, m->failures == 1 ? "" : "s", m->last_error,
                            (long long)(m->open_until_ms - now));
            }
            m->nwaiting = 0;
        }
        /* calls that could not be sent before their deadline */
        int64_t next = now + 1000;
        for (struct req **pp = &m->waiting; *pp;) {
            struct req *r = *pp;
            if (r->deadline_ms <= now) {
                *pp = r->next;
                m->nwaiting--;
                fin_add(&fins, r, AT_ETIMEDOUT, NULL,
                        "MCP skill %s: tool %s timed out before it could be sent", m->key,
                        r->tool ? r->tool : "tools/list");
                continue;
            }
            if (r->deadline_ms < next)
                next = r->deadline_ms;
            pp = &r->next;
        }
        if (m->stale && m->ntx == 0)
            http_disconnect(m);
        if (m->waiting && m->conn == CONN_DOWN && m->ntx == 0)
            http_connect(m, &fins);
        if (m->conn == CONN_READY && !m->stale)
            calls_send(m, &fins);
        pthread_mutex_unlock(&m->mu);
        fin_run(fins);
        fins = NULL;
        int running = 0;
        struct curl_waitfd wfd = {.fd = m->wake[0], .events = CURL_WAIT_POLLIN};
        int wait = (int)(next - at_now_ms());
        if (m->multi) {
            curl_multi_perform(m->multi, &running);
            curl_multi_poll(m->multi, &wfd, 1, wait < 0 ? 0 : wait, NULL);
            curl_multi_perform(m->multi, &running);
        } else {
            struct pollfd pf = {m->wake[0], POLLIN, 0};
            poll(&pf, 1, wait < 0 ? 0 : wait);
        }
        char b[64];
        while (read(m->wake[0], b, sizeof(b)) > 0)
            ;
        pthread_mutex_lock(&m->mu);
        CURLMsg *msg;
        int left;
        while (m->multi && (msg = curl_multi_info_read(m->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct htx *t = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            CURLcode cc = msg->data.result;
            htx_unlink(m, t);
            htx_done(m, t, cc, &fins);
            htx_free(m, t);
        }
        if (fins) {
            pthread_mutex_unlock(&m->mu);
            fin_run(fins);
            pthread_mutex_lock(&m->mu);
        }
    }
    if (m->multi)
        curl_multi_cleanup(m->multi);
    m->multi = NULL;
    return NULL;
}

/* ---- the interface ---- */

struct at__mount *at__mount_get(struct at_skills *s, const char *key, const json_t *mcp)
{
    pthread_mutex_lock(&s->mounts_mu);
    struct at__mount *m;
    for (m = s->mounts; m; m = m->next)
        if (!strcmp(m->key, key) && json_equal(m->mcp, mcp))
            break;
    if (!m) {
        m = at_calloc(1, sizeof(*m));
        snprintf(m->key, sizeof(m->key), "%s", key);
        m->mcp = json_deep_copy(mcp);
        pthread_mutex_init(&m->mu, NULL);
        m->in_fd = m->out_fd = m->err_fd = -1;
        at_buf_init(&m->wbuf, 64u << 20);
        m->tools = json_array();
        m->url = json_string_value(json_object_get(m->mcp, "url"));
        m->sandbox = json_object_get(m->mcp, "sandbox");
        m->init_path = s->cfg.init_path;
        m->secrets = s->cfg.secrets;
        json_int_t cc = json_integer_value(json_object_get(m->mcp, "concurrency"));
        m->concurrency =
            cc >= 1 && cc <= AT__MOUNT_MAX_CONCURRENCY ? (int)cc : AT__MOUNT_CONCURRENCY;
        if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) ||
            pthread_create(&m->thread, NULL, m->url ? http_main : mount_main, m))
            abort(); /* out of descriptors or threads at a mount: nothing sane to do */
        m->next = s->mounts;
        s->mounts = m;
    }
    pthread_mutex_unlock(&s->mounts_mu);
    return m;
}

void at__mount_call(struct at__mount *m, const char *tool, const json_t *arguments,
                    double timeout_s, at_skill_done_fn done, void *arg)
{
    struct req *r = at_calloc(1, sizeof(*r));
    r->tool = tool ? at_strdup(tool) : NULL;
    r->args = arguments ? json_deep_copy(arguments) : NULL;
    r->deadline_ms = at_now_ms() + (int64_t)(timeout_s * 1000);
    r->done = done;
    r->arg = arg;
    pthread_mutex_lock(&m->mu);
    if (m->nwaiting >= MAX_WAITING || m->stopping) {
        pthread_mutex_unlock(&m->mu);
        struct at_diag d;
        at_diag_clear(&d);
        at_diag_set(&d, AT_EBUSY, NULL, 0, 0, "MCP skill %s: too many calls wait", m->key);
        done(arg, AT_EBUSY, NULL, &d);
        req_free(r);
        return;
    }
    struct req **pp = &m->waiting;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    m->nwaiting++;
    pthread_mutex_unlock(&m->mu);
    ssize_t w = write(m->wake[1], "x", 1);
    (void)w;
}

json_t *at__mount_info(struct at__mount *m)
{
    pthread_mutex_lock(&m->mu);
    int64_t now = at_now_ms();
    const char *state = m->pid > 0               ? (m->ready ? "running" : "starting")
                        : now < m->open_until_ms ? "circuit-open"
                        : m->url && m->ready     ? "connected"
                                                 : "stopped";
    json_t *j = json_pack("{s:s,s:i,s:i,s:O}", "state", state, "starts", m->starts, "failures",
                          m->failures, "tools", m->tools);
    if (m->last_error[0])
        json_object_set_new(j, "last_error", json_string(m->last_error));
    if (m->pid > 0)
        json_object_set_new(j, "pid", json_integer(m->pid));
    if (m->url) {
        json_object_set_new(j, "url", json_string(m->url));
        json_object_set_new(j, "concurrency", json_integer(m->concurrency));
    } else
        json_object_set_new(j, "sandboxed", json_boolean(m->sandbox != NULL));
    size_t n = 0;
    for (struct req *r = m->inflight; r; r = r->next)
        n++;
    json_object_set_new(j, "in_flight", json_integer((json_int_t)n));
    json_object_set_new(j, "waiting", json_integer((json_int_t)m->nwaiting));
    pthread_mutex_unlock(&m->mu);
    return j;
}

void at__mounts_free(struct at_skills *s)
{
    struct at__mount *m = s->mounts;
    s->mounts = NULL;
    while (m) {
        struct at__mount *n = m->next;
        pthread_mutex_lock(&m->mu);
        m->stopping = 1;
        pthread_mutex_unlock(&m->mu);
        ssize_t w = write(m->wake[1], "x", 1);
        (void)w;
        pthread_join(m->thread, NULL);
        close(m->wake[0]);
        close(m->wake[1]);
        at_buf_release(&m->wbuf);
        json_decref(m->tools);
        json_decref(m->mcp);
        pthread_mutex_destroy(&m->mu);
        free(m);
        m = n;
    }
}
