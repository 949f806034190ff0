/*
 * server.h - the HTTP server: libmicrohttpd (epoll, a small thread pool),
 * a route table (router.h) and the middleware every request goes through.
 *
 * The server knows nothing of the application.  The application mounts
 * tables of routes, binds (so its address is known), starts serving, and
 * says when it is ready; until then only AT_HTTP_PROBE routes are served
 * and every other request gets a 503 problem with Retry-After.
 *
 * Middleware, in this order, once per request (docs/internals/http.md):
 *   1. hostile input: Content-Length with Transfer-Encoding, %00 in the
 *      request target: 400, and the connection is closed;
 *   2. routing: 404, or 405 with Allow;
 *   3. the probe reserve: a connection accepted into it serves only probes;
 *   4. readiness: 503 not-ready (Retry-After) while starting or stopping;
 *   5. authorization: the authorize hook with the route's `needs`;
 *   6. the body limit: 413;
 *   7. the handler, on the connection's thread or (AT_HTTP_BLOCKING) on a
 *      blocking worker with the connection suspended (503 busy when the
 *      workers' queue is full).
 * Problems are RFC 9457 objects built from the error table (base/err.h)
 * in one place (at_http_problem) and decorated by the route's on_problem.
 *
 * A handler either answers at once (at_http_reply_*) or suspends the
 * connection and answers later from any thread (at_http_wait_*, or
 * at_http_suspend + at_http_complete_*), which resumes it: sync runs wait
 * this way without holding a server thread.  Suspended connections never
 * time out; idle ones do (connection_timeout).
 */
#ifndef AT_HTTP_SERVER_H
#define AT_HTTP_SERVER_H

#include "base/buf.h"
#include "base/diag.h"
#include "http/router.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct at_http_server;

/* A connection handed over by a protocol upgrade (server.h "Upgrades"). */
struct at_http_upgrade;
typedef void (*at_http_upgraded_fn)(void *arg, int fd, const char *extra, size_t extra_len,
                                    struct at_http_upgrade *up);

/* The Authorization header, parsed once per request. */
struct at_http_auth {
    char *scheme;      /* "Bearer", as sent; NULL without the header */
    char *credentials; /* what follows the scheme, spaces trimmed; NULL without */
};

struct at_http_req {
    struct at_http_server *srv;
    void *conn; /* struct MHD_Connection; NULL for test requests */
    char method[16];
    char *path; /* decoded path, owned */
    struct at_buf body;
    int body_too_large;
    int started; /* the middleware ran */

    /* filled once the headers are in */
    struct at_http_match match; /* the route (match.status 0) or why not */
    void *arg;                  /* the route's mount argument */
    char *params[AT_HTTP_MAX_PARAMS];
    struct at_http_auth auth;
    int hostile;    /* a 400 reason was found (see server.c) */
    int restricted; /* the connection came from the probe reserve */
    /* set by the authorize hook: who asked (for handlers and streams) */
    unsigned granted; /* the actions the caller may do (the hook's bits) */
    int who_kind;     /* the hook's: kind of caller (0: none checked) */
    char who[64];     /* the caller's name, for records */
    char who_id[48];  /* the caller's credential id; streams are revalidated by it */
    int role;         /* the hook's: the caller's role (its own enum), -1 when none */
    /* the hook's: a caller narrowed to named agents: ",name1,name2," ("": any) */
    char agents[AT_HTTP_AGENTS_MAX];

    /* deferred answer (set by at_http_complete, guarded by mu) */
    pthread_mutex_t mu;
    int suspended;     /* the handler asked to answer later */
    int mhd_suspended; /* the connection is suspended in MHD */
    int ready;
    int blocking; /* handed to a blocking worker */
    int handled;  /* the handler returned (test requests wait for it) */
    int status;
    char *resp_body;
    size_t resp_len;
    const char *resp_type;
    char *extra_headers; /* "Name: value\n..." */
    void *user;          /* handler state while suspended */
    struct at_http_req *susp_next, *susp_prev;
    struct at_http_stream *stream; /* set by at_http_stream_start */
    void (*user_free)(void *user);
    /* a protocol upgrade asked for by at_http_reply_upgrade */
    at_http_upgraded_fn upg_fn;
    void *upg_arg;
    void (*upg_free)(void *arg);

    /* test requests: "Name: value" lines, the query's names and values */
    char **test_headers;
    size_t ntest_headers;
    char **test_query;
    size_t ntest_query;
};

/* The authorize hook: 0 to serve the request, else an AT_E* code (and d's
 * message) for the problem the middleware answers.  Runs on a connection
 * thread after routing and readiness; needs is the route's. */
typedef int (*at_http_authorize_fn)(void *arg, struct at_http_req *r, unsigned needs,
                                    struct at_diag *d);
/* Is the credential id (r->who_id when the stream started) still valid?
 * Asked every AT_HTTP_REVALIDATE_MS for every open stream with one; a
 * stream whose credential is no longer valid is ended.  Any thread. */
typedef int (*at_http_revalidate_fn)(void *arg, const char *who_id);
#define AT_HTTP_REVALIDATE_MS 250

struct at_http_cfg {
    size_t max_body;                /* bytes; 0: 4 MiB */
    int threads;                    /* connection threads; 0: 2 */
    unsigned max_connections;       /* 0: 4096 */
    unsigned max_per_address;       /* 0: no limit */
    unsigned connection_timeout_s;  /* idle connections are closed; 0: 60 */
    unsigned probe_reserve;         /* connections kept for probes; 0: none */
    int blocking_workers;           /* threads for AT_HTTP_BLOCKING routes; 0: 2 */
    int blocking_queue;             /* requests waiting for them; 0: 16 */
    const char *body_limit_name;    /* the setting, for 413 messages (static) */
    at_http_authorize_fn authorize; /* NULL: every request is allowed */
    void *authorize_arg;
    at_http_revalidate_fn revalidate; /* NULL: streams are not revalidated */
    /* May the caller of r see what file holds (a diagnostic's quoted
     * text)?  0: problems name the file and the place only.  NULL: yes. */
    int (*may_quote)(void *arg, struct at_http_req *r, const char *file);
    /* Rewrite an answer's body before it is sent (the security layer
     * redacts secrets): a new malloc'd body and its length, or NULL to
     * send it as it is.  Streams pass each write.  NULL: none. */
    char *(*redact)(void *arg, const char *body, size_t len, size_t *out_len);
    /* TLS on the TCP listener (PEM text, borrowed until at_http_start
     * returns); NULL: plain HTTP */
    const char *tls_cert_pem;
    const char *tls_key_pem;
};

/* Connections accepted into the probe reserve are closed after this many
 * idle seconds, so that idle clients cannot hold the reserve. */
#define AT_HTTP_RESERVE_TIMEOUT_S 2

/* A server that serves nothing yet.  Caller frees with at_http_free. */
int at_http_new(const struct at_http_cfg *cfg, struct at_http_server **out);
/* Add routes whose handlers get arg (at_http_arg).  Before at_http_start
 * only.  Errors as at_http_router_add. */
int at_http_mount(struct at_http_server *s, const struct at_http_route *routes, size_t n, void *arg,
                  struct at_diag *d);
/* Bind and listen on "127.0.0.1:7070", "[::1]:0" (0: a free port);
 * connections wait in the backlog until at_http_start. */
int at_http_bind(struct at_http_server *s, const char *listen, struct at_diag *d);
/* Also listen on a Unix socket at path (created with mode, the old one
 * replaced); served by the same routes and middleware.  Before
 * at_http_start. */
int at_http_bind_unix(struct at_http_server *s, const char *path, int mode, struct at_diag *d);
/* Also listen on the agent socket at path: served like the TCP listener
 * (every request needs a token; no token-less local administrator), bound
 * into agents' sandboxes (security/sandbox.h).  Before at_http_start. */
int at_http_bind_agent_socket(struct at_http_server *s, const char *path, int mode,
                              struct at_diag *d);
/* 1 when the request came through the (token-less, owner-only) Unix socket. */
int at_http_peer_is_unix(struct at_http_req *r);
/* 1 when it came through the agent socket (from a sandboxed agent). */
int at_http_peer_is_sandbox(struct at_http_req *r);
/* The peer's address as text ("127.0.0.1", "::1", "unix", "test"). */
void at_http_peer_name(struct at_http_req *r, char *out, size_t n);
/* "http://127.0.0.1:PORT" ("https://..." with TLS) into out (after at_http_bind). */
void at_http_base_url(const struct at_http_server *s, char *out, size_t n);
/* Serve: probes are answered at once, other routes once ready. */
int at_http_start(struct at_http_server *s, struct at_diag *d);
/* Serve every route (1) or only probes (0).  Thread-safe. */
void at_http_set_ready(struct at_http_server *s, int ready);
/* Stop accepting, answer suspended requests with 503, end streams, wait
 * for blocking handlers, free.  NULL is a no-op. */
void at_http_free(struct at_http_server *s);

/* Request accessors (valid during the handler call). */
const char *at_http_header(struct at_http_req *r, const char *name);
/* Every request header as a new object of lower-case name -> value (a
 * repeated header: its last value). */
json_t *at_http_headers_json(struct at_http_req *r);
const char *at_http_query(struct at_http_req *r, const char *name);
/* 1 when the query names name, with a value or without ("?full"). */
int at_http_query_has(struct at_http_req *r, const char *name);
/* A path parameter of the route's pattern ("name" for {name}), decoded;
 * NULL when the pattern has none of that name. */
const char *at_http_param(struct at_http_req *r, const char *name);
/* The route's mount argument. */
void *at_http_arg(struct at_http_req *r);
/* The bearer token of the Authorization header, or NULL. */
const char *at_http_bearer(struct at_http_req *r);
/* 1 when the peer is on this machine (loopback or a Unix socket). */
int at_http_peer_is_loopback(struct at_http_req *r);
/* Whether the server serves every route (at_http_set_ready).  An acquire:
 * what the application published before set_ready is visible after 1. */
int at_http_is_ready(struct at_http_req *r);
/* Whether at_http_free has begun (not ready because stopping). */
int at_http_is_stopping(struct at_http_req *r);

/* The server's route table (read-only once started). */
const struct at_http_router *at_http_router_of(const struct at_http_server *s);
/* The server of a request. */
struct at_http_server *at_http_server_of(struct at_http_req *r);

/* What the server is doing, for health. Thread-safe. */
struct at_http_stats {
    unsigned connections;     /* open */
    unsigned max_connections; /* the limit */
    unsigned blocking_busy;   /* blocking handlers running */
    unsigned blocking_queued; /* waiting for a blocking worker */
};
void at_http_get_stats(struct at_http_server *s, struct at_http_stats *out);

/* Immediate answers: call once from the handler. */
void at_http_reply_json(struct at_http_req *r, int status, json_t *body); /* steals body */
void at_http_reply_text(struct at_http_req *r, int status, const char *type, const char *text,
                        size_t len);
/* A constant of the binary (the dashboard's files, possibly compressed):
 * sent as it is, without the redact hook, which could only break it (a
 * secret's value that happens to be a word of a script, or bytes of a
 * gzip stream).  Never for data that came from outside. */
void at_http_reply_static(struct at_http_req *r, int status, const char *type, const void *data,
                          size_t len);
/* RFC 9457 problem for code (status from the error table); pointer and
 * extra optional (extra is stolen and merged into the problem). */
void at_http_reply_problem(struct at_http_req *r, int code, const char *detail, const char *pointer,
                           json_t *extra);
/* Problem from a diagnostic (adds file/line/column when present).  A
 * diagnostic about a file quotes at most AT_HTTP_DIAG_QUOTE_MAX bytes of
 * it, escaped, and nothing when the may_quote hook says the caller may not
 * read the file. */
#define AT_HTTP_DIAG_QUOTE_MAX 300
void at_http_reply_diag(struct at_http_req *r, const struct at_diag *d);
/* Add a response header to the answer about to be sent. */
void at_http_add_header(struct at_http_req *r, const char *name, const char *value);

/* The one builder of problem objects: type urn:atlas:error:<slug>, title,
 * status from the error table, detail, pointer (both optional).  Caller
 * owns the result. */
json_t *at_http_problem(int code, const char *detail, const char *pointer);

/* Deferred answers: the handler calls at_http_suspend and returns; any
 * thread later calls at_http_complete_json / _problem exactly once. */
void at_http_suspend(struct at_http_req *r);
void at_http_complete_json(struct at_http_req *r, int status, json_t *body); /* steals */
/* Answer with text (copied; "" is an empty body). */
void at_http_complete_text(struct at_http_req *r, int status, const char *type, const char *text);
/* Answer with a problem object (stolen): the status is its "status". */
void at_http_complete_problem(struct at_http_req *r, json_t *problem);

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

/* ---- upgrades (RFC 9110 §7.8; WebSocket, ws.h) ----
 *
 * A handler answers 101 Switching Protocols with at_http_reply_upgrade:
 * headers ("Name: value\n"..., copied) go with the answer, and once it has
 * been written fn(arg, fd, extra, extra_len, up) runs on a server thread:
 * fd is the connection's socket (read and write it; never close it), extra
 * the bytes the client sent after its request, up the handle that closes
 * the connection (at_http_upgrade_close, exactly once, from any thread).
 * fn must not block.  When the answer is never written (the client went
 * away first, the server stops), arg_free(arg) runs instead; either way
 * arg is handed over.  The server must have been started with upgrades
 * (always, here).  Upgraded connections count against max_connections. */
void at_http_reply_upgrade(struct at_http_req *r, const char *headers, at_http_upgraded_fn fn,
                           void *arg, void (*arg_free)(void *arg));
void at_http_upgrade_close(struct at_http_upgrade *up);

/* One extension object the server owns (the WebSocket hub, ws.c): made
 * by make(s) on first use, freed with free_fn at the start of
 * at_http_free, before the server stops (so upgraded connections are
 * closed while it still runs).  Thread-safe; NULL when make fails. */
void *at_http_extension(struct at_http_server *s, void *(*make)(struct at_http_server *s),
                        void (*free_fn)(void *ext));

/* ---- requests without sockets (unit tests) ----
 *
 * at_http_test_request runs the middleware and the handler on a request
 * built from its arguments (headers: NULL-terminated "Name: value" lines;
 * path may carry "?query"; body may be NULL), on the calling thread or a
 * blocking worker, and waits until the handler returned and an answer is
 * there (or timeout_ms passed).  Read the answer from r->status,
 * r->resp_body, r->resp_type and at_http_test_header; free with
 * at_http_test_free.  The server need not be bound or started. */
struct at_http_req *at_http_test_request(struct at_http_server *s, const char *method,
                                         const char *path, const char *const *headers,
                                         const char *body, size_t len, int timeout_ms);
/* Wait up to timeout_ms for a test request's answer: 1 when it is there. */
int at_http_test_wait(struct at_http_req *r, int timeout_ms);
/* A response header of a test request's answer, or NULL.  Caller frees. */
char *at_http_test_header(const struct at_http_req *r, const char *name);
void at_http_test_free(struct at_http_req *r);
/* Mark a test request's connection as taken from the probe reserve. */
#define AT_HTTP_TEST_RESTRICTED "X-At-Test-Restricted"

#endif
