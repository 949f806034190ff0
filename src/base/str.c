#include "base/str.h"

#include "base/alloc.h"
#include "base/err.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

int at_parse_i64(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s)
        return AT_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return AT_EINVAL;
    *out = v;
    return 0;
}

int at_header_value(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t kl = strlen(name);
    if (cap == 0 || len <= kl || strncasecmp(line, name, kl) != 0 || line[kl] != ':')
        return 0;
    const char *v = line + kl + 1;
    size_t vl = len - kl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (vl >= cap)
        vl = cap - 1;
    memcpy(dst, v, vl);
    dst[vl] = '\0';
    return 1;
}

int at_parse_range(const char *s, long long *a, long long *b)
{
    char *end;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return AT_EINVAL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    /* B may be -1: "0--1" is how some registries say "nothing yet" */
    const char *y0 = end + 1 + (end[0] == '-' && end[1] == '-');
    if (errno || *end != '-' || *y0 < '0' || *y0 > '9')
        return AT_EINVAL;
    long long y = strtoll(end + 1, &end, 10);
    if (errno)
        return AT_EINVAL;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (*end)
        return AT_EINVAL;
    *a = x;
    *b = y;
    return 0;
}
