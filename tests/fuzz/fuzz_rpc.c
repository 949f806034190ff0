/* libFuzzer target: the JSON-RPC frame reader and message classifier that
 * read what agent processes write on stdout.  The input is fed in chunks
 * whose sizes come from the first byte, so framing across reads is covered. */
#include "mcp/rpc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    struct at_rpc_reader r;
    at_rpc_reader_init(&r, 4096);
    size_t off = 0;
    int dead = 0;
    while (off < size && !dead) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (at_rpc_reader_feed(&r, (const char *)data + off, n))
            break;
        off += n;
        const char *line;
        size_t len;
        int got;
        while ((got = at_rpc_reader_next(&r, &line, &len)) == 1) {
            if (len == 0 || memchr(line, '\n', len))
                abort(); /* lines never hold a newline and are never empty */
            struct at_rpc_msg m;
            struct at_diag d;
            at_diag_clear(&d);
            if (at_rpc_parse(line, len, &m, &d) == 0) {
                if ((m.kind == AT_RPC_REQUEST || m.kind == AT_RPC_NOTIFICATION) && !m.method)
                    abort();
                at_rpc_msg_release(&m);
            }
        }
        if (got < 0)
            dead = 1;
    }
    at_rpc_reader_release(&r);
    return 0;
}
