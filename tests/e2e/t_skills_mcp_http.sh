#!/bin/bash
# MCP-backed skills over Streamable HTTP (docs/skills.md "Mounting an MCP
# server"): a server built with the official TypeScript SDK (1.x with
# sessions and SSE answers, 2.x stateless) on 127.0.0.1 mounted with
# mcp.url, its tools the skill's operations; a server killed mid-call fails
# that call clearly, opens the breaker, and once it is back (its sessions
# gone) the skill reconnects.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop
PIDS=""
stop_servers() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_servers; cleanup' EXIT
mkdir -p "$DATA"
start_daemon

start_ts v1 0
V1_PID=$TS_PID
V1_URL=$TS_URL
PORT=${TS_URL#http://127.0.0.1:}
PORT=${PORT%%/*}
printf 'name: remote\nversion: 1.0.0\nkind: mcp\ndescription: a remote MCP server\nmcp:\n  url: "%s"\n' "$TS_URL" >"$T/remote.yaml"
run_rc rc atlas skill register "$T/remote.yaml"
expect_eq "atlas skill register (mcp.url)" "$rc" 0
out=$(atlas skill invoke remote --input '{"tool": "echo", "arguments": {"text": "over http"}}')
expect_eq "its tool answers (TS SDK 1.x, sessions)" "$(echo "$out" | j 'd["text"]')" "over http"
desc=$(atlas skill describe remote --json)
expect_eq "describe: its tools are the operations, connected" \
    "$(echo "$desc" | j '"echo" in [t["name"] for t in d["server"]["tools"]], d["server"]["state"], d["server"]["url"] == "'"$TS_URL"'"')" \
    "True connected True"
out=$(atlas skill invoke remote --input '{"tool": "nope", "arguments": {}}' 2>&1 || true)
expect_contains "an unknown tool is the server's error" "$out" "nope"

# stateless (TS SDK 2.x)
start_ts v2 0
printf 'name: remote2\nversion: 1.0.0\nkind: mcp\ndescription: stateless\nmcp: {url: "%s"}\n' "$TS_URL" >"$T/remote2.yaml"
atlas skill register "$T/remote2.yaml" >/dev/null
out=$(atlas skill invoke remote2 --input '{"tool": "echo", "arguments": {"text": "stateless"}}')
expect_eq "TS SDK 2.x (stateless)" "$(echo "$out" | j 'd["text"]')" "stateless"

# credentials: a server that wants headers (TS_REQUIRE) gets them from
# mcp.headers, the secret's value from the secrets store
TS_TAG=auth TS_REQUIRE="authorization=Bearer s3cr3t-tok;x-tenant=acme" start_ts v1 0
AUTH_URL=$TS_URL
printf 'name: noauth\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp: {url: "%s"}\n' "$AUTH_URL" >"$T/noauth.yaml"
atlas skill register "$T/noauth.yaml" >/dev/null
run_rc rc atlas skill invoke noauth --input '{"tool": "echo", "arguments": {"text": "x"}}'
expect_contains "without credentials: refused, saying how to give them" "$rc $(cat "$T/err")" "1 "
expect_contains "(mcp.headers)" "$(cat "$T/err")" "give its credentials in mcp.headers"
cat >"$T/auth.yaml" <<YAML
name: authed
version: 1.0.0
kind: mcp
description: a server that wants credentials
mcp:
  url: "$AUTH_URL"
  headers:
    Authorization: "Bearer \${secret:MCP_TOKEN}"
    X-Tenant: acme
YAML
atlas skill register "$T/auth.yaml" >/dev/null
run_rc rc atlas skill invoke authed --input '{"tool": "echo", "arguments": {"text": "x"}}'
expect_contains "the secret not set: refused, naming it" "$rc $(cat "$T/err")" "1 "
expect_contains "(atlas secret set)" "$(cat "$T/err")" "the secret MCP_TOKEN is not set"
echo -n "wrong" | atlas secret set MCP_TOKEN >/dev/null
run_rc rc atlas skill invoke authed --input '{"tool": "echo", "arguments": {"text": "x"}}'
expect_contains "a wrong secret: the server refuses it" "$(cat "$T/err")" "refused the credentials of mcp.headers (HTTP 401)"
echo -n "s3cr3t-tok" | atlas secret set MCP_TOKEN >/dev/null
out=$(atlas skill invoke authed --input '{"tool": "echo", "arguments": {"text": "with credentials"}}')
expect_eq "with the secret: the call goes through" "$(echo "$out" | j 'd["text"]')" "with credentials"
out=$(atlas skill invoke authed --input '{"tool": "echo", "arguments": {"text": "s3cr3t-tok"}}')
expect_eq "the server cannot echo the secret back" "$(echo "$out" | j 'd["text"]')" "[redacted]"
desc=$(atlas skill describe authed --json)
expect_contains "describe shows the reference" "$desc" 'secret:MCP_TOKEN'
case "$desc $(cat "$T/atlasd.log")" in *s3cr3t-tok*) fail "the secret's value shows in describe or the log" ;; *) pass "never in describe or the log" ;; esac
printf 'name: bad\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp: {url: "%s", headers: {Mcp-Session-Id: x}}\n' "$AUTH_URL" >"$T/badh.yaml"
run_rc rc atlas skill register "$T/badh.yaml"
expect_contains "a transport header cannot be set" "$rc $(cat "$T/err")" "/mcp/headers/Mcp-Session-Id"
printf 'name: bad\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp: {url: "%s", headers: {X-A: "${env:HOME}"}}\n' "$AUTH_URL" >"$T/badh.yaml"
run_rc rc atlas skill register "$T/badh.yaml"
expect_contains "only \${secret:NAME} references" "$rc $(cat "$T/err")" "secret:NAME"

# concurrent calls: several in flight on one mount at once
for i in 1 2 3 4; do
    (atlas skill invoke remote --input '{"tool": "slow", "arguments": {"ms": 3000}}' >"$T/par$i.out" 2>&1 || echo "rc=$?" >>"$T/par$i.out") &
    eval "PAR$i=\$!"
done
several() { [ "$(atlas skill describe remote --json | j 'd["server"]["in_flight"]')" -ge 3 ]; }
wait_for several && pass "calls of one mount are in flight together" || fail "one call at a time"
wait "$PAR1" "$PAR2" "$PAR3" "$PAR4" || true
expect_eq "and all answer" "$(cat "$T"/par?.out | grep -c '"done": true')" 4
# mcp.concurrency bounds them: 2 in flight, the others wait their turn
printf 'name: remote-two\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp: {url: "%s", concurrency: 2}\n' "$V1_URL" >"$T/two.yaml"
atlas skill register "$T/two.yaml" >/dev/null
for i in 1 2 3 4; do
    (atlas skill invoke remote-two --input '{"tool": "slow", "arguments": {"ms": 3000}}' >"$T/two$i.out" 2>&1 || echo "rc=$?" >>"$T/two$i.out") &
    eval "TWO$i=\$!"
done
two_full() { [ "$(atlas skill describe remote-two --json | j 'd["server"]["in_flight"], d["server"]["waiting"]')" = "2 2" ]; }
wait_for two_full && pass "mcp.concurrency: 2 in flight, 2 waiting" || fail "the limit was not applied: $(atlas skill describe remote-two --json | j 'd["server"]')"
wait "$TWO1" "$TWO2" "$TWO3" "$TWO4" || true
expect_eq "and the waiting ones answer after" "$(cat "$T"/two?.out | grep -c '"done": true')" 4
printf 'name: bad\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp: {url: "%s", concurrency: 0}\n' "$TS_URL" >"$T/badc.yaml"
run_rc rc atlas skill register "$T/badc.yaml"
expect_contains "mcp.concurrency out of range: refused" "$rc $(cat "$T/err")" "/mcp/concurrency"

# refused definitions
printf 'name: bad\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp: {url: "%s", command: ["x"]}\n' "$TS_URL" >"$T/bad.yaml"
run_rc rc atlas skill register "$T/bad.yaml"
expect_contains "a command and a URL: refused" "$rc $(cat "$T/err")" "1 "
expect_contains "saying why" "$(cat "$T/err")" "either a command or a URL"
printf 'name: bad\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp: {url: "ftp://127.0.0.1/x"}\n' >"$T/bad2.yaml"
run_rc rc atlas skill register "$T/bad2.yaml"
expect_contains "not an http(s) URL: refused" "$rc $(cat "$T/err")" "1 "

# killed mid-call: a clear error, the breaker opens, the other mount goes on
(atlas skill invoke remote --input '{"tool": "slow", "arguments": {"ms": 20000}}' >"$T/long.out" 2>&1 || echo "rc=$?" >>"$T/long.out") &
LONG=$!
in_flight() { [ "$(atlas skill describe remote --json | j 'd["server"]["in_flight"]')" = 1 ]; }
wait_for in_flight
sleep 0.2
kill -9 "$V1_PID"
wait "$LONG" || true
expect_contains "the call in flight fails, saying why" "$(cat "$T/long.out")" "dropped the connection during the call"
expect_contains "with a non-zero exit" "$(cat "$T/long.out")" "rc=1"
out=$(atlas skill invoke remote --input '{"tool": "echo", "arguments": {"text": "x"}}' 2>&1 || true)
# within the back-off (200 ms) the circuit answers; a slower machine may
# already try again and fail to connect: both say why at once
case "$out" in
*"circuit is open"*"dropped the connection"*) pass "the next call meets the open circuit, naming the failure" ;;
*"cannot reach the MCP server"*) pass "the next call fails at once: the server is unreachable" ;;
*) fail "the next call: $out" ;;
esac
expect_eq "describe: not connected, failures counted" "$(atlas skill describe remote --json | j 'd["server"]["state"] in ("circuit-open", "stopped"), d["server"]["failures"] >= 1')" "True True"
out=$(atlas skill invoke remote2 --input '{"tool": "echo", "arguments": {"text": "still here"}}')
expect_eq "another mount is not affected" "$(echo "$out" | j 'd["text"]')" "still here"

# the server comes back on its port (its sessions gone): the skill reconnects
TS_TAG=b start_ts v1 "$PORT"
echo_ok() { atlas skill invoke remote --input '{"tool": "echo", "arguments": {"text": "back"}}' 2>/dev/null | grep -q back; }
wait_for echo_ok && pass "reconnected after its back-off" || fail "the skill did not reconnect"
expect_eq "two connections made" "$(atlas skill describe remote --json | j 'd["server"]["starts"], d["server"]["state"]')" "2 connected"

# a call in flight does not hold the daemon's stop
(atlas skill invoke remote --input '{"tool": "slow", "arguments": {"ms": 20000}}' >/dev/null 2>&1 || true) &
wait_for in_flight
t0=$(date +%s)
stop_daemon
[ $(($(date +%s) - t0)) -lt 5 ] && pass "atlasd stops at once with an HTTP skill call in flight" || fail "the stop waited for the call"
finish
