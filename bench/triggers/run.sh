#!/bin/bash
# bench/triggers (issue 15, docs/performance.md "Triggers"): webhook
# deliveries acknowledged with their job id (202, respond: async) at 64
# clients against a plain nginx answering 204 on the same machine (the
# ceiling of an HTTP server doing nothing), in one run; then 1,000 cron
# triggers firing in the same second.  Not a test: prints results and writes
# bench/out/triggers.json.  Needs `make build`; nginx is optional (apt-get
# install nginx-light), the ceiling is skipped without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
N=${N:-20000}
C=${C:-64}
CRON=${CRON:-1000}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
T=$(mktemp -d /tmp/atlas-bench.XXXXXX)
cleanup() {
    [ -n "${APID:-}" ] && kill "$APID" 2>/dev/null || true
    [ -s "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
gcc -O2 -o "$T/load" bench/load.c
# the job queue holds every delivery's job: a full queue answers 503
# (backpressure, execution.max_queue), which is not what this measures
cat >"$T/config.yaml" <<'YAML'
execution:
  max_queue: 200000
YAML
"$BUILD/atlasd" --data "$T/data" --listen 127.0.0.1:0 --log-level warn --config "$T/config.yaml" \
    >"$T/atlasd.log" 2>&1 &
APID=$!
while [ ! -s "$T/data/atlasd.url" ]; do sleep 0.05; done
URL=$(cat "$T/data/atlasd.url")
ATLAS_TOKEN=$(cat "$T/data/admin.token")
export ATLAS_TOKEN
"$BUILD/atlas" --url "$URL" register examples/agents/echo-c >/dev/null
cat >"$T/hook.yaml" <<'YAML'
trigger:
  name: "bench-hook"
  type: webhook
  path: "/hooks/bench"
  target:
    agent: "echo-c"
  input_map:
    x: "$.body.x"
YAML
"$BUILD/atlas" --url "$URL" trigger register "$T/hook.yaml" >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"x": 1}' "$URL/hooks/bench")
[ "$code" = 202 ] || { echo "bench/triggers: the webhook answered $code, not 202" >&2; exit 1; }

results="{}"
add() { results=$(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=json.loads(sys.argv[3]); print(json.dumps(d))" "$results" "$1" "$2"); echo "$1: $2"; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$NGINX" ]; then
    PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$T/nginx"
    cat >"$T/nginx.conf" <<CONF
worker_processes auto;
pid $T/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body;
    server { listen 127.0.0.1:$PORT; location / { return 204; } }
}
CONF
    "$NGINX" -c "$T/nginx.conf" -p "$T/nginx"
    while ! curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do sleep 0.05; done
    "$T/load" "http://127.0.0.1:$PORT/hooks/bench" '{"x": 1}' "$C" 2000 >/dev/null
    add "nginx.204.c$C" "$("$T/load" "http://127.0.0.1:$PORT/hooks/bench" '{"x": 1}' "$C" "$N")"
fi
"$T/load" "$URL/hooks/bench" '{"x": 1}' "$C" 2000 >/dev/null
add "atlas.webhook.c$C" "$("$T/load" "$URL/hooks/bench" '{"x": 1}' "$C" "$N")"
add "atlas.webhook.c1" "$("$T/load" "$URL/hooks/bench" '{"x": 1}' 1 3000)"
add "cron" "$(/usr/bin/python3 bench/triggers/cron.py "$URL" "$ATLAS_TOKEN" "$CRON")"
echo "$results" >"$OUT/triggers.json"
