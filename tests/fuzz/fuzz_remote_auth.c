/* libFuzzer target: remote MCP servers' credentials (exec/remote_auth.c
 * at_remote_auth_check, at_remote_auth_parse_token).  The first input byte
 * picks the parser; the rest is its JSON.  Properties: an accepted
 * remote_auth block has a known type with every key that type needs, all
 * of them strings without control characters; an accepted token answer
 * gives a printable token of bounded length (it becomes a header) and a
 * lifetime of 1 s to a year. */
#include "exec/remote_auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1u << 16)
        return 0;
    char why[300];
    if (data[0] & 1) {
        long long exp = 0;
        char *tok =
            at_remote_auth_parse_token((const char *)data + 1, size - 1, &exp, why, sizeof(why));
        if (tok) {
            if (!*tok || strlen(tok) > 8192 || strchr(tok, ' ') || exp < 1 || exp > 31536000)
                abort();
            printable(tok);
            at_remote_auth_header_free(tok);
        }
        return 0;
    }
    json_t *v = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (at_remote_auth_check(v, why, sizeof(why)) == 0) {
        const char *type = json_string_value(json_object_get(v, "type"));
        if (!type)
            abort();
        static const char *const bearer[] = {"secret", NULL};
        static const char *const oauth[] = {"client_id", "client_secret", NULL};
        const char *const *need = strcmp(type, "bearer") == 0  ? bearer
                                  : strcmp(type, "oauth") == 0 ? oauth
                                                               : NULL;
        if (!need)
            abort();
        for (size_t i = 0; need[i]; i++)
            if (!json_is_string(json_object_get(v, need[i])))
                abort();
        const char *k;
        json_t *f;
        json_object_foreach(v, k, f)
        {
            if (!json_is_string(f))
                abort();
            printable(json_string_value(f));
        }
    }
    json_decref(v);
    return 0;
}
