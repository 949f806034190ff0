/*
 * upstream.c - a fast stand-in for an OpenAI-compatible model server, so
 * that the gateway benchmark measures the gateway: one thread, epoll,
 * keep-alive, a fixed chat.completion (or a short SSE stream when the
 * request has "stream":true) answered at once.
 *
 *   upstream PORTFILE   (listens on 127.0.0.1, an ephemeral port written to PORTFILE)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ (1 << 16)

static const char *answer =
    "{\"id\":\"chatcmpl-standin\",\"object\":\"chat.completion\",\"created\":1,\"model\":"
    "\"stand-in\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
    "\"Hello from the stand-in.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":6,\"total_tokens\":18}}";

static const char *events[] = {
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"stand-in\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"}}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"stand-in\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"content\":\" from the\"}}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"stand-in\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"content\":\" stand-in.\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"stand-in\",\"choices\":"
    "[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}}\n\n",
    "data: [DONE]\n\n",
};

struct conn {
    int fd;
    char in[BUFSZ];
    size_t len;
};

static void respond(struct conn *c, int stream, int models)
{
    char out[8192];
    int n;
    if (models) {
        const char *b =
            "{\"object\":\"list\",\"data\":[{\"id\":\"stand-in\",\"object\":\"model\"}]}";
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\n\r\n%s",
                     strlen(b), b);
    } else if (!stream) {
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\n\r\n%s",
                     strlen(answer), answer);
    } else {
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
            n += snprintf(out + n, sizeof(out) - (size_t)n, "%zx\r\n%s\r\n", strlen(events[i]),
                          events[i]);
        n += snprintf(out + n, sizeof(out) - (size_t)n, "0\r\n\r\n");
    }
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = write(c->fd, out + off, (size_t)n - off);
        if (w < 0 && errno == EAGAIN)
            continue; /* tiny answers: the socket buffer has room */
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* Handle every complete request in the buffer; -1 to close. */
static int serve(struct conn *c)
{
    for (;;) {
        char *end = memmem(c->in, c->len, "\r\n\r\n", 4);
        if (!end)
            return c->len >= BUFSZ ? -1 : 0;
        size_t hlen = (size_t)(end - c->in) + 4;
        size_t clen = 0;
        for (char *p = c->in; p < end; p++) {
            if ((p == c->in || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
                clen = strtoul(p + 15, NULL, 10);
        }
        if (hlen + clen > BUFSZ)
            return -1;
        if (c->len < hlen + clen)
            return 0;
        int stream = memmem(c->in + hlen, clen, "\"stream\":true", 13) != NULL;
        int models = strncmp(c->in, "GET ", 4) == 0;
        respond(c, stream, models);
        memmove(c->in, c->in + hlen + clen, c->len - hlen - clen);
        c->len -= hlen + clen;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: upstream PORTFILE\n");
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1024))
        return 1;
    socklen_t al = sizeof(a);
    getsockname(ls, (struct sockaddr *)&a, &al);
    FILE *f = fopen(argv[1], "w");
    fprintf(f, "%d\n", ntohs(a.sin_port));
    fclose(f);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *nc = calloc(1, sizeof(*nc));
                    nc->fd = fd;
                    struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
                }
                continue;
            }
            ssize_t r = read(c->fd, c->in + c->len, BUFSZ - c->len);
            if (r <= 0 || (c->len += (size_t)r, serve(c) < 0)) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                close(c->fd);
                free(c);
            }
        }
    }
}
