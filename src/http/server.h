/*
 * server.h - the HTTP server (libmicrohttpd, epoll, a small thread pool)
 * and the request/response helpers every handler uses.
 *
 * Requests are routed by method and path to handlers (routes.c).  A
 * handler either answers at once (at_http_reply_*) or suspends the
 * connection (at_http_suspend) and answers later from any thread with
 * at_http_complete, which resumes it: sync runs wait this way without
 * holding a server thread.  Bodies are bounded (execution.max_input_bytes,
 * 413 beyond).  Errors are RFC 9457 problem+json built from base/err.h.
 */
#ifndef AT_HTTP_SERVER_H
#define AT_HTTP_SERVER_H

#include "base/buf.h"
#include "base/diag.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct at_http_server;
struct at_app; /* the daemon's components, see http/app.h */

struct at_http_req {
    struct at_http_server *srv;
    struct at_app *app;
    void *conn; /* struct MHD_Connection */
    char method[16];
    char *path; /* decoded path, owned */
    struct at_buf body;
    int body_too_large;
    int started; /* handler ran */

    /* deferred answer (set by at_http_complete, guarded by mu) */
    pthread_mutex_t mu;
    int suspended;     /* the handler asked to answer later */
    int mhd_suspended; /* the connection is suspended in MHD */
    int ready;
    int status;
    char *resp_body;
    size_t resp_len;
    const char *resp_type;
    char *extra_headers; /* "Name: value\n..." */
    void *user;          /* handler state while suspended */
    struct at_http_req *susp_next, *susp_prev;
    struct at_http_stream *stream; /* set by at_http_stream_start */
    void (*user_free)(void *user);
};

struct at_http_cfg {
    const char *listen; /* "127.0.0.1:7070", "[::1]:0" */
    size_t max_body;
    int threads; /* 0: 2 */
    struct at_app *app;
};

/* Bind and start serving.  d explains failures (address in use...). */
int at_http_start(const struct at_http_cfg *cfg, struct at_http_server **out, struct at_diag *d);
/* "http://127.0.0.1:PORT" into out. */
void at_http_base_url(const struct at_http_server *s, char *out, size_t n);
/* Stop accepting, finish in-flight requests briefly, free. */
void at_http_stop(struct at_http_server *s);

/* Request accessors (valid during the handler call). */
const char *at_http_header(struct at_http_req *r, const char *name);
const char *at_http_query(struct at_http_req *r, const char *name);

/* Immediate answers: call once from the handler. */
void at_http_reply_json(struct at_http_req *r, int status, json_t *body); /* steals body */
void at_http_reply_text(struct at_http_req *r, int status, const char *type, const char *text,
                        size_t len);
/* RFC 9457 problem with type urn:atlas:error:<slug>; pointer/extra optional
 * (extra is stolen and merged into the problem object). */
void at_http_reply_problem(struct at_http_req *r, int code, const char *detail, const char *pointer,
                           json_t *extra);
/* Problem from a diagnostic (adds file/line/column when present). */
void at_http_reply_diag(struct at_http_req *r, const struct at_diag *d);
/* Add a response header to the answer about to be sent. */
void at_http_add_header(struct at_http_req *r, const char *name, const char *value);

/* Deferred answers: the handler calls at_http_suspend and returns; any
 * thread later calls at_http_complete_json / _problem exactly once. */
void at_http_suspend(struct at_http_req *r);
void at_http_complete_json(struct at_http_req *r, int status, json_t *body);       /* steals */
void at_http_complete_problem(struct at_http_req *r, int status, json_t *problem); /* steals */

/* A deferred answer's handle, for handlers whose answer comes from
 * callbacks (a job's end, a model's answer, an eval): it keeps the request
 * reachable until the client goes away, and whichever of the request and
 * the callbacks ends last frees it.  Embed it as the first member of the
 * handler's state:
 *
 *     struct run_wait { struct at_http_wait hw; int async; };
 *     struct run_wait *w = at_http_wait_new(r, sizeof(*w), 1);
 *     ... in a callback (any thread):
 *     struct at_http_req *req = at_http_wait_lock(&w->hw);
 *     if (req) at_http_complete_json(req, 200, body);
 *     at_http_wait_unlock(&w->hw, req != NULL);  // 1: answered, forget it
 *     at_http_wait_unref(&w->hw);
 */
struct at_http_wait {
    atomic_int refs;
    pthread_mutex_t mu;
    struct at_http_req *req; /* NULL once answered or once the client is gone */
};
/* Suspend r and allocate size bytes (zeroed; struct at_http_wait first)
 * holding one reference for the request and `refs` for the caller. */
void *at_http_wait_new(struct at_http_req *r, size_t size, int refs);
void at_http_wait_ref(struct at_http_wait *w, int n);
void at_http_wait_unref(struct at_http_wait *w);
/* Lock and return the request, or NULL when it is gone; pair with
 * at_http_wait_unlock (answered: the request was completed meanwhile). */
struct at_http_req *at_http_wait_lock(struct at_http_wait *w);
void at_http_wait_unlock(struct at_http_wait *w, int answered);

/* Build a problem object (for handlers that complete later). */
json_t *at_http_problem(int code, const char *detail, const char *pointer);

/* ---- streamed answers (SSE, chunked JSON lines) ----
 *
 * A handler calls at_http_stream_start and returns; any thread then writes
 * with at_http_stream_write and ends with at_http_stream_close.  Writes are
 * buffered up to max_buffer bytes (a client that reads too slowly gets
 * AT_E2BIG and is dropped).  When the client goes away the on_close
 * callback runs (once, on a server thread) and later writes return
 * AT_ECONN; send SSE comments as heartbeats so a vanished client is noticed
 * (a suspended MHD connection does not notice a disconnect otherwise).
 * The stream is reference-counted: the handler's reference is released
 * with at_http_stream_unref. */
struct at_http_stream;
typedef void (*at_http_stream_close_fn)(void *arg);

struct at_http_stream *at_http_stream_start(struct at_http_req *r, int status,
                                            const char *content_type, size_t max_buffer,
                                            at_http_stream_close_fn on_close, void *arg);
/* Mark a stream as SSE: the server then writes a comment line every
 * AT_HTTP_SSE_HEARTBEAT_S seconds, which also detects vanished clients. */
#define AT_HTTP_SSE_HEARTBEAT_S 15
void at_http_stream_set_sse(struct at_http_stream *s);
int at_http_stream_write(struct at_http_stream *s, const void *data, size_t len);
void at_http_stream_close(struct at_http_stream *s);
void at_http_stream_unref(struct at_http_stream *s);

/* Route a request: implemented in routes.c. */
void at_http_route(struct at_http_req *r);

#endif
