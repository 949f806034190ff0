/*
 * expr.h - the eval expression language: small, safe conditions over JSON
 * values, for `assertion` checks in the evals/ YAML files (docs/evals.md).
 *
 *   output.token_count <= input.max_length
 *   len(output.summary) > 0 && !contains(lower(output.summary), "lorem")
 *   output.url =~ "^https://" || output.tags[0] == "draft"
 *
 * Values are JSON values.  Operators, loosest first: `||`, `&&`, `==` `!=`,
 * `<` `<=` `>` `>=` `=~` (regex search), `+` `-`, `*` `/` `%`, unary `!`
 * `-`, then postfix field access `.name` and indexing `[expr]`.  Literals:
 * numbers, strings in single or double quotes, true, false, null.  Names
 * are variables given at evaluation (input, output, job); calls are to a
 * fixed table of functions (len, contains, matches, starts_with,
 * ends_with, lower, upper, abs, min, max, exists).
 *
 * Safety: no loops, no assignment, no side effects; the source is at most
 * AT_EXPR_MAX_LEN bytes, nests at most AT_EXPR_MAX_DEPTH deep and has at
 * most AT_EXPR_MAX_NODES nodes; regexes run on the linear-time engine of
 * json/regex.h with a step budget; evaluation time is linear in the size
 * of the expression and of the values it touches.
 */
#ifndef AT_JSON_EXPR_H
#define AT_JSON_EXPR_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

#define AT_EXPR_MAX_LEN 4096
#define AT_EXPR_MAX_DEPTH 64
#define AT_EXPR_MAX_NODES 1024
#define AT_EXPR_MAX_STRING (1u << 20) /* longest string a `+` may build */

struct at_expr;

/* Compile len bytes of source.  names, when not NULL, is the
 * NULL-terminated list of variable names the expression may use (others
 * are refused here, with their column).  Returns 0 and *out (free with
 * at_expr_free), or AT_EPARSE / AT_E2BIG with d->col the 1-based column
 * (in bytes) of the problem and d->msg saying what was expected.  Regex
 * literals given to `=~` or matches() are compiled here, so a bad pattern
 * is a located compile error.  Thread-safe. */
int at_expr_compile(const char *src, size_t len, const char *const *names, struct at_expr **out,
                    struct at_diag *d);
void at_expr_free(struct at_expr *e);

/* Evaluate with vars, an object of name -> value (borrowed).  Returns 0 and
 * *out (a new reference), or AT_EINVAL (a type error: comparing a string
 * with a number, len() of a number, division by zero...) or AT_ELIMIT (the
 * regex step budget ran out), with d->col naming the operator or call and
 * d->msg saying why.  Missing fields read as null.  Thread-safe: e is not
 * modified. */
int at_expr_eval(const struct at_expr *e, const json_t *vars, json_t **out, struct at_diag *d);

/* Truthiness: false, null, 0, "", [] and {} are false; everything else is
 * true. */
int at_expr_truthy(const json_t *v);

#endif
