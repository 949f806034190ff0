/* libFuzzer target: trigger files (YAML, shapes, cron, JSONPath), then the
 * event and input mapping over a fixed body. */
#include "trigger/trigger.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_trigger *t = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_trigger_load("triggers/fuzz.yaml", (const char *)data, size, &t, &d))
        return 0;
    json_t *body =
        json_pack("{s:s,s:[i,i],s:{s:s}}", "message", "x", "list", 1, 2, "obj", "a", "b");
    json_t *hdrs = json_pack("{s:s,s:s}", "Authorization", "Bearer x", "X-Other", "y");
    json_t *kept = at_trigger_filter_headers(t, hdrs);
    if (json_object_get(kept, "authorization"))
        abort();
    json_t *ev = at_trigger_event_new(t, NULL, body, kept, NULL, NULL, NULL);
    json_t *in = at_trigger_input(t, ev, NULL);
    if (!json_is_object(in))
        abort();
    json_decref(in);
    json_decref(ev);
    json_decref(kept);
    json_decref(hdrs);
    json_decref(body);
    at_trigger_free(t);
    return 0;
}
