#include "orch/orch.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"
#include "registry/registry.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void decide(json_t *decisions, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void decide(json_t *decisions, const char *fmt, ...)
{
    if (!decisions)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(decisions, json_string(msg));
}

/* ---- text ---- */

static void text_of(const json_t *v, struct at_buf *b, int depth)
{
    if (depth > 16)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING:
        at_buf_append(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (i)
                at_buf_putc(b, '\n');
            text_of(e, b, depth + 1);
        }
        return;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        int first = 1;
        json_object_foreach((json_t *)v, k, e)
        {
            if (!json_is_string(e))
                continue;
            if (!first)
                at_buf_puts(b, " - ");
            first = 0;
            text_of(e, b, depth + 1);
        }
        if (first) { /* no text fields: the JSON */
            char *s = at_json_dumps(v);
            at_buf_puts(b, s);
            free(s);
        }
        return;
    }
    case JSON_NULL:
        return;
    default: {
        char *s = at_json_dumps(v);
        at_buf_puts(b, s);
        free(s);
        return;
    }
    }
}

char *at_orch_to_text(const json_t *v)
{
    struct at_buf b;
    at_buf_init(&b, 16u << 20);
    at_buf_puts(&b, "");
    text_of(v, &b, 0);
    return at_buf_detach(&b, NULL);
}

/* ---- mediation ---- */

static const char *type_of(const json_t *schema)
{
    json_t *t = json_object_get(schema, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

static int matches_type(const json_t *v, const char *type)
{
    if (!type)
        return 1;
    if (!strcmp(type, "string"))
        return json_is_string(v);
    if (!strcmp(type, "integer"))
        return json_is_integer(v) || (json_is_real(v) && at_json_is_integral(v));
    if (!strcmp(type, "number"))
        return json_is_number(v);
    if (!strcmp(type, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(type, "array"))
        return json_is_array(v);
    if (!strcmp(type, "object"))
        return json_is_object(v);
    if (!strcmp(type, "null"))
        return json_is_null(v);
    return 1;
}

/* A converted copy of v as `type`, or NULL when it cannot be converted. */
static json_t *coerce(const json_t *v, const char *type)
{
    if (!strcmp(type, "string")) {
        char *s = at_orch_to_text(v);
        json_t *r = json_string(s);
        free(s);
        return r;
    }
    if (!strcmp(type, "integer") || !strcmp(type, "number")) {
        double x;
        if (json_is_number(v)) {
            x = json_number_value(v);
        } else if (json_is_string(v)) {
            const char *s = json_string_value(v);
            char *end;
            while (isspace((unsigned char)*s))
                s++;
            x = strtod(s, &end);
            while (isspace((unsigned char)*end))
                end++;
            if (end == s || *end || !isfinite(x))
                return NULL;
        } else if (json_is_boolean(v)) {
            x = json_is_true(v) ? 1 : 0;
        } else {
            return NULL;
        }
        if (!strcmp(type, "integer")) {
            if (x != floor(x) || fabs(x) > 9.0e15)
                return NULL;
            return json_integer((json_int_t)x);
        }
        return json_real(x);
    }
    if (!strcmp(type, "boolean")) {
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1"))
                return json_true();
            if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0"))
                return json_false();
        }
        if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            return json_boolean(json_integer_value(v));
        return NULL;
    }
    if (!strcmp(type, "array"))
        return json_pack("[O]", v);
    return NULL;
}

int at_orch_mediate(const struct at_schema *schema, json_t *input, json_t *decisions,
                    struct at_diag *d)
{
    if (at_schema_validate(schema, input, NULL) == 0)
        return 0;
    const json_t *sj = at_schema_json(schema);
    json_t *props = json_object_get(sj, "properties");
    if (!json_is_object(input) || !json_is_object(props)) {
        at_schema_apply_defaults(schema, input);
        return at_schema_validate(schema, input, d) ? AT_ESCHEMA : 0;
    }
    /* rename by case-insensitive match */
    const char *pk;
    json_t *pv;
    json_object_foreach(props, pk, pv)
    {
        if (json_object_get(input, pk))
            continue;
        const char *ik;
        json_t *iv;
        void *tmp;
        json_object_foreach_safe(input, tmp, ik, iv)
        {
            if (strcasecmp(ik, pk) == 0 && !json_object_get(props, ik)) {
                decide(decisions, "mediation: renamed \"%s\" to \"%s\"", ik, pk);
                json_object_set(input, pk, iv);
                json_object_del(input, ik);
                break;
            }
        }
    }
    /* coerce types */
    json_object_foreach(props, pk, pv)
    {
        json_t *v = json_object_get(input, pk);
        const char *type = type_of(pv);
        if (!v || !type || matches_type(v, type))
            continue;
        json_t *c = coerce(v, type);
        if (c) {
            decide(decisions, "mediation: converted \"%s\" from %s to %s", pk,
                   json_is_array(v)    ? "array"
                   : json_is_object(v) ? "object"
                   : json_is_string(v) ? "string"
                   : json_is_number(v) ? "number"
                                       : "value",
                   type);
            json_object_set_new(input, pk, c);
        }
    }
    /* a closed schema: drop what it does not take */
    if (json_is_false(json_object_get(sj, "additionalProperties"))) {
        const char *ik;
        json_t *iv;
        void *tmp;
        json_object_foreach_safe(input, tmp, ik, iv)
        {
            if (!json_object_get(props, ik)) {
                decide(decisions, "mediation: dropped \"%s\" (not taken by the agent)", ik);
                json_object_del(input, ik);
            }
        }
    }
    /* defaults */
    json_object_foreach(props, pk, pv)
    {
        if (!json_object_get(input, pk) && json_object_get(pv, "default"))
            decide(decisions, "mediation: filled \"%s\" with its default", pk);
    }
    at_schema_apply_defaults(schema, input);
    struct at_diag vd;
    at_diag_clear(&vd);
    if (at_schema_validate(schema, input, &vd)) {
        if (d) {
            at_diag_set(d, AT_ESCHEMA, NULL, 0, 0, "input %s (after mediation)", vd.msg);
            at_diag_set_pointer(d, vd.pointer);
        }
        decide(decisions, "mediation: failed: %s at %s", vd.msg,
               vd.pointer[0] ? vd.pointer : "(the input)");
        return AT_ESCHEMA;
    }
    return 0;
}

/* ---- routing ---- */

static void words_of(const json_t *v, struct at_buf *b, int depth)
{
    if (depth > 8)
        return;
    if (json_is_string(v)) {
        at_buf_putc(b, ' ');
        at_buf_append(b, json_string_value(v), json_string_length(v));
    } else if (json_is_array(v) || json_is_object(v)) {
        size_t i;
        json_t *e;
        const char *k;
        if (json_is_array(v)) {
            json_array_foreach(v, i, e) words_of(e, b, depth + 1);
        } else {
            json_object_foreach((json_t *)v, k, e) words_of(e, b, depth + 1);
        }
    }
}

static int contains_word(const char *hay, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, word, n) == 0)
            return 1;
    return 0;
}

static int score_agent(const struct at_contract *c, const char *text)
{
    int score = 0;
    char *copy = at_strdup(text);
    char *save = NULL;
    for (char *w = strtok_r(copy, " \t\n.,;:!?\"'()[]{}", &save); w;
         w = strtok_r(NULL, " \t\n.,;:!?\"'()[]{}", &save)) {
        if (strlen(w) < 4)
            continue; /* short words say little about intent */
        json_t *caps = json_object_get(c->json, "capabilities");
        size_t i;
        json_t *cap;
        int hit = 0;
        json_array_foreach(caps, i, cap) if (contains_word(json_string_value(cap), w) ||
                                             contains_word(w, json_string_value(cap))) hit = 2;
        if (!hit && contains_word(c->description, w))
            hit = 1;
        if (!hit && contains_word(c->name, w))
            hit = 2;
        score += hit;
    }
    free(copy);
    return score;
}

static int cmp_candidate(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t sx = json_integer_value(json_object_get(x, "score"));
    json_int_t sy = json_integer_value(json_object_get(y, "score"));
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "agent")),
                  json_string_value(json_object_get(y, "agent")));
}

int at_orch_route(struct at_registry *reg, const json_t *input, const char *hint, char **agent,
                  json_t *decisions, json_t **cands_out, struct at_diag *d)
{
    json_t *cands = json_array();
    struct at_reg_agent **all;
    size_t n = at_registry_latest(reg, &all);
    struct at_buf text;
    at_buf_init(&text, 1u << 20);
    at_buf_puts(&text, "");
    words_of(input, &text, 0);
    if (hint) {
        at_buf_putc(&text, ' ');
        at_buf_puts(&text, hint);
    }
    int best = -1;
    size_t besti = 0, candidates = 0;
    for (size_t i = 0; i < n; i++) {
        const struct at_contract *c = all[i]->contract;
        if (strcmp(c->type, "agent") != 0)
            continue; /* orchestrators and front doors are not routed to */
        json_t *trial = json_deep_copy(input);
        at_schema_apply_defaults(c->input, trial);
        int ok = at_schema_validate(c->input, trial, NULL) == 0;
        json_decref(trial);
        if (!ok)
            continue;
        candidates++;
        /* an agent that names the input's fields is a better fit than one
         * that takes any object */
        int s = score_agent(c, at_buf_str(&text));
        json_t *props = json_object_get(at_schema_json(c->input), "properties");
        const char *k;
        json_t *kv;
        json_object_foreach((json_t *)input, k, kv) if (json_object_get(props, k)) s += 3;
        json_t *caps = json_object_get(c->json, "capabilities");
        json_array_append_new(cands, json_pack("{s:s++,s:s,s:i,s:s,s:O}", "agent", c->name, ":",
                                               c->version, "name", c->name, "score", s,
                                               "description", c->description ? c->description : "",
                                               "capabilities", caps ? caps : json_array()));
        if (s > best) {
            best = s;
            besti = i;
        }
    }
    int rc = 0;
    if (best < 0) {
        rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                         "no registered agent accepts this input (none of %zu agents' input "
                         "schemas match)",
                         n);
        decide(decisions, "routing: no agent accepts the input");
    } else {
        const struct at_contract *c = all[besti]->contract;
        *agent = at_asprintf("%s:%s", c->name, c->version);
        decide(decisions,
               "routing: %s (its input schema accepts the input; %zu candidate%s; capability "
               "and description score %d)",
               *agent, candidates, candidates == 1 ? "" : "s", best);
    }
    for (size_t i = 0; i < n; i++)
        at_reg_agent_unref(all[i]);
    free(all);
    at_buf_release(&text);
    if (cands_out) {
        size_t nc = json_array_size(cands);
        json_t **v = at_malloc((nc ? nc : 1) * sizeof(*v));
        for (size_t i = 0; i < nc; i++)
            v[i] = json_incref(json_array_get(cands, i));
        qsort(v, nc, sizeof(*v), cmp_candidate);
        *cands_out = json_array();
        for (size_t i = 0; i < nc; i++)
            json_array_append_new(*cands_out, v[i]);
        free(v);
    }
    json_decref(cands);
    return rc;
}

json_t *at_orch_route_prompt(const json_t *input, const char *hint, const json_t *candidates)
{
    struct at_buf b;
    at_buf_init(&b, 1u << 16);
    at_buf_puts(&b, "Agents:\n");
    size_t i;
    json_t *c;
    json_array_foreach(candidates, i, c)
    {
        char *caps = json_dumps(json_object_get(c, "capabilities"), JSON_COMPACT);
        at_buf_printf(&b, "- %s: %s (capabilities: %s)\n",
                      json_string_value(json_object_get(c, "name")),
                      json_string_value(json_object_get(c, "description")), caps ? caps : "[]");
        free(caps);
    }
    char *in = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
    at_buf_printf(&b, "\nInput: %s\n", in ? in : "{}");
    free(in);
    if (hint)
        at_buf_printf(&b, "Request: %s\n", hint);
    at_buf_puts(&b, "\nWhich agent should handle this input? Answer with its name only.");
    json_t *req = json_pack(
        "{s:s,s:[{s:s,s:s},{s:s,s:s}],s:i,s:f}", "model", "atlas:fast", "messages", "role",
        "system", "content",
        "You route requests to agents. Every listed agent accepts the input; pick the one whose "
        "description and capabilities fit the request best.",
        "role", "user", "content", at_buf_str(&b), "max_tokens", 32, "temperature", 0.0);
    at_buf_release(&b);
    return req;
}

const char *at_orch_route_answer(const char *answer, const json_t *candidates)
{
    if (!answer)
        return NULL;
    /* the longest name that appears in the answer as a word of its own
     * ("summarizer" in "Use the summarizer."; not "word-count" in "word-counter") */
    const char *best = NULL;
    size_t bestlen = 0, i;
    json_t *c;
    json_array_foreach(candidates, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t n = name ? strlen(name) : 0;
        if (n <= bestlen)
            continue;
        for (const char *p = answer; (p = strcasestr(p, name)); p++) {
            int before =
                p == answer || !(isalnum((unsigned char)p[-1]) || p[-1] == '-' || p[-1] == '_');
            int after = !(isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_');
            if (before && after) {
                best = json_string_value(json_object_get(c, "agent"));
                bestlen = n;
                break;
            }
        }
    }
    return best;
}

/* ---- model tiers ---- */

static const char *const tiers[] = {"fast", "balanced", "powerful"};

static int tier_index(const char *t)
{
    for (int i = 0; i < 3; i++)
        if (t && !strcmp(t, tiers[i]))
            return i;
    return 1;
}

const char *at_orch_select_tier(const struct at_contract *c, const char *strategy,
                                const json_t *input, char *reason, size_t n)
{
    json_t *model = json_object_get(c->json, "model");
    const char *pref = json_string_value(json_object_get(model, "preference"));
    json_t *ov = json_object_get(model, "override_allowed");
    int allowed = !ov || json_is_true(ov);
    int t = tier_index(pref ? pref : "balanced");
    if (!strategy || !allowed) {
        snprintf(reason, n, "%s: %s", pref ? "the contract's model.preference" : "default tier",
                 !allowed && strategy ? "override not allowed by the contract" : "no override");
        return tiers[t];
    }
    if (!strcmp(strategy, "cost_optimized")) {
        if (t > 0)
            t--;
        snprintf(reason, n, "cost_optimized: one tier below the preference");
    } else if (!strcmp(strategy, "latency_optimized")) {
        t = 0;
        snprintf(reason, n, "latency_optimized: the fast tier");
    } else {
        /* task_complexity: judge by the size of the input's text */
        char *s = at_orch_to_text(input);
        size_t len = strlen(s);
        free(s);
        t = len < 2000 ? 0 : len < 20000 ? 1 : 2;
        snprintf(reason, n, "task_complexity: %zu characters of input", len);
    }
    return tiers[t];
}

/* ---- recovery ---- */

int at_orch_retryable(int code)
{
    switch (code) {
    case AT_ECRASH:
    case AT_ETIMEDOUT:
    case AT_EAGENT:
    case AT_EPROTO:
    case AT_ECONN:
    case AT_EBUSY:
    case AT_EIO:
    case AT_ERESTART:
        return 1;
    default:
        return 0; /* bad input, output schema, permission, limits, cancel: same again */
    }
}

double at_orch_backoff(double initial, double max, int attempt)
{
    double t = initial * pow(2.0, attempt > 30 ? 30 : attempt);
    return t > max ? max : t;
}
