/*
 * trigger.h - trigger files (triggers/NAME.yaml) and the one event shape.
 *
 * A trigger file holds one `trigger:` block (docs/triggers.md):
 *
 *   trigger:
 *     type: cron | webhook | conversational | alertmanager
 *     target: {agent: NAME[:VERSION]} | {chain: NAME}
 *     input: {...}          static input, merged under the mapped values
 *     input_map: {key: JSONPath over the event, ...}
 *     ... the type's keys (schedule, path, interface, ...)
 *
 * The trigger's name is `name:` when given, else the file's base name
 * without .yaml ("cron-nightly").  at_trigger_load checks everything that
 * needs no other component (keys, types, cron expressions, time zones,
 * paths, JSONPath); whether the target exists is the service's check
 * (service.h), located the same way.
 *
 * Every way a run starts produces the same event (at_trigger_event_new):
 *
 *   {id, source: {type, name}, received_at, target: {agent | chain},
 *    body, headers, identity, conversation?, trigger: {name, type, ...}}
 *
 * input_map reads from it; the job records it (meta.event); the agent only
 * sees the input.  Thread-safety: a struct at_trigger is immutable once
 * loaded and may be shared read-only between threads.
 */
#ifndef AT_TRIGGER_TRIGGER_H
#define AT_TRIGGER_TRIGGER_H

#include "base/diag.h"
#include "json/jsonpath.h"
#include "trigger/cron.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum at_trigger_type {
    AT_TRIGGER_CRON,
    AT_TRIGGER_WEBHOOK,
    AT_TRIGGER_CONVERSATIONAL,
    AT_TRIGGER_ALERTMANAGER,
    AT_TRIGGER_CUSTOM, /* events come from an emitter agent (atlas.triggers.emit) */
};

enum at_trigger_missed { AT_MISSED_RUN_ONCE, AT_MISSED_SKIP };
enum at_trigger_concurrency { AT_CONC_ALLOW, AT_CONC_FORBID, AT_CONC_REPLACE };
enum at_trigger_sig {
    AT_SIG_NONE,
    AT_SIG_GITHUB,  /* X-Hub-Signature-256: sha256=HEX of HMAC(secret, body) */
    AT_SIG_STRIPE,  /* HEADER: t=TS,v1=HEX of HMAC(secret, "TS.body") */
    AT_SIG_HMAC,    /* HEADER: [sha256=]HEX of HMAC(secret, body); optional timestamp header */
    AT_SIG_SLACK,   /* X-Slack-Signature: v0=HEX of HMAC(secret, "v0:TS:body") */
    AT_SIG_DISCORD, /* X-Signature-Ed25519: HEX of Ed25519(public key, TS + body) */
};

/* How a conversational trigger talks (interface:). */
enum at_trigger_iface { AT_IFACE_HTTP, AT_IFACE_WEBSOCKET, AT_IFACE_SLACK, AT_IFACE_DISCORD };

struct at_trigger_map {
    char *key;
    char *expr;
    struct at_jsonpath *path;
};

#define AT_TRIGGER_MAX_BODY_DEFAULT (1u << 20)
#define AT_TRIGGER_NAME_MAX 64

struct at_trigger {
    char *name;
    enum at_trigger_type type;
    char *agent; /* target: one of agent / chain */
    char *chain;
    json_t *input; /* static input (object) or NULL */
    struct at_trigger_map *map;
    size_t nmap;
    char *description;

    /* cron */
    char *schedule;
    struct at_cron cron;
    struct at_tz *tz; /* NULL: UTC */
    int64_t jitter_s;
    enum at_trigger_missed missed;
    enum at_trigger_concurrency concurrency;

    /* webhook, alertmanager, conversational (interface http) */
    char *path; /* "/hooks/..." */
    int respond_sync;
    size_t max_body;
    enum at_trigger_sig sig;
    char *sig_header;              /* the header carrying the signature (lower case) */
    char *sig_ts_header;           /* generic scheme: timestamp header, or NULL */
    char *secret_env;              /* the secret: an environment variable ... */
    char *secret_file;             /* ... or a file */
    char *secret_name;             /* ... or a secret of the secrets store */
    char *public_key;              /* discord: the application's Ed25519 key (hex) */
    int64_t tolerance_s;           /* replay window for timestamped schemes */
    char *idem_header;             /* lower case; default "idempotency-key" */
    struct at_jsonpath *idem_path; /* or a JSONPath into the body */
    char *idem_expr;
    char *interface; /* conversational: "http", "websocket", "slack", "discord" */
    enum at_trigger_iface iface;
    /* slack, discord: where answers go (reply:) */
    char *reply_url;           /* chat.postMessage, or Discord's API base */
    char *reply_token_env;     /* slack: the bot token (Bearer), from the environment ... */
    char *reply_token_file;    /* ... a file */
    char *reply_token_secret;  /* ... or the secrets store */
    char *response_url_prefix; /* slack: a payload's response_url is used when it starts so */
    int per_alert;             /* alertmanager: one job per alert (else per group) */
    int auth_token;            /* auth: token: a delivery needs a token of the security layer */

    /* custom: the agent that emits the events, and its input */
    char *emitter_agent;
    json_t *emitter_input;

    json_t *definition; /* the trigger block as loaded (for describe) */
};

/* Load a trigger file's text.  file names it in diagnostics and gives the
 * default name.  Returns 0 and *out (free with at_trigger_free), or
 * AT_EPARSE / AT_EINVAL / AT_EUNSUPPORTED / AT_E2BIG with d located
 * (file:line:col). */
int at_trigger_load(const char *file, const char *text, size_t len, struct at_trigger **out,
                    struct at_diag *d);
void at_trigger_free(struct at_trigger *t);

const char *at_trigger_type_name(enum at_trigger_type t);

/* A path under /hooks/ that is free for triggers: 1, else 0 and why. */
int at_trigger_path_ok(const char *path, char *why, size_t n);

/* The event: a new object (caller decrefs).  body, headers, identity and
 * conversation are borrowed (copied by reference; NULL: null / {} / omitted).
 * extra adds members to event.trigger (scheduled_at, path, ...). */
json_t *at_trigger_event_new(const struct at_trigger *t, const char *source_type,
                             const json_t *body, const json_t *headers, const json_t *identity,
                             const json_t *conversation, const json_t *extra);

/* The event shape for a run that did not come from a trigger (CLI, HTTP,
 * MCP, spawn): source {type, name: NULL}, target and body = the input. */
json_t *at_trigger_event_plain(const char *source_type, const char *agent, const char *chain,
                               const json_t *input, const json_t *identity);

/* The target's input for event ev: static input, then each input_map key
 * (a singular path gives its value or is left out when nothing matches;
 * other paths give the array of matches); without input_map and input,
 * the event's body when it is an object.  extra (may be NULL) is merged
 * last (a manual `fire --input`).  A new object. */
json_t *at_trigger_input(const struct at_trigger *t, const json_t *ev, const json_t *extra);

/* Headers a trigger keeps in its event: lower-cased names, without
 * credentials (authorization, cookie, proxy-authorization) and signatures.
 * A new object from all (an object of name -> string). */
json_t *at_trigger_filter_headers(const struct at_trigger *t, const json_t *all);

#endif
