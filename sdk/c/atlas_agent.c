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
 * Calls to the platform (atlas_ctx_spawn, ...) are blocking MCP tools/call
 * POSTs with libcurl (one easy handle, kept for keep-alive); see the
 * "calling the platform" section.
 *
 * Single-threaded; all state is in static structs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "atlas_agent.h"

#include <curl/curl.h>
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
    char *error;      /* message set by atlas_ctx_fail or a platform call (owned) */
    char *error_code; /* the platform's error code of the last failed call (owned) */
    json_t *usage;    /* owned */
    size_t scan;      /* input offset up to which cancel notifications were looked for */
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

static _Noreturn void oom(void)
{
    static const char msg[] = "atlas_agent: out of memory\n";
    (void)!write(2, msg, sizeof msg - 1);
    abort();
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
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
    if (n == 0)
        return; /* b->p may still be NULL */
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
    free(ctx.error_code);
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
        char *start = b->p ? b->p + A.in_start : NULL; /* NULL + 0 is undefined */
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
    free(ctx->error_code);
    ctx->error_code = NULL;
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

const char *atlas_ctx_error(const struct atlas_ctx *ctx)
{
    return ctx->error;
}

const char *atlas_ctx_error_code(const struct atlas_ctx *ctx)
{
    return ctx->error_code;
}

/* --- calling the platform ------------------------------------------------------- */

/* MCP 2026-07-28 basic/transports (Streamable HTTP), stateless requests: one
 * POST per tools/call; the answer is application/json or a text/event-stream
 * whose events carry the response (after progress and log notifications). */

#define MAX_ANSWER ((size_t)64 * 1024 * 1024) /* a larger answer fails with too-large */
#define CONNECT_TIMEOUT_S 10L
#define CLIENT_NAME "atlas-sdk-c"
#define PROBLEM_PREFIX "urn:atlas:error:"

static struct {
    CURL *curl; /* kept between calls so its connection is reused */
    int global_done;
    json_int_t next_id;
} P;

struct answer {
    struct buf body;
    struct atlas_ctx *ctx;
    int too_large, cancelled;
};

/* Set the call's error message and code; returns rc. */
__attribute__((format(printf, 4, 5))) static int call_error(struct atlas_ctx *ctx, int rc,
                                                            const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xrealloc(NULL, n > 0 ? (size_t)n + 1 : 1);
    s[0] = '\0';
    if (n > 0) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    free(ctx->error);
    ctx->error = s;
    free(ctx->error_code);
    ctx->error_code = xstrdup(code);
    return rc;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct answer *a = arg;
    size_t n = size * nmemb;
    if (n > MAX_ANSWER - a->body.len) {
        a->too_large = 1;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    buf_put(&a->body, p, n);
    return n;
}

/* libcurl calls this about once a second while it waits, more often while
 * data flows: the place to notice a cancel of the call we are serving. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct answer *a = arg;
    if (atlas_ctx_cancelled(a->ctx)) {
        a->cancelled = 1;
        return 1; /* abort: closing the stream cancels a stateless request */
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Point the handle at url.  http+unix://<percent-encoded socket path>/path
 * becomes http://localhost/path over that socket. */
static int set_url(struct atlas_ctx *ctx, CURL *c, const char *url)
{
    static const char unix_scheme[] = "http+unix://";
    if (strncmp(url, unix_scheme, sizeof unix_scheme - 1) != 0) {
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
            return call_error(ctx, ATLAS_ENOPLATFORM, "bad-url",
                              "unsupported URL scheme in ATLAS_MCP_URL: %s", url);
        curl_easy_setopt(c, CURLOPT_URL, url);
        return 0;
    }
    const char *host = url + sizeof unix_scheme - 1;
    const char *path = strchr(host, '/');
    size_t n = path ? (size_t)(path - host) : strlen(host);
    char *sock = xrealloc(NULL, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '%' && i + 2 < n && hexval(host[i + 1]) >= 0 && hexval(host[i + 2]) >= 0) {
            sock[k++] = (char)(hexval(host[i + 1]) * 16 + hexval(host[i + 2]));
            i += 2;
        } else {
            sock[k++] = host[i];
        }
    }
    sock[k] = '\0';
    struct buf u = {0};
    buf_puts(&u, "http://localhost");
    buf_puts(&u, path ? path : "/");
    buf_put(&u, "", 1);
    int bad = k == 0 || memchr(sock, '\0', k) != NULL;
    if (!bad) {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock); /* curl copies strings */
        curl_easy_setopt(c, CURLOPT_URL, u.p);
    }
    free(sock);
    free(u.p);
    if (bad)
        return call_error(ctx, ATLAS_ENOPLATFORM, "bad-url", "bad socket path in ATLAS_MCP_URL: %s",
                          url);
    return 0;
}

/* A header value: ASCII as is, anything else in MCP's base64 sentinel form
 * (=?base64?...?=); control characters are never sent. */
static void put_header_value(struct buf *b, const char *v)
{
    int plain = 1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            plain = 0;
    if (plain) {
        buf_puts(b, v);
        return;
    }
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)v;
    size_t n = strlen(v);
    buf_puts(b, "=?base64?");
    for (size_t i = 0; i < n; i += 3) {
        unsigned x = (unsigned)s[i] << 16;
        if (i + 1 < n)
            x |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            x |= s[i + 2];
        char q[4] = {tab[(x >> 18) & 63], tab[(x >> 12) & 63], i + 1 < n ? tab[(x >> 6) & 63] : '=',
                     i + 2 < n ? tab[x & 63] : '='};
        buf_put(b, q, 4);
    }
    buf_puts(b, "?=");
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    struct buf b = {0};
    buf_puts(&b, name);
    buf_puts(&b, ": ");
    put_header_value(&b, value);
    buf_put(&b, "", 1);
    struct curl_slist *n = curl_slist_append(h, b.p);
    free(b.p);
    if (!n)
        oom(); /* like every small allocation */
    return n;
}

static int is_response(const json_t *m, json_int_t id)
{
    json_t *mid = json_object_get(m, "id");
    return json_is_integer(mid) && json_integer_value(mid) == id &&
           (json_object_get(m, "result") || json_object_get(m, "error"));
}

/* The JSON-RPC response with this id in an SSE body: each event's data
 * lines joined by '\n' (WHATWG "server-sent events" 9.2.6); the last event
 * holding the response wins.  New reference or NULL. */
static json_t *sse_response(const char *p, size_t len, json_int_t id)
{
    json_t *found = NULL;
    struct buf data = {0};
    int have_data = 0;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && p[i] != '\n' && p[i] != '\r')
            i++;
        size_t n = i - start;
        int at_end = i >= len;
        if (i < len && p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
            i++;
        i++;
        const char *line = p + start;
        if (n == 0) { /* end of an event */
            if (have_data) {
                json_t *m = json_loadb(data.p, data.len, 0, NULL);
                if (m && is_response(m, id)) {
                    json_decref(found);
                    found = m;
                } else {
                    json_decref(m);
                }
            }
            data.len = 0;
            have_data = 0;
        } else if (n >= 5 && memcmp(line, "data:", 5) == 0) {
            size_t skip = n > 5 && line[5] == ' ' ? 6 : 5;
            if (have_data)
                buf_put(&data, "\n", 1);
            buf_put(&data, line + skip, n - skip);
            have_data = 1;
        }
        if (at_end) {
            if (n == 0 || !have_data)
                break;
            /* a final event without its blank line: dispatch it too */
            json_t *m = json_loadb(data.p, data.len, 0, NULL);
            if (m && is_response(m, id)) {
                json_decref(found);
                found = m;
            } else {
                json_decref(m);
            }
            break;
        }
    }
    free(data.p);
    return found;
}

/* Fill the call's error from an HTTP error body: an RFC 9457 problem, a
 * JSON-RPC or OpenAI-style {"error": {...}}, or text. */
static int http_error(struct atlas_ctx *ctx, long status, const struct buf *body)
{
    char fallback[32];
    snprintf(fallback, sizeof fallback, "http-%ld", status);
    json_t *doc = body->len ? json_loadb(body->p, body->len, 0, NULL) : NULL;
    int rc;
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    const char *title = json_string_value(json_object_get(doc, "title"));
    json_t *err = json_object_get(doc, "error");
    if (json_is_object(doc) && type && *type && (detail || title)) {        /* RFC 9457 section 3 */
        const char *code = json_string_value(json_object_get(doc, "code")); /* atlasd's */
        if (!code || !*code) {
            if (strncmp(type, PROBLEM_PREFIX, sizeof PROBLEM_PREFIX - 1) == 0 &&
                type[sizeof PROBLEM_PREFIX - 1])
                code = type + sizeof PROBLEM_PREFIX - 1;
            else if (strcmp(type, "about:blank") == 0) /* says no more than the status */
                code = fallback;
            else
                code = type;
        }
        rc = call_error(ctx, ATLAS_EHTTP, code, "%s", detail ? detail : title);
    } else if (json_is_object(err)) {
        json_t *c = json_object_get(err, "code");
        const char *msg = json_string_value(json_object_get(err, "message"));
        char num[32];
        const char *code = json_string_value(c);
        if (json_is_integer(c)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(c));
            code = num;
        }
        if (!code || !*code)
            code = json_string_value(json_object_get(err, "type"));
        rc = call_error(ctx, ATLAS_EHTTP, code && *code ? code : fallback, "%s",
                        msg && *msg ? msg : fallback);
    } else {
        int n = (int)(body->len > 500 ? 500 : body->len);
        while (n > 0 && (body->p[n - 1] == '\n' || body->p[n - 1] == '\r'))
            n--;
        if (n > 0)
            rc = call_error(ctx, ATLAS_EHTTP, fallback, "HTTP %ld: %.*s", status, n, body->p);
        else
            rc = call_error(ctx, ATLAS_EHTTP, fallback, "HTTP %ld", status);
    }
    json_decref(doc);
    return rc;
}

/* Turn the JSON-RPC response into the output or the call's error. */
static int take_result(struct atlas_ctx *ctx, const char *name, json_t *resp, json_t **output)
{
    json_t *err = json_object_get(resp, "error");
    if (err) {
        json_t *c = json_object_get(err, "code");
        const char *msg = json_string_value(json_object_get(err, "message"));
        char num[32] = "error";
        if (json_is_integer(c))
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(c));
        return call_error(ctx, ATLAS_ERPC, num, "%s", msg && *msg ? msg : "error");
    }
    json_t *result = json_object_get(resp, "result");
    if (!json_is_object(result))
        return call_error(ctx, ATLAS_EPROTOCOL, "protocol-error", "malformed result from %s", name);
    const char *text = NULL;
    size_t text_len = 0;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(result, "content"), i, item)
    {
        if (str_eq(json_object_get(item, "type"), "text") &&
            json_is_string(json_object_get(item, "text"))) {
            text = json_string_value(json_object_get(item, "text"));
            text_len = json_string_length(json_object_get(item, "text"));
            break;
        }
    }
    json_t *sc = json_object_get(result, "structuredContent");
    if (json_is_true(json_object_get(result, "isError"))) {
        const char *code = json_string_value(json_object_get(sc, "code"));
        const char *msg = text;
        if (!msg || !*msg)
            msg = json_string_value(json_object_get(sc, "message"));
        if (msg && *msg)
            return call_error(ctx, ATLAS_ETOOL, code && *code ? code : "tool-error", "%s", msg);
        return call_error(ctx, ATLAS_ETOOL, code && *code ? code : "tool-error", "%s failed", name);
    }
    if (sc)
        *output = json_incref(sc);
    else if (text)
        *output = json_loadb(text, text_len, JSON_DECODE_ANY, NULL);
    if (!*output)
        *output = text ? json_stringn(text, text_len) : json_null();
    return 0;
}

/* The tools/call request, serialized: the 2026-07-28 _meta envelope plus the
 * caller's job and trace context (the token travels in the header only). */
static char *call_body(struct atlas_ctx *ctx, const char *name, const json_t *args, json_int_t id)
{
    json_t *meta = json_pack("{s:s,s:{s:s,s:s},s:{}}", META_PV, MODERN_VERSION,
                             "io.modelcontextprotocol/clientInfo", "name", CLIENT_NAME, "version",
                             ATLAS_AGENT_SDK_VERSION, "io.modelcontextprotocol/clientCapabilities");
    if (ctx->job_id)
        json_object_set_new(meta, "io.atlas/jobId", json_string(ctx->job_id));
    static const char *const trace_keys[] = {"traceparent", "tracestate"};
    for (size_t i = 0; i < sizeof trace_keys / sizeof *trace_keys; i++) {
        json_t *v = ctx->meta ? json_object_get(ctx->meta, trace_keys[i]) : NULL;
        if (json_is_string(v))
            json_object_set(meta, trace_keys[i], v);
    }
    json_t *msg = json_pack("{s:s,s:I,s:s,s:{s:s,s:O,s:o}}", "jsonrpc", "2.0", "id", id, "method",
                            "tools/call", "params", "name", name, "arguments", args, "_meta", meta);
    char *s = msg ? json_dumps(msg, JSON_OUT_FLAGS) : NULL;
    json_decref(msg);
    return s;
}

static CURL *platform_handle(void)
{
    if (!P.global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        P.global_done = 1;
    }
    if (!P.curl)
        P.curl = curl_easy_init();
    else
        curl_easy_reset(P.curl); /* options go, the connection cache stays */
    return P.curl;
}

static void platform_cleanup(void)
{
    if (P.curl)
        curl_easy_cleanup(P.curl);
    if (P.global_done)
        curl_global_cleanup();
    memset(&P, 0, sizeof P);
}

int atlas_ctx_call_tool(struct atlas_ctx *ctx, const char *name, const json_t *arguments,
                        json_t **output)
{
    if (!output)
        return call_error(ctx, ATLAS_EINVAL, "invalid", "output must not be NULL");
    *output = NULL;
    if (!name || !*name)
        return call_error(ctx, ATLAS_EINVAL, "invalid", "the tool's name is missing");
    if (arguments && !json_is_object(arguments))
        return call_error(ctx, ATLAS_EINVAL, "invalid", "the arguments of %s must be an object",
                          name);
    const char *url = getenv("ATLAS_MCP_URL");
    if (!url || !*url)
        return call_error(ctx, ATLAS_ENOPLATFORM, "no-platform",
                          "ATLAS_MCP_URL is not set (is the agent running under atlasd?)");
    CURL *c = platform_handle();
    if (!c)
        return call_error(ctx, ATLAS_EUNREACHABLE, "unreachable", "libcurl did not initialize");
    int rc = set_url(ctx, c, url);
    if (rc)
        return rc;

    json_t *empty = arguments ? NULL : json_object();
    json_int_t id = ++P.next_id;
    char *body = call_body(ctx, name, arguments ? arguments : empty, id);
    json_decref(empty);
    if (!body)
        return call_error(ctx, ATLAS_EINVAL, "invalid", "the arguments of %s cannot be serialized",
                          name);

    struct curl_slist *h = NULL;
    static const char *const fixed[][2] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json, text/event-stream"},
        {"MCP-Protocol-Version", MODERN_VERSION},
        {"Mcp-Method", "tools/call"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        h = add_header(h, fixed[i][0], fixed[i][1]);
    h = add_header(h, "Mcp-Name", name);
    h = add_header(h, "Expect", ""); /* no 100-continue round trip for large bodies */
    if (ctx->token && *ctx->token) {
        struct buf bearer = {0};
        buf_puts(&bearer, "Bearer ");
        buf_puts(&bearer, ctx->token);
        buf_put(&bearer, "", 1);
        h = add_header(h, "Authorization", bearer.p);
        free(bearer.p);
    }

    struct answer a = {.ctx = ctx};
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &a);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, CLIENT_NAME "/" ATLAS_AGENT_SDK_VERSION);

    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    char *ctype = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);

    json_t *resp = NULL;
    if (a.cancelled) {
        rc = call_error(ctx, ATLAS_ECANCELLED, "cancelled", "%s was cancelled", name);
    } else if (a.too_large) {
        rc = call_error(ctx, ATLAS_EPROTOCOL, "too-large",
                        "the answer to %s is larger than %zu bytes", name, MAX_ANSWER);
    } else if (cc != CURLE_OK) {
        rc = call_error(ctx, ATLAS_EUNREACHABLE, "unreachable", "cannot reach %s: %s", url,
                        curl_err[0] ? curl_err : curl_easy_strerror(cc));
    } else {
        if (ctype && strstr(ctype, "text/event-stream")) {
            resp = sse_response(a.body.p, a.body.len, id);
        } else if (a.body.len) {
            resp = json_loadb(a.body.p, a.body.len, 0, NULL);
            if (resp && !is_response(resp, id)) {
                json_decref(resp);
                resp = NULL;
            }
        }
        if (resp)
            rc = take_result(ctx, name, resp, output);
        else if (status >= 400)
            rc = http_error(ctx, status, &a.body);
        else
            rc = call_error(ctx, ATLAS_EPROTOCOL, "protocol-error",
                            "no JSON-RPC response to %s (HTTP %ld)", name, status);
    }
    /* the handle keeps pointers to these until the next reset */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    json_decref(resp);
    curl_slist_free_all(h);
    free(body);
    free(a.body.p);
    return rc;
}

static int spawn_tool(struct atlas_ctx *ctx, const char *tool, const char *key, const char *what,
                      const json_t *input, json_t **output)
{
    if (output)
        *output = NULL;
    if (!what || !*what)
        return call_error(ctx, ATLAS_EINVAL, "invalid", "%s: the %s's name is missing", tool, key);
    if (input && !json_is_object(input))
        return call_error(ctx, ATLAS_EINVAL, "invalid", "%s: input must be an object", tool);
    json_t *args = json_pack("{s:s,s:o}", key, what, "input",
                             input ? json_incref((json_t *)input) : json_object());
    if (!args)
        return call_error(ctx, ATLAS_EINVAL, "invalid", "%s: the %s's name is not UTF-8", tool,
                          key);
    int rc = atlas_ctx_call_tool(ctx, tool, args, output);
    json_decref(args);
    return rc;
}

int atlas_ctx_spawn(struct atlas_ctx *ctx, const char *agent, const json_t *input, json_t **output)
{
    return spawn_tool(ctx, "atlas.exec.spawn", "agent", agent, input, output);
}

int atlas_ctx_skill(struct atlas_ctx *ctx, const char *name, const json_t *input, json_t **output)
{
    return spawn_tool(ctx, "atlas.skills.invoke", "skill", name, input, output);
}

int atlas_ctx_spawn_chain(struct atlas_ctx *ctx, const char *chain, const json_t *input,
                          json_t **output)
{
    return spawn_tool(ctx, "atlas.exec.spawn_chain", "chain", chain, input, output);
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
    platform_cleanup();
    close(A.in_fd);
    close(A.out_fd);
    return status;
}
