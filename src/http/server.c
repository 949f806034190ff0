/*
 * server.c - the HTTP server (server.h): libmicrohttpd glue, connection
 * limits, the middleware, answers (at once, deferred, streamed) and the
 * blocking workers.  Nothing here knows what the routes do.
 */
#include "http/server.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct blocking {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct at_http_req **q; /* ring of requests not yet taken by a worker */
    size_t head, n, cap;    /* cap: the queue's limit plus one per worker */
    size_t limit;           /* requests that may wait while every worker is busy */
    unsigned busy;          /* handlers running */
    pthread_t *threads;
    int nthreads;
    int stop;
};

struct at_http_server {
    struct MHD_Daemon *mhd;
    struct MHD_Daemon *umhd; /* the Unix socket's */
    struct MHD_Daemon *amhd; /* the agent socket's (tokens needed) */
    int fd;
    int ufd, afd;
    char *upath, *apath;
    int port;
    char host[64];
    int ipv6;
    struct at_http_cfg cfg; /* defaults filled in */
    struct at_http_router *router;
    atomic_int ready;
    atomic_uint conns; /* open connections */
    int started;
    pthread_mutex_t smu;            /* guards the suspended and stream lists */
    struct at_http_req *suspended;  /* connections suspended in MHD */
    struct at_http_stream *streams; /* open streamed answers */
    int stopping;
    int hb_started;
    pthread_t hb_thread;
    pthread_cond_t hb_cv;
    struct blocking blk;
    void *ext; /* at_http_extension's object (the WebSocket hub) */
    void (*ext_free)(void *ext);
};

struct at_http_stream {
    atomic_int refs;
    char who_id[48]; /* the request's credential, revalidated (immutable) */
    pthread_mutex_t mu;
    struct at_http_server *srv;
    struct MHD_Connection *conn;
    struct at_buf buf;
    size_t sent; /* bytes of buf already handed to MHD */
    int mhd_suspended;
    int closed;     /* no more data will be written */
    atomic_int sse; /* gets heartbeats (read by the heartbeat thread under smu, not mu) */
    int gone;       /* MHD is done with the connection */
    at_http_stream_close_fn on_close;
    void *close_arg;
    struct at_http_stream *next, *prev; /* srv->streams */
};

/* Why a request is refused before routing (r->hostile). */
enum { HOSTILE_NONE, HOSTILE_NUL, HOSTILE_CL_TE };

/* Markers MHD carries for us: a request target with %00 (URI callback ->
 * con_cls) and a connection taken from the probe reserve (socket
 * context). */
static char nul_marker, reserve_marker;

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

/* ---- the server object ---- */

static void *blocking_main(void *arg);

int at_http_new(const struct at_http_cfg *cfg, struct at_http_server **out)
{
    struct at_http_server *s = at_calloc(1, sizeof(*s));
    s->fd = -1;
    s->ufd = -1;
    s->afd = -1;
    s->cfg = *cfg;
    if (!s->cfg.max_body)
        s->cfg.max_body = 4u << 20;
    if (s->cfg.threads <= 0)
        s->cfg.threads = 2;
    if (!s->cfg.max_connections)
        s->cfg.max_connections = 4096;
    if (!s->cfg.connection_timeout_s)
        s->cfg.connection_timeout_s = 60;
    if (s->cfg.probe_reserve >= s->cfg.max_connections)
        s->cfg.probe_reserve = s->cfg.max_connections / 2;
    if (s->cfg.blocking_workers <= 0)
        s->cfg.blocking_workers = 2;
    if (s->cfg.blocking_queue <= 0)
        s->cfg.blocking_queue = 16;
    s->router = at_http_router_new();
    atomic_init(&s->ready, 0);
    atomic_init(&s->conns, 0);
    pthread_mutex_init(&s->smu, NULL);
    pthread_cond_init(&s->hb_cv, NULL);
    struct blocking *b = &s->blk;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    /* a request handed over while a worker is idle but not yet awake is not
     * waiting behind another: room for one per worker beside the limit */
    b->limit = (size_t)s->cfg.blocking_queue;
    b->cap = b->limit + (size_t)s->cfg.blocking_workers;
    b->q = at_calloc(b->cap, sizeof(*b->q));
    b->threads = at_calloc((size_t)s->cfg.blocking_workers, sizeof(*b->threads));
    for (int i = 0; i < s->cfg.blocking_workers; i++) {
        if (pthread_create(&b->threads[i], NULL, blocking_main, s) != 0)
            break;
        b->nthreads++;
    }
    if (b->nthreads == 0) {
        at_http_free(s);
        return AT_EIO;
    }
    *out = s;
    return 0;
}

int at_http_mount(struct at_http_server *s, const struct at_http_route *routes, size_t n, void *arg,
                  struct at_diag *d)
{
    if (s->started)
        return at_diag_set(d, AT_ESTATE, NULL, 0, 0, "routes must be mounted before serving");
    return at_http_router_add(s->router, routes, n, arg, d);
}

void at_http_set_ready(struct at_http_server *s, int ready)
{
    atomic_store_explicit(&s->ready, ready ? 1 : 0, memory_order_release);
}

int at_http_is_ready(struct at_http_req *r)
{
    return atomic_load_explicit(&r->srv->ready, memory_order_acquire);
}

int at_http_is_stopping(struct at_http_req *r)
{
    pthread_mutex_lock(&r->srv->smu);
    int stopping = r->srv->stopping;
    pthread_mutex_unlock(&r->srv->smu);
    return stopping;
}

/* ---- listening socket ---- */

int at_http_bind(struct at_http_server *s, const char *addr, struct at_diag *d)
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
    memset(&ss, 0, sizeof(ss));
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        int e = errno;
        close(fd);
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "getsockname: %s", strerror(e));
    }
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

void at_http_base_url(const struct at_http_server *s, char *out, size_t n)
{
    const char *scheme = s->cfg.tls_cert_pem ? "https" : "http";
    if (s->ipv6)
        snprintf(out, n, "%s://[%s]:%d", scheme, s->host, s->port);
    else
        snprintf(out, n, "%s://%s:%d", scheme, s->host, s->port);
}

static int bind_unix(const char *path, int mode, int *out, struct at_diag *d);

int at_http_bind_unix(struct at_http_server *s, const char *path, int mode, struct at_diag *d)
{
    int fd = -1, rc = bind_unix(path, mode, &fd, d);
    if (rc)
        return rc;
    s->ufd = fd;
    free(s->upath);
    s->upath = at_strdup(path);
    return 0;
}

int at_http_bind_agent_socket(struct at_http_server *s, const char *path, int mode,
                              struct at_diag *d)
{
    int fd = -1, rc = bind_unix(path, mode, &fd, d);
    if (rc)
        return rc;
    s->afd = fd;
    free(s->apath);
    s->apath = at_strdup(path);
    return 0;
}

static int bind_unix(const char *path, int mode, int *out, struct at_diag *d)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return at_diag_set(d, AT_E2BIG, path, 0, 0,
                           "the Unix socket's path is longer than %zu bytes (use a shorter data "
                           "directory)",
                           sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "socket: %s", strerror(errno));
    unlink(path); /* a stale socket of a previous run (the data dir is locked) */
    /* created without any permission, then opened to mode: no window in
     * which another user could connect */
    mode_t old = umask(0777);
    int brc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (brc < 0 || chmod(path, (mode_t)mode) < 0 || listen(fd, 1024) < 0) {
        if (brc == 0)
            e = errno;
        close(fd);
        return at_diag_set(d, at_err_from_errno(e), path, 0, 0, "cannot listen on the socket: %s",
                           strerror(e));
    }
    *out = fd;
    return 0;
}

/* ---- connections ---- */

/* The raw request target, before MHD decodes it: %00 would become a NUL
 * that silently cuts the path ("/agents/echo-c%00evil" -> echo-c). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    return uri && strstr(uri, "%00") ? &nul_marker : NULL;
}

/* Count connections; one accepted when fewer than probe_reserve slots are
 * left is a reserve connection: probes only, and a short idle timeout so
 * that idle clients cannot keep the reserve. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct at_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        unsigned n = atomic_fetch_add(&s->conns, 1) + 1;
        if (s->cfg.probe_reserve && n > s->cfg.max_connections - s->cfg.probe_reserve) {
            *socket_context = &reserve_marker;
            MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                                      (unsigned)AT_HTTP_RESERVE_TIMEOUT_S);
        }
    } else {
        atomic_fetch_sub(&s->conns, 1);
    }
}

/* MHD's own messages: mostly clients that went away or were timed out
 * (thousands under a connection flood), so debug level. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    at_debug("http", "%s", msg);
}

/* ---- request lifecycle ---- */

static void stream_free(void *cls);
static int stream_append(struct at_http_stream *st, const void *data, size_t len);
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
    if (r->upg_free && r->upg_arg) /* the upgrade never happened */
        r->upg_free(r->upg_arg);
    at_buf_release(&r->body);
    free(r->path);
    free(r->resp_body);
    free(r->extra_headers);
    for (size_t i = 0; i < AT_HTTP_MAX_PARAMS; i++)
        free(r->params[i]);
    free(r->auth.scheme);
    free(r->auth.credentials);
    for (size_t i = 0; i < r->ntest_headers; i++)
        free(r->test_headers[i]);
    free(r->test_headers);
    for (size_t i = 0; i < r->ntest_query; i++)
        free(r->test_query[i]);
    free(r->test_query);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    if (*con_cls != &nul_marker)
        req_free(*con_cls);
    *con_cls = NULL;
}

/* Does lines ("Name: value\n"...) set the header name? */
static int has_header(const char *lines, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = lines; p && *p;) {
        if (!strncasecmp(p, name, n) && p[n] == ':')
            return 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

static void add_headers(struct MHD_Response *resp, char *lines)
{
    for (char *line = lines, *nl; line && *line; line = nl ? nl + 1 : NULL) {
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

static enum MHD_Result send_stream(struct at_http_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16384, stream_read, r->stream, stream_free);
    r->stream = NULL; /* MHD's reference now lives in the response */
    if (r->resp_type)
        MHD_add_response_header(resp, "Content-Type", r->resp_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    add_headers(resp, r->extra_headers);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* MHD: the 101 answer was written; the socket is ours now.  con_cls is
 * the request, still alive (on_completed comes after). */
static void on_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    (void)cls;
    (void)c;
    struct at_http_req *r = con_cls;
    at_http_upgraded_fn fn = r ? r->upg_fn : NULL;
    void *arg = r ? r->upg_arg : NULL;
    if (r)
        r->upg_arg = NULL; /* handed over */
    if (!fn) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    fn(arg, sock, extra_in, extra_in_size, (struct at_http_upgrade *)urh);
}

static enum MHD_Result send_upgrade(struct at_http_req *r)
{
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, NULL);
    if (!resp)
        return MHD_NO;
    add_headers(resp, r->extra_headers);
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_prepared(struct at_http_req *r)
{
    if (r->stream)
        return send_stream(r);
    if (r->upg_fn && r->status == 101 && r->conn)
        return send_upgrade(r);
    struct MHD_Response *resp =
        r->resp_body
            ? MHD_create_response_from_buffer(r->resp_len, r->resp_body, MHD_RESPMEM_MUST_FREE)
            : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    r->resp_body = NULL; /* MHD owns it now */
    if (r->resp_type)
        MHD_add_response_header(resp, "Content-Type", r->resp_type);
    /* no-store unless the handler says how to cache (the dashboard's
     * files: revalidated by ETag, ui_routes.c) */
    if (!has_header(r->extra_headers, "Cache-Control"))
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    add_headers(resp, r->extra_headers);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* What is known once the headers are in: the route, its parameters, the
 * body limit, the Authorization header, hostile shapes. */
static void req_prepare(struct at_http_server *s, struct at_http_req *r)
{
    at_http_router_match(s->router, r->method, r->path, &r->match);
    r->arg = r->match.arg;
    for (size_t i = 0; i < r->match.nparams; i++)
        r->params[i] = at_strndup(r->match.params[i].value, r->match.params[i].len);
    size_t max = s->cfg.max_body;
    if (r->match.status == 0 && r->match.route->max_body)
        max = r->match.route->max_body;
    at_buf_init(&r->body, max);
    /* RFC 9112 §6.1: a message with both is a request-smuggling shape; a
     * server MAY reject it and then MUST close the connection. */
    if (at_http_header(r, "Transfer-Encoding") && at_http_header(r, "Content-Length"))
        r->hostile = HOSTILE_CL_TE;
    const char *auth = at_http_header(r, "Authorization");
    if (auth) {
        while (*auth == ' ')
            auth++;
        size_t n = strcspn(auth, " ");
        r->auth.scheme = at_strndup(auth, n);
        const char *cred = auth + n;
        while (*cred == ' ')
            cred++;
        size_t len = strlen(cred);
        while (len && cred[len - 1] == ' ')
            len--;
        r->auth.credentials = at_strndup(cred, len);
    }
}

static struct at_http_req *req_new(struct at_http_server *s, const char *method, const char *path)
{
    struct at_http_req *r = at_calloc(1, sizeof(*r));
    r->srv = s;
    r->role = -1;
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = at_strdup(path);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void dispatch(struct at_http_req *r);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct at_http_server *s = cls;
    struct at_http_req *r = *con_cls;
    if (!r || r == (void *)&nul_marker) {
        int nul = r == (void *)&nul_marker;
        r = req_new(s, method, url);
        r->conn = c;
        req_prepare(s, r);
        if (nul)
            r->hostile = HOSTILE_NUL;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->restricted = ci && ci->socket_context == &reserve_marker;
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
        dispatch(r);
        pthread_mutex_lock(&r->mu);
        if (r->blocking) {
            /* already suspended (perhaps even resumed by a quick worker):
             * MHD calls again once the connection is resumed */
            pthread_mutex_unlock(&r->mu);
            return MHD_YES;
        }
        int park = r->suspended && !r->ready;
        if (park) {
            /* under mu: complete() resumes only a connection suspended here */
            MHD_suspend_connection(c);
            r->mhd_suspended = 1;
            susp_add(s, r);
        }
        pthread_mutex_unlock(&r->mu);
        if (park)
            return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    int ready = r->ready;
    pthread_mutex_unlock(&r->mu);
    if (!ready)
        at_http_reply_problem(r, AT_EINTERNAL, "the handler gave no answer", NULL, NULL);
    return send_prepared(r);
}

int at_http_start(struct at_http_server *s, struct at_diag *d)
{
    if (s->fd < 0)
        return at_diag_set(d, AT_ESTATE, NULL, 0, 0, "the HTTP server is not bound");
    unsigned threads = (unsigned)s->cfg.threads;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
    if (s->cfg.tls_cert_pem) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0,
                               "this libmicrohttpd has no TLS support (GnuTLS)");
        flags |= MHD_USE_TLS;
    }
    struct {
        int fd;
        struct MHD_Daemon **mhd;
        const char *path;
    } unix_l[] = {{s->ufd, &s->umhd, s->upath}, {s->afd, &s->amhd, s->apath}};
    for (size_t k = 0; k < sizeof(unix_l) / sizeof(unix_l[0]); k++) {
        if (unix_l[k].fd < 0)
            continue;
        *unix_l[k].mhd = MHD_start_daemon(
            flags & ~(unsigned)MHD_USE_TLS, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
            unix_l[k].fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
            MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
            s->cfg.connection_timeout_s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
        if (!*unix_l[k].mhd)
            return at_diag_set(d, AT_EIO, unix_l[k].path, 0, 0,
                               "cannot start the HTTP server on the Unix socket");
    }
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)s->cfg.tls_key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)s->cfg.tls_cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY,
                              s->cfg.tls_cert_pem ? tls : tls + 2, MHD_OPTION_LISTEN_SOCKET, s->fd,
                              MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED,
                              on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_CONNECTION_LIMIT,
                              s->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                              s->cfg.max_per_address, MHD_OPTION_CONNECTION_TIMEOUT,
                              s->cfg.connection_timeout_s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
    if (!s->mhd)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the HTTP server on %s:%d%s",
                           s->host, s->port,
                           s->cfg.tls_cert_pem ? " (with TLS: is the key pair valid?)" : "");
    if (pthread_create(&s->hb_thread, NULL, heartbeat_main, s) != 0) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start the SSE heartbeat thread");
    }
    s->hb_started = 1;
    s->started = 1;
    return 0;
}

static void blocking_stop(struct at_http_server *s);

void at_http_free(struct at_http_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->smu);
    s->stopping = 1;
    pthread_cond_signal(&s->hb_cv);
    void *ext = s->ext;
    void (*ext_free)(void *) = s->ext_free;
    s->ext = NULL;
    pthread_mutex_unlock(&s->smu);
    at_http_set_ready(s, 0); /* requests from here on: 503 */
    if (ext && ext_free)     /* closes upgraded connections while MHD runs */
        ext_free(ext);
    if (s->hb_started)
        pthread_join(s->hb_thread, NULL);
    if (s->mhd)
        MHD_quiesce_daemon(s->mhd);
    if (s->umhd)
        MHD_quiesce_daemon(s->umhd);
    if (s->amhd)
        MHD_quiesce_daemon(s->amhd);
    /* blocking handlers finish; requests still queued are answered below */
    blocking_stop(s);
    /* MHD must not be stopped with suspended connections: answer each one */
    for (;;) {
        pthread_mutex_lock(&s->smu);
        struct at_http_req *r = s->suspended;
        pthread_mutex_unlock(&s->smu);
        if (!r)
            break;
        at_http_complete_problem(
            r, at_http_problem(AT_ENOTREADY, "the server is shutting down; ask again later", NULL));
    }
    /* end every open stream so its connection can finish */
    pthread_mutex_lock(&s->smu);
    for (struct at_http_stream *st = s->streams; st; st = st->next)
        at_http_stream_close(st);
    pthread_mutex_unlock(&s->smu);
    if (s->mhd || s->umhd || s->amhd)
        usleep(50000); /* let the resumed connections send their answer */
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->umhd)
        MHD_stop_daemon(s->umhd);
    if (s->amhd)
        MHD_stop_daemon(s->amhd);
    if (s->ufd >= 0)
        close(s->ufd);
    if (s->afd >= 0)
        close(s->afd);
    if (s->upath)
        unlink(s->upath);
    if (s->apath)
        unlink(s->apath);
    free(s->upath);
    free(s->apath);
    pthread_cond_destroy(&s->hb_cv);
    pthread_mutex_destroy(&s->smu);
    if (s->fd >= 0)
        close(s->fd);
    at_http_router_free(s->router);
    free(s->blk.q);
    free(s->blk.threads);
    pthread_mutex_destroy(&s->blk.mu);
    pthread_cond_destroy(&s->blk.cv);
    free(s);
}

/* ---- middleware ---- */

static void reply_refusal(struct at_http_req *r, int code, const char *detail, int close_conn,
                          int retry_after)
{
    if (retry_after)
        at_http_add_header(r, "Retry-After", "1");
    if (close_conn)
        at_http_add_header(r, "Connection", "close");
    at_http_reply_problem(r, code, detail, NULL, NULL);
}

static int blocking_submit(struct at_http_req *r);

static void run_handler(struct at_http_req *r)
{
    r->match.route->handler(r);
    pthread_mutex_lock(&r->mu);
    r->handled = 1;
    int silent = !r->ready && !r->suspended;
    pthread_mutex_unlock(&r->mu);
    if (silent)
        at_http_reply_problem(r, AT_EINTERNAL, "the handler gave no answer", NULL, NULL);
}

/* The middleware (server.h), then the handler.  Every refusal is a problem
 * from the error table. */
static void dispatch(struct at_http_req *r)
{
    struct at_http_server *s = r->srv;
    const struct at_http_route *rt = r->match.route;
    char msg[300];
    if (r->hostile == HOSTILE_NUL) {
        reply_refusal(r, AT_EINVAL, "the request target contains an encoded NUL (%00)", 1, 0);
        return;
    }
    if (r->hostile == HOSTILE_CL_TE) {
        reply_refusal(r, AT_EINVAL,
                      "a request must not carry both Content-Length and Transfer-Encoding "
                      "(RFC 9112 section 6.1)",
                      1, 0);
        return;
    }
    if (r->match.status == 404) {
        at_http_reply_problem(r, AT_ENOENT, "no such endpoint", NULL, NULL);
        return;
    }
    if (r->match.status == 405) {
        at_http_add_header(r, "Allow", r->match.allow);
        snprintf(msg, sizeof(msg), "%s is not allowed here (allowed: %s)", r->method,
                 r->match.allow);
        at_http_reply_problem(r, AT_EMETHOD, msg, NULL, NULL);
        return;
    }
    int probe = (rt->flags & AT_HTTP_PROBE) != 0;
    if (r->restricted && !probe) {
        reply_refusal(r, AT_EBUSY,
                      "the server is at its connection limit: this connection may only ask "
                      "for health",
                      1, 1);
        return;
    }
    if (!probe && !at_http_is_ready(r)) {
        reply_refusal(r, AT_ENOTREADY,
                      at_http_is_stopping(r) ? "the daemon is shutting down"
                                             : "the daemon is starting",
                      0, 1);
        return;
    }
    if (s->cfg.authorize) {
        struct at_diag d;
        at_diag_clear(&d);
        int rc = s->cfg.authorize(s->cfg.authorize_arg, r, rt->needs, &d);
        if (rc) {
            at_http_reply_problem(r, rc, d.msg[0] ? d.msg : at_err_msg(rc), NULL, NULL);
            return;
        }
    }
    if (r->body_too_large) {
        snprintf(msg, sizeof(msg), "the request body is larger than %zu bytes%s%s%s", r->body.max,
                 s->cfg.body_limit_name ? " (" : "",
                 s->cfg.body_limit_name ? s->cfg.body_limit_name : "",
                 s->cfg.body_limit_name ? ")" : "");
        at_http_reply_problem(r, AT_E2BIG, msg, NULL, NULL);
        return;
    }
    if (rt->flags & AT_HTTP_BLOCKING) {
        if (blocking_submit(r))
            reply_refusal(r, AT_EBUSY,
                          "too many requests are waiting for a blocking worker "
                          "(http.blocking_queue)",
                          0, 1);
        return;
    }
    run_handler(r);
}

/* ---- blocking workers ---- */

/* Queue r for a worker, its connection suspended first so that the worker
 * may answer and resume at any time.  AT_EBUSY when the queue is full. */
static int blocking_submit(struct at_http_req *r)
{
    struct blocking *b = &r->srv->blk;
    pthread_mutex_lock(&b->mu);
    size_t idle = (size_t)b->nthreads - b->busy;
    if (b->n >= b->limit + idle || b->n == b->cap || b->stop) {
        pthread_mutex_unlock(&b->mu);
        return AT_EBUSY;
    }
    pthread_mutex_lock(&r->mu);
    r->suspended = 1;
    r->blocking = 1;
    if (r->conn) {
        MHD_suspend_connection(r->conn);
        r->mhd_suspended = 1;
        susp_add(r->srv, r);
    }
    pthread_mutex_unlock(&r->mu);
    b->q[(b->head + b->n) % b->cap] = r;
    b->n++;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

static void resume_answered(struct at_http_req *r)
{
    pthread_mutex_lock(&r->mu);
    if (!r->ready) {
        pthread_mutex_unlock(&r->mu);
        at_http_reply_problem(r, AT_EINTERNAL, "the handler gave no answer", NULL, NULL);
        pthread_mutex_lock(&r->mu);
    }
    r->handled = 1;
    int resume = r->mhd_suspended;
    r->mhd_suspended = 0;
    if (resume)
        susp_del(r->srv, r);
    pthread_mutex_unlock(&r->mu);
    if (resume)
        MHD_resume_connection(r->conn);
}

static void *blocking_main(void *arg)
{
    struct at_http_server *s = arg;
    struct blocking *b = &s->blk;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->n == 0)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop)
            break;
        struct at_http_req *r = b->q[b->head];
        b->head = (b->head + 1) % b->cap;
        b->n--;
        b->busy++;
        pthread_mutex_unlock(&b->mu);
        /* the handler answers with at_http_reply_*; nobody reads the
         * answer before the connection is resumed */
        r->match.route->handler(r);
        resume_answered(r);
        pthread_mutex_lock(&b->mu);
        b->busy--;
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void blocking_stop(struct at_http_server *s)
{
    struct blocking *b = &s->blk;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->nthreads; i++)
        pthread_join(b->threads[i], NULL);
    b->nthreads = 0;
    /* still queued: suspended, so at_http_free answers them; test
     * requests (no connection) are answered here */
    pthread_mutex_lock(&b->mu);
    while (b->n) {
        struct at_http_req *r = b->q[b->head];
        b->head = (b->head + 1) % b->cap;
        b->n--;
        if (!r->conn) {
            at_http_reply_problem(r, AT_ENOTREADY, "the server is shutting down", NULL, NULL);
            pthread_mutex_lock(&r->mu);
            r->handled = 1;
            pthread_mutex_unlock(&r->mu);
        }
    }
    pthread_mutex_unlock(&b->mu);
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
    /* nothing to send: park the connection until the next write (a
     * suspended connection does not time out) */
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
    memcpy(st->who_id, r->who_id, sizeof(st->who_id));
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
    char *clean = NULL;
    if (st->srv->cfg.redact) {
        size_t nl = 0;
        clean = st->srv->cfg.redact(st->srv->cfg.authorize_arg, data, len, &nl);
        if (clean) {
            data = clean;
            len = nl;
        }
    }
    int rc = stream_append(st, data, len);
    free(clean);
    return rc;
}

static int stream_append(struct at_http_stream *st, const void *data, size_t len)
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
    atomic_store(&st->sse, 1);
}

static void *heartbeat_main(void *arg)
{
    struct at_http_server *s = arg;
    pthread_mutex_lock(&s->smu);
    int64_t next_beat = at_now_ms() + (int64_t)AT_HTTP_SSE_HEARTBEAT_S * 1000;
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long step_ms = s->cfg.revalidate ? AT_HTTP_REVALIDATE_MS : AT_HTTP_SSE_HEARTBEAT_S * 1000;
        ts.tv_sec += step_ms / 1000;
        ts.tv_nsec += (step_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->hb_cv, &s->smu, &ts);
        if (s->stopping)
            break;
        /* a stream whose token was revoked or expired ends within
         * AT_HTTP_REVALIDATE_MS */
        if (s->cfg.revalidate)
            for (struct at_http_stream *st = s->streams; st; st = st->next)
                if (st->who_id[0] && !s->cfg.revalidate(s->cfg.authorize_arg, st->who_id))
                    at_http_stream_close(st);
        if (at_now_ms() < next_beat)
            continue;
        next_beat = at_now_ms() + (int64_t)AT_HTTP_SSE_HEARTBEAT_S * 1000;
        for (struct at_http_stream *st = s->streams; st; st = st->next) {
            if (atomic_load(&st->sse))
                at_http_stream_write(st, ": keepalive\n\n", 13);
        }
    }
    pthread_mutex_unlock(&s->smu);
    return NULL;
}

/* ---- accessors ---- */

const struct at_http_router *at_http_router_of(const struct at_http_server *s)
{
    return s->router;
}

struct at_http_server *at_http_server_of(struct at_http_req *r)
{
    return r->srv;
}

void at_http_get_stats(struct at_http_server *s, struct at_http_stats *out)
{
    out->connections = atomic_load(&s->conns);
    out->max_connections = s->cfg.max_connections;
    pthread_mutex_lock(&s->blk.mu);
    out->blocking_busy = s->blk.busy;
    size_t idle = (size_t)s->blk.nthreads - s->blk.busy;
    out->blocking_queued = s->blk.n > idle ? (unsigned)(s->blk.n - idle) : 0;
    pthread_mutex_unlock(&s->blk.mu);
}

static const char *test_header(const struct at_http_req *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->ntest_headers; i++) {
        const char *h = r->test_headers[i];
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            while (*h == ' ')
                h++;
            return h;
        }
    }
    return NULL;
}

const char *at_http_header(struct at_http_req *r, const char *name)
{
    if (!r->conn)
        return test_header(r, name);
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result header_to_json(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    if (!key || !value)
        return MHD_YES;
    char lk[256];
    size_t n = strlen(key);
    if (n >= sizeof(lk))
        return MHD_YES;
    for (size_t i = 0; i <= n; i++)
        lk[i] = (char)tolower((unsigned char)key[i]);
    json_t *v = json_string(value);
    if (v) /* a repeated header: the last one */
        json_object_set_new(cls, lk, v);
    return MHD_YES;
}

json_t *at_http_headers_json(struct at_http_req *r)
{
    json_t *o = json_object();
    if (r->conn) {
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, header_to_json, o);
        return o;
    }
    for (size_t i = 0; i < r->ntest_headers; i++) {
        const char *h = r->test_headers[i], *colon = strchr(h, ':');
        if (!colon || colon - h >= 255)
            continue;
        char k[256];
        memcpy(k, h, (size_t)(colon - h));
        k[colon - h] = '\0';
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        header_to_json(o, MHD_HEADER_KIND, k, v);
    }
    return o;
}

const char *at_http_query(struct at_http_req *r, const char *name)
{
    if (r->conn)
        return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    /* test requests: "name\0value\0" pairs (test_query) */
    for (size_t i = 0; i + 1 < r->ntest_query; i += 2)
        if (strcmp(r->test_query[i], name) == 0)
            return r->test_query[i + 1];
    return NULL;
}

int at_http_query_has(struct at_http_req *r, const char *name)
{
    if (r->conn) /* "?full" has no value: MHD_lookup_connection_value says NULL */
        return MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
                                             NULL, NULL) == MHD_YES;
    for (size_t i = 0; i + 1 < r->ntest_query; i += 2)
        if (strcmp(r->test_query[i], name) == 0)
            return 1;
    return 0;
}

const char *at_http_param(struct at_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->match.nparams; i++)
        if (strcmp(r->match.params[i].name, name) == 0)
            return r->params[i];
    return NULL;
}

void *at_http_arg(struct at_http_req *r)
{
    return r->arg;
}

const char *at_http_bearer(struct at_http_req *r)
{
    if (!r->auth.scheme || strcasecmp(r->auth.scheme, "Bearer") != 0 || !r->auth.credentials ||
        !*r->auth.credentials)
        return NULL;
    return r->auth.credentials;
}

int at_http_peer_is_unix(struct at_http_req *r)
{
    if (!r->conn)
        return 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_DAEMON);
    return ci && r->srv->umhd && ci->daemon == r->srv->umhd;
}

int at_http_peer_is_sandbox(struct at_http_req *r)
{
    if (!r->conn)
        return 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_DAEMON);
    return ci && r->srv->amhd && ci->daemon == r->srv->amhd;
}

void at_http_peer_name(struct at_http_req *r, char *out, size_t n)
{
    snprintf(out, n, "%s", r->conn ? "unknown" : "test");
    if (!r->conn)
        return;
    if (at_http_peer_is_unix(r)) {
        snprintf(out, n, "unix");
        return;
    }
    if (at_http_peer_is_sandbox(r)) {
        snprintf(out, n, "sandbox");
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
}

int at_http_peer_is_loopback(struct at_http_req *r)
{
    if (!r->conn)
        return 1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return 1; /* a Unix socket */
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
        return 0;
    }
    return sa->sa_family == AF_UNIX;
}

/* ---- answers ---- */

/* The redact hook over an owned body (replaced when it changes). */
static char *redacted(const struct at_http_server *s, char *body, size_t *len)
{
    if (!s->cfg.redact || !body)
        return body;
    size_t nl = 0;
    char *nb = s->cfg.redact(s->cfg.authorize_arg, body, *len, &nl);
    if (!nb)
        return body;
    free(body);
    *len = nl;
    return nb;
}

static void set_answer_as_is(struct at_http_req *r, int status, const char *type, char *body,
                             size_t len);

static void set_answer(struct at_http_req *r, int status, const char *type, char *body, size_t len)
{
    body = redacted(r->srv, body, &len); /* len changes: before the call, not in it */
    set_answer_as_is(r, status, type, body, len);
}

void at_http_reply_static(struct at_http_req *r, int status, const char *type, const void *data,
                          size_t len)
{
    set_answer_as_is(r, status, type, at_strndup(data, len), len);
}

static void set_answer_as_is(struct at_http_req *r, int status, const char *type, char *body,
                             size_t len)
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

/* The route's decoration, then the text: every problem this server sends
 * goes through here. */
static char *render_problem(struct at_http_req *r, json_t *p, int *status)
{
    const struct at_http_route *rt = r->match.route;
    if (rt && rt->on_problem)
        rt->on_problem(p);
    json_int_t st = json_integer_value(json_object_get(p, "status"));
    *status = st >= 400 && st <= 599 ? (int)st : 500;
    char *s = at_json_dumps(p);
    json_decref(p);
    return s;
}

void at_http_reply_problem(struct at_http_req *r, int code, const char *detail, const char *pointer,
                           json_t *extra)
{
    json_t *p = at_http_problem(code, detail, pointer);
    if (extra) {
        json_object_update_missing(p, extra);
        json_decref(extra);
    }
    int status;
    char *s = render_problem(r, p, &status);
    set_answer(r, status, "application/problem+json", s, strlen(s));
}

/* Control characters and bytes that are not printable ASCII become \xNN
 * (what reaches a terminal cannot steer it), and at most max bytes are
 * kept. */
static void escape_excerpt(const char *in, char *out, size_t n, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 5 < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (i >= max) {
            snprintf(out + o, n - o, "...");
            o += 3;
            break;
        }
        if (ch < 0x20 || ch >= 0x7f) {
            snprintf(out + o, n - o, "\\x%02x", ch);
            o += 4;
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
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
    int quote = 1;
    if (d->file[0]) {
        struct at_diag copy = *d;
        copy.pointer[0] = '\0';
        const struct at_http_cfg *cfg = &r->srv->cfg;
        quote = !cfg->may_quote || cfg->may_quote(cfg->authorize_arg, r, d->file);
        if (!quote)
            snprintf(copy.msg, sizeof(copy.msg),
                     "the file is not valid here (what it holds is not shown: the caller may "
                     "not read it)");
        else
            escape_excerpt(d->msg, copy.msg, sizeof(copy.msg), AT_HTTP_DIAG_QUOTE_MAX);
        at_diag_format(&copy, msg, sizeof(msg));
    } else {
        snprintf(msg, sizeof(msg), "%s", d->msg);
    }
    at_http_reply_problem(r, d->code ? d->code : AT_EINTERNAL, msg,
                          d->pointer[0] && quote ? d->pointer : NULL, extra);
}

void at_http_add_header(struct at_http_req *r, const char *name, const char *value)
{
    pthread_mutex_lock(&r->mu);
    char *line = at_asprintf("%s%s:%s\n", r->extra_headers ? r->extra_headers : "", name, value);
    free(r->extra_headers);
    r->extra_headers = line;
    pthread_mutex_unlock(&r->mu);
}

void at_http_reply_upgrade(struct at_http_req *r, const char *headers, at_http_upgraded_fn fn,
                           void *arg, void (*arg_free)(void *arg))
{
    pthread_mutex_lock(&r->mu);
    if (headers && headers[0]) {
        char *lines = at_asprintf("%s%s", r->extra_headers ? r->extra_headers : "", headers);
        free(r->extra_headers);
        r->extra_headers = lines;
    }
    r->upg_fn = fn;
    r->upg_arg = arg;
    r->upg_free = arg_free;
    free(r->resp_body);
    r->resp_body = NULL;
    r->resp_len = 0;
    r->status = 101;
    r->ready = 1;
    pthread_mutex_unlock(&r->mu);
}

void at_http_upgrade_close(struct at_http_upgrade *up)
{
    if (up)
        MHD_upgrade_action((struct MHD_UpgradeResponseHandle *)up, MHD_UPGRADE_ACTION_CLOSE);
}

void *at_http_extension(struct at_http_server *s, void *(*make)(struct at_http_server *s),
                        void (*free_fn)(void *ext))
{
    pthread_mutex_lock(&s->smu);
    if (!s->ext && !s->stopping && make) {
        s->ext = make(s);
        s->ext_free = free_fn;
    }
    void *ext = s->ext;
    pthread_mutex_unlock(&s->smu);
    return ext;
}

void at_http_suspend(struct at_http_req *r)
{
    pthread_mutex_lock(&r->mu);
    r->suspended = 1;
    pthread_mutex_unlock(&r->mu);
}

static void complete(struct at_http_req *r, int status, const char *type, char *body)
{
    size_t len = strlen(body);
    body = redacted(r->srv, body, &len);
    pthread_mutex_lock(&r->mu);
    free(r->resp_body);
    r->status = status;
    r->resp_type = type;
    r->resp_body = body;
    r->resp_len = len;
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

void at_http_complete_text(struct at_http_req *r, int status, const char *type, const char *text)
{
    complete(r, status, type, at_strdup(text ? text : ""));
}

void at_http_complete_problem(struct at_http_req *r, json_t *problem)
{
    int status;
    char *s = render_problem(r, problem, &status);
    complete(r, status, "application/problem+json", s);
}

/* ---- requests without sockets ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode %XX as MHD does (invalid escapes stay as they are). */
static char *decode_path(const char *p, size_t n)
{
    char *out = at_malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
            (lo = hexval(p[i + 2])) >= 0) {
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[k++] = p[i];
        }
    }
    out[k] = '\0';
    return out;
}

struct at_http_req *at_http_test_request(struct at_http_server *s, const char *method,
                                         const char *path, const char *const *headers,
                                         const char *body, size_t len, int timeout_ms)
{
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    char *decoded = decode_path(path, plen);
    struct at_http_req *r = req_new(s, method, decoded);
    free(decoded);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t plen2 = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen2);
        size_t klen = eq ? (size_t)(eq - p) : plen2;
        r->test_query = at_realloc(r->test_query, (r->ntest_query + 2) * sizeof(char *));
        r->test_query[r->ntest_query++] = decode_path(p, klen);
        r->test_query[r->ntest_query++] =
            eq ? decode_path(eq + 1, plen2 - klen - 1) : at_strdup("");
        p = amp ? amp + 1 : NULL;
    }
    for (size_t n = 0; headers && headers[n]; n++) {
        r->test_headers = at_realloc(r->test_headers, (n + 1) * sizeof(char *));
        r->test_headers[n] = at_strdup(headers[n]);
        r->ntest_headers = n + 1;
    }
    req_prepare(s, r);
    if (strstr(path, "%00"))
        r->hostile = HOSTILE_NUL;
    r->restricted = test_header(r, AT_HTTP_TEST_RESTRICTED) != NULL;
    if (body && len && at_buf_append(&r->body, body, len))
        r->body_too_large = 1;
    r->started = 1;
    dispatch(r);
    at_http_test_wait(r, timeout_ms);
    return r;
}

int at_http_test_wait(struct at_http_req *r, int timeout_ms)
{
    /* a handler that answered at once, or a blocking/deferred one later */
    for (int waited = 0;; waited++) {
        pthread_mutex_lock(&r->mu);
        int done = r->ready && (!r->blocking || r->handled);
        pthread_mutex_unlock(&r->mu);
        if (done)
            return 1;
        if (waited >= timeout_ms)
            return 0;
        usleep(1000);
    }
}

char *at_http_test_header(const struct at_http_req *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = r->extra_headers; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':')
            return at_strndup(line + n + 1, len - n - 1);
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

void at_http_test_free(struct at_http_req *r)
{
    req_free(r);
}
