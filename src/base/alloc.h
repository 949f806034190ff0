/*
 * alloc.h - allocation wrappers for small internal allocations.
 *
 * at_malloc/at_calloc/at_realloc/at_strdup abort the process on OOM: small
 * internal allocations cannot fail in Atlas (Redis's rule).  Buffers fed by
 * untrusted input never use these to grow without a hard maximum (see buf.h).
 *
 * at_alloc_fail_after(n) is the allocation-failure test hook: after n more
 * successful allocations, the next one "fails" and calls the OOM handler,
 * which tests replace with at_alloc_set_oom_handler() (e.g. a longjmp).
 * Thread-safe (the counter is atomic).
 */
#ifndef AT_BASE_ALLOC_H
#define AT_BASE_ALLOC_H

#include <stddef.h>

void *at_malloc(size_t n);
void *at_calloc(size_t nmemb, size_t size);
void *at_realloc(void *p, size_t n);
char *at_strdup(const char *s);
char *at_strndup(const char *s, size_t n);
/* printf into a fresh heap string; caller frees with free(). */
char *at_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Test hook: fail the allocation after n more succeed; n < 0 disables. */
void at_alloc_fail_after(long n);
/* Called on OOM (real or injected); the default prints and aborts. */
void at_alloc_set_oom_handler(void (*fn)(size_t n));

#endif
