/*
 * test_expr.c - the eval expression language (json/expr.h): the spec's
 * condition, every operator and function, truthiness, type errors at
 * evaluation, located parse errors, and the size limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "json/expr.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"input", "output", "job", NULL};

static json_t *vars(void)
{
    const char *t = "{\"input\":{\"text\":\"Atlas runs agents\",\"max_length\":200,"
                    "\"tags\":[\"a\",\"b\"],\"n\":null},"
                    "\"output\":{\"summary\":\"Atlas runs agents.\",\"token_count\":4,"
                    "\"score\":3.5,\"nested\":{\"k\":[1,2,{\"deep\":true}]},\"url\":"
                    "\"https://example.org/x\",\"empty\":\"\",\"u\":\"\xc3\xa9t\xc3\xa9\"},"
                    "\"job\":{\"agent\":\"summarizer\",\"latency_ms\":1200}}";
    json_t *v = NULL;
    assert_int_equal(at_json_parse(t, strlen(t), 0, &v, NULL), 0);
    return v;
}

/* Evaluate src and return the JSON text of the result, or "ERR:<col>". */
static char *run(const char *src)
{
    struct at_expr *e = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    char *out;
    int rc = at_expr_compile(src, strlen(src), names, &e, &d);
    if (rc) {
        if (asprintf(&out, "PARSE:%d", d.col) < 0)
            abort();
        return out;
    }
    json_t *v = vars(), *r = NULL;
    at_diag_clear(&d);
    rc = at_expr_eval(e, v, &r, &d);
    if (rc) {
        if (asprintf(&out, "ERR:%d", d.col) < 0)
            abort();
    } else {
        out = json_dumps(r, JSON_ENCODE_ANY | JSON_COMPACT);
    }
    json_decref(r);
    json_decref(v);
    at_expr_free(e);
    return out;
}

#define EXPECT(src, want)                                                                          \
    do {                                                                                           \
        char *got_ = run(src);                                                                     \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("%s: got %s, want %s", src, got_, want);                                      \
        free(got_);                                                                                \
    } while (0)

static void test_spec_condition(void **state)
{
    (void)state;
    EXPECT("output.token_count <= input.max_length", "true");
    EXPECT("output.token_count > input.max_length", "false");
}

static void test_arithmetic(void **state)
{
    (void)state;
    EXPECT("1 + 2 * 3", "7");
    EXPECT("(1 + 2) * 3", "9");
    EXPECT("7 / 2", "3.5");
    EXPECT("8 / 2", "4");
    EXPECT("7 % 3", "1");
    EXPECT("-3 - -4", "1");
    EXPECT("1.5 * 2", "3.0");
    EXPECT("2e3 + 1", "2001.0");
    EXPECT("9223372036854775807 + 1", "9.2233720368547758e18");
    EXPECT("'ab' + \"cd\"", "\"abcd\"");
    EXPECT("1 / 0", "ERR:3");
    EXPECT("1 % 0", "ERR:3");
    EXPECT("'a' + 1", "ERR:5");
    EXPECT("-'a'", "ERR:1");
    EXPECT("output.score * 2 >= 7", "true");
}

static void test_logic_and_truthiness(void **state)
{
    (void)state;
    EXPECT("true && !false", "true");
    EXPECT("false || null", "false");
    EXPECT("!0 && !'' && !input.n", "true");
    EXPECT("1 && 'x' && input.tags", "true");
    /* short-circuit: the right side would be a type error */
    EXPECT("false && 1 < 'a'", "false");
    EXPECT("true || 1 < 'a'", "true");
    EXPECT("true && 1 < 'a'", "ERR:11");
}

static void test_comparisons(void **state)
{
    (void)state;
    EXPECT("1 == 1.0", "true");
    EXPECT("input.tags == ['a']", "PARSE:15");
    EXPECT("'abc' < 'abd'", "true");
    EXPECT("'b' >= 'abc'", "true");
    EXPECT("null == input.missing", "true");
    EXPECT("input.n != null", "false");
    EXPECT("output.nested == output.nested", "true");
    EXPECT("1 < null", "ERR:3");
    EXPECT("output.missing.deeper == null", "true");
}

static void test_access(void **state)
{
    (void)state;
    EXPECT("output.nested.k[2].deep", "true");
    EXPECT("output.nested.k[-1]['deep']", "true");
    EXPECT("output.nested.k[5]", "null");
    EXPECT("input.tags[0]", "\"a\"");
    EXPECT("output['token_count']", "4");
    EXPECT("job.agent == 'summarizer'", "true");
    EXPECT("output.summary.x", "ERR:15");
    EXPECT("input.tags['x']", "ERR:11");
}

static void test_functions(void **state)
{
    (void)state;
    EXPECT("len(output.summary)", "18");
    EXPECT("len(output.u)", "3");
    EXPECT("len(input.tags) == 2 && len(output) > 3", "true");
    EXPECT("len(1)", "ERR:1");
    EXPECT("contains(output.summary, 'runs')", "true");
    EXPECT("contains(input.tags, 'b')", "true");
    EXPECT("contains(input.tags, 'z')", "false");
    EXPECT("contains(output, 'score')", "true");
    EXPECT("contains(1, 2)", "ERR:1");
    EXPECT("matches(output.url, '^https://[a-z.]+/')", "true");
    EXPECT("output.url =~ '\\\\.org/'", "true");
    EXPECT("output.url =~ '^http://'", "false");
    EXPECT("output.url =~ ('^' + 'https')", "true");
    EXPECT("starts_with(output.url, 'https') && ends_with(output.url, '/x')", "true");
    EXPECT("lower('AbC') + upper('x')", "\"abcX\"");
    EXPECT("abs(-2) + abs(-1.5)", "3.5");
    EXPECT("min(3, 1, 2) + max(1, 5.5)", "6.5");
    EXPECT("exists(output.score) && !exists(output.nope)", "true");
}

static void test_string_literals(void **state)
{
    (void)state;
    EXPECT("'it\\'s' + \"\\\"\" + '\\\"'", "\"it's\\\"\\\"\"");
    EXPECT("'\\u00e9' == '\xc3\xa9'", "true");
    /* a surrogate pair is one code point, as in JSON and JSONPath */
    EXPECT("'\\ud83d\\ude00' == '\xf0\x9f\x98\x80'", "true");
    EXPECT("len('\\ud83d\\ude00')", "1");
    EXPECT("len('\\b\\f\\n\\r\\t\\/\\\\')", "7");
    EXPECT("len('\\u0000')", "1");
}

static void test_parse_errors_located(void **state)
{
    (void)state;
    EXPECT("", "PARSE:1");
    EXPECT("output.token_count <=", "PARSE:22");
    EXPECT("output.x = 1", "PARSE:10");
    EXPECT("a & b", "PARSE:3");
    EXPECT("input & 1", "PARSE:7");
    EXPECT("len(1, 2)", "PARSE:1");
    EXPECT("nosuch(1)", "PARSE:1");
    EXPECT("secret.x", "PARSE:1");
    EXPECT("(1 + 2", "PARSE:7");
    EXPECT("'abc", "PARSE:1");
    EXPECT("1 2", "PARSE:3");
    EXPECT("output.", "PARSE:8");
    EXPECT("'\\q'", "PARSE:2");
    /* string literals go through json/lex.h: escape errors at the
     * backslash, bad UTF-8 at the byte (columns are bytes here) */
    EXPECT("'ab\\u12'", "PARSE:4");
    EXPECT("'a\\ud800'", "PARSE:3");
    EXPECT("'a\\udc00'", "PARSE:3");
    EXPECT("'ab\xff'", "PARSE:4");
    EXPECT("'\xc3\xa9\xc3'", "PARSE:4");
    EXPECT("output.url =~ '(a'", "PARSE:16");
    EXPECT("matches(output.url, 'a{2,1}')", "PARSE:23");
}

static void test_limits(void **state)
{
    (void)state;
    struct at_expr *e = NULL;
    struct at_diag d;
    /* nesting */
    char deep[400];
    memset(deep, '(', 200);
    deep[200] = '1';
    memset(deep + 201, ')', 198);
    deep[399] = '\0';
    at_diag_clear(&d);
    assert_int_equal(at_expr_compile(deep, strlen(deep), NULL, &e, &d), AT_E2BIG);
    assert_null(e);
    assert_non_null(strstr(d.msg, "nests too deeply"));
    memset(deep, '!', 300);
    deep[300] = '1';
    deep[301] = '\0';
    at_diag_clear(&d);
    assert_int_equal(at_expr_compile(deep, strlen(deep), NULL, &e, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "nests too deeply"));
    /* length */
    char *big = malloc(AT_EXPR_MAX_LEN + 2);
    memset(big, '1', AT_EXPR_MAX_LEN + 1);
    big[AT_EXPR_MAX_LEN + 1] = '\0';
    at_diag_clear(&d);
    assert_int_equal(at_expr_compile(big, strlen(big), NULL, &e, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "longer than"));
    /* nodes: 1+1+1+... */
    for (size_t i = 0; i + 1 < AT_EXPR_MAX_LEN; i += 2) {
        big[i] = '1';
        big[i + 1] = '+';
    }
    big[AT_EXPR_MAX_LEN - 1] = '1';
    big[AT_EXPR_MAX_LEN] = '\0';
    at_diag_clear(&d);
    assert_int_equal(at_expr_compile(big, strlen(big), NULL, &e, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "more than 1024 nodes"));
    free(big);
    /* NULL names: any variable */
    assert_int_equal(at_expr_compile("anything.x == null", 18, NULL, &e, &d), 0);
    json_t *r = NULL, *v = json_object();
    assert_int_equal(at_expr_eval(e, v, &r, &d), 0);
    assert_true(json_is_true(r));
    json_decref(r);
    json_decref(v);
    at_expr_free(e);
    at_expr_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_condition),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_logic_and_truthiness),
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_string_literals),
        cmocka_unit_test(test_parse_errors_located),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
