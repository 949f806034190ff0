#!/bin/bash
# Hardware and skills this node lacks (docs/contract.md "hardware"): an
# agent that needs a GPU, more memory or cores, another architecture, a
# device or another node is registered with a warning, refused at run time
# with the reason (they wait for a node, then fail 503 unschedulable after
# scheduling.unschedulable_timeout) over the CLI, HTTP, MCP, chains and spawn, and never chosen by routing; a missing skill is 422
# skill-unavailable.  The machine's facts are faked with ATLAS_SYSINFO_FILE
# (this test runs the same on a machine with a GPU).  Also: atlasd.url.tmp.PID
# files a killed daemon left are removed at start, those of a live atlasd kept.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"

cat >"$T/cpu.json" <<'JSON'
{"cpu_cores": 4, "memory_gb": 16, "architecture": "x86_64", "gpus": [], "devices": ["/dev/null"]}
JSON
cat >"$T/gpu.json" <<'JSON'
{"cpu_cores": 4, "memory_gb": 16, "architecture": "x86_64",
 "gpus": [{"vendor": "nvidia", "model": "NVIDIA RTX 4090", "vram_gb": 24}], "devices": ["/dev/null"]}
JSON
printf 'node:\n  name: cpu-box\n  labels: {zone: lab}\nscheduling:\n  unschedulable_timeout: 0.3\n' >"$T/config.yaml"

# url.tmp files: one of a process that is gone, one of a live process that is
# not atlasd, one of a live atlasd (another daemon on another data directory)
sh -c 'exit 0' &
dead=$!
wait $dead
sleep 300 &
sleeper=$!
mkdir -p "$T/other"
"$BIN/atlasd" --data "$T/other" --listen 127.0.0.1:0 >>"$T/other.log" 2>&1 &
other=$!
wait_for test -s "$T/other/atlasd.url" || { fail "the other atlasd did not start"; }
# shellcheck disable=SC2064
trap "kill $sleeper $other 2>/dev/null || true; cleanup" EXIT
for p in $dead $sleeper $other; do echo x >"$DATA/atlasd.url.tmp.$p"; done
echo x >"$DATA/atlasd.url.tmp.12abc"

export ATLAS_SYSINFO_FILE=$T/cpu.json
start_daemon --config "$T/config.yaml"
expect_eq "a dead daemon's url.tmp is removed at start" "$(test -e "$DATA/atlasd.url.tmp.$dead" && echo kept || echo removed)" "removed"
expect_eq "so is one whose PID is a live process that is not atlasd" "$(test -e "$DATA/atlasd.url.tmp.$sleeper" && echo kept || echo removed)" "removed"
expect_eq "one whose PID is a live atlasd is kept" "$(test -e "$DATA/atlasd.url.tmp.$other" && echo kept || echo removed)" "kept"
expect_eq "a name that is not atlasd.url.tmp.PID is not touched" "$(test -e "$DATA/atlasd.url.tmp.12abc" && echo kept || echo removed)" "kept"
kill -TERM "$other" "$sleeper"
wait "$other" 2>/dev/null || true
wait "$sleeper" 2>/dev/null || true
trap cleanup EXIT
expect_contains "the facts are logged at start" "$(cat "$T/atlasd.log")" "node cpu-box: 4 CPUs, 16.0 GB memory, x86_64, no GPU"

http GET /api/v1/health
expect_eq "health shows the machine's facts" "$(echo "$HTTP_BODY" | j '[d["machine"][k] for k in ("node", "labels", "cpu_cores", "memory_gb", "architecture", "gpus", "devices")]')" "['cpu-box', {'zone': 'lab'}, 4, 16.0, 'x86_64', [], ['/dev/null']]"

# agents: word-count as it is, and copies with hardware this node lacks
mk() { # mk NAME HARDWARE_YAML [DESCRIPTION]: word-count with another hardware block
    d=$(copy_agent "$EXAMPLES/word-count" "$1")
    /usr/bin/python3 - "$d/agent.yaml" "$1" "$2" "${3:-}" <<'PY'
import re, sys
path, name, hw, desc = sys.argv[1:]
y = open(path).read()
y = y.replace('name: "word-count"', 'name: "%s"' % name)
y = re.sub(r"  hardware:\n(    .*\n)+", "  hardware:\n" + "".join("    %s\n" % l for l in hw.split(";")), y)
if desc:
    y = re.sub(r'description: ".*"', 'description: "%s"' % desc, y, count=1)
open(path, "w").write(y)
PY
    echo "$d"
}
gpu=$(mk gpu-count 'gpu: true;gpu_vram_gb: 24' "Counts the words of a text, fast, on a GPU: words count text")
atlas register --path "$EXAMPLES/word-count" >/dev/null

run_rc rc atlas register --path "$gpu"
expect_eq "an agent that needs a GPU still registers" "$rc" 0
expect_contains "with a warning saying what is missing" "$(cat "$T/err")" "atlas: warning: hardware: this machine cannot run it: needs 1 GPU with 24 GB VRAM (hardware.gpu_vram_gb); this machine has none"
http POST /api/v1/agents "{\"path\": \"$gpu\", \"force\": true}"
expect_eq "the API's warnings carry the code and the pointer" "$(echo "$HTTP_BODY" | j '[(w["code"], w.get("pointer")) for w in d["warnings"]]')" "[('hardware-unavailable', '/hardware')]"

# a run: over HTTP, the CLI, MCP
http POST /api/v1/agents/gpu-count/run '{"text": "a b c"}'
expect_eq "a run waits for a node, then fails with 503 (scheduling.unschedulable_timeout)" "$HTTP_CODE" "503"
expect_eq "problem type unschedulable" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:unschedulable"
expect_eq "and the reason" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "agent gpu-count:1.0.0 waited 0.3 s for a node (scheduling.unschedulable_timeout): unschedulable: none of the 1 node fits: cpu-box: needs 1 GPU with 24 GB VRAM (hardware.gpu_vram_gb); cpu-box has none"
http POST /api/v1/agents/gpu-count/run '{"text": "a b c"}' -H 'Prefer: respond-async'
expect_eq "an async run is accepted: the job waits" "$HTTP_CODE" "202"
expect_eq "both are jobs" "$(atlas jobs --json | j 'len([x for x in d["jobs"] if x["agent"].startswith("gpu-count")])')" "2"
run_rc rc atlas run gpu-count --input '{"text": "a b c"}'
expect_eq "atlas run exits non-zero" "$rc" "1"
expect_contains "and says why" "$(cat "$T/err")" "cpu-box: needs 1 GPU with 24 GB VRAM"

mcp() { # mcp TOOL ARGS_JSON -> the CallToolResult (2026-07-28, stateless)
    /usr/bin/python3 - "$ATLAS_URL" "$1" "$2" <<'PY'
import json, os, sys, urllib.request
url, tool, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": tool, "arguments": args, "_meta": meta}}).encode()
req = urllib.request.Request(url + "/mcp", body, {
    "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool,
    "Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]})
text = urllib.request.urlopen(req, timeout=60).read().decode()
if not text.startswith("{"):
    text = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")][-1]
print(json.dumps(json.loads(text)["result"]))
PY
}
out=$(mcp gpu-count '{"text": "a b c"}')
expect_eq "MCP tools/call is a tool error" "$(echo "$out" | j 'd["isError"]')" "True"
expect_contains "with the reason" "$(echo "$out" | j 'd["content"][0]["text"]')" "cpu-box: needs 1 GPU with 24 GB VRAM"
out=$(mcp atlas.exec.spawn '{"agent": "gpu-count", "input": {"text": "a"}}')
expect_contains "atlas.exec.spawn says the same" "$(echo "$out" | j 'd["content"][0]["text"]')" "unschedulable: none of the 1 node fits"
expect_eq "with the code" "$(echo "$out" | j 'd.get("structuredContent", {}).get("code")')" "unschedulable"

# a chain step, and a child spawned by an agent
cat >"$T/gpu-chain.yaml" <<'YAML'
chain:
  name: gpu-chain
  steps:
    - agent: gpu-count
YAML
atlas chain register "$T/gpu-chain.yaml" >/dev/null
http POST /api/v1/chains/gpu-chain/run '{"text": "a b"}'
expect_eq "a chain whose step needs a GPU fails" "$(echo "$HTTP_BODY" | j 'd["state"]')" "failed"
expect_contains "naming the step and the reason" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "step 0 (gpu-count) failed after 1 attempt: agent gpu-count:1.0.0 waited"
atlas register --path "$AGENTS/fanout" >/dev/null
http POST /api/v1/agents/fanout/run '{"n": 1, "agent": "gpu-count"}'
expect_eq "a spawn of it fails the parent" "$(echo "$HTTP_BODY" | j 'd["state"]')" "failed"
# (hardware no longer refuses at submission: fanout's input for it lacks "text")
expect_contains "with the child's reason" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "input missing required property"

# routing: gpu-count names the input's words best, but cannot run here
http POST /api/v1/run '{"input": {"text": "count the words of this text fast"}}'
expect_eq "routing picks the agent that can run" "$(echo "$HTTP_BODY" | j 'd["words"]') $(curl -sS -o /dev/null -D - -X POST -H 'Content-Type: application/json' --data-binary '{"input": {"text": "count the words"}}' "$ATLAS_URL/api/v1/run" | tr -d '\r' | sed -n 's/^Atlas-Routed-To: //Ip')" "7 word-count:1.0.0"
job=$(atlas jobs --json | j '[x for x in d["jobs"] if x["agent"].startswith("word-count")][0]["id"]')
expect_contains "and its decisions say why not gpu-count" "$(atlas --json job "$job" | j 'd["meta"]["decisions"]')" "routing: not gpu-count:1.0.0 (needs 1 GPU with 24 GB VRAM"
atlas unregister word-count >/dev/null
http POST /api/v1/run '{"input": {"text": "count the words"}}'
expect_eq "with only agents that cannot run here: 404" "$HTTP_CODE" "404"
expect_contains "saying they cannot run here" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "1 accept it but cannot run here"

# the other requirements, each with its reason
big=$(mk big-count 'min_memory_gb: 64;min_cpu_cores: 32')
arm=$(mk arm-count 'architecture: "arm64"')
dev=$(mk dev-count 'device_access: ["/dev/null", "/dev/video0"]')
pin=$(mk pin-count 'node_affinity: "gpu-box"')
lab=$(mk lab-count 'node_labels: {zone: lab, tier: high-compute}')
ok=$(mk ok-count 'node_affinity: "cpu-box";node_labels: {zone: lab};device_access: ["/dev/null"];architecture: "x86_64";min_cpu_cores: 4;min_memory_gb: 16')
for a in "$big" "$arm" "$dev" "$pin" "$lab" "$ok"; do atlas register --path "$a" >/dev/null 2>&1; done
why() { http POST "/api/v1/agents/$1/run" '{"text": "a b"}'; echo "$HTTP_CODE $(echo "$HTTP_BODY" | j 'str(d.get("detail", d.get("words"))).split(": cpu-box: ", 1)[-1]')"; }
expect_eq "memory and cores" "$(why big-count)" "503 needs 64 GB of memory (hardware.min_memory_gb); cpu-box has 16.0 GB"
expect_eq "architecture" "$(why arm-count)" "503 needs architecture arm64 (hardware.architecture); cpu-box is x86_64"
expect_eq "a device path" "$(why dev-count)" "503 needs device /dev/video0 (hardware.device_access); cpu-box has no such device"
expect_eq "node affinity to another node" "$(why pin-count)" "503 hardware.node_affinity pins the agent to node \"gpu-box\""
expect_eq "a node label" "$(why lab-count)" "503 needs node label tier=high-compute (hardware.node_labels); cpu-box has no label tier"
expect_eq "what this node has runs" "$(why ok-count)" "200 2"

# skills: warned at registration, 422 skill-unavailable at run time
sk=$(copy_agent "$EXAMPLES/word-count" skilled)
sed -i 's/^  name: "word-count"/  name: "skilled"/; s/^    skills: \[\]/    skills: [web-search]/' "$sk/agent.yaml"
run_rc rc atlas register --path "$sk"
expect_contains "a missing skill warns at registration" "$(cat "$T/err")" 'requires.skills: skill "web-search" is not installed'
http POST /api/v1/agents/skilled/run '{"text": "a b"}'
expect_eq "and its run is 422" "$HTTP_CODE" "422"
expect_eq "skill-unavailable" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:skill-unavailable"
expect_eq "naming the skill" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "agent skilled:1.0.0 requires skill \"web-search\" (requires.skills), which is not installed on this node (atlas skill ls)"
out=$(mcp skilled '{"text": "a"}')
expect_contains "over MCP too" "$(echo "$out" | j 'd["content"][0]["text"]')" "requires skill \"web-search\""

# the same GPU agent on a machine that has the GPU
stop_daemon
export ATLAS_SYSINFO_FILE=$T/gpu.json
start_daemon --config "$T/config.yaml"
http GET /api/v1/health
expect_eq "health shows the GPU" "$(echo "$HTTP_BODY" | j 'd["machine"]["gpus"]')" "[{'vendor': 'nvidia', 'model': 'NVIDIA RTX 4090', 'vram_gb': 24.0}]"
expect_eq "with a 24 GB GPU it runs" "$(atlas --json run gpu-count --input '{"text": "a b c"}' | j 'd["words"]')" "3"
http POST /api/v1/agents/big-count/run '{"text": "a"}'
expect_eq "and what it still lacks is still refused" "$HTTP_CODE" "503"
stop_daemon

# a bad facts file stops the start with its location
printf '{"gpus": [{"vram_gb": 8}]}' >"$T/bad.json"
export ATLAS_SYSINFO_FILE=$T/bad.json
run_rc rc "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0
expect_eq "atlasd refuses a bad facts file" "$rc" "1"
expect_contains "naming the file and the pointer" "$(cat "$T/err")" "bad.json: a GPU needs a vendor"
unset ATLAS_SYSINFO_FILE
finish
