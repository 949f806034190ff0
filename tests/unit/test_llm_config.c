/*
 * test_llm_config.c - the `models:` section: defaults, every key, located
 * errors, environment overrides, and selection (tiers, explicit models,
 * preferences, overrides, routing strategies, MCP modelPreferences).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "contract/config.h"
#include "contract/yaml.h"
#include "json/json.h"
#include "llm/config.h"
#include "llm/gateway.h"
#include "llm/select.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void clear_env(void)
{
    unsetenv("ATLAS_LLM_BASE_URL");
    unsetenv("ATLAS_LLM_MODEL");
    unsetenv("ATLAS_LLM_API_KEY");
    unsetenv("ATLAS_LLM_KIND");
}

/* Load YAML text as the whole config file and build the models settings. */
static int load(const char *yaml, struct at_llm_config *c, struct at_diag *d)
{
    struct at_yaml_doc doc;
    memset(&doc, 0, sizeof(doc));
    memset(c, 0, sizeof(*c));
    at_diag_clear(d);
    int rc = at_yaml_load_string(&doc, "cfg.yaml", yaml, strlen(yaml), d);
    assert_int_equal(rc, 0);
    rc = at_llm_config_from_json(c, &doc, json_object_get(doc.root, "models"), d);
    at_yaml_doc_release(&doc);
    return rc;
}

static const char *full =
    "models:\n"
    "  backends:\n"
    "    local:\n"
    "      kind: openai\n"
    "      base_url: \"http://127.0.0.1:8080/v1/\"\n"
    "      api_key_env: \"TEST_LLM_KEY\"\n"
    "      max_concurrency: 3\n"
    "      max_queue: 7\n"
    "      timeout: 9\n"
    "      models: [\"qwen\", \"llama\"]\n"
    "      prices: {\"qwen\": {input_per_mtok: 0.5, output_per_mtok: 1.5}}\n"
    "    cloud:\n"
    "      kind: anthropic\n"
    "      base_url: \"https://api.example.com/v1\"\n"
    "      api_key: \"sk-inline\"\n"
    "      models: [\"claude-sonnet\", \"claude-opus\"]\n"
    "      prices: {\"claude-opus\": {input_per_mtok: 15, output_per_mtok: 75},\n"
    "               \"claude-sonnet\": {input_per_mtok: 3, output_per_mtok: 15}}\n"
    "  tiers:\n"
    "    fast: [\"qwen\", \"llama\"]\n"
    "    balanced: [\"claude-sonnet\"]\n"
    "    powerful: [\"claude-opus\", \"claude-sonnet\"]\n"
    "  default_tier: fast\n"
    "  routing_strategy: cost_optimized\n"
    "  retry: {max_retries: 3, max_retry_after: 7, backoff: 0.5}\n"
    "  health: {failure_threshold: 4, probe_interval: 2}\n";

static void test_full(void **state)
{
    (void)state;
    clear_env();
    setenv("TEST_LLM_KEY", "sk-from-env", 1);
    struct at_llm_config c;
    struct at_diag d;
    assert_int_equal(load(full, &c, &d), 0);
    assert_int_equal(c.nbackends, 2);
    const struct at_llm_backend_cfg *b = &c.backends[0];
    assert_string_equal(b->name, "local");
    assert_string_equal(b->base_url, "http://127.0.0.1:8080/v1"); /* trailing slash dropped */
    assert_string_equal(b->api_key, "sk-from-env");
    assert_int_equal(b->max_concurrency, 3);
    assert_int_equal(b->max_queue, 7);
    assert_true(b->timeout_s == 9);
    assert_int_equal(b->discover, 0);
    assert_int_equal(b->nmodels, 2);
    assert_true(b->models[0].price.in_per_mtok == 0.5 && b->models[0].price.out_per_mtok == 1.5);
    assert_true(b->models[1].price.in_per_mtok == 0);
    assert_int_equal(c.backends[1].kind, AT_LLM_ANTHROPIC);
    assert_string_equal(c.backends[1].api_key, "sk-inline");
    assert_int_equal(c.ntiers[AT_LLM_POWERFUL], 2);
    assert_int_equal(c.default_tier, AT_LLM_FAST);
    assert_int_equal(c.routing_strategy, AT_LLM_STRATEGY_COST);
    assert_int_equal(c.max_retries, 3);
    assert_true(c.max_retry_after == 7 && c.backoff_base == 0.5);
    assert_int_equal(c.failure_threshold, 4);
    assert_true(c.probe_interval == 2);
    const struct at_llm_model_cfg *m;
    assert_int_equal(at_llm_config_find(&c, "claude-opus", -1, &m), 1);
    assert_true(m->price.out_per_mtok == 75);
    assert_int_equal(at_llm_config_find(&c, "nope", -1, NULL), -1);
    at_llm_config_release(&c);
    unsetenv("TEST_LLM_KEY");
}

static void test_defaults(void **state)
{
    (void)state;
    clear_env();
    struct at_llm_config c;
    struct at_diag d;
    assert_int_equal(load("models:\n  backends:\n    x: {base_url: \"http://h/v1\"}\n", &c, &d), 0);
    assert_int_equal(c.backends[0].kind, AT_LLM_OPENAI);
    assert_int_equal(c.backends[0].max_concurrency, 4);
    assert_int_equal(c.backends[0].discover, 1);
    assert_null(c.backends[0].api_key);
    assert_int_equal(c.default_tier, AT_LLM_BALANCED);
    assert_int_equal(c.routing_strategy, AT_LLM_STRATEGY_NONE);
    assert_int_equal(c.max_retries, 2);
    at_llm_config_release(&c);
    /* no models section at all */
    memset(&c, 0, sizeof(c));
    assert_int_equal(at_llm_config_from_json(&c, NULL, NULL, &d), 0);
    assert_int_equal(c.nbackends, 0);
    at_llm_config_release(&c);
}

static void expect_error(const char *yaml, int line, int col, const char *needle)
{
    struct at_llm_config c;
    struct at_diag d;
    int rc = load(yaml, &c, &d);
    at_llm_config_release(&c);
    assert_int_equal(rc, AT_EINVAL);
    if (!strstr(d.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", d.msg, needle);
    assert_string_equal(d.file, "cfg.yaml");
    /* line 0: anywhere (where a missing key is reported is the shape checker's choice) */
    if (line == 0 ? d.line < 1 : (d.line != line || d.col != col))
        fail_msg("%s: at %d:%d, want %d:%d", d.msg, d.line, d.col, line, col);
}

static void test_errors_located(void **state)
{
    (void)state;
    clear_env();
    expect_error("models:\n  backends:\n    x:\n      kind: foo\n      base_url: \"http://h\"\n", 4,
                 13, "models.backends.x.kind");
    expect_error("models:\n  backends:\n    x:\n      kind: openai\n", 0, 0, "required");
    expect_error("models:\n  backends:\n    x: {base_url: \"ftp://h\"}\n", 3, 19, "http://");
    expect_error("models:\n  backends:\n    x: {base_url: \"http://h\", max_concurrency: 0}\n", 3,
                 48, "at least 1");
    expect_error("models:\n  backend: {}\n", 2, 3, "unknown key \"backend\"");
    expect_error("models:\n  tiers:\n    quick: [a]\n", 3, 5, "unknown key \"quick\"");
    expect_error("models:\n  tiers:\n    fast: a\n", 3, 11, "a list of strings");
    expect_error("models:\n  routing_strategy: cheapest\n", 2, 21, "cost_optimized");
    expect_error("models:\n  backends:\n    \"a b\": {base_url: \"http://h\"}\n", 3, 5,
                 "backend name");
    expect_error("models:\n  backends:\n    x: {base_url: \"http://h\", api_key: k, "
                 "api_key_env: K}\n",
                 3, 31, "not both");
    expect_error("models:\n  backends:\n    x: {base_url: \"http://h\", models: [m]}\n"
                 "  tiers:\n    fast: [m, z]\n",
                 5, 15, "\"z\" is not served");
    expect_error("models:\n  backends:\n    x: {base_url: \"http://h\", prices: {m: "
                 "{input_per_mtok: -1}}}\n",
                 3, 60, "at least 0");
}

static void test_env_overrides(void **state)
{
    (void)state;
    clear_env();
    struct at_llm_config c;
    struct at_diag d;
    /* no file: the environment alone makes a backend */
    setenv("ATLAS_LLM_BASE_URL", "http://127.0.0.1:9/v1", 1);
    setenv("ATLAS_LLM_MODEL", "m1", 1);
    setenv("ATLAS_LLM_API_KEY", "sk-env", 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(at_llm_config_from_json(&c, NULL, NULL, &d), 0);
    assert_int_equal(c.nbackends, 1);
    assert_string_equal(c.backends[0].name, "default");
    assert_string_equal(c.backends[0].api_key, "sk-env");
    assert_int_equal(c.backends[0].nmodels, 1);
    for (int t = 0; t < AT_LLM_NTIERS; t++) {
        assert_int_equal(c.ntiers[t], 1);
        assert_string_equal(c.tiers[t][0], "m1");
    }
    at_llm_config_release(&c);
    /* one backend in the file: overridden */
    assert_int_equal(load("models:\n  backends:\n    x: {base_url: \"http://h/v1\", api_key: a, "
                          "models: [q]}\n  tiers:\n    fast: [m1]\n",
                          &c, &d),
                     0);
    assert_string_equal(c.backends[0].base_url, "http://127.0.0.1:9/v1");
    assert_string_equal(c.backends[0].api_key, "sk-env");
    assert_string_equal(c.backends[0].models[0].name, "m1");
    at_llm_config_release(&c);
    /* two backends: refused */
    int rc = load("models:\n  backends:\n    x: {base_url: \"http://h\"}\n    y: {base_url: "
                  "\"http://i\"}\n",
                  &c, &d);
    at_llm_config_release(&c);
    assert_int_equal(rc, AT_EINVAL);
    assert_string_equal(d.file, "ATLAS_LLM_BASE_URL");
    /* model without URL and no backend */
    unsetenv("ATLAS_LLM_BASE_URL");
    memset(&c, 0, sizeof(c));
    assert_int_equal(at_llm_config_from_json(&c, NULL, NULL, &d), AT_EINVAL);
    at_llm_config_release(&c);
    setenv("ATLAS_LLM_BASE_URL", "file:///etc", 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(at_llm_config_from_json(&c, NULL, NULL, &d), AT_EINVAL);
    at_llm_config_release(&c);
    setenv("ATLAS_LLM_BASE_URL", "http://h", 1);
    setenv("ATLAS_LLM_KIND", "grpc", 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(at_llm_config_from_json(&c, NULL, NULL, &d), AT_EINVAL);
    at_llm_config_release(&c);
    clear_env();
}

static void test_daemon_config(void **state)
{
    (void)state;
    clear_env();
    /* through the daemon's loader: the file is read again for locations */
    char path[] = "/tmp/atlas-llm-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "execution:\n  resource_budget: {max_tokens_per_chain: 1234}\n"
                       "models:\n  backends:\n    x:\n      base_url: \"http://h\"\n"
                       "      max_concurrency: -3\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct at_config cfg;
    at_config_init(&cfg);
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_config_load_file(&cfg, path, &d), 0);
    struct at_llm_config c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(at_llm_config_load(&c, &cfg, &d), AT_EINVAL);
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 7);
    at_llm_config_release(&c);
    at_config_release(&cfg);
    unlink(path);
}

/* ---- selection ---- */

static struct at_llm_config sel_conf(void)
{
    struct at_llm_config c;
    struct at_diag d;
    assert_int_equal(load(full, &c, &d), 0);
    c.routing_strategy = AT_LLM_STRATEGY_NONE;
    c.default_tier = AT_LLM_BALANCED;
    return c;
}

static struct at_llm_prefs prefs(const char *model)
{
    struct at_llm_prefs p = {.model = model, .agent_tier = -1, .override_tier = -1};
    return p;
}

static void test_select_tiers(void **state)
{
    (void)state;
    struct at_llm_config c = sel_conf();
    struct at_llm_choice ch;
    struct at_diag d;
    struct at_llm_prefs p = prefs("atlas:fast");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_FAST);
    assert_int_equal(ch.ncand, 2);
    assert_string_equal(ch.cand[0].model, "qwen");
    assert_string_equal(ch.cand[1].model, "llama");
    assert_non_null(strstr(ch.reason, "names tier fast"));
    p = prefs("powerful");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_POWERFUL);
    assert_string_equal(ch.cand[0].model, "claude-opus");
    assert_int_equal(ch.cand[0].backend, 1);
    /* an explicit model first, then the rest of its tier */
    p = prefs("claude-sonnet");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_BALANCED);
    assert_int_equal(ch.ncand, 1);
    p = prefs("llama");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_string_equal(ch.cand[0].model, "llama");
    assert_string_equal(ch.cand[1].model, "qwen");
    /* no model: the default tier */
    p = prefs(NULL);
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_BALANCED);
    assert_non_null(strstr(ch.reason, "default tier balanced"));
    /* unknown: 404 for users, ignored for agents */
    p = prefs("gpt-4o");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), AT_ENOENT);
    assert_non_null(strstr(d.msg, "gpt-4o"));
    p.is_agent = 1;
    p.agent_tier = AT_LLM_FAST;
    p.override_allowed = 1;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_FAST);
    assert_non_null(strstr(ch.reason, "agent preference fast"));
    at_llm_config_release(&c);
}

static void test_select_override(void **state)
{
    (void)state;
    struct at_llm_config c = sel_conf();
    struct at_llm_choice ch;
    struct at_diag d;
    struct at_llm_prefs p = prefs(NULL);
    p.is_agent = 1;
    p.agent_tier = AT_LLM_POWERFUL;
    p.override_tier = AT_LLM_FAST;
    p.override_allowed = 0;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_POWERFUL);
    assert_non_null(strstr(ch.reason, "override refused"));
    p.override_allowed = 1;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_FAST);
    assert_non_null(strstr(ch.reason, "set for the job"));
    /* task_complexity: short -> fast, tools and long history -> powerful */
    p.override_tier = -1;
    p.strategy = AT_LLM_STRATEGY_TASK_COMPLEXITY;
    p.est_tokens_in = 50;
    p.nmessages = 1;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_FAST);
    p.has_tools = 1;
    p.nmessages = 12;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_POWERFUL);
    p.has_tools = 0;
    p.nmessages = 2;
    p.est_tokens_in = 1000;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_BALANCED);
    /* a user who named a tier keeps it; one who did not is routed */
    struct at_llm_prefs u = prefs("atlas:powerful");
    u.strategy = AT_LLM_STRATEGY_TASK_COMPLEXITY;
    u.est_tokens_in = 10;
    assert_int_equal(at_llm_select(&c, &u, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_POWERFUL);
    u.model = NULL;
    assert_int_equal(at_llm_select(&c, &u, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_FAST);
    assert_int_equal(at_llm_tier_from_complexity(5000, 0, 1), AT_LLM_POWERFUL);
    at_llm_config_release(&c);
}

/* A custom orchestrator's model_selection.tiers replace the configured
 * tier lists for the jobs it governs (issue 9); models no backend serves
 * are skipped, and a tier with none served keeps the configured list. */
static void test_select_orchestrator_tiers(void **state)
{
    (void)state;
    struct at_llm_config c = sel_conf();
    struct at_llm_choice ch;
    struct at_diag d;
    json_t *contract = json_pack("{s:{s:b,s:{s:[s,s],s:[s]}}}", "model_selection", "enabled", 1,
                                 "tiers", "fast", "not-served", "claude-opus", "balanced", "nope");
    struct at_llm_caller caller;
    at_llm_caller_init(&caller, "job_1", "job_1", "a@1", NULL);
    at_llm_caller_set_orchestrator(&caller, "orch:1.0.0", contract);
    assert_string_equal(caller.orchestrator, "orch:1.0.0");
    assert_string_equal(caller.orch_models[AT_LLM_FAST], "not-served\nclaude-opus");
    assert_string_equal(caller.orch_models[AT_LLM_POWERFUL], "");
    struct at_llm_prefs p = prefs(NULL);
    p.is_agent = 1;
    p.override_allowed = 1;
    p.override_tier = AT_LLM_FAST;
    p.orch_name = caller.orchestrator;
    for (int t = 0; t < AT_LLM_NTIERS; t++)
        p.orch_models[t] = caller.orch_models[t];
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.tier, AT_LLM_FAST);
    assert_int_equal(ch.ncand, 1);
    assert_string_equal(ch.cand[0].model, "claude-opus");
    assert_non_null(strstr(ch.reason, "tier fast's models from orchestrator orch:1.0.0"));
    /* none served: the configured tier, and the reason says so */
    p.override_tier = AT_LLM_BALANCED;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_string_equal(ch.cand[0].model, "claude-sonnet");
    assert_non_null(strstr(ch.reason, "no backend serves orchestrator orch:1.0.0's tier balanced"));
    /* a tier it does not list: the configured one, silently */
    p.override_tier = AT_LLM_POWERFUL;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_string_equal(ch.cand[0].model, "claude-opus");
    assert_null(strstr(ch.reason, "orchestrator orch"));
    /* disabled: nothing taken */
    json_object_set_new(json_object_get(contract, "model_selection"), "enabled", json_false());
    at_llm_caller_set_orchestrator(&caller, "orch:1.0.0", contract);
    assert_string_equal(caller.orchestrator, "");
    json_decref(contract);
    at_llm_config_release(&c);
}

static double fake_latency(void *arg, int backend, const char *model)
{
    (void)arg;
    (void)backend;
    if (strcmp(model, "qwen") == 0)
        return 300;
    if (strcmp(model, "llama") == 0)
        return 20;
    return -1;
}

static void test_select_strategies(void **state)
{
    (void)state;
    struct at_llm_config c = sel_conf();
    struct at_llm_choice ch;
    struct at_diag d;
    struct at_llm_prefs p = prefs("atlas:powerful");
    p.strategy = AT_LLM_STRATEGY_COST;
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_string_equal(ch.cand[0].model, "claude-sonnet"); /* 18 < 90 per Mtok */
    assert_string_equal(ch.cand[1].model, "claude-opus");
    assert_non_null(strstr(ch.reason, "cost_optimized"));
    p = prefs("atlas:fast");
    p.strategy = AT_LLM_STRATEGY_LATENCY;
    assert_int_equal(at_llm_select(&c, &p, fake_latency, NULL, &ch, &d), 0);
    assert_string_equal(ch.cand[0].model, "llama");
    assert_string_equal(ch.cand[1].model, "qwen");
    /* the config's strategy applies when the orchestrator gives none */
    c.routing_strategy = AT_LLM_STRATEGY_COST;
    p = prefs("atlas:powerful");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.strategy, AT_LLM_STRATEGY_COST);
    assert_string_equal(ch.cand[0].model, "claude-sonnet");
    at_llm_config_release(&c);
}

static json_t *js(const char *text)
{
    json_t *v = NULL;
    assert_int_equal(at_json_parse(text, strlen(text), 0, &v, NULL), 0);
    return v;
}

static void test_select_mcp(void **state)
{
    (void)state;
    struct at_llm_config c = sel_conf();
    struct at_llm_choice ch;
    struct at_diag d;
    struct {
        const char *prefs;
        int tier;
        const char *first;
    } cases[] = {
        {"{\"hints\":[{\"name\":\"sonnet\"}]}", AT_LLM_BALANCED, "claude-sonnet"},
        {"{\"hints\":[{\"name\":\"gpt-5\"},{\"name\":\"opus\"}]}", AT_LLM_POWERFUL, "claude-opus"},
        {"{\"hints\":[{\"name\":\"atlas:fast\"}]}", AT_LLM_FAST, "qwen"},
        {"{\"intelligencePriority\":0.9,\"speedPriority\":0.2}", AT_LLM_POWERFUL, "claude-opus"},
        {"{\"speedPriority\":0.8,\"intelligencePriority\":0.3}", AT_LLM_FAST, "qwen"},
        {"{\"costPriority\":0.9}", AT_LLM_FAST, "llama"}, /* cheapest first: llama costs 0 */
        {"{\"costPriority\":0.4,\"intelligencePriority\":0.4}", AT_LLM_BALANCED, "claude-sonnet"},
        {"{}", AT_LLM_BALANCED, "claude-sonnet"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *mp = js(cases[i].prefs);
        struct at_llm_prefs p = prefs(NULL);
        p.mcp_prefs = mp;
        assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
        if (ch.tier != cases[i].tier || strcmp(ch.cand[0].model, cases[i].first) != 0)
            fail_msg("case %zu: tier %d first %s (%s)", i, ch.tier, ch.cand[0].model, ch.reason);
        json_decref(mp);
    }
    at_llm_config_release(&c);
}

static void test_select_empty_tiers(void **state)
{
    (void)state;
    clear_env();
    struct at_llm_config c;
    struct at_diag d;
    /* no tiers: every model serves every tier, in configuration order */
    assert_int_equal(load("models:\n  backends:\n    x: {base_url: \"http://h\", models: [a, b]}\n"
                          "    y: {base_url: \"http://i\", models: [b]}\n",
                          &c, &d),
                     0);
    struct at_llm_choice ch;
    struct at_llm_prefs p = prefs("atlas:powerful");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), 0);
    assert_int_equal(ch.ncand, 3); /* a@x, b@x, b@y: the same model on two backends */
    assert_int_equal(ch.cand[2].backend, 1);
    at_llm_config_release(&c);
    /* a tier whose models no backend serves (yet): AT_ENOENT */
    assert_int_equal(load("models:\n  backends:\n    x: {base_url: \"http://h\"}\n  tiers:\n"
                          "    fast: [zz]\n",
                          &c, &d),
                     0);
    p = prefs("atlas:fast");
    assert_int_equal(at_llm_select(&c, &p, NULL, NULL, &ch, &d), AT_ENOENT);
    at_llm_config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors_located),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_daemon_config),
        cmocka_unit_test(test_select_tiers),
        cmocka_unit_test(test_select_override),
        cmocka_unit_test(test_select_orchestrator_tiers),
        cmocka_unit_test(test_select_strategies),
        cmocka_unit_test(test_select_mcp),
        cmocka_unit_test(test_select_empty_tiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
