/*
 * jsonpath_int.h - the parsed form of a JSONPath (RFC 9535 subset), shared
 * by jsonpath_parse.c (parsing, freeing, static properties) and
 * jsonpath_eval.c (evaluation).  Not part of the public API.
 *
 * A path is a query: segments, each a list of selectors (RFC 9535 §2.5);
 * a filter selector holds a logical expression tree (§2.3.5) whose leaves
 * compare literals and singular queries or test a query for existence.
 * The parsed form is immutable once at_jsonpath_new returns.
 */
#ifndef AT_JSON_JSONPATH_INT_H
#define AT_JSON_JSONPATH_INT_H

#include "json/jsonpath.h"

#include <jansson.h>
#include <stddef.h>

enum at__jp_sel_kind {
    AT__JP_SEL_NAME,
    AT__JP_SEL_INDEX,
    AT__JP_SEL_WILD,
    AT__JP_SEL_SLICE,
    AT__JP_SEL_FILTER
};

struct at__jp_expr;

struct at__jp_sel {
    int kind;
    char *name; /* AT__JP_SEL_NAME: the member name; AT__JP_SEL_INDEX: the index as text */
    size_t name_len;
    long long index;
    long long start, end, step; /* AT__JP_SEL_SLICE */
    int has_start, has_end;
    struct at__jp_expr *filter;
};

struct at__jp_seg {
    int descendant;
    size_t nsel;
    struct at__jp_sel *sel;
};

struct at__jp_query {
    int relative; /* @ rather than $ */
    size_t nseg;
    struct at__jp_seg *seg;
};

enum at__jp_expr_kind { AT__JP_EX_OR, AT__JP_EX_AND, AT__JP_EX_NOT, AT__JP_EX_CMP, AT__JP_EX_TEST };
enum at__jp_cmp_op {
    AT__JP_CMP_EQ,
    AT__JP_CMP_NE,
    AT__JP_CMP_LT,
    AT__JP_CMP_LE,
    AT__JP_CMP_GT,
    AT__JP_CMP_GE
};

struct at__jp_operand {
    json_t *lit;            /* a literal, or NULL */
    struct at__jp_query *q; /* a singular query, or NULL */
};

struct at__jp_expr {
    int kind;
    struct at__jp_expr *a, *b; /* AT__JP_EX_OR, AT__JP_EX_AND: both; AT__JP_EX_NOT: a */
    int op;
    struct at__jp_operand l, r; /* AT__JP_EX_CMP */
    struct at__jp_query *q;     /* AT__JP_EX_TEST */
};

struct at_jsonpath {
    struct at__jp_query q;
    int singular;
    const char **prefix; /* borrowed from the selectors */
    size_t nprefix;
};

#endif
