/*
 * jsonpath.c - JSONPath (RFC 9535) subset: a recursive-descent parser to
 * segments and selectors, and an evaluator over jansson values.
 *
 * Parsing recursion is bounded by AT_JSONPATH_MAX_NEST (brackets and
 * parentheses), which also bounds evaluation recursion; descendant
 * segments walk the document with an explicit stack, so a deep document
 * cannot exhaust the C stack.  Evaluation has a work budget and a result
 * size cap so that "$..*..*..*" on a large document ends.
 */
#include "json/jsonpath.h"

#include "base/alloc.h"
#include "base/err.h"
#include "json/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9535 §2.1: integers in paths are I-JSON exact integers. */
#define JP_MAX_INT 9007199254740991LL

enum sel_kind { SEL_NAME, SEL_INDEX, SEL_WILD, SEL_SLICE, SEL_FILTER };

struct jp_expr;

struct jp_sel {
    int kind;
    char *name; /* SEL_NAME: the member name; SEL_INDEX: the index as text */
    size_t name_len;
    long long index;
    long long start, end, step; /* SEL_SLICE */
    int has_start, has_end;
    struct jp_expr *filter;
};

struct jp_seg {
    int descendant;
    size_t nsel;
    struct jp_sel *sel;
};

struct jp_query {
    int relative; /* @ rather than $ */
    size_t nseg;
    struct jp_seg *seg;
};

enum expr_kind { EX_OR, EX_AND, EX_NOT, EX_CMP, EX_TEST };
enum cmp_op { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct jp_operand {
    json_t *lit;        /* a literal, or NULL */
    struct jp_query *q; /* a singular query, or NULL */
};

struct jp_expr {
    int kind;
    struct jp_expr *a, *b; /* EX_OR, EX_AND: both; EX_NOT: a */
    int op;
    struct jp_operand l, r; /* EX_CMP */
    struct jp_query *q;     /* EX_TEST */
};

struct at_jsonpath {
    struct jp_query q;
    int singular;
    const char **prefix; /* borrowed from the selectors */
    size_t nprefix;
};

/* ---- freeing ---- */

static void free_query(struct jp_query *q);

static void free_expr(struct jp_expr *e)
{
    if (!e)
        return;
    free_expr(e->a);
    free_expr(e->b);
    json_decref(e->l.lit);
    json_decref(e->r.lit);
    if (e->l.q) {
        free_query(e->l.q);
        free(e->l.q);
    }
    if (e->r.q) {
        free_query(e->r.q);
        free(e->r.q);
    }
    if (e->q) {
        free_query(e->q);
        free(e->q);
    }
    free(e);
}

static void free_query(struct jp_query *q)
{
    for (size_t i = 0; i < q->nseg; i++) {
        for (size_t k = 0; k < q->seg[i].nsel; k++) {
            free(q->seg[i].sel[k].name);
            free_expr(q->seg[i].sel[k].filter);
        }
        free(q->seg[i].sel);
    }
    free(q->seg);
    q->seg = NULL;
    q->nseg = 0;
}

void at_jsonpath_free(struct at_jsonpath *p)
{
    if (!p)
        return;
    free_query(&p->q);
    free(p->prefix);
    free(p);
}

/* ---- parsing ---- */

struct jp_parser {
    const char *s;
    size_t n, pos;
    int depth;
    int err;
    struct at_diag *d;
};

__attribute__((format(printf, 4, 5))) static int perr(struct jp_parser *p, size_t at, int code,
                                                      const char *fmt, ...)
{
    if (p->err)
        return p->err;
    p->err = code;
    if (!p->d)
        return code;
    int col = 1;
    for (size_t i = 0; i < at && i < p->n; i++)
        col += ((unsigned char)p->s[i] & 0xC0) != 0x80;
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    at_diag_set(p->d, code, NULL, 1, col, "%s", msg);
    return code;
}

static int peek(const struct jp_parser *p)
{
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

/* RFC 9535 §2.1.1 blank space: space, tab, LF, CR. */
static void skip_blank(struct jp_parser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

static int name_first(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int name_char(int c)
{
    return name_first(c) || (c >= '0' && c <= '9');
}

static struct jp_sel *add_sel(struct jp_seg *seg)
{
    seg->sel = at_realloc(seg->sel, (seg->nsel + 1) * sizeof(*seg->sel));
    struct jp_sel *s = &seg->sel[seg->nsel++];
    memset(s, 0, sizeof(*s));
    s->step = 1;
    return s;
}

static int enter(struct jp_parser *p)
{
    if (++p->depth > AT_JSONPATH_MAX_NEST)
        return perr(p, p->pos, AT_E2BIG, "nested deeper than %d brackets or parentheses",
                    AT_JSONPATH_MAX_NEST);
    return 0;
}

/* RFC 9535 §2.3.3.1 int: "0" or an optional "-" and digits without a
 * leading zero; "-0" is not an index. */
static int parse_int(struct jp_parser *p, long long *out)
{
    size_t start = p->pos;
    int neg = 0;
    if (peek(p) == '-') {
        neg = 1;
        p->pos++;
    }
    if (peek(p) < '0' || peek(p) > '9')
        return perr(p, start, AT_EPARSE, "expected an integer");
    if (peek(p) == '0' &&
        (neg || (p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')))
        return perr(p, start, AT_EPARSE, "integers have no leading zeros (and no -0)");
    long long v = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
        v = v * 10 + (peek(p) - '0');
        if (v > JP_MAX_INT)
            return perr(p, start, AT_EPARSE, "integer out of range (+-2^53-1)");
        p->pos++;
    }
    *out = neg ? -v : v;
    return 0;
}

static void put_utf8(char *out, size_t *o, uint32_t c)
{
    if (c < 0x80) {
        out[(*o)++] = (char)c;
    } else if (c < 0x800) {
        out[(*o)++] = (char)(0xC0 | (c >> 6));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (c >> 12));
        out[(*o)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (c >> 18));
        out[(*o)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    }
}

static long hex4(const struct jp_parser *p, size_t at)
{
    if (at + 4 > p->n)
        return -1;
    long v = 0;
    for (size_t i = at; i < at + 4; i++) {
        int c = (unsigned char)p->s[i], h;
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

/* RFC 9535 §2.3.1.1 string literal in ' or ".  Returns a new string. */
static char *parse_string(struct jp_parser *p, size_t *len)
{
    size_t open = p->pos;
    char q = p->s[p->pos++];
    char *out = at_malloc(p->n - p->pos + 1);
    size_t o = 0;
    for (;;) {
        if (p->pos >= p->n) {
            perr(p, open, AT_EPARSE, "unterminated string literal");
            goto fail;
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == (unsigned char)q) {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            perr(p, p->pos, AT_EPARSE, "control character in string literal (escape it)");
            goto fail;
        }
        if (c != '\\') {
            out[o++] = (char)c;
            p->pos++;
            continue;
        }
        size_t esc = p->pos++;
        int e = peek(p);
        p->pos++;
        switch (e) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case '/':
            out[o++] = '/';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case 'u': {
            long v = hex4(p, p->pos);
            if (v < 0) {
                perr(p, esc, AT_EPARSE, "\\u must be followed by 4 hex digits");
                goto fail;
            }
            p->pos += 4;
            if (v >= 0xDC00 && v <= 0xDFFF) {
                perr(p, esc, AT_EPARSE, "lone low surrogate in \\u escape");
                goto fail;
            }
            if (v >= 0xD800 && v <= 0xDBFF) {
                long lo = p->pos + 1 < p->n && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u'
                              ? hex4(p, p->pos + 2)
                              : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    perr(p, esc, AT_EPARSE, "high surrogate not followed by a low surrogate");
                    goto fail;
                }
                p->pos += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* Six escape bytes always cover the UTF-8 they encode. */
            put_utf8(out, &o, (uint32_t)v);
            break;
        }
        default:
            if (e == q) {
                out[o++] = q;
                break;
            }
            perr(p, esc, AT_EPARSE, "invalid escape in string literal");
            goto fail;
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
fail:
    free(out);
    return NULL;
}

static int parse_query(struct jp_parser *p, struct jp_query *q);
static struct jp_expr *parse_or(struct jp_parser *p);

static int parse_selector(struct jp_parser *p, struct jp_seg *seg)
{
    int c = peek(p);
    size_t at = p->pos;
    if (c == '\'' || c == '"') {
        size_t len;
        char *name = parse_string(p, &len);
        if (!name)
            return p->err;
        struct jp_sel *s = add_sel(seg);
        s->kind = SEL_NAME;
        s->name = name;
        s->name_len = len;
        return 0;
    }
    if (c == '*') {
        p->pos++;
        add_sel(seg)->kind = SEL_WILD;
        return 0;
    }
    if (c == '?') {
        p->pos++;
        skip_blank(p);
        struct jp_expr *e = parse_or(p);
        if (!e)
            return p->err;
        struct jp_sel *s = add_sel(seg);
        s->kind = SEL_FILTER;
        s->filter = e;
        return 0;
    }
    if (c == '-' || c == ':' || (c >= '0' && c <= '9')) {
        long long a = 0, b = 0, st = 1;
        int has_a = 0, has_b = 0;
        if (c != ':') {
            if (parse_int(p, &a))
                return p->err;
            has_a = 1;
            skip_blank(p);
            if (peek(p) != ':') {
                struct jp_sel *s = add_sel(seg);
                s->kind = SEL_INDEX;
                s->index = a;
                s->name = at_asprintf("%lld", a);
                s->name_len = strlen(s->name);
                return 0;
            }
        }
        p->pos++; /* first ':' */
        skip_blank(p);
        if (peek(p) == '-' || (peek(p) >= '0' && peek(p) <= '9')) {
            if (parse_int(p, &b))
                return p->err;
            has_b = 1;
            skip_blank(p);
        }
        if (peek(p) == ':') {
            p->pos++;
            skip_blank(p);
            if (peek(p) == '-' || (peek(p) >= '0' && peek(p) <= '9')) {
                if (parse_int(p, &st))
                    return p->err;
            }
        }
        struct jp_sel *s = add_sel(seg);
        s->kind = SEL_SLICE;
        s->start = a;
        s->end = b;
        s->step = st;
        s->has_start = has_a;
        s->has_end = has_b;
        return 0;
    }
    return perr(p, at, AT_EPARSE, "expected a selector: 'name', index, slice, * or ?filter");
}

static int parse_bracket(struct jp_parser *p, struct jp_seg *seg)
{
    size_t open = p->pos++;
    if (enter(p))
        return p->err;
    for (;;) {
        skip_blank(p);
        if (parse_selector(p, seg))
            return p->err;
        skip_blank(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']') {
            p->pos++;
            break;
        }
        return perr(p, p->pos < p->n ? p->pos : open, AT_EPARSE,
                    p->pos < p->n ? "expected , or ] in bracketed selection"
                                  : "missing ] to close bracketed selection");
    }
    p->depth--;
    return 0;
}

static int parse_segment(struct jp_parser *p, struct jp_query *q)
{
    q->seg = at_realloc(q->seg, (q->nseg + 1) * sizeof(*q->seg));
    struct jp_seg *seg = &q->seg[q->nseg++];
    memset(seg, 0, sizeof(*seg));
    if (peek(p) == '[')
        return parse_bracket(p, seg);
    /* '.' */
    p->pos++;
    if (peek(p) == '.') {
        seg->descendant = 1;
        p->pos++;
        if (peek(p) == '[')
            return parse_bracket(p, seg);
    }
    if (peek(p) == '*') {
        p->pos++;
        add_sel(seg)->kind = SEL_WILD;
        return 0;
    }
    if (!name_first(peek(p)))
        return perr(p, p->pos, AT_EPARSE,
                    "expected a member name or * after '%s' (use ['...'] for other names)",
                    seg->descendant ? ".." : ".");
    size_t start = p->pos;
    while (name_char(peek(p)))
        p->pos++;
    struct jp_sel *s = add_sel(seg);
    s->kind = SEL_NAME;
    s->name = at_strndup(p->s + start, p->pos - start);
    s->name_len = p->pos - start;
    return 0;
}

/* At '$' or '@': the identifier, then segments (blank space may precede
 * each segment, RFC 9535 §2.1.1). */
static int parse_query(struct jp_parser *p, struct jp_query *q)
{
    q->relative = p->s[p->pos] == '@';
    p->pos++;
    for (;;) {
        size_t save = p->pos;
        skip_blank(p);
        int c = peek(p);
        if (c != '.' && c != '[') {
            p->pos = save;
            return 0;
        }
        if (parse_segment(p, q))
            return p->err;
    }
}

static int query_singular(const struct jp_query *q)
{
    for (size_t i = 0; i < q->nseg; i++) {
        const struct jp_seg *s = &q->seg[i];
        if (s->descendant || s->nsel != 1 ||
            (s->sel[0].kind != SEL_NAME && s->sel[0].kind != SEL_INDEX))
            return 0;
    }
    return 1;
}

static struct jp_expr *new_expr(int kind)
{
    struct jp_expr *e = at_calloc(1, sizeof(*e));
    e->kind = kind;
    return e;
}

/* RFC 9535 §2.3.5.1 number literal. */
static json_t *parse_number(struct jp_parser *p)
{
    size_t start = p->pos;
    if (peek(p) == '-')
        p->pos++;
    if (peek(p) < '0' || peek(p) > '9') {
        perr(p, start, AT_EPARSE, "expected a number");
        return NULL;
    }
    if (peek(p) == '0' && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9') {
        perr(p, start, AT_EPARSE, "numbers have no leading zeros");
        return NULL;
    }
    while (peek(p) >= '0' && peek(p) <= '9')
        p->pos++;
    int is_int = 1;
    if (peek(p) == '.') {
        is_int = 0;
        p->pos++;
        if (peek(p) < '0' || peek(p) > '9') {
            perr(p, p->pos, AT_EPARSE, "expected digits after '.'");
            return NULL;
        }
        while (peek(p) >= '0' && peek(p) <= '9')
            p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        is_int = 0;
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (peek(p) < '0' || peek(p) > '9') {
            perr(p, p->pos, AT_EPARSE, "expected digits in exponent");
            return NULL;
        }
        while (peek(p) >= '0' && peek(p) <= '9')
            p->pos++;
    }
    char *text = at_strndup(p->s + start, p->pos - start);
    json_t *v = NULL;
    if (is_int) {
        errno = 0;
        long long x = strtoll(text, NULL, 10);
        if (errno == 0)
            v = json_integer(x);
    }
    if (!v) {
        double d = strtod(text, NULL);
        if (!isfinite(d))
            perr(p, start, AT_EPARSE, "number out of range");
        else
            v = json_real(d);
    }
    free(text);
    return v;
}

/* A comparable (RFC 9535 §2.3.5.1): a literal or a query.  Function
 * extensions are not part of the subset. */
static int parse_operand(struct jp_parser *p, struct jp_operand *o, size_t *q_at)
{
    int c = peek(p);
    size_t at = p->pos;
    *q_at = at;
    if (c == '@' || c == '$') {
        o->q = at_calloc(1, sizeof(*o->q));
        return parse_query(p, o->q);
    }
    if (c == '\'' || c == '"') {
        size_t len;
        char *s = parse_string(p, &len);
        if (!s)
            return p->err;
        o->lit = json_stringn_nocheck(s, len);
        free(s);
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        o->lit = parse_number(p);
        return o->lit ? 0 : p->err;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if (p->n - p->pos >= wl && memcmp(p->s + p->pos, words[i], wl) == 0 &&
            !name_char(p->pos + wl < p->n ? (unsigned char)p->s[p->pos + wl] : 0)) {
            p->pos += wl;
            o->lit = i == 0 ? json_true() : i == 1 ? json_false() : json_null();
            return 0;
        }
    }
    if (name_first(c)) {
        size_t i = p->pos;
        while (i < p->n && name_char((unsigned char)p->s[i]))
            i++;
        if (i < p->n && p->s[i] == '(')
            return perr(p, at, AT_EPARSE, "function extensions are not supported");
    }
    return perr(p, at, AT_EPARSE, "expected @, $, a literal, ! or ( in filter");
}

static int parse_cmp_op(struct jp_parser *p)
{
    static const struct {
        const char *text;
        int op;
    } ops[] = {{"==", CMP_EQ}, {"!=", CMP_NE}, {"<=", CMP_LE},
               {">=", CMP_GE}, {"<", CMP_LT},  {">", CMP_GT}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
        size_t l = strlen(ops[i].text);
        if (p->n - p->pos >= l && memcmp(p->s + p->pos, ops[i].text, l) == 0) {
            p->pos += l;
            return ops[i].op;
        }
    }
    return -1;
}

static struct jp_expr *parse_paren(struct jp_parser *p)
{
    size_t open = p->pos++;
    if (enter(p))
        return NULL;
    skip_blank(p);
    struct jp_expr *e = parse_or(p);
    if (!e)
        return NULL;
    skip_blank(p);
    if (peek(p) != ')') {
        free_expr(e);
        perr(p, p->pos < p->n ? p->pos : open, AT_EPARSE, "expected ) to close (");
        return NULL;
    }
    p->pos++;
    p->depth--;
    return e;
}

static struct jp_expr *parse_basic(struct jp_parser *p)
{
    skip_blank(p);
    if (peek(p) == '!' && !(p->pos + 1 < p->n && p->s[p->pos + 1] == '=')) {
        p->pos++;
        skip_blank(p);
        struct jp_expr *inner;
        if (peek(p) == '(') {
            inner = parse_paren(p);
        } else if (peek(p) == '@' || peek(p) == '$') {
            inner = new_expr(EX_TEST);
            inner->q = at_calloc(1, sizeof(*inner->q));
            if (parse_query(p, inner->q)) {
                free_expr(inner);
                return NULL;
            }
            size_t save = p->pos;
            skip_blank(p);
            if (parse_cmp_op(p) >= 0) {
                free_expr(inner);
                perr(p, save, AT_EPARSE, "! applies to a test, not a comparison: use !(...)");
                return NULL;
            }
            p->pos = save;
        } else {
            perr(p, p->pos, AT_EPARSE, "expected ( or a query after !");
            return NULL;
        }
        if (!inner)
            return NULL;
        struct jp_expr *e = new_expr(EX_NOT);
        e->a = inner;
        return e;
    }
    if (peek(p) == '(')
        return parse_paren(p);
    struct jp_expr *e = new_expr(EX_CMP);
    size_t lat, rat;
    if (parse_operand(p, &e->l, &lat)) {
        free_expr(e);
        return NULL;
    }
    size_t save = p->pos;
    skip_blank(p);
    int op = parse_cmp_op(p);
    if (op < 0) {
        p->pos = save;
        if (!e->l.q) {
            free_expr(e);
            perr(p, save, AT_EPARSE, "expected a comparison operator after the literal");
            return NULL;
        }
        /* An existence test: any query, singular or not. */
        e->kind = EX_TEST;
        e->q = e->l.q;
        e->l.q = NULL;
        return e;
    }
    e->op = op;
    skip_blank(p);
    if (parse_operand(p, &e->r, &rat)) {
        free_expr(e);
        return NULL;
    }
    if ((e->l.q && !query_singular(e->l.q)) || (e->r.q && !query_singular(e->r.q))) {
        size_t at = e->l.q && !query_singular(e->l.q) ? lat : rat;
        free_expr(e);
        perr(p, at, AT_EPARSE, "only singular queries (member names and indices) can be compared");
        return NULL;
    }
    return e;
}

static struct jp_expr *parse_and(struct jp_parser *p)
{
    struct jp_expr *a = parse_basic(p);
    while (a) {
        size_t save = p->pos;
        skip_blank(p);
        if (p->n - p->pos < 2 || memcmp(p->s + p->pos, "&&", 2) != 0) {
            p->pos = save;
            break;
        }
        p->pos += 2;
        struct jp_expr *b = parse_basic(p);
        if (!b) {
            free_expr(a);
            return NULL;
        }
        struct jp_expr *e = new_expr(EX_AND);
        e->a = a;
        e->b = b;
        a = e;
    }
    return a;
}

static struct jp_expr *parse_or(struct jp_parser *p)
{
    struct jp_expr *a = parse_and(p);
    while (a) {
        size_t save = p->pos;
        skip_blank(p);
        if (p->n - p->pos < 2 || memcmp(p->s + p->pos, "||", 2) != 0) {
            p->pos = save;
            break;
        }
        p->pos += 2;
        struct jp_expr *b = parse_and(p);
        if (!b) {
            free_expr(a);
            return NULL;
        }
        struct jp_expr *e = new_expr(EX_OR);
        e->a = a;
        e->b = b;
        a = e;
    }
    return a;
}

int at_jsonpath_new(const char *expr, struct at_jsonpath **out, struct at_diag *d)
{
    *out = NULL;
    if (!expr)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "no path");
    size_t n = strnlen(expr, AT_JSONPATH_MAX_LEN + 1);
    if (n > AT_JSONPATH_MAX_LEN)
        return at_diag_set(d, AT_E2BIG, NULL, 1, AT_JSONPATH_MAX_LEN + 1,
                           "path longer than %d bytes", AT_JSONPATH_MAX_LEN);
    struct jp_parser p = {.s = expr, .n = n, .d = d};
    struct at_jsonpath *jp = at_calloc(1, sizeof(*jp));
    if (peek(&p) != '$')
        perr(&p, 0, AT_EPARSE, "a path starts with $");
    else if (parse_query(&p, &jp->q) == 0 && p.pos < p.n)
        perr(&p, p.pos, AT_EPARSE, "unexpected '%c': expected . or [", p.s[p.pos]);
    if (p.err) {
        at_jsonpath_free(jp);
        return p.err;
    }
    jp->singular = query_singular(&jp->q);
    jp->prefix = at_calloc(jp->q.nseg ? jp->q.nseg : 1, sizeof(*jp->prefix));
    for (size_t i = 0; i < jp->q.nseg; i++) {
        const struct jp_seg *s = &jp->q.seg[i];
        if (s->descendant || s->nsel != 1)
            break;
        const struct jp_sel *sel = &s->sel[0];
        /* A name with a NUL byte cannot be a C string, and a negative index
         * is no static position: both end the prefix. */
        if (!((sel->kind == SEL_NAME && strlen(sel->name) == sel->name_len) ||
              (sel->kind == SEL_INDEX && sel->index >= 0)))
            break;
        jp->prefix[jp->nprefix++] = sel->name;
    }
    *out = jp;
    return 0;
}

int at_jsonpath_is_singular(const struct at_jsonpath *p)
{
    return p && p->singular;
}

size_t at_jsonpath_prefix(const struct at_jsonpath *p, const char **segs, size_t max)
{
    if (!p)
        return 0;
    for (size_t i = 0; i < p->nprefix && i < max; i++)
        segs[i] = p->prefix[i];
    return p->nprefix;
}

/* ---- evaluation ---- */

struct nodelist {
    const json_t **v;
    size_t n, cap;
};

struct ectx {
    const json_t *root;
    unsigned long long fuel;
    size_t nodes; /* nodes held in all live lists */
    int stop;     /* a limit was hit: the result is abandoned */
};

static int spend(struct ectx *c, unsigned long long units)
{
    if (c->stop || c->fuel < units) {
        c->stop = 1;
        return -1;
    }
    c->fuel -= units;
    return 0;
}

static void nl_push(struct ectx *c, struct nodelist *l, const json_t *v)
{
    if (c->stop)
        return;
    if (++c->nodes > AT_JSONPATH_MAX_NODES) {
        c->stop = 1;
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = at_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = v;
}

static void nl_release(struct ectx *c, struct nodelist *l)
{
    c->nodes -= l->n;
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int eval_expr(struct ectx *c, const struct jp_expr *e, const json_t *cur);

/* RFC 9535 §2.3.4.2.2 slice bounds. */
static void select_slice(struct ectx *c, const struct jp_sel *s, const json_t *arr,
                         struct nodelist *out)
{
    long long len = (long long)json_array_size(arr), step = s->step;
    if (step == 0)
        return;
    long long start = s->has_start ? s->start : (step > 0 ? 0 : len - 1);
    long long end = s->has_end ? s->end : (step > 0 ? len : -len - 1);
    long long ns = start >= 0 ? start : len + start;
    long long ne = end >= 0 ? end : len + end;
    if (step > 0) {
        long long lo = ns < 0 ? 0 : ns > len ? len : ns;
        long long hi = ne < 0 ? 0 : ne > len ? len : ne;
        for (long long i = lo; i < hi && !c->stop; i += step)
            if (spend(c, 1) == 0)
                nl_push(c, out, json_array_get(arr, (size_t)i));
    } else {
        long long hi = ns < -1 ? -1 : ns > len - 1 ? len - 1 : ns;
        long long lo = ne < -1 ? -1 : ne > len - 1 ? len - 1 : ne;
        for (long long i = hi; lo < i && !c->stop; i += step)
            if (spend(c, 1) == 0)
                nl_push(c, out, json_array_get(arr, (size_t)i));
    }
}

static void select_children(struct ectx *c, const struct jp_sel *s, const json_t *v,
                            struct nodelist *out)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && !c->stop; i++) {
            const json_t *e = json_array_get(v, i);
            if (spend(c, 1) == 0 && (s->kind == SEL_WILD || eval_expr(c, s->filter, e)))
                nl_push(c, out, e);
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (c->stop)
                break;
            if (spend(c, 1) == 0 && (s->kind == SEL_WILD || eval_expr(c, s->filter, m)))
                nl_push(c, out, m);
        }
    }
}

static void apply_selectors(struct ectx *c, const struct jp_seg *seg, const json_t *v,
                            struct nodelist *out)
{
    for (size_t i = 0; i < seg->nsel && !c->stop; i++) {
        const struct jp_sel *s = &seg->sel[i];
        if (spend(c, 1))
            return;
        switch (s->kind) {
        case SEL_NAME:
            if (json_is_object(v)) {
                const json_t *m = json_object_getn(v, s->name, s->name_len);
                if (m)
                    nl_push(c, out, m);
            }
            break;
        case SEL_INDEX:
            if (json_is_array(v)) {
                long long len = (long long)json_array_size(v);
                long long idx = s->index < 0 ? len + s->index : s->index;
                if (idx >= 0 && idx < len)
                    nl_push(c, out, json_array_get(v, (size_t)idx));
            }
            break;
        case SEL_SLICE:
            if (json_is_array(v))
                select_slice(c, s, v, out);
            break;
        default:
            select_children(c, s, v, out);
            break;
        }
    }
}

/* RFC 9535 §2.5.2.2: the selectors apply to the node and each descendant,
 * visited before its children and arrays in order.  An explicit stack
 * keeps C recursion flat whatever the document's depth. */
static void apply_descendants(struct ectx *c, const struct jp_seg *seg, const json_t *v,
                              struct nodelist *out)
{
    struct frame {
        const json_t *v;
        size_t idx;
        void *iter;
    } *st = NULL;
    size_t sp = 0, cap = 0;
    apply_selectors(c, seg, v, out);
    if (!json_is_array(v) && !json_is_object(v))
        return;
    cap = 16;
    st = at_malloc(cap * sizeof(*st));
    st[sp++] = (struct frame){v, 0, json_is_object(v) ? json_object_iter((json_t *)v) : NULL};
    while (sp > 0 && !c->stop) {
        struct frame *f = &st[sp - 1];
        const json_t *child = NULL;
        if (json_is_array(f->v)) {
            if (f->idx < json_array_size(f->v))
                child = json_array_get(f->v, f->idx++);
        } else if (f->iter) {
            child = json_object_iter_value(f->iter);
            f->iter = json_object_iter_next((json_t *)f->v, f->iter);
        }
        if (!child) {
            sp--;
            continue;
        }
        apply_selectors(c, seg, child, out);
        if (json_is_array(child) || json_is_object(child)) {
            if (sp == cap) {
                cap *= 2;
                st = at_realloc(st, cap * sizeof(*st));
            }
            st[sp++] = (struct frame){
                child, 0, json_is_object(child) ? json_object_iter((json_t *)child) : NULL};
        }
    }
    free(st);
}

/* Evaluate q from start into out (which the caller releases). */
static void eval_query(struct ectx *c, const struct jp_query *q, const json_t *start,
                       struct nodelist *out)
{
    struct nodelist cur = {0};
    nl_push(c, &cur, start);
    for (size_t i = 0; i < q->nseg && !c->stop; i++) {
        struct nodelist next = {0};
        for (size_t k = 0; k < cur.n && !c->stop; k++) {
            if (q->seg[i].descendant)
                apply_descendants(c, &q->seg[i], cur.v[k], &next);
            else
                apply_selectors(c, &q->seg[i], cur.v[k], &next);
        }
        nl_release(c, &cur);
        cur = next;
    }
    *out = cur;
}

/* The value of a comparable: a literal, the one node of a singular query,
 * or NULL for "Nothing" (the query selected no node). */
static const json_t *operand_value(struct ectx *c, const struct jp_operand *o, const json_t *cur)
{
    if (o->lit)
        return o->lit;
    struct nodelist l;
    eval_query(c, o->q, o->q->relative ? cur : c->root, &l);
    const json_t *v = l.n == 1 ? l.v[0] : NULL;
    nl_release(c, &l);
    return v;
}

/* RFC 9535 §2.3.5.2.2: < is defined for two numbers or two strings only. */
static int less(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return 0;
    if (json_is_number(a) && json_is_number(b))
        return at_json_num_cmp(a, b) < 0;
    if (json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        int r = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        return r < 0 || (r == 0 && la < lb);
    }
    return 0;
}

static int equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b; /* Nothing == Nothing */
    return at_json_equal(a, b);
}

static int eval_expr(struct ectx *c, const struct jp_expr *e, const json_t *cur)
{
    if (c->stop)
        return 0;
    switch (e->kind) {
    case EX_OR:
        return eval_expr(c, e->a, cur) || eval_expr(c, e->b, cur);
    case EX_AND:
        return eval_expr(c, e->a, cur) && eval_expr(c, e->b, cur);
    case EX_NOT:
        return !eval_expr(c, e->a, cur);
    case EX_TEST: {
        struct nodelist l;
        eval_query(c, e->q, e->q->relative ? cur : c->root, &l);
        int found = l.n > 0;
        nl_release(c, &l);
        return found;
    }
    default: {
        const json_t *a = operand_value(c, &e->l, cur);
        const json_t *b = operand_value(c, &e->r, cur);
        switch (e->op) {
        case CMP_EQ:
            return equal(a, b);
        case CMP_NE:
            return !equal(a, b);
        case CMP_LT:
            return less(a, b);
        case CMP_LE:
            return less(a, b) || equal(a, b);
        case CMP_GT:
            return less(b, a);
        default:
            return less(b, a) || equal(a, b);
        }
    }
    }
}

json_t *at_jsonpath_query(const struct at_jsonpath *p, const json_t *root)
{
    if (!p || !root)
        return NULL;
    struct ectx c = {.root = root, .fuel = AT_JSONPATH_MAX_WORK};
    struct nodelist l;
    eval_query(&c, &p->q, root, &l);
    json_t *arr = NULL;
    if (!c.stop) {
        arr = json_array();
        for (size_t i = 0; arr && i < l.n; i++)
            if (json_array_append(arr, (json_t *)l.v[i]) != 0) {
                json_decref(arr);
                arr = NULL;
            }
    }
    nl_release(&c, &l);
    return arr;
}

json_t *at_jsonpath_value(const struct at_jsonpath *p, const json_t *root)
{
    if (!p || !root)
        return NULL;
    if (!p->singular)
        return at_jsonpath_query(p, root);
    struct ectx c = {.root = root, .fuel = AT_JSONPATH_MAX_WORK};
    struct nodelist l;
    eval_query(&c, &p->q, root, &l);
    json_t *v = l.n == 1 && !c.stop ? json_incref((json_t *)l.v[0]) : NULL;
    nl_release(&c, &l);
    return v;
}
