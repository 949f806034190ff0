/* Unit tests: the egress allowlist (contract/egress.c) and the egress
 * proxy's request head (security/egress_proxy.c).  The proxy itself, with
 * a sandboxed agent behind it, runs in tests/e2e/t_egress.sh. */
#include "base/err.h"
#include "contract/egress.h"
#include "security/egress_proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_rules(void **state)
{
    (void)state;
    char why[200];
    const char *good[] = {"api.github.com:443", "*.example.com:*", "127.0.0.1:8080", "[::1]:80",
                          "EXAMPLE.org.:443"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(at_egress_rule_check(good[i], why, sizeof(why)), 0);
    const char *bad[] = {"api.github.com", ":443",       "a..b:1",  "host:0",
                         "host:65536",     "host:-1",    "ho st:1", "*:443",
                         "a:b:443",        "[::1:80",    "",        "host:443/path",
                         ".a:1",           "http://a:1", "*.:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_not_equal(at_egress_rule_check(bad[i], why, sizeof(why)), 0);
        assert_true(why[0] != '\0');
    }
}

static void test_match(void **state)
{
    (void)state;
    json_t *r = json_pack("[s,s,s,s]", "api.github.com:443", "*.example.com:*", "127.0.0.1:8080",
                          "[::1]:80");
    assert_true(at_egress_allowed(r, "api.github.com", 443));
    assert_false(at_egress_allowed(r, "api.github.com", 80));   /* the port counts */
    assert_false(at_egress_allowed(r, "github.com", 443));      /* exact, not below */
    assert_true(at_egress_allowed(r, "a.example.com", 1));      /* any port */
    assert_true(at_egress_allowed(r, "a.b.example.com", 443));  /* any depth */
    assert_false(at_egress_allowed(r, "example.com", 443));     /* not the suffix itself */
    assert_false(at_egress_allowed(r, "evilexample.com", 443)); /* a label boundary */
    assert_false(at_egress_allowed(r, "example.com.evil.io", 443));
    assert_true(at_egress_allowed(r, "127.0.0.1", 8080));
    assert_false(at_egress_allowed(r, "127.0.0.2", 8080));
    assert_true(at_egress_allowed(r, "::1", 80));
    assert_false(at_egress_allowed(NULL, "api.github.com", 443)); /* no list: nothing */
    json_decref(r);
    char host[AT_EGRESS_HOST_MAX];
    int port;
    assert_int_equal(at_egress_split("API.GitHub.com.:443", host, sizeof(host), &port), 0);
    assert_string_equal(host, "api.github.com"); /* case and the trailing dot */
    assert_int_equal(port, 443);
    assert_int_equal(at_egress_split("[::1]:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_not_equal(at_egress_split("host:*", host, sizeof(host), &port), 0);
}

static int parse(const char *head, struct at_proxy_req *r)
{
    char why[300];
    return at_proxy_parse_head(head, strlen(head), r, why, sizeof(why));
}

static void test_head(void **state)
{
    (void)state;
    struct at_proxy_req r;
    /* CONNECT with Basic credentials: the password is the token */
    assert_int_equal(parse("CONNECT API.github.com:443 HTTP/1.1\r\nHost: x\r\n"
                           "Proxy-Authorization: Basic YXRsYXM6YXRsX3Rlc3Q=\r\n\r\n",
                           &r),
                     0);
    assert_true(r.connect);
    assert_string_equal(r.host, "api.github.com");
    assert_int_equal(r.port, 443);
    assert_string_equal(r.token, "atl_test");
    assert_null(r.head);
    at_proxy_req_release(&r);
    /* absolute form: origin form upstream, no Proxy-* headers, port 80 by default */
    assert_int_equal(parse("GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n"
                           "Proxy-Authorization: Bearer atl_x\r\nProxy-Connection: keep-alive\r\n"
                           "Accept: */*\r\n\r\n",
                           &r),
                     0);
    assert_false(r.connect);
    assert_string_equal(r.host, "example.com");
    assert_int_equal(r.port, 80);
    assert_string_equal(r.token, "atl_x");
    assert_non_null(r.head);
    assert_string_equal(r.head,
                        "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
    at_proxy_req_release(&r);
    assert_int_equal(parse("GET http://[::1]:8080 HTTP/1.0\n\n", &r), 0);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 8080);
    assert_string_equal(r.head, "GET / HTTP/1.0\r\n\r\n");
    at_proxy_req_release(&r);
    /* refused */
    assert_int_equal(parse("GET https://example.com/ HTTP/1.1\r\n\r\n", &r), AT_EUNSUPPORTED);
    assert_int_equal(parse("GET /local HTTP/1.1\r\n\r\n", &r), AT_EINVAL);
    assert_int_equal(parse("CONNECT example.com HTTP/1.1\r\n\r\n", &r), AT_EINVAL);
    assert_int_equal(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n", &r), AT_EINVAL);
    assert_int_equal(parse("CONNECT example.com:443 HTTP/2.0\r\n\r\n", &r), AT_EINVAL);
    assert_int_equal(parse("GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n", &r), AT_EINVAL);
    assert_int_equal(parse("get http://example.com/ HTTP/1.1\r\n\r\n", &r), AT_EINVAL);
    assert_int_equal(parse("CONNECT a:1 HTTP/1.1\r\nX: y\r\n continued\r\n\r\n", &r), AT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
