#!/bin/bash
# Daily quotas of model tokens per API token (docs/security.md "Quotas"):
# a token's own --tokens-per-day and security.tokens_per_day; its direct
# model calls and the model calls of the runs it started count; past it,
# model calls and new runs get 429 with Retry-After (the seconds to 00:00
# UTC) and a detail naming the quota and when it resets; the count survives
# a restart; other tokens are not affected.  The stand-in model server
# (tests/e2e/fake_openai.py) reports 42 tokens a call.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY "$SRC/tests/e2e/fake_openai.py" "$T/model.port" >"$T/model.log" 2>&1 &
MODEL_PID=$!
trap 'kill $MODEL_PID 2>/dev/null || true; cleanup' EXIT
wait_for test -s "$T/model.port"
cat >"$T/atlas.config.yaml" <<YAML
security: {tokens_per_day: 100}
models:
  backends:
    fake: {base_url: "http://127.0.0.1:$(cat "$T/model.port")/v1", models: ["judge-model"]}
  tiers: {fast: ["judge-model"], balanced: ["judge-model"], powerful: ["judge-model"]}
YAML
start_daemon --config "$T/atlas.config.yaml"
atlas register --path "$EXAMPLES/summarizer" >/dev/null
atlas register --path "$EXAMPLES/word-count" >/dev/null

chat_as() { # TOKEN: one model call; prints the status, the body in $T/chat, headers in $T/hdr
    anon_curl -s -o "$T/chat" -D "$T/hdr" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' \
        -d '{"model":"judge-model","messages":[{"role":"user","content":"hi"}]}' \
        "$ATLAS_URL/v1/chat/completions"
}
run_as() { # TOKEN AGENT INPUT
    anon_curl -s -o "$T/run" -D "$T/hdr" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$3" "$ATLAS_URL/api/v1/agents/$2/run"
}

run_rc rc atlas token create --name q-bad --role operator --tokens-per-day -3
expect_eq "a negative quota is refused" "$rc" 2
run_rc rc atlas token create --name q-small --role operator --tokens-per-day 80
expect_eq "token create --tokens-per-day" "$rc" 0
small=$(cat "$T/out")
expect_eq "token ls shows it" "$(atlas token ls --json | j '[t["tokens_per_day"] for t in d["tokens"] if t["name"]=="q-small"][0]')" 80
other=$(new_token q-other operator)

# ---- direct model calls ----
expect_eq "first call: 200" "$(chat_as "$small")" 200
expect_eq "second call (84 of 80 tokens after it): 200" "$(chat_as "$small")" 200
expect_eq "third call: 429" "$(chat_as "$small")" 429
detail=$(j 'd["detail"]' <"$T/chat")
expect_contains "the detail names the token and the quota" "$detail" 'token "q-small" has used its daily quota of model tokens (tokens_per_day: 80, used today: 84)'
expect_contains "and when it resets" "$detail" "resets at 00:00 UTC"
ra=$(grep -i '^Retry-After:' "$T/hdr" | tr -dc 0-9)
now=$(date -u +%s)
midnight=$(( (now / 86400 + 1) * 86400 ))
[ -n "$ra" ] && [ $((now + ra)) -ge $((midnight - 5)) ] && [ $((now + ra)) -le $((midnight + 5)) ] &&
    pass "Retry-After is the time to 00:00 UTC (${ra} s)" || fail "Retry-After [$ra], want about $((midnight - now))"
expect_eq "an OpenAI-style error code" "$(j 'd["error"]["code"]' <"$T/chat")" "limit-exceeded"
expect_eq "new runs are refused too: 429" "$(run_as "$small" word-count '{"text":"a b"}')" 429
expect_eq "reading is not" "$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $small" "$ATLAS_URL/api/v1/agents")" 200
expect_eq "another token is not affected" "$(chat_as "$other")" 200
who=$(anon_curl -s -H "Authorization: Bearer $small" "$ATLAS_URL/api/v1/whoami")
expect_eq "whoami shows the quota" "$(echo "$who" | j 'd["quota"]["tokens_per_day"], d["quota"]["used_today"], d["quota"]["resets_ms"] == '"$midnight"' * 1000')" "80 84 True"
expect_contains "the denial is audited" "$(atlas audit ls --event access.denied --json)" "daily quota"

# ---- runs: the model calls of a run count against the token that started it ----
text="Atlas runs agents as processes. The cat sat on the mat. Atlas keeps agent processes warm."
expect_eq "a run by the token with the default quota (100)" "$(run_as "$other" summarizer "{\"text\": \"$text\", \"max_length\": 20}")" 200
expect_eq "its agent asked the model" "$(j 'd["method"]' <"$T/run")" "model"
other_id=$(atlas token ls --json | j '[t["id"] for t in d["tokens"] if t["name"]=="q-other"][0]')
last=$(curl -s "$ATLAS_URL/api/v1/jobs?agent=summarizer&limit=1" | j 'd["jobs"][0]["id"]')
expect_eq "the job records whose run it is (kept for a requeue after a restart)" \
    "$(curl -s "$ATLAS_URL/api/v1/jobs/$last" | j 'd["meta"]["owner"]')" "$other_id"
used=$(anon_curl -s -H "Authorization: Bearer $other" "$ATLAS_URL/api/v1/whoami" | j 'd["quota"]["used_today"]')
expect_eq "the run's model call counts for the token (42 + 42)" "$used" 84
expect_eq "so the next call makes 126 of 100" "$(chat_as "$other")" 200
expect_eq "and a run is refused" "$(run_as "$other" summarizer "{\"text\": \"$text\"}")" 429
# a run started before the quota ran out whose agent then calls the model:
# its call is refused, and the agent falls back (the summarizer's way)
third=$(curl -sS -X POST -H 'Content-Type: application/json' \
    --data-binary '{"name":"q-third","role":"operator","tokens_per_day":40}' "$ATLAS_URL/api/v1/tokens" | j 'd["token"]')
expect_eq "a 40-token quota: the first run goes" "$(run_as "$third" summarizer "{\"text\": \"$text\", \"max_length\": 20}")" 200
expect_eq "the second run is refused before it starts" "$(run_as "$third" summarizer "{\"text\": \"$text\"}")" 429

# ---- the count survives a restart ----
stop_daemon
start_daemon --config "$T/atlas.config.yaml"
expect_eq "after a restart: still 429" "$(chat_as "$small")" 429
expect_eq "with the day's count kept" "$(anon_curl -s -H "Authorization: Bearer $small" "$ATLAS_URL/api/v1/whoami" | j 'd["quota"]["used_today"]')" 84
expect_eq "the default does not bind admin tokens" "$(curl -s "$ATLAS_URL/api/v1/whoami" | j 'd["quota"]["tokens_per_day"]')" 0
finish
