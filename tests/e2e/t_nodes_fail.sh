#!/bin/bash
# Node failure (docs/scheduling.md "Failure"): kill -9 of a node agent
# mid-run; after node_failure.detection_timeout it is unhealthy and, under
# reschedule_strategy retry, its idempotent job runs again on the other
# node while its non-idempotent job fails with node-lost.  A node that
# stops answering (SIGSTOP) and comes back: its late result is discarded
# and recorded, the job completes once, from its second dispatch.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
scheduling:
  strategy: spread
  node_failure: {detection_timeout: 1.5, reschedule_strategy: retry}
YAML
start_daemon --config "$T/config.yaml"
NODE_TOKEN=$(new_token nodes node)
start_node n1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node n1 ready
wait_connected n1
atlas register --path "$(with_hw "$AGENTS/idem" idem8 'min_memory_gb: 8')" >/dev/null 2>&1
atlas register --path "$(with_hw "$AGENTS/slow" slow8 'min_memory_gb: 8')" >/dev/null 2>&1

a=$(atlas run idem8 --async --input '{"ms": 3000}')
b=$(atlas run slow8 --async --input '{"ms": 20000}')
wait_job_on "$a" n1 running
wait_job_on "$b" n1 running
wait_node_running n1 2
start_node n2 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node n2 ready
wait_connected n2
kill -KILL "$NODE_PID_n1"
wait_node n1 unhealthy
pass "a node silent past detection_timeout is unhealthy"
wait_job_state "$b" failed
out=$(curl -s "$ATLAS_URL/api/v1/jobs/$b")
expect_eq "the non-idempotent job failed with node-lost" "$(echo "$out" | j 'd["error"]["code"]')" "node-lost"
expect_contains "saying why" "$(echo "$out" | j 'd["error"]["detail"]')" "reschedule_strategy retry, but the agent is not idempotent"
wait_job_state "$a" completed
out=$(curl -s "$ATLAS_URL/api/v1/jobs/$a")
expect_eq "the idempotent job ran again on n2" "$(echo "$out" | j '[d["meta"]["node"], d["meta"]["rescheduled"][0]["from"], d["attempts"], d["output"]["ms"]]')" "['n2', 'n1', 2, 3000]"
expect_contains "atlas nodes shows n1 unhealthy" "$(atlas nodes | grep '^n1 ')" "unhealthy"

# n2 stops answering while it runs c; c waits (no other node fits); n2
# comes back: its result of the first dispatch is discarded, c runs again
c=$(atlas run idem8 --async --input '{"ms": 1500}')
wait_job_on "$c" n2 running
wait_node_running n2 1
kill -STOP "$NODE_PID_n2"
wait_node n2 unhealthy
wait_job_state "$c" queued
kill -CONT "$NODE_PID_n2"
wait_node n2 ready
wait_job_state "$c" completed
out=$(curl -s "$ATLAS_URL/api/v1/jobs/$c")
expect_eq "the job completed once, from its second dispatch" "$(echo "$out" | j '[d["state"], d["attempts"], d["meta"]["node"]]')" "['completed', 2, 'n2']"
_discarded() { [ "$(curl -s "$ATLAS_URL/api/v1/nodes/n2" | j 'd["connection"]["discarded_results"]')" -ge 1 ]; }
wait_for _discarded
http GET /api/v1/nodes/n2
expect_eq "the late result is recorded on the node" "$(echo "$HTTP_BODY" | j '[x["job_id"] for x in d["connection"]["discarded"]]')" "['$c']"
expect_eq "the job was never completed twice: one result taken, one discarded" "$(echo "$out" | j '[len(d["meta"]["discarded_results"]), d["meta"]["discarded_results"][0]["node"], d["meta"]["discarded_results"][0]["dispatch"] > 0]')" "[1, 'n2', True]"
finish_nodes
