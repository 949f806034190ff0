#!/bin/bash
# Nothing an agent starts outlives it (issue 9): an agent that leaves 200
# sleeping grandchildren behind (half of them orphaned into sessions of
# their own) takes them all with it when its job is cancelled, when it
# exits, when atlasd stops (SIGTERM) and when atlasd is killed (kill -9).
. "$(dirname "$0")/lib.sh"
command -v pgrep >/dev/null || { log "SKIP: pgrep (procps) missing"; exit 77; }
mkdir -p "$DATA"
# sleep's argument marks this test's processes: 3600.<random>
TAG="3600.$$$RANDOM"
count() { pgrep -c -f "^sleep $TAG\$" || true; }
# wait_count N: until exactly N of them run (deadline 20 s)
wait_count() {
    i=0
    while [ "$(count)" != "$1" ]; do
        i=$((i + 1))
        [ $i -gt 400 ] && return 1
        sleep 0.05
    done
}
cleanup_sleepers() { pkill -KILL -f "^sleep $TAG\$" 2>/dev/null || true; }
trap 'cleanup_sleepers; cleanup' EXIT

start_daemon
atlas register --path "$AGENTS/forker" >/dev/null
expect_eq "atlas-init is built" "$([ -x "$BIN/atlas-init" ] && echo yes)" "yes"

# 1. the job is cancelled (the agent ignores the cancel and is killed)
id=$(atlas run --async forker --input "{\"tag\": \"$TAG\"}")
if wait_count 200; then pass "the agent started 200 grandchildren"; else fail "grandchildren: $(count)"; fi
atlas cancel "$id" >/dev/null
if wait_count 0; then pass "none survives the cancelled job"; else fail "$(count) survive the cancel"; fi
wait_for sh -c "$BIN/atlas --json job $id | grep -q '\"cancelled\"'" || true
expect_eq "the job is cancelled" "$(atlas --json job "$id" | j 'd["state"]')" "cancelled"

# 2. the agent exits by itself: its status is reported, its tree is gone
run_rc rc atlas run forker --input "{\"tag\": \"$TAG\", \"n\": 20, \"exit\": true}"
expect_eq "the run fails" "$rc" "1"
expect_contains "with the agent's exit status" "$(cat "$T/err")" "exited with status 3"
if wait_count 0; then pass "none survives the agent's exit"; else fail "$(count) survive the exit"; fi

# 3. atlasd stops (SIGTERM) while the agent runs
id=$(atlas run --async forker --input "{\"tag\": \"$TAG\"}")
if wait_count 200; then pass "200 grandchildren again"; else fail "grandchildren: $(count)"; fi
stop_daemon
if wait_count 0; then pass "none survives SIGTERM of atlasd"; else fail "$(count) survive SIGTERM"; fi

# 4. atlasd is killed (kill -9) while the agent runs
start_daemon
id=$(atlas run --async forker --input "{\"tag\": \"$TAG\"}")
if wait_count 200; then pass "200 grandchildren once more"; else fail "grandchildren: $(count)"; fi
init_pids=$(pgrep -P "$DAEMON_PID" -f atlas-init || true)
expect_eq "the agent runs under atlas-init" "$([ -n "$init_pids" ] && echo yes)" "yes"
kill9_daemon
if wait_count 0; then pass "none survives kill -9 of atlasd"; else fail "$(count) survive kill -9"; fi
# (a zombie that nobody reaps, when PID 1 of a container does not, is gone)
# atlas-init exits after its last child is reaped, so it may outlive the
# grandchildren by a moment: wait for it rather than look once.
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" | grep -q '^Z'; }
inits_gone() {
    for p in $init_pids; do alive "$p" && return 1; done
    return 0
}
gone=no
wait_for inits_gone && gone=yes
expect_eq "atlas-init is gone too" "$gone" "yes"

start_daemon
finish
