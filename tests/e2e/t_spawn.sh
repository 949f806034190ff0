#!/bin/bash
# Spawning and the guardrails: the spec's ResearchAgent, parent links,
# permission, spawn depth, the deadlock case (a tree deeper than the
# concurrency limit), cancelling a tree, the token budget, the circuit
# breaker, the concurrency limit reported.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
execution:
  max_spawn_depth: 5
  max_concurrent_agents: 2
  resource_budget:
    max_tokens_per_chain: 100
  circuit_breaker:
    failure_threshold: 3
    recovery_timeout: 1
YAML
start_daemon --config "$T/config.yaml"
for a in web-searcher deep-analyzer research-agent echo-c; do atlas register --path "$EXAMPLES/$a" >/dev/null; done
for a in recurse spender flaky slow; do atlas register --path "$AGENTS/$a" >/dev/null; done

# the spec's ResearchAgent spawns web-searcher (and deep-analyzer when needed)
out=$(atlas run research-agent --input '{"topic": "agents runtime"}')
root=$(atlas jobs --json --agent research-agent --limit 1 | j 'd["jobs"][0]["id"]')
kids=$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$root")
expect_contains "the child is a real job with a parent link" "$(echo "$kids" | j '[x["agent"] for x in d["jobs"]]')" "web-searcher"
expect_eq "at depth 1 in the root's tree" "$(echo "$kids" | j 'set((x["depth"], x["root"]) for x in d["jobs"])')" "{(1, '$root')}"
out=$(atlas run research-agent --input '{"topic": "processes agents runtime warm pooling dispatch chains tools model language"}')
expect_eq "conditional spawn of deep-analyzer" "$(echo "$out" | j '"themes" in d')" "True"

# permission: only requires.spawn_agents may spawn
nospawn=$(copy_agent "$AGENTS/recurse" nospawn)
sed -i 's/name: "recurse"/name: "nospawn"/; s/spawn_agents: true/spawn_agents: false/' "$nospawn/agent.yaml"
atlas register --path "$nospawn" >/dev/null
run_rc rc atlas run nospawn --input '{"n": 1}'
expect_eq "spawning without requires.spawn_agents fails" "$rc" 1
expect_contains "with a permission error" "$(cat "$T/err")" "may not spawn agents"

# depth: 5 levels below the root are allowed, a 6th is refused naming the limit
out=$(atlas run recurse --input '{"n": 5}')
expect_eq "a tree of depth 5 with max_concurrent_agents 2 completes (no deadlock)" "$(echo "$out" | j 'd["levels"]')" "5"
run_rc rc atlas run recurse --input '{"n": 6}'
expect_eq "depth 6 fails" "$rc" 1
expect_contains "naming the limit" "$(cat "$T/err")" "execution.max_spawn_depth is 5"
wait_breaker_due recurse # the failing tree opened recurse's breaker

# cancelling the root cancels the whole tree
rid=$(atlas run --async recurse --input '{"n": 3, "sleep_ms": 20000}')
wait_jobs_count "agent=recurse&state=running" 4 || true
expect_eq "a tree of 4 running jobs" "$(curl -s "$ATLAS_URL/api/v1/jobs?agent=recurse&state=running" | j 'len(d["jobs"])')" "4"
atlas cancel "$rid" >/dev/null
wait_jobs_count "agent=recurse&state=running" 0 || true
states=$(curl -s "$ATLAS_URL/api/v1/jobs?agent=recurse&limit=4" | j 'sorted(set(x["state"] for x in d["jobs"]))')
expect_eq "every job of the tree is cancelled" "$states" "['cancelled']"

# the token budget of a tree: 60 + 60 spent, the third spawn is refused
out=$(atlas run spender --input '{"tokens": 60, "children": 3}')
expect_eq "spawns until the budget is spent" "$(echo "$out" | j 'd["children_done"]')" "2"
expect_contains "then refused naming the budget" "$(echo "$out" | j 'd["errors"][0]')" "max_tokens_per_chain is 100"

# the circuit breaker: 3 consecutive failures open it, recovery_timeout half-opens it
for i in 1 2 3; do atlas run flaky --input '{"key": "brk", "fail_times": 4}' >/dev/null 2>&1 || true; done
run_rc rc atlas run flaky --input '{"key": "brk", "fail_times": 4}'
expect_contains "an open breaker fails fast" "$(cat "$T/err")" "circuit breaker of flaky@1.0.0 is open after 3 consecutive failures"
expect_eq "visible in health" "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["engine"]["breakers"]["flaky@1.0.0"]["state"]')" "open"
wait_breaker_due flaky
run_rc rc atlas run flaky --input '{"key": "brk", "fail_times": 4}'
expect_contains "half-open: a trial runs (and fails: open again)" "$(cat "$T/err")" "flaky failure 4 of 4"
wait_breaker_due flaky
run_rc rc atlas run flaky --input '{"key": "brk", "fail_times": 4}'
expect_eq "a successful trial closes it" "$rc" 0
expect_eq "closed" "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["engine"]["breakers"]["flaky@1.0.0"]["state"]')" "closed"

# the concurrency limit is reported where a job waited
for i in 1 2 3; do atlas run --async slow --input '{"ms": 800}' >/dev/null; done
wait_jobs_count "agent=slow&state=completed" 3 || true
expect_contains "a queued job says which limit held it" "$(curl -s "$ATLAS_URL/api/v1/jobs?agent=slow&full" | j '[x.get("meta") or {} for x in d["jobs"]]')" "execution.max_concurrent_agents (2) reached"
finish
