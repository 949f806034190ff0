/* libFuzzer target: WebSocket frames (src/http/ws.c around libwslay).  The
 * input is what a client sent; the server side runs over it without
 * sockets (at_ws_run_memory) and echoes every message.  Properties: a
 * text message delivered is valid UTF-8 and no message is over the
 * limit; what the server wrote, read back by a wslay client, is a prefix
 * of the echoes it queued, byte for byte and in order (a connection may
 * end before its queue is written, never write what was not queued). */
#include "base/buf.h"
#include "base/utf8.h"
#include "http/ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4096
#define MAX_KEPT 64

struct rec {
    size_t n;
    int binary[MAX_KEPT];
    size_t len[MAX_KEPT];
    char *msg[MAX_KEPT];
};

static void keep(struct rec *r, int binary, const void *p, size_t len)
{
    if (r->n == MAX_KEPT)
        return;
    r->binary[r->n] = binary;
    r->len[r->n] = len;
    r->msg[r->n] = malloc(len + 1);
    if (len)
        memcpy(r->msg[r->n], p, len);
    r->n++;
}

static void on_message(struct at_ws *ws, int binary, const char *p, size_t len, void *arg)
{
    if (len > MAX_MSG)
        abort();
    if (!binary && at_utf8_valid_prefix(p, len) != len)
        abort();
    if (at_ws_send(ws, binary, p, len) == 0)
        keep(arg, binary, p, len);
}

static const struct at_ws_handler handler = {NULL, on_message, NULL};

/* a client reading the server's bytes */
struct reader {
    const uint8_t *p;
    size_t len, off;
    struct rec got;
};

static ssize_t c_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *u)
{
    (void)flags;
    struct reader *r = u;
    size_t n = r->len - r->off;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n > len)
        n = len;
    memcpy(buf, r->p + r->off, n);
    r->off += n;
    return (ssize_t)n;
}

static ssize_t c_send(wslay_event_context_ptr ctx, const uint8_t *d, size_t len, int flags, void *u)
{
    (void)ctx;
    (void)d;
    (void)flags;
    (void)u;
    return (ssize_t)len;
}

static int c_mask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *u)
{
    (void)ctx;
    (void)u;
    memset(buf, 0x5a, len);
    return 0;
}

static void c_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *u)
{
    (void)ctx;
    struct reader *r = u;
    if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME)
        keep(&r->got, a->opcode == WSLAY_BINARY_FRAME, a->msg, a->msg_length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rec sent = {0};
    struct at_buf out;
    at_buf_init(&out, 1u << 20);
    at_ws_run_memory(data, size, &handler, &sent, MAX_MSG, &out);

    struct reader rd = {(const uint8_t *)out.p, out.len, 0, {0}};
    static const struct wslay_event_callbacks cb = {c_recv, c_send, c_mask, NULL,
                                                    NULL,   NULL,   c_msg};
    wslay_event_context_ptr ctx;
    if (wslay_event_context_client_init(&ctx, &cb, &rd) != 0)
        abort();
    while (rd.off < rd.len && wslay_event_want_read(ctx) && wslay_event_recv(ctx) == 0)
        ;
    wslay_event_context_free(ctx);
    if (rd.got.n > sent.n)
        abort();
    for (size_t i = 0; i < rd.got.n; i++)
        if (rd.got.binary[i] != sent.binary[i] || rd.got.len[i] != sent.len[i] ||
            memcmp(rd.got.msg[i], sent.msg[i], sent.len[i]) != 0)
            abort();
    for (size_t i = 0; i < sent.n; i++)
        free(sent.msg[i]);
    for (size_t i = 0; i < rd.got.n; i++)
        free(rd.got.msg[i]);
    at_buf_release(&out);
    return 0;
}
