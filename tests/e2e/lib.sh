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

cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_TMP:-}" = "" ]; then rm -rf "$T"; fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }
pass() { PASS=$((PASS + 1)); log "ok   - $*"; }
fail() {
    FAIL=$((FAIL + 1))
    log "FAIL - $*"
    if [ -f "$T/atlasd.log" ]; then log "--- atlasd.log (tail)"; tail -n 30 "$T/atlasd.log" >&2; fi
}

# start_daemon [atlasd args...]: starts atlasd on DATA and a free port.
start_daemon() {
    rm -f "$DATA/atlasd.url"
    "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 "$@" >>"$T/atlasd.log" 2>&1 &
    DAEMON_PID=$!
    i=0
    while [ ! -s "$DATA/atlasd.url" ]; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            log "atlasd did not start:"; cat "$T/atlasd.log" >&2; exit 1
        fi
        sleep 0.05
    done
    ATLAS_URL=$(cat "$DATA/atlasd.url")
    export ATLAS_URL
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

# wait_for CMD...: retry CMD for up to 10 s
wait_for() {
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 200 ] && return 1
        sleep 0.05
    done
}

# copy_agent SRC NAME: copy an agent directory into the temp dir
copy_agent() {
    cp -r "$1" "$T/$2"
    rm -rf "$T/$2/__pycache__"
    echo "$T/$2"
}

finish() {
    # stop the daemon cleanly so LeakSanitizer (in sanitizer builds) reports
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        stop_daemon
    fi
    if [ -f "$T/atlasd.log" ] &&
        grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/atlasd.log"; then
        fail "sanitizer report in atlasd.log"
        grep -A30 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/atlasd.log" | head -60 >&2
    fi
    log "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
