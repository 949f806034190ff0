#!/bin/bash
# Remote nodes (docs/scheduling.md "Nodes"): two node agents join the
# control plane with a node-role token, each with its own data directory,
# port and node.resources; the spec's placement example (the 3d-modeler
# needing a 16 GB GPU and 32 GB lands on gpu-box, the summarizer spreads to
# cpu-worker-1); results and logs come back; atlas nodes / node describe /
# label; GET /api/v1/nodes, /nodes/NAME, /nodes/NAME/health; a non-node
# token cannot join.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nodes_lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  resources: {cpu_cores: 2, memory_gb: 4, gpus: []}
scheduling:
  strategy: spread
  node_failure: {detection_timeout: 3, reschedule_strategy: retry}
YAML
start_daemon --config "$T/config.yaml"
NODE_TOKEN=$(new_token nodes node)

http POST /api/v1/nodes/register '{"name": "sneaky", "profile": {}}' -H "Authorization: Bearer $(new_token v viewer)"
expect_eq "a viewer token cannot join" "$HTTP_CODE" "403"

start_node gpu-box '  labels: {zone: lab}
  resources:
    cpu_cores: 16
    memory_gb: 64
    gpus:
      - {device: nvidia-rtx-4090, vram_gb: 24, index: 0}
      - {device: nvidia-rtx-4090, vram_gb: 24, index: 1}'
start_node cpu-worker-1 '  resources: {cpu_cores: 32, memory_gb: 128, gpus: []}'
wait_node gpu-box ready
wait_node cpu-worker-1 ready
wait_connected gpu-box
wait_connected cpu-worker-1

out=$(atlas --json nodes)
expect_eq "atlas nodes lists local and both nodes" "$(echo "$out" | j 'sorted(n["name"] for n in d["nodes"])')" "['cpu-worker-1', 'gpu-box', 'local']"
expect_contains "the table shows the gpu node" "$(atlas nodes)" "gpu-box"
d=$(atlas node describe gpu-box)
expect_contains "describe prints the profile's GPUs" "$d" "device: nvidia-rtx-4090"
expect_contains "describe says what was overridden" "$d" "overridden:"
expect_contains "describe prints the labels" "$d" "zone: lab"
http GET /api/v1/nodes/gpu-box
expect_eq "GET /nodes/NAME" "$HTTP_CODE $(echo "$HTTP_BODY" | j '[len(d["resources"]["gpus"]), d["resources"]["memory_gb"], d["local"]]')" "200 [2, 64.0, False]"
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/nodes/gpu-box/health' | grep -q memory_total_gb"
http GET /api/v1/nodes/gpu-box/health
expect_eq "GET /nodes/NAME/health carries the node's report" "$HTTP_CODE $(echo "$HTTP_BODY" | j '[d["status"], d["health"]["memory_total_gb"] > 0]')" "200 ['ready', True]"
http GET /api/v1/nodes/nope
expect_eq "an unknown node is 404" "$HTTP_CODE" "404"

atlas register --path "$(mk_agent 3d-modeler 'gpu: true;gpu_vram_gb: 16;min_memory_gb: 32')" >/dev/null 2>&1
atlas register --path "$(mk_agent summarizer 'min_memory_gb: 2')" >/dev/null 2>&1

out=$(atlas --json schedule explain --dry-run 3d-modeler)
expect_eq "the 3d-modeler is placed on gpu-box" "$(echo "$out" | j '[d["status"], d["node"]]')" "['placed', 'gpu-box']"
out=$(atlas --json run 3d-modeler --input '{"text": "a b c d"}')
expect_eq "it runs there and its result comes back" "$(echo "$out" | j 'd["words"]')" "4"
job=$(atlas jobs --json | j '[x for x in d["jobs"] if x["agent"].startswith("3d-modeler")][0]["id"]')
expect_eq "the job's meta names gpu-box" "$(atlas --json job "$job" | j '[d["meta"]["node"], d["state"]]')" "['gpu-box', 'completed']"
expect_eq "the node ran it in its own store" "$(curl -s -H "Authorization: Bearer $(cat "$T/n-gpu-box/admin.token")" "$(cat "$T/n-gpu-box/atlasd.url")/api/v1/jobs" | j '[x["source"] for x in d["jobs"]]')" "['node']"

out=$(atlas --json schedule explain --dry-run summarizer)
expect_eq "the summarizer spreads to cpu-worker-1" "$(echo "$out" | j '[d["status"], d["node"]]')" "['placed', 'cpu-worker-1']"
out=$(atlas --json run summarizer --input '{"text": "one two"}')
expect_eq "and runs there" "$(echo "$out" | j 'd["words"]')" "2"
sj=$(atlas jobs --json | j '[x for x in d["jobs"] if x["agent"].startswith("summarizer")][0]["id"]')
expect_eq "on cpu-worker-1" "$(atlas --json job "$sj" | j 'd["meta"]["node"]')" "cpu-worker-1"

atlas node label cpu-worker-1 tier=batch >/dev/null
expect_eq "atlas node label" "$(atlas --json node describe cpu-worker-1 | j 'd["labels"]["tier"]')" "batch"
atlas register --path "$(mk_agent batcher 'node_labels: {tier: batch}')" >/dev/null 2>&1
expect_eq "a node_labels agent goes to the labelled node" "$(atlas --json schedule explain --dry-run batcher | j 'd["node"]')" "cpu-worker-1"

out=$(mcp atlas.nodes.list '{}')
expect_eq "atlas.nodes.list (MCP)" "$(echo "$out" | j 'sorted(n["name"] for n in d["structuredContent"]["nodes"])')" "['cpu-worker-1', 'gpu-box', 'local']"
out=$(mcp atlas.nodes.status '{"node": "gpu-box"}')
expect_eq "atlas.nodes.status (MCP) carries the node's health" "$(echo "$out" | j '[d["structuredContent"]["status"], d["structuredContent"]["health"]["memory_total_gb"] > 0]')" "['ready', True]"
out=$(mcp atlas.schedule.explain '{"agent": "3d-modeler"}')
expect_eq "atlas.schedule.explain (MCP), a dry run" "$(echo "$out" | j '[d["structuredContent"]["node"], d["structuredContent"]["dry_run"]]')" "['gpu-box', True]"
out=$(mcp atlas.schedule.explain "{\"job\": \"$job\"}")
expect_eq "atlas.schedule.explain (MCP) of a job that ran" "$(echo "$out" | j '[d["structuredContent"]["node"], d["structuredContent"]["live"]]')" "['gpu-box', False]"
out=$(mcp atlas.nodes.drain '{"node": "cpu-worker-1"}')
expect_eq "atlas.nodes.drain (MCP)" "$(echo "$out" | j 'd["structuredContent"]["status"]')" "drained"
expect_eq "the drained node is passed over" "$(atlas --json schedule explain --dry-run summarizer | j 'd["node"]')" "gpu-box"
out=$(mcp atlas.nodes.drain '{"node": "cpu-worker-1", "drain": false}')
expect_eq "and undrained" "$(echo "$out" | j 'd["structuredContent"]["status"]')" "ready"

run_rc rc atlas node rm local
expect_eq "the control plane's own node cannot be removed" "$rc" "1"
finish_nodes
