#include "base/utf8.h"

#include "base/buf.h"

#include <stdint.h>

/* Length of the valid sequence at s (1..4), or 0 if invalid (RFC 3629). */
static size_t seq_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

size_t at_utf8_valid_prefix(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = seq_len((const unsigned char *)s + i, len - i);
        if (!n)
            break;
        i += n;
    }
    return i;
}

char *at_utf8_sanitize(const char *s, size_t len)
{
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_buf_append(&b, "", 0);
    size_t i = 0;
    while (i < len) {
        size_t n = seq_len((const unsigned char *)s + i, len - i);
        if (!n) {
            at_buf_puts(&b, "\xef\xbf\xbd");
            i++;
        } else {
            if (!(n == 1 && s[i] == '\0'))
                at_buf_append(&b, s + i, n);
            i += n;
        }
    }
    return at_buf_detach(&b, NULL);
}
