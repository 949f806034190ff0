#include "mcp/rpc.h"

#include "base/err.h"
#include "json/json.h"

#include <string.h>

#define AT_RPC_READ_CHUNK 65536
#define AT_RPC_MAX_DEPTH 64

void at_rpc_reader_init(struct at_rpc_reader *r, size_t max_line)
{
    /* the buffer holds at most one partial line plus one read chunk */
    at_buf_init(&r->buf, max_line + AT_RPC_READ_CHUNK + 1);
    r->scanned = 0;
    r->taken = 0;
    r->max_line = max_line;
}

void at_rpc_reader_release(struct at_rpc_reader *r)
{
    at_buf_release(&r->buf);
    r->scanned = r->taken = 0;
}

static void drop_taken(struct at_rpc_reader *r)
{
    if (r->taken) {
        at_buf_consume(&r->buf, r->taken);
        r->taken = 0;
        r->scanned = 0;
    }
}

int at_rpc_reader_feed(struct at_rpc_reader *r, const char *data, size_t len)
{
    drop_taken(r);
    if (at_buf_append(&r->buf, data, len))
        return AT_E2BIG;
    return 0;
}

int at_rpc_reader_next(struct at_rpc_reader *r, const char **line, size_t *len)
{
    for (;;) {
        drop_taken(r);
        if (r->buf.len == 0)
            return 0;
        char *p = r->buf.p;
        char *nl = memchr(p + r->scanned, '\n', r->buf.len - r->scanned);
        if (!nl) {
            r->scanned = r->buf.len;
            return r->buf.len > r->max_line ? AT_E2BIG : 0;
        }
        size_t n = (size_t)(nl - p);
        if (n > r->max_line)
            return AT_E2BIG;
        *nl = '\0';
        r->taken = n + 1;
        if (n > 0 && p[n - 1] == '\r')
            p[--n] = '\0';
        if (n == 0)
            continue;
        *line = p;
        *len = n;
        return 1;
    }
}

long long at_rpc_id_int(const json_t *id)
{
    if (json_is_integer(id) && json_integer_value(id) >= 0)
        return json_integer_value(id);
    return -1;
}

void at_rpc_msg_release(struct at_rpc_msg *msg)
{
    json_decref(msg->root);
    memset(msg, 0, sizeof(*msg));
}

static int proto(struct at_diag *d, const char *what)
{
    return at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s", what);
}

int at_rpc_parse(const char *line, size_t len, struct at_rpc_msg *msg, struct at_diag *d)
{
    memset(msg, 0, sizeof(*msg));
    json_t *root;
    struct at_diag pd;
    at_diag_clear(&pd);
    /* "\u0000" is valid JSON: agents' output may carry it (classify keeps
     * it out of the strings the protocol reads as C strings) */
    if (at_json_parse_flags(line, len, AT_RPC_MAX_DEPTH, AT_JSON_ALLOW_NUL, &root, &pd))
        return at_diag_set(d, AT_EPROTO, NULL, 0, 0, "not JSON (%s at column %d)", pd.msg, pd.col);
    return at_rpc_classify(root, msg, d);
}

int at_rpc_classify(json_t *root, struct at_rpc_msg *msg, struct at_diag *d)
{
    memset(msg, 0, sizeof(*msg));
    if (json_is_array(root)) {
        json_decref(root);
        return proto(d, "JSON-RPC batches are not allowed");
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return proto(d, "not a JSON-RPC message (not an object)");
    }
    const char *ver = json_string_value(json_object_get(root, "jsonrpc"));
    if (!ver || strcmp(ver, "2.0") != 0) {
        json_decref(root);
        return proto(d, "not a JSON-RPC 2.0 message (\"jsonrpc\": \"2.0\" missing)");
    }
    msg->root = root;
    json_t *id = json_object_get(root, "id");
    json_t *method = json_object_get(root, "method");
    if (id && !json_is_integer(id) && !json_is_string(id) && !json_is_null(id)) {
        at_rpc_msg_release(msg);
        return proto(d, "JSON-RPC id must be a string or an integer");
    }
    if (method) {
        if (!json_is_string(method) ||
            strlen(json_string_value(method)) != json_string_length(method)) {
            at_rpc_msg_release(msg);
            return proto(d, "JSON-RPC method must be a string (without NUL)");
        }
        msg->method = json_string_value(method);
        msg->params = json_object_get(root, "params");
        if (msg->params && !json_is_object(msg->params) && !json_is_array(msg->params)) {
            at_rpc_msg_release(msg);
            return proto(d, "JSON-RPC params must be an object or an array");
        }
        if (id && !json_is_null(id)) {
            msg->kind = AT_RPC_REQUEST;
            msg->id = id;
        } else {
            msg->kind = AT_RPC_NOTIFICATION;
        }
        return 0;
    }
    json_t *result = json_object_get(root, "result");
    json_t *error = json_object_get(root, "error");
    if (!id || (result && error) || (!result && !error)) {
        at_rpc_msg_release(msg);
        return proto(d, "JSON-RPC response needs an id and exactly one of result or error");
    }
    msg->id = id;
    if (result) {
        msg->kind = AT_RPC_RESULT;
        msg->result = result;
        return 0;
    }
    if (!json_is_object(error) || !json_is_integer(json_object_get(error, "code"))) {
        at_rpc_msg_release(msg);
        return proto(d, "JSON-RPC error must be an object with an integer code");
    }
    msg->kind = AT_RPC_ERROR;
    msg->error = error;
    msg->error_code = json_integer_value(json_object_get(error, "code"));
    msg->error_message = json_string_value(json_object_get(error, "message"));
    if (!msg->error_message)
        msg->error_message = "";
    return 0;
}
