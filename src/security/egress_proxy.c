#include "security/egress_proxy.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/str.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 10000
#define HEAD_TIMEOUT_MS 10000
#define IDLE_TIMEOUT_MS 300000

struct at_egress_proxy {
    int lfd;
    int stop_pipe[2]; /* readable once stopping: every poll sees it */
    char *path;
    char *platform_socket;
    int platform_port;
    at_egress_authorize_fn authorize;
    void *arg;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active; /* connection threads alive */
};

/* ---- the request head ---- */

void at_proxy_req_release(struct at_proxy_req *r)
{
    free(r->head);
    r->head = NULL;
}

/* Proxy-Authorization: "Basic base64(user:TOKEN)" or "Bearer TOKEN". */
static void auth_token(const char *v, char *tok, size_t n)
{
    if (strncasecmp(v, "Bearer ", 7) == 0) {
        snprintf(tok, n, "%s", v + 7);
        return;
    }
    if (strncasecmp(v, "Basic ", 6) != 0)
        return;
    unsigned char bin[400];
    size_t bl = 0;
    const char *b64 = v + 6;
    if (sodium_base642bin(bin, sizeof(bin) - 1, b64, strlen(b64), " ", &bl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return;
    bin[bl] = '\0';
    if (memchr(bin, '\0', bl))
        return;
    char *colon = strchr((char *)bin, ':');
    if (colon)
        snprintf(tok, n, "%s", colon + 1);
    sodium_memzero(bin, sizeof(bin));
}

static int fail(char *why, size_t n, int rc, const char *msg)
{
    snprintf(why, n, "%s", msg);
    return rc;
}

int at_proxy_parse_head(const char *buf, size_t len, struct at_proxy_req *r, char *why, size_t n)
{
    memset(r, 0, sizeof(*r));
    const char *eol = memchr(buf, '\n', len);
    if (!eol)
        return fail(why, n, AT_EINVAL, "no request line");
    size_t ll = (size_t)(eol - buf);
    if (ll && buf[ll - 1] == '\r')
        ll--;
    /* METHOD SP TARGET SP HTTP/1.x */
    const char *sp1 = memchr(buf, ' ', ll);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - buf)) : NULL;
    if (!sp1 || !sp2 || sp1 == buf || sp2 == sp1 + 1)
        return fail(why, n, AT_EINVAL, "the request line is not METHOD TARGET VERSION");
    size_t ml = (size_t)(sp1 - buf), tl = (size_t)(sp2 - sp1 - 1);
    size_t vl = ll - (size_t)(sp2 + 1 - buf);
    if (vl != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return fail(why, n, AT_EINVAL, "not HTTP/1.x");
    for (size_t i = 0; i < ml; i++)
        if (buf[i] < 'A' || buf[i] > 'Z')
            return fail(why, n, AT_EINVAL, "the method is not a token");
    char target[AT_EGRESS_HOST_MAX + 16];
    const char *path = NULL;
    size_t path_len = 0;
    if (ml == 7 && strncmp(buf, "CONNECT", 7) == 0) {
        if (tl >= sizeof(target))
            return fail(why, n, AT_EINVAL, "the CONNECT target is too long");
        memcpy(target, sp1 + 1, tl);
        target[tl] = '\0';
        r->connect = 1;
    } else {
        const char *t = sp1 + 1;
        if (tl > 8 && strncasecmp(t, "https://", 8) == 0)
            return fail(why, n, AT_EUNSUPPORTED,
                        "https:// through this proxy is CONNECT (a client that sends it as a "
                        "plain request is not supported yet)");
        if (tl <= 7 || strncasecmp(t, "http://", 7) != 0)
            return fail(why, n, AT_EINVAL, "a proxy request names an absolute http:// URL");
        const char *auth = t + 7, *end = t + tl;
        const char *slash = memchr(auth, '/', (size_t)(end - auth));
        const char *q = memchr(auth, '?', (size_t)(end - auth));
        if (q && (!slash || q < slash))
            slash = q;
        const char *aend = slash ? slash : end;
        if (memchr(auth, '@', (size_t)(aend - auth)))
            return fail(why, n, AT_EINVAL, "credentials in the URL are not forwarded");
        size_t al = (size_t)(aend - auth);
        if (al == 0 || al + 4 >= sizeof(target))
            return fail(why, n, AT_EINVAL, "the URL has no host");
        memcpy(target, auth, al);
        target[al] = '\0';
        const char *after = target[0] == '[' ? strchr(target, ']') : target;
        if (!after || !strchr(after, ':'))
            memcpy(target + al, ":80", 4); /* the default port of http:// */
        path = slash ? slash : "/";
        path_len = slash ? (size_t)(end - slash) : 1;
    }
    if (at_egress_split(target, r->host, sizeof(r->host), &r->port) != 0)
        return fail(why, n, AT_EINVAL, "the target is not HOST:PORT");
    /* the headers: the token, and (absolute-form) the head to send on */
    struct at_buf out;
    at_buf_init(&out, AT_EGRESS_HEAD_MAX + 64);
    if (!r->connect) {
        at_buf_append(&out, buf, ml + 1);
        if (path[0] != '/')
            at_buf_putc(&out, '/'); /* "http://host?q" */
        at_buf_append(&out, path, path_len);
        at_buf_append(&out, sp2, (size_t)(buf + ll - sp2));
        at_buf_puts(&out, "\r\n");
    }
    const char *p = eol + 1, *end = buf + len;
    int blank = 0;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            break;
        size_t hl = (size_t)(e - p + 1);
        if (hl == 1 || (hl == 2 && p[0] == '\r')) {
            blank = 1;
            break;
        }
        if (p[0] == ' ' || p[0] == '\t') {
            at_buf_release(&out);
            return fail(why, n, AT_EINVAL, "folded header lines are not accepted");
        }
        size_t nl = 0; /* NAME ":" with NAME a token (RFC 9110) */
        while (nl < hl && (isalnum((unsigned char)p[nl]) || strchr("!#$%&'*+-.^_`|~", p[nl])) &&
               p[nl])
            nl++;
        if (nl == 0 || nl >= hl || p[nl] != ':') {
            at_buf_release(&out);
            return fail(why, n, AT_EINVAL, "a header line is not NAME: VALUE");
        }
        char v[600];
        if (at_header_value(p, hl, "Proxy-Authorization", v, sizeof(v))) {
            auth_token(v, r->token, sizeof(r->token));
            sodium_memzero(v, sizeof(v));
        } else if (!at_header_value(p, hl, "Proxy-Connection", v, sizeof(v)) && !r->connect) {
            at_buf_append(&out, p, hl);
        }
        p = e + 1;
    }
    if (!blank) {
        at_buf_release(&out);
        return fail(why, n, AT_EINVAL, "the head does not end with a blank line");
    }
    if (!r->connect) {
        at_buf_puts(&out, "\r\n");
        r->head = at_buf_detach(&out, &r->head_len);
    }
    at_buf_release(&out);
    return 0;
}

/* ---- connections ---- */

static void reply(int fd, int status, const char *reason, const char *extra, const char *body)
{
    char msg[1200];
    int len = snprintf(msg, sizeof(msg),
                       "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       status, reason, extra ? extra : "", strlen(body) + 1, body);
    if (len > 0 && (size_t)len < sizeof(msg) - 1) {
        msg[len++] = '\n';
        ssize_t w = send(fd, msg, (size_t)len, MSG_NOSIGNAL);
        (void)w;
    }
}

/* Wait for fd (events) or the stop pipe; 1 ready, 0 timeout, -1 stopping. */
static int wait_fd(struct at_egress_proxy *p, int fd, short events, int ms)
{
    struct pollfd pf[2] = {{fd, events, 0}, {p->stop_pipe[0], POLLIN, 0}};
    for (;;) {
        int r = poll(pf, 2, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || pf[1].revents)
            return -1;
        return r > 0;
    }
}

static int dial(struct at_egress_proxy *p, const char *host, int port)
{
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        int err = 0;
        socklen_t el = sizeof(err);
        if (errno != EINPROGRESS || wait_fd(p, fd, POLLOUT, CONNECT_TIMEOUT_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static int dial_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int send_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy both ways until either side closes (each half-close passed on). */
static void pipe_both(struct at_egress_proxy *p, int a, int b)
{
    char buf[16384];
    int open_a = 1, open_b = 1;
    while (open_a || open_b) {
        struct pollfd pf[3] = {
            {a, open_a ? POLLIN : 0, 0}, {b, open_b ? POLLIN : 0, 0}, {p->stop_pipe[0], POLLIN, 0}};
        int r = poll(pf, 3, IDLE_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || pf[2].revents)
            return;
        for (int i = 0; i < 2; i++) {
            int from = i ? b : a, to = i ? a : b;
            if (!pf[i].revents)
                continue;
            ssize_t got = recv(from, buf, sizeof(buf), 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                shutdown(to, SHUT_WR);
                if (i)
                    open_b = 0;
                else
                    open_a = 0;
                continue;
            }
            if (send_all(to, buf, (size_t)got) != 0)
                return;
        }
    }
}

struct conn {
    struct at_egress_proxy *p;
    int fd;
};

static void serve(struct at_egress_proxy *p, int fd)
{
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char head[AT_EGRESS_HEAD_MAX];
    size_t len = 0;
    const char *end = NULL;
    while (!end) {
        if (len == sizeof(head)) {
            reply(fd, 431, "Request Header Fields Too Large", NULL,
                  "the request head is too large");
            return;
        }
        if (wait_fd(p, fd, POLLIN, HEAD_TIMEOUT_MS) != 1)
            return;
        ssize_t got = recv(fd, head + len, sizeof(head) - len, 0);
        if (got <= 0)
            return;
        len += (size_t)got;
        for (size_t i = len - (size_t)got >= 3 ? len - (size_t)got - 3 : 0; i + 1 < len; i++) {
            if (head[i] == '\n' && (head[i + 1] == '\n' ||
                                    (i + 2 < len && head[i + 1] == '\r' && head[i + 2] == '\n'))) {
                end = head + i + (head[i + 1] == '\n' ? 2 : 3);
                break;
            }
        }
    }
    size_t hl = (size_t)(end - head);
    struct at_proxy_req r;
    char why[300], who[200] = "";
    int rc = at_proxy_parse_head(head, hl, &r, why, sizeof(why));
    if (rc) {
        reply(fd, rc == AT_EUNSUPPORTED ? 501 : 400,
              rc == AT_EUNSUPPORTED ? "Not Implemented" : "Bad Request", NULL, why);
        return;
    }
    int platform = p->platform_socket && r.port == p->platform_port &&
                   (strcmp(r.host, "127.0.0.1") == 0 || strcmp(r.host, "localhost") == 0);
    if (platform)
        rc = 0; /* atlasd's own relay: the platform judges the request's token */
    else
        rc = r.token[0]
                 ? p->authorize(p->arg, r.token, r.host, r.port, who, sizeof(who), why, sizeof(why))
                 : AT_EAUTH;
    sodium_memzero(r.token, sizeof(r.token));
    if (rc == AT_EAUTH) {
        reply(fd, 407, "Proxy Authentication Required",
              "Proxy-Authenticate: Basic realm=\"atlas\"\r\n",
              "a job token is required (the agent's HTTP(S)_PROXY carries it)");
    } else if (rc) {
        at_info("egress", "%s: %s:%d refused: %s", who[0] ? who : "?", r.host, r.port, why);
        reply(fd, 403, "Forbidden", NULL, why);
    } else {
        int up = platform ? dial_unix(p->platform_socket) : dial(p, r.host, r.port);
        if (up < 0) {
            snprintf(why, sizeof(why), "cannot connect to %s:%d", r.host, r.port);
            reply(fd, 502, "Bad Gateway", NULL, why);
        } else {
            setsockopt(up, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            at_debug("egress", "%s: %s:%d", who, r.host, r.port);
            int ok = r.connect ? send_all(fd, "HTTP/1.1 200 Connection established\r\n\r\n", 39)
                               : send_all(up, r.head, r.head_len);
            /* what the client sent after the head goes on as it is */
            if (ok == 0 && len > hl)
                ok = send_all(up, end, len - hl);
            if (ok == 0)
                pipe_both(p, fd, up);
            close(up);
        }
    }
    at_proxy_req_release(&r);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct at_egress_proxy *p = c->p;
    serve(p, c->fd);
    close(c->fd);
    free(c);
    pthread_mutex_lock(&p->mu);
    p->active--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct at_egress_proxy *p = arg;
    for (;;) {
        if (wait_fd(p, p->lfd, POLLIN, -1) != 1)
            return NULL;
        int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&p->mu);
        int full = p->active >= AT_EGRESS_MAX_CONNS;
        if (!full)
            p->active++;
        pthread_mutex_unlock(&p->mu);
        if (full) {
            reply(fd, 503, "Service Unavailable", "Retry-After: 1\r\n", "too many connections");
            close(fd);
            continue;
        }
        struct conn *c = at_malloc(sizeof(*c));
        c->p = p;
        c->fd = fd;
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, conn_main, c) != 0) {
            close(fd);
            free(c);
            pthread_mutex_lock(&p->mu);
            p->active--;
            pthread_mutex_unlock(&p->mu);
        }
        pthread_attr_destroy(&at);
    }
}

int at_egress_proxy_start(const char *path, const char *platform_socket, int platform_port,
                          at_egress_authorize_fn fn, void *arg, struct at_egress_proxy **out,
                          struct at_diag *d)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return at_diag_set(d, AT_EINVAL, path, 0, 0, "the socket path is too long");
    struct at_egress_proxy *p = at_calloc(1, sizeof(*p));
    p->authorize = fn;
    p->arg = arg;
    p->path = at_strdup(path);
    p->platform_socket = platform_socket ? at_strdup(platform_socket) : NULL;
    p->platform_port = platform_port;
    p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || pipe2(p->stop_pipe, O_CLOEXEC) != 0) {
        int e = errno;
        if (p->lfd >= 0)
            close(p->lfd);
        free(p->path);
        free(p->platform_socket);
        free(p);
        return at_diag_set(d, at_err_from_errno(e), path, 0, 0, "cannot make a socket: %s",
                           strerror(e));
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    mode_t old = umask(0177);
    int rc = bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0 || listen(p->lfd, 64) != 0 || chmod(path, 0600) != 0) {
        int e = errno;
        close(p->lfd);
        close(p->stop_pipe[0]);
        close(p->stop_pipe[1]);
        free(p->path);
        free(p->platform_socket);
        free(p);
        return at_diag_set(d, at_err_from_errno(e), path, 0, 0, "cannot listen: %s", strerror(e));
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->acceptor, NULL, accept_main, p) != 0) {
        close(p->lfd);
        close(p->stop_pipe[0]);
        close(p->stop_pipe[1]);
        unlink(path);
        free(p->path);
        free(p->platform_socket);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return at_diag_set(d, AT_ENOMEM, path, 0, 0, "cannot start the egress proxy's thread");
    }
    *out = p;
    return 0;
}

void at_egress_proxy_stop(struct at_egress_proxy *p)
{
    if (!p)
        return;
    ssize_t w = write(p->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(p->acceptor, NULL);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    close(p->lfd);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    unlink(p->path);
    free(p->path);
    free(p->platform_socket);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
