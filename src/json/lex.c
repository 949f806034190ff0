/*
 * lex.c - string literals, UTF-8 and blank space for JSONPath and the eval
 * expression language (lex.h).
 */
#include "json/lex.h"

#include "base/err.h"
#include "base/utf8.h"

#include <stdio.h>
#include <string.h>

static int lex_fail(struct at_lex_err *err, size_t at, int code, const char *msg)
{
    if (err) {
        err->at = at;
        snprintf(err->msg, sizeof(err->msg), "%s", msg);
    }
    return code;
}

long at_lex_hex4(const char *s, size_t n, size_t at)
{
    if (at > n || n - at < 4)
        return -1;
    long v = 0;
    for (size_t i = at; i < at + 4; i++) {
        int c = (unsigned char)s[i], h;
        if (c >= '0' && c <= '9')
            h = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            h = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + h;
    }
    return v;
}

size_t at_lex_utf8_put(char out[4], uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

size_t at_lex_utf8_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

size_t at_lex_skip_blank(const char *s, size_t n, size_t pos)
{
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
        pos++;
    return pos;
}

/* The \u escape at s[esc] (the backslash): one code point, or a surrogate
 * pair written as two escapes (RFC 8259 §7, RFC 9535 §2.3.1.1). */
static int lex_unicode(const char *s, size_t n, size_t esc, uint32_t *cp, size_t *next,
                       struct at_lex_err *err)
{
    long v = at_lex_hex4(s, n, esc + 2);
    if (v < 0)
        return lex_fail(err, esc, AT_EPARSE, "\\u must be followed by 4 hex digits");
    size_t i = esc + 6;
    if (v >= 0xDC00 && v <= 0xDFFF)
        return lex_fail(err, esc, AT_EPARSE, "lone low surrogate in \\u escape");
    if (v >= 0xD800 && v <= 0xDBFF) {
        long lo = i + 1 < n && s[i] == '\\' && s[i + 1] == 'u' ? at_lex_hex4(s, n, i + 2) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return lex_fail(err, esc, AT_EPARSE,
                            "high surrogate not followed by a low surrogate (\\uDC00-\\uDFFF)");
        i += 6;
        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
    }
    *cp = (uint32_t)v;
    *next = i;
    return 0;
}

int at_lex_string(const char *s, size_t n, size_t pos, unsigned flags, struct at_buf *out,
                  size_t *end, struct at_lex_err *err)
{
    const size_t open = pos;
    const char q = s[pos++];
    for (;;) {
        if (pos >= n)
            return lex_fail(err, open, AT_EPARSE, "unterminated string literal");
        unsigned char c = (unsigned char)s[pos];
        if (c == (unsigned char)q) {
            *end = pos + 1;
            return 0;
        }
        if (c < 0x20 && (flags & AT_LEX_NO_CONTROL))
            return lex_fail(err, pos, AT_EPARSE, "control character in string literal (escape it)");
        if (c >= 0x80 && (flags & AT_LEX_UTF8)) {
            size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            size_t have = n - pos < want ? n - pos : want;
            if (at_utf8_valid_prefix(s + pos, have) != want)
                return lex_fail(err, pos, AT_EPARSE, "string literal is not valid UTF-8");
            if (at_buf_append(out, s + pos, want))
                return lex_fail(err, open, AT_E2BIG, "string literal too long");
            pos += want;
            continue;
        }
        if (c != '\\') {
            if (at_buf_putc(out, (char)c))
                return lex_fail(err, open, AT_E2BIG, "string literal too long");
            pos++;
            continue;
        }
        const size_t esc = pos;
        if (esc + 1 >= n)
            return lex_fail(err, open, AT_EPARSE, "unterminated string literal");
        char e = s[esc + 1];
        char one[4];
        size_t len = 1;
        pos = esc + 2;
        switch (e) {
        case 'b':
            one[0] = '\b';
            break;
        case 'f':
            one[0] = '\f';
            break;
        case 'n':
            one[0] = '\n';
            break;
        case 'r':
            one[0] = '\r';
            break;
        case 't':
            one[0] = '\t';
            break;
        case '/':
        case '\\':
            one[0] = e;
            break;
        case '\'':
        case '"':
            if ((flags & AT_LEX_OWN_QUOTE) && e != q)
                goto bad_escape;
            one[0] = e;
            break;
        case 'u': {
            uint32_t cp;
            int rc = lex_unicode(s, n, esc, &cp, &pos, err);
            if (rc)
                return rc;
            len = at_lex_utf8_put(one, cp);
            break;
        }
        default:
            goto bad_escape;
        }
        if (at_buf_append(out, one, len))
            return lex_fail(err, open, AT_E2BIG, "string literal too long");
        continue;
    bad_escape:;
        char msg[64];
        if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7f)
            snprintf(msg, sizeof(msg), "invalid escape \\%c in string literal", e);
        else
            snprintf(msg, sizeof(msg), "invalid escape in string literal");
        return lex_fail(err, esc, AT_EPARSE, msg);
    }
}
