/*
 * err.h - the one table of Atlas error codes.
 *
 * Every fallible function returns int: 0 on success or a negative AT_E* code.
 * AT_ERRNO_MAP is the single source of truth: each row gives the code's
 * symbol, stable slug (used in problem+json "type" URNs, JSON-RPC error data
 * and CLI messages), human message, HTTP status and JSON-RPC error code.
 * Everything that turns an error into text or a status goes through here.
 */
#ifndef AT_BASE_ERR_H
#define AT_BASE_ERR_H

#include <stddef.h>

/*   symbol        slug                  message                               http  jsonrpc */
#define AT_ERRNO_MAP(X)                                                                            \
    X(EINVAL, "invalid-argument", "invalid argument", 400, -32602)                                 \
    X(ENOMEM, "out-of-memory", "out of memory", 500, -32603)                                       \
    X(ENOENT, "not-found", "not found", 404, -32002)                                               \
    X(EEXIST, "conflict", "already exists with other content", 409, -32010)                        \
    X(E2BIG, "too-large", "too large", 413, -32011)                                                \
    X(EPARSE, "parse-error", "parse error", 400, -32700)                                           \
    X(ESCHEMA, "schema-violation", "does not match schema", 400, -32602)                           \
    X(EOUTPUT, "output-schema-violation", "agent output does not match its schema", 502, -32012)   \
    X(EIO, "io-error", "input/output error", 500, -32603)                                          \
    X(ETIMEDOUT, "timeout", "timed out", 504, -32013)                                              \
    X(ECANCELED, "cancelled", "cancelled", 409, -32800)                                            \
    X(EPROTO, "agent-protocol-error", "agent broke the MCP protocol", 502, -32014)                 \
    X(EAGENT, "agent-error", "agent returned an error", 502, -32015)                               \
    X(ECRASH, "agent-crashed", "agent process exited", 502, -32016)                                \
    X(EBUSY, "busy", "resource busy", 503, -32017)                                                 \
    X(EPERM, "permission-denied", "permission denied", 403, -32018)                                \
    X(EUNAVAIL, "not-available", "not available in this build", 501, -32019)                       \
    X(EDEPS, "dependency-unsatisfied", "dependency not satisfied", 422, -32020)                    \
    X(ELIMIT, "limit-exceeded", "limit exceeded", 429, -32021)                                     \
    X(ESTATE, "invalid-state", "invalid state for this operation", 409, -32022)                    \
    X(ERESTART, "daemon-restart", "daemon restarted while the job ran", 500, -32023)               \
    X(EUNSUPPORTED, "unsupported", "unsupported", 400, -32024)                                     \
    X(ECONN, "connection-failed", "connection failed", 502, -32025)                                \
    X(ECIRCUIT, "circuit-open", "circuit breaker open", 503, -32026)                               \
    X(EINTERNAL, "internal-error", "internal error", 500, -32603)                                  \
    X(EMETHOD, "method-not-allowed", "method not allowed", 405, -32027)                            \
    X(ENOTREADY, "not-ready", "the daemon is not ready (starting or stopping)", 503, -32028)       \
    X(EHARDWARE, "hardware-unavailable", "this machine lacks the hardware the agent needs", 503,   \
      -32040)                                                                                      \
    X(ESKILL, "skill-unavailable", "a skill the agent requires is not available", 422, -32041)     \
    X(EAUTH, "unauthenticated", "authentication required", 401, -32029)                            \
    X(ESECRET, "secret-unavailable", "a secret the agent requires is not set", 422, -32042)        \
    X(EUNSCHEDULABLE, "unschedulable", "no node of the cluster can run the job", 503, -32044)      \
    X(EPREEMPTED, "preempted", "evicted by a job of higher priority", 409, -32045)                 \
    X(ENODELOST, "node-lost", "the node running the job stopped answering", 503, -32046)

enum { AT_OK = 0, AT_AGAIN = -1 /* not an error: "not yet", try again later */ };

/* Codes: AT_EINVAL == -2, AT_ENOMEM == -3, ... in table order. */
#define AT__ERR_DEFINE(sym, slug, msg, http, rpc) AT__IDX_##sym,
enum at__err_idx { AT_ERRNO_MAP(AT__ERR_DEFINE) AT__IDX_END };
#undef AT__ERR_DEFINE
#define AT__ERR_CODE(sym, slug, msg, http, rpc) AT_##sym = -2 - AT__IDX_##sym,
enum at_err_code { AT_ERRNO_MAP(AT__ERR_CODE) };
#undef AT__ERR_CODE

/* Stable slug ("schema-violation"); "ok" for 0, "again" for AT_AGAIN,
 * "internal-error" for unknown codes.  Static storage. Thread-safe. */
const char *at_err_slug(int code);

/* Human message ("does not match schema"). Static storage. Thread-safe. */
const char *at_err_msg(int code);

/* HTTP status for a code (200 for 0). Thread-safe. */
int at_err_http(int code);

/* JSON-RPC error code for a code. Thread-safe. */
int at_err_rpc(int code);

/* Reverse lookup of a slug; AT_EINTERNAL when unknown. Thread-safe. */
int at_err_from_slug(const char *slug);

/* Convert a positive errno value to the closest AT_E* code. */
int at_err_from_errno(int e);

#endif
