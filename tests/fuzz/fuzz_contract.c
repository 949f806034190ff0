/* libFuzzer target: agent.yaml loading and checking (YAML -> JSON with
 * positions, shape checks, embedded JSON Schemas, semver). */
#include "contract/agent.h"
#include "contract/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_contract *c = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_contract_load_string("fuzz.yaml", (const char *)data, size, &c, &d) == 0) {
        /* a loaded contract must round-trip through its stored form */
        struct at_contract *again = NULL;
        if (at_contract_from_json(c->json, &again, &d) != 0)
            abort();
        at_contract_unref(again);
        at_contract_unref(c);
    }
    struct at_config cfg;
    at_config_init(&cfg);
    at_config_load_string(&cfg, "fuzz.yaml", (const char *)data, size, &d);
    at_config_release(&cfg);
    return 0;
}
