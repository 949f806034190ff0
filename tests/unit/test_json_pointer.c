/*
 * test_json_pointer.c - JSON Pointer (RFC 6901), including the examples of
 * RFC 6901 §5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"
#include "json/pointer.h"

#include <stdlib.h>
#include <string.h>

static const char *rfc_doc = "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, "
                             "\"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, "
                             "\"m~n\": 8}";

static json_t *doc(const char *text)
{
    json_t *v = NULL;
    assert_int_equal(at_json_parse(text, strlen(text), 0, &v, NULL), 0);
    return v;
}

static void test_rfc6901_examples(void **state)
{
    (void)state;
    json_t *d = doc(rfc_doc);
    assert_ptr_equal(at_jptr_get(d, ""), d);
    assert_ptr_equal(at_jptr_get(d, "/foo"), json_object_get(d, "foo"));
    assert_string_equal(json_string_value(at_jptr_get(d, "/foo/0")), "bar");
    static const struct {
        const char *ptr;
        long long want;
    } cases[] = {{"/", 0},     {"/a~1b", 1}, {"/c%d", 2}, {"/e^f", 3}, {"/g|h", 4},
                 {"/i\\j", 5}, {"/k\"l", 6}, {"/ ", 7},   {"/m~0n", 8}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        json_t *v = at_jptr_get(d, cases[i].ptr);
        assert_non_null(v);
        assert_int_equal(json_integer_value(v), cases[i].want);
    }
    json_decref(d);
}

static void test_absent_and_malformed(void **state)
{
    (void)state;
    json_t *d = doc("{\"a\": [10, 20, {\"b\": null}], \"~\": 1, \"01\": 2}");
    assert_null(at_jptr_get(d, "a"));     /* no leading slash */
    assert_null(at_jptr_get(d, "/x"));    /* absent */
    assert_null(at_jptr_get(d, "/a/3"));  /* past the end */
    assert_null(at_jptr_get(d, "/a/-"));  /* "-" is never an element */
    assert_null(at_jptr_get(d, "/a/01")); /* leading zero */
    assert_null(at_jptr_get(d, "/a/+1"));
    assert_null(at_jptr_get(d, "/a/1x"));
    assert_null(at_jptr_get(d, "/a/99999999999999999999999"));
    assert_null(at_jptr_get(d, "/~"));     /* lone ~ */
    assert_null(at_jptr_get(d, "/~2"));    /* bad escape */
    assert_null(at_jptr_get(d, "/a/0/x")); /* into a scalar */
    assert_null(at_jptr_get(NULL, ""));
    assert_null(at_jptr_get(d, NULL));
    assert_int_equal(json_integer_value(at_jptr_get(d, "/~0")), 1);
    assert_int_equal(json_integer_value(at_jptr_get(d, "/01")), 2); /* fine as a key */
    assert_int_equal(json_integer_value(at_jptr_get(d, "/a/1")), 20);
    /* null is a value, not absence */
    assert_true(json_is_null(at_jptr_get(d, "/a/2/b")));
    json_decref(d);
}

static void test_long_tokens(void **state)
{
    (void)state;
    /* Longer than the on-stack token buffer. */
    char key[1000];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *d = json_object();
    json_object_set_new(d, key, json_integer(9));
    char ptr[1002];
    ptr[0] = '/';
    memcpy(ptr + 1, key, sizeof(key));
    assert_int_equal(json_integer_value(at_jptr_get(d, ptr)), 9);
    json_decref(d);
}

static void test_append(void **state)
{
    (void)state;
    struct at_buf b;
    at_buf_init(&b, 64);
    assert_int_equal(at_jptr_append(&b, "a/b"), 0);
    assert_int_equal(at_jptr_append(&b, "m~n"), 0);
    assert_int_equal(at_jptr_append_index(&b, 12), 0);
    assert_int_equal(at_jptr_append(&b, ""), 0);
    assert_int_equal(at_jptr_appendn(&b, "x\0y", 3), 0);
    assert_int_equal(memcmp(at_buf_str(&b), "/a~1b/m~0n/12//x\0y", 18), 0);
    assert_int_equal(b.len, 18);
    at_buf_release(&b);

    /* Round trip: what append writes, get reads back. */
    json_t *d = json_object();
    json_t *inner = json_array();
    json_array_append_new(inner, json_string("deep"));
    json_object_set_new(d, "~/~/", inner);
    at_buf_init(&b, 64);
    at_jptr_append(&b, "~/~/");
    at_jptr_append_index(&b, 0);
    assert_string_equal(at_buf_str(&b), "/~0~1~0~1/0");
    assert_string_equal(json_string_value(at_jptr_get(d, at_buf_str(&b))), "deep");
    at_buf_release(&b);
    json_decref(d);
}

static void test_append_bounded(void **state)
{
    (void)state;
    struct at_buf b;
    at_buf_init(&b, 8);
    assert_int_equal(at_jptr_append(&b, "abc"), 0);
    /* would pass the maximum: refused whole, buffer unchanged */
    assert_int_equal(at_jptr_append(&b, "~~~~"), AT_E2BIG);
    assert_string_equal(at_buf_str(&b), "/abc");
    assert_int_equal(at_jptr_append_index(&b, 123456), AT_E2BIG);
    assert_int_equal(at_jptr_append_index(&b, 12), 0);
    assert_string_equal(at_buf_str(&b), "/abc/12");
    at_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6901_examples), cmocka_unit_test(test_absent_and_malformed),
        cmocka_unit_test(test_long_tokens),      cmocka_unit_test(test_append),
        cmocka_unit_test(test_append_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
