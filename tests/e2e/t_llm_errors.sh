#!/bin/bash
# The model gateway's errors and usage against a stand-in OpenAI server
# (tests/e2e/fake_openai.py; no llama-server needed), issue 9:
#  - each failure (a backend down, rate limited after the retries, the
#    chain's budget, a bad request, a refused key, a timeout, an unknown
#    model, a malformed body, an error in a stream) answers with one error:
#    the problem's type URN, its status and the OpenAI error code all name
#    the same row of the error table (src/base/err.h);
#  - usage near 2^63 (or negative) reported by a backend is not believed:
#    the estimate is counted, and usage, costs, traces and metrics stay
#    sane (no 500, no negative or wrapped numbers).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

$PY "$SRC/tests/e2e/fake_openai.py" "$T/model.port" >"$T/model.log" 2>&1 &
MODEL_PID=$!
trap 'kill $MODEL_PID 2>/dev/null || true; cleanup' EXIT
wait_for test -s "$T/model.port"
FAKE="http://127.0.0.1:$(cat "$T/model.port")/v1"
DEAD=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/atlas.config.yaml" <<YAML
execution:
  resource_budget: {max_tokens_per_chain: 300}
models:
  backends:
    fake:
      base_url: "$FAKE"
      models: ["judge-model"]
      prices: {"judge-model": {input_per_mtok: 1.0, output_per_mtok: 2.0}}
    slowb: {base_url: "$FAKE", models: ["slow-model"], timeout: 0.5}
    dead: {base_url: "http://127.0.0.1:$DEAD/v1", models: ["dead-model"]}
  tiers: {fast: ["judge-model"]}
  retry: {max_retries: 1, max_retry_after: 1}
  health: {failure_threshold: 1, probe_interval: 600}
YAML
start_daemon --config "$T/atlas.config.yaml"

chat() { http POST /v1/chat/completions "$@"; }
body() { # MODEL TEXT [extra JSON members]
    printf '{"model":"%s","messages":[{"role":"user","content":"%s"}]%s}' "$1" "$2" "${3:-}"
}
# agree NAME STATUS SLUG: the answer's status, its problem type and status
# and its OpenAI error code all name SLUG
agree() {
    got=$(echo "$HTTP_BODY" | j '"%s %s %s %s" % (d.get("type"), d.get("status"), d.get("error", {}).get("code"), d.get("title") is not None)')
    expect_eq "$1" "$HTTP_CODE $got" "$2 urn:atlas:error:$3 $2 $3 True"
}

# ---- every failure names one error ----
chat "$(body dead-model "Hi")"
agree "backend refuses connections: busy" 503 busy
chat "$(body dead-model "Hi")"
agree "backend down: busy" 503 busy
expect_eq "  and says the backend is down" "$(echo "$HTTP_BODY" | j 'd["attempts"][0]["error"]')" "backend down"

chat "$(body judge-model "STATUS=429 RETRY=0")"
agree "429 after the retries: limit-exceeded" 429 limit-exceeded
expect_eq "  after retrying" "$(echo "$HTTP_BODY" | j '[a["status"] for a in d["attempts"]]')" "[429, 429]"
expect_eq "  OpenAI type" "$(echo "$HTTP_BODY" | j 'd["error"]["type"]')" "rate_limit_exceeded"

chat "$(body judge-model "STATUS=400")"
agree "a request the backend refuses: invalid-argument" 400 invalid-argument
expect_eq "  the backend's status and message are kept" "$(echo "$HTTP_BODY" | j 'd["upstream_status"], d["upstream"]["error"]["message"]')" "400 scripted 400"
chat "$(body judge-model "STATUS=422")"
agree "a 422 from the backend: invalid-argument" 400 invalid-argument
chat "$(body judge-model "STATUS=401")"
agree "the backend refuses the key: permission-denied" 403 permission-denied
expect_eq "  upstream_status" "$(echo "$HTTP_BODY" | j 'd["upstream_status"]')" "401"

chat "$(body slow-model "SLOW")"
agree "the backend's timeout: timeout" 504 timeout

chat "$(body gpt-4o "Hi")"
agree "unknown model: not-found" 404 not-found
chat '{"model":"judge-model","messages":[]}'
agree "no messages: invalid-argument" 400 invalid-argument
expect_eq "  with the pointer" "$(echo "$HTTP_BODY" | j 'd["pointer"], d["error"]["param"]')" "/messages /messages"
chat '{"model":"judge-model",'
agree "not JSON: parse-error" 400 parse-error

# a stream that fails before its first byte reports the error as an event
curl -sN "$ATLAS_URL/v1/chat/completions" -d "$(body judge-model "STATUS=400" ',"stream":true')" >"$T/s1"
ev=$(grep '^data: {' "$T/s1" | head -n 1 | cut -c 7-)
expect_eq "stream error event agrees" "$(echo "$ev" | j 'd["type"], d["status"], d["error"]["code"]')" "urn:atlas:error:invalid-argument 400 invalid-argument"
expect_eq "  and the stream ends" "$(tail -n 2 "$T/s1" | head -n 1)" "data: [DONE]"

# the chain's budget, for an agent calling with its job token
atlas register --path "$SRC/tests/llm/agents/llm-caller" >/dev/null
big=$($PY -c 'print("word " * 400)')
http POST /api/v1/agents/llm-caller/run "{\"prompt\":\"$big\"}"
expect_eq "budget exceeded: limit-exceeded" "$(echo "$HTTP_BODY" | j 'd["statuses"][0], d["problems"][0]')" "429 ['urn:atlas:error:limit-exceeded', 429, 'limit-exceeded']"
expect_contains "  naming the key" "$(echo "$HTTP_BODY" | j 'd["errors"][0]')" "max_tokens_per_chain"

# ---- usage near 2^63 is not believed ----
chat "$(body judge-model "HUGEUSAGE")"
expect_eq "huge usage: answered" "$HTTP_CODE" 200
expect_eq "  the estimate is counted and shown" "$(echo "$HTTP_BODY" | j 'd["atlas"]["usage_reported"], 0 < d["usage"]["prompt_tokens"] < 1000, 0 <= d["usage"]["completion_tokens"] < 1000')" "False True True"
chat "$(body judge-model "NEGUSAGE")"
expect_eq "negative usage: the estimate" "$(echo "$HTTP_BODY" | j 'd["atlas"]["usage_reported"], d["usage"]["prompt_tokens"] > 0')" "False True"
http POST /api/v1/agents/llm-caller/run '{"prompt":"HUGEUSAGE", "calls": 3}' -D "$T/rh"
JOB=$(tr -d '\r' <"$T/rh" | sed -n 's/^Atlas-Job-Id: //p')
expect_eq "an agent's calls with huge usage: answered, sane" "$(echo "$HTTP_BODY" | j 'd["statuses"], all(0 <= u["total_tokens"] < 10**6 for u in d["usage"])')" "[200, 200, 200] True"
expect_contains "the gateway says so in its log" "$(cat "$T/atlasd.log")" "reported usage outside 0..1000000000000 tokens"

sane() { # the totals of a JSON document on stdin: no negative, nothing near 2^63
    j 'all(0 <= v < 10**9 for v in [d.get(k, 0) for k in ("tokens_in", "tokens_out", "tokens", "total_tokens")] if isinstance(v, int))'
}
wait_for sh -c "curl -sf '$ATLAS_URL/v1/atlas/usage' | grep -q '\"calls\": *[1-9]'"
http GET /v1/atlas/usage
expect_eq "GET /v1/atlas/usage: 200, sane" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'all(0 <= r["tokens_in"] < 10**9 and 0 <= r["tokens_out"] < 10**9 for r in d["usage"])')" "200 True"
for by in agent model day backend job chain all; do
    http GET "/api/v1/costs?by=$by"
    expect_eq "GET /api/v1/costs?by=$by: 200, sane" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["total"]' | tr "'" '"' | sane)" "200 True"
done
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/traces/$JOB' | grep -q completed"
http GET "/api/v1/traces/$JOB"
expect_eq "the trace: 200, sane totals" "$HTTP_CODE $(echo "$HTTP_BODY" | sane)" "200 True"
http GET /api/v1/traces
expect_eq "the trace list: 200" "$HTTP_CODE" 200
http GET /metrics
expect_eq "/metrics: 200, no negative token counter" "$HTTP_CODE $(echo "$HTTP_BODY" | grep '^atlas_.*tokens_total' | grep -c ' -' || true)" "200 0"
finish
