/*
 * expr_eval.c - evaluating a compiled eval expression (expr_int.h) over
 * jansson values: type errors are located at the operator or call, regex
 * matches share one step budget per evaluation.
 */
#include "json/expr.h"

#include "base/alloc.h"
#include "base/err.h"
#include "json/expr_int.h"
#include "json/json.h"
#include "json/lex.h"
#include "json/regex.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ev {
    const struct at_expr *e;
    const json_t *vars;
    struct at_diag *d;
    unsigned long long fuel;
};

static int eerr(struct ev *v, const struct at__enode *n, int code, const char *fmt, const char *a,
                const char *b)
{
    char msg[600];
    snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
    return at_diag_set(v->d, code, NULL, 1, n->col, "%s", msg);
}

int at_expr_truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    case JSON_TRUE:
        return 1;
    default:
        return 0;
    }
}

static int eval(struct ev *v, int k, json_t **out);

static json_t *number_or_null(double x)
{
    if (!isfinite(x))
        return NULL;
    if (x == floor(x) && fabs(x) < 9.0e15)
        return json_integer((json_int_t)x);
    return json_real(x);
}

static int arith(struct ev *v, const struct at__enode *n, json_t *a, json_t *b, json_t **out)
{
    if (n->op == AT__OP_ADD && json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        if (la + lb > AT_EXPR_MAX_STRING)
            return eerr(v, n, AT_ELIMIT, "string is too long", NULL, NULL);
        char *s = at_malloc(la + lb + 1);
        memcpy(s, json_string_value(a), la);
        memcpy(s + la, json_string_value(b), lb);
        *out = json_stringn_nocheck(s, la + lb);
        free(s);
        return 0;
    }
    if (!json_is_number(a) || !json_is_number(b)) {
        static const char *const names[] = {[AT__OP_ADD] = "+",
                                            [AT__OP_SUB] = "-",
                                            [AT__OP_MUL] = "*",
                                            [AT__OP_DIV] = "/",
                                            [AT__OP_MOD] = "%"};
        char msg[120];
        snprintf(msg, sizeof(msg), "\"%s\" needs two numbers%s, not %%s and %%s", names[n->op],
                 n->op == AT__OP_ADD ? " (or two strings)" : "");
        return eerr(v, n, AT_EINVAL, msg, at_json_type_name(a), at_json_type_name(b));
    }
    if (json_is_integer(a) && json_is_integer(b)) {
        long long x = json_integer_value(a), y = json_integer_value(b), r;
        int ovf = 0;
        switch (n->op) {
        case AT__OP_ADD:
            ovf = __builtin_add_overflow(x, y, &r);
            break;
        case AT__OP_SUB:
            ovf = __builtin_sub_overflow(x, y, &r);
            break;
        case AT__OP_MUL:
            ovf = __builtin_mul_overflow(x, y, &r);
            break;
        case AT__OP_MOD:
            if (y == 0)
                return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
            r = y == -1 ? 0 : x % y;
            break;
        default: /* AT__OP_DIV */
            if (y == 0)
                return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
            if (y != -1 && x % y == 0) {
                r = x / y;
            } else {
                *out = json_real((double)x / (double)y);
                return 0;
            }
            break;
        }
        if (!ovf) {
            *out = json_integer(r);
            return 0;
        }
    }
    double x = json_number_value(a), y = json_number_value(b), r;
    switch (n->op) {
    case AT__OP_ADD:
        r = x + y;
        break;
    case AT__OP_SUB:
        r = x - y;
        break;
    case AT__OP_MUL:
        r = x * y;
        break;
    case AT__OP_MOD:
        if (y == 0)
            return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
        r = fmod(x, y);
        break;
    default:
        if (y == 0)
            return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
        r = x / y;
        break;
    }
    if (!isfinite(r))
        return eerr(v, n, AT_EINVAL, "the result is not a finite number", NULL, NULL);
    *out = json_is_integer(a) && json_is_integer(b) ? number_or_null(r) : json_real(r);
    return 0;
}

static int compare(struct ev *v, const struct at__enode *n, json_t *a, json_t *b, json_t **out)
{
    int c;
    if (json_is_number(a) && json_is_number(b)) {
        c = at_json_num_cmp(a, b);
    } else if (json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        if (c == 0)
            c = la < lb ? -1 : la > lb ? 1 : 0;
    } else {
        return eerr(v, n, AT_EINVAL, "cannot order %s and %s (both must be numbers or strings)",
                    at_json_type_name(a), at_json_type_name(b));
    }
    int r = n->op == AT__OP_LT   ? c < 0
            : n->op == AT__OP_LE ? c <= 0
            : n->op == AT__OP_GT ? c > 0
                                 : c >= 0;
    *out = json_boolean(r);
    return 0;
}

static int regex_search(struct ev *v, const struct at__enode *n, const struct at_regex *pre,
                        json_t *s, json_t *pat, json_t **out)
{
    if (!json_is_string(s) || !json_is_string(pat))
        return eerr(v, n, AT_EINVAL, "a regex match needs a string and a pattern, not %s and %s",
                    at_json_type_name(s), at_json_type_name(pat));
    struct at_regex *re = (struct at_regex *)pre;
    struct at_regex *own = NULL;
    if (!re) {
        struct at_diag rd;
        at_diag_clear(&rd);
        if (at_regex_new(json_string_value(pat), json_string_length(pat), &own, &rd))
            return eerr(v, n, AT_EINVAL, "bad regular expression: %s", rd.msg, NULL);
        re = own;
    }
    int m = at_regex_search(re, json_string_value(s), json_string_length(s), &v->fuel);
    at_regex_free(own);
    if (m < 0)
        return eerr(v, n, AT_ELIMIT, "the regular expression took too many steps", NULL, NULL);
    *out = json_boolean(m);
    return 0;
}

static char *case_map(const char *s, size_t n, int upper)
{
    char *r = at_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        r[i] = (char)(c < 0x80 ? (upper ? toupper(c) : tolower(c)) : c);
    }
    r[n] = '\0';
    return r;
}

static int call(struct ev *v, const struct at__enode *n, json_t **args, json_t **out)
{
    json_t *a = args[0], *b = n->nargs > 1 ? args[1] : NULL;
    switch ((enum at__expr_fn)n->fn) {
    case AT__FN_LEN:
        if (json_is_string(a))
            *out = json_integer(
                (json_int_t)at_lex_utf8_count(json_string_value(a), json_string_length(a)));
        else if (json_is_array(a))
            *out = json_integer((json_int_t)json_array_size(a));
        else if (json_is_object(a))
            *out = json_integer((json_int_t)json_object_size(a));
        else
            return eerr(v, n, AT_EINVAL, "len() needs a string, array or object, not %s",
                        at_json_type_name(a), NULL);
        return 0;
    case AT__FN_CONTAINS:
        if (json_is_string(a)) {
            if (!json_is_string(b))
                return eerr(v, n, AT_EINVAL, "contains(string, x) needs x to be a string, not %s",
                            at_json_type_name(b), NULL);
            *out = json_boolean(memmem(json_string_value(a), json_string_length(a),
                                       json_string_value(b), json_string_length(b)) != NULL);
        } else if (json_is_array(a)) {
            size_t i;
            json_t *x;
            int found = 0;
            json_array_foreach(a, i, x) if (at_json_equal(x, b)) found = 1;
            *out = json_boolean(found);
        } else if (json_is_object(a)) {
            if (!json_is_string(b))
                return eerr(v, n, AT_EINVAL, "contains(object, key) needs a string key, not %s",
                            at_json_type_name(b), NULL);
            *out = json_boolean(json_object_get(a, json_string_value(b)) != NULL);
        } else {
            return eerr(v, n, AT_EINVAL, "contains() needs a string, array or object, not %s",
                        at_json_type_name(a), NULL);
        }
        return 0;
    case AT__FN_MATCHES:
        return regex_search(v, n, n->re, a, b, out);
    case AT__FN_STARTS:
    case AT__FN_ENDS: {
        if (!json_is_string(a) || !json_is_string(b))
            return eerr(v, n, AT_EINVAL, "needs two strings, not %s and %s", at_json_type_name(a),
                        at_json_type_name(b));
        size_t la = json_string_length(a), lb = json_string_length(b);
        const char *sa = json_string_value(a), *sb = json_string_value(b);
        int r = lb <= la && memcmp(n->fn == AT__FN_STARTS ? sa : sa + la - lb, sb, lb) == 0;
        *out = json_boolean(r);
        return 0;
    }
    case AT__FN_LOWER:
    case AT__FN_UPPER: {
        if (!json_is_string(a))
            return eerr(v, n, AT_EINVAL, "needs a string, not %s", at_json_type_name(a), NULL);
        char *s = case_map(json_string_value(a), json_string_length(a), n->fn == AT__FN_UPPER);
        *out = json_stringn_nocheck(s, json_string_length(a));
        free(s);
        return 0;
    }
    case AT__FN_ABS:
        if (json_is_integer(a) && json_integer_value(a) != INT64_MIN)
            *out = json_integer(llabs(json_integer_value(a)));
        else if (json_is_number(a))
            *out = json_real(fabs(json_number_value(a)));
        else
            return eerr(v, n, AT_EINVAL, "abs() needs a number, not %s", at_json_type_name(a),
                        NULL);
        return 0;
    case AT__FN_MIN:
    case AT__FN_MAX: {
        json_t *best = NULL;
        for (int i = 0; i < n->nargs; i++) {
            if (!json_is_number(args[i]))
                return eerr(v, n, AT_EINVAL, "min() and max() need numbers, not %s",
                            at_json_type_name(args[i]), NULL);
            int c = best ? at_json_num_cmp(args[i], best) : 0;
            if (!best || (n->fn == AT__FN_MIN ? c < 0 : c > 0))
                best = args[i];
        }
        *out = json_incref(best);
        return 0;
    }
    case AT__FN_EXISTS:
        *out = json_boolean(!json_is_null(a));
        return 0;
    }
    return eerr(v, n, AT_EINTERNAL, "unknown function", NULL, NULL);
}

static int eval(struct ev *v, int k, json_t **out)
{
    const struct at__enode *n = &v->e->n[k];
    json_t *a = NULL, *b = NULL;
    int rc = 0;
    *out = NULL;
    switch (n->op) {
    case AT__OP_LIT:
        *out = json_incref(n->lit);
        return 0;
    case AT__OP_VAR: {
        json_t *x = json_object_get(v->vars, n->name);
        *out = x ? json_incref(x) : json_null();
        return 0;
    }
    case AT__OP_FIELD:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        if (json_is_object(a)) {
            json_t *x = json_object_get(a, n->name);
            *out = x ? json_incref(x) : json_null();
        } else if (json_is_null(a)) {
            *out = json_null(); /* a missing field's fields are missing too */
        } else {
            rc = eerr(v, n, AT_EINVAL, "cannot read field \"%s\" of %s", n->name,
                      at_json_type_name(a));
        }
        json_decref(a);
        return rc;
    case AT__OP_INDEX:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        if (json_is_array(a) && json_is_integer(b)) {
            long long i = json_integer_value(b), len = (long long)json_array_size(a);
            if (i < 0)
                i += len;
            json_t *x = i >= 0 && i < len ? json_array_get(a, (size_t)i) : NULL;
            *out = x ? json_incref(x) : json_null();
        } else if (json_is_object(a) && json_is_string(b)) {
            json_t *x = json_object_get(a, json_string_value(b));
            *out = x ? json_incref(x) : json_null();
        } else if (json_is_null(a)) {
            *out = json_null();
        } else {
            rc = eerr(v, n, AT_EINVAL, "cannot index %s with %s", at_json_type_name(a),
                      at_json_type_name(b));
        }
        break;
    case AT__OP_NOT:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        *out = json_boolean(!at_expr_truthy(a));
        json_decref(a);
        return 0;
    case AT__OP_NEG:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        if (json_is_integer(a) && json_integer_value(a) != INT64_MIN)
            *out = json_integer(-json_integer_value(a));
        else if (json_is_number(a))
            *out = json_real(-json_number_value(a));
        else
            rc = eerr(v, n, AT_EINVAL, "\"-\" needs a number, not %s", at_json_type_name(a), NULL);
        json_decref(a);
        return rc;
    case AT__OP_OR:
    case AT__OP_AND:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        if (at_expr_truthy(a) == (n->op == AT__OP_OR)) {
            *out = json_boolean(n->op == AT__OP_OR);
            json_decref(a);
            return 0;
        }
        json_decref(a);
        if ((rc = eval(v, n->b, &b)))
            return rc;
        *out = json_boolean(at_expr_truthy(b));
        json_decref(b);
        return 0;
    case AT__OP_EQ:
    case AT__OP_NE:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        *out = json_boolean(at_json_equal(a, b) == (n->op == AT__OP_EQ));
        break;
    case AT__OP_LT:
    case AT__OP_LE:
    case AT__OP_GT:
    case AT__OP_GE:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        rc = compare(v, n, a, b, out);
        break;
    case AT__OP_MATCH:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        rc = regex_search(v, n, n->re, a, b, out);
        break;
    case AT__OP_ADD:
    case AT__OP_SUB:
    case AT__OP_MUL:
    case AT__OP_DIV:
    case AT__OP_MOD:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        rc = arith(v, n, a, b, out);
        break;
    case AT__OP_CALL: {
        json_t *args[AT__EXPR_MAX_ARGS] = {0};
        for (int i = 0; i < n->nargs && !rc; i++)
            rc = eval(v, n->args[i], &args[i]);
        if (!rc)
            rc = call(v, n, args, out);
        for (int i = 0; i < n->nargs; i++)
            json_decref(args[i]);
        return rc;
    }
    }
    json_decref(a);
    json_decref(b);
    if (rc && *out) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int at_expr_eval(const struct at_expr *e, const json_t *vars, json_t **out, struct at_diag *d)
{
    struct ev v = {.e = e, .vars = vars, .d = d, .fuel = 10000000ULL};
    *out = NULL;
    return eval(&v, e->root, out);
}
