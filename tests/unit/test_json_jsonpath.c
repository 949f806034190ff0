/*
 * test_json_jsonpath.c - JSONPath (RFC 9535 subset): the RFC's own examples
 * (§1.5, §2.3.3-2.3.5, §2.5, §2.6), located parse errors, limits, singular
 * queries, prefixes and allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/diag.h"
#include "base/err.h"
#include "json/json.h"
#include "json/jsonpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *js(const char *text)
{
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(text, strlen(text), 0, &v, &d) != 0)
        fail_msg("bad test JSON %s: %s", text, d.msg);
    return v;
}

/* Query doc with path; compare the compact result with want. */
static void check(const json_t *doc, const char *path, const char *want)
{
    struct at_jsonpath *p = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_jsonpath_new(path, &p, &d) != 0)
        fail_msg("%s refused: %s (col %d)", path, d.msg, d.col);
    json_t *r = at_jsonpath_query(p, doc);
    assert_non_null(r);
    char *got = at_json_dumps(r);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", path, got, want);
    free(got);
    json_decref(r);
    at_jsonpath_free(p);
}

static const char *bookstore =
    "{\"store\":{\"book\":["
    "{\"category\":\"reference\",\"author\":\"Nigel Rees\",\"title\":\"Sayings of the "
    "Century\",\"price\":8.95},"
    "{\"category\":\"fiction\",\"author\":\"Evelyn Waugh\",\"title\":\"Sword of "
    "Honour\",\"price\":12.99},"
    "{\"category\":\"fiction\",\"author\":\"Herman Melville\",\"title\":\"Moby "
    "Dick\",\"isbn\":\"0-553-21311-3\",\"price\":8.99},"
    "{\"category\":\"fiction\",\"author\":\"J. R. R. Tolkien\",\"title\":\"The Lord of the "
    "Rings\",\"isbn\":\"0-395-19395-8\",\"price\":22.99}],"
    "\"bicycle\":{\"color\":\"red\",\"price\":399}}}";

static void test_rfc_bookstore(void **state)
{
    (void)state;
    json_t *doc = js(bookstore);
    check(doc, "$.store.book[*].author",
          "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
    check(doc, "$..author",
          "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
    check(doc, "$.store..price",
          "[8.9499999999999993,12.99,8.9900000000000002,22.989999999999998,399]");
    check(doc, "$..book[2].author", "[\"Herman Melville\"]");
    check(doc, "$..book[2].publisher", "[]");
    check(doc, "$..book[-1].title", "[\"The Lord of the Rings\"]");
    check(doc, "$..book[0,1].title", "[\"Sayings of the Century\",\"Sword of Honour\"]");
    check(doc, "$..book[:2].title", "[\"Sayings of the Century\",\"Sword of Honour\"]");
    check(doc, "$..book[?@.isbn].title", "[\"Moby Dick\",\"The Lord of the Rings\"]");
    check(doc, "$..book[?@.price<10].title", "[\"Sayings of the Century\",\"Moby Dick\"]");
    check(doc, "$.store.bicycle['color']", "[\"red\"]");
    check(doc, "$[\"store\"][\"bicycle\"].color", "[\"red\"]");
    json_t *all = NULL;
    struct at_jsonpath *p = NULL;
    assert_int_equal(at_jsonpath_new("$..*", &p, NULL), 0);
    all = at_jsonpath_query(p, doc);
    assert_int_equal(json_array_size(all), 27);
    json_decref(all);
    at_jsonpath_free(p);
    json_decref(doc);
}

static void test_rfc_selectors(void **state)
{
    (void)state;
    json_t *arr = js("[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]");
    check(arr, "$[1]", "[\"b\"]");
    check(arr, "$[-2]", "[\"f\"]");
    check(arr, "$[7]", "[]");
    check(arr, "$[-8]", "[]");
    check(arr, "$[1:3]", "[\"b\",\"c\"]");
    check(arr, "$[5:]", "[\"f\",\"g\"]");
    check(arr, "$[1:5:2]", "[\"b\",\"d\"]");
    check(arr, "$[5:1:-2]", "[\"f\",\"d\"]");
    check(arr, "$[::-1]", "[\"g\",\"f\",\"e\",\"d\",\"c\",\"b\",\"a\"]");
    check(arr, "$[::0]", "[]");
    check(arr, "$[-100:100:3]", "[\"a\",\"d\",\"g\"]");
    check(arr, "$[ 1 : 3 ]", "[\"b\",\"c\"]");
    check(arr, "$[0, 0, -1]", "[\"a\",\"a\",\"g\"]");
    check(arr, "$.a", "[]");
    check(arr, "$[*]", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]");
    json_decref(arr);

    json_t *o = js("{\"o\":{\"j\":1,\"k\":2},\"a\":[5,3]}");
    check(o, "$[*]", "[{\"j\":1,\"k\":2},[5,3]]");
    check(o, "$.o[*]", "[1,2]");
    check(o, "$.o[*, *]", "[1,2,1,2]");
    check(o, "$.a[*]", "[5,3]");
    check(o, "$.o[0]", "[]");
    check(o, "$.a['0']", "[]");
    check(o, "$.o['j', 'k', 'j']", "[1,2,1]");
    json_decref(o);

    json_t *esc =
        js("{\"a b\":1,\"'\":2,\"\\\"\":3,\"\xc3\xa9\":4,\"\\u2028\":5,\"\xf0\x9f\x98\x80\":6}");
    check(esc, "$['a b']", "[1]");
    check(esc, "$['\\'']", "[2]");
    check(esc, "$[\"\\\"\"]", "[3]");
    check(esc, "$.\xc3\xa9", "[4]");
    check(esc, "$['\\u00e9']", "[4]");
    check(esc, "$['\\u2028']", "[5]");
    check(esc, "$['\\ud83d\\ude00']", "[6]");
    json_decref(esc);
}

static void test_rfc_descendants_and_null(void **state)
{
    (void)state;
    json_t *d = js("{\"o\":{\"j\":1,\"k\":2},\"a\":[5,3,[{\"j\":4},{\"k\":6}]]}");
    check(d, "$..j", "[1,4]");
    check(d, "$..[0]", "[5,{\"j\":4}]");
    check(d, "$..o", "[{\"j\":1,\"k\":2}]");
    check(d, "$.o..[*, *]", "[1,2,1,2]");
    check(d, "$.a..[0, 1]", "[5,3,{\"j\":4},{\"k\":6}]");
    check(d, "$..*",
          "[{\"j\":1,\"k\":2},[5,3,[{\"j\":4},{\"k\":6}]],1,2,5,3,[{\"j\":4},{\"k\":6}],{\"j\":4},"
          "{\"k\":6},4,6]");
    json_decref(d);

    json_t *n = js("{\"a\":null,\"b\":[null],\"c\":[{}],\"null\":1}");
    check(n, "$.a", "[null]");
    check(n, "$.a[0]", "[]");
    check(n, "$.a.d", "[]");
    check(n, "$.b[0]", "[null]");
    check(n, "$.b[*]", "[null]");
    check(n, "$.b[?@]", "[null]");
    check(n, "$.b[?@==null]", "[null]");
    check(n, "$.c[?@.d==null]", "[]");
    check(n, "$.null", "[1]");
    json_decref(n);
}

static void test_rfc_filters(void **state)
{
    (void)state;
    json_t *d = js("{\"a\":[3,5,1,2,4,6,{\"b\":\"j\"},{\"b\":\"k\"},{\"b\":{}},{\"b\":\"kilo\"}],"
                   "\"o\":{\"p\":1,\"q\":2,\"r\":3,\"s\":5,\"t\":{\"u\":6}},\"e\":\"f\"}");
    check(d, "$.a[?@.b == 'kilo']", "[{\"b\":\"kilo\"}]");
    check(d, "$.a[?(@.b == 'kilo')]", "[{\"b\":\"kilo\"}]");
    check(d, "$.a[?@>3.5]", "[5,4,6]");
    check(d, "$.a[?@.b]", "[{\"b\":\"j\"},{\"b\":\"k\"},{\"b\":{}},{\"b\":\"kilo\"}]");
    check(d, "$[?@.*]",
          "[[3,5,1,2,4,6,{\"b\":\"j\"},{\"b\":\"k\"},{\"b\":{}},{\"b\":\"kilo\"}],"
          "{\"p\":1,\"q\":2,\"r\":3,\"s\":5,\"t\":{\"u\":6}}]");
    check(d, "$[?@[?@.b]]",
          "[[3,5,1,2,4,6,{\"b\":\"j\"},{\"b\":\"k\"},{\"b\":{}},{\"b\":\"kilo\"}]]");
    check(d, "$.o[?@<3, ?@<3]", "[1,2,1,2]");
    check(d, "$.a[?@<2 || @.b == \"k\"]", "[1,{\"b\":\"k\"}]");
    check(d, "$.o[?@>1 && @<4]", "[2,3]");
    check(d, "$.o[?@.u || @.x]", "[{\"u\":6}]");
    check(d, "$.a[?@.b == $.x]", "[3,5,1,2,4,6]");
    check(d, "$.a[?@ == @]",
          "[3,5,1,2,4,6,{\"b\":\"j\"},{\"b\":\"k\"},{\"b\":{}},{\"b\":\"kilo\"}]");
    /* comparisons: strings by code point, mixed types never order */
    check(d, "$.a[?@.b > 'j']", "[{\"b\":\"k\"},{\"b\":\"kilo\"}]");
    check(d, "$.a[?@.b >= 'k']", "[{\"b\":\"k\"},{\"b\":\"kilo\"}]");
    check(d, "$.a[?@ <= 2]", "[1,2]");
    check(d, "$.a[?@ != 3 && @ < 4]", "[1,2]");
    check(d, "$.a[?@ < 'x']", "[]");
    check(d, "$.a[?!@.b]", "[3,5,1,2,4,6]");
    check(d, "$.a[?!(@ > 2)]", "[1,2,{\"b\":\"j\"},{\"b\":\"k\"},{\"b\":{}},{\"b\":\"kilo\"}]");
    json_decref(d);

    json_t *lit = js("[{\"v\":1},{\"v\":1.0},{\"v\":true},{\"v\":null},{\"v\":\"1\"},{\"v\":[1]},"
                     "{\"v\":{\"x\":1}},{\"w\":1}]");
    check(lit, "$[?@.v == 1]", "[{\"v\":1},{\"v\":1.0}]");
    check(lit, "$[?@.v == 1e0]", "[{\"v\":1},{\"v\":1.0}]");
    check(lit, "$[?@.v == true]", "[{\"v\":true}]");
    check(lit, "$[?@.v == null]", "[{\"v\":null}]");
    check(lit, "$[?@.v == '1']", "[{\"v\":\"1\"}]");
    check(lit, "$[?@.v == $[5].v]", "[{\"v\":[1]}]"); /* arrays compare deeply */
    check(lit, "$[?@.v == $[6].v]", "[{\"v\":{\"x\":1}}]");
    check(lit, "$[?@.v != 1]",
          "[{\"v\":true},{\"v\":null},{\"v\":\"1\"},{\"v\":[1]},{\"v\":{\"x\":1}},{\"w\":1}]");
    check(lit, "$[?@.v]",
          "[{\"v\":1},{\"v\":1.0},{\"v\":true},{\"v\":null},{\"v\":\"1\"},"
          "{\"v\":[1]},{\"v\":{\"x\":1}}]");
    check(lit, "$[?1 == 1]",
          "[{\"v\":1},{\"v\":1.0},{\"v\":true},{\"v\":null},{\"v\":\"1\"},"
          "{\"v\":[1]},{\"v\":{\"x\":1}},{\"w\":1}]");
    check(lit, "$[?@.v == -0]", "[]");
    json_decref(lit);
}

static void expect_error(const char *path, int code, int col, const char *part)
{
    struct at_jsonpath *p = (struct at_jsonpath *)1;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_jsonpath_new(path, &p, &d);
    if (rc == 0) {
        at_jsonpath_free(p);
        fail_msg("%s accepted", path);
    }
    assert_null(p);
    assert_int_equal(rc, code);
    assert_int_equal(d.code, code);
    if (col && d.col != col)
        fail_msg("%s: column %d, expected %d (%s)", path, d.col, col, d.msg);
    if (part && !strstr(d.msg, part))
        fail_msg("%s: message \"%s\" lacks \"%s\"", path, d.msg, part);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("", AT_EPARSE, 1, "starts with $");
    expect_error("a.b", AT_EPARSE, 1, "starts with $");
    expect_error("$.", AT_EPARSE, 3, "member name");
    expect_error("$.1", AT_EPARSE, 3, "member name");
    expect_error("$.a-b", AT_EPARSE, 4, "unexpected");
    expect_error("$.a ", AT_EPARSE, 4, "unexpected");
    expect_error("$...a", AT_EPARSE, 4, "member name");
    expect_error("$[", AT_EPARSE, 3, "selector");
    expect_error("$[0", AT_EPARSE, 2, "missing ]");
    expect_error("$[0 1]", AT_EPARSE, 5, "expected , or ]");
    expect_error("$[01]", AT_EPARSE, 3, "leading zeros");
    expect_error("$[-0]", AT_EPARSE, 3, "-0");
    expect_error("$[9007199254740992]", AT_EPARSE, 3, "out of range");
    expect_error("$[1:2:3:4]", AT_EPARSE, 8, "expected , or ]");
    expect_error("$['a]", AT_EPARSE, 3, "unterminated");
    expect_error("$['a\\x']", AT_EPARSE, 5, "invalid escape");
    expect_error("$['\\ud800']", AT_EPARSE, 4, "surrogate");
    expect_error("$['\x01']", AT_EPARSE, 4, "control character");
    expect_error("$[?@.a == @.*]", AT_EPARSE, 11, "singular");
    expect_error("$[?@..a == 1]", AT_EPARSE, 4, "singular");
    expect_error("$[?length(@) > 1]", AT_EPARSE, 4, "function extensions");
    expect_error("$[?1]", AT_EPARSE, 5, "comparison operator");
    expect_error("$[?!@.a == 1]", AT_EPARSE, 8, "!(...)");
    expect_error("$[?@.a == ]", AT_EPARSE, 11, "expected @, $, a literal");
    expect_error("$[?(@.a]", AT_EPARSE, 8, "expected )");
    expect_error("$[?@.a === 1]", AT_EPARSE, 10, NULL);
    expect_error("$[?@.a == 01]", AT_EPARSE, 11, "leading zeros");
    expect_error("$[?@.a == 1.]", AT_EPARSE, 13, "digits");
    expect_error("$[?@.a == 1e999]", AT_EPARSE, 11, "out of range");
    expect_error("$[?@.a == truex]", AT_EPARSE, 11, NULL);
    expect_error("$[?@.b == {}]", AT_EPARSE, 11, NULL);
    expect_error("$[?@.\xc3\xa9 == 1 &&]", AT_EPARSE, 15, NULL); /* column in characters */
    struct at_jsonpath *p = NULL;
    assert_int_equal(at_jsonpath_new(NULL, &p, NULL), AT_EINVAL);
}

static void test_limits(void **state)
{
    (void)state;
    /* length */
    char *longp = malloc(AT_JSONPATH_MAX_LEN + 2);
    longp[0] = '$';
    for (size_t i = 1; i < AT_JSONPATH_MAX_LEN + 1; i += 2) {
        longp[i] = '.';
        longp[i + 1] = 'a';
    }
    longp[AT_JSONPATH_MAX_LEN + 1] = '\0';
    expect_error(longp, AT_E2BIG, AT_JSONPATH_MAX_LEN + 1, "longer");
    longp[AT_JSONPATH_MAX_LEN - 1] = '\0';
    struct at_jsonpath *p = NULL;
    assert_int_equal(at_jsonpath_new(longp, &p, NULL), 0);
    at_jsonpath_free(p);
    free(longp);

    /* nesting: $[?@[?@[?@ ... */
    char nest[1000];
    size_t o = 0;
    nest[o++] = '$';
    for (int i = 0; i < 100; i++) {
        memcpy(nest + o, "[?@", 3);
        o += 3;
    }
    nest[o] = '\0';
    expect_error(nest, AT_E2BIG, 0, "nested deeper");
    memcpy(nest, "$[?", 3);
    memset(nest + 3, '(', 100);
    nest[103] = '\0';
    expect_error(nest, AT_E2BIG, 0, "nested deeper");

    /* evaluation: a deep document with repeated descendant segments
     * would select ~1000^3/6 nodes; the caps end it with NULL. */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 1000; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    assert_int_equal(at_jsonpath_new("$..*..*..*", &p, NULL), 0);
    assert_null(at_jsonpath_query(p, root));
    at_jsonpath_free(p);
    /* a single descendant walk of a very deep document is fine (no C
     * recursion along the document) */
    json_t *deep = json_array();
    cur = deep;
    for (int i = 0; i < 200000; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    json_array_append_new(cur, json_string("bottom"));
    assert_int_equal(at_jsonpath_new("$..[?@ == 'bottom']", &p, NULL), 0);
    json_t *r = at_jsonpath_query(p, deep);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 1);
    json_decref(r);
    at_jsonpath_free(p);
    json_decref(deep);
    json_decref(root);
}

static void test_singular_value_prefix(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int singular;
    } s[] = {{"$", 1},    {"$.a[0].b", 1},   {"$['a'][-1]", 1}, {"$.a[*]", 0},
             {"$..a", 0}, {"$['a','b']", 0}, {"$[0:1]", 0},     {"$[?@.a]", 0}};
    for (size_t i = 0; i < sizeof(s) / sizeof(*s); i++) {
        struct at_jsonpath *p = NULL;
        assert_int_equal(at_jsonpath_new(s[i].path, &p, NULL), 0);
        if (at_jsonpath_is_singular(p) != s[i].singular)
            fail_msg("%s: singular %d", s[i].path, !s[i].singular);
        at_jsonpath_free(p);
    }
    assert_int_equal(at_jsonpath_is_singular(NULL), 0);

    json_t *doc = js("{\"steps\":[{\"output\":{\"x\":42}},{\"output\":{\"x\":7}}]}");
    struct at_jsonpath *p = NULL;
    assert_int_equal(at_jsonpath_new("$.steps[1].output.x", &p, NULL), 0);
    const char *segs[8];
    assert_int_equal(at_jsonpath_prefix(p, segs, 8), 4);
    assert_string_equal(segs[0], "steps");
    assert_string_equal(segs[1], "1");
    assert_string_equal(segs[2], "output");
    assert_string_equal(segs[3], "x");
    /* max smaller than the prefix: count still the full length */
    const char *two[2] = {NULL, NULL};
    assert_int_equal(at_jsonpath_prefix(p, two, 2), 4);
    assert_string_equal(two[1], "1");
    json_t *v = at_jsonpath_value(p, doc);
    assert_int_equal(json_integer_value(v), 7);
    /* a reference to the document's own node */
    assert_ptr_equal(
        v, json_object_get(
               json_object_get(json_array_get(json_object_get(doc, "steps"), 1), "output"), "x"));
    json_decref(v);
    at_jsonpath_free(p);

    assert_int_equal(at_jsonpath_new("$.steps[5].output", &p, NULL), 0);
    assert_null(at_jsonpath_value(p, doc));
    at_jsonpath_free(p);

    assert_int_equal(at_jsonpath_new("$.steps[*].output.x", &p, NULL), 0);
    assert_int_equal(at_jsonpath_prefix(p, segs, 8), 1);
    v = at_jsonpath_value(p, doc);
    char *txt = at_json_dumps(v);
    assert_string_equal(txt, "[42,7]");
    free(txt);
    json_decref(v);
    at_jsonpath_free(p);

    static const struct {
        const char *path;
        size_t n;
    } pre[] = {{"$", 0},          {"$..a", 0},        {"$.a[-1].b", 1},
               {"$['a','b']", 0}, {"$['x y'][0]", 2}, {"$.a['\\u0000']", 1}};
    for (size_t i = 0; i < sizeof(pre) / sizeof(*pre); i++) {
        assert_int_equal(at_jsonpath_new(pre[i].path, &p, NULL), 0);
        if (at_jsonpath_prefix(p, segs, 8) != pre[i].n)
            fail_msg("%s: prefix %zu", pre[i].path, at_jsonpath_prefix(p, segs, 8));
        at_jsonpath_free(p);
    }
    assert_int_equal(at_jsonpath_prefix(NULL, segs, 8), 0);
    assert_null(at_jsonpath_query(NULL, doc));
    json_decref(doc);
}

static void oom_exit(size_t n)
{
    (void)n;
    _exit(42);
}

static void jsonpath_work(void)
{
    const char *text = "{\"a\":[1,{\"b\":2},{\"b\":\"x\"}],\"c\":{\"d\":[3,4]}}";
    json_t *doc = NULL;
    if (at_json_parse(text, strlen(text), 0, &doc, NULL) != 0)
        _exit(3);
    struct at_jsonpath *p = NULL;
    if (at_jsonpath_new("$..[?@.b == 2 || @ == 3, 'd'][0:2]", &p, NULL) != 0)
        _exit(4);
    json_t *r = at_jsonpath_query(p, doc);
    if (!r)
        _exit(5);
    json_decref(r);
    at_jsonpath_free(p);
    json_decref(doc);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    int completed = 0;
    long runs = 0;
    for (long n = 0; n < 2000 && !completed; n++, runs++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            json_set_alloc_funcs(at_malloc, free);
            at_alloc_set_oom_handler(oom_exit);
            at_alloc_fail_after(n);
            jsonpath_work();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st))
            fail_msg("allocation %ld: child died with signal %d", n, WTERMSIG(st));
        if (WEXITSTATUS(st) == 0)
            completed = 1;
        else if (WEXITSTATUS(st) != 42)
            fail_msg("allocation %ld: child exited %d", n, WEXITSTATUS(st));
    }
    assert_true(completed);
    /* the hook did fail allocations: a scenario that completed at once
     * would prove nothing */
    print_message("allocation-failure runs: %ld\n", runs);
    assert_true(runs > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_bookstore),
        cmocka_unit_test(test_rfc_selectors),
        cmocka_unit_test(test_rfc_descendants_and_null),
        cmocka_unit_test(test_rfc_filters),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_singular_value_prefix),
        cmocka_unit_test(test_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
