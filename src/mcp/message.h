/*
 * message.h - JSON-RPC 2.0 messages as MCP uses them (server side), and the
 * protocol revisions Atlas speaks.
 *
 * References: JSON-RPC 2.0 §4-5; MCP 2025-11-25 basic (messages, _meta),
 * basic/lifecycle (version negotiation); MCP 2026-07-28 (per-request
 * _meta envelope, server/discover, standard request headers).
 *
 * Everything here is pure (no I/O, no globals) and thread-safe.
 */
#ifndef AT_MCP_MESSAGE_H
#define AT_MCP_MESSAGE_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

/* JSON-RPC 2.0 §5.1 and the MCP codes (2025-11-25 schema, 2026-07-28). */
#define AT_MCP_PARSE_ERROR (-32700)
#define AT_MCP_INVALID_REQUEST (-32600)
#define AT_MCP_METHOD_NOT_FOUND (-32601)
#define AT_MCP_INVALID_PARAMS (-32602)
#define AT_MCP_INTERNAL_ERROR (-32603)
#define AT_MCP_RESOURCE_NOT_FOUND (-32002)
#define AT_MCP_HEADER_MISMATCH (-32020)     /* 2026-07-28: header disagrees with body */
#define AT_MCP_MISSING_CAPABILITY (-32021)  /* 2026-07-28 */
#define AT_MCP_UNSUPPORTED_VERSION (-32022) /* 2026-07-28 */
#define AT_MCP_REQUEST_CANCELLED (-32800)

/* Protocol revisions, newest first.  2026-07-28 is stateless. */
#define AT_MCP_V2026 "2026-07-28"
#define AT_MCP_V2025_11 "2025-11-25"
#define AT_MCP_V2025_06 "2025-06-18"
#define AT_MCP_V2025_03 "2025-03-26"
#define AT_MCP_V2024 "2024-11-05"

/* _meta keys of the 2026-07-28 envelope, and Atlas's own. */
#define AT_MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"
#define AT_MCP_META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define AT_MCP_META_CLIENT_CAPS "io.modelcontextprotocol/clientCapabilities"
#define AT_MCP_META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define AT_MCP_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
#define AT_MCP_EXT_TASKS "io.modelcontextprotocol/tasks" /* 2026-07-28 extension, SEP-2663 */
#define AT_MCP_META_SUBSCRIPTION "io.modelcontextprotocol/subscriptionId" /* 2026-07-28 listen */
#define AT_MCP_META_TOKEN "io.atlas/token"
#define AT_MCP_META_JOB "io.atlas/jobId"

/* Largest message accepted on any transport (bytes). */
#define AT_MCP_MAX_MESSAGE (8u << 20)
/* Nesting limit for message JSON. */
#define AT_MCP_MAX_DEPTH 64

enum at_mcp_kind {
    AT_MCP_REQUEST,      /* method + id */
    AT_MCP_NOTIFICATION, /* method, no id */
    AT_MCP_RESPONSE,     /* id + result | error (an answer to a server request) */
};

struct at_mcp_msg {
    enum at_mcp_kind kind;
    json_t *root;       /* owned: the whole message */
    json_t *id;         /* borrowed; NULL for notifications */
    const char *method; /* borrowed; requests and notifications */
    json_t *params;     /* borrowed; an object, or NULL */
    json_t *meta;       /* borrowed; params._meta when an object, else NULL */
    json_t *result;     /* borrowed; responses */
    json_t *error;      /* borrowed; error responses */
};

/* Parse one message from len bytes.  Returns 0 (release with
 * at_mcp_msg_release), or the JSON-RPC error code to answer with
 * (AT_MCP_PARSE_ERROR for bad JSON, AT_MCP_INVALID_REQUEST for a value that
 * is not a JSON-RPC 2.0 message, including batches, which MCP 2025-06-18
 * removed) with d->msg saying why.  *err_id (when err_id is not NULL)
 * receives a new reference to the id when one could be read, else NULL. */
int at_mcp_msg_parse(const char *buf, size_t len, struct at_mcp_msg *m, json_t **err_id,
                     struct at_diag *d);

/* Classify an already parsed value (takes a reference to v on success). */
int at_mcp_msg_from_json(json_t *v, struct at_mcp_msg *m, json_t **err_id, struct at_diag *d);
void at_mcp_msg_release(struct at_mcp_msg *m);

/* Builders.  Each returns a new reference and steals the json_t arguments
 * marked "stolen". */
json_t *at_mcp_result(const json_t *id, json_t *result /* stolen */);
json_t *at_mcp_error(const json_t *id, int code, const char *message, json_t *data /* stolen */);
json_t *at_mcp_notification(const char *method, json_t *params /* stolen, may be NULL */);
json_t *at_mcp_request(long long id, const char *method, json_t *params /* stolen */);

/* 1 when Atlas speaks revision v. */
int at_mcp_version_supported(const char *v);
/* 1 for the stateless revisions (2026-07-28 and later). */
int at_mcp_version_stateless(const char *v);
/* The revision to answer an initialize that asked for v (MCP 2025-11-25
 * lifecycle: the same when supported, else the latest session revision). */
const char *at_mcp_version_negotiate(const char *v);
/* JSON array of the supported revisions (new reference). */
json_t *at_mcp_versions_json(int stateless_only);

/* Logging levels (RFC 5424 as MCP 2025-11-25 server/utilities/logging
 * names them): 0 debug .. 7 emergency; -1 when unknown. */
int at_mcp_log_level(const char *name);

/* The value of a standard header (Mcp-Method, Mcp-Name) as the client
 * meant it: MCP 2026-07-28 sends values that are not printable ASCII as
 * "=?base64?<base64 of the UTF-8>?="; anything else is taken as is.
 * Writes a NUL-terminated string into out and returns 0, or AT_EINVAL
 * (bad base64, a NUL in the decoded value, or more than n - 1 bytes). */
int at_mcp_header_decode(const char *v, char *out, size_t n);

/* A string form of a JSON-RPC id for tables ("s:abc" / "n:12"), into out. */
void at_mcp_id_key(const json_t *id, char *out, size_t n);

#endif
