#!/bin/bash
# The model gateway against real llama-server instances (tiny generated
# models): tiers, explicit models, discovery, streaming passthrough, tool
# calls, the Anthropic translation (llama-server's /v1/messages), accounting
# equal to the backends' own usage, secrets kept out of logs and API output,
# and located configuration errors.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/llm/lib.sh"
llm_require

start_llama tiny-a "Alpha answers briefly."
start_llama tiny-b "Bravo replies quickly."
start_proxy a "http://127.0.0.1:$PORT_tiny_a/v1"
start_proxy b "http://127.0.0.1:$PORT_tiny_b/v1"
start_proxy c "http://127.0.0.1:$PORT_tiny_a/v1"

export ATLAS_TEST_ALPHA_KEY="sk-alpha-SECRET-from-env-7f3a"
cat >"$T/atlas.config.yaml" <<YAML
log_level: debug
models:
  backends:
    alpha:
      kind: openai
      base_url: "$PROXY_a/v1"
      api_key_env: ATLAS_TEST_ALPHA_KEY
      max_concurrency: 4
      models: ["tiny-a"]
      prices: {"tiny-a": {input_per_mtok: 1.0, output_per_mtok: 2.0}}
    bravo:
      base_url: "$PROXY_b/v1/"
      api_key: "sk-bravo-SECRET-inline-91c2"
      prices: {"tiny-b": {input_per_mtok: 3.0, output_per_mtok: 6.0}}
    claude:
      kind: anthropic
      base_url: "$PROXY_c/v1"
      api_key: "sk-ant-SECRET-inline-55d0"
      models: ["claude-tiny"]
      prices: {"claude-tiny": {input_per_mtok: 15.0, output_per_mtok: 75.0}}
  tiers:
    fast: ["tiny-a", "tiny-b"]
    balanced: ["tiny-b"]
    powerful: ["claude-tiny"]
YAML
start_daemon --config "$T/atlas.config.yaml"

# ---- models ----
http GET /v1/models
expect_eq "GET /v1/models" "$HTTP_CODE" 200
ids=$(echo "$HTTP_BODY" | j '",".join(m["id"] for m in d["data"])')
expect_eq "models: tiers, listed and discovered models" "$ids" \
    "atlas:fast,atlas:balanced,atlas:powerful,tiny-a,tiny-b,claude-tiny"
expect_eq "models: tiers of tiny-a" "$(echo "$HTTP_BODY" | j '[m for m in d["data"] if m["id"]=="tiny-a"][0]["tiers"]')" "['fast']"

# ---- tier selection ----
msg='"messages":[{"role":"user","content":"Say something."}]'
chat "{\"model\":\"atlas:fast\",$msg}" -D "$T/hdr"
expect_eq "atlas:fast status" "$HTTP_CODE" 200
expect_eq "atlas:fast answer" "$(echo "$HTTP_BODY" | j 'd["choices"][0]["message"]["content"]')" "Alpha answers briefly."
expect_eq "atlas:fast metadata" "$(echo "$HTTP_BODY" | j 'd["atlas"]["model"]+" "+d["atlas"]["backend"]+" "+d["atlas"]["tier"]')" "tiny-a alpha fast"
expect_contains "atlas:fast reason" "$(echo "$HTTP_BODY" | j 'd["atlas"]["reason"]')" "names tier fast"
expect_contains "Atlas-Model header" "$(tr -d '\r' <"$T/hdr")" "Atlas-Model: tiny-a"
expect_eq "usage reported" "$(echo "$HTTP_BODY" | j 'd["usage"]["completion_tokens"] > 0 and d["atlas"]["usage_reported"]')" "True"

chat "{\"model\":\"atlas:balanced\",$msg}"
expect_eq "atlas:balanced -> tiny-b (discovered)" "$(echo "$HTTP_BODY" | j 'd["choices"][0]["message"]["content"]+"|"+d["atlas"]["model"]')" "Bravo replies quickly.|tiny-b"
chat "{\"model\":\"balanced\",$msg}"
expect_eq "bare tier name" "$(echo "$HTTP_BODY" | j 'd["atlas"]["tier"]')" "balanced"
chat "{\"model\":\"tiny-b\",$msg}"
expect_eq "explicit model" "$(echo "$HTTP_BODY" | j 'd["atlas"]["model"]+" "+d["atlas"]["tier"]')" "tiny-b fast"
chat "{$msg}"
expect_eq "no model: default tier (balanced)" "$(echo "$HTTP_BODY" | j 'd["atlas"]["tier"]+" "+d["atlas"]["model"]')" "balanced tiny-b"
chat "{\"model\":\"gpt-4o\",$msg}"
expect_eq "unknown model from a user: 404" "$HTTP_CODE" 404
expect_contains "unknown model: OpenAI-style error" "$(echo "$HTTP_BODY" | j 'd["error"]["message"]')" 'model "gpt-4o" is not configured'
chat '{"model":"atlas:fast","messages":[]}'
expect_eq "empty messages: 400" "$HTTP_CODE" 400
expect_eq "empty messages: pointer" "$(echo "$HTTP_BODY" | j 'd["pointer"]')" "/messages"
chat '{"model":"atlas:fast",'
expect_eq "bad JSON: 400" "$HTTP_CODE" 400

# ---- the Anthropic backend (llama-server's messages API) ----
chat "{\"model\":\"atlas:powerful\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]}"
expect_eq "anthropic: answer" "$(echo "$HTTP_BODY" | j 'd["object"]+"|"+d["choices"][0]["message"]["content"]+"|"+d["choices"][0]["finish_reason"]')" "chat.completion|Alpha answers briefly.|stop"
expect_eq "anthropic: usage" "$(echo "$HTTP_BODY" | j 'd["usage"]["prompt_tokens"]>0 and d["usage"]["completion_tokens"]>0')" "True"
expect_eq "anthropic: path used" "$(pstat "$PROXY_c" | j 'list(d["paths"])')" "['/v1/messages']"

# ---- streaming passthrough ----
curl -sN "$ATLAS_URL/v1/chat/completions" -d "{\"model\":\"atlas:fast\",\"stream\":true,$msg}" >"$T/s1"
text=$($PY - "$T/s1" <<'PY'
import json, sys
out, first, done, meta = "", None, False, None
for line in open(sys.argv[1]).read().split("\n"):
    if line.startswith("data: [DONE]"): done = True
    elif line.startswith("data: "):
        c = json.loads(line[6:]); first = first or c
        for ch in c.get("choices", []): out += ch.get("delta", {}).get("content") or ""
    elif line.startswith(": atlas "): meta = json.loads(line[8:])
print(out, first["atlas"]["model"], done, meta["usage"]["completion_tokens"] > 0, meta["usage"]["reported"], meta["ttft_ms"] >= 0)
PY
)
expect_eq "stream: content, first-chunk model, [DONE], usage" "$text" "Alpha answers briefly. tiny-a True True True True"
expect_eq "stream: no usage chunk unless asked" "$(grep -c '"choices":\[\]' "$T/s1" || true)" "0"
curl -sN "$ATLAS_URL/v1/chat/completions" -d "{\"model\":\"atlas:fast\",\"stream\":true,\"stream_options\":{\"include_usage\":true},$msg}" >"$T/s2"
expect_eq "stream: usage chunk when asked" "$(grep '^data: ' "$T/s2" | grep -c '"usage"')" "1"
curl -sN "$ATLAS_URL/v1/chat/completions" -d "{\"model\":\"atlas:powerful\",\"stream\":true,$msg}" >"$T/s3"
text=$($PY -c '
import json, sys
out = ""
for line in open(sys.argv[1]).read().split("\n"):
    if line.startswith("data: {"):
        for ch in json.loads(line[6:]).get("choices", []): out += ch.get("delta", {}).get("content") or ""
print(out)' "$T/s3")
expect_eq "stream via anthropic translation" "$text" "Alpha answers briefly."

# ---- tool calls ----
tools='"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]'
chat "{\"model\":\"atlas:fast\",$msg,$tools}"
expect_eq "tool call passthrough" "$(echo "$HTTP_BODY" | j 'd["choices"][0]["finish_reason"]+" "+d["choices"][0]["message"]["tool_calls"][0]["function"]["name"]+" "+json.loads(d["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])["city"]')" "tool_calls get_weather Paris"
chat "{\"model\":\"atlas:powerful\",$msg,$tools}"
expect_eq "tool call via anthropic" "$(echo "$HTTP_BODY" | j 'd["choices"][0]["finish_reason"]+" "+d["choices"][0]["message"]["tool_calls"][0]["function"]["name"]+" "+json.loads(d["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])["city"]')" "tool_calls get_weather Paris"

# ---- accounting: the store's totals equal what the backends reported ----
calls=11
wait_usage_calls $calls || fail "usage records: expected $calls"
u=$(curl -sf "$ATLAS_URL/v1/atlas/usage")
got=$(echo "$u" | j 'str(d["usage"][0]["calls"])+" "+str(d["usage"][0]["tokens_in"])+" "+str(d["usage"][0]["tokens_out"])')
want=$(for p in "$PROXY_a" "$PROXY_b" "$PROXY_c"; do pstat "$p"; echo; done | $PY -c '
import json, sys
ds = [json.loads(l) for l in sys.stdin if l.strip()]
print(11, sum(d["prompt_tokens"] for d in ds), sum(d["completion_tokens"] for d in ds))')
expect_eq "accounting totals = backends' usage" "$got" "$want"
cost=$(curl -sf "$ATLAS_URL/v1/atlas/usage?group_by=model" |
    j '[abs(r["cost_usd"] - (r["tokens_in"]*1.0 + r["tokens_out"]*2.0)/1e6) < 1e-12 for r in d["usage"] if r["key"] == "tiny-a"][0]')
expect_eq "cost from the price table" "$cost" "True"

# ---- secrets ----
expect_eq "key sent upstream (env)" "$(pstat "$PROXY_a" | j 'd["last_auth"]')" "Bearer sk-alpha-SECRET-from-env-7f3a"
expect_eq "key sent upstream (inline)" "$(pstat "$PROXY_b" | j 'd["last_auth"]')" "Bearer sk-bravo-SECRET-inline-91c2"
expect_eq "key sent upstream (anthropic)" "$(pstat "$PROXY_c" | j 'd["last_auth"]')" "sk-ant-SECRET-inline-55d0"
{
    curl -sf "$ATLAS_URL/v1/models"; curl -sf "$ATLAS_URL/v1/atlas/stats"
    curl -sf "$ATLAS_URL/v1/atlas/usage?group_by=backend"; curl -s "$ATLAS_URL/api/v1/health"
    cat "$T/s1" "$T/s3"
} >"$T/api-out"
expect_eq "no secret in API output" "$(grep -c SECRET "$T/api-out" || true)" "0"
stop_daemon
expect_eq "no secret in the daemon's log (debug level)" "$(grep -c SECRET "$T/atlasd.log" || true)" "0"
expect_contains "log names the backends" "$(cat "$T/atlasd.log")" "backend bravo"

# ---- located configuration errors ----
printf 'models:\n  backends:\n    x:\n      kind: openia\n      base_url: "http://127.0.0.1:1/v1"\n' >"$T/bad1.yaml"
run_rc rc "$BIN/atlasd" --data "$T/d2" --listen 127.0.0.1:0 --config "$T/bad1.yaml"
expect_eq "bad kind: exit status" "$([ "$rc" -ne 0 ] && echo nonzero)" "nonzero"
expect_contains "bad kind: located" "$(cat "$T/err")" "bad1.yaml:4:13: models.backends.x.kind"
printf 'models:\n  backends:\n    x:\n      base_url: "http://127.0.0.1:1/v1"\n      models: [m1]\n  tiers:\n    fast: [m1, m2]\n' >"$T/bad2.yaml"
run_rc rc "$BIN/atlasd" --data "$T/d2" --listen 127.0.0.1:0 --config "$T/bad2.yaml"
expect_contains "tier model not served: located" "$(cat "$T/err")" "bad2.yaml:7:16: models.tiers.fast[1]"
printf 'models:\n  backends:\n    x:\n      base_url: "http://127.0.0.1:1/v1"\n      api_key: k\n      api_key_env: K\n' >"$T/bad3.yaml"
run_rc rc "$BIN/atlasd" --data "$T/d2" --listen 127.0.0.1:0 --config "$T/bad3.yaml"
expect_contains "api_key and api_key_env: located" "$(cat "$T/err")" "bad3.yaml:5:7"
llm_finish
