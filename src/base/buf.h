/*
 * buf.h - a bounded, growable byte buffer (curl's dynbuf, git's strbuf).
 *
 * struct at_buf is caller-embedded: at_buf_init(&b, max) then at_buf_release.
 * Appends fail with AT_E2BIG once the content would pass max bytes, so a
 * buffer fed by untrusted input can never grow without bound.  The content is
 * always NUL-terminated (the NUL is not counted in len).  Not thread-safe.
 */
#ifndef AT_BASE_BUF_H
#define AT_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct at_buf {
    char *p;
    size_t len;
    size_t cap;
    size_t max;
};

#define AT_BUF_UNLIMITED ((size_t)-1 / 2)

void at_buf_init(struct at_buf *b, size_t max);
void at_buf_release(struct at_buf *b);
/* Empty the buffer but keep its memory. */
void at_buf_clear(struct at_buf *b);
int at_buf_append(struct at_buf *b, const void *p, size_t n);
int at_buf_puts(struct at_buf *b, const char *s);
int at_buf_putc(struct at_buf *b, char c);
int at_buf_printf(struct at_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int at_buf_vprintf(struct at_buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes. */
void at_buf_consume(struct at_buf *b, size_t n);
/* Hand the content to the caller (free() it); the buffer is left empty. */
char *at_buf_detach(struct at_buf *b, size_t *len);
/* Borrow the content as a C string ("" when empty); valid until next change. */
const char *at_buf_str(const struct at_buf *b);

#endif
