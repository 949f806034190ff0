#!/bin/bash
# Routing (POST /api/v1/run, `atlas route`): rule-based first, then, with a
# model gateway and more than one agent that accepts the input, a model
# (tier fast, here a stand-in OpenAI server) picks among them.  Every
# decision lands in the routed job's meta.decisions; an answer that names no
# candidate, or a model that cannot be reached, keeps the rule-based choice.
. "$(dirname "$0")/lib.sh"

python3 "$SRC/tests/e2e/fake_openai.py" "$T/model.port" >"$T/model.log" 2>&1 &
MODEL_PID=$!
trap 'kill $MODEL_PID 2>/dev/null || true; cleanup' EXIT
wait_for test -s "$T/model.port"
cat >"$T/atlas.config.yaml" <<YAML
models:
  backends:
    fake:
      base_url: "http://127.0.0.1:$(cat "$T/model.port")/v1"
      models: ["router-model"]
YAML
start_daemon --config "$T/atlas.config.yaml"
for a in summarizer word-count web-searcher; do atlas register --path "$EXAMPLES/$a" >/dev/null; done

last_job_decisions() { atlas --json jobs --limit 1 | j 'd["jobs"][0]["id"]' | xargs -I{} "$BIN/atlas" --url "$ATLAS_URL" --json job {} | j '" | ".join(d["meta"]["decisions"])'; }

# the rules alone would pick summarizer (the hint names its capability); the model picks word-count
out=$(atlas route --input '{"text": "a b c"}' --hint "summarization please PICK word-count" 2>"$T/route.err")
expect_contains "the model's pick is routed to" "$(cat "$T/route.err")" "routed to word-count"
expect_eq "and it ran" "$(echo "$out" | j 'd["words"]')" "3"
dec=$(last_job_decisions)
expect_contains "the rule-based ranking is in the job's decisions" "$dec" "routing: summarizer"
expect_contains "and the model's choice" "$dec" "chosen by model router-model among 2 candidates"

# an answer that names no candidate keeps the rule-based choice
atlas route --input '{"text": "a b c"}' --hint "summarization PICK nothing-here" >/dev/null 2>"$T/route.err"
expect_contains "no candidate named: the rules decide" "$(cat "$T/route.err")" "routed to summarizer"
expect_contains "and the decisions say why" "$(last_job_decisions)" "names no candidate"

# one candidate: no model call
atlas route --input '{"query": "sqlite"}' >/dev/null 2>"$T/route.err"
expect_contains "a single candidate is routed by the rules" "$(cat "$T/route.err")" "routed to web-searcher"
expect_eq "without asking the model" "$(last_job_decisions | grep -c 'chosen by model')" "0"

# async routing carries the decision too
http POST /api/v1/run '{"input": {"text": "x y"}, "hint": "PICK word-count"}' -H 'Prefer: respond-async'
expect_eq "async route: 202" "$HTTP_CODE" 202
id=$(echo "$HTTP_BODY" | j 'd["job"]')
wait_for sh -c "$BIN/atlas --url $ATLAS_URL --json job $id | grep -q completed"
expect_eq "async route: the model's pick ran" "$(atlas --json job "$id" | j 'd["agent"]')" "word-count"

# the model is gone: the rule-based choice stands and the decisions say so
kill $MODEL_PID; wait $MODEL_PID 2>/dev/null || true
atlas route --input '{"text": "a b c"}' --hint "summarization PICK word-count" >/dev/null 2>"$T/route.err"
expect_contains "model down: the rules decide" "$(cat "$T/route.err")" "routed to summarizer"
expect_contains "model down: said in the decisions" "$(last_job_decisions)" "the model could not be asked"
finish
