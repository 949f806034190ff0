#!/bin/bash
# /metrics: Prometheus text format checked by Prometheus's own parser and
# linter (`promtool check metrics`, Debian's prometheus package), with jobs
# by state and agent, latency and queue-wait histograms, queue and pool
# gauges, cold starts, model calls, tokens and cost, breaker states, eval
# pass rates, and the monitor's own drop counters.
. "$(dirname "$0")/lib.sh"
if ! command -v promtool >/dev/null 2>&1; then
    log "promtool not found (scripts/install-deps.sh test installs prometheus): skipped"
    exit 77
fi

python3 "$SRC/tests/e2e/fake_openai.py" "$T/model.port" >"$T/model.log" 2>&1 &
P1=$!
trap 'kill $P1 2>/dev/null; cleanup' EXIT
wait_for test -s "$T/model.port"
cat >"$T/atlas.config.yaml" <<YAML
execution:
  circuit_breaker: {failure_threshold: 2, recovery_timeout: 60}
models:
  backends:
    fake:
      base_url: "http://127.0.0.1:$(cat "$T/model.port")/v1"
      models: ["judge-model"]
      prices: {"judge-model": {input_per_mtok: 1.0, output_per_mtok: 2.0}}
  tiers: {fast: ["judge-model"], balanced: ["judge-model"], powerful: ["judge-model"]}
YAML
start_daemon --config "$T/atlas.config.yaml"
caller=$(copy_agent "$SRC/tests/llm/agents/llm-caller" llm-caller)
for a in "$caller" "$EXAMPLES/echo-c" "$EXAMPLES/summarizer" "$AGENTS/raise" "$AGENTS/fanout"; do
    atlas register --path "$a" >/dev/null
done
cat >"$T/e.yaml" <<'YAML'
eval:
  name: "echo-has-x"
  target_agent: "echo-c"
  checks:
    - {name: "x", type: "assertion", condition: "output.x == 1"}
YAML
atlas eval register "$T/e.yaml" >/dev/null

http GET /metrics
expect_eq "an idle daemon's metrics" "$HTTP_CODE" 200
echo "$HTTP_BODY" | promtool check metrics >"$T/lint" 2>&1
expect_eq "promtool accepts an idle daemon's metrics" "$?$(cat "$T/lint")" "0"

for i in 1 2 3; do atlas run echo-c --input '{"x": 1}' >/dev/null; done
atlas run echo-c --input '{"x": 2}' >/dev/null
atlas run fanout --input '{"n": 3}' >/dev/null
atlas run llm-caller --input '{"calls": 2}' >/dev/null
for i in 1 2 3; do atlas run raise >/dev/null 2>&1 || true; done
# the monitor counts what it is told asynchronously: wait until it has seen
# the last jobs and their evals (the assertions below check the rest)
settled() {
    curl -s "$ATLAS_URL/metrics" >"$T/m.now"
    grep -qF 'atlas_jobs_total{agent="echo-c",state="completed"} 7' "$T/m.now" &&
        grep -qF 'atlas_eval_pass_ratio{eval="echo-has-x"} 0.428571' "$T/m.now" &&
        grep -qF 'atlas_breaker_state{agent="raise@1.0.0",state="open"} 1' "$T/m.now"
}
wait_for settled || fail "the metrics never showed the runs"
curl -s -D "$T/mh" "$ATLAS_URL/metrics" >"$T/metrics"
expect_contains "content type: text exposition 0.0.4" "$(cat "$T/mh")" "text/plain; version=0.0.4"
set +e
promtool check metrics <"$T/metrics" >"$T/lint" 2>&1
rc=$?
set -e
expect_eq "promtool check metrics: parses, no lint problems" "$rc $(cat "$T/lint")" "0 "
M=$(cat "$T/metrics")
expect_contains "jobs by agent and state" "$M" 'atlas_jobs_total{agent="echo-c",state="completed"} 7'
expect_contains "failed jobs" "$M" 'atlas_jobs_total{agent="raise",state="'
expect_contains "job latency histogram" "$M" 'atlas_job_duration_seconds_bucket{agent="echo-c",le="+Inf"} 7'
expect_contains "queue wait histogram" "$M" 'atlas_job_queue_wait_seconds_count{agent="fanout"} 1'
expect_contains "queue depth" "$M" 'atlas_jobs_queued 0'
expect_contains "pool sizes" "$M" 'atlas_pool_processes{pool="echo-c@1.0.0",state="idle"}'
expect_contains "cold starts" "$M" 'atlas_cold_starts_total '
expect_contains "model calls" "$M" 'atlas_model_calls_total{model="judge-model",backend="fake",status="ok"} 2'
expect_contains "model tokens" "$M" 'atlas_model_tokens_total{model="judge-model",direction="in"} 80'
expect_contains "model cost" "$M" 'atlas_model_cost_usd_total{model="judge-model"}'
expect_contains "model latency" "$M" 'atlas_model_latency_seconds_count{model="judge-model"} 2'
expect_contains "tokens per agent" "$M" 'atlas_agent_tokens_total{agent="llm-caller",direction="out"} 4'
expect_contains "model backend health" "$M" 'atlas_model_backend_up{backend="fake"} 1'
expect_contains "breaker states" "$M" 'atlas_breaker_state{agent="raise@1.0.0",state="open"} 1'
expect_contains "eval results" "$M" 'atlas_eval_checks_total{eval="echo-has-x",check="x",result="pass"} 3'
expect_contains "eval pass rate" "$M" 'atlas_eval_pass_ratio{eval="echo-has-x"} 0.428571' # 3 of 7: fanout's children have no x
expect_contains "the monitor's drops" "$M" 'atlas_monitor_dropped_total{what="queue"} 0'
finish
