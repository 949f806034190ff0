#!/bin/bash
# The memory skill with embeddings (docs/skills.md "memory"): with
# skills.memory.embedding.model, put stores each value's vector from the
# model gateway's POST /v1/embeddings (tests/e2e/fake_openai.py answers
# deterministic trigram vectors) and search ranks by cosine similarity;
# mode: fts still asks FTS5; conversations stay isolated; embeddings calls
# are in the usage reports like chat calls (tokens, cost, backend, model;
# --by kind) and in the calling job's trace.
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 "$SRC/tests/e2e/fake_openai.py" "$T/fake.port" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true; cleanup' EXIT
wait_file "$T/fake.port"
FP=$(cat "$T/fake.port")
mkdir -p "$DATA"
cat >"$T/config.yaml" <<YAML
models:
  backends:
    fake:
      base_url: "http://127.0.0.1:$FP/v1"
      models: ["judge-model"]
      prices: {"judge-model": {input_per_mtok: 1000.0, output_per_mtok: 5000.0}}
  tiers:
    fast: ["judge-model"]
    balanced: ["judge-model"]
    powerful: ["judge-model"]
skills:
  memory:
    embedding: {model: fast}
YAML
start_daemon --config "$T/config.yaml"

# the gateway's route
http POST /v1/embeddings '{"model": "judge-model", "input": ["apple pie", "dog"]}'
expect_eq "POST /v1/embeddings" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'len(d["data"]), len(d["data"][0]["embedding"]), d["usage"]["total_tokens"]')" "200 2 64 3"
http POST /v1/embeddings '{"model": "no-such-model", "input": "x"}'
expect_eq "an unknown model" "$HTTP_CODE" "404"

mem() { atlas skill invoke memory --input "$1"; }
for kv in "k1:apple banana split" "k2:banana cherry smoothie" "k3:dog walking service" "k4:applesauce recipe"; do
    out=$(mem '{"op": "put", "key": "'"${kv%%:*}"'", "value": "'"${kv#*:}"'"}')
    expect_eq "put ${kv%%:*} is embedded" "$(echo "$out" | j 'd["stored"], d.get("embedded")')" "True True"
done
out=$(mem '{"op": "search", "query": "apples", "limit": 3}')
expect_eq "search ranks by cosine" "$(echo "$out" | j 'd["ranking"], d["model"], len(d["results"])')" "cosine fast 3"
# the expected order, from the fake's own vectors
want=$(curl -s -X POST -H 'Content-Type: application/json' "$ATLAS_URL/v1/embeddings" \
    -d '{"model": "judge-model", "input": ["apples", "apple banana split", "banana cherry smoothie", "dog walking service", "applesauce recipe"]}' |
    /usr/bin/python3 -c '
import json, math, sys
d = json.load(sys.stdin)["data"]
v = [x["embedding"] for x in d]
cos = lambda a, b: sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)) or 1)
keys = ["k1", "k2", "k3", "k4"]
print(sorted(keys, key=lambda k: -cos(v[0], v[1 + keys.index(k)]))[:3])')
expect_eq "in the order of the cosines" "$(echo "$out" | j '[r["key"] for r in d["results"]]')" "$want"
expect_eq "scores are the cosines, descending" "$(echo "$out" | j 'all(d["results"][i]["score"] >= d["results"][i + 1]["score"] for i in range(2)) and 0 < d["results"][0]["score"] <= 1')" "True"
out=$(mem '{"op": "search", "query": "apples", "mode": "fts"}')
expect_eq "mode fts: FTS5 finds no word \"apples\"" "$(echo "$out" | j 'd["ranking"], d["results"]')" "bm25 []"
out=$(mem '{"op": "search", "query": "banana", "mode": "fts"}')
expect_eq "mode fts: bm25 as before" "$(echo "$out" | j 'sorted(r["key"] for r in d["results"])')" "['k1', 'k2']"
out=$(mem '{"op": "search", "query": "apples", "conversation": "other"}')
expect_eq "another conversation sees none of them" "$(echo "$out" | j 'd["results"]')" "[]"
mem '{"op": "forget", "key": "k1"}' >/dev/null
out=$(mem '{"op": "search", "query": "apples"}')
expect_eq "a forgotten row is not found by its vector" "$(echo "$out" | j '"k1" in [r["key"] for r in d["results"]]')" "False"

# --- the usage reports: every embeddings call that reached the backend
# (2 on the route, 4 puts and 3 searches by the memory skill: 9),
# with the prompt_tokens the fake counts, priced at the input price
has_rows() { [ "$(curl -s "$ATLAS_URL/api/v1/costs?by=kind" | j 'sum(r["calls"] for r in d["rows"] if r["key"] == "embeddings")')" -ge 9 ]; }
wait_for has_rows || fail "the embeddings' usage rows were not written"
costs=$(atlas costs --by kind --json)
expect_eq "atlas costs --by kind: embeddings, with tokens" "$(echo "$costs" | j '[(r["key"], r["tokens_in"] > 0, r["tokens_out"]) for r in d["rows"]]')" "[('embeddings', True, 0)]"
expect_eq "priced at the model's input price" "$(echo "$costs" | j 'abs(d["rows"][0]["cost_usd"] - d["rows"][0]["tokens_in"] * 0.001) < 1e-9')" "True"
expect_contains "by model" "$(atlas costs --by model --json | j '[r["key"] for r in d["rows"]]')" "judge-model"
expect_contains "by backend" "$(atlas costs --by backend --json | j '[r["key"] for r in d["rows"]]')" "fake"
expect_eq "/v1/atlas/usage?group_by=kind" "$(curl -s "$ATLAS_URL/v1/atlas/usage?group_by=kind" | j '[u["key"] for u in d["usage"]]')" "['embeddings']"

# --- in a job: the calling job's usage and trace
sk=$(copy_agent "$AGENTS/skill-user" skill-user)
sed -i -e '/^      - web-search$/d' -e '/^      - file-ops$/d' -e 's/^      - code-execution$/      - memory/' "$sk/agent.yaml"
atlas register --path "$sk" >/dev/null
out=$(atlas run skill-user --input '{"calls": [{"skill": "memory", "input": {"op": "put", "key": "j1", "value": "a job remembers"}}]}')
expect_eq "a job's put is embedded" "$(echo "$out" | j 'd["results"][0]["output"]["embedded"]')" "True"
JOB=$(echo "$out" | j 'd["job_id"]')
job_rows() { [ "$(curl -s "$ATLAS_URL/api/v1/costs?job=$JOB&by=kind" | j 'len(d["rows"])')" = 1 ]; }
wait_for job_rows || fail "no usage row for the job"
expect_eq "the job's usage: one embeddings call" "$(curl -s "$ATLAS_URL/api/v1/costs?job=$JOB&by=kind" | j '[(r["key"], r["calls"]) for r in d["rows"]]')" "[('embeddings', 1)]"
expect_contains "and a span of its trace" "$(curl -s "$ATLAS_URL/api/v1/traces/$JOB")" "embeddings judge-model"
finish
