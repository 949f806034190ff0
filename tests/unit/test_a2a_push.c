/* Unit tests: A2A push notification configs (http/a2a_push.c) over a
 * migrated store: set, get, list, delete in both versions' shapes, the
 * limits, what a restart keeps; the URL rules. */
#include "base/err.h"
#include "base/fs.h"
#include "http/a2a_push.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static struct at_a2a_push *open_push_with(const char *config)
{
    struct at_a2a_push *p = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *cfg = config ? json_loads(config, 0, NULL) : NULL;
    struct at_a2a_push_cfg pc = {.db = db, .data_dir = dir, .config = cfg};
    assert_int_equal(at_a2a_push_new(&pc, &p, &d), 0);
    json_decref(cfg);
    return p;
}

static struct at_a2a_push *open_push(void)
{
    return open_push_with(NULL);
}

static void test_urls(void **state)
{
    (void)state;
    char why[300];
    assert_int_equal(at_a2a_push_check_url("http://127.0.0.1:9/hook", NULL, why, sizeof(why)), 0);
    assert_int_equal(at_a2a_push_check_url("HTTPS://example.invalid/x?y=1", NULL, why, sizeof(why)),
                     0);
    assert_int_equal(at_a2a_push_check_url("http://[::1]:8080/", NULL, why, sizeof(why)), 0);
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
        assert_int_not_equal(at_a2a_push_check_url(bad[i], NULL, why, sizeof(why)), 0);
    assert_int_equal(at_a2a_push_check_url(NULL, NULL, why, sizeof(why)), -1);
    /* a2a.push.allowed_hosts: exact names (any case), *.suffix, IP literals */
    json_t *allowed = json_pack("[s,s,s]", "Hooks.Example.com", "*.corp.test", "[::1]");
    assert_int_equal(
        at_a2a_push_check_url("https://hooks.example.com/x", allowed, why, sizeof(why)), 0);
    assert_int_equal(at_a2a_push_check_url("http://a.b.corp.test:81/", allowed, why, sizeof(why)),
                     0);
    assert_int_equal(at_a2a_push_check_url("http://[::1]:8080/", allowed, why, sizeof(why)), 0);
    static const char *const refused[] = {"http://127.0.0.1:9/", "http://corp.test/",
                                          "http://evilcorp.test/", "http://hooks.example.com.evil/",
                                          "http://xhooks.example.com/"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(at_a2a_push_check_url(refused[i], allowed, why, sizeof(why)), -1);
        assert_non_null(strstr(why, "allowed_hosts"));
    }
    json_decref(allowed);
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

/* The limits come from a2a.push; the allowlist refuses at set time. */
static void test_configured_limits(void **state)
{
    (void)state;
    struct at_a2a_push *p =
        open_push_with("{\"per_task\": 2, \"max_configs\": 3, \"allowed_hosts\": [\"127.0.0.1\"]}");
    char why[300];
    json_t *out = NULL;
    json_t *c = json_pack("{s:s}", "url", "http://localhost:9/");
    assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V10, c, &out, why, sizeof(why)),
                     AT_A2A_EPARAMS);
    assert_non_null(strstr(why, "allowed_hosts"));
    json_decref(c);
    const char *tasks[] = {"job_1", "job_1", "job_2"};
    for (size_t i = 0; i < 3; i++) {
        c = json_pack("{s:s}", "url", "http://127.0.0.1:9/");
        assert_int_equal(at_a2a_push_set(p, tasks[i], AT_A2A_V10, c, &out, why, sizeof(why)), 0);
        json_decref(out);
        json_decref(c);
    }
    c = json_pack("{s:s}", "url", "http://127.0.0.1:9/");
    assert_int_equal(at_a2a_push_set(p, "job_1", AT_A2A_V10, c, &out, why, sizeof(why)),
                     AT_A2A_EPARAMS);
    assert_non_null(strstr(why, "a2a.push.per_task"));
    assert_int_equal(at_a2a_push_set(p, "job_3", AT_A2A_V10, c, &out, why, sizeof(why)),
                     AT_A2A_EINTERNAL);
    assert_non_null(strstr(why, "a2a.push.max_configs"));
    json_decref(c);
    at_a2a_push_free(p);
}

/* A receiver on a socket bound before it listens: connections are refused
 * until rx_listen, then it answers n requests 204 and keeps their bodies. */
struct rx {
    int fd, port, n, got;
    char bodies[8][512];
    pthread_t th;
};

static void *rx_main(void *arg)
{
    struct rx *r = arg;
    while (r->got < r->n) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            break;
        char buf[4096];
        size_t len = 0;
        const char *body = NULL;
        long want = -1;
        for (;;) {
            ssize_t k = read(c, buf + len, sizeof(buf) - 1 - len);
            if (k <= 0)
                break;
            len += (size_t)k;
            buf[len] = '\0';
            const char *e = strstr(buf, "\r\n\r\n");
            if (e && want < 0) {
                const char *cl = strcasestr(buf, "content-length:");
                want = cl ? strtol(cl + 15, NULL, 10) : 0;
                body = e + 4;
            }
            if (body && (long)(buf + len - body) >= want)
                break;
        }
        if (body)
            snprintf(r->bodies[r->got % 8], sizeof(r->bodies[0]), "%s", body);
        r->got++;
        const char *ans = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
        ssize_t w = write(c, ans, strlen(ans));
        (void)w;
        close(c);
    }
    return NULL;
}

static void rx_bind(struct rx *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &al), 0);
    r->port = ntohs(a.sin_port);
}

static void notify(struct at_a2a_push *p, const char *state, const char *detail)
{
    struct at_a2a_task t = {.id = "job_p", .job_state = state, .detail = detail, .updated_ms = 1};
    at_a2a_push_notify(p, &t, strcmp(state, "failed") == 0);
}

/* What is queued at a stop is sent at the next start, in order, to the
 * config as it is then; none is lost, none sent twice. */
static void test_pending_kept_across_restart(void **state)
{
    (void)state;
    struct rx r;
    rx_bind(&r); /* not listening: every POST is refused */
    /* a long backoff: the first update waits in it while the others queue */
    struct at_a2a_push *p = open_push_with("{\"attempts\": 50, \"backoff_ms\": 60000}");
    char url[64], why[300];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", r.port);
    json_t *c = json_pack("{s:s,s:s,s:s}", "id", "k", "url", url, "token", "tok-secret");
    json_t *out = NULL;
    assert_int_equal(at_a2a_push_set(p, "job_p", AT_A2A_V10, c, &out, why, sizeof(why)), 0);
    json_decref(out);
    json_decref(c);
    notify(p, "running", "first-upd");
    notify(p, "running", "second-upd");
    notify(p, "failed", "third-upd");
    assert_int_equal(at_a2a_push_pending(p), 3);
    at_a2a_push_free(p); /* stops in the backoff: all three are kept */
    char path[400];
    snprintf(path, sizeof(path), "%s/a2a-push-pending.json", dir);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(at_fs_read_file(path, 1 << 20, &text, &len), 0);
    assert_non_null(strstr(text, "\"configId\":\"k\""));
    assert_null(strstr(text, "tok-secret")); /* by config id: never the credentials */
    free(text);

    r.n = 3;
    assert_int_equal(listen(r.fd, 8), 0);
    assert_int_equal(pthread_create(&r.th, NULL, rx_main, &r), 0);
    p = open_push();
    assert_false(at_fs_is_file(path)); /* taken: a crash now does not send them twice */
    for (int i = 0; i < 1000 && at_a2a_push_pending(p) > 0; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(at_a2a_push_pending(p), 0);
    pthread_join(r.th, NULL);
    assert_int_equal(r.got, 3);
    assert_non_null(strstr(r.bodies[0], "first-upd"));
    assert_non_null(strstr(r.bodies[1], "second-upd"));
    assert_non_null(strstr(r.bodies[2], "third-upd"));
    at_a2a_push_free(p);
    assert_false(at_fs_is_file(path)); /* nothing left: no file */
    close(r.fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test_setup_teardown(test_set_get_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configured_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_kept_across_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
