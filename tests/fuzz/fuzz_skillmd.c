/* libFuzzer target: SKILL.md (Agent Skills folders, src/skills/skillmd.c).
 * Properties: a parsed file has a valid name and a non-empty description,
 * its instructions are the tail of the input, and parsing is a function of
 * the bytes (the same input parses the same way twice); a refused one has
 * an error code and a line. */
#include "base/err.h"
#include "json/json.h"
#include "skills/skills.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    int rc = at_skillmd_parse((const char *)data, size, &out, &d);
    if (rc) {
        if (out || d.code == 0 || (d.code != AT_E2BIG && d.line < 1))
            abort();
        return 0;
    }
    const char *name = json_string_value(json_object_get(out, "name"));
    const char *desc = json_string_value(json_object_get(out, "description"));
    const json_t *ins = json_object_get(out, "instructions");
    if (!name || !*name || strchr(name, '@') || !desc || !*desc || !json_is_string(ins))
        abort();
    size_t il = json_string_length(ins);
    if (il > size || memcmp(json_string_value(ins), data + size - il, il) != 0)
        abort();
    json_t *again = NULL;
    struct at_diag d2;
    at_diag_clear(&d2);
    if (at_skillmd_parse((const char *)data, size, &again, &d2) || !json_equal(out, again))
        abort();
    json_decref(again);
    json_decref(out);
    return 0;
}
