/* libFuzzer target: chain files (YAML, shapes, JSONPath compilation, id
 * rewriting) and mapping over a fixed run context. */
#include "chain/chain.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_chain *c = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_chain_load_string("fuzz.yaml", (const char *)data, size, NULL, &c, &d))
        return 0;
    json_t *trigger = json_pack("{s:s,s:[i,i],s:{s:s}}", "q", "x", "list", 1, 2, "obj", "a", "b");
    json_t *ctx = at_chain_context_new(trigger);
    for (size_t i = 0; i < c->nsteps; i++) {
        const struct at_chain_step *st = &c->steps[i];
        json_t *in = st->agent ? at_chain_map_input(st, i, ctx)
                               : at_chain_map_input(&st->members[0], i, ctx);
        at_chain_context_set(ctx, i, st, in, in, "completed");
        json_decref(in);
    }
    json_t *out = at_chain_output(ctx);
    json_decref(out);
    json_decref(ctx);
    json_decref(trigger);
    at_chain_unref(c);
    return 0;
}
