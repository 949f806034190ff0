/*
 * pointer.h - JSON Pointer (RFC 6901).
 */
#ifndef AT_JSON_POINTER_H
#define AT_JSON_POINTER_H

#include "base/buf.h"

#include <jansson.h>

/* Resolve ptr ("" is the whole document, "/a/0/b~1c") in root.  Returns a
 * borrowed reference or NULL when absent or malformed.  Thread-safe. */
json_t *at_jptr_get(const json_t *root, const char *ptr);

/* Append "/" + token escaped per RFC 6901 (~ -> ~0, / -> ~1) to b. */
int at_jptr_append(struct at_buf *b, const char *token);
/* Append "/" + decimal index. */
int at_jptr_append_index(struct at_buf *b, size_t index);

#endif
