/*
 * worker.c - one agent process: its pipes, timers and life cycle, around
 * the MCP client of an agent that is an MCP server on stdio
 * (docs/agent-protocol.md).  The protocol itself (revision choice and
 * handshake, ids, ping, cancellation, framing, what a tool result means)
 * is mcp/client.h's; this file is its stdio transport plus the process
 * and job concerns.  Runs on the engine's loop thread only.
 */
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/utf8.h"
#include "exec/internal.h"
#include "json/json.h"
#include "mcp/message.h"
#include "security/sandbox.h"
#include "security/secret.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* tags of the requests a worker makes (mcp/client.h) */
enum { TAG_LIST = 1, TAG_CALL, TAG_PING };

/* how long a process whose pipe closed has to show its exit (pipe_closed) */
#define AT_PIPE_GRACE_MS 500

static void on_out(struct at_loop *loop, struct at_watch *wt, uint32_t ev);
static void on_err(struct at_loop *loop, struct at_watch *wt, uint32_t ev);
static void on_in(struct at_loop *loop, struct at_watch *wt, uint32_t ev);
static void on_pid(struct at_loop *loop, struct at_watch *wt, uint32_t ev);
static void on_op_timeout(struct at_loop *loop, struct at_timer *t);
static void on_health(struct at_loop *loop, struct at_timer *t);
static void on_idle_timeout(struct at_loop *loop, struct at_timer *t);
static void on_kill_timer(struct at_loop *loop, struct at_timer *t);
static void on_reap_poll(struct at_loop *loop, struct at_timer *t);
static void worker_died(struct at_worker *w);

/* ---- environment ---- */

/* network: egress narrowed to the HOST:PORTs of requires.egress: in the
 * sandbox, through atlasd's egress proxy (security/egress_proxy.h) */
static int filtered_egress(const struct at_contract *c)
{
    return c->network == AT_NETWORK_EGRESS &&
           json_object_get(json_object_get(c->json, "requires"), "egress") != NULL;
}

static char **build_env(struct at_worker *w)
{
    struct at_engine *e = w->eng;
    const struct at_contract *c = w->pool->agent->contract;
    size_t n = 0;
    while (e->base_env[n])
        n++;
    const json_t *secrets = json_object_get(json_object_get(c->json, "requires"), "secrets");
    char **env = at_calloc(n + 24 + json_array_size(secrets), sizeof(*env));
    size_t k = 0;
    const char *pypath = NULL, *daemon_path = NULL;
    /* the dependency build's environment (registry/build.h): a virtual
     * environment's bin first in PATH, and VIRTUAL_ENV; node_modules in NODE_PATH */
    const char *venv = w->pool->agent->env;
    int py_env = venv && w->pool->agent->env_kind && !strcmp(w->pool->agent->env_kind, "python");
    int node_env = venv && w->pool->agent->env_kind && !strcmp(w->pool->agent->env_kind, "node");
    for (size_t i = 0; i < n; i++) {
        if (strncmp(e->base_env[i], "PYTHONPATH=", 11) == 0) {
            pypath = e->base_env[i] + 11;
            continue;
        }
        if (py_env && strncmp(e->base_env[i], "PATH=", 5) == 0)
            daemon_path = e->base_env[i] + 5;
        if (py_env && (strncmp(e->base_env[i], "PATH=", 5) == 0 ||
                       strncmp(e->base_env[i], "VIRTUAL_ENV=", 12) == 0 ||
                       strncmp(e->base_env[i], "PYTHONHOME=", 11) == 0))
            continue;
        if (node_env && strncmp(e->base_env[i], "NODE_PATH=", 10) == 0)
            continue;
        env[k++] = at_strdup(e->base_env[i]);
    }
    if (py_env) {
        env[k++] = at_asprintf("PATH=%s/bin:%s", venv,
                               daemon_path && *daemon_path ? daemon_path : AT_SANDBOX_PATH);
        env[k++] = at_asprintf("VIRTUAL_ENV=%s", venv);
    }
    if (node_env)
        env[k++] = at_asprintf("NODE_PATH=%s/node_modules", venv);
    env[k++] = at_asprintf("ATLAS_MCP_URL=%s", e->cfg.mcp_url ? e->cfg.mcp_url : "");
    env[k++] = at_asprintf("ATLAS_TOKEN=%s", w->token);
    env[k++] = at_asprintf("ATLAS_AGENT_NAME=%s", c->name);
    env[k++] = at_asprintf("ATLAS_AGENT_VERSION=%s", c->version);
    if (w->pool->agent->contract_file)
        env[k++] = at_asprintf("ATLAS_CONTRACT=%s", w->pool->agent->contract_file);
    if (e->cfg.mcp_url) {
        /* the model gateway lives on the same listener (issue: model gateway) */
        const char *mcp = e->cfg.mcp_url;
        size_t base = strlen(mcp);
        if (base >= 4 && strcmp(mcp + base - 4, "/mcp") == 0)
            base -= 4;
        env[k++] = at_asprintf("OPENAI_BASE_URL=%.*s/v1", (int)base, mcp);
        env[k++] = at_asprintf("OPENAI_API_KEY=%s", w->token);
    }
    if (e->cfg.python_sdk_dir)
        env[k++] = pypath && *pypath
                       ? at_asprintf("PYTHONPATH=%s:%s", e->cfg.python_sdk_dir, pypath)
                       : at_asprintf("PYTHONPATH=%s", e->cfg.python_sdk_dir);
    if (filtered_egress(c) && at_config_sandboxed(e->conf, c->name)) {
        /* the sandbox relays this port to the egress proxy; the process's token is the
         * password (in the environment, not on a command line other users can read) */
        const char *vars[] = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"};
        for (size_t v = 0; v < sizeof(vars) / sizeof(vars[0]); v++)
            env[k++] = at_asprintf("%s=http://atlas:%s@127.0.0.1:%d", vars[v], w->token,
                                   AT_SANDBOX_EGRESS_PORT);
        /* the platform's relay is no proxy's business (and the proxy passes it on to
         * atlasd for a client that ignores a port in NO_PROXY) */
        env[k++] = at_asprintf("NO_PROXY=127.0.0.1:%d", AT_SANDBOX_PLATFORM_PORT);
        env[k++] = at_asprintf("no_proxy=127.0.0.1:%d", AT_SANDBOX_PLATFORM_PORT);
    }
    env[k++] = at_strdup("PYTHONUNBUFFERED=1");
    env[k++] = at_strdup("PYTHONDONTWRITEBYTECODE=1");
    /* requires.secrets: to this agent's processes only */
    size_t i;
    const json_t *name;
    json_array_foreach(secrets, i, name)
    {
        char *value = NULL;
        const char *nm = json_string_value(name);
        if (!nm || !e->cfg.secrets || at_secrets_get(e->cfg.secrets, nm, &value) != 0) {
            at_warn("exec", "agent %s requires secret %s, which is not set (atlas secret set %s)",
                    c->name, nm ? nm : "?", nm ? nm : "?");
            continue;
        }
        env[k++] = at_asprintf("%s=%s", nm, value);
        at_secret_free(value);
    }
    env[k] = NULL;
    return env;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++) {
        memset(*p, 0, strlen(*p)); /* an environment may hold secrets */
        free(*p);
    }
    free(v);
}

/* ---- the agent's stdin ---- */

static void kill_pipe_closed(struct at_worker *w)
{
    char detail[64];
    snprintf(detail, sizeof(detail), "agent closed its %s", w->pipe_closed);
    at__worker_kill(w, AT_ECRASH, detail);
}

static void on_pipe_grace(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    struct at_worker *w = t->arg;
    if (w->exited || w->state >= AT_W_STOPPING)
        return;
    kill_pipe_closed(w);
}

/* The agent closed one of its pipes while we still talk to it: found at
 * once (EOF, EPOLLERR/EPOLLHUP, EPIPE), not at the job's timeout.  A process
 * that exits closes its pipes a moment before its exit can be seen, so the
 * exit gets AT_PIPE_GRACE_MS to arrive when a job waits on the process
 * (the job then says how the process ended); a process still there after
 * that, or an idle one at once, is killed and replaced.  A process whose
 * pipe closed never gets another job (at__worker_become_idle). */
static void pipe_closed(struct at_worker *w, const char *which)
{
    if (w->w_in.active && strcmp(which, "stdin") == 0)
        at_loop_unwatch(w->eng->loop, &w->w_in);
    if (w->state >= AT_W_STOPPING || w->pipe_closed)
        return;
    w->pipe_closed = which;
    if (w->state == AT_W_IDLE)
        kill_pipe_closed(w);
    else
        at_loop_timer_start(w->eng->loop, &w->t_kill, AT_PIPE_GRACE_MS, on_pipe_grace, w);
}

/* Watch stdin for errors always (the agent closing it shows as EPOLLERR
 * on our end), and for room while bytes wait. */
static void watch_in(struct at_worker *w, uint32_t events)
{
    struct at_loop *loop = w->eng->loop;
    if (w->w_in.active && w->w_in.events == events)
        return;
    if (w->w_in.active)
        at_loop_unwatch(loop, &w->w_in);
    if (w->proc.in_fd >= 0)
        at_loop_watch(loop, &w->w_in, w->proc.in_fd, events, on_in, w);
}

static void flush_in(struct at_worker *w)
{
    if (w->pipe_closed && strcmp(w->pipe_closed, "stdin") == 0) {
        at_buf_clear(&w->wbuf); /* nobody will read it */
        return;
    }
    while (w->wbuf.len > 0 && w->proc.in_fd >= 0) {
        ssize_t n = write(w->proc.in_fd, w->wbuf.p, w->wbuf.len);
        if (n > 0) {
            at_buf_consume(&w->wbuf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch_in(w, EPOLLOUT);
            return;
        }
        /* EPIPE (SIGPIPE is ignored): nobody reads the agent's stdin */
        at_buf_clear(&w->wbuf);
        pipe_closed(w, "stdin");
        return;
    }
    if (w->state < AT_W_STOPPING)
        watch_in(w, 0);
}

static void on_in(struct at_loop *loop, struct at_watch *wt, uint32_t ev)
{
    (void)loop;
    struct at_worker *w = wt->arg;
    if (ev & (EPOLLERR | EPOLLHUP)) {
        at_buf_clear(&w->wbuf);
        pipe_closed(w, "stdin");
        return;
    }
    flush_in(w);
}

/* Move what the client queued into the stdin buffer (one line per
 * message, MCP 2025-11-25 basic/transports#stdio) and write it. */
static void flush_out(struct at_worker *w)
{
    struct at_mcp_out *o;
    while ((o = at_mcp_client_pop(&w->mc))) {
        if (w->wbuf.len + o->len + 1 > w->wbuf.max)
            at_warn("exec", "agent %s: input buffer full, message dropped", w->pool->key);
        else if (w->state < AT_W_STOPPING && at_buf_append(&w->wbuf, o->body, o->len) == 0)
            at_buf_putc(&w->wbuf, '\n');
        at_mcp_out_free(o);
    }
    flush_in(w);
}

/* ---- limits on processes ---- */

/* descriptors atlasd keeps for itself before agents get any, and what one
 * agent process costs it (stdin, stdout, stderr, pidfd) */
#define AT_DAEMON_FDS 256
#define AT_FDS_PER_PROCESS 4

/* execution.max_agent_processes, lowered to what the descriptor limit
 * allows: half of what is left after AT_DAEMON_FDS goes to agents (the
 * other half to connections, the store, snapshots). */
static int proc_cap(struct at_engine *e)
{
    if (e->proc_cap > 0)
        return e->proc_cap;
    int cap = e->conf->exec.max_agent_processes;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        rlim_t left = rl.rlim_cur > AT_DAEMON_FDS ? rl.rlim_cur - AT_DAEMON_FDS : 0;
        rlim_t fit = left / 2 / AT_FDS_PER_PROCESS;
        if (fit < 1)
            fit = 1;
        if (fit < (rlim_t)cap) {
            at_warn("exec",
                    "execution.max_agent_processes %d does not fit the descriptor limit %llu: "
                    "using %d (raise ulimit -n)",
                    cap, (unsigned long long)rl.rlim_cur, (int)fit);
            cap = (int)fit;
        }
    }
    e->proc_cap = cap;
    return cap;
}

/* May p start one more process?  Within the pool's limit (its contract's
 * pool.min above it refuses the agent), and within the global cap: an idle
 * process above its own pool's minimum is stopped to make room.  Returns 0,
 * or AT_ELIMIT with the reason in e->start_why. */
static int room_for_process(struct at_engine *e, struct at_pool *p)
{
    int cap = proc_cap(e);
    int per =
        e->conf->exec.max_processes_per_agent < cap ? e->conf->exec.max_processes_per_agent : cap;
    const struct at_contract *c = p->agent->contract;
    if (c->pool.min > per) {
        snprintf(e->start_why, sizeof(e->start_why),
                 "pool.min %d in agent.yaml is more than the %d processes one agent may have "
                 "(execution.max_processes_per_agent, execution.max_agent_processes): lower it",
                 c->pool.min, per);
        p->min = 0; /* no warm processes are retried for it */
        return AT_ELIMIT;
    }
    if (p->max > per)
        p->max = per; /* the pool's ceiling is within the limit */
    if (p->nworkers >= per) {
        snprintf(e->start_why, sizeof(e->start_why),
                 "agent has %d processes, the most one agent may have "
                 "(execution.max_processes_per_agent)",
                 p->nworkers);
        return AT_ELIMIT;
    }
    int live = 0, all = 0;
    struct at_worker *spare = NULL;
    for (struct at_pool *q = e->all_pools; q; q = q->next_all) {
        for (struct at_worker *w = q->workers; w; w = w->next) {
            all++;
            if (w->state < AT_W_STOPPING)
                live++;
            if (w->state == AT_W_IDLE && q != p && q->nworkers > q->min && !spare)
                spare = w;
        }
    }
    if (live >= cap && spare) {
        at_info("exec",
                "agent %s: stopping an idle process to make room for another agent "
                "(execution.max_agent_processes %d)",
                spare->pool->key, cap);
        at__worker_stop(spare, "making room for another agent");
        live--;
    }
    /* processes still stopping hold descriptors: at most as many again */
    if (live >= cap || all >= 2 * cap) {
        snprintf(e->start_why, sizeof(e->start_why),
                 "%d agent processes run, the most allowed (execution.max_agent_processes %d)",
                 live, cap);
        if (p->min > p->nworkers)
            p->min = p->nworkers; /* warm processes wait for room */
        return AT_ELIMIT;
    }
    return 0;
}

/* ---- the sandbox ---- */

/* Put spec in the agent's sandbox (security/sandbox.h), built from its
 * contract; *program (caller frees) is the program it runs.  Returns 0, or
 * an error with the reason in e->start_why: the run fails closed. */
static int sandbox_for(struct at_worker *w, struct at_proc_spec *spec, struct at_sandbox *sb,
                       char **program)
{
    struct at_engine *e = w->eng;
    const struct at_contract *c = w->pool->agent->contract;
    char why[400];
    int rc = 0;
    char *prog = NULL;
    /* the sandbox has its own PATH (security/sandbox.h): a program found
     * in the daemon's, in a home directory say, may not be visible in it */
    struct at_proc_spec in = *spec;
    const struct at_reg_agent *ag = w->pool->agent;
    int py_env = ag->env && ag->env_kind && !strcmp(ag->env_kind, "python");
    char *sb_path =
        py_env ? at_asprintf("%s/bin:%s", ag->env, AT_SANDBOX_PATH) : at_strdup(AT_SANDBOX_PATH);
    char *path_kv = at_asprintf("PATH=%s", sb_path);
    char *path_env[] = {path_kv, NULL};
    in.envp = path_env;
    prog = at_proc_resolve(&in);
    if (!prog) {
        snprintf(why, sizeof(why), "%s is not found in the sandbox's PATH (%s)", spec->argv[0],
                 AT_SANDBOX_PATH);
        rc = AT_ENOENT;
        goto out;
    }
    /* the SDK and the agent's own contract (ATLAS_CONTRACT) */
    const char *ro[4] = {NULL, NULL, NULL, NULL};
    size_t nro = 0;
    if (e->cfg.python_sdk_dir)
        ro[nro++] = e->cfg.python_sdk_dir;
    if (w->pool->agent->contract_file)
        ro[nro++] = w->pool->agent->contract_file;
    if (ag->env)
        ro[nro++] = ag->env;
    struct at_sandbox_opts o = {
        .agent_dir = w->pool->agent->dir,
        .program = prog,
        .ro = ro,
        .net = filtered_egress(c)                  ? AT_SANDBOX_NET_FILTERED
               : c->network == AT_NETWORK_EGRESS   ? AT_SANDBOX_NET_EGRESS
               : c->network == AT_NETWORK_PLATFORM ? AT_SANDBOX_NET_PLATFORM
                                                   : AT_SANDBOX_NET_NONE,
        .devices = json_object_get(json_object_get(c->json, "hardware"), "device_access"),
        .memory_mb = c->limits.memory_mb,
        .workspace_mb = e->conf->sandbox.workspace_mb,
        .workspace = "/workspace",
        .landlock = at_proc_init_path(),
        .platform_socket = e->cfg.agent_socket,
        .egress_socket = e->cfg.egress_socket,
        .path = sb_path,
    };
    rc = at_sandbox_build(&o, sb, why, sizeof(why));
    if (rc == 0) {
        spec->wrap = sb->argv;
        spec->program = *program = prog;
        prog = NULL;
        spec->fd3 = sb->seccomp_fd;
        spec->rlimit_data = sb->rlimit_data;
        spec->pids = c->limits.pids;
        /* cores -> microseconds of CPU per 100 ms period (at least 1 ms: the kernel's floor) */
        if (c->limits.cpu > 0) {
            double us = c->limits.cpu * 100000.0;
            spec->cpu_quota = us < 1000 ? 1000 : (long long)us;
        }
    }
out:
    free(prog);
    free(sb_path);
    free(path_kv);
    if (rc)
        snprintf(e->start_why, sizeof(e->start_why),
                 "the sandbox cannot be built: %s (atlas doctor says what to change; "
                 "sandbox.enabled: false or ATLAS_SANDBOX=off runs agents without it)",
                 why);
    return rc;
}

/* ---- start-up ---- */

struct at_worker *at__worker_start(struct at_engine *e, struct at_pool *p, int *rc,
                                   const char **why)
{
    const struct at_contract *c = p->agent->contract;
    if ((*rc = room_for_process(e, p))) {
        *why = e->start_why;
        return NULL;
    }
    struct at_worker *w = at_calloc(1, sizeof(*w));
    w->eng = e;
    w->pool = p;
    w->death_code = AT_ECRASH;
    at_timer_init(&w->t_op);
    at_timer_init(&w->t_idle);
    at_timer_init(&w->t_health);
    at_timer_init(&w->t_kill);
    at_timer_init(&w->t_reap);
    at_token_new(24, w->token, sizeof(w->token));
    /* sampling: agents may ask the runtime for model completions (the
     * model gateway answers them) */
    struct at_mcp_client_cfg mcfg = {
        .transport = AT_MCP_STDIO, .sampling = 1, .max_message = e->conf->exec.max_output_bytes};
    at_mcp_client_init(&w->mc, &mcfg);
    at_buf_init(&w->wbuf, e->conf->exec.max_input_bytes * 2 + 65536);

    size_t argc = json_array_size(c->entrypoint);
    char **argv = at_calloc(argc + 1, sizeof(*argv));
    for (size_t i = 0; i < argc; i++)
        argv[i] = (char *)json_string_value(json_array_get(c->entrypoint, i));
    char **env = build_env(w);
    struct at_proc_spec spec = {.argv = argv, .envp = env, .cwd = p->agent->dir, .fd3 = -1};
    struct at_sandbox sb = {.seccomp_fd = -1};
    char *sbprog = NULL;
    *rc = at_config_sandboxed(e->conf, c->name) ? sandbox_for(w, &spec, &sb, &sbprog) : 0;
    if (*rc == 0)
        *rc = at_proc_spawn(&spec, &w->proc, why);
    else
        *why = e->start_why;
    at_sandbox_release(&sb);
    free(sbprog);
    free(argv);
    free_strv(env);
    if (*rc) {
        at_mcp_client_release(&w->mc);
        at_buf_release(&w->wbuf);
        free(w);
        return NULL;
    }
    w->started_ns = at_now_ns();
    at_loop_watch(e->loop, &w->w_out, w->proc.out_fd, EPOLLIN, on_out, w);
    at_loop_watch(e->loop, &w->w_err, w->proc.err_fd, EPOLLIN, on_err, w);
    watch_in(w, 0);
    if (w->proc.pidfd >= 0)
        at_loop_watch(e->loop, &w->w_pid, w->proc.pidfd, EPOLLIN, on_pid, w);
    else
        at_loop_timer_start(e->loop, &w->t_reap, 100, on_reap_poll, w);

    at__token_put(e, w->token, NULL); /* idle: stands for no job yet */

    /* link into the pool */
    w->next = p->workers;
    if (p->workers)
        p->workers->prev = w;
    p->workers = w;
    p->nworkers++;
    p->nstarting++;

    w->state = AT_W_DISCOVER;
    at_mcp_client_start(&w->mc);
    at_loop_timer_start(e->loop, &w->t_op, (int64_t)(e->conf->exec.timeout_startup * 1000),
                        on_op_timeout, w);
    flush_out(w);
    at_debug("exec", "agent %s: started pid %d", p->key, (int)w->proc.pid);
    return w;
}

static void fail_startup(struct at_worker *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_startup(struct at_worker *w, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    at__worker_kill(w, code, msg);
}

/* The handshake is done: find the agent's tool. */
static void on_ready(struct at_worker *w)
{
    w->state = AT_W_LIST;
    w->op_id = at_mcp_client_request(&w->mc, TAG_LIST, "tools/list", NULL);
}

static void on_tools(struct at_worker *w, struct at_mcp_ev *ev)
{
    w->op_id = 0;
    if (!ev->result) {
        fail_startup(w, AT_EPROTO, "agent rejected tools/list: %s", ev->error_message);
        return;
    }
    const struct at_contract *c = w->pool->agent->contract;
    json_t *tools = json_object_get(ev->result, "tools");
    const char *want = c->tool ? c->tool : c->name;
    const char *found = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (n && strcmp(n, want) == 0 &&
            json_string_length(json_object_get(t, "name")) == strlen(want))
            found = n;
    }
    if (!found && json_array_size(tools) == 1 && !c->tool) {
        json_t *n = json_object_get(json_array_get(tools, 0), "name");
        if (json_is_string(n) && strlen(json_string_value(n)) == json_string_length(n))
            found = json_string_value(n);
    }
    if (!found) {
        fail_startup(w, AT_EPROTO,
                     "agent lists %zu tool(s) and none is named \"%s\" (name the tool after "
                     "the agent, or set `tool:` in agent.yaml)",
                     json_array_size(tools), want);
        return;
    }
    w->tool = at_strdup(found);
    at_loop_timer_stop(w->eng->loop, &w->t_op);
    w->pool->nstarting--;
    at_debug("exec", "agent %s: pid %d ready (%s, %.1f ms)", w->pool->key, (int)w->proc.pid,
             at_mcp_client_peer(&w->mc)->proto, (double)(at_now_ns() - w->started_ns) / 1e6);
    at__engine_worker_ready(w->eng, w);
}

/* ---- calls ---- */

void at__worker_send_call(struct at_worker *w)
{
    struct at_job *j = w->job;
    struct at_engine *e = w->eng;
    json_t *meta = at_mcp_job_meta(j->rec.id, j->token);
    if (j->call_meta)
        json_object_update_missing(meta, j->call_meta); /* e.g. traceparent */
    long long id = at_mcp_client_call_tool(&w->mc, TAG_CALL, w->tool, j->rec.input, meta);
    w->call_id = id > 0 ? id : 0;
    w->call_sent = 1;
    w->cancel_sent = 0;
    double t = w->pool->agent->contract->timeout_s > 0 ? w->pool->agent->contract->timeout_s
                                                       : e->conf->exec.timeout_agent;
    at_loop_timer_start(e->loop, &w->t_op, (int64_t)(t * 1000), on_op_timeout, w);
    flush_out(w);
}

static void handle_call_reply(struct at_worker *w, struct at_mcp_ev *ev)
{
    struct at_engine *e = w->eng;
    at_loop_timer_stop(e->loop, &w->t_op);
    at_loop_timer_stop(e->loop, &w->t_kill);
    w->call_id = 0;
    w->call_sent = 0;
    w->served++;
    /* what the agent wrote to stderr before answering belongs to this job's
     * log: read it now, before the job ends (the pipe is non-blocking) */
    if (w->job && w->w_err.active)
        on_err(e->loop, &w->w_err, EPOLLIN);
    if (!w->job) {
        /* the answer to a call whose job already ended (timeout, cancel):
         * the process proved it is alive, so it goes back to the pool */
        at__worker_become_idle(w);
        at__engine_pump(e);
        return;
    }
    if (!ev->result) {
        char detail[600];
        at_mcp_ev_error_text(ev, detail, sizeof(detail));
        at__engine_job_result(e, w, AT_EAGENT, NULL, detail, NULL, NULL);
        return;
    }
    json_t *meta = json_object_get(ev->result, "_meta");
    json_t *usage = meta ? json_object_get(meta, "io.atlas/usage") : NULL;
    json_t *out = NULL;
    char why[600];
    int rc = at_mcp_tool_output(ev->result, &out, why, sizeof(why));
    if (rc) {
        at__engine_job_result(e, w, rc, NULL, why, NULL, usage);
        return;
    }
    at__engine_job_result(e, w, 0, out, NULL, NULL, usage);
    json_decref(out);
}

/* ---- messages from the agent ---- */

void at__worker_reply(struct at_worker *w, const json_t *id, int code, const char *message,
                      json_t *result)
{
    if (code == 0)
        at_mcp_client_reply(&w->mc, id, result);
    else
        at_mcp_client_reply_error(&w->mc, id, at_err_rpc(code),
                                  message ? message : at_err_msg(code));
    flush_out(w);
}

static void handle_request(struct at_worker *w, struct at_mcp_ev *ev)
{
    /* sampling/createMessage, elicitation/create, roots/list...: the job's
     * submitter or the runtime (model gateway) may answer, later (ping is
     * answered by the client) */
    if (w->job && at__engine_agent_request(w->eng, w->job, ev->method, ev->params, ev->rid) == 0)
        return;
    at_mcp_client_reply_error(&w->mc, ev->rid, AT_MCP_METHOD_NOT_FOUND, "Method not found");
}

static void handle_notification(struct at_worker *w, struct at_mcp_ev *ev)
{
    if (!w->job)
        return;
    if (strcmp(ev->method, "notifications/progress") == 0) {
        at__engine_job_progress(w->eng, w->job, ev->params);
    } else if (strcmp(ev->method, "notifications/message") == 0) {
        json_t *data = json_object_get(ev->params, "data");
        if (json_is_string(data)) {
            at__engine_job_log(w->eng, w->job, "mcp", json_string_value(data),
                               json_string_length(data));
        } else {
            char *text = data ? at_json_dumps(data) : at_strdup("");
            at__engine_job_log(w->eng, w->job, "mcp", text, strlen(text));
            free(text);
        }
    }
}

static void too_big(struct at_worker *w)
{
    char detail[200];
    snprintf(detail, sizeof(detail),
             "agent output exceeds the limit of %zu bytes for one message "
             "(execution.max_output_bytes)",
             w->eng->conf->exec.max_output_bytes);
    at__worker_kill(w, AT_E2BIG, detail);
}

static void on_pong(struct at_worker *w)
{
    w->ping_id = 0;
    at_loop_timer_stop(w->eng->loop, &w->t_health);
    if (w->state == AT_W_IDLE && w->eng->conf->pool.health_interval > 0)
        at_loop_timer_start(w->eng->loop, &w->t_health,
                            (int64_t)(w->eng->conf->pool.health_interval * 1000), on_health, w);
}

static void handle_event(struct at_worker *w, struct at_mcp_ev *ev)
{
    switch (ev->kind) {
    case AT_MCP_EV_NONE:
        break;
    case AT_MCP_EV_READY:
        on_ready(w);
        break;
    case AT_MCP_EV_FAILED:
        if (ev->code == AT_E2BIG) {
            too_big(w);
        } else if (ev->id > 0) {
            fail_startup(w, ev->code, "agent %s", ev->detail); /* the handshake */
        } else {
            char detail[700];
            snprintf(detail, sizeof(detail),
                     "agent wrote something that is not JSON-RPC on stdout (%s): \"%s\"",
                     ev->detail, ev->excerpt);
            at__worker_kill(w, AT_EPROTO, detail);
        }
        break;
    case AT_MCP_EV_RESPONSE:
        if (ev->tag == TAG_LIST && w->state < AT_W_IDLE)
            on_tools(w, ev);
        else if (ev->tag == TAG_CALL && ev->id == w->call_id)
            handle_call_reply(w, ev);
        else if (ev->tag == TAG_PING && ev->id == w->ping_id)
            on_pong(w);
        break;
    case AT_MCP_EV_REQUEST:
        handle_request(w, ev);
        break;
    case AT_MCP_EV_NOTIFICATION:
        handle_notification(w, ev);
        break;
    }
}

static void on_out(struct at_loop *loop, struct at_watch *wt, uint32_t ev)
{
    (void)loop;
    (void)ev;
    struct at_worker *w = wt->arg;
    char buf[65536];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(w->proc.out_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            w->stdout_eof = 1;
            at_loop_unwatch(w->eng->loop, &w->w_out);
            pipe_closed(w, "stdout");
            return;
        }
        if (w->state >= AT_W_STOPPING)
            continue; /* drain and ignore */
        if (at_mcp_client_feed(&w->mc, buf, (size_t)n)) {
            too_big(w);
            return;
        }
        struct at_mcp_ev mev;
        while (w->state < AT_W_STOPPING && at_mcp_client_next(&w->mc, &mev)) {
            handle_event(w, &mev);
            at_mcp_ev_release(&mev);
        }
        flush_out(w);
        if ((size_t)n < sizeof(buf))
            return;
    }
}

static void on_err(struct at_loop *loop, struct at_watch *wt, uint32_t ev)
{
    (void)loop;
    (void)ev;
    struct at_worker *w = wt->arg;
    char buf[8192];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(w->proc.err_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        if (n == 0) {
            at_loop_unwatch(w->eng->loop, &w->w_err);
            return;
        }
        /* keep the last AT_STDERR_TAIL bytes: they explain crashes */
        size_t k = (size_t)n;
        const char *src = buf;
        if (k >= AT_STDERR_TAIL) {
            src = buf + k - AT_STDERR_TAIL;
            k = AT_STDERR_TAIL;
            w->errlen = 0;
        }
        if (w->errlen + k > AT_STDERR_TAIL) {
            size_t drop = w->errlen + k - AT_STDERR_TAIL;
            memmove(w->errtail, w->errtail + drop, w->errlen - drop);
            w->errlen -= drop;
        }
        memcpy(w->errtail + w->errlen, src, k);
        w->errlen += k;
        if (w->job) /* stderr is also the job's log */
            at__engine_job_log(w->eng, w->job, "stderr", buf, (size_t)n);
    }
}

/* ---- timers ---- */

static void on_op_timeout(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    struct at_worker *w = t->arg;
    if (w->state < AT_W_IDLE) {
        fail_startup(w, AT_ETIMEDOUT,
                     "agent did not finish starting within %g s "
                     "(execution.timeouts.startup)",
                     w->eng->conf->exec.timeout_startup);
        return;
    }
    if (w->job && w->call_sent) {
        double tmo = w->pool->agent->contract->timeout_s > 0 ? w->pool->agent->contract->timeout_s
                                                             : w->eng->conf->exec.timeout_agent;
        char detail[200];
        snprintf(detail, sizeof(detail), "agent did not answer within %g s (%s)", tmo,
                 w->pool->agent->contract->timeout_s > 0 ? "timeout in agent.yaml"
                                                         : "execution.timeouts.agent");
        /* The job fails now; the process gets a cancel and a grace period to
         * prove it is still healthy before it is killed. */
        at__engine_job_result(w->eng, w, AT_ETIMEDOUT, NULL, detail, NULL, NULL);
    }
}

static void on_health(struct at_loop *loop, struct at_timer *t)
{
    struct at_worker *w = t->arg;
    if (w->state != AT_W_IDLE)
        return;
    if (w->ping_id) {
        at__worker_kill(w, AT_ETIMEDOUT, "agent did not answer a health check");
        return;
    }
    long long id = at_mcp_client_ping(&w->mc, TAG_PING);
    w->ping_id = id > 0 ? id : 0;
    at_loop_timer_start(loop, &w->t_health, AT_PING_TIMEOUT_MS, on_health, w);
    flush_out(w);
}

static void on_idle_timeout(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    struct at_worker *w = t->arg;
    if (w->state == AT_W_IDLE && w->pool->nworkers > w->pool->min)
        at__worker_stop(w, "idle timeout");
}

void at__worker_become_idle(struct at_worker *w)
{
    struct at_engine *e = w->eng;
    if (w->pipe_closed && w->state < AT_W_STOPPING) {
        /* it answered, but cannot take another job */
        if (w->state != AT_W_IDLE) {
            w->state = AT_W_IDLE;
            w->pool->nidle++; /* at__worker_kill counts it out again */
        }
        kill_pipe_closed(w);
        return;
    }
    w->state = AT_W_IDLE;
    w->pool->nidle++;
    if (w->pool->idle_timeout > 0)
        at_loop_timer_start(e->loop, &w->t_idle, (int64_t)(w->pool->idle_timeout * 1000),
                            on_idle_timeout, w);
    if (e->conf->pool.health_interval > 0 && !w->ping_id)
        at_loop_timer_start(e->loop, &w->t_health, (int64_t)(e->conf->pool.health_interval * 1000),
                            on_health, w);
}

/* ---- cancellation and teardown ---- */

static void on_cancel_grace(struct at_loop *loop, struct at_timer *t)
{
    (void)loop;
    struct at_worker *w = t->arg;
    if (w->call_id)
        at__worker_kill(w, AT_ECANCELED, "agent did not stop after cancellation");
}

void at__worker_cancel(struct at_worker *w, const char *reason)
{
    if (!w->call_id || w->cancel_sent)
        return;
    w->cancel_sent = 1;
    at_mcp_client_cancel(&w->mc, w->call_id, reason);
    flush_out(w);
    at_loop_timer_start(w->eng->loop, &w->t_kill, AT_CANCEL_GRACE_MS, on_cancel_grace, w);
}

static void leave_idle(struct at_worker *w)
{
    if (w->state == AT_W_IDLE)
        w->pool->nidle--;
    if (w->state < AT_W_IDLE)
        w->pool->nstarting--;
}

static void on_kill_timer(struct at_loop *loop, struct at_timer *t)
{
    struct at_worker *w = t->arg;
    if (w->exited)
        return;
    if (w->kill_stage < 2) {
        w->kill_stage = 2;
        at_proc_kill(&w->proc, SIGTERM);
        at_loop_timer_start(loop, &w->t_kill, AT_KILL_GRACE_MS, on_kill_timer, w);
    } else if (w->kill_stage < 3) {
        w->kill_stage = 3;
        at_proc_kill(&w->proc, SIGKILL);
        at_loop_timer_start(loop, &w->t_kill, AT_KILL_GRACE_MS, on_kill_timer, w);
    } else {
        /* atlas-init did not exit after it was asked to kill the tree */
        w->kill_stage = 4;
        at_proc_kill_hard(&w->proc);
    }
}

void at__worker_stop(struct at_worker *w, const char *reason)
{
    if (w->state >= AT_W_STOPPING)
        return;
    leave_idle(w);
    w->state = AT_W_STOPPING;
    w->death_reason = reason;
    struct at_loop *loop = w->eng->loop;
    at_loop_timer_stop(loop, &w->t_op);
    at_loop_timer_stop(loop, &w->t_idle);
    at_loop_timer_stop(loop, &w->t_health);
    /* MCP stdio shutdown: close stdin, then SIGTERM, then SIGKILL */
    if (w->w_in.active)
        at_loop_unwatch(loop, &w->w_in);
    if (w->proc.in_fd >= 0) {
        close(w->proc.in_fd);
        w->proc.in_fd = -1;
    }
    w->kill_stage = 1;
    at_loop_timer_start(loop, &w->t_kill, (int64_t)(w->eng->conf->exec.timeout_shutdown * 1000),
                        on_kill_timer, w);
    at_debug("exec", "agent %s: stopping pid %d (%s)", w->pool->key, (int)w->proc.pid, reason);
}

void at__worker_kill(struct at_worker *w, int code, const char *detail)
{
    if (w->state == AT_W_DEAD)
        return;
    if (w->state < AT_W_STOPPING) {
        leave_idle(w);
        w->state = AT_W_STOPPING;
    }
    w->death_code = code;
    snprintf(w->death_detail, sizeof(w->death_detail), "%s", detail);
    w->death_reason = "killed";
    struct at_loop *loop = w->eng->loop;
    at_loop_timer_stop(loop, &w->t_op);
    at_loop_timer_stop(loop, &w->t_idle);
    at_loop_timer_stop(loop, &w->t_health);
    w->kill_stage = 3;
    at_proc_kill(&w->proc, SIGKILL);
    at_loop_timer_start(loop, &w->t_kill, AT_KILL_GRACE_MS, on_kill_timer, w);
    at_warn("exec", "agent %s: pid %d killed: %s", w->pool->key, (int)w->proc.pid, detail);
}

static void on_pid(struct at_loop *loop, struct at_watch *wt, uint32_t ev)
{
    (void)loop;
    (void)ev;
    struct at_worker *w = wt->arg;
    int status;
    if (at_proc_reap(&w->proc, &status)) {
        w->exited = 1;
        w->exit_status = status;
        worker_died(w);
    }
}

static void on_reap_poll(struct at_loop *loop, struct at_timer *t)
{
    struct at_worker *w = t->arg;
    int status;
    if (at_proc_reap(&w->proc, &status)) {
        w->exited = 1;
        w->exit_status = status;
        worker_died(w);
        return;
    }
    at_loop_timer_start(loop, &w->t_reap, 100, on_reap_poll, w);
}

/* "exited with status N" or "killed by signal N (SIGNAME)". */
static void exit_text(int status, char *out, size_t n)
{
    if (status < 128) {
        snprintf(out, n, "exited with status %d", status);
        return;
    }
    int sig = status - 128;
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(out, n, "killed by signal %d (SIG%s)", sig, abbrev);
    else
        snprintf(out, n, "killed by signal %d (%s)", sig, strsignal(sig));
}

static void describe_exit(struct at_worker *w, char *out, size_t n)
{
    char tail[600];
    size_t tl = w->errlen;
    const char *src = w->errtail;
    if (tl > 400) {
        src += tl - 400;
        tl = 400;
    }
    char *clean = at_utf8_sanitize(src, tl);
    size_t cl = strlen(clean);
    while (cl > 0 && (clean[cl - 1] == '\n' || clean[cl - 1] == ' '))
        clean[--cl] = '\0';
    snprintf(tail, sizeof(tail), "%s", clean);
    free(clean);
    char how[80];
    exit_text(w->exit_status, how, sizeof(how));
    if (tail[0])
        snprintf(out, n, "agent process %s; its stderr ends with: %s", how, tail);
    else
        snprintf(out, n, "agent process %s", how);
}

/* The process is gone: settle its job, unlink it, free it. */
static void worker_died(struct at_worker *w)
{
    struct at_engine *e = w->eng;
    struct at_loop *loop = e->loop;
    if (w->state < AT_W_STOPPING) {
        leave_idle(w);
        w->death_code = AT_ECRASH;
        describe_exit(w, w->death_detail, sizeof(w->death_detail));
        e->n_worker_crashes++;
        at_warn("exec", "agent %s: %s", w->pool->key, w->death_detail);
    } else if (!w->death_detail[0] || (w->pipe_closed && w->exit_status != 128 + SIGKILL)) {
        /* no reason yet; or killed for a closed pipe while it was exiting
         * anyway, with another status: how it ended says more */
        describe_exit(w, w->death_detail, sizeof(w->death_detail));
    } else if (w->death_code == AT_ECRASH || w->death_code == AT_ETIMEDOUT) {
        /* keep the first reason, add stderr for context */
        char more[600];
        describe_exit(w, more, sizeof(more));
        size_t len = strlen(w->death_detail);
        if (w->errlen && len + 3 < sizeof(w->death_detail))
            snprintf(w->death_detail + len, sizeof(w->death_detail) - len, " (%s)", more);
    }
    w->state = AT_W_DEAD;
    /* drain what is left on stderr for the record */
    if (w->w_err.active)
        on_err(loop, &w->w_err, EPOLLIN);
    if (w->w_out.active)
        at_loop_unwatch(loop, &w->w_out);
    if (w->w_err.active)
        at_loop_unwatch(loop, &w->w_err);
    if (w->w_in.active)
        at_loop_unwatch(loop, &w->w_in);
    if (w->w_pid.active)
        at_loop_unwatch(loop, &w->w_pid);
    at_loop_timer_stop(loop, &w->t_op);
    at_loop_timer_stop(loop, &w->t_idle);
    at_loop_timer_stop(loop, &w->t_health);
    at_loop_timer_stop(loop, &w->t_kill);
    at_loop_timer_stop(loop, &w->t_reap);
    at_proc_close_fds(&w->proc);

    if (w->job && atomic_load(&e->stopping)) {
        /* gone while the daemon stops (it was stopped; or killed on the
         * way, its pipes closing): the job stays as the store has it
         * (running), for the next start's recovery to re-queue (an
         * idempotent agent) or fail (daemon-restart), as after a crash */
        at__engine_job_interrupted(e, w);
    } else if (w->job) {
        /* a job still assigned fails with the reason the process died */
        at__engine_job_result(e, w, w->death_code ? w->death_code : AT_ECRASH, NULL,
                              w->death_detail, NULL, NULL);
    }
    at__token_del(e, w->token);

    struct at_pool *p = w->pool;
    if (w->prev)
        w->prev->next = w->next;
    else
        p->workers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    p->nworkers--;
    at__engine_worker_gone(e, w);
    at_mcp_client_release(&w->mc);
    at_buf_release(&w->wbuf);
    free(w->tool);
    free(w);
}
