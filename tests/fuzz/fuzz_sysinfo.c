/* libFuzzer target: the machine facts document (ATLAS_SYSINFO_FILE,
 * contract/sysinfo.h) and a hardware block checked against facts
 * (contract/hardware.h), and nvidia-smi's CSV answer.  Properties: a refused document leaves the
 * facts as they were; accepted facts stay within their bounds; the reason at_hardware_fit writes
 * fits its buffer and is non-empty exactly when it says "does not fit". */
#include "contract/hardware.h"
#include "contract/sysinfo.h"
#include "json/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct at_sysinfo s, before;
    at_sysinfo_init(&s);
    s.cpu_cores = 2;
    s.memory_gb = 4;
    memcpy(s.arch, "x86_64", 7);
    memcpy(s.node, "fuzz", 5);
    before = s;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_sysinfo_parse((const char *)data, size, &s, &d);
    if (rc && memcmp(&s, &before, sizeof(s)) != 0)
        abort();
    if (!rc) {
        if (s.cpu_cores < 0 || s.ngpus < 0 || s.ngpus > AT_SYSINFO_MAX_GPUS || s.ndevices < 0 ||
            s.ndevices > AT_SYSINFO_MAX_DEVICES || !(s.memory_gb >= 0))
            abort();
        json_t *j = at_sysinfo_to_json(&s);
        if (!j)
            abort();
        json_decref(j);
    }
    /* the same bytes as nvidia-smi's answer */
    char *csv = malloc(size + 1);
    memcpy(csv, data, size);
    csv[size] = '\0';
    at_sysinfo_merge_nvidia_smi(&s, csv);
    free(csv);
    if (s.ngpus < 0 || s.ngpus > AT_SYSINFO_MAX_GPUS)
        abort();
    /* the same bytes as a hardware block, against these facts (a device
     * list, so no path is looked up) */
    s.devices_listed = 1;
    json_t *hw = NULL;
    if (at_json_parse((const char *)data, size, 16, &hw, &d) == 0) {
        char why[48];
        const char *r = at_hardware_fit(hw, &s, why, sizeof(why));
        if (r && (r != why || why[0] == '\0' || strlen(why) >= sizeof(why)))
            abort();
        json_decref(hw);
    }
    return 0;
}
