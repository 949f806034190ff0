#!/bin/bash
# reschedule_strategy queue and fail (docs/scheduling.md "Failure"): under
# queue, a job on a node that stops answering (SIGSTOP) keeps running and
# its result is taken when the node comes back (one attempt); under fail,
# kill -9 of the node fails even an idempotent job with node-lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
scheduling:
  node_failure: {detection_timeout: 1, reschedule_strategy: queue}
YAML
start_daemon --config "$T/config.yaml"
NODE_TOKEN=$(new_token nodes node)
start_node q1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node q1 ready
wait_connected q1
atlas register --path "$(with_hw "$AGENTS/idem" idem8 'min_memory_gb: 8')" >/dev/null 2>&1
a=$(atlas run idem8 --async --input '{"ms": 2000}')
wait_job_on "$a" q1 running
wait_node_running q1 1
kill -STOP "$NODE_PID_q1"
wait_node q1 unhealthy
expect_eq "under queue the job stays running on the lost node" "$(job_state "$a") $(job_node "$a")" "running q1"
expect_contains "saying what it waits for" "$(curl -s "$ATLAS_URL/api/v1/jobs/$a" | j 'd["meta"]["waited_for"]')" "reschedule_strategy queue"
kill -CONT "$NODE_PID_q1"
wait_node q1 ready
wait_job_state "$a" completed
expect_eq "its result is taken when the node is back: one attempt" "$(curl -s "$ATLAS_URL/api/v1/jobs/$a" | j '[d["attempts"], d["output"]["ms"], len(d["meta"].get("discarded_results", []))]')" "[1, 2000, 0]"

# a second control plane under fail
stop_daemon
DATA=$T/data2
mkdir -p "$DATA"
sed 's/reschedule_strategy: queue/reschedule_strategy: fail/' "$T/config.yaml" >"$T/config2.yaml"
start_daemon --config "$T/config2.yaml"
NODE_TOKEN=$(new_token nodes node)
start_node f1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node f1 ready
wait_connected f1
atlas register --path "$T/idem8" >/dev/null 2>&1
b=$(atlas run idem8 --async --input '{"ms": 20000}')
wait_job_on "$b" f1 running
wait_node_running f1 1
kill -KILL "$NODE_PID_f1"
wait_job_state "$b" failed
out=$(curl -s "$ATLAS_URL/api/v1/jobs/$b")
expect_eq "under fail even an idempotent job fails with node-lost" "$(echo "$out" | j 'd["error"]["code"]')" "node-lost"
expect_contains "naming the strategy" "$(echo "$out" | j 'd["error"]["detail"]')" "reschedule_strategy fail"
expect_eq "the node is unhealthy" "$(node_status f1)" "unhealthy"
finish_nodes
