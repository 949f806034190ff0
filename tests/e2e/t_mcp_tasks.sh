#!/bin/bash
# MCP 2026-07-28 Tasks extension (SEP-2663) on atlasd's /mcp: announced in
# capabilities.extensions; an agent tools/call from a client that opted in
# answers a CreateTaskResult (the task is the Atlas job); tasks/get while
# working and once completed (the tool result inline), a failed agent as
# completed + isError, tasks/cancel (ack, then cancelled; idempotent);
# gating without the extension (-32021, 400); Mcp-Name must be the taskId;
# unknown tasks -32602; removed tasks/result and tasks/list -32601;
# tasks/update refused as not supported yet; a client without the
# extension still gets the plain result.
. "$(dirname "$0")/lib.sh"
[ -x "$EXAMPLES/echo-c/agent" ] || { log "skip: examples/agents/echo-c/agent is not built"; exit 77; }
start_daemon
atlas register --path "$EXAMPLES/echo-c" >/dev/null
atlas register --path "$AGENTS/slow" >/dev/null
atlas register --path "$AGENTS/raise" >/dev/null

CAPS_T='{"extensions": {"io.modelcontextprotocol/tasks": {}}}'
# rpc METHOD NAME PARAMS [CAPS]: a 2026-07-28 request (Mcp-Name NAME, "" none)
rpc() {
    local caps=${4:-$CAPS_T}
    local meta="\"_meta\": {\"io.modelcontextprotocol/protocolVersion\": \"2026-07-28\", \"io.modelcontextprotocol/clientCapabilities\": $caps}"
    local params=${3%\}}
    [ "$params" = "{" ] && params="{$meta}" || params="$params, $meta}"
    local name=()
    [ -n "$2" ] && name=(-H "Mcp-Name: $2")
    http POST /mcp "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"$1\", \"params\": $params}" \
        -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
        -H "Mcp-Method: $1" "${name[@]}"
    # an SSE answer: its last data line
    case "$HTTP_BODY" in
    *"data: "*) HTTP_BODY=$(printf '%s\n' "$HTTP_BODY" | sed -n 's/^data: //p' | grep -v '^$' | tail -1) ;;
    esac
}
b() { printf '%s' "$HTTP_BODY" | j "$1"; }

rpc server/discover "" '{}'
expect_eq "the extension is announced" \
    "$(b '"io.modelcontextprotocol/tasks" in d["result"]["capabilities"]["extensions"]')" "True"
expect_eq "no v1-style capabilities.tasks" "$(b '"tasks" in d["result"]["capabilities"]')" "False"

# a slow agent as a task
rpc tools/call slow '{"name": "slow", "arguments": {"ms": 60000}}'
expect_eq "tools/call answers a CreateTaskResult" \
    "$(b 'd["result"]["resultType"], d["result"]["status"], "task" in d["result"]')" "task working False"
expect_eq "with the task's fields at the top level" \
    "$(b 'sorted(k for k in ("taskId", "status", "createdAt", "lastUpdatedAt", "ttlMs") if k in d["result"])')" \
    "['createdAt', 'lastUpdatedAt', 'status', 'taskId', 'ttlMs']"
TASK=$(b 'd["result"]["taskId"]')
expect_eq "the task is the job" "$(atlas --json job "$TASK" | j 'd["agent"]')" "slow"
rpc tasks/get "$TASK" "{\"taskId\": \"$TASK\"}"
expect_eq "tasks/get at once finds it, working, no result" \
    "$(b 'd["result"]["status"], "result" in d["result"], d["result"]["resultType"]')" "working False complete"
rpc tasks/cancel "$TASK" "{\"taskId\": \"$TASK\"}"
expect_eq "tasks/cancel: an empty ack" "$(b 'd["result"]')" "{'resultType': 'complete'}"
wait_job_state "$TASK" cancelled
rpc tasks/get "$TASK" "{\"taskId\": \"$TASK\"}"
expect_eq "then tasks/get says cancelled" "$(b 'd["result"]["status"]')" "cancelled"
rpc tasks/cancel "$TASK" "{\"taskId\": \"$TASK\"}"
expect_eq "tasks/cancel of a finished task: the same ack" "$(b 'd["result"]')" "{'resultType': 'complete'}"

# a task that completes: the result inline
rpc tools/call echo-c '{"name": "echo-c", "arguments": {"hello": "task"}}'
T2=$(b 'd["result"]["taskId"]')
wait_job_state "$T2" completed
rpc tasks/get "$T2" "{\"taskId\": \"$T2\"}"
expect_eq "a completed task inlines the tool result" \
    "$(b 'd["result"]["status"], d["result"]["result"]["structuredContent"], d["result"]["result"]["content"][0]["type"]')" \
    "completed {'hello': 'task'} text"

# an agent that fails: completed, with isError (not "failed")
rpc tools/call raise '{"name": "raise", "arguments": {}}'
T3=$(b 'd["result"]["taskId"]')
wait_job_state "$T3" failed
rpc tasks/get "$T3" "{\"taskId\": \"$T3\"}"
expect_eq "a failed agent is a completed task with a tool error" \
    "$(b 'd["result"]["status"], d["result"]["result"]["isError"]')" "completed True"

# refusals
rpc tasks/get "$T2" "{\"taskId\": \"$T2\"}" '{}'
expect_eq "without the extension: 400" "$HTTP_CODE" 400
expect_eq "and MissingRequiredClientCapability" "$(b 'd["error"]["code"]')" "-32021"
rpc tasks/get "" "{\"taskId\": \"$T2\"}"
expect_eq "tasks/get without Mcp-Name: -32020" "$(b 'd["error"]["code"]')" "-32020"
rpc tasks/get "job_other" "{\"taskId\": \"$T2\"}"
expect_eq "Mcp-Name that is not the taskId: 400" "$HTTP_CODE" 400
rpc tasks/get "job_nosuch" '{"taskId": "job_nosuch"}'
expect_eq "an unknown task: -32602" "$(b 'd["error"]["code"]')" "-32602"
rpc tasks/result "" "{\"taskId\": \"$T2\"}"
expect_eq "tasks/result is not a method (removed)" "$(b 'd["error"]["code"]')" "-32601"
rpc tasks/list "" '{}'
expect_eq "tasks/list is not a method (removed)" "$(b 'd["error"]["code"]')" "-32601"
rpc tasks/update "$T2" "{\"taskId\": \"$T2\", \"inputResponses\": {}}"
expect_eq "tasks/update is refused" "$(b 'd["error"]["code"]')" "-32601"
expect_contains "as not supported yet" "$(b 'd["error"]["message"]')" "not supported yet"

# a client that did not opt in gets the plain result; platform tools stay in line
rpc tools/call echo-c '{"name": "echo-c", "arguments": {"plain": 1}}' '{}'
expect_eq "no extension: a plain result" \
    "$(b 'd["result"]["resultType"], d["result"]["structuredContent"]')" "complete {'plain': 1}"
rpc tools/call atlas.monitor.health '{"name": "atlas.monitor.health", "arguments": {}}'
expect_eq "a platform tool answers in line even with the extension" \
    "$(b 'd["result"]["resultType"]')" "complete"
# a job token sees only its own tree's tasks: a user token narrowed to
# another agent does not see this task
tok=$(curl -sS -X POST -H 'Content-Type: application/json' \
    --data-binary '{"name": "narrow", "role": "operator", "scopes": ["agent:slow"]}' \
    "$ATLAS_URL/api/v1/tokens" | j 'd.get("token", "")')
if [ -n "$tok" ]; then
    ATLAS_TOKEN=$tok rpc tasks/get "$T2" "{\"taskId\": \"$T2\"}"
    expect_eq "a token narrowed to another agent: the task is unknown" "$(b 'd["error"]["code"]')" "-32602"
fi
finish
