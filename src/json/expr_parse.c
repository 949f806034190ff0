/*
 * expr_parse.c - lexing and parsing the eval expression language (expr.h,
 * docs/evals.md) into the node array of expr_int.h; string literals go
 * through the shared lexer (lex.h).
 *
 * A recursive-descent parser, one function per precedence level.
 * Recursion is bounded by AT_EXPR_MAX_DEPTH, and the tree it builds is no
 * deeper, so evaluation (expr_eval.c) is bounded too.
 */
#include "json/expr.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "json/expr_int.h"
#include "json/json.h"
#include "json/lex.h"
#include "json/regex.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int min, max; /* argument counts */
} fns[] = {
    [AT__FN_LEN] = {"len", 1, 1},         [AT__FN_CONTAINS] = {"contains", 2, 2},
    [AT__FN_MATCHES] = {"matches", 2, 2}, [AT__FN_STARTS] = {"starts_with", 2, 2},
    [AT__FN_ENDS] = {"ends_with", 2, 2},  [AT__FN_LOWER] = {"lower", 1, 1},
    [AT__FN_UPPER] = {"upper", 1, 1},     [AT__FN_ABS] = {"abs", 1, 1},
    [AT__FN_MIN] = {"min", 2, 8},         [AT__FN_MAX] = {"max", 2, 8},
    [AT__FN_EXISTS] = {"exists", 1, 1},
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

/* A string literal in ' or " (lex.h, AT_LEX_EXPR): columns are bytes. */
static int lex_string(struct parser *p)
{
    struct at_buf b;
    struct at_lex_err le;
    size_t end;
    at_buf_init(&b, p->len);
    int rc = at_lex_string(p->s, p->len, p->pos, AT_LEX_EXPR, &b, &end, &le);
    if (rc) {
        at_buf_release(&b);
        return perr(p, (int)le.at + 1, rc, "%s", le.msg);
    }
    p->tval = json_stringn_nocheck(b.p ? b.p : "", b.len);
    at_buf_release(&b);
    if (!p->tval)
        return perr(p, (int)p->pos + 1, AT_ENOMEM, "out of memory", NULL);
    p->pos = end;
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
    char c2 = '\0';
    if (p->pos + 1 < p->len)
        c2 = p->s[p->pos + 1];
    int rc = 0;
    if (isdigit((unsigned char)c)) {
        p->t = T_NUM;
        rc = lex_number(p);
    } else if (c == '"' || c == '\'') {
        p->t = T_STR;
        rc = lex_string(p);
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

static int new_node(struct parser *p, enum at__expr_op op, int col)
{
    if (p->e->count >= AT_EXPR_MAX_NODES) {
        perr(p, col, AT_E2BIG, "the expression is too large (more than %s nodes)", "1024");
        return -1;
    }
    struct at__enode *n = &p->e->n[p->e->count];
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
static int compile_regex(struct parser *p, struct at__enode *at, const struct at__enode *lit)
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
        int k = new_node(p, AT__OP_LIT, col);
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
            int k = new_node(p, AT__OP_LIT, col);
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
            int k = new_node(p, AT__OP_CALL, col);
            if (k < 0 || next(p))
                return -1;
            int nargs = 0;
            int args[AT__EXPR_MAX_ARGS];
            if (p->t != T_RP) {
                for (;;) {
                    if (nargs == AT__EXPR_MAX_ARGS) {
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
            struct at__enode *n = &p->e->n[k];
            n->fn = fn;
            n->nargs = nargs;
            memcpy(n->args, args, sizeof(int) * (size_t)nargs);
            if (fn == AT__FN_MATCHES && p->e->n[args[1]].op == AT__OP_LIT &&
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
        int k = new_node(p, AT__OP_VAR, col);
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
            int f = new_node(p, AT__OP_FIELD, col);
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
            int f = new_node(p, AT__OP_INDEX, col);
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
        enum at__expr_op op = p->t == T_NOT ? AT__OP_NOT : AT__OP_NEG;
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
    enum at__expr_op op[6];
    int n;
} levels[] = {
    {{T_OR}, {AT__OP_OR}, 1},
    {{T_AND}, {AT__OP_AND}, 1},
    {{T_EQ, T_NE}, {AT__OP_EQ, AT__OP_NE}, 2},
    {{T_LT, T_LE, T_GT, T_GE, T_MATCH},
     {AT__OP_LT, AT__OP_LE, AT__OP_GT, AT__OP_GE, AT__OP_MATCH},
     5},
    {{T_PLUS, T_MINUS}, {AT__OP_ADD, AT__OP_SUB}, 2},
    {{T_STAR, T_SLASH, T_PCT}, {AT__OP_MUL, AT__OP_DIV, AT__OP_MOD}, 3},
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
        if (levels[level].op[which] == AT__OP_MATCH && p->e->n[b].op == AT__OP_LIT &&
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
