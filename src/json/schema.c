/*
 * schema.c - compiling a JSON Schema (draft 2020-12 vocabulary subset, with
 * the draft-04/07 spellings agent contracts still use) into struct
 * at__snode graphs.  Compiling is where the schema itself is checked:
 * keyword types, "type" names, regex syntax, $ref targets, and in-place
 * $ref cycles.  Validation is in schema_validate.c.
 */
#include "json/schema_int.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"
#include "json/pointer.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json_t* -> node, so every schema object is compiled once and a $ref to it
 * shares the node (which is also what lets recursive schemas terminate). */
struct ptrmap {
    const json_t **key;
    struct at__snode **val;
    size_t cap, len;
};

static size_t ptr_hash(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static struct at__snode *map_get(const struct ptrmap *m, const json_t *k)
{
    if (!m->cap)
        return NULL;
    for (size_t i = ptr_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->key[i])
            return NULL;
        if (m->key[i] == k)
            return m->val[i];
    }
}

static void map_put(struct ptrmap *m, const json_t *k, struct at__snode *v)
{
    if ((m->len + 1) * 2 > m->cap) {
        struct ptrmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 64;
        m->key = at_calloc(m->cap, sizeof(*m->key));
        m->val = at_calloc(m->cap, sizeof(*m->val));
        m->len = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.key[i])
                map_put(m, old.key[i], old.val[i]);
        free(old.key);
        free(old.val);
    }
    size_t i = ptr_hash(k) & (m->cap - 1);
    while (m->key[i])
        i = (i + 1) & (m->cap - 1);
    m->key[i] = k;
    m->val[i] = v;
    m->len++;
}

struct cctx {
    struct at_schema *s;
    struct at_diag *d;
    size_t capnodes;
    struct ptrmap map;
    struct at__snode **pend; /* nodes whose $ref is still to resolve */
    size_t npend, cappend;
    const char *root_id; /* the root's "$id" without fragment, or NULL */
    size_t root_id_len;
    int err;
};

char *at__schema_path(const struct at__snode *n, const char *kw, char *out, size_t size)
{
    const struct at__snode *chain[AT_SCHEMA_MAX_DEPTH + 8];
    size_t k = 0;
    for (const struct at__snode *m = n; m && k < sizeof(chain) / sizeof(*chain); m = m->parent)
        chain[k++] = m;
    size_t off = 0;
    out[0] = '\0';
    while (k-- > 0 && off + 1 < size) {
        const char *rel = chain[k]->rel;
        int w = snprintf(out + off, size - off, "%s%s", chain[k]->parent && rel[0] ? "/" : "", rel);
        off += w > 0 ? (size_t)w : 0;
    }
    if (kw && off + 1 < size)
        snprintf(out + off, size - off, "/%s", kw);
    return out;
}

/* Fail compilation: d gets the pointer of kw (plus an escaped extra token)
 * under n, and the message. */
__attribute__((format(printf, 6, 7))) static int cerr(struct cctx *c, const struct at__snode *n,
                                                      const char *kw, const char *tok,
                                                      size_t toklen, const char *fmt, ...)
{
    if (c->err)
        return c->err;
    c->err = AT_ESCHEMA;
    if (!c->d)
        return c->err;
    char path[512];
    at__schema_path(n, kw, path, sizeof(path));
    struct at_buf b;
    at_buf_init(&b, sizeof(c->d->pointer) - 1);
    at_buf_puts(&b, path);
    if (tok)
        at_jptr_appendn(&b, tok, toklen);
    c->d->code = AT_ESCHEMA;
    c->d->line = c->d->col = 0;
    c->d->file[0] = '\0';
    at_diag_set_pointer(c->d, at_buf_str(&b));
    at_buf_release(&b);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->d->msg, sizeof(c->d->msg), fmt, ap);
    va_end(ap);
    return c->err;
}

static struct at__snode *new_node(struct cctx *c, int kind, const json_t *json,
                                  const struct at__snode *parent, char *rel)
{
    struct at_schema *s = c->s;
    if (s->nnodes == c->capnodes) {
        c->capnodes = c->capnodes ? c->capnodes * 2 : 16;
        s->nodes = at_realloc(s->nodes, c->capnodes * sizeof(*s->nodes));
    }
    struct at__snode *n = at_calloc(1, sizeof(*n));
    n->kind = kind;
    n->id = s->nnodes;
    n->json = json;
    n->parent = parent;
    n->rel = rel;
    n->min_len = n->max_len = -1;
    n->min_items = n->max_items = n->min_contains = n->max_contains = -1;
    n->min_props = n->max_props = -1;
    s->nodes[s->nnodes++] = n;
    return n;
}

static struct at__snode *compile(struct cctx *c, const json_t *j, const struct at__snode *parent,
                                 char *rel, size_t depth, int in_id);

/* rel for a subschema: kw, or kw "/" token (escaped), or kw "/" index. */
static char *rel_of(const char *kw, const char *tok, size_t toklen, long long idx)
{
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_buf_puts(&b, kw);
    if (tok)
        at_jptr_appendn(&b, tok, toklen);
    else if (idx >= 0)
        at_jptr_append_index(&b, (size_t)idx);
    return at_buf_detach(&b, NULL);
}

static struct at__snode *sub(struct cctx *c, struct at__snode *n, const char *kw, const json_t *j,
                             size_t depth, int in_id)
{
    return compile(c, j, n, rel_of(kw, NULL, 0, -1), depth + 1, in_id);
}

static void list_init(struct at__slist *l, size_t n, int named)
{
    l->n = n;
    l->node = at_calloc(n ? n : 1, sizeof(*l->node));
    if (named) {
        l->name = at_calloc(n ? n : 1, sizeof(*l->name));
        l->name_len = at_calloc(n ? n : 1, sizeof(*l->name_len));
    }
}

static int list_of_array(struct cctx *c, struct at__snode *n, const char *kw, const json_t *arr,
                         size_t depth, int in_id, int nonempty, struct at__slist *l)
{
    if (!json_is_array(arr) || (nonempty && json_array_size(arr) == 0))
        return cerr(c, n, kw, NULL, 0, "%s must be a%s array of schemas", kw,
                    nonempty ? " non-empty" : "n");
    list_init(l, json_array_size(arr), 0);
    for (size_t i = 0; i < l->n; i++) {
        l->node[i] = compile(c, json_array_get(arr, i), n, rel_of(kw, NULL, 0, (long long)i),
                             depth + 1, in_id);
        if (!l->node[i])
            return c->err;
    }
    return 0;
}

static int list_of_object(struct cctx *c, struct at__snode *n, const char *kw, const json_t *obj,
                          size_t depth, int in_id, int regex_keys, struct at__slist *l)
{
    if (!json_is_object(obj))
        return cerr(c, n, kw, NULL, 0, "%s must be an object of schemas", kw);
    list_init(l, json_object_size(obj), 1);
    if (regex_keys)
        l->re = at_calloc(l->n ? l->n : 1, sizeof(*l->re));
    size_t i = 0;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, klen, v)
    {
        l->name[i] = key;
        l->name_len[i] = klen;
        if (regex_keys) {
            struct at_diag rd;
            at_diag_clear(&rd);
            if (at_regex_new(key, klen, &l->re[i], &rd) != 0)
                return cerr(c, n, kw, key, klen, "invalid regular expression: %s (column %d)",
                            rd.msg, rd.col);
        }
        l->node[i] = compile(c, v, n, rel_of(kw, key, klen, -1), depth + 1, in_id);
        if (!l->node[i])
            return c->err;
        i++;
    }
    return 0;
}

/* Non-negative integer keyword (1.0 counts, per the spec's integer rule). */
static int count_kw(struct cctx *c, struct at__snode *n, const char *kw, long long *out)
{
    const json_t *v = json_object_get(n->json, kw);
    if (!v)
        return 0;
    if (!at_json_is_integral(v) || (json_is_real(v) && json_real_value(v) > 9.2e18))
        return cerr(c, n, kw, NULL, 0, "%s must be a non-negative integer", kw);
    long long x = json_is_integer(v) ? json_integer_value(v) : (long long)json_real_value(v);
    if (x < 0)
        return cerr(c, n, kw, NULL, 0, "%s must be a non-negative integer", kw);
    *out = x;
    return 0;
}

static int number_kw(struct cctx *c, struct at__snode *n, const char *kw, const json_t **out,
                     int allow_bool, int *bool_out)
{
    const json_t *v = json_object_get(n->json, kw);
    if (!v)
        return 0;
    if (allow_bool && json_is_boolean(v)) {
        *bool_out = json_is_true(v);
        return 0;
    }
    if (!json_is_number(v))
        return cerr(c, n, kw, NULL, 0, "%s must be a number", kw);
    *out = v;
    return 0;
}

/* An array of distinct strings (required, dependentRequired values). */
static int names_array(struct cctx *c, struct at__snode *n, const char *kw, const char *tok,
                       size_t toklen, const json_t *v)
{
    if (!json_is_array(v))
        return cerr(c, n, kw, tok, toklen, "%s must be an array of strings", kw);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return cerr(c, n, kw, tok, toklen, "%s must be an array of strings", kw);
        for (size_t k = 0; k < i; k++)
            if (json_equal(e, json_array_get(v, k)))
                return cerr(c, n, kw, tok, toklen, "%s lists \"%s\" twice", kw,
                            json_string_value(e));
    }
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    {"null", AT__T_NULL},       {"boolean", AT__T_BOOLEAN}, {"object", AT__T_OBJECT},
    {"array", AT__T_ARRAY},     {"number", AT__T_NUMBER},   {"string", AT__T_STRING},
    {"integer", AT__T_INTEGER},
};

static int type_kw(struct cctx *c, struct at__snode *n, const json_t *v)
{
    if (!v)
        return 0;
    int single = json_is_string(v);
    if (!single && (!json_is_array(v) || json_array_size(v) == 0))
        return cerr(c, n, "type", NULL, 0,
                    "type must be a type name or a non-empty array of type names");
    size_t cnt = single ? 1 : json_array_size(v);
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = single ? v : json_array_get(v, i);
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        if (!json_is_string(e))
            return cerr(c, n, "type", idx, strlen(idx), "type names must be strings");
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof(type_names) / sizeof(*type_names); k++)
            if (strcmp(json_string_value(e), type_names[k].name) == 0)
                bit = type_names[k].bit;
        if (!bit)
            return cerr(c, n, "type", single ? NULL : idx, single ? 0 : strlen(idx),
                        "unknown type \"%s\" (expected null, boolean, object, array, number, "
                        "string or integer)",
                        json_string_value(e));
        if (n->types & bit)
            return cerr(c, n, "type", idx, strlen(idx), "type \"%s\" is listed twice",
                        json_string_value(e));
        n->types |= bit;
    }
    return 0;
}

/* Keywords that would change validation in ways we do not implement: better
 * to refuse the schema than to accept values it was written to reject. */
static const char *const unsupported_kw[] = {"$dynamicRef", "$recursiveRef",
                                             "unevaluatedProperties", "unevaluatedItems"};

static int compile_array_kws(struct cctx *c, struct at__snode *n, size_t depth, int in_id)
{
    const json_t *o = n->json, *v;
    if (count_kw(c, n, "minItems", &n->min_items) || count_kw(c, n, "maxItems", &n->max_items) ||
        count_kw(c, n, "minContains", &n->min_contains) ||
        count_kw(c, n, "maxContains", &n->max_contains))
        return c->err;
    const json_t *items = json_object_get(o, "items");
    const json_t *prefix = json_object_get(o, "prefixItems");
    if (prefix && list_of_array(c, n, "prefixItems", prefix, depth, in_id, 0, &n->prefix))
        return c->err;
    if (json_is_array(items)) {
        /* Draft-07 tuple form: items is prefixItems, additionalItems the rest. */
        if (prefix)
            return cerr(c, n, "items", NULL, 0,
                        "items must be a schema when prefixItems is present");
        if (list_of_array(c, n, "items", items, depth, in_id, 0, &n->prefix))
            return c->err;
        v = json_object_get(o, "additionalItems");
        if (v && !(n->items = sub(c, n, "additionalItems", v, depth, in_id)))
            return c->err;
    } else if (items && !(n->items = sub(c, n, "items", items, depth, in_id))) {
        return c->err;
    }
    if (!json_is_array(items) && (v = json_object_get(o, "additionalItems"))) {
        /* Ignored by the spec here, but still has to be a valid schema. */
        if (!sub(c, n, "additionalItems", v, depth, in_id))
            return c->err;
    }
    if ((v = json_object_get(o, "contains")) &&
        !(n->contains = sub(c, n, "contains", v, depth, in_id)))
        return c->err;
    if ((v = json_object_get(o, "uniqueItems"))) {
        if (!json_is_boolean(v))
            return cerr(c, n, "uniqueItems", NULL, 0, "uniqueItems must be a boolean");
        n->unique = json_is_true(v);
    }
    return 0;
}

static int compile_object_kws(struct cctx *c, struct at__snode *n, size_t depth, int in_id)
{
    const json_t *o = n->json, *v;
    if (count_kw(c, n, "minProperties", &n->min_props) ||
        count_kw(c, n, "maxProperties", &n->max_props))
        return c->err;
    if ((v = json_object_get(o, "required"))) {
        if (names_array(c, n, "required", NULL, 0, v))
            return c->err;
        n->required = v;
    }
    if ((v = json_object_get(o, "properties"))) {
        if (list_of_object(c, n, "properties", v, depth, in_id, 0, &n->props))
            return c->err;
        n->prop_index = json_object();
        for (size_t i = 0; i < n->props.n; i++)
            json_object_setn_new(n->prop_index, n->props.name[i], n->props.name_len[i],
                                 json_integer((json_int_t)i));
    }
    if ((v = json_object_get(o, "patternProperties")) &&
        list_of_object(c, n, "patternProperties", v, depth, in_id, 1, &n->pattern_props))
        return c->err;
    if ((v = json_object_get(o, "additionalProperties")) &&
        !(n->additional = sub(c, n, "additionalProperties", v, depth, in_id)))
        return c->err;
    if ((v = json_object_get(o, "propertyNames")) &&
        !(n->property_names = sub(c, n, "propertyNames", v, depth, in_id)))
        return c->err;
    if ((v = json_object_get(o, "dependentRequired"))) {
        if (!json_is_object(v))
            return cerr(c, n, "dependentRequired", NULL, 0,
                        "dependentRequired must be an object of string arrays");
        const char *k;
        size_t kl;
        json_t *e;
        json_object_keylen_foreach((json_t *)v, k, kl, e)
        {
            if (names_array(c, n, "dependentRequired", k, kl, e))
                return c->err;
        }
        n->dep_required = v;
    }
    const json_t *ds = json_object_get(o, "dependentSchemas");
    const json_t *deps = json_object_get(o, "dependencies");
    if (ds && deps)
        return cerr(c, n, "dependencies", NULL, 0,
                    "use dependentSchemas or dependencies, not both");
    if (ds && list_of_object(c, n, "dependentSchemas", ds, depth, in_id, 0, &n->dep_schemas))
        return c->err;
    if (deps) {
        /* Draft-07 "dependencies": an array value is dependentRequired, a
         * schema value is dependentSchemas.  Arrays stay in the list as NULL
         * nodes; validation reads them from the document. */
        if (!json_is_object(deps))
            return cerr(c, n, "dependencies", NULL, 0, "dependencies must be an object");
        if (n->dep_required)
            return cerr(c, n, "dependencies", NULL, 0,
                        "use dependentRequired or dependencies, not both");
        list_init(&n->dep_schemas, json_object_size(deps), 1);
        size_t i = 0;
        const char *k;
        size_t kl;
        json_t *e;
        json_object_keylen_foreach((json_t *)deps, k, kl, e)
        {
            n->dep_schemas.name[i] = k;
            n->dep_schemas.name_len[i] = kl;
            if (json_is_array(e)) {
                if (names_array(c, n, "dependencies", k, kl, e))
                    return c->err;
            } else if (!(n->dep_schemas.node[i] = compile(
                             c, e, n, rel_of("dependencies", k, kl, -1), depth + 1, in_id))) {
                return c->err;
            }
            i++;
        }
    }
    return 0;
}

static int compile_object(struct cctx *c, struct at__snode *n, size_t depth, int in_id)
{
    const json_t *o = n->json, *v;
    for (size_t i = 0; i < sizeof(unsupported_kw) / sizeof(*unsupported_kw); i++)
        if (json_object_get(o, unsupported_kw[i]))
            return cerr(c, n, unsupported_kw[i], NULL, 0, "keyword %s is not supported",
                        unsupported_kw[i]);
    if ((v = json_object_get(o, "$id")) && n->parent) {
        if (!json_is_string(v))
            return cerr(c, n, "$id", NULL, 0, "$id must be a string");
        /* A nested "$id" starts a new base URI (draft-07 "#name" is only an
         * anchor); "#..." refs inside would then mean something else. */
        if (json_string_value(v)[0] != '#')
            in_id = 1;
    }
    if (type_kw(c, n, json_object_get(o, "type")))
        return c->err;
    if ((v = json_object_get(o, "$ref"))) {
        if (!json_is_string(v))
            return cerr(c, n, "$ref", NULL, 0, "$ref must be a string");
        if (in_id)
            return cerr(c, n, "$ref", NULL, 0,
                        "$ref inside a subschema with its own $id is not supported");
        n->ref_str = json_string_value(v);
        if (c->npend == c->cappend) {
            c->cappend = c->cappend ? c->cappend * 2 : 8;
            c->pend = at_realloc(c->pend, c->cappend * sizeof(*c->pend));
        }
        c->pend[c->npend++] = n;
    }
    if ((v = json_object_get(o, "enum"))) {
        if (!json_is_array(v))
            return cerr(c, n, "enum", NULL, 0, "enum must be an array");
        n->enum_vals = v;
    }
    n->const_val = json_object_get(o, "const");
    n->default_val = json_object_get(o, "default");
    if (number_kw(c, n, "minimum", &n->minimum, 0, NULL) ||
        number_kw(c, n, "maximum", &n->maximum, 0, NULL) ||
        number_kw(c, n, "exclusiveMinimum", &n->ex_minimum, 1, &n->ex_min_bool) ||
        number_kw(c, n, "exclusiveMaximum", &n->ex_maximum, 1, &n->ex_max_bool) ||
        number_kw(c, n, "multipleOf", &n->multiple_of, 0, NULL))
        return c->err;
    if (n->multiple_of) {
        double m = json_is_integer(n->multiple_of) ? (double)json_integer_value(n->multiple_of)
                                                   : json_real_value(n->multiple_of);
        if (!(m > 0))
            return cerr(c, n, "multipleOf", NULL, 0, "multipleOf must be greater than 0");
    }
    if (count_kw(c, n, "minLength", &n->min_len) || count_kw(c, n, "maxLength", &n->max_len))
        return c->err;
    if ((v = json_object_get(o, "pattern"))) {
        if (!json_is_string(v))
            return cerr(c, n, "pattern", NULL, 0, "pattern must be a string");
        struct at_diag rd;
        at_diag_clear(&rd);
        if (at_regex_new(json_string_value(v), json_string_length(v), &n->pattern, &rd) != 0)
            return cerr(c, n, "pattern", NULL, 0, "invalid regular expression: %s (column %d)",
                        rd.msg, rd.col);
        n->pattern_src = json_string_value(v);
    }
    if ((v = json_object_get(o, "format")) && !json_is_string(v))
        return cerr(c, n, "format", NULL, 0, "format must be a string");
    if (compile_array_kws(c, n, depth, in_id) || compile_object_kws(c, n, depth, in_id))
        return c->err;
    if ((v = json_object_get(o, "allOf")) &&
        list_of_array(c, n, "allOf", v, depth, in_id, 1, &n->all_of))
        return c->err;
    if ((v = json_object_get(o, "anyOf")) &&
        list_of_array(c, n, "anyOf", v, depth, in_id, 1, &n->any_of))
        return c->err;
    if ((v = json_object_get(o, "oneOf")) &&
        list_of_array(c, n, "oneOf", v, depth, in_id, 1, &n->one_of))
        return c->err;
    if ((v = json_object_get(o, "not")) && !(n->not_ = sub(c, n, "not", v, depth, in_id)))
        return c->err;
    if ((v = json_object_get(o, "if")) && !(n->if_ = sub(c, n, "if", v, depth, in_id)))
        return c->err;
    if ((v = json_object_get(o, "then")) && !(n->then_ = sub(c, n, "then", v, depth, in_id)))
        return c->err;
    if ((v = json_object_get(o, "else")) && !(n->else_ = sub(c, n, "else", v, depth, in_id)))
        return c->err;
    /* Definitions are compiled (and so checked) even when nothing refers
     * to them: a typo in an unused definition is still a typo. */
    static const char *const defs_kw[] = {"$defs", "definitions"};
    for (size_t i = 0; i < 2; i++) {
        if (!(v = json_object_get(o, defs_kw[i])))
            continue;
        struct at__slist tmp = {0};
        int rc = list_of_object(c, n, defs_kw[i], v, depth, in_id, 0, &tmp);
        free(tmp.node);
        free(tmp.name);
        free(tmp.name_len);
        if (rc)
            return c->err;
    }
    return 0;
}

/* Takes ownership of rel. */
static struct at__snode *compile(struct cctx *c, const json_t *j, const struct at__snode *parent,
                                 char *rel, size_t depth, int in_id)
{
    if (json_is_boolean(j))
        return new_node(c, json_is_true(j) ? AT__SN_TRUE : AT__SN_FALSE, j, parent, rel);
    if (!json_is_object(j)) {
        struct at__snode tmp = {.parent = parent, .rel = rel};
        cerr(c, &tmp, NULL, NULL, 0, "a schema must be an object or a boolean");
        free(rel);
        return NULL;
    }
    struct at__snode *n = map_get(&c->map, j);
    if (n) {
        free(rel);
        return n;
    }
    if (depth > AT_SCHEMA_MAX_DEPTH) {
        struct at__snode tmp = {.parent = parent, .rel = rel};
        cerr(c, &tmp, NULL, NULL, 0, "schema nested deeper than %d levels", AT_SCHEMA_MAX_DEPTH);
        free(rel);
        return NULL;
    }
    n = new_node(c, AT__SN_OBJECT, j, parent, rel);
    map_put(&c->map, j, n);
    return compile_object(c, n, depth, in_id) ? NULL : n;
}

/* A URI fragment is percent-encoded (RFC 3986 §2.1) before it is a JSON
 * Pointer (RFC 6901 §6).  Returns a new string or NULL when malformed. */
static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        return (ch | 0x20) - 'a' + 10;
    return -1;
}

static char *percent_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = at_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int h1 = i + 2 < n ? hex_digit(s[i + 1]) : -1;
        int h2 = i + 2 < n ? hex_digit(s[i + 2]) : -1;
        /* %00 would cut the C string short: refuse it like bad hex. */
        if (h1 < 0 || h2 < 0 || (h1 == 0 && h2 == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(h1 * 16 + h2);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

static int resolve_ref(struct cctx *c, struct at__snode *n)
{
    const char *ref = n->ref_str;
    if (c->root_id && strncmp(ref, c->root_id, c->root_id_len) == 0 &&
        (ref[c->root_id_len] == '#' || ref[c->root_id_len] == '\0'))
        ref += c->root_id_len;
    if (ref[0] == '\0')
        ref = "#";
    if (ref[0] != '#')
        return cerr(c, n, "$ref", NULL, 0,
                    "$ref \"%s\" is not supported: only local references (\"#...\") are",
                    n->ref_str);
    if (ref[1] != '\0' && ref[1] != '/')
        return cerr(c, n, "$ref", NULL, 0,
                    "$ref \"%s\" names an anchor; only JSON Pointer fragments are supported",
                    n->ref_str);
    char *ptr = percent_decode(ref + 1);
    if (!ptr)
        return cerr(c, n, "$ref", NULL, 0, "$ref \"%s\" has a malformed %%-escape", n->ref_str);
    const json_t *target = at_jptr_get(c->s->doc, ptr);
    if (!target) {
        free(ptr);
        return cerr(c, n, "$ref", NULL, 0, "$ref \"%s\" does not resolve to anything in the schema",
                    n->ref_str);
    }
    if (!json_is_object(target) && !json_is_boolean(target)) {
        free(ptr);
        return cerr(c, n, "$ref", NULL, 0, "$ref \"%s\" resolves to a %s, not a schema", n->ref_str,
                    json_is_array(target) ? "array" : "scalar");
    }
    /* A target not compiled yet (under an unknown keyword, say) is compiled
     * now as its own root, named by its pointer. */
    n->ref = compile(c, target, NULL, ptr, 0, 0);
    return n->ref ? 0 : c->err;
}

/* In-place edges: applicators that apply a subschema to the same value. */
static struct at__snode *inplace_edge(const struct at__snode *n, size_t i, char *kw, size_t kwsize)
{
    if (i == 0) {
        snprintf(kw, kwsize, "$ref");
        return n->ref;
    }
    i--;
    const struct at__slist *lists[] = {&n->all_of, &n->any_of, &n->one_of, &n->dep_schemas};
    static const char *const names[] = {"allOf", "anyOf", "oneOf", "dependentSchemas"};
    for (size_t l = 0; l < 4; l++) {
        if (i < lists[l]->n) {
            snprintf(kw, kwsize, "%s/%zu", names[l], i);
            return lists[l]->node[i];
        }
        i -= lists[l]->n;
    }
    struct at__snode *const singles[] = {n->not_, n->if_, n->then_, n->else_};
    static const char *const snames[] = {"not", "if", "then", "else"};
    if (i < 4) {
        snprintf(kw, kwsize, "%s", snames[i]);
        return singles[i];
    }
    return (struct at__snode *)-1; /* no more edges */
}

/* Iterative DFS over in-place edges: a cycle would recurse forever on one
 * value, and a long chain would recurse deep; both are refused here. */
static int check_inplace(struct cctx *c)
{
    struct at_schema *s = c->s;
    unsigned char *color = at_calloc(s->nnodes, 1);
    size_t *height = at_calloc(s->nnodes, sizeof(*height));
    struct frame {
        struct at__snode *n;
        size_t edge;
    } *st = at_malloc(s->nnodes * sizeof(*st));
    char kw[64];
    int rc = 0;
    for (size_t r = 0; r < s->nnodes && !rc; r++) {
        if (color[r])
            continue;
        size_t sp = 0;
        st[sp++] = (struct frame){s->nodes[r], 0};
        color[r] = 1;
        while (sp > 0 && !rc) {
            struct frame *f = &st[sp - 1];
            struct at__snode *m = inplace_edge(f->n, f->edge++, kw, sizeof(kw));
            if (m == (struct at__snode *)-1) {
                color[f->n->id] = 2;
                sp--;
                if (sp == 0)
                    continue;
                struct at__snode *up = st[sp - 1].n;
                if (height[f->n->id] + 1 > height[up->id])
                    height[up->id] = height[f->n->id] + 1;
                if (height[up->id] > AT_SCHEMA_MAX_CHAIN)
                    rc = cerr(c, up, NULL, NULL, 0,
                              "more than %d $ref/allOf/anyOf/oneOf/not/if levels applied to one "
                              "value",
                              AT_SCHEMA_MAX_CHAIN);
                continue;
            }
            if (!m)
                continue;
            if (color[m->id] == 1) {
                rc = cerr(c, f->n, kw, NULL, 0,
                          "schema cycle: %s leads back to a schema already being applied to "
                          "the same value",
                          kw);
            } else if (color[m->id] == 2) {
                if (height[m->id] + 1 > height[f->n->id])
                    height[f->n->id] = height[m->id] + 1;
            } else {
                color[m->id] = 1;
                st[sp++] = (struct frame){m, 0};
            }
            if (!rc && height[f->n->id] > AT_SCHEMA_MAX_CHAIN)
                rc = cerr(c, f->n, NULL, NULL, 0,
                          "more than %d $ref/allOf/anyOf/oneOf/not/if levels applied to one "
                          "value",
                          AT_SCHEMA_MAX_CHAIN);
        }
    }
    free(color);
    free(height);
    free(st);
    return rc;
}

/* Names required at the top level, through $ref and allOf (the DAG is
 * acyclic and at most AT_SCHEMA_MAX_CHAIN deep once check_inplace passed). */
static void collect_required(const struct at__snode *n, json_t *out, unsigned char *seen)
{
    if (!n || n->kind != AT__SN_OBJECT || seen[n->id])
        return;
    seen[n->id] = 1;
    for (size_t i = 0; n->required && i < json_array_size(n->required); i++) {
        json_t *name = json_array_get(n->required, i);
        size_t k;
        for (k = 0; k < json_array_size(out); k++)
            if (json_equal(json_array_get(out, k), name))
                break;
        if (k == json_array_size(out))
            json_array_append(out, name);
    }
    collect_required(n->ref, out, seen);
    for (size_t i = 0; i < n->all_of.n; i++)
        collect_required(n->all_of.node[i], out, seen);
}

int at_schema_new(const json_t *schema, struct at_schema **out, struct at_diag *d)
{
    *out = NULL;
    if (!schema)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "no schema");
    if (at_json_depth(schema, AT_SCHEMA_MAX_DEPTH) > AT_SCHEMA_MAX_DEPTH) {
        at_diag_set(d, AT_ESCHEMA, NULL, 0, 0, "schema nested deeper than %d levels",
                    AT_SCHEMA_MAX_DEPTH);
        at_diag_set_pointer(d, "");
        return AT_ESCHEMA;
    }
    struct at_schema *s = at_calloc(1, sizeof(*s));
    /* A private copy: the compiled nodes point into it, so a caller that
     * later edits or frees its schema cannot pull it from under us. */
    s->doc = json_deep_copy(schema);
    if (!s->doc) {
        free(s);
        return at_diag_set(d, AT_ENOMEM, NULL, 0, 0, "out of memory copying the schema");
    }
    struct cctx c = {.s = s, .d = d};
    const json_t *id = json_is_object(s->doc) ? json_object_get(s->doc, "$id") : NULL;
    if (json_is_string(id)) {
        c.root_id = json_string_value(id);
        const char *hash = strchr(c.root_id, '#');
        c.root_id_len = hash ? (size_t)(hash - c.root_id) : strlen(c.root_id);
    }
    s->root = compile(&c, s->doc, NULL, at_strdup(""), 0, 0);
    for (size_t i = 0; !c.err && i < c.npend; i++)
        resolve_ref(&c, c.pend[i]);
    if (!c.err)
        check_inplace(&c);
    free(c.map.key);
    free(c.map.val);
    free(c.pend);
    if (c.err) {
        at_schema_free(s);
        return c.err;
    }
    json_t *req = json_array();
    unsigned char *seen = at_calloc(s->nnodes, 1);
    collect_required(s->root, req, seen);
    free(seen);
    if (json_array_size(req) > 0)
        s->required = req;
    else
        json_decref(req);
    *out = s;
    return 0;
}

static void list_free(struct at__slist *l)
{
    for (size_t i = 0; l->re && i < l->n; i++)
        at_regex_free(l->re[i]);
    free(l->node);
    free(l->name);
    free(l->name_len);
    free(l->re);
}

void at_schema_free(struct at_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++) {
        struct at__snode *n = s->nodes[i];
        free(n->rel);
        at_regex_free(n->pattern);
        json_decref(n->prop_index);
        list_free(&n->prefix);
        list_free(&n->props);
        list_free(&n->pattern_props);
        list_free(&n->dep_schemas);
        list_free(&n->all_of);
        list_free(&n->any_of);
        list_free(&n->one_of);
        free(n);
    }
    free(s->nodes);
    json_decref(s->required);
    json_decref(s->doc);
    free(s);
}

const json_t *at_schema_json(const struct at_schema *s)
{
    return s ? s->doc : NULL;
}

const json_t *at_schema_required(const struct at_schema *s)
{
    return s ? s->required : NULL;
}
