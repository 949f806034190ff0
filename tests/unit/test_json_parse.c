/*
 * test_json_parse.c - at_json_parse / dumps / getters / equality helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/diag.h"
#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *parse_ok(const char *text)
{
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_json_parse(text, strlen(text), 0, &v, &d);
    if (rc != 0)
        fail_msg("parse of %s failed: %s", text, d.msg);
    return v;
}

static void test_parse_any_value(void **state)
{
    (void)state;
    json_t *v = parse_ok("42");
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 42);
    json_decref(v);
    v = parse_ok("\"x\"");
    assert_string_equal(json_string_value(v), "x");
    json_decref(v);
    v = parse_ok(" {\"a\": [1, 2.5, null, true]} \n");
    assert_true(json_is_object(v));
    json_decref(v);
    v = parse_ok("9223372036854775807");
    assert_int_equal(json_integer_value(v), INT64_MAX);
    json_decref(v);
}

static void expect_error(const char *text, int code, int line, int col, const char *msg_part)
{
    json_t *v = (json_t *)1;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_json_parse(text, strlen(text), 0, &v, &d);
    assert_int_equal(rc, code);
    assert_null(v);
    assert_int_equal(d.code, code);
    if (line)
        assert_int_equal(d.line, line);
    if (col)
        assert_int_equal(d.col, col);
    if (msg_part && !strstr(d.msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", d.msg, msg_part);
}

static void test_parse_errors_are_located(void **state)
{
    (void)state;
    expect_error("{\"a\": 1,\n \"b\": }", AT_EPARSE, 2, 7, NULL);
    expect_error("{\"a\": 1, \"a\": 2}", AT_EPARSE, 1, 0, "duplicate");
    expect_error("[1, 2] x", AT_EPARSE, 1, 8, NULL);
    expect_error("", AT_EPARSE, 1, 1, "empty");
    expect_error("[1,", AT_EPARSE, 1, 0, NULL);
    expect_error("\"\\u0000\"", AT_EPARSE, 1, 0, NULL);
    expect_error("\"\xff\"", AT_EPARSE, 1, 0, NULL);
    /* columns count characters, as jansson does */
    expect_error("[\"\xc3\xa9\xc3\xa9\", ]", AT_EPARSE, 1, 8, NULL);
}

static void test_parse_huge_numbers(void **state)
{
    (void)state;
    /* Beyond int64 and beyond double: refused with a location, not wrapped. */
    expect_error("18446744073709551616", AT_EPARSE, 1, 0, "too big");
    expect_error("[1e400]", AT_EPARSE, 1, 0, NULL);
    expect_error("-9223372036854775809", AT_EPARSE, 1, 0, NULL);
    json_t *v = parse_ok("1e308");
    assert_true(json_is_real(v));
    json_decref(v);
}

static char *nested(size_t depth, const char *open, const char *close)
{
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(depth * (lo + lc) + 2);
    size_t o = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(s + o, open, lo);
        o += lo;
    }
    s[o++] = '1';
    for (size_t i = 0; i < depth; i++) {
        memcpy(s + o, close, lc);
        o += lc;
    }
    s[o] = '\0';
    return s;
}

static void test_parse_depth_limit(void **state)
{
    (void)state;
    char *ok = nested(AT_JSON_MAX_DEPTH, "[", "]");
    json_t *v = parse_ok(ok);
    assert_int_equal(at_json_depth(v, 1000), AT_JSON_MAX_DEPTH);
    json_decref(v);
    free(ok);

    char *deep = nested(AT_JSON_MAX_DEPTH + 1, "[", "]");
    expect_error(deep, AT_E2BIG, 1, AT_JSON_MAX_DEPTH + 1, "nesting");
    free(deep);

    /* Far past jansson's own limit: still our E2BIG, no stack overflow. */
    deep = nested(100000, "{\"k\":", "}");
    expect_error(deep, AT_E2BIG, 1, 0, NULL);
    free(deep);

    /* A caller-chosen limit. */
    struct at_diag d;
    at_diag_clear(&d);
    v = NULL;
    assert_int_equal(at_json_parse("[[1]]", 5, 1, &v, &d), AT_E2BIG);
    assert_int_equal(d.col, 2);
    assert_int_equal(at_json_parse("[[1]]", 5, 2, &v, &d), 0);
    json_decref(v);

    /* Brackets inside strings do not count. */
    v = parse_ok("[\"[[[[[[\\\"[[[[\"]");
    json_decref(v);
    /* A syntax error before the over-deep bracket is the one reported. */
    assert_int_equal(at_json_parse("[x [[[", 6, 2, &v, &d), AT_EPARSE);
}

static void test_dumps_compact_ordered_exact(void **state)
{
    (void)state;
    json_t *v =
        parse_ok("{\"z\": 1, \"a\": [true, null, \"s\"], \"m\": 0.1, \"big\": 9007199254740993}");
    char *s = at_json_dumps(v);
    assert_string_equal(s, "{\"z\":1,\"a\":[true,null,\"s\"],\"m\":0.10000000000000001,"
                           "\"big\":9007199254740993}");
    /* Round trip keeps the double bit-exact. */
    json_t *back = parse_ok(s);
    assert_true(json_real_value(json_object_get(back, "m")) == 0.1);
    json_decref(back);
    free(s);
    json_decref(v);

    json_t *str = json_string("x");
    s = at_json_dumps(str);
    assert_string_equal(s, "\"x\"");
    free(s);
    json_decref(str);
    assert_null(at_json_dumps(NULL));
    json_t *scalar = json_integer(7);
    s = at_json_dumps(scalar);
    assert_string_equal(s, "7");
    free(s);
    json_decref(scalar);
}

static void test_dump_buf_bounded(void **state)
{
    (void)state;
    json_t *v = parse_ok("{\"key\":\"a long enough value\"}");
    struct at_buf b;
    at_buf_init(&b, 16);
    assert_int_equal(at_buf_puts(&b, "pre:"), 0);
    assert_int_equal(at_json_dump_buf(v, &b), AT_E2BIG);
    /* unchanged on failure */
    assert_string_equal(at_buf_str(&b), "pre:");
    assert_int_equal(b.len, 4);
    at_buf_release(&b);
    at_buf_init(&b, 1024);
    assert_int_equal(at_json_dump_buf(v, &b), 0);
    assert_string_equal(at_buf_str(&b), "{\"key\":\"a long enough value\"}");
    at_buf_release(&b);
    json_decref(v);
}

static void test_getters(void **state)
{
    (void)state;
    json_t *v = parse_ok("{\"s\":\"str\",\"i\":12,\"r\":3.0,\"f\":2.5,\"b\":true,\"n\":null}");
    assert_string_equal(at_json_str(v, "s", "fb"), "str");
    assert_string_equal(at_json_str(v, "i", "fb"), "fb");
    assert_string_equal(at_json_str(v, "absent", "fb"), "fb");
    assert_null(at_json_str(v, "n", NULL));
    assert_int_equal(at_json_int(v, "i", -1), 12);
    assert_int_equal(at_json_int(v, "r", -1), 3);
    assert_int_equal(at_json_int(v, "f", -1), -1);
    assert_int_equal(at_json_int(v, "s", -1), -1);
    assert_int_equal(at_json_bool(v, "b", 0), 1);
    assert_int_equal(at_json_bool(v, "i", 7), 7);
    assert_int_equal(at_json_bool(NULL, "b", 5), 5);
    json_t *arr = json_array();
    assert_string_equal(at_json_str(arr, "s", "x"), "x");
    json_decref(arr);
    json_decref(v);
}

static void test_numbers_and_equality(void **state)
{
    (void)state;
    json_t *one = json_integer(1), *onef = json_real(1.0), *half = json_real(1.5);
    json_t *big = json_integer(9007199254740993LL), *bigf = json_real(9007199254740992.0);
    assert_true(at_json_equal(one, onef));
    assert_false(at_json_equal(one, half));
    assert_int_equal(at_json_num_cmp(one, half), -1);
    assert_int_equal(at_json_num_cmp(half, one), 1);
    /* 2^53 + 1 must not round to 2^53 through double */
    assert_int_equal(at_json_num_cmp(big, bigf), 1);
    assert_false(at_json_equal(big, bigf));
    assert_true(at_json_is_integral(onef));
    assert_false(at_json_is_integral(half));
    json_t *huge = json_real(1e300);
    assert_int_equal(at_json_num_cmp(big, huge), -1);
    assert_int_equal(at_json_num_cmp(huge, big), 1);
    json_decref(huge);
    json_decref(one);
    json_decref(onef);
    json_decref(half);
    json_decref(big);
    json_decref(bigf);

    json_t *a = parse_ok("{\"x\":[1,{\"y\":2.0}],\"z\":\"s\"}");
    json_t *b = parse_ok("{\"z\":\"s\",\"x\":[1.0,{\"y\":2}]}");
    json_t *c = parse_ok("{\"z\":\"s\",\"x\":[1.0,{\"y\":3}]}");
    assert_true(at_json_equal(a, b));
    assert_false(at_json_equal(a, c));
    assert_false(at_json_equal(a, NULL));
    assert_true(at_json_equal(NULL, NULL));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_depth_of_built_values(void **state)
{
    (void)state;
    /* A value built in code can be deeper than any parser allows. */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 5000; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    assert_int_equal(at_json_depth(root, 100), 101);
    assert_int_equal(at_json_depth(json_true(), 0), 0);
    /* Equality gives up (unequal) past its depth limit instead of recursing. */
    json_t *copy = json_array(), *c2 = copy;
    for (int i = 0; i < 5000; i++) {
        json_t *next = json_array();
        json_array_append_new(c2, next);
        c2 = next;
    }
    assert_false(at_json_equal(root, copy));
    json_decref(copy);
    json_decref(root);
}

/* Allocation failure: at_malloc's hook fails the Nth allocation and the
 * OOM handler exits; each run is in a child so nothing leaks into this
 * process.  The child must either finish or exit through the handler, never
 * crash on an unchecked NULL. */
static void oom_exit(size_t n)
{
    (void)n;
    _exit(42);
}

static void parse_and_dump_work(void)
{
    const char *text = "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":1.5,\"e\":\"\xc3\xa9\"}";
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(text, strlen(text), 0, &v, &d) != 0)
        _exit(3);
    char *s = at_json_dumps(v);
    if (!s || strcmp(s, text) != 0)
        _exit(4);
    free(s);
    json_decref(v);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    int completed = 0;
    long runs = 0;
    for (long n = 0; n < 500 && !completed; n++, runs++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            json_set_alloc_funcs(at_malloc, free);
            at_alloc_set_oom_handler(oom_exit);
            at_alloc_fail_after(n);
            parse_and_dump_work();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st));
        if (WEXITSTATUS(st) == 0)
            completed = 1;
        else
            assert_int_equal(WEXITSTATUS(st), 42);
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
        cmocka_unit_test(test_parse_any_value),
        cmocka_unit_test(test_parse_errors_are_located),
        cmocka_unit_test(test_parse_huge_numbers),
        cmocka_unit_test(test_parse_depth_limit),
        cmocka_unit_test(test_dumps_compact_ordered_exact),
        cmocka_unit_test(test_dump_buf_bounded),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_numbers_and_equality),
        cmocka_unit_test(test_depth_of_built_values),
        cmocka_unit_test(test_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
