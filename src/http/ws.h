/*
 * ws.h - WebSocket connections (RFC 6455) over the server's upgrades:
 * the opening handshake is checked here, framing is libwslay's, and every
 * open connection of a server is served by one hub thread (epoll), so a
 * thousand idle connections cost a thousand sockets and no threads.
 *
 *   static const struct at_ws_handler h = {on_open, on_message, on_close};
 *   if (at_ws_accept(r, &h, state, max_message) == 0)  // 101, or a problem
 *       ...                                            // state is h's now
 *
 * Callbacks run on the hub thread, one at a time per connection, and must
 * not block: on_open once, on_message per complete text or binary message
 * (text is valid UTF-8; control frames are answered here: ping gets pong,
 * close gets close), on_close once at the end (also when the upgrade
 * never happened, with code 1006), after which no callback runs.  Sending
 * (at_ws_send, at_ws_close) is allowed from any thread: messages are
 * queued (at most AT_WS_MAX_QUEUED bytes; a peer that reads too slowly is
 * dropped) and written by the hub.  A struct at_ws is reference-counted:
 * the hub's reference ends after on_close; take one (at_ws_ref) to send
 * later from another thread.
 */
#ifndef AT_HTTP_WS_H
#define AT_HTTP_WS_H

#include "base/buf.h"
#include "http/server.h"

#include <stddef.h>
#include <stdint.h>

#define AT_WS_MAX_QUEUED (4u << 20) /* bytes waiting to be written, per connection */
#define AT_WS_MAX_MESSAGE (16u << 20)

struct at_ws;

struct at_ws_handler {
    void (*on_open)(struct at_ws *ws, void *arg);
    void (*on_message)(struct at_ws *ws, int binary, const char *data, size_t len, void *arg);
    /* code: the peer's close code, 1006 when the connection just ended */
    void (*on_close)(struct at_ws *ws, int code, void *arg);
};

/* Check r as a WebSocket opening handshake (RFC 6455 §4.2.1: GET,
 * Upgrade: websocket, Connection: upgrade, a 16-byte Sec-WebSocket-Key,
 * Sec-WebSocket-Version 13; an Origin, when sent, must name the Host) and
 * answer 101 with Sec-WebSocket-Accept (§4.2.2).  Returns 0: the
 * connection will open (h's callbacks get arg; on_close always runs, so
 * arg may be released there).  Otherwise the problem is answered (400,
 * 403, 426 with Sec-WebSocket-Version: 13) and the code returned; arg is
 * not touched.  max_message bounds a message (at most AT_WS_MAX_MESSAGE;
 * a larger one closes the connection with 1009). */
int at_ws_accept(struct at_http_req *r, const struct at_ws_handler *h, void *arg,
                 size_t max_message);

/* 1 when r asks for a WebSocket upgrade (Upgrade: websocket). */
int at_ws_is_upgrade(struct at_http_req *r);

/* Queue a text (binary 0) or binary message.  0, AT_ECONN (closing or
 * closed), AT_E2BIG (the queue is over AT_WS_MAX_QUEUED: the connection is
 * dropped).  Any thread. */
int at_ws_send(struct at_ws *ws, int binary, const char *data, size_t len);
/* Start the closing handshake with code (1000: normal) and reason. */
void at_ws_close(struct at_ws *ws, int code, const char *reason);
void at_ws_ref(struct at_ws *ws);
void at_ws_unref(struct at_ws *ws);

/* Open connections of the server's hub (0 without one).  Thread-safe. */
unsigned at_ws_count(struct at_http_server *s);

/* Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2 step 5.4): base64 of
 * SHA-1(key + the GUID) into out (29 bytes with the NUL). */
void at_ws_accept_key(const char *key, size_t len, char out[29]);

/* For fuzzing and unit tests, without sockets: run the server side of one
 * connection over the bytes in[0..len) (what a client sent), with h's
 * callbacks (on_open first, on_close last) and max_message; what the
 * server wrote (frames) is appended to out.  Sending from inside the
 * callbacks works as on a socket.  Returns the number of messages
 * delivered to on_message. */
size_t at_ws_run_memory(const uint8_t *in, size_t len, const struct at_ws_handler *h, void *arg,
                        size_t max_message, struct at_buf *out);

#endif
