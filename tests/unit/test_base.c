/* Unit tests: base/ (buffers, map, ids, SSE, UTF-8, the event loop,
 * diagnostics, the error table) and the JSON-RPC framing of exec/rpc. */
#include "base/buf.h"
#include "base/clock.h"
#include "base/diag.h"
#include "base/err.h"
#include "base/id.h"
#include "base/loop.h"
#include "base/map.h"
#include "base/sse.h"
#include "base/str.h"
#include "base/utf8.h"
#include "mcp/rpc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void test_err_table(void **state)
{
    (void)state;
    assert_string_equal(at_err_slug(AT_ESCHEMA), "schema-violation");
    assert_int_equal(at_err_http(AT_ENOENT), 404);
    assert_int_equal(at_err_http(AT_E2BIG), 413);
    assert_int_equal(at_err_from_slug("timeout"), AT_ETIMEDOUT);
    assert_int_equal(at_err_from_slug("nonsense"), AT_EINTERNAL);
    assert_string_equal(at_err_slug(-999), "internal-error");
    /* every code has a slug that maps back to a code with the same slug */
    for (int c = -2; c > -2 - AT__IDX_END; c--)
        assert_string_equal(at_err_slug(at_err_from_slug(at_err_slug(c))), at_err_slug(c));
}

static void test_buf_bounded(void **state)
{
    (void)state;
    struct at_buf b;
    at_buf_init(&b, 10);
    assert_int_equal(at_buf_puts(&b, "hello"), 0);
    assert_int_equal(at_buf_printf(&b, "%d", 12345), 0);
    assert_string_equal(at_buf_str(&b), "hello12345");
    assert_int_equal(at_buf_putc(&b, 'x'), AT_E2BIG); /* the maximum holds */
    assert_int_equal(b.len, 10);
    at_buf_consume(&b, 5);
    assert_string_equal(at_buf_str(&b), "12345");
    size_t len;
    char *p = at_buf_detach(&b, &len);
    assert_int_equal(len, 5);
    free(p);
    assert_string_equal(at_buf_str(&b), "");
    at_buf_release(&b);
}

static void test_map(void **state)
{
    (void)state;
    struct at_map m;
    at_map_init(&m);
    char key[32];
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        assert_null(at_map_put(&m, key, (void *)(i + 1)));
    }
    for (long i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "k%ld", i);
        assert_ptr_equal(at_map_del(&m, key), (void *)(i + 1));
    }
    assert_int_equal(m.len, 2500);
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        assert_ptr_equal(at_map_get(&m, key), i % 2 ? (void *)(i + 1) : NULL);
    }
    size_t it = 0, n = 0;
    while (at_map_next(&m, &it, NULL, NULL))
        n++;
    assert_int_equal(n, 2500);
    at_map_release(&m);
}

static void test_ids_sort(void **state)
{
    (void)state;
    char prev[AT_ID_MAX] = "", cur[AT_ID_MAX];
    for (int i = 0; i < 10000; i++) {
        at_id_new("job", cur);
        assert_int_equal(strlen(cur), 30);
        assert_true(strcmp(prev, cur) < 0);
        memcpy(prev, cur, sizeof(cur));
    }
    char tok[64];
    at_token_new(24, tok, sizeof(tok));
    assert_int_equal(strlen(tok), 32);
}

struct sse_seen {
    int n;
    char event[8][32];
    char data[8][64];
    char id[8][16];
};

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    struct sse_seen *s = arg;
    snprintf(s->event[s->n], 32, "%s", event);
    snprintf(s->data[s->n], 64, "%.*s", (int)len, data);
    snprintf(s->id[s->n], 16, "%s", id);
    s->n++;
    return 0;
}

static void test_sse(void **state)
{
    (void)state;
    struct sse_seen seen;
    memset(&seen, 0, sizeof(seen));
    struct at_sse_parser p;
    at_sse_parser_init(&p, 1024, on_event, &seen);
    const char *stream = "\xef\xbb\xbf: comment\r\nevent: progress\r\nid: 7\r\ndata: a\r\ndata: b"
                         "\r\n\r\ndata:no-space\n\nretry: 10\n\n";
    /* feed one byte at a time: framing must not depend on chunking */
    for (size_t i = 0; stream[i]; i++)
        assert_int_equal(at_sse_feed(&p, stream + i, 1), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.event[0], "progress");
    assert_string_equal(seen.data[0], "a\nb");
    assert_string_equal(seen.id[0], "7");
    assert_string_equal(seen.event[1], "message");
    assert_string_equal(seen.data[1], "no-space");
    at_sse_parser_release(&p);

    struct at_buf out;
    at_buf_init(&out, 1024);
    assert_int_equal(at_sse_write(&out, "state", "3", "x\ny", 3), 0);
    assert_string_equal(at_buf_str(&out), "id: 3\nevent: state\ndata: x\ndata: y\n\n");
    at_buf_release(&out);

    at_sse_parser_init(&p, 16, on_event, &seen);
    assert_int_equal(at_sse_feed(&p, "data: 0123456789abcdefghij\n", 27), AT_E2BIG);
    at_sse_parser_release(&p);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(at_utf8_valid_prefix("h\xc3\xa9llo", 6), 6);
    assert_int_equal(at_utf8_valid_prefix("ab\xff", 3), 2);
    assert_int_equal(at_utf8_valid_prefix("\xed\xa0\x80", 3), 0); /* surrogate */
    assert_int_equal(at_utf8_valid_prefix("\xc0\xaf", 2), 0);     /* overlong */
    char *s = at_utf8_sanitize("a\xff"
                               "b\0c",
                               5);
    assert_string_equal(s, "a\xef\xbf\xbd"
                           "bc");
    free(s);
}

static void test_diag(void **state)
{
    (void)state;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_diag_set(&d, AT_EINVAL, "agent.yaml", 3, 5, "bad %s", "key"), AT_EINVAL);
    char out[256];
    assert_string_equal(at_diag_format(&d, out, sizeof(out)), "agent.yaml:3:5: bad key");
    at_diag_set_pointer(&d, "/a/b");
    assert_string_equal(at_diag_format(&d, out, sizeof(out)), "agent.yaml:3:5: bad key (at /a/b)");
}

/* ---- the loop ---- */

struct loop_state {
    int n;
    int posts;
};

static void on_timer(struct at_loop *loop, struct at_timer *t)
{
    struct loop_state *s = t->arg;
    s->n++;
    if (s->n == 3)
        at_loop_stop(loop);
}

static void on_post(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct loop_state *s = arg;
    s->posts++;
}

static void test_loop_timers_and_posts(void **state)
{
    (void)state;
    struct loop_state s;
    memset(&s, 0, sizeof(s));
    struct at_loop *loop = at_loop_new(NULL);
    assert_non_null(loop);
    struct at_timer t[4];
    for (int i = 0; i < 4; i++)
        at_timer_init(&t[i]);
    at_loop_timer_start(loop, &t[0], 30, on_timer, &s);
    at_loop_timer_start(loop, &t[1], 10, on_timer, &s);
    at_loop_timer_start(loop, &t[2], 20, on_timer, &s);
    at_loop_timer_start(loop, &t[3], 5, on_timer, &s);
    at_loop_timer_stop(loop, &t[3]); /* stopped timers never fire */
    assert_false(at_timer_armed(&t[3]));
    for (int i = 0; i < 100; i++)
        at_loop_post(loop, on_post, &s);
    int64_t t0 = at_now_ms();
    assert_int_equal(at_loop_run(loop), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.posts, 100);
    assert_true(at_now_ms() - t0 >= 25);
    at_loop_free(loop);
}

/* ---- JSON-RPC framing ---- */

static void test_rpc_framing(void **state)
{
    (void)state;
    struct at_rpc_reader r;
    at_rpc_reader_init(&r, 64);
    const char *in =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\n{\"jsonrpc\":\"2.0\",\"meth";
    assert_int_equal(at_rpc_reader_feed(&r, in, strlen(in)), 0);
    const char *line;
    size_t len;
    assert_int_equal(at_rpc_reader_next(&r, &line, &len), 1);
    assert_int_equal(len, strlen("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"));
    assert_int_equal(at_rpc_reader_next(&r, &line, &len), 0); /* the rest is partial */
    const char *more = "od\":\"notifications/progress\"}\n";
    assert_int_equal(at_rpc_reader_feed(&r, more, strlen(more)), 0);
    assert_int_equal(at_rpc_reader_next(&r, &line, &len), 1);
    struct at_rpc_msg m;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_rpc_parse(line, len, &m, &d), 0);
    assert_int_equal(m.kind, AT_RPC_NOTIFICATION);
    assert_string_equal(m.method, "notifications/progress");
    at_rpc_msg_release(&m);
    /* a line longer than the limit */
    char big[200];
    memset(big, 'x', sizeof(big));
    at_rpc_reader_feed(&r, big, sizeof(big));
    assert_int_equal(at_rpc_reader_next(&r, &line, &len), AT_E2BIG);
    at_rpc_reader_release(&r);

    const char *bad[] = {"garbage",
                         "[1]",
                         "{}",
                         "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":1}",
                         "{\"jsonrpc\":\"2.0\",\"id\":1}",
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{\"code\":1}}",
                         "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"no code\"}}",
                         "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(at_rpc_parse(bad[i], strlen(bad[i]), &m, &d), AT_EPROTO);
    const char *err =
        "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32601,\"message\":\"no\"}}";
    assert_int_equal(at_rpc_parse(err, strlen(err), &m, &d), 0);
    assert_int_equal(m.kind, AT_RPC_ERROR);
    assert_int_equal(m.error_code, -32601);
    assert_int_equal(at_rpc_id_int(m.id), -1);
    at_rpc_msg_release(&m);
}

static void test_parse_range(void **state)
{
    (void)state;
    long long a = 7, b = 7;
    assert_int_equal(at_parse_range("0-1234", &a, &b), 0);
    assert_true(a == 0 && b == 1234);
    assert_int_equal(at_parse_range("0--1", &a, &b), 0); /* nothing uploaded yet */
    assert_true(a == 0 && b == -1);
    assert_int_equal(at_parse_range(" 5-9\r\n", &a, &b), 0);
    assert_true(a == 5 && b == 9);
    const char *bad[] = {"", "a-1", "1-", "1-2x", "-1-2", "1 2", "99999999999999999999-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(at_parse_range(bad[i], &a, &b), AT_EINVAL);
}

static void test_header_value(void **state)
{
    (void)state;
    char v[16] = "untouched";
    const char *l = "Content-Type:  text/event-stream \r\n";
    assert_int_equal(at_header_value(l, strlen(l), "content-type", v, sizeof(v)), 1);
    assert_string_equal(v, "text/event-stre"); /* truncated to the buffer */
    l = "Retry-After: 2\r\n";
    assert_int_equal(at_header_value(l, strlen(l), "retry-after", v, sizeof(v)), 1);
    assert_string_equal(v, "2");
    /* another header whose name starts the same is not it */
    l = "Retry-After-Ms: 5\r\n";
    assert_int_equal(at_header_value(l, strlen(l), "retry-after", v, sizeof(v)), 0);
    assert_string_equal(v, "2");
    l = "Location:\r\n";
    assert_int_equal(at_header_value(l, strlen(l), "location", v, sizeof(v)), 1);
    assert_string_equal(v, "");
    assert_int_equal(at_header_value("Loc", 3, "location", v, sizeof(v)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table),   cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_map),         cmocka_unit_test(test_ids_sort),
        cmocka_unit_test(test_sse),         cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_diag),        cmocka_unit_test(test_loop_timers_and_posts),
        cmocka_unit_test(test_rpc_framing), cmocka_unit_test(test_header_value),
        cmocka_unit_test(test_parse_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
