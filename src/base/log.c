#include "base/log.h"

#include "base/clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int level = AT_LOG_INFO;

void at_log_set_level(enum at_log_level lvl)
{
    atomic_store(&level, (int)lvl);
}

int at_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void at_log(enum at_log_level lvl, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    if ((int)lvl < atomic_load(&level))
        return;
    char line[2048];
    char ts[32];
    at_time_iso8601(at_wall_ms(), ts, sizeof(ts));
    int off = snprintf(line, sizeof(line), "%s %-5s %s: ", ts, names[lvl], component);
    if (off < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(line + off, sizeof(line) - (size_t)off - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)off + (w > 0 ? (size_t)w : 0);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* Control characters from hostile input must not forge log lines. */
    for (size_t i = (size_t)off; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            line[i] = '?';
    line[len++] = '\n';
    ssize_t r = write(2, line, len);
    (void)r;
}
