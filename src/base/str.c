#include "base/str.h"

#include "base/alloc.h"
#include "base/err.h"

#include <errno.h>
#include <stdlib.h>

char *at_str_dup(struct at_str s)
{
    return at_strndup(s.p ? s.p : "", s.len);
}

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
