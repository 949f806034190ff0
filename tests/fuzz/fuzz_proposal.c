/* libFuzzer target: a proposal's filing and typed payload
 * (src/supervisor/proposal.c).  Properties: an accepted filing has a known
 * kind and a title, its payload validates alone, and its content hash is
 * a function of (kind, payload) only (the same after a round trip through
 * JSON text); a refused one has an error code. */
#include "base/err.h"
#include "json/json.h"
#include "supervisor/approvals.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *f = NULL;
    if (at_json_parse((const char *)data, size, 64, &f, NULL))
        return 0;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_proposal_validate_filing(f, &d);
    if (rc) {
        if (d.code == 0)
            abort();
        json_decref(f);
        return 0;
    }
    const char *kind = json_string_value(json_object_get(f, "kind"));
    int k = at_proposal_kind_parse(kind);
    if (k < 0 || !json_is_string(json_object_get(f, "title")))
        abort();
    const json_t *payload = json_object_get(f, "payload");
    at_diag_clear(&d);
    if (at_proposal_validate(k, payload, &d))
        abort();
    char h1[AT_AUDIT_DIGEST_MAX], h2[AT_AUDIT_DIGEST_MAX];
    if (at_proposal_hash(kind, payload, h1))
        abort();
    char *text = json_dumps(payload, JSON_COMPACT);
    json_t *back = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!back || at_proposal_hash(kind, back, h2) || strcmp(h1, h2) != 0 ||
        strncmp(h1, "sha256:", 7))
        abort();
    json_decref(back);
    json_decref(f);
    return 0;
}
