/*
 * test_orch.c - the default orchestrator's routing candidates (issue 9):
 * never an agent whose input schema the input does not satisfy, never an
 * orchestrator, conversational agents for chat-like input only, and a
 * caller's fit predicate (the machine's hardware) that drops candidates
 * and says why; then the ranking among what is left, model tiers and
 * recovery.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "contract/agent.h"
#include "json/json.h"
#include "orch/orch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *js(const char *text)
{
    json_t *v = NULL;
    if (at_json_parse(text, strlen(text), 0, &v, NULL))
        fail_msg("bad JSON in test: %s", text);
    return v;
}

/* A contract from agent.yaml text: name, type, input schema (JSON), extra
 * lines (capabilities, hardware). */
static struct at_contract *contract(const char *name, const char *type, const char *schema,
                                    const char *extra)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "agent:\n  name: %s\n  version: \"1.0.0\"\n  description: \"the %s agent\"\n"
             "  type: %s\n  entrypoint: [\"./run\"]\n  input:\n    schema: %s\n%s",
             name, name, type, schema, extra ? extra : "");
    struct at_contract *c = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_contract_load_string("agent.yaml", y, strlen(y), &c, &d))
        fail_msg("contract %s: %s", name, d.msg);
    return c;
}

static void test_chat_like(void **state)
{
    (void)state;
    const char *yes[] = {"\"hello\"", "{\"message\": \"hi\"}",
                         "{\"message\": {\"role\": \"user\", \"content\": \"hi\"}, \"user_id\": 1}",
                         "{\"messages\": []}", "{\"text\": \"just text\"}"};
    const char *no[] = {"{}",
                        "{\"text\": \"a\", \"max_length\": 3}",
                        "{\"count\": 3}",
                        "{\"message\": 5}",
                        "[\"hi\"]",
                        "42"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        json_t *v = js(yes[i]);
        assert_int_equal(at_orch_chat_like(v), 1);
        json_decref(v);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        json_t *v = js(no[i]);
        assert_int_equal(at_orch_chat_like(v), 0);
        json_decref(v);
    }
}

static void test_candidates(void **state)
{
    (void)state;
    struct at_contract *summ =
        contract("summarizer", "agent",
                 "{type: object, properties: {text: {type: string}, max_length: {type: integer, "
                 "default: 200}}, required: [text], additionalProperties: false}",
                 NULL);
    struct at_contract *orch = contract("orch", "orchestrator", "{type: object}", NULL);
    struct at_contract *door =
        contract("front-door", "conversational",
                 "{type: object, properties: {message: {type: string}, user_id: {type: string}}, "
                 "required: [message]}",
                 NULL);
    struct at_contract *anyconv = contract("chatty", "conversational", "{type: object}", NULL);
    char why[300];
    json_t *text = js("{\"text\": \"a long story\"}");
    json_t *count = js("{\"count\": 3}");
    json_t *msg = js("{\"message\": \"hello\", \"user_id\": \"u1\"}");
    json_t *msgs = js("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
    json_t *extra = js("{\"text\": \"x\", \"colour\": \"red\"}");

    /* the input schema decides, with defaults applied to a copy */
    assert_int_equal(at_orch_route_candidate(summ, text, NULL, NULL, why, sizeof(why)), 1);
    assert_null(json_object_get(text, "max_length")); /* the input is not changed */
    assert_int_equal(at_orch_route_candidate(summ, count, NULL, NULL, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "input schema does not accept"));
    assert_int_equal(at_orch_route_candidate(summ, extra, NULL, NULL, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "/colour"));
    /* orchestrators never */
    assert_int_equal(at_orch_route_candidate(orch, text, NULL, NULL, why, sizeof(why)), 0);
    assert_string_equal(why, "an orchestrator");
    /* conversational: for chat-like input, and still only when its schema takes it */
    assert_int_equal(at_orch_route_candidate(door, msg, NULL, NULL, why, sizeof(why)), 1);
    assert_int_equal(at_orch_route_candidate(door, msgs, NULL, NULL, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "input schema"));
    assert_int_equal(at_orch_route_candidate(anyconv, msgs, NULL, NULL, why, sizeof(why)), 1);
    assert_int_equal(at_orch_route_candidate(anyconv, count, NULL, NULL, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "not a chat message"));
    assert_int_equal(at_orch_route_candidate(summ, msg, NULL, NULL, why, sizeof(why)), 0);

    json_decref(text);
    json_decref(count);
    json_decref(msg);
    json_decref(msgs);
    json_decref(extra);
    at_contract_unref(summ);
    at_contract_unref(orch);
    at_contract_unref(door);
    at_contract_unref(anyconv);
}

/* A stand-in for the machine's hardware fit: no GPU here. */
static int no_gpu(void *arg, const struct at_contract *c, char *why, size_t n)
{
    int *calls = arg;
    (*calls)++;
    json_t *hw = json_object_get(c->json, "hardware");
    if (json_is_true(json_object_get(hw, "gpu"))) {
        snprintf(why, n, "needs a GPU; this machine has none");
        return 0;
    }
    return 1;
}

static void test_route_among(void **state)
{
    (void)state;
    struct at_contract *cs[] = {
        contract("echo", "agent", "{type: object}", NULL),
        contract("front-door", "conversational",
                 "{type: object, properties: {message: {type: string}}, required: [message]}",
                 NULL),
        contract("gpu-summarizer", "agent",
                 "{type: object, properties: {text: {type: string}}, required: [text]}",
                 "  capabilities: [summarization]\n  hardware: {gpu: true}\n"),
        contract("orch", "orchestrator", "{type: object}", NULL),
        contract("summarizer", "agent",
                 "{type: object, properties: {text: {type: string}}, required: [text]}",
                 "  capabilities: [summarization]\n"),
    };
    size_t n = sizeof(cs) / sizeof(cs[0]);
    struct at_diag d;
    char *agent = NULL;
    json_t *dec = json_array(), *cands = NULL;

    /* a chat message: the front door before the catch-all */
    json_t *in = js("{\"message\": \"hello there\"}");
    at_diag_clear(&d);
    assert_int_equal(at_orch_route_among(cs, n, in, NULL, NULL, NULL, &agent, dec, &cands, &d), 0);
    assert_string_equal(agent, "front-door:1.0.0");
    assert_int_equal(json_array_size(cands), 2); /* front-door, echo; never orch */
    assert_string_equal(at_json_str(json_array_get(cands, 1), "agent", ""), "echo:1.0.0");
    assert_string_equal(at_json_str(json_array_get(cands, 0), "type", ""), "conversational");
    assert_non_null(strstr(json_string_value(json_array_get(dec, 0)), "conversational agent"));
    free(agent);
    json_decref(cands);
    json_decref(in);

    /* without a fit predicate the GPU agent competes (and wins on the name) */
    in = js("{\"text\": \"gpu summarization of this\"}");
    at_diag_clear(&d);
    assert_int_equal(at_orch_route_among(cs, n, in, NULL, NULL, NULL, &agent, NULL, NULL, &d), 0);
    assert_string_equal(agent, "gpu-summarizer:1.0.0");
    free(agent);
    /* with it, the agent that needs hardware the machine lacks is never picked,
     * and the decisions say why */
    int calls = 0;
    json_array_clear(dec);
    at_diag_clear(&d);
    assert_int_equal(at_orch_route_among(cs, n, in, NULL, no_gpu, &calls, &agent, dec, &cands, &d),
                     0);
    assert_string_equal(agent, "summarizer:1.0.0");
    /* summarizer and echo: front-door's schema needs a message, plain text or not */
    assert_int_equal(json_array_size(cands), 2);
    for (size_t i = 0; i < json_array_size(cands); i++)
        assert_string_not_equal(at_json_str(json_array_get(cands, i), "name", ""),
                                "gpu-summarizer");
    assert_string_equal(json_string_value(json_array_get(dec, 0)),
                        "routing: not gpu-summarizer:1.0.0 (needs a GPU; this machine has none)");
    /* the predicate is asked only about agents the input fits */
    assert_int_equal(calls, 3);
    free(agent);
    json_decref(cands);
    json_decref(in);

    /* nothing fits: not found, and the message says some could not run here */
    in = js("{\"text\": \"x\"}");
    at_diag_clear(&d);
    agent = NULL;
    struct at_contract *gpu_only[] = {cs[2], cs[3]}; /* and an orchestrator */
    assert_int_equal(
        at_orch_route_among(gpu_only, 2, in, NULL, no_gpu, &calls, &agent, NULL, NULL, &d),
        AT_ENOENT);
    assert_null(agent);
    assert_non_null(strstr(d.msg, "cannot run here"));
    json_decref(in);
    /* no schema accepts it */
    in = js("{\"count\": 1}");
    struct at_contract *typed[] = {cs[1], cs[2], cs[4]};
    at_diag_clear(&d);
    assert_int_equal(at_orch_route_among(typed, 3, in, NULL, NULL, NULL, &agent, NULL, NULL, &d),
                     AT_ENOENT);
    assert_non_null(strstr(d.msg, "input schemas match"));
    json_decref(in);

    json_decref(dec);
    for (size_t i = 0; i < n; i++)
        at_contract_unref(cs[i]);
}

static void test_tiers_and_recovery(void **state)
{
    (void)state;
    struct at_contract *c = contract("t", "agent", "{type: object}",
                                     "  model: {preference: powerful, override_allowed: true}\n");
    char why[160];
    json_t *in = js("{\"text\": \"short\"}");
    assert_string_equal(at_orch_select_tier(c, NULL, in, why, sizeof(why)), "powerful");
    assert_string_equal(at_orch_select_tier(c, "cost_optimized", in, why, sizeof(why)), "balanced");
    assert_string_equal(at_orch_select_tier(c, "latency_optimized", in, why, sizeof(why)), "fast");
    assert_string_equal(at_orch_select_tier(c, "task_complexity", in, why, sizeof(why)), "fast");
    json_decref(in);
    at_contract_unref(c);
    assert_int_equal(at_orch_retryable(AT_ECRASH), 1);
    assert_int_equal(at_orch_retryable(AT_ESCHEMA), 0);
    assert_int_equal(at_orch_retryable(AT_ELIMIT), 0);
    assert_true(at_orch_backoff(0.5, 30, 0) == 0.5);
    assert_true(at_orch_backoff(0.5, 30, 10) == 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_like),
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_route_among),
        cmocka_unit_test(test_tiers_and_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
