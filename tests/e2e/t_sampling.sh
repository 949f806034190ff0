#!/bin/bash
# MCP sampling over stdio: an agent asks the runtime for a completion in the
# middle of a call; the runtime answers through the model gateway, with the
# agent's tier and accounting against its job.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/llm/lib.sh"

# without a model configured the agent gets a clear error, not a hang
start_daemon
atlas register --path "$AGENTS/sampler" >/dev/null
out=$(atlas run sampler --input '{"prompt": "hi"}')
expect_eq "without models: the agent gets an error answer" "$(echo "$out" | j '"error" in d')" "True"
stop_daemon

llm_require
start_llama tiny-s "Sampled reply here."
cat >"$T/atlas.config.yaml" <<YAML
models:
  backends:
    local: {base_url: "http://127.0.0.1:$PORT_tiny_s/v1", models: ["tiny-s"]}
  tiers:
    fast: ["tiny-s"]
YAML
start_daemon --config "$T/atlas.config.yaml"
out=$(atlas run sampler --input '{"prompt": "say something"}')
expect_eq "sampling answered by the gateway" "$(echo "$out" | j 'd["model"]')" "tiny-s"
expect_eq "as an assistant message" "$(echo "$out" | j 'd["role"]')" "assistant"
expect_contains "with the model's text" "$(echo "$out" | j 'd["text"]')" "Sampled"
id=$(atlas jobs --json --limit 1 | j 'd["jobs"][0]["id"]')
expect_eq "the call is accounted to the job" "$(curl -s "$ATLAS_URL/v1/atlas/usage?job_id=$id" | j 'd["usage"][0]["calls"]')" "1"
finish
