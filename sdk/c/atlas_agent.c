/*
 * atlas_agent.c - the MCP stdio server behind atlas_agent.h.
 *
 * Protocol: docs/agent-protocol.md.  Newline-delimited JSON-RPC 2.0; a request
 * whose _meta carries io.modelcontextprotocol/protocolVersion is served as
 * MCP 2026-07-28 (stateless), anything else as 2025-11-25 (initialize is
 * answered but not required).
 *
 * The loop: one growable input buffer (bounded by max_line) that is read
 * with read(2) and split on '\n'; one reusable output buffer into which each
 * message is built and then written with a single write(2) (looping only on
 * short writes).  The tools/call result is assembled by hand so the output is
 * serialized once: {"structuredContent":OUT,"content":[{"type":"text",
 * "text":"<OUT, escaped>"}]}.
 *
 * Single-threaded; all state is in one static struct.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "atlas_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODERN_VERSION "2026-07-28"
#define LEGACY_VERSION "2025-11-25"
#define META_PV "io.modelcontextprotocol/protocolVersion"

/* JSON-RPC 2.0 and MCP error codes. */
#define ERR_PARSE (-32700)
#define ERR_INVALID_REQUEST (-32600)
#define ERR_METHOD_NOT_FOUND (-32601)
#define ERR_INVALID_PARAMS (-32602)
#define ERR_UNSUPPORTED_VERSION (-32022) /* MCP 2026-07-28 */
#define ERR_CANCELLED (-32800)

#define DEFAULT_MAX_LINE ((size_t)64 * 1024 * 1024)
#define INITIAL_INPUT (64 * 1024)
#define KEEP_BUFFER ((size_t)4 * 1024 * 1024) /* larger buffers are freed once idle */
#define JSON_OUT_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                              "2024-11-05"};

/* A growable byte buffer.  Allocation failure aborts (small internal
 * allocations, STYLE.md rule 6). */
struct buf {
    char *p;
    size_t len, cap;
};

struct atlas_ctx {
    json_t *id;   /* the request id (borrowed from the parsed request) */
    json_t *meta; /* the call's _meta object or NULL (borrowed) */
    const char *job_id, *token;
    char *error;   /* message set by atlas_ctx_fail (owned) */
    json_t *usage; /* owned */
    size_t scan;   /* input offset up to which cancel notifications were looked for */
    int cancelled;
};

static struct agent {
    const struct atlas_agent_def *def;
    char *name, *version, *description;
    char *tool_json; /* the tools/list entry, serialized once */
    int in_fd, out_fd;
    struct buf in; /* unread input is in [start, len) */
    size_t in_start;
    size_t max_line;
    int eof, skipping;
    struct buf out;
    struct atlas_ctx *call; /* the call in progress, if any */
} A;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* --- helpers ------------------------------------------------------------ */

static int str_eq(const json_t *j, const char *s)
{
    const char *v = json_string_value(j);
    return v && strcmp(v, s) == 0;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        static const char msg[] = "atlas_agent: out of memory\n";
        (void)!write(2, msg, sizeof msg - 1);
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_put(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Append the compact serialization of j.  Returns 0, or -1 when jansson
 * cannot serialize it. */
static int buf_json(struct buf *b, const json_t *j)
{
    size_t room = b->cap - b->len;
    size_t n = json_dumpb(j, room ? b->p + b->len : NULL, room, JSON_OUT_FLAGS);
    if (n == 0)
        return -1;
    if (n > room) {
        buf_reserve(b, n);
        n = json_dumpb(j, b->p + b->len, n, JSON_OUT_FLAGS);
        if (n == 0)
            return -1;
    }
    b->len += n;
    return 0;
}

/* Escape n bytes of jansson output into b as the inside of a JSON string.
 * jansson escapes control characters itself, so only '"' and '\' remain.
 * The caller has reserved 2 * n bytes; s may point into b before b->len. */
static void put_escaped_reserved(struct buf *b, const char *s, size_t n)
{
    char *d = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\')
            *d++ = '\\';
        *d++ = c;
    }
    b->len = (size_t)(d - b->p);
}

/* Append b[off, off+n) again, escaped. */
static void buf_escape_copy(struct buf *b, size_t off, size_t n)
{
    buf_reserve(b, 2 * n); /* from here on b->p does not move */
    put_escaped_reserved(b, b->p + off, n);
}

/* Append s (not inside b), escaped. */
static void buf_escape(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, 2 * n);
    put_escaped_reserved(b, s, n);
}

/* --- output --------------------------------------------------------------- */

/* Write the output buffer (one message, '\n' added) and empty it. */
static void flush_out(void)
{
    struct buf *b = &A.out;
    buf_put(b, "\n", 1);
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(A.out_fd, b->p + off, b->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            stop_requested = 1; /* EPIPE: nobody reads us any more */
            break;
        }
        off += (size_t)n;
    }
    b->len = 0;
    if (b->cap > KEEP_BUFFER) { /* one huge message must not pin its memory */
        free(b->p);
        *b = (struct buf){0};
    }
}

static void send_json(json_t *msg)
{
    if (buf_json(&A.out, msg) == 0)
        flush_out();
    else
        A.out.len = 0;
    json_decref(msg);
}

static void send_error(const json_t *id, int code, const char *message)
{
    json_t *idv = id ? json_incref((json_t *)id) : json_null();
    send_json(json_pack("{s:s,s:o,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", idv, "error", "code", code,
                        "message", message));
}

static void send_result(const json_t *id, json_t *result, int modern)
{
    if (modern)
        json_object_set_new(result, "resultType", json_string("complete"));
    send_json(json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void send_notification(const char *method, json_t *params)
{
    send_json(json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params", params));
}

/* --- the tool ------------------------------------------------------------- */

static const char *contract_str(const json_t *c, const char *key)
{
    const char *s = json_string_value(json_object_get(c, key));
    return s && *s ? s : NULL;
}

static json_t *contract_schema(const json_t *c, const char *section)
{
    json_t *s = json_object_get(json_object_get(c, section), "schema");
    return json_is_object(s) ? s : NULL;
}

/* Name, version, description and the serialized tools/list entry.  Returns 0
 * or -1 (message on stderr). */
static int load_tool(const struct atlas_agent_def *def)
{
    json_t *contract = NULL;
    const char *path = getenv("ATLAS_CONTRACT");
    if (path && *path) {
        json_error_t err;
        contract = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
        if (!contract) {
            fprintf(stderr, "atlas_agent: %s:%d:%d: %s\n", path, err.line, err.column, err.text);
            return -1;
        }
        /* Accept the whole document as well as the bare agent: block. */
        json_t *inner = json_object_get(contract, "agent");
        if (json_is_object(inner) && !json_object_get(contract, "name")) {
            json_incref(inner);
            json_decref(contract);
            contract = inner;
        }
        if (!json_is_object(contract)) {
            fprintf(stderr, "atlas_agent: %s: the contract must be a JSON object\n", path);
            json_decref(contract);
            return -1;
        }
    }
    const char *env_name = getenv("ATLAS_AGENT_NAME");
    const char *name = env_name && *env_name ? env_name : contract_str(contract, "name");
    if (!name)
        name = def->name ? def->name : "agent";
    const char *version = getenv("ATLAS_AGENT_VERSION");
    if (!version || !*version)
        version = contract_str(contract, "version");
    if (!version)
        version = def->version;
    const char *desc = contract_str(contract, "description");
    if (!desc)
        desc = def->description;
    A.name = xstrdup(name);
    A.version = xstrdup(version ? version : "0.0.0");
    A.description = desc ? xstrdup(desc) : NULL;

    json_t *tool = json_pack("{s:s}", "name", A.name);
    if (A.description)
        json_object_set_new(tool, "description", json_string(A.description));
    json_t *in = contract_schema(contract, "input");
    json_object_set_new(tool, "inputSchema",
                        in ? json_incref(in) : json_pack("{s:s}", "type", "object"));
    json_t *out = contract_schema(contract, "output");
    /* MCP: an outputSchema describes an object. */
    if (!out || str_eq(json_object_get(out, "type"), "object"))
        json_object_set_new(tool, "outputSchema",
                            out ? json_incref(out) : json_pack("{s:s}", "type", "object"));
    if (json_is_true(json_object_get(contract, "idempotent")))
        json_object_set_new(tool, "annotations", json_pack("{s:b}", "idempotentHint", 1));
    A.tool_json = json_dumps(tool, JSON_OUT_FLAGS);
    json_decref(tool);
    json_decref(contract);
    if (!A.tool_json) {
        fprintf(stderr, "atlas_agent: cannot serialize the tool definition\n");
        return -1;
    }
    return 0;
}

static json_t *server_info(void)
{
    return json_pack("{s:s,s:s}", "name", A.name, "version", A.version);
}

/* --- method handlers -------------------------------------------------------- */

static void handle_discover(const json_t *id)
{
    /* MCP 2026-07-28 server/discover */
    json_t *r =
        json_pack("{s:[s,s],s:{s:{},s:{}},s:o,s:{s:o}}", "supportedVersions", MODERN_VERSION,
                  LEGACY_VERSION, "capabilities", "tools", "logging", "serverInfo", server_info(),
                  "_meta", "io.modelcontextprotocol/serverInfo", server_info());
    send_result(id, r, 1);
}

static void handle_initialize(const json_t *id, const json_t *params)
{
    /* MCP 2025-11-25 lifecycle: echo the client's version when we speak it. */
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    const char *version = LEGACY_VERSION;
    for (size_t i = 0; asked && i < sizeof legacy_versions / sizeof *legacy_versions; i++)
        if (strcmp(asked, legacy_versions[i]) == 0)
            version = legacy_versions[i];
    json_t *r = json_pack("{s:s,s:{s:{},s:{}},s:o}", "protocolVersion", version, "capabilities",
                          "tools", "logging", "serverInfo", server_info());
    send_result(id, r, 0);
}

static void handle_tools_list(const json_t *id, int modern)
{
    struct buf *b = &A.out;
    buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (buf_json(b, id) < 0) {
        b->len = 0;
        return;
    }
    buf_puts(b, ",\"result\":{\"tools\":[");
    buf_puts(b, A.tool_json);
    buf_puts(b, modern ? "],\"resultType\":\"complete\"}}" : "]}}");
    flush_out();
}

static void tool_error(const json_t *id, const char *message, json_t *usage, int modern)
{
    json_t *r =
        json_pack("{s:b,s:[{s:s,s:s}]}", "isError", 1, "content", "type", "text", "text", message);
    if (usage)
        json_object_set_new(r, "_meta", json_pack("{s:O}", "io.atlas/usage", usage));
    send_result(id, r, modern);
}

/* The success path, built by hand: OUT is serialized once and copied. */
static void send_call_result(const json_t *id, const json_t *out, const json_t *usage, int modern)
{
    struct buf *b = &A.out;
    buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (buf_json(b, id) < 0)
        goto fail;
    buf_puts(b, ",\"result\":{");
    if (json_is_object(out)) {
        buf_puts(b, "\"structuredContent\":");
        size_t off = b->len;
        if (buf_json(b, out) < 0)
            goto fail;
        size_t n = b->len - off;
        buf_puts(b, ",\"content\":[{\"type\":\"text\",\"text\":\"");
        buf_escape_copy(b, off, n);
    } else {
        /* Not an object, so not structuredContent: text content only. */
        char *text = json_dumps(out, JSON_OUT_FLAGS);
        if (!text)
            goto fail;
        buf_puts(b, "\"content\":[{\"type\":\"text\",\"text\":\"");
        buf_escape(b, text, strlen(text));
        free(text);
    }
    buf_puts(b, "\"}]");
    if (usage) {
        buf_puts(b, ",\"_meta\":{\"io.atlas/usage\":");
        if (buf_json(b, usage) < 0)
            goto fail;
        buf_puts(b, "}");
    }
    buf_puts(b, modern ? ",\"resultType\":\"complete\"}}" : "}}");
    flush_out();
    return;
fail:
    b->len = 0;
    tool_error(id, "execute returned output that cannot be serialized", NULL, modern);
}

static void handle_tools_call(json_t *id, json_t *params, int modern)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name || strcmp(name, A.name) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "Unknown tool: %s (this agent's tool is %s)",
                 name ? name : "(none)", A.name);
        send_error(id, ERR_INVALID_PARAMS, msg);
        return;
    }
    json_t *args = json_object_get(params, "arguments");
    json_t *empty = NULL;
    if (!args || json_is_null(args))
        args = empty = json_object();
    if (!json_is_object(args)) {
        send_error(id, ERR_INVALID_PARAMS, "arguments must be an object");
        return;
    }
    struct atlas_ctx ctx = {.id = id, .scan = A.in_start};
    json_t *meta = json_object_get(params, "_meta");
    if (json_is_object(meta)) {
        ctx.meta = meta;
        ctx.job_id = json_string_value(json_object_get(meta, "io.atlas/jobId"));
        ctx.token = json_string_value(json_object_get(meta, "io.atlas/token"));
    }
    if (!ctx.token || !*ctx.token)
        ctx.token = getenv("ATLAS_TOKEN");

    json_t *out = NULL;
    A.call = &ctx;
    int rc = A.def->execute(args, &out, &ctx, A.def->user);
    A.call = NULL;

    if (ctx.cancelled)
        send_error(id, ERR_CANCELLED, "Request cancelled");
    else if (rc != 0)
        tool_error(id, ctx.error ? ctx.error : "agent error", ctx.usage, modern);
    else if (!out)
        tool_error(id, "execute returned no output", ctx.usage, modern);
    else
        send_call_result(id, out, ctx.usage, modern);
    json_decref(out);
    json_decref(empty);
    json_decref(ctx.usage);
    free(ctx.error);
}

static void handle_message(json_t *msg)
{
    if (json_is_array(msg)) {
        send_error(NULL, ERR_INVALID_REQUEST, "batches are not supported");
        return;
    }
    json_t *id = json_object_get(msg, "id");
    int id_ok = id && (json_is_string(id) || json_is_integer(id));
    if (!json_is_object(msg) || !str_eq(json_object_get(msg, "jsonrpc"), "2.0")) {
        send_error(id_ok ? id : NULL, ERR_INVALID_REQUEST, "not a JSON-RPC 2.0 message");
        return;
    }
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (!json_object_get(msg, "method"))
        return; /* a response: we send no requests that need one */
    json_t *params = json_object_get(msg, "params");
    if (!id)
        return; /* notifications: a cancel for a call that is not running is moot */
    if (!id_ok) {
        send_error(NULL, ERR_INVALID_REQUEST, "id must be a string or an integer");
        return;
    }
    if (!method) {
        send_error(id, ERR_INVALID_REQUEST, "method must be a string");
        return;
    }
    json_t *empty = NULL;
    if (!params || json_is_null(params))
        params = empty = json_object();
    if (!json_is_object(params)) {
        send_error(id, ERR_INVALID_PARAMS, "params must be an object");
        return;
    }
    json_t *meta = json_object_get(params, "_meta");
    json_t *pv = json_is_object(meta) ? json_object_get(meta, META_PV) : NULL;
    int modern = pv != NULL;
    if (modern && !(json_is_string(pv) && strcmp(json_string_value(pv), MODERN_VERSION) == 0)) {
        /* MCP 2026-07-28 basic/versioning */
        send_json(json_pack("{s:s,s:O,s:{s:i,s:s,s:{s:[s],s:O}}}", "jsonrpc", "2.0", "id", id,
                            "error", "code", ERR_UNSUPPORTED_VERSION, "message",
                            "Unsupported protocol version", "data", "supported", MODERN_VERSION,
                            "requested", pv));
    } else if (strcmp(method, "tools/call") == 0) {
        handle_tools_call(id, params, modern);
    } else if (strcmp(method, "tools/list") == 0) {
        handle_tools_list(id, modern);
    } else if (strcmp(method, "server/discover") == 0) {
        handle_discover(id);
    } else if (strcmp(method, "initialize") == 0) {
        handle_initialize(id, params);
    } else if (strcmp(method, "ping") == 0 || strcmp(method, "logging/setLevel") == 0) {
        send_result(id, json_object(), modern);
    } else {
        char text[300];
        snprintf(text, sizeof text, "Method not found: %.256s", method);
        send_error(id, ERR_METHOD_NOT_FOUND, text);
    }
    json_decref(empty);
}

static void handle_line(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return; /* blank line */
    json_error_t err;
    json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (!msg) {
        char text[300];
        snprintf(text, sizeof text, "Parse error: %.200s (column %d)", err.text, err.column);
        send_error(NULL, ERR_PARSE, text);
        return;
    }
    handle_message(msg);
    json_decref(msg);
}

/* --- input -------------------------------------------------------------------- */

/* Read more input, without blocking when `block` is 0.  Returns 1 when bytes
 * arrived, 0 when none (or EOF: A.eof is set), -1 on EINTR. */
static int read_more(int block)
{
    struct buf *b = &A.in;
    if (!block) {
        struct pollfd pfd = {.fd = A.in_fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0)
            return 0;
    }
    /* Compact only between calls: during execute, atlas_ctx_cancelled scans
     * by offset. */
    if (block && A.in_start > 0) {
        memmove(b->p, b->p + A.in_start, b->len - A.in_start);
        b->len -= A.in_start;
        A.in_start = 0;
        if (b->cap > KEEP_BUFFER && b->len < INITIAL_INPUT) { /* shrink after a huge line */
            b->p = xrealloc(b->p, INITIAL_INPUT);
            b->cap = INITIAL_INPUT;
        }
    }
    if (b->cap - b->len < INITIAL_INPUT / 4) {
        size_t pending = b->len - A.in_start;
        if (pending > A.max_line && !block)
            return 0; /* full: the main loop will deal with it */
        buf_reserve(b, b->cap ? b->cap : INITIAL_INPUT);
    }
    ssize_t n = read(A.in_fd, b->p + b->len, b->cap - b->len);
    if (n < 0 && errno == EINTR)
        return -1;
    if (n <= 0) {
        A.eof = 1; /* end of input, or an error that ends it */
        return 0;
    }
    b->len += (size_t)n;
    return 1;
}

/* Serve lines until EOF or a stop signal. */
static void serve(void)
{
    struct buf *b = &A.in;
    size_t scanned = 0; /* bytes after in_start known to hold no '\n' */
    while (!stop_requested) {
        char *start = b->p + A.in_start;
        size_t avail = b->len - A.in_start;
        char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - start);
            A.in_start += len + 1;
            scanned = 0;
            if (A.skipping)
                A.skipping = 0; /* the end of an over-long line */
            else if (len > A.max_line)
                send_error(NULL, ERR_PARSE, "message longer than the line limit");
            else
                handle_line(start, len);
            continue;
        }
        scanned = avail;
        if (avail > A.max_line) {
            /* Over the limit: report once, drop bytes up to the next '\n'. */
            if (!A.skipping)
                send_error(NULL, ERR_PARSE, "message longer than the line limit");
            A.skipping = 1;
            A.in_start = b->len;
            scanned = 0;
        }
        if (A.eof)
            break;
        read_more(1);
    }
}

/* --- per-call API ------------------------------------------------------------- */

int atlas_ctx_fail(struct atlas_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char *s = xrealloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    free(ctx->error);
    ctx->error = s;
    return -1;
}

void atlas_ctx_log(struct atlas_ctx *ctx, const char *level, const char *fmt, ...)
{
    (void)ctx;
    char small[1024];
    char *s = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof small) {
        s = xrealloc(NULL, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    send_notification("notifications/message",
                      json_pack("{s:s,s:s,s:s%}", "level", level ? level : "info", "logger", A.name,
                                "data", s, (size_t)n));
    if (s != small)
        free(s);
}

void atlas_ctx_progress(struct atlas_ctx *ctx, double progress, double total, const char *message)
{
    json_t *token = ctx->meta ? json_object_get(ctx->meta, "progressToken") : NULL;
    if (!token)
        return;
    json_t *p = json_pack("{s:O,s:f}", "progressToken", token, "progress", progress);
    if (total >= 0)
        json_object_set_new(p, "total", json_real(total));
    if (message)
        json_object_set_new(p, "message", json_string(message));
    send_notification("notifications/progress", p);
}

void atlas_ctx_report_usage(struct atlas_ctx *ctx, long long tokens_in, long long tokens_out,
                            const char *model)
{
    if (!ctx->usage)
        ctx->usage =
            json_pack("{s:I,s:I}", "tokens_in", (json_int_t)0, "tokens_out", (json_int_t)0);
    json_t *in = json_object_get(ctx->usage, "tokens_in");
    json_t *out = json_object_get(ctx->usage, "tokens_out");
    json_integer_set(in, json_integer_value(in) + tokens_in);
    json_integer_set(out, json_integer_value(out) + tokens_out);
    if (model)
        json_object_set_new(ctx->usage, "model", json_string(model));
}

/* Look through input that arrived during the call for a cancel of it. */
int atlas_ctx_cancelled(struct atlas_ctx *ctx)
{
    while (read_more(0) > 0)
        ;
    struct buf *b = &A.in;
    while (!ctx->cancelled && ctx->scan < b->len) {
        char *start = b->p + ctx->scan;
        char *nl = memchr(start, '\n', b->len - ctx->scan);
        if (!nl)
            break;
        size_t len = (size_t)(nl - start);
        ctx->scan += len + 1;
        /* Cheap filter before parsing: only cancel notifications matter. */
        if (len > 4096 || !memmem(start, len, "notifications/cancelled", 23))
            continue;
        json_t *msg = json_loadb(start, len, 0, NULL);
        json_t *params = json_object_get(msg, "params");
        if (str_eq(json_object_get(msg, "method"), "notifications/cancelled") &&
            json_equal(json_object_get(params, "requestId"), ctx->id))
            ctx->cancelled = 1;
        json_decref(msg);
    }
    if (A.eof || stop_requested)
        ctx->cancelled = 1;
    return ctx->cancelled;
}

const char *atlas_ctx_job_id(const struct atlas_ctx *ctx)
{
    return ctx->job_id;
}

const char *atlas_ctx_token(const struct atlas_ctx *ctx)
{
    return ctx->token;
}

const char *atlas_ctx_agent_name(const struct atlas_ctx *ctx)
{
    (void)ctx;
    return A.name;
}

const json_t *atlas_ctx_meta(const struct atlas_ctx *ctx)
{
    return ctx->meta;
}

/* --- main ------------------------------------------------------------------------ */

/* Keep stdin/stdout for the protocol (close-on-exec copies) and point fds 0
 * and 1 at /dev/null and stderr, so nothing else can write to the protocol. */
static int isolate_stdio(void)
{
    fflush(stdout);
    A.out_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
    A.in_fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
    if (A.out_fd < 0 || A.in_fd < 0)
        return -1;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(2, 1) < 0)
        return -1;
    close(devnull);
    return 0;
}

int atlas_agent_main(int argc, char **argv, const struct atlas_agent_def *def)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : "agent";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s (atlas agent SDK %s)\n", def && def->name ? def->name : prog,
                   ATLAS_AGENT_SDK_VERSION);
            return 0;
        }
        fprintf(stderr,
                "usage: %s\nAn Atlas agent: MCP (JSON-RPC 2.0) on stdin/stdout; see "
                "docs/agent-protocol.md.\n",
                prog);
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
    if (!def || !def->execute) {
        fprintf(stderr, "atlas_agent: the agent definition has no execute callback\n");
        return 2;
    }
    memset(&A, 0, sizeof A);
    A.def = def;
    A.max_line = def->max_line ? def->max_line : DEFAULT_MAX_LINE;
    if (isolate_stdio() < 0) {
        perror("atlas_agent: setting up stdio");
        return 2;
    }
    if (load_tool(def) < 0)
        return 2;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: read(2) returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 0;
    if (def->on_startup && def->on_startup(def->user) != 0) {
        fprintf(stderr, "%s: on_startup failed\n", A.name);
        status = 1;
    } else {
        serve();
        if (def->on_shutdown)
            def->on_shutdown(def->user);
    }
    free(A.in.p);
    free(A.out.p);
    free(A.name);
    free(A.version);
    free(A.description);
    free(A.tool_json);
    close(A.in_fd);
    close(A.out_fd);
    return status;
}
