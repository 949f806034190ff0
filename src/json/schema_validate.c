/*
 * schema_validate.c - applying a compiled schema to an instance, and
 * filling in defaults.  The compiled schema is only read, so any number of
 * threads may validate with one at_schema at once; all mutable state lives
 * in a struct vctx on the caller's stack.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"
#include "json/pointer.h"
#include "json/schema_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One step of the instance path: an object key or an array index. */
struct seg {
    const char *key; /* NULL for an index */
    size_t len_or_idx;
};

struct vctx {
    struct at_diag *d;
    int quiet; /* > 0 inside anyOf/oneOf/not/if/contains: failures are expected */
    size_t frames;
    unsigned long long fuel;
    struct seg path[AT_SCHEMA_MAX_DEPTH + 1];
    size_t npath;
};

/* Results of validate_node: valid, invalid (d filled unless quiet), or a
 * hard stop (limits) that no anyOf may swallow. */
enum { V_OK = 0, V_FAIL = 1, V_HARD = -1 };

static void instance_pointer(const struct vctx *v, struct at_buf *b)
{
    for (size_t i = 0; i < v->npath; i++) {
        int rc = v->path[i].key ? at_jptr_appendn(b, v->path[i].key, v->path[i].len_or_idx)
                                : at_jptr_append_index(b, v->path[i].len_or_idx);
        if (rc)
            break;
    }
}

static void report(struct vctx *v, int code, const char *schema_loc, const char *fmt, va_list ap)
{
    if (!v->d)
        return;
    struct at_buf b;
    at_buf_init(&b, sizeof(v->d->pointer) - 1);
    instance_pointer(v, &b);
    v->d->code = code;
    v->d->file[0] = '\0';
    v->d->line = v->d->col = 0;
    at_diag_set_pointer(v->d, at_buf_str(&b));
    at_buf_release(&b);
    /* Precisions keep both parts inside msg[1024] even at their longest. */
    char msg[701];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    snprintf(v->d->msg, sizeof(v->d->msg), "%.700s (schema %.300s)", msg,
             schema_loc[0] ? schema_loc : "root");
}

/* Fail at keyword kw of n (kw NULL: the schema itself). */
__attribute__((format(printf, 4, 5))) static int fail(struct vctx *v, const struct at__snode *n,
                                                      const char *kw, const char *fmt, ...)
{
    if (v->quiet)
        return V_FAIL;
    char loc[512];
    at__schema_path(n, kw, loc, sizeof(loc));
    va_list ap;
    va_start(ap, fmt);
    report(v, AT_ESCHEMA, loc, fmt, ap);
    va_end(ap);
    return V_FAIL;
}

__attribute__((format(printf, 3, 4))) static int hard(struct vctx *v, const struct at__snode *n,
                                                      const char *fmt, ...)
{
    char loc[512];
    at__schema_path(n, NULL, loc, sizeof(loc));
    va_list ap;
    va_start(ap, fmt);
    report(v, AT_E2BIG, loc, fmt, ap);
    va_end(ap);
    return V_HARD;
}

static unsigned type_bits(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return AT__T_OBJECT;
    case JSON_ARRAY:
        return AT__T_ARRAY;
    case JSON_STRING:
        return AT__T_STRING;
    case JSON_INTEGER:
        return AT__T_INTEGER | AT__T_NUMBER;
    case JSON_REAL:
        return AT__T_NUMBER | (at_json_is_integral(j) ? AT__T_INTEGER : 0);
    case JSON_TRUE:
    case JSON_FALSE:
        return AT__T_BOOLEAN;
    default:
        return AT__T_NULL;
    }
}

/* The shortest text that reads back as the same number, for messages. */
static const char *num_text(const json_t *j, char *out, size_t n)
{
    if (json_is_integer(j)) {
        snprintf(out, n, "%lld", (long long)json_integer_value(j));
        return out;
    }
    double x = json_real_value(j);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, x);
        if (strtod(out, NULL) == x)
            break;
    }
    return out;
}

/* A compact dump of j cut to about max bytes, for messages. */
static char *value_text(const json_t *j, size_t max)
{
    struct at_buf b;
    at_buf_init(&b, max);
    if (at_json_dump_buf(j, &b) != 0) {
        at_buf_release(&b);
        at_buf_init(&b, AT_BUF_UNLIMITED);
        at_buf_puts(&b, json_is_array(j) ? "[...]" : json_is_object(j) ? "{...}" : "...");
    }
    return at_buf_detach(&b, NULL);
}

static size_t utf8_length(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n; i++)
        cps += ((unsigned char)s[i] & 0xC0) != 0x80;
    return cps;
}

static int charge(struct vctx *v, unsigned long long units)
{
    if (v->fuel < units)
        return -1;
    v->fuel -= units;
    return 0;
}

static int validate_node(struct vctx *v, const struct at__snode *n, const json_t *j);

static int push_key(struct vctx *v, const char *k, size_t len)
{
    if (v->npath > AT_SCHEMA_MAX_DEPTH)
        return -1;
    v->path[v->npath++] = (struct seg){k, len};
    return 0;
}

static int push_index(struct vctx *v, size_t i)
{
    if (v->npath > AT_SCHEMA_MAX_DEPTH)
        return -1;
    v->path[v->npath++] = (struct seg){NULL, i};
    return 0;
}

/* Validate a child value (object member or array element) against n. */
static int child(struct vctx *v, const struct at__snode *n, const json_t *j, const char *key,
                 size_t len_or_idx)
{
    if ((key ? push_key(v, key, len_or_idx) : push_index(v, len_or_idx)) != 0)
        return hard(v, n, "value nested deeper than %d levels", AT_SCHEMA_MAX_DEPTH);
    int rc = validate_node(v, n, j);
    v->npath--;
    return rc;
}

static int quietly(struct vctx *v, const struct at__snode *n, const json_t *j)
{
    v->quiet++;
    int rc = validate_node(v, n, j);
    v->quiet--;
    return rc;
}

/* multipleOf: exact for integers; for reals, q = x / m must be within a
 * relative 1e-12 of an integer, because 0.0075 / 0.0001 is not exactly 75
 * in binary floating point.  An infinite quotient is not a multiple. */
static int is_multiple(const json_t *x, const json_t *m)
{
    if (json_is_integer(x) && json_is_integer(m)) {
        long long a = json_integer_value(x), b = json_integer_value(m);
        return a % b == 0;
    }
    double a = json_is_integer(x) ? (double)json_integer_value(x) : json_real_value(x);
    double b = json_is_integer(m) ? (double)json_integer_value(m) : json_real_value(m);
    double q = a / b;
    if (!isfinite(q))
        return 0;
    double r = nearbyint(q);
    return fabs(q - r) <= 1e-12 * fmax(1.0, fabs(q));
}

static int check_number(struct vctx *v, const struct at__snode *n, const json_t *j)
{
    char a[40], b[40];
    if (n->minimum) {
        int c = at_json_num_cmp(j, n->minimum);
        if (n->ex_min_bool ? c <= 0 : c < 0)
            return fail(v, n, "minimum", "must be %s %s, got %s",
                        n->ex_min_bool ? ">" : ">=", num_text(n->minimum, a, sizeof(a)),
                        num_text(j, b, sizeof(b)));
    }
    if (n->maximum) {
        int c = at_json_num_cmp(j, n->maximum);
        if (n->ex_max_bool ? c >= 0 : c > 0)
            return fail(v, n, "maximum", "must be %s %s, got %s",
                        n->ex_max_bool ? "<" : "<=", num_text(n->maximum, a, sizeof(a)),
                        num_text(j, b, sizeof(b)));
    }
    if (n->ex_minimum && at_json_num_cmp(j, n->ex_minimum) <= 0)
        return fail(v, n, "exclusiveMinimum", "must be > %s, got %s",
                    num_text(n->ex_minimum, a, sizeof(a)), num_text(j, b, sizeof(b)));
    if (n->ex_maximum && at_json_num_cmp(j, n->ex_maximum) >= 0)
        return fail(v, n, "exclusiveMaximum", "must be < %s, got %s",
                    num_text(n->ex_maximum, a, sizeof(a)), num_text(j, b, sizeof(b)));
    if (n->multiple_of && !is_multiple(j, n->multiple_of))
        return fail(v, n, "multipleOf", "must be a multiple of %s, got %s",
                    num_text(n->multiple_of, a, sizeof(a)), num_text(j, b, sizeof(b)));
    return V_OK;
}

static int check_string(struct vctx *v, const struct at__snode *n, const json_t *j)
{
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    if (n->min_len >= 0 || n->max_len >= 0) {
        size_t cps = utf8_length(s, len);
        if (n->min_len >= 0 && cps < (unsigned long long)n->min_len)
            return fail(v, n, "minLength", "must be at least %lld characters long, got %zu",
                        n->min_len, cps);
        if (n->max_len >= 0 && cps > (unsigned long long)n->max_len)
            return fail(v, n, "maxLength", "must be at most %lld characters long, got %zu",
                        n->max_len, cps);
    }
    if (n->pattern) {
        int m = at_regex_search(n->pattern, s, len, &v->fuel);
        if (m < 0)
            return hard(v, n, "validation work limit reached matching pattern");
        if (m == 0)
            return fail(v, n, "pattern", "must match pattern \"%.200s\"", n->pattern_src);
    }
    return V_OK;
}

/* Hash consistent with at_json_equal: equal values hash equal (numbers by
 * value, objects independent of member order). */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t hash_value(const json_t *j, size_t depth)
{
    if (depth > AT_JSON_EQUAL_MAX_DEPTH)
        return 0;
    switch (json_typeof(j)) {
    case JSON_INTEGER:
        return mix((uint64_t)json_integer_value(j) ^ 0x1111);
    case JSON_REAL: {
        double r = json_real_value(j);
        if (r == floor(r) && r >= -9223372036854775808.0 && r < 9223372036854775808.0)
            return mix((uint64_t)(long long)r ^ 0x1111);
        uint64_t bits;
        memcpy(&bits, &r, sizeof(bits));
        return mix(bits ^ 0x2222);
    }
    case JSON_STRING:
        return mix(hash_bytes(json_string_value(j), json_string_length(j), 0xcbf29ce484222325ULL));
    case JSON_ARRAY: {
        uint64_t h = 0x3333;
        for (size_t i = 0; i < json_array_size(j); i++)
            h = mix(h * 31 + hash_value(json_array_get(j, i), depth + 1));
        return h;
    }
    case JSON_OBJECT: {
        uint64_t h = 0x4444;
        const char *k;
        size_t kl;
        json_t *m;
        json_object_keylen_foreach((json_t *)j, k, kl, m)
        {
            h += mix(hash_bytes(k, kl, 0xcbf29ce484222325ULL) ^ hash_value(m, depth + 1));
        }
        return mix(h);
    }
    case JSON_TRUE:
        return 0x5555;
    case JSON_FALSE:
        return 0x6666;
    default:
        return 0x7777;
    }
}

struct hitem {
    uint64_t h;
    size_t i;
};

static int hitem_cmp(const void *a, const void *b)
{
    const struct hitem *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* uniqueItems in O(n log n): sort by hash, compare within equal-hash runs.
 * Returns the index of the first element (in array order) equal to an
 * earlier one and that earlier one in *dup_of, or (size_t)-1.  *hard is
 * set when the work budget ran out. */
static size_t find_duplicate(struct vctx *v, const json_t *arr, size_t *dup_of, int *hardstop)
{
    size_t n = json_array_size(arr), best = (size_t)-1;
    if (n < 2)
        return best;
    struct hitem *it = at_malloc(n * sizeof(*it));
    for (size_t i = 0; i < n; i++)
        it[i] = (struct hitem){hash_value(json_array_get(arr, i), 0), i};
    qsort(it, n, sizeof(*it), hitem_cmp);
    for (size_t a = 0; a < n && !*hardstop; a++) {
        for (size_t b = a + 1; b < n && it[b].h == it[a].h; b++) {
            if (charge(v, AT__SCHEMA_NODE_COST) != 0) {
                *hardstop = 1;
                break;
            }
            if (it[b].i < best &&
                at_json_equal(json_array_get(arr, it[a].i), json_array_get(arr, it[b].i))) {
                best = it[b].i;
                *dup_of = it[a].i;
                break;
            }
        }
    }
    free(it);
    return best;
}

static int check_array(struct vctx *v, const struct at__snode *n, const json_t *j)
{
    size_t size = json_array_size(j);
    int rc;
    if (n->min_items >= 0 && size < (unsigned long long)n->min_items)
        return fail(v, n, "minItems", "must have at least %lld items, got %zu", n->min_items, size);
    if (n->max_items >= 0 && size > (unsigned long long)n->max_items)
        return fail(v, n, "maxItems", "must have at most %lld items, got %zu", n->max_items, size);
    for (size_t i = 0; i < size; i++) {
        const struct at__snode *s = i < n->prefix.n ? n->prefix.node[i] : n->items;
        if (!s)
            break;
        if (s->kind == AT__SN_FALSE && s == n->items) {
            if (v->quiet)
                return V_FAIL;
            if (push_index(v, i) != 0)
                return hard(v, n, "value nested deeper than %d levels", AT_SCHEMA_MAX_DEPTH);
            rc =
                fail(v, n,
                     json_is_array(json_object_get(n->json, "items")) ? "additionalItems" : "items",
                     "array must not have more than %zu items", n->prefix.n);
            v->npath--;
            return rc;
        }
        if ((rc = child(v, s, json_array_get(j, i), NULL, i)) != V_OK)
            return rc;
    }
    if (n->contains) {
        long long found = 0;
        long long min = n->min_contains >= 0 ? n->min_contains : 1;
        for (size_t i = 0; i < size; i++) {
            if ((rc = quietly(v, n->contains, json_array_get(j, i))) == V_HARD)
                return rc;
            found += rc == V_OK;
        }
        if (found < min)
            return fail(v, n, n->min_contains >= 0 ? "minContains" : "contains",
                        "must contain at least %lld item%s matching contains, got %lld", min,
                        min == 1 ? "" : "s", found);
        if (n->max_contains >= 0 && found > n->max_contains)
            return fail(v, n, "maxContains",
                        "must contain at most %lld items matching contains, got %lld",
                        n->max_contains, found);
    }
    if (n->unique) {
        size_t dup_of = 0;
        int stop = 0;
        size_t dup = find_duplicate(v, j, &dup_of, &stop);
        if (stop)
            return hard(v, n, "validation work limit reached checking uniqueItems");
        if (dup != (size_t)-1) {
            if (v->quiet)
                return V_FAIL;
            push_index(v, dup);
            rc = fail(v, n, "uniqueItems", "must be unique, but equals item %zu", dup_of);
            v->npath--;
            return rc;
        }
    }
    return V_OK;
}

static int check_property(struct vctx *v, const struct at__snode *n, const char *k, size_t kl,
                          const json_t *val)
{
    int rc, matched = 0;
    if (n->prop_index) {
        const json_t *idx = json_object_getn(n->prop_index, k, kl);
        if (idx) {
            matched = 1;
            if ((rc = child(v, n->props.node[json_integer_value(idx)], val, k, kl)) != V_OK)
                return rc;
        }
    }
    for (size_t p = 0; p < n->pattern_props.n; p++) {
        int m = at_regex_search(n->pattern_props.re[p], k, kl, &v->fuel);
        if (m < 0)
            return hard(v, n, "validation work limit reached matching patternProperties");
        if (m == 0)
            continue;
        matched = 1;
        if ((rc = child(v, n->pattern_props.node[p], val, k, kl)) != V_OK)
            return rc;
    }
    if (matched || !n->additional)
        return V_OK;
    if (n->additional->kind == AT__SN_FALSE) {
        if (v->quiet)
            return V_FAIL;
        if (push_key(v, k, kl) != 0)
            return hard(v, n, "value nested deeper than %d levels", AT_SCHEMA_MAX_DEPTH);
        rc = fail(v, n, "additionalProperties", "property \"%.*s\" is not allowed",
                  (int)(kl > 200 ? 200 : kl), k);
        v->npath--;
        return rc;
    }
    return child(v, n->additional, val, k, kl);
}

static int check_property_name(struct vctx *v, const struct at__snode *n, const char *k, size_t kl)
{
    json_t *name = json_stringn_nocheck(k, kl);
    if (!name)
        return hard(v, n, "out of memory");
    /* The inner message describes the name, so collect it aside and wrap
     * it; the pointer is the member whose name is wrong. */
    struct at_diag *saved = v->d;
    struct at_diag *inner = saved ? at_calloc(1, sizeof(*inner)) : NULL;
    v->d = inner;
    int rc = validate_node(v, n->property_names, name);
    v->d = saved;
    json_decref(name);
    if (rc == V_HARD && saved && inner)
        *saved = *inner;
    if (rc == V_FAIL && !v->quiet && saved && inner) {
        /* inner->msg already names its schema location. */
        push_key(v, k, kl);
        struct at_buf b;
        at_buf_init(&b, sizeof(saved->pointer) - 1);
        instance_pointer(v, &b);
        v->npath--;
        *saved = *inner;
        at_diag_set_pointer(saved, at_buf_str(&b));
        at_buf_release(&b);
        snprintf(saved->msg, sizeof(saved->msg), "property name \"%.*s\" is invalid: %.700s",
                 (int)(kl > 200 ? 200 : kl), k, inner->msg);
    }
    free(inner);
    return rc;
}

static int check_object(struct vctx *v, const struct at__snode *n, const json_t *j)
{
    size_t size = json_object_size(j);
    int rc;
    if (n->min_props >= 0 && size < (unsigned long long)n->min_props)
        return fail(v, n, "minProperties", "must have at least %lld properties, got %zu",
                    n->min_props, size);
    if (n->max_props >= 0 && size > (unsigned long long)n->max_props)
        return fail(v, n, "maxProperties", "must have at most %lld properties, got %zu",
                    n->max_props, size);
    for (size_t i = 0; n->required && i < json_array_size(n->required); i++) {
        const json_t *r = json_array_get(n->required, i);
        if (!json_object_getn(j, json_string_value(r), json_string_length(r)))
            return fail(v, n, "required", "missing required property \"%.200s\"",
                        json_string_value(r));
    }
    const char *k;
    size_t kl;
    json_t *val;
    json_object_keylen_foreach((json_t *)j, k, kl, val)
    {
        if ((rc = check_property(v, n, k, kl, val)) != V_OK)
            return rc;
        if (n->property_names && (rc = check_property_name(v, n, k, kl)) != V_OK)
            return rc;
    }
    if (n->dep_required) {
        const json_t *names;
        json_object_keylen_foreach((json_t *)n->dep_required, k, kl, names)
        {
            if (!json_object_getn(j, k, kl))
                continue;
            for (size_t i = 0; i < json_array_size(names); i++) {
                const json_t *r = json_array_get(names, i);
                if (!json_object_getn(j, json_string_value(r), json_string_length(r)))
                    return fail(v, n, "dependentRequired",
                                "property \"%.200s\" is required when \"%.*s\" is present",
                                json_string_value(r), (int)(kl > 200 ? 200 : kl), k);
            }
        }
    }
    for (size_t d = 0; d < n->dep_schemas.n; d++) {
        k = n->dep_schemas.name[d];
        kl = n->dep_schemas.name_len[d];
        if (!json_object_getn(j, k, kl))
            continue;
        const struct at__snode *s = n->dep_schemas.node[d];
        if (s) {
            if ((rc = validate_node(v, s, j)) != V_OK)
                return rc;
            continue;
        }
        /* draft-07 dependencies with an array of names */
        const json_t *names = json_object_getn(json_object_get(n->json, "dependencies"), k, kl);
        for (size_t i = 0; i < json_array_size(names); i++) {
            const json_t *r = json_array_get(names, i);
            if (!json_object_getn(j, json_string_value(r), json_string_length(r)))
                return fail(v, n, "dependencies",
                            "property \"%.200s\" is required when \"%.*s\" is present",
                            json_string_value(r), (int)(kl > 200 ? 200 : kl), k);
        }
    }
    return V_OK;
}

static int check_combinators(struct vctx *v, const struct at__snode *n, const json_t *j)
{
    int rc;
    for (size_t i = 0; i < n->all_of.n; i++)
        if ((rc = validate_node(v, n->all_of.node[i], j)) != V_OK)
            return rc;
    if (n->any_of.n) {
        int ok = 0;
        for (size_t i = 0; i < n->any_of.n && !ok; i++) {
            if ((rc = quietly(v, n->any_of.node[i], j)) == V_HARD)
                return rc;
            ok = rc == V_OK;
        }
        if (!ok)
            return fail(v, n, "anyOf", "must match at least one schema in anyOf");
    }
    if (n->one_of.n) {
        size_t first = (size_t)-1;
        for (size_t i = 0; i < n->one_of.n; i++) {
            if ((rc = quietly(v, n->one_of.node[i], j)) == V_HARD)
                return rc;
            if (rc != V_OK)
                continue;
            if (first != (size_t)-1)
                return fail(v, n, "oneOf",
                            "must match exactly one schema in oneOf, but matches %zu and %zu",
                            first, i);
            first = i;
        }
        if (first == (size_t)-1)
            return fail(v, n, "oneOf", "must match exactly one schema in oneOf, matches none");
    }
    if (n->not_) {
        if ((rc = quietly(v, n->not_, j)) == V_HARD)
            return rc;
        if (rc == V_OK)
            return fail(v, n, "not", "must not match the schema in not");
    }
    if (n->if_) {
        if ((rc = quietly(v, n->if_, j)) == V_HARD)
            return rc;
        const struct at__snode *branch = rc == V_OK ? n->then_ : n->else_;
        if (branch && (rc = validate_node(v, branch, j)) != V_OK)
            return rc;
    }
    return V_OK;
}

/* Out of line so its buffer is not part of every validate_node frame. */
__attribute__((noinline)) static int fail_type(struct vctx *v, const struct at__snode *n,
                                               const json_t *j)
{
    if (v->quiet)
        return V_FAIL;
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    char want[80] = "";
    size_t off = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (!(n->types & (1u << i)))
            continue;
        int w = snprintf(want + off, sizeof(want) - off, "%s%s", off ? " or " : "", names[i]);
        off += w > 0 ? (size_t)w : 0;
    }
    return fail(v, n, "type", "must be %s, got %s", want, at_json_type_name(j));
}

static int validate_node(struct vctx *v, const struct at__snode *n, const json_t *j)
{
    if (n->kind == AT__SN_TRUE)
        return V_OK;
    if (n->kind == AT__SN_FALSE)
        return fail(v, n, NULL, "no value is allowed here");
    if (v->frames >= AT_SCHEMA_MAX_FRAMES)
        return hard(v, n, "schema applied more than %d levels deep", AT_SCHEMA_MAX_FRAMES);
    if (charge(v, AT__SCHEMA_NODE_COST) != 0)
        return hard(v, n, "validation work limit reached");
    v->frames++;
    int rc = V_OK;
    if (n->types && !(n->types & type_bits(j))) {
        rc = fail_type(v, n, j);
        goto out;
    }
    if (n->enum_vals) {
        size_t i, cnt = json_array_size(n->enum_vals);
        for (i = 0; i < cnt; i++)
            if (at_json_equal(j, json_array_get(n->enum_vals, i)))
                break;
        if (i == cnt) {
            char *vals = v->quiet ? NULL : value_text(n->enum_vals, 300);
            rc = fail(v, n, "enum", "must be one of %s", vals ? vals : "");
            free(vals);
            goto out;
        }
    }
    if (n->const_val && !at_json_equal(j, n->const_val)) {
        char *val = v->quiet ? NULL : value_text(n->const_val, 300);
        rc = fail(v, n, "const", "must be equal to %s", val ? val : "");
        free(val);
        goto out;
    }
    if (n->ref && (rc = validate_node(v, n->ref, j)) != V_OK)
        goto out;
    if (json_is_number(j))
        rc = check_number(v, n, j);
    else if (json_is_string(j))
        rc = check_string(v, n, j);
    else if (json_is_array(j))
        rc = check_array(v, n, j);
    else if (json_is_object(j))
        rc = check_object(v, n, j);
    if (rc == V_OK)
        rc = check_combinators(v, n, j);
out:
    v->frames--;
    return rc;
}

/* The message names the failing value's JSON Pointer too ("/text must be
 * string, got integer (schema ...)"), so it reads on its own wherever it is
 * shown (an HTTP problem's detail, the CLI, a chain step's error); the root
 * ("") is left unnamed.  Done once, here, so that wrappers built during
 * validation (propertyNames) quote the inner message without a pointer. */
static void name_instance(struct at_diag *d)
{
    if (!d || !d->pointer[0])
        return;
    char msg[sizeof(d->msg)];
    snprintf(msg, sizeof(msg), "%.300s %s", d->pointer, d->msg);
    memcpy(d->msg, msg, sizeof(d->msg));
}

int at_schema_validate(const struct at_schema *s, const json_t *instance, struct at_diag *d)
{
    if (!s || !instance)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "no schema or no instance");
    if (at_json_depth(instance, AT_SCHEMA_MAX_DEPTH) > AT_SCHEMA_MAX_DEPTH) {
        at_diag_set(d, AT_E2BIG, NULL, 0, 0, "value nested deeper than %d levels",
                    AT_SCHEMA_MAX_DEPTH);
        at_diag_set_pointer(d, "");
        return AT_E2BIG;
    }
    /* The path stack is a few kilobytes: keep it off the caller's stack. */
    struct vctx *v = at_malloc(sizeof(*v));
    v->d = d;
    v->quiet = 0;
    v->frames = 0;
    v->fuel = AT_SCHEMA_MAX_WORK;
    v->npath = 0;
    int rc = validate_node(v, s->root, instance);
    free(v);
    if (rc == V_OK)
        return 0;
    name_instance(d);
    return rc == V_HARD ? AT_E2BIG : AT_ESCHEMA;
}

/* ---- defaults ---- */

struct dctx {
    unsigned long long fuel;
};

static const json_t *default_of(const struct at__snode *n)
{
    /* Follow a bare $ref chain: {"$ref": "#/$defs/x"} takes x's default. */
    for (int hops = 0; n && n->kind == AT__SN_OBJECT && hops <= AT_SCHEMA_MAX_CHAIN; hops++) {
        if (n->default_val)
            return n->default_val;
        n = n->ref;
    }
    return NULL;
}

/* frames counts schema applications (bounds recursion); level is the
 * instance depth of j, past which no defaults are inserted so the result
 * still parses under AT_JSON_MAX_DEPTH. */
static void apply(struct dctx *c, const struct at__snode *n, json_t *j, size_t frames, size_t level)
{
    if (!n || n->kind != AT__SN_OBJECT || frames > AT_SCHEMA_MAX_FRAMES ||
        level >= AT_JSON_MAX_DEPTH)
        return;
    if (c->fuel < AT__SCHEMA_NODE_COST)
        return;
    c->fuel -= AT__SCHEMA_NODE_COST;
    /* In-place applicators that always apply: $ref and allOf. */
    apply(c, n->ref, j, frames + 1, level);
    for (size_t i = 0; i < n->all_of.n; i++)
        apply(c, n->all_of.node[i], j, frames + 1, level);
    if (json_is_object(j)) {
        for (size_t i = 0; i < n->props.n; i++) {
            const char *k = n->props.name[i];
            size_t kl = n->props.name_len[i];
            json_t *val = json_object_getn(j, k, kl);
            if (!val) {
                const json_t *def = default_of(n->props.node[i]);
                /* j is at depth level + 1; keep the result parseable. */
                if (def && level + 1 + at_json_depth(def, AT_JSON_MAX_DEPTH) > AT_JSON_MAX_DEPTH)
                    def = NULL;
                json_t *copy = def ? json_deep_copy(def) : NULL;
                if (!copy || json_object_setn_new(j, k, kl, copy) != 0)
                    continue;
                val = copy;
            }
            /* Also into defaults just inserted, so {"default": {}} with
             * nested defaults fills the nested members; level bounds a
             * schema whose default recurses into itself. */
            if (json_is_object(val) || json_is_array(val))
                apply(c, n->props.node[i], val, frames + 1, level + 1);
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            const struct at__snode *s = i < n->prefix.n ? n->prefix.node[i] : n->items;
            json_t *e = json_array_get(j, i);
            if (s && (json_is_object(e) || json_is_array(e)))
                apply(c, s, e, frames + 1, level + 1);
        }
    }
}

int at_schema_apply_defaults(const struct at_schema *s, json_t *instance)
{
    if (!s || !instance)
        return 0;
    struct dctx c = {.fuel = AT_SCHEMA_MAX_WORK};
    apply(&c, s->root, instance, 0, 0);
    return 0;
}
