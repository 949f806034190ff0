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
 * Depends on jansson only.  See docs/sdk-c.md.
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
