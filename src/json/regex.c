/*
 * regex.c - ECMA-262 regex subset: a recursive-descent parser to a small
 * AST, a code generator to Pike VM instructions (Russ Cox, "Regular
 * Expression Matching: the Virtual Machine Approach"), and a matcher that
 * advances every NFA thread one code point at a time.  No captures are
 * tracked because JSON Schema only asks whether a match exists, which also
 * makes greedy and lazy quantifiers (and leftmost-first vs longest) equal.
 */
#include "json/regex.h"

#include "base/alloc.h"
#include "base/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum rx_op {
    OP_CHAR,
    OP_ANY,
    OP_CLASS,
    OP_SPLIT,
    OP_JMP,
    OP_BOL,
    OP_EOL,
    OP_WORDB,
    OP_NWORDB,
    OP_MATCH
};

struct rx_inst {
    unsigned char op;
    uint32_t c; /* OP_CHAR: the code point */
    int x, y;   /* OP_SPLIT: both targets; OP_JMP: x; OP_CLASS: x is the class */
};

struct rx_range {
    uint32_t lo, hi;
};

struct rx_class {
    struct rx_range *r; /* sorted, disjoint, not adjacent */
    size_t n;
};

struct at_regex {
    struct rx_inst *prog;
    size_t nprog;
    struct rx_class *classes;
    size_t nclass;
    int anchored; /* every match starts at position 0: try no later start */
};

enum rx_ast_type { A_CHAR, A_ANY, A_CLASS, A_CAT, A_ALT, A_REP, A_BOL, A_EOL, A_WORDB, A_NWORDB };

struct rx_ast {
    int type;
    uint32_t c;   /* A_CHAR */
    int cls;      /* A_CLASS */
    int kid;      /* A_CAT, A_ALT: first child; A_REP: operand */
    int last;     /* A_CAT, A_ALT: last child (for O(1) append) */
    int next;     /* next sibling in a CAT or ALT */
    int min, max; /* A_REP; max -1 is unbounded */
};

struct rx_parser {
    uint32_t *cp; /* the pattern, decoded */
    size_t n, pos;
    struct rx_ast *ast;
    size_t nast, capast;
    struct rx_class *classes;
    size_t nclass, capclass;
    int depth;
    int err;
    struct at_diag *d;
    struct rx_inst *prog;
    size_t nprog, capprog;
};

#define RX_REP_CAP 100000 /* counts above this cannot fit AT_REGEX_MAX_PROG anyway */
#define RX_DEFAULT_FUEL 100000000ULL

/* Decode one UTF-8 sequence at s[0..len); invalid or truncated sequences
 * decode as U+FFFD consuming one byte, so any byte string has a meaning. */
static uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *used)
{
    unsigned char b = s[0];
    uint32_t c;
    size_t n;
    if (b < 0x80) {
        *used = 1;
        return b;
    } else if ((b & 0xE0) == 0xC0) {
        c = b & 0x1F;
        n = 2;
    } else if ((b & 0xF0) == 0xE0) {
        c = b & 0x0F;
        n = 3;
    } else if ((b & 0xF8) == 0xF0) {
        c = b & 0x07;
        n = 4;
    } else {
        *used = 1;
        return 0xFFFD;
    }
    if (n > len) {
        *used = 1;
        return 0xFFFD;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *used = 1;
            return 0xFFFD;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_of[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_of[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *used = 1;
        return 0xFFFD;
    }
    *used = n;
    return c;
}

static int fail(struct rx_parser *p, size_t at, int code, const char *msg)
{
    if (!p->err) {
        p->err = code;
        at_diag_set(p->d, code, NULL, 0, (int)at + 1, "%s", msg);
    }
    return -1;
}

static int new_node(struct rx_parser *p, int type)
{
    if (p->nast == p->capast) {
        p->capast = p->capast ? p->capast * 2 : 32;
        p->ast = at_realloc(p->ast, p->capast * sizeof(*p->ast));
    }
    struct rx_ast *a = &p->ast[p->nast];
    memset(a, 0, sizeof(*a));
    a->type = type;
    a->kid = a->last = a->next = -1;
    return (int)p->nast++;
}

static void append_kid(struct rx_parser *p, int parent, int kid)
{
    if (p->ast[parent].kid < 0)
        p->ast[parent].kid = kid;
    else
        p->ast[p->ast[parent].last].next = kid;
    p->ast[parent].last = kid;
}

/* ---- character classes ---- */

struct rx_set {
    struct rx_range *r;
    size_t n, cap;
};

static void set_add(struct rx_set *s, uint32_t lo, uint32_t hi)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->r = at_realloc(s->r, s->cap * sizeof(*s->r));
    }
    s->r[s->n].lo = lo;
    s->r[s->n].hi = hi;
    s->n++;
}

static int range_cmp(const void *a, const void *b)
{
    const struct rx_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void set_normalize(struct rx_set *s)
{
    if (s->n == 0)
        return;
    qsort(s->r, s->n, sizeof(*s->r), range_cmp);
    size_t o = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->r[i].lo <= s->r[o].hi + 1) {
            if (s->r[i].hi > s->r[o].hi)
                s->r[o].hi = s->r[i].hi;
        } else {
            s->r[++o] = s->r[i];
        }
    }
    s->n = o + 1;
}

/* Replace a normalized set by its complement in [0, 0x10FFFF]. */
static void set_negate(struct rx_set *s)
{
    struct rx_set out = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].lo > next)
            set_add(&out, next, s->r[i].lo - 1);
        next = s->r[i].hi + 1;
    }
    if (next <= 0x10FFFF)
        set_add(&out, next, 0x10FFFF);
    free(s->r);
    *s = out;
}

/* ECMA-262 \s: WhiteSpace and LineTerminator code points. */
static const struct rx_range space_ranges[] = {
    {0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF},
};
static const struct rx_range digit_ranges[] = {{'0', '9'}};
static const struct rx_range word_ranges[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};

/* Add the set of escape letter e (d D w W s S) to s. */
static void set_add_builtin(struct rx_set *s, uint32_t e)
{
    const struct rx_range *r;
    size_t n;
    switch (e | 0x20) {
    case 'd':
        r = digit_ranges;
        n = sizeof(digit_ranges) / sizeof(*r);
        break;
    case 'w':
        r = word_ranges;
        n = sizeof(word_ranges) / sizeof(*r);
        break;
    default:
        r = space_ranges;
        n = sizeof(space_ranges) / sizeof(*r);
        break;
    }
    if (e >= 'a') {
        for (size_t i = 0; i < n; i++)
            set_add(s, r[i].lo, r[i].hi);
        return;
    }
    struct rx_set tmp = {0};
    for (size_t i = 0; i < n; i++)
        set_add(&tmp, r[i].lo, r[i].hi);
    set_negate(&tmp);
    for (size_t i = 0; i < tmp.n; i++)
        set_add(s, tmp.r[i].lo, tmp.r[i].hi);
    free(tmp.r);
}

/* Move a finished set into the class table; returns its index. */
static int add_class(struct rx_parser *p, struct rx_set *s)
{
    if (p->nclass == p->capclass) {
        p->capclass = p->capclass ? p->capclass * 2 : 4;
        p->classes = at_realloc(p->classes, p->capclass * sizeof(*p->classes));
    }
    p->classes[p->nclass].r = s->r;
    p->classes[p->nclass].n = s->n;
    s->r = NULL;
    s->n = s->cap = 0;
    return (int)p->nclass++;
}

static int is_word(int64_t c)
{
    return c >= 0 &&
           ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= 'a' && c <= 'z'));
}

static int hexval(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (int)((c | 0x20) - 'a' + 10);
    return -1;
}

/* Read exactly n hex digits at p->pos; -1 when they are not there. */
static int64_t read_hex(struct rx_parser *p, int n)
{
    if (p->pos + (size_t)n > p->n)
        return -1;
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        int h = hexval(p->cp[p->pos + (size_t)i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    p->pos += (size_t)n;
    return v;
}

/* \u escapes: \uHHHH (a surrogate pair written as two escapes is joined,
 * as ECMA-262 does with the u flag) or \u{H...}. */
static int64_t read_unicode_escape(struct rx_parser *p, size_t at)
{
    if (p->pos < p->n && p->cp[p->pos] == '{') {
        size_t i = p->pos + 1;
        int64_t v = 0;
        while (i < p->n && hexval(p->cp[i]) >= 0 && v <= 0x10FFFF)
            v = v * 16 + hexval(p->cp[i++]);
        if (i == p->pos + 1 || i >= p->n || p->cp[i] != '}' || v > 0x10FFFF)
            return fail(p, at, AT_EPARSE, "invalid \\u{...} escape");
        p->pos = i + 1;
        return v;
    }
    int64_t v = read_hex(p, 4);
    if (v < 0)
        return fail(p, at, AT_EPARSE, "invalid \\u escape: expected 4 hex digits");
    if (v >= 0xD800 && v <= 0xDBFF && p->pos + 1 < p->n && p->cp[p->pos] == '\\' &&
        p->cp[p->pos + 1] == 'u') {
        size_t save = p->pos;
        p->pos += 2;
        int64_t lo = read_hex(p, 4);
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            return 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        p->pos = save;
    }
    return v;
}

/* One escape after '\' (p->pos is past the backslash).  Returns a code
 * point, or -2 with *set_letter filled for \d \D \w \W \s \S, or -1 on error
 * (-3: an assertion, \b or \B outside a class, letter in *set_letter). */
static int64_t parse_escape(struct rx_parser *p, int in_class, uint32_t *set_letter)
{
    size_t at = p->pos - 1;
    if (p->pos >= p->n)
        return fail(p, at, AT_EPARSE, "\\ at end of pattern");
    uint32_t e = p->cp[p->pos++];
    switch (e) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
        *set_letter = e;
        return -2;
    case 'b':
        if (in_class)
            return 0x08;
        *set_letter = e;
        return -3;
    case 'B':
        if (in_class)
            return fail(p, at, AT_EPARSE, "\\B is not allowed in a character class");
        *set_letter = e;
        return -3;
    case 't':
        return 0x09;
    case 'n':
        return 0x0A;
    case 'v':
        return 0x0B;
    case 'f':
        return 0x0C;
    case 'r':
        return 0x0D;
    case '0':
        if (p->pos < p->n && p->cp[p->pos] >= '0' && p->cp[p->pos] <= '9')
            return fail(p, at, AT_EPARSE, "octal escapes are not supported");
        return 0;
    case 'c':
        if (p->pos < p->n && ((p->cp[p->pos] | 0x20) >= 'a' && (p->cp[p->pos] | 0x20) <= 'z'))
            return p->cp[p->pos++] % 32;
        return fail(p, at, AT_EPARSE, "\\c must be followed by a letter");
    case 'x': {
        int64_t v = read_hex(p, 2);
        return v >= 0 ? v : fail(p, at, AT_EPARSE, "invalid \\x escape: expected 2 hex digits");
    }
    case 'u':
        return read_unicode_escape(p, at);
    case 'p':
    case 'P':
        return fail(p, at, AT_EPARSE, "Unicode property escapes (\\p{...}) are not supported");
    case 'k':
        return fail(p, at, AT_EPARSE, "named backreferences (\\k<...>) are not supported");
    case '-':
        return '-';
    default:
        break;
    }
    if (e >= '1' && e <= '9')
        return fail(p, at, AT_EPARSE, "backreferences are not supported");
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z'))
        return fail(p, at, AT_EPARSE, "unknown escape sequence");
    /* Escaped punctuation (and any non-letter) stands for itself. */
    return e;
}

static int parse_class(struct rx_parser *p)
{
    size_t open = p->pos++;
    struct rx_set s = {0};
    int negate = 0;
    if (p->pos < p->n && p->cp[p->pos] == '^') {
        negate = 1;
        p->pos++;
    }
    while (p->pos < p->n && p->cp[p->pos] != ']') {
        size_t at = p->pos;
        uint32_t letter = 0;
        int64_t lo;
        if (p->cp[p->pos] == '\\') {
            p->pos++;
            lo = parse_escape(p, 1, &letter);
        } else {
            lo = p->cp[p->pos++];
        }
        if (lo == -1)
            goto fail;
        if (p->pos + 1 < p->n && p->cp[p->pos] == '-' && p->cp[p->pos + 1] != ']') {
            p->pos++;
            int64_t hi;
            uint32_t letter2 = 0;
            if (p->cp[p->pos] == '\\') {
                p->pos++;
                hi = parse_escape(p, 1, &letter2);
            } else {
                hi = p->cp[p->pos++];
            }
            if (hi == -1)
                goto fail;
            if (lo < 0 || hi < 0) {
                fail(p, at, AT_EPARSE, "a class escape cannot be a range end");
                goto fail;
            }
            if (lo > hi) {
                fail(p, at, AT_EPARSE, "range out of order in character class");
                goto fail;
            }
            set_add(&s, (uint32_t)lo, (uint32_t)hi);
        } else if (lo == -2) {
            set_add_builtin(&s, letter);
        } else {
            set_add(&s, (uint32_t)lo, (uint32_t)lo);
        }
    }
    if (p->pos >= p->n) {
        fail(p, open, AT_EPARSE, "missing ] after character class");
        goto fail;
    }
    p->pos++;
    set_normalize(&s);
    if (negate)
        set_negate(&s);
    int a = new_node(p, A_CLASS);
    p->ast[a].cls = add_class(p, &s);
    return a;
fail:
    free(s.r);
    return -1;
}

/* Does "{n}", "{n,}" or "{n,m}" start at i?  Fills min/max and *end. */
static int quant_at(const struct rx_parser *p, size_t i, int *min, int *max, size_t *end)
{
    if (i >= p->n || p->cp[i] != '{')
        return 0;
    i++;
    long a = 0, b;
    size_t digits = 0;
    while (i < p->n && p->cp[i] >= '0' && p->cp[i] <= '9') {
        if (a <= RX_REP_CAP)
            a = a * 10 + (long)(p->cp[i] - '0');
        i++;
        digits++;
    }
    if (!digits || i >= p->n)
        return 0;
    if (a > RX_REP_CAP)
        a = RX_REP_CAP + 1;
    b = a;
    if (p->cp[i] == ',') {
        i++;
        digits = 0;
        b = 0;
        while (i < p->n && p->cp[i] >= '0' && p->cp[i] <= '9') {
            if (b <= RX_REP_CAP)
                b = b * 10 + (long)(p->cp[i] - '0');
            i++;
            digits++;
        }
        if (!digits)
            b = -1;
        else if (b > RX_REP_CAP)
            b = RX_REP_CAP + 1;
    }
    if (i >= p->n || p->cp[i] != '}')
        return 0;
    *min = (int)a;
    *max = (int)b;
    *end = i + 1;
    return 1;
}

static int is_quant_start(const struct rx_parser *p, size_t i)
{
    int mn, mx;
    size_t e;
    if (i >= p->n)
        return 0;
    uint32_t c = p->cp[i];
    return c == '*' || c == '+' || c == '?' || quant_at(p, i, &mn, &mx, &e);
}

static int parse_alt(struct rx_parser *p);

static int parse_group(struct rx_parser *p)
{
    size_t open = p->pos++;
    if (++p->depth > AT_REGEX_MAX_NEST)
        return fail(p, open, AT_E2BIG, "groups nested too deeply");
    if (p->pos < p->n && p->cp[p->pos] == '?') {
        p->pos++;
        uint32_t k = p->pos < p->n ? p->cp[p->pos] : 0;
        if (k == ':') {
            p->pos++;
        } else if (k == '=' || k == '!') {
            return fail(p, open, AT_EPARSE, "lookahead assertions are not supported");
        } else if (k == '<' && p->pos + 1 < p->n &&
                   (p->cp[p->pos + 1] == '=' || p->cp[p->pos + 1] == '!')) {
            return fail(p, open, AT_EPARSE, "lookbehind assertions are not supported");
        } else if (k == '<') {
            /* A named group is an ordinary group here: we keep no captures. */
            size_t i = p->pos + 1;
            while (i < p->n && (is_word(p->cp[i]) || p->cp[i] == '$' || p->cp[i] > 0x7F))
                i++;
            if (i == p->pos + 1 || i >= p->n || p->cp[i] != '>')
                return fail(p, open, AT_EPARSE, "invalid group name");
            p->pos = i + 1;
        } else {
            return fail(p, open, AT_EPARSE, "invalid group: (? must be followed by : or <name>");
        }
    }
    int inner = parse_alt(p);
    if (inner < 0)
        return -1;
    if (p->pos >= p->n || p->cp[p->pos] != ')')
        return fail(p, open, AT_EPARSE, "missing ) to close group");
    p->pos++;
    p->depth--;
    return inner;
}

static int parse_atom(struct rx_parser *p)
{
    uint32_t c = p->cp[p->pos];
    int a;
    switch (c) {
    case '^':
        p->pos++;
        return new_node(p, A_BOL);
    case '$':
        p->pos++;
        return new_node(p, A_EOL);
    case '.':
        p->pos++;
        return new_node(p, A_ANY);
    case '(':
        return parse_group(p);
    case '[':
        return parse_class(p);
    case '*':
    case '+':
    case '?':
        return fail(p, p->pos, AT_EPARSE, "nothing to repeat");
    case '\\': {
        p->pos++;
        uint32_t letter = 0;
        int64_t v = parse_escape(p, 0, &letter);
        if (v == -1)
            return -1;
        if (v == -3) {
            a = new_node(p, letter == 'b' ? A_WORDB : A_NWORDB);
        } else if (v == -2) {
            struct rx_set s = {0};
            set_add_builtin(&s, letter);
            set_normalize(&s);
            a = new_node(p, A_CLASS);
            p->ast[a].cls = add_class(p, &s);
        } else {
            a = new_node(p, A_CHAR);
            p->ast[a].c = (uint32_t)v;
        }
        return a;
    }
    default:
        if (c == '{' && is_quant_start(p, p->pos))
            return fail(p, p->pos, AT_EPARSE, "nothing to repeat");
        /* A lone '{', '}' or ']' is a literal, as in ECMA-262 Annex B. */
        p->pos++;
        a = new_node(p, A_CHAR);
        p->ast[a].c = c;
        return a;
    }
}

static int parse_quant(struct rx_parser *p)
{
    int a = parse_atom(p);
    if (a < 0 || !is_quant_start(p, p->pos))
        return a;
    int t = p->ast[a].type;
    if (t == A_BOL || t == A_EOL || t == A_WORDB || t == A_NWORDB)
        return fail(p, p->pos, AT_EPARSE, "nothing to repeat (an assertion cannot be quantified)");
    int mn = 0, mx = -1;
    size_t at = p->pos;
    uint32_t q = p->cp[p->pos];
    if (q == '*') {
        p->pos++;
    } else if (q == '+') {
        mn = 1;
        p->pos++;
    } else if (q == '?') {
        mx = 1;
        p->pos++;
    } else {
        size_t end = p->pos;
        quant_at(p, p->pos, &mn, &mx, &end);
        p->pos = end;
        if (mx >= 0 && mn > mx)
            return fail(p, at, AT_EPARSE, "numbers out of order in {} quantifier");
    }
    if (p->pos < p->n && p->cp[p->pos] == '?')
        p->pos++; /* lazy: the same answer to "is there a match" */
    if (is_quant_start(p, p->pos))
        return fail(p, p->pos, AT_EPARSE, "nothing to repeat");
    int r = new_node(p, A_REP);
    p->ast[r].kid = a;
    p->ast[r].min = mn;
    p->ast[r].max = mx;
    return r;
}

static int parse_cat(struct rx_parser *p)
{
    int cat = new_node(p, A_CAT);
    while (p->pos < p->n && p->cp[p->pos] != '|' && p->cp[p->pos] != ')') {
        int a = parse_quant(p);
        if (a < 0)
            return -1;
        append_kid(p, cat, a);
    }
    return cat;
}

static int parse_alt(struct rx_parser *p)
{
    int first = parse_cat(p);
    if (first < 0 || p->pos >= p->n || p->cp[p->pos] != '|')
        return first;
    int alt = new_node(p, A_ALT);
    append_kid(p, alt, first);
    while (p->pos < p->n && p->cp[p->pos] == '|') {
        p->pos++;
        int c = parse_cat(p);
        if (c < 0)
            return -1;
        append_kid(p, alt, c);
    }
    return alt;
}

/* ---- code generation ---- */

static int emit(struct rx_parser *p, int op, int x, int y, uint32_t c)
{
    if (p->nprog >= AT_REGEX_MAX_PROG)
        return fail(p, 0, AT_E2BIG, "pattern too complex: its repetitions expand past the limit");
    if (p->nprog == p->capprog) {
        p->capprog = p->capprog ? p->capprog * 2 : 32;
        p->prog = at_realloc(p->prog, p->capprog * sizeof(*p->prog));
    }
    p->prog[p->nprog] = (struct rx_inst){.op = (unsigned char)op, .c = c, .x = x, .y = y};
    return (int)p->nprog++;
}

/* Recursion depth follows AST depth, which group nesting bounds. */
static int gen(struct rx_parser *p, int node)
{
    const struct rx_ast *a = &p->ast[node];
    int pc, k;
    switch (a->type) {
    case A_CHAR:
        return emit(p, OP_CHAR, 0, 0, a->c) < 0 ? -1 : 0;
    case A_ANY:
        return emit(p, OP_ANY, 0, 0, 0) < 0 ? -1 : 0;
    case A_CLASS:
        return emit(p, OP_CLASS, a->cls, 0, 0) < 0 ? -1 : 0;
    case A_BOL:
        return emit(p, OP_BOL, 0, 0, 0) < 0 ? -1 : 0;
    case A_EOL:
        return emit(p, OP_EOL, 0, 0, 0) < 0 ? -1 : 0;
    case A_WORDB:
        return emit(p, OP_WORDB, 0, 0, 0) < 0 ? -1 : 0;
    case A_NWORDB:
        return emit(p, OP_NWORDB, 0, 0, 0) < 0 ? -1 : 0;
    case A_CAT:
        for (k = a->kid; k >= 0; k = p->ast[k].next)
            if (gen(p, k) < 0)
                return -1;
        return 0;
    case A_ALT: {
        /* split L1, L2; L1: alt1; jmp end; L2: split ...; the jmps to patch
         * are chained through their x field until the end is known. */
        int jmps = -1;
        for (k = a->kid; k >= 0; k = p->ast[k].next) {
            int split = -1;
            if (p->ast[k].next >= 0 && (split = emit(p, OP_SPLIT, 0, 0, 0)) < 0)
                return -1;
            if (split >= 0)
                p->prog[split].x = split + 1;
            if (gen(p, k) < 0)
                return -1;
            if (p->ast[k].next >= 0) {
                int j = emit(p, OP_JMP, jmps, 0, 0);
                if (j < 0)
                    return -1;
                jmps = j;
                p->prog[split].y = (int)p->nprog;
            }
        }
        while (jmps >= 0) {
            int prev = p->prog[jmps].x;
            p->prog[jmps].x = (int)p->nprog;
            jmps = prev;
        }
        return 0;
    }
    case A_REP: {
        int kid = a->kid, mn = a->min, mx = a->max;
        for (int i = 0; i < mn; i++)
            if (gen(p, kid) < 0)
                return -1;
        if (mx < 0) {
            int loop = emit(p, OP_SPLIT, 0, 0, 0);
            if (loop < 0)
                return -1;
            p->prog[loop].x = loop + 1;
            if (gen(p, kid) < 0 || emit(p, OP_JMP, loop, 0, 0) < 0)
                return -1;
            p->prog[loop].y = (int)p->nprog;
            return 0;
        }
        int splits = -1;
        for (int i = mn; i < mx; i++) {
            pc = emit(p, OP_SPLIT, 0, splits, 0);
            if (pc < 0)
                return -1;
            p->prog[pc].x = pc + 1;
            splits = pc;
            if (gen(p, kid) < 0)
                return -1;
        }
        while (splits >= 0) {
            int prev = p->prog[splits].y;
            p->prog[splits].y = (int)p->nprog;
            splits = prev;
        }
        return 0;
    }
    }
    return 0;
}

static void free_classes(struct rx_class *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].r);
    free(c);
}

int at_regex_new(const char *pat, size_t len, struct at_regex **out, struct at_diag *d)
{
    *out = NULL;
    if (len > AT_REGEX_MAX_LEN)
        return at_diag_set(d, AT_E2BIG, NULL, 0, 0, "pattern longer than %d bytes",
                           AT_REGEX_MAX_LEN);
    struct rx_parser p = {.d = d};
    p.cp = at_malloc((len + 1) * sizeof(*p.cp));
    for (size_t i = 0; i < len;) {
        size_t used;
        p.cp[p.n++] = utf8_decode((const unsigned char *)pat + i, len - i, &used);
        i += used;
    }
    int root = parse_alt(&p);
    if (root >= 0 && p.pos < p.n)
        fail(&p, p.pos, AT_EPARSE, "unmatched )");
    if (!p.err && gen(&p, root) == 0)
        emit(&p, OP_MATCH, 0, 0, 0);
    if (p.err) {
        int err = p.err;
        free(p.cp);
        free(p.ast);
        free(p.prog);
        free_classes(p.classes, p.nclass);
        return err;
    }
    struct at_regex *re = at_calloc(1, sizeof(*re));
    re->prog = p.prog;
    re->nprog = p.nprog;
    re->classes = p.classes;
    re->nclass = p.nclass;
    /* Anchored when the top-level sequence starts with ^ (not inside an
     * alternation): starting later can never match. */
    const struct rx_ast *r = &p.ast[root];
    re->anchored = r->type == A_CAT && r->kid >= 0 && p.ast[r->kid].type == A_BOL;
    free(p.cp);
    free(p.ast);
    *out = re;
    return 0;
}

void at_regex_free(struct at_regex *re)
{
    if (!re)
        return;
    free(re->prog);
    free_classes(re->classes, re->nclass);
    free(re);
}

/* ---- matching ---- */

static int class_has(const struct rx_class *cl, uint32_t c)
{
    size_t lo = 0, hi = cl->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < cl->r[mid].lo)
            hi = mid;
        else if (c > cl->r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

struct rx_vm {
    const struct at_regex *re;
    size_t *mark; /* generation in which a pc was last added */
    int *stack;
    size_t gen;
    int matched;
};

/* Add the thread at pc, following jumps, splits and assertions at once (the
 * "epsilon closure"), iteratively so a long chain of splits cannot exhaust
 * the C stack.  prev/cur are the code points around the position (-1 at the
 * edges of the subject). */
static void add_thread(struct rx_vm *vm, int *list, size_t *nlist, int pc, int64_t prev,
                       int64_t cur)
{
    size_t sp = 0;
    vm->stack[sp++] = pc;
    while (sp > 0) {
        pc = vm->stack[--sp];
        if (vm->mark[pc] == vm->gen)
            continue;
        vm->mark[pc] = vm->gen;
        const struct rx_inst *in = &vm->re->prog[pc];
        switch (in->op) {
        case OP_JMP:
            vm->stack[sp++] = in->x;
            break;
        case OP_SPLIT:
            vm->stack[sp++] = in->y;
            vm->stack[sp++] = in->x;
            break;
        case OP_BOL:
            if (prev < 0)
                vm->stack[sp++] = pc + 1;
            break;
        case OP_EOL:
            if (cur < 0)
                vm->stack[sp++] = pc + 1;
            break;
        case OP_WORDB:
        case OP_NWORDB:
            if ((is_word(prev) != is_word(cur)) == (in->op == OP_WORDB))
                vm->stack[sp++] = pc + 1;
            break;
        case OP_MATCH:
            vm->matched = 1;
            break;
        default:
            list[(*nlist)++] = pc;
            break;
        }
    }
}

static int consumes(const struct at_regex *re, const struct rx_inst *in, uint32_t c)
{
    switch (in->op) {
    case OP_CHAR:
        return in->c == c;
    case OP_ANY:
        return c != '\n' && c != '\r' && c != 0x2028 && c != 0x2029;
    case OP_CLASS:
        return class_has(&re->classes[in->x], c);
    default:
        return 0;
    }
}

#define RX_SMALL 128

int at_regex_search(const struct at_regex *re, const char *s, size_t len, unsigned long long *fuel)
{
    unsigned long long local_fuel = RX_DEFAULT_FUEL;
    if (!fuel)
        fuel = &local_fuel;
    size_t np = re->nprog;
    /* Each pc enters a list at most once per step (mark), and each marked
     * pc pushes at most two entries, so 2 * np + 1 bounds the stack. */
    size_t small_mark[RX_SMALL];
    int small_ints[RX_SMALL * 4 + 1];
    size_t *mark = small_mark;
    int *ints = small_ints;
    if (np > RX_SMALL) {
        mark = at_malloc(np * sizeof(*mark));
        ints = at_malloc((np * 4 + 1) * sizeof(*ints));
    }
    memset(mark, 0, np * sizeof(*mark));
    struct rx_vm vm = {.re = re, .mark = mark, .stack = ints + 2 * np, .gen = 1};
    int *clist = ints, *nlist = ints + np;
    size_t nc = 0, nn = 0;
    const unsigned char *u = (const unsigned char *)s;

    size_t pos = 0, used = 0;
    int64_t prev = -1;
    int64_t cur = len > 0 ? (int64_t)utf8_decode(u, len, &used) : -1;
    add_thread(&vm, clist, &nc, 0, prev, cur);
    int rc = 0;
    for (;;) {
        if (vm.matched) {
            rc = 1;
            break;
        }
        if (cur < 0 || (nc == 0 && re->anchored))
            break;
        if (*fuel < nc + 1) {
            rc = AT_ELIMIT;
            break;
        }
        *fuel -= nc + 1;
        size_t npos = pos + used, nused = 0;
        int64_t next = npos < len ? (int64_t)utf8_decode(u + npos, len - npos, &nused) : -1;
        vm.gen++;
        nn = 0;
        for (size_t i = 0; i < nc; i++) {
            const struct rx_inst *in = &re->prog[clist[i]];
            if (consumes(re, in, (uint32_t)cur))
                add_thread(&vm, nlist, &nn, clist[i] + 1, cur, next);
        }
        if (!re->anchored)
            add_thread(&vm, nlist, &nn, 0, cur, next);
        int *t = clist;
        clist = nlist;
        nlist = t;
        nc = nn;
        pos = npos;
        used = nused;
        cur = next;
    }
    if (mark != small_mark) {
        free(mark);
        free(ints);
    }
    return rc;
}
