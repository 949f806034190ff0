/* Unit tests: cron expressions (parsing, located errors, next firings in
 * UTC and across DST changes), trigger files (the spec's three files,
 * located errors, refusals of what is not built) and the event / input
 * mapping. */
#include "base/clock.h"
#include "base/err.h"
#include "trigger/chat.h"
#include "trigger/cron.h"
#include "trigger/trigger.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int64_t utc(const char *iso)
{
    int64_t ms;
    assert_int_equal(at_time_parse_iso8601(iso, &ms), 0);
    return ms / 1000;
}

static void expect_next(const char *expr, const char *tzname, const char *after, const char *want)
{
    struct at_cron c;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_cron_parse(expr, &c, &d), 0);
    struct at_tz *tz = NULL;
    if (tzname)
        assert_int_equal(at_tz_load(tzname, &tz, &d), 0);
    int64_t got = at_cron_next(&c, tz, utc(after));
    char buf[40];
    at_time_iso8601(got * 1000, buf, sizeof(buf));
    if (strcmp(buf, want) != 0)
        fail_msg("%s in %s after %s: got %s, want %s", expr, tzname ? tzname : "UTC", after, buf,
                 want);
    at_tz_free(tz);
}

static void expect_error(const char *expr, int col, const char *words)
{
    struct at_cron c;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_cron_parse(expr, &c, &d), AT_EPARSE);
    if (d.col != col || !strstr(d.msg, words))
        fail_msg("\"%s\": col %d \"%s\", want col %d \"%s\"", expr, d.col, d.msg, col, words);
}

static void test_cron_parse(void **state)
{
    (void)state;
    struct at_cron c;
    struct at_diag d;
    assert_int_equal(at_cron_parse("0 2 * * *", &c, &d), 0);
    assert_true(c.min == 1 && c.hour == 4 && (c.flags & AT_CRON_DOM_STAR) &&
                (c.flags & AT_CRON_DOW_STAR) && !(c.flags & AT_CRON_SECONDS));
    assert_int_equal(at_cron_parse("*/15 9-17 1,15 jan-MAR mon-fri", &c, &d), 0);
    assert_true(c.min == (1ull | 1ull << 15 | 1ull << 30 | 1ull << 45));
    assert_true(c.mon == (1u << 1 | 1u << 2 | 1u << 3) && c.dow == 0x3e);
    assert_int_equal(at_cron_parse("0 0 * * 7", &c, &d), 0);
    assert_int_equal(c.dow, 1);
    assert_int_equal(at_cron_parse("30 */10 * * * *", &c, &d), 0);
    assert_true((c.flags & AT_CRON_SECONDS) && c.sec == 1ull << 30);
    assert_int_equal(at_cron_parse("@weekly", &c, &d), 0);
    assert_int_equal(c.dow, 1);
    assert_int_equal(at_cron_parse("5/20 * * * *", &c, &d), 0);
    assert_true(c.min == (1ull << 5 | 1ull << 25 | 1ull << 45));
    assert_int_equal(at_cron_parse("0 0 * * 1-1/4", &c, &d), 0); /* a range, not "1/4" */
    assert_int_equal(c.dow, 1u << 1);

    expect_error("0 2 * *", 8, "expected 5 fields");
    expect_error("61 * * * *", 1, "minute value 61 is outside 0-59");
    expect_error("0 25 * * *", 3, "hour value 25");
    expect_error("0 2 * foo *", 7, "expected a month");
    expect_error("0 2 * * 1-", 11, "expected a day of week");
    expect_error("5-1 * * * *", 1, "range is reversed");
    expect_error("*/0 * * * *", 3, "step is out of range");
    expect_error("0 2 * * * * *", 13, "too many fields");
    expect_error("@sometimes", 1, "unknown macro");
    expect_error("0,? * * * *", 3, "only allowed in the day fields");
    expect_error("1,,2 * * * *", 3, "expected a minute");
}

static void test_cron_next_utc(void **state)
{
    (void)state;
    expect_next("0 2 * * *", NULL, "2026-03-01T00:00:00Z", "2026-03-01T02:00:00.000Z");
    expect_next("0 2 * * *", NULL, "2026-03-01T02:00:00Z", "2026-03-02T02:00:00.000Z");
    expect_next("*/15 9-17 * * mon-fri", NULL, "2026-12-04T17:50:00Z",
                "2026-12-07T09:00:00.000Z"); /* Friday evening -> Monday */
    expect_next("0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00.000Z");
    expect_next("0 0 13 * fri", NULL, "2026-02-01T00:00:00Z", "2026-02-06T00:00:00.000Z");
    expect_next("*/10 * * * * *", NULL, "2026-02-01T00:00:05Z", "2026-02-01T00:00:10.000Z");
    expect_next("@yearly", NULL, "2026-06-01T00:00:00Z", "2027-01-01T00:00:00.000Z");
    expect_next("0 0 31 * *", NULL, "2026-04-01T00:00:00Z", "2026-05-31T00:00:00.000Z");
    struct at_cron c;
    struct at_diag d;
    assert_int_equal(at_cron_parse("0 0 30 2 *", &c, &d), 0);
    assert_int_equal(at_cron_next(&c, NULL, utc("2026-01-01T00:00:00Z")), -1);
}

static void test_cron_dst(void **state)
{
    (void)state;
    struct at_tz *tz;
    struct at_diag d;
    if (at_tz_load("Europe/Berlin", &tz, &d) != 0) {
        print_message("no tzdata here: %s\n", d.msg);
        skip();
    }
    assert_int_equal(at_tz_offset(tz, utc("2026-01-15T12:00:00Z")), 3600);
    assert_int_equal(at_tz_offset(tz, utc("2026-07-15T12:00:00Z")), 7200);
    /* past the fat table's end (2037): the footer's rule */
    assert_int_equal(at_tz_offset(tz, utc("2090-07-15T12:00:00Z")), 7200);
    assert_int_equal(at_tz_offset(tz, utc("2090-12-15T12:00:00Z")), 3600);
    at_tz_free(tz);
    /* plain local times */
    expect_next("0 2 * * *", "Europe/Berlin", "2026-01-10T00:00:00Z", "2026-01-10T01:00:00.000Z");
    expect_next("0 2 * * *", "Europe/Berlin", "2026-07-10T00:00:00Z", "2026-07-11T00:00:00.000Z");
    /* spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not
     * exist, it fires once at the change (01:00Z); the next day normally */
    expect_next("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00.000Z");
    expect_next("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00.000Z");
    /* an hourly job skips the missing hour */
    expect_next("30 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z", "2026-03-29T01:30:00.000Z");
    /* fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice;
     * a daily job fires the first time only, an hourly job both */
    expect_next("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00.000Z");
    expect_next("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00.000Z");
    expect_next("30 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00.000Z");
    expect_next("30 * * * *", "Europe/Berlin", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00.000Z");
    /* a southern zone and a half-hour one */
    expect_next("0 12 * * *", "Australia/Sydney", "2026-01-10T00:00:00Z",
                "2026-01-10T01:00:00.000Z");
    expect_next("0 12 * * *", "Asia/Kolkata", "2026-01-10T00:00:00Z", "2026-01-10T06:30:00.000Z");
    /* refusals */
    assert_int_equal(at_tz_load("../etc/passwd", &tz, &d), AT_EINVAL);
    assert_int_equal(at_tz_load("Mars/Olympus", &tz, &d), AT_ENOENT);
    static const unsigned char junk[] = "TZif2\0\0\0garbage";
    assert_int_equal(at_tz_parse("junk", junk, sizeof(junk), &tz, &d), AT_EPARSE);
}

static int load_file(const char *path, struct at_trigger **t, struct at_diag *d)
{
    char full[512];
    snprintf(full, sizeof(full), "%s/examples/triggers/%s",
             getenv("ATLAS_SRC_DIR") ? getenv("ATLAS_SRC_DIR") : "../..", path);
    FILE *f = fopen(full, "rb");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    at_diag_clear(d);
    return at_trigger_load(full, buf, n, t, d);
}

static int load(const char *text, struct at_trigger **t, struct at_diag *d)
{
    at_diag_clear(d);
    return at_trigger_load("triggers/t.yaml", text, strlen(text), t, d);
}

static void expect_load_error(const char *text, int code, int line, const char *words)
{
    struct at_trigger *t = NULL;
    struct at_diag d;
    int rc = load(text, &t, &d);
    if (rc != code || (line && d.line != line) || !strstr(d.msg, words))
        fail_msg("rc %d line %d \"%s\"; want rc %d line %d \"%s\"", rc, d.line, d.msg, code, line,
                 words);
    assert_null(t);
}

/* Slack's documented example (api.slack.com/authentication/verifying-
 * requests-from-slack) and RFC 8032 §7.1 test 1 (Ed25519, empty message). */
static void test_chat_signatures(void **state)
{
    (void)state;
    const char *body =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
        "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
        "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"
        "2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
        "803a0bc887a14d10d2c447fce8b6703c";
    const char *sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    assert_true(at__trigger_slack_sig_ok("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", sig,
                                         body, strlen(body), NULL));
    assert_false(at__trigger_slack_sig_ok("8f742231b10e8888abcd99yyyzzz85a5", "1531420619", sig,
                                          body, strlen(body), NULL));
    assert_false(at__trigger_slack_sig_ok("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", sig + 3,
                                          body, strlen(body), NULL));
    const char *pk = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const char *esig = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                       "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    assert_true(at__trigger_discord_sig_ok(pk, "", esig, "", 0));
    assert_false(at__trigger_discord_sig_ok(pk, "1", esig, "", 0));
    assert_false(at__trigger_discord_sig_ok(pk, "", esig, "x", 1));
    assert_false(at__trigger_discord_sig_ok("zz", "", esig, "", 0));
}

static void test_chat_parse(void **state)
{
    (void)state;
    json_t *f = at__trigger_form_parse("a=1&b=x+y%21&c=&d", 17);
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "b")), "x y!");
    assert_string_equal(json_string_value(json_object_get(f, "c")), "");
    assert_string_equal(json_string_value(json_object_get(f, "d")), "");
    json_decref(f);
    assert_null(at__trigger_form_parse("a=%4", 4));
    assert_null(at__trigger_form_parse("a=%ff", 5)); /* not UTF-8 */
    assert_null(at__trigger_form_parse("a=%00", 5));

    struct at_trigger *t;
    struct at_diag d;
    assert_int_equal(load("trigger:\n  type: conversational\n  interface: discord\n  target:\n"
                          "    agent: a\n  signature:\n    secret_env: K\n",
                          &t, &d),
                     0);
    struct at__chat_req c;
    const char *ping = "{\"type\": 1, \"id\": \"1\"}";
    assert_int_equal(at__trigger_chat_parse(t, NULL, ping, strlen(ping), &c, &d), 0);
    assert_int_equal(c.kind, AT_CHAT_ANSWER);
    assert_int_equal(json_integer_value(json_object_get(c.answer, "type")), 1);
    at__trigger_chat_req_release(&c);
    const char *cmd = "{\"type\": 2, \"id\": \"9\", \"application_id\": \"A\", \"token\": "
                      "\"T\", \"channel_id\": \"C\", \"user\": {\"id\": \"U\"}, \"data\": "
                      "{\"name\": \"ask\", \"options\": [{\"value\": \"hi\"}, {\"value\": 2}]}}";
    assert_int_equal(at__trigger_chat_parse(t, NULL, cmd, strlen(cmd), &c, &d), 0);
    assert_int_equal(c.kind, AT_CHAT_MESSAGE);
    assert_string_equal(json_string_value(json_object_get(c.body, "message")), "hi 2");
    assert_string_equal(c.conversation, "discord:-:C:U");
    assert_string_equal(c.idem, "discord:9");
    at__trigger_chat_req_release(&c);
    assert_int_equal(at__trigger_chat_parse(t, NULL, "[1]", 3, &c, &d), AT_EPARSE);
    at_trigger_free(t);

    json_t *o = json_pack("{s:s}", "answer", "ok");
    char *text = at__trigger_chat_text(o, 100);
    assert_string_equal(text, "ok");
    free(text);
    json_decref(o);
}

static void test_spec_files(void **state)
{
    (void)state;
    struct at_trigger *t;
    struct at_diag d;
    assert_int_equal(load_file("cron-nightly.yaml", &t, &d), 0);
    assert_string_equal(t->name, "cron-nightly");
    assert_int_equal(t->type, AT_TRIGGER_CRON);
    assert_string_equal(t->chain, "nightly-analysis");
    assert_int_equal(t->missed, AT_MISSED_RUN_ONCE);
    json_t *ev = at_trigger_event_new(t, NULL, NULL, NULL, NULL, NULL, NULL);
    json_t *in = at_trigger_input(t, ev, NULL);
    assert_string_equal(json_string_value(json_object_get(in, "scope")), "last_24h");
    assert_int_equal(json_object_size(in), 1);
    json_decref(in);
    json_decref(ev);
    at_trigger_free(t);

    assert_int_equal(load_file("webhook.yaml", &t, &d), 0);
    assert_string_equal(t->path, "/hooks/deploy-alert");
    assert_string_equal(t->agent, "deploy-responder");
    json_t *body = json_pack("{s:s,s:i}", "service", "api", "build", 7);
    json_t *hdrs = json_pack("{s:s,s:s,s:s}", "Content-Type", "application/json", "Authorization",
                             "Bearer x", "X-Hub-Signature-256", "sha256=00");
    json_t *kept = at_trigger_filter_headers(t, hdrs);
    assert_int_equal(json_object_size(kept), 1);
    assert_non_null(json_object_get(kept, "content-type"));
    ev = at_trigger_event_new(t, NULL, body, kept, NULL, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "source"), "type")),
                        "webhook");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "target"), "agent")),
                        "deploy-responder");
    assert_non_null(json_object_get(ev, "received_at"));
    assert_true(strncmp(json_string_value(json_object_get(ev, "id")), "evt_", 4) == 0);
    in = at_trigger_input(t, ev, NULL);
    assert_true(json_equal(json_object_get(in, "event"), body));
    json_decref(in);
    json_decref(ev);
    json_decref(kept);
    json_decref(hdrs);
    at_trigger_free(t);

    assert_int_equal(load_file("chat.yaml", &t, &d), 0);
    assert_int_equal(t->type, AT_TRIGGER_CONVERSATIONAL);
    assert_string_equal(t->path, "/hooks/chat");
    assert_true(t->respond_sync);
    json_decref(body);
    body = json_pack("{s:s,s:s}", "message", "hello", "user_id", "u1");
    ev = at_trigger_event_new(t, NULL, body, NULL, NULL, NULL, NULL);
    in = at_trigger_input(t, ev, NULL);
    assert_string_equal(json_string_value(json_object_get(in, "message")), "hello");
    assert_string_equal(json_string_value(json_object_get(in, "user_id")), "u1");
    json_decref(in);
    json_decref(ev);
    json_decref(body);
    at_trigger_free(t);
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_load_error("trigger:\n  type: cron\n  schedule: \"0 2 * *\"\n  target:\n    chain: c\n",
                      AT_EINVAL, 3, "expected 5 fields");
    expect_load_error("trigger:\n  type: cron\n  schedule: \"0 2 * * *\"\n  target:\n    chain: "
                      "c\n  colour: red\n",
                      AT_EINVAL, 6, "unknown key \"colour\"");
    expect_load_error("trigger:\n  type: webhook\n  path: /api/v1/agents\n  target:\n    agent: "
                      "a\n",
                      AT_EINVAL, 3, "collides with the daemon's /api endpoints");
    expect_load_error("trigger:\n  type: webhook\n  path: /elsewhere\n  target:\n    agent: a\n",
                      AT_EINVAL, 3, "must be a path under /hooks/");
    expect_load_error("trigger:\n  type: conversational\n  interface: websocket\n  target:\n    "
                      "agent: a\n  respond: async\n",
                      AT_EINVAL, 6, "always answers on the connection");
    expect_load_error("trigger:\n  type: conversational\n  interface: smoke\n  target:\n    "
                      "agent: a\n",
                      AT_EINVAL, 3, "unknown interface");
    expect_load_error("trigger:\n  type: slack\n  target:\n    agent: a\n", AT_EINVAL, 2,
                      "`type: conversational` with `interface: slack`");
    expect_load_error("trigger:\n  type: custom\n  target:\n    agent: a\n", AT_EINVAL, 1,
                      "custom triggers need an emitter");
    expect_load_error("trigger:\n  type: conversational\n  interface: discord\n  target:\n    "
                      "agent: a\n  signature:\n    secret_env: K\n  reply:\n    token_env: T\n",
                      AT_EINVAL, 8, "reply takes only url");
    expect_load_error("trigger:\n  type: webhook\n  path: /hooks/x\n  schedule: \"* * * * *\"\n  "
                      "target:\n    agent: a\n",
                      AT_EINVAL, 4, "not a key of webhook triggers");
    expect_load_error("trigger:\n  type: cron\n  schedule: \"0 0 30 2 *\"\n  target:\n    agent: "
                      "a\n",
                      AT_EINVAL, 3, "never fires");
    expect_load_error("trigger:\n  type: cron\n  schedule: \"@daily\"\n  timezone: Mars/Base\n  "
                      "target:\n    agent: a\n",
                      AT_EINVAL, 4, "unknown time zone");
    expect_load_error("trigger:\n  type: cron\n  schedule: \"@daily\"\n  target:\n    agent: a\n"
                      "    chain: b\n",
                      AT_EINVAL, 5, "exactly one of target.agent and target.chain");
    expect_load_error("trigger:\n  type: webhook\n  path: /hooks/x\n  target:\n    agent: a\n  "
                      "input_map:\n    x: \"$.body[\"\n",
                      AT_EINVAL, 7, "JSONPath");
    expect_load_error("trigger:\n  type: webhook\n  path: /hooks/x\n  target:\n    agent: a\n  "
                      "signature:\n    scheme: github\n",
                      AT_EINVAL, 6, "exactly one of signature.secret (the secrets store)");
    expect_load_error("nothing: here\n", AT_EINVAL, 1, "unknown key \"nothing\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_parse),  cmocka_unit_test(test_cron_next_utc),
        cmocka_unit_test(test_cron_dst),    cmocka_unit_test(test_spec_files),
        cmocka_unit_test(test_file_errors), cmocka_unit_test(test_chat_signatures),
        cmocka_unit_test(test_chat_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
