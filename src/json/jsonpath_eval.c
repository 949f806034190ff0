/*
 * jsonpath_eval.c - evaluating a parsed JSONPath (jsonpath_int.h) over
 * jansson values, with RFC 9535 §2.3.5.2.2 comparison semantics.
 *
 * Recursion follows the parsed tree, whose depth AT_JSONPATH_MAX_NEST
 * bounds; descendant segments walk the document with an explicit stack, so
 * a deep document cannot exhaust the C stack.  Evaluation has a work budget
 * and a result size cap so that "$..*..*..*" on a large document ends.
 */
#include "json/jsonpath.h"

#include "base/alloc.h"
#include "json/json.h"
#include "json/jsonpath_int.h"

#include <stdlib.h>
#include <string.h>

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

static int eval_expr(struct ectx *c, const struct at__jp_expr *e, const json_t *cur);

/* RFC 9535 §2.3.4.2.2 slice bounds. */
static void select_slice(struct ectx *c, const struct at__jp_sel *s, const json_t *arr,
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

static void select_children(struct ectx *c, const struct at__jp_sel *s, const json_t *v,
                            struct nodelist *out)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && !c->stop; i++) {
            const json_t *e = json_array_get(v, i);
            if (spend(c, 1) == 0 && (s->kind == AT__JP_SEL_WILD || eval_expr(c, s->filter, e)))
                nl_push(c, out, e);
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (c->stop)
                break;
            if (spend(c, 1) == 0 && (s->kind == AT__JP_SEL_WILD || eval_expr(c, s->filter, m)))
                nl_push(c, out, m);
        }
    }
}

static void apply_selectors(struct ectx *c, const struct at__jp_seg *seg, const json_t *v,
                            struct nodelist *out)
{
    for (size_t i = 0; i < seg->nsel && !c->stop; i++) {
        const struct at__jp_sel *s = &seg->sel[i];
        if (spend(c, 1))
            return;
        switch (s->kind) {
        case AT__JP_SEL_NAME:
            if (json_is_object(v)) {
                const json_t *m = json_object_getn(v, s->name, s->name_len);
                if (m)
                    nl_push(c, out, m);
            }
            break;
        case AT__JP_SEL_INDEX:
            if (json_is_array(v)) {
                long long len = (long long)json_array_size(v);
                long long idx = s->index < 0 ? len + s->index : s->index;
                if (idx >= 0 && idx < len)
                    nl_push(c, out, json_array_get(v, (size_t)idx));
            }
            break;
        case AT__JP_SEL_SLICE:
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
static void apply_descendants(struct ectx *c, const struct at__jp_seg *seg, const json_t *v,
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
static void eval_query(struct ectx *c, const struct at__jp_query *q, const json_t *start,
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
static const json_t *operand_value(struct ectx *c, const struct at__jp_operand *o,
                                   const json_t *cur)
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

static int eval_expr(struct ectx *c, const struct at__jp_expr *e, const json_t *cur)
{
    if (c->stop)
        return 0;
    switch (e->kind) {
    case AT__JP_EX_OR:
        return eval_expr(c, e->a, cur) || eval_expr(c, e->b, cur);
    case AT__JP_EX_AND:
        return eval_expr(c, e->a, cur) && eval_expr(c, e->b, cur);
    case AT__JP_EX_NOT:
        return !eval_expr(c, e->a, cur);
    case AT__JP_EX_TEST: {
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
        case AT__JP_CMP_EQ:
            return equal(a, b);
        case AT__JP_CMP_NE:
            return !equal(a, b);
        case AT__JP_CMP_LT:
            return less(a, b);
        case AT__JP_CMP_LE:
            return less(a, b) || equal(a, b);
        case AT__JP_CMP_GT:
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
