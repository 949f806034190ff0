#!/bin/bash
# The store's fault-injection hook (ATLAS_STORE_FAULT=N, src/store/fault.c)
# over a register + run + chain + costs + eval scenario: the scenario's
# store operations are counted, then each one in turn is failed.  For every
# N atlasd must not crash, every answer is either 2xx or a problem+json, and
# everything it acknowledged with a 2xx is in the store after a restart
# without the hook (never 200 with lost data).  ATLAS_FAULT_STRIDE=K tries
# every Kth operation only (default 1: all).
. "$(dirname "$0")/lib.sh"
DRIVER="$SRC/tests/e2e/store_faults.py"
ERRS=0
[ -x "$EXAMPLES/echo-c/agent" ] || { log "echo-c is not built"; exit 77; }

# one pass: start with the hook at N, run the scenario, stop, restart
# without the hook and verify; leaves the operation count in $OPS
one() {
    rm -rf "$DATA"
    : >"$T/atlasd.log"
    # a failure while atlasd starts (loading agents, recovery) may stop it:
    # then it must exit with a message, not die of a signal
    ATLAS_STORE_FAULT=$1 "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 >>"$T/atlasd.log" 2>&1 &
    DAEMON_PID=$!
    until [ -s "$DATA/atlasd.url" ]; do
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            wait "$DAEMON_PID" 2>/dev/null && drc=0 || drc=$?
            DAEMON_PID=
            if [ "$drc" -ge 128 ] || [ "$drc" -eq 0 ]; then
                fail "N=$1: atlasd failed to start with status $drc"
            elif ! grep -q "^atlasd: " "$T/atlasd.log"; then
                fail "N=$1: atlasd refused to start without saying why"
            fi
            FIRED=1
            return
        fi
        sleep 0.02
    done
    ATLAS_URL=$(cat "$DATA/atlasd.url")
    export ATLAS_URL
    ATLAS_TOKEN=$(cat "$DATA/admin.token") # a new data directory each pass
    export ATLAS_TOKEN
    set +e
    python3 "$DRIVER" scenario "$ATLAS_URL" "$EXAMPLES" "$T/ack.json" >"$T/bad" 2>&1
    set -e
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        wait "$DAEMON_PID" 2>/dev/null && drc=0 || drc=$?
        DAEMON_PID=
        fail "N=$1: atlasd died during the scenario (status $drc)"
        return
    fi
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null && drc=0 || drc=$?
    DAEMON_PID=
    [ "$drc" -lt 128 ] || fail "N=$1: atlasd died of signal $((drc - 128)) when stopping"
    if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/atlasd.log"; then
        fail "N=$1: sanitizer report"
        grep -A20 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/atlasd.log" | head -40 >&2
    fi
    OPS=$(sed -n 's/.*fault hook: \([0-9]*\) operations.*/\1/p' "$T/atlasd.log" | tail -1)
    FIRED=$(grep -c "fault hook: failing operation" "$T/atlasd.log" || true)
    cp "$T/atlasd.log" "$T/faulted.log"
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["answers"]; print(" ".join("%s=%d" % (n.replace(" ", "_"), s) for n, s in a if s >= 300))' "$T/ack.json" >"$T/errs" 2>/dev/null || : >"$T/errs"
    if grep -q . "$T/errs"; then ERRS=$((ERRS + 1)); log "N=$1: $(cat "$T/errs")"; fi
    start_daemon
    set +e
    python3 "$DRIVER" verify "$ATLAS_URL" "$T/ack.json" >>"$T/bad" 2>&1
    set -e
    stop_daemon
    if [ -s "$T/bad" ]; then
        fail "N=$1: $(tr '\n' ';' <"$T/bad")"
        grep -E "fault hook|ERROR|error" "$T/faulted.log" | head -5 >&2
    fi
}

one 0
total=$OPS
expect_eq "without faults the scenario is clean" "$(cat "$T/bad")" ""
if [ -z "$total" ] || [ "$total" -lt 20 ]; then
    fail "the hook counted [$total] operations"
    finish
    exit 1
fi
log "the scenario makes $total store operations"
stride=${ATLAS_FAULT_STRIDE:-1}
before=$FAIL
fired=0
ERRS=0
n=1
while [ "$n" -le "$total" ]; do
    one "$n"
    [ "${FIRED:-0}" -ge 1 ] && fired=$((fired + 1))
    n=$((n + stride))
done
expect_eq "every failed operation ($total, stride $stride) kept the invariants" "$((FAIL - before))" 0
if [ "$fired" -gt 0 ]; then pass "the hook fired in $fired runs"; else fail "the hook never fired"; fi
# the failures reached the client as problems in some runs (not all: a
# failed read can be retried, a failed monitor write only logged)
if [ "$ERRS" -gt 0 ]; then pass "$ERRS runs answered a problem"; else fail "no run answered a problem"; fi
finish
