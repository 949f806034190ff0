#!/bin/bash
# Chains across nodes and drain (docs/scheduling.md): a three-step chain
# whose steps are pinned to n1, n2 and local runs each step on its node,
# outputs travel through the control plane, and the trace shows each
# step's node; atlas node drain keeps new work off a node while its
# running job finishes, then it is drained; undrain; rm is refused while a
# job runs there and forgets the node after.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 4, memory_gb: 8, gpus: []}
scheduling:
  strategy: bin_pack
  node_failure: {detection_timeout: 5}
YAML
start_daemon --config "$T/config.yaml"
NODE_TOKEN=$(new_token nodes node)
start_node n1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
start_node n2 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node n1 ready
wait_node n2 ready
wait_connected n1
wait_connected n2

atlas register --path "$(mk_agent wc-a 'node_affinity: n1')" >/dev/null 2>&1
atlas register --path "$(mk_agent wc-b 'node_affinity: n2')" >/dev/null 2>&1
atlas register --path "$(mk_agent wc-c 'node_affinity: local')" >/dev/null 2>&1
cat >"$T/span.yaml" <<'YAML'
chain:
  name: span
  steps:
    - agent: wc-a
      input_map: {text: "$.trigger.text"}
    - agent: wc-b
      input_map: {text: "$.trigger.text"}
    - agent: wc-c
      input_map: {text: "$.trigger.text", top: "$.steps[1].output.words"}
YAML
atlas chain register "$T/span.yaml" >/dev/null
out=$(atlas --json chain run span --input '{"text": "to be or not to be"}')
expect_eq "the chain's last step used the output of the step before (from n2)" "$(echo "$out" | j '[d["words"], len(d["top_words"])]')" "[6, 4]"
cj=$(atlas jobs --json | j '[x for x in d["jobs"] if x.get("kind") == "chain"][0]["id"]')
tr=$(atlas --json trace "$cj")
expect_eq "the trace shows each step's node" "$(echo "$tr" | j 'sorted((s["agent"], s["node"]) for s in d["spans"][0]["children"])')" "[('wc-a', 'n1'), ('wc-b', 'n2'), ('wc-c', 'local')]"
expect_contains "the waterfall names the remote nodes" "$(atlas trace "$cj")" "on n2"

# drain
atlas register --path "$(with_hw "$AGENTS/slow" slow8 'min_memory_gb: 16')" >/dev/null 2>&1
s1=$(atlas run slow8 --async --input '{"ms": 5000}')
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/jobs/$s1' | grep -q '\"node\": *\"n[12]\"'"
wait_job_state "$s1" running
on=$(job_node "$s1")
other=$([ "$on" = n1 ] && echo n2 || echo n1)
expect_contains "atlas node drain" "$(atlas node drain "$on")" "node $on: draining (1 job(s) running)"
s2=$(atlas run slow8 --async --input '{"ms": 10}')
wait_job_state "$s2" completed
expect_eq "new work goes elsewhere while it drains" "$(job_node "$s2")" "$other"
expect_eq "the running job is not moved" "$(job_node "$s1") $(node_status "$on")" "$on draining"
run_rc rc atlas node rm "$on"
expect_eq "rm is refused while a job runs there" "$rc $(grep -c 'still runs 1 job' "$T/err")" "1 1"
wait_job_state "$s1" completed
wait_node "$on" drained
pass "once its job ended the node is drained"
expect_eq "a drained node takes nothing" "$(atlas --json schedule explain --dry-run slow8 | j '[n["rule"] for n in d["nodes"] if n["name"] == "'"$on"'"]')" "['state']"
atlas node undrain "$on" >/dev/null
expect_eq "undrain" "$(node_status "$on")" "ready"
atlas node drain "$on" >/dev/null
expect_eq "an idle node drains at once" "$(node_status "$on")" "drained"
atlas node rm "$on" >/dev/null
expect_eq "rm forgets it" "$(atlas --json nodes | j 'sorted(n["name"] for n in d["nodes"])')" "$(python3 -c "print(sorted(['local', '$other']))")"
finish_nodes
