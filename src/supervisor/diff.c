/*
 * diff.c - unified diffs (diff.h).
 */
#include "supervisor/diff.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct lines {
    const char **p;
    size_t *len;
    size_t n;
};

static int split(const char *s, struct lines *l)
{
    l->n = 0;
    l->p = NULL;
    l->len = NULL;
    if (!s || !*s)
        return 0;
    size_t cap = 0;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (l->n == AT_DIFF_MAX_LINES)
            return -1;
        if (l->n == cap) {
            cap = cap ? cap * 2 : 64;
            l->p = at_realloc(l->p, cap * sizeof(*l->p));
            l->len = at_realloc(l->len, cap * sizeof(*l->len));
        }
        l->p[l->n] = s;
        l->len[l->n++] = n;
        s += n + (e ? 1 : 0);
    }
    return 0;
}

static int same(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
    return a->len[i] == b->len[j] && memcmp(a->p[i], b->p[j], a->len[i]) == 0;
}

/* One edit script entry: ' ', '-' or '+' and the line. */
struct op {
    char kind;
    size_t ai, bi;
};

char *at_diff_unified(const char *a_name, const char *a, const char *b_name, const char *b)
{
    struct lines la = {0}, lb = {0};
    if (split(a, &la) || split(b, &lb)) {
        free(la.p);
        free(la.len);
        free(lb.p);
        free(lb.len);
        return NULL;
    }
    size_t n = la.n, m = lb.n;
    /* lcs[i][j]: the LCS length of a[i..] and b[j..] */
    uint32_t *lcs = at_calloc((n + 1) * (m + 1), sizeof(uint32_t));
#define L(i, j) lcs[(i) * (m + 1) + (j)]
    for (size_t i = n; i-- > 0;)
        for (size_t j = m; j-- > 0;)
            L(i, j) = same(&la, i, &lb, j)         ? L(i + 1, j + 1) + 1
                      : L(i + 1, j) >= L(i, j + 1) ? L(i + 1, j)
                                                   : L(i, j + 1);
    struct op *ops = at_calloc(n + m + 1, sizeof(*ops));
    size_t no = 0, i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && same(&la, i, &lb, j)) {
            ops[no++] = (struct op){' ', i++, j++};
        } else if (j < m && (i == n || L(i, j + 1) >= L(i + 1, j))) {
            ops[no++] = (struct op){'+', i, j++};
        } else {
            ops[no++] = (struct op){'-', i++, j};
        }
    }
#undef L
    free(lcs);
    struct at_buf out;
    at_buf_init(&out, AT_BUF_UNLIMITED);
    int changed = 0;
    for (size_t k = 0; k < no; k++)
        if (ops[k].kind != ' ')
            changed = 1;
    if (changed) {
        at_buf_printf(&out, "--- %s\n+++ %s\n", a ? a_name : "/dev/null", b_name);
        size_t k = 0;
        while (k < no) {
            while (k < no && ops[k].kind == ' ')
                k++;
            if (k == no)
                break;
            size_t start = k >= 3 ? k - 3 : 0, end = k;
            /* extend over changes separated by at most 6 context lines */
            for (;;) {
                while (end < no && ops[end].kind != ' ')
                    end++;
                size_t ctx = end;
                while (ctx < no && ops[ctx].kind == ' ' && ctx - end < 7)
                    ctx++;
                if (ctx < no && ops[ctx].kind != ' ' && ctx - end <= 6) {
                    end = ctx;
                    continue;
                }
                end = end + 3 < no ? end + 3 : no;
                break;
            }
            size_t an = 0, bn = 0;
            for (size_t q = start; q < end; q++) {
                an += ops[q].kind != '+';
                bn += ops[q].kind != '-';
            }
            size_t a0 = ops[start].ai + (an ? 1 : 0), b0 = ops[start].bi + (bn ? 1 : 0);
            at_buf_printf(&out, "@@ -%zu,%zu +%zu,%zu @@\n", a0, an, b0, bn);
            for (size_t q = start; q < end; q++) {
                const struct lines *src = ops[q].kind == '+' ? &lb : &la;
                size_t idx = ops[q].kind == '+' ? ops[q].bi : ops[q].ai;
                at_buf_printf(&out, "%c%.*s\n", ops[q].kind, (int)src->len[idx], src->p[idx]);
            }
            k = end;
        }
    }
    free(ops);
    free(la.p);
    free(la.len);
    free(lb.p);
    free(lb.len);
    return at_buf_detach(&out, NULL);
}
