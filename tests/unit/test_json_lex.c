/*
 * test_json_lex.c - the lexer JSONPath and the eval expression language
 * share (json/lex.h): quote styles, every escape, \u with surrogate pairs,
 * the two dialects' differences, UTF-8, located errors, bounds; and that a
 * literal decodes to the same bytes through both languages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "json/expr.h"
#include "json/json.h"
#include "json/jsonpath.h"
#include "json/lex.h"

#include <stdlib.h>
#include <string.h>

/* Decode the literal src (starting at its first byte) with flags; on
 * success check the bytes and that the whole of src was consumed. */
static void ok(const char *src, unsigned flags, const char *want, size_t want_len)
{
    struct at_buf b;
    struct at_lex_err e;
    size_t end = 0, n = strlen(src);
    at_buf_init(&b, n);
    int rc = at_lex_string(src, n, 0, flags, &b, &end, &e);
    if (rc)
        fail_msg("%s: refused at %zu: %s", src, e.at, e.msg);
    assert_int_equal(end, n);
    if (b.len != want_len || memcmp(b.p ? b.p : "", want, want_len) != 0)
        fail_msg("%s: decoded %zu bytes, want %zu", src, b.len, want_len);
    at_buf_release(&b);
}

#define OK(src, flags, want) ok(src, flags, want, sizeof(want) - 1)

static void bad(const char *src, unsigned flags, int code, size_t at, const char *part)
{
    struct at_buf b;
    struct at_lex_err e;
    size_t end = 0, n = strlen(src);
    at_buf_init(&b, n);
    memset(&e, 0, sizeof(e));
    int rc = at_lex_string(src, n, 0, flags, &b, &end, &e);
    at_buf_release(&b);
    if (rc != code)
        fail_msg("%s: rc %d, want %d", src, rc, code);
    if (e.at != at)
        fail_msg("%s: error at %zu, want %zu (%s)", src, e.at, at, e.msg);
    if (part && !strstr(e.msg, part))
        fail_msg("%s: message \"%s\" lacks \"%s\"", src, e.msg, part);
}

static void test_quotes_and_escapes(void **state)
{
    (void)state;
    const unsigned both[] = {AT_LEX_JSONPATH, AT_LEX_EXPR};
    for (size_t i = 0; i < 2; i++) {
        unsigned f = both[i];
        OK("''", f, "");
        OK("\"\"", f, "");
        OK("'a b'", f, "a b");
        OK("\"it's\"", f, "it's");
        OK("'say \"hi\"'", f, "say \"hi\"");
        OK("'\\''", f, "'");
        OK("\"\\\"\"", f, "\"");
        OK("'\\b\\f\\n\\r\\t\\/\\\\'", f, "\b\f\n\r\t/\\");
        OK("'\\u0041\\u00e9\\u20AC'", f, "A\xc3\xa9\xe2\x82\xac");
        OK("'\\u0000'", f, "\0");
        /* RFC 8259 §7: a pair of escapes is one code point */
        OK("'\\ud83d\\ude00'", f, "\xf0\x9f\x98\x80");
        OK("'\\uDBFF\\uDFFF'", f, "\xf4\x8f\xbf\xbf");
        OK("'\xc3\xa9\xf0\x9f\x98\x80'", f, "\xc3\xa9\xf0\x9f\x98\x80");
    }
    /* the literal may start anywhere in the source; end is past its quote */
    struct at_buf b;
    struct at_lex_err e;
    size_t end = 0;
    const char *src = "x == 'ab' && y";
    at_buf_init(&b, 64);
    assert_int_equal(at_lex_string(src, strlen(src), 5, AT_LEX_EXPR, &b, &end, &e), 0);
    assert_int_equal(end, 9);
    assert_string_equal(at_buf_str(&b), "ab");
    at_buf_release(&b);
}

static void test_errors_located(void **state)
{
    (void)state;
    const unsigned both[] = {AT_LEX_JSONPATH, AT_LEX_EXPR};
    for (size_t i = 0; i < 2; i++) {
        unsigned f = both[i];
        bad("'abc", f, AT_EPARSE, 0, "unterminated");
        bad("'abc\\", f, AT_EPARSE, 0, "unterminated");
        bad("'ab\\q'", f, AT_EPARSE, 3, "invalid escape \\q");
        bad("'\\x41'", f, AT_EPARSE, 1, "invalid escape \\x");
        bad("'a\\u12'", f, AT_EPARSE, 2, "4 hex digits");
        bad("'a\\u12g4'", f, AT_EPARSE, 2, "4 hex digits");
        bad("'\\u", f, AT_EPARSE, 1, "4 hex digits");
        bad("'\\ude00'", f, AT_EPARSE, 1, "lone low surrogate");
        bad("'x\\ud83d'", f, AT_EPARSE, 2, "high surrogate");
        bad("'\\ud83dx'", f, AT_EPARSE, 1, "high surrogate");
        bad("'\\ud83d\\u0041'", f, AT_EPARSE, 1, "high surrogate");
        bad("'\\ud83d\\ud83d'", f, AT_EPARSE, 1, "high surrogate");
    }
}

static void test_dialects(void **state)
{
    (void)state;
    /* RFC 9535 §2.3.1.1: only the enclosing quote may be escaped ... */
    bad("'\\\"'", AT_LEX_JSONPATH, AT_EPARSE, 1, "invalid escape \\\"");
    bad("\"\\'\"", AT_LEX_JSONPATH, AT_EPARSE, 1, "invalid escape \\'");
    /* ... the expression language takes either in either style */
    OK("'\\\"'", AT_LEX_EXPR, "\"");
    OK("\"\\'\"", AT_LEX_EXPR, "'");
    /* raw control characters: refused by RFC 9535, kept by expressions */
    bad("'a\x01'", AT_LEX_JSONPATH, AT_EPARSE, 2, "control character");
    bad("'a\nb'", AT_LEX_JSONPATH, AT_EPARSE, 2, "control character");
    OK("'a\nb\tc'", AT_LEX_EXPR, "a\nb\tc");
    /* UTF-8 is checked only where asked, at the offending byte */
    OK("'\xff'", AT_LEX_JSONPATH, "\xff");
    bad("'ab\xff'", AT_LEX_EXPR, AT_EPARSE, 3, "UTF-8");
    bad("'\xc3'", AT_LEX_EXPR, AT_EPARSE, 1, "UTF-8");             /* truncated, then the quote */
    bad("'\xc3", AT_LEX_EXPR, AT_EPARSE, 1, "UTF-8");              /* truncated at the end */
    bad("'\xc0\xaf'", AT_LEX_EXPR, AT_EPARSE, 1, "UTF-8");         /* overlong "/" */
    bad("'\xed\xa0\x80'", AT_LEX_EXPR, AT_EPARSE, 1, "UTF-8");     /* an encoded surrogate */
    bad("'\xf4\x90\x80\x80'", AT_LEX_EXPR, AT_EPARSE, 1, "UTF-8"); /* past U+10FFFF */
}

static void test_bounds(void **state)
{
    (void)state;
    /* decoded text never outgrows the literal: a buffer of n bytes is enough */
    static const char *const worst[] = {"'\\u0041\\u0042'", "'\\ud83d\\ude00'",
                                        "'\xf0\x9f\x98\x80'", "'abc'"};
    for (size_t i = 0; i < sizeof(worst) / sizeof(*worst); i++) {
        struct at_buf b;
        struct at_lex_err e;
        size_t end, n = strlen(worst[i]);
        at_buf_init(&b, n);
        assert_int_equal(at_lex_string(worst[i], n, 0, AT_LEX_EXPR, &b, &end, &e), 0);
        assert_true(b.len <= n);
        at_buf_release(&b);
    }
    /* a smaller buffer is refused, not overrun */
    struct at_buf b;
    struct at_lex_err e;
    size_t end;
    at_buf_init(&b, 2);
    assert_int_equal(at_lex_string("'abcd'", 6, 0, AT_LEX_EXPR, &b, &end, &e), AT_E2BIG);
    assert_int_equal(e.at, 0);
    assert_true(b.len <= 2);
    at_buf_release(&b);
    /* the length given is the end, whatever follows in memory */
    at_buf_init(&b, 16);
    assert_int_equal(at_lex_string("'ab'", 3, 0, AT_LEX_EXPR, &b, &end, &e), AT_EPARSE);
    at_buf_release(&b);
    assert_int_equal(at_lex_hex4("\\u00", 4, 2), -1);
    assert_int_equal(at_lex_hex4("00e9", 3, 0), -1);
    assert_int_equal(at_lex_hex4("00e9", 4, 5), -1);
}

static void test_utf8_helpers(void **state)
{
    (void)state;
    assert_int_equal(at_lex_hex4("00e9", 4, 0), 0xe9);
    assert_int_equal(at_lex_hex4("FfFf", 4, 0), 0xffff);
    assert_int_equal(at_lex_hex4("12g4", 4, 0), -1);
    static const struct {
        uint32_t cp;
        const char *utf8;
    } c[] = {{0x41, "A"},
             {0x7f, "\x7f"},
             {0x80, "\xc2\x80"},
             {0x7ff, "\xdf\xbf"},
             {0x800, "\xe0\xa0\x80"},
             {0xffff, "\xef\xbf\xbf"},
             {0x10000, "\xf0\x90\x80\x80"},
             {0x10ffff, "\xf4\x8f\xbf\xbf"}};
    for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
        char out[4];
        size_t n = at_lex_utf8_put(out, c[i].cp);
        assert_int_equal(n, strlen(c[i].utf8));
        assert_memory_equal(out, c[i].utf8, n);
        assert_int_equal(at_lex_utf8_count(out, n), 1);
    }
    assert_int_equal(at_lex_utf8_count("a\xc3\xa9\xf0\x9f\x98\x80z", 8), 4);
    assert_int_equal(at_lex_utf8_count("", 0), 0);
    assert_int_equal(at_lex_skip_blank(" \t\r\nx ", 6, 0), 4);
    assert_int_equal(at_lex_skip_blank("x", 1, 0), 0);
    assert_int_equal(at_lex_skip_blank("  ", 2, 0), 2);
    assert_int_equal(at_lex_skip_blank("\v", 1, 0), 0); /* not blank in either language */
}

/* One literal, two languages, the same bytes: the expression's value and
 * the member a JSONPath selects. */
static void test_same_through_both_languages(void **state)
{
    (void)state;
    static const struct {
        const char *lit;
        const char *utf8;
    } c[] = {
        {"'\\ud83d\\ude00'", "\xf0\x9f\x98\x80"},
        {"'\\u00e9t\\u00E9'", "\xc3\xa9t\xc3\xa9"},
        {"'a\\tb\\\\c\\/d'", "a\tb\\c/d"},
        {"\"q\\\"q\"", "q\"q"},
        {"'\\b\\f'", "\b\f"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
        struct at_expr *e = NULL;
        struct at_diag d;
        at_diag_clear(&d);
        if (at_expr_compile(c[i].lit, strlen(c[i].lit), NULL, &e, &d))
            fail_msg("expr %s: %s (col %d)", c[i].lit, d.msg, d.col);
        json_t *vars = json_object(), *v = NULL;
        assert_int_equal(at_expr_eval(e, vars, &v, &d), 0);
        assert_true(json_is_string(v));
        assert_int_equal(json_string_length(v), strlen(c[i].utf8));
        assert_memory_equal(json_string_value(v), c[i].utf8, strlen(c[i].utf8));

        json_t *doc = json_object();
        json_object_set_new(doc, c[i].utf8, json_integer((json_int_t)i));
        char path[64];
        snprintf(path, sizeof(path), "$[%s]", c[i].lit);
        struct at_jsonpath *p = NULL;
        if (at_jsonpath_new(path, &p, &d))
            fail_msg("path %s: %s (col %d)", path, d.msg, d.col);
        json_t *got = at_jsonpath_value(p, doc);
        assert_non_null(got);
        assert_int_equal(json_integer_value(got), (json_int_t)i);
        json_decref(got);
        at_jsonpath_free(p);
        json_decref(doc);
        json_decref(v);
        json_decref(vars);
        at_expr_free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quotes_and_escapes),
        cmocka_unit_test(test_errors_located),
        cmocka_unit_test(test_dialects),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_utf8_helpers),
        cmocka_unit_test(test_same_through_both_languages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
