/*
 * schema_int.h - the compiled form of a JSON Schema, shared by schema.c
 * (compiling) and schema_validate.c (validation and defaults).  Not part of
 * the public API.
 *
 * Every schema object of the document becomes one struct at__snode with its
 * keywords parsed and checked, so validation never looks at keyword values
 * again.  $ref is resolved at compile time to a node pointer; the graph may
 * loop through keywords that descend into the instance (properties, items,
 * ...) but never through in-place applicators ($ref, allOf, anyOf, oneOf,
 * not, if/then/else, dependentSchemas): compile rejects such loops, since
 * they would recurse on the same value forever.
 */
#ifndef AT_JSON_SCHEMA_INT_H
#define AT_JSON_SCHEMA_INT_H

#include "json/regex.h"
#include "json/schema.h"

#include <stddef.h>

/* Deepest schema document and instance accepted (containers). */
#define AT_SCHEMA_MAX_DEPTH 512
/* Deepest nesting of schema applications while validating: descents into
 * the instance plus in-place applicators. */
#define AT_SCHEMA_MAX_FRAMES 1024
/* Longest chain of in-place applicators ($ref to $ref to allOf ...). */
#define AT_SCHEMA_MAX_CHAIN 64
/* Work budget of one validate / apply_defaults call, in NFA steps; a schema
 * application costs AT__SCHEMA_NODE_COST of them. */
#define AT_SCHEMA_MAX_WORK 200000000ULL
#define AT__SCHEMA_NODE_COST 16

enum at__skind { AT__SN_TRUE, AT__SN_FALSE, AT__SN_OBJECT };

/* "type" names as a bit mask. */
enum {
    AT__T_NULL = 1,
    AT__T_BOOLEAN = 2,
    AT__T_OBJECT = 4,
    AT__T_ARRAY = 8,
    AT__T_NUMBER = 16,
    AT__T_STRING = 32,
    AT__T_INTEGER = 64,
};

struct at__snode;

/* A list of subschemas with the names they are keyed by (properties,
 * patternProperties, dependentSchemas) or none (allOf, prefixItems ...). */
struct at__slist {
    size_t n;
    struct at__snode **node;
    const char **name; /* borrowed from the document; NULL for plain lists */
    size_t *name_len;
    struct at_regex **re; /* patternProperties only */
};

struct at__snode {
    int kind;
    size_t id; /* index in struct at_schema's nodes */
    /* Where this schema sits in the document, for messages: the pointer of
     * parent plus rel (already escaped, without a leading '/'), or rel alone
     * when parent is NULL (a $ref target compiled on its own). */
    const struct at__snode *parent;
    char *rel;
    const json_t *json;

    unsigned types; /* AT__T_* mask; 0 when there is no "type" */
    struct at__snode *ref;
    const char *ref_str;

    const json_t *enum_vals; /* array */
    const json_t *const_val;
    const json_t *minimum, *maximum, *ex_minimum, *ex_maximum, *multiple_of;
    int ex_min_bool, ex_max_bool; /* draft-04 boolean exclusiveM* */

    long long min_len, max_len; /* -1 when absent */
    struct at_regex *pattern;
    const char *pattern_src;

    long long min_items, max_items, min_contains, max_contains;
    struct at__slist prefix; /* prefixItems, or draft-07 array-form items */
    struct at__snode *items; /* elements after prefix */
    struct at__snode *contains;
    int unique;

    long long min_props, max_props;
    const json_t *required; /* array of strings */
    struct at__slist props; /* properties */
    json_t *prop_index;     /* name -> integer index into props (owned) */
    struct at__slist pattern_props;
    struct at__snode *additional; /* additionalProperties */
    struct at__snode *property_names;
    const json_t *dep_required;   /* object: name -> array of names */
    struct at__slist dep_schemas; /* dependentSchemas (+ draft-07 dependencies) */

    struct at__slist all_of, any_of, one_of;
    struct at__snode *not_, *if_, *then_, *else_;

    const json_t *default_val;
};

struct at_schema {
    json_t *doc; /* private deep copy of the caller's schema */
    struct at__snode *root;
    struct at__snode **nodes; /* every node, for at_schema_free */
    size_t nnodes;
    json_t *required; /* at_schema_required; NULL when empty */
};

/* Write the JSON Pointer of n (plus "/" kw when kw is not NULL) into out,
 * truncated to n bytes.  Returns out. */
char *at__schema_path(const struct at__snode *n, const char *kw, char *out, size_t size);

#endif
