/* Unit tests: agent.yaml loading and checking, config, semver. */
#include "base/buf.h"
#include "base/diag.h"
#include "base/err.h"
#include "contract/agent.h"
#include "contract/config.h"
#include "contract/semver.h"
#include "contract/yaml.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *const spec_agent =
    "# agent.yaml - the minimum viable agent definition\n"
    "agent:\n"
    "  name: \"summarizer\"\n"
    "  version: \"1.2.0\"\n"
    "  description: \"Summarizes text input to a target length\"\n"
    "  input:\n"
    "    schema:\n"
    "      type: object\n"
    "      properties:\n"
    "        text:\n"
    "          type: string\n"
    "          description: \"The text to summarize\"\n"
    "        max_length:\n"
    "          type: integer\n"
    "          default: 200\n"
    "      required: [text]\n"
    "  output:\n"
    "    schema:\n"
    "      type: object\n"
    "      properties:\n"
    "        summary:\n"
    "          type: string\n"
    "        token_count:\n"
    "          type: integer\n"
    "  capabilities:\n"
    "    - text-processing\n"
    "    - summarization\n"
    "  requires:\n"
    "    platform_tools: false\n"
    "    spawn_agents: false\n"
    "    skills: []\n"
    "  model:\n"
    "    preference: \"fast\"\n"
    "    override_allowed: true\n"
    "  hardware:\n"
    "    gpu: false\n"
    "    gpu_vram_gb: 0\n"
    "    min_memory_gb: 1\n"
    "    min_cpu_cores: 1\n"
    "    architecture: \"any\"\n"
    "    node_affinity: \"\"\n"
    "    device_access: []\n"
    "  dependencies:\n"
    "    python: \">=3.11\"\n"
    "    packages:\n"
    "      - \"langchain>=0.2.0\"\n"
    "  lifecycle:\n"
    "    health: \"/health\"\n"
    "    startup: \"on_startup\"\n"
    "    shutdown: \"on_shutdown\"\n"
    "  entrypoint: [\"python3\", \"agent.py\"]\n";

static int load(const char *text, struct at_contract **c, struct at_diag *d)
{
    at_diag_clear(d);
    return at_contract_load_string("agent.yaml", text, strlen(text), c, d);
}

/* Replace the first occurrence of `from` in the spec text by `to`. */
static char *variant(const char *from, const char *to)
{
    const char *p = strstr(spec_agent, from);
    assert_non_null(p);
    size_t n = strlen(spec_agent) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(p - spec_agent), spec_agent, to, p + strlen(from));
    return out;
}

static void expect_error(const char *from, const char *to, int code, int line, int col,
                         const char *msg)
{
    char *text = variant(from, to);
    struct at_contract *c = NULL;
    struct at_diag d;
    int rc = load(text, &c, &d);
    if (rc != code || d.line != line || (col && d.col != col) || !strstr(d.msg, msg))
        print_error("for [%s -> %s]: rc=%d line=%d col=%d msg=%s\n", from, to, rc, d.line, d.col,
                    d.msg);
    assert_int_equal(rc, code);
    assert_int_equal(d.line, line);
    if (col)
        assert_int_equal(d.col, col);
    assert_non_null(strstr(d.msg, msg));
    assert_null(c);
    free(text);
}

static void test_spec_agent_loads(void **state)
{
    (void)state;
    struct at_contract *c;
    struct at_diag d;
    assert_int_equal(load(spec_agent, &c, &d), 0);
    assert_string_equal(c->name, "summarizer");
    assert_string_equal(c->version, "1.2.0");
    assert_int_equal(c->semver.minor, 2);
    assert_string_equal(c->type, "agent");
    assert_string_equal(c->python, ">=3.11");
    assert_false(c->platform_tools);
    assert_true(at_contract_is_python(c));
    json_t *in = json_pack("{s:s}", "text", "hello");
    assert_int_equal(at_schema_apply_defaults(c->input, in), 0);
    assert_int_equal(json_integer_value(json_object_get(in, "max_length")), 200);
    assert_int_equal(at_schema_validate(c->input, in, &d), 0);
    json_decref(in);
    at_contract_unref(c);
}

static void test_errors_are_located(void **state)
{
    (void)state;
    expect_error("  description:", "  colour: red\n  description:", AT_EINVAL, 5, 3,
                 "agent.colour: unknown key \"colour\"");
    expect_error("version: \"1.2.0\"", "version: \"1.2\"", AT_EINVAL, 4, 12,
                 "agent.version: \"1.2\" is not a semantic version");
    expect_error("version: \"1.2.0\"", "version: 1.2", AT_EINVAL, 4, 12,
                 "agent.version: expected a string, got number");
    expect_error("    gpu: false", "    gpu: maybe", AT_EINVAL, 36, 10,
                 "agent.hardware.gpu: expected true or false, got string");
    expect_error("preference: \"fast\"", "preference: \"quick\"", AT_EINVAL, 33, 17,
                 "\"quick\" is not one of: fast, balanced, powerful");
    expect_error("          type: string\n          description: \"The text",
                 "          type: text\n          description: \"The text", AT_ESCHEMA, 11, 17,
                 "agent.input.schema.properties.text.type: invalid JSON Schema");
    expect_error("  name: \"summarizer\"\n", "", AT_EINVAL, 2, 0,
                 "agent.name: required key is missing");
    expect_error("name: \"summarizer\"", "name: \"Summarizer!\"", AT_EINVAL, 3, 9,
                 "is not a valid agent name");
    expect_error("python: \">=3.11\"", "python: \">=three\"", AT_EINVAL, 44, 13,
                 "is not a version constraint");
    expect_error("  entrypoint: [\"python3\", \"agent.py\"]\n", "  remote: \"ftp://x\"\n",
                 AT_EINVAL, 51, 11, "is not an http(s) URL");
    expect_error("    - summarization\n", "    - summarization\n    - {a: 1}\n", AT_EINVAL, 28, 8,
                 "agent.capabilities[2]: expected a string, got mapping");
}

static void test_yaml_hostile(void **state)
{
    (void)state;
    struct at_contract *c;
    struct at_diag d;
    assert_int_equal(load("agent: &a\n  name: x\nother: *a\n", &c, &d), AT_EPARSE);
    assert_non_null(strstr(d.msg, "aliases"));
    assert_int_equal(load("agent:\n  name: a\n  name: b\n", &c, &d), AT_EPARSE);
    assert_int_equal(load("[1, 2]", &c, &d), AT_EINVAL);
    assert_int_equal(load("", &c, &d), AT_EINVAL);
    assert_int_equal(load("agent: {name: x, version: 1.0.0}\n---\nagent: {}\n", &c, &d), AT_EPARSE);
    assert_int_equal(d.line, 2);
    assert_non_null(strstr(d.msg, "only one YAML document"));
    /* deep nesting is bounded, and the error says so (not a syntax error) */
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "agent:\n  input: {schema: ");
    for (int i = 0; i < 200; i++)
        deep[n++] = '[';
    for (int i = 0; i < 200; i++)
        deep[n++] = ']';
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "}\n");
    assert_int_equal(load(deep, &c, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "nesting deeper than 64 levels"));
    assert_int_equal(d.line, 2);
}

/* Load text as YAML; the caller frees nothing (the document is released). */
static int yaml(const char *text, size_t len, struct at_diag *d)
{
    struct at_yaml_doc doc;
    at_diag_clear(d);
    int rc = at_yaml_load_string(&doc, "hostile.yaml", text, len, d);
    at_yaml_doc_release(&doc);
    return rc;
}

static char *repeat_lines(size_t n, const char *fmt)
{
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    for (size_t i = 0; i < n; i++)
        at_buf_printf(&b, fmt, i, i > 0 ? i - 1 : 0, i > 0 ? i - 1 : 0);
    return at_buf_detach(&b, NULL);
}

/* Run fn in a child limited to cpu seconds of CPU time (not wall time, so
 * load on the machine does not matter); returns its exit status, or -1
 * when it was killed (SIGXCPU). */
static int with_cpu_limit(int cpu, int (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {(rlim_t)cpu, (rlim_t)cpu};
        setrlimit(RLIMIT_CPU, &rl);
        _exit(fn());
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 49,990 keys in one mapping, the last a duplicate of the first: refused
 * at the last line.  libfyaml's own duplicate check is quadratic (over a
 * minute of CPU here); ours is a hash lookup. */
static int many_keys_child(void)
{
    char *text = repeat_lines(49989, "k%zu: 1\n");
    size_t len = strlen(text);
    char *all = malloc(len + 16);
    memcpy(all, text, len);
    memcpy(all + len, "k0: 2\n", 7);
    struct at_diag d;
    int rc = yaml(all, len + 6, &d);
    free(all);
    free(text);
    return rc == AT_EPARSE && d.line == 49990 && d.col == 1 && strstr(d.msg, "duplicate key") ? 0
                                                                                              : 1;
}

static void test_yaml_limits(void **state)
{
    (void)state;
    struct at_diag d;
    /* billion laughs: refused at the first anchor, before libfyaml builds
     * (or frees) a document, with file:line:col */
    char *laughs = repeat_lines(30000, "a%zu: &a%zu [*a%zu, *a%zu]\n");
    assert_int_equal(yaml(laughs, strlen(laughs), &d), AT_EPARSE);
    assert_string_equal(d.file, "hostile.yaml");
    assert_int_equal(d.line, 1);
    assert_int_equal(d.col, 5);
    assert_non_null(strstr(d.msg, "anchors and aliases"));
    free(laughs);
    /* tens of thousands of anchors and no alias: libfyaml 0.7 frees such a
     * document in O(nodes x anchors); refused at the first too */
    char *anchors = repeat_lines(30000, "- &a%zu v\n");
    assert_int_equal(yaml(anchors, strlen(anchors), &d), AT_EPARSE);
    assert_int_equal(d.line, 1);
    assert_int_equal(d.col, 3);
    free(anchors);
    /* an alias alone, and one in a flow collection, are located too */
    assert_int_equal(yaml("a: 1\nb: *x\n", 11, &d), AT_EPARSE);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 4);
    assert_int_equal(yaml("a: [1, *x]\n", 11, &d), AT_EPARSE);
    assert_int_equal(d.line, 1);
    assert_int_equal(d.col, 8);
    /* nodes: keys count; 50,000 keys make the last value node 100,001 */
    char *keys = repeat_lines(50000, "k%zu: 1\n");
    assert_int_equal(yaml(keys, strlen(keys), &d), AT_E2BIG);
    assert_int_equal(d.line, 50000);
    assert_int_equal(d.col, 9); /* "k49999: 1" */
    assert_non_null(strstr(d.msg, "more than 100000 nodes"));
    free(keys);
    /* one key fewer is accepted */
    keys = repeat_lines(49999, "k%zu: 1\n");
    assert_int_equal(yaml(keys, strlen(keys), &d), 0);
    free(keys);
    /* a mapping with nearly as many keys as allowed costs little CPU */
    assert_int_equal(with_cpu_limit(30, many_keys_child), 0);
    /* size */
    size_t big = AT_YAML_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    assert_int_equal(yaml(huge, big, &d), AT_E2BIG);
    assert_string_equal(d.file, "hostile.yaml");
    assert_non_null(strstr(d.msg, "larger than"));
    free(huge);
}

static void test_semver(void **state)
{
    (void)state;
    struct at_semver a, b;
    assert_int_equal(at_semver_parse("1.2.3", &a), 0);
    assert_int_equal(at_semver_parse("1.2.3-rc.1+build.5", &b), 0);
    assert_string_equal(b.pre, "rc.1");
    assert_string_equal(b.build, "build.5");
    const char *bad[] = {"1.2",      "01.2.3", "1.2.3-",     "1.2.3+",          "v1.2.3",
                         "1.2.3-01", "1..3",   "1.2.3-a..b", "99999999999.0.0", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(at_semver_parse(bad[i], &a), AT_EINVAL);
    /* SemVer 2.0.0 section 11 example order */
    const char *order[] = {"1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                           "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",       "1.0.0",
                           "1.0.1",        "1.1.0",         "1.10.0",           "2.0.0"};
    for (size_t i = 0; i + 1 < sizeof(order) / sizeof(order[0]); i++) {
        assert_int_equal(at_semver_parse(order[i], &a), 0);
        assert_int_equal(at_semver_parse(order[i + 1], &b), 0);
        assert_true(at_semver_cmp(&a, &b) < 0);
        assert_true(at_semver_cmp(&b, &a) > 0);
    }
    assert_int_equal(at_semver_parse("1.0.0+a", &a), 0);
    assert_int_equal(at_semver_parse("1.0.0+b", &b), 0);
    assert_int_equal(at_semver_cmp(&a, &b), 0); /* build metadata is ignored */
}

static void test_constraints(void **state)
{
    (void)state;
    assert_int_equal(at_version_satisfies("3.11.2", ">=3.11"), 1);
    assert_int_equal(at_version_satisfies("3.10.9", ">=3.11"), 0);
    assert_int_equal(at_version_satisfies("3.11.2", ">=3.10,<4"), 1);
    assert_int_equal(at_version_satisfies("4.0.0", ">=3.10,<4"), 0);
    assert_int_equal(at_version_satisfies("3.11.7", "==3.11.*"), 1);
    assert_int_equal(at_version_satisfies("3.12.0", "==3.11.*"), 0);
    assert_int_equal(at_version_satisfies("3.11.0", "~=3.11"), 1);
    assert_int_equal(at_version_satisfies("4.0", "~=3.11"), 0);
    assert_int_equal(at_version_satisfies("1.4.0", "^1.2.0"), 1);
    assert_int_equal(at_version_satisfies("2.0.0", "^1.2.0"), 0);
    assert_int_equal(at_version_satisfies("0.2.5", "^0.2.1"), 1);
    assert_int_equal(at_version_satisfies("0.3.0", "^0.2.1"), 0);
    assert_int_equal(at_version_satisfies("3.11", "3.11"), 1);
    assert_int_equal(at_version_satisfies("3.11", "!=3.11"), 0);
    assert_int_equal(at_version_satisfies("3.11", ">=three"), AT_EINVAL);
    assert_int_equal(at_version_satisfies("3.11", ""), AT_EINVAL);
    assert_int_equal(at_version_satisfies("3.11", ">=3.*"), AT_EINVAL);
}

static void test_config(void **state)
{
    (void)state;
    const char *spec = "execution:\n"
                       "  max_spawn_depth: 5\n"
                       "  max_concurrent_agents: 20\n"
                       "  timeouts:\n"
                       "    chain: 300\n"
                       "    agent: 60\n"
                       "  resource_budget:\n"
                       "    max_tokens_per_chain: 100000\n"
                       "  circuit_breaker:\n"
                       "    failure_threshold: 3\n"
                       "    recovery_timeout: 30\n"
                       "scheduling:\n"
                       "  strategy: \"bin_pack\"\n"
                       "  preemption_enabled: false\n"
                       "  resource_reservation:\n"
                       "    gpu_headroom_pct: 10\n"
                       "    memory_headroom_pct: 15\n"
                       "  node_failure:\n"
                       "    detection_timeout: 30\n"
                       "    reschedule_strategy: \"retry\"\n"
                       "registry:\n"
                       "  policy:\n"
                       "    allow_unsigned: true\n"
                       "    minimum_review_status: unreviewed\n";
    struct at_config c;
    struct at_diag d;
    at_diag_clear(&d);
    at_config_init(&c);
    assert_int_equal(at_config_load_string(&c, "atlas.config.yaml", spec, strlen(spec), &d), 0);
    assert_int_equal(c.exec.max_concurrent_agents, 20);
    assert_int_equal(c.exec.max_tokens_per_chain, 100000);
    assert_true(c.exec.timeout_chain == 300.0);
    assert_int_equal(c.exec.breaker_threshold, 3);
    at_config_release(&c);

    /* signing is enforced (src/dist/trust.c): those keys are accepted */
    const char *enforced[] = {
        "registry:\n  policy:\n    allow_unsigned: false\n",
        "registry:\n  policy:\n    allowed_publishers: [\"my-org\", \"trusted-partner\"]\n",
        "registry:\n  default: registry.example.org\n",
    };
    for (size_t i = 0; i < sizeof(enforced) / sizeof(*enforced); i++) {
        at_config_init(&c);
        assert_int_equal(
            at_config_load_string(&c, "atlas.config.yaml", enforced[i], strlen(enforced[i]), &d),
            0);
        at_config_release(&c);
    }
    /* reviews are enforced (src/dist/trust.c): every level is accepted,
     * anything else refused with its location */
    const char *policies[] = {
        "registry:\n  policy:\n    minimum_review_status: \"verified\"\n",
        "registry:\n  policy:\n    minimum_review_status: \"community\"\n",
    };
    for (size_t i = 0; i < sizeof(policies) / sizeof(*policies); i++) {
        at_config_init(&c);
        assert_int_equal(
            at_config_load_string(&c, "atlas.config.yaml", policies[i], strlen(policies[i]), &d),
            0);
        at_config_release(&c);
    }
    at_config_init(&c);
    const char *gold = "registry:\n  policy:\n    minimum_review_status: gold\n";
    assert_int_equal(at_config_load_string(&c, "atlas.config.yaml", gold, strlen(gold), &d),
                     AT_EINVAL);
    assert_int_equal(d.line, 3);
    assert_non_null(strstr(d.msg, "minimum_review_status"));
    at_config_release(&c);

    at_config_init(&c);
    const char *bad = "execution:\n  max_concurent_agents: 2\n";
    assert_int_equal(at_config_load_string(&c, "atlas.config.yaml", bad, strlen(bad), &d),
                     AT_EINVAL);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 3);
    assert_non_null(strstr(d.msg, "execution.max_concurent_agents: unknown key"));
    at_config_release(&c);

    at_config_init(&c);
    const char *neg = "execution:\n  max_concurrent_agents: 0\n";
    assert_int_equal(at_config_load_string(&c, "x", neg, strlen(neg), &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "must be at least 1"));
    at_config_release(&c);

    /* a2a.push: the limits and the allowlist (docs/a2a.md) */
    at_config_init(&c);
    const char *push = "a2a:\n  push:\n    attempts: 6\n    allowed_hosts: [hooks.example.com]\n";
    assert_int_equal(at_config_load_string(&c, "x", push, strlen(push), &d), 0);
    at_config_release(&c);
    at_config_init(&c);
    const char *push0 = "a2a:\n  push:\n    queue_max: 0\n";
    assert_int_equal(at_config_load_string(&c, "x", push0, strlen(push0), &d), AT_EINVAL);
    assert_int_equal(d.line, 3);
    assert_non_null(strstr(d.msg, "a2a.push.queue_max"));
    at_config_release(&c);
    at_config_init(&c);
    const char *pushk = "a2a:\n  push:\n    retries: 3\n";
    assert_int_equal(at_config_load_string(&c, "x", pushk, strlen(pushk), &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "unknown key"));
    at_config_release(&c);

    at_config_init(&c);
    setenv("ATLAS_MAX_CONCURRENT", "7", 1);
    setenv("ATLAS_LISTEN", "127.0.0.1:9999", 1);
    assert_int_equal(at_config_apply_env(&c, &d), 0);
    assert_int_equal(c.exec.max_concurrent_agents, 7);
    assert_string_equal(c.listen, "127.0.0.1:9999");
    setenv("ATLAS_MAX_CONCURRENT", "lots", 1);
    assert_int_equal(at_config_apply_env(&c, &d), AT_EINVAL);
    unsetenv("ATLAS_MAX_CONCURRENT");
    unsetenv("ATLAS_LISTEN");
    at_config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_agent_loads), cmocka_unit_test(test_errors_are_located),
        cmocka_unit_test(test_yaml_hostile),     cmocka_unit_test(test_yaml_limits),
        cmocka_unit_test(test_semver),           cmocka_unit_test(test_constraints),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
