#!/bin/bash
# Platform tools that drive chains and the queue over MCP (2026-07-28):
# atlas.exec.spawn_chain, atlas.queue.priority, atlas.queue.drain.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
printf 'execution:\n  max_concurrent_agents: 1\n' >"$T/config.yaml"
start_daemon --config "$T/config.yaml"
for a in web-searcher summarizer report-writer; do atlas register --path "$EXAMPLES/$a" >/dev/null; done
atlas register --path "$AGENTS/slow" >/dev/null
atlas chain register "$SRC/examples/chains/research-pipeline.yaml" >/dev/null

call() { # call TOOL ARGS_JSON -> the CallToolResult
    /usr/bin/python3 - "$ATLAS_URL" "$1" "$2" <<'PY'
import json, os, sys, urllib.request
url, tool, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": tool, "arguments": args, "_meta": meta}}).encode()
req = urllib.request.Request(url + "/mcp", body, {
    "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    "Authorization": "Bearer " + os.environ["ATLAS_TOKEN"],
    "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool})
text = urllib.request.urlopen(req, timeout=60).read().decode()
if text.startswith("event:") or text.startswith("id:") or text.startswith("data:"):
    text = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")][-1]
print(json.dumps(json.loads(text)["result"]))
PY
}

rpc() { # rpc METHOD PARAMS_JSON -> the result (2026-07-28, stateless)
    /usr/bin/python3 - "$ATLAS_URL" "$1" "$2" <<'PY'
import json, os, sys, urllib.request
url, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
params["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method,
           "Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]}
# 2026-07-28: Mcp-Name mirrors params.name (tools/call, prompts/get) or params.uri
name = params.get("uri" if method == "resources/read" else "name")
if method in ("tools/call", "prompts/get", "resources/read") and name is not None:
    headers["Mcp-Name"] = name
req = urllib.request.Request(url + "/mcp", body, headers)
text = urllib.request.urlopen(req, timeout=60).read().decode()
if not text.startswith("{"):
    text = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")][-1]
d = json.loads(text)
print(json.dumps(d.get("result", d.get("error"))))
PY
}

out=$(call atlas.exec.spawn_chain '{"chain": "research-pipeline", "input": {"query": "mcp", "format": "text"}}')
expect_contains "spawn_chain runs a chain" "$(echo "$out" | j 'd["structuredContent"]["report"]')" "Research report"

# queue.priority: with one slot busy, move the last queued job to the front
# (the blocker runs until it is cancelled, once both wait)
b=$(atlas run --async slow --input '{"ms": 600000}')
wait_job_state "$b" running || true
q1=$(atlas run --async slow --input '{"ms": 10, "n": 1}')
q2=$(atlas run --async slow --input '{"ms": 10, "n": 2}')
expect_eq "both wait behind it" "$(job_state "$q1") $(job_state "$q2")" "queued queued"
out=$(call atlas.queue.priority "{\"job\": \"$q2\", \"priority\": 9}")
expect_eq "queue.priority moves a queued job" "$(echo "$out" | j 'd["structuredContent"]["priority"]')" "9"
atlas cancel "$b" >/dev/null
for id in $q1 $q2; do wait_job_state "$id" completed failed || true; done
expect_eq "and it runs first" "$( [ "$(atlas --json job "$q2" | j 'd["started_at"]')" \< "$(atlas --json job "$q1" | j 'd["started_at"]')" ] && echo yes)" "yes"
# resources: jobs, contracts and traces
out=$(rpc resources/templates/list '{}')
expect_eq "resource templates: contracts, jobs, traces" "$(echo "$out" | j '[t["uriTemplate"] for t in d["resourceTemplates"]][:3]')" "['atlas://agents/{name}/contract', 'atlas://jobs/{id}', 'atlas://traces/{id}']"
out=$(rpc resources/read "{\"uri\": \"atlas://jobs/$q2\"}")
expect_eq "atlas://jobs/ID" "$(echo "$out" | j 'json.loads(d["contents"][0]["text"])["state"]')" "completed"
out=$(rpc resources/read '{"uri": "atlas://agents/slow/contract"}')
expect_eq "atlas://agents/NAME/contract" "$(echo "$out" | j 'json.loads(d["contents"][0]["text"])["name"]')" "slow"
out=$(rpc resources/read "{\"uri\": \"atlas://traces/$q2\"}")
expect_eq "atlas://traces/ID" "$(echo "$out" | j '(lambda t: (t["root_job"], t["status"]))(json.loads(d["contents"][0]["text"]))')" "('$q2', 'completed')"
out=$(rpc resources/read '{"uri": "atlas://traces/job_nosuch"}')
expect_contains "an unknown trace is a resource-not-found error" "$out" "not found"

# monitor.trace: the trace of a job, as GET /api/v1/traces/ID has it
out=$(call atlas.monitor.trace "{\"job\": \"$q2\"}")
expect_eq "monitor.trace answers a job's trace" "$(echo "$out" | j 'd["structuredContent"]["root_job"], d["structuredContent"]["status"], d["structuredContent"]["spans"][0]["agent"]')" "$q2 completed slow"
out=$(call atlas.monitor.trace '{"job": "job_nosuch"}')
expect_eq "monitor.trace of an unknown job is a tool error" "$(echo "$out" | j 'd["isError"]')" "True"
out=$(call atlas.queue.priority "{\"job\": \"$q2\", \"priority\": 1}")
expect_eq "a finished job cannot move" "$(echo "$out" | j 'd["isError"]')" "True"

# queue.drain: new runs are refused, then resumed
out=$(call atlas.queue.drain '{}')
expect_eq "drain" "$(echo "$out" | j 'd["structuredContent"]["draining"]')" "True"
run_rc rc atlas run slow --input '{"ms": 1}'
expect_contains "while draining, runs are refused" "$(cat "$T/err")" "the queue is draining"
out=$(call atlas.queue.drain '{"drain": false}')
run_rc rc atlas run slow --input '{"ms": 1}'
expect_eq "resumed" "$rc" 0
finish
