/*
 * expr.c - the eval expression language (expr.h, docs/evals.md).
 *
 * A recursive-descent parser builds a tree of nodes held in one array (so
 * the whole expression is freed in one loop); evaluation walks the tree
 * with jansson values.  Recursion is bounded by AT_EXPR_MAX_DEPTH in the
 * parser, and the tree it builds is no deeper, so evaluation is bounded
 * too.
 */
#include "json/expr.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/utf8.h"
#include "base/err.h"
#include "json/json.h"
#include "json/regex.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op {
    OP_LIT,   /* lit */
    OP_VAR,   /* name */
    OP_FIELD, /* a.name */
    OP_INDEX, /* a[b] */
    OP_NOT,
    OP_NEG,
    OP_OR,
    OP_AND,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_MATCH, /* a =~ b */
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_CALL, /* fn(args) */
};

enum fn {
    FN_LEN,
    FN_CONTAINS,
    FN_MATCHES,
    FN_STARTS,
    FN_ENDS,
    FN_LOWER,
    FN_UPPER,
    FN_ABS,
    FN_MIN,
    FN_MAX,
    FN_EXISTS,
};

static const struct {
    const char *name;
    int min, max; /* argument counts */
} fns[] = {
    [FN_LEN] = {"len", 1, 1},         [FN_CONTAINS] = {"contains", 2, 2},
    [FN_MATCHES] = {"matches", 2, 2}, [FN_STARTS] = {"starts_with", 2, 2},
    [FN_ENDS] = {"ends_with", 2, 2},  [FN_LOWER] = {"lower", 1, 1},
    [FN_UPPER] = {"upper", 1, 1},     [FN_ABS] = {"abs", 1, 1},
    [FN_MIN] = {"min", 2, 8},         [FN_MAX] = {"max", 2, 8},
    [FN_EXISTS] = {"exists", 1, 1},
};

#define MAX_ARGS 8

struct node {
    enum op op;
    int col;  /* 1-based column of the operator, name or literal */
    int a, b; /* child node indexes (-1 when absent) */
    int fn;   /* OP_CALL */
    int nargs;
    int args[MAX_ARGS];
    json_t *lit;         /* OP_LIT */
    char *name;          /* OP_VAR, OP_FIELD */
    struct at_regex *re; /* OP_MATCH / matches() with a literal pattern */
};

struct at_expr {
    struct node *n;
    int count;
    int root;
};

/* ---- lexer ---- */

enum tok {
    T_END,
    T_NUM,
    T_STR,
    T_NAME,
    T_OR,
    T_AND,
    T_NOT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_MATCH,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PCT,
    T_LP,
    T_RP,
    T_LB,
    T_RB,
    T_DOT,
    T_COMMA,
};

struct parser {
    const char *s;
    size_t len, pos;
    const char *const *names;
    struct at_expr *e;
    struct at_diag *d;
    int depth;
    /* current token */
    enum tok t;
    int tcol;
    size_t tstart, tend;
    json_t *tval; /* T_NUM / T_STR value (owned until taken) */
};

static int perr(struct parser *p, int col, int code, const char *fmt, const char *arg)
{
    char msg[600];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    return at_diag_set(p->d, code, NULL, 1, col, "%s", msg);
}

static const char *tok_text(struct parser *p, char *buf, size_t n)
{
    if (p->t == T_END)
        return "the end of the expression";
    size_t l = p->tend - p->tstart;
    if (l > 40)
        l = 40;
    snprintf(buf, n, "\"%.*s\"", (int)l, p->s + p->tstart);
    return buf;
}

static int lex_string(struct parser *p, char q)
{
    struct at_buf b;
    at_buf_init(&b, AT_EXPR_MAX_LEN);
    size_t i = p->pos + 1;
    while (i < p->len && p->s[i] != q) {
        char c = p->s[i];
        if (c == '\\') {
            if (i + 1 >= p->len)
                break;
            char e = p->s[++i];
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case '\\':
            case '\'':
            case '"':
            case '/':
                c = e;
                break;
            case 'u': {
                unsigned v = 0;
                if (i + 4 >= p->len) {
                    at_buf_release(&b);
                    return perr(p, (int)i, AT_EPARSE, "\\u needs four hex digits", NULL);
                }
                for (int k = 1; k <= 4; k++) {
                    char h = p->s[i + (size_t)k];
                    if (!isxdigit((unsigned char)h)) {
                        at_buf_release(&b);
                        return perr(p, (int)(i + (size_t)k) + 1, AT_EPARSE,
                                    "\\u needs four hex digits", NULL);
                    }
                    v = v * 16 +
                        (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
                }
                i += 4;
                if (v >= 0xD800 && v <= 0xDFFF) {
                    at_buf_release(&b);
                    return perr(p, (int)i - 4, AT_EPARSE,
                                "\\u escapes of surrogates are not allowed", NULL);
                }
                char u[4];
                size_t ul;
                if (v < 0x80) {
                    u[0] = (char)v;
                    ul = 1;
                } else if (v < 0x800) {
                    u[0] = (char)(0xC0 | (v >> 6));
                    u[1] = (char)(0x80 | (v & 0x3F));
                    ul = 2;
                } else {
                    u[0] = (char)(0xE0 | (v >> 12));
                    u[1] = (char)(0x80 | ((v >> 6) & 0x3F));
                    u[2] = (char)(0x80 | (v & 0x3F));
                    ul = 3;
                }
                at_buf_append(&b, u, ul);
                i++;
                continue;
            }
            default: {
                char what[8];
                snprintf(what, sizeof(what), "\\%c", e);
                at_buf_release(&b);
                return perr(p, (int)i, AT_EPARSE, "unknown escape %s in a string", what);
            }
            }
        }
        at_buf_putc(&b, c);
        i++;
    }
    if (i >= p->len) {
        at_buf_release(&b);
        return perr(p, (int)p->pos + 1, AT_EPARSE, "unterminated string", NULL);
    }
    p->tval = json_stringn_nocheck(b.p ? b.p : "", b.len);
    at_buf_release(&b);
    if (!p->tval || !json_string_value(p->tval)) {
        json_decref(p->tval);
        p->tval = NULL;
        return perr(p, (int)p->pos + 1, AT_EPARSE, "string is not valid UTF-8", NULL);
    }
    /* jansson does not check UTF-8 with _nocheck; do it here */
    if (at_utf8_valid_prefix(json_string_value(p->tval), json_string_length(p->tval)) !=
        json_string_length(p->tval)) {
        json_decref(p->tval);
        p->tval = NULL;
        return perr(p, (int)p->pos + 1, AT_EPARSE, "string is not valid UTF-8", NULL);
    }
    p->pos = i + 1;
    return 0;
}

static int lex_number(struct parser *p)
{
    size_t i = p->pos;
    int real = 0;
    while (i < p->len && isdigit((unsigned char)p->s[i]))
        i++;
    if (i < p->len && p->s[i] == '.' && i + 1 < p->len && isdigit((unsigned char)p->s[i + 1])) {
        real = 1;
        i++;
        while (i < p->len && isdigit((unsigned char)p->s[i]))
            i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->len && (p->s[j] == '+' || p->s[j] == '-'))
            j++;
        if (j < p->len && isdigit((unsigned char)p->s[j])) {
            real = 1;
            i = j;
            while (i < p->len && isdigit((unsigned char)p->s[i]))
                i++;
        }
    }
    char buf[128];
    size_t l = i - p->pos;
    if (l >= sizeof(buf))
        return perr(p, (int)p->pos + 1, AT_EPARSE, "number is too long", NULL);
    memcpy(buf, p->s + p->pos, l);
    buf[l] = '\0';
    if (!real) {
        errno = 0;
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (errno == 0 && *end == '\0')
            p->tval = json_integer(v);
        else
            real = 1;
    }
    if (real) {
        char *end;
        double v = strtod(buf, &end);
        if (!isfinite(v))
            return perr(p, (int)p->pos + 1, AT_EPARSE, "number is out of range", NULL);
        p->tval = json_real(v);
    }
    p->pos = i;
    return 0;
}

static int next(struct parser *p)
{
    json_decref(p->tval);
    p->tval = NULL;
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
    p->tstart = p->pos;
    p->tcol = (int)p->pos + 1;
    if (p->pos >= p->len) {
        p->t = T_END;
        p->tend = p->pos;
        return 0;
    }
    char c = p->s[p->pos];
    char c2 = p->pos + 1 < p->len ? p->s[p->pos + 1] : '\0';
    int rc = 0;
    if (isdigit((unsigned char)c)) {
        p->t = T_NUM;
        rc = lex_number(p);
    } else if (c == '"' || c == '\'') {
        p->t = T_STR;
        rc = lex_string(p, c);
    } else if (isalpha((unsigned char)c) || c == '_') {
        p->t = T_NAME;
        while (p->pos < p->len && (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_'))
            p->pos++;
    } else {
        static const struct {
            const char *s;
            enum tok t;
        } ops[] = {{"||", T_OR},  {"&&", T_AND},   {"==", T_EQ},  {"!=", T_NE},   {"<=", T_LE},
                   {">=", T_GE},  {"=~", T_MATCH}, {"<", T_LT},   {">", T_GT},    {"!", T_NOT},
                   {"+", T_PLUS}, {"-", T_MINUS},  {"*", T_STAR}, {"/", T_SLASH}, {"%", T_PCT},
                   {"(", T_LP},   {")", T_RP},     {"[", T_LB},   {"]", T_RB},    {".", T_DOT},
                   {",", T_COMMA}};
        for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
            size_t l = strlen(ops[k].s);
            if (ops[k].s[0] == c && (l == 1 || ops[k].s[1] == c2)) {
                p->t = ops[k].t;
                p->pos += l;
                p->tend = p->pos;
                return 0;
            }
        }
        char what[32];
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
            snprintf(what, sizeof(what), "\"%c\"", c);
        else
            snprintf(what, sizeof(what), "byte 0x%02x", (unsigned char)c);
        if (c == '=')
            return perr(p, p->tcol, AT_EPARSE, "unexpected \"=\" (did you mean \"==\"?)", NULL);
        if (c == '&' || c == '|')
            return perr(p, p->tcol, AT_EPARSE, "unexpected %s (did you mean \"&&\" or \"||\"?)",
                        what);
        return perr(p, p->tcol, AT_EPARSE, "unexpected %s", what);
    }
    p->tend = p->pos;
    return rc;
}

/* ---- parser ---- */

static int new_node(struct parser *p, enum op op, int col)
{
    if (p->e->count >= AT_EXPR_MAX_NODES) {
        perr(p, col, AT_E2BIG, "the expression is too large (more than %s nodes)", "1024");
        return -1;
    }
    struct node *n = &p->e->n[p->e->count];
    memset(n, 0, sizeof(*n));
    n->op = op;
    n->col = col;
    n->a = n->b = -1;
    return p->e->count++;
}

static int parse_or(struct parser *p);

static int enter(struct parser *p)
{
    if (++p->depth > AT_EXPR_MAX_DEPTH) {
        perr(p, p->tcol, AT_E2BIG, "the expression nests too deeply (more than %s levels)", "64");
        return -1;
    }
    return 0;
}

static int expect(struct parser *p, enum tok t, const char *what)
{
    if (p->t != t) {
        char buf[64];
        char msg[160];
        snprintf(msg, sizeof(msg), "expected %s, found %%s", what);
        return perr(p, p->tcol, AT_EPARSE, msg, tok_text(p, buf, sizeof(buf)));
    }
    return next(p);
}

static int name_allowed(struct parser *p, const char *name)
{
    if (!p->names)
        return 1;
    for (const char *const *n = p->names; *n; n++)
        if (strcmp(*n, name) == 0)
            return 1;
    return 0;
}

/* Compile the literal pattern of node lit (a string) for node at. */
static int compile_regex(struct parser *p, struct node *at, const struct node *lit)
{
    struct at_diag rd;
    at_diag_clear(&rd);
    const char *pat = json_string_value(lit->lit);
    if (at_regex_new(pat, json_string_length(lit->lit), &at->re, &rd)) {
        /* the pattern's column within the string literal (quote + offset) */
        int col = lit->col + (rd.col > 0 ? rd.col : 1);
        return perr(p, col, AT_EPARSE, "bad regular expression: %s", rd.msg);
    }
    return 0;
}

static int parse_primary(struct parser *p)
{
    int col = p->tcol;
    if (p->t == T_NUM || p->t == T_STR) {
        int k = new_node(p, OP_LIT, col);
        if (k < 0)
            return -1;
        p->e->n[k].lit = p->tval;
        p->tval = NULL;
        return next(p) ? -1 : k;
    }
    if (p->t == T_LP) {
        if (next(p))
            return -1;
        int k = parse_or(p);
        if (k < 0 || expect(p, T_RP, "\")\""))
            return -1;
        return k;
    }
    if (p->t == T_NAME) {
        size_t l = p->tend - p->tstart;
        char name[64];
        if (l >= sizeof(name)) {
            perr(p, col, AT_EPARSE, "name is too long", NULL);
            return -1;
        }
        memcpy(name, p->s + p->tstart, l);
        name[l] = '\0';
        if (next(p))
            return -1;
        if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0 || strcmp(name, "null") == 0) {
            int k = new_node(p, OP_LIT, col);
            if (k < 0)
                return -1;
            p->e->n[k].lit = name[0] == 't'   ? json_true()
                             : name[0] == 'f' ? json_false()
                                              : json_null();
            return k;
        }
        if (p->t == T_LP) {
            int fn = -1;
            for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
                if (strcmp(fns[i].name, name) == 0)
                    fn = (int)i;
            if (fn < 0) {
                perr(p, col, AT_EPARSE,
                     "unknown function \"%s\" (known: len, contains, matches, starts_with, "
                     "ends_with, lower, upper, abs, min, max, exists)",
                     name);
                return -1;
            }
            int k = new_node(p, OP_CALL, col);
            if (k < 0 || next(p))
                return -1;
            int nargs = 0;
            int args[MAX_ARGS];
            if (p->t != T_RP) {
                for (;;) {
                    if (nargs == MAX_ARGS) {
                        perr(p, p->tcol, AT_EPARSE, "too many arguments to %s()", name);
                        return -1;
                    }
                    int a = parse_or(p);
                    if (a < 0)
                        return -1;
                    args[nargs++] = a;
                    if (p->t != T_COMMA)
                        break;
                    if (next(p))
                        return -1;
                }
            }
            if (expect(p, T_RP, "\",\" or \")\""))
                return -1;
            if (nargs < fns[fn].min || nargs > fns[fn].max) {
                char msg[160];
                if (fns[fn].min == fns[fn].max)
                    snprintf(msg, sizeof(msg), "%s() takes %d argument%s, not %d", name,
                             fns[fn].min, fns[fn].min == 1 ? "" : "s", nargs);
                else
                    snprintf(msg, sizeof(msg), "%s() takes %d to %d arguments, not %d", name,
                             fns[fn].min, fns[fn].max, nargs);
                perr(p, col, AT_EPARSE, "%s", msg);
                return -1;
            }
            struct node *n = &p->e->n[k];
            n->fn = fn;
            n->nargs = nargs;
            memcpy(n->args, args, sizeof(int) * (size_t)nargs);
            if (fn == FN_MATCHES && p->e->n[args[1]].op == OP_LIT &&
                json_is_string(p->e->n[args[1]].lit) && compile_regex(p, n, &p->e->n[args[1]]))
                return -1;
            return k;
        }
        if (!name_allowed(p, name)) {
            char msg[300];
            size_t off = 0;
            for (const char *const *nm = p->names; *nm && off < sizeof(msg) - 40; nm++)
                off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s",
                                        nm == p->names ? "" : ", ", *nm);
            char full[400];
            snprintf(full, sizeof(full), "unknown name \"%s\" (known: %s)", name, msg);
            perr(p, col, AT_EPARSE, "%s", full);
            return -1;
        }
        int k = new_node(p, OP_VAR, col);
        if (k < 0)
            return -1;
        p->e->n[k].name = at_strdup(name);
        return k;
    }
    char buf[64];
    perr(p, col, AT_EPARSE, "expected a value, found %s", tok_text(p, buf, sizeof(buf)));
    return -1;
}

static int parse_postfix(struct parser *p)
{
    int k = parse_primary(p);
    while (k >= 0 && (p->t == T_DOT || p->t == T_LB)) {
        int col = p->tcol;
        if (p->t == T_DOT) {
            if (next(p))
                return -1;
            if (p->t != T_NAME) {
                char buf[64];
                perr(p, p->tcol, AT_EPARSE, "expected a field name after \".\", found %s",
                     tok_text(p, buf, sizeof(buf)));
                return -1;
            }
            int f = new_node(p, OP_FIELD, col);
            if (f < 0)
                return -1;
            p->e->n[f].a = k;
            p->e->n[f].name = at_strndup(p->s + p->tstart, p->tend - p->tstart);
            if (next(p))
                return -1;
            k = f;
        } else {
            if (enter(p) || next(p))
                return -1;
            int idx = parse_or(p);
            p->depth--;
            if (idx < 0 || expect(p, T_RB, "\"]\""))
                return -1;
            int f = new_node(p, OP_INDEX, col);
            if (f < 0)
                return -1;
            p->e->n[f].a = k;
            p->e->n[f].b = idx;
            k = f;
        }
    }
    return k;
}

static int parse_unary(struct parser *p)
{
    if (p->t == T_NOT || p->t == T_MINUS) {
        enum op op = p->t == T_NOT ? OP_NOT : OP_NEG;
        int col = p->tcol;
        if (enter(p) || next(p))
            return -1;
        int a = parse_unary(p);
        p->depth--;
        if (a < 0)
            return -1;
        int k = new_node(p, op, col);
        if (k < 0)
            return -1;
        p->e->n[k].a = a;
        return k;
    }
    return parse_postfix(p);
}

/* One binary precedence level: tokens[i] -> ops[i]. */
static int parse_level(struct parser *p, int level);

static const struct {
    enum tok t[6];
    enum op op[6];
    int n;
} levels[] = {
    {{T_OR}, {OP_OR}, 1},
    {{T_AND}, {OP_AND}, 1},
    {{T_EQ, T_NE}, {OP_EQ, OP_NE}, 2},
    {{T_LT, T_LE, T_GT, T_GE, T_MATCH}, {OP_LT, OP_LE, OP_GT, OP_GE, OP_MATCH}, 5},
    {{T_PLUS, T_MINUS}, {OP_ADD, OP_SUB}, 2},
    {{T_STAR, T_SLASH, T_PCT}, {OP_MUL, OP_DIV, OP_MOD}, 3},
};
#define NLEVELS ((int)(sizeof(levels) / sizeof(levels[0])))

static int parse_level(struct parser *p, int level)
{
    if (level == NLEVELS)
        return parse_unary(p);
    if (enter(p))
        return -1;
    int k = parse_level(p, level + 1);
    while (k >= 0) {
        int which = -1;
        for (int i = 0; i < levels[level].n; i++)
            if (p->t == levels[level].t[i])
                which = i;
        if (which < 0)
            break;
        int col = p->tcol;
        if (next(p))
            return -1;
        int b = parse_level(p, level + 1);
        if (b < 0)
            return -1;
        int n = new_node(p, levels[level].op[which], col);
        if (n < 0)
            return -1;
        p->e->n[n].a = k;
        p->e->n[n].b = b;
        if (levels[level].op[which] == OP_MATCH && p->e->n[b].op == OP_LIT &&
            json_is_string(p->e->n[b].lit) && compile_regex(p, &p->e->n[n], &p->e->n[b]))
            return -1;
        k = n;
    }
    p->depth--;
    return k;
}

static int parse_or(struct parser *p)
{
    return parse_level(p, 0);
}

void at_expr_free(struct at_expr *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->count; i++) {
        json_decref(e->n[i].lit);
        free(e->n[i].name);
        at_regex_free(e->n[i].re);
    }
    free(e->n);
    free(e);
}

int at_expr_compile(const char *src, size_t len, const char *const *names, struct at_expr **out,
                    struct at_diag *d)
{
    *out = NULL;
    if (len > AT_EXPR_MAX_LEN)
        return at_diag_set(d, AT_E2BIG, NULL, 1, AT_EXPR_MAX_LEN + 1,
                           "the expression is longer than %d bytes", AT_EXPR_MAX_LEN);
    struct at_expr *e = at_calloc(1, sizeof(*e));
    e->n = at_calloc(AT_EXPR_MAX_NODES, sizeof(*e->n));
    struct parser p = {.s = src, .len = len, .names = names, .e = e, .d = d};
    int k = -1;
    if (next(&p) == 0) {
        if (p.t == T_END)
            perr(&p, 1, AT_EPARSE, "the expression is empty", NULL);
        else
            k = parse_or(&p);
    }
    if (k >= 0 && p.t != T_END) {
        char buf[64];
        perr(&p, p.tcol, AT_EPARSE, "expected an operator or the end, found %s",
             tok_text(&p, buf, sizeof(buf)));
        k = -1;
    }
    json_decref(p.tval);
    if (k < 0) {
        int code = d && d->code ? d->code : AT_EPARSE;
        at_expr_free(e);
        return code;
    }
    e->root = k;
    *out = e;
    return 0;
}

/* ---- evaluation ---- */

struct ev {
    const struct at_expr *e;
    const json_t *vars;
    struct at_diag *d;
    unsigned long long fuel;
};

static int eerr(struct ev *v, const struct node *n, int code, const char *fmt, const char *a,
                const char *b)
{
    char msg[600];
    snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
    return at_diag_set(v->d, code, NULL, 1, n->col, "%s", msg);
}

int at_expr_truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    case JSON_TRUE:
        return 1;
    default:
        return 0;
    }
}

static int eval(struct ev *v, int k, json_t **out);

static size_t utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static json_t *number_or_null(double x)
{
    if (!isfinite(x))
        return NULL;
    if (x == floor(x) && fabs(x) < 9.0e15)
        return json_integer((json_int_t)x);
    return json_real(x);
}

static int arith(struct ev *v, const struct node *n, json_t *a, json_t *b, json_t **out)
{
    if (n->op == OP_ADD && json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        if (la + lb > AT_EXPR_MAX_STRING)
            return eerr(v, n, AT_ELIMIT, "string is too long", NULL, NULL);
        char *s = at_malloc(la + lb + 1);
        memcpy(s, json_string_value(a), la);
        memcpy(s + la, json_string_value(b), lb);
        *out = json_stringn_nocheck(s, la + lb);
        free(s);
        return 0;
    }
    if (!json_is_number(a) || !json_is_number(b)) {
        static const char *const names[] = {
            [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_MOD] = "%"};
        char msg[120];
        snprintf(msg, sizeof(msg), "\"%s\" needs two numbers%s, not %%s and %%s", names[n->op],
                 n->op == OP_ADD ? " (or two strings)" : "");
        return eerr(v, n, AT_EINVAL, msg, at_json_type_name(a), at_json_type_name(b));
    }
    if (json_is_integer(a) && json_is_integer(b)) {
        long long x = json_integer_value(a), y = json_integer_value(b), r;
        int ovf = 0;
        switch (n->op) {
        case OP_ADD:
            ovf = __builtin_add_overflow(x, y, &r);
            break;
        case OP_SUB:
            ovf = __builtin_sub_overflow(x, y, &r);
            break;
        case OP_MUL:
            ovf = __builtin_mul_overflow(x, y, &r);
            break;
        case OP_MOD:
            if (y == 0)
                return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
            r = y == -1 ? 0 : x % y;
            break;
        default: /* OP_DIV */
            if (y == 0)
                return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
            if (y != -1 && x % y == 0) {
                r = x / y;
            } else {
                *out = json_real((double)x / (double)y);
                return 0;
            }
            break;
        }
        if (!ovf) {
            *out = json_integer(r);
            return 0;
        }
    }
    double x = json_number_value(a), y = json_number_value(b), r;
    switch (n->op) {
    case OP_ADD:
        r = x + y;
        break;
    case OP_SUB:
        r = x - y;
        break;
    case OP_MUL:
        r = x * y;
        break;
    case OP_MOD:
        if (y == 0)
            return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
        r = fmod(x, y);
        break;
    default:
        if (y == 0)
            return eerr(v, n, AT_EINVAL, "division by zero", NULL, NULL);
        r = x / y;
        break;
    }
    if (!isfinite(r))
        return eerr(v, n, AT_EINVAL, "the result is not a finite number", NULL, NULL);
    *out = json_is_integer(a) && json_is_integer(b) ? number_or_null(r) : json_real(r);
    return 0;
}

static int compare(struct ev *v, const struct node *n, json_t *a, json_t *b, json_t **out)
{
    int c;
    if (json_is_number(a) && json_is_number(b)) {
        c = at_json_num_cmp(a, b);
    } else if (json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        if (c == 0)
            c = la < lb ? -1 : la > lb ? 1 : 0;
    } else {
        return eerr(v, n, AT_EINVAL, "cannot order %s and %s (both must be numbers or strings)",
                    at_json_type_name(a), at_json_type_name(b));
    }
    int r = n->op == OP_LT ? c < 0 : n->op == OP_LE ? c <= 0 : n->op == OP_GT ? c > 0 : c >= 0;
    *out = json_boolean(r);
    return 0;
}

static int regex_search(struct ev *v, const struct node *n, const struct at_regex *pre, json_t *s,
                        json_t *pat, json_t **out)
{
    if (!json_is_string(s) || !json_is_string(pat))
        return eerr(v, n, AT_EINVAL, "a regex match needs a string and a pattern, not %s and %s",
                    at_json_type_name(s), at_json_type_name(pat));
    struct at_regex *re = (struct at_regex *)pre;
    struct at_regex *own = NULL;
    if (!re) {
        struct at_diag rd;
        at_diag_clear(&rd);
        if (at_regex_new(json_string_value(pat), json_string_length(pat), &own, &rd))
            return eerr(v, n, AT_EINVAL, "bad regular expression: %s", rd.msg, NULL);
        re = own;
    }
    int m = at_regex_search(re, json_string_value(s), json_string_length(s), &v->fuel);
    at_regex_free(own);
    if (m < 0)
        return eerr(v, n, AT_ELIMIT, "the regular expression took too many steps", NULL, NULL);
    *out = json_boolean(m);
    return 0;
}

static char *case_map(const char *s, size_t n, int upper)
{
    char *r = at_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        r[i] = (char)(c < 0x80 ? (upper ? toupper(c) : tolower(c)) : c);
    }
    r[n] = '\0';
    return r;
}

static int call(struct ev *v, const struct node *n, json_t **args, json_t **out)
{
    json_t *a = args[0], *b = n->nargs > 1 ? args[1] : NULL;
    switch ((enum fn)n->fn) {
    case FN_LEN:
        if (json_is_string(a))
            *out = json_integer((json_int_t)utf8_len(json_string_value(a), json_string_length(a)));
        else if (json_is_array(a))
            *out = json_integer((json_int_t)json_array_size(a));
        else if (json_is_object(a))
            *out = json_integer((json_int_t)json_object_size(a));
        else
            return eerr(v, n, AT_EINVAL, "len() needs a string, array or object, not %s",
                        at_json_type_name(a), NULL);
        return 0;
    case FN_CONTAINS:
        if (json_is_string(a)) {
            if (!json_is_string(b))
                return eerr(v, n, AT_EINVAL, "contains(string, x) needs x to be a string, not %s",
                            at_json_type_name(b), NULL);
            *out = json_boolean(memmem(json_string_value(a), json_string_length(a),
                                       json_string_value(b), json_string_length(b)) != NULL);
        } else if (json_is_array(a)) {
            size_t i;
            json_t *x;
            int found = 0;
            json_array_foreach(a, i, x) if (at_json_equal(x, b)) found = 1;
            *out = json_boolean(found);
        } else if (json_is_object(a)) {
            if (!json_is_string(b))
                return eerr(v, n, AT_EINVAL, "contains(object, key) needs a string key, not %s",
                            at_json_type_name(b), NULL);
            *out = json_boolean(json_object_get(a, json_string_value(b)) != NULL);
        } else {
            return eerr(v, n, AT_EINVAL, "contains() needs a string, array or object, not %s",
                        at_json_type_name(a), NULL);
        }
        return 0;
    case FN_MATCHES:
        return regex_search(v, n, n->re, a, b, out);
    case FN_STARTS:
    case FN_ENDS: {
        if (!json_is_string(a) || !json_is_string(b))
            return eerr(v, n, AT_EINVAL, "needs two strings, not %s and %s", at_json_type_name(a),
                        at_json_type_name(b));
        size_t la = json_string_length(a), lb = json_string_length(b);
        const char *sa = json_string_value(a), *sb = json_string_value(b);
        int r = lb <= la && memcmp(n->fn == FN_STARTS ? sa : sa + la - lb, sb, lb) == 0;
        *out = json_boolean(r);
        return 0;
    }
    case FN_LOWER:
    case FN_UPPER: {
        if (!json_is_string(a))
            return eerr(v, n, AT_EINVAL, "needs a string, not %s", at_json_type_name(a), NULL);
        char *s = case_map(json_string_value(a), json_string_length(a), n->fn == FN_UPPER);
        *out = json_stringn_nocheck(s, json_string_length(a));
        free(s);
        return 0;
    }
    case FN_ABS:
        if (json_is_integer(a) && json_integer_value(a) != INT64_MIN)
            *out = json_integer(llabs(json_integer_value(a)));
        else if (json_is_number(a))
            *out = json_real(fabs(json_number_value(a)));
        else
            return eerr(v, n, AT_EINVAL, "abs() needs a number, not %s", at_json_type_name(a),
                        NULL);
        return 0;
    case FN_MIN:
    case FN_MAX: {
        json_t *best = NULL;
        for (int i = 0; i < n->nargs; i++) {
            if (!json_is_number(args[i]))
                return eerr(v, n, AT_EINVAL, "min() and max() need numbers, not %s",
                            at_json_type_name(args[i]), NULL);
            int c = best ? at_json_num_cmp(args[i], best) : 0;
            if (!best || (n->fn == FN_MIN ? c < 0 : c > 0))
                best = args[i];
        }
        *out = json_incref(best);
        return 0;
    }
    case FN_EXISTS:
        *out = json_boolean(!json_is_null(a));
        return 0;
    }
    return eerr(v, n, AT_EINTERNAL, "unknown function", NULL, NULL);
}

static int eval(struct ev *v, int k, json_t **out)
{
    const struct node *n = &v->e->n[k];
    json_t *a = NULL, *b = NULL;
    int rc = 0;
    *out = NULL;
    switch (n->op) {
    case OP_LIT:
        *out = json_incref(n->lit);
        return 0;
    case OP_VAR: {
        json_t *x = json_object_get(v->vars, n->name);
        *out = x ? json_incref(x) : json_null();
        return 0;
    }
    case OP_FIELD:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        if (json_is_object(a)) {
            json_t *x = json_object_get(a, n->name);
            *out = x ? json_incref(x) : json_null();
        } else if (json_is_null(a)) {
            *out = json_null(); /* a missing field's fields are missing too */
        } else {
            rc = eerr(v, n, AT_EINVAL, "cannot read field \"%s\" of %s", n->name,
                      at_json_type_name(a));
        }
        json_decref(a);
        return rc;
    case OP_INDEX:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        if (json_is_array(a) && json_is_integer(b)) {
            long long i = json_integer_value(b), len = (long long)json_array_size(a);
            if (i < 0)
                i += len;
            json_t *x = i >= 0 && i < len ? json_array_get(a, (size_t)i) : NULL;
            *out = x ? json_incref(x) : json_null();
        } else if (json_is_object(a) && json_is_string(b)) {
            json_t *x = json_object_get(a, json_string_value(b));
            *out = x ? json_incref(x) : json_null();
        } else if (json_is_null(a)) {
            *out = json_null();
        } else {
            rc = eerr(v, n, AT_EINVAL, "cannot index %s with %s", at_json_type_name(a),
                      at_json_type_name(b));
        }
        break;
    case OP_NOT:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        *out = json_boolean(!at_expr_truthy(a));
        json_decref(a);
        return 0;
    case OP_NEG:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        if (json_is_integer(a) && json_integer_value(a) != INT64_MIN)
            *out = json_integer(-json_integer_value(a));
        else if (json_is_number(a))
            *out = json_real(-json_number_value(a));
        else
            rc = eerr(v, n, AT_EINVAL, "\"-\" needs a number, not %s", at_json_type_name(a), NULL);
        json_decref(a);
        return rc;
    case OP_OR:
    case OP_AND:
        if ((rc = eval(v, n->a, &a)))
            return rc;
        if (at_expr_truthy(a) == (n->op == OP_OR)) {
            *out = json_boolean(n->op == OP_OR);
            json_decref(a);
            return 0;
        }
        json_decref(a);
        if ((rc = eval(v, n->b, &b)))
            return rc;
        *out = json_boolean(at_expr_truthy(b));
        json_decref(b);
        return 0;
    case OP_EQ:
    case OP_NE:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        *out = json_boolean(at_json_equal(a, b) == (n->op == OP_EQ));
        break;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        rc = compare(v, n, a, b, out);
        break;
    case OP_MATCH:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        rc = regex_search(v, n, n->re, a, b, out);
        break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD:
        if ((rc = eval(v, n->a, &a)) || (rc = eval(v, n->b, &b)))
            break;
        rc = arith(v, n, a, b, out);
        break;
    case OP_CALL: {
        json_t *args[MAX_ARGS] = {0};
        for (int i = 0; i < n->nargs && !rc; i++)
            rc = eval(v, n->args[i], &args[i]);
        if (!rc)
            rc = call(v, n, args, out);
        for (int i = 0; i < n->nargs; i++)
            json_decref(args[i]);
        return rc;
    }
    }
    json_decref(a);
    json_decref(b);
    if (rc && *out) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int at_expr_eval(const struct at_expr *e, const json_t *vars, json_t **out, struct at_diag *d)
{
    struct ev v = {.e = e, .vars = vars, .d = d, .fuel = 10000000ULL};
    *out = NULL;
    return eval(&v, e->root, out);
}
