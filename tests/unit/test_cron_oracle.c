/* Oracle test: Atlas's cron next-firing computation against Debian's
 * python3-croniter (tests/oracle/croniter_next.py), which no one here
 * wrote.  A few hundred generated expressions (lists, ranges, steps, names,
 * an optional seconds field), each in one of several zones (with and
 * without DST, northern and southern, half- and 45-minute offsets), and
 * their next 1,000 firings from a start somewhere in 2026.
 *
 * Each of Atlas's firings is checked: croniter, started from Atlas's
 * previous firing (set to that instant each time), must name the same next
 * one.  Not compared, because the two are meant to differ or the oracle is
 * wrong there:
 *   - firings within 3 hours of a UTC-offset change: there Atlas follows
 *     cronie (a time a spring-forward skips fires at the change, a repeated
 *     time fires once; test_trigger.c checks that rule), croniter shifts.
 *   - a step from one UTC offset to another: croniter 1.3.5 computes the
 *     next firing with the offset of the instant it starts from
 *     (Pacific/Chatham "* 1 * 2 *" from August gives 00:00 +13:45 on
 *     Feb 1, not 01:00).  Both sides of such a step are still compared on
 *     the steps before and after it.
 *   - day-of-month values past 28: croniter 1.3.5 skips the next month's
 *     first days after a month without them ("0 12 1,16,31 * *" from
 *     2027-02-16 gives 2027-03-16, not 2027-03-01), so the generator keeps
 *     days of the month within 1-28.
 * Every other firing, before and after each change, must be identical.
 * Exit 77 when python3 or croniter is missing. */
#include "base/err.h"
#include "trigger/cron.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NEXPR 250
#define NFIRE 1000

static const char *const zones[] = {
    "UTC",          "Europe/Berlin",   "America/New_York", "Australia/Sydney",
    "Asia/Kolkata", "Pacific/Chatham", "America/Sao_Paulo"};
#define NZONES (sizeof(zones) / sizeof(zones[0]))

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const mon_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                        "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* v, spelled as a number or (sometimes) a name */
static const char *val(char *buf, size_t n, int v, int lo, const char *const *names)
{
    if (names && rnd(3) == 0)
        return names[v - lo];
    snprintf(buf, n, "%d", v);
    return buf;
}

/* One field over lo..hi; names (may be NULL) spell values lo+i. */
static void gen_field(char *out, size_t n, int lo, int hi, const char *const *names, int star_w)
{
    int span = hi - lo + 1;
    unsigned kind = rnd(100);
    int a = lo + (int)rnd((unsigned)span), b = lo + (int)rnd((unsigned)span);
    int c = lo + (int)rnd((unsigned)span);
    if (a > b) {
        int x = a;
        a = b;
        b = x;
    }
    int step = 2 + (int)rnd((unsigned)(span > 3 ? span / 2 : 2));
    char ba[8], bb[8], bc[8];
    const char *va = val(ba, sizeof(ba), a, lo, names), *vb = val(bb, sizeof(bb), b, lo, names),
               *vc = val(bc, sizeof(bc), c, lo, names);
    unsigned w = (unsigned)star_w;
    if (kind < w)
        snprintf(out, n, "*");
    else if (kind < w + (100 - w) / 5)
        snprintf(out, n, "%s", va);
    else if (kind < w + 2 * (100 - w) / 5)
        snprintf(out, n, "%s-%s", va, vb);
    else if (kind < w + 3 * (100 - w) / 5 && lo == 1 && hi == 28)
        snprintf(out, n, "1-28/%d", step); /* "*\/N" would reach 29-31 */
    else if (kind < w + 3 * (100 - w) / 5)
        snprintf(out, n, "*/%d", step);
    else if (kind < w + 4 * (100 - w) / 5)
        snprintf(out, n, "%d-%d/%d", a, b, step);
    else
        snprintf(out, n, "%s,%s,%s", va, vb, vc);
}

struct item {
    char zone[40];
    char atlas[200];  /* our syntax: optional leading seconds */
    char oracle[200]; /* croniter's: seconds last */
    int64_t start;
};

static void gen(struct item *it, int i)
{
    char f[6][48];
    int secs = rnd(100) < 25;
    gen_field(f[0], sizeof(f[0]), 0, 59, NULL, 30);
    gen_field(f[1], sizeof(f[1]), 0, 59, NULL, 15);
    gen_field(f[2], sizeof(f[2]), 0, 23, NULL, 35);
    gen_field(f[3], sizeof(f[3]), 1, 28, NULL, 60);
    gen_field(f[4], sizeof(f[4]), 1, 12, mon_names, 60);
    gen_field(f[5], sizeof(f[5]), 0, 6, dow_names, 60);
    snprintf(it->zone, sizeof(it->zone), "%s", zones[i % NZONES]);
    if (secs) {
        snprintf(it->atlas, sizeof(it->atlas), "%s %s %s %s %s %s", f[0], f[1], f[2], f[3], f[4],
                 f[5]);
        snprintf(it->oracle, sizeof(it->oracle), "%s %s %s %s %s %s", f[1], f[2], f[3], f[4], f[5],
                 f[0]);
    } else {
        snprintf(it->atlas, sizeof(it->atlas), "%s %s %s %s %s", f[1], f[2], f[3], f[4], f[5]);
        snprintf(it->oracle, sizeof(it->oracle), "%s", it->atlas);
    }
    /* 2026-01-01T00:00:00Z + up to a year, on a minute boundary */
    it->start = 1767225600 + (int64_t)rnd(365 * 24 * 60) * 60;
}

static int near_change(const struct at_tz *tz, int64_t t)
{
    return at_tz_offset(tz, t - 3 * 3600) != at_tz_offset(tz, t + 3 * 3600);
}

static void test_against_croniter(void **state)
{
    (void)state;
    const char *src = getenv("ATLAS_SRC_DIR");
    char script[600];
    snprintf(script, sizeof(script), "%s/tests/oracle/croniter_next.py", src ? src : "../..");
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import croniter' 2>/dev/null") != 0) {
        print_message("python3-croniter is not installed (scripts/install-deps.sh test)\n");
        exit(77);
    }
    /* Atlas's chains first: start, then NFIRE firings */
    static struct item items[NEXPR];
    static int64_t chain[NEXPR][NFIRE + 1];
    static int nchain[NEXPR], refused[NEXPR];
    char in_path[] = "/tmp/atlas-cron-oracle-XXXXXX";
    int fd = mkstemp(in_path);
    assert_true(fd >= 0);
    FILE *in = fdopen(fd, "w");
    for (int i = 0; i < NEXPR; i++) {
        gen(&items[i], i);
        struct item *it = &items[i];
        struct at_cron c;
        struct at_diag d;
        at_diag_clear(&d);
        refused[i] = at_cron_parse(it->atlas, &c, &d) != 0;
        struct at_tz *tz = NULL;
        if (strcmp(it->zone, "UTC") != 0)
            assert_int_equal(at_tz_load(it->zone, &tz, &d), 0);
        chain[i][0] = it->start;
        nchain[i] = 1;
        for (int k = 0; !refused[i] && k < NFIRE; k++) {
            int64_t t = at_cron_next(&c, tz, chain[i][k]);
            if (t < 0)
                break;
            chain[i][nchain[i]++] = t;
        }
        at_tz_free(tz);
        fprintf(in, "%s\t%s\t", it->zone, it->oracle);
        for (int k = 0; k < (nchain[i] > 1 ? nchain[i] - 1 : 1); k++)
            fprintf(in, "%lld ", (long long)chain[i][k]);
        fputc('\n', in);
    }
    fclose(in);
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s < %s", script, in_path);
    FILE *out = popen(cmd, "r");
    assert_non_null(out);
    static char line[NFIRE * 12 + 64];
    int compared = 0, bad = 0;
    long long same = 0, near = 0, across = 0;
    for (int i = 0; i < NEXPR; i++) {
        if (!fgets(line, sizeof(line), out))
            fail_msg("the oracle stopped after %d lines", i);
        struct item *it = &items[i];
        if (strncmp(line, "ERR", 3) == 0 || refused[i]) {
            if ((strncmp(line, "ERR", 3) == 0) != refused[i] && bad++ < 10)
                print_message("\"%s\": croniter %s, Atlas %s\n", it->oracle,
                              refused[i] ? "accepts" : "refuses",
                              refused[i] ? "refuses" : "accepts");
            continue;
        }
        struct at_tz *tz = NULL;
        struct at_diag d;
        if (strcmp(it->zone, "UTC") != 0)
            assert_int_equal(at_tz_load(it->zone, &tz, &d), 0);
        char *p = line;
        int ok = 1;
        for (int k = 1; k < nchain[i]; k++) {
            char *end;
            long long want = strtoll(p, &end, 10);
            if (end == p) {
                ok = 0;
                if (bad++ < 10)
                    print_message("the oracle gave %d answers for \"%s\"\n", k - 1, it->oracle);
                break;
            }
            p = end;
            int64_t from = chain[i][k - 1], got = chain[i][k];
            if (near_change(tz, got) || near_change(tz, want)) {
                near++;
                continue;
            }
            if (at_tz_offset(tz, from) != at_tz_offset(tz, want) ||
                at_tz_offset(tz, from) != at_tz_offset(tz, got)) {
                across++;
                continue;
            }
            if (want != got) {
                ok = 0;
                if (bad++ < 10)
                    print_message("%s \"%s\" after %lld (firing %d): croniter %lld, Atlas %lld\n",
                                  it->zone, it->atlas, (long long)from, k, want, (long long)got);
                break;
            }
            same++;
        }
        compared += ok;
        at_tz_free(tz);
    }
    pclose(out);
    unlink(in_path);
    print_message("%d of %d expressions agree: %lld firings identical; not compared: %lld near "
                  "an offset change, %lld across one; %d differences\n",
                  compared, NEXPR, same, near, across, bad);
    assert_int_equal(bad, 0);
    assert_true(same > (long long)NEXPR * NFIRE * 8 / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_croniter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
