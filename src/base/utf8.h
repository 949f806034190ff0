/*
 * utf8.h - UTF-8 checks for text that came from outside (agent stderr,
 * error messages) before it goes into JSON, which must be valid UTF-8.
 */
#ifndef AT_BASE_UTF8_H
#define AT_BASE_UTF8_H

#include <stddef.h>

/* Length of the longest prefix of s[0..len) that is valid UTF-8. */
size_t at_utf8_valid_prefix(const char *s, size_t len);
/* A valid UTF-8 copy of s[0..len): invalid bytes become U+FFFD and NUL
 * bytes are dropped.  Caller frees. */
char *at_utf8_sanitize(const char *s, size_t len);

#endif
