/*
 * chat.c - Slack and Discord requests (chat.h).
 *
 * Slack (api.slack.com/authentication/verifying-requests-from-slack,
 * /apis/events-api, /interactivity/slash-commands): JSON bodies of type
 * url_verification (answered with the challenge) and event_callback
 * (message and app_mention events start a job; messages from bots and
 * edits do not), and slash commands as form bodies.
 *
 * Discord (discord.com/developers/docs/interactions/receiving-and-
 * responding): interactions of type 1 (PING, answered with type 1) and 2
 * (APPLICATION_COMMAND: answered with type 5, a deferred message, and the
 * job's output goes to the follow-up webhook).
 */
#include "trigger/chat.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/utf8.h"
#include "json/json.h"
#include "trigger/service.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int at__trigger_slack_sig_ok(const char *secret, const char *ts, const char *sig, const char *body,
                             size_t len, char want[65])
{
    char base[40];
    int bl = snprintf(base, sizeof(base), "v0:%s:", ts);
    if (bl < 0 || (size_t)bl >= sizeof(base))
        return 0;
    char w[65];
    at_trigger_hmac_hex(secret, base, (size_t)bl, body, len, w);
    if (want)
        memcpy(want, w, 65);
    if (!sig || strncmp(sig, "v0=", 3) != 0 || strlen(sig + 3) != 64)
        return 0;
    char g[65];
    for (size_t i = 0; i < 64; i++) {
        char c = sig[3 + i];
        g[i] = (char)((c >= 'A' && c <= 'F') ? c + 32 : c);
    }
    g[64] = '\0';
    return sodium_memcmp(w, g, 64) == 0;
}

int at__trigger_discord_sig_ok(const char *public_key_hex, const char *ts, const char *sig_hex,
                               const char *body, size_t len)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
    size_t n = 0;
    if (!public_key_hex || !ts || !sig_hex || strlen(public_key_hex) != 64 ||
        strlen(sig_hex) != 128)
        return 0;
    if (sodium_hex2bin(pk, sizeof(pk), public_key_hex, 64, NULL, &n, NULL) != 0 || n != sizeof(pk))
        return 0;
    if (sodium_hex2bin(sig, sizeof(sig), sig_hex, 128, NULL, &n, NULL) != 0 || n != sizeof(sig))
        return 0;
    size_t tl = strlen(ts);
    if (tl > 64 || len > (64u << 20))
        return 0;
    unsigned char *m = at_malloc(tl + len + 1);
    memcpy(m, ts, tl);
    if (len)
        memcpy(m + tl, body, len);
    int ok = crypto_sign_verify_detached(sig, m, tl + len, pk) == 0;
    free(m);
    return ok;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode one form component ('+' is a space, %XX a byte); NULL when a
 * percent escape is broken or the result is not UTF-8. */
static char *form_decode(const char *p, size_t n)
{
    char *out = at_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+') {
            out[o++] = ' ';
        } else if (p[i] == '%') {
            int a = n - i >= 3 ? hexval(p[i + 1]) : -1;
            int b = n - i >= 3 ? hexval(p[i + 2]) : -1;
            if (a < 0 || b < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(a * 16 + b);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    out[o] = '\0';
    if (at_utf8_valid_prefix(out, o) != o || memchr(out, '\0', o)) {
        free(out);
        return NULL;
    }
    return out;
}

json_t *at__trigger_form_parse(const char *body, size_t len)
{
    json_t *o = json_object();
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (body + i)) : end - i;
        if (klen || end > i) {
            char *k = form_decode(body + i, klen);
            char *v = eq ? form_decode(eq + 1, end - (size_t)(eq + 1 - body)) : at_strdup("");
            if (!k || !v || !k[0]) {
                free(k);
                free(v);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, k, json_string(v));
            free(k);
            free(v);
        }
        i = end + 1;
    }
    return o;
}

/* json_pack's "s?" leaves nulls: a platform's API wants the key absent */
static json_t *without_nulls(json_t *o)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, k, v)
    {
        if (json_is_null(v))
            json_object_del(o, k);
    }
    return o;
}

static void conv_id(struct at__chat_req *c, const char *platform, const char *a, const char *b,
                    const char *user)
{
    snprintf(c->conversation, sizeof(c->conversation), "%s:%.40s:%.40s:%.40s", platform,
             a && a[0] ? a : "-", b && b[0] ? b : "-", user && user[0] ? user : "-");
}

static int slack_parse(const json_t *headers, const char *body, size_t len, struct at__chat_req *c,
                       struct at_diag *d)
{
    const char *ct = at_json_str(headers, "content-type", "");
    if (strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        /* a slash command */
        json_t *f = at__trigger_form_parse(body, len);
        if (!f)
            return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                               "not a slash command: the form body does not decode");
        const char *cmd = at_json_str(f, "command", NULL);
        if (!cmd) {
            json_decref(f);
            return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                               "not a slash command: no \"command\" field");
        }
        c->kind = AT_CHAT_MESSAGE;
        c->body = json_pack("{s:s,s:s?,s:s?,s:s,s:s,s:O}", "message", at_json_str(f, "text", ""),
                            "user_id", at_json_str(f, "user_id", NULL), "channel",
                            at_json_str(f, "channel_id", NULL), "command", cmd, "platform", "slack",
                            "payload", f);
        conv_id(c, "slack", at_json_str(f, "team_id", NULL), at_json_str(f, "channel_id", NULL),
                at_json_str(f, "user_id", NULL));
        const char *tid = at_json_str(f, "trigger_id", NULL);
        if (tid)
            snprintf(c->idem, sizeof(c->idem), "slack-command:%.120s", tid);
        const char *ru = at_json_str(f, "response_url", NULL);
        if (ru)
            c->reply_url = at_strdup(ru);
        c->reply_base = without_nulls(json_pack("{s:s,s:s?}", "response_type", "in_channel",
                                                "channel", at_json_str(f, "channel_id", NULL)));
        json_decref(f);
        return 0;
    }
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                           "not a Slack request: neither a JSON object nor a slash command form");
    }
    const char *type = at_json_str(j, "type", "");
    if (strcmp(type, "url_verification") == 0) {
        const char *ch = at_json_str(j, "challenge", NULL);
        if (!ch) {
            json_decref(j);
            return at_diag_set(d, AT_EPARSE, NULL, 0, 0, "url_verification without a challenge");
        }
        c->kind = AT_CHAT_ANSWER;
        c->answer = json_pack("{s:s}", "challenge", ch);
        json_decref(j);
        return 0;
    }
    if (strcmp(type, "event_callback") != 0) {
        json_decref(j);
        c->kind = AT_CHAT_IGNORE; /* app_rate_limited and future types: acknowledged */
        return 0;
    }
    json_t *ev = json_object_get(j, "event");
    const char *et = at_json_str(ev, "type", "");
    const char *eid = at_json_str(j, "event_id", NULL);
    if (eid)
        snprintf(c->idem, sizeof(c->idem), "slack-event:%.120s", eid);
    /* a bot's messages (ours included) and edits or deletions start nothing:
     * answering them would loop */
    if ((strcmp(et, "message") != 0 && strcmp(et, "app_mention") != 0) ||
        json_object_get(ev, "bot_id") || json_object_get(ev, "subtype") ||
        !at_json_str(ev, "text", NULL)) {
        json_decref(j);
        c->kind = AT_CHAT_IGNORE;
        return 0;
    }
    const char *channel = at_json_str(ev, "channel", NULL);
    const char *user = at_json_str(ev, "user", NULL);
    const char *thread = at_json_str(ev, "thread_ts", NULL);
    c->kind = AT_CHAT_MESSAGE;
    c->body =
        json_pack("{s:s,s:s?,s:s?,s:s?,s:s,s:O}", "message", at_json_str(ev, "text", ""), "user_id",
                  user, "channel", channel, "thread_ts", thread, "platform", "slack", "payload", j);
    conv_id(c, "slack", at_json_str(j, "team_id", NULL), channel, user);
    c->reply_base =
        without_nulls(json_pack("{s:s?,s:s?}", "channel", channel, "thread_ts", thread));
    json_decref(j);
    return 0;
}

static int discord_parse(const char *body, size_t len, struct at__chat_req *c, struct at_diag *d)
{
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *ty = json_object_get(j, "type");
    if (!json_is_object(j) || !json_is_integer(ty)) {
        json_decref(j);
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                           "not a Discord interaction (a JSON object with an integer type)");
    }
    json_int_t type = json_integer_value(ty);
    if (type == 1) { /* PING */
        c->kind = AT_CHAT_ANSWER;
        c->answer = json_pack("{s:i}", "type", 1);
        json_decref(j);
        return 0;
    }
    if (type != 2) {
        json_decref(j);
        return at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                           "interaction type %lld is not supported yet (supported: 1 PING, 2 "
                           "APPLICATION_COMMAND)",
                           (long long)type);
    }
    const char *app = at_json_str(j, "application_id", NULL);
    const char *token = at_json_str(j, "token", NULL);
    const char *iid = at_json_str(j, "id", NULL);
    json_t *data = json_object_get(j, "data");
    if (!app || !token || !json_is_object(data)) {
        json_decref(j);
        return at_diag_set(d, AT_EPARSE, NULL, 0, 0,
                           "an application command needs application_id, token and data");
    }
    /* the command's options, as text: "/ask question: ..." -> "..." */
    struct at_buf msg;
    at_buf_init(&msg, 64u << 10);
    size_t i;
    json_t *opt;
    json_array_foreach(json_object_get(data, "options"), i, opt)
    {
        json_t *v = json_object_get(opt, "value");
        char num[64];
        const char *s = json_string_value(v);
        if (!s && json_is_number(v)) {
            snprintf(num, sizeof(num), "%g", json_number_value(v));
            s = num;
        }
        if (!s)
            continue;
        if (msg.len)
            at_buf_putc(&msg, ' ');
        at_buf_puts(&msg, s);
    }
    const char *user =
        at_json_str(json_object_get(json_object_get(j, "member"), "user"), "id", NULL);
    if (!user)
        user = at_json_str(json_object_get(j, "user"), "id", NULL);
    const char *channel = at_json_str(j, "channel_id", NULL);
    c->kind = AT_CHAT_MESSAGE;
    c->body = json_pack("{s:s,s:s?,s:s?,s:s?,s:s,s:O}", "message",
                        msg.len ? at_buf_str(&msg) : at_json_str(data, "name", ""), "user_id", user,
                        "channel", channel, "command", at_json_str(data, "name", NULL), "platform",
                        "discord", "payload", j);
    at_buf_release(&msg);
    conv_id(c, "discord", at_json_str(j, "guild_id", NULL), channel, user);
    if (iid)
        snprintf(c->idem, sizeof(c->idem), "discord:%.120s", iid);
    /* 5: DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE ("thinking..."); the output
     * follows on the interaction's webhook */
    c->answer = json_pack("{s:i}", "type", 5);
    c->reply_base = json_pack("{s:s,s:s}", "application_id", app, "token", token);
    json_decref(j);
    return 0;
}

int at__trigger_chat_parse(const struct at_trigger *t, const json_t *headers, const char *body,
                           size_t len, struct at__chat_req *out, struct at_diag *d)
{
    memset(out, 0, sizeof(*out));
    if (t->iface == AT_IFACE_SLACK)
        return slack_parse(headers, body, len, out, d);
    if (t->iface == AT_IFACE_DISCORD)
        return discord_parse(body, len, out, d);
    return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "not a slack or discord trigger");
}

void at__trigger_chat_req_release(struct at__chat_req *c)
{
    json_decref(c->body);
    json_decref(c->answer);
    json_decref(c->reply_base);
    free(c->reply_url);
    memset(c, 0, sizeof(*c));
}

char *at__trigger_chat_text(const json_t *output, size_t max)
{
    static const char *const keys[] = {"text", "message", "answer", "reply", "output", NULL};
    const char *s = json_string_value(output);
    char *dump = NULL;
    for (size_t i = 0; !s && json_is_object(output) && keys[i]; i++)
        s = json_string_value(json_object_get(output, keys[i]));
    if (!s)
        s = dump = output ? json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (n > max) {
        n = at_utf8_valid_prefix(s, max);
    }
    char *out = at_strndup(s, n);
    free(dump);
    return out;
}

json_t *at__trigger_chat_reply_body(enum at_trigger_iface iface, const json_t *reply_base,
                                    const char *text)
{
    if (iface == AT_IFACE_DISCORD)
        return json_pack("{s:s}", "content", text);
    json_t *o = json_is_object(reply_base) ? json_deep_copy(reply_base) : json_object();
    json_object_set_new(o, "text", json_string(text));
    return o;
}
