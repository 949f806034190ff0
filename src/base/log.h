/*
 * log.h - leveled logging to one sink (stderr by default).
 *
 * Lines are "2026-11-23T10:00:00.123Z level component: message".  Never log
 * secrets: tokens and API keys are passed through at_log_redact first when
 * they might appear.  Thread-safe (one write(2) per line).
 */
#ifndef AT_BASE_LOG_H
#define AT_BASE_LOG_H

enum at_log_level { AT_LOG_DEBUG, AT_LOG_INFO, AT_LOG_WARN, AT_LOG_ERROR, AT_LOG_OFF };

void at_log_set_level(enum at_log_level lvl);
/* Parse "debug|info|warn|error|off"; returns -1 if unknown. */
int at_log_level_parse(const char *s);
void at_log(enum at_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define at_debug(c, ...) at_log(AT_LOG_DEBUG, c, __VA_ARGS__)
#define at_info(c, ...) at_log(AT_LOG_INFO, c, __VA_ARGS__)
#define at_warn(c, ...) at_log(AT_LOG_WARN, c, __VA_ARGS__)
#define at_error(c, ...) at_log(AT_LOG_ERROR, c, __VA_ARGS__)

#endif
