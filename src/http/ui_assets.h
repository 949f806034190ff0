/*
 * ui_assets.h - the dashboard's files (ui/), compiled into the binary by
 * cmake/embed_ui.cmake at build time (docs/internals/ui.md).  Immutable:
 * any thread reads them.
 */
#ifndef AT_HTTP_UI_ASSETS_H
#define AT_HTTP_UI_ASSETS_H

#include <stddef.h>

struct at_http_ui_asset {
    const char *path; /* relative to ui/: "index.html", "js/app.js" */
    const char *type; /* the Content-Type */
    const char *etag; /* a strong ETag, quotes included: from the file's SHA-256 */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* the same bytes gzip-compressed */
    size_t gz_len;
};

extern const struct at_http_ui_asset at_http_ui_assets[];
extern const size_t at_http_ui_nassets;
/* the compressed size of every file together (what a first load sends at most) */
extern const size_t at_http_ui_gzip_total;

#endif
