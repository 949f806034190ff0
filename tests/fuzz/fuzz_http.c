/* libFuzzer target: the HTTP route table and middleware on hostile
 * requests (method, path with query, headers, body) without sockets.
 * Input: "METHOD\nPATH\nHeader: v\n...\n\nBODY".  Checks properties: an
 * answer always comes, its status is one the middleware or the handlers
 * give, and path parameters are slices of the path that never hold a
 * slash unless they are rest parameters. */
#include "base/err.h"
#include "http/router.h"
#include "http/server.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void h_params(struct at_http_req *r)
{
    for (size_t i = 0; i < r->match.nparams; i++)
        if (!r->params[i])
            abort();
    const char *p = at_http_param(r, "id");
    if (p && strchr(p, '/'))
        abort(); /* a {name} parameter is one segment */
    at_http_query(r, "q");
    at_http_bearer(r);
    at_http_reply_text(r, 200, "text/plain", "ok", 2);
}

static void h_problem(struct at_http_req *r)
{
    at_http_reply_problem(r, AT_ENOENT, "x", "/p", NULL);
}

static const struct at_http_route routes[] = {
    {"GET", "/", h_params, 0, AT_HTTP_PROBE, 0, NULL},
    {"GET", "/api/v1/jobs/{id}", h_params, 0, 0, 0, NULL},
    {"DELETE", "/api/v1/jobs/{id}", h_params, 0, 0, 0, NULL},
    {"GET", "/api/v1/jobs/{id}/events", h_params, 0, 0, 0, NULL},
    {"POST", "/api/v1/agents/{ref}/run", h_params, 0, 0, 16, NULL},
    {"GET", "/api/v1/evals/results", h_problem, 0, 0, 0, NULL},
    {"GET", "/api/v1/evals/{name}", h_params, 0, 0, 0, NULL},
    {"*", "/v1/{rest*}", h_problem, 0, 0, 0, NULL},
    {"GET", "/v1/models/{rest*}", h_params, 0, 0, 0, NULL},
    {"POST", "/mcp", h_params, 0, 0, 0, NULL},
    {"*", "/mcp/{rest*}", h_params, 0, 0, 0, NULL},
};

static struct at_http_server *server(void)
{
    static struct at_http_server *s;
    if (!s) {
        struct at_http_cfg cfg = {.max_body = 64, .blocking_workers = 1};
        if (at_http_new(&cfg, &s) ||
            at_http_mount(s, routes, sizeof(routes) / sizeof(routes[0]), NULL, NULL))
            abort();
        at_http_set_ready(s, 1);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *method = text, *path = strchr(text, '\n');
    if (!path || (size_t)(path - text) > 15) {
        free(text);
        return 0;
    }
    *path++ = '\0';
    char *rest = strchr(path, '\n');
    if (rest)
        *rest++ = '\0';
    const char *headers[9] = {NULL};
    size_t nh = 0;
    const char *body = NULL;
    while (rest && *rest) {
        char *nl = strchr(rest, '\n');
        if (nl)
            *nl = '\0';
        if (!*rest) {
            body = nl ? nl + 1 : NULL;
            break;
        }
        if (nh < 8 && strchr(rest, ':'))
            headers[nh++] = rest;
        rest = nl ? nl + 1 : NULL;
    }
    struct at_http_req *r =
        at_http_test_request(server(), method, path, headers, body, body ? strlen(body) : 0, 5000);
    if (!r->ready || r->status < 200 || r->status > 599 || !r->resp_body)
        abort();
    for (size_t i = 0; i < r->match.nparams; i++) {
        const struct at_http_param *p = &r->match.params[i];
        const char *start = r->path, *end = r->path + strlen(r->path);
        if (p->value < start || p->value + p->len > end)
            abort();
    }
    at_http_test_free(r);
    free(text);
    return 0;
}
