#include "base/log.h"

#include "base/clock.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static atomic_int level = AT_LOG_INFO;
static atomic_int journal_fd = -1;
static _Atomic(at_log_filter_fn) log_filter;
static _Atomic(void *) log_filter_arg;

void at_log_set_filter(at_log_filter_fn fn, void *arg)
{
    atomic_store(&log_filter, NULL);
    atomic_store(&log_filter_arg, arg);
    atomic_store(&log_filter, fn);
}
static char journal_ident[32] = "atlas";

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

int at_log_journal_open(const char *path, const char *identifier)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(sa.sun_path))
        return AT_EIO;
    memcpy(sa.sun_path, path, n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return AT_EIO;
    if (connect(fd, (struct sockaddr *)&sa,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1)) != 0) {
        close(fd);
        return AT_EIO;
    }
    snprintf(journal_ident, sizeof(journal_ident), "%s", identifier);
    int old = atomic_exchange(&journal_fd, fd);
    if (old >= 0)
        close(old);
    return 0;
}

void at_log_journal_close(void)
{
    int old = atomic_exchange(&journal_fd, -1);
    if (old >= 0)
        close(old);
}

/* The first "job_" + 26 base32 characters in msg (at_id_new's shape), or 0. */
static size_t find_job_id(const char *msg, size_t len, size_t *at)
{
    for (size_t i = 0; i + 30 <= len; i++) {
        if (memcmp(msg + i, "job_", 4) != 0 || (i > 0 && msg[i - 1] != ' ' && msg[i - 1] != '"' &&
                                                msg[i - 1] != '=' && msg[i - 1] != '('))
            continue;
        size_t k = i + 4;
        while (k < len && ((msg[k] >= '0' && msg[k] <= '9') || (msg[k] >= 'A' && msg[k] <= 'Z') ||
                           (msg[k] >= 'a' && msg[k] <= 'z')))
            k++;
        if (k - i == 30) {
            *at = i;
            return 30;
        }
    }
    return 0;
}

/* One native-protocol datagram; 0 when the journal took it. */
static int journal_send(int fd, int lvl, const char *component, const char *msg, size_t len)
{
    static const int prio[] = {7, 6, 4, 3, 3}; /* syslog(3) levels */
    char dg[2600];
    int off = snprintf(dg, sizeof(dg),
                       "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\nATLAS_COMPONENT=%s\nMESSAGE=%s: %.*s\n",
                       prio[lvl], journal_ident, component, component, (int)len, msg);
    if (off < 0 || (size_t)off >= sizeof(dg))
        return -1;
    size_t at, idl = find_job_id(msg, len, &at);
    if (idl) {
        int w =
            snprintf(dg + off, sizeof(dg) - (size_t)off, "ATLAS_JOB_ID=%.*s\n", (int)idl, msg + at);
        if (w > 0 && (size_t)w < sizeof(dg) - (size_t)off)
            off += w;
    }
    return send(fd, dg, (size_t)off, MSG_NOSIGNAL) == (ssize_t)off ? 0 : -1;
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
    /* Control characters from hostile input must not forge log lines (nor
     * journal fields: a newline would start a new FIELD=). */
    for (size_t i = (size_t)off; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            line[i] = '?';
    at_log_filter_fn filter = atomic_load(&log_filter);
    if (filter)
        len = (size_t)off + filter(atomic_load(&log_filter_arg), line + off, len - (size_t)off,
                                   sizeof(line) - 2 - (size_t)off);
    int fd = atomic_load(&journal_fd);
    if (fd >= 0 && journal_send(fd, (int)lvl, component, line + off, len - (size_t)off) == 0)
        return;
    line[len++] = '\n';
    ssize_t r = write(2, line, len);
    (void)r;
}
