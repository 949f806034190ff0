/*
 * metrics.c - the metric registry and its Prometheus text exposition.
 */
#include "monitor/metrics.h"

#include "base/alloc.h"
#include "base/map.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1,     2.5,    5,     10,   30,    60,   120, 300};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
    char *labels;
    double value; /* counter, gauge; histogram: sum */
    unsigned long long count;
    unsigned long long bucket[NBUCKETS];
};

struct family {
    char *name;
    char *help;
    enum kind kind;
    struct at_map index; /* labels -> struct series * */
    struct series **s;
    size_t n, cap;
};

struct at_metrics {
    pthread_mutex_t mu;
    struct at_map index; /* name -> family */
    struct family **f;
    size_t n, cap;
};

struct at_metrics *at_metrics_new(void)
{
    struct at_metrics *m = at_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    at_map_init(&m->index);
    return m;
}

void at_metrics_free(struct at_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        struct family *f = m->f[i];
        for (size_t k = 0; k < f->n; k++) {
            free(f->s[k]->labels);
            free(f->s[k]);
        }
        free(f->s);
        at_map_release(&f->index);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->f);
    at_map_release(&m->index);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

char *at_metrics_labels(char *out, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    size_t off = 0;
    out[0] = '\0';
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (!v)
            v = "";
        int w = snprintf(out + off, n - off, "%s%s=\"", off ? "," : "", k);
        if (w < 0 || (size_t)w >= n - off)
            break;
        off += (size_t)w;
        for (const char *p = v; *p && off + 3 < n; p++) {
            if (*p == '\\' || *p == '"') {
                out[off++] = '\\';
                out[off++] = *p;
            } else if (*p == '\n') {
                out[off++] = '\\';
                out[off++] = 'n';
            } else {
                out[off++] = *p;
            }
        }
        if (off + 2 > n)
            break;
        out[off++] = '"';
        out[off] = '\0';
    }
    va_end(ap);
    return out;
}

/* The series for labels in family name (created as needed).  Under mu. */
static struct series *series_get(struct at_metrics *m, const char *name, const char *help,
                                 enum kind kind, const char *labels)
{
    struct family *f = at_map_get(&m->index, name);
    if (!f) {
        f = at_calloc(1, sizeof(*f));
        f->name = at_strdup(name);
        f->help = at_strdup(help ? help : name);
        f->kind = kind;
        at_map_init(&f->index);
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 32;
            m->f = at_realloc(m->f, m->cap * sizeof(*m->f));
        }
        m->f[m->n++] = f;
        at_map_put(&m->index, f->name, f);
    }
    if (f->kind != kind)
        return NULL; /* one name, one type */
    const char *key = labels ? labels : "";
    struct series *s = at_map_get(&f->index, key);
    if (s)
        return s;
    if (f->n >= AT_METRICS_MAX_SERIES) {
        key = "overflow=\"true\"";
        if ((s = at_map_get(&f->index, key)))
            return s;
    }
    s = at_calloc(1, sizeof(*s));
    s->labels = at_strdup(key);
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->s = at_realloc(f->s, f->cap * sizeof(*f->s));
    }
    f->s[f->n++] = s;
    at_map_put(&f->index, s->labels, s);
    return s;
}

void at_metrics_inc(struct at_metrics *m, const char *name, const char *help, const char *labels,
                    double v)
{
    if (!(v >= 0))
        return;
    pthread_mutex_lock(&m->mu);
    struct series *s = series_get(m, name, help, K_COUNTER, labels);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&m->mu);
}

void at_metrics_set(struct at_metrics *m, const char *name, const char *help, const char *labels,
                    double v)
{
    pthread_mutex_lock(&m->mu);
    struct series *s = series_get(m, name, help, K_GAUGE, labels);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&m->mu);
}

void at_metrics_observe(struct at_metrics *m, const char *name, const char *help,
                        const char *labels, double v)
{
    if (!isfinite(v))
        return;
    pthread_mutex_lock(&m->mu);
    struct series *s = series_get(m, name, help, K_HISTOGRAM, labels);
    if (s) {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < NBUCKETS; i++)
            if (v <= buckets[i])
                s->bucket[i]++;
    }
    pthread_mutex_unlock(&m->mu);
}

double at_metrics_get(struct at_metrics *m, const char *name, const char *labels)
{
    pthread_mutex_lock(&m->mu);
    double v = 0;
    struct family *f = at_map_get(&m->index, name);
    struct series *s = f ? at_map_get(&f->index, labels ? labels : "") : NULL;
    if (s)
        v = f->kind == K_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&m->mu);
    return v;
}

static void put_value(struct at_buf *b, double v)
{
    if (isnan(v))
        at_buf_puts(b, "NaN");
    else if (isinf(v))
        at_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        at_buf_printf(b, "%.0f", v);
    else
        at_buf_printf(b, "%.17g", v);
}

static void put_help(struct at_buf *b, const char *help)
{
    /* HELP text escapes \ and newline (exposition format 0.0.4) */
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            at_buf_puts(b, "\\\\");
        else if (*p == '\n')
            at_buf_puts(b, "\\n");
        else
            at_buf_putc(b, *p);
    }
}

static void put_series(struct at_buf *b, const char *name, const char *suffix, const char *labels,
                       const char *extra, double v)
{
    at_buf_printf(b, "%s%s", name, suffix);
    if (*labels || extra) {
        at_buf_putc(b, '{');
        at_buf_puts(b, labels);
        if (extra)
            at_buf_printf(b, "%s%s", *labels ? "," : "", extra);
        at_buf_putc(b, '}');
    }
    at_buf_putc(b, ' ');
    put_value(b, v);
    at_buf_putc(b, '\n');
}

void at_metrics_format(struct at_metrics *m, struct at_buf *b)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        struct family *f = m->f[i];
        if (f->n == 0)
            continue;
        at_buf_printf(b, "# HELP %s ", f->name);
        put_help(b, f->help);
        at_buf_printf(b, "\n# TYPE %s %s\n", f->name, types[f->kind]);
        for (size_t k = 0; k < f->n; k++) {
            struct series *s = f->s[k];
            if (f->kind != K_HISTOGRAM) {
                put_series(b, f->name, "", s->labels, NULL, s->value);
                continue;
            }
            char le[48];
            for (size_t j = 0; j < NBUCKETS; j++) {
                snprintf(le, sizeof(le), "le=\"%g\"", buckets[j]);
                put_series(b, f->name, "_bucket", s->labels, le, (double)s->bucket[j]);
            }
            put_series(b, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
            put_series(b, f->name, "_sum", s->labels, NULL, s->value);
            put_series(b, f->name, "_count", s->labels, NULL, (double)s->count);
        }
    }
    pthread_mutex_unlock(&m->mu);
}
