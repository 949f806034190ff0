#!/bin/bash
# A custom orchestrator's model_selection.tiers (issue 9): when it is the
# chain's orchestrator, the gateway picks the step's models from its tiers,
# not from models.tiers, and says so in the reason; `atlas orchestrator
# set` refuses one whose tiers name models no backend serves, with a clear
# message.  Against a stand-in OpenAI server (tests/e2e/fake_openai.py).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

$PY "$SRC/tests/e2e/fake_openai.py" "$T/model.port" >"$T/model.log" 2>&1 &
MODEL_PID=$!
trap 'kill $MODEL_PID 2>/dev/null || true; cleanup' EXIT
wait_for test -s "$T/model.port"
cat >"$T/atlas.config.yaml" <<YAML
models:
  backends:
    fake:
      base_url: "http://127.0.0.1:$(cat "$T/model.port")/v1"
      models: ["gw-fast", "gw-balanced", "orch-fast", "orch-balanced"]
  tiers:
    fast: ["gw-fast"]
    balanced: ["gw-balanced"]
    powerful: ["gw-balanced"]
YAML
start_daemon --config "$T/atlas.config.yaml"

caller=$(copy_agent "$SRC/tests/llm/agents/llm-caller" llm-caller)
sed -i 's/override_allowed: false/override_allowed: true/' "$caller/agent.yaml"
orch=$(copy_agent "$EXAMPLES/research-orchestrator" tier-orch)
$PY - "$orch/agent.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace('name: "research-orchestrator"', 'name: "tier-orch"')
s = s.replace('fast: ["claude-haiku", "gpt-4o-mini"]', 'fast: ["orch-fast"]')
s = s.replace('balanced: ["claude-sonnet"]', 'balanced: ["orch-balanced"]')
s = s.replace('powerful: ["claude-opus", "gpt-4o"]', 'powerful: ["orch-balanced"]')
open(p, "w").write(s)
PY
for d in "$caller" "$orch" "$EXAMPLES/research-orchestrator"; do atlas register --path "$d" >/dev/null; done
printf 'chain:\n  name: talk\n  steps:\n    - agent: llm-caller\n      input_map: {prompt: "$.trigger.prompt"}\n' >"$T/talk.yaml"
atlas chain register "$T/talk.yaml" >/dev/null

# without a custom orchestrator: the configured tiers
out=$(atlas chain run talk --input '{"prompt": "Say something."}')
expect_eq "default orchestrator: models.tiers" "$(echo "$out" | j 'd["models"][0], d["tiers"][0]')" "gw-balanced balanced"

# an orchestrator whose tiers name models nobody serves is refused, saying why
run_rc rc atlas orchestrator set research-orchestrator --chain talk
expect_eq "unserved tiers: refused" "$rc" 1
expect_contains "  naming the tier and the model" "$(cat "$T/err")" 'model_selection.tiers.fast names model "claude-haiku", which no model backend serves here'
expect_contains "  and what is served" "$(cat "$T/err")" "served: gw-fast, gw-balanced, orch-fast, orch-balanced"
expect_contains "  the slot is unchanged" "$(atlas orchestrator show)" "default: the built-in orchestrator"

# one whose tiers are served: the gateway picks from them
run_rc rc atlas orchestrator set tier-orch --chain talk
expect_eq "served tiers: set" "$rc" 0
out=$(atlas chain run talk --input '{"prompt": "Say something."}')
expect_eq "the orchestrator's tier and its model" "$(echo "$out" | j 'd["models"][0], d["tiers"][0]')" "orch-fast fast"
expect_contains "  and the reason says whose" "$(echo "$out" | j 'd["reasons"][0]')" "tier fast's models from orchestrator tier-orch:1.0.0 (model_selection.tiers)"
step=$(atlas jobs --json --agent llm-caller --limit 1 | j 'd["jobs"][0]["id"]')
expect_eq "the step's meta names the orchestrator" "$(atlas --json job "$step" | j 'd["meta"]["model"]["orchestrator"]')" "tier-orch:1.0.0"
# runs it does not govern keep the configured tiers
http POST /api/v1/agents/llm-caller/run '{"prompt": "Say something."}'
expect_eq "a run outside the chain: models.tiers" "$(echo "$HTTP_BODY" | j 'd["models"][0]')" "gw-balanced"
finish
