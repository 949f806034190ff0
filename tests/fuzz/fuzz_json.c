/*
 * fuzz_json.c - libFuzzer target for at_json_parse: any input must either
 * fail with a located error or parse into a value that dumps compactly and
 * parses back to an equal value.
 */
#include "base/diag.h"
#include "base/err.h"
#include "json/json.h"
#include "json/pointer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks a depth limit so the limit path gets exercised
     * at small depths too; 0 means the default. */
    size_t max_depth = size ? data[0] % 8 : 0;
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_json_parse((const char *)data, size, max_depth, &v, &d);
    if (rc != 0) {
        if (v || (rc != AT_EPARSE && rc != AT_E2BIG) || d.line < 1 || d.col < 1)
            abort();
        return 0;
    }
    if (max_depth && at_json_depth(v, max_depth) > max_depth)
        abort();
    char *text = at_json_dumps(v);
    if (!text)
        abort();
    json_t *back = NULL;
    if (at_json_parse(text, strlen(text), 0, &back, NULL) != 0 || !at_json_equal(v, back) ||
        !json_equal(v, back))
        abort();
    /* Every member and element is reachable by the pointer we build. */
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            struct at_buf b;
            at_buf_init(&b, 1 << 20);
            if (at_jptr_append(&b, k) == 0 &&
                strlen(k) == json_object_iter_key_len(json_object_key_to_iter(k)) &&
                at_jptr_get(v, at_buf_str(&b)) != m)
                abort();
            at_buf_release(&b);
        }
    }
    json_decref(back);
    free(text);
    json_decref(v);
    return 0;
}
