/*
 * jsonpath_parse.c - JSONPath (RFC 9535 subset): a recursive-descent parser
 * from the path text to segments and selectors (jsonpath_int.h); string
 * literals go through the shared lexer (lex.h).
 *
 * Parsing recursion is bounded by AT_JSONPATH_MAX_NEST (brackets and
 * parentheses), which also bounds evaluation recursion (jsonpath_eval.c).
 */
#include "json/jsonpath.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/json.h"
#include "json/jsonpath_int.h"
#include "json/lex.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9535 §2.1: integers in paths are I-JSON exact integers. */
#define JP_MAX_INT 9007199254740991LL

/* ---- freeing ---- */

static void free_query(struct at__jp_query *q);

static void free_expr(struct at__jp_expr *e)
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

static void free_query(struct at__jp_query *q)
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
    int col = 1 + (int)at_lex_utf8_count(p->s, at < p->n ? at : p->n);
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
    p->pos = at_lex_skip_blank(p->s, p->n, p->pos);
}

static int name_first(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int name_char(int c)
{
    return name_first(c) || (c >= '0' && c <= '9');
}

static struct at__jp_sel *add_sel(struct at__jp_seg *seg)
{
    seg->sel = at_realloc(seg->sel, (seg->nsel + 1) * sizeof(*seg->sel));
    struct at__jp_sel *s = &seg->sel[seg->nsel++];
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

/* RFC 9535 §2.3.1.1 string literal in ' or " (lex.h).  Returns a new
 * string of *len bytes (it may hold NUL from \u0000), or NULL with the
 * error set. */
static char *parse_string(struct jp_parser *p, size_t *len)
{
    struct at_buf b;
    struct at_lex_err le;
    size_t end;
    at_buf_init(&b, p->n);
    int rc = at_lex_string(p->s, p->n, p->pos, AT_LEX_JSONPATH, &b, &end, &le);
    if (rc) {
        at_buf_release(&b);
        perr(p, le.at, rc, "%s", le.msg);
        return NULL;
    }
    p->pos = end;
    return at_buf_detach(&b, len);
}

static int parse_query(struct jp_parser *p, struct at__jp_query *q);
static struct at__jp_expr *parse_or(struct jp_parser *p);

static int parse_selector(struct jp_parser *p, struct at__jp_seg *seg)
{
    int c = peek(p);
    size_t at = p->pos;
    if (c == '\'' || c == '"') {
        size_t len;
        char *name = parse_string(p, &len);
        if (!name)
            return p->err;
        struct at__jp_sel *s = add_sel(seg);
        s->kind = AT__JP_SEL_NAME;
        s->name = name;
        s->name_len = len;
        return 0;
    }
    if (c == '*') {
        p->pos++;
        add_sel(seg)->kind = AT__JP_SEL_WILD;
        return 0;
    }
    if (c == '?') {
        p->pos++;
        skip_blank(p);
        struct at__jp_expr *e = parse_or(p);
        if (!e)
            return p->err;
        struct at__jp_sel *s = add_sel(seg);
        s->kind = AT__JP_SEL_FILTER;
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
                struct at__jp_sel *s = add_sel(seg);
                s->kind = AT__JP_SEL_INDEX;
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
        struct at__jp_sel *s = add_sel(seg);
        s->kind = AT__JP_SEL_SLICE;
        s->start = a;
        s->end = b;
        s->step = st;
        s->has_start = has_a;
        s->has_end = has_b;
        return 0;
    }
    return perr(p, at, AT_EPARSE, "expected a selector: 'name', index, slice, * or ?filter");
}

static int parse_bracket(struct jp_parser *p, struct at__jp_seg *seg)
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

static int parse_segment(struct jp_parser *p, struct at__jp_query *q)
{
    q->seg = at_realloc(q->seg, (q->nseg + 1) * sizeof(*q->seg));
    struct at__jp_seg *seg = &q->seg[q->nseg++];
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
        add_sel(seg)->kind = AT__JP_SEL_WILD;
        return 0;
    }
    if (!name_first(peek(p)))
        return perr(p, p->pos, AT_EPARSE,
                    "expected a member name or * after '%s' (use ['...'] for other names)",
                    seg->descendant ? ".." : ".");
    size_t start = p->pos;
    while (name_char(peek(p)))
        p->pos++;
    struct at__jp_sel *s = add_sel(seg);
    s->kind = AT__JP_SEL_NAME;
    s->name = at_strndup(p->s + start, p->pos - start);
    s->name_len = p->pos - start;
    return 0;
}

/* At '$' or '@': the identifier, then segments (blank space may precede
 * each segment, RFC 9535 §2.1.1). */
static int parse_query(struct jp_parser *p, struct at__jp_query *q)
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

static int query_singular(const struct at__jp_query *q)
{
    for (size_t i = 0; i < q->nseg; i++) {
        const struct at__jp_seg *s = &q->seg[i];
        if (s->descendant || s->nsel != 1 ||
            (s->sel[0].kind != AT__JP_SEL_NAME && s->sel[0].kind != AT__JP_SEL_INDEX))
            return 0;
    }
    return 1;
}

static struct at__jp_expr *new_expr(int kind)
{
    struct at__jp_expr *e = at_calloc(1, sizeof(*e));
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
static int parse_operand(struct jp_parser *p, struct at__jp_operand *o, size_t *q_at)
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
    } ops[] = {{"==", AT__JP_CMP_EQ}, {"!=", AT__JP_CMP_NE}, {"<=", AT__JP_CMP_LE},
               {">=", AT__JP_CMP_GE}, {"<", AT__JP_CMP_LT},  {">", AT__JP_CMP_GT}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
        size_t l = strlen(ops[i].text);
        if (p->n - p->pos >= l && memcmp(p->s + p->pos, ops[i].text, l) == 0) {
            p->pos += l;
            return ops[i].op;
        }
    }
    return -1;
}

static struct at__jp_expr *parse_paren(struct jp_parser *p)
{
    size_t open = p->pos++;
    if (enter(p))
        return NULL;
    skip_blank(p);
    struct at__jp_expr *e = parse_or(p);
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

static struct at__jp_expr *parse_basic(struct jp_parser *p)
{
    skip_blank(p);
    if (peek(p) == '!' && !(p->pos + 1 < p->n && p->s[p->pos + 1] == '=')) {
        p->pos++;
        skip_blank(p);
        struct at__jp_expr *inner;
        if (peek(p) == '(') {
            inner = parse_paren(p);
        } else if (peek(p) == '@' || peek(p) == '$') {
            inner = new_expr(AT__JP_EX_TEST);
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
        struct at__jp_expr *e = new_expr(AT__JP_EX_NOT);
        e->a = inner;
        return e;
    }
    if (peek(p) == '(')
        return parse_paren(p);
    struct at__jp_expr *e = new_expr(AT__JP_EX_CMP);
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
        e->kind = AT__JP_EX_TEST;
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

static struct at__jp_expr *parse_and(struct jp_parser *p)
{
    struct at__jp_expr *a = parse_basic(p);
    while (a) {
        size_t save = p->pos;
        skip_blank(p);
        if (p->n - p->pos < 2 || memcmp(p->s + p->pos, "&&", 2) != 0) {
            p->pos = save;
            break;
        }
        p->pos += 2;
        struct at__jp_expr *b = parse_basic(p);
        if (!b) {
            free_expr(a);
            return NULL;
        }
        struct at__jp_expr *e = new_expr(AT__JP_EX_AND);
        e->a = a;
        e->b = b;
        a = e;
    }
    return a;
}

static struct at__jp_expr *parse_or(struct jp_parser *p)
{
    struct at__jp_expr *a = parse_and(p);
    while (a) {
        size_t save = p->pos;
        skip_blank(p);
        if (p->n - p->pos < 2 || memcmp(p->s + p->pos, "||", 2) != 0) {
            p->pos = save;
            break;
        }
        p->pos += 2;
        struct at__jp_expr *b = parse_and(p);
        if (!b) {
            free_expr(a);
            return NULL;
        }
        struct at__jp_expr *e = new_expr(AT__JP_EX_OR);
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
        const struct at__jp_seg *s = &jp->q.seg[i];
        if (s->descendant || s->nsel != 1)
            break;
        const struct at__jp_sel *sel = &s->sel[0];
        /* A name with a NUL byte cannot be a C string, and a negative index
         * is no static position: both end the prefix. */
        if (!((sel->kind == AT__JP_SEL_NAME && strlen(sel->name) == sel->name_len) ||
              (sel->kind == AT__JP_SEL_INDEX && sel->index >= 0)))
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
