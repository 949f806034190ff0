/*
 * str.h - length-carrying string views for text that came from outside.
 * A view borrows its bytes; it is valid as long as the bytes are.
 */
#ifndef AT_BASE_STR_H
#define AT_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct at_str {
    const char *p;
    size_t len;
};

#define AT_STR_LIT(s) ((struct at_str){(s), sizeof(s) - 1})

static inline struct at_str at_str_of(const char *s)
{
    return (struct at_str){s, s ? strlen(s) : 0};
}

static inline bool at_str_eq(struct at_str a, struct at_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool at_str_eq_cstr(struct at_str a, const char *s)
{
    return at_str_eq(a, at_str_of(s));
}

static inline bool at_str_starts_with(struct at_str a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.p, prefix, n) == 0;
}

/* One HTTP header line as libcurl hands it over ("Name: value\r\n", not
 * NUL-terminated): when its name is `name` (case-insensitive, no colon),
 * copy the value without surrounding blanks into dst (truncated to cap - 1)
 * and return 1; else return 0 and leave dst alone. */
int at_header_value(const char *line, size_t len, const char *name, char *dst, size_t cap);

/* Parse a decimal integer in [min, max]; whole string must be consumed.
 * Returns 0 or AT_EINVAL. (The safe replacement for atoi.) */
int at_parse_i64(const char *s, long long min, long long max, long long *out);

/* Parse "A-B" (decimals: A >= 0, B >= -1, as in the OCI upload's Range and
 * Content-Range headers, "0--1" for nothing yet; blanks around are
 * allowed).  0 or AT_EINVAL. */
int at_parse_range(const char *s, long long *a, long long *b);

#endif
