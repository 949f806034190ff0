#!/bin/bash
# bench/dispatch/tracing.sh: warm dispatch throughput of atlasd with trace
# recording off (ATLAS_TRACE=0: no trace rows, spans, log capture) and on
# (ATLAS_TRACE=1, the default), in alternating rounds on the same machine.
# Metrics are counted either way.  Prints the median req/s of each and the
# cost of tracing; writes bench/out/tracing.json.  Not a test.  Needs
# `make build`.  N (requests per point), C (clients), ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${N:-20000}
C=${C:-64}
ROUNDS=${ROUNDS:-5}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
T=$(mktemp -d /tmp/atlas-trace-bench.XXXXXX)
APID=
cleanup() {
    [ -n "$APID" ] && kill "$APID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
gcc -O2 -o "$T/load" bench/load.c
cat >"$T/atlas.config.yaml" <<YAML
execution:
  max_concurrent_agents: 64
pool:
  max: 2
YAML
point() { # MODE -> one JSON line from load
    rm -rf "$T/data"
    ATLAS_TRACE=$1 ./build/atlasd --data "$T/data" --listen 127.0.0.1:0 \
        --config "$T/atlas.config.yaml" --log-level warn >"$T/atlasd.log" 2>&1 &
    APID=$!
    while [ ! -s "$T/data/atlasd.url" ]; do sleep 0.05; done
    local url
    url=$(cat "$T/data/atlasd.url")
    ATLAS_TOKEN=$(cat "$T/data/admin.token") # every TCP request needs it
    export ATLAS_TOKEN
    ./build/atlas --url "$url" register examples/agents/echo-c >/dev/null
    "$T/load" "$url/api/v1/agents/echo-c/run" '{"x": 1}' "$C" 2000 >/dev/null # warm up
    "$T/load" "$url/api/v1/agents/echo-c/run" '{"x": 1}' "$C" "$N"
    kill "$APID"
    wait "$APID" 2>/dev/null || true
    APID=
}
off=()
on=()
for r in $(seq 1 "$ROUNDS"); do
    a=$(point 0)
    b=$(point 1)
    off+=("$a")
    on+=("$b")
    echo "round $r: off $(echo "$a" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))') req/s," \
        "on $(echo "$b" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))') req/s"
done
python3 - "$OUT/tracing.json" "$N" "$C" "${off[@]}" -- "${on[@]}" <<'PY'
import json, statistics, sys
out, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rest = sys.argv[4:]
k = rest.index("--")
off = [json.loads(x) for x in rest[:k]]
on = [json.loads(x) for x in rest[k + 1:]]
mo = statistics.median(x["rps"] for x in off)
mn = statistics.median(x["rps"] for x in on)
p50o = statistics.median(x["p50_us"] for x in off)
p50n = statistics.median(x["p50_us"] for x in on)
res = {"requests": n, "clients": c, "rounds": len(off), "off_rps": mo, "on_rps": mn,
       "off_p50_us": p50o, "on_p50_us": p50n, "cost_pct": (mo - mn) / mo * 100,
       "off": off, "on": on}
json.dump(res, open(out, "w"), indent=2)
print(f"warm echo-c, {c} clients, {n} requests, median of {len(off)} rounds:")
print(f"  tracing off: {mo:.0f} req/s (p50 {p50o} us)")
print(f"  tracing on:  {mn:.0f} req/s (p50 {p50n} us)")
print(f"  cost of tracing: {res['cost_pct']:.1f}% of throughput")
PY
