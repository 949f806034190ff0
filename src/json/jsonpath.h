/*
 * jsonpath.h - JSONPath (RFC 9535) subset used by chains and triggers.
 *
 * Supported: root "$", member ".name" and "['name']" / ["name"], index
 * "[0]" and negative "[-1]", wildcard ".*" / "[*]", slices "[1:3]" /
 * "[::2]", unions "[0,1]" / "['a','b']", descendants "..name" / "..*" /
 * "..[0]", and filters "[?@.x == 1]" with comparisons (== != < <= > >=),
 * && || ! and parentheses, existence tests "[?@.x]", literals (numbers,
 * 'strings', true, false, null) and relative (@) / absolute ($) singular
 * queries.  Paths are parsed once (at_jsonpath_new) and evaluated many times.
 */
#ifndef AT_JSON_JSONPATH_H
#define AT_JSON_JSONPATH_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

/* Limits: expression length in bytes, nesting of brackets and parentheses,
 * nodes held while evaluating, and evaluation work (selector steps). */
#define AT_JSONPATH_MAX_LEN 4096
#define AT_JSONPATH_MAX_NEST 64
#define AT_JSONPATH_MAX_NODES (1u << 20)
#define AT_JSONPATH_MAX_WORK 50000000ULL

struct at_jsonpath;

/* Parse expr.  Returns 0 and *out (free with at_jsonpath_free), or
 * AT_EPARSE with d->col the 1-based column (in characters) of the error in
 * expr and d->msg what was expected.  Input length (AT_JSONPATH_MAX_LEN) and
 * nesting (AT_JSONPATH_MAX_NEST) are bounded: past them AT_E2BIG, located
 * the same way.  Function extensions (length(), match() ...) are refused
 * with AT_EPARSE.  Thread-safe. */
int at_jsonpath_new(const char *expr, struct at_jsonpath **out, struct at_diag *d);
void at_jsonpath_free(struct at_jsonpath *p);

/* 1 when the path can select at most one node (only member names and
 * indices), per RFC 9535 "singular query". */
int at_jsonpath_is_singular(const struct at_jsonpath *p);

/* Evaluate on root.  Returns a new reference to a JSON array of the
 * selected nodes (in document order; possibly empty); the array holds
 * references to root's own nodes, not copies.  NULL when evaluation passes
 * AT_JSONPATH_MAX_NODES or AT_JSONPATH_MAX_WORK (e.g. "$..*..*..*" on a
 * large document).  Thread-safe (jansson's reference counts are atomic). */
json_t *at_jsonpath_query(const struct at_jsonpath *p, const json_t *root);

/* For singular paths: a new reference to the one selected node, or NULL
 * when nothing is selected.  For other paths: the array as from query. */
json_t *at_jsonpath_value(const struct at_jsonpath *p, const json_t *root);

/* The leading member names of the path, for static checks: e.g. for
 * "$.steps[1].output.x" the segments are "steps", 1, "output", "x".  Writes
 * at most max items into segs as borrowed strings (indices as decimal
 * strings) and returns the count of leading simple segments (names or
 * indices) before the first wildcard/slice/filter/descendant.  A negative
 * index or a union also ends the prefix (neither is a static position). */
size_t at_jsonpath_prefix(const struct at_jsonpath *p, const char **segs, size_t max);

#endif
