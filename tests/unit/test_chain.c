/* Unit tests: chain files (format, ids, mapping, the checks against the
 * registry through a fake struct at_chain_env, cycles of chains) and the
 * default orchestrator (mediation, text, tiers, back-off). */
#include "base/alloc.h"
#include "base/err.h"
#include "base/map.h"
#include "chain/chain.h"
#include "contract/agent.h"
#include "json/json.h"
#include "json/schema.h"
#include "orch/orch.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

/* ---- a fake registry (struct at_chain_env) ---- */

struct fake {
    struct at_map agents; /* ref -> struct at_contract */
    struct at_map chains; /* name -> struct at_chain */
    int agent_calls, chain_calls;
};

static int fake_agent(void *arg, const char *ref, struct at_contract **out, char *why,
                      size_t whylen)
{
    struct fake *f = arg;
    f->agent_calls++;
    struct at_contract *c = at_map_get(&f->agents, ref);
    if (!c) {
        snprintf(why, whylen, "fake: no \"%s\" here", ref);
        return AT_ENOENT;
    }
    *out = at_contract_ref(c);
    return 0;
}

static struct at_chain *fake_chain(void *arg, const char *name)
{
    struct fake *f = arg;
    f->chain_calls++;
    return at_chain_ref(at_map_get(&f->chains, name));
}

static void fake_init(struct fake *f, struct at_chain_env *env)
{
    memset(f, 0, sizeof(*f));
    at_map_init(&f->agents);
    at_map_init(&f->chains);
    *env = (struct at_chain_env){.arg = f, .agent = fake_agent, .chain = fake_chain};
}

static void fake_agent_add(struct fake *f, const char *name, const char *input_schema,
                           const char *output_schema)
{
    char *y = at_asprintf("agent:\n  name: %s\n  version: 1.0.0\n  entrypoint: [x]\n"
                          "  input: {schema: %s}\n  output: {schema: %s}\n",
                          name, input_schema, output_schema);
    struct at_contract *c;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_contract_load_string("a.yaml", y, strlen(y), &c, &d), 0);
    free(y);
    at_contract_unref(at_map_put(&f->agents, name, c));
}

/* Put a chain in the fake: "name" with one step (agent a) and a fallback
 * chain (NULL: none). */
static void fake_chain_add(struct fake *f, const char *name, const char *fallback)
{
    char *y = fallback ? at_asprintf("chain:\n  name: %s\n  steps: [{agent: a}]\n"
                                     "  on_failure: {strategy: fallback, fallback: {chain: %s}}\n",
                                     name, fallback)
                       : at_asprintf("chain:\n  name: %s\n  steps: [{agent: a}]\n", name);
    struct at_chain *c;
    struct at_diag d;
    assert_int_equal(load(y, &c, &d), 0);
    free(y);
    at_chain_unref(at_map_put(&f->chains, name, c));
}

static void fake_release(struct fake *f)
{
    size_t it = 0;
    void *v;
    while (at_map_next(&f->agents, &it, NULL, &v))
        at_contract_unref(v);
    it = 0;
    while (at_map_next(&f->chains, &it, NULL, &v))
        at_chain_unref(v);
    at_map_release(&f->agents);
    at_map_release(&f->chains);
}

static int load_env(const char *text, const struct at_chain_env *env, struct at_chain **c,
                    struct at_diag *d)
{
    at_diag_clear(d);
    return at_chain_load_string("c.yaml", text, strlen(text), env, c, d);
}

static void test_checks_with_fake_registry(void **state)
{
    (void)state;
    struct fake f;
    struct at_chain_env env;
    fake_init(&f, &env);
    fake_agent_add(&f, "typed",
                   "{type: object, properties: {count: {type: integer}, label: {type: string}},"
                   " required: [count, label], additionalProperties: false}",
                   "{type: object, properties: {n: {type: integer}}, additionalProperties: false}");
    fake_agent_add(&f, "words", "{type: object, properties: {text: {type: string}}}",
                   "{type: object}");
    struct at_chain *c = NULL;
    struct at_diag d;
    /* the environment's reason reaches the message, located */
    assert_int_equal(load_env("chain:\n  name: x\n  steps:\n    - agent: nobody\n", &env, &c, &d),
                     AT_ENOENT);
    assert_int_equal(d.line, 4);
    assert_non_null(strstr(d.msg, "chain.steps[0].agent: fake: no \"nobody\" here"));
    assert_int_equal(
        load_env("chain:\n  name: x\n  steps:\n    - agent: typed\n      input_map: {label: x}\n",
                 &env, &c, &d),
        AT_EINVAL);
    assert_non_null(strstr(d.msg, "requires \"count\", which input_map never provides"));
    assert_int_equal(load_env("chain:\n  name: x\n  steps:\n    - agent: typed\n      input_map: "
                              "{count: 1, label: x, colour: red}\n",
                              &env, &c, &d),
                     AT_EINVAL);
    assert_non_null(strstr(d.msg, "agent typed takes no input \"colour\""));
    assert_int_equal(load_env("chain:\n  name: x\n  steps:\n    - agent: typed\n      input_map: "
                              "{count: 1, label: x}\n    - agent: words\n      input_map: {text: "
                              "\"$.steps[0].output.nonsense\"}\n",
                              &env, &c, &d),
                     AT_EINVAL);
    assert_non_null(strstr(d.msg, "step 0 (typed) never outputs \"nonsense\""));
    assert_int_equal(load_env("chain:\n  name: x\n  steps: [{agent: words}]\n  on_failure: "
                              "{strategy: fallback, fallback: ghost}\n",
                              &env, &c, &d),
                     AT_ENOENT);
    assert_non_null(strstr(d.msg, "fake: no \"ghost\" here (fallback)"));
    /* a chain that fits */
    f.agent_calls = 0;
    assert_int_equal(load_env("chain:\n  name: ok\n  steps:\n    - agent: typed\n      input_map: "
                              "{count: 1, label: x}\n    - agent: words\n      input_map: {text: "
                              "\"$.steps[0].output.n\"}\n",
                              &env, &c, &d),
                     0);
    assert_true(f.agent_calls >= 2);
    assert_int_equal(f.chain_calls, 0); /* loading does not look at other chains */
    at_chain_unref(c);
    /* without an environment only the format is checked */
    assert_int_equal(load("chain:\n  name: x\n  steps:\n    - agent: nobody\n", &c, &d), 0);
    at_chain_unref(c);
    fake_release(&f);
}

static int cycles(const struct at_chain_env *env, const char *text, struct at_diag *d)
{
    struct at_chain *c;
    assert_int_equal(load(text, &c, d), 0);
    at_diag_clear(d);
    int rc = at_chain_check_cycles(c, env, "c.yaml", d);
    at_chain_unref(c);
    return rc;
}

static void test_cycles(void **state)
{
    (void)state;
    struct fake f;
    struct at_chain_env env;
    fake_init(&f, &env);
    struct at_diag d;
    /* a chain that is its own fallback (the SIGSEGV of issue 9) */
    const char *self = "chain:\n  name: a\n  steps: [{agent: x}]\n"
                       "  on_failure: {strategy: fallback, fallback: {chain: a}}\n";
    assert_int_equal(cycles(&env, self, &d), AT_EINVAL);
    assert_string_equal(d.file, "c.yaml");
    assert_non_null(strstr(d.msg, "a -> a"));
    /* ... even when env holds an older "a" without the fallback */
    fake_chain_add(&f, "a", NULL);
    assert_int_equal(cycles(&env, self, &d), AT_EINVAL);
    /* through a step's and a member's on_failure */
    assert_int_equal(cycles(&env,
                            "chain:\n  name: a\n  steps:\n    - agent: x\n      on_failure: "
                            "{strategy: fallback, fallback: {chain: a}}\n",
                            &d),
                     AT_EINVAL);
    assert_int_equal(cycles(&env,
                            "chain:\n  name: a\n  steps:\n    - parallel:\n        - agent: x\n"
                            "          on_failure: {strategy: fallback, fallback: {chain: a}}\n",
                            &d),
                     AT_EINVAL);
    /* a -> b -> a, found when the second one is registered */
    fake_chain_add(&f, "b", "a");
    assert_int_equal(cycles(&env,
                            "chain:\n  name: a\n  steps: [{agent: x}]\n  on_failure: {strategy: "
                            "fallback, fallback: {chain: b}}\n",
                            &d),
                     AT_EINVAL);
    assert_non_null(strstr(d.msg, "a -> b -> a"));
    /* a -> c (not registered yet): no cycle now */
    assert_int_equal(cycles(&env,
                            "chain:\n  name: a\n  steps: [{agent: x}]\n  on_failure: {strategy: "
                            "fallback, fallback: {chain: c}}\n",
                            &d),
                     0);
    /* a cycle elsewhere (d <-> e) that a reaches does not loop the search,
     * and is not a's to answer for */
    fake_chain_add(&f, "d", "e");
    fake_chain_add(&f, "e", "d");
    f.chain_calls = 0;
    assert_int_equal(cycles(&env,
                            "chain:\n  name: a\n  steps: [{agent: x}]\n  on_failure: {strategy: "
                            "fallback, fallback: {chain: d}}\n",
                            &d),
                     0);
    assert_int_equal(f.chain_calls, 2);
    /* a diamond is not a cycle */
    fake_chain_add(&f, "p", NULL);
    fake_chain_add(&f, "q", "p");
    assert_int_equal(cycles(&env,
                            "chain:\n  name: a\n  steps:\n    - agent: x\n      on_failure: "
                            "{strategy: fallback, fallback: {chain: p}}\n    - agent: y\n"
                            "      on_failure: {strategy: fallback, fallback: {chain: q}}\n",
                            &d),
                     0);
    fake_release(&f);

    /* a cycle through 3,000 chains: found (iteratively), the path
     * shortened to fit */
    fake_init(&f, &env);
    char name[32], next[32];
    for (int i = 1; i < 3000; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        snprintf(next, sizeof(next), "n%d", (i + 1) % 3000);
        fake_chain_add(&f, name, next);
    }
    assert_int_equal(cycles(&env,
                            "chain:\n  name: n0\n  steps: [{agent: x}]\n  on_failure: {strategy: "
                            "fallback, fallback: {chain: n1}}\n",
                            &d),
                     AT_EINVAL);
    assert_non_null(strstr(d.msg, "n0 -> n1 -> n2 -> "));
    assert_non_null(strstr(d.msg, "..."));
    /* no environment (or no chain function): nothing to check against */
    assert_int_equal(cycles(NULL, self, &d), 0);
    fake_release(&f);
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
        cmocka_unit_test(test_route_answer),  cmocka_unit_test(test_checks_with_fake_registry),
        cmocka_unit_test(test_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
