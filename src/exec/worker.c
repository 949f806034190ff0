/*
 * worker.c - one agent process: start-up handshake, calls, health checks,
 * cancellation and teardown, as the MCP client of an agent that is an MCP
 * server on stdio (docs/agent-protocol.md).  Runs on the engine's loop
 * thread only.
 */
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/utf8.h"
#include "exec/internal.h"
#include "json/json.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROTO_STATELESS "2026-07-28"
#define PROTO_LEGACY "2025-11-25"

static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                              "2024-11-05", NULL};

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

static char **build_env(struct at_worker *w)
{
    struct at_engine *e = w->eng;
    const struct at_contract *c = w->pool->agent->contract;
    size_t n = 0;
    while (e->base_env[n])
        n++;
    char **env = at_calloc(n + 16, sizeof(*env));
    size_t k = 0;
    const char *pypath = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(e->base_env[i], "PYTHONPATH=", 11) == 0) {
            pypath = e->base_env[i] + 11;
            continue;
        }
        env[k++] = at_strdup(e->base_env[i]);
    }
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
    env[k++] = at_strdup("PYTHONUNBUFFERED=1");
    env[k++] = at_strdup("PYTHONDONTWRITEBYTECODE=1");
    env[k] = NULL;
    return env;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* ---- writing to the agent ---- */

static void flush_in(struct at_worker *w)
{
    while (w->wbuf.len > 0 && w->proc.in_fd >= 0) {
        ssize_t n = write(w->proc.in_fd, w->wbuf.p, w->wbuf.len);
        if (n > 0) {
            at_buf_consume(&w->wbuf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!w->w_in.active)
                at_loop_watch(w->eng->loop, &w->w_in, w->proc.in_fd, EPOLLOUT, on_in, w);
            return;
        }
        /* EPIPE: the agent closed stdin or died; the pidfd/EOF path cleans up */
        at_buf_clear(&w->wbuf);
        break;
    }
    if (w->w_in.active)
        at_loop_unwatch(w->eng->loop, &w->w_in);
}

static void on_in(struct at_loop *loop, struct at_watch *wt, uint32_t ev)
{
    (void)loop;
    (void)ev;
    flush_in(wt->arg);
}

static json_t *stateless_meta(void)
{
    return json_pack("{s:s,s:{s:s,s:s},s:{s:{}}}", "io.modelcontextprotocol/protocolVersion",
                     PROTO_STATELESS, "io.modelcontextprotocol/clientInfo", "name", "atlasd",
                     "version", ATLAS_VERSION, "io.modelcontextprotocol/clientCapabilities",
                     "sampling");
}

/* Send a request; params is consumed.  For stateless workers the
 * 2026-07-28 _meta is merged into params. */
static long long send_request(struct at_worker *w, const char *method, json_t *params)
{
    if (!params)
        params = json_object();
    if (w->stateless || strcmp(method, "server/discover") == 0) {
        json_t *meta = json_object_get(params, "_meta");
        if (!meta) {
            meta = json_object();
            json_object_set_new(params, "_meta", meta);
        }
        json_t *sm = stateless_meta();
        json_object_update_missing(meta, sm);
        json_decref(sm);
    }
    long long id = ++w->next_id;
    if (at_rpc_write_request(&w->wbuf, id, method, params))
        at_warn("exec", "agent %s: input buffer full", w->pool->key);
    json_decref(params);
    flush_in(w);
    return id;
}

static void send_notification(struct at_worker *w, const char *method, json_t *params)
{
    at_rpc_write_notification(&w->wbuf, method, params);
    json_decref(params);
    flush_in(w);
}

/* ---- start-up ---- */

struct at_worker *at__worker_start(struct at_engine *e, struct at_pool *p, int *rc,
                                   const char **why)
{
    const struct at_contract *c = p->agent->contract;
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
    at_rpc_reader_init(&w->rd, e->conf->exec.max_output_bytes);
    at_buf_init(&w->wbuf, e->conf->exec.max_input_bytes * 2 + 65536);

    size_t argc = json_array_size(c->entrypoint);
    char **argv = at_calloc(argc + 1, sizeof(*argv));
    for (size_t i = 0; i < argc; i++)
        argv[i] = (char *)json_string_value(json_array_get(c->entrypoint, i));
    char **env = build_env(w);
    struct at_proc_spec spec = {.argv = argv, .envp = env, .cwd = p->agent->dir};
    *rc = at_proc_spawn(&spec, &w->proc, why);
    free(argv);
    free_strv(env);
    if (*rc) {
        at_rpc_reader_release(&w->rd);
        at_buf_release(&w->wbuf);
        free(w);
        return NULL;
    }
    w->started_ns = at_now_ns();
    at_loop_watch(e->loop, &w->w_out, w->proc.out_fd, EPOLLIN, on_out, w);
    at_loop_watch(e->loop, &w->w_err, w->proc.err_fd, EPOLLIN, on_err, w);
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
    w->op_id = send_request(w, "server/discover", NULL);
    at_loop_timer_start(e->loop, &w->t_op, (int64_t)(e->conf->exec.timeout_startup * 1000),
                        on_op_timeout, w);
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

static int version_accepted(const char *v)
{
    for (int i = 0; legacy_versions[i]; i++)
        if (strcmp(v, legacy_versions[i]) == 0)
            return 1;
    return 0;
}

static void send_initialize(struct at_worker *w)
{
    w->state = AT_W_INIT;
    /* sampling: agents may ask the runtime for model completions (the
     * model gateway answers them) */
    json_t *params =
        json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}", "protocolVersion", PROTO_LEGACY, "capabilities",
                  "sampling", "clientInfo", "name", "atlasd", "version", ATLAS_VERSION);
    w->op_id = send_request(w, "initialize", params);
}

static void send_list(struct at_worker *w)
{
    w->state = AT_W_LIST;
    w->op_id = send_request(w, "tools/list", NULL);
}

static void handle_startup_reply(struct at_worker *w, struct at_rpc_msg *m)
{
    const char *agent = w->pool->agent->contract->name;
    switch (w->state) {
    case AT_W_DISCOVER: {
        json_t *sv =
            m->kind == AT_RPC_RESULT ? json_object_get(m->result, "supportedVersions") : NULL;
        size_t i;
        json_t *v;
        int ok = 0;
        json_array_foreach(sv, i, v) if (json_is_string(v) &&
                                         strcmp(json_string_value(v), PROTO_STATELESS) == 0) ok = 1;
        if (ok) {
            w->stateless = 1;
            snprintf(w->proto, sizeof(w->proto), "%s", PROTO_STATELESS);
            send_list(w);
        } else {
            send_initialize(w);
        }
        return;
    }
    case AT_W_INIT: {
        if (m->kind != AT_RPC_RESULT) {
            fail_startup(w, AT_EPROTO, "agent rejected initialize: %s (%lld)", m->error_message,
                         m->error_code);
            return;
        }
        const char *v = json_string_value(json_object_get(m->result, "protocolVersion"));
        if (!v || !version_accepted(v)) {
            fail_startup(w, AT_EPROTO,
                         "agent answered initialize with unsupported protocolVersion \"%s\"",
                         v ? v : "(none)");
            return;
        }
        snprintf(w->proto, sizeof(w->proto), "%s", v);
        send_notification(w, "notifications/initialized", NULL);
        send_list(w);
        return;
    }
    case AT_W_LIST: {
        if (m->kind != AT_RPC_RESULT) {
            fail_startup(w, AT_EPROTO, "agent rejected tools/list: %s", m->error_message);
            return;
        }
        json_t *tools = json_object_get(m->result, "tools");
        const char *want = w->pool->agent->contract->tool ? w->pool->agent->contract->tool : agent;
        const char *found = NULL;
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            const char *n = json_string_value(json_object_get(t, "name"));
            if (n && strcmp(n, want) == 0)
                found = n;
        }
        if (!found && json_array_size(tools) == 1 && !w->pool->agent->contract->tool)
            found = json_string_value(json_object_get(json_array_get(tools, 0), "name"));
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
                 w->proto, (double)(at_now_ns() - w->started_ns) / 1e6);
        at__engine_worker_ready(w->eng, w);
        return;
    }
    default:
        return;
    }
}

/* ---- calls ---- */

void at__worker_send_call(struct at_worker *w)
{
    struct at_job *j = w->job;
    struct at_engine *e = w->eng;
    json_t *meta = json_pack("{s:s,s:s,s:s}", "progressToken", j->rec.id, "io.atlas/jobId",
                             j->rec.id, "io.atlas/token", j->token);
    if (j->call_meta)
        json_object_update_missing(meta, j->call_meta); /* e.g. traceparent */
    json_t *params =
        json_pack("{s:s,s:O,s:o}", "name", w->tool, "arguments", j->rec.input, "_meta", meta);
    w->call_id = send_request(w, "tools/call", params);
    w->call_sent = 1;
    w->cancel_sent = 0;
    double t = w->pool->agent->contract->timeout_s > 0 ? w->pool->agent->contract->timeout_s
                                                       : e->conf->exec.timeout_agent;
    at_loop_timer_start(e->loop, &w->t_op, (int64_t)(t * 1000), on_op_timeout, w);
}

/* Extract the output of a CallToolResult (structuredContent, else the first
 * text content parsed as JSON). */
static int call_output(json_t *result, json_t **out, char *why, size_t whylen)
{
    json_t *sc = json_object_get(result, "structuredContent");
    if (sc) {
        *out = json_incref(sc);
        return 0;
    }
    json_t *content = json_object_get(result, "content");
    size_t i;
    json_t *item;
    json_array_foreach(content, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *text = json_string_value(json_object_get(item, "text"));
        if (!type || strcmp(type, "text") != 0 || !text)
            continue;
        json_t *v;
        if (at_json_parse(text, strlen(text), 0, &v, NULL) == 0) {
            *out = v;
            return 0;
        }
        /* plain text: wrap it so the output is still an object */
        *out = json_pack("{s:s}", "text", text);
        return 0;
    }
    snprintf(why, whylen, "tool result has neither structuredContent nor text content");
    return AT_EPROTO;
}

static char *error_text(json_t *result)
{
    json_t *content = json_object_get(result, "content");
    size_t i;
    json_t *item;
    json_array_foreach(content, i, item)
    {
        const char *text = json_string_value(json_object_get(item, "text"));
        if (text)
            return at_strdup(text);
    }
    return at_strdup("the agent reported an error without a message");
}

static void handle_call_reply(struct at_worker *w, struct at_rpc_msg *m)
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
    if (m->kind == AT_RPC_ERROR) {
        char detail[600];
        snprintf(detail, sizeof(detail), "%s (JSON-RPC error %lld)", m->error_message,
                 m->error_code);
        at__engine_job_result(e, w, AT_EAGENT, NULL, detail, NULL, NULL);
        return;
    }
    json_t *meta = json_object_get(m->result, "_meta");
    json_t *usage = meta ? json_object_get(meta, "io.atlas/usage") : NULL;
    if (json_is_true(json_object_get(m->result, "isError"))) {
        char *text = error_text(m->result);
        at__engine_job_result(e, w, AT_EAGENT, NULL, text, NULL, usage);
        free(text);
        return;
    }
    json_t *out = NULL;
    char why[200];
    if (call_output(m->result, &out, why, sizeof(why))) {
        at__engine_job_result(e, w, AT_EPROTO, NULL, why, NULL, usage);
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
        at_rpc_write_result(&w->wbuf, id, result);
    else
        at_rpc_write_error(&w->wbuf, id, at_err_rpc(code), message ? message : at_err_msg(code),
                           NULL);
    flush_in(w);
}

static void handle_request(struct at_worker *w, struct at_rpc_msg *m)
{
    if (strcmp(m->method, "ping") == 0) {
        at_rpc_write_result(&w->wbuf, m->id, NULL);
        flush_in(w);
        return;
    }
    /* sampling/createMessage, elicitation/create, roots/list...: the job's
     * submitter or the runtime (model gateway) may answer, later */
    json_t *params = json_is_object(m->params) ? m->params : NULL;
    if (w->job && at__engine_agent_request(w->eng, w->job, m->method, params, m->id) == 0)
        return;
    at_rpc_write_error(&w->wbuf, m->id, -32601, "Method not found", NULL);
    flush_in(w);
}

static void handle_notification(struct at_worker *w, struct at_rpc_msg *m)
{
    if (!w->job)
        return;
    if (strcmp(m->method, "notifications/progress") == 0) {
        at__engine_job_progress(w->eng, w->job, m->params);
    } else if (strcmp(m->method, "notifications/message") == 0) {
        json_t *data = json_object_get(m->params, "data");
        char *text = json_is_string(data) ? at_strdup(json_string_value(data))
                                          : (data ? at_json_dumps(data) : at_strdup(""));
        at__engine_job_log(w->eng, w->job, "mcp", text, strlen(text));
        free(text);
    }
}

static void handle_line(struct at_worker *w, const char *line, size_t len)
{
    struct at_rpc_msg m;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_rpc_parse(line, len, &m, &d)) {
        char *clean = at_utf8_sanitize(line, len > 120 ? 120 : len);
        char detail[512];
        snprintf(detail, sizeof(detail),
                 "agent wrote something that is not JSON-RPC on stdout (%s): \"%s%s\"", d.msg,
                 clean, len > 120 ? "..." : "");
        free(clean);
        at__worker_kill(w, AT_EPROTO, detail);
        return;
    }
    switch (m.kind) {
    case AT_RPC_REQUEST:
        handle_request(w, &m);
        break;
    case AT_RPC_NOTIFICATION:
        handle_notification(w, &m);
        break;
    case AT_RPC_RESULT:
    case AT_RPC_ERROR: {
        long long id = at_rpc_id_int(m.id);
        if (id > 0 && id == w->op_id && w->state < AT_W_IDLE) {
            w->op_id = 0;
            handle_startup_reply(w, &m);
        } else if (id > 0 && id == w->call_id) {
            handle_call_reply(w, &m);
        } else if (id > 0 && id == w->ping_id) {
            w->ping_id = 0;
            at_loop_timer_stop(w->eng->loop, &w->t_health);
            if (w->state == AT_W_IDLE && w->eng->conf->pool.health_interval > 0)
                at_loop_timer_start(w->eng->loop, &w->t_health,
                                    (int64_t)(w->eng->conf->pool.health_interval * 1000), on_health,
                                    w);
        } /* else: an answer to something cancelled; ignore */
        break;
    }
    }
    at_rpc_msg_release(&m);
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
            if (w->state < AT_W_STOPPING)
                at__worker_kill(w, AT_ECRASH, "agent closed its stdout");
            return;
        }
        if (w->state >= AT_W_STOPPING)
            continue; /* drain and ignore */
        int rc = at_rpc_reader_feed(&w->rd, buf, (size_t)n);
        const char *line;
        size_t len;
        while (rc == 0 && w->state < AT_W_STOPPING) {
            int got = at_rpc_reader_next(&w->rd, &line, &len);
            if (got < 0) {
                rc = got;
                break;
            }
            if (got == 0)
                break;
            handle_line(w, line, len);
        }
        if (rc == AT_E2BIG && w->state < AT_W_STOPPING) {
            char detail[200];
            snprintf(detail, sizeof(detail),
                     "agent output exceeds the limit of %zu bytes for one message "
                     "(execution.max_output_bytes)",
                     w->eng->conf->exec.max_output_bytes);
            at__worker_kill(w, AT_E2BIG, detail);
            return;
        }
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
    w->ping_id = send_request(w, w->stateless ? "server/discover" : "ping", NULL);
    at_loop_timer_start(loop, &w->t_health, AT_PING_TIMEOUT_MS, on_health, w);
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
    json_t *params = json_pack("{s:I,s:s}", "requestId", (json_int_t)w->call_id, "reason",
                               reason ? reason : "cancelled");
    send_notification(w, "notifications/cancelled", params);
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
    } else {
        w->kill_stage = 3;
        at_proc_kill(&w->proc, SIGKILL);
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
    at_loop_timer_stop(loop, &w->t_kill);
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
    const char *how = w->exit_status >= 128 ? "was killed by signal" : "exited with status";
    int num = w->exit_status >= 128 ? w->exit_status - 128 : w->exit_status;
    if (tail[0])
        snprintf(out, n, "agent process %s %d; its stderr ends with: %s", how, num, tail);
    else
        snprintf(out, n, "agent process %s %d", how, num);
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
    } else if (!w->death_detail[0]) {
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

    if (w->job) {
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
    at_rpc_reader_release(&w->rd);
    at_buf_release(&w->wbuf);
    free(w->tool);
    free(w);
}
