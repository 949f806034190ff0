/*
 * test_llm_wire.c - what the gateway reads from backends: usage (OpenAI and
 * Anthropic), streamed chunks through the SSE parser (token counting, first
 * token, usage-only chunks), token estimates, the OpenAI <-> Anthropic
 * translation (requests, answers, event streams) and MCP sampling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/sse.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "llm/wire.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static json_t *js(const char *text)
{
    json_t *v = NULL;
    if (at_json_parse(text, strlen(text), 0, &v, NULL))
        fail_msg("bad JSON in test: %s", text);
    return v;
}

static void test_usage(void **state)
{
    (void)state;
    struct at_llm_usage u;
    json_t *r =
        js("{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}");
    assert_int_equal(at_llm_usage_from_json(r, &u), 1);
    assert_int_equal(u.tokens_in, 12);
    assert_int_equal(u.tokens_out, 5);
    assert_int_equal(u.reported, 1);
    json_decref(r);
    r = js("{\"usage\":{\"input_tokens\":1,\"cache_read_input_tokens\":4,"
           "\"cache_creation_input_tokens\":2,\"output_tokens\":9}}");
    assert_int_equal(at_llm_usage_from_json(r, &u), 1);
    assert_int_equal(u.tokens_in, 7);
    assert_int_equal(u.tokens_out, 9);
    json_decref(r);
    const char *bad[] = {
        "{}",
        "{\"usage\":null}",
        "{\"usage\":{\"prompt_tokens\":\"3\",\"completion_tokens\":1}}",
        "{\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":1}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = js(bad[i]);
        assert_int_equal(at_llm_usage_from_json(r, &u), 0);
        json_decref(r);
    }
}

/* Usage near 2^63 (issue 9): numbers out of 0..AT_LLM_MAX_CALL_TOKENS are
 * not taken as a report, and say so; sums of parts cannot overflow. */
static void test_usage_range(void **state)
{
    (void)state;
    const char *absurd[] = {
        "{\"usage\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":1}}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":9223372036854775807}}",
        "{\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":1}}",
        "{\"usage\":{\"prompt_tokens\":1000000000001,\"completion_tokens\":0}}",
        /* each part in range, the total not */
        "{\"usage\":{\"prompt_tokens\":600000000000,\"completion_tokens\":600000000000}}",
        /* Anthropic: 3 x (2^63-1) would wrap */
        "{\"usage\":{\"input_tokens\":9223372036854775807,\"output_tokens\":1,"
        "\"cache_read_input_tokens\":9223372036854775807,"
        "\"cache_creation_input_tokens\":9223372036854775807}}",
        "{\"usage\":{\"input_tokens\":1,\"output_tokens\":1,"
        "\"cache_read_input_tokens\":-4}}",
        "{\"usage\":{\"input_tokens\":500000000000,\"output_tokens\":1,"
        "\"cache_read_input_tokens\":500000000000}}",
    };
    for (size_t i = 0; i < sizeof(absurd) / sizeof(absurd[0]); i++) {
        struct at_llm_usage u = {.tokens_in = 77, .tokens_out = 88};
        json_t *r = js(absurd[i]);
        assert_int_equal(at_llm_usage_from_json(r, &u), 0);
        assert_int_equal(u.out_of_range, 1);
        assert_int_equal(u.reported, 0);
        assert_int_equal(u.tokens_in, 77); /* untouched: the caller estimates */
        assert_int_equal(u.tokens_out, 88);
        json_decref(r);
    }
    /* the edge is allowed */
    struct at_llm_usage u = {0};
    json_t *r = js("{\"usage\":{\"prompt_tokens\":999999999999,\"completion_tokens\":1}}");
    assert_int_equal(at_llm_usage_from_json(r, &u), 1);
    assert_int_equal(u.tokens_in, 999999999999LL);
    assert_int_equal(u.out_of_range, 0);
    json_decref(r);
    /* a stream whose usage chunk is absurd: estimated, and flagged */
    struct at_llm_stream_acc a;
    memset(&a, 0, sizeof(a));
    const char *chunk = "{\"choices\":[],\"usage\":{\"prompt_tokens\":9223372036854775807,"
                        "\"completion_tokens\":9223372036854775807}}";
    assert_int_equal(at_llm_stream_chunk(&a, chunk, strlen(chunk)), 0);
    assert_int_equal(a.have_usage, 0);
    at_llm_stream_usage(&a, 10, &u);
    assert_int_equal(u.reported, 0);
    assert_int_equal(u.out_of_range, 1);
    assert_int_equal(u.tokens_in, 10);
    /* saturating sums */
    assert_true(at_llm_tokens_add(LLONG_MAX, 1) == LLONG_MAX);
    assert_true(at_llm_tokens_add(LLONG_MAX - 1, LLONG_MAX) == LLONG_MAX);
    assert_true(at_llm_tokens_add(40, 2) == 42);
}

static void test_estimates(void **state)
{
    (void)state;
    assert_int_equal(at_llm_estimate_text("", 0), 0);
    assert_int_equal(at_llm_estimate_text("abc", 3), 1);
    assert_int_equal(at_llm_estimate_text("abcdefgh", 8), 2);
    json_t *b = js("{\"messages\":[{\"role\":\"user\",\"content\":\"12345678\"},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"abcd\"}]}]}");
    assert_int_equal(at_llm_estimate_request(b), 4 + 2 + 4 + 1);
    json_decref(b);
    json_t *r = js("{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}]}");
    assert_int_equal(at_llm_estimate_response(r), 2);
    json_decref(r);
}

struct collect {
    struct at_llm_stream_acc acc;
    int firsts;
    int events;
};

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)event;
    (void)id;
    struct collect *c = arg;
    c->events++;
    if (at_llm_stream_chunk(&c->acc, data, len) == 1)
        c->firsts++;
    return 0;
}

static void test_stream_openai(void **state)
{
    (void)state;
    /* a llama-server stream, fed one byte at a time */
    const char *s =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],"
        "\"model\":\"tiny\"}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Alpha\"}}]}\n\n"
        ": a comment\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" answers\"}}]}\r\n\r\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
        "{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4}}\n\n"
        "data: [DONE]\n\n";
    struct collect c;
    memset(&c, 0, sizeof(c));
    struct at_sse_parser p;
    at_sse_parser_init(&p, 1 << 16, on_event, &c);
    for (size_t i = 0; s[i]; i++)
        assert_int_equal(at_sse_feed(&p, s + i, 1), 0);
    at_sse_parser_release(&p);
    assert_int_equal(c.events, 7);
    assert_int_equal(c.firsts, 1);
    assert_int_equal(c.acc.chunks_out, 3);
    assert_int_equal(c.acc.chars_out, 5 + 8 + 3);
    assert_int_equal(c.acc.done, 1);
    assert_int_equal(c.acc.have_usage, 1);
    assert_int_equal(c.acc.usage_only, 1);
    assert_string_equal(c.acc.model, "tiny");
    assert_string_equal(c.acc.finish_reason, "stop");
    struct at_llm_usage u;
    at_llm_stream_usage(&c.acc, 99, &u);
    assert_int_equal(u.tokens_in, 5);
    assert_int_equal(u.tokens_out, 4);
    /* without usage: counted */
    c.acc.have_usage = 0;
    at_llm_stream_usage(&c.acc, 99, &u);
    assert_int_equal(u.reported, 0);
    assert_int_equal(u.tokens_in, 99);
    assert_int_equal(u.tokens_out, 4); /* 16 bytes / 4 > 3 chunks */
    /* garbage is not fatal */
    assert_int_equal(at_llm_stream_chunk(&c.acc, "{", 1), AT_EPARSE);
    assert_int_equal(at_llm_stream_chunk(&c.acc, "[1]", 3), AT_EPARSE);
    assert_int_equal(at_llm_stream_chunk(&c.acc, "", 0), AT_EPARSE);
}

static void test_anthropic_request(void **state)
{
    (void)state;
    json_t *o = js(
        "{\"model\":\"x\",\"max_tokens\":100,\"temperature\":0.2,\"stop\":\"END\",\"user\":\"u1\","
        "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"No lists.\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":"
        "\\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"},"
        "{\"role\":\"user\",\"content\":\"Thanks\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}}],"
        "\"tool_choice\":\"required\"}");
    json_t *a = at_llm_anthropic_request(o, "claude-x", 1);
    assert_string_equal(json_string_value(json_object_get(a, "model")), "claude-x");
    assert_string_equal(json_string_value(json_object_get(a, "system")), "Be brief.\n\nNo lists.");
    assert_int_equal(json_integer_value(json_object_get(a, "max_tokens")), 100);
    assert_true(json_is_true(json_object_get(a, "stream")));
    json_t *msgs = json_object_get(a, "messages");
    /* user, assistant(tool_use), user(tool_result + "Thanks" merged) */
    assert_int_equal(json_array_size(msgs), 3);
    json_t *m0 = json_array_get(msgs, 0);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(m0, "content"), 1), "source"),
            "media_type")),
        "image/png");
    json_t *tu = json_array_get(json_object_get(json_array_get(msgs, 1), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(tu, "type")), "tool_use");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tu, "input"), "city")),
                        "Paris");
    json_t *m2 = json_object_get(json_array_get(msgs, 2), "content");
    assert_int_equal(json_array_size(m2), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m2, 0), "tool_use_id")),
                        "c1");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(a, "tools"), 0), "name")),
        "get_weather");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "tool_choice"), "type")), "any");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "stop_sequences"), 0)),
                        "END");
    json_decref(a);
    json_decref(o);
    /* defaults */
    o = js("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    a = at_llm_anthropic_request(o, "m", 0);
    assert_int_equal(json_integer_value(json_object_get(a, "max_tokens")), 4096);
    assert_null(json_object_get(a, "stream"));
    json_decref(a);
    json_decref(o);
}

static void test_anthropic_response(void **state)
{
    (void)state;
    json_t *r = js("{\"id\":\"msg_1\",\"type\":\"message\",\"model\":\"claude-x\","
                   "\"content\":[{\"type\":\"text\",\"text\":\"Let me check.\"},"
                   "{\"type\":\"tool_use\",\"id\":\"tu1\",\"name\":\"get_weather\","
                   "\"input\":{\"city\":\"Paris\"}}],\"stop_reason\":\"tool_use\","
                   "\"usage\":{\"input_tokens\":10,\"output_tokens\":20}}");
    json_t *o = at_llm_anthropic_response(r);
    assert_non_null(o);
    json_t *c0 = json_array_get(json_object_get(o, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "tool_calls");
    json_t *msg = json_object_get(c0, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "Let me check.");
    json_t *tc = json_array_get(json_object_get(msg, "tool_calls"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")),
        "{\"city\":\"Paris\"}");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(o, "usage"), "completion_tokens")), 20);
    json_decref(o);
    json_decref(r);
    r = js("{\"error\":{}}");
    assert_null(at_llm_anthropic_response(r));
    json_decref(r);
    assert_string_equal(at_llm_anthropic_finish("max_tokens"), "length");
    assert_string_equal(at_llm_anthropic_finish("end_turn"), "stop");
    assert_null(at_llm_anthropic_finish(NULL));
}

struct emitted {
    struct at_buf text;
    int n;
    json_t *last;
};

static void emit(void *arg, const char *json, size_t len)
{
    struct emitted *e = arg;
    e->n++;
    json_decref(e->last);
    e->last = NULL;
    assert_int_equal(at_json_parse(json, len, 0, &e->last, NULL), 0);
    json_t *d = json_object_get(json_array_get(json_object_get(e->last, "choices"), 0), "delta");
    const char *t = json_string_value(json_object_get(d, "content"));
    if (t)
        at_buf_puts(&e->text, t);
    json_t *tc = json_array_get(json_object_get(d, "tool_calls"), 0);
    t = json_string_value(json_object_get(json_object_get(tc, "function"), "arguments"));
    if (t)
        at_buf_puts(&e->text, t);
}

static void test_anthropic_stream(void **state)
{
    (void)state;
    static const char *ev[][2] = {
        {"message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"model\":"
                          "\"claude-x\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}"},
        {"content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                                "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"},
        {"ping", "{\"type\":\"ping\"}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                "{\"type\":\"text_delta\",\"text\":\"Hi \"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
        {"content_block_start", "{\"type\":\"content_block_start\",\"index\":1,"
                                "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\","
                                "\"name\":\"f\",\"input\":{}}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
                                "{\"type\":\"input_json_delta\",\"partial_json\":\":1}\"}}"},
        {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
                          "\"usage\":{\"output_tokens\":12}}"},
        {"message_stop", "{\"type\":\"message_stop\"}"},
    };
    struct at_llm_anth_stream s;
    at_llm_anth_stream_init(&s, 1);
    struct emitted e;
    memset(&e, 0, sizeof(e));
    at_buf_init(&e.text, 4096);
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
        assert_int_equal(
            at_llm_anth_stream_event(&s, ev[i][0], ev[i][1], strlen(ev[i][1]), emit, &e), 0);
    assert_string_equal(at_buf_str(&e.text), "Hi {\"a\":1}");
    assert_int_equal(e.n, 7); /* role, text, tool start, 2 args, finish, usage */
    json_t *u = json_object_get(e.last, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 12);
    assert_string_equal(json_string_value(json_object_get(e.last, "id")), "msg_9");
    /* errors go out as an OpenAI error chunk */
    const char *err = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                      "\"message\":\"Overloaded\"}}";
    assert_int_equal(at_llm_anth_stream_event(&s, "error", err, strlen(err), emit, &e), AT_EAGENT);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e.last, "error"), "message")),
        "Overloaded");
    assert_int_equal(at_llm_anth_stream_event(&s, "x", "nope", 4, emit, &e), AT_EPARSE);
    json_decref(e.last);
    at_buf_release(&e.text);
}

static void test_sampling(void **state)
{
    (void)state;
    json_t *p = js("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":"
                   "\"Summarise\"}},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                   "\"text\":\"ok\"},{\"type\":\"image\",\"data\":\"AA\",\"mimeType\":"
                   "\"image/png\"}]}],\"systemPrompt\":\"Be brief\",\"maxTokens\":50,"
                   "\"temperature\":0.1,\"stopSequences\":[\"\\n\"],\"modelPreferences\":"
                   "{\"hints\":[{\"name\":\"fast\"}]}}");
    struct at_diag d;
    at_diag_clear(&d);
    json_t *b = at_llm_sampling_to_chat(p, &d);
    assert_non_null(b);
    json_t *msgs = json_object_get(b, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
                        "system");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                        "Summarise");
    json_t *parts = json_object_get(json_array_get(msgs, 2), "content");
    assert_int_equal(json_array_size(parts), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(parts, 1), "image_url"), "url")),
                        "data:image/png;base64,AA");
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 50);
    json_decref(b);
    json_decref(p);
    p = js("{\"messages\":[{\"role\":\"system\",\"content\":{\"type\":\"text\",\"text\":\"x\"}}]}");
    assert_null(at_llm_sampling_to_chat(p, &d));
    assert_string_equal(d.pointer, "/messages/0/role");
    json_decref(p);
    p = js("{}");
    assert_null(at_llm_sampling_to_chat(p, &d));
    json_decref(p);
    json_t *c = js("{\"model\":\"tiny\",\"choices\":[{\"message\":{\"content\":\"Done.\"},"
                   "\"finish_reason\":\"length\"}],\"atlas\":{\"tier\":\"fast\"}}");
    json_t *r = at_llm_chat_to_sampling(c);
    assert_string_equal(json_string_value(json_object_get(r, "stopReason")), "maxTokens");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "content"), "text")),
                        "Done.");
    assert_string_equal(json_string_value(json_object_get(r, "model")), "tiny");
    assert_non_null(json_object_get(json_object_get(r, "_meta"), "io.atlas/model"));
    json_decref(r);
    json_decref(c);
}

static void test_caller_init(void **state)
{
    (void)state;
    struct at_llm_caller c;
    json_t *k = js("{\"name\":\"a\",\"model\":{\"preference\":\"powerful\","
                   "\"override_allowed\":false}}");
    at_llm_caller_init(&c, "job_2", "job_1", "a@1.0.0", k);
    assert_string_equal(c.job_id, "job_2");
    assert_string_equal(c.root_id, "job_1");
    assert_string_equal(c.agent, "a@1.0.0");
    assert_int_equal(c.agent_tier, AT_LLM_POWERFUL);
    assert_int_equal(c.override_allowed, 0);
    json_decref(k);
    at_llm_caller_init(&c, "job_3", NULL, "b@2.0.0", NULL);
    assert_string_equal(c.root_id, "job_3"); /* a root job is its own root */
    assert_int_equal(c.agent_tier, -1);
    assert_int_equal(c.override_allowed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_usage_range),
        cmocka_unit_test(test_estimates),
        cmocka_unit_test(test_stream_openai),
        cmocka_unit_test(test_anthropic_request),
        cmocka_unit_test(test_anthropic_response),
        cmocka_unit_test(test_anthropic_stream),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_caller_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
