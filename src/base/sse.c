#include "base/sse.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>

void at_sse_parser_init(struct at_sse_parser *p, size_t max_event, at_sse_event_fn cb, void *arg)
{
    memset(p, 0, sizeof(*p));
    at_buf_init(&p->line, max_event);
    at_buf_init(&p->data, max_event);
    p->retry_ms = -1;
    p->cb = cb;
    p->arg = arg;
}

void at_sse_parser_release(struct at_sse_parser *p)
{
    at_buf_release(&p->line);
    at_buf_release(&p->data);
}

static int dispatch(struct at_sse_parser *p)
{
    int rc = 0;
    if (p->has_data) {
        /* the data buffer ends with a "\n" that is not part of the data */
        size_t len = p->data.len;
        if (len && p->data.p[len - 1] == '\n')
            len--;
        const char *d = p->data.p ? p->data.p : "";
        char saved = '\0';
        if (p->data.p)
            saved = p->data.p[len];
        if (p->data.p)
            p->data.p[len] = '\0';
        rc = p->cb(p->arg, p->event[0] ? p->event : "message", d, len, p->id);
        if (p->data.p)
            p->data.p[len] = saved;
    }
    at_buf_clear(&p->data);
    p->event[0] = '\0';
    p->has_data = 0;
    return rc;
}

static int process_line(struct at_sse_parser *p, const char *l, size_t n)
{
    if (n == 0)
        return dispatch(p);
    if (l[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl && *v == ' ') {
        v++;
        vl--;
    }
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        if (at_buf_append(&p->data, v, vl) || at_buf_putc(&p->data, '\n'))
            return AT_E2BIG;
        p->has_data = 1;
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        snprintf(p->event, sizeof(p->event), "%.*s", (int)vl, v);
    } else if (fl == 2 && memcmp(l, "id", 2) == 0) {
        if (!memchr(v, '\0', vl))
            snprintf(p->id, sizeof(p->id), "%.*s", (int)vl, v);
    } else if (fl == 5 && memcmp(l, "retry", 5) == 0) {
        /* only ASCII digits set the reconnection time; anything else is
         * ignored (9 digits at most: no overflow) */
        long ms = 0;
        size_t k = 0;
        while (k < vl && k < 10 && v[k] >= '0' && v[k] <= '9')
            ms = ms * 10 + (v[k++] - '0');
        if (vl > 0 && k == vl && vl <= 9)
            p->retry_ms = ms;
    } /* unknown fields are ignored */
    return 0;
}

int at_sse_feed(struct at_sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0;
    if (!p->bom_checked && len > 0) {
        if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
            i = 3;
        p->bom_checked = 1;
    }
    for (; i < len; i++) {
        char c = buf[i];
        if (c == '\n' && p->last_cr) {
            p->last_cr = 0;
            continue; /* CRLF: the CR already ended the line */
        }
        p->last_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            int rc = process_line(p, p->line.p ? p->line.p : "", p->line.len);
            at_buf_clear(&p->line);
            if (rc)
                return rc;
            continue;
        }
        if (at_buf_putc(&p->line, c))
            return AT_E2BIG;
    }
    return 0;
}

int at_sse_write(struct at_buf *out, const char *event, const char *id, const char *data,
                 size_t len)
{
    int rc = 0;
    if (id)
        rc |= at_buf_printf(out, "id: %s\n", id);
    if (event)
        rc |= at_buf_printf(out, "event: %s\n", event);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || data[i] == '\n') {
            rc |= at_buf_puts(out, "data: ");
            rc |= at_buf_append(out, data + start, i - start);
            rc |= at_buf_putc(out, '\n');
            start = i + 1;
        }
    }
    rc |= at_buf_putc(out, '\n');
    return rc ? AT_E2BIG : 0;
}
