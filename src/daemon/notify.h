/*
 * notify.h - the service manager's readiness protocol, written directly
 * (no libsystemd): one datagram per state change to $NOTIFY_SOCKET.
 *
 *   sd_notify(3) "NOTIFY_SOCKET": a path, or "@name" for the abstract
 *   namespace; the message is newline-separated VAR=VALUE assignments
 *   (READY=1, RELOADING=1, STOPPING=1, WATCHDOG=1, STATUS=..., MAINPID=...).
 *
 * Without $NOTIFY_SOCKET (a terminal, a test, another supervisor) every
 * call is a no-op returning 0, so atlasd behaves the same under any
 * manager.  Thread-safe (one sendto per message).
 */
#ifndef AT_DAEMON_NOTIFY_H
#define AT_DAEMON_NOTIFY_H

#include <stdint.h>

/* Send msg ("READY=1\nSTATUS=serving") to $NOTIFY_SOCKET.  Returns 0 (sent,
 * or no socket configured), AT_EINVAL (the variable is not a usable address)
 * or AT_EIO (the datagram was refused: the manager is gone).  Never blocks
 * for long: the socket is non-blocking. */
int at_notify(const char *msg);

/* The watchdog interval the manager asked for, in microseconds: $WATCHDOG_USEC
 * when $WATCHDOG_PID is unset or names this process; 0 when there is none. */
uint64_t at_notify_watchdog_usec(void);

#endif
