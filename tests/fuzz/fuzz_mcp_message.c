/*
 * fuzz_mcp_message.c - libFuzzer target for the MCP message parser and the
 * dispatcher: any bytes must either be refused with a JSON-RPC error code
 * (-32700 / -32600) or parse into a message that the server answers
 * without crashing, leaking or leaving a channel reference behind.  The
 * first byte picks the transport context (loopback, revision header,
 * 2026-07-28 standard headers).
 */
#include "base/diag.h"
#include "mcp/mcp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct chan {
    struct at_mcp_chan base;
    int refs;
};
static void c_ref(struct at_mcp_chan *c)
{
    ((struct chan *)c)->refs++;
}
static void c_unref(struct at_mcp_chan *c)
{
    ((struct chan *)c)->refs--;
}
static int c_send(struct at_mcp_chan *c, json_t *msg, int final)
{
    (void)c;
    (void) final;
    json_decref(msg);
    return 0;
}
static const struct at_mcp_chan_ops ops = {c_ref, c_unref, c_send};

static const char *const protos[] = {NULL, "2025-11-25", "2026-07-28", "2025-03-26", "bogus"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    struct at_mcp_msg msg;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *eid = NULL;
    int rc = at_mcp_msg_parse((const char *)data, size, &msg, &eid, &d);
    if (rc) {
        if (rc != AT_MCP_PARSE_ERROR && rc != AT_MCP_INVALID_REQUEST)
            abort();
        if (msg.root)
            abort();
        json_decref(eid);
        return 0;
    }
    json_decref(eid);
    if (!msg.root || (msg.kind != AT_MCP_RESPONSE && !msg.method))
        abort();
    struct at_mcp *m;
    struct at_mcp_cfg cfg = {.max_sessions = 4, .page_size = 3};
    if (at_mcp_new(&cfg, &m))
        abort();
    struct chan ch = {{&ops}, 1};
    struct at_mcp_ctx ctx = {
        .loopback = sel & 1,
        .proto_header = protos[(sel >> 1) % 5],
        .method_header = (sel & 0x10) ? msg.method : ((sel & 0x20) ? "x/y" : NULL),
        .name_header = (sel & 0x40) ? "n" : NULL,
        .can_stream = (sel & 0x80) != 0,
    };
    struct at_mcp_answer ans;
    at_mcp_handle(m, &ctx, &msg, &ch.base, &ans);
    if (ans.status < 200 || ans.status > 599)
        abort();
    if (ans.body && !json_object_get(ans.body, "jsonrpc"))
        abort();
    at_mcp_answer_release(&ans);
    at_mcp_msg_release(&msg);
    at_mcp_free(m);
    if (ch.refs != 1)
        abort();
    return 0;
}
