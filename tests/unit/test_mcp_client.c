/*
 * test_mcp_client.c - the MCP client core (src/mcp/client.c, client_http.c)
 * without processes or sockets: it is fed bytes or messages and what it
 * emits is checked.  Revision choice and both handshakes (DESIGN.md §1,
 * MCP 2025-11-25 basic/lifecycle, 2026-07-28 server/discover), ids and
 * correlation, ping, cancellation, stdio framing, NUL in strings, what a
 * CallToolResult means, the Streamable HTTP headers and answer reading.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "json/json.h"
#include "mcp/client.h"
#include "mcp/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static void init(struct at_mcp_client *c, enum at_mcp_transport t, int sampling)
{
    struct at_mcp_client_cfg cfg = {.transport = t, .sampling = sampling, .max_message = 4096};
    at_mcp_client_init(c, &cfg);
}

/* The next queued message, parsed (NULL when none).  *id gets its id. */
static json_t *pop_json(struct at_mcp_client *c, struct at_mcp_out **keep)
{
    struct at_mcp_out *o = at_mcp_client_pop(c);
    if (!o)
        return NULL;
    assert_null(memchr(o->body, '\n', o->len)); /* one line on stdio */
    json_t *v = NULL;
    assert_int_equal(at_json_parse(o->body, o->len, 0, &v, NULL), 0);
    if (keep)
        *keep = o;
    else
        at_mcp_out_free(o);
    return v;
}

static const char *method_of(const json_t *m)
{
    return json_string_value(json_object_get(m, "method"));
}

static long long id_of(const json_t *m)
{
    return (long long)json_integer_value(json_object_get(m, "id"));
}

static void feed(struct at_mcp_client *c, const char *text)
{
    assert_int_equal(at_mcp_client_feed(c, text, strlen(text)), 0);
}

/* Feed one line and take exactly one event of kind want. */
static void expect_event(struct at_mcp_client *c, const char *line, enum at_mcp_ev_kind want,
                         struct at_mcp_ev *ev)
{
    feed(c, line);
    feed(c, "\n");
    assert_int_equal(at_mcp_client_next(c, ev), 1);
    assert_int_equal(ev->kind, want);
}

static void expect_quiet(struct at_mcp_client *c, const char *line)
{
    struct at_mcp_ev ev;
    feed(c, line);
    feed(c, "\n");
    assert_int_equal(at_mcp_client_next(c, &ev), 0);
}

/* Handshake a stdio client with a 2026-07-28 peer. */
static void stateless_ready(struct at_mcp_client *c)
{
    init(c, AT_MCP_STDIO, 1);
    at_mcp_client_start(c);
    json_t *m = pop_json(c, NULL);
    char line[200];
    snprintf(
        line, sizeof(line),
        "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"supportedVersions\":"
        "[\"2025-11-25\",\"2026-07-28\"],\"serverInfo\":{\"name\":\"s\",\"version\":\"2.1.0\"}}}",
        id_of(m));
    json_decref(m);
    struct at_mcp_ev ev;
    expect_event(c, line, AT_MCP_EV_READY, &ev);
    at_mcp_ev_release(&ev);
}

/* ---- handshakes ---- */

static void test_stateless_handshake(void **state)
{
    (void)state;
    struct at_mcp_client c;
    init(&c, AT_MCP_STDIO, 1);
    assert_int_equal(at_mcp_client_request(&c, 0, "tools/list", NULL), AT_ESTATE);
    at_mcp_client_start(&c);
    json_t *m = pop_json(&c, NULL);
    assert_string_equal(method_of(m), "server/discover");
    json_t *meta = json_object_get(json_object_get(m, "params"), "_meta");
    assert_string_equal(json_string_value(json_object_get(meta, AT_MCP_META_VERSION)),
                        AT_MCP_V2026);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(meta, AT_MCP_META_CLIENT_INFO), "name")),
        "atlasd");
    assert_non_null(json_object_get(json_object_get(meta, AT_MCP_META_CLIENT_CAPS), "sampling"));
    assert_null(at_mcp_client_pop(&c)); /* nothing else until it answers */
    char line[300];
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"supportedVersions\":[\"2026-07-28\"],"
             "\"serverInfo\":{\"name\":\"s\",\"version\":\"3.0.0\"}}}",
             id_of(m));
    json_decref(m);
    struct at_mcp_ev ev;
    expect_event(&c, line, AT_MCP_EV_READY, &ev);
    at_mcp_ev_release(&ev);
    assert_true(at_mcp_client_ready(&c));
    assert_true(at_mcp_client_peer(&c)->stateless);
    assert_string_equal(at_mcp_client_peer(&c)->proto, AT_MCP_V2026);
    assert_string_equal(at_mcp_client_peer(&c)->server_version, "3.0.0");
    assert_null(at_mcp_client_pop(&c)); /* no initialized notification */

    /* every request carries the envelope; the caller's own _meta keys stay */
    json_t *params = json_pack("{s:{s:s}}", "_meta", "progressToken", "p1");
    long long id = at_mcp_client_request(&c, 7, "tools/list", params);
    assert_true(id > 0);
    m = pop_json(&c, NULL);
    meta = json_object_get(json_object_get(m, "params"), "_meta");
    assert_string_equal(json_string_value(json_object_get(meta, "progressToken")), "p1");
    assert_string_equal(json_string_value(json_object_get(meta, AT_MCP_META_VERSION)),
                        AT_MCP_V2026);
    json_decref(m);
    /* a health check of a stateless peer is server/discover (no ping) */
    assert_true(at_mcp_client_ping(&c, 9) > 0);
    m = pop_json(&c, NULL);
    assert_string_equal(method_of(m), "server/discover");
    json_decref(m);
    at_mcp_client_release(&c);
}

static void test_legacy_handshake(void **state)
{
    (void)state;
    struct at_mcp_client c;
    init(&c, AT_MCP_STDIO, 0);
    at_mcp_client_start(&c);
    json_t *m = pop_json(&c, NULL);
    char line[300];
    /* a 2025-11-25 server does not know server/discover */
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32601,\"message\":\"Method "
             "not found\"}}",
             id_of(m));
    json_decref(m);
    expect_quiet(&c, line);
    m = pop_json(&c, NULL);
    assert_string_equal(method_of(m), "initialize");
    json_t *p = json_object_get(m, "params");
    assert_string_equal(json_string_value(json_object_get(p, "protocolVersion")), AT_MCP_V2025_11);
    assert_null(json_object_get(json_object_get(p, "capabilities"), "sampling"));
    assert_null(json_object_get(p, "_meta"));
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"protocolVersion\":\"2025-06-18\","
             "\"capabilities\":{},\"serverInfo\":{\"name\":\"x\",\"version\":\"1.2.3\"}}}",
             id_of(m));
    json_decref(m);
    struct at_mcp_ev ev;
    expect_event(&c, line, AT_MCP_EV_READY, &ev);
    at_mcp_ev_release(&ev);
    assert_false(at_mcp_client_peer(&c)->stateless);
    assert_string_equal(at_mcp_client_peer(&c)->proto, "2025-06-18");
    assert_string_equal(at_mcp_client_peer(&c)->server_version, "1.2.3");
    m = pop_json(&c, NULL);
    assert_string_equal(method_of(m), "notifications/initialized");
    assert_null(json_object_get(m, "id"));
    json_decref(m);
    /* requests of a session carry no envelope; a health check is ping */
    at_mcp_client_request(&c, 1, "tools/list", NULL);
    m = pop_json(&c, NULL);
    assert_null(json_object_get(json_object_get(m, "params"), "_meta"));
    json_decref(m);
    at_mcp_client_ping(&c, 2);
    m = pop_json(&c, NULL);
    assert_string_equal(method_of(m), "ping");
    json_decref(m);
    at_mcp_client_release(&c);
}

/* The answer to initialize decides: unsupported revisions (the stateless
 * one included: it has no initialize) and errors fail the client. */
static void test_handshake_failures(void **state)
{
    (void)state;
    const char *answers[] = {
        "\"result\":{\"protocolVersion\":\"1999-01-01\"}",
        "\"result\":{\"protocolVersion\":\"2026-07-28\"}",
        "\"result\":{}",
        "\"result\":{\"protocolVersion\":\"2025-11-25\\u0000x\"}",
        "\"error\":{\"code\":-32602,\"message\":\"no thanks\"}",
    };
    const char *want[] = {
        "answered initialize with unsupported protocolVersion \"1999-01-01\"",
        "answered initialize with unsupported protocolVersion \"2026-07-28\"",
        "answered initialize with unsupported protocolVersion \"(none)\"",
        "answered initialize with unsupported protocolVersion \"(none)\"",
        "rejected initialize: no thanks (-32602)",
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        struct at_mcp_client c;
        init(&c, AT_MCP_STDIO, 1);
        at_mcp_client_start(&c);
        json_t *m = pop_json(&c, NULL);
        char line[300];
        /* a discover answer without 2026-07-28 also leads to initialize */
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"supportedVersions\":[\"2025-11-"
                 "25\"]}}",
                 id_of(m));
        json_decref(m);
        expect_quiet(&c, line);
        m = pop_json(&c, NULL);
        assert_string_equal(method_of(m), "initialize");
        snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,%s}", id_of(m), answers[i]);
        struct at_mcp_ev ev;
        expect_event(&c, line, AT_MCP_EV_FAILED, &ev);
        assert_int_equal(ev.code, AT_EPROTO);
        assert_int_equal(ev.id, id_of(m));
        assert_string_equal(ev.detail, want[i]);
        at_mcp_ev_release(&ev);
        json_decref(m);
        assert_int_equal(c.state, AT_MCP_CLIENT_FAILED);
        assert_int_equal(at_mcp_client_request(&c, 0, "tools/list", NULL), AT_ESTATE);
        at_mcp_client_release(&c);
    }
}

/* ---- ids, correlation, the peer's requests ---- */

static void test_correlation(void **state)
{
    (void)state;
    struct at_mcp_client c;
    stateless_ready(&c);
    long long a = at_mcp_client_request(&c, 11, "tools/list", NULL);
    long long b = at_mcp_client_request(&c, 22, "tools/list", NULL);
    long long f = at_mcp_client_request(&c, 33, "tools/list", NULL);
    assert_true(a > 0 && b > a && f > b);
    struct at_mcp_out *o;
    while ((o = at_mcp_client_pop(&c)) != NULL)
        at_mcp_out_free(o);
    at_mcp_client_forget(&c, f);
    char line[200];
    struct at_mcp_ev ev;
    /* answers out of order find their tags */
    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"n\":2}}", b);
    expect_event(&c, line, AT_MCP_EV_RESPONSE, &ev);
    assert_int_equal(ev.tag, 22);
    assert_int_equal(ev.id, b);
    assert_int_equal(json_integer_value(json_object_get(ev.result, "n")), 2);
    at_mcp_ev_release(&ev);
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32000,\"message\":\"boom\"}}",
             a);
    expect_event(&c, line, AT_MCP_EV_RESPONSE, &ev);
    assert_int_equal(ev.tag, 11);
    assert_null(ev.result);
    char text[100];
    at_mcp_ev_error_text(&ev, text, sizeof(text));
    assert_string_equal(text, "boom (JSON-RPC error -32000)");
    at_mcp_ev_release(&ev);
    /* a second answer, a forgotten request, ids that are not ours: nothing */
    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b);
    expect_quiet(&c, line);
    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", f);
    expect_quiet(&c, line);
    expect_quiet(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":{}}");
    expect_quiet(&c, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700}}");
    /* the pending table is bounded */
    int n = 0;
    long long id;
    while ((id = at_mcp_client_request(&c, 1, "x", NULL)) > 0) {
        n++;
        at_mcp_out_free(at_mcp_client_pop(&c));
    }
    assert_int_equal(id, AT_ELIMIT);
    assert_int_equal(n, AT_MCP_CLIENT_MAX_PENDING);
    at_mcp_client_release(&c);
}

static void test_peer_requests(void **state)
{
    (void)state;
    struct at_mcp_client c;
    stateless_ready(&c);
    /* ping is answered by the client itself, with the peer's id */
    expect_quiet(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"p-1\",\"method\":\"ping\"}");
    json_t *m = pop_json(&c, NULL);
    assert_string_equal(json_string_value(json_object_get(m, "id")), "p-1");
    assert_true(json_is_object(json_object_get(m, "result")));
    json_decref(m);
    /* other requests are the caller's */
    struct at_mcp_ev ev;
    expect_event(&c,
                 "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sampling/createMessage\","
                 "\"params\":{\"maxTokens\":3}}",
                 AT_MCP_EV_REQUEST, &ev);
    assert_string_equal(ev.method, "sampling/createMessage");
    assert_int_equal(json_integer_value(json_object_get(ev.params, "maxTokens")), 3);
    assert_int_equal(at_mcp_client_reply_error(&c, ev.rid, AT_MCP_METHOD_NOT_FOUND, "nope"), 0);
    at_mcp_ev_release(&ev);
    m = pop_json(&c, NULL);
    assert_int_equal(id_of(m), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                     AT_MCP_METHOD_NOT_FOUND);
    json_decref(m);
    expect_event(&c,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{"
                 "\"progress\":1}}",
                 AT_MCP_EV_NOTIFICATION, &ev);
    assert_string_equal(ev.method, "notifications/progress");
    at_mcp_ev_release(&ev);
    /* params that are not an object are not handed out */
    expect_event(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":[1]}",
                 AT_MCP_EV_NOTIFICATION, &ev);
    assert_null(ev.params);
    at_mcp_ev_release(&ev);
    at_mcp_client_release(&c);
}

static void test_cancel(void **state)
{
    (void)state;
    struct at_mcp_client c;
    stateless_ready(&c);
    json_t *args = json_pack("{s:i}", "x", 1);
    long long id = at_mcp_client_call_tool(&c, 3, "echo", args, at_mcp_job_meta("job_1", "tok"));
    json_decref(args);
    json_t *m = pop_json(&c, NULL);
    json_t *p = json_object_get(m, "params");
    assert_string_equal(json_string_value(json_object_get(p, "name")), "echo");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "arguments"), "x")), 1);
    json_t *meta = json_object_get(p, "_meta");
    assert_string_equal(json_string_value(json_object_get(meta, "progressToken")), "job_1");
    assert_string_equal(json_string_value(json_object_get(meta, AT_MCP_META_JOB)), "job_1");
    assert_string_equal(json_string_value(json_object_get(meta, AT_MCP_META_TOKEN)), "tok");
    assert_non_null(json_object_get(meta, AT_MCP_META_VERSION));
    json_decref(m);
    /* stdio: MCP 2025-11-25 basic/utilities/cancellation */
    assert_int_equal(at_mcp_client_cancel(&c, id, "timeout"), 0);
    m = pop_json(&c, NULL);
    assert_string_equal(method_of(m), "notifications/cancelled");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "params"), "requestId")),
                     id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "params"), "reason")),
                        "timeout");
    json_decref(m);
    /* the answer still comes through as the call's */
    char line[100];
    snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", id);
    struct at_mcp_ev ev;
    expect_event(&c, line, AT_MCP_EV_RESPONSE, &ev);
    assert_int_equal(ev.tag, 3);
    at_mcp_ev_release(&ev);
    at_mcp_client_release(&c);

    /* 2026-07-28 over HTTP: the transport closes the stream instead */
    struct at_mcp_peer peer = {.stateless = 1, .proto = AT_MCP_V2026};
    init(&c, AT_MCP_HTTP, 0);
    at_mcp_client_resume(&c, &peer);
    id = at_mcp_client_call_tool(&c, 3, "echo", NULL, NULL);
    at_mcp_out_free(at_mcp_client_pop(&c));
    assert_int_equal(at_mcp_client_cancel(&c, id, NULL), 1);
    assert_null(at_mcp_client_pop(&c));
    at_mcp_client_release(&c);
}

/* ---- stdio framing and hostile lines ---- */

static void test_framing(void **state)
{
    (void)state;
    struct at_mcp_client c;
    stateless_ready(&c);
    struct at_mcp_ev ev;
    /* a message split across reads, CRLF, empty lines */
    feed(&c, "\r\n\n{\"jsonrpc\":\"2.0\",\"met");
    assert_int_equal(at_mcp_client_next(&c, &ev), 0);
    feed(&c, "hod\":\"a\"}\r\n{\"jsonrpc\":\"2.0\",\"method\":\"b\"}\n");
    assert_int_equal(at_mcp_client_next(&c, &ev), 1);
    assert_string_equal(ev.method, "a");
    at_mcp_ev_release(&ev);
    assert_int_equal(at_mcp_client_next(&c, &ev), 1);
    assert_string_equal(ev.method, "b");
    at_mcp_ev_release(&ev);
    assert_int_equal(at_mcp_client_next(&c, &ev), 0);
    /* JSON with "\u0000" is valid: it is carried, not refused */
    expect_event(&c,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":"
                 "\"a\\u0000b\"}}",
                 AT_MCP_EV_NOTIFICATION, &ev);
    json_t *data = json_object_get(ev.params, "data");
    assert_int_equal(json_string_length(data), 3);
    at_mcp_ev_release(&ev);
    at_mcp_client_release(&c);

    /* a method with a NUL would read as another method: refused */
    const char *bad[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000x\"}",
        "garbage: not JSON",
        "{\"jsonrpc\":\"1.0\",\"method\":\"x\"}",
        "[{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]",
        "{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        stateless_ready(&c);
        expect_event(&c, bad[i], AT_MCP_EV_FAILED, &ev);
        assert_int_equal(ev.code, AT_EPROTO);
        assert_int_equal(ev.id, 0);
        assert_true(ev.excerpt[0] != '\0');
        at_mcp_ev_release(&ev);
        /* the client is done: nothing more comes out of it */
        feed(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"b\"}\n");
        assert_int_equal(at_mcp_client_next(&c, &ev), 0);
        at_mcp_client_release(&c);
    }
    /* the excerpt is bounded and valid UTF-8 */
    stateless_ready(&c);
    char line[300];
    memset(line, 'x', sizeof(line) - 1);
    line[0] = '\xff';
    line[sizeof(line) - 1] = '\0';
    expect_event(&c, line, AT_MCP_EV_FAILED, &ev);
    assert_true(strlen(ev.excerpt) < 130);
    assert_non_null(strstr(ev.excerpt, "\xef\xbf\xbd"));
    at_mcp_ev_release(&ev);
    at_mcp_client_release(&c);
    /* a line longer than max_message */
    stateless_ready(&c);
    char big[5000];
    memset(big, ' ', sizeof(big));
    assert_int_equal(at_mcp_client_feed(&c, big, sizeof(big)), 0);
    assert_int_equal(at_mcp_client_next(&c, &ev), 1);
    assert_int_equal(ev.kind, AT_MCP_EV_FAILED);
    assert_int_equal(ev.code, AT_E2BIG);
    at_mcp_ev_release(&ev);
    at_mcp_client_release(&c);
}

/* ---- tool results ---- */

static json_t *output_of(const char *result, int want_rc, char *why, size_t n)
{
    json_t *r = NULL;
    assert_int_equal(at_json_parse_flags(result, strlen(result), 0, AT_JSON_ALLOW_NUL, &r, NULL),
                     0);
    json_t *out = NULL;
    assert_int_equal(at_mcp_tool_output(r, &out, why, n), want_rc);
    json_decref(r);
    return out;
}

static void test_tool_output(void **state)
{
    (void)state;
    char why[200];
    json_t *o = output_of("{\"structuredContent\":{\"a\":1},\"content\":[{\"type\":\"text\","
                          "\"text\":\"{\\\"a\\\":2}\"}]}",
                          0, why, sizeof(why));
    assert_int_equal(json_integer_value(json_object_get(o, "a")), 1);
    json_decref(o);
    /* no structuredContent: the first text that is JSON */
    o = output_of("{\"content\":[{\"type\":\"image\",\"data\":\"x\"},{\"type\":\"text\",\"text\":"
                  "\"{\\\"s\\\":\\\"a\\\\u0000b\\\"}\"}]}",
                  0, why, sizeof(why));
    assert_int_equal(json_string_length(json_object_get(o, "s")), 3);
    json_decref(o);
    /* text that is not JSON: the blocks are the output */
    o = output_of("{\"content\":[{\"type\":\"text\",\"text\":\"Echo: hi\"}]}", 0, why, sizeof(why));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "content"), 0), "text")),
                        "Echo: hi");
    json_decref(o);
    /* errors */
    assert_null(output_of("{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":\"bad "
                          "\\u0000input\"}]}",
                          AT_EAGENT, why, sizeof(why)));
    assert_string_equal(why, "bad input");
    assert_null(output_of("{\"isError\":true}", AT_EAGENT, why, sizeof(why)));
    assert_string_equal(why, "the agent reported an error without a message");
    assert_null(output_of("{}", AT_EPROTO, why, sizeof(why)));
    assert_null(output_of("{\"content\":[]}", AT_EPROTO, why, sizeof(why)));
    /* MCP 2026-07-28: an input_required result is never an output */
    assert_null(output_of("{\"resultType\":\"input_required\",\"inputRequests\":{}}", AT_EPROTO,
                          why, sizeof(why)));
    assert_non_null(strstr(why, "input_required"));
    o = output_of("{\"resultType\":\"complete\",\"structuredContent\":{\"a\":3}}", 0, why,
                  sizeof(why));
    assert_int_equal(json_integer_value(json_object_get(o, "a")), 3);
    json_decref(o);
    json_t *ir = json_pack("{s:s}", "resultType", "input_required");
    assert_int_equal(at_mcp_result_input_required(ir), 1);
    json_object_set_new(ir, "resultType", json_string("complete"));
    assert_int_equal(at_mcp_result_input_required(ir), 0);
    json_decref(ir);
}

/* Clients that share a session share one id counter: no two requests of
 * the session carry the same id. */
static void test_shared_ids(void **state)
{
    (void)state;
    long long ids = 0;
    struct at_mcp_client_cfg cfg = {.transport = AT_MCP_HTTP, .relay = 1, .ids = &ids};
    struct at_mcp_client a, b;
    at_mcp_client_init(&a, &cfg);
    at_mcp_client_init(&b, &cfg);
    struct at_mcp_peer p;
    memset(&p, 0, sizeof(p));
    snprintf(p.proto, sizeof(p.proto), "2025-11-25");
    snprintf(p.session, sizeof(p.session), "s-1");
    at_mcp_client_resume(&a, &p);
    at_mcp_client_resume(&b, &p);
    long long x = at_mcp_client_call_tool(&a, 1, "t", NULL, NULL);
    long long y = at_mcp_client_call_tool(&b, 1, "t", NULL, NULL);
    assert_true(x > 0 && y > 0 && x != y);
    at_mcp_client_release(&a);
    at_mcp_client_release(&b);
    /* a relaying client announces what it relays */
    at_mcp_client_init(&a, &cfg);
    at_mcp_client_start(&a);
    struct at_mcp_out *o = at_mcp_client_pop(&a);
    assert_non_null(strstr(o->body, "\"elicitation\""));
    assert_non_null(strstr(o->body, "\"roots\""));
    assert_non_null(strstr(o->body, "\"sampling\""));
    at_mcp_out_free(o);
    at_mcp_client_release(&a);
}

/* ---- Streamable HTTP ---- */

struct lines {
    char text[2048];
};

static void add_line(void *arg, const char *line)
{
    struct lines *l = arg;
    size_t k = strlen(l->text);
    snprintf(l->text + k, sizeof(l->text) - k, "%s\n", line);
}

static void describe(const char *msg, struct at_mcp_out *o)
{
    json_t *v = NULL;
    assert_int_equal(at_json_parse(msg, strlen(msg), 0, &v, NULL), 0);
    memset(o, 0, sizeof(*o));
    at_mcp_out_describe(o, v);
    json_decref(v);
}

static void test_http_headers(void **state)
{
    (void)state;
    struct at_mcp_out o;
    struct lines l = {0};
    /* a 2026-07-28 message: the standard headers mirror the body */
    describe("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"echo\",\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}",
             &o);
    assert_int_equal(o.id, 4);
    at_mcp_http_headers(AT_MCP_HTTP_POST, NULL, &o, NULL, add_line, &l);
    assert_string_equal(l.text, "Content-Type: application/json\n"
                                "Accept: application/json, text/event-stream\n"
                                "MCP-Protocol-Version: 2026-07-28\n"
                                "Mcp-Method: tools/call\n"
                                "Mcp-Name: echo\n");
    /* a name that is not ASCII (or holds a control character) in MCP's
     * base64 form, which the server decodes */
    describe("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resources/read\",\"params\":{\"uri\":"
             "\"atlas://t\\u00ebst\\r\\nX: y\",\"_meta\":{\"io.modelcontextprotocol/"
             "protocolVersion\":\"2026-07-28\"}}}",
             &o);
    memset(&l, 0, sizeof(l));
    at_mcp_http_headers(AT_MCP_HTTP_POST, NULL, &o, NULL, add_line, &l);
    const char *nh = strstr(l.text, "Mcp-Name: =?base64?");
    assert_non_null(nh);
    char value[200], decoded[200];
    sscanf(nh, "Mcp-Name: %199s", value);
    assert_int_equal(at_mcp_header_decode(value, decoded, sizeof(decoded)), 0);
    assert_string_equal(decoded, "atlas://t\xc3\xabst\r\nX: y");
    assert_null(strstr(l.text, "\nX: y"));
    assert_int_equal(at_mcp_header_decode("plain", decoded, sizeof(decoded)), 0);
    assert_string_equal(decoded, "plain");
    assert_int_equal(at_mcp_header_decode("=?base64?AAA=?=", decoded, sizeof(decoded)), AT_EINVAL);
    assert_int_equal(at_mcp_header_decode("=?base64?a*==?=", decoded, sizeof(decoded)), AT_EINVAL);
    /* a session message: the negotiated revision and the session id */
    struct at_mcp_peer peer = {.proto = "2025-11-25", .session = "sess-1"};
    describe("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"e\"}}",
             &o);
    memset(&l, 0, sizeof(l));
    at_mcp_http_headers(AT_MCP_HTTP_POST, &peer, &o, NULL, add_line, &l);
    assert_string_equal(l.text, "Content-Type: application/json\n"
                                "Accept: application/json, text/event-stream\n"
                                "MCP-Protocol-Version: 2025-11-25\n"
                                "Mcp-Session-Id: sess-1\n");
    memset(&l, 0, sizeof(l));
    at_mcp_http_headers(AT_MCP_HTTP_GET, &peer, NULL, "3-17", add_line, &l);
    assert_string_equal(l.text, "Accept: text/event-stream\n"
                                "Last-Event-ID: 3-17\n"
                                "MCP-Protocol-Version: 2025-11-25\n"
                                "Mcp-Session-Id: sess-1\n");
    memset(&l, 0, sizeof(l));
    at_mcp_http_headers(AT_MCP_HTTP_DELETE, &peer, NULL, NULL, add_line, &l);
    assert_string_equal(l.text, "MCP-Protocol-Version: 2025-11-25\nMcp-Session-Id: sess-1\n");
}

struct seen {
    json_t *msgs;
    int stop_after;
};

static int on_msg(void *arg, json_t *v)
{
    struct seen *s = arg;
    json_array_append(s->msgs, v);
    return s->stop_after && (int)json_array_size(s->msgs) >= s->stop_after;
}

static void header(struct at_mcp_http_resp *r, const char *line)
{
    at_mcp_http_resp_header(r, line, strlen(line));
}

static void test_http_answers(void **state)
{
    (void)state;
    struct seen s = {.msgs = json_array()};
    struct at_mcp_http_resp r;
    at_mcp_http_resp_init(&r, 1 << 16, on_msg, &s);
    /* JSON */
    header(&r, "HTTP/1.1 200 OK\r\n");
    header(&r, "Content-Type: application/json\r\n");
    header(&r, "mcp-session-id: abc-123\r\n");
    assert_int_equal(at_mcp_http_resp_body(&r, "{\"jsonrpc\":\"2.0\",", 17), 0);
    assert_int_equal(json_array_size(s.msgs), 0);
    assert_int_equal(at_mcp_http_resp_body(&r, "\"id\":1,\"result\":{\"s\":\"\\u0000\"}}", 31), 0);
    assert_int_equal(at_mcp_http_resp_end(&r), 0);
    assert_int_equal(json_array_size(s.msgs), 1);
    assert_string_equal(r.session, "abc-123");
    /* an event stream: events as they arrive, id and retry kept */
    at_mcp_http_resp_reset(&r);
    json_array_clear(s.msgs);
    header(&r, "Content-Type: Text/Event-Stream; charset=utf-8\r\n");
    header(&r, "Mcp-Session-Id: bad id\r\n"); /* not visible ASCII: ignored */
    const char *stream =
        "id: 1-1\ndata:\n\n"
        "retry: 250\n"
        "id: 1-2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"
        ": keep-alive\n"
        "event: message\ndata: not json\n\n"
        "id: 1-3\ndata: {\"jsonrpc\":\"2.0\",\n"
        "data: \"id\":2,\"result\":{}}";
    for (const char *p = stream; *p; p++)
        assert_int_equal(at_mcp_http_resp_body(&r, p, 1), 0);
    assert_int_equal(json_array_size(s.msgs), 1);
    assert_true(r.sse);
    assert_string_equal(r.session, "");
    assert_int_equal(at_mcp_http_resp_end(&r), 0); /* the cut-off event counts */
    assert_int_equal(json_array_size(s.msgs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s.msgs, 1), "id")), 2);
    assert_string_equal(r.last_event_id, "1-3");
    assert_int_equal(r.retry_ms, 250);
    /* a resumption keeps them; the reader stops when asked */
    at_mcp_http_resp_reset(&r);
    assert_string_equal(r.last_event_id, "1-3");
    json_array_clear(s.msgs);
    s.stop_after = 1;
    header(&r, "content-type: text/event-stream\r\n");
    const char *two = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n";
    assert_int_equal(at_mcp_http_resp_body(&r, two, strlen(two)), 1);
    assert_int_equal(json_array_size(s.msgs), 1);
    assert_int_equal(at_mcp_http_resp_end(&r), 0);
    assert_int_equal(json_array_size(s.msgs), 1);
    /* a JSON answer that is not JSON; one that is too large */
    at_mcp_http_resp_reset(&r);
    s.stop_after = 0;
    header(&r, "Content-Type: application/json\r\n");
    at_mcp_http_resp_body(&r, "<html>", 6);
    assert_int_equal(at_mcp_http_resp_end(&r), AT_EPROTO);
    assert_true(r.not_json);
    at_mcp_http_resp_reset(&r);
    static char big[1 << 17];
    memset(big, ' ', sizeof(big));
    assert_int_equal(at_mcp_http_resp_body(&r, big, sizeof(big)), AT_E2BIG);
    at_mcp_http_resp_release(&r);
    json_decref(s.msgs);
}

/* The HTTP client: discover not understood, initialize, the session id
 * from the answer's header, a lost session. */
static void test_http_client(void **state)
{
    (void)state;
    struct at_mcp_client c;
    init(&c, AT_MCP_HTTP, 0);
    at_mcp_client_start(&c);
    struct at_mcp_out *o = at_mcp_client_pop(&c);
    assert_string_equal(o->method, "server/discover");
    assert_string_equal(o->version, AT_MCP_V2026);
    /* HTTP 400 without a JSON-RPC answer (a session id with it is not
     * the session: only initialize's answer names one) */
    at_mcp_client_session(&c, "from-discover");
    assert_int_equal(at_mcp_client_unanswered(&c, o->id), 1);
    assert_string_equal(at_mcp_client_peer(&c)->session, "");
    at_mcp_out_free(o);
    o = at_mcp_client_pop(&c);
    assert_string_equal(o->method, "initialize");
    assert_string_equal(o->version, "");
    json_t *ans = json_pack("{s:s,s:I,s:{s:s}}", "jsonrpc", "2.0", "id", (json_int_t)o->id,
                            "result", "protocolVersion", "2025-11-25");
    at_mcp_out_free(o);
    at_mcp_client_session(&c, "s-9");
    struct at_mcp_ev ev;
    at_mcp_client_recv(&c, ans, &ev);
    json_decref(ans);
    assert_int_equal(ev.kind, AT_MCP_EV_READY);
    at_mcp_ev_release(&ev);
    assert_string_equal(at_mcp_client_peer(&c)->session, "s-9");
    at_mcp_client_session(&c, "other"); /* the first one stays */
    assert_string_equal(at_mcp_client_peer(&c)->session, "s-9");
    o = at_mcp_client_pop(&c);
    assert_string_equal(o->method, "notifications/initialized");
    assert_int_equal(o->id, 0);
    at_mcp_out_free(o);
    /* an unanswered request is dropped */
    long long id = at_mcp_client_request(&c, 1, "tools/list", NULL);
    at_mcp_out_free(at_mcp_client_pop(&c));
    assert_int_equal(at_mcp_client_unanswered(&c, id), 0);
    assert_int_equal(c.npending, 0);
    /* values that are not objects are ignored */
    json_t *n = json_integer(3);
    at_mcp_client_recv(&c, n, &ev);
    assert_int_equal(ev.kind, AT_MCP_EV_NONE);
    json_decref(n);
    /* 404 for the session: start over */
    at_mcp_client_reset(&c);
    assert_int_equal(c.state, AT_MCP_CLIENT_NEW);
    assert_string_equal(at_mcp_client_peer(&c)->session, "");
    at_mcp_client_start(&c);
    o = at_mcp_client_pop(&c);
    assert_string_equal(o->method, "server/discover");
    at_mcp_out_free(o);
    at_mcp_client_release(&c);
}

static json_t *parse(const char *text)
{
    json_t *v = NULL;
    assert_int_equal(at_json_parse(text, strlen(text), 0, &v, NULL), 0);
    return v;
}

/* SEP-2243: which x-mcp-header annotations are valid, and the headers. */
static void test_param_headers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"\"}}}",
        "{\"properties\":{\"a\":{\"type\":\"object\",\"x-mcp-header\":\"A\"}}}",
        "{\"properties\":{\"a\":{\"type\":\"number\",\"x-mcp-header\":\"A\"}}}",
        "{\"properties\":{\"a\":{\"x-mcp-header\":\"A\"}}}",
        "{\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"My A\"}}}",
        "{\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"A:B\"}}}",
        "{\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"\u00e9\"}}}",
        ("{\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"F\"},"
         "\"b\":{\"type\":\"string\",\"x-mcp-header\":\"f\"}}}"),
    };
    char why[300];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *s = parse(bad[i]);
        assert_int_equal(at_mcp_check_param_headers(s, why, sizeof(why)), AT_EINVAL);
        json_decref(s);
    }
    json_t *s = parse("{\"properties\":{\"r\":{\"type\":\"string\",\"x-mcp-header\":\"Region\"},"
                      "\"n\":{\"type\":\"integer\",\"x-mcp-header\":\"N\"},"
                      "\"b\":{\"type\":\"boolean\",\"x-mcp-header\":\"B\"},"
                      "\"z\":{\"type\":\"string\",\"x-mcp-header\":\"Z\"},"
                      "\"e\":{\"type\":\"string\",\"x-mcp-header\":\"E\"},"
                      "\"plain\":{\"type\":\"string\"}}}");
    assert_int_equal(at_mcp_check_param_headers(s, why, sizeof(why)), 0);
    json_t *args = parse("{\"r\":\"us west 1\",\"n\":42,\"b\":false,\"z\":null,"
                         "\"e\":\"caf\u00e9\",\"plain\":\"x\"}");
    struct lines l = {""};
    at_mcp_param_headers(s, args, add_line, &l);
    assert_non_null(strstr(l.text, "Mcp-Param-Region: us west 1\n"));
    assert_non_null(strstr(l.text, "Mcp-Param-N: 42\n"));
    assert_non_null(strstr(l.text, "Mcp-Param-B: false\n"));
    assert_non_null(strstr(l.text, "Mcp-Param-E: =?base64?Y2Fmw6k=?=\n"));
    assert_null(strstr(l.text, "Mcp-Param-Z"));
    assert_null(strstr(l.text, "plain"));
    json_decref(args);
    json_decref(s);
}

/* A server that refuses server/discover while listing 2026-07-28 is
 * asked again, once; never with a 2025 initialize. */
static void test_discover_retry(void **state)
{
    (void)state;
    struct at_mcp_client c;
    init(&c, AT_MCP_HTTP, 0);
    at_mcp_client_start(&c);
    for (int round = 0; round < 2; round++) {
        struct at_mcp_out *o = at_mcp_client_pop(&c);
        assert_string_equal(o->method, "server/discover");
        json_t *ans =
            json_pack("{s:s,s:I,s:{s:i,s:s,s:{s:[s]}}}", "jsonrpc", "2.0", "id", (json_int_t)o->id,
                      "error", "code", -32022, "message", "no", "data", "supported", "2026-07-28");
        at_mcp_out_free(o);
        struct at_mcp_ev ev;
        at_mcp_client_recv(&c, ans, &ev);
        json_decref(ans);
        assert_int_equal(ev.kind, round == 0 ? AT_MCP_EV_NONE : AT_MCP_EV_FAILED);
        at_mcp_ev_release(&ev);
    }
    assert_null(at_mcp_client_pop(&c));
    at_mcp_client_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stateless_handshake),
        cmocka_unit_test(test_legacy_handshake),
        cmocka_unit_test(test_handshake_failures),
        cmocka_unit_test(test_correlation),
        cmocka_unit_test(test_peer_requests),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_tool_output),
        cmocka_unit_test(test_shared_ids),
        cmocka_unit_test(test_param_headers),
        cmocka_unit_test(test_discover_retry),
        cmocka_unit_test(test_http_headers),
        cmocka_unit_test(test_http_answers),
        cmocka_unit_test(test_http_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
