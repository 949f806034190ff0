#!/bin/bash
# `atlas mcp` (src/cli/cmd_mcp.c), the stdio bridge to atlasd's /mcp: it
# survives a daemon restart (the lost session is replaced by a new one with
# the client's own initialize, and the message that met the loss goes
# again, invisibly to the client), and it exits on stdin EOF after
# connection errors instead of hanging.
. "$(dirname "$0")/lib.sh"

start_daemon
PORT=${ATLAS_URL##*:}

coproc MCP { "$BIN/atlas" --url "$ATLAS_URL" mcp 2>"$T/mcp.err"; }
MCP_IN=${MCP[1]} MCP_OUT=${MCP[0]} MCP_PID_=$MCP_PID
say() { printf '%s\n' "$1" >&"$MCP_IN"; }
hear() { # hear: one line from the bridge (10 s at most) into $LINE
    LINE=""
    IFS= read -r -t 10 LINE <&"$MCP_OUT" || true
}

say '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
hear
expect_contains "initialize through the bridge" "$LINE" '"protocolVersion":"2025-11-25"'
say '{"jsonrpc":"2.0","method":"notifications/initialized"}'
say '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
hear
expect_contains "tools/list before the restart" "$LINE" '"tools":'

# the daemon restarts on the same address: its sessions are gone
stop_daemon
start_daemon --listen "127.0.0.1:$PORT"
expect_eq "the daemon came back on the same address" "${ATLAS_URL##*:}" "$PORT"
say '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
hear
expect_contains "tools/list after the restart is answered" "$LINE" '"id":3,"result":'
expect_contains "the bridge said it made a new session" "$(cat "$T/mcp.err")" "new one"
say '{"jsonrpc":"2.0","id":4,"method":"tools/list"}'
hear
expect_contains "and the new session goes on" "$LINE" '"id":4,"result":'

# stdin closes after a connection error: the bridge exits
stop_daemon
say '{"jsonrpc":"2.0","id":5,"method":"tools/list"}'
hear
expect_contains "a dead daemon is an error answer" "$LINE" "not reachable"
exec {MCP_IN}>&-
i=0
while kill -0 "$MCP_PID_" 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
expect_eq "the bridge exits on EOF" "$(kill -0 "$MCP_PID_" 2>/dev/null && echo running || echo exited)" "exited"

# a bridge that never reached the daemon (its initialize failed) exits on EOF too
printf '%s\n%s\n' \
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
    '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' >"$T/two.txt"
set +e
timeout 10 "$BIN/atlas" --url "http://127.0.0.1:$PORT" mcp <"$T/two.txt" >"$T/dead.out" 2>/dev/null
rc=$?
set -e
expect_eq "with a dead daemon and stdin at EOF, atlas mcp exits" "$rc" 0
expect_eq "both requests are answered with errors" "$(grep -c 'not reachable' "$T/dead.out")" 2
finish
