/*
 * test_llm_gateway.c - the gateway in-process against a scripted fake
 * upstream on loopback (no llama-server needed): answers and streams,
 * usage and cost, 429 + Retry-After retry, fallback, the concurrency limit,
 * the chain budget, cancellation, shutdown with calls in flight, discovery
 * and MCP sampling.  Runs under ASan/UBSan in `make asan`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "contract/yaml.h"
#include "json/json.h"
#include "llm/gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a scripted upstream: one thread per connection, keep-alive ---- */

struct step {
    int status; /* 0: the default answer */
    const char *retry_after;
    int delay_ms;
    int plain;         /* answer a streamed request with a plain chat.completion */
    const char *usage; /* the answer's usage object, NULL: the default */
    const char *raw;   /* the whole answer's body instead (status 200) */
};

static struct {
    pthread_mutex_t mu;
    int port;
    int fd;
    struct step script[64];
    int nscript, next;
    int inflight, peak, requests;
    int default_delay_ms;
    char last_model[64];
} up = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char *answer =
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"%s\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Hello there.\"},\"finish_reason\":"
    "\"stop\"}],\"usage\":%s}";
static const char *default_usage =
    "{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}";

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        size_t hlen = (size_t)(end - buf) + 4, clen = 0;
        char *cl = strcasestr(buf, "content-length:");
        if (cl && cl < end)
            clen = strtoul(cl + 15, NULL, 10);
        if (len < hlen + clen)
            continue;
        int models = strncmp(buf, "GET /v1/models", 14) == 0;
        int stream = strstr(end, "\"stream\":true") != NULL;
        char model[64] = "m?";
        char *m = strstr(end, "\"model\":\"");
        if (m)
            sscanf(m + 9, "%63[^\"]", model);
        struct step st = {0};
        pthread_mutex_lock(&up.mu);
        up.requests++;
        snprintf(up.last_model, sizeof(up.last_model), "%s", model);
        if (!models && up.next < up.nscript)
            st = up.script[up.next++];
        if (!st.delay_ms)
            st.delay_ms = up.default_delay_ms;
        up.inflight++;
        if (up.inflight > up.peak)
            up.peak = up.inflight;
        pthread_mutex_unlock(&up.mu);
        if (st.delay_ms)
            usleep((useconds_t)st.delay_ms * 1000);
        char out[8192];
        int n;
        if (models) {
            const char *b = "{\"data\":[{\"id\":\"found-1\"},{\"id\":\"found-2\"}]}";
            n = snprintf(out, sizeof(out),
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         strlen(b), b);
        } else if (st.status && st.status != 200) {
            const char *b = "{\"error\":{\"message\":\"scripted\"}}";
            char ra[64] = "";
            if (st.retry_after)
                snprintf(ra, sizeof(ra), "Retry-After: %s\r\n", st.retry_after);
            n = snprintf(out, sizeof(out),
                         "HTTP/1.1 %d X\r\n%sContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         st.status, ra, strlen(b), b);
        } else if (st.raw) {
            n = snprintf(out, sizeof(out),
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         strlen(st.raw), st.raw);
        } else if (stream && !st.plain) {
            const char *ev[] = {
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
                ("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},"
                 "\"finish_reason\":\"stop\"}]}\n\n"),
                "data: "
                "{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n",
                "data: [DONE]\n\n"};
            n = snprintf(out, sizeof(out),
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n");
            for (int i = 0; i < 4; i++)
                n += snprintf(out + n, sizeof(out) - (size_t)n, "%zx\r\n%s\r\n", strlen(ev[i]),
                              ev[i]);
            n += snprintf(out + n, sizeof(out) - (size_t)n, "0\r\n\r\n");
        } else {
            char b[1024];
            snprintf(b, sizeof(b), answer, model, st.usage ? st.usage : default_usage);
            n = snprintf(out, sizeof(out),
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         strlen(b), b);
        }
        pthread_mutex_lock(&up.mu);
        up.inflight--;
        pthread_mutex_unlock(&up.mu);
        send_all(fd, out, (size_t)n);
        memmove(buf, buf + hlen + clen, len - hlen - clen);
        len -= hlen + clen;
    }
    close(fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(up.fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t t;
        pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static void up_start(void)
{
    up.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(up.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(up.fd, 128), 0);
    socklen_t al = sizeof(a);
    getsockname(up.fd, (struct sockaddr *)&a, &al);
    up.port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, accept_main, NULL);
    pthread_detach(t);
}

static void up_script(const struct step *s, int n, int default_delay_ms)
{
    pthread_mutex_lock(&up.mu);
    if (n)
        memcpy(up.script, s, sizeof(*s) * (size_t)n);
    up.nscript = n;
    up.next = 0;
    up.peak = up.inflight = up.requests = 0;
    up.default_delay_ms = default_delay_ms;
    pthread_mutex_unlock(&up.mu);
}

/* ---- a gateway over it ---- */

static struct at_llm *gw_new(const char *extra, long long budget)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "models:\n  backends:\n"
             "    one: {base_url: \"http://127.0.0.1:%d/v1\", models: [m1], max_concurrency: 2,"
             " prices: {m1: {input_per_mtok: 1000000, output_per_mtok: 2000000}}}\n"
             "    two: {base_url: \"http://127.0.0.1:%d/v1\", models: [m2]}\n"
             "    disc: {base_url: \"http://127.0.0.1:%d/v1\"}\n"
             "  tiers: {fast: [m1, m2], powerful: [found-2]}\n"
             "  retry: {max_retries: 1, max_retry_after: 2}\n"
             "  health: {failure_threshold: 100}\n%s",
             up.port, up.port, up.port, extra ? extra : "");
    struct at_yaml_doc doc;
    memset(&doc, 0, sizeof(doc));
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_yaml_load_string(&doc, "t.yaml", yaml, strlen(yaml), &d), 0);
    struct at_llm_config c;
    memset(&c, 0, sizeof(c));
    if (at_llm_config_from_json(&c, &doc, json_object_get(doc.root, "models"), &d))
        fail_msg("%s", d.msg);
    at_yaml_doc_release(&doc);
    c.max_tokens_per_chain = budget;
    struct at_llm_cfg cfg = {.config = &c};
    struct at_llm *g = NULL;
    assert_int_equal(at_llm_new(&cfg, &g, &d), 0);
    at_llm_config_release(&c);
    return g;
}

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int code, status;
    char model[64];
    json_t *body;
    json_t *attempts;
    struct at_llm_usage usage;
    double cost;
    int chunks;
    char text[256];
};

static void w_init(struct waiter *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void w_release(struct waiter *w)
{
    json_decref(w->body);
    json_decref(w->attempts);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_chunk(void *arg, const char *json, size_t len)
{
    struct waiter *w = arg;
    json_t *j;
    assert_int_equal(at_json_parse(json, len, 0, &j, NULL), 0);
    const char *t = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta"), "content"));
    pthread_mutex_lock(&w->mu);
    w->chunks++;
    if (t)
        strncat(w->text, t, sizeof(w->text) - strlen(w->text) - 1);
    pthread_mutex_unlock(&w->mu);
    json_decref(j);
}

static void on_done(void *arg, const struct at_llm_result *r, json_t *body)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->code = r->code;
    w->status = r->status;
    snprintf(w->model, sizeof(w->model), "%s", r->model ? r->model : "");
    w->body = json_incref(body);
    w->attempts = json_incref(r->attempts);
    w->usage = r->usage;
    w->cost = r->cost_usd;
    w->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void w_wait(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    int64_t until = at_now_ms() + 10000;
    while (!w->done && at_now_ms() < until) {
        pthread_mutex_unlock(&w->mu);
        usleep(2000);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    assert_true(w->done);
}

static json_t *js(const char *text)
{
    json_t *v = NULL;
    assert_int_equal(at_json_parse(text, strlen(text), 0, &v, NULL), 0);
    return v;
}

static int submit(struct at_llm *g, const char *body, const struct at_llm_caller *caller,
                  struct waiter *w, uint64_t *id, struct at_diag *d)
{
    json_t *b = js(body);
    struct at_llm_request req = {.body = b,
                                 .caller = caller,
                                 .override_tier = -1,
                                 .on_chunk = on_chunk,
                                 .on_done = on_done,
                                 .arg = w};
    at_diag_clear(d);
    int rc = at_llm_submit(g, &req, id, d);
    json_decref(b);
    return rc;
}

static const char *MSG = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

static int nobs;
static void observer(void *arg, const struct at_llm_result *r)
{
    (void)arg;
    (void)r;
    __atomic_add_fetch(&nobs, 1, __ATOMIC_SEQ_CST);
}

/* A failed call names one error everywhere (issue 9): the result's code
 * and status, the problem's type URN, title and status, and the OpenAI
 * error member's code are all code's row of base/err.h. */
static void assert_agrees(const struct waiter *w, int code)
{
    assert_int_equal(w->code, code);
    assert_int_equal(w->status, at_err_http(code));
    char type[96];
    snprintf(type, sizeof(type), "urn:atlas:error:%s", at_err_slug(code));
    assert_non_null(w->body);
    assert_string_equal(json_string_value(json_object_get(w->body, "type")), type);
    assert_string_equal(json_string_value(json_object_get(w->body, "title")), at_err_msg(code));
    assert_int_equal(json_integer_value(json_object_get(w->body, "status")), at_err_http(code));
    json_t *e = json_object_get(w->body, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), at_err_slug(code));
    assert_non_null(json_string_value(json_object_get(e, "message")));
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        at_err_http(code) == 429   ? "rate_limit_exceeded"
                        : at_err_http(code) >= 500 ? "server_error"
                                                   : "invalid_request_error");
}

static void test_answer_and_stream(void **state)
{
    (void)state;
    up_script(NULL, 0, 0);
    struct at_llm *g = gw_new(NULL, 0);
    at_llm_set_observer(g, observer, NULL);
    struct waiter w;
    w_init(&w);
    struct at_diag d;
    char body[256];
    snprintf(body, sizeof(body), "{\"model\":\"atlas:fast\",%s}", MSG);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_int_equal(w.code, 0);
    assert_string_equal(w.model, "m1");
    assert_int_equal(w.usage.tokens_in, 12);
    assert_int_equal(w.usage.tokens_out, 6);
    assert_true(w.cost > 23.99 && w.cost < 24.01); /* 12*1 + 6*2 at a million per Mtok */
    json_t *meta = json_object_get(w.body, "atlas");
    assert_string_equal(json_string_value(json_object_get(meta, "tier")), "fast");
    assert_string_equal(json_string_value(json_object_get(meta, "backend")), "one");
    w_release(&w);
    /* streamed */
    w_init(&w);
    snprintf(body, sizeof(body), "{\"model\":\"m2\",\"stream\":true,%s}", MSG);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_int_equal(w.code, 0);
    assert_string_equal(w.text, "Hello");
    assert_int_equal(w.chunks, 2); /* the usage chunk is dropped: not asked for */
    assert_int_equal(w.usage.tokens_in, 7);
    assert_int_equal(w.usage.tokens_out, 2);
    assert_null(w.body);
    w_release(&w);
    /* a backend that ignores "stream": one chunk, then its usage */
    struct step plain[] = {{200, NULL, 0, 1, NULL, NULL}};
    up_script(plain, 1, 0);
    w_init(&w);
    snprintf(body, sizeof(body), "{\"model\":\"m2\",\"stream\":true,%s}", MSG);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_int_equal(w.code, 0);
    assert_string_equal(w.text, "Hello there.");
    assert_int_equal(w.chunks, 1);
    assert_int_equal(w.usage.tokens_out, 6);
    w_release(&w);
    /* discovery found the models of "disc" */
    json_t *models = at_llm_models_json(g);
    char *s = at_json_dumps(models);
    assert_non_null(strstr(s, "found-2"));
    free(s);
    json_decref(models);
    w_init(&w);
    snprintf(body, sizeof(body), "{\"model\":\"atlas:powerful\",%s}", MSG);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_string_equal(w.model, "found-2");
    w_release(&w);
    at_llm_free(g);
    assert_int_equal(__atomic_load_n(&nobs, __ATOMIC_SEQ_CST), 4);
}

static void test_retry_and_fallback(void **state)
{
    (void)state;
    struct step s[] = {{429, "0", 0, 0, NULL, NULL}, {200, NULL, 0, 0, NULL, NULL}};
    up_script(s, 2, 0);
    struct at_llm *g = gw_new(NULL, 0);
    struct waiter w;
    w_init(&w);
    struct at_diag d;
    char body[256];
    snprintf(body, sizeof(body), "{\"model\":\"atlas:fast\",%s}", MSG);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_int_equal(w.code, 0);
    assert_string_equal(w.model, "m1");
    assert_int_equal(json_array_size(w.attempts), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(w.attempts, 0), "status")),
                     429);
    w_release(&w);
    /* 500 on m1: straight to m2 */
    struct step s2[] = {{500, NULL, 0, 0, NULL, NULL}};
    up_script(s2, 1, 0);
    w_init(&w);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_string_equal(w.model, "m2");
    w_release(&w);
    /* every candidate fails: 503 with the attempts */
    struct step s3[] = {{500, NULL, 0, 0, NULL, NULL}, {502, NULL, 0, 0, NULL, NULL}};
    up_script(s3, 2, 0);
    w_init(&w);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_int_equal(w.code, AT_EBUSY);
    assert_int_equal(w.status, 503);
    assert_int_equal(json_array_size(json_object_get(w.body, "attempts")), 2);
    assert_non_null(json_object_get(json_object_get(w.body, "error"), "message"));
    w_release(&w);
    /* a 200 that is not a chat completion: one attempt, then the fallback */
    struct step s5[] = {{200, NULL, 0, 0, NULL, "<html>oops</html>"}};
    up_script(s5, 1, 0);
    w_init(&w);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_int_equal(w.code, 0);
    assert_string_equal(w.model, "m2");
    assert_int_equal(json_array_size(w.attempts), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(w.attempts, 0), "error")),
                        "not a chat completion");
    w_release(&w);
    /* a 400 is the client's: no fallback */
    struct step s4[] = {{400, NULL, 0, 0, NULL, NULL}};
    up_script(s4, 1, 0);
    w_init(&w);
    assert_int_equal(submit(g, body, NULL, &w, NULL, &d), 0);
    w_wait(&w);
    assert_int_equal(w.status, 400);
    assert_int_equal(json_array_size(w.attempts), 1);
    w_release(&w);
    at_llm_free(g);
}

static void test_concurrency_limit(void **state)
{
    (void)state;
    up_script(NULL, 0, 20);
    struct at_llm *g = gw_new(NULL, 0);
    enum { N = 24 };
    struct waiter w[N];
    struct at_diag d;
    char body[256];
    snprintf(body, sizeof(body), "{\"model\":\"m1\",%s}", MSG);
    for (int i = 0; i < N; i++) {
        w_init(&w[i]);
        assert_int_equal(submit(g, body, NULL, &w[i], NULL, &d), 0);
    }
    for (int i = 0; i < N; i++) {
        w_wait(&w[i]);
        assert_int_equal(w[i].code, 0);
        assert_string_equal(w[i].model, "m1"); /* queued, not fallen back */
        w_release(&w[i]);
    }
    assert_int_equal(up.peak, 2);
    json_t *st = at_llm_stats_json(g);
    json_t *one = json_array_get(json_object_get(st, "backends"), 0);
    json_t *c = json_object_get(one, "concurrency");
    assert_int_equal(json_integer_value(json_object_get(c, "peak")), 2);
    assert_true(json_integer_value(json_object_get(c, "queued")) >= N - 2);
    assert_int_equal(json_integer_value(json_object_get(c, "in_use")), 0);
    json_decref(st);
    at_llm_free(g);
}

static void test_budget(void **state)
{
    (void)state;
    up_script(NULL, 0, 0);
    struct at_llm *g = gw_new(NULL, 60);
    struct at_llm_caller caller = {.agent_tier = 0, .override_allowed = 1};
    snprintf(caller.job_id, sizeof(caller.job_id), "job_1");
    snprintf(caller.root_id, sizeof(caller.root_id), "job_root");
    snprintf(caller.agent, sizeof(caller.agent), "a@1.0.0");
    struct at_diag d;
    char body[256];
    snprintf(body, sizeof(body), "{%s}", MSG);
    int ok = 0, rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++) {
        struct waiter w;
        w_init(&w);
        rc = submit(g, body, &caller, &w, NULL, &d);
        if (rc == 0) {
            w_wait(&w);
            assert_int_equal(w.code, 0);
            assert_string_equal(w.model, "m1"); /* the agent's preference: fast */
            ok++;
        }
        w_release(&w);
    }
    assert_int_equal(rc, AT_ELIMIT);
    assert_int_equal(ok, 3); /* 18 tokens a call: 54 used, the next would pass 60 */
    assert_non_null(strstr(d.msg, "execution.resource_budget.max_tokens_per_chain (60 tokens)"));
    assert_non_null(strstr(d.msg, "job_root"));
    /* max_tokens is capped to what is left */
    at_llm_free(g);
}

static void test_cancel_and_shutdown(void **state)
{
    (void)state;
    up_script(NULL, 0, 1500);
    struct at_llm *g = gw_new(NULL, 0);
    struct waiter w, w2;
    w_init(&w);
    w_init(&w2);
    struct at_diag d;
    char body[256];
    snprintf(body, sizeof(body), "{\"model\":\"m2\",%s}", MSG);
    uint64_t id = 0;
    assert_int_equal(submit(g, body, NULL, &w, &id, &d), 0);
    assert_int_equal(submit(g, body, NULL, &w2, NULL, &d), 0);
    usleep(100000);
    int64_t t0 = at_now_ms();
    at_llm_cancel(g, id);
    w_wait(&w);
    assert_true(at_now_ms() - t0 < 1000);
    assert_agrees(&w, AT_ECANCELED);
    at_llm_free(g); /* w2 still in flight: ends too */
    assert_true(w2.done);
    assert_agrees(&w2, AT_ECANCELED);
    w_release(&w);
    w_release(&w2);
}

static void test_refusals(void **state)
{
    (void)state;
    up_script(NULL, 0, 0);
    struct at_llm *g = gw_new(NULL, 0);
    struct waiter w;
    w_init(&w);
    struct at_diag d;
    assert_int_equal(submit(g, "{\"messages\":[]}", NULL, &w, NULL, &d), AT_EINVAL);
    assert_string_equal(d.pointer, "/messages");
    assert_int_equal(submit(g, "{\"messages\":[{\"content\":\"x\"}]}", NULL, &w, NULL, &d),
                     AT_EINVAL);
    assert_string_equal(d.pointer, "/messages/0");
    assert_int_equal(
        submit(g, "{\"messages\":[{\"role\":\"user\"}],\"max_tokens\":0}", NULL, &w, NULL, &d),
        AT_EINVAL);
    assert_string_equal(d.pointer, "/max_tokens");
    assert_int_equal(
        submit(g, "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\"}]}", NULL, &w, NULL, &d),
        AT_ENOENT);
    assert_false(w.done);
    w_release(&w);
    at_llm_free(g);
}

static struct at_llm *gw_from_yaml(const char *yaml)
{
    struct at_yaml_doc doc;
    memset(&doc, 0, sizeof(doc));
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_yaml_load_string(&doc, "t.yaml", yaml, strlen(yaml), &d), 0);
    struct at_llm_config c;
    memset(&c, 0, sizeof(c));
    if (at_llm_config_from_json(&c, &doc, json_object_get(doc.root, "models"), &d))
        fail_msg("%s", d.msg);
    at_yaml_doc_release(&doc);
    struct at_llm_cfg cfg = {.config = &c};
    struct at_llm *g = NULL;
    assert_int_equal(at_llm_new(&cfg, &g, &d), 0);
    at_llm_config_release(&c);
    return g;
}

/* A port nothing listens on (bound, then closed): connections are refused. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

static void call_and_wait(struct at_llm *g, const char *model, struct waiter *w)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"model\":\"%s\",%s}", model, MSG);
    struct at_diag d;
    w_init(w);
    assert_int_equal(submit(g, body, NULL, w, NULL, &d), 0);
    w_wait(w);
}

static void test_error_agreement(void **state)
{
    (void)state;
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "models:\n  backends:\n"
             "    one: {base_url: \"http://127.0.0.1:%d/v1\", models: [m1]}\n"
             "    two: {base_url: \"http://127.0.0.1:%d/v1\", models: [m2]}\n"
             "    dead: {base_url: \"http://127.0.0.1:%d/v1\", models: [m3]}\n"
             "    slow: {base_url: \"http://127.0.0.1:%d/v1\", models: [m4], timeout: 0.3}\n"
             "  tiers: {fast: [m1, m2]}\n"
             "  retry: {max_retries: 1, max_retry_after: 2}\n"
             "  health: {failure_threshold: 1, probe_interval: 600}\n",
             up.port, up.port, dead_port(), up.port);
    up_script(NULL, 0, 0);
    struct at_llm *g = gw_from_yaml(yaml);
    struct waiter w;
    /* the backend's connection is refused, then it is down */
    call_and_wait(g, "m3", &w);
    assert_agrees(&w, AT_EBUSY);
    w_release(&w);
    call_and_wait(g, "m3", &w);
    assert_agrees(&w, AT_EBUSY);
    assert_string_equal(json_string_value(json_object_get(json_array_get(w.attempts, 0), "error")),
                        "backend down");
    w_release(&w);
    /* rate limited on every candidate, after the retries */
    struct step rl[] = {{429, "0", 0, 0, NULL, NULL},
                        {429, "0", 0, 0, NULL, NULL},
                        {429, "0", 0, 0, NULL, NULL},
                        {429, "0", 0, 0, NULL, NULL}};
    up_script(rl, 4, 0);
    call_and_wait(g, "atlas:fast", &w);
    assert_agrees(&w, AT_ELIMIT);
    assert_int_equal(json_array_size(w.attempts), 4);
    w_release(&w);
    /* requests the backend refuses: by its status, which is kept */
    struct step bad[] = {{400, NULL, 0, 0, NULL, NULL}};
    up_script(bad, 1, 0);
    call_and_wait(g, "m1", &w);
    assert_agrees(&w, AT_EINVAL);
    assert_int_equal(json_integer_value(json_object_get(w.body, "upstream_status")), 400);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(w.body, "upstream"), "error"), "message")),
        "scripted");
    w_release(&w);
    struct step denied[] = {{401, NULL, 0, 0, NULL, NULL}};
    up_script(denied, 1, 0);
    call_and_wait(g, "m1", &w);
    assert_agrees(&w, AT_EPERM);
    assert_int_equal(json_integer_value(json_object_get(w.body, "upstream_status")), 401);
    w_release(&w);
    struct step gone[] = {{404, NULL, 0, 0, NULL, NULL}};
    up_script(gone, 1, 0);
    call_and_wait(g, "m1", &w);
    assert_agrees(&w, AT_ENOENT);
    w_release(&w);
    /* the backend's timeout */
    struct step slow[] = {{200, NULL, 1000, 0, NULL, NULL}};
    up_script(slow, 1, 0);
    call_and_wait(g, "m4", &w);
    assert_agrees(&w, AT_ETIMEDOUT);
    w_release(&w);
    /* refusals at submit come with no body: HTTP renders them with
     * at_llm_problem, which agrees by construction */
    const int refusals[] = {AT_EINVAL, AT_ENOENT, AT_ELIMIT, AT_ESTATE};
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        struct waiter r = {.code = refusals[i], .status = at_err_http(refusals[i])};
        r.body = at_llm_problem(refusals[i], "why", "/messages");
        assert_agrees(&r, refusals[i]);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r.body, "error"), "param")),
            "/messages");
        json_decref(r.body);
    }
    at_llm_free(g);
}

/* Usage near 2^63 (issue 9): a backend reporting INT64_MAX tokens is not
 * believed; the gateway counts its estimate, its sums never wrap, and the
 * chain budget still stops the chain. */
static void test_huge_usage(void **state)
{
    (void)state;
    static const char *huge =
        "{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":9223372036854775807}";
    struct step s[16];
    for (int i = 0; i < 16; i++)
        s[i] = (struct step){200, NULL, 0, 0, huge, NULL};
    up_script(s, 16, 0);
    struct at_llm *g = gw_new(NULL, 60);
    struct at_llm_caller caller = {.agent_tier = 0, .override_allowed = 1};
    snprintf(caller.job_id, sizeof(caller.job_id), "job_2");
    snprintf(caller.root_id, sizeof(caller.root_id), "job_hugeroot");
    snprintf(caller.agent, sizeof(caller.agent), "a@1.0.0");
    struct at_diag d;
    char body[256];
    snprintf(body, sizeof(body), "{%s}", MSG);
    int ok = 0, rc = 0;
    for (int i = 0; i < 16 && rc == 0; i++) {
        struct waiter w;
        w_init(&w);
        rc = submit(g, body, &caller, &w, NULL, &d);
        if (rc == 0) {
            w_wait(&w);
            assert_int_equal(w.code, 0);
            assert_int_equal(w.usage.reported, 0);
            assert_int_equal(w.usage.out_of_range, 1);
            assert_int_equal(w.usage.tokens_in, 5);  /* 4 per message + "Hi" */
            assert_int_equal(w.usage.tokens_out, 3); /* "Hello there." */
            assert_true(w.cost > 10.99 && w.cost < 11.01);
            assert_false(
                json_is_true(json_object_get(json_object_get(w.body, "atlas"), "usage_reported")));
            ok++;
        }
        w_release(&w);
    }
    assert_int_equal(rc, AT_ELIMIT);
    assert_int_equal(ok, 7); /* 8 tokens a call by the estimate: the 8th would pass 60 */
    json_t *st = at_llm_stats_json(g);
    json_t *one = json_array_get(json_object_get(st, "backends"), 0);
    char *text = at_json_dumps(one);
    assert_null(strstr(text, "-")); /* no counter wrapped negative */
    free(text);
    json_decref(st);
    at_llm_free(g);
}

struct sample_wait {
    int done, code;
    char text[64];
};

static void on_sample(void *arg, int code, const char *message, json_t *result)
{
    (void)message;
    struct sample_wait *s = arg;
    s->code = code;
    const char *t = json_string_value(json_object_get(json_object_get(result, "content"), "text"));
    snprintf(s->text, sizeof(s->text), "%s", t ? t : "");
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
}

static void test_sampling(void **state)
{
    (void)state;
    up_script(NULL, 0, 0);
    struct at_llm *g = gw_new(NULL, 0);
    json_t *p =
        js("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":"
           "\"Hi\"}}],\"maxTokens\":20,\"modelPreferences\":{\"hints\":[{\"name\":\"m2\"}]}}");
    struct sample_wait s = {0};
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_llm_sample(g, NULL, p, on_sample, &s, &d), 0);
    for (int i = 0; i < 5000 && !__atomic_load_n(&s.done, __ATOMIC_ACQUIRE); i++)
        usleep(1000);
    assert_int_equal(s.code, 0);
    assert_string_equal(s.text, "Hello there.");
    assert_string_equal(up.last_model, "m2");
    json_decref(p);
    p = js("{\"messages\":[]}");
    assert_int_equal(at_llm_sample(g, NULL, p, on_sample, &s, &d), AT_EINVAL);
    json_decref(p);
    at_llm_free(g);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the fake upstream writes to clients that timed out */
    up_start();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_and_stream),
        cmocka_unit_test(test_retry_and_fallback),
        cmocka_unit_test(test_concurrency_limit),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_cancel_and_shutdown),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_error_agreement),
        cmocka_unit_test(test_huge_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
