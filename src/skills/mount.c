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
 * (the same client, mcp/client.h, in its HTTP transport; one session per
 * mount, made again when the server forgets it): its thread sends one
 * call at a time with blocking libcurl (each bounded by its deadline), and
 * an unreachable server, a dropped connection or a timeout count as the
 * failures of the same breaker (a "start" is then a new connection).
 */
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"
#include "mcp/client.h"
#include "mcp/message.h"
#include "security/sandbox.h"

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
    int64_t deadline_ms;
    at_skill_done_fn done;
    void *arg;
};

struct hx;

struct at__mount {
    struct at__mount *next;
    char key[80];
    json_t *mcp;
    const char *url;       /* mcp.url: Streamable HTTP (in mcp), or NULL: stdio */
    const json_t *sandbox; /* mcp.sandbox (in mcp), or NULL: atlasd's user */
    const char *init_path; /* atlas-init for the Landlock fence (the skills'), or NULL */
    CURL *curl;
    atomic_int halt; /* the daemon stops: a transfer in progress is abandoned */
    struct hx *hx;
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

/* ---- Streamable HTTP (mcp.url) ---- */

#define HTTP_MAX_RESPONSE (16u << 20)

/* One exchange: the curl callbacks feed the client's answer reader. */
struct hx {
    struct at_mcp_client *mc;
    struct at_mcp_http_resp resp;
    long long want;      /* the request whose answer ends the exchange */
    int answered;        /* its answer came: ev */
    struct at_mcp_ev ev; /* the answer's event */
};

static int hx_on_msg(void *arg, json_t *v)
{
    struct hx *x = arg;
    struct at_mcp_ev ev;
    at_mcp_client_recv(x->mc, v, &ev);
    if (x->want > 0 && ev.id == x->want && !x->answered) {
        x->ev = ev;
        x->answered = 1;
        return 1;
    }
    /* the server's notifications and requests (sampling, roots,
     * elicitation): a mounted server gets none, its requests go unanswered
     * (the call then ends at its deadline) */
    at_mcp_ev_release(&ev);
    return 0;
}

static void hx_reset(struct hx *x, long long want)
{
    if (x->answered)
        at_mcp_ev_release(&x->ev);
    x->answered = 0;
    x->want = want;
    at_mcp_http_resp_reset(&x->resp);
}

static size_t hx_body(char *p, size_t sz, size_t n, void *arg)
{
    struct hx *x = arg;
    return at_mcp_http_resp_body(&x->resp, p, sz * n) == 0 ? sz * n : 0;
}

static size_t hx_header(char *p, size_t sz, size_t n, void *arg)
{
    struct hx *x = arg;
    at_mcp_http_resp_header(&x->resp, p, sz * n);
    return sz * n;
}

static int hx_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    struct at__mount *m = arg;
    return atomic_load(&m->halt) ? 1 : 0;
}

static void hx_add_line(void *arg, const char *line)
{
    struct curl_slist **hd = arg;
    size_t n = strlen(line);
    if (n >= 2 && line[n - 2] == ':' && line[n - 1] == ' ') {
        /* an empty value: libcurl sends "Name;" as "Name:" */
        char *semi = at_asprintf("%.*s;", (int)(n - 2), line);
        *hd = curl_slist_append(*hd, semi);
        free(semi);
        return;
    }
    *hd = curl_slist_append(*hd, line);
}

/* POST o.  0: sent (for a request, m->hx->answered says whether its answer
 * came); else an AT_E* with why. */
static int http_post(struct at__mount *m, const struct at_mcp_out *o, long timeout_ms, char *why,
                     size_t n)
{
    struct hx *x = m->hx;
    struct curl_slist *hd = NULL;
    at_mcp_http_headers(AT_MCP_HTTP_POST, at_mcp_client_peer(&m->mc), o, NULL, hx_add_line, &hd);
    CURL *h = m->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, m->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->len);
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, o->body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hx_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, hx_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "atlas-skills/" ATLAS_VERSION);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, hx_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, m);
    hx_reset(x, o->id);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hd);
    if (cc == CURLE_WRITE_ERROR && x->answered)
        cc = CURLE_OK; /* we stopped reading once the answer was in */
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, n, "%s did not answer %s in time", m->url, o->method[0] ? o->method : "");
        return AT_ETIMEDOUT;
    }
    if (cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_PARTIAL_FILE ||
        (cc == CURLE_WRITE_ERROR && !x->answered)) {
        snprintf(why, n, "the MCP server at %s dropped the connection during the call: %s", m->url,
                 curl_easy_strerror(cc));
        return AT_ECRASH;
    }
    if (cc != CURLE_OK) {
        snprintf(why, n, "cannot reach the MCP server at %s: %s", m->url, curl_easy_strerror(cc));
        return AT_ECONN;
    }
    at_mcp_client_session(&m->mc, x->resp.session);
    if (!x->answered)
        at_mcp_http_resp_end(&x->resp);
    if (status == 401 || status == 403) {
        snprintf(why, n,
                 "%s requires authentication (HTTP %ld): credentials for MCP skills over HTTP "
                 "are not supported yet",
                 m->url, status);
        return AT_EPERM;
    }
    if (status == 404 && at_mcp_client_peer(&m->mc)->session[0]) {
        snprintf(why, n, "%s forgot the session (HTTP 404)", m->url);
        return AT_ENOENT; /* the caller connects again */
    }
    if (o->id == 0) {
        if (status >= 200 && status < 300)
            return 0;
        snprintf(why, n, "%s answered %s with HTTP %ld", m->url, o->method, status);
        return AT_EPROTO;
    }
    if (x->answered || at_mcp_client_unanswered(&m->mc, o->id))
        return 0; /* answered, or server/discover not understood: the handshake goes on */
    if (x->resp.not_json)
        snprintf(why, n, "the server's answer is not JSON (HTTP %ld, %s)", status,
                 x->resp.content_type[0] ? x->resp.content_type : "no content type");
    else
        snprintf(why, n, "the server's answer (HTTP %ld) holds no JSON-RPC response to %s", status,
                 o->method);
    return AT_EPROTO;
}

/* Send what the client queued (the handshake) until it has nothing more. */
static int http_flush(struct at__mount *m, int64_t deadline, char *why, size_t n)
{
    struct at_mcp_out *o;
    while ((o = at_mcp_client_pop(&m->mc))) {
        int rc = http_post(m, o, (long)(deadline - at_now_ms()), why, n);
        at_mcp_out_free(o);
        if (rc)
            return rc;
        if (m->hx->answered && m->hx->ev.kind == AT_MCP_EV_FAILED) {
            snprintf(why, n, "the MCP handshake with %s failed: %s", m->url, m->hx->ev.detail);
            return AT_EPROTO;
        }
    }
    return 0;
}

/* One request and its answer (the event in m->hx->ev). */
static int http_request(struct at__mount *m, const char *tool, const json_t *args, int64_t deadline,
                        char *why, size_t n)
{
    long long id = tool ? at_mcp_client_call_tool(&m->mc, 0, tool, (json_t *)args, NULL)
                        : at_mcp_client_request(&m->mc, 0, "tools/list", NULL);
    if (id < 0) {
        snprintf(why, n, "cannot send the request: %s", at_err_msg((int)id));
        return AT_EINTERNAL;
    }
    struct at_mcp_out *o = at_mcp_client_pop(&m->mc);
    if (!o) {
        snprintf(why, n, "the MCP client queued nothing");
        return AT_EINTERNAL;
    }
    int rc = http_post(m, o, (long)(deadline - at_now_ms()), why, n);
    at_mcp_out_free(o);
    if (rc) {
        at_mcp_client_forget(&m->mc, id);
        return rc;
    }
    if (!m->hx->answered || m->hx->ev.kind != AT_MCP_EV_RESPONSE) {
        at_mcp_client_forget(&m->mc, id);
        snprintf(why, n, "%s sent no answer to %s", m->url, tool ? tool : "tools/list");
        return AT_EPROTO;
    }
    return 0;
}

static void http_set_ready(struct at__mount *m, int ready, json_t *tools)
{
    pthread_mutex_lock(&m->mu);
    m->ready = ready;
    if (ready)
        m->starts++;
    if (tools) {
        json_decref(m->tools);
        m->tools = json_incref(tools);
    }
    pthread_mutex_unlock(&m->mu);
}

static void http_disconnect(struct at__mount *m)
{
    if (m->has_client)
        at_mcp_client_release(&m->mc);
    m->has_client = 0;
    http_set_ready(m, 0, NULL);
}

/* The handshake and the tools (describe's), once per connection. */
static int http_connect(struct at__mount *m, int64_t deadline, char *why, size_t n)
{
    http_disconnect(m);
    struct at_mcp_client_cfg cc = {.transport = AT_MCP_HTTP, .max_message = HTTP_MAX_RESPONSE};
    at_mcp_client_init(&m->mc, &cc);
    m->has_client = 1;
    m->hx->mc = &m->mc;
    at_mcp_client_start(&m->mc);
    int rc = http_flush(m, deadline, why, n);
    if (!rc && !at_mcp_client_ready(&m->mc)) {
        snprintf(why, n, "the MCP handshake with %s did not finish", m->url);
        rc = AT_EPROTO;
    }
    if (!rc && !(rc = http_request(m, NULL, NULL, deadline, why, n))) {
        json_t *tools = json_object_get(m->hx->ev.result, "tools");
        http_set_ready(m, 1, json_is_array(tools) ? tools : NULL);
    }
    if (rc)
        http_disconnect(m);
    return rc;
}

/* One call: connected first; a forgotten session is made again once. */
static int http_do(struct at__mount *m, const struct req *r, json_t **out, char *why, size_t n)
{
    for (int attempt = 0;; attempt++) {
        if (at_now_ms() >= r->deadline_ms) {
            snprintf(why, n, "tool %s timed out before it could be sent",
                     r->tool ? r->tool : "tools/list");
            return AT_ETIMEDOUT;
        }
        int rc = m->has_client && at_mcp_client_ready(&m->mc)
                     ? 0
                     : http_connect(m, r->deadline_ms, why, n);
        if (!rc)
            rc = http_request(m, r->tool, r->args, r->deadline_ms, why, n);
        if (rc == AT_ENOENT && attempt == 0) {
            http_disconnect(m);
            continue;
        }
        if (rc) {
            if (rc != AT_EPERM)
                http_disconnect(m);
            return rc;
        }
        struct at_mcp_ev *ev = &m->hx->ev;
        if (ev->error) {
            char msg[600];
            at_mcp_ev_error_text(ev, msg, sizeof(msg));
            snprintf(why, n, "%s", msg);
            return AT_EAGENT;
        }
        if (!r->tool) {
            *out = json_pack("{s:O}", "tools", json_object_get(ev->result, "tools"));
            return 0;
        }
        char w[600];
        if (at_mcp_tool_output(ev->result, out, w, sizeof(w))) {
            snprintf(why, n, "tool %s: %s", r->tool, w);
            return AT_EAGENT;
        }
        return 0;
    }
}

static void *http_main(void *arg)
{
    struct at__mount *m = arg;
    m->curl = curl_easy_init();
    m->hx = at_calloc(1, sizeof(*m->hx));
    at_mcp_http_resp_init(&m->hx->resp, HTTP_MAX_RESPONSE, hx_on_msg, m->hx);
    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct fin *fins = NULL;
        if (m->stopping) {
            while (m->waiting) {
                struct req *r = m->waiting;
                m->waiting = r->next;
                fin_add(&fins, r, AT_ECANCELED, NULL, "the daemon is stopping");
            }
            pthread_mutex_unlock(&m->mu);
            fin_run(fins);
            break;
        }
        if (!m->waiting) {
            struct pollfd pf = {m->wake[0], POLLIN, 0};
            pthread_mutex_unlock(&m->mu);
            poll(&pf, 1, 1000);
            char b[64];
            while (read(m->wake[0], b, sizeof(b)) > 0)
                ;
            pthread_mutex_lock(&m->mu);
            continue;
        }
        int64_t now = at_now_ms();
        if (now < m->open_until_ms || !m->curl) {
            while (m->waiting) {
                struct req *r = m->waiting;
                m->waiting = r->next;
                if (!m->curl)
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
        } else {
            struct req *r = m->waiting;
            m->waiting = r->next;
            m->nwaiting--;
            r->next = NULL;
            m->inflight = r;
            pthread_mutex_unlock(&m->mu);
            char why[700] = "";
            json_t *out = NULL;
            int rc = http_do(m, r, &out, why, sizeof(why));
            pthread_mutex_lock(&m->mu);
            m->inflight = NULL;
            if (!rc) {
                m->failures = 0;
                m->backoff_ms = 0;
                fin_add(&fins, r, 0, out, NULL);
            } else {
                if (rc == AT_ECONN || rc == AT_ECRASH || rc == AT_ETIMEDOUT || rc == AT_EPROTO)
                    failed(m, why);
                fin_add(&fins, r, rc, NULL, "MCP skill %s: %s", m->key, why);
            }
        }
        pthread_mutex_unlock(&m->mu);
        fin_run(fins);
        pthread_mutex_lock(&m->mu);
    }
    http_disconnect(m);
    hx_reset(m->hx, 0);
    at_mcp_http_resp_release(&m->hx->resp);
    free(m->hx);
    m->hx = NULL;
    if (m->curl)
        curl_easy_cleanup(m->curl);
    m->curl = NULL;
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
    if (m->url)
        json_object_set_new(j, "url", json_string(m->url));
    else
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
        atomic_store(&m->halt, 1);
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
