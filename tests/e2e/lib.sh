# lib.sh - helpers for end-to-end tests: start the real atlasd on a temp
# directory and a free port, drive it with the real atlas CLI and curl.
# Source it from a test script; it sets `set -eu` and a cleanup trap.
set -eu

SRC=${ATLAS_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${ATLAS_BUILD_DIR:-$SRC/build}
AGENTS=$SRC/tests/agents
EXAMPLES=$SRC/examples/agents
T=$(mktemp -d "${TMPDIR:-/tmp}/atlas-e2e.XXXXXX")
DATA=$T/data
# each test (and the daemon and agents it starts) gets its own temp dir:
# tests that run side by side (ctest -j) never see each other's files
mkdir -p "$T/tmp"
export TMPDIR=$T/tmp
DAEMON_PID=
PASS=0
FAIL=0
export PYTHONDONTWRITEBYTECODE=1
# The agent sandbox is on by default (docs/security.md). Where it cannot be
# built (no bubblewrap, no unprivileged user namespaces) the suite runs
# without it, and says so; a test that needs it on or off sets
# ATLAS_SANDBOX itself, with its reason.
if [ -z "${ATLAS_SANDBOX:-}" ] && ! { command -v bwrap >/dev/null &&
    bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; }; then
    export ATLAS_SANDBOX=off
    printf '%s\n' "note: the agent sandbox cannot be built here (bwrap or user namespaces): ATLAS_SANDBOX=off" >&2
fi

cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    # the PostgreSQL cluster of ATLAS_E2E_STORE=postgres (pg.sh), after
    # the daemon: tests that set a trap of their own call cleanup from it
    if [ -n "${PG_DIR:-}" ]; then pg_stop; fi
    if [ "${KEEP_TMP:-}" = "" ]; then rm -rf "$T"; fi
}
trap cleanup EXIT

# ATLAS_E2E_STORE=postgres (the e2e.pg.* entries of tests/CMakeLists.txt):
# the test's atlasd keeps its store in a throwaway PostgreSQL cluster
# (pg.sh; skipped, 77, where PostgreSQL is not installed)
if [ "${ATLAS_E2E_STORE:-sqlite}" = postgres ]; then
    # shellcheck source=tests/e2e/pg.sh
    . "$SRC/tests/e2e/pg.sh"
    pg_start
    export ATLAS_STORE_BACKEND=postgres
fi

log() { printf '%s\n' "$*" >&2; }
pass() { PASS=$((PASS + 1)); log "ok   - $*"; }
fail() {
    FAIL=$((FAIL + 1))
    log "FAIL - $*"
    if [ -f "$T/atlasd.log" ]; then log "--- atlasd.log (tail)"; tail -n 30 "$T/atlasd.log" >&2; fi
}

# start_daemon [atlasd args...]: starts atlasd on DATA and a free port, then
# exports ATLAS_URL and ATLAS_TOKEN (the admin token atlasd wrote to
# DATA/admin.token: every TCP request needs a token, docs/security.md).
# The daemon itself never inherits ATLAS_TOKEN.
start_daemon() {
    rm -f "$DATA/atlasd.url"
    env -u ATLAS_TOKEN "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 "$@" >>"$T/atlasd.log" 2>&1 &
    DAEMON_PID=$!
    _sd_end=$(($(date +%s) + WAIT_S))
    while [ ! -s "$DATA/atlasd.url" ]; do
        if [ "$(date +%s)" -ge "$_sd_end" ] || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            log "atlasd did not start:"; cat "$T/atlasd.log" >&2; exit 1
        fi
        sleep 0.05
    done
    ATLAS_URL=$(cat "$DATA/atlasd.url")
    export ATLAS_URL
    ATLAS_TOKEN=$(cat "$DATA/admin.token")
    export ATLAS_TOKEN
}

# curl with the admin token: a `curl` first on PATH (so that `sh -c`,
# python's subprocess and `timeout curl` get it too) sends
# "Authorization: Bearer $ATLAS_TOKEN" unless the caller passes an
# Authorization header of its own; `anon_curl` sends none.
REAL_CURL=$(command -v curl)
mkdir -p "$T/bin"
cat >"$T/bin/curl" <<EOF
#!/bin/sh
for a in "\$@"; do
    case "\$a" in [Aa]uthorization:*) exec "$REAL_CURL" "\$@" ;; esac
done
if [ -n "\${ATLAS_TOKEN:-}" ]; then
    exec "$REAL_CURL" -H "Authorization: Bearer \$ATLAS_TOKEN" "\$@"
fi
exec "$REAL_CURL" "\$@"
EOF
chmod +x "$T/bin/curl"
PATH=$T/bin:$PATH
export PATH
anon_curl() { "$REAL_CURL" "$@"; }

# new_token NAME ROLE: create a token (through the admin token) and print it
new_token() {
    curl -sS -X POST -H 'Content-Type: application/json' \
        --data-binary "{\"name\":\"$1\",\"role\":\"$2\"}" "$ATLAS_URL/api/v1/tokens" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
}

kill9_daemon() {
    kill -KILL "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
}

atlas() { "$BIN/atlas" "$@"; }

# j EXPR < json: evaluate a Python expression over the JSON on stdin (as `d`)
j() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# expect_eq NAME GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$2], want [$3]"; fi
}

# expect_contains NAME HAYSTACK NEEDLE
expect_contains() {
    case "$2" in
    *"$3"*) pass "$1" ;;
    *) fail "$1: [$2] does not contain [$3]" ;;
    esac
}

# run_rc VAR CMD...: run CMD, put its exit status in $VAR (stdout/stderr kept
# in $T/out and $T/err)
run_rc() {
    var=$1
    shift
    set +e
    "$@" >"$T/out" 2>"$T/err"
    eval "$var=\$?"
    set -e
}

# http METHOD PATH [BODY] [curl args...]: prints "STATUS BODY"
http() {
    m=$1 p=$2
    shift 2
    body=
    if [ $# -gt 0 ]; then body=$1; shift; fi
    if [ -n "$body" ]; then
        curl -sS -X "$m" -o "$T/hbody" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary "$body" "$@" "$ATLAS_URL$p" >"$T/hcode"
    else
        curl -sS -X "$m" -o "$T/hbody" -w '%{http_code}' "$@" "$ATLAS_URL$p" >"$T/hcode"
    fi
    HTTP_CODE=$(cat "$T/hcode")
    HTTP_BODY=$(cat "$T/hbody")
}

# Waiting for a state, never for a time (../shared/STYLE.md: no fixed sleeps
# as synchronisation).  Every wait polls the state it needs and gives up at
# a deadline that only bounds a hung test: WAIT_S seconds (default 60, a
# loaded 2-core machine included), never a measurement of how fast Atlas is.
WAIT_S=${WAIT_S:-60}

# wait_until SECS CMD...: retry CMD every 50 ms until it succeeds (0) or SECS
# seconds have passed (1)
wait_until() {
    _wu_end=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$_wu_end" ] && return 1
        sleep 0.05
    done
}

# wait_for CMD...: retry CMD until it succeeds, for up to WAIT_S seconds
wait_for() { wait_until "$WAIT_S" "$@"; }

# job_state ID: the job's state (GET /api/v1/jobs/ID), empty when unknown
job_state() {
    curl -s "$ATLAS_URL/api/v1/jobs/$1" 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("state", ""))
except Exception: pass' 2>/dev/null
}
_job_in() {
    _st=$(job_state "$1")
    shift
    for _w in "$@"; do [ "$_st" = "$_w" ] && return 0; done
    return 1
}

# wait_job_state ID STATE...: until job ID is in one of the STATEs (for
# up to WAIT_S seconds; 1 and a log line with the state it is in otherwise)
wait_job_state() {
    if wait_for _job_in "$@"; then return 0; fi
    log "job $1 is still [$(job_state "$1")] after ${WAIT_S} s, not in [$(shift; echo "$*")]"
    return 1
}

# count_jobs QUERY: how many jobs GET /api/v1/jobs?QUERY lists
count_jobs() {
    curl -s "$ATLAS_URL/api/v1/jobs?$1" |
        /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))' 2>/dev/null
}
_count_is() { [ "$(count_jobs "$1")" = "$2" ]; }

# wait_jobs_count QUERY N: until GET /api/v1/jobs?QUERY lists N jobs
wait_jobs_count() {
    if wait_for _count_is "$1" "$2"; then return 0; fi
    log "jobs?$1: $(count_jobs "$1") after ${WAIT_S} s, want $2"
    return 1
}

# wait_file FILE: until FILE exists and is not empty
wait_file() { wait_for test -s "$1"; }

# wait_grep PATTERN FILE: until FILE has a line matching PATTERN (grep -E)
wait_grep() { wait_for grep -qE "$1" "$2"; }

# breaker_due AGENT: AGENT's circuit breakers (AGENT@any version, from
# /api/v1/health) are closed, half-open, or open with their recovery time
# passed, so that the next run is let through as the trial
breaker_due() {
    curl -s "$ATLAS_URL/api/v1/health" | /usr/bin/python3 -c 'import json,sys
from datetime import datetime, timezone, timedelta
b = json.load(sys.stdin)["engine"]["breakers"]
now = datetime.now(timezone.utc)
for k, v in b.items():
    if k.split("@")[0] == sys.argv[1] and v["state"] == "open":
        until = datetime.fromisoformat(v["open_until"].replace("Z", "+00:00"))
        if now < until + timedelta(milliseconds=5):
            sys.exit(1)' "$1"
}

# wait_breaker_due AGENT: until breaker_due AGENT (instead of sleeping for
# execution.circuit_breaker.recovery_timeout)
wait_breaker_due() { wait_for breaker_due "$1" || log "the breaker of $1 stayed open"; }

# copy_agent SRC NAME: copy an agent directory into the temp dir
copy_agent() {
    cp -r "$1" "$T/$2"
    rm -rf "$T/$2/__pycache__"
    echo "$T/$2"
}

# what a sanitizer report starts with (ASan, LSan, UBSan, TSan builds)
SAN_REPORT="ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer"

finish() {
    # stop the daemon cleanly so LeakSanitizer (in sanitizer builds) reports
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        stop_daemon
    fi
    if [ -f "$T/atlasd.log" ] &&
        grep -qE "$SAN_REPORT" "$T/atlasd.log"; then
        fail "sanitizer report in atlasd.log"
        grep -A40 -E "$SAN_REPORT" "$T/atlasd.log" | head -120 >&2
    fi
    log "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
