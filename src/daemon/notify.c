/*
 * notify.c - sd_notify's datagram protocol (notify.h).
 */
#include "daemon/notify.h"

#include "base/err.h"
#include "base/str.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int at_notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    /* sd_notify(3): an absolute path, or '@' for Linux's abstract namespace */
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
        return AT_EINVAL;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return AT_EIO;
    ssize_t w = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int rc = w < 0 ? AT_EIO : 0;
    close(fd);
    return rc;
}

uint64_t at_notify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    long long v, p;
    if (!usec || at_parse_i64(usec, 1, INT64_MAX, &v))
        return 0;
    /* the variables are inherited: only the process they name watches */
    if (pid && *pid && (at_parse_i64(pid, 1, INT32_MAX, &p) || p != (long long)getpid()))
        return 0;
    return (uint64_t)v;
}
