#!/bin/bash
# Eval hooks: evals/*.yaml in the spec's format registered with `atlas eval
# register` (located errors for bad files and bad conditions), assertion and
# llm_judge checks passing and failing (the judge is a stand-in OpenAI
# server behind the model gateway), every_execution / sampled / manual
# triggers (the sampled rate within tolerance over 1,000 runs), results
# stored, shown in the trace and counted in /metrics, `atlas eval run NAME
# --job ID`, and evals never delaying a job's result.
. "$(dirname "$0")/lib.sh"

python3 "$SRC/tests/e2e/fake_openai.py" "$T/judge.port" >"$T/judge.log" 2>&1 &
JUDGE_PID=$!
trap 'kill $JUDGE_PID 2>/dev/null; cleanup' EXIT
wait_for test -s "$T/judge.port"
cat >"$T/atlas.config.yaml" <<YAML
models:
  backends:
    fake:
      base_url: "http://127.0.0.1:$(cat "$T/judge.port")/v1"
      models: ["judge-model"]
      prices: {"judge-model": {input_per_mtok: 1.0, output_per_mtok: 2.0}}
YAML
start_daemon --config "$T/atlas.config.yaml"
atlas register --path "$EXAMPLES/summarizer" >/dev/null
atlas register --path "$EXAMPLES/echo-c" >/dev/null

# ---- registration and located errors ----
sed 's/claude-haiku/judge-model/' "$SRC/examples/evals/quality-check.yaml" >"$T/quality-check.yaml"
run_rc rc atlas eval register "$T/quality-check.yaml"
expect_eq "atlas eval register (the spec's file)" "$rc" 0
expect_contains "registered" "$(cat "$T/out")" "registered eval summary-quality (target summarizer, every_execution, 2 check(s))"
cat >"$T/bad.yaml" <<'YAML'
eval:
  name: "bad"
  target_agent: "summarizer"
  checks:
    - name: "c"
      type: "assertion"
      condition: "output.token_count <== 3"
YAML
run_rc rc atlas eval register "$T/bad.yaml"
expect_eq "a bad condition is refused" "$rc" 1
expect_contains "its error is at file:line:col of the condition" "$(cat "$T/err")" "bad.yaml:7:40: eval.checks[0].condition: unexpected \"=\" (did you mean \"==\"?)"
cat >"$T/bad2.yaml" <<'YAML'
eval:
  name: "bad2"
  target_agent: "summarizer"
  trigger: "hourly"
  checks: []
YAML
run_rc rc atlas eval register "$T/bad2.yaml"
expect_contains "a bad trigger is located" "$(cat "$T/err")" "bad2.yaml:4:12:"
run_rc rc atlas eval ls
expect_contains "atlas eval ls" "$(cat "$T/out")" "summary-quality"

# ---- every_execution: assertion passes, the judge fails (no GOOD in it) ----
text='Atlas runs agents. It keeps them warm. It validates input and output.'
http POST /api/v1/agents/summarizer/run "{\"text\": \"$text\", \"max_length\": 8}" -D "$T/h"
job1=$(tr -d '\r' <"$T/h" | sed -n 's/^Atlas-Job-Id: //p')
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/evals/results?job=$job1' | grep -q relevance_score"
http GET "/api/v1/evals/results?job=$job1"
expect_eq "every_execution: both checks ran" "$(echo "$HTTP_BODY" | j 'sorted((r["check"], r["passed"]) for r in d["results"])')" "[('length_compliance', True), ('relevance_score', False)]"
expect_eq "the judge's score is stored" "$(echo "$HTTP_BODY" | j '[r["score"] for r in d["results"] if r["type"] == "llm_judge"]')" "[2.0]"
# ---- the judge passes ----
http POST /api/v1/agents/summarizer/run '{"text": "GOOD news. GOOD results. Nothing else.", "max_length": 8}' -D "$T/h"
job2=$(tr -d '\r' <"$T/h" | sed -n 's/^Atlas-Job-Id: //p')
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/evals/results?job=$job2' | grep -q relevance_score"
http GET "/api/v1/evals/results?job=$job2&eval=summary-quality"
expect_eq "llm_judge passes at 4.5 >= 3.5" "$(echo "$HTTP_BODY" | j '[(r["passed"], r["score"]) for r in d["results"] if r["type"] == "llm_judge"]')" "[(True, 4.5)]"
expect_eq "the judge's tokens and cost are recorded" "$(echo "$HTTP_BODY" | j '[(r["tokens"], r["cost_usd"] > 0) for r in d["results"] if r["type"] == "llm_judge"]')" "[(42, True)]"
# ---- an assertion that fails, on a manual eval ----
cat >"$T/strict.yaml" <<'YAML'
eval:
  name: "strict"
  target_agent: "summarizer"
  trigger: "manual"
  checks:
    - name: "tiny"
      type: "assertion"
      condition: "output.token_count < 2 && contains(output.summary, 'Atlas')"
    - name: "typed"
      type: "assertion"
      condition: "output.summary > 3"
YAML
atlas eval register "$T/strict.yaml" >/dev/null
http GET "/api/v1/evals/results?job=$job1&eval=strict"
expect_eq "a manual eval does not run by itself" "$(echo "$HTTP_BODY" | j 'len(d["results"])')" "0"
run_rc rc atlas eval run strict --job "$job1"
expect_eq "atlas eval run: a failing check exits 1" "$rc" 1
expect_contains "the failing assertion" "$(cat "$T/out")" "FAIL  tiny"
expect_contains "a type error is a failure with its reason" "$(cat "$T/out")" "cannot order string and integer"
run_rc rc atlas eval run summary-quality --job "$job2"
expect_eq "atlas eval run: passing checks exit 0" "$rc" 0
run_rc rc atlas eval run nosuch --job "$job2"
expect_eq "atlas eval run of an unknown eval fails" "$rc" 1
expect_contains "and says so" "$(cat "$T/err")" "no eval \"nosuch\" is registered"
# ---- results in the trace and in metrics ----
http GET "/api/v1/traces/$job1"
expect_eq "eval results are in the trace" "$(echo "$HTTP_BODY" | j 'sorted((e["eval"], e["check"], e["passed"]) for e in d["evals"])')" "[('strict', 'tiny', False), ('strict', 'typed', False), ('summary-quality', 'length_compliance', True), ('summary-quality', 'relevance_score', False)]"
expect_eq "and on the job's span" "$(echo "$HTTP_BODY" | j 'len(d["spans"][0]["evals"])')" "4"
curl -s "$ATLAS_URL/metrics" >"$T/metrics"
expect_contains "metrics: eval checks counted" "$(cat "$T/metrics")" 'atlas_eval_checks_total{eval="summary-quality",check="relevance_score",result="fail"}'
expect_contains "metrics: eval pass ratio" "$(cat "$T/metrics")" 'atlas_eval_pass_ratio{eval="summary-quality"}'

# ---- evals never delay the result: a judge held until the test lets it go ----
cat >"$T/echo-judge.yaml" <<'YAML'
eval:
  name: "echo-judge"
  target_agent: "echo-c"
  checks:
    - {name: "judged", type: "llm_judge", model: "judge-model", prompt: "Rate it", threshold: 1}
YAML
atlas eval register "$T/echo-judge.yaml" >/dev/null
atlas run echo-c --input '{"warm": true}' >/dev/null
# the judge answers only once $T/judge.port.release exists: a run that
# waited for its eval would not return at all (curl gives up after 60 s)
http POST /api/v1/agents/echo-c/run '{"note": "HOLD"}' -D "$T/h" --max-time 60
expect_eq "the run returned while its judge is held" "$HTTP_CODE" 200
job3=$(tr -d '\r' <"$T/h" | sed -n 's/^Atlas-Job-Id: //p')
http GET "/api/v1/evals/results?job=$job3"
expect_eq "the judge's verdict was not there yet" "$(echo "$HTTP_BODY" | j 'len(d["results"])')" "0"
touch "$T/judge.port.release"
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/evals/results?job=$job3' | grep -q judged" || true
http GET "/api/v1/evals/results?job=$job3"
expect_eq "it arrived later" "$(echo "$HTTP_BODY" | j '[(r["check"], r["passed"]) for r in d["results"]]')" "[('judged', True)]"
atlas eval rm echo-judge >/dev/null

# ---- sampled: the rate holds over 1,000 runs ----
atlas eval rm summary-quality >/dev/null
atlas eval rm strict >/dev/null
cat >"$T/sampled.yaml" <<'YAML'
eval:
  name: "sampled-echo"
  target_agent: "echo-c"
  trigger: "sampled"
  sample_rate: 0.3
  checks:
    - name: "has_i"
      type: "assertion"
      condition: "exists(output.i) && output.i >= 0"
YAML
atlas eval register "$T/sampled.yaml" >/dev/null
python3 - "$ATLAS_URL" <<'PY'
import json, os, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url = sys.argv[1] + "/api/v1/agents/echo-c/run"
def run(i):
    req = urllib.request.Request(url, data=json.dumps({"i": i}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
with ThreadPoolExecutor(8) as ex:
    list(ex.map(run, range(1000)))
PY
# a sentinel: the monitor thread runs evals in the order jobs end and the
# writer stores results in order, so once an eval of a later job is stored,
# every sampled verdict of the 1,000 runs is too
cat >"$T/sentinel.yaml" <<'YAML'
eval:
  name: "sentinel"
  target_agent: "echo-c"
  checks:
    - {name: "last", type: "assertion", condition: "exists(output.last)"}
YAML
atlas eval register "$T/sentinel.yaml" >/dev/null
http POST /api/v1/agents/echo-c/run '{"i": 0, "last": true}' -D "$T/h"
sjob=$(tr -d '\r' <"$T/h" | sed -n 's/^Atlas-Job-Id: //p')
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/evals/results?job=$sjob' | grep -q sentinel" ||
    fail "the sentinel's eval result never arrived"
atlas eval rm sentinel >/dev/null
http GET "/api/v1/evals/results?eval=sampled-echo&limit=1000"
n=$(echo "$HTTP_BODY" | j "len([r for r in d['results'] if r['job_id'] != '$sjob'])")
# 1,000 draws at p = 0.3: mean 300, standard deviation 14.5; +-60 is 4 sigma
if [ "$n" -ge 240 ] && [ "$n" -le 360 ]; then pass "sampled at 0.3: $n of 1000 runs evaluated"; else fail "sampled at 0.3: $n of 1000 runs evaluated"; fi
expect_eq "every sampled check passed" "$(echo "$HTTP_BODY" | j 'all(r["passed"] for r in d["results"])')" "True"

# ---- evals survive a restart ----
stop_daemon
start_daemon --config "$T/atlas.config.yaml"
run_rc rc atlas eval ls
expect_contains "registered evals survive a restart" "$(cat "$T/out")" "sampled 0.3"
run_rc rc atlas eval rm sampled-echo
expect_eq "atlas eval rm" "$rc" 0
run_rc rc atlas eval rm sampled-echo
expect_eq "atlas eval rm of an unknown eval fails" "$rc" 1
finish
