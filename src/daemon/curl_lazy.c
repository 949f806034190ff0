/*
 * curl_lazy.c - libcurl, loaded when the daemon first needs it.
 *
 * atlasd speaks HTTP as a client only for remote MCP agents, model
 * backends and OTLP export.  Linking libcurl would map it and its
 * dependencies (OpenSSL, Kerberos, LDAP, SSH...) into every daemon and cost
 * about 4 MiB of resident memory at idle, whether or not any of those is
 * used.  So atlasd is not linked against libcurl: this file defines the
 * libcurl functions the components call, and the first call dlopen()s
 * libcurl.so.4, initialises it and forwards.  The CLI and the tests link
 * libcurl as usual; the components' code is the same for both.
 *
 * When libcurl cannot be loaded, the calls fail the way libcurl reports
 * failure (NULL handles, CURLE_FAILED_INIT) and the reason is logged once.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "base/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>

#define AT_CURL_FUNCS(X)                                                                           \
    X(CURLcode, global_init, (long flags))                                                         \
    X(void, global_cleanup, (void))                                                                \
    X(CURL *, easy_init, (void))                                                                   \
    X(void, easy_cleanup, (CURL * h))                                                              \
    X(void, easy_reset, (CURL * h))                                                                \
    X(CURLcode, easy_perform, (CURL * h))                                                          \
    X(CURLcode, easy_setopt, (CURL * h, CURLoption o, ...))                                        \
    X(CURLcode, easy_getinfo, (CURL * h, CURLINFO i, ...))                                         \
    X(const char *, easy_strerror, (CURLcode c))                                                   \
    X(char *, easy_escape, (CURL * h, const char *s, int len))                                     \
    X(void, free, (void *p))                                                                       \
    X(struct curl_slist *, slist_append, (struct curl_slist * l, const char *s))                   \
    X(void, slist_free_all, (struct curl_slist * l))                                               \
    X(CURLM *, multi_init, (void))                                                                 \
    X(CURLMcode, multi_cleanup, (CURLM * m))                                                       \
    X(CURLMcode, multi_setopt, (CURLM * m, CURLMoption o, ...))                                    \
    X(CURLMcode, multi_add_handle, (CURLM * m, CURL * h))                                          \
    X(CURLMcode, multi_remove_handle, (CURLM * m, CURL * h))                                       \
    X(CURLMcode, multi_perform, (CURLM * m, int *running))                                         \
    X(CURLMcode, multi_poll,                                                                       \
      (CURLM * m, struct curl_waitfd * fds, unsigned n, int timeout_ms, int *numfds))              \
    X(CURLMcode, multi_wakeup, (CURLM * m))                                                        \
    X(CURLMcode, multi_timeout, (CURLM * m, long *ms))                                             \
    X(CURLMsg *, multi_info_read, (CURLM * m, int *left))                                          \
    X(CURLU *, url, (void))                                                                        \
    X(void, url_cleanup, (CURLU * u))                                                              \
    X(CURLUcode, url_set, (CURLU * u, CURLUPart what, const char *part, unsigned int flags))       \
    X(CURLUcode, url_get, (CURLU * u, CURLUPart what, char **part, unsigned int flags))

static struct {
/* NOLINTNEXTLINE(bugprone-macro-parentheses): the arguments are a type and a parameter list */
#define X(ret, name, args) ret(*name) args;
    AT_CURL_FUNCS(X)
#undef X
} fn;
static int loaded; /* 1: every function found and libcurl initialised (atomic) */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        at_error("curl",
                 "cannot load libcurl (needed for remote agents, model backends "
                 "and OTLP export): %s",
                 dlerror());
        return;
    }
    /* never dlclose()d: handles may outlive any user */
#define X(ret, name, args)                                                                         \
    if (!(*(void **)&fn.name = dlsym(lib, "curl_" #name))) {                                       \
        at_error("curl", "libcurl.so.4 lacks curl_%s", #name);                                     \
        return;                                                                                    \
    }
    AT_CURL_FUNCS(X)
#undef X
    if (fn.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        at_error("curl", "curl_global_init failed");
        return;
    }
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
}

static int ready(void)
{
    pthread_once(&load_once, load);
    return loaded;
}

/* Whether libcurl has been loaded, without loading it. */
static int was_loaded(void)
{
    return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
}

CURLcode curl_global_init(long flags)
{
    return ready() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
    if (was_loaded())
        fn.global_cleanup();
}

CURL *curl_easy_init(void)
{
    return ready() ? fn.easy_init() : NULL;
}

/* The functions below take handles, which exist only once libcurl is loaded. */

void curl_easy_cleanup(CURL *h)
{
    if (h && was_loaded())
        fn.easy_cleanup(h);
}

void curl_easy_reset(CURL *h)
{
    if (h && was_loaded())
        fn.easy_reset(h);
}

CURLcode curl_easy_perform(CURL *h)
{
    return was_loaded() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

/* An option's argument type is given by its number's range (curl.h,
 * CURLOPTTYPE_*): long, pointer, function pointer, curl_off_t, blob. */
CURLcode curl_easy_setopt(CURL *h, CURLoption o, ...)
{
    if (!was_loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, o);
    CURLcode rc;
    if (o < CURLOPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        rc = fn.easy_setopt(h, o, v);
    } else if (o < CURLOPTTYPE_FUNCTIONPOINT || o >= CURLOPTTYPE_BLOB) {
        void *v = va_arg(ap, void *);
        rc = fn.easy_setopt(h, o, v);
    } else if (o < CURLOPTTYPE_OFF_T) {
        void (*v)(void) = va_arg(ap, void (*)(void));
        rc = fn.easy_setopt(h, o, v);
    } else {
        curl_off_t v = va_arg(ap, curl_off_t);
        rc = fn.easy_setopt(h, o, v);
    }
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO i, ...)
{
    if (!was_loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, i);
    void *p = va_arg(ap, void *); /* every CURLINFO takes a pointer */
    va_end(ap);
    return fn.easy_getinfo(h, i, p);
}

const char *curl_easy_strerror(CURLcode c)
{
    return was_loaded() ? fn.easy_strerror(c) : "libcurl is not loaded";
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
    return was_loaded() ? fn.easy_escape(h, s, len) : NULL;
}

void curl_free(void *p)
{
    if (p && was_loaded())
        fn.free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
    return ready() ? fn.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
    if (l && was_loaded())
        fn.slist_free_all(l);
}

CURLM *curl_multi_init(void)
{
    return ready() ? fn.multi_init() : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
    return m && was_loaded() ? fn.multi_cleanup(m) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption o, ...)
{
    if (!m || !was_loaded())
        return CURLM_BAD_HANDLE;
    va_list ap;
    va_start(ap, o);
    CURLMcode rc;
    if (o < CURLOPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        rc = fn.multi_setopt(m, o, v);
    } else if (o < CURLOPTTYPE_FUNCTIONPOINT || o >= CURLOPTTYPE_BLOB) {
        void *v = va_arg(ap, void *);
        rc = fn.multi_setopt(m, o, v);
    } else if (o < CURLOPTTYPE_OFF_T) {
        void (*v)(void) = va_arg(ap, void (*)(void));
        rc = fn.multi_setopt(m, o, v);
    } else {
        curl_off_t v = va_arg(ap, curl_off_t);
        rc = fn.multi_setopt(m, o, v);
    }
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
    return m && was_loaded() ? fn.multi_add_handle(m, h) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
    return m && was_loaded() ? fn.multi_remove_handle(m, h) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
    return m && was_loaded() ? fn.multi_perform(m, running) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned n, int timeout_ms,
                          int *numfds)
{
    return m && was_loaded() ? fn.multi_poll(m, fds, n, timeout_ms, numfds) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_wakeup(CURLM *m)
{
    return m && was_loaded() ? fn.multi_wakeup(m) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_timeout(CURLM *m, long *ms)
{
    return m && was_loaded() ? fn.multi_timeout(m, ms) : CURLM_BAD_HANDLE;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
    return m && was_loaded() ? fn.multi_info_read(m, left) : NULL;
}

/* The URL API (A2A push notification URLs are checked with it). */
CURLU *curl_url(void)
{
    return ready() ? fn.url() : NULL;
}

void curl_url_cleanup(CURLU *u)
{
    if (u && was_loaded())
        fn.url_cleanup(u);
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
    return u && was_loaded() ? fn.url_set(u, what, part, flags) : CURLUE_BAD_HANDLE;
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
    if (part)
        *part = NULL;
    return u && was_loaded() ? fn.url_get(u, what, part, flags) : CURLUE_BAD_HANDLE;
}
