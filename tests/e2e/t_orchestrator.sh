#!/bin/bash
# The orchestrator slot: set, show, reset, per chain; a custom orchestrator's
# decisions in the event log; one that crashes (the default takes over and
# the log says so); persistence; routing an input that names no agent.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
start_daemon
for a in web-searcher summarizer report-writer research-orchestrator word-count echo-c; do
    atlas register --path "$EXAMPLES/$a" >/dev/null
done
for a in orch-crash flaky; do atlas register --path "$AGENTS/$a" >/dev/null; done
atlas chain register "$SRC/examples/chains/research-pipeline.yaml" >/dev/null

run_rc rc atlas orchestrator show
expect_contains "the default orchestrator" "$(cat "$T/out")" "default: the built-in orchestrator"
run_rc rc atlas orchestrator set word-count
expect_eq "only type: orchestrator agents" "$rc" 1
expect_contains "says why" "$(cat "$T/err")" "is not an orchestrator"
run_rc rc atlas orchestrator set research-orchestrator --chain nope
expect_contains "unknown chain" "$(cat "$T/err")" "no chain \"nope\""

run_rc rc atlas orchestrator set research-orchestrator --chain research-pipeline
expect_eq "set for one chain" "$rc" 0
expect_contains "shown" "$(atlas orchestrator show)" "chain research-pipeline: research-orchestrator"
atlas chain run research-pipeline --input '{"query": "sqlite", "format": "text"}' >/dev/null
cid=$(atlas jobs --json --limit 30 | j '[x["id"] for x in d["jobs"] if x["kind"] == "chain"][0]')
dec=$(atlas --json job "$cid" | j '"\n".join(d["meta"]["decisions"])')
expect_contains "the custom orchestrator decides" "$dec" "orchestrator: research-orchestrator decides for this run"
expect_contains "model tiers by task size" "$dec" "orchestrator research-orchestrator: task_complexity"
expect_eq "its decisions are jobs of the tree" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid" | j 'sum(1 for x in d["jobs"] if x["agent"] == "research-orchestrator")')" "3"
expect_eq "decision jobs are of kind orchestrator" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid" | j 'sorted(set(x["kind"] for x in d["jobs"] if x["agent"] == "research-orchestrator"))')" "['orchestrator']"
tr=$(curl -s "$ATLAS_URL/api/v1/traces/$cid")
expect_eq "the trace's steps are the chain's steps only" "$(echo "$tr" | j '[s["agent"] for s in d["steps"]]')" "['web-searcher', 'summarizer', 'report-writer']"
expect_eq "the decisions are orchestrator spans" "$(echo "$tr" | j 'sorted((c["kind"], c["name"]) for c in d["spans"][0]["children"] if c["kind"] != "agent")')" "[('orchestrator', 'research-orchestrator'), ('orchestrator', 'research-orchestrator'), ('orchestrator', 'research-orchestrator')]"
atlas trace "$cid" >"$T/trace.txt"
expect_eq "atlas trace labels them" "$(grep -c 'orchestrator research-orchestrator' "$T/trace.txt")" "3"

# recovery through the custom orchestrator
printf 'chain:\n  name: flakychain\n  steps:\n    - agent: flaky\n      input_map: {key: "$.trigger.key", fail_times: 1}\n  on_failure: {strategy: halt}\n' >"$T/flaky.yaml"
atlas chain register "$T/flaky.yaml" >/dev/null
atlas orchestrator set research-orchestrator >/dev/null
out=$(atlas chain run flakychain --input '{"key": "o1"}')
expect_eq "the orchestrator retried where the chain says halt" "$(echo "$out" | j 'd["calls"]')" "2"
cid=$(atlas jobs --json --limit 30 | j '[x["id"] for x in d["jobs"] if x["agent"] == "flakychain"][0]')
expect_contains "and said why" "$(atlas --json job "$cid" | j '"\n".join(d["meta"]["decisions"])')" "orchestrator research-orchestrator: retry (agent-error is transient"

# an orchestrator that crashes: the default takes over, and the log says so
atlas orchestrator set orch-crash >/dev/null
out=$(atlas chain run flakychain --input '{"key": "o2"}' 2>&1 || true)
cid=$(atlas jobs --json --limit 40 | j '[x["id"] for x in d["jobs"] if x["agent"] == "flakychain"][0]')
dec=$(atlas --json job "$cid" | j '"\n".join(d["meta"]["decisions"])')
expect_contains "a crashing orchestrator is replaced by the default" "$dec" "orchestrator orch-crash failed"
expect_contains "the default decided" "$dec" "the default orchestrator decides"
expect_contains "and applied the chain's policy (halt)" "$dec" "halt: step 0 (flaky) failed"

# the slot survives a restart
atlas orchestrator set research-orchestrator >/dev/null
stop_daemon
start_daemon
expect_contains "persisted" "$(atlas orchestrator show)" "default: research-orchestrator"
run_rc rc atlas orchestrator reset
expect_contains "reset" "$(cat "$T/out")" "default: the built-in orchestrator"

# routing: an input that names no agent
out=$(atlas route --input '{"query": "sqlite checkpoints"}' 2>"$T/route.err")
expect_contains "routed by the input schema" "$(cat "$T/route.err")" "routed to web-searcher"
expect_eq "and run" "$(echo "$out" | j 'len(d["results"]) > 0')" "True"
atlas route --input '{"text": "a b c"}' --hint "summarization" >/dev/null 2>"$T/route.err"
expect_contains "the hint ranks by capability" "$(cat "$T/route.err")" "routed to summarizer"
atlas route --input '{"text": "a b c"}' --hint "count the words" >/dev/null 2>"$T/route.err"
expect_contains "another hint, another agent" "$(cat "$T/route.err")" "routed to word-count"
atlas unregister echo-c >/dev/null # it takes any object
http POST /api/v1/run '{"input": {"zzz": [1,2,3], "count": "x"}}'
expect_eq "no agent accepts it: 404" "$HTTP_CODE" 404
expect_eq "the decision is explained" "$(echo "$HTTP_BODY" | j 'd["decisions"][0]')" "routing: no agent accepts the input"

# a conversational agent (a front door) is a candidate for a chat message,
# and only for one; its input schema still decides
fd=$(copy_agent "$EXAMPLES/echo-c" front-door)
$PY - "$fd/agent.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace('name: "echo-c"', 'name: "front-door"')
s = s.replace("    schema:\n      type: object\n\n  output", "    schema:\n      type: object\n      properties: {message: {type: string}, user_id: {type: string}}\n      required: [message]\n\n  output", 1)
s = s.replace("  version:", "  type: conversational\n  version:", 1)
open(p, "w").write(s)
PY
atlas register --path "$fd" >/dev/null
out=$(atlas route --input '{"message": "hello, who can help me?", "user_id": "u1"}' 2>"$T/route.err")
expect_contains "a chat message goes to the conversational agent" "$(cat "$T/route.err")" "routed to front-door"
expect_eq "  which ran" "$(echo "$out" | j 'd["message"]')" "hello, who can help me?"
expect_contains "  and the decision says why" "$(atlas --json jobs --limit 1 | j 'd["jobs"][0]["id"]' | xargs "$BIN/atlas" --url "$ATLAS_URL" --json job | j '" ".join(d["meta"]["decisions"])')" "a conversational agent for a chat message"
http POST /api/v1/run '{"input": {"zzz": [1,2,3], "message": 7}}'
expect_eq "not a chat message: not routed to it" "$HTTP_CODE" 404
finish
