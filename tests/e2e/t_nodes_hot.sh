#!/bin/bash
# The platform health API feeds placement (docs/scheduling.md "Health"): a
# node whose last health report is over scheduling.health_thresholds
# (temperature_c, memory_used_pct) is "hot" and takes no new work; a job
# waits unschedulable with the reason, and explain names the rule.  Memory
# in use is the figure this machine can be made to cross: the threshold is
# set below what any machine uses.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 4, gpus: []}
scheduling:
  unschedulable_timeout: 1
  health_thresholds: {memory_used_pct: 0.01}
YAML
start_daemon --config "$T/config.yaml"
NODE_TOKEN=$(new_token nodes node)
start_node h1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node h1 hot
expect_eq "a node over a health threshold is hot" "$(node_status h1)" "hot"
wait_node local hot
expect_eq "the control plane's own node too" "$(node_status local)" "hot"
expect_contains "atlas nodes shows it" "$(atlas nodes)" "hot"
expect_contains "the health route has the figure" \
    "$(curl -s "$ATLAS_URL/api/v1/nodes/h1/health" | j 'd["health"]["memory_used_pct"] > 0.01')" "True"
wait_grep "node h1 is hot \(memory .* used, over scheduling.health_thresholds.memory_used_pct" "$T/atlasd.log" &&
    pass "the log says why" || fail "no hot line in atlasd.log"
atlas register --path "$EXAMPLES/word-count" >/dev/null
http POST /api/v1/agents/word-count/run '{"text": "a b"}'
expect_eq "a hot cluster takes no new work: unschedulable" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["type"]')" \
    "503 urn:atlas:error:unschedulable"
job=$(echo "$HTTP_BODY" | j 'd["job"]')
expect_eq "explain names the state rule for every node" \
    "$(atlas --json schedule explain "$job" | j 'sorted(set(n["rule"] for n in d["nodes"]))')" "['state']"
stop_daemon

# without thresholds the same cluster is ready and runs
DATA=$T/data2
mkdir -p "$DATA"
sed '/health_thresholds/d' "$T/config.yaml" >"$T/config2.yaml"
start_daemon --config "$T/config2.yaml"
NODE_TOKEN=$(new_token nodes node)
start_node h2 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node h2 ready
expect_eq "without thresholds nothing is hot" "$(node_status h2) $(node_status local)" "ready ready"
printf 'scheduling:\n  health_thresholds: {memory_used_pct: 150}\n' >"$T/bad.yaml"
run_rc rc "$BIN/atlasd" --data "$T/bad-data" --config "$T/bad.yaml" --listen 127.0.0.1:0
expect_eq "a percentage over 100 is refused at start" "$rc" "1"
expect_contains "with its location" "$(cat "$T/err" "$T/out")" "health_thresholds"
finish
