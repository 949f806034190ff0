#!/bin/bash
# A control-plane restart while a node runs jobs (docs/scheduling.md
# "Failure"), first a graceful stop (SIGTERM: the jobs on the node and
# their completion waiters are left for recovery without a leak: sanitizer
# builds check atlasd.log), then kill -9: the node joins again by itself;
# recovery re-queues the idempotent job (it runs again, once) and fails the
# other with daemon-restart; the node's results of the runs from before the
# restart are discarded and recorded, so no job completes twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
scheduling:
  node_failure: {detection_timeout: 5}
YAML
start_daemon --config "$T/config.yaml" --listen "127.0.0.1:$PORT"
NODE_TOKEN=$(new_token nodes node)
start_node r1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node r1 ready
wait_connected r1
atlas register --path "$(with_hw "$AGENTS/idem" idem8 'min_memory_gb: 8')" >/dev/null 2>&1
atlas register --path "$(with_hw "$AGENTS/slow" slow8 'min_memory_gb: 8')" >/dev/null 2>&1
a=$(atlas run idem8 --async --input '{"ms": 2500}')
b=$(atlas run slow8 --async --input '{"ms": 2500}')
wait_job_on "$a" r1 running
wait_job_on "$b" r1 running
wait_node_running r1 2
stop_daemon # graceful: they stay `running` for recovery, their waiters are released
start_daemon --config "$T/config.yaml" --listen "127.0.0.1:$PORT"
wait_node r1 ready
pass "the node joined the restarted control plane by itself"
wait_job_state "$b" failed
expect_eq "the non-idempotent job failed with daemon-restart" "$(curl -s "$ATLAS_URL/api/v1/jobs/$b" | j 'd["error"]["code"]')" "daemon-restart"
wait_job_state "$a" completed
expect_eq "the idempotent job ran again, on r1, and completed once" "$(curl -s "$ATLAS_URL/api/v1/jobs/$a" | j '[d["attempts"], d["meta"]["node"], d["output"]["ms"]]')" "[2, 'r1', 2500]"
_two_discarded() { [ "$(curl -s "$ATLAS_URL/api/v1/nodes/r1" | j 'd["connection"]["discarded_results"]')" -ge 2 ]; }
wait_for _two_discarded || log "discarded: $(curl -s "$ATLAS_URL/api/v1/nodes/r1" | j 'd["connection"]')"
expect_eq "the results of the runs before the restart were discarded" "$(curl -s "$ATLAS_URL/api/v1/nodes/r1" | j 'sorted(set(x["job_id"] for x in d["connection"]["discarded"]))')" "$(python3 -c "print(sorted(['$a', '$b']))")"

# the same after kill -9
c=$(atlas run idem8 --async --input '{"ms": 2000}')
wait_job_on "$c" r1 running
kill9_daemon
start_daemon --config "$T/config.yaml" --listen "127.0.0.1:$PORT"
wait_node r1 ready
wait_job_state "$c" completed
expect_eq "after kill -9 the idempotent job ran again and completed once" "$(curl -s "$ATLAS_URL/api/v1/jobs/$c" | j '[d["attempts"], d["meta"]["node"]]')" "[2, 'r1']"
finish_nodes
