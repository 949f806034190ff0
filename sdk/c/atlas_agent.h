/*
 * atlas_agent.h - write an Atlas agent in C.
 *
 * An Atlas agent is an MCP server on stdio that exposes one tool: itself
 * (docs/agent-protocol.md).  This SDK is that server: you give it the agent's
 * name and an execute callback, it speaks both protocol revisions
 * (2026-07-28 with server/discover, 2025-11-25 with initialize), answers
 * tools/list, ping and cancellation, and calls you once per tools/call.
 *
 *     static int run(const json_t *input, json_t **output,
 *                    struct atlas_ctx *ctx, void *user)
 *     {
 *         json_t *text = json_object_get(input, "text");
 *         if (!json_is_string(text))
 *             return atlas_ctx_fail(ctx, "text must be a string");
 *         *output = json_pack("{s:I}", "length", (json_int_t)json_string_length(text));
 *         return 0;
 *     }
 *
 *     int main(int argc, char **argv)
 *     {
 *         static const struct atlas_agent_def def = {
 *             .name = "length", .version = "1.0.0", .execute = run,
 *         };
 *         return atlas_agent_main(argc, argv, &def);
 *     }
 *
 * Threading: single-threaded.  Everything here must be called from the thread
 * that runs atlas_agent_main (execute and the hooks run on it).
 *
 * Depends on jansson, and libcurl for the calls to the platform
 * (atlas_ctx_spawn and friends).  See docs/sdk-c.md.
 */
#ifndef ATLAS_AGENT_H
#define ATLAS_AGENT_H

#include <jansson.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATLAS_AGENT_SDK_VERSION "0.1.0"

/* Per-call context; valid only during the execute call it is passed to. */
struct atlas_ctx;

/*
 * Called once per tools/call.
 *
 * input:  the call's arguments (a JSON object), borrowed: valid until execute
 *         returns.  Under atlasd it has been validated against the contract's
 *         input schema with defaults applied.  To return it (or a part of it)
 *         as output, take a reference: json_incref((json_t *)input).
 * output: on success, set *output to a new reference to the result (a JSON
 *         object matching the contract's output schema); the SDK releases it.
 * return: 0 on success; anything else fails the call with isError: true and
 *         the message set by atlas_ctx_fail() (else "agent error").  An output
 *         set on failure is released and ignored.
 */
typedef int (*atlas_execute_fn)(const json_t *input, json_t **output, struct atlas_ctx *ctx,
                                void *user);

/*
 * What the agent is.  Caller-owned; must stay valid while atlas_agent_main
 * runs (a static const struct is the usual way).
 */
struct atlas_agent_def {
    const char *name;         /* the tool's name; ATLAS_AGENT_NAME and the contract's
                                 name win over it.  NULL: "agent" */
    const char *version;      /* used when neither ATLAS_AGENT_VERSION nor the contract
                                 gives one; NULL: "0.0.0" */
    const char *description;  /* used when the contract has none; may be NULL */
    atlas_execute_fn execute; /* required */
    /* Optional hooks.  on_startup runs before the first request is answered;
       a non-zero return makes the process exit with status 1.  on_shutdown
       runs when stdin closes or on SIGTERM/SIGINT. */
    int (*on_startup)(void *user);
    void (*on_shutdown)(void *user);
    void *user;      /* passed to execute and the hooks */
    size_t max_line; /* longest accepted request line in bytes; 0: 64 MiB */
};

/*
 * Serve the agent on stdin/stdout until stdin closes or SIGTERM/SIGINT.
 *
 * Before anything else, stdout and stdin are kept for the protocol and file
 * descriptors 1 and 0 are pointed at stderr and /dev/null, so printf() in an
 * agent (or its children) lands in the job's log instead of corrupting the
 * JSON-RPC stream.  Tool schemas come from the JSON file named by
 * ATLAS_CONTRACT (the contract's agent: block) when it is set, else both are
 * {"type":"object"}.  Options: --help, --version.
 *
 * Returns the process exit status: 0 after a clean shutdown, 1 when
 * on_startup failed, 2 on a usage or set-up error.
 */
int atlas_agent_main(int argc, char **argv, const struct atlas_agent_def *def);

/*
 * Fail the call with a message (printf-style) and return -1, so that
 * `return atlas_ctx_fail(ctx, "...")` reads naturally.  The message becomes
 * the isError text content.  A later call replaces an earlier message.
 */
int atlas_ctx_fail(struct atlas_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Send a line to the job's log (notifications/message).  level is an RFC 5424
 * name ("debug", "info", "warning", "error", ...); NULL means "info".
 */
void atlas_ctx_log(struct atlas_ctx *ctx, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Report progress (notifications/progress).  total < 0 means unknown;
 * message may be NULL.  A no-op when the caller sent no progressToken.
 * progress must increase from one report to the next.
 */
void atlas_ctx_progress(struct atlas_ctx *ctx, double progress, double total, const char *message);

/*
 * Record model usage for this call; it is returned with the result as
 * _meta["io.atlas/usage"].  Calls add up; model may be NULL.
 */
void atlas_ctx_report_usage(struct atlas_ctx *ctx, long long tokens_in, long long tokens_out,
                            const char *model);

/*
 * Non-zero once this call has been cancelled (notifications/cancelled), stdin
 * has closed, or SIGTERM arrived.  It polls stdin without blocking, so a long
 * execute should call it now and then and return early when it says so; the
 * SDK then answers the cancelled request itself.
 */
int atlas_ctx_cancelled(struct atlas_ctx *ctx);

/*
 * Calling the platform.
 *
 * These block until the platform answers: each is one MCP tools/call
 * (revision 2026-07-28, stateless) POSTed over Streamable HTTP to
 * $ATLAS_MCP_URL (http://, https:// or http+unix://<%2F-encoded socket
 * path>/mcp) with the job token (atlas_ctx_token) as the bearer, and the
 * call's io.atlas/jobId and W3C traceparent/tracestate in _meta.  The answer
 * may be JSON or an SSE stream.  While waiting they check for cancellation
 * (as atlas_ctx_cancelled does) about once a second; a cancelled call closes
 * the request's stream, which cancels the child job, and returns
 * ATLAS_ECANCELLED.
 *
 * output: on success, a new reference to the tool's structuredContent (else
 *         its first text content parsed as JSON, else that text as a JSON
 *         string, else JSON null); the caller releases it.  NULL on failure.
 * return: 0, or one of the negative codes below.  On failure the call's
 *         message (atlas_ctx_error, and what the call fails with if execute
 *         returns non-zero) is the platform's text (for a failed child: the
 *         tool error's text), and atlas_ctx_error_code names the error:
 *         the platform's code ("not-found", "timeout", "agent-error",
 *         "limit-exceeded", "permission-denied", ..., else "tool-error"),
 *         the JSON-RPC code as a decimal string, the slug of an HTTP problem's
 *         type (else "http-<status>"), "unreachable", "no-platform",
 *         "protocol-error", "too-large", "cancelled" or "bad-url".
 *
 * So `if (atlas_ctx_spawn(ctx, "x", in, &out) != 0) return -1;` fails the
 * call with the child's error.  A connection is kept open between calls.
 */
enum atlas_err {
    ATLAS_OK = 0,
    ATLAS_ETOOL = -1,        /* the tool failed (isError): a failed child job, a refusal */
    ATLAS_ERPC = -2,         /* a JSON-RPC error response */
    ATLAS_EHTTP = -3,        /* an HTTP error status without a JSON-RPC response */
    ATLAS_EUNREACHABLE = -4, /* no connection, or it broke */
    ATLAS_ENOPLATFORM = -5,  /* ATLAS_MCP_URL is not set (not running under atlasd) */
    ATLAS_EPROTOCOL = -6,    /* an answer that is not an MCP response, or too large */
    ATLAS_ECANCELLED = -7,   /* this call was cancelled while waiting */
    ATLAS_EINVAL = -8,       /* bad arguments (NULL name, input not an object) */
};

/* Run agent (NAME or NAME:VERSION) with input (an object; NULL = {}) as a
 * child job: atlas.exec.spawn.  Needs requires.spawn_agents in the contract. */
int atlas_ctx_spawn(struct atlas_ctx *ctx, const char *agent, const json_t *input, json_t **output);

/* Run the registered chain with input: atlas.exec.spawn_chain.  Needs
 * requires.spawn_agents and requires.platform_tools. */
int atlas_ctx_spawn_chain(struct atlas_ctx *ctx, const char *chain, const json_t *input,
                          json_t **output);

/* Invoke the platform skill name (one the contract declares in
 * requires.skills: file-ops, code-execution, memory, http, web-search or an
 * installed one; docs/skills.md) with input (an object; NULL = {}) inside
 * this job: atlas.skills.invoke.  A skill not declared fails with
 * ATLAS_ETOOL and code "permission-denied". */
int atlas_ctx_skill(struct atlas_ctx *ctx, const char *name, const json_t *input, json_t **output);

/* Any platform MCP tool (atlas.registry.list, ...) with arguments (an object;
 * NULL = {}).  input and arguments are borrowed. */
int atlas_ctx_call_tool(struct atlas_ctx *ctx, const char *name, const json_t *arguments,
                        json_t **output);

/* The message and code of the last failure (atlas_ctx_fail or a platform
 * call), or NULL.  Borrowed: valid until the next call that sets them. */
const char *atlas_ctx_error(const struct atlas_ctx *ctx);
const char *atlas_ctx_error_code(const struct atlas_ctx *ctx);

/* Borrowed strings, valid during the call; NULL when absent. */
const char *atlas_ctx_job_id(const struct atlas_ctx *ctx); /* _meta io.atlas/jobId */
const char *atlas_ctx_token(const struct atlas_ctx *ctx);  /* _meta io.atlas/token, else
                                                              ATLAS_TOKEN */
const char *atlas_ctx_agent_name(const struct atlas_ctx *ctx);
/* The call's whole _meta object (borrowed), or NULL. */
const json_t *atlas_ctx_meta(const struct atlas_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* ATLAS_AGENT_H */
