#!/bin/bash
# Running agents: `atlas run`, POST /api/v1/agents/NAME/run (sync and
# Prefer: respond-async), jobs, input/output validation, problem+json.
. "$(dirname "$0")/lib.sh"
start_daemon
atlas register --path "$EXAMPLES/summarizer" >/dev/null
atlas register --path "$EXAMPLES/word-count" >/dev/null
for a in raise bad-output; do atlas register --path "$AGENTS/$a" >/dev/null; done

# The spec's example, verbatim
http POST /api/v1/agents/summarizer/run '{
  "text": "...",
  "max_length": 100
}'
expect_eq "spec example: 200" "$HTTP_CODE" 200
expect_eq "spec example: output has summary and token_count" "$(echo "$HTTP_BODY" | j '{"summary", "token_count"} <= set(d)')" "True"
long="Atlas is a daemon. It runs agents. Agents are registered once. They run anywhere. The runtime pools them. Results are validated."
out=$(atlas run summarizer --input "{\"text\": \"$long\", \"max_length\": 8}")
expect_eq "summary respects max_length" "$(echo "$out" | j 'd["token_count"] <= 8')" "True"

# input from a file and from stdin
echo '{"text": "one two three"}' >"$T/in.json"
expect_eq "--input @file" "$(atlas run word-count --input @"$T/in.json" | j 'd["words"]')" "3"
expect_eq "stdin" "$(echo '{"text": "one two"}' | atlas run word-count | j 'd["words"]')" "2"
expect_eq "--input -" "$(echo '{"text": "x"}' | atlas run word-count --input - | j 'd["words"]')" "1"
run_rc rc atlas run word-count --input '{"text": '
expect_eq "bad JSON input is a usage error" "$rc" 2
expect_contains "and says where" "$(cat "$T/err")" "is not valid JSON"

# defaults from the schema are applied before the job is queued
atlas run word-count --input '{"text":"a b"}' >/dev/null
expect_eq "defaults applied to the stored input" "$(atlas jobs --json --limit 1 | j 'd["jobs"][0]["id"]' | xargs -I{} "$BIN/atlas" --json job {} | j 'd["input"]["top"]')" "0"

# input schema violation: 400, JSON Pointer, nothing queued
before=$(atlas jobs --json --limit 1000 | j 'len(d["jobs"])')
http POST /api/v1/agents/word-count/run '{"text": "x", "top": "many"}'
expect_eq "input violation: 400" "$HTTP_CODE" 400
expect_eq "input violation: type" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:schema-violation"
expect_eq "input violation: pointer" "$(echo "$HTTP_BODY" | j 'd["pointer"]')" "/top"
expect_contains "input violation: the detail names the pointer too" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "input /top must be integer, got string"
expect_eq "nothing was queued" "$(atlas jobs --json --limit 1000 | j 'len(d["jobs"])')" "$before"
run_rc rc atlas run word-count --input '{"words": 1}'
expect_eq "CLI: input violation exits 1" "$rc" 1
expect_contains "CLI: names the problem" "$(cat "$T/err")" "missing required property \"text\""
run_rc rc atlas run word-count --input '{"text": "x", "top": "many"}'
expect_contains "CLI: names the value's pointer" "$(cat "$T/err")" "input /top must be integer, got string"
http POST /api/v1/agents/word-count/run '[1,2]'
expect_eq "non-object input: 400" "$HTTP_CODE" 400
http POST /api/v1/agents/word-count/run '{"text": "x"'
expect_eq "malformed JSON body: 400" "$HTTP_CODE" 400
expect_eq "malformed JSON body: parse-error" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:parse-error"
http POST /api/v1/agents/nope/run '{}'
expect_eq "unknown agent: 404" "$HTTP_CODE" 404

# output schema violation
run_rc rc atlas run bad-output --input '{}'
expect_eq "output violation fails the run" "$rc" 1
expect_contains "output violation names it" "$(cat "$T/err")" "agent output does not match its schema"
expect_contains "output violation names the pointer in the output" "$(cat "$T/err")" "output /count must be integer"
http POST /api/v1/agents/bad-output/run '{}'
expect_eq "output violation: 502" "$HTTP_CODE" 502
expect_eq "output violation: type" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:output-schema-violation"
expect_eq "output violation: pointer into the output" "$(echo "$HTTP_BODY" | j 'd["pointer"].startswith("/")')" "True"

# an exception in the agent
run_rc rc atlas run raise --input '{"message": "boom from the agent"}'
expect_eq "agent exception fails the run" "$rc" 1
expect_contains "with the agent's message" "$(cat "$T/err")" "boom from the agent"
expect_eq "and the process survives (warm)" "$(curl -s "$ATLAS_URL/api/v1/health" | j '[p["workers"] for p in d["engine"]["pools"] if p["agent"].startswith("raise")][0]')" "1"

# Prefer: respond-async
http POST /api/v1/agents/word-count/run '{"text": "a b c d"}' -H 'Prefer: respond-async' -D "$T/hdrs"
expect_eq "async: 202" "$HTTP_CODE" 202
id=$(echo "$HTTP_BODY" | j 'd["job"]')
expect_contains "async: Location header" "$(cat "$T/hdrs")" "Location: /api/v1/jobs/$id"
wait_for sh -c "curl -s $ATLAS_URL/api/v1/jobs/$id | grep -q completed"
http GET "/api/v1/jobs/$id"
expect_eq "job: state" "$(echo "$HTTP_BODY" | j 'd["state"]')" "completed"
expect_eq "job: output" "$(echo "$HTTP_BODY" | j 'd["output"]["words"]')" "4"
expect_eq "job: timings" "$(echo "$HTTP_BODY" | j 'd["started_at"] is not None and d["finished_at"] is not None and d["duration_ms"] >= 0')" "True"
id2=$(atlas run --async word-count --input '{"text": "z"}')
expect_contains "atlas run --async prints a job id" "$id2" "job_"

# job listing filters
expect_eq "jobs ?agent=" "$(curl -s "$ATLAS_URL/api/v1/jobs?agent=raise" | j 'set(x["agent"] for x in d["jobs"])')" "{'raise'}"
expect_eq "jobs ?state=failed" "$(curl -s "$ATLAS_URL/api/v1/jobs?state=failed" | j 'set(x["state"] for x in d["jobs"])')" "{'failed'}"
expect_eq "jobs ?limit=2 pages" "$(curl -s "$ATLAS_URL/api/v1/jobs?limit=2" | j 'len(d["jobs"]) == 2 and "next_before" in d')" "True"
nb=$(curl -s "$ATLAS_URL/api/v1/jobs?limit=2" | j 'd["next_before"]')
expect_eq "jobs ?before= continues" "$(curl -s "$ATLAS_URL/api/v1/jobs?limit=2&before=$nb" | j 'all(x["id"] for x in d["jobs"])')" "True"
http GET "/api/v1/jobs?state=bogus"
expect_eq "bad filter: 400" "$HTTP_CODE" 400
http GET /api/v1/jobs/job_nope
expect_eq "unknown job: 404" "$HTTP_CODE" 404
run_rc rc atlas jobs --agent word-count
expect_contains "atlas jobs table" "$(cat "$T/out")" "completed"

# method not allowed
http PUT /api/v1/agents
expect_eq "405 for a wrong method" "$HTTP_CODE" 405

# a body over the limit
head -c 5000000 /dev/zero | tr '\0' 'a' >"$T/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$T/big" "$ATLAS_URL/api/v1/agents/word-count/run")
expect_eq "oversized body: 413" "$code" 413

finish
