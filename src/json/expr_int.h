/*
 * expr_int.h - the compiled form of an eval expression, shared by
 * expr_parse.c (lexing, parsing, compiling) and expr_eval.c (evaluation).
 * Not part of the public API.
 *
 * An expression is a tree of nodes held in one array (struct at_expr), so
 * it is freed in one loop; children are indexes into the array.  The tree
 * is immutable once at_expr_compile returns.
 */
#ifndef AT_JSON_EXPR_INT_H
#define AT_JSON_EXPR_INT_H

#include "json/expr.h"
#include "json/regex.h"

#include <jansson.h>

enum at__expr_op {
    AT__OP_LIT,   /* lit */
    AT__OP_VAR,   /* name */
    AT__OP_FIELD, /* a.name */
    AT__OP_INDEX, /* a[b] */
    AT__OP_NOT,
    AT__OP_NEG,
    AT__OP_OR,
    AT__OP_AND,
    AT__OP_EQ,
    AT__OP_NE,
    AT__OP_LT,
    AT__OP_LE,
    AT__OP_GT,
    AT__OP_GE,
    AT__OP_MATCH, /* a =~ b */
    AT__OP_ADD,
    AT__OP_SUB,
    AT__OP_MUL,
    AT__OP_DIV,
    AT__OP_MOD,
    AT__OP_CALL, /* fn(args) */
};

enum at__expr_fn {
    AT__FN_LEN,
    AT__FN_CONTAINS,
    AT__FN_MATCHES,
    AT__FN_STARTS,
    AT__FN_ENDS,
    AT__FN_LOWER,
    AT__FN_UPPER,
    AT__FN_ABS,
    AT__FN_MIN,
    AT__FN_MAX,
    AT__FN_EXISTS,
};

#define AT__EXPR_MAX_ARGS 8

struct at__enode {
    enum at__expr_op op;
    int col;  /* 1-based column of the operator, name or literal */
    int a, b; /* child node indexes (-1 when absent) */
    int fn;   /* AT__OP_CALL */
    int nargs;
    int args[AT__EXPR_MAX_ARGS];
    json_t *lit;         /* AT__OP_LIT */
    char *name;          /* AT__OP_VAR, AT__OP_FIELD */
    struct at_regex *re; /* AT__OP_MATCH / matches() with a literal pattern */
};

struct at_expr {
    struct at__enode *n;
    int count;
    int root;
};

#endif
