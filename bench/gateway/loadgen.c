/*
 * loadgen.c - a closed-loop HTTP/1.1 load generator for the gateway
 * benchmark: C keep-alive connections, each sending the same POST as soon as
 * its previous answer is complete; per-request latency and time to first
 * body byte (TTFT for streams) in microseconds.
 *
 *   loadgen PORT PATH BODYFILE CONCURRENCY SECONDS [WARMUP_S]
 *
 * Prints one JSON line: requests, errors, rps, p50/p90/p99 latency and
 * p50/p99 TTFT (µs).  Handles Content-Length and chunked answers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (1 << 17)

struct conn {
    int fd;
    char buf[BUFSZ];
    size_t len;
    int64_t t0, tfirst;
    int have_head;
    size_t head_len;
    long clen;  /* -1: chunked */
    size_t pos; /* chunked: parse position */
    int status;
};

static char *req;
static size_t req_len;
static int64_t *lat, *ttft;
static size_t nlat, cap;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void send_req(struct conn *c)
{
    c->len = 0;
    c->have_head = 0;
    c->tfirst = 0;
    c->t0 = now_us();
    size_t off = 0;
    while (off < req_len) {
        ssize_t w = write(c->fd, req + off, req_len - off);
        if (w <= 0) {
            if (w < 0 && errno == EAGAIN)
                continue;
            perror("write");
            exit(1);
        }
        off += (size_t)w;
    }
}

/* 1 when the answer in c->buf is complete. */
static int complete(struct conn *c)
{
    if (!c->have_head) {
        char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!e)
            return 0;
        c->have_head = 1;
        c->head_len = (size_t)(e - c->buf) + 4;
        c->status = (int)strtol(c->buf + 9, NULL, 10);
        c->clen = 0;
        for (char *p = c->buf; p < e; p++) {
            if (p == c->buf || p[-1] == '\n') {
                if (strncasecmp(p, "content-length:", 15) == 0)
                    c->clen = strtol(p + 15, NULL, 10);
                if (strncasecmp(p, "transfer-encoding: chunked", 26) == 0)
                    c->clen = -1;
            }
        }
        c->pos = c->head_len;
    }
    if (!c->tfirst && c->len > c->head_len) {
        /* the first body byte; for chunked answers the first chunk's data */
        c->tfirst = now_us();
    }
    if (c->clen >= 0)
        return c->len >= c->head_len + (size_t)c->clen;
    for (;;) {
        char *e = memmem(c->buf + c->pos, c->len - c->pos, "\r\n", 2);
        if (!e)
            return 0;
        long sz = strtol(c->buf + c->pos, NULL, 16);
        size_t need = (size_t)(e - c->buf) + 2 + (size_t)sz + 2;
        if (c->len < need)
            return 0;
        c->pos = need;
        if (sz == 0)
            return 1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: loadgen PORT PATH BODYFILE CONCURRENCY SECONDS [WARMUP_S]\n");
        return 2;
    }
    int port = (int)strtol(argv[1], NULL, 10);
    FILE *f = fopen(argv[3], "r");
    if (!f)
        return 1;
    char body[65536];
    size_t blen = fread(body, 1, sizeof(body), f);
    fclose(f);
    int nconn = (int)strtol(argv[4], NULL, 10);
    double secs = atof(argv[5]);
    double warm = argc > 6 ? atof(argv[6]) : 0.5;
    req = malloc(blen + 1024);
    /* atlasd needs a token on every TCP request (docs/security.md); the
     * upstream ignores it */
    const char *tok = getenv("ATLAS_TOKEN");
    char auth[300] = "";
    if (tok && *tok)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", tok);
    req_len = (size_t)snprintf(req, 1024,
                               "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: "
                               "application/json\r\nContent-Length: %zu\r\n\r\n",
                               argv[2], auth, blen);
    memcpy(req + req_len, body, blen);
    req_len += blen;
    cap = 1 << 20;
    lat = malloc(cap * sizeof(*lat));
    ttft = malloc(cap * sizeof(*ttft));
    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)nconn, sizeof(*cs));
    for (int i = 0; i < nconn; i++) {
        struct conn *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(c->fd, (struct sockaddr *)&a, sizeof(a))) {
            perror("connect");
            return 1;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        send_req(c);
    }
    int64_t start = now_us();
    int64_t measure_from = start + (int64_t)(warm * 1e6);
    int64_t end = measure_from + (int64_t)(secs * 1e6);
    long errors = 0, done = 0;
    struct epoll_event evs[256];
    while (now_us() < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->len, BUFSZ - c->len);
            if (r <= 0) {
                fprintf(stderr, "connection closed\n");
                return 1;
            }
            c->len += (size_t)r;
            if (!complete(c))
                continue;
            int64_t t = now_us();
            if (c->t0 >= measure_from && t <= end) {
                if (c->status != 200)
                    errors++;
                if (nlat < cap) {
                    lat[nlat] = t - c->t0;
                    ttft[nlat] = (c->tfirst ? c->tfirst : t) - c->t0;
                    nlat++;
                }
                done++;
            }
            send_req(c);
        }
    }
    qsort(lat, nlat, sizeof(*lat), cmp);
    qsort(ttft, nlat, sizeof(*ttft), cmp);
#define P(a, q) (nlat ? (a)[(size_t)((double)(nlat - 1) * (q))] : 0)
    printf("{\"requests\":%ld,\"errors\":%ld,\"rps\":%.0f,\"p50_us\":%lld,\"p90_us\":%lld,"
           "\"p99_us\":%lld,\"ttft_p50_us\":%lld,\"ttft_p99_us\":%lld}\n",
           done, errors, (double)done / secs, (long long)P(lat, 0.5), (long long)P(lat, 0.9),
           (long long)P(lat, 0.99), (long long)P(ttft, 0.5), (long long)P(ttft, 0.99));
    return 0;
}
