/* libFuzzer target: the Link header of a paged catalog or tag list
 * (dist/client.h at_oci_link_next) and the ELF header check of the scan
 * (dist/scan.h) on hostile bytes.  Properties: a next page is a path on
 * the same registry (starts with '/', no control bytes or spaces), it
 * fits its buffer; an ELF machine is -1 or 16 bits. */
#include "dist/client.h"
#include "dist/scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *link = malloc(size + 1);
    if (!link)
        return 0;
    memcpy(link, data, size);
    link[size] = '\0';
    char out[256];
    if (at_oci_link_next(link, out, sizeof(out))) {
        size_t n = strnlen(out, sizeof(out));
        if (n == 0 || n >= sizeof(out) || out[0] != '/')
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)out[i] <= 0x20 || out[i] == 0x7f)
                abort();
    }
    free(link);
    int m = at_dist_elf_machine(data, size);
    if (m < -1 || m > 0xffff)
        abort();
    return 0;
}
