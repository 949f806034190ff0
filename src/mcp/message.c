/*
 * message.c - JSON-RPC 2.0 parsing and building for the MCP server.
 */
#include "mcp/message.h"

#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <string.h>

static const char *const versions[] = {AT_MCP_V2026, AT_MCP_V2025_11, AT_MCP_V2025_06,
                                       AT_MCP_V2025_03, AT_MCP_V2024};

static int bad(struct at_diag *d, int code, const char *msg)
{
    if (d)
        at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%s", msg);
    return code;
}

static int valid_id(const json_t *id)
{
    /* MCP 2025-11-25 basic: request ids are strings or integers, never null */
    return json_is_string(id) || json_is_integer(id);
}

int at_mcp_msg_from_json(json_t *v, struct at_mcp_msg *m, json_t **err_id, struct at_diag *d)
{
    memset(m, 0, sizeof(*m));
    if (err_id)
        *err_id = NULL;
    if (json_is_array(v))
        return bad(d, AT_MCP_INVALID_REQUEST,
                   "JSON-RPC batches are not supported (MCP 2025-06-18 removed them)");
    if (!json_is_object(v))
        return bad(d, AT_MCP_INVALID_REQUEST, "a JSON-RPC message must be an object");
    json_t *id = json_object_get(v, "id");
    if (err_id && id && valid_id(id))
        *err_id = json_incref(id);
    const char *ver = json_string_value(json_object_get(v, "jsonrpc"));
    if (!ver || strcmp(ver, "2.0") != 0)
        return bad(d, AT_MCP_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
    if (id && !valid_id(id))
        return bad(d, AT_MCP_INVALID_REQUEST, "the id must be a string or an integer");
    json_t *method = json_object_get(v, "method");
    if (method) {
        if (!json_is_string(method) || json_string_length(method) == 0)
            return bad(d, AT_MCP_INVALID_REQUEST, "\"method\" must be a non-empty string");
        json_t *params = json_object_get(v, "params");
        if (params && !json_is_object(params))
            return bad(d, AT_MCP_INVALID_REQUEST, "\"params\" must be an object");
        if (json_object_get(v, "result") || json_object_get(v, "error"))
            return bad(d, AT_MCP_INVALID_REQUEST, "a request cannot carry result or error");
        m->kind = id ? AT_MCP_REQUEST : AT_MCP_NOTIFICATION;
        m->method = json_string_value(method);
        m->params = params;
        json_t *meta = params ? json_object_get(params, "_meta") : NULL;
        if (meta && !json_is_object(meta))
            return bad(d, AT_MCP_INVALID_REQUEST, "\"params._meta\" must be an object");
        m->meta = meta;
    } else {
        json_t *result = json_object_get(v, "result");
        json_t *error = json_object_get(v, "error");
        if (!id || !result == !error)
            return bad(d, AT_MCP_INVALID_REQUEST,
                       "a message needs a method, or an id and exactly one of result or error");
        if (error && (!json_is_object(error) || !json_is_integer(json_object_get(error, "code"))))
            return bad(d, AT_MCP_INVALID_REQUEST,
                       "\"error\" must be an object with an integer code");
        m->kind = AT_MCP_RESPONSE;
        m->result = result;
        m->error = error;
    }
    m->id = id;
    m->root = json_incref(v);
    return 0;
}

int at_mcp_msg_parse(const char *buf, size_t len, struct at_mcp_msg *m, json_t **err_id,
                     struct at_diag *d)
{
    memset(m, 0, sizeof(*m));
    if (err_id)
        *err_id = NULL;
    if (len > AT_MCP_MAX_MESSAGE)
        return bad(d, AT_MCP_INVALID_REQUEST, "the message is too large");
    json_t *v;
    struct at_diag pd;
    at_diag_clear(&pd);
    if (at_json_parse(buf ? buf : "", len, AT_MCP_MAX_DEPTH, &v, &pd)) {
        if (d)
            at_diag_set(d, AT_EPARSE, NULL, pd.line, pd.col, "not JSON: %s (line %d, column %d)",
                        pd.msg, pd.line, pd.col);
        return AT_MCP_PARSE_ERROR;
    }
    int rc = at_mcp_msg_from_json(v, m, err_id, d);
    json_decref(v);
    return rc;
}

void at_mcp_msg_release(struct at_mcp_msg *m)
{
    if (!m)
        return;
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

json_t *at_mcp_result(const json_t *id, json_t *result)
{
    json_t *m = json_object();
    json_object_set_new(m, "jsonrpc", json_string("2.0"));
    json_object_set_new(m, "id", id ? json_deep_copy(id) : json_null());
    json_object_set_new(m, "result", result ? result : json_object());
    return m;
}

json_t *at_mcp_error(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(code));
    json_object_set_new(e, "message", json_string(message ? message : "error"));
    if (data)
        json_object_set_new(e, "data", data);
    json_t *m = json_object();
    json_object_set_new(m, "jsonrpc", json_string("2.0"));
    json_object_set_new(m, "id", id ? json_deep_copy(id) : json_null());
    json_object_set_new(m, "error", e);
    return m;
}

json_t *at_mcp_notification(const char *method, json_t *params)
{
    json_t *m = json_object();
    json_object_set_new(m, "jsonrpc", json_string("2.0"));
    json_object_set_new(m, "method", json_string(method));
    if (params)
        json_object_set_new(m, "params", params);
    return m;
}

json_t *at_mcp_request(long long id, const char *method, json_t *params)
{
    json_t *m = at_mcp_notification(method, params);
    json_object_set_new(m, "id", json_integer(id));
    return m;
}

int at_mcp_version_supported(const char *v)
{
    if (!v)
        return 0;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (strcmp(v, versions[i]) == 0)
            return 1;
    return 0;
}

int at_mcp_version_stateless(const char *v)
{
    return v && strcmp(v, AT_MCP_V2026) >= 0 && strlen(v) == 10;
}

const char *at_mcp_version_negotiate(const char *v)
{
    if (v && at_mcp_version_supported(v) && !at_mcp_version_stateless(v)) {
        for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
            if (strcmp(v, versions[i]) == 0)
                return versions[i];
    }
    return AT_MCP_V2025_11;
}

json_t *at_mcp_versions_json(int stateless_only)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (!stateless_only || at_mcp_version_stateless(versions[i]))
            json_array_append_new(a, json_string(versions[i]));
    return a;
}

int at_mcp_log_level(const char *name)
{
    static const char *const levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};
    if (!name)
        return -1;
    for (int i = 0; i < 8; i++)
        if (strcmp(name, levels[i]) == 0)
            return i;
    return -1;
}

void at_mcp_id_key(const json_t *id, char *out, size_t n)
{
    if (json_is_string(id))
        snprintf(out, n, "s:%s", json_string_value(id));
    else if (json_is_integer(id))
        snprintf(out, n, "n:%lld", (long long)json_integer_value(id));
    else
        snprintf(out, n, "x:");
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int at_mcp_header_decode(const char *v, char *out, size_t n)
{
    size_t len = strlen(v);
    if (n == 0)
        return AT_EINVAL;
    if (len < 11 || strncmp(v, "=?base64?", 9) != 0 || strcmp(v + len - 2, "?=") != 0) {
        if (len >= n)
            return AT_EINVAL;
        memcpy(out, v, len + 1);
        return 0;
    }
    const char *p = v + 9;
    size_t plen = len - 11, k = 0;
    if (plen % 4)
        return AT_EINVAL;
    for (size_t i = 0; i < plen; i += 4) {
        int a = b64_val(p[i]), b = b64_val(p[i + 1]);
        int c = p[i + 2] == '=' ? -2 : b64_val(p[i + 2]);
        int d = p[i + 3] == '=' ? -2 : b64_val(p[i + 3]);
        int last = i + 4 == plen;
        if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2) ||
            ((c == -2 || d == -2) && !last))
            return AT_EINVAL;
        unsigned x = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)(c < 0 ? 0 : c) << 6 |
                     (unsigned)(d < 0 ? 0 : d);
        unsigned char bytes[3] = {(unsigned char)(x >> 16), (unsigned char)(x >> 8),
                                  (unsigned char)x};
        int nb = c < 0 ? 1 : d < 0 ? 2 : 3;
        for (int j = 0; j < nb; j++) {
            if (k + 1 >= n || bytes[j] == 0)
                return AT_EINVAL;
            out[k++] = (char)bytes[j];
        }
    }
    out[k] = '\0';
    return 0;
}
