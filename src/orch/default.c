/*
 * default.c - the default orchestrator's decisions besides routing
 * (route.c): mediation of a step's input, text for any value, model tiers,
 * and recovery of failed steps (orch.h).
 */
#include "orch/orch.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"

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
        /* vd.msg starts with the pointer unless it is the root */
        decide(decisions, "mediation: failed: %s%s", vd.msg,
               vd.pointer[0] ? "" : " at (the input)");
        return AT_ESCHEMA;
    }
    return 0;
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
