/* libFuzzer target: the mount keys of an MCP skill's definition
 * (src/skills/mount.c): mcp.headers of a remote mount (${secret:NAME}
 * references) and mcp.sandbox of a stdio one, both from definitions anyone
 * with the register role sends.  The input is JSON {"headers": ...,
 * "sandbox": ...}.  Properties: a check is a function of its input (the
 * same answer twice); a refusal names a JSON Pointer under its key; an
 * accepted header has a token name and a value without control
 * characters, whose every "${" opens a ${secret:NAME} reference; an
 * accepted sandbox's paths are absolute. */
#include "base/err.h"
#include "json/json.h"
#include "skills/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_headers(const json_t *h)
{
    struct at_diag d, d2;
    at_diag_clear(&d);
    at_diag_clear(&d2);
    int rc = at__mount_headers_check(h, &d);
    if (rc != at__mount_headers_check(h, &d2))
        abort();
    if (rc) {
        if (rc != AT_EINVAL || strncmp(d.pointer, "/mcp/headers", 12) != 0)
            abort();
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)h, k, v)
    {
        const char *s = json_string_value(v);
        if (!s || !k[0] || strchr(k, ':') || strchr(k, ' '))
            abort();
        for (const char *c = s; *c; c++)
            if ((unsigned char)*c < 0x20)
                abort();
        for (const char *r = strstr(s, "${"); r; r = strstr(r + 2, "${"))
            if (strncmp(r, "${secret:", 9) != 0 || !strchr(r, '}'))
                abort();
    }
}

static void check_sandbox(const json_t *sb)
{
    struct at_diag d, d2;
    at_diag_clear(&d);
    at_diag_clear(&d2);
    int rc = at__mount_sandbox_check(sb, 0, &d);
    if (rc != at__mount_sandbox_check(sb, 0, &d2))
        abort();
    if (rc) {
        if (rc != AT_EINVAL || strncmp(d.pointer, "/mcp/sandbox", 12) != 0)
            abort();
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(sb, "paths"), i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        if (!path || path[0] != '/' || strstr(path, "/../") || strstr(path, "/./"))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = NULL;
    if (at_json_parse((const char *)data, size, 16, &in, NULL) || !json_is_object(in)) {
        json_decref(in);
        return 0;
    }
    const json_t *h = json_object_get(in, "headers");
    if (h)
        check_headers(h);
    const json_t *sb = json_object_get(in, "sandbox");
    if (sb)
        check_sandbox(sb);
    json_decref(in);
    return 0;
}
