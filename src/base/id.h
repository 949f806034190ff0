/*
 * id.h - sortable unique identifiers and random tokens.
 *
 * at_id_new writes "<prefix>_" + 26 Crockford-base32 characters: 48 bits of
 * wall-clock milliseconds then 80 random bits (the ULID layout), so ids sort
 * by creation time.  Within one millisecond the random part is incremented,
 * so ids from one process are strictly increasing.  Thread-safe.
 */
#ifndef AT_BASE_ID_H
#define AT_BASE_ID_H

#include <stddef.h>

#define AT_ID_MAX 48

/* out must hold AT_ID_MAX bytes; prefix is at most 8 characters. */
void at_id_new(const char *prefix, char *out);

/* A random URL-safe token of `bytes` random bytes, base64url without
 * padding, into out (at least bytes*4/3+2).  Thread-safe. */
void at_token_new(size_t bytes, char *out, size_t outlen);

#endif
