/* libFuzzer target: the egress proxy's request head (security/egress_proxy.h)
 * and the allowlist rules (contract/egress.h).  Properties: a parsed head
 * names a port 1-65535 and a lower-case host that at_egress_split accepts
 * again; an absolute-form head's rewrite starts with the method and "/" and
 * holds no Proxy-Authorization; a rule the checker accepts lets its own
 * host:port through when it has no wildcard. */
#include "contract/egress.h"
#include "security/egress_proxy.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct at_proxy_req r;
    char why[300];
    if (at_proxy_parse_head((const char *)data, size, &r, why, sizeof(why)) == 0) {
        if (r.port < 1 || r.port > 65535 || !r.host[0])
            abort();
        for (const char *h = r.host; *h; h++)
            if (isupper((unsigned char)*h))
                abort();
        char again[AT_EGRESS_HOST_MAX + 16], h2[AT_EGRESS_HOST_MAX];
        int p2;
        snprintf(again, sizeof(again), strchr(r.host, ':') ? "[%s]:%d" : "%s:%d", r.host, r.port);
        if (at_egress_split(again, h2, sizeof(h2), &p2) != 0 || p2 != r.port ||
            strcmp(h2, r.host) != 0)
            abort();
        if (!r.connect) {
            if (!r.head || r.head_len < 4 || !strstr(r.head, " /"))
                abort();
            for (size_t i = 0; i + 21 <= r.head_len; i++)
                if (strncasecmp(r.head + i, "\nProxy-Authorization:", 21) == 0)
                    abort();
        }
        at_proxy_req_release(&r);
    } else if (why[0] == '\0') {
        abort();
    }
    /* the same bytes as one rule */
    char rule[300];
    size_t n = size < sizeof(rule) - 1 ? size : sizeof(rule) - 1;
    memcpy(rule, data, n);
    rule[n] = '\0';
    if (at_egress_rule_check(rule, why, sizeof(why)) == 0 && rule[0] != '*') {
        char host[AT_EGRESS_HOST_MAX];
        int port;
        if (at_egress_split(rule, host, sizeof(host), &port) == 0) {
            json_t *rules = json_pack("[s]", rule);
            if (!at_egress_allowed(rules, host, port))
                abort();
            json_decref(rules);
        }
    }
    return 0;
}
