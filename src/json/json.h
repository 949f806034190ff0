/*
 * json.h - helpers over jansson: bounded parsing with located errors,
 * compact serialisation.
 */
#ifndef AT_JSON_JSON_H
#define AT_JSON_JSON_H

#include "base/buf.h"
#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

#define AT_JSON_MAX_DEPTH 128

/* Parse len bytes of JSON text (any value, not only objects).  Rejects
 * duplicate object keys, nesting deeper than max_depth (0 means
 * AT_JSON_MAX_DEPTH) and trailing garbage.  On failure returns AT_EPARSE
 * (or AT_E2BIG for depth) and fills d with line/col (1-based) and message.
 * On success *out is a new reference (caller json_decref's).  Thread-safe. */
int at_json_parse(const char *buf, size_t len, size_t max_depth, json_t **out, struct at_diag *d);

/* Flags for at_json_parse_flags. */
#define AT_JSON_ALLOW_NUL 1 /* accept "\u0000" in strings (jansson's JSON_ALLOW_NUL) */

/* As at_json_parse, with flags.  AT_JSON_ALLOW_NUL is for text whose
 * strings are carried as data, never used as C strings (agent output,
 * values Atlas stored itself): read such strings with json_string_length.
 * Identifiers (names, ids, paths) must never come from a parse that allows
 * NUL, or "a\u0000b" would read as "a".  Thread-safe. */
int at_json_parse_flags(const char *buf, size_t len, size_t max_depth, int flags, json_t **out,
                        struct at_diag *d);

/* Compact serialisation (no spaces, keys in insertion order) into a fresh
 * heap string; caller frees.  Never NULL for a valid value. */
char *at_json_dumps(const json_t *v);

/* Append the compact serialisation of v to b; AT_E2BIG if b's maximum
 * would be passed. */
int at_json_dump_buf(const json_t *v, struct at_buf *b);

/* An RFC 9457 problem object for an AT_E* code: "type"
 * (urn:atlas:error:<slug>), "title", "status", and "detail" (made valid
 * UTF-8) and "pointer" when not NULL.  New reference. */
json_t *at_json_problem(int code, const char *detail, const char *pointer);

/* The JSON Schema name of v's type: "object", "array", "string", "integer",
 * "number", "boolean" or "null".  Static storage. */
const char *at_json_type_name(const json_t *v);

/* Borrowed getters that return fallback when the key is absent or has
 * another type. */
const char *at_json_str(const json_t *obj, const char *key, const char *fallback);
long long at_json_int(const json_t *obj, const char *key, long long fallback);
int at_json_bool(const json_t *obj, const char *key, int fallback);

/* 1 when v is a JSON integer or a real with no fractional part (JSON Schema
 * counts 1.0 as an integer), else 0.  Thread-safe. */
int at_json_is_integral(const json_t *v);

/* Exact order of two numbers (integer or real, mixed): -1, 0 or 1, with no
 * rounding of 64-bit integers through double.  Non-numbers compare as 0.
 * Thread-safe. */
int at_json_num_cmp(const json_t *a, const json_t *b);

/* JSON equality as JSON Schema (enum, const, uniqueItems) and RFC 9535
 * comparisons define it: numbers by value (1 == 1.0), objects regardless of
 * member order, arrays element-wise.  Values nested deeper than
 * AT_JSON_EQUAL_MAX_DEPTH compare unequal rather than recursing further.
 * Returns 1 or 0.  Thread-safe. */
#define AT_JSON_EQUAL_MAX_DEPTH 1024
int at_json_equal(const json_t *a, const json_t *b);

/* Nesting depth of v (a scalar is 0, [1] is 1), counting at most limit + 1:
 * a result > limit means "deeper than limit" without walking further down.
 * Bounded recursion.  Thread-safe. */
size_t at_json_depth(const json_t *v, size_t limit);

#endif
