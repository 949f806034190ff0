/*
 * test_mcp.c - the MCP server layer without a daemon: message parsing
 * (JSON-RPC 2.0 §4-5), revision selection, sessions and their event logs,
 * and the dispatcher (MCP 2025-11-25 lifecycle, ping, logging, pagination,
 * platform tools that are not built; 2026-07-28 envelope and headers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "json/json.h"
#include "mcp/mcp.h"

#include <stdlib.h>
#include <string.h>

/* ---- messages ---- */

static int parse(const char *text, struct at_mcp_msg *m)
{
    json_t *eid = NULL;
    int rc = at_mcp_msg_parse(text, strlen(text), m, &eid, NULL);
    json_decref(eid);
    return rc;
}

static void test_parse_kinds(void **state)
{
    (void)state;
    struct at_mcp_msg m;
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &m), 0);
    assert_int_equal(m.kind, AT_MCP_REQUEST);
    assert_string_equal(m.method, "ping");
    at_mcp_msg_release(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m),
                     0);
    assert_int_equal(m.kind, AT_MCP_NOTIFICATION);
    assert_null(m.id);
    at_mcp_msg_release(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}", &m), 0);
    assert_int_equal(m.kind, AT_MCP_RESPONSE);
    at_mcp_msg_release(&m);
    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-1,\"message\":\"x\"}}", &m), 0);
    assert_non_null(m.error);
    at_mcp_msg_release(&m);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                           "\"name\":\"x\",\"_meta\":{\"progressToken\":1}}}",
                           &m),
                     0);
    assert_non_null(m.meta);
    at_mcp_msg_release(&m);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct at_mcp_msg m;
    assert_int_equal(parse("{", &m), AT_MCP_PARSE_ERROR);
    assert_int_equal(parse("", &m), AT_MCP_PARSE_ERROR);
    assert_int_equal(parse("[]", &m), AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}]", &m),
                     AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("42", &m), AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"id\":1,\"method\":\"ping\"}", &m), AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", &m),
                     AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", &m),
                     AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", &m),
                     AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}", &m),
                     AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", &m),
                     AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1}", &m), AT_MCP_INVALID_REQUEST);
    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{\"code\":1}}", &m),
        AT_MCP_INVALID_REQUEST);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\"}}", &m),
                     AT_MCP_INVALID_REQUEST);
    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"_meta\":1}}", &m),
        AT_MCP_INVALID_REQUEST);
    /* the id of an invalid request is still reported for the error answer */
    json_t *eid = NULL;
    const char *t = "{\"jsonrpc\":\"1.0\",\"id\":\"k\",\"method\":\"ping\"}";
    assert_int_equal(at_mcp_msg_parse(t, strlen(t), &m, &eid, NULL), AT_MCP_INVALID_REQUEST);
    assert_string_equal(json_string_value(eid), "k");
    json_decref(eid);
    /* depth limit */
    char deep[400];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep),
                          "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":");
    for (int i = 0; i < 80; i++)
        deep[n++] = '[';
    for (int i = 0; i < 80; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n++] = '}';
    deep[n] = '\0';
    assert_int_not_equal(parse(deep, &m), 0);
}

static void test_builders_and_versions(void **state)
{
    (void)state;
    json_t *id = json_integer(7);
    json_t *r = at_mcp_result(id, json_pack("{s:i}", "x", 1));
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
    json_decref(r);
    json_t *e = at_mcp_error(NULL, AT_MCP_METHOD_NOT_FOUND, "nope", NULL);
    assert_true(json_is_null(json_object_get(e, "id")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "error"), "code")),
                     -32601);
    json_decref(e);
    json_decref(id);
    assert_true(at_mcp_version_supported("2025-11-25"));
    assert_true(at_mcp_version_supported("2026-07-28"));
    assert_false(at_mcp_version_supported("2030-01-01"));
    assert_false(at_mcp_version_supported(NULL));
    assert_true(at_mcp_version_stateless("2026-07-28"));
    assert_false(at_mcp_version_stateless("2025-11-25"));
    assert_string_equal(at_mcp_version_negotiate("2025-06-18"), "2025-06-18");
    assert_string_equal(at_mcp_version_negotiate("1999-01-01"), "2025-11-25");
    assert_string_equal(at_mcp_version_negotiate("2026-07-28"), "2025-11-25");
    assert_int_equal(at_mcp_log_level("debug"), 0);
    assert_int_equal(at_mcp_log_level("emergency"), 7);
    assert_int_equal(at_mcp_log_level("loud"), -1);
    char k[64];
    json_t *s = json_string("ab");
    at_mcp_id_key(s, k, sizeof(k));
    assert_string_equal(k, "s:ab");
    json_decref(s);
}

/* ---- sessions ---- */

static void test_sessions(void **state)
{
    (void)state;
    struct at_mcp_sessions t;
    at_mcp_sessions_init(&t, 2, 1000);
    struct at_mcp_session *a, *b, *c;
    assert_int_equal(at_mcp_session_create(&t, "2025-11-25", &a), 0);
    assert_int_equal(at_mcp_session_create(&t, "2025-06-18", &b), 0);
    assert_true(strlen(a->id) >= 30);
    assert_string_not_equal(a->id, b->id);
    assert_int_equal(at_mcp_session_create(&t, "2025-11-25", &c), AT_EBUSY);
    struct at_mcp_session *f = at_mcp_session_find(&t, a->id);
    assert_ptr_equal(f, a);
    at_mcp_session_unref(f);
    assert_null(at_mcp_session_find(&t, "nope"));
    assert_int_equal(at_mcp_session_close(&t, a->id), 0);
    assert_int_equal(at_mcp_session_close(&t, a->id), AT_ENOENT);
    assert_null(at_mcp_session_find(&t, a->id));
    assert_int_equal(at_mcp_sessions_count(&t), 1);
    /* idle sessions expire */
    assert_int_equal(at_mcp_sessions_expire(&t, b->last_used_ms + 5000), 1);
    assert_int_equal(at_mcp_sessions_count(&t), 0);
    assert_int_equal(at_mcp_session_subscribe(b, "x://y", 1), 0);
    assert_int_equal(at_mcp_session_subscribe(b, "x://y", 0), 0);
    at_mcp_session_unref(a);
    at_mcp_session_unref(b);
    at_mcp_sessions_release(&t);
}

static int replayed;
static void count_ev(const struct at_mcp_event *ev, void *arg)
{
    (void)arg;
    (void)ev;
    replayed++;
}

static void test_event_log(void **state)
{
    (void)state;
    struct at_mcp_sessions t;
    at_mcp_sessions_init(&t, 4, 60000);
    struct at_mcp_session *s;
    assert_int_equal(at_mcp_session_create(&t, "2025-11-25", &s), 0);
    unsigned st = at_mcp_session_new_stream(s);
    unsigned st2 = at_mcp_session_new_stream(s);
    assert_int_not_equal(st, st2);
    assert_int_equal(at_mcp_session_log(s, st, "{\"a\":1}"), 1);
    assert_int_equal(at_mcp_session_log(s, st2, "{\"b\":1}"), 1);
    assert_int_equal(at_mcp_session_log(s, st, "{\"a\":2}"), 2);
    replayed = 0;
    assert_int_equal(at_mcp_session_replay(s, st, 0, count_ev, NULL), 2);
    replayed = 0;
    assert_int_equal(at_mcp_session_replay(s, st, 1, count_ev, NULL), 1);
    assert_int_equal(replayed, 1);
    /* the log is bounded: old events go, and a replay from before them says so */
    for (int i = 0; i < AT_MCP_EVLOG_MAX + 10; i++)
        at_mcp_session_log(s, st2, "{}");
    assert_true(s->log_len <= AT_MCP_EVLOG_MAX);
    assert_int_equal(at_mcp_session_replay(s, st2, 1, count_ev, NULL), -1);
    char id[48];
    at_mcp_event_id(st, 12, id, sizeof(id));
    unsigned ps;
    unsigned long pq;
    assert_int_equal(at_mcp_event_id_parse(id, &ps, &pq), 0);
    assert_int_equal(ps, st);
    assert_int_equal(pq, 12);
    assert_int_equal(at_mcp_event_id_parse("x-1", &ps, &pq), AT_EINVAL);
    assert_int_equal(at_mcp_event_id_parse("1-", &ps, &pq), AT_EINVAL);
    assert_int_equal(at_mcp_event_id_parse("0-1", &ps, &pq), AT_EINVAL);
    assert_int_equal(at_mcp_event_id_parse("99999999999-1", &ps, &pq), AT_EINVAL);
    at_mcp_session_unref(s);
    at_mcp_sessions_release(&t);
}

/* ---- dispatcher ---- */

struct rec_chan {
    struct at_mcp_chan base;
    int refs;
    json_t *got; /* array of [msg, final] */
};

static void rc_ref(struct at_mcp_chan *c)
{
    ((struct rec_chan *)c)->refs++;
}
static void rc_unref(struct at_mcp_chan *c)
{
    ((struct rec_chan *)c)->refs--;
}
static int rc_send(struct at_mcp_chan *c, json_t *msg, int final)
{
    json_array_append_new(((struct rec_chan *)c)->got, json_pack("[o,b]", msg, final));
    return 0;
}
static const struct at_mcp_chan_ops rc_ops = {rc_ref, rc_unref, rc_send};

struct fixture {
    struct at_mcp *m;
    struct rec_chan chan;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct at_mcp_cfg cfg = {.max_sessions = 8, .page_size = 5};
    assert_int_equal(at_mcp_new(&cfg, &f->m), 0);
    f->chan.base.ops = &rc_ops;
    f->chan.refs = 1;
    f->chan.got = json_array();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    at_mcp_free(f->m);
    assert_int_equal(f->chan.refs, 1);
    json_decref(f->chan.got);
    free(f);
    return 0;
}

/* Handle text with ctx; returns the answer (caller releases). */
static void handle(struct fixture *f, const struct at_mcp_ctx *ctx, const char *text,
                   struct at_mcp_answer *ans)
{
    struct at_mcp_msg msg;
    assert_int_equal(parse(text, &msg), 0);
    at_mcp_handle(f->m, ctx, &msg, &f->chan.base, ans);
    at_mcp_msg_release(&msg);
}

static json_t *result_of(const struct at_mcp_answer *a)
{
    return json_object_get(a->body, "result");
}

static int error_code(const struct at_mcp_answer *a)
{
    return (int)json_integer_value(json_object_get(json_object_get(a->body, "error"), "code"));
}

static void test_lifecycle(void **state)
{
    struct fixture *f = *state;
    struct at_mcp_ctx ctx = {.loopback = 1, .granted = ~0u};
    struct at_mcp_answer a;
    handle(f, &ctx,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
           "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"sampling\":{}},"
           "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
           &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(json_object_get(result_of(&a), "protocolVersion")),
                        "2025-06-18");
    assert_non_null(json_object_get(json_object_get(result_of(&a), "capabilities"), "tools"));
    char sid[AT_MCP_SESSION_ID_MAX];
    snprintf(sid, sizeof(sid), "%s", a.session_id);
    assert_true(strlen(sid) > 20);
    at_mcp_answer_release(&a);

    struct at_mcp_ctx sc = {
        .loopback = 1, .granted = ~0u, .session_id = sid, .proto_header = "2025-06-18"};
    handle(f, &sc, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &a);
    assert_int_equal(a.status, 202);
    assert_null(a.body);
    at_mcp_answer_release(&a);
    handle(f, &sc, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_object_size(result_of(&a)), 0);
    at_mcp_answer_release(&a);
    handle(f, &sc,
           "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"logging/setLevel\",\"params\":{\"level\":"
           "\"warning\"}}",
           &a);
    assert_non_null(result_of(&a));
    at_mcp_answer_release(&a);
    handle(f, &sc,
           "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"logging/setLevel\",\"params\":{\"level\":"
           "\"loud\"}}",
           &a);
    assert_int_equal(error_code(&a), AT_MCP_INVALID_PARAMS);
    at_mcp_answer_release(&a);
    handle(f, &sc, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"no/such\"}", &a);
    assert_int_equal(error_code(&a), AT_MCP_METHOD_NOT_FOUND);
    at_mcp_answer_release(&a);

    /* unsupported revision header: 400 */
    struct at_mcp_ctx bad = {
        .loopback = 1, .granted = ~0u, .session_id = sid, .proto_header = "1999-01-01"};
    handle(f, &bad, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}", &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(error_code(&a), AT_MCP_UNSUPPORTED_VERSION);
    at_mcp_answer_release(&a);

    /* DELETE, then the session is gone: 404 */
    at_mcp_delete(f->m, &sc, &a);
    assert_int_equal(a.status, 200);
    at_mcp_answer_release(&a);
    handle(f, &sc, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", &a);
    assert_int_equal(a.status, 404);
    at_mcp_answer_release(&a);
    at_mcp_check_session(f->m, &(struct at_mcp_ctx){.loopback = 1, .granted = ~0u}, &a);
    assert_int_equal(a.status, 400);
    at_mcp_answer_release(&a);
}

#define ENVELOPE                                                                                   \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","                       \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"

static void test_stateless(void **state)
{
    struct fixture *f = *state;
    struct at_mcp_ctx ctx = {
        .loopback = 1, .granted = ~0u, .proto_header = "2026-07-28", .method_header = "tools/list"};
    struct at_mcp_answer a;
    handle(f, &ctx,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" ENVELOPE "}}",
           &a);
    assert_int_equal(a.status, 200);
    json_t *r = result_of(&a);
    assert_string_equal(json_string_value(json_object_get(r, "resultType")), "complete");
    assert_non_null(json_object_get(r, "ttlMs"));
    assert_string_equal(json_string_value(json_object_get(r, "cacheScope")), "private");
    /* an admitted user (every action), no job token: platform tools, paged by 5 */
    assert_int_equal(json_array_size(json_object_get(r, "tools")), 5);
    const char *cursor = json_string_value(json_object_get(r, "nextCursor"));
    assert_non_null(cursor);
    char text[600];
    snprintf(text, sizeof(text),
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"cursor\":"
             "\"%s\"," ENVELOPE "}}",
             cursor);
    at_mcp_answer_release(&a);
    handle(f, &ctx, text, &a);
    assert_int_equal(json_array_size(json_object_get(result_of(&a), "tools")), 5);
    at_mcp_answer_release(&a);
    handle(f, &ctx,
           "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\",\"params\":{\"cursor\":"
           "\"garbage\"," ENVELOPE "}}",
           &a);
    assert_int_equal(error_code(&a), AT_MCP_INVALID_PARAMS);
    at_mcp_answer_release(&a);

    /* Mcp-Method must agree with the body */
    struct at_mcp_ctx mism = {
        .loopback = 1, .granted = ~0u, .proto_header = "2026-07-28", .method_header = "tools/call"};
    handle(f, &mism,
           "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":{" ENVELOPE "}}",
           &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(error_code(&a), AT_MCP_HEADER_MISMATCH);
    at_mcp_answer_release(&a);
    /* Mcp-Name must agree with params.name */
    struct at_mcp_ctx name = {
        .loopback = 1, .granted = ~0u, .method_header = "tools/call", .name_header = "b"};
    handle(f, &name,
           "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
           "\"name\":\"a\"," ENVELOPE "}}",
           &a);
    assert_int_equal(error_code(&a), AT_MCP_HEADER_MISMATCH);
    at_mcp_answer_release(&a);
    /* an envelope with an unknown revision */
    struct at_mcp_ctx plain = {.loopback = 1, .granted = ~0u};
    handle(f, &plain,
           "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\",\"params\":{\"_meta\":{"
           "\"io.modelcontextprotocol/protocolVersion\":\"2031-01-01\","
           "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
           &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(error_code(&a), AT_MCP_UNSUPPORTED_VERSION);
    at_mcp_answer_release(&a);
    /* server/discover */
    struct at_mcp_ctx disc = {
        .loopback = 1, .proto_header = "2026-07-28", .method_header = "server/discover"};
    handle(f, &disc,
           "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"server/discover\",\"params\":{" ENVELOPE
           "}}",
           &a);
    assert_true(json_array_size(json_object_get(result_of(&a), "supportedVersions")) >= 2);
    at_mcp_answer_release(&a);
    /* the envelope is required, with its two required fields: 400, -32602 */
    static const char *const bad_meta[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"server/discover\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"server/discover\",\"params\":{\"_meta\":{"
        "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"server/discover\",\"params\":{\"_meta\":{"
        "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}",
    };
    for (size_t i = 0; i < 3; i++) {
        handle(f, &disc, bad_meta[i], &a);
        assert_int_equal(a.status, 400);
        assert_int_equal(error_code(&a), AT_MCP_INVALID_PARAMS);
        at_mcp_answer_release(&a);
    }
    /* the header disagrees with _meta (even when it names no revision we
     * know): HeaderMismatch */
    struct at_mcp_ctx old = {
        .loopback = 1, .proto_header = "1999-01-01", .method_header = "server/discover"};
    handle(f, &old,
           "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"server/discover\",\"params\":{" ENVELOPE
           "}}",
           &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(error_code(&a), AT_MCP_HEADER_MISMATCH);
    at_mcp_answer_release(&a);
    /* Mcp-Method is required; values are trimmed (RFC 9110 OWS) */
    struct at_mcp_ctx nomethod = {.loopback = 1, .proto_header = "2026-07-28"};
    handle(f, &nomethod,
           "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/list\",\"params\":{" ENVELOPE "}}",
           &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(error_code(&a), AT_MCP_HEADER_MISMATCH);
    at_mcp_answer_release(&a);
    struct at_mcp_ctx spaced = {
        .loopback = 1, .proto_header = "2026-07-28", .method_header = " tools/list\t"};
    handle(f, &spaced,
           "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tools/list\",\"params\":{" ENVELOPE "}}",
           &a);
    assert_int_equal(a.status, 200);
    at_mcp_answer_release(&a);
    /* Mcp-Name is required for tools/call */
    struct at_mcp_ctx noname = {
        .loopback = 1, .proto_header = "2026-07-28", .method_header = "tools/call"};
    handle(f, &noname,
           "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",\"params\":{"
           "\"name\":\"a\"," ENVELOPE "}}",
           &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(error_code(&a), AT_MCP_HEADER_MISMATCH);
    at_mcp_answer_release(&a);
    /* removed methods and unknown ones: 404, Method not found */
    static const char *const gone[] = {"initialize", "ping", "logging/setLevel",
                                       "resources/subscribe", "no/such"};
    for (size_t i = 0; i < 5; i++) {
        struct at_mcp_ctx g = {
            .loopback = 1, .proto_header = "2026-07-28", .method_header = gone[i]};
        char req[400];
        snprintf(req, sizeof(req),
                 "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"%s\",\"params\":{" ENVELOPE "}}",
                 gone[i]);
        handle(f, &g, req, &a);
        assert_int_equal(a.status, 404);
        assert_int_equal(error_code(&a), AT_MCP_METHOD_NOT_FOUND);
        at_mcp_answer_release(&a);
    }
    /* a cursor that was never issued (p0, not a page boundary) */
    static const char *const cursors[] = {"p0", "p3"};
    for (size_t i = 0; i < 2; i++) {
        char req[400];
        snprintf(req, sizeof(req),
                 "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"tools/list\",\"params\":{"
                 "\"cursor\":\"%s\"," ENVELOPE "}}",
                 cursors[i]);
        handle(f, &ctx, req, &a);
        assert_int_equal(error_code(&a), AT_MCP_INVALID_PARAMS);
        at_mcp_answer_release(&a);
    }
}

static void test_platform_tools(void **state)
{
    struct fixture *f = *state;
    struct at_mcp_ctx loop = {.loopback = 1, .granted = ~0u};
    struct at_mcp_answer a;
    /* a refusal is a tool error, not a protocol error (no cluster here) */
    handle(f, &loop,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
           "\"name\":\"atlas.schedule.migrate\",\"arguments\":{\"job\":\"job_x\",\"node\":"
           "\"n1\"}}}",
           &a);
    json_t *r = result_of(&a);
    assert_true(json_is_true(json_object_get(r, "isError")));
    at_mcp_answer_release(&a);
    /* arguments are checked against the tool's input schema */
    handle(f, &loop,
           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
           "\"name\":\"atlas.exec.status\",\"arguments\":{\"jobb\":1}}}",
           &a);
    assert_true(json_is_true(json_object_get(result_of(&a), "isError")));
    at_mcp_answer_release(&a);
    /* not from loopback, no token: refused */
    struct at_mcp_ctx far = {.loopback = 0};
    handle(f, &far,
           "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
           "\"name\":\"atlas.queue.inspect\",\"arguments\":{}}}",
           &a);
    r = result_of(&a);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "structuredContent"), "code")),
        "permission-denied");
    at_mcp_answer_release(&a);
    handle(f, &far, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}", &a);
    assert_int_equal(json_array_size(json_object_get(result_of(&a), "tools")), 0);
    at_mcp_answer_release(&a);
    /* spawn without an engine: a tool error */
    handle(f, &loop,
           "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
           "\"name\":\"atlas.exec.spawn\",\"arguments\":{\"agent\":\"x\"}}}",
           &a);
    assert_true(json_is_true(json_object_get(result_of(&a), "isError")));
    at_mcp_answer_release(&a);
    /* bad params */
    handle(f, &loop, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{}}", &a);
    assert_int_equal(error_code(&a), AT_MCP_INVALID_PARAMS);
    at_mcp_answer_release(&a);
    /* a token that maps to nothing (no engine here): 401 */
    struct at_mcp_ctx tok = {.loopback = 1, .granted = ~0u, .token = "nope"};
    handle(f, &tok, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", &a);
    assert_int_equal(a.status, 401);
    at_mcp_answer_release(&a);
    /* resources and prompts without a registry */
    handle(f, &loop, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"resources/templates/list\"}", &a);
    assert_int_equal(json_array_size(json_object_get(result_of(&a), "resourceTemplates")), 2);
    at_mcp_answer_release(&a);
    handle(f, &loop,
           "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"resources/read\",\"params\":{"
           "\"uri\":\"test://none\"}}",
           &a);
    assert_int_equal(error_code(&a), AT_MCP_RESOURCE_NOT_FOUND);
    at_mcp_answer_release(&a);
    handle(f, &loop,
           "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"prompts/get\",\"params\":{"
           "\"name\":\"none\"}}",
           &a);
    assert_int_equal(error_code(&a), AT_MCP_INVALID_PARAMS);
    at_mcp_answer_release(&a);
    handle(f, &loop,
           "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"completion/complete\",\"params\":{"
           "\"ref\":{\"type\":\"ref/prompt\",\"name\":\"p\"},\"argument\":{\"name\":\"a\","
           "\"value\":\"\"}}}",
           &a);
    assert_non_null(json_object_get(json_object_get(result_of(&a), "completion"), "values"));
    at_mcp_answer_release(&a);
    /* agents relay requests only with a job token */
    handle(f, &loop,
           "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"sampling/createMessage\","
           "\"params\":{}}",
           &a);
    assert_int_equal(error_code(&a), AT_MCP_METHOD_NOT_FOUND);
    at_mcp_answer_release(&a);
    /* nothing was left pending on the channel */
    assert_int_equal(json_array_size(f->chan.got), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_kinds),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_builders_and_versions),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_event_log),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stateless, setup, teardown),
        cmocka_unit_test_setup_teardown(test_platform_tools, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
