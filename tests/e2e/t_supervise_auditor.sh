#!/bin/bash
# The supervisor's auditor (docs/supervisor.md "The auditor"): the gateway's
# small `auditor` tier, served here by a real llama-server with a tiny
# generated model, checks each worker result before the checks and the
# reviewer (the scripted fake model, tests/e2e/fake_openai.py) see it.  A
# score under --auditor's minimum sends the result back for revision; the
# auditor's score and findings are the verdict's and the gap proposal's
# evidence.  Without --auditor no auditor call is made.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/llm/lib.sh"
llm_require
mkdir -p "$DATA"
/usr/bin/python3 "$SRC/tests/e2e/fake_openai.py" "$T/fake.port" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true; llm_cleanup' EXIT
wait_file "$T/fake.port"
FP=$(cat "$T/fake.port")
start_llama aud-strict '{"score": 0.2, "findings": ["the note is empty"]}'
start_llama aud-ok '{"score": 0.95, "findings": ["well formed"]}'
config() { # AUDITOR_MODEL
    cat >"$T/config.yaml" <<YAML
models:
  backends:
    fake: {base_url: "http://127.0.0.1:$FP/v1", models: ["judge-model"]}
    strict: {base_url: "http://127.0.0.1:$PORT_aud_strict/v1", models: ["aud-strict"]}
    ok: {base_url: "http://127.0.0.1:$PORT_aud_ok/v1", models: ["aud-ok"]}
  tiers:
    fast: ["judge-model"]
    balanced: ["judge-model"]
    powerful: ["judge-model"]
    auditor: ["$1"]
YAML
}
config aud-strict
start_daemon --config "$T/config.yaml"
atlas register --path "$EXAMPLES/supervisor" >/dev/null
mkdir -p "$T/writer"
cat >"$T/writer/agent.yaml" <<'YAML'
agent:
  name: "writer"
  version: "1.0.0"
  description: "Writes a note (a supervisor's worker)"
  input: {schema: {type: object}}
  output: {schema: {type: object}}
YAML
cat >"$T/writer/agent.py" <<'PY'
from atlas import AgentBase


class Writer(AgentBase):
    async def execute(self, input, context):
        return {"note": input.get("text", ""), "revised": bool(input.get("revision_notes"))}
PY
atlas register --path "$T/writer" >/dev/null
cat >"$T/fake.port.plan" <<'JSON'
{"tasks": [{"id": "t1", "worker": "writer", "input": {"text": "one"}}],
 "gaps": [{"kind": "new_skill", "title": "a linter", "reason": "none",
           "payload": {"definition": {"name": "lint", "version": "1.0.0", "kind": "agent",
                                       "agent": "writer", "description": "lints"}}}]}
JSON

http GET /v1/models
expect_contains "the auditor tier is listed when configured" "$(echo "$HTTP_BODY" | j '[m["id"] for m in d["data"]]')" "atlas:auditor"

# --- a strict auditor: every attempt goes back, then the task fails
run_rc rc atlas supervise "one note" --auditor 0.5 --revisions 1 --json
expect_eq "an auditor score under the minimum fails the task after its revisions" "$rc:$(j 'd["output"]["tasks"][0]["attempts"], d["output"]["tasks"][0]["verdict"]' <"$T/out")" "1:2 fail"
expect_eq "the verdict is the auditor's, with its score and findings, from the auditor tier's model" \
    "$(j '[(v["source"], v["verdict"], v["score"], v["reasons"], v["auditor"]["model"]) for v in d["output"]["tasks"][0]["verdicts"][:1]]' <"$T/out")" \
    "[('auditor', 'needs_revision', 0.2, ['auditor: the note is empty'], 'aud-strict')]"
expect_eq "the revision notes the worker got are the auditor's findings" "$(curl -s "$ATLAS_URL/api/v1/jobs/$(curl -s "$ATLAS_URL/api/v1/jobs?agent=writer&limit=1" | j 'd["jobs"][0]["id"]')" | j 'd["input"].get("revision_notes")')" "['auditor: the note is empty']"
P=$(j '[p["id"] for p in d["output"]["proposals"]][0]' <"$T/out")
expect_eq "the gap's evidence carries the auditor's score and findings" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P" | j 'd["evidence"]["auditor"]["score"], d["evidence"]["auditor"]["findings"]')" "0.2 ['the note is empty', 'the note is empty']"
sjob=$(j 'd["id"]' <"$T/out")
expect_eq "the auditor's calls are the supervisor's, in its trace (two)" "$(curl -s "$ATLAS_URL/api/v1/costs?chain=$sjob&by=model" | j '[(r["key"], r["calls"]) for r in d["rows"] if r["key"] == "aud-strict"]')" "[('aud-strict', 2)]"

# --- a satisfied auditor: the checks and the reviewer then decide
stop_daemon
config aud-ok
start_daemon --config "$T/config.yaml"
run_rc rc atlas supervise "one note" --auditor 0.5 --json
expect_eq "an auditor score at or over the minimum: the reviewer decides (pass)" "$rc:$(j '[(t["verdict"], t["verdicts"][0]["source"], t["verdicts"][0]["auditor"]["score"]) for t in d["output"]["tasks"]]' <"$T/out")" "0:[('pass', 'auditor+checks+reviewer', 0.95)]"

# --- no --auditor: no auditor call
before=$(curl -s "$ATLAS_URL/api/v1/costs?by=model" | j 'sum(r["calls"] for r in d["rows"] if r["key"] == "aud-ok")')
run_rc rc atlas supervise "one note" --json
after=$(curl -s "$ATLAS_URL/api/v1/costs?by=model" | j 'sum(r["calls"] for r in d["rows"] if r["key"] == "aud-ok")')
expect_eq "without --auditor the auditor is not asked" "$rc:$before:$after" "0:1:1"
run_rc rc atlas supervise "x" --auditor 2
expect_contains "--auditor outside 0..1: a usage error" "$rc:$(cat "$T/err")" "2:atlas supervise: --auditor is a score from 0 to 1"
finish
