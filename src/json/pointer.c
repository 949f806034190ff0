/*
 * pointer.c - JSON Pointer (RFC 6901).
 */
#include "json/pointer.h"

#include "base/alloc.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Unescape one reference token (RFC 6901 §4: ~1 -> '/', ~0 -> '~', any other
 * '~' is malformed) into out, which has room for n bytes.  Returns the
 * unescaped length or (size_t)-1 when malformed. */
static size_t unescape_token(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '~') {
            out[o++] = p[i];
            continue;
        }
        if (i + 1 >= n || (p[i + 1] != '0' && p[i + 1] != '1'))
            return (size_t)-1;
        out[o++] = p[i + 1] == '0' ? '~' : '/';
        i++;
    }
    return o;
}

/* RFC 6901 §4: an array index is "0" or digits without a leading zero;
 * "-" (past the end) never names an existing element. */
static int parse_index(const char *t, size_t n, size_t *out)
{
    if (n == 0 || (n > 1 && t[0] == '0'))
        return -1;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return -1;
        if (v > ((size_t)-1 - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(t[i] - '0');
    }
    *out = v;
    return 0;
}

json_t *at_jptr_get(const json_t *root, const char *ptr)
{
    if (!root || !ptr)
        return NULL;
    const json_t *cur = root;
    const char *p = ptr;
    if (*p && *p != '/')
        return NULL;
    char small[256];
    while (*p && cur) {
        p++; /* the '/' */
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *tok = n < sizeof(small) ? small : at_malloc(n + 1);
        size_t tn = unescape_token(p, n, tok);
        if (tn != (size_t)-1 && json_is_object(cur)) {
            cur = json_object_getn(cur, tok, tn);
        } else if (tn != (size_t)-1 && json_is_array(cur)) {
            size_t idx;
            cur = parse_index(tok, tn, &idx) == 0 ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        if (tok != small)
            free(tok);
        p += n;
    }
    return (json_t *)cur;
}

int at_jptr_appendn(struct at_buf *b, const char *token, size_t len)
{
    size_t start = b->len;
    int rc = at_buf_putc(b, '/');
    size_t run = 0; /* bytes copied in one append between escapes */
    for (size_t i = 0; rc == 0 && i <= len; i++) {
        if (i < len && token[i] != '~' && token[i] != '/')
            continue;
        rc = at_buf_append(b, token + run, i - run);
        if (rc == 0 && i < len)
            rc = at_buf_append(b, token[i] == '~' ? "~0" : "~1", 2);
        run = i + 1;
    }
    if (rc != 0) {
        /* All or nothing, so a too-long pointer never ends in half a token. */
        b->len = start;
        if (b->p)
            b->p[start] = '\0';
    }
    return rc;
}

int at_jptr_append(struct at_buf *b, const char *token)
{
    return at_jptr_appendn(b, token, strlen(token));
}

int at_jptr_append_index(struct at_buf *b, size_t index)
{
    return at_buf_printf(b, "/%zu", index);
}
