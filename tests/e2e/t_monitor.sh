#!/bin/bash
# Monitoring: traces (the spec's shape for a two-step chain, spawned children
# nested under their parent, looked up by trace id or any job of the tree,
# listed with filters, drawn by `atlas trace`), logs (stderr and MCP log
# messages per job, bounded, `atlas logs --follow`), costs (agent-reported
# usage by agent, model, day, run and chain), survival across a restart, and
# retention (by size and by age).
. "$(dirname "$0")/lib.sh"

# an agent that logs: `lines` lines on stderr of `size` bytes each, one MCP
# log message, after sleeping `ms`
mkdir -p "$T/logger"
cat >"$T/logger/agent.yaml" <<'YAML'
agent:
  name: "logger"
  version: "1.0.0"
  description: "Writes to stderr and sends MCP log messages"
  input:
    schema:
      type: object
      properties:
        lines: {type: integer, default: 3}
        size: {type: integer, default: 10}
        ms: {type: integer, default: 0}
  output:
    schema: {type: object}
YAML
cat >"$T/logger/agent.py" <<'PY'
import asyncio
import sys

from atlas import AgentBase


class Logger(AgentBase):
    async def execute(self, input, context):
        context.log("hello from mcp")
        for i in range(input["lines"]):
            sys.stderr.write("line %d %s\n" % (i, "x" * input["size"]))
            sys.stderr.flush()
            if input["ms"]:
                await asyncio.sleep(input["ms"] / 1000)
        # stderr and the result travel on two pipes: let the last lines
        # reach the daemon before the result ends the job (the engine
        # attributes stderr to the job the process is running)
        await asyncio.sleep(0.05)
        return {"wrote": input["lines"]}
PY
cat >"$T/atlas.config.yaml" <<'YAML'
monitor:
  logs: {max_bytes_per_job: 400}
YAML
cat >"$T/two-step.yaml" <<'YAML'
chain:
  name: "research-pipeline"
  steps:
    - agent: "web-searcher"
      input_map:
        query: "$.trigger.query"
    - agent: "summarizer"
      input_map:
        text: "$.steps[0].output.results"
        max_length: 50
YAML
start_daemon --config "$T/atlas.config.yaml"
for a in "$EXAMPLES/echo-c" "$EXAMPLES/web-searcher" "$EXAMPLES/summarizer" \
    "$AGENTS/fanout" "$AGENTS/spender" "$T/logger"; do
    atlas register --path "$a" >/dev/null
done

# ---- a two-step chain: the spec's trace shape ----
atlas chain register "$T/two-step.yaml" >/dev/null
atlas chain run research-pipeline --input '{"query": "mcp"}' >/dev/null
root=$(atlas --json jobs --agent research-pipeline | j 'd["jobs"][0]["id"]')
http GET "/api/v1/traces/$root"
expect_eq "GET /api/v1/traces/ID" "$HTTP_CODE" 200
echo "$HTTP_BODY" >"$T/chain-trace.json"
expect_eq "chain trace: the spec's top-level fields" "$(j 'sorted(k for k in ["trace_id","chain","started_at","completed_at","status","steps","total_tokens","total_cost_usd"] if k in d)' <"$T/chain-trace.json")" "['chain', 'completed_at', 'started_at', 'status', 'steps', 'total_cost_usd', 'total_tokens', 'trace_id']"
expect_eq "chain trace: chain, status, trace id" "$(j 'd["chain"], d["status"], d["trace_id"].startswith("tr_")' <"$T/chain-trace.json")" "research-pipeline completed True"
expect_eq "chain trace: two steps, in order, with the spec's step fields" \
    "$(j '[(s["agent"], s["status"], sorted(k for k in ["agent","model_used","tokens_in","tokens_out","latency_ms","status"] if k in s) == ["agent","latency_ms","model_used","status","tokens_in","tokens_out"], isinstance(s["latency_ms"], int)) for s in d["steps"]]' <"$T/chain-trace.json")" \
    "[('web-searcher', 'completed', True, True), ('summarizer', 'completed', True, True)]"
expect_eq "chain trace: times are RFC 3339, completed after started" "$(j 'd["started_at"].endswith("Z") and d["completed_at"] >= d["started_at"]' <"$T/chain-trace.json")" "True"
expect_eq "chain trace: the span tree has the chain and its steps" "$(j '[d["spans"][0]["kind"], [c["name"] for c in d["spans"][0]["children"]], d["spans"][0]["children"][0]["node"]]' <"$T/chain-trace.json")" "['chain', ['web-searcher', 'summarizer'], 'local']"
tid=$(j 'd["trace_id"]' <"$T/chain-trace.json")
http GET "/api/v1/traces/$tid"
expect_eq "a trace by its trace id" "$(echo "$HTTP_BODY" | j 'd["root_job"]')" "$root"

# ---- spawns nest under their parent ----
atlas run fanout --input '{"n": 3}' >/dev/null
froot=$(atlas --json jobs --agent fanout | j 'd["jobs"][0]["id"]')
http GET "/api/v1/traces/$froot"
echo "$HTTP_BODY" >"$T/fan.json"
expect_eq "spawn trace: 3 children under the parent span" "$(j '(lambda c: (d["spans"][0]["agent"], len(c), sorted(set(x["agent"] for x in c)), all(x["parent_span_id"] == d["root_job"] for x in c)))([c for c in d["spans"][0]["children"] if c["kind"] == "agent"])' <"$T/fan.json")" "('fanout', 3, ['echo-c'], True)"
# the parent's atlas.exec.spawn calls are tool spans beside the children
# (recorded when each call is answered; the trace is read from the store)
tool_spans() { http GET "/api/v1/traces/$froot" && echo "$HTTP_BODY" | j 'sorted((c["name"], c["status"], c["duration_ms"] >= 0) for c in d["spans"][0]["children"] if c["kind"] == "tool")'; }
three_tool_spans() { tool_spans | grep -q "spawn.*spawn.*spawn"; }
wait_for three_tool_spans || true
expect_eq "spawn trace: each atlas.exec.spawn call is a tool span" "$(tool_spans)" "[('atlas.exec.spawn', 'completed', True), ('atlas.exec.spawn', 'completed', True), ('atlas.exec.spawn', 'completed', True)]"
expect_eq "spawn trace: steps are the whole tree" "$(j 'len(d["steps"]), d["jobs"], d["chain"]' <"$T/fan.json")" "4 4 None"
child=$(j '[c for c in d["spans"][0]["children"] if c["kind"] == "agent"][1]["job"]' <"$T/fan.json")
http GET "/api/v1/traces/$child"
expect_eq "a child job's id finds its root's trace" "$(echo "$HTTP_BODY" | j 'd["root_job"]')" "$froot"
run_rc rc atlas trace "$froot"
expect_eq "atlas trace ID exits 0" "$rc" 0
expect_contains "atlas trace draws the parent" "$(cat "$T/out")" "fanout"
expect_contains "atlas trace draws nested children" "$(cat "$T/out")" "├─ echo-c"
expect_contains "atlas trace draws a bar" "$(cat "$T/out")" "█"
http GET "/api/v1/traces/job_nosuch"
expect_eq "unknown trace: 404" "$HTTP_CODE" 404

# ---- listing with filters ----
http GET "/api/v1/traces?agent=fanout"
expect_eq "traces?agent=" "$(echo "$HTTP_BODY" | j '[t["agent"] for t in d["traces"]]')" "['fanout']"
http GET "/api/v1/traces?status=completed&since=1h"
expect_eq "traces?status=&since=" "$(echo "$HTTP_BODY" | j 'len(d["traces"])')" "2"
http GET "/api/v1/traces?since=2999-01-01T00:00:00Z"
expect_eq "traces?since= in the future: none" "$(echo "$HTTP_BODY" | j 'len(d["traces"])')" "0"
http GET "/api/v1/traces?since=yesterday"
expect_eq "traces?since=garbage: 400" "$HTTP_CODE" 400
run_rc rc atlas trace --agent research-pipeline
expect_contains "atlas trace lists traces" "$(cat "$T/out")" "research-pipeline"

# ---- logs ----
out=$(atlas run logger --input '{"lines": 3}')
ljob=$(atlas --json jobs --agent logger | j 'd["jobs"][0]["id"]')
run_rc rc atlas logs "$ljob"
expect_eq "atlas logs exits 0" "$rc" 0
expect_contains "logs: stderr lines" "$(cat "$T/out")" "[stderr] line 2 xxxxxxxxxx"
expect_contains "logs: MCP notifications/message" "$(cat "$T/out")" "hello from mcp"
atlas run logger --input '{"lines": 40, "size": 50}' >/dev/null
bjob=$(atlas --json jobs --agent logger | j 'd["jobs"][0]["id"]')
http GET "/api/v1/jobs/$bjob/logs"
expect_eq "logs are bounded per job (monitor.logs.max_bytes_per_job: 400)" "$(echo "$HTTP_BODY" | j 'sum(len(l["text"]) for l in d["lines"] if l["stream"] != "atlas") <= 400, "dropped" in d["lines"][-1]["text"]')" "True True"
# follow: an async run that logs for a while
http POST "/api/v1/agents/logger/run" '{"lines": 6, "ms": 150}' -H 'Prefer: respond-async'
fjob=$(echo "$HTTP_BODY" | j 'd["job"]')
timeout 20 "$BIN/atlas" logs "$fjob" --follow >"$T/follow.out" 2>&1
rc=$?
expect_eq "atlas logs --follow ends with the job" "$rc" 0
expect_eq "atlas logs --follow saw every line" "$(grep -c '^\[stderr\] line' "$T/follow.out")" 6
http GET "/api/v1/jobs/job_nosuch/logs"
expect_eq "logs of an unknown job: 404" "$HTTP_CODE" 404

# ---- costs (agent-reported usage) ----
atlas run spender --input '{"tokens": 70, "children": 2}' >/dev/null
sroot=$(atlas --json jobs --agent spender | j '[x for x in d["jobs"] if x["parent"] is None][0]["id"]')
http GET "/api/v1/costs?by=agent"
expect_eq "costs by agent: spender's three jobs" "$(echo "$HTTP_BODY" | j '[(r["key"], r["calls"], r["tokens_in"]) for r in d["rows"] if r["key"] == "spender"]')" "[('spender', 3, 210)]"
http GET "/api/v1/costs?by=model"
expect_eq "costs by model" "$(echo "$HTTP_BODY" | j '[(r["key"], r["tokens"]) for r in d["rows"]]')" "[('test-model', 210)]"
http GET "/api/v1/costs?chain=$sroot"
expect_eq "costs of one job tree" "$(echo "$HTTP_BODY" | j 'd["total"]["tokens"]')" "210"
http GET "/api/v1/costs?job=$sroot"
expect_eq "costs of one run" "$(echo "$HTTP_BODY" | j 'd["total"]["tokens"]')" "70"
cat >"$T/spend-trigger.yaml" <<'YAML'
trigger:
  name: "nightly-spend"
  type: cron
  schedule: "0 3 1 1 *"
  target:
    agent: "spender"
  input:
    tokens: 5
    children: 0
YAML
atlas trigger register "$T/spend-trigger.yaml" >/dev/null
atlas trigger fire nightly-spend >/dev/null
wait_jobs_count "trigger=nightly-spend&state=completed" 1
http GET "/api/v1/costs?by=trigger"
expect_eq "costs by trigger: what the trigger's run spent, and the rest" "$(echo "$HTTP_BODY" | j 'sorted((r["key"], r["tokens"]) for r in d["rows"])')" "[('', 210), ('nightly-spend', 5)]"
http GET "/api/v1/costs?by=agent&series=day"
expect_eq "costs by agent per day (spend over time)" "$(echo "$HTTP_BODY" | j '[(len(r["day"]), r["key"], r["tokens"]) for r in d["rows"] if r["key"] == "spender"]')" "[(10, 'spender', 215)]"
http GET "/api/v1/costs?by=agent&series=week"
expect_eq "series other than day: 400" "$HTTP_CODE" 400
http GET "/api/v1/costs?by=day"
expect_eq "costs by day" "$(echo "$HTTP_BODY" | j 'len(d["rows"]), len(d["rows"][0]["key"])')" "1 10"
run_rc rc atlas costs --by agent
expect_contains "atlas costs --by agent" "$(cat "$T/out")" "spender"
run_rc rc atlas costs --by nonsense
expect_eq "atlas costs --by nonsense fails" "$rc" 1
http GET "/api/v1/traces/$sroot"
expect_eq "the trace counts reported tokens per step" "$(echo "$HTTP_BODY" | j 'd["total_tokens"], [s["tokens_in"] for s in d["steps"]], d["steps"][0]["model_used"]')" "210 [70, 70, 70] test-model"

# ---- restarts: traces and logs survive ----
stop_daemon
start_daemon --config "$T/atlas.config.yaml"
# three children and the three atlas.exec.spawn calls that started them
http GET "/api/v1/traces/$froot"
expect_eq "a trace survives a restart" "$(echo "$HTTP_BODY" | j 'd["jobs"], len(d["spans"][0]["children"])')" "4 6"
run_rc rc atlas logs "$ljob"
expect_contains "logs survive a restart" "$(cat "$T/out")" "hello from mcp"

# ---- retention ----
stop_daemon
cat >"$T/small.yaml" <<'YAML'
monitor:
  traces: {max_mb: 0.002, prune_interval: 0.2}
YAML
start_daemon --config "$T/small.yaml"
for i in 1 2 3 4 5 6; do atlas run echo-c --input "{\"i\": $i}" >/dev/null; done
gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/api/v1/traces/$root")" = 404 ]; }
# the pruner runs every 0.2 s: wait until it has pruned the first tree
wait_for gone || true
http GET "/api/v1/traces?limit=1000"
n=$(echo "$HTTP_BODY" | j 'len(d["traces"])')
# the store is over a 2 KB cap at once: finished trees go, oldest first
if [ "$n" -lt 6 ]; then pass "retention by size prunes the oldest traces ($n left)"; else fail "retention by size: $n traces left"; fi
http GET "/api/v1/traces/$root"
expect_eq "a pruned trace is gone" "$HTTP_CODE" 404
http GET "/api/v1/jobs/$froot"
expect_eq "its jobs are gone too" "$HTTP_CODE" 404
stop_daemon
cat >"$T/age.yaml" <<'YAML'
monitor:
  traces: {retention_days: 0.00001, prune_interval: 0.2}
YAML
start_daemon --config "$T/age.yaml"
no_traces() { [ "$(curl -s "$ATLAS_URL/api/v1/traces?limit=1000" | j 'len(d["traces"])')" = 0 ]; }
wait_for no_traces || true
http GET "/api/v1/traces?limit=1000"
expect_eq "retention by age: everything older than ~1 s is pruned" "$(echo "$HTTP_BODY" | j 'len(d["traces"])')" "0"
finish
