#!/bin/bash
# OpenTelemetry export: every job and every model call becomes an OTLP span
# POSTed as OTLP/HTTP JSON to monitor.otlp.endpoint, in batches; a receiver
# that checks the OTLP JSON encoding accepts every request; model spans carry
# the GenAI semantic conventions; spawned children and model calls share
# their root's trace id with the right parents.  A collector that hangs or is
# gone never slows runs down: spans are dropped and counted.
. "$(dirname "$0")/lib.sh"

python3 "$SRC/tests/e2e/fake_openai.py" "$T/model.port" >"$T/model.log" 2>&1 &
P1=$!
python3 "$SRC/tests/e2e/otlp_receiver.py" "$T/otlp.port" "$T/spans.jsonl" >"$T/recv.log" 2>&1 &
P2=$!
python3 "$SRC/tests/e2e/otlp_receiver.py" "$T/hang.port" "$T/hang.jsonl" hang >"$T/hang.log" 2>&1 &
P3=$!
trap 'kill $P1 $P2 $P3 2>/dev/null; cleanup' EXIT
wait_for test -s "$T/model.port"
wait_for test -s "$T/otlp.port"
wait_for test -s "$T/hang.port"

config() { # ENDPOINT
    cat >"$T/atlas.config.yaml" <<YAML
models:
  backends:
    fake: {base_url: "http://127.0.0.1:$(cat "$T/model.port")/v1", models: ["judge-model"]}
  tiers: {fast: ["judge-model"], balanced: ["judge-model"], powerful: ["judge-model"]}
monitor:
  otlp:
    endpoint: "$1"
    service_name: "atlas-e2e"
    headers: {"X-Test": "yes"}
    batch_size: 50
    flush_interval_ms: 200
    max_queue: 100
    timeout_ms: 1000
YAML
}
config "http://127.0.0.1:$(cat "$T/otlp.port")/v1/traces"
start_daemon --config "$T/atlas.config.yaml"
caller=$(copy_agent "$SRC/tests/llm/agents/llm-caller" llm-caller)
atlas register --path "$caller" >/dev/null
atlas register --path "$EXAMPLES/echo-c" >/dev/null
atlas register --path "$AGENTS/fanout" >/dev/null

out=$(atlas run llm-caller --input '{"calls": 2, "prompt": "hi"}')
expect_contains "the agent's model calls went through the gateway" "$out" '"statuses": [
    200,
    200
  ]'
cjob=$(atlas --json jobs --agent llm-caller | j 'd["jobs"][0]["id"]')
atlas run fanout --input '{"n": 2}' >/dev/null
fjob=$(atlas --json jobs --agent fanout | j 'd["jobs"][0]["id"]')
cat >"$T/check.py" <<'PY'
import hashlib, json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
spans = [s for d in docs for rs in d["body"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
res = docs[0]["body"]["resourceSpans"][0]["resource"]["attributes"]
def attrs(s): return {a["key"]: list(a["value"].values())[0] for a in s["attributes"]}
def tid(x): return hashlib.blake2b(x.encode(), digest_size=16).hexdigest()
def sid(x): return hashlib.blake2b(x.encode(), digest_size=8).hexdigest()
cjob, fjob = sys.argv[2], sys.argv[3]
model = [s for s in spans if attrs(s).get("gen_ai.operation.name") == "chat"]
agent = {attrs(s).get("atlas.job.id"): s for s in spans if attrs(s).get("gen_ai.operation.name") == "invoke_agent"}
print("service", {a["key"]: a["value"]["stringValue"] for a in res}["service.name"])
print("header", docs[0]["headers"].get("X-Test"))
print("model spans", len(model))
m = model[0]; a = attrs(m)
print("genai", m["name"], m["kind"], a["gen_ai.request.model"], a["gen_ai.provider.name"],
      a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], m["status"]["code"])
print("model parent", m["traceId"] == tid(cjob), m["parentSpanId"] == sid(cjob))
c = agent[cjob]
print("agent span", c["name"], c["spanId"] == sid(cjob), "parentSpanId" not in c, attrs(c)["atlas.job.state"])
kids = [s for j, s in agent.items() if s.get("parentSpanId") == sid(fjob)]
print("spawned", len(kids), all(k["traceId"] == tid(fjob) for k in kids), agent[fjob]["traceId"] == tid(fjob))
PY
# the exporter sends in batches: wait until both jobs' spans have arrived
exported() {
    python3 "$T/check.py" "$T/spans.jsonl" "$cjob" "$fjob" >"$T/check.out" 2>/dev/null &&
        grep -q "model spans 2" "$T/check.out" && grep -q "^spawned 2 " "$T/check.out"
}
wait_for exported || fail "the spans of both jobs never arrived"
n_err=$(cat "$T/spans.jsonl.errors" 2>/dev/null | wc -l)
expect_eq "the receiver accepted every request (OTLP JSON encoding)" "$n_err" 0
[ "$n_err" = 0 ] || head -5 "$T/spans.jsonl.errors" >&2
out=$(cat "$T/check.out")
expect_contains "resource service.name" "$out" "service atlas-e2e"
expect_contains "configured headers are sent" "$out" "header yes"
expect_contains "one span per model call" "$out" "model spans 2"
expect_contains "model spans follow the GenAI conventions" "$out" "genai chat judge-model 3 judge-model fake 40 2 1"
expect_contains "model spans are children of their job's span" "$out" "model parent True True"
expect_contains "the root job's span" "$out" "agent span invoke_agent llm-caller True True completed"
expect_contains "spawned children share the root's trace, under their parent" "$out" "spawned 2 True True"
curl -s "$ATLAS_URL/metrics" >"$T/metrics"
expect_contains "exported spans are counted" "$(grep '^atlas_otlp_spans_exported_total' "$T/metrics")" "atlas_otlp_spans_exported_total"
stop_daemon

# ---- a collector that hangs: runs are not slowed, spans are dropped ----
config "http://127.0.0.1:$(cat "$T/hang.port")/v1/traces"
start_daemon --config "$T/atlas.config.yaml"
atlas run echo-c --input '{}' >/dev/null
# a run that waited for the collector would never answer (it never does):
# each must answer on its own, well within curl's 60 s
for i in $(seq 1 300); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 -X POST -d '{}' "$ATLAS_URL/api/v1/agents/echo-c/run"
done >"$T/codes"
expect_eq "300 runs with a hanging collector all answered" "$(sort "$T/codes" | uniq -c | awk '{print $1" "$2}')" "300 200"
drops() { curl -s "$ATLAS_URL/metrics" | grep -qE '^atlas_otlp_spans_dropped_total [1-9]'; }
wait_for drops || true
curl -s "$ATLAS_URL/metrics" >"$T/metrics"
dropped=$(sed -n 's/^atlas_otlp_spans_dropped_total \([0-9]*\)$/\1/p' "$T/metrics")
if [ "${dropped:-0}" -gt 0 ]; then pass "spans beyond the bounded queue are dropped and counted ($dropped)"; else fail "no drops counted: $(grep otlp "$T/metrics")"; fi
finish
