#!/bin/bash
# The spec's SummarizerAgent (examples/agents/summarizer) under the real
# atlasd: without a model configured the gateway answers 501 not-available
# and the agent falls back to its extractive summary ("method":
# "extractive"); with a model (a real llama-server serving a tiny generated
# model) the model writes the summary ("method": "model", "model": its
# name), cut to max_length words, and the call is accounted to the job.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/llm/lib.sh"

text="Atlas runs agents as processes. The cat sat on the mat. Atlas keeps agent processes warm. It rained all day. Agents in Atlas speak MCP."

# ---- no model configured: extractive ----
mkdir -p "$DATA"
start_daemon
atlas register --path "$EXAMPLES/summarizer" >/dev/null
out=$(atlas run summarizer --input "{\"text\": \"$text\", \"max_length\": 12}")
expect_eq "without models: the extractive summary" "$(echo "$out" | j 'd["method"], "model" in d')" "extractive False"
expect_eq "within max_length" "$(echo "$out" | j 'd["token_count"] <= 12, d["token_count"] == len(d["summary"].split())')" "True True"
expect_contains "keeps the important sentences" "$(echo "$out" | j 'd["summary"]')" "Atlas"
id=$(atlas jobs --json --agent summarizer --limit 1 | j 'd["jobs"][0]["id"]')
expect_contains "the job's log says why" "$(atlas logs "$id")" "not-available"
# the spec's example request still answers 200 with summary and token_count
http POST /api/v1/agents/summarizer/run '{"text": "...", "max_length": 100}'
expect_eq "the spec's example: 200" "$HTTP_CODE" 200
expect_eq "with summary, token_count and method" "$(echo "$HTTP_BODY" | j 'sorted(d)')" "['method', 'summary', 'token_count']"
stop_daemon

# ---- a model configured: the model writes it ----
llm_require
start_llama tiny-sum "Atlas keeps warm agent processes and speaks MCP to them all day long."
cat >"$T/atlas.config.yaml" <<YAML
models:
  backends:
    local: {base_url: "http://127.0.0.1:$PORT_tiny_sum/v1", models: ["tiny-sum"]}
  tiers:
    fast: ["tiny-sum"]
    balanced: ["tiny-sum"]
    powerful: ["tiny-sum"]
YAML
start_daemon --config "$T/atlas.config.yaml"
out=$(atlas run summarizer --input "{\"text\": \"$text\", \"max_length\": 50}")
expect_eq "with a model: method model, naming it" "$(echo "$out" | j 'd["method"], d["model"]')" "model tiny-sum"
expect_contains "the model's summary" "$(echo "$out" | j 'd["summary"]')" "Atlas keeps warm agent processes"
expect_eq "token_count counts its words" "$(echo "$out" | j 'd["token_count"] == len(d["summary"].split())')" "True"
id=$(atlas jobs --json --agent summarizer --limit 1 | j 'd["jobs"][0]["id"]')
wait_usage_calls 1 || true
expect_eq "the model call is accounted to the job" "$(curl -s "$ATLAS_URL/v1/atlas/usage?job_id=$id" | j 'd["usage"][0]["calls"]')" "1"
out=$(atlas run summarizer --input "{\"text\": \"$text\", \"max_length\": 4}")
expect_eq "max_length is honoured: the reply is cut" "$(echo "$out" | j 'd["method"], d["token_count"], d["summary"]')" "model 4 Atlas keeps warm agent"
http POST /api/v1/agents/summarizer/run "{\"text\": \"$text\", \"max_length\": 12}"
expect_eq "the output matches the contract's schema (validated by atlasd)" "$HTTP_CODE" 200
llm_finish
