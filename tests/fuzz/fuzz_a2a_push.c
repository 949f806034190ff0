/* libFuzzer target: A2A push notification configs (http/a2a_push.c
 * at_a2a_push_parse, at_a2a_push_check_url).  The first input byte picks
 * the version (1.0 or 0.3); the rest is the request's params as JSON.
 * Properties: an accepted config has an http(s) URL that check_url
 * accepts and no CR, LF or other control character in anything that
 * becomes a header; its answered shape parses back to the same record. */
#include "http/a2a_push.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *rs(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1u << 16)
        return 0;
    enum at_a2a_ver ver = data[0] & 1 ? AT_A2A_V03 : AT_A2A_V10;
    char why[300];
    /* the URL checker alone, on the raw bytes */
    char *url = malloc(size);
    memcpy(url, data + 1, size - 1);
    url[size - 1] = '\0';
    if (at_a2a_push_check_url(url, NULL, why, sizeof(why)) == 0 && strncasecmp(url, "http", 4) != 0)
        abort();
    /* an allowlist only narrows */
    json_t *allowed = json_pack("[s,s,s]", "*.example.com", "127.0.0.1", "[::1]");
    if (at_a2a_push_check_url(url, allowed, why, sizeof(why)) == 0 &&
        at_a2a_push_check_url(url, NULL, why, sizeof(why)) != 0)
        abort();
    json_decref(allowed);
    free(url);
    json_error_t je;
    json_t *params = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(params)) {
        json_decref(params);
        return 0;
    }
    json_t *rec = at_a2a_push_parse("job_fuzz", ver, params, why, sizeof(why));
    if (rec) {
        if (at_a2a_push_check_url(rs(rec, "url"), NULL, why, sizeof(why)))
            abort();
        header_safe(rs(rec, "token"));
        header_safe(rs(rec, "scheme"));
        header_safe(rs(rec, "credentials"));
        header_safe(rs(rec, "id"));
        json_t *shaped = at_a2a_push_shape(rec, ver);
        json_t *back = at_a2a_push_parse("job_fuzz", ver, shaped, why, sizeof(why));
        if (!back)
            abort();
        static const char *const keys[] = {"id", "url", "token", "scheme", "credentials"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(rs(rec, keys[i]), rs(back, keys[i])) != 0)
                abort();
        json_decref(back);
        json_decref(shaped);
        json_decref(rec);
    }
    json_decref(params);
    return 0;
}
