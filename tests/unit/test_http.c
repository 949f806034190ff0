/* Unit tests: the HTTP library without sockets: route matching (order
 * independent, path parameters, 404 vs 405 with Allow), the middleware's
 * order, body limits, problem rendering and the blocking workers. */
#include "base/err.h"
#include "http/router.h"
#include "http/server.h"
#include "json/json.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void h_noop(struct at_http_req *r)
{
    (void)r;
}

static void h_a(struct at_http_req *r)
{
    at_http_reply_text(r, 200, "text/plain", "a", 1);
}

static void h_b(struct at_http_req *r)
{
    at_http_reply_text(r, 200, "text/plain", "b", 1);
}

/* ---- router ---- */

static const struct at_http_route table[] = {
    {"GET", "/api/v1/jobs/{id}", h_noop, 0, 0, 0, NULL},
    {"DELETE", "/api/v1/jobs/{id}", h_noop, 0, 0, 0, NULL},
    {"GET", "/api/v1/jobs/{id}/events", h_noop, 0, 0, 0, NULL},
    {"POST", "/api/v1/jobs/{id}/cancel", h_noop, 0, 0, 0, NULL},
    {"GET", "/api/v1/evals/{name}", h_noop, 0, 0, 0, NULL},
    {"GET", "/api/v1/evals/results", h_noop, 0, 0, 0, NULL},
    {"GET", "/api/v1/agents", h_noop, 0, 0, 0, NULL},
    {"POST", "/api/v1/agents", h_noop, 0, 0, 0, NULL},
    {"POST", "/api/v1/agents/{ref}/run", h_noop, 0, 0, 0, NULL},
    {"*", "/v1/{rest*}", h_noop, 0, 0, 0, NULL},
    {"GET", "/v1/models", h_noop, 0, 0, 0, NULL},
    {"GET", "/v1/models/{id*}", h_noop, 0, 0, 0, NULL},
    {"GET", "/mcp", h_noop, 0, 0, 0, NULL},
    {"*", "/mcp/{rest*}", h_noop, 0, 0, 0, NULL},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

/* The router in table order and in reverse order. */
static struct at_http_router *router(int reverse)
{
    struct at_http_router *rt = at_http_router_new();
    for (size_t i = 0; i < NTABLE; i++) {
        size_t k = reverse ? NTABLE - 1 - i : i;
        assert_int_equal(at_http_router_add(rt, &table[k], 1, NULL, NULL), 0);
    }
    return rt;
}

static const char *matched(struct at_http_router *rt, const char *method, const char *path,
                           struct at_http_match *m)
{
    at_http_router_match(rt, method, path, m);
    return m->status == 0 ? m->route->pattern : NULL;
}

static void test_router_most_specific(void **state)
{
    (void)state;
    for (int rev = 0; rev < 2; rev++) {
        struct at_http_router *rt = router(rev);
        struct at_http_match m;
        assert_string_equal(matched(rt, "GET", "/api/v1/evals/results", &m),
                            "/api/v1/evals/results");
        assert_string_equal(matched(rt, "GET", "/api/v1/evals/nightly", &m),
                            "/api/v1/evals/{name}");
        assert_string_equal(matched(rt, "GET", "/api/v1/jobs/job_1/events", &m),
                            "/api/v1/jobs/{id}/events");
        assert_string_equal(matched(rt, "GET", "/v1/models", &m), "/v1/models");
        assert_string_equal(matched(rt, "GET", "/v1/models/org/model:1", &m), "/v1/models/{id*}");
        assert_string_equal(matched(rt, "PATCH", "/v1/anything/else", &m), "/v1/{rest*}");
        assert_string_equal(matched(rt, "POST", "/mcp/x", &m), "/mcp/{rest*}");
        assert_string_equal(matched(rt, "HEAD", "/api/v1/agents", &m), "/api/v1/agents");
        at_http_router_free(rt);
    }
}

static void test_router_params(void **state)
{
    (void)state;
    struct at_http_router *rt = router(0);
    struct at_http_match m;
    assert_non_null(matched(rt, "POST", "/api/v1/agents/echo:1.2.0/run", &m));
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0].name, "ref");
    assert_int_equal(m.params[0].len, strlen("echo:1.2.0"));
    assert_memory_equal(m.params[0].value, "echo:1.2.0", m.params[0].len);
    /* a rest parameter takes the slashes, and may be empty after one */
    assert_non_null(matched(rt, "GET", "/v1/models/a/b/c", &m));
    assert_int_equal(m.params[0].len, 5);
    assert_memory_equal(m.params[0].value, "a/b/c", 5);
    assert_non_null(matched(rt, "GET", "/v1/models/", &m));
    assert_int_equal(m.params[0].len, 0);
    /* "/mcp" is its own route, "/mcp/" is under the rest pattern */
    assert_string_equal(matched(rt, "GET", "/mcp", &m), "/mcp");
    assert_string_equal(matched(rt, "GET", "/mcp/", &m), "/mcp/{rest*}");
    /* a parameter is one non-empty segment */
    assert_null(matched(rt, "GET", "/api/v1/jobs/", &m));
    assert_int_equal(m.status, 404);
    assert_null(matched(rt, "POST", "/api/v1/agents//run", &m));
    assert_null(matched(rt, "GET", "/api/v1/jobs/a/b", &m));
    assert_int_equal(m.status, 404);
    at_http_router_free(rt);
}

static void test_router_404_405(void **state)
{
    (void)state;
    struct at_http_router *rt = router(1);
    struct at_http_match m;
    assert_int_equal(at_http_router_match(rt, "GET", "/nope", &m), 404);
    assert_int_equal(at_http_router_match(rt, "GET", "", &m), 404);
    assert_int_equal(at_http_router_match(rt, "GET", "*", &m), 404);
    assert_int_equal(at_http_router_match(rt, "PUT", "/api/v1/agents", &m), 405);
    assert_string_equal(m.allow, "POST, GET"); /* reverse order of adding */
    at_http_router_free(rt);
    rt = router(0);
    assert_int_equal(at_http_router_match(rt, "PUT", "/api/v1/agents", &m), 405);
    assert_string_equal(m.allow, "GET, POST");
    assert_int_equal(at_http_router_match(rt, "POST", "/api/v1/jobs/j1", &m), 405);
    assert_string_equal(m.allow, "GET, DELETE");
    /* the most specific pattern decides: no fall-back to /v1/{rest*} */
    assert_int_equal(at_http_router_match(rt, "POST", "/v1/models", &m), 405);
    assert_string_equal(m.allow, "GET");
    assert_int_equal(at_http_router_match(rt, "DELETE", "/api/v1/evals/results", &m), 405);
    assert_string_equal(m.allow, "GET");
    at_http_router_free(rt);
}

static void test_router_refuses(void **state)
{
    (void)state;
    struct at_http_router *rt = router(0);
    struct at_diag d;
    struct at_http_route dup = {"GET", "/api/v1/jobs/{job}", h_noop, 0, 0, 0, NULL};
    assert_int_equal(at_http_router_add(rt, &dup, 1, NULL, &d), AT_EEXIST);
    struct at_http_route any = {"*", "/api/v1/agents", h_noop, 0, 0, 0, NULL};
    assert_int_equal(at_http_router_add(rt, &any, 1, NULL, &d), AT_EEXIST);
    const char *bad[] = {"api",      "/a/{x*}/b",           "/a/x{y}", "/a/{x}/{x}", "/a/{}",
                         "/a/{b-c}", "/{a}/{b}/{c}/{d}/{e}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct at_http_route r = {"GET", bad[i], h_noop, 0, 0, 0, NULL};
        assert_int_equal(at_http_router_add(rt, &r, 1, NULL, &d), AT_EINVAL);
    }
    struct at_http_route head = {"HEAD", "/x", h_noop, 0, 0, 0, NULL};
    assert_int_equal(at_http_router_add(rt, &head, 1, NULL, &d), AT_EINVAL);
    /* nothing of a refused batch is added */
    struct at_http_route batch[] = {{"GET", "/fresh", h_noop, 0, 0, 0, NULL},
                                    {"GET", "/fresh", h_noop, 0, 0, 0, NULL}};
    assert_int_equal(at_http_router_add(rt, batch, 2, NULL, &d), AT_EEXIST);
    struct at_http_match m;
    assert_int_equal(at_http_router_match(rt, "GET", "/fresh", &m), 404);
    at_http_router_free(rt);
}

/* ---- middleware ---- */

static int refuse_needs = 0; /* authorize refuses routes needing these bits */

static int authorize(void *arg, struct at_http_req *r, unsigned needs, struct at_diag *d)
{
    (void)arg;
    (void)r;
    if (needs & (unsigned)refuse_needs)
        return at_diag_set(d, AT_EPERM, NULL, 0, 0, "not with this token");
    return 0;
}

static void decorate(json_t *p)
{
    json_object_set_new(p, "decorated", json_true());
}

static void h_param(struct at_http_req *r)
{
    const char *name = at_http_param(r, "name");
    at_http_reply_text(r, 200, "text/plain", name, strlen(name));
}

static void h_problem(struct at_http_req *r)
{
    at_http_reply_problem(r, AT_ESCHEMA, "/text must be string", "/text",
                          json_pack("{s:s}", "job", "job_1"));
}

static void h_bearer(struct at_http_req *r)
{
    const char *b = at_http_bearer(r);
    at_http_reply_text(r, 200, "text/plain", b ? b : "-", b ? strlen(b) : 1);
}

static void h_query(struct at_http_req *r)
{
    const char *a = at_http_query(r, "a"), *b = at_http_query(r, "b");
    char text[64];
    snprintf(text, sizeof(text), "%s|%s", a ? a : "-", b ? b : "-");
    at_http_reply_text(r, 200, "text/plain", text, strlen(text));
}

static void h_silent(struct at_http_req *r)
{
    (void)r; /* answers nothing: the server must */
}

static const struct at_http_route mw_routes[] = {
    {"GET", "/health", h_a, 0, AT_HTTP_PROBE, 0, NULL},
    {"GET", "/things", h_b, 1, 0, 0, NULL},
    {"POST", "/things", h_b, 2, 0, 0, NULL},
    {"POST", "/small", h_b, 0, 0, 8, NULL},
    {"GET", "/named/{name}", h_param, 0, 0, 0, NULL},
    {"GET", "/problem", h_problem, 0, 0, 0, decorate},
    {"GET", "/bearer", h_bearer, 0, 0, 0, NULL},
    {"GET", "/query", h_query, 0, 0, 0, NULL},
    {"GET", "/silent", h_silent, 0, 0, 0, NULL},
    {"GET", "/gw/x", h_a, 0, 0, 0, decorate},
};

static struct at_http_server *mw_server(void)
{
    struct at_http_cfg cfg = {.max_body = 64,
                              .body_limit_name = "test.max_body",
                              .authorize = authorize,
                              .blocking_workers = 1,
                              .blocking_queue = 1};
    struct at_http_server *s;
    assert_int_equal(at_http_new(&cfg, &s), 0);
    assert_int_equal(
        at_http_mount(s, mw_routes, sizeof(mw_routes) / sizeof(mw_routes[0]), NULL, NULL), 0);
    refuse_needs = 0;
    return s;
}

static json_t *answer_json(struct at_http_req *r)
{
    json_t *j = NULL;
    assert_non_null(r->resp_body);
    assert_int_equal(at_json_parse(r->resp_body, r->resp_len, 0, &j, NULL), 0);
    return j;
}

/* Ask and check the status and (for problems) the type slug. */
static struct at_http_req *ask(struct at_http_server *s, const char *method, const char *path,
                               const char *const *headers, const char *body, int status,
                               const char *slug)
{
    struct at_http_req *r =
        at_http_test_request(s, method, path, headers, body, body ? strlen(body) : 0, 5000);
    assert_int_equal(r->status, status);
    if (slug) {
        assert_string_equal(r->resp_type, "application/problem+json");
        json_t *p = answer_json(r);
        char type[96];
        snprintf(type, sizeof(type), "urn:atlas:error:%s", slug);
        assert_string_equal(json_string_value(json_object_get(p, "type")), type);
        assert_int_equal(json_integer_value(json_object_get(p, "status")), status);
        json_decref(p);
    }
    return r;
}

static void expect(struct at_http_server *s, const char *method, const char *path,
                   const char *const *headers, const char *body, int status, const char *slug)
{
    at_http_test_free(ask(s, method, path, headers, body, status, slug));
}

static void expect_header(struct at_http_req *r, const char *name, const char *value)
{
    char *v = at_http_test_header(r, name);
    assert_non_null(v);
    assert_string_equal(v, value);
    free(v);
}

static void test_middleware_order(void **state)
{
    (void)state;
    struct at_http_server *s = mw_server();
    const char *clte[] = {"Content-Length: 5", "Transfer-Encoding: chunked", NULL};
    const char *restricted[] = {AT_HTTP_TEST_RESTRICTED ": 1", NULL};
    char big[100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    /* 1. hostile input before routing: even an unknown path is a 400 and
     * the connection is closed */
    struct at_http_req *r = ask(s, "GET", "/nowhere%00x", NULL, NULL, 400, "invalid-argument");
    expect_header(r, "Connection", "close");
    at_http_test_free(r);
    r = ask(s, "POST", "/things", clte, "hello", 400, "invalid-argument");
    expect_header(r, "Connection", "close");
    at_http_test_free(r);
    /* %00 never reaches a handler as a truncated name */
    expect(s, "GET", "/named/echo-c%00evil", NULL, NULL, 400, "invalid-argument");

    /* 2. routing before readiness: 404 and 405 are answered while starting */
    expect(s, "GET", "/nowhere", NULL, NULL, 404, "not-found");
    r = ask(s, "DELETE", "/things", NULL, NULL, 405, "method-not-allowed");
    expect_header(r, "Allow", "GET, POST");
    at_http_test_free(r);

    /* 4. readiness: only probes until ready; 503 with Retry-After */
    r = ask(s, "GET", "/things", NULL, NULL, 503, "not-ready");
    expect_header(r, "Retry-After", "1");
    at_http_test_free(r);
    expect(s, "GET", "/health", NULL, NULL, 200, NULL);
    /* readiness before authorization and the body limit */
    refuse_needs = 2;
    expect(s, "POST", "/things", NULL, big, 503, "not-ready");

    at_http_set_ready(s, 1);
    expect(s, "GET", "/things", NULL, NULL, 200, NULL);

    /* 3. the probe reserve: a reserve connection gets probes only */
    r = ask(s, "GET", "/things", restricted, NULL, 503, "busy");
    expect_header(r, "Connection", "close");
    at_http_test_free(r);
    expect(s, "GET", "/health", restricted, NULL, 200, NULL);

    /* 5. authorization by the route's needs, before the body limit */
    expect(s, "POST", "/things", NULL, big, 403, "permission-denied");
    expect(s, "GET", "/things", NULL, NULL, 200, NULL); /* needs 1: allowed */

    /* 6. the body limit: the server's, and a route's own */
    refuse_needs = 0;
    r = ask(s, "POST", "/things", NULL, big, 413, "too-large");
    json_t *p = answer_json(r);
    assert_non_null(strstr(json_string_value(json_object_get(p, "detail")), "test.max_body"));
    json_decref(p);
    at_http_test_free(r);
    expect(s, "POST", "/things", NULL, "{}", 200, NULL);
    expect(s, "POST", "/small", NULL, "123456789", 413, "too-large");
    expect(s, "POST", "/small", NULL, "12345678", 200, NULL);

    /* 7. a handler that answers nothing gets a 500 from the server */
    expect(s, "GET", "/silent", NULL, NULL, 500, "internal-error");
    at_http_free(s);
}

static void test_request_context(void **state)
{
    (void)state;
    struct at_http_server *s = mw_server();
    at_http_set_ready(s, 1);
    /* path parameters are decoded */
    struct at_http_req *r = ask(s, "GET", "/named/a%20b", NULL, NULL, 200, NULL);
    assert_string_equal(r->resp_body, "a b");
    at_http_test_free(r);
    /* Authorization parsed once: the bearer token, scheme case-insensitive */
    const char *auth[] = {"Authorization: bearer   tok123  ", NULL};
    r = ask(s, "GET", "/bearer", auth, NULL, 200, NULL);
    assert_string_equal(r->resp_body, "tok123");
    at_http_test_free(r);
    const char *basic[] = {"Authorization: Basic dXNlcg==", NULL};
    r = ask(s, "GET", "/bearer", basic, NULL, 200, NULL);
    assert_string_equal(r->resp_body, "-");
    at_http_test_free(r);
    r = ask(s, "GET", "/query?a=1%2B1&b", NULL, NULL, 200, NULL);
    assert_string_equal(r->resp_body, "1+1|");
    at_http_test_free(r);
    at_http_free(s);
}

static void test_problem_rendering(void **state)
{
    (void)state;
    struct at_http_server *s = mw_server();
    at_http_set_ready(s, 1);
    struct at_http_req *r = ask(s, "GET", "/problem", NULL, NULL, 400, "schema-violation");
    json_t *p = answer_json(r);
    assert_string_equal(json_string_value(json_object_get(p, "title")), at_err_msg(AT_ESCHEMA));
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "/text must be string");
    assert_string_equal(json_string_value(json_object_get(p, "pointer")), "/text");
    assert_string_equal(json_string_value(json_object_get(p, "job")), "job_1");
    assert_true(json_is_true(json_object_get(p, "decorated")));
    json_decref(p);
    at_http_test_free(r);
    /* the route's decoration applies to the middleware's problems too */
    r = ask(s, "POST", "/gw/x", NULL, NULL, 405, "method-not-allowed");
    p = answer_json(r);
    assert_true(json_is_true(json_object_get(p, "decorated")));
    json_decref(p);
    at_http_test_free(r);
    /* the 405 row of the error table */
    assert_int_equal(at_err_http(AT_EMETHOD), 405);
    assert_string_equal(at_err_slug(AT_EMETHOD), "method-not-allowed");
    assert_int_equal(at_err_http(AT_ENOTREADY), 503);
    /* at_http_problem is the one builder: type, title, status, detail */
    p = at_http_problem(AT_ENOENT, "no job \"x\"", NULL);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "urn:atlas:error:not-found");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 404);
    assert_null(json_object_get(p, "pointer"));
    json_decref(p);
    at_http_free(s);
}

/* ---- blocking workers ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, entered;
static pthread_t test_thread, handler_thread;

static void h_blocking(struct at_http_req *r)
{
    pthread_mutex_lock(&gate_mu);
    handler_thread = pthread_self();
    entered++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    at_http_reply_text(r, 201, "text/plain", "done", 4);
}

static const struct at_http_route blk_routes[] = {
    {"POST", "/register", h_blocking, 0, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", "/health", h_a, 0, AT_HTTP_PROBE, 0, NULL},
};

static void test_blocking_workers(void **state)
{
    (void)state;
    struct at_http_cfg cfg = {.blocking_workers = 1, .blocking_queue = 1};
    struct at_http_server *s;
    assert_int_equal(at_http_new(&cfg, &s), 0);
    assert_int_equal(at_http_mount(s, blk_routes, 2, NULL, NULL), 0);
    at_http_set_ready(s, 1);
    test_thread = pthread_self();
    gate_open = 0;
    entered = 0;
    /* one runs (and blocks), one waits in the queue */
    struct at_http_req *r1 = at_http_test_request(s, "POST", "/register", NULL, NULL, 0, 0);
    pthread_mutex_lock(&gate_mu);
    while (entered < 1)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    struct at_http_req *r2 = at_http_test_request(s, "POST", "/register", NULL, NULL, 0, 0);
    assert_false(at_http_test_wait(r1, 0));
    assert_false(at_http_test_wait(r2, 0));
    /* the third finds the queue full: 503 busy with Retry-After */
    struct at_http_req *r3 = ask(s, "POST", "/register", NULL, NULL, 503, "busy");
    expect_header(r3, "Retry-After", "1");
    at_http_test_free(r3);
    /* meanwhile the connection threads serve everything else */
    expect(s, "GET", "/health", NULL, NULL, 200, NULL);
    assert_false(at_http_test_wait(r1, 0));
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    assert_true(at_http_test_wait(r1, 5000));
    assert_true(at_http_test_wait(r2, 5000));
    assert_int_equal(r1->status, 201);
    assert_int_equal(r2->status, 201);
    assert_false(pthread_equal(handler_thread, test_thread));
    at_http_test_free(r1);
    at_http_test_free(r2);
    at_http_free(s);
}

static void test_mount_after_start_refused(void **state)
{
    (void)state;
    struct at_http_cfg cfg = {0};
    struct at_http_server *s;
    assert_int_equal(at_http_new(&cfg, &s), 0);
    struct at_diag d;
    assert_int_equal(at_http_bind(s, "127.0.0.1:0", &d), 0);
    char url[80];
    at_http_base_url(s, url, sizeof(url));
    assert_non_null(strstr(url, "http://127.0.0.1:"));
    assert_int_equal(at_http_start(s, &d), 0);
    assert_int_equal(at_http_mount(s, blk_routes, 2, NULL, &d), AT_ESTATE);
    at_http_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_most_specific),
        cmocka_unit_test(test_router_params),
        cmocka_unit_test(test_router_404_405),
        cmocka_unit_test(test_router_refuses),
        cmocka_unit_test(test_middleware_order),
        cmocka_unit_test(test_request_context),
        cmocka_unit_test(test_problem_rendering),
        cmocka_unit_test(test_blocking_workers),
        cmocka_unit_test(test_mount_after_start_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
