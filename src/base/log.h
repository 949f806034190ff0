/*
 * log.h - leveled logging to one sink: stderr by default, or the systemd
 * journal's native protocol (at_log_journal_open).
 *
 * Lines are "2026-11-23T10:00:00.123Z level component: message".  Never log
 * secrets: tokens and API keys are passed through at_log_redact first when
 * they might appear.  Thread-safe (one write(2) or send(2) per line).
 */
#ifndef AT_BASE_LOG_H
#define AT_BASE_LOG_H

#include <stddef.h>

enum at_log_level { AT_LOG_DEBUG, AT_LOG_INFO, AT_LOG_WARN, AT_LOG_ERROR, AT_LOG_OFF };

void at_log_set_level(enum at_log_level lvl);
/* A filter every line passes before it is written: it may rewrite
 * line[0..len) in place (cap bytes available) and returns the new length.
 * The security layer redacts secrets with it.  Set once at start, before
 * other threads log; NULL: none. */
typedef size_t (*at_log_filter_fn)(void *arg, char *line, size_t len, size_t cap);
void at_log_set_filter(at_log_filter_fn fn, void *arg);
/* Parse "debug|info|warn|error|off"; returns -1 if unknown. */
int at_log_level_parse(const char *s);
void at_log(enum at_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Send every later line to the journal's native socket at path (normally
 * /run/systemd/journal/socket) as one datagram of fields instead of a text
 * line on stderr (systemd.journal-fields(7), "native protocol"):
 *
 *   MESSAGE=component: message      PRIORITY=7|6|4|3 (debug|info|warn|error)
 *   SYSLOG_IDENTIFIER=identifier    ATLAS_COMPONENT=component
 *   ATLAS_JOB_ID=job_...            (when the message names a job)
 *
 * A datagram the journal refuses (gone, full) is written to stderr as text
 * instead, so no line is lost.  Returns 0 or AT_EIO (then stderr stays).
 * Call before other threads log; not thread-safe against at_log itself. */
int at_log_journal_open(const char *path, const char *identifier);
/* Back to stderr (closes the socket). */
void at_log_journal_close(void);

#define at_debug(c, ...) at_log(AT_LOG_DEBUG, c, __VA_ARGS__)
#define at_info(c, ...) at_log(AT_LOG_INFO, c, __VA_ARGS__)
#define at_warn(c, ...) at_log(AT_LOG_WARN, c, __VA_ARGS__)
#define at_error(c, ...) at_log(AT_LOG_ERROR, c, __VA_ARGS__)

#endif
