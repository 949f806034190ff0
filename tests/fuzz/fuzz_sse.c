/* libFuzzer target: the Server-Sent Events parser (remote MCP servers and
 * model backends stream through it), and the header-line reader that runs
 * on the same responses (at_header_value). */
#include "base/sse.h"
#include "base/str.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    size_t *total = arg;
    if (!event || !data || !id || data[len] != '\0')
        abort(); /* data is NUL-terminated at len (it may hold NULs itself) */
    *total += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    struct at_sse_parser p;
    at_sse_parser_init(&p, 4096, on_event, &total);
    size_t half = size / 2;
    if (at_sse_feed(&p, (const char *)data, half) == 0)
        at_sse_feed(&p, (const char *)data + half, size - half);
    at_sse_parser_release(&p);
    char v[64];
    if (at_header_value((const char *)data, size, "content-type", v, sizeof(v)) &&
        strlen(v) >= sizeof(v))
        abort();
    return 0;
}
