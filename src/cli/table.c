/* table.c - the CLI's table printer (table.h): widths from the content, wrap, UTF-8 */
#include "cli/table.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decode one UTF-8 sequence at s (n bytes left): its length, or 0 when it
 * is not well-formed (RFC 3629 §4: no overlongs, no surrogates, at most
 * U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (!len || len > n || s[0] > 0xF4)
        return 0;
    uint32_t v = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Terminal columns of one code point: a small wcwidth (no locale needed)
 * covering the combining blocks and the East Asian Wide/Fullwidth ranges
 * (Unicode UAX #11) that names and descriptions meet in practice. */
static int cp_width(uint32_t c)
{
    static const uint32_t zero[][2] = {
        {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F},
        {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
        {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF},
    };
    static const uint32_t wide[][2] = {
        {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
        {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
        {0xA000, 0xA4CF},   {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
    };
    if (c < 0x300)
        return 1;
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
        if (c >= zero[i][0] && c <= zero[i][1])
            return 0;
    for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

size_t cli_text_width(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;
    while (len) {
        uint32_t c;
        size_t n = utf8_decode(p, len, &c);
        if (!n) {
            n = 1;
            c = '?';
        }
        w += (size_t)cp_width(c);
        p += n;
        len -= n;
    }
    return w;
}

/* A copy of s safe to print: well-formed UTF-8 without control characters
 * (a newline is kept as a line break, a tab becomes a space, a CR goes). */
static char *sanitise(const char *s)
{
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        uint32_t c;
        size_t n = utf8_decode(p, left, &c);
        if (!n) {
            at_buf_putc(&b, '?');
            n = 1;
        } else if (c == '\n') {
            at_buf_putc(&b, '\n');
        } else if (c == '\t') {
            at_buf_putc(&b, ' ');
        } else if (c == '\r') {
            /* dropped: CRLF text reads as LF */
        } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
            at_buf_putc(&b, '?');
        } else {
            at_buf_append(&b, p, n);
        }
        p += n;
        left -= n;
    }
    char *out = at_buf_detach(&b, NULL);
    return out ? out : at_strdup("");
}

void cli_table_init(struct cli_table *t, const struct cli_col *cols, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->cols = cols;
    t->ncols = ncols;
    t->sep = "  ";
    t->lead = "";
}

void cli_table_release(struct cli_table *t)
{
    for (size_t i = 0; t->cells && i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = t->filled = 0;
}

void cli_table_row(struct cli_table *t)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        t->cells = at_realloc(t->cells, cap * t->ncols * sizeof(char *));
        memset(t->cells + t->cap * t->ncols, 0, (cap - t->cap) * t->ncols * sizeof(char *));
        t->cap = cap;
    }
    t->nrows++;
    t->filled = 0;
}

void cli_table_cell(struct cli_table *t, const char *fmt, ...)
{
    if (!t->nrows)
        cli_table_row(t);
    if (t->filled >= t->ncols)
        return;
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    va_list ap;
    va_start(ap, fmt);
    at_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    t->cells[(t->nrows - 1) * t->ncols + t->filled++] = sanitise(at_buf_str(&b));
    at_buf_release(&b);
}

/* One physical line of a cell: bytes [off, off+len) and its width. */
struct seg {
    size_t off, len, width;
};

struct segs {
    struct seg *v;
    size_t n, cap;
};

static void seg_push(struct segs *s, size_t off, size_t len, size_t width)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->v = at_realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = (struct seg){off, len, width};
}

/* Split text into lines at newlines and, when max > 0, greedily at the last
 * space that keeps a line within max columns (a word longer than max is
 * broken between code points).  The space a line breaks at is dropped. */
static void wrap(const char *text, size_t max, struct segs *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), start = 0, i = 0, width = 0;
    size_t sp = SIZE_MAX, sp_width = 0; /* the last space in this line */
    out->n = 0;
    while (i < len) {
        if (s[i] == '\n') {
            seg_push(out, start, i - start, width);
            start = ++i;
            width = 0;
            sp = SIZE_MAX;
            continue;
        }
        uint32_t c;
        size_t n = utf8_decode(s + i, len - i, &c);
        if (!n) { /* not after sanitise(); counted as '?' all the same */
            n = 1;
            c = '?';
        }
        size_t w = (size_t)cp_width(c);
        if (max && width + w > max && i > start) {
            if (sp != SIZE_MAX) {
                seg_push(out, start, sp - start, sp_width);
                start = sp + 1;
                width -= sp_width + 1;
            } else {
                seg_push(out, start, i - start, width);
                start = i;
                width = 0;
            }
            sp = SIZE_MAX;
            continue; /* measure this code point again on the new line */
        }
        if (c == ' ' && i > start) {
            sp = i;
            sp_width = width;
        }
        width += w;
        i += n;
    }
    seg_push(out, start, len - start, width);
}

static void pad(struct at_buf *b, size_t n)
{
    while (n--)
        at_buf_putc(b, ' ');
}

/* The text of cell (r, c) of the printed table, whose row 0 is the header
 * when there is one. */
static const char *cell_text(const struct cli_table *t, int header, size_t r, size_t c)
{
    const char *s;
    if (header && r == 0)
        s = t->cols[c].head;
    else
        s = t->cells[(r - (size_t)header) * t->ncols + c];
    return s ? s : "";
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
    if (!t->ncols)
        return;
    int header = 0;
    for (size_t c = 0; c < t->ncols; c++)
        header |= t->cols[c].head != NULL;
    size_t rows = t->nrows + (size_t)header;
    /* every cell's lines first: the widths need all of them */
    struct segs *lines = at_calloc(rows * t->ncols, sizeof(*lines));
    size_t *width = at_calloc(t->ncols, sizeof(*width));
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            struct segs *s = &lines[r * t->ncols + c];
            /* a header is never wrapped: it is a floor on the width */
            wrap(cell_text(t, header, r, c), header && r == 0 ? 0 : t->cols[c].max, s);
            for (size_t k = 0; k < s->n; k++)
                if (s->v[k].width > width[c])
                    width[c] = s->v[k].width;
        }
    }
    struct at_buf line;
    at_buf_init(&line, AT_BUF_UNLIMITED);
    for (size_t r = 0; r < rows; r++) {
        size_t height = 1;
        for (size_t c = 0; c < t->ncols; c++)
            if (lines[r * t->ncols + c].n > height)
                height = lines[r * t->ncols + c].n;
        for (size_t k = 0; k < height; k++) {
            at_buf_clear(&line);
            at_buf_puts(&line, t->lead);
            for (size_t c = 0; c < t->ncols; c++) {
                const struct segs *s = &lines[r * t->ncols + c];
                const struct seg *g = k < s->n ? &s->v[k] : NULL;
                size_t gap = width[c] - (g ? g->width : 0);
                if (c)
                    at_buf_puts(&line, t->sep);
                if (t->cols[c].align == CLI_RIGHT)
                    pad(&line, gap);
                if (g)
                    at_buf_append(&line, cell_text(t, header, r, c) + g->off, g->len);
                if (t->cols[c].align != CLI_RIGHT)
                    pad(&line, gap);
            }
            /* no trailing blanks: the last columns may be empty */
            size_t n = line.len;
            while (n && line.p[n - 1] == ' ')
                n--;
            fwrite(line.p ? line.p : "", 1, n, f);
            fputc('\n', f);
        }
    }
    at_buf_release(&line);
    for (size_t i = 0; i < rows * t->ncols; i++)
        free(lines[i].v);
    free(lines);
    free(width);
}
