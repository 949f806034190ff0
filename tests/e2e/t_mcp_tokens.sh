#!/bin/bash
# Agents reach the platform as MCP clients of atlasd with their job token
# (DESIGN.md principle 1): an agent whose contract sets
# requires.platform_tools may call every platform tool and spawn children
# (parent link, depth); one without gets a permission error.  Users see
# the platform tools their token's role allows (docs/security.md); no
# token over TCP is a 401.
. "$(dirname "$0")/lib.sh"
[ -x "$EXAMPLES/echo-c/agent" ] || { log "skip: examples/agents/echo-c/agent is not built"; exit 77; }
FIX=$SRC/tests/interop/platform-agents

start_daemon
atlas register --path "$EXAMPLES/echo-c" >/dev/null
atlas register --path "$FIX/platform-caller" >/dev/null
atlas register --path "$FIX/plain-caller" >/dev/null

run_rc rc atlas run platform-caller --input '{"tool":"atlas.registry.list","arguments":{}}'
expect_eq "platform-caller runs" "$rc" 0
expect_contains "atlas.registry.list through the job token" \
    "$(j '[a["name"] for a in d["result"]["agents"]]' <"$T/out")" "echo-c"

run_rc rc atlas run platform-caller --input '{"tool":"atlas.exec.spawn","arguments":{"agent":"echo-c","input":{"n":7}}}'
expect_eq "spawn runs" "$rc" 0
expect_eq "atlas.exec.spawn returns the child's output" "$(j 'd["result"]["n"]' <"$T/out")" 7
parent=$(j 'd["job"]' <"$T/out")
http GET "/api/v1/jobs?parent=$parent"
expect_eq "the child is linked to its parent" "$(echo "$HTTP_BODY" | j 'len(d["jobs"])')" 1
expect_eq "the child's depth" "$(echo "$HTTP_BODY" | j 'd["jobs"][0]["depth"]')" 1

run_rc rc atlas run platform-caller --input '{"tool":"atlas.exec.status","arguments":{"job":"job_nope"}}'
expect_contains "status of an unknown job is a tool error" "$(j 'd["message"]' <"$T/out")" "no job"

run_rc rc atlas run platform-caller --input '{"tool":"atlas.schedule.migrate","arguments":{"job":"job_nope","node":"n1"}}'
expect_eq "a refused migration is a tool error with its reason" "$(j 'd["error"]' <"$T/out")" "not-found"

run_rc rc atlas run plain-caller --input '{"tool":"atlas.registry.list","arguments":{}}'
expect_eq "plain-caller runs" "$rc" 0
expect_eq "without requires.platform_tools: permission error" "$(j 'd["error"]' <"$T/out")" \
    "permission-denied"
run_rc rc atlas run plain-caller --input '{"tool":"atlas.exec.spawn","arguments":{"agent":"echo-c","input":{}}}'
expect_eq "without requires.spawn_agents: spawn refused" "$(j 'd["error"]' <"$T/out")" \
    "permission-denied"

# a token that maps to no job is refused
http POST /mcp '{"jsonrpc":"2.0","id":1,"method":"ping"}' -H 'Authorization: Bearer not-a-token' \
    -H 'Accept: application/json, text/event-stream'
expect_eq "unknown bearer token: 401" "$HTTP_CODE" 401

# no token at all: 401, even from loopback
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'Accept: application/json' --data-binary '{"jsonrpc":"2.0","id":1,"method":"ping"}' "$ATLAS_URL/mcp")
expect_eq "no token over loopback TCP: 401" "$code" 401

# the admin token sees the platform tools
http POST /mcp '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' \
    -H 'Accept: application/json' -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list'
expect_contains "the admin token sees atlas.* tools" "$HTTP_BODY" '"atlas.queue.inspect"'
expect_contains "stateless lists are cacheable" "$HTTP_BODY" '"cacheScope"'
finish
