#include "base/buf.h"

#include "base/alloc.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_buf_init(struct at_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void at_buf_release(struct at_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void at_buf_clear(struct at_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static int grow(struct at_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return AT_E2BIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1 && need <= b->max + 1)
        cap = b->max + 1;
    b->p = at_realloc(b->p, cap);
    b->cap = cap;
    return 0;
}

int at_buf_append(struct at_buf *b, const void *p, size_t n)
{
    int rc = grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int at_buf_puts(struct at_buf *b, const char *s)
{
    return at_buf_append(b, s, strlen(s));
}

int at_buf_putc(struct at_buf *b, char c)
{
    return at_buf_append(b, &c, 1);
}

int at_buf_vprintf(struct at_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return AT_EINVAL;
    int rc = grow(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int at_buf_printf(struct at_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = at_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void at_buf_consume(struct at_buf *b, size_t n)
{
    if (n >= b->len) {
        at_buf_clear(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

char *at_buf_detach(struct at_buf *b, size_t *len)
{
    char *p = b->p ? b->p : at_strdup("");
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *at_buf_str(const struct at_buf *b)
{
    return b->p ? b->p : "";
}
