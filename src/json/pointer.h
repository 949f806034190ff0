/*
 * pointer.h - JSON Pointer (RFC 6901).
 */
#ifndef AT_JSON_POINTER_H
#define AT_JSON_POINTER_H

#include "base/buf.h"

#include <jansson.h>
#include <stddef.h>

/* Resolve ptr ("" is the whole document, "/a/0/b~1c") in root.  Returns a
 * borrowed reference or NULL when absent or malformed (no leading '/', a '~'
 * not followed by 0 or 1, an array index with a leading zero, or "-").
 * Thread-safe. */
json_t *at_jptr_get(const json_t *root, const char *ptr);

/* Append "/" + token escaped per RFC 6901 (~ -> ~0, / -> ~1) to b.
 * Returns 0 or AT_E2BIG (b's maximum; b is then left unchanged). */
int at_jptr_append(struct at_buf *b, const char *token);
/* The same for a token of len bytes (object keys may hold NUL bytes). */
int at_jptr_appendn(struct at_buf *b, const char *token, size_t len);
/* Append "/" + decimal index. */
int at_jptr_append_index(struct at_buf *b, size_t index);

#endif
