/*
 * chat.h - inside the trigger layer: the Slack and Discord interfaces of
 * conversational triggers (docs/triggers.md "Slack", "Discord").  Pure
 * functions over a request's headers and body: signature checks and the
 * parsing of each platform's documented request formats into the one
 * conversational body {message, user_id, channel, platform, payload}.
 * Thread-safe (no state).
 */
#ifndef AT_TRIGGER_CHAT_H
#define AT_TRIGGER_CHAT_H

#include "base/diag.h"
#include "base/id.h"
#include "trigger/trigger.h"

#include <jansson.h>
#include <stddef.h>

/* Slack signing secret v0: sig is "v0=HEX" of HMAC-SHA256(secret,
 * "v0:" TS ":" body).  1 when it matches (constant time); want (may be
 * NULL) gets the expected hex. */
int at__trigger_slack_sig_ok(const char *secret, const char *ts, const char *sig, const char *body,
                             size_t len, char want[65]);
/* Discord: sig_hex is the Ed25519 signature (128 hex digits) of TS + body
 * under the application's public key (64 hex digits).  1 when valid. */
int at__trigger_discord_sig_ok(const char *public_key_hex, const char *ts, const char *sig_hex,
                               const char *body, size_t len);

enum at__chat_kind {
    AT_CHAT_MESSAGE, /* start a job; answer `answer` (NULL: an empty 200) at once */
    AT_CHAT_ANSWER,  /* answer `answer` at once, no job (url_verification, PING) */
    AT_CHAT_IGNORE,  /* an empty 200, no job (bot messages, other events) */
};

struct at__chat_req {
    enum at__chat_kind kind;
    json_t *body;   /* MESSAGE: {message, user_id, channel, platform, payload, ...} */
    json_t *answer; /* the immediate answer's JSON, or NULL */
    char conversation[AT_ID_MAX + 64]; /* "slack:TEAM:CHANNEL:USER", "discord:..." */
    char idem[160];                    /* the platform's delivery id ("" none) */
    char *reply_url;                   /* a slash command's response_url (trusted), or NULL */
    json_t *reply_base;                /* the answer's fields beside its text */
};

/* Parse a verified request of a slack or discord trigger.  0 and out
 * (release with at__trigger_chat_req_release), or AT_EPARSE / AT_EINVAL
 * with d saying what is wrong with the payload. */
int at__trigger_chat_parse(const struct at_trigger *t, const json_t *headers, const char *body,
                           size_t len, struct at__chat_req *out, struct at_diag *d);
void at__trigger_chat_req_release(struct at__chat_req *c);

/* The text of a job's output for a chat: a string as it is; an object's
 * "text", "message", "answer", "reply" or "output" string; else the JSON.
 * Cut at max bytes (on a UTF-8 boundary).  Caller frees. */
char *at__trigger_chat_text(const json_t *output, size_t max);

/* The body that carries text to the platform: Slack {...reply_base,
 * text}, Discord {content}.  A new object. */
json_t *at__trigger_chat_reply_body(enum at_trigger_iface iface, const json_t *reply_base,
                                    const char *text);

/* application/x-www-form-urlencoded into an object of strings (a repeated
 * name: its last value).  NULL when it is not well-formed. */
json_t *at__trigger_form_parse(const char *body, size_t len);

#endif
