/*
 * router.c - the route table (router.h).
 *
 * Patterns are compiled into segments once; a match scans the table
 * (a few dozen routes) and keeps the most specific pattern, so the
 * result never depends on the order routes were added in.
 */
#include "http/router.h"

#include "base/alloc.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum seg_kind { SEG_LIT, SEG_PARAM, SEG_REST }; /* in order of precedence */

struct seg {
    enum seg_kind kind;
    char *text; /* the literal, or the parameter's name */
    size_t len;
};

struct entry {
    struct at_http_route def;
    void *arg;
    struct seg *segs;
    size_t nsegs;
};

struct at_http_router {
    struct entry *v;
    size_t n, cap;
};

struct at_http_router *at_http_router_new(void)
{
    return at_calloc(1, sizeof(struct at_http_router));
}

static void entry_release(struct entry *e)
{
    for (size_t i = 0; i < e->nsegs; i++)
        free(e->segs[i].text);
    free(e->segs);
}

void at_http_router_free(struct at_http_router *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->n; i++)
        entry_release(&rt->v[i]);
    free(rt->v);
    free(rt);
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

static int compile(const char *pattern, struct entry *e, struct at_diag *d)
{
    if (!pattern || pattern[0] != '/')
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "route pattern \"%s\" does not start with /",
                           pattern ? pattern : "");
    size_t cap = 4;
    e->segs = at_calloc(cap, sizeof(*e->segs));
    e->nsegs = 0;
    const char *p = pattern + 1;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (e->nsegs == cap) {
            cap *= 2;
            e->segs = at_realloc(e->segs, cap * sizeof(*e->segs));
        }
        struct seg *s = &e->segs[e->nsegs];
        if (e->nsegs > 0 && e->segs[e->nsegs - 1].kind == SEG_REST)
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                               "route pattern \"%s\": a {name*} parameter must be last", pattern);
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            int rest = len >= 3 && p[len - 2] == '*';
            size_t nlen = len - 2 - (rest ? 1 : 0);
            if (!valid_name(p + 1, nlen))
                return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                                   "route pattern \"%s\": bad parameter name in \"%.*s\"", pattern,
                                   (int)len, p);
            for (size_t i = 0; i < e->nsegs; i++)
                if (e->segs[i].kind != SEG_LIT && e->segs[i].len == nlen &&
                    memcmp(e->segs[i].text, p + 1, nlen) == 0)
                    return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                                       "route pattern \"%s\": parameter \"%.*s\" twice", pattern,
                                       (int)nlen, p + 1);
            s->kind = rest ? SEG_REST : SEG_PARAM;
            s->text = at_strndup(p + 1, nlen);
            s->len = nlen;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len))
                return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                                   "route pattern \"%s\": braces must enclose a whole segment",
                                   pattern);
            s->kind = SEG_LIT;
            s->text = at_strndup(p, len);
            s->len = len;
        }
        e->nsegs++;
        if (!end)
            break;
        p = end + 1;
    }
    size_t nparams = 0;
    for (size_t i = 0; i < e->nsegs; i++)
        nparams += e->segs[i].kind != SEG_LIT;
    if (nparams > AT_HTTP_MAX_PARAMS)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "route pattern \"%s\" has more than %d parameters", pattern,
                           AT_HTTP_MAX_PARAMS);
    return 0;
}

/* The same pattern, parameter names aside. */
static int same_shape(const struct entry *a, const struct entry *b)
{
    if (a->nsegs != b->nsegs)
        return 0;
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->segs[i].kind != b->segs[i].kind)
            return 0;
        if (a->segs[i].kind == SEG_LIT &&
            (a->segs[i].len != b->segs[i].len ||
             memcmp(a->segs[i].text, b->segs[i].text, a->segs[i].len) != 0))
            return 0;
    }
    return 1;
}

static int methods_overlap(const char *a, const char *b)
{
    return strcmp(a, "*") == 0 || strcmp(b, "*") == 0 || strcmp(a, b) == 0;
}

static int valid_method(const char *m)
{
    if (!m || !*m || strlen(m) > 15)
        return 0;
    if (strcmp(m, "*") == 0)
        return 1;
    for (const char *p = m; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return 0;
    return strcmp(m, "HEAD") != 0; /* GET routes answer HEAD */
}

int at_http_router_add(struct at_http_router *rt, const struct at_http_route *routes, size_t n,
                       void *arg, struct at_diag *d)
{
    struct entry *add = at_calloc(n ? n : 1, sizeof(*add));
    int rc = 0;
    size_t done = 0;
    for (; done < n; done++) {
        const struct at_http_route *r = &routes[done];
        struct entry *e = &add[done];
        e->def = *r;
        e->arg = arg;
        if (!valid_method(r->method) || !r->handler) {
            rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "route %s %s: bad method or no handler",
                             r->method ? r->method : "(null)", r->pattern ? r->pattern : "");
            done++;
            goto fail;
        }
        if ((rc = compile(r->pattern, e, d))) {
            done++;
            goto fail;
        }
        for (size_t k = 0; k < rt->n + done; k++) {
            const struct entry *o = k < rt->n ? &rt->v[k] : &add[k - rt->n];
            if (same_shape(o, e) && methods_overlap(o->def.method, e->def.method)) {
                rc = at_diag_set(d, AT_EEXIST, NULL, 0, 0,
                                 "route %s %s: the same pattern and method as %s %s", r->method,
                                 r->pattern, o->def.method, o->def.pattern);
                done++;
                goto fail;
            }
        }
    }
    if (rt->n + n > rt->cap) {
        rt->cap = (rt->n + n) * 2;
        rt->v = at_realloc(rt->v, rt->cap * sizeof(*rt->v));
    }
    memcpy(rt->v + rt->n, add, n * sizeof(*add));
    rt->n += n;
    free(add);
    return 0;
fail:
    for (size_t i = 0; i < done; i++)
        entry_release(&add[i]);
    free(add);
    return rc;
}

/* Split path into segments (slices); -1 when there are too many. */
#define MAX_SEGS 32
struct pseg {
    const char *p;
    size_t len;
};

static int split_path(const char *path, struct pseg *out)
{
    if (path[0] != '/')
        return -1;
    int n = 0;
    const char *p = path + 1;
    for (;;) {
        if (n == MAX_SEGS)
            return -1;
        const char *end = strchr(p, '/');
        out[n].p = p;
        out[n].len = end ? (size_t)(end - p) : strlen(p);
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    return n;
}

/* Does e match the path?  Fills params (the rest parameter spans the
 * remaining segments and the slashes between them). */
static int entry_matches(const struct entry *e, const char *path, const struct pseg *ps, int n,
                         struct at_http_param *params, size_t *nparams)
{
    size_t np = 0;
    for (size_t i = 0; i < e->nsegs; i++) {
        const struct seg *s = &e->segs[i];
        if (s->kind == SEG_REST) {
            if ((int)i >= n)
                return 0; /* "/mcp" is not "/mcp/{rest*}" */
            params[np].name = s->text;
            params[np].value = ps[i].p;
            params[np].len = strlen(ps[i].p);
            np++;
            *nparams = np;
            return 1;
        }
        if ((int)i >= n)
            return 0;
        if (s->kind == SEG_LIT) {
            if (ps[i].len != s->len || memcmp(ps[i].p, s->text, s->len) != 0)
                return 0;
        } else {
            if (ps[i].len == 0)
                return 0;
            params[np].name = s->text;
            params[np].value = ps[i].p;
            params[np].len = ps[i].len;
            np++;
        }
    }
    (void)path;
    if ((int)e->nsegs != n)
        return 0;
    *nparams = np;
    return 1;
}

/* <0: a is more specific than b; 0: same pattern; >0: less specific. */
static int specificity(const struct entry *a, const struct entry *b)
{
    size_t n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (size_t i = 0; i < n; i++)
        if (a->segs[i].kind != b->segs[i].kind)
            return (int)a->segs[i].kind - (int)b->segs[i].kind;
    /* both matched the same path: equal kinds up to here mean one pattern
     * (literals equal the path's segments), unless a rest parameter ends
     * one of them, which the loop has already told apart */
    return 0;
}

static int method_matches(const char *route, const char *req)
{
    if (strcmp(route, "*") == 0 || strcmp(route, req) == 0)
        return 1;
    return strcmp(route, "GET") == 0 && strcmp(req, "HEAD") == 0;
}

int at_http_router_match(const struct at_http_router *rt, const char *method, const char *path,
                         struct at_http_match *m)
{
    memset(m, 0, sizeof(*m));
    m->status = 404;
    struct pseg ps[MAX_SEGS];
    int n = path ? split_path(path, ps) : -1;
    if (n < 0)
        return m->status;
    const struct entry *best = NULL; /* the most specific pattern so far */
    const struct entry *chosen = NULL;
    struct at_http_param params[AT_HTTP_MAX_PARAMS];
    for (size_t i = 0; i < rt->n; i++) {
        const struct entry *e = &rt->v[i];
        size_t np = 0;
        if (!entry_matches(e, path, ps, n, params, &np))
            continue;
        int cmp = best ? specificity(e, best) : -1;
        if (cmp > 0)
            continue;
        if (cmp < 0) {
            best = e;
            chosen = NULL;
        }
        if (!chosen && method_matches(e->def.method, method)) {
            chosen = e;
            memcpy(m->params, params, np * sizeof(*params));
            m->nparams = np;
        }
    }
    if (!best)
        return m->status;
    if (chosen) {
        m->status = 0;
        m->route = &chosen->def;
        m->arg = chosen->arg;
        return 0;
    }
    /* 405: the group's methods, in the order they were added */
    m->status = 405;
    m->route = &best->def;
    m->arg = best->arg;
    size_t len = 0;
    for (size_t i = 0; i < rt->n; i++) {
        const struct entry *e = &rt->v[i];
        if (!same_shape(e, best))
            continue;
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = same_shape(&rt->v[k], best) && strcmp(rt->v[k].def.method, e->def.method) == 0;
        if (dup)
            continue;
        int w = snprintf(m->allow + len, sizeof(m->allow) - len, "%s%s", len ? ", " : "",
                         e->def.method);
        if (w < 0 || (size_t)w >= sizeof(m->allow) - len)
            break;
        len += (size_t)w;
    }
    return m->status;
}

size_t at_http_router_count(const struct at_http_router *rt)
{
    return rt ? rt->n : 0;
}

const struct at_http_route *at_http_router_route(const struct at_http_router *rt, size_t i)
{
    return rt && i < rt->n ? &rt->v[i].def : NULL;
}
