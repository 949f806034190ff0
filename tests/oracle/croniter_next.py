#!/usr/bin/python3
"""Oracle for Atlas's cron triggers: Debian's python3-croniter computes the
next firing of an expression after each of the given instants.  Reads
lines from stdin:

    ZONE<TAB>EXPRESSION<TAB>T1 T2 ... (Unix seconds)

and prints, per line, the next firing after each Ti (Unix seconds, space
separated), or "ERR <why>" when croniter refuses the expression.  Each
answer starts from Ti, so one wrong answer does not carry on.
Exit 77 when croniter is not installed.
"""
import sys
from datetime import datetime, timezone

try:
    from croniter import croniter
except ImportError:
    print("python3-croniter is not installed", file=sys.stderr)
    sys.exit(77)
try:
    from zoneinfo import ZoneInfo
except ImportError:
    print("zoneinfo is not available", file=sys.stderr)
    sys.exit(77)

for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    zone, expr, starts = line.split("\t")
    tz = timezone.utc if zone == "UTC" else ZoneInfo(zone)
    try:
        out = []
        it = None
        for t in starts.split():
            start = datetime.fromtimestamp(int(t), tz)
            if it is None:
                it = croniter(expr, start)
            else:
                it.set_current(start)  # the same as a fresh croniter from start
            out.append(str(int(it.get_next(datetime).timestamp())))
        print(" ".join(out))
    except Exception as e:  # croniter refuses: Atlas must refuse too
        print("ERR " + type(e).__name__)
    sys.stdout.flush()
