/*
 * fuzz_expr.c - libFuzzer target for the eval expression language: compile
 * the input (a failure must be located, with a column inside the input or
 * just past it) and evaluate it against a fixed document (a failure must be
 * a type error or the regex budget, located too).
 */
#include "base/diag.h"
#include "base/err.h"
#include "json/expr.h"
#include "json/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char doc_text[] =
    "{\"input\":{\"text\":\"Atlas runs agents\",\"max_length\":200,\"tags\":[\"a\",\"b\"],"
    "\"n\":null,\"big\":9223372036854775807,\"neg\":-9223372036854775808},"
    "\"output\":{\"summary\":\"Atlas runs agents.\",\"token_count\":4,\"score\":3.5,"
    "\"nested\":{\"k\":[1,2,{\"deep\":true}]},\"u\":\"\xc3\xa9t\xc3\xa9\"},"
    "\"job\":{\"agent\":\"summarizer\"}}";

static json_t *doc; /* reachable: not a leak */
static const char *const names[] = {"input", "output", "job", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!doc && at_json_parse(doc_text, sizeof(doc_text) - 1, 0, &doc, NULL) != 0)
        abort();
    struct at_expr *e = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_expr_compile((const char *)data, size, names, &e, &d);
    if (rc != 0) {
        if (e || (rc != AT_EPARSE && rc != AT_E2BIG) || d.col < 1 ||
            (size_t)d.col > (size > AT_EXPR_MAX_LEN ? AT_EXPR_MAX_LEN + 1 : size + 1) + 1 ||
            !d.msg[0])
            abort();
        return 0;
    }
    json_t *out = NULL;
    at_diag_clear(&d);
    rc = at_expr_eval(e, doc, &out, &d);
    if (rc == 0) {
        if (!out)
            abort();
        (void)at_expr_truthy(out);
    } else if ((rc != AT_EINVAL && rc != AT_ELIMIT) || out || d.col < 1 || !d.msg[0]) {
        abort();
    }
    json_decref(out);
    at_expr_free(e);
    return 0;
}
