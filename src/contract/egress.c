#include "contract/egress.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_char(int c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.';
}

/* A DNS name (labels of name characters, none empty), an IPv4 address, or
 * (bracketed in rules) an IPv6 one. */
static int host_ok(const char *h, size_t len, int bracketed)
{
    if (len == 0 || len >= AT_EGRESS_HOST_MAX)
        return 0;
    if (bracketed) { /* an IPv6 address, nothing else */
        char a[64];
        unsigned char bin[16];
        if (len >= sizeof(a))
            return 0;
        memcpy(a, h, len);
        a[len] = '\0';
        return inet_pton(AF_INET6, a, bin) == 1;
    }
    if (h[0] == '.' || h[0] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!name_char((unsigned char)h[i]))
            return 0;
        if (h[i] == '.' && i + 1 < len && h[i + 1] == '.')
            return 0;
    }
    return 1;
}

static int port_of(const char *p, int star_ok)
{
    if (star_ok && strcmp(p, "*") == 0)
        return 0;
    if (!*p || strlen(p) > 5)
        return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    long v = strtol(p, NULL, 10);
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* Split s at its port colon: *hs and *hl the host (brackets removed), *ps the
 * port text.  -1 when there is no port. */
static int split(const char *s, const char **hs, size_t *hl, const char **ps, int *bracketed)
{
    *bracketed = 0;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':')
            return -1;
        *hs = s + 1;
        *hl = (size_t)(e - s - 1);
        *ps = e + 2;
        *bracketed = 1;
        return 0;
    }
    const char *c = strrchr(s, ':');
    if (!c || memchr(s, ':', (size_t)(c - s)))
        return -1;
    *hs = s;
    *hl = (size_t)(c - s);
    *ps = c + 1;
    return 0;
}

int at_egress_rule_check(const char *rule, char *why, size_t n)
{
    const char *hs, *ps;
    size_t hl;
    int br;
    if (!rule || split(rule, &hs, &hl, &ps, &br) != 0) {
        snprintf(why, n,
                 "\"%s\" is not HOST:PORT (e.g. \"api.github.com:443\", \"*.example.com:*\")",
                 rule ? rule : "");
        return -1;
    }
    if (!br && hl > 2 && hs[0] == '*' && hs[1] == '.') {
        hs += 2;
        hl -= 2;
    }
    if (!host_ok(hs, hl, br)) {
        snprintf(why, n, "\"%s\": the host is not a DNS name, \"*.NAME\" or an address", rule);
        return -1;
    }
    if (port_of(ps, 1) < 0) {
        snprintf(why, n, "\"%s\": the port is not 1-65535 or *", rule);
        return -1;
    }
    return 0;
}

static void lower_copy(char *dst, size_t dlen, const char *s, size_t len)
{
    if (len >= dlen)
        len = dlen - 1;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)tolower((unsigned char)s[i]);
    while (len > 0 && dst[len - 1] == '.')
        len--;
    dst[len] = '\0';
}

int at_egress_split(const char *hostport, char *host, size_t hlen, int *port)
{
    const char *hs, *ps;
    size_t hl;
    int br;
    if (!hostport || split(hostport, &hs, &hl, &ps, &br) != 0 || !host_ok(hs, hl, br))
        return -1;
    int p = port_of(ps, 0);
    if (p < 0 || hl >= hlen)
        return -1;
    lower_copy(host, hlen, hs, hl);
    *port = p;
    return host[0] ? 0 : -1;
}

int at_egress_allowed(const json_t *rules, const char *host, int port)
{
    size_t i;
    const json_t *r;
    size_t hlen = strlen(host);
    json_array_foreach(rules, i, r)
    {
        const char *rule = json_string_value(r);
        const char *hs, *ps;
        size_t hl;
        int br;
        if (!rule || split(rule, &hs, &hl, &ps, &br) != 0)
            continue;
        int rp = port_of(ps, 1);
        if (rp < 0 || (rp != 0 && rp != port))
            continue;
        char rh[AT_EGRESS_HOST_MAX];
        int wild = !br && hl > 2 && hs[0] == '*' && hs[1] == '.';
        if (wild)
            lower_copy(rh, sizeof(rh), hs + 2, hl - 2);
        else
            lower_copy(rh, sizeof(rh), hs, hl);
        size_t rl = strlen(rh);
        if (!wild && strcmp(rh, host) == 0)
            return 1;
        if (wild && hlen > rl + 1 && host[hlen - rl - 1] == '.' &&
            strcmp(host + hlen - rl, rh) == 0)
            return 1;
    }
    return 0;
}
