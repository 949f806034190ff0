#!/bin/bash
# The gateway's connection pool under faults injected by tests/llm/faultproxy.py
# in front of real llama-server instances: 429/503 with Retry-After -> retry ->
# fallback, stalls, a failing backend marked down and probed back, a client
# that leaves, and the concurrency limit held under 200 parallel requests.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/llm/lib.sh"
llm_require

start_llama tiny-a "Alpha answers briefly."
start_llama tiny-b "Bravo replies quickly."
start_proxy f "http://127.0.0.1:$PORT_tiny_a/v1"
start_proxy s "http://127.0.0.1:$PORT_tiny_b/v1"
cat >"$T/atlas.config.yaml" <<YAML
models:
  backends:
    flaky: {base_url: "$PROXY_f/v1", max_concurrency: 4, timeout: 1, models: ["tiny-a"]}
    steady: {base_url: "$PROXY_s/v1", max_concurrency: 8, models: ["tiny-b"]}
  tiers:
    fast: ["tiny-a", "tiny-b"]
  retry: {max_retries: 1, max_retry_after: 5}
  health: {failure_threshold: 2, probe_interval: 1}
YAML
start_daemon --config "$T/atlas.config.yaml"
msg='"messages":[{"role":"user","content":"Say something."}]'
now() { $PY -c 'import time; print(time.time())'; }
attempts() { echo "$HTTP_BODY" | j '" ".join("%s:%s" % (a["model"], a["status"]) for a in d["atlas"]["attempts"])'; }
# served_by_a: a plain request is answered by tiny-a at the first attempt
# (the flaky backend is usable again: its Retry-After cool-down or its
# probe_interval is over); wait_for it instead of sleeping for that time
served_by_a() { chat "{\"model\":\"atlas:fast\",$msg}"; [ "$(attempts)" = "tiny-a:200" ]; }

# ---- 429 with Retry-After: wait, retry, then fall back ----
fault "$PROXY_f" '{"mode":"429","count":2,"retry_after":"1"}'
t0=$(now)
chat "{\"model\":\"atlas:fast\",$msg}"
t1=$(now)
expect_eq "429 x2: answered by the fallback" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["atlas"]["model"]')" "200 tiny-b"
expect_eq "429 x2: attempts" "$(attempts)" "tiny-a:429 tiny-a:429 tiny-b:200"
expect_eq "429: Retry-After honoured (waited >= 1 s)" "$($PY -c "print($t1 - $t0 >= 1.0)")" "True"
expect_eq "429: retry_after_ms recorded" "$(echo "$HTTP_BODY" | j 'd["atlas"]["attempts"][0]["retry_after_ms"]')" "1000"

wait_for served_by_a || fail "flaky never cooled down after Retry-After"
fault "$PROXY_f" '{"mode":"429","count":1,"retry_after":"1"}'
chat "{\"model\":\"atlas:fast\",$msg}"
expect_eq "429 x1: the retry succeeds on the same model" "$(attempts)" "tiny-a:429 tiny-a:200"
wait_for served_by_a || fail "flaky never cooled down after Retry-After"
fault "$PROXY_f" '{"mode":"503","count":1,"retry_after":"1"}'
chat "{\"model\":\"atlas:fast\",$msg}"
expect_eq "503 x1: retried" "$(attempts)" "tiny-a:503 tiny-a:200"

wait_for served_by_a || fail "flaky never cooled down after Retry-After"
fault "$PROXY_f" '{"mode":"429","count":1,"retry_after":"30"}'
t0=$(now)
chat "{\"model\":\"atlas:fast\",$msg}"
t1=$(now)
# waiting would take 5 s (the cap) or 30 s: anything shorter is "at once"
expect_eq "Retry-After beyond max_retry_after: fall back at once" "$(attempts) $($PY -c "print($t1 - $t0 < 5.0)")" "tiny-a:429 tiny-b:200 True"
chat "{\"model\":\"atlas:fast\",$msg}"
expect_eq "a backend cooling down is skipped" "$(echo "$HTTP_BODY" | j 'd["atlas"]["attempts"][0]["error"]+" "+d["atlas"]["model"]')" "backend cooling down tiny-b"
stop_daemon
start_daemon --config "$T/atlas.config.yaml"

# ---- a stall: the backend's timeout, then fallback ----
fault "$PROXY_f" '{"mode":"stall","count":1}'
chat "{\"model\":\"atlas:fast\",$msg}"
expect_eq "stall: timed out, fallback" "$(echo "$HTTP_BODY" | j 'd["atlas"]["model"]+" "+str(d["atlas"]["attempts"][0]["status"])')" "tiny-b 0"
expect_contains "stall: reason" "$(echo "$HTTP_BODY" | j 'd["atlas"]["attempts"][0]["error"]')" "imeout"

# ---- streaming falls back before the first byte ----
fault "$PROXY_f" '{"mode":"500","count":1}'
curl -sN "$ATLAS_URL/v1/chat/completions" -d "{\"model\":\"atlas:fast\",\"stream\":true,$msg}" >"$T/s1"
expect_eq "stream after a 500: the fallback streams" "$(grep -c 'Bravo' "$T/s1") $(tail -n 2 "$T/s1" | head -n 1)" "1 data: [DONE]"

# ---- down after repeated failures, probed back ----
stop_daemon
start_daemon --config "$T/atlas.config.yaml"
fault "$PROXY_f" '{"mode":"500","count":-1}'
chat "{\"model\":\"atlas:fast\",$msg}"
expect_eq "500: fallback" "$(attempts)" "tiny-a:500 tiny-b:200"
chat "{\"model\":\"atlas:fast\",$msg}"
expect_eq "500 again: fallback" "$(attempts)" "tiny-a:500 tiny-b:200"
expect_eq "stats: flaky marked down (threshold 2)" "$(curl -sf "$ATLAS_URL/v1/atlas/stats" | j '[b["health"]["down"] for b in d["backends"] if b["name"]=="flaky"][0]')" "True"
chat "{\"model\":\"atlas:fast\",$msg}"
expect_eq "a down backend is skipped" "$(echo "$HTTP_BODY" | j 'd["atlas"]["attempts"][0]["error"]+" "+d["atlas"]["model"]')" "backend down tiny-b"
fault "$PROXY_f" '{"mode":"none"}'
# down until a probe after probe_interval (1 s) succeeds
if wait_for served_by_a; then pass "probe after probe_interval brings it back"
else fail "probe after probe_interval brings it back: $(attempts)"; fi
expect_eq "stats: flaky up again" "$(curl -sf "$ATLAS_URL/v1/atlas/stats" | j '[b["health"]["down"] for b in d["backends"] if b["name"]=="flaky"][0]')" "False"

# ---- 200 parallel requests, max_concurrency 4 ----
curl -sf -X POST "$PROXY_f/__reset" >/dev/null
fault "$PROXY_f" '{"mode":"none","delay_ms":20}'
seq 200 | xargs -P 200 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$ATLAS_URL/v1/chat/completions" \
    -d "{\"model\":\"tiny-a\",\"messages\":[{\"role\":\"user\",\"content\":\"n{}\"}]}" >"$T/codes"
expect_eq "200 parallel: all answered" "$(sort "$T/codes" | uniq -c | awk '{print $1" "$2}')" "200 200"
expect_eq "200 parallel: upstream never saw more than 4" "$(pstat "$PROXY_f" | j 'str(d["peak"])+" "+str(d["requests"])')" "4 200"
st=$(curl -sf "$ATLAS_URL/v1/atlas/stats" | j '[b["concurrency"] for b in d["backends"] if b["name"]=="flaky"][0]')
expect_eq "stats: peak 4, requests queued, queue time measured" \
    "$(echo "$st" | $PY -c 'import ast,sys; c=ast.literal_eval(sys.stdin.read()); print(c["peak"], c["queued"] > 100, c["queue_ms_max"] > 20, c["in_use"], c["waiting"])')" "4 True True 0 0"
llm_finish
