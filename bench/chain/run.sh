#!/bin/bash
# bench/chain: what composition costs.  A 10-step chain of echo-c agents
# against a single run (per-step orchestration overhead), and a spawn fan-out
# of 1,000 children; side by side with the same pipeline as a Celery chain and
# group on Redis.  Not a test: prints results, writes bench/out/chain.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
REPS=${REPS:-200}
FAN=${FAN:-1000}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
T=$(mktemp -d /tmp/atlas-bench-chain.XXXXXX)
cleanup() {
    [ -n "${APID:-}" ] && kill "$APID" 2>/dev/null || true
    [ -n "${CPID:-}" ] && kill "$CPID" 2>/dev/null || true
    [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
    pkill -f "celery -A celery_app" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
gcc -O2 -o "$T/load" bench/load.c

cat >"$T/atlas.config.yaml" <<YAML
execution:
  max_concurrent_agents: 64
  max_spawn_depth: 5
pool:
  max: 2
YAML
./build/atlasd --data "$T/data" --listen 127.0.0.1:0 --config "$T/atlas.config.yaml" \
    --log-level warn >"$T/atlasd.log" 2>&1 &
APID=$!
while [ ! -s "$T/data/atlasd.url" ]; do sleep 0.05; done
URL=$(cat "$T/data/atlasd.url")
ATLAS_TOKEN=$(cat "$T/data/admin.token") # every TCP request needs it
export ATLAS_TOKEN
./build/atlas --url "$URL" register examples/agents/echo-c >/dev/null
./build/atlas --url "$URL" register tests/agents/fanout >/dev/null
{
    echo "chain:"
    echo "  name: ten-echoes"
    echo "  steps:"
    for i in $(seq 1 10); do echo "    - agent: echo-c"; done
} >"$T/ten.yaml"
./build/atlas --url "$URL" chain register "$T/ten.yaml" >/dev/null

results="{}"
add() { results=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=json.loads(sys.argv[3]); print(json.dumps(d))" "$results" "$1" "$2"); echo "$1: $2"; }

"$T/load" "$URL/api/v1/agents/echo-c/run" '{"x": 1}' 1 300 >/dev/null
"$T/load" "$URL/api/v1/chains/ten-echoes/run" '{"x": 1}' 1 50 >/dev/null
add "atlas.single" "$("$T/load" "$URL/api/v1/agents/echo-c/run" '{"x": 1}' 1 "$((REPS * 5))")"
add "atlas.chain10" "$("$T/load" "$URL/api/v1/chains/ten-echoes/run" '{"x": 1}' 1 "$REPS")"
add "atlas.chain10.c8" "$("$T/load" "$URL/api/v1/chains/ten-echoes/run" '{"x": 1}' 8 "$((REPS * 2))")"
"$T/load" "$URL/api/v1/agents/fanout/run" '{"n": 10}' 1 2 >/dev/null
add "atlas.fanout" "$("$T/load" "$URL/api/v1/agents/fanout/run" "{\"n\": $FAN}" 1 3)"
kill $APID; wait $APID 2>/dev/null || true; APID=

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >"$T/redis.log" 2>&1 &
RPID=$!
export BENCH_REDIS="redis://127.0.0.1:$port/0"
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
(cd bench/dispatch && /usr/bin/python3 -m celery -A celery_app worker --concurrency "$(nproc)" \
    --pool prefork --loglevel WARNING --without-gossip --without-mingle --without-heartbeat \
    >"$T/celery.log" 2>&1) &
CPID=$!
add "celery.single" "$(/usr/bin/python3 bench/chain/celery_compose.py chain 1 "$REPS")"
add "celery.chain10" "$(/usr/bin/python3 bench/chain/celery_compose.py chain 10 "$((REPS / 4))")"
add "celery.group" "$(/usr/bin/python3 bench/chain/celery_compose.py group "$FAN" 3)"
echo "$results" | python3 -m json.tool >"$OUT/chain.json"
python3 - "$OUT/chain.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a1, a10 = d["atlas.single"]["p50_us"], d["atlas.chain10"]["p50_us"]
c1, c10 = d["celery.single"]["p50_us"], d["celery.chain10"]["p50_us"]
print(f"\nper-step overhead (10-step chain vs one run): atlasd {(a10 - a1) / 9:.0f} us, "
      f"Celery {(c10 - c1) / 9:.0f} us ({(c10 - c1) / max(1, a10 - a1):.1f}x)")
fa, fc = d["atlas.fanout"]["p50_us"], d["celery.group"]["p50_us"]
print(f"fan-out of {1000} children: atlasd {fa / 1000:.0f} ms, Celery group {fc / 1000:.0f} ms "
      f"({fc / fa:.1f}x)")
PY
