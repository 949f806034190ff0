#!/bin/bash
# MCP 2026-07-28 subscriptions/listen over Streamable HTTP (src/mcp/server.c
# do_listen): the acknowledgement first, with the honoured filter and the
# subscription id; tools/list_changed when an agent is registered or
# removed; resources/updated for a subscribed contract URI; nothing the
# filter did not ask for; an empty filter completed at once; bad filters
# refused; a session (2025-11-25) client gets -32601 (it has the GET stream).
# Then the official TS SDK 2.x client's listen(), and the 1.x client's
# resources/subscribe (resources/updated on its session's GET stream), over
# HTTP and over stdio (`atlas mcp`): tests/interop/listen-client.mjs.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
[ -x "$EXAMPLES/echo-c/agent" ] || { log "skip: examples/agents/echo-c/agent is not built"; exit 77; }
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT

start_daemon
META='"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}'
# listen OUT ID FILTER: a listen stream in the background, its SSE in OUT
listen() {
    curl -sS -N -X POST "$ATLAS_URL/mcp" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
        -H 'Mcp-Method: subscriptions/listen' \
        --data-binary "{\"jsonrpc\": \"2.0\", \"id\": $2, \"method\": \"subscriptions/listen\", \"params\": {\"notifications\": $3, $META}}" \
        >"$1" 2>&1 &
    PIDS="$PIDS $!"
    LISTEN_PID=$!
}
# events FILE: the JSON-RPC messages of an SSE capture, one per line
events() { sed -n 's/^data: //p' "$1" | grep -v '^$' || true; }
# jl EXPR: EXPR over each JSON line of stdin (as d)
jl() { /usr/bin/python3 -c 'import json,sys; [print(eval(sys.argv[1], {"d": json.loads(l)})) for l in sys.stdin if l.strip()]' "$1"; }

listen "$T/tools.sse" 7 '{"toolsListChanged": true, "resourceSubscriptions": ["atlas://agents/echo-c/contract"]}'
TOOLS_PID=$LISTEN_PID
listen "$T/prompts.sse" '"p"' '{"promptsListChanged": true}'
wait_grep 'subscriptions/acknowledged' "$T/tools.sse"
wait_grep 'subscriptions/acknowledged' "$T/prompts.sse"
first=$(events "$T/tools.sse" | head -1)
expect_eq "the acknowledgement comes first, with the honoured filter and the subscription id" \
    "$(printf '%s' "$first" | j 'd["method"], d["params"]["notifications"], d["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]')" \
    "notifications/subscriptions/acknowledged {'toolsListChanged': True, 'resourceSubscriptions': ['atlas://agents/echo-c/contract']} 7"

atlas register --path "$EXAMPLES/echo-c" >/dev/null
wait_grep 'tools/list_changed' "$T/tools.sse"
wait_grep 'resources/updated' "$T/tools.sse"
expect_eq "registering an agent: tools/list_changed, stamped" \
    "$(events "$T/tools.sse" | grep -m1 tools/list_changed | j 'd["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]')" "7"
expect_eq "and resources/updated for the subscribed contract" \
    "$(events "$T/tools.sse" | grep -m1 resources/updated | j 'd["params"]["uri"]')" \
    "atlas://agents/echo-c/contract"
wait_grep 'prompts/list_changed' "$T/prompts.sse"
expect_eq "the prompts listener hears only prompts/list_changed" \
    "$(events "$T/prompts.sse" | jl 'd["method"]' | sort -u | tr '\n' ' ')" \
    "notifications/prompts/list_changed notifications/subscriptions/acknowledged "
expect_eq "the tools listener never hears what it did not ask for" \
    "$(events "$T/tools.sse" | grep -c -e prompts/list_changed -e resources/list_changed || true)" "0"

n_before=$(events "$T/tools.sse" | grep -c tools/list_changed || true)
atlas unregister echo-c >/dev/null
wait_for sh -c "[ \$(sed -n 's/^data: //p' '$T/tools.sse' | grep -c tools/list_changed) -gt $n_before ]"
pass "removing an agent: tools/list_changed again"

# closing the stream ends the subscription (its cancel): later changes go
# only to the listeners still there
kill "$TOOLS_PID" 2>/dev/null || true
wait "$TOOLS_PID" 2>/dev/null || true
atlas register --path "$EXAMPLES/echo-c" >/dev/null
n_p=$(events "$T/prompts.sse" | grep -c prompts/list_changed || true)
wait_for sh -c "[ \$(sed -n 's/^data: //p' '$T/prompts.sse' | grep -c prompts/list_changed) -ge 2 ]"
pass "a listener still open hears the next change ($n_p)"
grep -q 'MCP listen' "$T/atlasd.log" && fail "atlasd logged a listen error" || true

# an empty filter: acknowledged and completed at once
set +e
out=$(timeout 20 curl -sS -N -X POST "$ATLAS_URL/mcp" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: subscriptions/listen' \
    --data-binary "{\"jsonrpc\": \"2.0\", \"id\": 9, \"method\": \"subscriptions/listen\", \"params\": {\"notifications\": {\"toolsListChanged\": false}, $META}}")
rc=$?
set -e
expect_eq "an empty filter ends the stream" "$rc" 0
expect_eq "with the ack, then the empty result" \
    "$(printf '%s\n' "$out" | sed -n 's/^data: //p' | grep -v '^$' | jl 'd.get("method") or d["result"]["resultType"]' | tr '\n' ' ')" \
    "notifications/subscriptions/acknowledged complete "

# a filter that is not one
http POST /mcp "{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"subscriptions/listen\", \"params\": {$META}}" \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: subscriptions/listen'
expect_eq "no notifications filter: -32602" "$(printf '%s' "$HTTP_BODY" | j 'd["error"]["code"]')" "-32602"
http POST /mcp "{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"subscriptions/listen\", \"params\": {\"notifications\": {\"resourceSubscriptions\": [1]}, $META}}" \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: subscriptions/listen'
expect_eq "a URI that is not a string: -32602" "$(printf '%s' "$HTTP_BODY" | j 'd["error"]["code"]')" "-32602"
http POST /mcp "{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"subscriptions/listen\", \"params\": {\"notifications\": {\"toolsListChanged\": true}, $META}}" \
    -H 'Accept: application/json' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: subscriptions/listen'
expect_eq "without an event stream: 400" "$HTTP_CODE" 400

# a 2025-11-25 session has the GET stream instead
http POST /mcp '{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}' \
    -H 'Accept: application/json, text/event-stream' -D "$T/hdr"
sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *//p' "$T/hdr" | tr -d '\r')
http POST /mcp '{"jsonrpc": "2.0", "id": 2, "method": "subscriptions/listen", "params": {"notifications": {"toolsListChanged": true}}}' \
    -H 'Accept: application/json, text/event-stream' -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25'
expect_eq "subscriptions/listen in a 2025 session: -32601" \
    "$(printf '%s' "$HTTP_BODY" | sed -n 's/^data: //p;/^{/p' | grep -v '^$' | head -1 | j 'd["error"]["code"]')" "-32601"

# `atlas mcp`: a stateless client's listen stream goes through the bridge,
# and the bridge still exits at stdin EOF with the stream open (it ends
# the subscription by closing the stream)
LREQ="{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"subscriptions/listen\", \"params\": {\"notifications\": {\"toolsListChanged\": true}, $META}}"
set +e
{
    printf '%s\n' "$LREQ"
    i=0
    until grep -q acknowledged "$T/bridge.out" 2>/dev/null || [ $i -ge 600 ]; do
        i=$((i + 1)); sleep 0.05
    done
} | timeout 30 "$BIN/atlas" mcp >"$T/bridge.out" 2>"$T/bridge.err"
rc=$?
set -e
expect_eq "atlas mcp exits at stdin EOF with a listen stream open" "$rc" 0
expect_contains "after relaying the acknowledgement" "$(cat "$T/bridge.out")" "notifications/subscriptions/acknowledged"

# the official SDK 2.x client (skipped without the npm packages)
if [ -x "$NODE22" ]; then
    for run in "v2 http" "v2 stdio" "v1 http" "v1 stdio"; do
        set -- $run
        sdk=$1 tr=$2
        atlas unregister echo-c >/dev/null 2>&1 || true
        set +e
        (cd "$INTEROP" && timeout 120 "$NODE22" listen-client.mjs "$sdk" "$tr" "$ATLAS_URL" "$BIN/atlas" \
            echo-c "$EXAMPLES/echo-c") >"$T/listen-$sdk-$tr.txt" 2>&1
        rc=$?
        set -e
        while IFS= read -r line; do
            case "$line" in
            "ok   - "*) pass "${line#ok   - }" ;;
            "FAIL - "*) fail "${line#FAIL - }" ;;
            esac
        done <"$T/listen-$sdk-$tr.txt"
        [ $rc -eq 0 ] || { fail "listen-client $sdk $tr exited $rc"; tail -n 20 "$T/listen-$sdk-$tr.txt" >&2; }
    done
else
    log "the SDK 2.x listen checks are skipped: tests/interop/node_modules is missing"
fi
finish
