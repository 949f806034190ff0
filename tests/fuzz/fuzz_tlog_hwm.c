/* libFuzzer target: the audit trail's high-water mark (tlog/tlog.h
 * at_tlog_hwm_open) and the offline verifier (tlog/bundle.h at_tlog_verify)
 * on hostile bytes.  The log key is fixed (seed of zero bytes, origin
 * "fuzz.example/log") so that the corpus can hold validly signed notes.
 * Properties: a refusal has a message; an accepted mark has a size that
 * fits its text; the verifier's report is an object with ok, problems and
 * acknowledged, and never "ok" with problems. */
#include "json/json.h"
#include "tlog/bundle.h"
#include "tlog/note.h"
#include "tlog/tlog.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct at_note_key key;
    static int ready;
    if (!ready) {
        unsigned char seed[32] = {0}, pk[32], sk[64];
        if (sodium_init() < 0)
            abort();
        crypto_sign_seed_keypair(pk, sk, seed);
        if (at_note_key_init(&key, "fuzz.example/log", pk))
            abort();
        ready = 1;
    }
    uint64_t hs = 0;
    int64_t next = 0;
    unsigned char leaf[32];
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_tlog_hwm_open((const char *)data, size, &key, &hs, &next, leaf, &d);
    if (rc && !d.msg[0])
        abort();
    if (!rc && next < 0)
        abort();
    json_t *b = NULL;
    if (size < 65536 && at_json_parse((const char *)data, size, 32, &b, NULL) == 0) {
        json_t *rep = NULL;
        at_diag_clear(&d);
        rc = at_tlog_verify(b, NULL, NULL, &rep, &d);
        if (rc && !d.msg[0])
            abort();
        if (!rc && (!json_is_object(rep) || !json_is_array(json_object_get(rep, "problems")) ||
                    !json_is_array(json_object_get(rep, "acknowledged")) ||
                    (json_is_true(json_object_get(rep, "ok")) &&
                     json_array_size(json_object_get(rep, "problems")))))
            abort();
        json_decref(rep);
        json_decref(b);
    }
    return 0;
}
