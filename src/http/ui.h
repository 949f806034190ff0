/*
 * ui.h - what the dashboard's file routes (ui_routes.c) read from request
 * headers.  Hostile-input parsers (tests/fuzz/fuzz_accept_encoding.c);
 * pure, thread-safe.
 */
#ifndef AT_HTTP_UI_H
#define AT_HTTP_UI_H

/* Does the Accept-Encoding value ae (NUL-terminated; NULL: no header)
 * allow gzip?  RFC 9110 §12.5.3: a coding listed with q=0 is refused, "*"
 * stands for every coding not listed, the last listing of gzip counts.
 * 1 yes, 0 no. */
int at_http_accepts_gzip(const char *ae);

/* Does the If-None-Match value inm (NULL: no header) name etag (quotes
 * included), or "*"?  RFC 9110 §13.1.2 (weak comparison: a W/ prefix
 * matches too).  1 yes, 0 no. */
int at_http_etag_matches(const char *inm, const char *etag);

#endif
