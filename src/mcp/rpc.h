/*
 * rpc.h - JSON-RPC 2.0 framing for the MCP stdio transport.
 *
 * The reader splits a byte stream into newline-delimited messages
 * (MCP 2025-11-25 basic/transports#stdio: "messages are delimited by
 * newlines, and MUST NOT contain embedded newlines") with a hard maximum
 * line length, then classifies each line as a request, notification,
 * response or error response.  Anything else is a protocol error.
 * Messages are written by the MCP client (mcp/client.h) with the builders
 * of mcp/message.h.  Caller-embedded, not thread-safe.  Part of mcp-proto.
 */
#ifndef AT_MCP_RPC_H
#define AT_MCP_RPC_H

#include "base/buf.h"
#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

struct at_rpc_reader {
    struct at_buf buf;
    size_t scanned; /* bytes of buf already known to hold no newline */
    size_t taken;   /* length of the line last handed out, dropped on the next call */
    size_t max_line;
};

void at_rpc_reader_init(struct at_rpc_reader *r, size_t max_line);
void at_rpc_reader_release(struct at_rpc_reader *r);

/* Append bytes read from the peer (at most 64 KiB per call, after taking
 * every complete line with at_rpc_reader_next).  Returns 0 or AT_E2BIG. */
int at_rpc_reader_feed(struct at_rpc_reader *r, const char *data, size_t len);

/* Take the next complete line (without its "\n"; a trailing "\r" is also
 * dropped) into *line and *len, NUL-terminated and valid until the next call.
 * Returns 1 when a line was taken, 0 when none is complete, AT_E2BIG when
 * a line is longer than max_line (the stream is then unusable).  Empty
 * lines are skipped. */
int at_rpc_reader_next(struct at_rpc_reader *r, const char **line, size_t *len);

enum at_rpc_kind {
    AT_RPC_REQUEST,      /* method + id */
    AT_RPC_NOTIFICATION, /* method, no id */
    AT_RPC_RESULT,       /* id + result */
    AT_RPC_ERROR,        /* id (maybe null) + error {code, message, data?} */
};

struct at_rpc_msg {
    enum at_rpc_kind kind;
    json_t *root;         /* owned: the whole message */
    json_t *id;           /* borrowed from root; NULL for notifications */
    const char *method;   /* borrowed; requests and notifications */
    json_t *params;       /* borrowed; may be NULL */
    json_t *result;       /* borrowed; results */
    json_t *error;        /* borrowed; errors */
    long long error_code; /* errors */
    const char *error_message;
};

/* Parse and classify one line.  Returns 0 (release msg with
 * at_rpc_msg_release) or AT_EPROTO with d saying what is wrong (not JSON,
 * not an object, no "jsonrpc":"2.0", batch arrays, bad id type...). */
int at_rpc_parse(const char *line, size_t len, struct at_rpc_msg *msg, struct at_diag *d);
/* Classify an already parsed value (root is stolen, also on failure).
 * Strings may hold NUL ("\u0000" is valid JSON and is accepted); a method
 * with one is refused, since methods are read as C strings. */
int at_rpc_classify(json_t *root, struct at_rpc_msg *msg, struct at_diag *d);
void at_rpc_msg_release(struct at_rpc_msg *msg);

/* Integer value of an id, or -1 when the id is not a non-negative integer. */
long long at_rpc_id_int(const json_t *id);

#endif
