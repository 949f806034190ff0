/*
 * lex.h - the lexing shared by JSONPath (jsonpath.h) and the eval
 * expression language (expr.h): quoted string literals (both quote styles,
 * JSON's escapes, \uHHHH with surrogate pairs joined), UTF-8 encoding and
 * counting, and blank space.  One implementation, so an escape means the
 * same in a chain's JSONPath and in an eval condition.
 *
 * The two languages differ in two points, chosen by flags: RFC 9535
 * (JSONPath) lets a literal escape only its own quote and refuses raw
 * control characters; the expression language takes \' and \" in either
 * style, allows raw control characters and requires the literal to be
 * valid UTF-8.  Everything here is pure and thread-safe.
 */
#ifndef AT_JSON_LEX_H
#define AT_JSON_LEX_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

enum {
    /* \' only inside '...' and \" only inside "..." (RFC 9535 §2.3.1.1);
     * without it both are accepted in either style. */
    AT_LEX_OWN_QUOTE = 1u << 0,
    /* U+0000..U+001F must be escaped (RFC 9535 §2.3.1.1 "unescaped"). */
    AT_LEX_NO_CONTROL = 1u << 1,
    /* The literal's raw bytes must be valid UTF-8 (RFC 3629); escapes
     * always produce valid UTF-8 since lone surrogates are refused. */
    AT_LEX_UTF8 = 1u << 2,
};

/* The JSONPath and the expression dialects. */
#define AT_LEX_JSONPATH (AT_LEX_OWN_QUOTE | AT_LEX_NO_CONTROL)
#define AT_LEX_EXPR AT_LEX_UTF8

/* Where and why a literal was refused.  at is a byte offset into the
 * source: the opening quote (unterminated), the backslash (bad escape,
 * bad or lone surrogate), or the offending byte (control character,
 * invalid UTF-8).  Callers turn it into their column unit. */
struct at_lex_err {
    size_t at;
    char msg[96];
};

/* Decode the string literal whose opening quote (' or ") is s[pos], with
 * s[0..n) the whole source.  Escapes: \b \f \n \r \t \/ \\ \' \" and
 * \uHHHH; a high surrogate escape must be followed by a low one
 * ("\ud83d\ude00" is U+1F600), a lone surrogate is refused.  On success
 * returns 0, appends the decoded bytes to out (they may contain NUL from
 * \u0000) and sets *end to the index just past the closing quote.  The
 * decoded text is never longer than the literal, so an out bounded by n
 * cannot overflow.  On failure returns AT_EPARSE with err filled, or
 * AT_E2BIG when out's maximum is passed (err->at = pos); out then holds a
 * partial result.  Thread-safe. */
int at_lex_string(const char *s, size_t n, size_t pos, unsigned flags, struct at_buf *out,
                  size_t *end, struct at_lex_err *err);

/* The value of the 4 hex digits at s[at..at+4), or -1 when they are not 4
 * hex digits within s[0..n). */
long at_lex_hex4(const char *s, size_t n, size_t at);

/* Write code point cp (at most 0x10FFFF, not a surrogate) as UTF-8 into
 * out; returns the byte count (1-4). */
size_t at_lex_utf8_put(char out[4], uint32_t cp);

/* Number of code points in s[0..n) (bytes that are not UTF-8 continuation
 * bytes): lengths of UTF-8 strings, and columns in characters
 * (1 + at_lex_utf8_count(src, offset)). */
size_t at_lex_utf8_count(const char *s, size_t n);

/* Index of the first byte at or after pos that is not blank space (space,
 * tab, LF, CR: RFC 9535 §2.1.1, and the expression language's). */
size_t at_lex_skip_blank(const char *s, size_t n, size_t pos);

#endif
