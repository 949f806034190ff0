#!/bin/bash
# bench/nodes (issue 13, docs/performance.md "Dispatch to a node"): a sync run
# of the no-op C agent (echo-c) through the control plane, placed on its own
# node (`local`) and on a node agent joined over loopback (node_affinity), one
# client then 8, in one run; and the node agent's idle RSS.  Not a test:
# prints results and writes bench/out/nodes.json.  Needs `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
N=${N:-3000}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
T=$(mktemp -d /tmp/atlas-bench.XXXXXX)
cleanup() {
    [ -n "${NPID:-}" ] && kill "$NPID" 2>/dev/null || true
    [ -n "${APID:-}" ] && kill "$APID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
gcc -O2 -o "$T/load" bench/load.c
"$BUILD/atlasd" --data "$T/data" --listen 127.0.0.1:0 --log-level warn >"$T/atlasd.log" 2>&1 &
APID=$!
while [ ! -s "$T/data/atlasd.url" ]; do sleep 0.05; done
URL=$(cat "$T/data/atlasd.url")
ATLAS_TOKEN=$(cat "$T/data/admin.token")
export ATLAS_TOKEN
A="$BUILD/atlas --url $URL"
$A register examples/agents/echo-c >/dev/null
# the same agent, pinned to the node
mkdir -p "$T/echo-node"
cp -r examples/agents/echo-c/. "$T/echo-node/"
/usr/bin/python3 - "$T/echo-node/agent.yaml" <<'PY'
import sys
p = sys.argv[1]
y = open(p).read().replace('name: "echo-c"', 'name: "echo-node"', 1)
y = y.replace("  hardware:\n", "  hardware:\n    node_affinity: bench-node\n", 1)
open(p, "w").write(y)
PY
$A register "$T/echo-node" >/dev/null
TOK=$($A --json token create --name node-bench --role node --node bench-node | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
ATLAS_NODE_TOKEN=$TOK "$BUILD/atlasd" node --join "$URL" --name bench-node --data "$T/node" \
    --log-level warn >"$T/node.log" 2>&1 &
NPID=$!
for _ in $(seq 1 200); do
    $A --json nodes | grep -q '"bench-node"' && break
    sleep 0.05
done
body='{"x": 1}'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ATLAS_TOKEN" -H 'Content-Type: application/json' -d "$body" "$URL/api/v1/agents/echo-node/run")
[ "$code" = 200 ] || { echo "bench/nodes: a run on the node answered $code" >&2; cat "$T/node.log" >&2; exit 1; }
results="{}"
add() { results=$(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=json.loads(sys.argv[3]); print(json.dumps(d))" "$results" "$1" "$2"); echo "$1: $2"; }
for c in 1 8; do
    "$T/load" "$URL/api/v1/agents/echo-c/run" "$body" "$c" 300 "Authorization: Bearer $ATLAS_TOKEN" >/dev/null
    "$T/load" "$URL/api/v1/agents/echo-node/run" "$body" "$c" 300 "Authorization: Bearer $ATLAS_TOKEN" >/dev/null
    add "local.c$c" "$("$T/load" "$URL/api/v1/agents/echo-c/run" "$body" "$c" "$N" "Authorization: Bearer $ATLAS_TOKEN")"
    add "node.c$c" "$("$T/load" "$URL/api/v1/agents/echo-node/run" "$body" "$c" "$N" "Authorization: Bearer $ATLAS_TOKEN")"
done
# the node agent idle: its pool holds one echo-c process, nothing runs
sleep 3
add "node_idle_rss_kib" "$(awk '/^VmRSS/{print $2}' "/proc/$NPID/status")"
# what the RSS is: the node's own memory (anonymous) and the shared
# libraries' pages (file), and its proportional share (PSS: a page shared
# with the control plane counts half)
add "node_idle_anon_kib" "$(awk '/^RssAnon/{print $2}' "/proc/$NPID/status")"
add "node_idle_file_kib" "$(awk '/^RssFile/{print $2}' "/proc/$NPID/status")"
add "node_idle_pss_kib" "$(awk '/^Pss:/{print $2}' "/proc/$NPID/smaps_rollup")"
add "node_threads" "$(awk '/^Threads/{print $2}' "/proc/$NPID/status")"
awk '/^[0-9a-f]+-[0-9a-f]+ /{n=$6} /^Rss:/{r[n]+=$2} END{for(k in r) if (r[k]>=300) printf "%6d KiB %s\n", r[k], (k==""?"[anonymous]":k)}' \
    "/proc/$NPID/smaps" | sort -rn >"$OUT/nodes-rss-map.txt"
echo "$results" >"$OUT/nodes.json"
/usr/bin/python3 - "$OUT/nodes.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in (1, 8):
    l, n = d["local.c%d" % c], d["node.c%d" % c]
    print("c=%d: node p50 %d us vs local %d us: added %d us; throughput %.2fx of local"
          % (c, n["p50_us"], l["p50_us"], n["p50_us"] - l["p50_us"], n["rps"] / l["rps"]))
print("node agent idle RSS: %.1f MiB (anonymous %.1f, shared libraries and binary %.1f; PSS %.1f MiB; %d threads)"
      % (d["node_idle_rss_kib"] / 1024, d["node_idle_anon_kib"] / 1024, d["node_idle_file_kib"] / 1024,
         d["node_idle_pss_kib"] / 1024, d["node_threads"]))
PY
