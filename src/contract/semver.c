#include "contract/semver.h"

#include "base/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PART_MAX 1000000000UL

static int parse_num(const char **pp, unsigned long *out)
{
    const char *p = *pp;
    if (!isdigit((unsigned char)*p))
        return AT_EINVAL;
    if (*p == '0' && isdigit((unsigned char)p[1]))
        return AT_EINVAL; /* no leading zeros */
    unsigned long v = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > PART_MAX)
            return AT_EINVAL;
        p++;
    }
    *out = v;
    *pp = p;
    return 0;
}

/* dot-separated identifiers of [0-9A-Za-z-], non-empty; numeric ones
 * without leading zeros when check_zero. */
static int parse_idents(const char *p, size_t len, int check_zero)
{
    if (len == 0)
        return AT_EINVAL;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            size_t n = i - start;
            if (n == 0)
                return AT_EINVAL;
            int numeric = 1;
            for (size_t k = start; k < i; k++)
                if (!isdigit((unsigned char)p[k]))
                    numeric = 0;
            if (check_zero && numeric && n > 1 && p[start] == '0')
                return AT_EINVAL;
            start = i + 1;
            continue;
        }
        if (!isalnum((unsigned char)p[i]) && p[i] != '-')
            return AT_EINVAL;
    }
    return 0;
}

int at_semver_parse(const char *s, struct at_semver *v)
{
    memset(v, 0, sizeof(*v));
    if (!s)
        return AT_EINVAL;
    const char *p = s;
    if (parse_num(&p, &v->major) || *p++ != '.' || parse_num(&p, &v->minor) || *p++ != '.' ||
        parse_num(&p, &v->patch))
        return AT_EINVAL;
    if (*p == '-') {
        p++;
        const char *end = strchr(p, '+');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n >= sizeof(v->pre) || parse_idents(p, n, 1))
            return AT_EINVAL;
        memcpy(v->pre, p, n);
        v->pre[n] = '\0';
        p += n;
    }
    if (*p == '+') {
        p++;
        size_t n = strlen(p);
        if (n >= sizeof(v->build) || parse_idents(p, n, 0))
            return AT_EINVAL;
        memcpy(v->build, p, n + 1);
        p += n;
    }
    return *p ? AT_EINVAL : 0;
}

static int cmp_ul(unsigned long a, unsigned long b)
{
    return a < b ? -1 : a > b;
}

int at_semver_cmp(const struct at_semver *a, const struct at_semver *b)
{
    int c;
    if ((c = cmp_ul(a->major, b->major)) || (c = cmp_ul(a->minor, b->minor)) ||
        (c = cmp_ul(a->patch, b->patch)))
        return c;
    /* a version without pre-release has higher precedence */
    if (!a->pre[0] || !b->pre[0])
        return (a->pre[0] == 0) - (b->pre[0] == 0);
    const char *x = a->pre, *y = b->pre;
    for (;;) {
        size_t nx = strcspn(x, "."), ny = strcspn(y, ".");
        int dx = 1, dy = 1;
        for (size_t i = 0; i < nx; i++)
            dx &= isdigit((unsigned char)x[i]) != 0;
        for (size_t i = 0; i < ny; i++)
            dy &= isdigit((unsigned char)y[i]) != 0;
        if (dx && dy) {
            if (nx != ny)
                return nx < ny ? -1 : 1;
            c = strncmp(x, y, nx);
        } else if (dx != dy) {
            c = dx ? -1 : 1; /* numeric identifiers sort first */
        } else {
            c = strncmp(x, y, nx < ny ? nx : ny);
            if (!c)
                c = cmp_ul(nx, ny);
        }
        if (c)
            return c < 0 ? -1 : 1;
        x += nx;
        y += ny;
        if (!*x || !*y)
            return (*x != 0) - (*y != 0);
        x++;
        y++;
    }
}

int at_version_parse_loose(const char *s, unsigned long parts[3], int *nparts)
{
    parts[0] = parts[1] = parts[2] = 0;
    int n = 0;
    const char *p = s;
    while (n < 3) {
        if (!isdigit((unsigned char)*p))
            return AT_EINVAL;
        unsigned long v = 0;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (unsigned long)(*p - '0');
            if (v > PART_MAX)
                return AT_EINVAL;
            p++;
        }
        parts[n++] = v;
        if (*p != '.')
            break;
        p++;
    }
    /* tolerate suffixes like "3.11.2+" or "20.1.0-rc1" after three parts */
    if (*p && *p != '+' && *p != '-' && !isalpha((unsigned char)*p))
        return AT_EINVAL;
    if (nparts)
        *nparts = n;
    return 0;
}

static int cmp3(const unsigned long a[3], const unsigned long b[3], int n)
{
    for (int i = 0; i < n && i < 3; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

static int clause_ok(const unsigned long ver[3], const char *c, size_t len)
{
    char buf[64];
    while (len && isspace((unsigned char)*c)) {
        c++;
        len--;
    }
    while (len && isspace((unsigned char)c[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return AT_EINVAL;
    memcpy(buf, c, len);
    buf[len] = '\0';
    const char *ops[] = {">=", "<=", "==", "!=", "~=", ">", "<", "^", "="};
    const char *op = "==";
    char *rest = buf;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i]);
        if (strncmp(buf, ops[i], n) == 0) {
            op = ops[i];
            rest = buf + n;
            break;
        }
    }
    while (isspace((unsigned char)*rest))
        rest++;
    int wildcard = 0;
    size_t rl = strlen(rest);
    if (rl >= 2 && strcmp(rest + rl - 2, ".*") == 0) {
        rest[rl - 2] = '\0';
        wildcard = 1;
    }
    unsigned long want[3];
    int n;
    if (at_version_parse_loose(rest, want, &n))
        return AT_EINVAL;
    if (wildcard && strcmp(op, "==") != 0 && strcmp(op, "!=") != 0 && strcmp(op, "=") != 0)
        return AT_EINVAL;
    int full = cmp3(ver, want, 3);
    if (!strcmp(op, ">="))
        return full >= 0;
    if (!strcmp(op, "<="))
        return full <= 0;
    if (!strcmp(op, ">"))
        return full > 0;
    if (!strcmp(op, "<"))
        return full < 0;
    if (!strcmp(op, "==") || !strcmp(op, "="))
        return wildcard ? cmp3(ver, want, n) == 0 : full == 0;
    if (!strcmp(op, "!="))
        return wildcard ? cmp3(ver, want, n) != 0 : full != 0;
    if (!strcmp(op, "~=")) {
        /* PEP 440: ~=3.11 means >=3.11, ==3.*; ~=3.11.2 means >=3.11.2, ==3.11.* */
        if (n < 2)
            return AT_EINVAL;
        return full >= 0 && cmp3(ver, want, n - 1) == 0;
    }
    /* ^: same major (or same minor when major is 0) */
    if (full < 0)
        return 0;
    if (want[0] != 0)
        return ver[0] == want[0];
    return ver[0] == 0 && ver[1] == want[1];
}

int at_version_satisfies(const char *version, const char *constraint)
{
    unsigned long ver[3];
    if (at_version_parse_loose(version, ver, NULL))
        return AT_EINVAL;
    const char *p = constraint;
    int any = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int ok = clause_ok(ver, p, len);
        if (ok < 0)
            return ok;
        any = 1;
        if (!ok)
            return 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return any ? 1 : AT_EINVAL;
}
