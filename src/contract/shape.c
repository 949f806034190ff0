#include "contract/shape.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *at_shape_type_name(const json_t *v)
{
    /* YAML's words for the collections; the scalars as JSON names them */
    if (json_is_object(v))
        return "mapping";
    if (json_is_array(v))
        return "list";
    return v ? at_json_type_name(v) : "value";
}

static char *child_ptr(const char *ptr, const char *key)
{
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_buf_puts(&b, ptr);
    at_buf_putc(&b, '/');
    for (const char *q = key; *q; q++) {
        if (*q == '~')
            at_buf_puts(&b, "~0");
        else if (*q == '/')
            at_buf_puts(&b, "~1");
        else
            at_buf_putc(&b, *q);
    }
    return at_buf_detach(&b, NULL);
}

static int in_enum(const char *s, const char *const *enums)
{
    for (; *enums; enums++)
        if (strcmp(s, *enums) == 0)
            return 1;
    return 0;
}

static void enum_list(const char *const *enums, char *out, size_t n)
{
    struct at_buf b;
    at_buf_init(&b, n - 1);
    for (int i = 0; enums[i]; i++)
        at_buf_printf(&b, "%s%s", i ? ", " : "", enums[i]);
    snprintf(out, n, "%s", at_buf_str(&b));
    at_buf_release(&b);
}

static int type_err(const struct at_yaml_doc *doc, struct at_diag *d, const char *ptr,
                    const char *want, const json_t *v)
{
    return at_yaml_error(doc, d, AT_EINVAL, ptr, 0, "expected %s, got %s", want,
                         at_shape_type_name(v));
}

static int check_value(const struct at_yaml_doc *doc, const json_t *v, const char *ptr,
                       const struct at_shape *s, struct at_diag *d);

static int check_strlist(const struct at_yaml_doc *doc, const json_t *v, const char *ptr,
                         const struct at_shape *s, struct at_diag *d)
{
    if (!json_is_array(v))
        return type_err(doc, d, ptr, "a list of strings", v);
    if ((s->flags & AT_SH_NONEMPTY) && json_array_size(v) == 0)
        return at_yaml_error(doc, d, AT_EINVAL, ptr, 0, "must not be empty");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        char idx[32];
        snprintf(idx, sizeof(idx), "%zu", i);
        char *cp = child_ptr(ptr, idx);
        int rc = 0;
        if (!json_is_string(item))
            rc = type_err(doc, d, cp, "a string", item);
        else if (s->enums && !in_enum(json_string_value(item), s->enums)) {
            char list[256];
            enum_list(s->enums, list, sizeof(list));
            rc = at_yaml_error(doc, d, AT_EINVAL, cp, 0, "\"%s\" is not one of: %s",
                               json_string_value(item), list);
        }
        free(cp);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_value(const struct at_yaml_doc *doc, const json_t *v, const char *ptr,
                       const struct at_shape *s, struct at_diag *d)
{
    switch (s->kind) {
    case AT_SH_STR:
        if (!json_is_string(v))
            return type_err(doc, d, ptr, "a string", v);
        if ((s->flags & AT_SH_NONEMPTY) && json_string_length(v) == 0)
            return at_yaml_error(doc, d, AT_EINVAL, ptr, 0, "must not be empty");
        if (s->enums && !in_enum(json_string_value(v), s->enums)) {
            char list[256];
            enum_list(s->enums, list, sizeof(list));
            return at_yaml_error(doc, d, AT_EINVAL, ptr, 0, "\"%s\" is not one of: %s",
                                 json_string_value(v), list);
        }
        return 0;
    case AT_SH_STR_OR_NUM:
        if (!json_is_string(v) && !json_is_number(v))
            return type_err(doc, d, ptr, "a string or number", v);
        return 0;
    case AT_SH_INT:
    case AT_SH_NUM: {
        if (s->kind == AT_SH_INT && !json_is_integer(v))
            return type_err(doc, d, ptr, "an integer", v);
        if (!json_is_number(v))
            return type_err(doc, d, ptr, "a number", v);
        double x = json_number_value(v);
        if ((s->flags & AT_SH_HAS_MIN) && x < s->min)
            return at_yaml_error(doc, d, AT_EINVAL, ptr, 0, "must be at least %g", s->min);
        if ((s->flags & AT_SH_HAS_MAX) && x > s->max)
            return at_yaml_error(doc, d, AT_EINVAL, ptr, 0, "must be at most %g", s->max);
        return 0;
    }
    case AT_SH_BOOL:
        if (!json_is_boolean(v))
            return type_err(doc, d, ptr, "true or false", v);
        return 0;
    case AT_SH_OBJ:
        return at_shape_check(doc, v, ptr, s->fields, d);
    case AT_SH_STRLIST:
        return check_strlist(doc, v, ptr, s, d);
    case AT_SH_STRMAP:
    case AT_SH_LISTMAP:
    case AT_SH_MAPOF: {
        if (!json_is_object(v))
            return type_err(doc, d, ptr, "a mapping", v);
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            char *cp = child_ptr(ptr, k);
            int rc = 0;
            if (s->kind == AT_SH_STRMAP && !json_is_string(item))
                rc = type_err(doc, d, cp, "a string", item);
            else if (s->kind == AT_SH_LISTMAP)
                rc = check_strlist(doc, item, cp, s, d);
            else if (s->kind == AT_SH_MAPOF)
                rc = at_shape_check(doc, item, cp, s->fields, d);
            free(cp);
            if (rc)
                return rc;
        }
        return 0;
    }
    case AT_SH_OBJLIST: {
        if (!json_is_array(v))
            return type_err(doc, d, ptr, "a list", v);
        if ((s->flags & AT_SH_NONEMPTY) && json_array_size(v) == 0)
            return at_yaml_error(doc, d, AT_EINVAL, ptr, 0, "must not be empty");
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            char idx[32];
            snprintf(idx, sizeof(idx), "%zu", i);
            char *cp = child_ptr(ptr, idx);
            int rc = at_shape_check(doc, item, cp, s->fields, d);
            free(cp);
            if (rc)
                return rc;
        }
        return 0;
    }
    case AT_SH_ANYOBJ:
        if (!json_is_object(v))
            return type_err(doc, d, ptr, "a mapping", v);
        return 0;
    case AT_SH_ANY:
        return 0;
    }
    return 0;
}

int at_shape_check(const struct at_yaml_doc *doc, const json_t *v, const char *ptr,
                   const struct at_shape *fields, struct at_diag *d)
{
    if (!json_is_object(v))
        return type_err(doc, d, ptr, "a mapping", v);
    const char *k;
    json_t *item;
    json_object_foreach((json_t *)v, k, item)
    {
        const struct at_shape *s = fields;
        while (s->key && strcmp(s->key, k) != 0)
            s++;
        char *cp = child_ptr(ptr, k);
        int rc;
        if (!s->key) {
            struct at_buf known;
            at_buf_init(&known, 512);
            for (const struct at_shape *f = fields; f->key; f++)
                at_buf_printf(&known, "%s%s", f == fields ? "" : ", ", f->key);
            rc = at_yaml_error(doc, d, AT_EINVAL, cp, 1, "unknown key \"%s\" (known keys: %s)", k,
                               at_buf_str(&known));
            at_buf_release(&known);
        } else {
            rc = check_value(doc, item, cp, s, d);
        }
        free(cp);
        if (rc)
            return rc;
    }
    for (const struct at_shape *s = fields; s->key; s++) {
        if ((s->flags & AT_SH_REQUIRED) && !json_object_get(v, s->key)) {
            char *cp = child_ptr(ptr, s->key);
            int line, col;
            at_yaml_locate(doc, ptr, 1, &line, &col); /* the parent key's line */
            char path[256];
            at_yaml_pointer_to_path(cp, path, sizeof(path));
            at_diag_set(d, AT_EINVAL, doc->file, line, col, "%s: required key is missing", path);
            free(cp);
            return AT_EINVAL;
        }
    }
    return 0;
}
