/*
 * cron.c - cron expressions, TZif zones and the next firing (cron.h).
 */
#include "trigger/cron.h"

#include "base/alloc.h"
#include "base/err.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- civil time (proleptic Gregorian, H. Hinnant's algorithms) ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return n[m - 1];
}

/* ---- parsing ---- */

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct field_spec {
    const char *what;
    int lo, hi;
    const char *const *names; /* value lo + i */
    int nnames;
};

static const struct field_spec specs[6] = {
    {"second", 0, 59, NULL, 0},        {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},          {"day of month", 1, 31, NULL, 0},
    {"month", 1, 12, month_names, 12}, {"day of week", 0, 7, day_names, 7},
};

struct pctx {
    const char *expr;
    struct at_diag *d;
};

static int perr(struct pctx *x, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(struct pctx *x, const char *at, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    at_diag_set(x->d, AT_EPARSE, NULL, 1, (int)(at - x->expr) + 1, "cron: %s", msg);
    return AT_EPARSE;
}

/* A number or a name at *p (advanced).  Returns 0 or an error. */
static int parse_value(struct pctx *x, const struct field_spec *f, const char **p, int *out)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s - '0');
            if (v > 1000)
                return perr(x, *p, "%s value is out of range", f->what);
            s++;
        }
        if (v < f->lo || v > f->hi)
            return perr(x, *p, "%s value %ld is outside %d-%d", f->what, v, f->lo, f->hi);
        *out = (int)v;
        *p = s;
        return 0;
    }
    if (f->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
        isalpha((unsigned char)s[2]) && !isalpha((unsigned char)s[3])) {
        for (int i = 0; i < f->nnames; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->lo + i;
                *p = s + 3;
                return 0;
            }
        }
    }
    return perr(x, s, "expected a %s (a number%s)", f->what,
                f->names ? (f->nnames == 12 ? " or jan..dec" : " or sun..sat") : "");
}

/* One field [b, e) into *bits. */
static int parse_field(struct pctx *x, int fi, const char *b, const char *e, uint64_t *bits)
{
    const struct field_spec *f = &specs[fi];
    const char *p = b;
    *bits = 0;
    for (;;) {
        int lo = 0, hi = 0, step = 1, star = 0, range = 0;
        const char *item = p;
        if (*p == '*' || *p == '?') {
            if (*p == '?' && fi != 3 && fi != 5)
                return perr(x, p, "\"?\" is only allowed in the day fields");
            lo = f->lo;
            hi = fi == 5 ? 6 : f->hi;
            star = 1;
            p++;
        } else {
            int rc = parse_value(x, f, &p, &lo);
            if (rc)
                return rc;
            hi = lo;
            if (*p == '-') {
                range = 1;
                p++;
                if ((rc = parse_value(x, f, &p, &hi)))
                    return rc;
                if (hi < lo)
                    return perr(x, item, "%s range is reversed", f->what);
            }
        }
        if (*p == '/') {
            p++;
            const char *sp = p;
            long v = 0;
            if (!isdigit((unsigned char)*p))
                return perr(x, p, "expected a step after \"/\"");
            while (isdigit((unsigned char)*p)) {
                v = v * 10 + (*p - '0');
                if (v > 1000)
                    break;
                p++;
            }
            if (v < 1 || v > f->hi - f->lo + 1)
                return perr(x, sp, "%s step is out of range", f->what);
            step = (int)v;
            if (!star && !range)
                hi = fi == 5 ? 6 : f->hi; /* "7/10": from 7 to the end */
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ull << (fi == 5 && v == 7 ? 0 : v);
        if (p == e)
            break;
        if (*p != ',')
            return perr(x, p, "unexpected character in the %s field", f->what);
        p++;
        if (p == e)
            return perr(x, p, "expected a %s after \",\"", f->what);
    }
    if (*bits == 0)
        return perr(x, b, "the %s field matches nothing", f->what);
    return 0;
}

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int at_cron_parse(const char *expr, struct at_cron *out, struct at_diag *d)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(expr);
    if (len > AT_CRON_MAX_LEN)
        return at_diag_set(d, AT_E2BIG, NULL, 1, AT_CRON_MAX_LEN + 1,
                           "cron: the expression is longer than %d bytes", AT_CRON_MAX_LEN);
    struct pctx x = {expr, d};
    const char *s = expr;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '@') {
        size_t n = strcspn(s, " \t");
        const char *rest = s + n;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
            if (strlen(macros[i].name) == n && strncasecmp(s, macros[i].name, n) == 0) {
                if (*rest)
                    return perr(&x, rest, "nothing may follow %s", macros[i].name);
                return at_cron_parse(macros[i].expr, out, d);
            }
        }
        return perr(&x, s,
                    "unknown macro (known: @yearly @annually @monthly @weekly @daily @midnight "
                    "@hourly)");
    }
    const char *fb[6], *fe[6];
    int n = 0;
    while (*s) {
        if (n == 6)
            return perr(&x, s, "too many fields (5, or 6 with seconds)");
        fb[n] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        fe[n++] = s;
        while (*s == ' ' || *s == '\t')
            s++;
    }
    if (n < 5)
        return perr(&x, s,
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with "
                    "seconds, got %d",
                    n);
    int first = n == 6 ? 0 : 1;
    uint64_t bits[6] = {1, 0, 0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        int rc = parse_field(&x, first + i, fb[i], fe[i], &bits[first + i]);
        if (rc)
            return rc;
    }
    out->sec = bits[0];
    out->min = bits[1];
    out->hour = (uint32_t)bits[2];
    out->dom = (uint32_t)bits[3];
    out->mon = (uint32_t)bits[4];
    out->dow = (uint32_t)bits[5];
    if (n == 6)
        out->flags |= AT_CRON_SECONDS;
    if (out->dom == 0xfffffffeu)
        out->flags |= AT_CRON_DOM_STAR;
    if (out->dow == 0x7fu)
        out->flags |= AT_CRON_DOW_STAR;
    if (out->hour == 0xffffffu)
        out->flags |= AT_CRON_HOUR_STAR;
    return 0;
}

/* ---- TZif (RFC 8536) ---- */

struct tz_rule_date {
    int m, w, d; /* Mm.w.d */
    long secs;   /* local time of day of the change */
};

struct at_tz {
    char name[128];
    int64_t *trans;
    unsigned char *idx;
    size_t ntrans;
    long *utoff;
    size_t ntypes;
    int has_rule; /* the footer's rule applies past the table */
    long std_off; /* footer: standard offset (east of UTC) */
    long dst_off; /* footer: daylight offset; == std_off when no DST */
    int rule_dst; /* footer has a DST rule */
    struct tz_rule_date start, end;
};

#define TZ_MAX_TRANS 100000
#define TZ_MAX_TYPES 256

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* POSIX TZ: "[+-]hh[:mm[:ss]]" into seconds. */
static int posix_time(const char **p, long *out, int max_hours)
{
    const char *s = *p;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!isdigit((unsigned char)*s))
        return -1;
    long h = 0, m = 0, sec = 0;
    while (isdigit((unsigned char)*s) && h <= 999)
        h = h * 10 + (*s++ - '0');
    if (h > max_hours)
        return -1;
    if (*s == ':') {
        s++;
        if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
            return -1;
        m = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
        if (*s == ':') {
            s++;
            if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
                return -1;
            sec = (s[0] - '0') * 10 + (s[1] - '0');
            s += 2;
        }
    }
    if (m > 59 || sec > 59)
        return -1;
    *out = (neg ? -1 : 1) * (h * 3600 + m * 60 + sec);
    *p = s;
    return 0;
}

static int posix_name(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        s++;
        while (*s && *s != '>')
            s++;
        if (*s != '>')
            return -1;
        *p = s + 1;
        return 0;
    }
    while (isalpha((unsigned char)*s))
        s++;
    if (s - *p < 3)
        return -1;
    *p = s;
    return 0;
}

static int posix_date(const char **p, struct tz_rule_date *r)
{
    const char *s = *p;
    if (*s != 'M')
        return -1; /* Jn and n forms: no zone in tzdata uses them */
    s++;
    int v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s) && v[i] < 100)
            v[i] = v[i] * 10 + (*s++ - '0');
        if (i < 2 && *s++ != '.')
            return -1;
    }
    if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 5 || v[2] > 6)
        return -1;
    r->m = v[0];
    r->w = v[1];
    r->d = v[2];
    r->secs = 7200;
    if (*s == '/' && (s++, posix_time(&s, &r->secs, 167)))
        return -1;
    *p = s;
    return 0;
}

/* The footer rule: "std offset [dst [offset] [,start[/time],end[/time]]]". */
static int parse_posix(struct at_tz *tz, const char *s)
{
    long off;
    if (posix_name(&s) || posix_time(&s, &off, 24))
        return -1;
    tz->std_off = -off;
    tz->dst_off = tz->std_off;
    if (*s == '\0')
        return 0;
    if (posix_name(&s))
        return -1;
    tz->dst_off = tz->std_off + 3600;
    if (*s && *s != ',') {
        if (posix_time(&s, &off, 24))
            return -1;
        tz->dst_off = -off;
    }
    if (*s++ != ',' || posix_date(&s, &tz->start) || *s++ != ',' || posix_date(&s, &tz->end) ||
        *s != '\0')
        return -1;
    tz->rule_dst = 1;
    return 0;
}

int at_tz_parse(const char *name, const unsigned char *data, size_t len, struct at_tz **out,
                struct at_diag *d)
{
    *out = NULL;
    if (len < 44 || memcmp(data, "TZif", 4) != 0)
        return at_diag_set(d, AT_EPARSE, name, 0, 0, "not a TZif file");
    int version = data[4] ? data[4] - '0' : 1;
    const unsigned char *h = data;
    size_t pos = 0, tsize = 4;
    for (int pass = 0; pass < 2; pass++) {
        if (pos + 44 > len || memcmp(data + pos, "TZif", 4) != 0)
            return at_diag_set(d, AT_EPARSE, name, 0, 0, "TZif header truncated");
        h = data + pos;
        uint32_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28),
                 timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        if (timecnt > TZ_MAX_TRANS || typecnt == 0 || typecnt > TZ_MAX_TYPES || charcnt > 65536 ||
            leap > 10000 || isut > typecnt || isstd > typecnt)
            return at_diag_set(d, AT_EPARSE, name, 0, 0, "TZif counts out of range");
        size_t body = (size_t)timecnt * tsize + timecnt + (size_t)typecnt * 6 + charcnt +
                      (size_t)leap * (tsize + 4) + isstd + isut;
        if (pos + 44 + body > len)
            return at_diag_set(d, AT_EPARSE, name, 0, 0, "TZif data truncated");
        if (pass == 1 || version < 2) {
            struct at_tz *tz = at_calloc(1, sizeof(*tz));
            snprintf(tz->name, sizeof(tz->name), "%s", name);
            const unsigned char *p = h + 44;
            tz->ntrans = timecnt;
            tz->ntypes = typecnt;
            tz->trans = at_calloc(timecnt ? timecnt : 1, sizeof(int64_t));
            tz->idx = at_calloc(timecnt ? timecnt : 1, 1);
            tz->utoff = at_calloc(typecnt, sizeof(long));
            for (uint32_t i = 0; i < timecnt; i++) {
                tz->trans[i] =
                    tsize == 8 ? be64(p + (size_t)i * 8) : (int32_t)be32(p + (size_t)i * 4);
                if (i && tz->trans[i] <= tz->trans[i - 1]) {
                    at_tz_free(tz);
                    return at_diag_set(d, AT_EPARSE, name, 0, 0, "TZif transitions out of order");
                }
            }
            p += (size_t)timecnt * tsize;
            for (uint32_t i = 0; i < timecnt; i++) {
                tz->idx[i] = p[i];
                if (p[i] >= typecnt) {
                    at_tz_free(tz);
                    return at_diag_set(d, AT_EPARSE, name, 0, 0, "TZif type index out of range");
                }
            }
            p += timecnt;
            for (uint32_t i = 0; i < typecnt; i++) {
                int32_t off = (int32_t)be32(p + (size_t)i * 6);
                if (off < -89999 || off > 93599) {
                    at_tz_free(tz);
                    return at_diag_set(d, AT_EPARSE, name, 0, 0, "TZif offset out of range");
                }
                tz->utoff[i] = off;
            }
            size_t end = pos + 44 + body;
            if (pass == 1 && end < len && data[end] == '\n') {
                const unsigned char *f = data + end + 1;
                const unsigned char *nl = memchr(f, '\n', len - end - 1);
                if (nl && nl - f < 200) {
                    char foot[200];
                    memcpy(foot, f, (size_t)(nl - f));
                    foot[nl - f] = '\0';
                    if (foot[0] && parse_posix(tz, foot) == 0)
                        tz->has_rule = 1;
                }
            }
            *out = tz;
            return 0;
        }
        pos += 44 + body;
        tsize = 8;
    }
    return at_diag_set(d, AT_EPARSE, name, 0, 0, "not a TZif file");
}

static int zone_name_ok(const char *n)
{
    if (!n[0] || n[0] == '/' || strstr(n, "..") || strlen(n) > 100)
        return 0;
    for (const char *p = n; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return 0;
    return 1;
}

int at_tz_load(const char *name, struct at_tz **out, struct at_diag *d)
{
    *out = NULL;
    if (!zone_name_ok(name))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "\"%s\" is not a time zone name", name);
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                           "unknown time zone \"%s\" (no %s; IANA names such as Europe/Berlin)",
                           name, path);
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        close(fd);
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0, "unknown time zone \"%s\"", name);
    }
    unsigned char *buf = at_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int rc = at_tz_parse(name, buf, got, out, d);
    free(buf);
    return rc;
}

void at_tz_free(struct at_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->idx);
    free(tz->utoff);
    free(tz);
}

const char *at_tz_name(const struct at_tz *tz)
{
    return tz ? tz->name : "UTC";
}

/* The instant (UTC) of rule date r in year y, given as local time with
 * offset `off` in force before the change. */
static int64_t rule_instant(const struct tz_rule_date *r, int64_t y, long off)
{
    int64_t first = days_from_civil(y, (unsigned)r->m, 1);
    int wd = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int day = 1 + (r->d - wd + 7) % 7 + (r->w - 1) * 7;
    while (day > (int)days_in_month(y, (unsigned)r->m))
        day -= 7;
    return (first + day - 1) * 86400 + r->secs - off;
}

static long rule_offset(const struct at_tz *tz, int64_t t)
{
    if (!tz->rule_dst)
        return tz->std_off;
    int64_t y;
    unsigned m, dd;
    civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &dd);
    int64_t s = rule_instant(&tz->start, y, tz->std_off);
    int64_t e = rule_instant(&tz->end, y, tz->dst_off);
    if (s < e)
        return t >= s && t < e ? tz->dst_off : tz->std_off;
    return t >= e && t < s ? tz->std_off : tz->dst_off;
}

long at_tz_offset(const struct at_tz *tz, int64_t t)
{
    if (!tz)
        return 0;
    if (tz->ntrans == 0)
        return tz->has_rule ? rule_offset(tz, t) : tz->utoff[0];
    if (t < tz->trans[0])
        return tz->utoff[0];
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule)
        return rule_offset(tz, t);
    size_t lo = 0, hi = tz->ntrans; /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->utoff[tz->idx[lo]];
}

/* ---- the next firing ---- */

static int day_ok(const struct at_cron *c, unsigned dom, unsigned dow)
{
    int a = (int)((c->dom >> dom) & 1), b = (int)((c->dow >> dow) & 1);
    if (c->flags & AT_CRON_DOM_STAR)
        return b;
    if (c->flags & AT_CRON_DOW_STAR)
        return a;
    return a || b;
}

/* The smallest wall time >= w (local seconds) that matches, or -1 past limit. */
static int64_t wall_match(const struct at_cron *c, int64_t w, int64_t limit)
{
    while (w <= limit) {
        int64_t days = floor_div(w, 86400);
        long sod = (long)(w - days * 86400);
        int64_t y;
        unsigned m, dd;
        civil_from_days(days, &y, &m, &dd);
        unsigned dow = (unsigned)((days % 7 + 11) % 7);
        unsigned hh = (unsigned)(sod / 3600), mm = (unsigned)(sod / 60 % 60),
                 ss = (unsigned)(sod % 60);
        if (!((c->mon >> m) & 1)) {
            unsigned nm = m == 12 ? 1 : m + 1;
            w = days_from_civil(m == 12 ? y + 1 : y, nm, 1) * 86400;
            continue;
        }
        if (!day_ok(c, dd, dow)) {
            w = (days + 1) * 86400;
            continue;
        }
        if (!((c->hour >> hh) & 1)) {
            w = days * 86400 + (int64_t)(hh + 1) * 3600;
            continue;
        }
        if (!((c->min >> mm) & 1)) {
            w = days * 86400 + (int64_t)hh * 3600 + (int64_t)(mm + 1) * 60;
            continue;
        }
        uint64_t rest = c->sec >> ss;
        if (!rest) {
            w = days * 86400 + (int64_t)hh * 3600 + (int64_t)(mm + 1) * 60;
            continue;
        }
        return w + __builtin_ctzll(rest);
    }
    return -1;
}

/* The instants wall time w stands for in tz: 0, 1 or 2 (a fall-back's
 * repeat) into u; a spring-forward's skipped time gives the change itself
 * (unless the hour is a wildcard: that hour does not exist). */
static int wall_instants(const struct at_cron *c, const struct at_tz *tz, int64_t w, int64_t u[2])
{
    if (!tz) {
        u[0] = w;
        return 1;
    }
    long cand[3] = {at_tz_offset(tz, w - 86400), at_tz_offset(tz, w), at_tz_offset(tz, w + 86400)};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        int64_t t = w - cand[i];
        if (at_tz_offset(tz, t) != cand[i])
            continue;
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= u[k] == t;
        if (!dup && n < 2)
            u[n++] = t;
    }
    if (n == 2 && u[1] < u[0]) {
        int64_t x = u[0];
        u[0] = u[1];
        u[1] = x;
    }
    if (n == 2 && !(c->flags & AT_CRON_HOUR_STAR))
        n = 1;
    if (n == 0 && !(c->flags & AT_CRON_HOUR_STAR)) {
        /* the gap: the first instant whose offset differs from the one
         * before it, searched below w - (offset before) */
        long before = cand[0];
        int64_t hi = w - before, lo = hi - (int64_t)2 * 86400;
        if (at_tz_offset(tz, lo) != before)
            return 0;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (at_tz_offset(tz, mid) == before)
                lo = mid;
            else
                hi = mid;
        }
        u[0] = hi;
        n = 1;
    }
    return n;
}

int64_t at_cron_next(const struct at_cron *c, const struct at_tz *tz, int64_t after)
{
    const int64_t window = (int64_t)3 * 3600;
    long o0 = at_tz_offset(tz, after - window), o1 = at_tz_offset(tz, after),
         o2 = at_tz_offset(tz, after + window);
    long omin = o0 < o1 ? o0 : o1;
    omin = omin < o2 ? omin : o2;
    int64_t w = after + 1 + omin;
    int64_t limit = w + 50LL * 366 * 86400;
    int64_t best = -1;
    long bmax = 0;
    for (;;) {
        int64_t W = wall_match(c, w, limit);
        if (W < 0)
            break;
        if (best >= 0 && W >= best + bmax)
            break;
        int64_t u[2];
        int n = wall_instants(c, tz, W, u);
        for (int i = 0; i < n; i++) {
            if (u[i] > after && (best < 0 || u[i] < best)) {
                best = u[i];
                long a = at_tz_offset(tz, best - window), b = at_tz_offset(tz, best),
                     e = at_tz_offset(tz, best + window);
                bmax = a > b ? a : b;
                bmax = bmax > e ? bmax : e;
            }
        }
        w = W + 1;
    }
    return best;
}
