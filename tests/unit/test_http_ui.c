/* Unit tests: what the dashboard's file routes read from request headers
 * (http/ui.h): Accept-Encoding (RFC 9110 §12.5.3) and If-None-Match
 * (§13.1.2), and the embedded files (http/ui_assets.h). */
#include "http/ui.h"
#include "http/ui_assets.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_accept_encoding(void **state)
{
    (void)state;
    assert_false(at_http_accepts_gzip(NULL));
    assert_false(at_http_accepts_gzip(""));
    assert_true(at_http_accepts_gzip("gzip"));
    assert_true(at_http_accepts_gzip("GZIP"));
    assert_true(at_http_accepts_gzip("gzip, deflate, br"));
    assert_true(at_http_accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    assert_true(at_http_accepts_gzip("gzip;q=0.001"));
    assert_true(at_http_accepts_gzip("gzip;Q=1"));
    assert_false(at_http_accepts_gzip("gzip;q=0"));
    assert_false(at_http_accepts_gzip("gzip;q=0.000"));
    assert_false(at_http_accepts_gzip("gzip ; q=0"));
    assert_false(at_http_accepts_gzip("br, deflate"));
    assert_false(at_http_accepts_gzip("gzipx"));
    assert_false(at_http_accepts_gzip("x-gzip2"));
    /* "*" stands for codings not listed; a listed gzip wins over it */
    assert_true(at_http_accepts_gzip("*"));
    assert_false(at_http_accepts_gzip("*;q=0"));
    assert_false(at_http_accepts_gzip("gzip;q=0, *"));
    assert_true(at_http_accepts_gzip("*;q=0, gzip"));
    /* the last listing of gzip counts */
    assert_false(at_http_accepts_gzip("gzip, gzip;q=0"));
    /* a q of another element is not this one's */
    assert_true(at_http_accepts_gzip("gzip, br;q=0"));
    assert_true(at_http_accepts_gzip(",,, ,gzip,"));
}

static void test_if_none_match(void **state)
{
    (void)state;
    const char *e = "\"abc\"";
    assert_false(at_http_etag_matches(NULL, e));
    assert_false(at_http_etag_matches("", e));
    assert_true(at_http_etag_matches("\"abc\"", e));
    assert_true(at_http_etag_matches("\"x\", \"abc\"", e));
    assert_true(at_http_etag_matches("\"x\",\"abc\",\"y\"", e));
    assert_true(at_http_etag_matches("W/\"abc\"", e)); /* weak comparison */
    assert_true(at_http_etag_matches("*", e));
    assert_true(at_http_etag_matches("  * ", e));
    assert_false(at_http_etag_matches("\"abc*\"", e));
    assert_false(at_http_etag_matches("\"abcd\"", e));
    assert_false(at_http_etag_matches("x\"abc\"", e));
    assert_false(at_http_etag_matches("\"abc\"x", e));
    assert_false(at_http_etag_matches("\"abc-gz\"", e));
    assert_false(at_http_etag_matches("\"abc\"", ""));
}

static void test_assets(void **state)
{
    (void)state;
    int index = 0;
    size_t gz = 0;
    for (size_t i = 0; i < at_http_ui_nassets; i++) {
        const struct at_http_ui_asset *a = &at_http_ui_assets[i];
        if (!strcmp(a->path, "index.html"))
            index = 1;
        assert_non_null(strstr(a->type, "/"));
        assert_true(a->etag[0] == '"' && a->etag[strlen(a->etag) - 1] == '"');
        assert_true(a->gz_len > 18 && a->gz[0] == 0x1f && a->gz[1] == 0x8b); /* RFC 1952 */
        assert_null(strstr(a->path, ".."));
        gz += a->gz_len;
    }
    assert_true(index);
    assert_int_equal(gz, at_http_ui_gzip_total);
    assert_true(at_http_ui_gzip_total <= 300 * 1024); /* the first load's budget */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_encoding),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
