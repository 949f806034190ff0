/*
 * spawn.h - run a short helper command and capture its output (blocking).
 *
 * For work outside the dispatch path only (registration-time checks such
 * as "which Python is this?").  Agent processes are started by
 * at_proc_spawn in exec/proc.h, never by this.  Uses posix_spawn.
 */
#ifndef AT_BASE_SPAWN_H
#define AT_BASE_SPAWN_H

#include "base/buf.h"

/* Run argv[0] (searched in PATH) with argv, stdin from /dev/null, and
 * collect stdout+stderr into out (bounded by out's max).  Kills the child
 * after timeout_ms.  Returns 0 and *status (exit code, or 128+signal), or
 * AT_ENOENT (program not found), AT_ETIMEDOUT, AT_EIO. */
int at_spawn_capture(char *const argv[], int timeout_ms, struct at_buf *out, int *status);

#endif
