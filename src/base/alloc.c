#include "base/alloc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_after = -1;

static void default_oom(size_t n)
{
    fprintf(stderr, "atlas: out of memory allocating %zu bytes\n", n);
    abort();
}

static void (*oom_handler)(size_t) = default_oom;

void at_alloc_fail_after(long n)
{
    atomic_store(&fail_after, n);
}

void at_alloc_set_oom_handler(void (*fn)(size_t n))
{
    oom_handler = fn ? fn : default_oom;
}

static int injected_failure(void)
{
    long v = atomic_load(&fail_after);
    while (v >= 0) {
        if (atomic_compare_exchange_weak(&fail_after, &v, v - 1))
            return v == 0;
    }
    return 0;
}

static void *check(void *p, size_t n)
{
    if (!p) {
        oom_handler(n);
        abort(); /* a handler that returns is a bug */
    }
    return p;
}

void *at_malloc(size_t n)
{
    if (injected_failure())
        return check(NULL, n);
    return check(malloc(n ? n : 1), n);
}

void *at_calloc(size_t nmemb, size_t size)
{
    if (injected_failure())
        return check(NULL, nmemb * size);
    return check(calloc(nmemb ? nmemb : 1, size ? size : 1), nmemb * size);
}

void *at_realloc(void *p, size_t n)
{
    if (injected_failure())
        return check(NULL, n);
    return check(realloc(p, n ? n : 1), n);
}

char *at_strdup(const char *s)
{
    return at_strndup(s, strlen(s));
}

char *at_strndup(const char *s, size_t n)
{
    char *d = at_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *at_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *s = at_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
