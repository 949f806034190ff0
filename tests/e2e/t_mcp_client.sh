#!/bin/bash
# Atlas's MCP client against a small fake 2026-07-28 server
# (tests/interop/fake_mcp.py): a 401 is reported as authentication
# required; a tool with an invalid x-mcp-header annotation is refused at
# registration; annotated arguments go out as Mcp-Param-* headers; a
# server that refuses server/discover while listing 2026-07-28 is asked
# again, never answered with a 2025 initialize.
. "$(dirname "$0")/lib.sh"
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT

# start_fake MODE -> FAKE_URL
start_fake() {
    /usr/bin/python3 "$SRC/tests/interop/fake_mcp.py" "$1" >"$T/fake-$1.out" 2>&1 &
    PIDS="$PIDS $!"
    local i=0
    until grep -q listening "$T/fake-$1.out" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 200 ] && { fail "fake_mcp $1 did not start"; return 1; }
        sleep 0.05
    done
    FAKE_URL=$(sed -n 's/^listening //p' "$T/fake-$1.out")
}

start_daemon
start_fake auth
run_rc rc atlas register --remote "$FAKE_URL" --name needs-auth
expect_eq "registering a server that wants credentials fails" "$rc" 1
expect_contains "it says authentication is required" "$(cat "$T/err")" "requires authentication (HTTP 401)"

start_fake headers
run_rc rc atlas register --remote "$FAKE_URL" --name bad-tool --tool bad
expect_eq "a tool with an invalid x-mcp-header is refused" "$rc" 1
expect_contains "and why" "$(cat "$T/err")" "invalid x-mcp-header"
run_rc rc atlas register --remote "$FAKE_URL" --name region --tool region
expect_eq "a tool with valid x-mcp-header annotations registers" "$rc" 0
run_rc rc atlas run region --input '{"region": " us-west1", "count": 42, "note": "x"}'
expect_eq "atlas run region" "$rc" 0
expect_eq "the annotated arguments went as Mcp-Param-* headers" \
    "$(j 'sorted((k.lower(), v) for k, v in d["headers"].items())' <"$T/out")" \
    "[('mcp-param-count', '42'), ('mcp-param-region', '=?base64?IHVzLXdlc3Qx?=')]"

start_fake reject
run_rc rc atlas register --remote "$FAKE_URL" --name retried --tool region
expect_eq "a refused server/discover listing 2026-07-28 is asked again" "$rc" 0
expect_eq "and no 2025 initialize was sent" "$(grep -c initialize "$T/fake-reject.out" || true)" 0
finish
