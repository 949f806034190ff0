/*
 * fuzz_mcp_session.c - libFuzzer target for the session layer: the input
 * is a script of newline-separated steps run against one server.  Each
 * step's first byte picks an action (a message with or without the session
 * id and revision header, GET/listen, DELETE, an event-log write or replay,
 * an event id to parse); the rest is the message or the argument.
 * Sessions, logs and channels must stay consistent: no crash, no leak, no
 * channel reference left behind.
 */
#include "base/diag.h"
#include "mcp/mcp.h"

#include <stdint.h>
#include <stdio.h>
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

static void noop(const struct at_mcp_event *ev, void *arg)
{
    (void)ev;
    (void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_mcp *m;
    struct at_mcp_cfg cfg = {.max_sessions = 3, .page_size = 2, .session_idle_ms = 60000};
    if (at_mcp_new(&cfg, &m))
        abort();
    struct chan ch = {{&ops}, 1};
    char sid[AT_MCP_SESSION_ID_MAX] = "";
    const char *p = (const char *)data, *end = p + size;
    int steps = 0;
    while (p < end && steps++ < 64) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len == 0) {
            p = nl ? nl + 1 : end;
            continue;
        }
        uint8_t op = (uint8_t)p[0];
        const char *arg = p + 1;
        size_t alen = len - 1;
        struct at_mcp_ctx ctx = {.loopback = 1,
                                 .session_id = (op & 0x10) && sid[0] ? sid : NULL,
                                 .proto_header = (op & 0x20) ? "2025-11-25" : NULL,
                                 .can_stream = 1};
        struct at_mcp_answer ans;
        memset(&ans, 0, sizeof(ans));
        switch (op % 6) {
        case 0:
        case 1: {
            struct at_mcp_msg msg;
            if (at_mcp_msg_parse(arg, alen, &msg, NULL, NULL) == 0) {
                at_mcp_handle(m, &ctx, &msg, &ch.base, &ans);
                if (ans.session_id[0])
                    snprintf(sid, sizeof(sid), "%s", ans.session_id);
                at_mcp_msg_release(&msg);
            }
            break;
        }
        case 2:
            at_mcp_listen(m, &ctx, &ch.base, &ans);
            if (ans.status == 200 && (op & 0x40))
                at_mcp_unlisten(m, ans.session, &ch.base);
            break;
        case 3:
            at_mcp_delete(m, &ctx, &ans);
            break;
        case 4: {
            struct at_mcp_session *s = sid[0] ? at_mcp_session_find(at_mcp_sessions(m), sid) : NULL;
            if (s) {
                unsigned st = (op >> 3) % 4 + 1;
                char *text = strndup(arg, alen);
                if (op & 0x80)
                    at_mcp_session_replay(s, st, alen % 7, noop, NULL);
                else
                    at_mcp_session_log(s, st, text);
                free(text);
                at_mcp_session_unref(s);
            }
            break;
        }
        default: {
            char *text = strndup(arg, alen);
            unsigned st;
            unsigned long seq;
            if (at_mcp_event_id_parse(text, &st, &seq) == 0) {
                char back[48];
                at_mcp_event_id(st, seq, back, sizeof(back));
                unsigned st2;
                unsigned long seq2;
                if (at_mcp_event_id_parse(back, &st2, &seq2) || st2 != st || seq2 != seq)
                    abort();
            }
            free(text);
            break;
        }
        }
        at_mcp_answer_release(&ans);
        p = nl ? nl + 1 : end;
    }
    at_mcp_free(m);
    if (ch.refs != 1)
        abort();
    return 0;
}
