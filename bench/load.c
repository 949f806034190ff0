/*
 * load.c - a small closed-loop HTTP/1.1 load generator for the benchmarks.
 *
 *   load URL BODY CONCURRENCY REQUESTS [HEADER...]
 *
 * CONCURRENCY keep-alive connections each send POST (or GET when BODY is
 * "-") requests one after another until REQUESTS have completed in total,
 * from one epoll thread.  Prints one JSON line: requests, errors, seconds,
 * rps, p50_us, p90_us, p99_us, max_us.  Not a test: see bench/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    char req[65536];
    size_t req_len, sent;
    char buf[1 << 20];
    size_t len;
    long long t0;
    int busy;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* A complete response in c->buf? Returns its length, 0 if not yet. */
static size_t response_len(struct conn *c, int *status)
{
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return 0;
    size_t hdr = (size_t)(end - c->buf) + 4;
    *status = (int)strtol(c->buf + 9, NULL, 10);
    long clen = 0;
    for (char *p = c->buf; p < end; p++) {
        if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
    }
    return c->len >= hdr + (size_t)clen ? hdr + (size_t)clen : 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: load URL BODY|- CONCURRENCY REQUESTS [HEADER...]\n");
        return 2;
    }
    char host[64] = "127.0.0.1", path[1024] = "/";
    int port = 80;
    if (sscanf(argv[1], "http://%63[^:]:%d%1023s", host, &port, path) < 2) {
        fprintf(stderr, "load: URL must be http://IP:PORT/path\n");
        return 2;
    }
    const char *body = argv[2];
    int conc = (int)strtol(argv[3], NULL, 10);
    long total = strtol(argv[4], NULL, 10);
    struct conn *cs = calloc((size_t)conc, sizeof(*cs));
    long long *lat = calloc((size_t)total + (size_t)conc, sizeof(*lat));
    int ep = epoll_create1(0);
    char extra[4096] = "";
    for (int i = 5; i < argc; i++) {
        strncat(extra, argv[i], sizeof(extra) - strlen(extra) - 3);
        strncat(extra, "\r\n", sizeof(extra) - strlen(extra) - 1);
    }
    /* atlasd needs a token on every TCP request (docs/security.md) */
    const char *tok = getenv("ATLAS_TOKEN");
    if (tok && *tok)
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
                 "Authorization: Bearer %s\r\n", tok);
    int get = strcmp(body, "-") == 0;
    for (int i = 0; i < conc; i++) {
        struct conn *c = &cs[i];
        c->fd = connect_to(host, port);
        if (get)
            c->req_len = (size_t)snprintf(
                c->req, sizeof(c->req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, host, extra);
        else
            c->req_len = (size_t)snprintf(
                c->req, sizeof(c->req),
                "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %zu\r\n%s\r\n%s",
                path, host, strlen(body), extra, body);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    long started = 0, done = 0, errors = 0;
    long long t_start = now_ns();
    struct epoll_event evs[256];
    while (done < total) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n <= 0) {
            fprintf(stderr, "load: stalled\n");
            break;
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (!c->busy && started < total && (evs[k].events & EPOLLOUT)) {
                c->busy = 1;
                c->sent = 0;
                c->len = 0;
                c->t0 = now_ns();
                started++;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            if (c->busy && c->sent < c->req_len) {
                ssize_t w = write(c->fd, c->req + c->sent, c->req_len - c->sent);
                if (w > 0)
                    c->sent += (size_t)w;
            }
            if (c->busy && (evs[k].events & EPOLLIN)) {
                ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    fprintf(stderr, "load: connection closed\n");
                    return 1;
                }
                c->len += (size_t)r;
                int status = 0;
                size_t rl = response_len(c, &status);
                if (rl) {
                    lat[done++] = now_ns() - c->t0;
                    if (status < 200 || status >= 300)
                        errors++;
                    c->busy = 0;
                    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
        }
    }
    double secs = (double)(now_ns() - t_start) / 1e9;
    qsort(lat, (size_t)done, sizeof(*lat), cmp_ll);
#define PCT(p) (done ? lat[(size_t)((double)(done - 1) * (p))] / 1000 : 0)
    printf("{\"requests\": %ld, \"errors\": %ld, \"seconds\": %.3f, \"rps\": %.1f, "
           "\"p50_us\": %lld, \"p90_us\": %lld, \"p99_us\": %lld, \"max_us\": %lld}\n",
           done, errors, secs, (double)done / secs, PCT(0.50), PCT(0.90), PCT(0.99), PCT(1.0));
    return errors ? 1 : 0;
}
