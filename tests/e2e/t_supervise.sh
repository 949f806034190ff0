#!/bin/bash
# Supervisor mode (docs/supervisor.md) with the scripted fake model
# (tests/e2e/fake_openai.py): `atlas supervise` plans through the gateway,
# the platform validates the plan against the run's scope, two workers run
# as child jobs, a check fails once and forces a revision, the reviewer
# passes, a capability gap becomes a new_skill proposal filed by the
# supervisor's job, and the report and the live progress say so.  The trust
# boundary: plans asking for paths outside the scope (`..`, absolute
# elsewhere) are refused; a worker's job token may not register agents,
# decide proposals, or see its sibling's job.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA" "$T/work/src" "$T/other"
/usr/bin/python3 "$SRC/tests/e2e/fake_openai.py" "$T/fake.port" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true; cleanup' EXIT
wait_file "$T/fake.port"
FP=$(cat "$T/fake.port")
cat >"$T/config.yaml" <<YAML
models:
  backends:
    fake: {base_url: "http://127.0.0.1:$FP/v1", models: ["judge-model"]}
  tiers:
    fast: ["judge-model"]
    balanced: ["judge-model"]
    powerful: ["judge-model"]
YAML
start_daemon --config "$T/config.yaml"
atlas register --path "$EXAMPLES/supervisor" >/dev/null

# a worker: writes a note; says whether it was asked to revise
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
# a probe worker: what its job token may do
mkdir -p "$T/probe"
cat >"$T/probe/agent.yaml" <<'YAML'
agent:
  name: "probe"
  version: "1.0.0"
  description: "Tries what a worker's token may not do"
  requires: {platform_tools: true}
  input: {schema: {type: object}}
  output: {schema: {type: object}}
YAML
cat >"$T/probe/agent.py" <<'PY'
import json
import os
import urllib.error
import urllib.request

from atlas import AgentBase, AtlasError


class Probe(AgentBase):
    async def execute(self, input, context):
        base = os.environ["ATLAS_MCP_URL"].rsplit("/mcp", 1)[0]
        req = urllib.request.Request(base + "/api/v1/agents", method="POST",
                                     data=json.dumps({"path": "/tmp"}).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer " + context.token})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                register = r.status
        except urllib.error.HTTPError as e:
            register = e.code
        out = {"register": register}
        for name, args in [("atlas.approvals.decide", {"id": "x", "action": "approve", "hash": "h"}),
                           ("atlas.exec.status", {"job": input.get("sibling", "none")}),
                           ("atlas.approvals.list", {})]:
            try:
                r = await context.call_tool(name, args)
                out[name] = "allowed" if name != "atlas.approvals.list" else len(r["approvals"])
            except AtlasError as e:
                out[name] = e.code if e.code != "tool-error" else str(e)
        me = await context.call_tool("atlas.exec.status", {"job": context.job_id})
        out["own"] = me["state"]
        try:
            await context.call_tool("atlas.exec.status", {"job": me["parent"]})
            out["parent"] = "allowed"
        except AtlasError as e:
            out["parent"] = str(e)
        return out
PY
atlas register --path "$T/writer" >/dev/null
atlas register --path "$T/probe" >/dev/null

# --- a supervised goal: two tasks, one revised once, one gap
cat >"$T/fake.port.plan" <<JSON
Here is the plan:
\`\`\`json
{"tasks": [
  {"id": "t1", "worker": "writer", "description": "the first note", "input": {"text": "one"},
   "scope": {"paths": [{"path": "$T/work/src", "mode": "write"}]},
   "checks": [{"name": "revised", "code": "import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['revised'] else 1)"}]},
  {"id": "t2", "worker": "writer", "input": {"text": "two"},
   "checks": [{"name": "non-empty", "code": "import json,sys; sys.exit(0 if json.load(sys.stdin)['note'] else 1)"}]}
 ],
 "gaps": [{"kind": "new_skill", "title": "a markdown linter skill", "reason": "no skill checks notes",
           "payload": {"definition": {"name": "md-lint", "version": "1.0.0", "kind": "agent",
                                       "agent": "writer", "description": "lints notes"}}}]}
\`\`\`
JSON
touch "$T/work/README"
run_rc rc atlas supervise "write two notes" --context "$T/work" --scope "$T/work" --workers 2
expect_eq "supervise: every task passed (exit 0)" "$rc" 0
out=$(cat "$T/out")
expect_contains "progress: planned" "$out" "planned"
expect_contains "progress: t1 asked for a revision" "$out" "needs_revision"
expect_contains "report: the verdict" "$out" "verdict: pass"
expect_contains "report: the proposal" "$out" "(new_skill): a markdown linter skill"
job=$(sed -n 's/^supervisor job \(.*\)$/\1/p' "$T/out")
rep=$(curl -s "$ATLAS_URL/api/v1/jobs/$job" | j 'd["output"]')
expect_eq "t1 took two attempts, t2 one" "$(curl -s "$ATLAS_URL/api/v1/jobs/$job" | j '[(t["id"], t["attempts"], t["verdict"]) for t in d["output"]["tasks"]]')" "[('t1', 2, 'pass'), ('t2', 1, 'pass')]"
expect_eq "the first verdict names the failed check" "$(curl -s "$ATLAS_URL/api/v1/jobs/$job" | j 'd["output"]["tasks"][0]["verdicts"][0]["verdict"], d["output"]["tasks"][0]["verdicts"][0]["reasons"][0][:20]')" "needs_revision check revised failed"
expect_eq "the reviewer scored the result" "$(curl -s "$ATLAS_URL/api/v1/jobs/$job" | j 'd["output"]["tasks"][1]["verdicts"][0]["review"]["score"]')" "0.9"
expect_eq "workers are child jobs of the supervisor" "$(atlas jobs --json --agent writer | j 'sorted(set(x["parent"] for x in d["jobs"]))')" "['$job']"
P=$(atlas approvals ls --json | j '[p["id"] for p in d["approvals"] if p["kind"] == "new_skill"][0]')
expect_eq "the gap is a pending proposal filed by the supervisor's job" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P" | j 'd["state"], d["proposer"]')" "pending job:$job"
expect_contains "its evidence carries the verdicts" "$(atlas approvals show "$P")" '"verdict": "pass"'
run_rc rc atlas approvals approve "$P"
expect_eq "approved by a person: executed" "$rc:$(cat "$T/out")" "0:$P: done"
expect_eq "the skill is installed" "$(curl -s "$ATLAS_URL/api/v1/skills/md-lint" | j 'd["name"]')" "md-lint"

# --- the audit trail: the checked plan is a semantic log; the supervisor's
# receipt and its workers' carry its digest (docs/audit.md)
atlas audit export --out "$T/bundle.json" 2>/dev/null
expect_eq "receipts of the run name the plan's semantic log" "$(/usr/bin/python3 - "$T/bundle.json" "$job" <<'PY'
import base64, hashlib, json, sys
b, job = json.load(open(sys.argv[1])), sys.argv[2]
recs = [(e["kind"], json.loads(base64.b64decode(json.loads(e["envelope"])["payload"]))["predicate"]["record"])
        for e in b["entries"]]
def digest(r):
    return "sha256:" + hashlib.sha256(json.dumps(r, separators=(",", ":"), sort_keys=True,
                                                 ensure_ascii=False).encode()).hexdigest()
plans = [r for k, r in recs if k == "semantic" and r.get("type") == "plan" and r.get("job") == job]
mine = [r for k, r in recs if k == "receipt" and (r["job"] == job or r.get("parent") == job)]
workers = [r for r in mine if r.get("parent") == job]
print(len(plans), [t["worker"] for t in plans[0]["tasks"]] if plans else None, len(workers) >= 3,
      bool(plans) and all(r["semantic_log"] == digest(plans[0]) for r in mine))
PY
)" "1 ['writer', 'writer'] True True"
expect_eq "each attempt's verdict is a semantic log naming the worker job it judged" "$(/usr/bin/python3 - "$T/bundle.json" "$job" <<'PY'
import base64, json, sys
b, job = json.load(open(sys.argv[1])), sys.argv[2]
recs = [(e["kind"], json.loads(base64.b64decode(json.loads(e["envelope"])["payload"]))["predicate"]["record"])
        for e in b["entries"]]
workers = {r["job"] for k, r in recs if k == "receipt" and r.get("parent") == job}
v = sorted((r["task"], r["attempt"], r["verdict"]) for k, r in recs
           if k == "semantic" and r.get("type") == "verdict" and r["job"] == job)
ok = all(r["worker_job"] in workers for k, r in recs if k == "semantic" and r.get("type") == "verdict" and r["job"] == job)
print(v, ok)
PY
)" "[('t1', 1, 'needs_revision'), ('t1', 2, 'pass'), ('t2', 1, 'pass')] True"
expect_eq "verdicts are eval results of the worker jobs (eval supervisor)" "$(curl -s "$ATLAS_URL/api/v1/evals/results?eval=supervisor&limit=50" | j 'sorted((r["check"], r["passed"], r["agent"]) for r in d["results"] if r["root_id"] == "'"$job"'")')" "[('t1#1', False, 'writer'), ('t1#2', True, 'writer'), ('t2#1', True, 'writer')]"

# --- --json: the report
run_rc rc atlas supervise "again" --scope "$T/work" --json
expect_eq "--json: the job with the report" "$rc:$(j 'd["output"]["verdict"], len(d["output"]["tasks"])' <"$T/out")" "0:pass 2"

# --- the trust boundary: scopes
sed "s#$T/work/src#$T/work/../other#" "$T/fake.port.plan" >"$T/p2" && mv "$T/p2" "$T/fake.port.plan"
run_rc rc atlas supervise "escape by .." --scope "$T/work"
expect_eq "a plan asking for work/../other: refused" "$rc" 1
expect_contains "says why" "$(cat "$T/out")" "without \".\", \"..\""
sed "s#$T/work/../other#$T/other#" "$T/fake.port.plan" >"$T/p2" && mv "$T/p2" "$T/fake.port.plan"
run_rc rc atlas supervise "escape by an absolute path" --scope "$T/work"
expect_contains "a plan asking for a path outside the scope: refused" "$rc:$(cat "$T/out")" "outside the supervised scope"
run_rc rc atlas supervise "no scope given" 
expect_contains "without --scope no task may ask for paths" "$rc:$(cat "$T/out")" "outside the supervised scope"

# --- the trust boundary: a worker's token
sib=$(atlas jobs --json --agent writer --limit 1 | j 'd["jobs"][0]["id"]')
cat >"$T/fake.port.plan" <<JSON
{"tasks": [{"id": "p", "worker": "probe", "input": {"sibling": "$sib"}},
           {"id": "w", "worker": "writer", "input": {"text": "x"}}]}
JSON
run_rc rc atlas supervise "probe" --json
probe=$(j 'json.dumps([t for t in d["output"]["tasks"] if t["id"] == "p"][0].get("output"))' <"$T/out")
expect_eq "a worker may not register an agent (403)" "$(echo "$probe" | j 'd["register"]')" 403
expect_eq "a worker may not decide a proposal" "$(echo "$probe" | j 'd["atlas.approvals.decide"]')" "permission-denied"
expect_contains "a worker may not see another tree's job" "$(echo "$probe" | j 'd["atlas.exec.status"]')" "neither this job nor one it started"
expect_eq "a worker sees its own job" "$(echo "$probe" | j 'd["own"]')" "running"
expect_contains "but not its supervisor's (nor so a sibling's)" "$(echo "$probe" | j 'd["parent"]')" "neither this job nor one it started"
expect_eq "a worker sees no proposal it did not file" "$(echo "$probe" | j 'd["atlas.approvals.list"]')" 0
finish
