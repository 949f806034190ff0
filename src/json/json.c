/*
 * json.c - helpers over jansson: bounded parsing with located errors, compact
 * serialisation, and the value-equality rules JSON Schema and JSONPath share.
 */
#include "json/json.h"

#include "base/utf8.h"

#include "base/alloc.h"
#include "base/err.h"

#include <limits.h>
#include <math.h>
#include <string.h>

/* jansson counts columns in characters, not bytes: count the same way so a
 * depth error and a syntax error on the same line use the same scale. */
static void locate(const char *buf, size_t off, int *line, int *col)
{
    int l = 1, c = 0;
    for (size_t i = 0; i <= off; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n' && i < off) {
            l++;
            c = 0;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c > 0 ? c : 1;
}

/* Find the first '[' or '{' that opens a level deeper than max.  A separate
 * scan (outside strings) so the limit holds whatever jansson's compile-time
 * JSON_PARSER_MAX_DEPTH is, and before jansson recurses that deep.  Returns
 * the byte offset or (size_t)-1. */
static size_t find_too_deep(const char *buf, size_t len, size_t max)
{
    size_t depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return i;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return (size_t)-1;
}

int at_json_parse(const char *buf, size_t len, size_t max_depth, json_t **out, struct at_diag *d)
{
    return at_json_parse_flags(buf, len, max_depth, 0, out, d);
}

int at_json_parse_flags(const char *buf, size_t len, size_t max_depth, int flags, json_t **out,
                        struct at_diag *d)
{
    *out = NULL;
    if (!buf && len)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "no input");
    if (max_depth == 0)
        max_depth = AT_JSON_MAX_DEPTH;
    if (len == 0)
        return at_diag_set(d, AT_EPARSE, NULL, 1, 1, "empty input, expected a JSON value");

    size_t deep = find_too_deep(buf, len, max_depth);
    json_error_t err;
    size_t jflags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
    if (flags & AT_JSON_ALLOW_NUL)
        jflags |= JSON_ALLOW_NUL;
    json_t *v = json_loadb(buf, len, jflags, &err);
    if (v && deep == (size_t)-1) {
        *out = v;
        return 0;
    }
    int parsed = v != NULL;
    json_decref(v);
    /* Report whichever problem comes first in the text: a syntax error
     * before the over-deep bracket is the more useful message. */
    if (deep != (size_t)-1 && (parsed || err.position < 0 || (size_t)err.position > deep)) {
        int line, col;
        locate(buf, deep, &line, &col);
        return at_diag_set(d, AT_E2BIG, NULL, line, col, "nesting deeper than %zu levels",
                           max_depth);
    }
    if (json_error_code(&err) == json_error_stack_overflow) {
        return at_diag_set(d, AT_E2BIG, NULL, err.line > 0 ? err.line : 1,
                           err.column > 0 ? err.column : 1, "%s", err.text);
    }
    if (json_error_code(&err) == json_error_out_of_memory)
        return at_diag_set(d, AT_ENOMEM, NULL, 0, 0, "%s", err.text);
    return at_diag_set(d, AT_EPARSE, NULL, err.line > 0 ? err.line : 1,
                       err.column > 0 ? err.column : 1, "%s", err.text);
}

#define AT_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))

static int dump_to_buf(const char *p, size_t n, void *arg)
{
    return at_buf_append(arg, p, n) == 0 ? 0 : -1;
}

int at_json_dump_buf(const json_t *v, struct at_buf *b)
{
    if (!v)
        return AT_EINVAL;
    size_t start = b->len;
    if (json_dump_callback(v, dump_to_buf, b, AT_JSON_DUMP_FLAGS) == 0)
        return 0;
    /* Leave b as it was: half a value is worse than none. */
    b->len = start;
    if (b->p)
        b->p[start] = '\0';
    return AT_E2BIG;
}

char *at_json_dumps(const json_t *v)
{
    if (!v)
        return NULL;
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    /* Through at_buf so memory comes from at_realloc (abort on OOM), which
     * is what makes "never NULL for a valid value" true. */
    if (at_json_dump_buf(v, &b) != 0) {
        at_buf_release(&b);
        return NULL;
    }
    return at_buf_detach(&b, NULL);
}

const char *at_json_str(const json_t *obj, const char *key, const char *fallback)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : fallback;
}

long long at_json_int(const json_t *obj, const char *key, long long fallback)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (json_is_integer(v))
        return json_integer_value(v);
    /* 3.0 is how some encoders write 3; accept it when it is exact. */
    if (json_is_real(v)) {
        double r = json_real_value(v);
        if (r == floor(r) && r >= -9223372036854775808.0 && r < 9223372036854775808.0)
            return (long long)r;
    }
    return fallback;
}

int at_json_bool(const json_t *obj, const char *key, int fallback)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

int at_json_is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return 1;
    if (json_is_real(v)) {
        double r = json_real_value(v);
        return isfinite(r) && r == floor(r);
    }
    return 0;
}

/* Compare integer i with real r exactly: converting i to double would round
 * above 2^53, so split r into its integral part (when it fits in long long)
 * and its fraction instead. */
static int cmp_int_real(long long i, double r)
{
    if (isnan(r))
        return 0;
    if (r >= 9223372036854775808.0)
        return -1;
    if (r < -9223372036854775808.0)
        return 1;
    double t = trunc(r);
    long long ti = (long long)t;
    if (i != ti)
        return i < ti ? -1 : 1;
    double frac = r - t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

int at_json_num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        long long x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    if (json_is_integer(a) && json_is_real(b))
        return cmp_int_real(json_integer_value(a), json_real_value(b));
    if (json_is_real(a) && json_is_integer(b))
        return -cmp_int_real(json_integer_value(b), json_real_value(a));
    if (json_is_real(a) && json_is_real(b)) {
        double x = json_real_value(a), y = json_real_value(b);
        return x < y ? -1 : x > y;
    }
    return 0;
}

static int equal_at(const json_t *a, const json_t *b, size_t depth)
{
    if (a == b)
        return 1;
    if (depth > AT_JSON_EQUAL_MAX_DEPTH)
        return 0;
    if (json_is_number(a) && json_is_number(b))
        return at_json_num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!equal_at(json_array_get(a, i), json_array_get(b, i), depth + 1))
                return 0;
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        size_t klen;
        json_t *va;
        json_object_keylen_foreach((json_t *)a, k, klen, va)
        {
            const json_t *vb = json_object_getn(b, k, klen);
            if (!vb || !equal_at(va, vb, depth + 1))
                return 0;
        }
        return 1;
    }
    default:
        /* true, false and null are singletons: a != b means unequal. */
        return 0;
    }
}

int at_json_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    return equal_at(a, b, 0);
}

size_t at_json_depth(const json_t *v, size_t limit)
{
    if (!json_is_array(v) && !json_is_object(v))
        return 0;
    if (limit == 0)
        return 1;
    size_t max = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && max < limit; i++) {
            size_t d = at_json_depth(json_array_get(v, i), limit - 1);
            if (d > max)
                max = d;
        }
    } else {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            size_t d = at_json_depth(m, limit - 1);
            if (d > max)
                max = d;
            if (max >= limit)
                break;
        }
    }
    return max + 1;
}

const char *at_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

json_t *at_json_problem(int code, const char *detail, const char *pointer)
{
    json_t *p = json_object();
    char type[96];
    snprintf(type, sizeof(type), "urn:atlas:error:%s", at_err_slug(code));
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(at_err_msg(code)));
    json_object_set_new(p, "status", json_integer(at_err_http(code)));
    if (detail) {
        char *clean = at_utf8_sanitize(detail, strlen(detail));
        json_object_set_new(p, "detail", json_string(clean));
        free(clean);
    }
    if (pointer)
        json_object_set_new(p, "pointer", json_string(pointer));
    return p;
}
