#!/bin/bash
# pg_wrap.sh PROGRAM [ARGS...]: run a unit test with a throwaway PostgreSQL
# cluster (tests/e2e/pg.sh) and ATLAS_TEST_PG_URL naming its empty
# database.  Where PostgreSQL is not installed the program runs without it
# (its PostgreSQL part skips, saying so).
set -u
. "$(dirname "$0")/../e2e/pg.sh"
if pg_available; then
    pg_start
    ATLAS_TEST_PG_URL=$ATLAS_STORE_URL "$@"
    rc=$?
    pg_stop
    exit $rc
fi
printf '%s\n' "note: PostgreSQL is not installed: the PostgreSQL part is skipped" >&2
exec "$@"
