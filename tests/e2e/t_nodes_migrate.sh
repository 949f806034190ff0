#!/bin/bash
# Migration (docs/scheduling.md "Migrate"): `atlas schedule migrate JOB --to
# NODE` restarts a running job of an idempotent agent on NODE (from a node,
# and from the control plane's own node), once: the run it left is
# stopped and its late result discarded; a job of an agent that is not
# idempotent, a node that does not fit, an unknown node, a job that is not
# running are refused with the reason.  `atlas node drain NAME --migrate`
# moves what can move and lets the rest finish there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
scheduling:
  node_failure: {detection_timeout: 5}
YAML
start_daemon --config "$T/config.yaml"
start_node m1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
start_node m2 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node m1 ready
wait_node m2 ready
wait_connected m1
wait_connected m2
atlas register --path "$(with_hw "$AGENTS/idem" idem8 'min_memory_gb: 8')" >/dev/null 2>&1
atlas register --path "$(with_hw "$AGENTS/slow" slow8 'min_memory_gb: 8')" >/dev/null 2>&1
atlas register --path "$AGENTS/idem" >/dev/null 2>&1

# from node to node
a=$(atlas run idem8 --async --input '{"ms": 3000}')
wait_job_on "$a" m1 running
wait_node_running m1 1
out=$(atlas schedule migrate "$a" --to m2)
expect_eq "atlas schedule migrate says what it did" "$out" "job $a migrated from m1 to m2"
wait_job_on "$a" m2 running
wait_node_running m1 0
pass "the run on m1 was stopped"
wait_job_state "$a" completed
expect_eq "it ran again on m2, once" "$(curl -s "$ATLAS_URL/api/v1/jobs/$a" | j '[d["attempts"], d["meta"]["node"], d["output"]["ms"], [(m["from"], m["to"]) for m in d["meta"]["migrated"]]]')" "[2, 'm2', 3000, [('m1', 'm2')]]"

# refusals
b=$(atlas run slow8 --async --input '{"ms": 60000}')
wait_job_on "$b" m1 running
run_rc rc atlas schedule migrate "$b" --to m2
expect_eq "a job of an agent that is not idempotent is refused" "$rc $(grep -c 'is not idempotent' "$T/err")" "1 1"
c=$(atlas run idem8 --async --input '{"ms": 60000}')
wait_job_on "$c" m1 running
run_rc rc atlas schedule migrate "$c" --to local
expect_contains "a node that does not fit is refused with its verdict" "$(cat "$T/err")" "cannot move to local now: needs 8 GB"
run_rc rc atlas schedule migrate "$c" --to nope
expect_contains "an unknown node is refused" "$(cat "$T/err")" "no node nope"
run_rc rc atlas schedule migrate "$c" --to m1
expect_contains "so is the node it is on" "$(cat "$T/err")" "already runs on m1"
run_rc rc atlas schedule migrate "$a" --to m1
expect_contains "and a job that ended" "$(cat "$T/err")" "no job $a in flight"
out=$(mcp atlas.schedule.migrate "{\"job\": \"$b\", \"node\": \"m2\"}")
expect_eq "over MCP a refusal is a tool error with the reason" "$(echo "$out" | j '[d["isError"], "not idempotent" in d["content"][0]["text"]]')" "[True, True]"
expect_eq "nothing moved" "$(job_node "$b") $(job_node "$c")" "m1 m1"

# drain --migrate: the idempotent job moves, the other finishes on m1
out=$(atlas --json node drain m1 --migrate)
expect_eq "drain --migrate moved one job and kept the other" "$(echo "$out" | j '[d["status"], [(m["job_id"], m["to"]) for m in d["migrated"]], [k["job_id"] for k in d["kept"]]]')" "['draining', [('$c', 'm2')], ['$b']]"
expect_contains "and says why it kept it" "$(echo "$out" | j 'd["kept"][0]["why"]')" "not idempotent"
wait_job_on "$c" m2 running
expect_eq "the moved job runs on m2, its second attempt" "$(curl -s "$ATLAS_URL/api/v1/jobs/$c" | j '[d["attempts"], [(m["from"], m["to"], m["how"]) for m in d["meta"]["migrated"]]]')" "[2, [('m1', 'm2', 'atlas node drain --migrate')]]"
expect_eq "the kept job still runs on m1" "$(job_node "$b") $(job_state "$b")" "m1 running"
expect_eq "m1 is draining while it does" "$(node_status m1)" "draining"
atlas cancel "$b" >/dev/null
wait_node m1 drained
atlas cancel "$c" >/dev/null
atlas node undrain m1 >/dev/null

# from the control plane's own node to a node
d=$(atlas run idem --async --input '{"ms": 2500}')
wait_job_on "$d" local running
out=$(mcp atlas.schedule.migrate "{\"job\": \"$d\", \"node\": \"m1\"}")
expect_eq "a job of the local node moves to a node (atlas.schedule.migrate, MCP)" "$(echo "$out" | j '[d["structuredContent"]["from"], d["structuredContent"]["to"]]')" "['local', 'm1']"
wait_job_state "$d" completed
expect_eq "and completes there, once" "$(curl -s "$ATLAS_URL/api/v1/jobs/$d" | j '[d["attempts"], d["meta"]["node"], d["output"]["ms"]]')" "[2, 'm1', 2500]"
finish_nodes
