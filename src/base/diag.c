#include "base/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void at_diag_clear(struct at_diag *d)
{
    if (d)
        memset(d, 0, sizeof(*d));
}

int at_diag_set(struct at_diag *d, int code, const char *file, int line, int col, const char *fmt,
                ...)
{
    if (!d)
        return code;
    d->code = code;
    snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
    d->line = line;
    d->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    return code;
}

void at_diag_set_pointer(struct at_diag *d, const char *ptr)
{
    if (d)
        snprintf(d->pointer, sizeof(d->pointer), "%s", ptr ? ptr : "");
}

char *at_diag_format(const struct at_diag *d, char *out, size_t n)
{
    size_t off = 0;
    out[0] = '\0';
#define AT__APPEND(...)                                                                            \
    do {                                                                                           \
        int w = snprintf(out + off, off < n ? n - off : 0, __VA_ARGS__);                           \
        if (w > 0)                                                                                 \
            off += (size_t)w;                                                                      \
        if (off >= n)                                                                              \
            off = n - 1;                                                                           \
    } while (0)
    if (d->file[0]) {
        AT__APPEND("%s:", d->file);
        if (d->line > 0) {
            AT__APPEND("%d:", d->line);
            if (d->col > 0)
                AT__APPEND("%d:", d->col);
        }
        AT__APPEND(" ");
    }
    AT__APPEND("%s", d->msg);
    if (d->pointer[0])
        AT__APPEND(" (at %s)", d->pointer);
#undef AT__APPEND
    return out;
}
