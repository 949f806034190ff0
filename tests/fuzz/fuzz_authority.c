/* libFuzzer target: the Host/Origin authority parser of the security
 * middleware (http/auth.c).  Properties: a parsed host is lower case,
 * non-empty, without characters that could change its meaning ('/', '@',
 * '\\', spaces), and re-parses to itself with no port. */
#include "http/auth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char host[128];
    int port = -2;
    if (at_http_authority_parse((const char *)data, size, host, sizeof(host), &port)) {
        size_t n = strlen(host);
        if (n == 0 || n >= sizeof(host) || port < -1 || port > 99999)
            abort();
        for (size_t i = 0; i < n; i++)
            if ((host[i] >= 'A' && host[i] <= 'Z') || host[i] == '/' || host[i] == '@' ||
                host[i] == '\\' || (unsigned char)host[i] <= ' ')
                abort();
        char again[128];
        int p2;
        if (!at_http_authority_parse(host, n, again, sizeof(again), &p2) || strcmp(again, host) ||
            p2 != -1)
            abort();
    }
    return 0;
}
