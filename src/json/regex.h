/*
 * regex.h - the ECMA-262 regular expression subset JSON Schema "pattern"
 * needs, matched by a Thompson NFA (Pike VM) over Unicode code points.
 *
 * Why our own engine: POSIX regcomp has another dialect (no \d \w \s, other
 * escapes), matches bytes unless the process locale is UTF-8, and glibc's
 * implementation can take exponential time on hostile patterns.  This one
 * runs in O(pattern x subject) time with no backtracking, so a hostile
 * pattern or string can only be slow up to the caller's work budget.
 *
 * Dialect (docs/internals/json.md has the full list): literals, ".", classes
 * "[a-z]" "[^...]", escapes \d \D \w \W \s \S \b \B \t \n \r \f \v \0 \cX
 * \xHH \uHHHH \u{H...} and escaped punctuation, anchors ^ $, groups (...)
 * (?:...) (?<name>...), alternation, quantifiers * + ? {n} {n,} {n,m} and
 * their lazy forms (same result: we only answer "is there a match").
 * Refused with an error: backreferences, lookahead/lookbehind, \p{...},
 * unknown letter escapes, flags.  No flags: ^ and $ anchor the whole
 * string, "." does not match line terminators.
 */
#ifndef AT_JSON_REGEX_H
#define AT_JSON_REGEX_H

#include "base/diag.h"

#include <stddef.h>

/* Longest pattern accepted, in bytes, and the most NFA instructions a
 * pattern may expand to (counted repetition copies its operand). */
#define AT_REGEX_MAX_LEN 8192
#define AT_REGEX_MAX_PROG 10000
#define AT_REGEX_MAX_NEST 64

struct at_regex;

/* Compile len bytes of UTF-8 pattern.  Returns 0 and *out (free with
 * at_regex_free), or AT_EPARSE / AT_E2BIG with d->col the 1-based column
 * (in characters) of the problem and d->msg naming it.  Thread-safe. */
int at_regex_new(const char *pat, size_t len, struct at_regex **out, struct at_diag *d);
void at_regex_free(struct at_regex *re);

/* Search len bytes of UTF-8 text s for a match anywhere (ECMA-262
 * RegExp.prototype.test without flags).  Invalid UTF-8 bytes count as
 * U+FFFD.  Each step of the NFA costs one unit of *fuel (NULL: a default
 * budget of 100 million steps).  Returns 1 (match), 0 (no match) or
 * AT_ELIMIT when the fuel ran out.  Thread-safe: re is not modified. */
int at_regex_search(const struct at_regex *re, const char *s, size_t len, unsigned long long *fuel);

#endif
