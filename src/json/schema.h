/*
 * schema.h - JSON Schema validation (draft 2020-12 vocabulary, the subset
 * agent contracts use; see docs/internals/json.md for the exact list).
 *
 * A schema is compiled once (at_schema_new checks that it is itself a valid
 * schema, so a contract with a bad schema is refused at registration) and
 * then used from any number of threads at once: a compiled schema is
 * immutable.
 *
 * Supported keywords: type (string or array), properties, required,
 * additionalProperties (bool or schema), patternProperties, propertyNames,
 * minProperties, maxProperties, dependentRequired, items (schema; and the
 * draft-07 array form as prefixItems), prefixItems, minItems, maxItems,
 * uniqueItems, contains, enum, const, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum (number and draft-04 boolean forms), multipleOf,
 * minLength, maxLength (in Unicode code points), pattern (ECMA-262 subset
 * translated to POSIX ERE / own engine, see docs), format (annotation only),
 * default (applied by at_schema_apply_defaults), anyOf, oneOf, allOf, not,
 * if/then/else, $ref to local fragments ("#", "#/$defs/x",
 * "#/definitions/x", any JSON Pointer into the root) and $defs.
 * Also: boolean schemas (true / false), minContains, maxContains,
 * dependentSchemas, draft-07 "dependencies" and "additionalItems", and a
 * $ref that spells out the root's own "$id" before the fragment.
 * Annotation keywords (title, description, examples, $schema, $id,
 * $comment, readOnly, writeOnly, deprecated, contentMediaType...) are
 * accepted and ignored.  Unknown keywords are ignored (as the spec says);
 * keywords that would change the result and that this validator lacks
 * ($dynamicRef, $recursiveRef, unevaluatedProperties, unevaluatedItems) are
 * refused at compile time rather than silently ignored.
 */
#ifndef AT_JSON_SCHEMA_H
#define AT_JSON_SCHEMA_H

#include "base/diag.h"

#include <jansson.h>

struct at_schema;

/* Compile schema (borrowed; the compiled form keeps its own deep copy, so
 * the caller may change or free its document afterwards).
 * Returns 0 and *out (free with at_schema_free), or AT_ESCHEMA with d
 * naming the JSON Pointer inside the schema of the bad keyword, e.g.
 * pointer "/properties/age/type", msg "unknown type \"int\"".  Recursion
 * and $ref cycles are bounded.  Thread-safe. */
int at_schema_new(const json_t *schema, struct at_schema **out, struct at_diag *d);
void at_schema_free(struct at_schema *s);

/* Borrowed: the schema document. Valid until at_schema_free. */
const json_t *at_schema_json(const struct at_schema *s);

/* Validate instance.  Returns 0, or AT_ESCHEMA with d->pointer the JSON
 * Pointer of the first failing value in the instance ("" for the root)
 * and d->msg a message that starts with that pointer (unless it is the
 * root) and names the keyword and the schema location, e.g. "/max_length
 * must be integer, got string (schema /properties/max_length/type)" or
 * "missing required property "name" (schema /required)" at the root.
 * Hostile input is bounded: an instance nested deeper than 512 levels, or
 * a validation that passes its work budget (exponential anyOf fan-out,
 * huge strings against a pattern), returns AT_E2BIG with d filled the same
 * way; callers should treat any nonzero result as "not accepted".
 * Thread-safe (s is immutable). */
int at_schema_validate(const struct at_schema *s, const json_t *instance, struct at_diag *d);

/* Fill in "default" values for absent properties of objects, recursively
 * through properties (and through a $ref / allOf that leads to properties,
 * and items / prefixItems for objects inside arrays), copying the default
 * value (json_deep_copy).  A default inserted is itself filled in, so
 * {"default": {}} with nested defaults works; nothing is inserted below
 * AT_JSON_MAX_DEPTH.  Call before validate.  Returns 0.  instance is
 * modified in place; s is not.  Not thread-safe for one instance. */
int at_schema_apply_defaults(const struct at_schema *s, json_t *instance);

/* Required property names at the top level of the schema (following $ref and
 * allOf), as a borrowed array of strings valid until at_schema_free, or NULL.
 * Used by chain validation and mediation. */
const json_t *at_schema_required(const struct at_schema *s);

#endif
