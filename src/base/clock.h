/*
 * clock.h - time sources.  Thread-safe.
 */
#ifndef AT_BASE_CLOCK_H
#define AT_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC); for durations and timers. */
int64_t at_now_ns(void);
/* Monotonic milliseconds. */
int64_t at_now_ms(void);
/* Wall clock, milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t at_wall_ms(void);
/* "2026-11-23T10:00:00.123Z" into out (at least 25 bytes); returns out. */
char *at_time_iso8601(int64_t wall_ms, char *out, size_t n);
/* Parse an RFC 3339 UTC or offset timestamp into wall ms; AT_EPARSE on error. */
int at_time_parse_iso8601(const char *s, int64_t *wall_ms);

#endif
