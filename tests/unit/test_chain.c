/* Unit tests: chain files (format, ids, mapping) and the default
 * orchestrator (mediation, text, tiers, back-off). */
#include "base/err.h"
#include "chain/chain.h"
#include "contract/agent.h"
#include "json/json.h"
#include "json/schema.h"
#include "orch/orch.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int load(const char *text, struct at_chain **c, struct at_diag *d)
{
    at_diag_clear(d);
    return at_chain_load_string("c.yaml", text, strlen(text), NULL, c, d);
}

static void test_format_errors(void **state)
{
    (void)state;
    struct at_chain *c;
    struct at_diag d;
    assert_int_equal(load("chain:\n  name: x\n  steps: []\n", &c, &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "non-empty list of steps"));
    assert_int_equal(load("chain:\n  name: x\n  steps:\n    - agent: a\n      bogus: 1\n", &c, &d),
                     AT_EINVAL);
    assert_int_equal(d.line, 5);
    assert_non_null(strstr(d.msg, "chain.steps[0].bogus: unknown key"));
    assert_int_equal(
        load("chain:\n  name: x\n  steps:\n    - {agent: a, parallel: [{agent: b}]}\n", &c, &d),
        AT_EINVAL);
    assert_non_null(strstr(d.msg, "either `agent:` or `parallel:`"));
    assert_int_equal(load("chain:\n  name: x\n  steps:\n    - agent: a\n      input_map: {q: "
                          "\"$.trigger[\"}\n",
                          &c, &d),
                     AT_EPARSE);
    assert_int_equal(d.line, 5);
    assert_int_equal(load("chain:\n  name: x\n  steps:\n    - agent: a\n      input_map: {q: "
                          "\"$.steps[0].output\"}\n",
                          &c, &d),
                     AT_EINVAL);
    assert_non_null(strstr(d.msg, "has not run yet"));
    assert_int_equal(load("chain:\n  name: x\n  steps:\n    - agent: a\n      input_map: {q: "
                          "\"$.elsewhere\"}\n",
                          &c, &d),
                     AT_EINVAL);
    assert_int_equal(load("chain:\n  name: x\n  steps:\n    - {agent: a, id: s}\n    - {agent: b, "
                          "id: s}\n",
                          &c, &d),
                     AT_EINVAL);
    assert_non_null(strstr(d.msg, "used twice"));
    assert_int_equal(load("chain:\n  name: x\n  steps: [{agent: a}]\n  on_failure: {strategy: "
                          "fallback}\n",
                          &c, &d),
                     AT_EINVAL);
    assert_int_equal(load("chain:\n  name: x\n  steps: [{agent: a}]\n  on_failure: {strategy: "
                          "retry_then_skip, fallback: b}\n",
                          &c, &d),
                     AT_EINVAL);
}

static void test_mapping(void **state)
{
    (void)state;
    const char *text =
        "chain:\n"
        "  name: m\n"
        "  steps:\n"
        "    - id: first\n"
        "      agent: a\n"
        "      input_map: {q: \"$.trigger.q\", n: 3, s: \"$$lit\", gone: \"$.trigger.none\"}\n"
        "    - agent: b\n"
        "      input_map: {x: \"$.steps.first.output.x\", i: \"$.steps[0].input.n\","
        " all: \"$.steps[0].output.list[*]\"}\n"
        "    - agent: c\n";
    struct at_chain *c;
    struct at_diag d;
    assert_int_equal(load(text, &c, &d), 0);
    assert_int_equal(c->nsteps, 3);
    assert_int_equal(c->on_failure.strategy, AT_CHAIN_HALT);
    assert_string_equal(c->steps[1].map[0].expr, "$.steps[0].output.x"); /* id rewritten */
    json_t *trigger = json_pack("{s:s}", "q", "hello");
    json_t *ctx = at_chain_context_new(trigger);
    json_t *in0 = at_chain_map_input(&c->steps[0], 0, ctx);
    assert_string_equal(json_string_value(json_object_get(in0, "q")), "hello");
    assert_int_equal(json_integer_value(json_object_get(in0, "n")), 3);
    assert_string_equal(json_string_value(json_object_get(in0, "s")), "$lit");
    assert_null(json_object_get(in0, "gone")); /* nothing selected: key left out */
    json_t *out0 = json_pack("{s:i,s:[i,i]}", "x", 42, "list", 1, 2);
    at_chain_context_set(ctx, 0, &c->steps[0], in0, out0, "completed");
    json_t *in1 = at_chain_map_input(&c->steps[1], 1, ctx);
    assert_int_equal(json_integer_value(json_object_get(in1, "x")), 42);
    assert_int_equal(json_integer_value(json_object_get(in1, "i")), 3);
    assert_int_equal(json_array_size(json_object_get(in1, "all")), 2);
    at_chain_context_set(ctx, 1, &c->steps[1], in1, NULL, "skipped");
    json_t *in2 = at_chain_map_input(&c->steps[2], 2, ctx); /* no map: previous output, or {} */
    assert_int_equal(json_object_size(in2), 0);
    json_t *out = at_chain_output(ctx);
    assert_int_equal(json_integer_value(json_object_get(out, "x")), 42); /* the last one produced */
    /* the stored form round-trips */
    struct at_chain *again;
    assert_int_equal(at_chain_from_json(c->json, &again, &d), 0);
    assert_int_equal(again->nsteps, 3);
    at_chain_unref(again);
    json_decref(out);
    json_decref(in2);
    json_decref(in1);
    json_decref(out0);
    json_decref(in0);
    json_decref(ctx);
    json_decref(trigger);
    at_chain_unref(c);
}

static struct at_schema *schema(const char *text)
{
    json_t *j;
    assert_int_equal(at_json_parse(text, strlen(text), 0, &j, NULL), 0);
    struct at_schema *s;
    assert_int_equal(at_schema_new(j, &s, NULL), 0);
    json_decref(j);
    return s;
}

static void test_mediation(void **state)
{
    (void)state;
    struct at_schema *s =
        schema("{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"},"
               "\"flag\":{\"type\":\"boolean\",\"default\":true},\"text\":{\"type\":\"string\"},"
               "\"tags\":{\"type\":\"array\"}},\"required\":[\"count\",\"text\"],"
               "\"additionalProperties\":false}");
    json_t *decisions = json_array();
    json_t *in = json_pack("{s:s,s:[{s:s,s:s},s],s:s,s:s}", "COUNT", "12", "Text", "title", "A",
                           "body", "B", "c", "tags", "one", "extra", "x");
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_orch_mediate(s, in, decisions, &d), 0);
    assert_int_equal(json_integer_value(json_object_get(in, "count")), 12);
    assert_string_equal(json_string_value(json_object_get(in, "text")), "A - B\nc");
    assert_true(json_is_true(json_object_get(in, "flag")));
    assert_int_equal(json_array_size(json_object_get(in, "tags")), 1);
    assert_null(json_object_get(in, "extra"));
    assert_true(json_array_size(decisions) >= 5);
    json_decref(in);
    /* what cannot be fixed names the pointer */
    in = json_pack("{s:s,s:s}", "count", "twelve", "text", "t");
    assert_int_equal(at_orch_mediate(s, in, NULL, &d), AT_ESCHEMA);
    assert_string_equal(d.pointer, "/count");
    json_decref(in);
    /* a valid input is left alone */
    in = json_pack("{s:i,s:s}", "count", 1, "text", "t");
    json_t *none = json_array();
    assert_int_equal(at_orch_mediate(s, in, none, &d), 0);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
    json_decref(in);
    json_decref(decisions);
    at_schema_free(s);
}

static void test_text_tiers_backoff(void **state)
{
    (void)state;
    json_t *v = json_pack("[s,{s:s,s:i},i]", "a", "t", "b", "n", 1, 3);
    char *t = at_orch_to_text(v);
    assert_string_equal(t, "a\nb\n3");
    free(t);
    json_decref(v);
    struct at_contract *c;
    struct at_diag d;
    const char *y = "agent:\n  name: a\n  version: 1.0.0\n  entrypoint: [x]\n"
                    "  model: {preference: balanced, override_allowed: true}\n";
    assert_int_equal(at_contract_load_string("a.yaml", y, strlen(y), &c, &d), 0);
    char reason[200];
    json_t *small = json_pack("{s:s}", "q", "hi");
    assert_string_equal(at_orch_select_tier(c, NULL, small, reason, sizeof(reason)), "balanced");
    assert_string_equal(at_orch_select_tier(c, "cost_optimized", small, reason, sizeof(reason)),
                        "fast");
    assert_string_equal(at_orch_select_tier(c, "task_complexity", small, reason, sizeof(reason)),
                        "fast");
    json_decref(small);
    at_contract_unref(c);
    assert_true(fabs(at_orch_backoff(0.5, 30, 0) - 0.5) < 1e-9);
    assert_true(fabs(at_orch_backoff(0.5, 30, 3) - 4.0) < 1e-9);
    assert_true(fabs(at_orch_backoff(0.5, 30, 40) - 30.0) < 1e-9);
    assert_true(at_orch_retryable(AT_ECRASH));
    assert_false(at_orch_retryable(AT_ESCHEMA));
}

/* model-based routing: which candidate a model's answer names */
static void test_route_answer(void **state)
{
    (void)state;
    json_t *c = json_pack("[{s:s,s:s,s:s,s:[]},{s:s,s:s,s:s,s:[]},{s:s,s:s,s:s,s:[s]}]", "agent",
                          "word-count:1.0.0", "name", "word-count", "description", "counts words",
                          "capabilities", "agent", "word:0.1.0", "name", "word", "description", "w",
                          "capabilities", "agent", "summarizer:2.0.0", "name", "summarizer",
                          "description", "summaries", "capabilities", "summarization");
    assert_string_equal(at_orch_route_answer("Use word-count.", c), "word-count:1.0.0");
    assert_string_equal(at_orch_route_answer("SUMMARIZER", c), "summarizer:2.0.0");
    assert_string_equal(at_orch_route_answer("the word agent", c), "word:0.1.0");
    assert_null(at_orch_route_answer("word-counter", c)); /* not a word of its own */
    assert_null(at_orch_route_answer("none of them", c));
    assert_null(at_orch_route_answer(NULL, c));
    json_t *in = json_pack("{s:s}", "text", "a b");
    json_t *req = at_orch_route_prompt(in, "count", c);
    json_decref(in);
    const char *user = json_string_value(
        json_object_get(json_array_get(json_object_get(req, "messages"), 1), "content"));
    assert_non_null(strstr(user, "- word-count: counts words"));
    assert_non_null(strstr(user, "Input: {\"text\":\"a b\"}"));
    assert_non_null(strstr(user, "Request: count"));
    assert_string_equal(json_string_value(json_object_get(req, "model")), "atlas:fast");
    json_decref(req);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_errors), cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_mediation),     cmocka_unit_test(test_text_tiers_backoff),
        cmocka_unit_test(test_route_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
