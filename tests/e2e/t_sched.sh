#!/bin/bash
# Placement on the single node (docs/scheduling.md): node.resources fakes two
# 24 GB GPUs and 64 GB; a GPU agent is placed on `local` with its GPU and the
# explanation stored on the job (atlas schedule explain, GET .../placement);
# --dry-run explains without running; an agent no node fits waits
# unschedulable with the per-node reason and fails after
# scheduling.unschedulable_timeout.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
node:
  labels: {zone: lab}
  resources:
    memory_gb: 64
    gpus:
      - {device: nvidia-rtx-4090, vram_gb: 24, index: 0}
      - {device: nvidia-rtx-4090, vram_gb: 24, index: 1}
scheduling:
  strategy: bin_pack
  resource_reservation: {gpu_headroom_pct: 10, memory_headroom_pct: 15}
  unschedulable_timeout: 0.5
YAML
start_daemon --config "$T/config.yaml"

mk() { # mk NAME HARDWARE_YAML
    d=$(copy_agent "$EXAMPLES/word-count" "$1")
    /usr/bin/python3 - "$d/agent.yaml" "$1" "$2" <<'PY'
import re, sys
path, name, hw = sys.argv[1:]
y = open(path).read().replace('name: "word-count"', 'name: "%s"' % name)
y = re.sub(r"  hardware:\n(    .*\n)+", "  hardware:\n" + "".join("    %s\n" % l for l in hw.split(";")), y)
open(path, "w").write(y)
PY
    echo "$d"
}
atlas register --path "$(mk modeler 'gpu: true;gpu_vram_gb: 16;min_memory_gb: 32')" >/dev/null 2>&1
atlas register --path "$(mk huge 'gpu_vram_gb: 40')" >/dev/null 2>&1

out=$(atlas --json schedule explain --dry-run modeler)
expect_eq "a dry run places the GPU agent on local, GPU 0" "$(echo "$out" | j '[d["status"], d["node"], d["gpu_index"], d["dry_run"]]')" "['placed', 'local', 0, True]"
expect_eq "nothing ran" "$(atlas jobs --json | j 'len(d["jobs"])')" "0"
expect_contains "the table names the node and its score" "$(atlas schedule explain --dry-run modeler)" "local                    ready      winner"

expect_eq "it runs" "$(atlas --json run modeler --input '{"text": "a b c"}' | j 'd["words"]')" "3"
job=$(atlas jobs --json | j '[x for x in d["jobs"] if x["agent"].startswith("modeler")][0]["id"]')
out=$(atlas --json schedule explain "$job")
expect_eq "its placement is stored on the job" "$(echo "$out" | j '[d["status"], d["node"], d["live"], d["requirements"]["gpu_vram_gb"]]')" "['placed', 'local', False, 16.0]"
http GET "/api/v1/jobs/$job/placement"
expect_eq "GET /jobs/ID/placement" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["nodes"][0]["verdict"]')" "200 winner"
expect_eq "the job's meta names its node" "$(atlas --json job "$job" | j 'd["meta"]["node"]')" "local"

# 40 GB on one GPU: no node has it
http POST /api/v1/agents/huge/run '{"text": "a"}'
expect_eq "an agent no node fits fails unschedulable after the timeout" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["type"]')" "503 urn:atlas:error:unschedulable"
expect_contains "with each node's reason" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "local: needs a GPU with 40 GB VRAM (hardware.gpu_vram_gb); the largest of local's 2 GPUs has 24.0 GB"
hj=$(echo "$HTTP_BODY" | j 'd["job"]')
expect_eq "explain shows the rule" "$(atlas --json schedule explain "$hj" | j '[d["status"], d["nodes"][0]["rule"]]')" "['unschedulable', 'gpu_vram_gb']"
http POST /api/v1/schedule/explain '{"agent": "nope"}'
expect_eq "a dry run of an unknown agent is 404" "$HTTP_CODE" "404"
http GET /api/v1/health
expect_eq "health shows the overridden GPUs" "$(echo "$HTTP_BODY" | j 'len(d["machine"]["gpus"])')" "2"
finish
