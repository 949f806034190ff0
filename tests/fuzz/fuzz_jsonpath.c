/*
 * fuzz_jsonpath.c - libFuzzer target for JSONPath: parse the input as a
 * path (errors must be located), evaluate it against a fixed document, and
 * check the singular / prefix accessors agree with the result.
 */
#include "base/diag.h"
#include "base/err.h"
#include "json/json.h"
#include "json/jsonpath.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char doc_text[] =
    "{\"store\":{\"book\":[{\"category\":\"reference\",\"author\":\"Nigel Rees\",\"price\":8.95},"
    "{\"category\":\"fiction\",\"author\":\"Herman Melville\",\"isbn\":\"0-553-21311-3\","
    "\"price\":8.99,\"tags\":[\"sea\",\"whale\",null,true,1.5e3]}],\"bicycle\":{\"color\":\"red\","
    "\"price\":399}},\"a\":[3,5,1,2,4,6,{\"b\":\"j\"},{\"b\":\"k\"},{\"b\":{}},{\"b\":\"kilo\"}],"
    "\"o\":{\"p\":1,\"q\":2,\"r\":3,\"s\":5,\"t\":{\"u\":6}},\"e\":\"f\",\"n\":null,"
    "\"\xc3\xa9\":[[[[[[[[[[\"deep\"]]]]]]]]]],\"k~/\":{\"'\":\"\\\"\"}}";

/* Parsed once and never freed: reachable from this static, so LeakSanitizer
 * does not count it. */
static json_t *doc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!doc && at_json_parse(doc_text, sizeof(doc_text) - 1, 0, &doc, NULL) != 0)
        abort();
    if (size > AT_JSONPATH_MAX_LEN + 16)
        return 0;
    char *expr = malloc(size + 1);
    memcpy(expr, data, size);
    expr[size] = '\0';
    struct at_jsonpath *p = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_jsonpath_new(expr, &p, &d);
    if (rc != 0) {
        if (p || (rc != AT_EPARSE && rc != AT_E2BIG) || d.col < 1)
            abort();
        free(expr);
        return 0;
    }
    json_t *all = at_jsonpath_query(p, doc);
    json_t *one = at_jsonpath_value(p, doc);
    if (at_jsonpath_is_singular(p)) {
        if (!all || json_array_size(all) > 1)
            abort();
        if ((json_array_size(all) == 1) != (one != NULL))
            abort();
        if (one && json_array_get(all, 0) != one)
            abort();
    } else if (all && one && !json_equal(all, one)) {
        abort();
    }
    const char *segs[16];
    size_t n = at_jsonpath_prefix(p, segs, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (!segs[i])
            abort();
    json_decref(one);
    json_decref(all);
    at_jsonpath_free(p);
    free(expr);
    return 0;
}
