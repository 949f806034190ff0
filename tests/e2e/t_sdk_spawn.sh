#!/bin/bash
# The C SDK's calls to the platform (sdk/c: atlas_ctx_spawn,
# atlas_ctx_spawn_chain, atlas_ctx_call_tool) against the real atlasd: a C
# agent (tests/agents/c-spawner) spawns examples/agents/echo-c as a child job
# with a parent link, runs a chain, calls a platform tool, sees a failed
# child's error with its code, and a cancelled parent cancels the child.
. "$(dirname "$0")/lib.sh"
# The C agents are built by the plain build only (sanitizer builds reuse them).
for d in "$AGENTS/c-spawner" "$EXAMPLES/echo-c"; do
    if [ ! -x "$d/agent" ]; then log "SKIP: $d/agent is not built (cmake --build build)"; exit 77; fi
done
mkdir -p "$DATA"
start_daemon
atlas register --path "$EXAMPLES/echo-c" >/dev/null
for a in c-spawner raise slow; do atlas register --path "$AGENTS/$a" >/dev/null; done

# one spawn: the child's output comes back, the child is a real job linked to its parent
out=$(atlas run c-spawner --input '{"agent": "echo-c", "input": {"hello": "world", "n": 3}}')
expect_eq "atlas_ctx_spawn returns the child's output" "$(echo "$out" | j 'd["children"]')" "[{'hello': 'world', 'n': 3}]"
parent=$(atlas jobs --json --agent c-spawner --limit 1 | j 'd["jobs"][0]["id"]')
kids=$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$parent")
expect_eq "the child job exists with the parent link" "$(echo "$kids" | j '[(x["agent"], x["parent"], x["state"]) for x in d["jobs"]]')" "[('echo-c', '$parent', 'completed')]"
expect_eq "at depth 1 in the parent's tree" "$(echo "$kids" | j '[(x["depth"], x["root"]) for x in d["jobs"]]')" "[(1, '$parent')]"
child=$(echo "$kids" | j 'd["jobs"][0]["id"]')
expect_eq "the child's record names its parent" "$(curl -s "$ATLAS_URL/api/v1/jobs/$child" | j 'd["parent"], d["input"]')" "$parent {'hello': 'world', 'n': 3}"

# several spawns from one call reuse the connection; each is a child
out=$(atlas run c-spawner --input '{"agent": "echo-c", "input": {"i": 1}, "count": 5}')
expect_eq "five spawns in one call" "$(echo "$out" | j 'len(d["children"])')" "5"
parent=$(atlas jobs --json --agent c-spawner --limit 1 | j 'd["jobs"][0]["id"]')
expect_eq "five children linked" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$parent" | j 'len(d["jobs"])')" "5"

# a pinned version and no input (NULL = {})
out=$(atlas run c-spawner --input '{"agent": "echo-c:1.0.0"}')
expect_eq "NAME:VERSION and an empty input" "$(echo "$out" | j 'd["children"]')" "[{}]"

# a chain through atlas.exec.spawn_chain
cat >"$T/chain.yaml" <<'YAML'
chain:
  name: echo-twice
  steps:
    - agent: echo-c
    - agent: echo-c
YAML
atlas chain register "$T/chain.yaml" >/dev/null
out=$(atlas run c-spawner --input '{"op": "chain", "chain": "echo-twice", "input": {"via": "chain"}}')
expect_contains "atlas_ctx_spawn_chain returns the chain's output" "$(echo "$out" | j 'd["output"]')" "'via': 'chain'"
parent=$(atlas jobs --json --agent c-spawner --limit 1 | j 'd["jobs"][0]["id"]')
expect_eq "the chain run is a child of the caller" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$parent" | j 'len(d["jobs"])')" "1"

# any platform tool
out=$(atlas run c-spawner --input '{"op": "tool", "tool": "atlas.registry.describe", "input": {"agent": "echo-c"}}')
expect_contains "atlas_ctx_call_tool answers" "$out" "echo-c"

# failures: a missing agent, a failing child, bad input for the child
out=$(atlas run c-spawner --input '{"op": "try", "agent": "nobody"}')
expect_eq "an unknown agent: ATLAS_ETOOL with the platform's code" "$(echo "$out" | j 'd["rc"], d["code"]')" "-1 not-found"
expect_contains "and its message" "$(echo "$out" | j 'd["message"]')" "nobody"
out=$(atlas run c-spawner --input '{"op": "try", "agent": "raise", "input": {"message": "boom from raise"}}')
expect_eq "a failing child: ATLAS_ETOOL" "$(echo "$out" | j 'd["rc"]')" "-1"
expect_contains "with the child's error text" "$(echo "$out" | j 'd["message"]')" "boom from raise"
run_rc rc atlas run c-spawner --input '{"op": "fail", "agent": "raise", "input": {"message": "boom again"}}'
expect_eq "returning the error fails the parent" "$rc" 1
expect_contains "with the tool error's text as the message" "$(cat "$T/err")" "boom again"
out=$(atlas run c-spawner --input '{"op": "try", "agent": "slow", "input": {"ms": "soon"}}')
expect_eq "input that does not match the child's contract" "$(echo "$out" | j 'd["rc"], d["code"]')" "-1 schema-violation"
nospawn=$(copy_agent "$AGENTS/c-spawner" c-nospawn)
sed -i 's/name: "c-spawner"/name: "c-nospawn"/; s/spawn_agents: true/spawn_agents: false/' "$nospawn/agent.yaml"
atlas register --path "$nospawn" >/dev/null
out=$(atlas run c-nospawn --input '{"op": "try"}')
expect_eq "without requires.spawn_agents: refused" "$(echo "$out" | j 'd["rc"], d["code"]')" "-1 permission-denied"
expect_contains "naming the reason" "$(echo "$out" | j 'd["message"]')" "may not spawn agents"

# cancelling the parent while it waits: the SDK notices, closes the stream,
# the child is cancelled too and the parent's process answers at once
rid=$(atlas run --async c-spawner --input '{"agent": "slow", "input": {"ms": 30000}}')
wait_jobs_count "agent=slow&state=running" 1
slow=$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$rid" | j 'd["jobs"][0]["id"]')
atlas cancel "$rid" >/dev/null
wait_job_state "$rid" cancelled || true
wait_job_state "$slow" cancelled || true
expect_eq "the parent is cancelled" "$(job_state "$rid")" "cancelled"
expect_eq "and so is the child" "$(job_state "$slow")" "cancelled"
# a cancelled call keeps its process busy until the agent answers or the
# runtime's grace (2 s) runs out and kills it: wait until every process is
# idle again, then none may have been replaced
all_idle() {
    curl -s "$ATLAS_URL/api/v1/health" | python3 -c 'import json,sys
p = json.load(sys.stdin)["engine"]["pools"]
sys.exit(0 if all(x["busy"] == 0 and x["starting"] == 0 and x["idle"] == x["workers"] for x in p) else 1)'
}
wait_for all_idle || fail "the processes never went idle after the cancel"
expect_eq "the spawner answered the cancel itself (no process replaced)" "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["engine"]["totals"]["workers_replaced"], d["engine"]["totals"]["worker_crashes"]')" "0 0"
out=$(atlas run c-spawner --input '{"agent": "echo-c", "input": {"after": "cancel"}}')
expect_eq "the spawner keeps serving" "$(echo "$out" | j 'd["children"]')" "[{'after': 'cancel'}]"
finish
