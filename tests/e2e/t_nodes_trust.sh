#!/bin/bash
# A node judges the agents it fetches by its own trust and registry.policy
# (docs/scheduling.md "Agent files"): the signatures go over the wire with
# the files.  The node (allow_unsigned: false, publisher my-org's key
# trusted) runs an agent signed by my-org on the control plane (atlas push
# --sign to the control plane's own /v2/), verified, and refuses an
# unsigned one, naming the rule.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
export XDG_CONFIG_HOME=$T/config
export ATLAS_OCI_CACHE=$T/cache
export ATLAS_REGISTRY_AUTH=$T/auth.json
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
YAML
start_daemon --config "$T/config.yaml"
atlas register --path "$(with_hw "$AGENTS/idem" signed8 'min_memory_gb: 8')" >/dev/null 2>&1
atlas register --path "$(with_hw "$AGENTS/idem" plain8 'min_memory_gb: 8')" >/dev/null 2>&1
pubkey=$(atlas --json key create my-org | j 'd["public"]')
CPH=${ATLAS_URL#http://}
printf '%s\n' "$ATLAS_TOKEN" | atlas login "$CPH" --username atlas >/dev/null
run_rc rc atlas push "$CPH/signed8:1.0.0" --agent signed8:1.0.0 --sign --key my-org --quiet
expect_eq "the agent is signed on the control plane (push --sign to its own /v2/)" "$rc" "0"

start_node t1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}
registry:
  policy: {allow_unsigned: false}'
wait_node t1 ready
wait_connected t1
NURL=$(cat "$T/n-t1/atlasd.url")
NTOK=$(cat "$T/n-t1/admin.token")
ATLAS_TOKEN=$NTOK atlas --url "$NURL" trust add my-org "$pubkey" >/dev/null

out=$(atlas --json run signed8 --input '{"ms": 10}')
expect_eq "the node runs the signed agent" "$(echo "$out" | j 'd["ms"]')" "10"
expect_eq "verified by the node's own trust" "$(curl -s -H "Authorization: Bearer $NTOK" "$NURL/api/v1/agents/signed8" | j '(d["trust"]["signed"], d["trust"]["verified"], d["trust"]["publisher"])')" "(True, True, 'my-org')"
run_rc rc atlas run plain8 --input '{"ms": 10}'
expect_eq "the unsigned one fails on that node" "$rc" "1"
expect_contains "naming the node's rule" "$(cat "$T/err" "$T/out")" "allow_unsigned"
finish_nodes
