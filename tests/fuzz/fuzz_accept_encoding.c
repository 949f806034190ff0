/* libFuzzer target: the request-header parsers of the dashboard's file
 * routes (http/ui_routes.c): Accept-Encoding and If-None-Match.  The input
 * is "HEADER\nETAG" (no newline: all of it is the header, the ETag fixed).
 * Properties: no crash or overread; a trailing ", gzip;q=0" always refuses
 * gzip and a trailing ", gzip" always allows it (the last listing counts);
 * an If-None-Match of exactly the ETag matches it. */
#include "http/ui.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 32);
    if (!s)
        return 0;
    for (size_t i = 0; i < size; i++)
        s[i] = data[i] ? (char)data[i] : ' ';
    s[size] = '\0';
    char *nl = strchr(s, '\n');
    const char *etag = "\"0123456789abcdef0123\"";
    if (nl) {
        *nl = '\0';
        etag = nl + 1;
    }
    (void)at_http_accepts_gzip(s);
    (void)at_http_etag_matches(s, etag);
    if (*etag && !strpbrk(etag, " \t,") && !at_http_etag_matches(etag, etag))
        abort();
    size_t n = strlen(s);
    memcpy(s + n, ", gzip;q=0", 11);
    if (at_http_accepts_gzip(s))
        abort();
    memcpy(s + n, ", gzip", 7);
    if (!at_http_accepts_gzip(s))
        abort();
    free(s);
    return 0;
}
