#!/bin/bash
# Chains: registration checks with locations, the spec's research pipeline,
# named steps, parallel groups, every failure strategy with retries and
# back-off, mediation that fixes a mapping and one that cannot, the chain
# deadline and cancelling a chain's tree.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
execution:
  circuit_breaker: {failure_threshold: 1000}
YAML
start_daemon --config "$T/config.yaml"
for a in web-searcher summarizer report-writer echo-c word-count; do atlas register --path "$EXAMPLES/$a" >/dev/null; done
for a in flaky raise slow typed; do atlas register --path "$AGENTS/$a" >/dev/null; done

# ---- registration checks ----
chk() { # chk NAME YAML: register a chain file, leave stderr in $T/err
    printf '%s\n' "$2" >"$T/$1.yaml"
    run_rc rc atlas chain register "$T/$1.yaml"
}
chk unknown 'chain:
  name: bad1
  steps:
    - agent: "nobody"'
expect_contains "unknown agent is refused with its location" "$(cat "$T/err")" "unknown.yaml:4:14: chain.steps[0].agent: no agent \"nobody\" is registered"
chk badpath 'chain:
  name: bad2
  steps:
    - agent: echo-c
      input_map:
        x: "$.trigger[?"'
expect_contains "a JSONPath that does not parse" "$(cat "$T/err")" "badpath.yaml:6:12: chain.steps[0].input_map.x: JSONPath \"\$.trigger[?\" does not parse"
chk later 'chain:
  name: bad3
  steps:
    - agent: echo-c
      input_map:
        x: "$.steps[1].output"
    - agent: echo-c'
expect_contains "a reference to a later step" "$(cat "$T/err")" "refers to step 1, which has not run yet at step 0"
chk missing 'chain:
  name: bad4
  steps:
    - agent: typed
      input_map:
        label: "x"'
expect_contains "a required input never provided" "$(cat "$T/err")" "agent typed requires \"count\", which input_map never provides"
chk nofit 'chain:
  name: bad5
  steps:
    - agent: typed
      input_map:
        count: {a: 1}
        label: "x"'
expect_contains "a mapping that can never fit" "$(cat "$T/err")" "maps a object onto \"count\", which agent typed takes as integer"
chk closed 'chain:
  name: bad6
  steps:
    - agent: typed
      input_map: {count: 1, label: x, colour: red}'
expect_contains "a closed schema takes no extra input" "$(cat "$T/err")" "agent typed takes no input \"colour\""
chk nooutput 'chain:
  name: bad7
  steps:
    - agent: typed
      input_map: {count: 1, label: x}
    - agent: word-count
      input_map: {text: "$.steps[0].output.nonsense"}'
expect_contains "a mapping from an output nobody produces" "$(cat "$T/err")" "step 0 (typed) never outputs \"nonsense\""
chk strategy 'chain:
  name: bad8
  steps: [{agent: echo-c}]
  on_failure: {strategy: fallback}'
expect_contains "fallback needs a fallback" "$(cat "$T/err")" "strategy fallback needs \`fallback:\`"
expect_eq "nothing invalid was registered" "$(atlas chain ls --json | j 'len(d["chains"])')" "0"

# ---- the spec's chain ----
run_rc rc atlas chain register "$SRC/examples/chains/research-pipeline.yaml"
expect_eq "research-pipeline registers" "$rc" 0
run_rc rc atlas chain register "$SRC/examples/chains/research-pipeline.yaml"
expect_contains "again: unchanged" "$(cat "$T/out")" "unchanged chain research-pipeline"
out=$(atlas chain run research-pipeline --input '{"query": "mcp stdio transport", "format": "markdown"}')
expect_contains "research-pipeline runs end to end" "$(echo "$out" | j 'd["report"]')" "# Research report"
expect_eq "in markdown" "$(echo "$out" | j 'd["format"]')" "markdown"
http POST /api/v1/chains/research-pipeline/run '{"query": "sqlite", "format": "json"}'
expect_eq "POST /api/v1/chains/NAME/run" "$HTTP_CODE" 200
expect_eq "json report" "$(echo "$HTTP_BODY" | j 'd["format"]')" "json"
cid=$(atlas chain run --async research-pipeline --input '{"query": "agents", "format": "text"}')
wait_for sh -c "$BIN/atlas --json job $cid | grep -q '\"completed\"'"
expect_eq "a chain run is a job of kind chain" "$(atlas --json job "$cid" | j 'd["kind"]')" "chain"
expect_eq "its steps are its children" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid" | j 'sorted(x["agent"] for x in d["jobs"])')" "['report-writer', 'summarizer', 'web-searcher']"
expect_eq "mediation is in the event log" "$(atlas --json job "$cid" | j 'any("converted \"text\" from array to string" in x for x in d["meta"]["decisions"])')" "True"
expect_eq "model tiers are recorded" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid&full" | j 'sorted(x["meta"]["model"]["tier"] for x in d["jobs"])')" "['balanced', 'fast', 'fast']"
expect_eq "jobs?full (no value) includes inputs and outputs; without it, none" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid&full" | j 'all("input" in x and "output" in x for x in d["jobs"])') $(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid" | j 'any("input" in x for x in d["jobs"])')" "True False"

# ---- named steps, inputs, literals and parallel groups ----
chk named 'chain:
  name: named
  steps:
    - id: first
      agent: echo-c
      input_map: {a: "$.trigger.a", lit: 7, dollar: "$$literal"}
    - parallel:
        - agent: word-count
          input_map: {text: "$.steps.first.output.a"}
        - agent: echo-c
          input_map: {from_input: "$.steps[0].input.lit"}
    - agent: echo-c
      input_map:
        words: "$.steps[1].output[0].words"
        echoed: "$.steps[1].output[1].from_input"
        dollar: "$.steps.first.output.dollar"'
expect_eq "named + parallel chain registers" "$rc" 0
out=$(atlas chain run named --input '{"a": "one two three"}')
expect_eq "named steps and parallel outputs" "$(echo "$out" | j '(d["words"], d["echoed"], d["dollar"])')" "(3, 7, '\$literal')"

# ---- failure strategies ----
chk halt 'chain:
  name: halt
  steps:
    - agent: echo-c
    - agent: raise
      input_map: {message: "deliberate"}
    - agent: echo-c
  on_failure: {strategy: halt}'
run_rc rc atlas chain run halt --input '{}'
expect_eq "halt: the chain fails" "$rc" 1
expect_contains "halt: names the step" "$(cat "$T/err")" "step 1 (raise) failed after 1 attempt: deliberate"

chk retry 'chain:
  name: retry
  steps:
    - agent: flaky
      input_map: {key: "$.trigger.key", fail_times: 2}
  on_failure: {strategy: retry_then_skip, max_retries: 2, backoff: {initial: 0.2}}'
t0=$(date +%s%N)
out=$(atlas chain run retry --input '{"key": "r1"}')
t1=$(date +%s%N)
expect_eq "retries until it works" "$(echo "$out" | j 'd["calls"]')" "3"
expect_eq "with exponential back-off (0.2 s + 0.4 s)" "$(( (t1 - t0) / 1000000 >= 550 ))" "1"

chk skip 'chain:
  name: skip
  steps:
    - agent: echo-c
      input_map: {kept: "$.trigger.x"}
    - agent: raise
      input_map: {message: "never works"}
    - agent: echo-c
      input_map: {prev: "$.steps[1].output", first: "$.steps[0].output.kept"}
  on_failure: {strategy: retry_then_skip, max_retries: 1, backoff: {initial: 0.05}}'
out=$(atlas chain run skip --input '{"x": 42}')
expect_eq "retry_then_skip: the chain goes on" "$(echo "$out" | j 'd["first"]')" "42"
cid=$(atlas jobs --json --limit 20 | j '[x["id"] for x in d["jobs"] if x["agent"] == "skip"][0]')
expect_eq "the skipped step is recorded" "$(atlas --json job "$cid" | j '[s["status"] for s in d["meta"]["steps"]]')" "['completed', 'skipped', 'completed']"
expect_eq "an agent error is retried" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid" | j 'sum(1 for x in d["jobs"] if x["agent"] == "raise")')" "2"

chk fb 'chain:
  name: fb
  steps:
    - agent: raise
      input_map: {message: "primary down", text: "$.trigger.text"}
  on_failure: {strategy: fallback, fallback: word-count, max_retries: 0}'
out=$(atlas chain run fb --input '{"text": "fall back here"}')
expect_eq "fallback agent answers" "$(echo "$out" | j 'd["words"]')" "3"
chk fbchain 'chain:
  name: fbchain
  steps:
    - agent: raise
      input_map: {message: "primary down", query: "$.trigger.query", format: text}
  on_failure: {strategy: fallback, fallback: {chain: research-pipeline}}'
out=$(atlas chain run fbchain --input '{"query": "sqlite"}')
expect_contains "fallback chain answers" "$(echo "$out" | j 'd["report"]')" "Research report"

# ---- mediation ----
chk med 'chain:
  name: med
  steps:
    - agent: typed
      input_map: {COUNT: "$.trigger.n", Label: "$.trigger.l"}'
expect_eq "a mapping that needs renaming registers" "$rc" 0
out=$(atlas chain run med --input '{"n": "5", "l": 3.5}')
expect_eq "mediation renames and converts" "$(echo "$out" | j '(d["got"]["count"], d["got"]["label"], d["got"]["flag"])')" "(5, '3.5', False)"
run_rc rc atlas chain run med --input '{"n": "five", "l": "x"}'
expect_eq "mediation that cannot fix it fails the run" "$rc" 1
expect_contains "with a precise schema error" "$(cat "$T/err")" "/count"

# ---- deadline and cancelling a chain's tree ----
chk slowchain 'chain:
  name: slowchain
  timeout: 1
  steps:
    - agent: slow
      input_map: {ms: 3000}'
run_rc rc atlas chain run slowchain --input '{}'
expect_contains "the chain deadline" "$(cat "$T/err")" "the chain did not finish within 1 s (timeout in the chain file)"
sid=$(atlas jobs --json --agent slow --limit 1 | j 'd["jobs"][0]["id"]')
wait_for sh -c "$BIN/atlas --json job $sid | grep -q cancelled"
expect_eq "its running step is cancelled" "$(atlas --json job "$sid" | j 'd["state"]')" "cancelled"
chk cancelme 'chain:
  name: cancelme
  steps:
    - agent: slow
      input_map: {ms: 5000}
    - agent: echo-c'
cid=$(atlas chain run --async cancelme --input '{}')
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/jobs?parent=$cid&state=running' | grep -q slow"
atlas cancel "$cid" >/dev/null
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/jobs?parent=$cid' | grep -q cancelled"
expect_eq "cancelling a chain cancels its steps" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$cid" | j '[x["state"] for x in d["jobs"]]')" "['cancelled']"
expect_eq "and the chain" "$(atlas --json job "$cid" | j 'd["state"]')" "cancelled"

# ---- cycles of chains: refused at registration, with the path (a chain
# that fell back to itself used to overflow the stack and kill atlasd) ----
chk cyc_self 'chain:
  name: cyc-a
  steps:
    - agent: raise
      input_map: {message: "always"}
  on_failure: {strategy: fallback, fallback: {chain: cyc-a}}'
expect_eq "a chain that is its own fallback is refused" "$rc" 1
expect_contains "with the cycle's path" "$(cat "$T/err")" 'chain "cyc-a" can run itself through fallbacks: cyc-a -> cyc-a'
chk cyc_a 'chain:
  name: cyc-a
  steps:
    - agent: raise
      input_map: {message: "always"}
  on_failure: {strategy: fallback, fallback: {chain: cyc-b}}'
expect_eq "a fallback to a chain not registered yet is accepted" "$rc" 0
chk cyc_b 'chain:
  name: cyc-b
  steps:
    - agent: raise
      input_map: {message: "always"}
      on_failure: {strategy: fallback, fallback: {chain: cyc-a}}'
expect_eq "the chain that would close the cycle is refused" "$rc" 1
expect_contains "naming every chain on it" "$(cat "$T/err")" "cyc-b -> cyc-a -> cyc-b"
http POST /api/v1/chains '{"file": "c.yaml", "yaml": "chain:\n  name: cyc-c\n  steps: [{agent: raise}]\n  on_failure: {strategy: fallback, fallback: {chain: cyc-c}}\n"}'
expect_eq "over HTTP: 400" "$HTTP_CODE" 400
expect_contains "a problem with the path" "$HTTP_BODY" "cyc-c -> cyc-c"
run_rc rc atlas chain run cyc-a --input '{}'
expect_eq "the accepted one runs, and fails, without a loop" "$rc" 1
run_rc rc atlas health
expect_eq "the daemon is alive" "$rc" 0
kill -0 "$DAEMON_PID" && pass "atlasd did not crash" || fail "atlasd died"

# chains persist
stop_daemon
start_daemon
expect_eq "chains survive a restart" "$(atlas chain ls --json | j 'len(d["chains"]) >= 9')" "True"
run_rc rc atlas chain unregister named
expect_eq "unregister a chain" "$rc" 0
run_rc rc atlas chain run named --input '{}'
expect_contains "an unknown chain" "$(cat "$T/err")" "no chain named \"named\""

# ==== run-time depth (llmorch, issue 9; the registration-cycle cases are
# elsewhere in this file): a chain's steps record their real depth (one
# below the chain), and chains nested in chains count toward
# execution.max_spawn_depth, so a deep nesting stops with the limit's error
stop_daemon
cat >"$T/depth.yaml" <<'YAML'
execution:
  max_spawn_depth: 2
  circuit_breaker: {failure_threshold: 1000}
YAML
start_daemon --config "$T/depth.yaml"
chk nest3 'chain:
  name: nest3
  steps: [{agent: raise}]
  on_failure: {strategy: halt}'
for i in 2 1 0; do
    chk "nest$i" "chain:
  name: nest$i
  steps: [{agent: raise}]
  on_failure: {strategy: fallback, fallback: {chain: nest$((i + 1))}}"
    expect_eq "nest$i registers" "$rc" 0
done
run_rc rc atlas chain run nest0 --input '{}'
expect_eq "chains nested deeper than max_spawn_depth fail" "$rc" 1
expect_contains "with the limit's error" "$(cat "$T/err")" "spawn depth limit reached"
expect_contains "naming the key" "$(cat "$T/err")" "execution.max_spawn_depth is 2"
root=$(atlas jobs --json --agent nest0 --limit 1 | j 'd["jobs"][0]["id"]')
expect_eq "the root chain fails with limit-exceeded" "$(atlas --json job "$root" | j 'd["error"]["code"]')" "limit-exceeded"
kids=$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$root")
expect_eq "its step and its fallback chain are one level below it" "$(echo "$kids" | j 'sorted((x["agent"], x["depth"]) for x in d["jobs"])')" "[('nest1', 1), ('raise', 1)]"
n1=$(echo "$kids" | j '[x["id"] for x in d["jobs"] if x["agent"] == "nest1"][0]')
expect_eq "the nested chain's step is one below that" "$(curl -s "$ATLAS_URL/api/v1/jobs?parent=$n1" | j 'sorted((x["agent"], x["depth"]) for x in d["jobs"])')" "[('nest2', 2), ('raise', 2)]"
expect_eq "nothing ran below the limit" "$(atlas jobs --json --agent nest3 | j 'len(d["jobs"])')" "0"
tr=$(curl -s "$ATLAS_URL/api/v1/traces/$root")
expect_eq "the trace shows the depths" "$(echo "$tr" | j 'sorted((c["name"], c["depth"]) for c in d["spans"][0]["children"])')" "[('nest1', 1), ('raise', 1)]"
# ==== end of the run-time depth cases
finish
