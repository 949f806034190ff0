/*
 * fuzz_schema.c - libFuzzer target for the JSON Schema validator.  The input
 * is SCHEMA NUL INSTANCE (no NUL: the schema is validated against itself).
 * A schema that compiles is used to validate, apply defaults to a copy and
 * validate again; a schema part that is not JSON is used as a regex pattern
 * searched in the instance bytes, so the regex engine is fuzzed directly.
 */
#include "base/diag.h"
#include "base/err.h"
#include "json/json.h"
#include "json/regex.h"
#include "json/schema.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_regex(const char *pat, size_t plen, const char *s, size_t slen)
{
    struct at_regex *re = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_regex_new(pat, plen, &re, &d);
    if (rc != 0) {
        if (re || (rc != AT_EPARSE && rc != AT_E2BIG))
            abort();
        return;
    }
    unsigned long long fuel = 10000000;
    int m = at_regex_search(re, s, slen, &fuel);
    if (m != 0 && m != 1 && m != AT_ELIMIT)
        abort();
    at_regex_free(re);
}

static void check_result(int rc, const struct at_diag *d)
{
    if (rc != 0 && rc != AT_ESCHEMA && rc != AT_E2BIG)
        abort();
    if (rc != 0 && (d->code != rc || !d->msg[0]))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep = memchr(text, '\0', size);
    size_t slen = sep ? (size_t)(sep - text) : size;
    const char *inst_text = sep ? sep + 1 : text;
    size_t ilen = sep ? size - slen - 1 : size;

    json_t *schema = NULL;
    if (at_json_parse(text, slen, 0, &schema, NULL) != 0) {
        fuzz_regex(text, slen, inst_text, ilen);
        return 0;
    }
    struct at_schema *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_schema_new(schema, &s, &d);
    if (rc != 0) {
        if (s || rc != AT_ESCHEMA || d.code != AT_ESCHEMA || !d.msg[0])
            abort();
        json_decref(schema);
        return 0;
    }
    json_t *inst = NULL;
    if (at_json_parse(inst_text, ilen, 0, &inst, NULL) == 0) {
        at_diag_clear(&d);
        check_result(at_schema_validate(s, inst, &d), &d);
        json_t *copy = json_deep_copy(inst);
        if (at_schema_apply_defaults(s, copy) != 0)
            abort();
        at_diag_clear(&d);
        check_result(at_schema_validate(s, copy, &d), &d);
        json_decref(copy);
        json_decref(inst);
    }
    const json_t *req = at_schema_required(s);
    if (req && !json_is_array(req))
        abort();
    if (!at_schema_json(s))
        abort();
    at_schema_free(s);
    json_decref(schema);
    return 0;
}
