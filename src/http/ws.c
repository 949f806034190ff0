/*
 * ws.c - WebSocket connections (ws.h): the opening handshake (RFC 6455
 * §4.2), libwslay's event API for framing (§5), and the hub: one thread
 * with an epoll set over every upgraded socket of a server, plus an
 * eventfd that other threads use to say "this connection has something to
 * write".
 *
 * Locking: a connection's mu guards its wslay context and flags; the
 * hub's mu guards its lists.  Order: connection, then hub.  Callbacks run
 * without either lock.  A connection ends only on the hub thread (or in
 * hub_free once that thread is gone); its hub reference is dropped after
 * the epoll batch that may still name it.
 */
#include "http/ws.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */
/* Upgraded connections have no HTTP idle timeout: the hub pings every
 * connection this often, and drops one that sent nothing (a pong
 * included) for two intervals (a peer that vanished without a FIN). */
#define WS_PING_MS 30000

struct msg {
    struct msg *next;
    int binary;
    size_t len;
    char data[];
};

struct hub;

struct at_ws {
    atomic_int refs;
    pthread_mutex_t mu; /* guards everything below but the hub links */
    struct hub *hub;    /* NULL in memory mode */
    int fd;
    struct at_http_upgrade *up;
    wslay_event_context_ptr ctx;
    struct at_ws_handler h;
    void *arg;
    int opened;   /* on_open ran (hub thread only) */
    int closing;  /* no more messages are accepted for sending */
    int drop;     /* end at once (queue over its limit) */
    int ended;    /* out of the hub; no callback after on_close */
    int epout;    /* EPOLLOUT is registered */
    int peer_eof; /* the peer closed its side (or memory input is over) */
    int close_code;
    int64_t last_rx_ms; /* when the peer last sent anything (hub thread) */
    char *pre;          /* what MHD read after the request (extra_in) */
    size_t pre_len, pre_off;
    const uint8_t *in; /* memory mode */
    size_t in_len, in_off;
    struct at_buf *out;
    struct msg *inbox, **inbox_tail; /* received in this turn, delivered unlocked */
    size_t ndelivered;
    /* hub links, under the hub's mu */
    struct at_ws *next, *prev;
    struct at_ws *dnext; /* dirty list */
    int dirty;
    struct at_ws *gnext; /* ended, waiting for the batch to finish (hub thread) */
};

struct hub {
    struct at_http_server *srv;
    int epfd, evfd;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    struct at_ws *all;
    struct at_ws *dirty;
    struct at_ws *grave;
    unsigned count;
    int stop;
    int64_t ping_ms; /* WS_PING_MS, or ATLAS_WS_PING_MS (a test hook) */
};

/* ---- the handshake ---- */

void at_ws_accept_key(const char *key, size_t len, char out[29])
{
    char buf[128];
    if (len > sizeof(buf) - sizeof(WS_GUID))
        len = sizeof(buf) - sizeof(WS_GUID);
    memcpy(buf, key, len);
    memcpy(buf + len, WS_GUID, sizeof(WS_GUID) - 1);
    unsigned char sha[20];
    gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, len + sizeof(WS_GUID) - 1, sha);
    sodium_bin2base64(out, 29, sha, sizeof(sha), sodium_base64_VARIANT_ORIGINAL);
}

/* Does the comma-separated header value hold token (case-insensitive)? */
static int has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(v, token, tl) == 0)
            return 1;
        v += n;
    }
    return 0;
}

int at_ws_is_upgrade(struct at_http_req *r)
{
    return has_token(at_http_header(r, "Upgrade"), "websocket");
}

/* An Origin (RFC 6454) names the Host: "scheme://HOST" with HOST equal to
 * the Host header. */
static int origin_ok(const char *origin, const char *host)
{
    if (!origin || strcmp(origin, "null") == 0)
        return origin == NULL;
    const char *p = strstr(origin, "://");
    if (!p || !host)
        return 0;
    return strcasecmp(p + 3, host) == 0;
}

struct pending {
    struct at_ws_handler h;
    void *arg;
    size_t max_message;
    struct at_http_server *srv;
};

static void pending_free(void *arg)
{
    struct pending *p = arg;
    if (p->h.on_close)
        p->h.on_close(NULL, 1006, p->arg);
    free(p);
}

static void on_upgraded(void *arg, int fd, const char *extra, size_t extra_len,
                        struct at_http_upgrade *up);

int at_ws_accept(struct at_http_req *r, const struct at_ws_handler *h, void *arg,
                 size_t max_message)
{
    const char *key = at_http_header(r, "Sec-WebSocket-Key");
    const char *ver = at_http_header(r, "Sec-WebSocket-Version");
    if (strcmp(r->method, "GET") != 0 || !at_ws_is_upgrade(r) ||
        !has_token(at_http_header(r, "Connection"), "upgrade")) {
        at_http_add_header(r, "Upgrade", "websocket");
        at_http_reply_problem(r, AT_EINVAL,
                              "this endpoint takes WebSocket connections (GET with Upgrade: "
                              "websocket and Connection: Upgrade, RFC 6455 section 4.1)",
                              NULL, NULL);
        return AT_EINVAL;
    }
    if (!ver || strcmp(ver, "13") != 0) {
        /* §4.4: 426 with the versions this server speaks */
        at_http_add_header(r, "Sec-WebSocket-Version", "13");
        at_http_reply_problem(r, AT_EUNSUPPORTED,
                              "Sec-WebSocket-Version must be 13 (RFC 6455 section 4.4)", NULL,
                              NULL);
        return AT_EUNSUPPORTED;
    }
    unsigned char raw[32];
    size_t rawlen = 0;
    if (!key || strlen(key) != 24 ||
        sodium_base642bin(raw, sizeof(raw), key, 24, NULL, &rawlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        rawlen != 16) {
        at_http_reply_problem(r, AT_EINVAL,
                              "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 section "
                              "4.1)",
                              NULL, NULL);
        return AT_EINVAL;
    }
    if (!origin_ok(at_http_header(r, "Origin"), at_http_header(r, "Host"))) {
        at_http_reply_problem(r, AT_EPERM,
                              "cross-origin WebSocket connections are refused: the Origin must "
                              "name this host",
                              NULL, NULL);
        return AT_EPERM;
    }
    if (max_message == 0 || max_message > AT_WS_MAX_MESSAGE)
        max_message = AT_WS_MAX_MESSAGE;
    char accept[29];
    at_ws_accept_key(key, 24, accept);
    char headers[160];
    snprintf(headers, sizeof(headers),
             "Upgrade:websocket\nConnection:Upgrade\nSec-WebSocket-Accept:%s\n", accept);
    struct pending *p = at_calloc(1, sizeof(*p));
    p->h = *h;
    p->arg = arg;
    p->max_message = max_message;
    p->srv = at_http_server_of(r);
    at_http_reply_upgrade(r, headers, on_upgraded, p, pending_free);
    return 0;
}

/* ---- wslay callbacks ---- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct at_ws *ws = user;
    if (ws->pre_off < ws->pre_len) {
        size_t n = ws->pre_len - ws->pre_off;
        if (n > len)
            n = len;
        memcpy(buf, ws->pre + ws->pre_off, n);
        ws->pre_off += n;
        return (ssize_t)n;
    }
    if (!ws->hub) { /* memory mode */
        size_t n = ws->in_len - ws->in_off;
        if (n == 0) {
            ws->peer_eof = 1;
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        /* odd chunk sizes, so frames are cut at every place */
        size_t chunk = 1 + (ws->in_off * 7 + 3) % 61;
        if (n > chunk)
            n = chunk;
        if (n > len)
            n = len;
        memcpy(buf, ws->in + ws->in_off, n);
        ws->in_off += n;
        return (ssize_t)n;
    }
    ssize_t r;
    do
        r = recv(ws->fd, buf, len, 0);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        ws->last_rx_ms = at_now_ms();
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ws->peer_eof = 1;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct at_ws *ws = user;
    if (!ws->hub) {
        if (at_buf_append(ws->out, data, len)) {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        return (ssize_t)len;
    }
    ssize_t r;
    do
        r = send(ws->fd, data, len, MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0));
    while (r < 0 && errno == EINTR);
    if (r >= 0)
        return r;
    wslay_event_set_error(ctx, (errno == EAGAIN || errno == EWOULDBLOCK)
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *user)
{
    struct at_ws *ws = user;
    if (a->opcode == WSLAY_CONNECTION_CLOSE) {
        ws->close_code = a->status_code ? a->status_code : 1005;
        ws->closing = 1;
        return;
    }
    if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
        return; /* ping and pong: wslay answers pings itself */
    if (ws->closing)
        return;
    int binary = a->opcode == WSLAY_BINARY_FRAME;
    /* §8.1: a text message that is not UTF-8 fails the connection (1007) */
    if (!binary && at_utf8_valid_prefix((const char *)a->msg, a->msg_length) != a->msg_length) {
        static const char why[] = "text message is not valid UTF-8";
        wslay_event_queue_close(ctx, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, (const uint8_t *)why,
                                sizeof(why) - 1);
        ws->closing = 1;
        return;
    }
    struct msg *m = at_malloc(sizeof(*m) + a->msg_length + 1);
    m->next = NULL;
    m->binary = binary;
    m->len = a->msg_length;
    if (a->msg_length)
        memcpy(m->data, a->msg, a->msg_length);
    m->data[a->msg_length] = '\0';
    *ws->inbox_tail = m;
    ws->inbox_tail = &m->next;
}

static const struct wslay_event_callbacks callbacks = {
    recv_cb, send_cb, NULL, NULL, NULL, NULL, msg_cb,
};

static struct at_ws *ws_new(const struct at_ws_handler *h, void *arg, size_t max_message)
{
    struct at_ws *ws = at_calloc(1, sizeof(*ws));
    atomic_init(&ws->refs, 1);
    pthread_mutex_init(&ws->mu, NULL);
    ws->fd = -1;
    ws->h = *h;
    ws->arg = arg;
    ws->close_code = 1006;
    ws->inbox_tail = &ws->inbox;
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0)
        abort(); /* only out of memory; at_malloc aborts the same way */
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
    return ws;
}

void at_ws_ref(struct at_ws *ws)
{
    atomic_fetch_add(&ws->refs, 1);
}

void at_ws_unref(struct at_ws *ws)
{
    if (!ws || atomic_fetch_sub(&ws->refs, 1) != 1)
        return;
    wslay_event_context_free(ws->ctx);
    for (struct msg *m = ws->inbox, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    free(ws->pre);
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}

/* ---- the hub ---- */

static void hub_kick(struct at_ws *ws) /* under ws->mu */
{
    struct hub *hb = ws->hub;
    if (!hb || ws->ended)
        return;
    pthread_mutex_lock(&hb->mu);
    if (!ws->dirty) {
        ws->dirty = 1;
        at_ws_ref(ws);
        ws->dnext = hb->dirty;
        hb->dirty = ws;
    }
    pthread_mutex_unlock(&hb->mu);
    uint64_t one = 1;
    ssize_t w = write(hb->evfd, &one, sizeof(one));
    (void)w; /* a full counter already wakes the hub */
}

/* The connection's end: out of the hub, socket closed, on_close.  Hub
 * thread (or hub_free). */
static void ws_end(struct at_ws *ws)
{
    pthread_mutex_lock(&ws->mu);
    if (ws->ended) {
        pthread_mutex_unlock(&ws->mu);
        return;
    }
    ws->ended = 1;
    ws->closing = 1;
    int code = ws->close_code;
    pthread_mutex_unlock(&ws->mu);
    struct hub *hb = ws->hub;
    if (hb) {
        epoll_ctl(hb->epfd, EPOLL_CTL_DEL, ws->fd, NULL);
        pthread_mutex_lock(&hb->mu);
        if (ws->prev)
            ws->prev->next = ws->next;
        else if (hb->all == ws)
            hb->all = ws->next;
        if (ws->next)
            ws->next->prev = ws->prev;
        ws->next = ws->prev = NULL;
        hb->count--;
        pthread_mutex_unlock(&hb->mu);
        at_http_upgrade_close(ws->up);
        ws->up = NULL;
    }
    if (ws->h.on_close)
        ws->h.on_close(ws, code, ws->arg);
    if (hb) {
        ws->gnext = hb->grave; /* the hub's reference, dropped after the batch */
        hb->grave = ws;
    } else {
        at_ws_unref(ws);
    }
}

/* One turn of a connection: read what is there (readable), write what is
 * queued, deliver the messages, end it or set its epoll interest. */
static void ws_io(struct at_ws *ws, int readable)
{
    if (!ws->opened) {
        ws->opened = 1;
        readable = 1; /* what MHD read before the upgrade */
        if (ws->h.on_open)
            ws->h.on_open(ws, ws->arg);
    }
    pthread_mutex_lock(&ws->mu);
    if (ws->ended) {
        pthread_mutex_unlock(&ws->mu);
        return;
    }
    int rfail = !ws->drop && readable && wslay_event_recv(ws->ctx) != 0;
    int sfail = !ws->drop && wslay_event_send(ws->ctx) != 0;
    int want_r = wslay_event_want_read(ws->ctx), want_w = wslay_event_want_write(ws->ctx);
    struct msg *in = ws->inbox;
    ws->inbox = NULL;
    ws->inbox_tail = &ws->inbox;
    /* a read error other than the peer's EOF, a write error, or nothing
     * left to do; after the peer's EOF only what is queued may still go
     * out (and what the messages of this turn answer: one more turn) */
    int end = ws->drop || sfail || (rfail && !ws->peer_eof) || (!want_r && !want_w) ||
              (ws->peer_eof && !want_w && !in);
    int epout = want_w && !end;
    int change = epout != ws->epout;
    ws->epout = epout;
    pthread_mutex_unlock(&ws->mu);
    for (struct msg *m = in, *n; m; m = n) {
        n = m->next;
        if (ws->h.on_message) {
            ws->ndelivered++;
            ws->h.on_message(ws, m->binary, m->data, m->len, ws->arg);
        }
        free(m);
    }
    if (end) {
        ws_end(ws);
        return;
    }
    if (change && ws->hub) {
        struct epoll_event ev = {.events = EPOLLIN | (epout ? EPOLLOUT : 0), .data.ptr = ws};
        epoll_ctl(ws->hub->epfd, EPOLL_CTL_MOD, ws->fd, &ev);
    }
}

static void hub_bury(struct hub *hb)
{
    while (hb->grave) {
        struct at_ws *ws = hb->grave;
        hb->grave = ws->gnext;
        at_ws_unref(ws);
    }
}

/* Ping every connection; drop those silent for two intervals (hub thread). */
static void hub_sweep(struct hub *hb, int64_t now)
{
    pthread_mutex_lock(&hb->mu);
    size_t n = hb->count, k = 0;
    struct at_ws **all = at_calloc(n ? n : 1, sizeof(*all));
    for (struct at_ws *w = hb->all; w && k < n; w = w->next) {
        at_ws_ref(w);
        all[k++] = w;
    }
    pthread_mutex_unlock(&hb->mu);
    for (size_t i = 0; i < k; i++) {
        struct at_ws *w = all[i];
        pthread_mutex_lock(&w->mu);
        if (!w->ended && w->last_rx_ms && now - w->last_rx_ms > 2 * hb->ping_ms + hb->ping_ms / 6) {
            w->drop = 1;
            w->close_code = 1006;
        } else if (!w->ended && !w->closing) {
            struct wslay_event_msg m = {WSLAY_PING, NULL, 0};
            wslay_event_queue_msg(w->ctx, &m);
        }
        pthread_mutex_unlock(&w->mu);
        ws_io(w, 0);
        at_ws_unref(w);
    }
    free(all);
}

static void *hub_main(void *arg)
{
    struct hub *hb = arg;
    struct epoll_event evs[256];
    int64_t next_sweep = at_now_ms() + hb->ping_ms;
    for (;;) {
        int64_t now = at_now_ms();
        if (now >= next_sweep) {
            hub_sweep(hb, now);
            hub_bury(hb);
            next_sweep = now + hb->ping_ms;
        }
        int n = epoll_wait(hb->epfd, evs, 256, (int)(next_sweep - now > 0 ? next_sweep - now : 0));
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == hb) {
                uint64_t v;
                ssize_t r = read(hb->evfd, &v, sizeof(v));
                (void)r;
                pthread_mutex_lock(&hb->mu);
                int stop = hb->stop;
                struct at_ws *list = hb->dirty;
                hb->dirty = NULL;
                for (struct at_ws *w = list; w; w = w->dnext)
                    w->dirty = 0;
                pthread_mutex_unlock(&hb->mu);
                for (struct at_ws *w = list, *next; w; w = next) {
                    next = w->dnext;
                    if (!stop)
                        ws_io(w, 0);
                    at_ws_unref(w); /* the dirty list's reference */
                }
                if (stop) {
                    hub_bury(hb);
                    return NULL;
                }
                continue;
            }
            struct at_ws *ws = evs[i].data.ptr;
            ws_io(ws, (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) != 0);
        }
        hub_bury(hb);
    }
    return NULL;
}

static void hub_free(void *arg)
{
    struct hub *hb = arg;
    if (!hb)
        return;
    pthread_mutex_lock(&hb->mu);
    hb->stop = 1;
    pthread_mutex_unlock(&hb->mu);
    uint64_t one = 1;
    ssize_t w = write(hb->evfd, &one, sizeof(one));
    (void)w;
    if (hb->started)
        pthread_join(hb->thread, NULL);
    /* the server is stopping: say so (1001), best effort, and close */
    for (;;) {
        pthread_mutex_lock(&hb->mu);
        struct at_ws *ws = hb->all;
        if (ws)
            at_ws_ref(ws);
        struct at_ws *dl = hb->dirty;
        hb->dirty = NULL;
        pthread_mutex_unlock(&hb->mu);
        for (struct at_ws *d = dl, *next; d; d = next) {
            next = d->dnext;
            d->dirty = 0;
            at_ws_unref(d);
        }
        if (!ws)
            break;
        pthread_mutex_lock(&ws->mu);
        if (!ws->closing) {
            static const char why[] = "the server is shutting down";
            wslay_event_queue_close(ws->ctx, WSLAY_CODE_GOING_AWAY, (const uint8_t *)why,
                                    sizeof(why) - 1);
            ws->closing = 1;
        }
        wslay_event_send(ws->ctx);
        ws->close_code = 1001;
        pthread_mutex_unlock(&ws->mu);
        ws_end(ws);
        at_ws_unref(ws);
    }
    hub_bury(hb);
    close(hb->epfd);
    close(hb->evfd);
    pthread_mutex_destroy(&hb->mu);
    free(hb);
}

static void *hub_make(struct at_http_server *s)
{
    struct hub *hb = at_calloc(1, sizeof(*hb));
    hb->srv = s;
    hb->ping_ms = WS_PING_MS;
    const char *pm = getenv("ATLAS_WS_PING_MS");
    if (pm && strtol(pm, NULL, 10) >= 50 && strtol(pm, NULL, 10) <= 3600000)
        hb->ping_ms = strtol(pm, NULL, 10);
    pthread_mutex_init(&hb->mu, NULL);
    hb->epfd = epoll_create1(EPOLL_CLOEXEC);
    hb->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = hb};
    if (hb->epfd < 0 || hb->evfd < 0 || epoll_ctl(hb->epfd, EPOLL_CTL_ADD, hb->evfd, &ev) != 0 ||
        pthread_create(&hb->thread, NULL, hub_main, hb) != 0) {
        if (hb->epfd >= 0)
            close(hb->epfd);
        if (hb->evfd >= 0)
            close(hb->evfd);
        pthread_mutex_destroy(&hb->mu);
        free(hb);
        return NULL;
    }
    hb->started = 1;
    return hb;
}

unsigned at_ws_count(struct at_http_server *s)
{
    struct hub *hb = at_http_extension(s, NULL, NULL);
    if (!hb)
        return 0;
    pthread_mutex_lock(&hb->mu);
    unsigned n = hb->count;
    pthread_mutex_unlock(&hb->mu);
    return n;
}

/* The server wrote the 101: a connection for the hub (a server thread). */
static void on_upgraded(void *arg, int fd, const char *extra, size_t extra_len,
                        struct at_http_upgrade *up)
{
    struct pending *p = arg;
    struct hub *hb = at_http_extension(p->srv, hub_make, hub_free);
    if (!hb) {
        at_http_upgrade_close(up);
        pending_free(p);
        return;
    }
    struct at_ws *ws = ws_new(&p->h, p->arg, p->max_message);
    free(p);
    ws->fd = fd;
    ws->up = up;
    ws->hub = hb;
    ws->last_rx_ms = at_now_ms();
    if (extra_len) {
        ws->pre = at_malloc(extra_len);
        memcpy(ws->pre, extra, extra_len);
        ws->pre_len = extra_len;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    pthread_mutex_lock(&hb->mu);
    int stop = hb->stop;
    if (!stop) {
        ws->next = hb->all;
        if (hb->all)
            hb->all->prev = ws;
        hb->all = ws;
        hb->count++;
    }
    pthread_mutex_unlock(&hb->mu);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ws};
    if (stop || epoll_ctl(hb->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (!stop) {
            pthread_mutex_lock(&hb->mu);
            if (ws->prev)
                ws->prev->next = ws->next;
            else
                hb->all = ws->next;
            if (ws->next)
                ws->next->prev = ws->prev;
            hb->count--;
            pthread_mutex_unlock(&hb->mu);
        }
        at_http_upgrade_close(up);
        if (ws->h.on_close)
            ws->h.on_close(NULL, 1006, ws->arg);
        ws->ended = 1;
        at_ws_unref(ws);
        return;
    }
    /* on_open and the early bytes on the hub thread */
    pthread_mutex_lock(&ws->mu);
    hub_kick(ws);
    pthread_mutex_unlock(&ws->mu);
}

/* ---- sending ---- */

int at_ws_send(struct at_ws *ws, int binary, const char *data, size_t len)
{
    pthread_mutex_lock(&ws->mu);
    if (ws->closing || ws->ended) {
        pthread_mutex_unlock(&ws->mu);
        return AT_ECONN;
    }
    if (wslay_event_get_queued_msg_length(ws->ctx) + len > AT_WS_MAX_QUEUED) {
        ws->drop = 1;
        ws->closing = 1;
        hub_kick(ws);
        pthread_mutex_unlock(&ws->mu);
        return AT_E2BIG;
    }
    struct wslay_event_msg m = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
                                (const uint8_t *)data, len};
    int rc = wslay_event_queue_msg(ws->ctx, &m) == 0 ? 0 : AT_ECONN;
    hub_kick(ws);
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

void at_ws_close(struct at_ws *ws, int code, const char *reason)
{
    pthread_mutex_lock(&ws->mu);
    if (!ws->closing && !ws->ended) {
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > 123) /* §5.5: a control frame's payload is at most 125 bytes */
            rl = 123;
        wslay_event_queue_close(ws->ctx, (uint16_t)code, (const uint8_t *)reason, rl);
        ws->closing = 1;
        hub_kick(ws);
    }
    pthread_mutex_unlock(&ws->mu);
}

/* ---- without sockets ---- */

size_t at_ws_run_memory(const uint8_t *in, size_t len, const struct at_ws_handler *h, void *arg,
                        size_t max_message, struct at_buf *out)
{
    if (max_message == 0 || max_message > AT_WS_MAX_MESSAGE)
        max_message = AT_WS_MAX_MESSAGE;
    struct at_ws *ws = ws_new(h, arg, max_message);
    ws->in = in;
    ws->in_len = len;
    ws->out = out;
    at_ws_ref(ws); /* ours, to read ndelivered after the end */
    /* our reference (above) keeps ws alive through ws_end: the analyzer
     * does not follow the count */
    for (int turns = 0; !ws->ended; turns++) { // NOLINT(clang-analyzer-unix.Malloc)
        ws_io(ws, 1);
        if (turns > 1000000) /* cannot happen: each turn reads input or ends */
            ws_end(ws);
    }
    size_t n = ws->ndelivered;
    at_ws_unref(ws);
    return n;
}
