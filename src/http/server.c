#include "http/server.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/utf8.h"
#include "json/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct at_http_server {
    struct MHD_Daemon *mhd;
    int fd;
    int port;
    char host[64];
    int ipv6;
    size_t max_body;
    struct at_app *app;
    pthread_mutex_t smu;            /* guards the suspended and stream lists */
    struct at_http_req *suspended;  /* connections suspended in MHD */
    struct at_http_stream *streams; /* open streamed answers */
    int stopping;
    pthread_t hb_thread;
    pthread_cond_t hb_cv;
};

struct at_http_stream {
    atomic_int refs;
    pthread_mutex_t mu;
    struct at_http_server *srv;
    struct MHD_Connection *conn;
    struct at_buf buf;
    size_t sent; /* bytes of buf already handed to MHD */
    int mhd_suspended;
    int closed; /* no more data will be written */
    int sse;    /* gets heartbeats */
    int gone;   /* MHD is done with the connection */
    at_http_stream_close_fn on_close;
    void *close_arg;
    struct at_http_stream *next, *prev; /* srv->streams */
};

static void susp_add(struct at_http_server *s, struct at_http_req *r)
{
    pthread_mutex_lock(&s->smu);
    r->susp_prev = NULL;
    r->susp_next = s->suspended;
    if (s->suspended)
        s->suspended->susp_prev = r;
    s->suspended = r;
    pthread_mutex_unlock(&s->smu);
}

static void susp_del(struct at_http_server *s, struct at_http_req *r)
{
    pthread_mutex_lock(&s->smu);
    if (r->susp_prev)
        r->susp_prev->susp_next = r->susp_next;
    else if (s->suspended == r)
        s->suspended = r->susp_next;
    if (r->susp_next)
        r->susp_next->susp_prev = r->susp_prev;
    r->susp_next = r->susp_prev = NULL;
    pthread_mutex_unlock(&s->smu);
}

/* ---- listening socket ---- */

static int bind_listen(const char *addr, struct at_http_server *s, struct at_diag *d)
{
    char host[256];
    const char *port;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "listen address \"%s\" is not [IPv6]:PORT",
                               addr);
        snprintf(host, sizeof(host), "%.*s", (int)(end - addr - 1), addr + 1);
        port = end + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon)
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                               "listen address \"%s\" is not ADDRESS:PORT", addr);
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (gai != 0)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "cannot resolve listen address \"%s\": %s",
                           addr, gai_strerror(gai));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(ai);
        return at_diag_set(d, at_err_from_errno(e), NULL, 0, 0, "cannot listen on %s: %s", addr,
                           strerror(e));
    }
    s->ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "listen: %s", strerror(e));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        s->port = ntohs(in->sin_port);
        inet_ntop(AF_INET, &in->sin_addr, s->host, sizeof(s->host));
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        s->port = ntohs(in6->sin6_port);
        inet_ntop(AF_INET6, &in6->sin6_addr, s->host, sizeof(s->host));
    }
    s->fd = fd;
    return 0;
}

/* ---- request lifecycle ---- */

static void stream_free(void *cls);
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max);
static void *heartbeat_main(void *arg);

static void req_free(struct at_http_req *r)
{
    if (!r)
        return;
    if (r->stream) /* started but never handed to MHD */
        stream_free(r->stream);
    if (r->user_free && r->user)
        r->user_free(r->user);
    at_buf_release(&r->body);
    free(r->path);
    free(r->resp_body);
    free(r->extra_headers);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result send_stream(struct at_http_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16384, stream_read, r->stream, stream_free);
    r->stream = NULL; /* MHD's reference now lives in the response */
    if (r->resp_type)
        MHD_add_response_header(resp, "Content-Type", r->resp_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    if (r->extra_headers) {
        for (char *line = r->extra_headers, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            char *colon = strchr(line, ':');
            if (colon) {
                *colon = '\0';
                MHD_add_response_header(resp, line, colon + 1);
            }
            if (!nl)
                break;
        }
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_prepared(struct at_http_req *r)
{
    if (r->stream)
        return send_stream(r);
    struct MHD_Response *resp =
        r->resp_body
            ? MHD_create_response_from_buffer(r->resp_len, r->resp_body, MHD_RESPMEM_MUST_FREE)
            : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    r->resp_body = NULL; /* MHD owns it now */
    if (r->resp_type)
        MHD_add_response_header(resp, "Content-Type", r->resp_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->extra_headers) {
        char *line = r->extra_headers;
        while (*line) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            char *colon = strchr(line, ':');
            if (colon) {
                *colon = '\0';
                MHD_add_response_header(resp, line, colon + 1);
            }
            if (!nl)
                break;
            line = nl + 1;
        }
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct at_http_server *s = cls;
    struct at_http_req *r = *con_cls;
    if (!r) {
        r = at_calloc(1, sizeof(*r));
        r->srv = s;
        r->app = s->app;
        r->conn = c;
        snprintf(r->method, sizeof(r->method), "%s", method);
        r->path = at_strdup(url);
        at_buf_init(&r->body, s->max_body);
        pthread_mutex_init(&r->mu, NULL);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->body_too_large && at_buf_append(&r->body, upload_data, *upload_size))
            r->body_too_large = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r->started) {
        r->started = 1;
        if (r->body_too_large) {
            char msg[128];
            snprintf(msg, sizeof(msg),
                     "the request body is larger than %zu bytes "
                     "(execution.max_input_bytes)",
                     s->max_body);
            at_http_reply_problem(r, AT_E2BIG, msg, NULL, NULL);
        } else {
            at_http_route(r);
        }
        pthread_mutex_lock(&r->mu);
        int suspended = r->suspended && !r->ready;
        if (suspended) {
            /* under mu: complete() resumes only a connection suspended here */
            MHD_suspend_connection(c);
            r->mhd_suspended = 1;
            susp_add(s, r);
        }
        pthread_mutex_unlock(&r->mu);
        if (suspended)
            return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    int ready = r->ready;
    pthread_mutex_unlock(&r->mu);
    if (!ready) {
        at_http_reply_problem(r, AT_EINTERNAL, "the handler gave no answer", NULL, NULL);
    }
    return send_prepared(r);
}

int at_http_start(const struct at_http_cfg *cfg, struct at_http_server **out, struct at_diag *d)
{
    struct at_http_server *s = at_calloc(1, sizeof(*s));
    s->fd = -1;
    s->max_body = cfg->max_body ? cfg->max_body : (4u << 20);
    s->app = cfg->app;
    pthread_mutex_init(&s->smu, NULL);
    int rc = bind_listen(cfg->listen, s, d);
    if (rc) {
        pthread_mutex_destroy(&s->smu);
        free(s);
        return rc;
    }
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : 2;
    s->mhd = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT, 4096u,
        MHD_OPTION_CONNECTION_TIMEOUT, 0u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!s->mhd) {
        close(s->fd);
        pthread_mutex_destroy(&s->smu);
        free(s);
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the HTTP server on %s",
                           cfg->listen);
    }
    pthread_cond_init(&s->hb_cv, NULL);
    if (pthread_create(&s->hb_thread, NULL, heartbeat_main, s) != 0) {
        MHD_stop_daemon(s->mhd);
        close(s->fd);
        pthread_mutex_destroy(&s->smu);
        pthread_cond_destroy(&s->hb_cv);
        free(s);
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the HTTP server on %s",
                           cfg->listen);
    }
    *out = s;
    return 0;
}

void at_http_base_url(const struct at_http_server *s, char *out, size_t n)
{
    if (s->ipv6)
        snprintf(out, n, "http://[%s]:%d", s->host, s->port);
    else
        snprintf(out, n, "http://%s:%d", s->host, s->port);
}

void at_http_stop(struct at_http_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->smu);
    s->stopping = 1;
    pthread_cond_signal(&s->hb_cv);
    pthread_mutex_unlock(&s->smu);
    pthread_join(s->hb_thread, NULL);
    pthread_cond_destroy(&s->hb_cv);
    /* MHD must not be stopped with suspended connections: answer each one */
    MHD_quiesce_daemon(s->mhd);
    for (;;) {
        pthread_mutex_lock(&s->smu);
        struct at_http_req *r = s->suspended;
        pthread_mutex_unlock(&s->smu);
        if (!r)
            break;
        at_http_complete_problem(r, 503,
                                 at_http_problem(AT_ESTATE,
                                                 "the daemon is shutting down; the "
                                                 "job stays in the store",
                                                 NULL));
    }
    /* end every open stream so its connection can finish */
    pthread_mutex_lock(&s->smu);
    for (struct at_http_stream *st = s->streams; st; st = st->next)
        at_http_stream_close(st);
    pthread_mutex_unlock(&s->smu);
    usleep(50000); /* let the resumed connections send their answer */
    MHD_stop_daemon(s->mhd);
    pthread_mutex_destroy(&s->smu);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

/* ---- streamed answers ---- */

void at_http_stream_unref(struct at_http_stream *st)
{
    if (!st || atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    at_buf_release(&st->buf);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct at_http_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    size_t avail = st->buf.len - st->sent;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(out, st->buf.p + st->sent, n);
        st->sent += n;
        if (st->sent == st->buf.len) {
            at_buf_clear(&st->buf);
            st->sent = 0;
        }
        pthread_mutex_unlock(&st->mu);
        return (ssize_t)n;
    }
    if (st->closed) {
        pthread_mutex_unlock(&st->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* nothing to send: park the connection until the next write */
    MHD_suspend_connection(st->conn);
    st->mhd_suspended = 1;
    pthread_mutex_unlock(&st->mu);
    return 0;
}

static void stream_free(void *cls)
{
    struct at_http_stream *st = cls;
    struct at_http_server *srv = st->srv;
    pthread_mutex_lock(&srv->smu);
    if (st->prev)
        st->prev->next = st->next;
    else if (srv->streams == st)
        srv->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&srv->smu);
    pthread_mutex_lock(&st->mu);
    st->gone = 1;
    at_http_stream_close_fn fn = st->on_close;
    void *arg = st->close_arg;
    st->on_close = NULL;
    pthread_mutex_unlock(&st->mu);
    if (fn)
        fn(arg);
    at_http_stream_unref(st);
}

struct at_http_stream *at_http_stream_start(struct at_http_req *r, int status,
                                            const char *content_type, size_t max_buffer,
                                            at_http_stream_close_fn on_close, void *arg)
{
    struct at_http_stream *st = at_calloc(1, sizeof(*st));
    atomic_init(&st->refs, 2); /* the handler's and MHD's */
    pthread_mutex_init(&st->mu, NULL);
    st->srv = r->srv;
    st->conn = r->conn;
    at_buf_init(&st->buf, max_buffer ? max_buffer : (8u << 20));
    st->on_close = on_close;
    st->close_arg = arg;
    r->stream = st;
    r->status = status;
    r->resp_type = content_type;
    r->ready = 1;
    pthread_mutex_lock(&r->srv->smu);
    st->next = r->srv->streams;
    if (st->next)
        st->next->prev = st;
    r->srv->streams = st;
    pthread_mutex_unlock(&r->srv->smu);
    return st;
}

static void stream_wake(struct at_http_stream *st)
{
    /* call with st->mu held */
    if (st->mhd_suspended) {
        st->mhd_suspended = 0;
        MHD_resume_connection(st->conn);
    }
}

int at_http_stream_write(struct at_http_stream *st, const void *data, size_t len)
{
    pthread_mutex_lock(&st->mu);
    if (st->gone || st->closed) {
        pthread_mutex_unlock(&st->mu);
        return AT_ECONN;
    }
    if (st->sent > 0 && st->sent > st->buf.len / 2) {
        at_buf_consume(&st->buf, st->sent);
        st->sent = 0;
    }
    int rc = at_buf_append(&st->buf, data, len);
    if (rc)
        st->closed = 1; /* too slow a reader: end the stream */
    stream_wake(st);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void at_http_stream_close(struct at_http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    st->closed = 1;
    if (!st->gone)
        stream_wake(st);
    pthread_mutex_unlock(&st->mu);
}

void at_http_stream_set_sse(struct at_http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    st->sse = 1;
    pthread_mutex_unlock(&st->mu);
}

static void *heartbeat_main(void *arg)
{
    struct at_http_server *s = arg;
    pthread_mutex_lock(&s->smu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += AT_HTTP_SSE_HEARTBEAT_S;
        pthread_cond_timedwait(&s->hb_cv, &s->smu, &ts);
        if (s->stopping)
            break;
        for (struct at_http_stream *st = s->streams; st; st = st->next) {
            if (st->sse)
                at_http_stream_write(st, ": keepalive\n\n", 13);
        }
    }
    pthread_mutex_unlock(&s->smu);
    return NULL;
}

/* ---- accessors ---- */

const char *at_http_header(struct at_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *at_http_query(struct at_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- answers ---- */

static void set_answer(struct at_http_req *r, int status, const char *type, char *body, size_t len)
{
    pthread_mutex_lock(&r->mu);
    free(r->resp_body);
    r->status = status;
    r->resp_type = type;
    r->resp_body = body;
    r->resp_len = len;
    r->ready = 1;
    pthread_mutex_unlock(&r->mu);
}

void at_http_reply_json(struct at_http_req *r, int status, json_t *body)
{
    char *s = at_json_dumps(body);
    json_decref(body);
    set_answer(r, status, "application/json", s, strlen(s));
}

void at_http_reply_text(struct at_http_req *r, int status, const char *type, const char *text,
                        size_t len)
{
    set_answer(r, status, type, at_strndup(text, len), len);
}

json_t *at_http_problem(int code, const char *detail, const char *pointer)
{
    return at_json_problem(code, detail, pointer);
}

void at_http_reply_problem(struct at_http_req *r, int code, const char *detail, const char *pointer,
                           json_t *extra)
{
    json_t *p = at_http_problem(code, detail, pointer);
    if (extra) {
        json_object_update_missing(p, extra);
        json_decref(extra);
    }
    char *s = at_json_dumps(p);
    json_decref(p);
    set_answer(r, at_err_http(code), "application/problem+json", s, strlen(s));
}

void at_http_reply_diag(struct at_http_req *r, const struct at_diag *d)
{
    json_t *extra = json_object();
    if (d->file[0]) {
        json_object_set_new(extra, "file", json_string(d->file));
        if (d->line > 0)
            json_object_set_new(extra, "line", json_integer(d->line));
        if (d->col > 0)
            json_object_set_new(extra, "column", json_integer(d->col));
    }
    char msg[2048];
    if (d->file[0]) {
        struct at_diag copy = *d;
        copy.pointer[0] = '\0';
        at_diag_format(&copy, msg, sizeof(msg));
    } else {
        snprintf(msg, sizeof(msg), "%s", d->msg);
    }
    at_http_reply_problem(r, d->code ? d->code : AT_EINTERNAL, msg,
                          d->pointer[0] ? d->pointer : NULL, extra);
}

void at_http_add_header(struct at_http_req *r, const char *name, const char *value)
{
    char *line = at_asprintf("%s%s:%s\n", r->extra_headers ? r->extra_headers : "", name, value);
    free(r->extra_headers);
    r->extra_headers = line;
}

void at_http_suspend(struct at_http_req *r)
{
    pthread_mutex_lock(&r->mu);
    r->suspended = 1;
    pthread_mutex_unlock(&r->mu);
}

static void complete(struct at_http_req *r, int status, const char *type, char *body)
{
    pthread_mutex_lock(&r->mu);
    free(r->resp_body);
    r->status = status;
    r->resp_type = type;
    r->resp_body = body;
    r->resp_len = strlen(body);
    r->ready = 1;
    int resume = r->mhd_suspended;
    r->mhd_suspended = 0;
    if (resume)
        susp_del(r->srv, r);
    pthread_mutex_unlock(&r->mu);
    /* MHD allows resume from any thread; if the handler has not suspended
     * the connection yet, on_request sees `ready` and answers directly. */
    if (resume)
        MHD_resume_connection(r->conn);
}

/* ---- deferred answers' handles ---- */

void at_http_wait_ref(struct at_http_wait *w, int n)
{
    atomic_fetch_add(&w->refs, n);
}

void at_http_wait_unref(struct at_http_wait *w)
{
    if (atomic_fetch_sub(&w->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void wait_detach(void *arg) /* the request is gone (req_free) */
{
    struct at_http_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->req = NULL;
    pthread_mutex_unlock(&w->mu);
    at_http_wait_unref(w);
}

void *at_http_wait_new(struct at_http_req *r, size_t size, int refs)
{
    struct at_http_wait *w = at_calloc(1, size);
    atomic_init(&w->refs, 1 + refs);
    pthread_mutex_init(&w->mu, NULL);
    w->req = r;
    at_http_suspend(r);
    r->user = w;
    r->user_free = wait_detach;
    return w;
}

struct at_http_req *at_http_wait_lock(struct at_http_wait *w)
{
    pthread_mutex_lock(&w->mu);
    return w->req;
}

void at_http_wait_unlock(struct at_http_wait *w, int answered)
{
    if (answered)
        w->req = NULL;
    pthread_mutex_unlock(&w->mu);
}

void at_http_complete_json(struct at_http_req *r, int status, json_t *body)
{
    char *s = at_json_dumps(body);
    json_decref(body);
    complete(r, status, "application/json", s);
}

void at_http_complete_problem(struct at_http_req *r, int status, json_t *problem)
{
    char *s = at_json_dumps(problem);
    json_decref(problem);
    complete(r, status, "application/problem+json", s);
}
