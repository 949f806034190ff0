#!/bin/bash
# A starting daemon answers health and nothing else: with the start held
# after the HTTP server is serving (ATLAS_TEST_HOLD_START) and before the
# engine exists, every route of docs/api.md gets a 503 not-ready problem
# with Retry-After (never a crash: POST /api/v1/jobs/ID/cancel used to
# dereference the missing engine), health says live but not ready, and
# once released the same requests are served and recovery has run.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
execution:
  max_concurrent_agents: 1
YAML

# jobs to recover: one running, one queued, then kill -9
start_daemon --config "$T/config.yaml"
atlas register --path "$AGENTS/slow" >/dev/null
running=$(atlas run --async slow --input '{"ms": 60000}')
queued=$(atlas run --async slow --input '{"ms": 60000}')
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/jobs/$running' | grep -q '\"state\": *\"running\"'"
expect_eq "a job running before the crash" "$(curl -s "$ATLAS_URL/api/v1/jobs/$running" | j 'd["state"]')" "running"
kill9_daemon

# start again, held after the HTTP server is up
rm -f "$DATA/atlasd.url"
: >"$T/atlasd.log"
ATLAS_TEST_HOLD_START=$T/go "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 --config "$T/config.yaml" >>"$T/atlasd.log" 2>&1 &
DAEMON_PID=$!
url=
for _ in $(seq 1 400); do
    url=$(sed -n 's/.*serving on \(http:[^ ]*\) while starting.*/\1/p' "$T/atlasd.log" | tail -n 1)
    [ -n "$url" ] && grep -q "holding the start" "$T/atlasd.log" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$url" ]; then
    fail "the daemon says where it serves while starting"
    finish
    exit 1
fi
ATLAS_URL=$url
export ATLAS_URL
expect_eq "no atlasd.url before ready" "$([ -e "$DATA/atlasd.url" ] && echo yes || echo no)" "no"

# ask METHOD PATH [BODY]: status, problem type and Retry-After of one request
ask() {
    m=$1 p=$2 b=${3:-}
    args=(-s -o "$T/abody" -D "$T/ahead" -w '%{http_code}' --max-time 20 -X "$m")
    [ -n "$b" ] && args+=(-H 'Content-Type: application/json' --data-binary "$b")
    code=$(curl "${args[@]}" "$ATLAS_URL$p" || echo "000")
    type=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get("type",""))
except Exception: print("")' "$T/abody")
    retry=$(grep -i '^Retry-After:' "$T/ahead" | tr -d '\r' | awk '{print $2}')
    echo "$code $type ${retry:-none}"
}

routes=(
    "GET /api/v1/agents"
    "POST /api/v1/agents {\"path\":\"$AGENTS/slow\"}"
    "GET /api/v1/agents/slow"
    "DELETE /api/v1/agents/slow"
    "GET /api/v1/search?q=slow"
    "POST /api/v1/agents/slow/run {\"ms\":1}"
    "GET /api/v1/jobs"
    "GET /api/v1/jobs/$running"
    "POST /api/v1/jobs/$running/cancel"
    "POST /api/v1/jobs/$queued/cancel {\"reason\":\"start\"}"
    "DELETE /api/v1/jobs/$queued"
    "GET /api/v1/jobs/$running/events"
    "GET /api/v1/jobs/$running/logs"
    "GET /api/v1/chains"
    "POST /api/v1/chains {\"yaml\":\"x\"}"
    "GET /api/v1/chains/c"
    "DELETE /api/v1/chains/c"
    "POST /api/v1/chains/c/run {}"
    "POST /api/v1/run {\"input\":{}}"
    "GET /api/v1/orchestrator"
    "PUT /api/v1/orchestrator {\"agent\":\"slow\"}"
    "DELETE /api/v1/orchestrator"
    "GET /api/v1/traces"
    "GET /api/v1/traces/$running"
    "GET /api/v1/costs"
    "GET /api/v1/evals"
    "POST /api/v1/evals {\"yaml\":\"x\"}"
    "GET /api/v1/evals/results"
    "GET /api/v1/evals/e"
    "DELETE /api/v1/evals/e"
    "POST /api/v1/evals/e/run {\"job\":\"$running\"}"
    "GET /metrics"
    "POST /mcp {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"
    "GET /mcp"
    "DELETE /mcp"
    "POST /v1/chat/completions {\"messages\":[]}"
    "GET /v1/models"
    "GET /v1/atlas/stats"
    "GET /v1/atlas/usage"
)
bad=
for route in "${routes[@]}"; do
    read -r m p b <<<"$route"
    got=$(ask "$m" "$p" "$b")
    if [ "$got" != "503 urn:atlas:error:not-ready 1" ]; then
        bad="$bad [$m $p: $got]"
    fi
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        bad="$bad [the daemon died at $m $p]"
        break
    fi
done
expect_eq "while starting every route is 503 not-ready with Retry-After" "${bad:-none}" "none"
expect_eq "the daemon is alive" "$(kill -0 "$DAEMON_PID" 2>/dev/null && echo alive)" "alive"

http GET /api/v1/health
expect_eq "health while starting: 503" "$HTTP_CODE" 503
expect_eq "health: live, not ready" "$(echo "$HTTP_BODY" | j 'd["status"], d["live"], d["ready"]')" "starting True False"
expect_eq "health keeps what atlas health shows" "$(echo "$HTTP_BODY" | j 'all(k in d for k in ("version","uptime_s","data_dir","agents","store_writer"))')" "True"
http GET /api/v1/health/live
expect_eq "health/live while starting: 200" "$HTTP_CODE" 200
http GET /api/v1/health/ready
expect_eq "health/ready while starting: 503" "$HTTP_CODE" 503
expect_eq "404 is still a 404 while starting" "$(ask GET /api/v1/nope)" "404 urn:atlas:error:not-found none"
run_rc rc atlas health
expect_eq "atlas health fails while starting" "$rc" 1
expect_contains "and says starting" "$(cat "$T/out")" "starting"

# release the start
touch "$T/go"
wait_for test -s "$DATA/atlasd.url" || fail "the daemon became ready"
http GET /api/v1/health
expect_eq "health once ready: 200" "$HTTP_CODE" 200
expect_eq "health: live and ready" "$(echo "$HTTP_BODY" | j 'd["status"], d["live"], d["ready"], "engine" in d')" "ok True True True"
http GET /api/v1/health/ready
expect_eq "health/ready once ready: 200" "$HTTP_CODE" 200
expect_eq "the running job was recovered as failed" "$(curl -s "$ATLAS_URL/api/v1/jobs/$running" | j 'd["state"], d["error"]["type"]')" "failed urn:atlas:error:daemon-restart"
http POST "/api/v1/jobs/$running/cancel"
expect_eq "cancelling the failed job: 409" "$HTTP_CODE" 409
http POST "/api/v1/jobs/$queued/cancel"
expect_eq "cancelling the requeued job: 202" "$HTTP_CODE" 202
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/jobs/$queued' | grep -q '\"state\": *\"cancelled\"'" || true
expect_eq "and it is cancelled" "$(curl -s "$ATLAS_URL/api/v1/jobs/$queued" | j 'd["state"]')" "cancelled"
run_rc rc atlas health
expect_eq "atlas health once ready" "$rc" 0
finish
