/*
 * trigger.c - trigger files, the event shape and input mapping (trigger.h).
 */
#include "trigger/trigger.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "contract/shape.h"
#include "contract/yaml.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const missed_enum[] = {"skip", "run_once", NULL};
static const char *const conc_enum[] = {"allow", "forbid", "replace", NULL};
static const char *const respond_enum[] = {"async", "sync", NULL};
static const char *const scheme_enum[] = {"github", "stripe", "hmac", "slack", "discord", NULL};
static const char *const per_enum[] = {"group", "alert", NULL};
static const char *const auth_enum[] = {"none", "token", NULL};

static const struct at_shape target_shape[] = {
    {"agent", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"chain", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

static const struct at_shape sig_shape[] = {
    {"scheme", AT_SH_STR, 0, NULL, scheme_enum, 0, 0},
    {"secret", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"secret_env", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"secret_file", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"public_key", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"header", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"timestamp_header", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"tolerance", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 86400},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

static const struct at_shape reply_shape[] = {
    {"url", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"token_env", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"token_file", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"token_secret", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"response_url_prefix", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

static const struct at_shape emitter_shape[] = {
    {"agent", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"input", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

static const struct at_shape idem_shape[] = {
    {"header", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"body_path", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

enum { T_CRON = 1, T_HOOK = 2, T_CONV = 4, T_ALERT = 8, T_CUSTOM = 16, T_ALL = 31 };

static const struct at_shape trigger_shape[] = {
    {"name", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"type", AT_SH_STR, AT_SH_REQUIRED | AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"description", AT_SH_STR, 0, NULL, NULL, 0, 0},
    {"target", AT_SH_OBJ, AT_SH_REQUIRED, target_shape, NULL, 0, 0},
    {"input", AT_SH_ANYOBJ, 0, NULL, NULL, 0, 0},
    {"input_map", AT_SH_STRMAP, 0, NULL, NULL, 0, 0},
    {"schedule", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"timezone", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"jitter", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 0, 86400},
    {"missed", AT_SH_STR, 0, NULL, missed_enum, 0, 0},
    {"concurrency", AT_SH_STR, 0, NULL, conc_enum, 0, 0},
    {"path", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"respond", AT_SH_STR, 0, NULL, respond_enum, 0, 0},
    {"max_body", AT_SH_INT, AT_SH_HAS_MIN | AT_SH_HAS_MAX, NULL, NULL, 1, 16 << 20},
    {"signature", AT_SH_OBJ, 0, sig_shape, NULL, 0, 0},
    {"idempotency", AT_SH_OBJ, 0, idem_shape, NULL, 0, 0},
    {"interface", AT_SH_STR, AT_SH_NONEMPTY, NULL, NULL, 0, 0},
    {"per", AT_SH_STR, 0, NULL, per_enum, 0, 0},
    {"reply", AT_SH_OBJ, 0, reply_shape, NULL, 0, 0},
    {"emitter", AT_SH_OBJ, 0, emitter_shape, NULL, 0, 0},
    {"auth", AT_SH_STR, 0, NULL, auth_enum, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

/* Which types each type-specific key belongs to. */
static const struct {
    const char *key;
    int types;
} key_types[] = {
    {"schedule", T_CRON},
    {"timezone", T_CRON},
    {"jitter", T_CRON},
    {"missed", T_CRON},
    {"concurrency", T_CRON},
    {"path", T_HOOK | T_CONV | T_ALERT},
    {"respond", T_HOOK | T_CONV | T_ALERT},
    {"max_body", T_HOOK | T_CONV | T_ALERT},
    {"signature", T_HOOK | T_CONV | T_ALERT},
    {"idempotency", T_HOOK | T_ALERT | T_CUSTOM},
    {"interface", T_CONV},
    {"per", T_ALERT},
    {"reply", T_CONV},
    {"emitter", T_CUSTOM},
    {"auth", T_HOOK | T_CONV | T_ALERT},
};

static const struct at_shape file_shape[] = {
    {"trigger", AT_SH_ANYOBJ, AT_SH_REQUIRED, NULL, NULL, 0, 0},
    {NULL, 0, 0, NULL, NULL, 0, 0},
};

const char *at_trigger_type_name(enum at_trigger_type t)
{
    switch (t) {
    case AT_TRIGGER_CRON:
        return "cron";
    case AT_TRIGGER_WEBHOOK:
        return "webhook";
    case AT_TRIGGER_CONVERSATIONAL:
        return "conversational";
    case AT_TRIGGER_ALERTMANAGER:
        return "alertmanager";
    case AT_TRIGGER_CUSTOM:
        return "custom";
    }
    return "?";
}

static const char *const reserved_prefixes[] = {"/api",    "/mcp", "/metrics", "/ui",
                                                "/health", "/v1",  NULL};

int at_trigger_path_ok(const char *path, char *why, size_t n)
{
    for (const char *const *p = reserved_prefixes; *p; p++) {
        size_t l = strlen(*p);
        if (strncmp(path, *p, l) == 0 && (path[l] == '/' || path[l] == '\0')) {
            snprintf(why, n, "\"%s\" collides with the daemon's %s endpoints", path, *p);
            return 0;
        }
    }
    if (strncmp(path, "/hooks/", 7) != 0 || path[7] == '\0') {
        snprintf(why, n, "\"%s\" must be a path under /hooks/ (e.g. /hooks/deploy-alert)", path);
        return 0;
    }
    if (strlen(path) > 200) {
        snprintf(why, n, "the path is longer than 200 bytes");
        return 0;
    }
    for (const char *c = path + 7; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr("-_./~", *c)) {
            snprintf(why, n, "\"%s\" has a character outside [A-Za-z0-9-_./~]", path);
            return 0;
        }
    }
    if (strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../") ||
        path[strlen(path) - 1] == '/') {
        snprintf(why, n, "\"%s\" is not a normalised path", path);
        return 0;
    }
    return 1;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AT_TRIGGER_NAME_MAX || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* "triggers/cron-nightly.yaml" -> "cron-nightly" */
static void default_name(const char *file, char *out, size_t n)
{
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    size_t l = strlen(b);
    if (l > 5 && strcmp(b + l - 5, ".yaml") == 0)
        l -= 5;
    else if (l > 4 && strcmp(b + l - 4, ".yml") == 0)
        l -= 4;
    snprintf(out, n, "%.*s", (int)l, b);
}

static char *lower_dup(const char *s)
{
    char *d = at_strdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int build(struct at_yaml_doc *doc, const char *file, json_t *tb, struct at_trigger *t,
                 struct at_diag *d)
{
    char ptr[600];
    const char *type = str_of(tb, "type");
    int tbit;
    if (strcmp(type, "cron") == 0) {
        t->type = AT_TRIGGER_CRON;
        tbit = T_CRON;
    } else if (strcmp(type, "webhook") == 0) {
        t->type = AT_TRIGGER_WEBHOOK;
        tbit = T_HOOK;
    } else if (strcmp(type, "conversational") == 0) {
        t->type = AT_TRIGGER_CONVERSATIONAL;
        tbit = T_CONV;
    } else if (strcmp(type, "alertmanager") == 0) {
        t->type = AT_TRIGGER_ALERTMANAGER;
        tbit = T_ALERT;
    } else if (strcmp(type, "websocket") == 0 || strcmp(type, "slack") == 0 ||
               strcmp(type, "discord") == 0) {
        return at_yaml_error(doc, d, AT_EINVAL, "/trigger/type", 0,
                             "unknown trigger type \"%s\": a %s chat is `type: conversational` "
                             "with `interface: %s`",
                             type, type, type);
    } else if (strcmp(type, "custom") == 0) {
        t->type = AT_TRIGGER_CUSTOM;
        tbit = T_CUSTOM;
    } else {
        return at_yaml_error(doc, d, AT_EINVAL, "/trigger/type", 0,
                             "unknown trigger type \"%s\" (cron, webhook, conversational, "
                             "alertmanager, custom)",
                             type);
    }
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (json_object_get(tb, key_types[i].key) && !(key_types[i].types & tbit)) {
            snprintf(ptr, sizeof(ptr), "/trigger/%s", key_types[i].key);
            return at_yaml_error(doc, d, AT_EINVAL, ptr, 1, "not a key of %s triggers", type);
        }
    }
    char nm[128];
    const char *name = str_of(tb, "name");
    if (!name) {
        default_name(file, nm, sizeof(nm));
        name = nm;
    }
    if (!name_ok(name))
        return at_yaml_error(doc, d, AT_EINVAL, json_object_get(tb, "name") ? "/trigger/name" : "",
                             0,
                             "trigger name \"%s\" must be 1-%d of [A-Za-z0-9._-], starting with a "
                             "letter or digit (set trigger.name, or rename the file)",
                             name, AT_TRIGGER_NAME_MAX);
    t->name = at_strdup(name);
    if (str_of(tb, "description"))
        t->description = at_strdup(str_of(tb, "description"));

    json_t *target = json_object_get(tb, "target");
    const char *ag = str_of(target, "agent"), *ch = str_of(target, "chain");
    if ((ag != NULL) == (ch != NULL))
        return at_yaml_error(doc, d, AT_EINVAL, "/trigger/target", 0,
                             "give exactly one of target.agent and target.chain");
    t->agent = ag ? at_strdup(ag) : NULL;
    t->chain = ch ? at_strdup(ch) : NULL;
    json_t *input = json_object_get(tb, "input");
    if (input)
        t->input = json_deep_copy(input);

    json_t *map = json_object_get(tb, "input_map");
    if (map && json_object_size(map)) {
        t->map = at_calloc(json_object_size(map), sizeof(*t->map));
        const char *k;
        json_t *v;
        json_object_foreach(map, k, v)
        {
            struct at_trigger_map *m = &t->map[t->nmap++];
            m->key = at_strdup(k);
            m->expr = at_strdup(json_string_value(v));
            struct at_diag jd;
            at_diag_clear(&jd);
            if (at_jsonpath_new(m->expr, &m->path, &jd)) {
                char esc[300];
                snprintf(esc, sizeof(esc), "/trigger/input_map/%s", k);
                return at_yaml_error(doc, d, AT_EINVAL, esc, 0, "JSONPath: %s (column %d)", jd.msg,
                                     jd.col);
            }
        }
    }

    if (t->type == AT_TRIGGER_CRON) {
        const char *sched = str_of(tb, "schedule");
        if (!sched)
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger", 1,
                                 "cron triggers need a schedule (e.g. \"0 2 * * *\")");
        t->schedule = at_strdup(sched);
        struct at_diag cd;
        at_diag_clear(&cd);
        if (at_cron_parse(sched, &t->cron, &cd)) {
            int line, col;
            at_yaml_locate(doc, "/trigger/schedule", 0, &line, &col);
            /* the value's column plus the opening quote when quoted */
            return at_diag_set(d, AT_EINVAL, doc->file, line, col, "trigger.schedule: %s (at %d)",
                               cd.msg, cd.col);
        }
        const char *tzn = str_of(tb, "timezone");
        if (tzn && strcmp(tzn, "UTC") != 0 && strcmp(tzn, "Etc/UTC") != 0) {
            struct at_diag zd;
            at_diag_clear(&zd);
            if (at_tz_load(tzn, &t->tz, &zd))
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/timezone", 0, "%s", zd.msg);
        }
        if (at_cron_next(&t->cron, t->tz, at_wall_ms() / 1000) < 0)
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger/schedule", 0,
                                 "\"%s\" never fires (no such date)", sched);
        json_t *j = json_object_get(tb, "jitter");
        t->jitter_s = j ? json_integer_value(j) : 0;
        const char *m = str_of(tb, "missed");
        t->missed = m && strcmp(m, "skip") == 0 ? AT_MISSED_SKIP : AT_MISSED_RUN_ONCE;
        const char *c = str_of(tb, "concurrency");
        t->concurrency = !c || strcmp(c, "allow") == 0 ? AT_CONC_ALLOW
                         : strcmp(c, "forbid") == 0    ? AT_CONC_FORBID
                                                       : AT_CONC_REPLACE;
        return 0;
    }

    if (t->type == AT_TRIGGER_CUSTOM) {
        json_t *em = json_object_get(tb, "emitter");
        if (!em)
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger", 1,
                                 "custom triggers need an emitter (emitter.agent: the agent that "
                                 "emits the events with atlas.triggers.emit)");
        t->emitter_agent = at_strdup(str_of(em, "agent"));
        if (json_object_get(em, "input"))
            t->emitter_input = json_deep_copy(json_object_get(em, "input"));
        json_t *idem = json_object_get(tb, "idempotency");
        if (idem && str_of(idem, "header"))
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger/idempotency/header", 1,
                                 "custom events have no headers: use idempotency.body_path (or "
                                 "the emit's idempotency_key)");
        if (idem && str_of(idem, "body_path")) {
            struct at_diag jd;
            at_diag_clear(&jd);
            t->idem_expr = at_strdup(str_of(idem, "body_path"));
            if (at_jsonpath_new(t->idem_expr, &t->idem_path, &jd) ||
                !at_jsonpath_is_singular(t->idem_path))
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/idempotency/body_path", 0,
                                     "a singular JSONPath into the body is needed%s%s",
                                     jd.msg[0] ? ": " : "", jd.msg);
        }
        return 0;
    }

    /* the HTTP kinds */
    if (t->type == AT_TRIGGER_CONVERSATIONAL) {
        const char *itf = str_of(tb, "interface");
        if (!itf)
            itf = "http";
        if (strcmp(itf, "http") == 0)
            t->iface = AT_IFACE_HTTP;
        else if (strcmp(itf, "websocket") == 0)
            t->iface = AT_IFACE_WEBSOCKET;
        else if (strcmp(itf, "slack") == 0)
            t->iface = AT_IFACE_SLACK;
        else if (strcmp(itf, "discord") == 0)
            t->iface = AT_IFACE_DISCORD;
        else
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger/interface", 0,
                                 "unknown interface \"%s\" (http, websocket, slack, discord)", itf);
        t->interface = at_strdup(itf);
        if (t->iface == AT_IFACE_WEBSOCKET) {
            if (json_object_get(tb, "signature"))
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/signature", 1,
                                     "a websocket trigger has no body to sign: it takes no "
                                     "signature");
            const char *rs = str_of(tb, "respond");
            if (rs && strcmp(rs, "async") == 0)
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/respond", 0,
                                     "a websocket conversation always answers on the connection "
                                     "(respond: sync)");
        }
        if ((t->iface == AT_IFACE_SLACK || t->iface == AT_IFACE_DISCORD) &&
            !json_object_get(tb, "signature"))
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger", 1,
                                 "interface %s needs a signature (%s), or anyone could post as "
                                 "%s",
                                 itf,
                                 t->iface == AT_IFACE_SLACK
                                     ? "signature.secret: the app's signing secret"
                                     : "signature.public_key: the application's public key",
                                 itf);
        if (json_object_get(tb, "reply") && t->iface != AT_IFACE_SLACK &&
            t->iface != AT_IFACE_DISCORD)
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger/reply", 1,
                                 "only slack and discord triggers reply through a URL (interface "
                                 "%s answers on its connection)",
                                 itf);
        json_t *rp = json_object_get(tb, "reply");
        const char *ru = str_of(rp, "url");
        if (t->iface == AT_IFACE_SLACK || t->iface == AT_IFACE_DISCORD) {
            if (!ru)
                ru = t->iface == AT_IFACE_SLACK ? "https://slack.com/api/chat.postMessage"
                                                : "https://discord.com/api/v10";
            if (strncmp(ru, "http://", 7) != 0 && strncmp(ru, "https://", 8) != 0)
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/reply/url", 0,
                                     "reply.url must be an http:// or https:// URL");
            t->reply_url = at_strdup(ru);
            int ntok = (str_of(rp, "token_env") != NULL) + (str_of(rp, "token_file") != NULL) +
                       (str_of(rp, "token_secret") != NULL);
            if (ntok > 1)
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/reply", 1,
                                     "give at most one of reply.token_env, reply.token_file and "
                                     "reply.token_secret");
            if (t->iface == AT_IFACE_DISCORD && (ntok || str_of(rp, "response_url_prefix")))
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/reply", 1,
                                     "a discord trigger answers through the interaction's own "
                                     "token: reply takes only url");
            if (str_of(rp, "token_env"))
                t->reply_token_env = at_strdup(str_of(rp, "token_env"));
            if (str_of(rp, "token_file"))
                t->reply_token_file = at_strdup(str_of(rp, "token_file"));
            if (str_of(rp, "token_secret"))
                t->reply_token_secret = at_strdup(str_of(rp, "token_secret"));
            const char *pre = str_of(rp, "response_url_prefix");
            t->response_url_prefix = at_strdup(pre ? pre : "https://hooks.slack.com/");
        }
    }
    const char *path = str_of(tb, "path");
    char buf[300];
    if (!path) {
        if (t->type == AT_TRIGGER_WEBHOOK || t->type == AT_TRIGGER_ALERTMANAGER)
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger", 1,
                                 "%s triggers need a path (e.g. \"/hooks/deploy-alert\")", type);
        snprintf(buf, sizeof(buf), "/hooks/%s", t->name);
        path = buf;
    }
    char why[300];
    if (!at_trigger_path_ok(path, why, sizeof(why)))
        return at_yaml_error(doc, d, AT_EINVAL, "/trigger/path", 0, "%s", why);
    t->path = at_strdup(path);
    const char *resp = str_of(tb, "respond");
    t->respond_sync = resp ? strcmp(resp, "sync") == 0 : t->type == AT_TRIGGER_CONVERSATIONAL;
    json_t *mb = json_object_get(tb, "max_body");
    t->max_body = mb ? (size_t)json_integer_value(mb) : AT_TRIGGER_MAX_BODY_DEFAULT;
    const char *per = str_of(tb, "per");
    t->per_alert = per && strcmp(per, "alert") == 0;
    const char *auth = str_of(tb, "auth");
    t->auth_token = auth && strcmp(auth, "token") == 0;
    if (t->auth_token && (t->iface == AT_IFACE_SLACK || t->iface == AT_IFACE_DISCORD))
        return at_yaml_error(doc, d, AT_EINVAL, "/trigger/auth", 0,
                             "%s sends no token: its signature authenticates it", t->interface);
    t->idem_header = at_strdup("idempotency-key");
    json_t *idem = json_object_get(tb, "idempotency");
    if (idem) {
        if (str_of(idem, "header")) {
            free(t->idem_header);
            t->idem_header = lower_dup(str_of(idem, "header"));
        }
        if (str_of(idem, "body_path")) {
            struct at_diag jd;
            at_diag_clear(&jd);
            t->idem_expr = at_strdup(str_of(idem, "body_path"));
            if (at_jsonpath_new(t->idem_expr, &t->idem_path, &jd) ||
                !at_jsonpath_is_singular(t->idem_path))
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/idempotency/body_path", 0,
                                     "a singular JSONPath into the body is needed%s%s",
                                     jd.msg[0] ? ": " : "", jd.msg);
        }
    }
    json_t *sig = json_object_get(tb, "signature");
    if (sig) {
        const char *scheme = str_of(sig, "scheme");
        int chat = t->iface == AT_IFACE_SLACK || t->iface == AT_IFACE_DISCORD;
        if (!scheme && chat)
            scheme = t->iface == AT_IFACE_SLACK ? "slack" : "discord";
        if (!scheme)
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger/signature", 1,
                                 "signature.scheme is required (github, stripe, hmac)");
        t->sig = strcmp(scheme, "github") == 0    ? AT_SIG_GITHUB
                 : strcmp(scheme, "stripe") == 0  ? AT_SIG_STRIPE
                 : strcmp(scheme, "slack") == 0   ? AT_SIG_SLACK
                 : strcmp(scheme, "discord") == 0 ? AT_SIG_DISCORD
                                                  : AT_SIG_HMAC;
        if ((t->sig == AT_SIG_SLACK) != (t->iface == AT_IFACE_SLACK && t->interface) ||
            (t->sig == AT_SIG_DISCORD) != (t->iface == AT_IFACE_DISCORD && t->interface))
            return at_yaml_error(
                doc, d, AT_EINVAL,
                str_of(sig, "scheme") ? "/trigger/signature/scheme" : "/trigger/signature", 0,
                "scheme %s goes with %s", scheme,
                t->sig == AT_SIG_SLACK       ? "interface slack only"
                : t->sig == AT_SIG_DISCORD   ? "interface discord only"
                : t->iface == AT_IFACE_SLACK ? "webhooks: a slack trigger's scheme is slack"
                                             : "webhooks: a discord trigger's scheme is discord");
        const char *se = str_of(sig, "secret_env"), *sf = str_of(sig, "secret_file"),
                   *sn = str_of(sig, "secret"), *pk = str_of(sig, "public_key");
        int nsec = (se != NULL) + (sf != NULL) + (sn != NULL) + (pk != NULL);
        if (t->sig == AT_SIG_DISCORD && pk) {
            unsigned char bin[32];
            size_t bl = 0;
            if (strlen(pk) != 64 ||
                sodium_hex2bin(bin, sizeof(bin), pk, 64, NULL, &bl, NULL) != 0 || bl != 32)
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/signature/public_key", 0,
                                     "public_key must be the application's Ed25519 public key: "
                                     "64 hex digits");
        } else if (pk) {
            return at_yaml_error(doc, d, AT_EINVAL, "/trigger/signature/public_key", 1,
                                 "only the discord scheme takes a public key");
        }
        if (nsec != 1)
            return at_yaml_error(
                doc, d, AT_EINVAL, "/trigger/signature", 1, "give exactly one of %s",
                t->sig == AT_SIG_DISCORD
                    ? "signature.public_key, signature.secret, signature.secret_env and "
                      "signature.secret_file (the public key, or where it is kept)"
                    : "signature.secret (the secrets store), signature.secret_env and "
                      "signature.secret_file");
        t->secret_env = se ? at_strdup(se) : NULL;
        t->secret_file = sf ? at_strdup(sf) : NULL;
        t->secret_name = sn ? at_strdup(sn) : NULL;
        t->public_key = pk ? at_strdup(pk) : NULL;
        const char *hd = str_of(sig, "header");
        const char *def = t->sig == AT_SIG_GITHUB    ? "x-hub-signature-256"
                          : t->sig == AT_SIG_STRIPE  ? "stripe-signature"
                          : t->sig == AT_SIG_SLACK   ? "x-slack-signature"
                          : t->sig == AT_SIG_DISCORD ? "x-signature-ed25519"
                                                     : "x-signature";
        t->sig_header = lower_dup(hd ? hd : def);
        if (str_of(sig, "timestamp_header")) {
            if (t->sig != AT_SIG_HMAC)
                return at_yaml_error(doc, d, AT_EINVAL, "/trigger/signature/timestamp_header", 1,
                                     "only the hmac scheme takes a timestamp header");
            t->sig_ts_header = lower_dup(str_of(sig, "timestamp_header"));
        } else if (t->sig == AT_SIG_SLACK) {
            t->sig_ts_header = at_strdup("x-slack-request-timestamp");
        } else if (t->sig == AT_SIG_DISCORD) {
            t->sig_ts_header = at_strdup("x-signature-timestamp");
        }
        json_t *tol = json_object_get(sig, "tolerance");
        t->tolerance_s = tol ? json_integer_value(tol) : 300;
    }
    return 0;
}

int at_trigger_load(const char *file, const char *text, size_t len, struct at_trigger **out,
                    struct at_diag *d)
{
    *out = NULL;
    struct at_yaml_doc doc;
    memset(&doc, 0, sizeof(doc));
    int rc = at_yaml_load_string(&doc, file, text, len, d);
    if (rc)
        goto done;
    if (!json_is_object(doc.root)) {
        rc = at_diag_set(d, AT_EINVAL, file, 1, 1, "expected a mapping with a `trigger:` block");
        goto done;
    }
    if ((rc = at_shape_check(&doc, doc.root, "", file_shape, d)))
        goto done;
    json_t *tb = json_object_get(doc.root, "trigger");
    if ((rc = at_shape_check(&doc, tb, "/trigger", trigger_shape, d)))
        goto done;
    struct at_trigger *t = at_calloc(1, sizeof(*t));
    if ((rc = build(&doc, file, tb, t, d))) {
        at_trigger_free(t);
        goto done;
    }
    t->definition = json_deep_copy(tb);
    *out = t;
done:
    at_yaml_doc_release(&doc);
    return rc;
}

void at_trigger_free(struct at_trigger *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->agent);
    free(t->chain);
    json_decref(t->input);
    for (size_t i = 0; i < t->nmap; i++) {
        free(t->map[i].key);
        free(t->map[i].expr);
        at_jsonpath_free(t->map[i].path);
    }
    free(t->map);
    free(t->description);
    free(t->schedule);
    at_tz_free(t->tz);
    free(t->path);
    free(t->sig_header);
    free(t->sig_ts_header);
    free(t->secret_env);
    free(t->secret_file);
    free(t->secret_name);
    free(t->public_key);
    free(t->reply_url);
    free(t->reply_token_env);
    free(t->reply_token_file);
    free(t->reply_token_secret);
    free(t->response_url_prefix);
    free(t->emitter_agent);
    json_decref(t->emitter_input);
    free(t->idem_header);
    at_jsonpath_free(t->idem_path);
    free(t->idem_expr);
    free(t->interface);
    json_decref(t->definition);
    free(t);
}

/* ---- events ---- */

static json_t *ref_or(const json_t *v, json_t *dflt)
{
    if (v) {
        json_decref(dflt);
        return json_incref((json_t *)v);
    }
    return dflt;
}

static json_t *event_base(const char *source_type, const char *source_name, const char *agent,
                          const char *chain, const json_t *body, const json_t *headers,
                          const json_t *identity)
{
    char id[AT_ID_MAX], ts[40];
    at_id_new("evt", id);
    at_time_iso8601(at_wall_ms(), ts, sizeof(ts));
    json_t *ev = json_object();
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "source",
                        json_pack("{s:s,s:s?}", "type", source_type, "name", source_name));
    json_object_set_new(ev, "received_at", json_string(ts));
    json_object_set_new(ev, "target",
                        agent ? json_pack("{s:s}", "agent", agent)
                              : json_pack("{s:s}", "chain", chain ? chain : ""));
    json_object_set_new(ev, "body", ref_or(body, json_null()));
    json_object_set_new(ev, "headers", ref_or(headers, json_object()));
    json_object_set_new(ev, "identity", ref_or(identity, json_null()));
    return ev;
}

json_t *at_trigger_event_new(const struct at_trigger *t, const char *source_type,
                             const json_t *body, const json_t *headers, const json_t *identity,
                             const json_t *conversation, const json_t *extra)
{
    json_t *ev = event_base(source_type ? source_type : at_trigger_type_name(t->type), t->name,
                            t->agent, t->chain, body, headers, identity);
    if (conversation)
        json_object_set_new(ev, "conversation", json_incref((json_t *)conversation));
    json_t *tr = json_pack("{s:s,s:s}", "name", t->name, "type", at_trigger_type_name(t->type));
    if (json_is_object(extra))
        json_object_update(tr, (json_t *)extra);
    json_object_set_new(ev, "trigger", tr);
    return ev;
}

json_t *at_trigger_event_plain(const char *source_type, const char *agent, const char *chain,
                               const json_t *input, const json_t *identity)
{
    return event_base(source_type, NULL, agent, chain, input, NULL, identity);
}

json_t *at_trigger_input(const struct at_trigger *t, const json_t *ev, const json_t *extra)
{
    json_t *in = json_object();
    if (json_is_object(t->input))
        json_object_update(in, t->input);
    if (t->nmap) {
        for (size_t i = 0; i < t->nmap; i++) {
            json_t *v = at_jsonpath_value(t->map[i].path, ev);
            if (v)
                json_object_set_new(in, t->map[i].key, v);
        }
    } else if (!t->input) {
        json_t *body = json_object_get(ev, "body");
        if (json_is_object(body))
            json_object_update(in, body);
    }
    if (json_is_object(extra))
        json_object_update(in, (json_t *)extra);
    return in;
}

static int header_dropped(const struct at_trigger *t, const char *k)
{
    static const char *const drop[] = {
        "authorization",       "cookie",           "proxy-authorization", "x-hub-signature",
        "x-hub-signature-256", "stripe-signature", "x-atlas-token",       NULL};
    for (const char *const *p = drop; *p; p++)
        if (strcasecmp(k, *p) == 0)
            return 1;
    return t && t->sig_header && strcasecmp(k, t->sig_header) == 0;
}

json_t *at_trigger_filter_headers(const struct at_trigger *t, const json_t *all)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)all, k, v)
    {
        if (header_dropped(t, k) || !json_is_string(v))
            continue;
        char *lk = lower_dup(k);
        json_object_set(out, lk, v);
        free(lk);
    }
    return out;
}
