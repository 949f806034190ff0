/* Unit tests: A2A push notification configs (http/a2a_push.c) over a
 * migrated store: set, get, list, delete in both versions' shapes, the
 * limits, what a restart keeps; the URL rules. */
#include "base/err.h"
#include "base/fs.h"
#include "http/a2a_push.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char dir[256];
static char db[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/atlas-push-test.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof(db), "%s/atlas.db", dir);
    struct at_store_cfg cfg = {.backend = "sqlite", .path = db};
    struct at_store *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_store_open(&cfg, &s, &d)) /* migrates */
        return -1;
    at_store_close(s);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    at_fs_remove_tree(dir);
    return 0;
}

static struct at_a2a_push *open_push(void)
{
    struct at_a2a_push *p = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_a2a_push_new(db, &p, &d), 0);
    return p;
}

static void test_urls(void **state)
{
    (void)state;
    char why[300];
    assert_int_equal(at_a2a_push_check_url("http://127.0.0.1:9/hook", why, sizeof(why)), 0);
    assert_int_equal(at_a2a_push_check_url("HTTPS://example.invalid/x?y=1", why, sizeof(why)), 0);
    assert_int_equal(at_a2a_push_check_url("http://[::1]:8080/", why, sizeof(why)), 0);
    static const char *const bad[] = {"",
                                      "file:///etc/passwd",
                                      "gopher://h/",
                                      "http://u:p@h/",
                                      "http://u@h/",
                                      "http://h/a b",
                                      "/relative",
                                      "h:80/x",
                                      "ftp://h/",
                                      "http://h/\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(at_a2a_push_check_url(bad[i], why, sizeof(why)), 0);
    assert_int_equal(at_a2a_push_check_url(NULL, why, sizeof(why)), -1);
}

static void test_set_get_list_delete(void **state)
{
    (void)state;
    struct at_a2a_push *p = open_push();
    char why[300] = "";
    json_t *out = NULL;
    json_t *c1 = json_pack("{s:s,s:s,s:s,s:s}", "taskId", "job_1", "id", "one", "url",
                           "http://127.0.0.1:9/a", "token", "tok");
    assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V10, c1, &out, why, sizeof(why)), 0);
    assert_string_equal(json_string_value(json_object_get(out, "token")), "tok");
    json_decref(out);
    json_t *c2 = json_pack("{s:{s:s,s:{s:[s],s:s}}}", "pushNotificationConfig", "url",
                           "http://127.0.0.1:9/b", "authentication", "schemes", "Bearer",
                           "credentials", "s3cret");
    assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V03, c2, &out, why, sizeof(why)), 0);
    const char *made =
        json_string_value(json_object_get(json_object_get(out, "pushNotificationConfig"), "id"));
    assert_non_null(made);
    assert_memory_equal(made, "push_", 5);
    char id2[64];
    snprintf(id2, sizeof(id2), "%s", made);
    json_decref(out);
    /* the 0.3 config in the 1.0 shape: one scheme, its credentials */
    json_t *g = at_a2a_push_get(p, "job_1", id2, AT_A2A_V10);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(g, "authentication"), "scheme")),
        "Bearer");
    json_decref(g);
    json_t *l = at_a2a_push_list(p, "job_1", AT_A2A_V10);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    assert_null(at_a2a_push_get(p, "job_2", NULL, AT_A2A_V10));
    assert_int_equal(at_a2a_push_delete(p, "job_1", "nope"), AT_ENOENT);
    assert_int_equal(at_a2a_push_delete(p, "job_1", "one"), 0);
    at_a2a_push_free(p);
    /* a restart keeps what is left */
    p = open_push();
    l = at_a2a_push_list(p, "job_1", AT_A2A_V03);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(l, 0), "pushNotificationConfig"), "url")),
        "http://127.0.0.1:9/b");
    json_decref(l);
    at_a2a_push_free(p);
    json_decref(c1);
    json_decref(c2);
}

static void test_refusals_and_limit(void **state)
{
    (void)state;
    struct at_a2a_push *p = open_push();
    char why[300];
    json_t *out = NULL;
    static const char *const bad[] = {
        "{\"url\": \"file:///x\"}",
        "{\"url\": \"http://u:p@h/\"}",
        "{\"url\": \"http://h/\", \"token\": \"a\\r\\nX: 1\"}",
        "{\"url\": \"http://h/\", \"authentication\": {\"scheme\": \"B r\", \"credentials\": 1}}",
        "{\"url\": \"http://h/\", \"authentication\": {\"scheme\": \"Bearer\"}}",
        "{\"url\": \"http://h/\", \"id\": \"a/b\"}",
        "{\"url\": \"http://h/\", \"id\": 7}",
        "{\"url\": 7}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *c = json_loads(bad[i], 0, NULL);
        assert_non_null(c);
        assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V10, c, &out, why, sizeof(why)),
                         AT_A2A_EPARAMS);
        assert_null(out);
        json_decref(c);
    }
    for (int i = 0; i < AT_A2A_PUSH_PER_TASK; i++) {
        char id[16];
        snprintf(id, sizeof(id), "c%d", i);
        json_t *c = json_pack("{s:s,s:s}", "id", id, "url", "http://127.0.0.1:9/");
        assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V10, c, &out, why, sizeof(why)), 0);
        json_decref(out);
        json_decref(c);
    }
    json_t *c = json_pack("{s:s,s:s}", "id", "over", "url", "http://127.0.0.1:9/");
    assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V10, c, &out, why, sizeof(why)),
                     AT_A2A_EPARAMS);
    assert_non_null(strstr(why, "limit"));
    json_decref(c);
    c = json_pack("{s:s,s:s}", "id", "c3", "url", "http://127.0.0.1:9/again");
    assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V10, c, &out, why, sizeof(why)), 0);
    json_decref(out);
    json_decref(c);
    at_a2a_push_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test_setup_teardown(test_set_get_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_and_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
