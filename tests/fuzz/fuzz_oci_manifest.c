/* libFuzzer target: the OCI manifest and index parsers (dist/oci.h) and the
 * agent check.  Properties: a refused document leaves nothing to release
 * and a message; an accepted one has well-formed digests, non-negative
 * sizes and at most AT_OCI_MAX_LAYERS layers / AT_OCI_MAX_INDEX entries. */
#include "dist/oci.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_desc(const struct at_oci_desc *o)
{
    if (!at_oci_digest_valid(o->digest) || o->size < 0 || !o->media_type[0])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_diag d;
    at_diag_clear(&d);
    struct at_oci_manifest m;
    int rc = at_oci_manifest_parse((const char *)data, size, &m, &d);
    if (rc) {
        if (m.json || !d.msg[0])
            abort();
    } else {
        check_desc(&m.config);
        if (m.nlayers < 0 || m.nlayers > AT_OCI_MAX_LAYERS)
            abort();
        for (int i = 0; i < m.nlayers; i++)
            check_desc(&m.layers[i]);
        if (m.has_subject)
            check_desc(&m.subject);
        at_diag_clear(&d);
        if (at_oci_manifest_is_agent(&m, &d) && !d.msg[0])
            abort();
        at_oci_manifest_release(&m);
    }
    at_diag_clear(&d);
    struct at_oci_index ix;
    rc = at_oci_index_parse((const char *)data, size, &ix, &d);
    if (rc) {
        if (ix.json || ix.manifests || !d.msg[0])
            abort();
    } else {
        if (ix.n > AT_OCI_MAX_INDEX)
            abort();
        for (size_t i = 0; i < ix.n; i++)
            check_desc(&ix.manifests[i]);
        at_oci_index_release(&ix);
    }
    return 0;
}
