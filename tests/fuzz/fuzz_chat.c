/* libFuzzer target: Slack and Discord requests (src/trigger/chat.c).  The
 * first byte picks the interface and the content type, the rest is the
 * body.  Properties: a message has a body with a string "message" and the
 * platform; a chat text fits its limit and is valid UTF-8; form bodies
 * decode to strings. */
#include "base/utf8.h"
#include "trigger/chat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct at_trigger *load_one(const char *itf)
{
    char text[256];
    snprintf(text, sizeof(text),
             "trigger:\n  type: conversational\n  interface: %s\n  target:\n    agent: a\n"
             "  signature:\n    secret_env: K\n",
             itf);
    struct at_trigger *t = NULL;
    struct at_diag d;
    if (at_trigger_load("fuzz.yaml", text, strlen(text), &t, &d))
        abort();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct at_trigger *slack, *discord;
    if (!slack) {
        slack = load_one("slack");
        discord = load_one("discord");
    }
    if (size == 0)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    json_t *h = json_pack("{s:s}", "content-type",
                          (data[0] & 2) ? "application/x-www-form-urlencoded" : "application/json");
    struct at__chat_req c;
    struct at_diag d;
    at_diag_clear(&d);
    if (at__trigger_chat_parse((data[0] & 1) ? discord : slack, h, body, len, &c, &d) == 0) {
        if (c.kind == AT_CHAT_MESSAGE && (!json_is_string(json_object_get(c.body, "message")) ||
                                          !json_is_string(json_object_get(c.body, "platform"))))
            abort();
        char *text = at__trigger_chat_text(c.body, 100);
        if (strlen(text) > 100 || at_utf8_valid_prefix(text, strlen(text)) != strlen(text))
            abort();
        free(text);
        json_t *rb = at__trigger_chat_reply_body((data[0] & 1) ? AT_IFACE_DISCORD : AT_IFACE_SLACK,
                                                 c.reply_base, "x");
        json_decref(rb);
        at__trigger_chat_req_release(&c);
    }
    json_t *f = at__trigger_form_parse(body, len);
    const char *k;
    json_t *v;
    json_object_foreach(f, k, v)
    {
        if (!json_is_string(v))
            abort();
    }
    json_decref(f);
    json_decref(h);
    return 0;
}
