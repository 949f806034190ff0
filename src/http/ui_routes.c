/*
 * ui_routes.c - the dashboard (docs/dashboard.md, docs/internals/ui.md):
 * the files of ui/, compiled in (ui_assets.h), served at /ui.
 *
 *   GET /ui            308 to /ui/
 *   GET /ui/{path*}    a file ("" is index.html): gzip when Accept-Encoding
 *                      allows it, a strong ETag (304 on If-None-Match), a
 *                      strict Content-Security-Policy (no inline script or
 *                      style, nothing from elsewhere, no framing)
 *
 * The files are public (needs 0): they hold no data.  The dashboard is a
 * client of /api/v1 with the token it signs in with, so the role table
 * applies to everything it shows or does.
 */
#include "http/ui.h"

#include "http/api.h"
#include "http/ui_assets.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "                   \
    "frame-ancestors 'none'"

static const struct at_http_ui_asset *find_asset(const char *path)
{
    if (!path || !*path)
        path = "index.html";
    for (size_t i = 0; i < at_http_ui_nassets; i++)
        if (!strcmp(at_http_ui_assets[i].path, path))
            return &at_http_ui_assets[i];
    return NULL;
}

int at_http_accepts_gzip(const char *ae)
{
    int star = 0, gzip = -1;
    for (const char *p = ae; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        size_t tl = strcspn(p, ";, ");
        if (tl > n)
            tl = n;
        int ok = 1;
        const char *q = memchr(p, ';', n);
        if (q) {
            /* within this element only: a long header stays linear */
            size_t rest = (size_t)(p + n - q);
            const char *v = memmem(q, rest, "q=", 2);
            if (!v)
                v = memmem(q, rest, "Q=", 2);
            if (v) {
                /* q=0, q=0.0...: refused; any other digit makes it > 0 */
                for (v += 2; v < p + n && (*v == '0' || *v == '.'); v++)
                    ;
                ok = v < p + n && *v >= '1' && *v <= '9';
            }
        }
        if (tl == 4 && !strncasecmp(p, "gzip", 4))
            gzip = ok;
        else if (tl == 1 && *p == '*')
            star = ok;
        if (!end)
            break;
        p = end + 1;
    }
    return gzip >= 0 ? gzip : star;
}

int at_http_etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return 0;
    const char *a = inm + strspn(inm, " \t");
    if (a[0] == '*' && a[1 + strspn(a + 1, " \t")] == '\0')
        return 1;
    size_t n = strlen(etag);
    if (n == 0)
        return 0;
    for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag)) {
        /* a whole element: after the start, a separator or "W/" */
        int starts = p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '\t' ||
                     (p - inm >= 2 && p[-1] == '/' && p[-2] == 'W');
        if (starts && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return 1;
    }
    return 0;
}

static void h_redirect(struct at_http_req *r)
{
    at_http_add_header(r, "Location", "/ui/");
    at_http_reply_text(r, 308, "text/plain; charset=utf-8", "/ui/\n", 5);
}

static void h_file(struct at_http_req *r)
{
    const struct at_http_ui_asset *a = find_asset(at_http_param(r, "path"));
    if (!a) {
        at_http_reply_problem(r, AT_ENOENT,
                              "the dashboard has no such file (its pages are under /ui/#/...)",
                              NULL, NULL);
        return;
    }
    int gz = at_http_accepts_gzip(at_http_header(r, "Accept-Encoding"));
    /* one ETag per representation: the gzip one is another entity */
    char etag[64];
    size_t el = strlen(a->etag);
    snprintf(etag, sizeof(etag), "%.*s%s\"", (int)(el > 2 ? el - 1 : 0), a->etag, gz ? "-gz" : "");
    at_http_add_header(r, "ETag", etag);
    at_http_add_header(r, "Cache-Control", "no-cache");
    at_http_add_header(r, "Vary", "Accept-Encoding");
    at_http_add_header(r, "Content-Security-Policy", UI_CSP);
    at_http_add_header(r, "Referrer-Policy", "no-referrer");
    at_http_add_header(r, "X-Frame-Options", "DENY");
    at_http_add_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    at_http_add_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    if (at_http_etag_matches(at_http_header(r, "If-None-Match"), etag)) {
        at_http_reply_text(r, 304, a->type, "", 0);
        return;
    }
    if (gz) {
        at_http_add_header(r, "Content-Encoding", "gzip");
        at_http_reply_static(r, 200, a->type, a->gz, a->gz_len);
    } else {
        at_http_reply_static(r, 200, a->type, a->data, a->len);
    }
}

static const struct at_http_route routes[] = {
    {"GET", "/ui", h_redirect, 0, 0, 0, NULL},
    {"GET", "/ui/{path*}", h_file, 0, 0, 0, NULL},
};

int at_http_ui_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}
