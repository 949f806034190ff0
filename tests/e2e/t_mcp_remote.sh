#!/bin/bash
# Remote agents (`atlas register --remote`, src/exec/remote.c) against real
# MCP servers: one built with the official TypeScript SDK 1.x (sessions, SSE
# answers) and 2.x (stateless), and @modelcontextprotocol/server-everything;
# runs go through `atlas run`.  A server that dies fails its runs at once and
# clearly, a restarted one (its sessions gone: 404) is reconnected, and the
# MCP conformance suite's client scenarios (initialize, tools_call, sse-retry)
# pass against Atlas's client.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop

PIDS=""
stop_servers() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_servers; cleanup' EXIT

mkdir -p "$DATA"
printf 'execution:\n  circuit_breaker: {failure_threshold: 3, recovery_timeout: 5}\n' >"$T/config.yaml"
start_daemon --config "$T/config.yaml"
# libcurl is loaded on first use (src/daemon/curl_lazy.c): not at idle
expect_eq "an idle daemon has not loaded libcurl" "$(grep -c libcurl "/proc/$DAEMON_PID/maps")" "0"

# --- TypeScript SDK 1.x, session mode
start_ts v1 0
V1_PID=$TS_PID V1_URL=$TS_URL
run_rc rc atlas register --remote "$V1_URL" --name ts-v1 --tool echo
expect_eq "register --remote (TS SDK 1.x)" "$rc" 0
run_rc rc atlas run ts-v1 --input '{"text":"hello v1"}'
expect_eq "atlas run ts-v1" "$rc" 0
expect_eq "ts-v1 output" "$(j 'd["text"]' <"$T/out")" "hello v1"
expect_eq "a remote agent's run loaded it" "$(grep -q libcurl "/proc/$DAEMON_PID/maps" && echo yes)" "yes"

# --- TypeScript SDK 2.x, stateless
start_ts v2 0
run_rc rc atlas register --remote "$TS_URL" --name ts-v2 --tool echo
expect_eq "register --remote (TS SDK 2.x)" "$rc" 0
run_rc rc atlas run ts-v2 --input '{"text":"hello v2"}'
expect_eq "atlas run ts-v2" "$rc" 0
expect_eq "ts-v2 output" "$(j 'd["text"]' <"$T/out")" "hello v2"

# --- server-everything
EV_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$INTEROP" && PORT=$EV_PORT exec "$NODE22" node_modules/@modelcontextprotocol/server-everything/dist/index.js streamableHttp) >"$T/everything.out" 2>&1 &
PIDS="$PIDS $!"
wait_for curl -s -o /dev/null "http://127.0.0.1:$EV_PORT/mcp" || fail "server-everything did not start"
wait_for atlas register --remote "http://127.0.0.1:$EV_PORT/mcp" --name everything-echo --tool echo ||
    fail "register server-everything's echo"
run_rc rc atlas run everything-echo --input '{"message":"hi everything"}'
expect_eq "atlas run everything-echo" "$rc" 0
expect_contains "everything-echo output" "$(cat "$T/out")" "Echo: hi everything"
run_rc rc atlas register --remote "http://127.0.0.1:$EV_PORT/mcp" --name everything-sum --tool get-sum
expect_eq "register everything get-sum" "$rc" 0
run_rc rc atlas run everything-sum --input '{"a":2,"b":40}'
expect_eq "atlas run everything-sum" "$rc" 0
expect_contains "everything-sum output" "$(cat "$T/out")" "42"

# --- a dead server fails fast and clearly, and never blocks the daemon
V1_PORT=${V1_URL##*:}; V1_PORT=${V1_PORT%%/*}
kill "$V1_PID"; wait "$V1_PID" 2>/dev/null || true
run_rc rc atlas run ts-v1 --input '{"text":"dead"}'
expect_eq "run against a dead server fails" "$rc" 1
# fast: a refused connection, not a timeout (no clock gates the test)
expect_contains "the failure says why" "$(cat "$T/err")" "connection failed"
for k in 1 2 3; do atlas run ts-v1 --input '{"text":"dead"}' >/dev/null 2>&1 || true; done
run_rc rc atlas run ts-v1 --input '{"text":"dead"}'
expect_contains "after repeated failures the breaker answers" "$(cat "$T/err")" "circuit breaker of ts-v1@1.0.0 is open"
http GET /api/v1/health
expect_eq "the daemon still answers" "$HTTP_CODE" 200

# --- the same server restarted: its old session is gone (404), the client
# starts a new one (after the breaker lets it try again)
start_ts v1 "$V1_PORT"
wait_breaker_due ts-v1 # recovery_timeout: 5 s
run_rc rc atlas run ts-v1 --input '{"text":"revived"}'
expect_eq "a restarted server is reconnected" "$rc" 0
expect_eq "revived output" "$(j 'd["text"]' <"$T/out")" "revived"

# --- conformance client scenarios against Atlas's client
export ATLAS_BIN="$BIN/atlas"
for s in initialize tools_call sse-retry; do
    set +e
    (cd "$INTEROP" && timeout 120 "$NODE22" "$CONFORMANCE" client --command "$INTEROP/atlas-client.sh" \
        --scenario "$s" -o "$T/conf-client") >"$T/client-$s.txt" 2>&1
    rc=$?
    set -e
    summary=$(grep -E '^Passed: ' "$T/client-$s.txt" | tail -n 1)
    if [ $rc -eq 0 ] && echo "$summary" | grep -qE ', 0 failed'; then
        pass "conformance client $s: $summary"
    else
        fail "conformance client $s (exit $rc): $summary"; tail -n 25 "$T/client-$s.txt" >&2
    fi
done
finish
