#!/bin/bash
# The cap on agent processes (issue 9): a contract with pool.min 1024 is
# refused with the reason and does not break other agents' runs; each
# agent's pool stays within execution.max_processes_per_agent; at
# execution.max_agent_processes a new process takes the place of an idle one
# of another agent, or the run fails with limit-exceeded and says why.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
execution:
  max_agent_processes: 3
  max_processes_per_agent: 2
YAML
start_daemon --config "$T/config.yaml"

greedy=$(copy_agent "$AGENTS/slow" greedy)
sed -i 's/name: "slow"/name: "greedy"/' "$greedy/agent.yaml"
printf '  pool:\n    min: 1024\n    max: 1024\n' >>"$greedy/agent.yaml"
atlas register --path "$greedy" >/dev/null
atlas register --path "$AGENTS/slow" >/dev/null
slow2=$(copy_agent "$AGENTS/slow" slow2)
sed -i 's/name: "slow"/name: "slow2"/' "$slow2/agent.yaml"
atlas register --path "$slow2" >/dev/null
atlas register --path "$EXAMPLES/word-count" >/dev/null

run_rc rc atlas run greedy --input '{"ms": 1}'
expect_eq "pool.min 1024 is refused" "$rc" "1"
expect_contains "with the reason" "$(cat "$T/err")" "pool.min 1024 in agent.yaml is more than the 2 processes"
expect_contains "as limit exceeded" "$(cat "$T/err")" "failed: limit exceeded: "
expect_eq "other agents still run" "$(atlas run word-count --input '{"text": "a b c"}' | j 'd["words"]')" "3"
expect_eq "no process was started for it" "$(grep -c 'greedy@1.0.0: started pid' "$T/atlasd.log" || true)" "0"

# the pool of slow is capped at 2 processes: three runs at once, two at a time
s1=$(atlas run --async slow --input '{"ms": 1500}')
s2=$(atlas run --async slow --input '{"ms": 1500}')
s3=$(atlas run --async slow --input '{"ms": 1500}')
for id in $s1 $s2 $s3; do
    wait_for sh -c "$BIN/atlas --json job $id | grep -q '\"completed\"'" || true
    expect_eq "slow run completed within its pool's limit" "$(atlas --json job "$id" | j 'd["state"]')" "completed"
done
expect_eq "slow's pool is capped at 2" \
    "$(curl -s "$ATLAS_URL/api/v1/health" | j '[p["max"] for p in d["engine"]["pools"] if p["agent"] == "slow@1.0.0"][0]')" "2"

# global cap 3: two slow + one slow2 busy, then a fourth agent's run fails
h=$(atlas run --async slow2 --input '{"ms": 50000}')
s1=$(atlas run --async slow --input '{"ms": 50000}')
s2=$(atlas run --async slow --input '{"ms": 50000}')
wait_for sh -c "[ \$(curl -s '$ATLAS_URL/api/v1/jobs?state=running' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"jobs\"]))') = 3 ]" ||
    fail "three runs did not start"
run_rc rc atlas run word-count --input '{"text": "x"}'
expect_eq "a fourth process is refused at the cap" "$rc" "1"
expect_contains "with the reason" "$(cat "$T/err")" "execution.max_agent_processes 3"
atlas cancel "$s1" >/dev/null
atlas cancel "$s2" >/dev/null
atlas cancel "$h" >/dev/null
for id in $s1 $s2 $h; do
    wait_for sh -c "$BIN/atlas --json job $id | grep -q '\"cancelled\"'" || true
done
# slow's two processes are idle now: word-count takes the place of one
expect_eq "an idle process of another agent makes room" \
    "$(atlas run word-count --input '{"text": "a b"}' | j 'd["words"]')" "2"
expect_contains "and the log says so" "$(cat "$T/atlasd.log")" "to make room for another agent"
finish
