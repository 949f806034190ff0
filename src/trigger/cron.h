/*
 * cron.h - cron expressions and time zones for cron triggers.
 *
 * Expressions: five fields (minute hour day-of-month month day-of-week), or
 * six with a leading seconds field; each field a list of ranges ("1-5"),
 * steps ("*\/15", "10-50/5", "7/10"), names (jan..dec, sun..sat, any case)
 * and "*" / "?"; day-of-week 7 is Sunday; the macros @yearly @annually
 * @monthly @weekly @daily @midnight @hourly.  When both day fields are
 * restricted a day matches either (Vixie cron, cronie, croniter).
 *
 * Time zones are read from the system's TZif files (/usr/share/zoneinfo, or
 * $TZDIR): the transition table, then the footer's POSIX TZ rule (the
 * M.w.d form) for instants past the table.  Daylight saving as cronie does
 * it: a wall time that a spring-forward skips fires once at the moment of
 * the change, a wall time that a fall-back repeats fires once (the first
 * time), except that a field-wildcard hour ("*" or a step over the whole
 * range) fires in both passes, as an hourly job should.
 *
 * Everything here is pure computation on caller-owned values; thread-safe.
 */
#ifndef AT_TRIGGER_CRON_H
#define AT_TRIGGER_CRON_H

#include "base/diag.h"

#include <stddef.h>
#include <stdint.h>

#define AT_CRON_MAX_LEN 256 /* expression length in bytes */

enum {
    AT_CRON_SECONDS = 1u << 0,  /* the expression had a seconds field */
    AT_CRON_DOM_STAR = 1u << 1, /* day-of-month is "*" or "?" */
    AT_CRON_DOW_STAR = 1u << 2, /* day-of-week is "*" or "?" */
    AT_CRON_HOUR_STAR = 1u << 3 /* the hour field starts with "*" */
};

struct at_cron {
    uint64_t sec;  /* bit n: second n (bit 0 only without a seconds field) */
    uint64_t min;  /* 0..59 */
    uint32_t hour; /* 0..23 */
    uint32_t dom;  /* 1..31 */
    uint32_t mon;  /* 1..12 */
    uint32_t dow;  /* 0..6, Sunday 0 */
    unsigned flags;
};

/* Parse expr (NUL-terminated).  Returns 0, or AT_EPARSE / AT_E2BIG with
 * d->col the 1-based column of the problem and d->msg what is wrong. */
int at_cron_parse(const char *expr, struct at_cron *out, struct at_diag *d);

struct at_tz;

/* Load zone name ("UTC", "Europe/Berlin", ...).  Returns 0 and *out (free
 * with at_tz_free), AT_ENOENT (no such zone) or AT_EPARSE (not a TZif
 * file; d says why).  Names with "..", a leading "/" or characters outside
 * [A-Za-z0-9/_+-] are refused with AT_EINVAL. */
int at_tz_load(const char *name, struct at_tz **out, struct at_diag *d);
/* Parse a TZif image (for tests and the fuzz target). */
int at_tz_parse(const char *name, const unsigned char *data, size_t len, struct at_tz **out,
                struct at_diag *d);
void at_tz_free(struct at_tz *tz);
const char *at_tz_name(const struct at_tz *tz);
/* UTC offset in seconds at instant t (Unix seconds).  tz NULL: UTC. */
long at_tz_offset(const struct at_tz *tz, int64_t t);

/* The first firing strictly after `after` (Unix seconds) in zone tz (NULL:
 * UTC), or -1 when the expression never fires within the next 50 years. */
int64_t at_cron_next(const struct at_cron *c, const struct at_tz *tz, int64_t after);

#endif
