#!/bin/bash
# Agents reach models through the gateway with their job token as the OpenAI
# key: the contract's model.preference picks the tier, the orchestrator's
# routing_strategy overrides it only when override_allowed is true, usage is
# recorded against the job, its root and its agent, and the chain's token
# budget (execution.resource_budget.max_tokens_per_chain) refuses a call
# that would exceed it.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/llm/lib.sh"
llm_require

start_llama tiny-a "Alpha answers briefly."
start_llama tiny-b "Bravo replies quickly."
start_llama tiny-c "Charlie speaks slowly."
cat >"$T/atlas.config.yaml" <<YAML
execution:
  resource_budget: {max_tokens_per_chain: 150}
models:
  backends:
    a: {base_url: "http://127.0.0.1:$PORT_tiny_a/v1", models: ["tiny-a"]}
    b: {base_url: "http://127.0.0.1:$PORT_tiny_b/v1", models: ["tiny-b"]}
    c: {base_url: "http://127.0.0.1:$PORT_tiny_c/v1", models: ["tiny-c"]}
  tiers:
    fast: ["tiny-a"]
    balanced: ["tiny-b"]
    powerful: ["tiny-c"]
  routing_strategy: task_complexity
YAML

# one agent directory per contract variant
mkagent() { # NAME PREFERENCE OVERRIDE
    d=$(copy_agent "$SRC/tests/llm/agents/llm-caller" "$1")
    sed -i "s/name: \"llm-caller\"/name: \"$1\"/; s/preference: \"balanced\"/preference: \"$2\"/; s/override_allowed: false/override_allowed: $3/" "$d/agent.yaml"
    echo "$d"
}
fixed=$(mkagent pref-fixed balanced false)
open=$(mkagent pref-open powerful true)
start_daemon --config "$T/atlas.config.yaml"
for d in "$fixed" "$open" "$AGENTS/spender"; do atlas register --path "$d" >/dev/null; done

run() { # AGENT INPUT -> HTTP_BODY (output), JOB
    http POST "/api/v1/agents/$1/run" "$2" -D "$T/rh"
    JOB=$(tr -d '\r' <"$T/rh" | sed -n 's/^Atlas-Job-Id: //p')
}

run pref-fixed '{"model":"gpt-4o"}'
expect_eq "preference balanced, override not allowed" "$(echo "$HTTP_BODY" | j 'd["statuses"][0], d["models"][0], d["tiers"][0]')" "200 tiny-b balanced"
reason=$(echo "$HTTP_BODY" | j 'd["reasons"][0]')
expect_contains "reason: unknown model ignored" "$reason" "model gpt-4o is not configured, ignored"
expect_contains "reason: agent preference" "$reason" "agent preference balanced"
expect_contains "reason: override refused" "$reason" "orchestrator override refused (model.override_allowed: false)"

run pref-open '{}'
expect_eq "preference powerful, override allowed: task_complexity picks fast" "$(echo "$HTTP_BODY" | j 'd["models"][0], d["tiers"][0]')" "tiny-a fast"
expect_contains "reason: override" "$(echo "$HTTP_BODY" | j 'd["reasons"][0]')" "orchestrator override to tier fast (task_complexity)"
open_job=$JOB

big=$($PY -c 'print("word " * 2500)')
run pref-open "{\"prompt\":\"$big\"}"
expect_contains "a prompt larger than the chain's budget is refused" "$(echo "$HTTP_BODY" | j 'd["statuses"][0], d["errors"][0]')" "429"

chat '{"model":"atlas:powerful","messages":[{"role":"user","content":"hi"}]}'
expect_eq "a user's explicit tier is not overridden" "$(echo "$HTTP_BODY" | j 'd["atlas"]["model"]')" "tiny-c"
chat '{"messages":[{"role":"user","content":"hi"}]}'
expect_eq "a user's default tier follows the strategy" "$(echo "$HTTP_BODY" | j 'd["atlas"]["model"]')" "tiny-a"

# ---- the chain's token budget ----
run pref-fixed '{"calls": 20}'
st=$(echo "$HTTP_BODY" | j '" ".join(map(str, d["statuses"]))')
expect_contains "budget: calls succeed, then one is refused" "$st" "200 429"
expect_contains "budget: the refusal names the budget" "$(echo "$HTTP_BODY" | j 'd["errors"][-1]')" "execution.resource_budget.max_tokens_per_chain (150 tokens)"
budget_job=$JOB
n_ok=$(echo "$HTTP_BODY" | j 'd["statuses"].count(200)')
# what the gateway spent counts for the tree's later spawns too: after the
# calls (close to 150 tokens) a child reports 60 more, and the next spawn is
# refused (the agent-reported 60 alone would not spend the budget)
spend='{"agent": "spender", "input": {"tokens": 60, "children": 0}}'
run pref-fixed "{\"calls\": 20, \"spawn_after\": [$spend, $spend]}"
expect_eq "budget: the gateway's tokens and a child's report spend it" "$(echo "$HTTP_BODY" | j 'd["spawns"][0]')" "ok"
expect_contains "budget: then a spawn is refused" "$(echo "$HTTP_BODY" | j 'd["spawns"][1]')" "max_tokens_per_chain is 150"
run pref-fixed "{\"calls\": 1, \"spawn_after\": [$spend, $spend]}"
expect_eq "budget: within it, both children run" "$(echo "$HTTP_BODY" | j 'd["spawns"]')" "['ok', 'ok']"

# ---- accounting against jobs ----
wait_usage_calls 6 || true
by_job=$(curl -sf "$ATLAS_URL/v1/atlas/usage?group_by=job_id")
expect_eq "usage: the budget job's answered calls recorded" "$(echo "$by_job" | j "[r['calls'] for r in d['usage'] if r['key']=='$budget_job'][0]")" "$((n_ok + 0))"
expect_eq "usage: within the budget" "$(curl -sf "$ATLAS_URL/v1/atlas/usage?root_id=$budget_job" | j 'd["usage"][0]["tokens_in"] + d["usage"][0]["tokens_out"] <= 150')" "True"
by_agent=$(curl -sf "$ATLAS_URL/v1/atlas/usage?group_by=agent" | j '",".join(sorted(r["key"] for r in d["usage"]))')
expect_eq "usage: by agent" "$by_agent" ",pref-fixed@1.0.0,pref-open@1.0.0,spender"
expect_eq "usage: root of a root job is itself" "$(curl -sf "$ATLAS_URL/v1/atlas/usage?root_id=$open_job" | j 'd["usage"][0]["calls"] >= 1')" "True"
# the chosen model and the reason are in the trace (the monitor writes the span shortly after)
model_span() { curl -sf "$ATLAS_URL/api/v1/traces/$open_job" | j '[(c["model"], c["tier"], c.get("reason", "")) for c in d["spans"][0]["children"] if c["kind"] == "model"][0]'; }
has_reason() { model_span | grep -q "orchestrator override"; }
wait_for has_reason || true
expect_contains "trace: the model span has the model, its tier and why" "$(model_span)" "('tiny-a', 'fast', 'agent preference powerful; orchestrator override to tier fast (task_complexity)"
llm_finish
