/*
 * diag.h - located diagnostics for parsers and validators.
 *
 * A parser that fails fills a struct at_diag with the error code, the place
 * (file:line:col for text, a JSON Pointer for JSON values) and a message, so
 * the caller can print "agent.yaml:12:5: agent.version: ..." or return an
 * RFC 9457 problem naming the pointer.  Caller-embedded; zero it (or call
 * at_diag_clear) before use.  Not thread-safe.
 */
#ifndef AT_BASE_DIAG_H
#define AT_BASE_DIAG_H

#include <stddef.h>

struct at_diag {
    int code;          /* AT_E* of the failure; 0 when none */
    char file[512];    /* "" when not from a file */
    int line, col;     /* 1-based; 0 when unknown */
    char pointer[512]; /* JSON Pointer of the offending value; "" when n/a */
    char msg[1024];
};

void at_diag_clear(struct at_diag *d);

/* Fill d (when not NULL) and return code, so callers can write
 * `return at_diag_set(d, AT_EPARSE, file, line, col, "...")`. */
int at_diag_set(struct at_diag *d, int code, const char *file, int line, int col, const char *fmt,
                ...) __attribute__((format(printf, 6, 7)));

/* Set the JSON Pointer of d (truncated if too long). */
void at_diag_set_pointer(struct at_diag *d, const char *ptr);

/* "file:line:col: msg" (parts omitted when unknown; the pointer is added as
 * "at /a/b" when set).  Returns out. */
char *at_diag_format(const struct at_diag *d, char *out, size_t n);

#endif
