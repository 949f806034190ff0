#!/bin/bash
# bench/dispatch: dispatch latency and throughput of atlasd for a C agent
# (echo-c) and the Python summarizer, over HTTP and the CLI, warm and cold,
# side by side with Celery on Redis running a no-op task.  Not a test: it
# prints results and writes bench/out/dispatch.json.  Needs `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${N:-5000}          # requests per throughput point
SEQ=${SEQ:-2000}      # sequential requests for latency
OUT=$ROOT/bench/out
mkdir -p "$OUT"
T=$(mktemp -d /tmp/atlas-bench.XXXXXX)
cleanup() {
    [ -n "${APID:-}" ] && kill "$APID" 2>/dev/null || true
    [ -n "${CPID:-}" ] && kill "$CPID" 2>/dev/null || true
    [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
gcc -O2 -o "$T/load" bench/load.c

# ---- atlasd ----
TRACE=${TRACE:-}
cat >"$T/atlas.config.yaml" <<YAML
execution:
  max_concurrent_agents: 64
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
idle_rss=$(awk '/VmRSS/{print $2}' /proc/$APID/status)
idle_pss=$(awk '/^Pss:/{print $2}' /proc/$APID/smaps_rollup)
idle_uss=$(awk '/^Private_(Clean|Dirty):/{s+=$2} END{print s}' /proc/$APID/smaps_rollup)
./build/atlas --url "$URL" register examples/agents/echo-c >/dev/null
./build/atlas --url "$URL" register examples/agents/summarizer >/dev/null
cold=$(mktemp -d "$T/cold.XXXX")
cp -r examples/agents/echo-c/. "$cold/"
sed -i 's/name: "echo-c"/name: "echo-c-cold"/' "$cold/agent.yaml"
printf '  pool:\n    max: 1\n    idle_timeout: 0.01\n' >>"$cold/agent.yaml"
./build/atlas --url "$URL" register "$cold" >/dev/null

results="{}"
add() { results=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=json.loads(sys.argv[3]); print(json.dumps(d))" "$results" "$1" "$2"); echo "$1: $2"; }

body_echo='{"x": 1}'
body_sum='{"text": "Atlas runs agents. It keeps them warm. It validates input and output.", "max_length": 8}'
for agent in echo-c summarizer; do
    body=$body_echo
    [ $agent = summarizer ] && body=$body_sum
    "$T/load" "$URL/api/v1/agents/$agent/run" "$body" 1 200 >/dev/null   # warm up
    add "atlas.$agent.http.seq" "$("$T/load" "$URL/api/v1/agents/$agent/run" "$body" 1 "$SEQ")"
    for c in 1 8 64; do
        add "atlas.$agent.http.c$c" "$("$T/load" "$URL/api/v1/agents/$agent/run" "$body" $c "$N")"
    done
    add "atlas.$agent.cli.seq" "$(python3 bench/dispatch/cli_loop.py ./build/atlas "$URL" $agent "$body" 200)"
done
# cold start: the process is stopped 10 ms after each run
lat=""
for i in $(seq 1 30); do
    s=$(date +%s%N)
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $ATLAS_TOKEN" -H 'Content-Type: application/json' -d '{}' "$URL/api/v1/agents/echo-c-cold/run"
    e=$(date +%s%N)
    lat="$lat $(( (e - s) / 1000 ))"
    sleep 0.1
done
add "atlas.echo-c.http.cold" "$(python3 -c "import json,sys; l=sorted(map(int,sys.argv[1:])); print(json.dumps({'requests': len(l), 'p50_us': l[len(l)//2], 'p99_us': l[-1]}))" $lat)"
busy_rss=$(awk '/VmRSS/{print $2}' /proc/$APID/status)
add "atlas.rss_kib" "{\"idle_rss\": $idle_rss, \"idle_pss\": $idle_pss, \"idle_uss\": $idle_uss, \"after_load_rss\": $busy_rss}"
kill $APID; wait $APID 2>/dev/null || true; APID=

# ---- Celery on Redis ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    >"$T/redis.log" 2>&1 &
RPID=$!
export BENCH_REDIS="redis://127.0.0.1:$port/0"
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
(cd bench/dispatch && /usr/bin/python3 -m celery -A celery_app worker --concurrency "$(nproc)" \
    --pool prefork --loglevel WARNING --without-gossip --without-mingle --without-heartbeat \
    >"$T/celery.log" 2>&1) &
CPID=$!
/usr/bin/python3 -c "
import sys; sys.path.insert(0, 'bench/dispatch')
from celery_app import noop
noop.delay(None).get(timeout=60)"
CN=$(( N / 5 ))
add "celery.noop.seq" "$(/usr/bin/python3 bench/dispatch/celery_load.py 1 $(( SEQ / 4 )))"
for c in 1 8 64; do
    add "celery.noop.c$c" "$(/usr/bin/python3 bench/dispatch/celery_load.py $c $CN)"
done
kill $CPID 2>/dev/null; pkill -f "celery -A celery_app" 2>/dev/null || true
echo "$results" | python3 -m json.tool >"$OUT/dispatch.json"
python3 - "$OUT/dispatch.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a, c = d["atlas.echo-c.http.c64"]["rps"], d["celery.noop.c64"]["rps"]
print(f"\nwarm echo-c over HTTP: p50 {d['atlas.echo-c.http.seq']['p50_us']} us, "
      f"p99 {d['atlas.echo-c.http.seq']['p99_us']} us")
print(f"throughput at 64 clients: atlasd echo-c {a:.0f}/s vs Celery no-op {c:.0f}/s = {a / c:.1f}x")
print(f"sequential latency: atlasd {d['atlas.echo-c.http.seq']['p50_us']} us vs Celery "
      f"{d['celery.noop.seq']['p50_us']} us = {d['celery.noop.seq']['p50_us'] / max(1, d['atlas.echo-c.http.seq']['p50_us']):.1f}x faster")
print(f"idle RSS {d['atlas.rss_kib']['idle_rss'] / 1024:.1f} MiB (PSS {d['atlas.rss_kib']['idle_pss'] / 1024:.1f}, private {d['atlas.rss_kib']['idle_uss'] / 1024:.1f})")
PY

# ---- trace recording off and on (TRACE=1 ./bench/dispatch/run.sh, or run
# bench/dispatch/tracing.sh alone; docs/performance.md, "Tracing") ----
if [ "$TRACE" = "1" ]; then
    bash bench/dispatch/tracing.sh
fi
