#!/bin/bash
# Who may speak for a node, and what its jobs count against
# (docs/scheduling.md "Node tokens", "Limits"): a node token is bound to the
# node it joined as (or the one named at creation: atlas token create
# --node); joining, streaming, heartbeats and reports for another node are
# 403 and audited (node.denied).  Jobs on nodes hold a slot of
# execution.max_concurrent_agents: with 1, a second job waits for the first
# to end on its node.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 1, gpus: []}
execution:
  max_concurrent_agents: 1
scheduling:
  node_failure: {detection_timeout: 5}
YAML
start_daemon --config "$T/config.yaml"
atlas register --path "$(with_hw "$AGENTS/idem" ship8 'min_memory_gb: 8')" >/dev/null 2>&1
start_node s1 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node s1 ready
wait_connected s1
http GET /v2/ship8/tags/list "" -H "Authorization: Bearer $(node_token s1)"
expect_eq "a node token may read the registry (to fetch agents)" "$HTTP_CODE" "200"
http GET /api/v1/jobs "" -H "Authorization: Bearer $(node_token s1)"
expect_eq "and nothing else of the read role" "$HTTP_CODE" "403"

# ---- node tokens are bound ----
expect_eq "the token was bound to s1 when s1 joined" "$(curl -s "$ATLAS_URL/api/v1/tokens" | j '[t.get("node") for t in d["tokens"] if t["name"] == "node-s1"]')" "['s1']"
start_node s2 '  resources: {cpu_cores: 8, memory_gb: 32, gpus: []}'
wait_node s2 ready
http POST /api/v1/nodes/s2/heartbeat '{"health": {}}' -H "Authorization: Bearer $(node_token s1)"
expect_eq "s1's token cannot heartbeat for s2" "$HTTP_CODE" "403"
expect_contains "and says why" "$HTTP_BODY" "bound to node s1"
http POST /api/v1/nodes/s2/events '{"events": [{"type": "result", "job_id": "job_x", "dispatch": 1, "code": "ok"}]}' -H "Authorization: Bearer $(node_token s1)"
expect_eq "nor report results for s2" "$HTTP_CODE" "403"
http POST /api/v1/nodes/register '{"name": "s3", "profile": {}}' -H "Authorization: Bearer $(node_token s1)"
expect_eq "nor join as another node" "$HTTP_CODE" "403"
http GET /api/v1/nodes/s2/stream "" -H "Authorization: Bearer $(node_token s1)"
expect_eq "nor take s2's assignments" "$HTTP_CODE" "403"
expect_eq "each refusal is audited" "$(curl -s "$ATLAS_URL/api/v1/audit?event=node.denied" | j 'len(d["records"])')" "4"
http POST /api/v1/nodes/s1/heartbeat '{"health": {}}' -H "Authorization: Bearer $(node_token s1)"
expect_eq "its own node is fine" "$HTTP_CODE" "200"
out=$(atlas --json token create --name pinned --role node --node s9)
expect_eq "atlas token create --node binds at creation" "$(echo "$out" | j 'd["node"]')" "s9"
http POST /api/v1/nodes/register '{"name": "s4", "profile": {}}' -H "Authorization: Bearer $(echo "$out" | j 'd["token"]')"
expect_eq "a token made for s9 cannot join as s4" "$HTTP_CODE" "403"
run_rc rc atlas token create --name vnode --role viewer --node s9
expect_eq "--node is for node tokens only" "$rc $(grep -c 'only a token of role node' "$T/err")" "1 1"

# ---- atlas node join: the token made and bound for it, then atlasd node ----
printf 'node:\n  resources: {cpu_cores: 2, memory_gb: 2, gpus: []}\n' >"$T/j1.yaml"
atlas node join --name j1 --data "$T/n-j1" --config "$T/j1.yaml" >>"$T/node-j1.log" 2>&1 &
NODE_PIDS="$NODE_PIDS $!"
wait_node j1 ready
expect_eq "atlas node join: the node joined, with a token bound to it" \
    "$(curl -s "$ATLAS_URL/api/v1/tokens" | j '[(t["role"], t["node"]) for t in d["tokens"] if t["name"] == "node-j1"]')" "[('node', 'j1')]"
expect_contains "it says where it joined" "$(cat "$T/node-j1.log")" "joining $ATLAS_URL as node j1"
jp=$(pgrep -f -- "--name j1 --data $T/n-j1" | head -1)
expect_eq "the token is not on its command line" "$(tr '\0' ' ' <"/proc/$jp/cmdline" | grep -c atl_ || true)" "0"
run_rc rc atlas node join
expect_eq "atlas node join without --name: a usage error" "$rc" "2"

# ---- jobs on nodes count against max_concurrent_agents (1) ----
a=$(atlas run ship8 --async --input '{"ms": 1500}')
wait_job_on "$a" s1 running
b=$(atlas run ship8 --async --input '{"ms": 10}')
expect_eq "a second job waits for the slot the node job holds" "$(job_state "$b")" "queued"
expect_contains "and says which limit" "$(curl -s "$ATLAS_URL/api/v1/jobs/$b" | j 'd["meta"].get("waited_for", "")')" "max_concurrent_agents (1)"
wait_job_state "$b" completed
fa=$(curl -s "$ATLAS_URL/api/v1/jobs/$a" | j 'd["finished_at"]')
expect_eq "it started only once the node job had ended" "$(curl -s "$ATLAS_URL/api/v1/jobs/$b" | j "d['started_at'] >= '$fa'")" "True"
finish_nodes
