#!/bin/bash
# Proposals and approvals (docs/supervisor.md) against the real atlasd:
# approvals.require puts registering an untrusted agent and installing a
# skill behind proposals (202 with the proposal id); a decision is bound to
# the content hash it saw, single use, never by the proposer, refused to a
# viewer and to a job's token; approving executes exactly the approved
# content (the agent is registered, the skill installed; a directory that
# changed after filing is not); modify executes the edited payload; a kind
# Atlas cannot execute is refused "not supported yet"; every decision is in
# the audit (events and the signed log); the certification package is
# signed and verified; SSE announces changes; proposals survive a restart
# and expire.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
approvals:
  require: [register_untrusted, skill_install]
YAML
start_daemon --config "$T/config.yaml"
DEV=$(new_token dev developer)
VIEW=$(new_token watcher viewer)
ADMIN=$ATLAS_TOKEN
as() { tok=$1; shift; ATLAS_TOKEN=$tok "$@"; }
hash_of() { curl -s "$ATLAS_URL/api/v1/approvals/$1" | j 'd["hash"]'; }
state_of() { curl -s "$ATLAS_URL/api/v1/approvals/$1" | j 'd["state"]'; }

# --- SSE: every change is announced
curl -sN --max-time 25 -H 'Accept: text/event-stream' "$ATLAS_URL/api/v1/approvals/events" >"$T/sse" 2>/dev/null &
SSE_PID=$!
trap 'kill $SSE_PID 2>/dev/null || true; cleanup' EXIT
wait_grep "approvals" "$T/sse"
http GET /api/v1/approvals/events
expect_eq "the event stream needs Accept: text/event-stream" "$HTTP_CODE" 400

# --- an untrusted agent: a proposal instead of a registration
ag=$(copy_agent "$AGENTS/counter" counter)
run_rc rc as "$DEV" atlas register --path "$ag"
expect_contains "register (untrusted) answers with a pending proposal" "$rc:$(cat "$T/out")" "0:pending approval: proposal prop"
P1=$(sed -n 's/.*proposal \(prop[^ ]*\) .*/\1/p' "$T/out")
http GET /api/v1/agents/counter
expect_eq "nothing was registered yet" "$HTTP_CODE" 404
http POST /api/v1/agents "{\"path\": \"$ag\"}" -H "Authorization: Bearer $DEV"
expect_eq "the API answers 202 with the proposal id" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["status"], d["proposal_id"][:5]')" "202 pending_approval prop_"
P1b=$(echo "$HTTP_BODY" | j 'd["proposal_id"]')
expect_eq "ls shows both pending" "$(atlas approvals ls --state pending --json | j 'len(d["approvals"])')" 2
show=$(atlas approvals show "$P1")
expect_contains "show renders the package" "$show" "kind:       new_agent"
expect_contains "show: the signature verifies" "$show" "signature verified"
expect_contains "show: the impact" "$show" '"trusted": false'
expect_eq "the impact names the agent and what it requires" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P1" | j 'd["evidence"]["impact"]["agent"]["name"], "requires" in d["evidence"]["impact"]')" "counter True"
expect_eq "the payload pins the directory's digest" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P1" | j 'd["payload"]["digest"][:7], d["proposer"], d["package_verified"]')" "sha256: dev True"

# --- denials
H1=$(hash_of "$P1")
run_rc rc as "$VIEW" atlas approvals approve "$P1" --hash "$H1"
expect_eq "a viewer may not approve (403)" "$rc" 1
expect_contains "and is told why" "$(cat "$T/err")" "needs: admin"
run_rc rc as "$VIEW" atlas approvals ls
expect_eq "a viewer may list" "$rc" 0
http POST "/api/v1/approvals/$P1/approve" "{\"hash\": \"$H1\"}" -H "Authorization: Bearer $DEV"
expect_eq "a developer may not approve (403)" "$HTTP_CODE" 403

# the proposer amends after the decider looked: the old hash is refused
http POST "/api/v1/approvals/$P1/amend" "{\"payload\": {\"path\": \"$ag\", \"name\": \"counter\", \"force\": true}}" -H "Authorization: Bearer $DEV"
expect_eq "the proposer amends (new hash)" "$HTTP_CODE $([ "$(echo "$HTTP_BODY" | j 'd["hash"]')" != "$H1" ] && echo changed)" "200 changed"
http POST "/api/v1/approvals/$P1/amend" '{"payload": {"path": "/tmp"}}'
expect_eq "nobody else amends (403)" "$HTTP_CODE" 403
run_rc rc atlas approvals approve "$P1" --hash "$H1"
expect_eq "stale hash: refused (409)" "$rc" 1
expect_contains "stale hash: says the content changed" "$(cat "$T/err")" "changed since it was shown"
http POST "/api/v1/approvals/$P1/approve" "{\"hash\": \"$H1\"}"
expect_eq "stale hash over HTTP: 409" "$HTTP_CODE" 409
H1=$(hash_of "$P1")
run_rc rc atlas approvals approve "$P1" --hash "$H1" --why "reviewed the counter"
expect_eq "approve with the current hash: executed" "$rc:$(cat "$T/out")" "0:$P1: done"
http GET /api/v1/agents/counter
expect_eq "the agent is registered" "$HTTP_CODE" 200
expect_eq "the result names it" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P1" | j 'd["result"]["agent"], d["decision"]["by"], d["decision"]["why"], d["decision"]["hash_executed"] == d["hash"]')" "counter local-admin reviewed the counter True"
expect_eq "a first version's impact: no comparable runs yet, the headroom now" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P1" | j 'd["evidence"]["impact"]["expected"]["runs"], d["evidence"]["impact"]["expected"]["p50_ms"], type(d["evidence"]["impact"]["headroom"]["memory_used_pct"]).__name__')" "0 None float"
atlas run counter --input '{}' >/dev/null && atlas run counter --input '{}' >/dev/null
http POST /api/v1/agents "{\"path\": \"$ag\", \"force\": true}" -H "Authorization: Bearer $DEV"
PI=$(echo "$HTTP_BODY" | j 'd["proposal_id"]')
expect_eq "a new version's impact: latency and cost from its comparable runs" "$(curl -s "$ATLAS_URL/api/v1/approvals/$PI" | j 'd["evidence"]["impact"]["expected"]["runs"], isinstance(d["evidence"]["impact"]["expected"]["p50_ms"], int), d["evidence"]["impact"]["expected"]["cost_usd_per_run"]')" "2 True 0.0"
atlas approvals reject "$PI" --why "only the impact" >/dev/null
run_rc rc atlas approvals approve "$P1" --hash "$H1"
expect_eq "double use: refused" "$rc" 1
expect_contains "double use: says it was decided" "$(cat "$T/err")" "is already done"
run_rc rc atlas approvals reject "$P1" --hash "$H1"
expect_eq "no second decision of another kind either" "$rc" 1

run_rc rc atlas approvals wait "$P1"
expect_eq "wait on an executed proposal: exit 0" "$rc:$(cat "$T/out")" "0:$P1: done"
run_rc rc atlas approvals wait "$P1b" --timeout 0.3
expect_eq "wait on a pending one times out: exit 1" "$rc" 1
expect_contains "and says it is still pending" "$(cat "$T/err")" "still pending"

# self-approval: the admin files, the admin may not decide
run_rc rc atlas approvals propose --kind new_skill --title "a definition" --payload '{"definition": {"name": "x"}}'
PS=$(cut -d' ' -f1 "$T/out")
expect_eq "the admin files a proposal" "$rc:${PS:0:5}" "0:prop_"
run_rc rc atlas approvals approve "$PS"
expect_eq "self-approval: refused" "$rc" 1
expect_contains "self-approval: says why" "$(cat "$T/err")" "may not decide on it"
http POST "/api/v1/approvals/$PS/reject" "{\"hash\": \"$(hash_of "$PS")\"}"
expect_eq "self-rejection too (403)" "$HTTP_CODE" 403
expect_eq "still pending" "$(state_of "$PS")" "pending"

# --- the directory changed after filing: nothing is installed
ag2=$(copy_agent "$AGENTS/counter" counter2)
sed -i 's/^  name: "counter"/  name: "counter2"/' "$ag2/agent.yaml"
P2=$(as "$DEV" atlas register --path "$ag2" --json | j 'd["proposal_id"]')
echo "# changed" >>"$ag2/agent.yaml"
run_rc rc atlas approvals approve "$P2"
expect_eq "a changed directory: the execution fails" "$rc:$(state_of "$P2")" "1:failed"
expect_contains "and says why" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P2" | j 'd["error"]["message"]')" "changed since the proposal was filed"
http GET /api/v1/agents/counter2
expect_eq "counter2 was not registered" "$HTTP_CODE" 404

# --- a skill: proposal, modify (the edit is executed and recorded)
mkdir -p "$T/greeter/scripts"
printf -- '---\nname: greeter\ndescription: Says hello\nlicense: MIT\n---\nRun scripts/hello.sh NAME.\n' >"$T/greeter/SKILL.md"
printf 'echo "hello $1"\n' >"$T/greeter/scripts/hello.sh"
run_rc rc as "$DEV" atlas skill register "$T/greeter"
expect_contains "skill install: pending approval" "$rc:$(cat "$T/out")" "0:pending approval"
P3=$(atlas approvals ls --state pending --json | j '[p["id"] for p in d["approvals"] if p["kind"] == "new_skill" and p["proposer"] == "dev"][0]')
http GET /api/v1/skills/greeter
expect_eq "the skill is not installed yet" "$HTTP_CODE" 404
dg=$(curl -s "$ATLAS_URL/api/v1/approvals/$P3" | j 'd["payload"]["digest"]')
run_rc rc atlas approvals modify "$P3" --payload "{\"path\": \"$T/greeter\", \"version\": \"2.0.0\", \"digest\": \"$dg\"}" --why "ship it as 2.0.0"
expect_eq "modify executes the edited payload" "$rc:$(cat "$T/out")" "0:$P3: done"
expect_eq "greeter@2.0.0 is installed" "$(curl -s "$ATLAS_URL/api/v1/skills/greeter" | j 'd["version"]')" "2.0.0"
expect_eq "the edit is recorded" "$(curl -s "$ATLAS_URL/api/v1/approvals/$P3" | j 'd["decision"]["action"], "version" in d["original_payload"], d["decision"]["hash_seen"] != d["decision"]["hash_executed"]')" "modify False True"
expect_contains "show says the package predates the edit" "$(atlas approvals show "$P3")" "sealed before the payload was edited"

# --- the package's diff: the installed definition against the proposed one
run_rc rc as "$DEV" atlas approvals propose --kind new_skill --title "an agent skill" \
    --payload '{"definition": {"name": "count-words", "version": "1.0.0", "kind": "agent", "agent": "counter", "description": "counts"}}'
PD=$(cut -d' ' -f1 "$T/out")
show=$(atlas approvals show "$PD")
expect_contains "a new skill's diff is against nothing" "$show" "--- /dev/null"
expect_contains "and adds its definition" "$show" '+  "agent": "counter",'

# --- an orchestrator proposal: approving it fills the slot, as `atlas orchestrator set`
run_rc rc as "$DEV" atlas register --path "$AGENTS/orch-crash"
run_rc rc atlas approvals approve "$(grep -o 'prop_[0-9A-Z]*' "$T/out" | head -1)"
run_rc rc as "$DEV" atlas approvals propose --kind orchestrator --title "route with orch-crash" \
    --payload '{"agent": "orch-crash"}'
PO=$(cut -d' ' -f1 "$T/out")
expect_eq "the slot is empty until approved" "$(curl -s "$ATLAS_URL/api/v1/orchestrator" | j 'd.get("default")')" "None"
run_rc rc atlas approvals approve "$PO"
expect_eq "approved: executed" "$rc:$(state_of "$PO")" "0:done"
expect_eq "the orchestrator slot names the agent" "$(curl -s "$ATLAS_URL/api/v1/orchestrator" | j 'd["default"]')" "orch-crash"
atlas orchestrator reset >/dev/null 2>&1 || curl -s -X DELETE "$ATLAS_URL/api/v1/orchestrator" >/dev/null
http POST /api/v1/approvals '{"kind": "orchestrator", "title": "x", "payload": {"agent": "orch-crash", "strategy": "supervised"}}' -H "Authorization: Bearer $DEV"
expect_eq "an orchestrator strategy: not supported yet, with its pointer" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd.get("pointer"), "not supported yet" in d["detail"]')" "400 /payload/strategy True"
run_rc rc as "$DEV" atlas approvals propose --kind orchestrator --title "not an orchestrator" \
    --payload '{"agent": "counter"}'
PN=$(cut -d' ' -f1 "$T/out")
run_rc rc atlas approvals approve "$PN"
expect_eq "approving a non-orchestrator: the execution fails, nothing set" "$rc:$(state_of "$PN"):$(curl -s "$ATLAS_URL/api/v1/orchestrator" | j 'd.get("default")')" "1:failed:None"

# --- a kind Atlas cannot execute: refused "not supported yet", then rejected
run_rc rc as "$DEV" atlas approvals propose --kind dependency --title "needs jq" --payload '{"name": "jq", "ecosystem": "debian"}' \
    --evidence '{"auditor": {"score": 0.9, "findings": ["none"]}, "impact": {"capabilities": []}}'
P4=$(cut -d' ' -f1 "$T/out")
run_rc rc atlas approvals approve "$P4"
expect_eq "approving a dependency: refused" "$rc" 1
expect_contains "as not supported yet" "$(cat "$T/err")" "not supported yet"
atlas approvals wait "$P4" >"$T/wait.out" 2>&1 &
WAIT_PID=$!
run_rc rc atlas approvals reject "$P4" --why "install it by hand"
expect_eq "rejected" "$rc:$(state_of "$P4")" "0:rejected"
set +e
wait $WAIT_PID
wrc=$?
set -e
expect_eq "a waiter sees the rejection: exit 1" "$wrc:$(cat "$T/wait.out")" "1:$P4: rejected"
expect_contains "show renders the auditor" "$(atlas approvals show "$P4")" "auditor:    score 0.90"
http POST /api/v1/approvals '{"kind": "new_agent", "title": "bad", "payload": {"path": "rel/dir"}}'
expect_eq "a bad payload is refused with its pointer" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd.get("pointer")')" "400 /payload/path"
http POST /api/v1/approvals '{"kind": "wish", "title": "bad", "payload": {}}'
expect_eq "an unknown kind is refused" "$HTTP_CODE" 400
http POST /api/v1/approvals '{"kind": "tool_fix", "title": "x", "payload": {"tool": "t"}}' -H "Authorization: Bearer $VIEW"
expect_eq "a viewer may not file (403)" "$HTTP_CODE" 403

# --- batch
run_rc rc as "$DEV" atlas approvals propose --kind config --title "one" --payload '{"key": "execution.max_spawn_depth", "value": 5}'
B1=$(cut -d' ' -f1 "$T/out")
run_rc rc as "$DEV" atlas approvals propose --kind config --title "two" --payload '{"key": "execution.max_spawn_depth", "value": 6}'
B2=$(cut -d' ' -f1 "$T/out")
http POST /api/v1/approvals/batch "{\"decisions\": [{\"id\": \"$B1\", \"action\": \"reject\", \"hash\": \"$(hash_of "$B1")\"}, {\"id\": \"$B2\", \"action\": \"reject\", \"hash\": \"sha256:00\"}]}"
expect_eq "batch: each decided on its own" "$HTTP_CODE $(echo "$HTTP_BODY" | j '[r.get("state", r.get("error")) for r in d["results"]], d["refused"]')" "200 ['rejected', 'conflict'] 1"

# --- SSE saw them
wait_grep "event: proposal.executed" "$T/sse"
expect_contains "SSE: filed" "$(cat "$T/sse")" "event: proposal.filed"
expect_contains "SSE: decided" "$(cat "$T/sse")" "event: proposal.decided"

# --- MCP: people decide over MCP too, under the same rules
mcp() { # mcp TOOL ARGS_JSON -> the CallToolResult (with $ATLAS_TOKEN)
    /usr/bin/python3 - "$ATLAS_URL" "$1" "$2" <<'PY'
import json, os, sys, urllib.request
url, tool, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": tool, "arguments": args, "_meta": meta}}).encode()
req = urllib.request.Request(url + "/mcp", body, {
    "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    "Authorization": "Bearer " + os.environ["ATLAS_TOKEN"],
    "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool})
text = urllib.request.urlopen(req, timeout=60).read().decode()
if text.startswith("event:") or text.startswith("id:") or text.startswith("data:"):
    text = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")][-1]
print(json.dumps(json.loads(text)["result"]))
PY
}
r=$(as "$DEV" mcp atlas.approvals.propose '{"kind": "tool_fix", "title": "over mcp", "payload": {"tool": "t"}}')
PM=$(echo "$r" | j 'd["structuredContent"]["id"]')
expect_eq "MCP: a developer files (proposer: its token's name)" "$(echo "$r" | j 'd["structuredContent"]["proposer"]')" "dev"
r=$(as "$DEV" mcp atlas.approvals.decide "{\"id\": \"$PM\", \"action\": \"reject\", \"hash\": \"$(hash_of "$PM")\"}")
expect_eq "MCP: a developer may not decide" "$(echo "$r" | j 'd["isError"], d["structuredContent"]["code"]')" "True permission-denied"
r=$(mcp atlas.approvals.decide "{\"id\": \"$PS\", \"action\": \"reject\", \"hash\": \"$(hash_of "$PS")\"}")
expect_eq "MCP: self-approval refused there too" "$(echo "$r" | j 'd["isError"], d["structuredContent"]["code"]')" "True permission-denied"
r=$(mcp atlas.approvals.decide "{\"id\": \"$PM\", \"action\": \"reject\", \"hash\": \"$(hash_of "$PM")\", \"why\": \"no\"}")
expect_eq "MCP: the admin rejects" "$(echo "$r" | j 'd["structuredContent"]["state"], d["structuredContent"]["decision"]["by"]')" "rejected local-admin"

# --- the audit: events, and the signed log's semantic records
ev=$(curl -s "$ATLAS_URL/api/v1/audit?event=proposal.decided&limit=100")
expect_eq "decisions are audit events (allowed and denied)" "$(echo "$ev" | j 'sorted(set(r["outcome"] for r in d["records"]))')" "['approved', 'denied', 'modified', 'rejected']"
atlas audit export --out "$T/bundle.json" 2>/dev/null
sem=$(/usr/bin/python3 - "$T/bundle.json" "$P1" <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1]))
out = []
for e in b["entries"]:
    env = e["envelope"] if isinstance(e["envelope"], dict) else json.loads(e["envelope"])
    st = json.loads(base64.b64decode(env["payload"]))
    pred = st.get("predicate", {})
    s = json.dumps(pred)
    if sys.argv[2] in s:
        rec = pred.get("record", {})
        out.append(e.get("kind", "?") + ":" + (rec.get("type") or rec.get("event") or "?"))
print(sorted(set(out)))
PY
)
expect_contains "the signed log has the semantic decision" "$sem" "semantic:proposal.decided"
expect_contains "and the execution" "$sem" "semantic:proposal.executed"
run_rc rc atlas audit verify
expect_eq "the audit log verifies" "$rc" 0

# --- auto-approve: off until a person approves a policy proposal that sets a rule
expect_eq "no rules by default" "$(atlas approvals rules)" "no auto-approve rules: every proposal waits for a person"
run_rc rc as "$DEV" atlas approvals propose --kind policy --title "auto-approve vetted skills" \
    --payload '{"name": "approvals.auto_approve", "change": {"kind": "new_skill", "enabled": true, "checks_pass": true, "auditor_score_min": 0.8}}'
PP=$(cut -d' ' -f1 "$T/out")
expect_eq "the rule is not in force while its proposal is pending" "$(curl -s "$ATLAS_URL/api/v1/approvals/rules" | j 'len(d["rules"])')" 0
run_rc rc atlas approvals approve "$PP"
expect_eq "approved: the rule is set" "$rc:$(state_of "$PP"):$(curl -s "$ATLAS_URL/api/v1/approvals/rules" | j '[(r["kind"], r["auditor_score_min"], r["proposal"]) for r in d["rules"]]')" "0:done:[('new_skill', 0.8, '$PP')]"
expect_contains "atlas approvals rules shows it" "$(atlas approvals rules)" ">= 0.80"
SK='{"definition": {"name": "auto-skill", "version": "1.0.0", "kind": "agent", "agent": "counter", "description": "counts"}}'
run_rc rc as "$DEV" atlas approvals propose --kind new_skill --title "vetted" --payload "$SK" \
    --evidence '{"checks": [{"task": "t1", "verdict": "pass"}], "auditor": {"score": 0.9, "findings": []}}'
PA=$(cut -d' ' -f1 "$T/out")
expect_contains "evidence meeting the rule: approved automatically" "$(cat "$T/err")" "approved automatically"
expect_eq "executed, decided by auto-approve with the rule named" "$(curl -s "$ATLAS_URL/api/v1/approvals/$PA" | j 'd["state"], d["decision"]["by"], "'"$PP"'" in d["decision"]["why"]')" "done auto-approve True"
expect_eq "the skill is installed" "$(curl -s "$ATLAS_URL/api/v1/skills/auto-skill" | j 'd["version"]')" "1.0.0"
run_rc rc as "$DEV" atlas approvals propose --kind new_skill --title "low score" \
    --payload '{"definition": {"name": "auto-skill2", "version": "1.0.0", "kind": "agent", "agent": "counter", "description": "x"}}' \
    --evidence '{"checks": [{"task": "t1", "verdict": "pass"}], "auditor": {"score": 0.5}}'
expect_eq "an auditor score under the minimum: pending" "$(state_of "$(cut -d' ' -f1 "$T/out")")" pending
run_rc rc as "$DEV" atlas approvals propose --kind new_skill --title "a failed check" \
    --payload '{"definition": {"name": "auto-skill3", "version": "1.0.0", "kind": "agent", "agent": "counter", "description": "x"}}' \
    --evidence '{"checks": [{"task": "t1", "verdict": "pass"}, {"task": "t2", "verdict": "needs_revision"}], "auditor": {"score": 0.95}}'
expect_eq "a check that did not pass: pending" "$(state_of "$(cut -d' ' -f1 "$T/out")")" pending
http POST /api/v1/approvals '{"kind": "policy", "title": "x", "payload": {"name": "approvals.auto_approve", "change": {"kind": "policy", "enabled": true}}}' -H "Authorization: Bearer $DEV"
expect_eq "a rule that would approve policies is refused" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd.get("pointer")')" "403 /payload/change/kind"
http POST /api/v1/approvals '{"kind": "policy", "title": "x", "payload": {"name": "approvals.auto_approve", "change": {"kind": "new_skill", "enabled": true, "auditor_score_min": 2}}}' -H "Authorization: Bearer $DEV"
expect_eq "a score outside 0..1 is refused" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd.get("pointer")')" "400 /payload/change/auditor_score_min"
run_rc rc as "$DEV" atlas approvals propose --kind policy --title "another policy" --payload '{"name": "registry.policy", "change": {"allow_unsigned": true}}'
PX=$(cut -d' ' -f1 "$T/out")
run_rc rc atlas approvals approve "$PX"
expect_contains "another policy: not supported yet" "$rc:$(cat "$T/err")" "1:"
expect_contains "says so" "$(cat "$T/err")" "not supported yet"
atlas approvals reject "$PX" --why "by hand" >/dev/null

# --- a job's token: no decisions
if command -v python3 >/dev/null; then
    http POST "/api/v1/approvals/$PS/approve" "{\"hash\": \"$(hash_of "$PS")\"}" -H "Authorization: Bearer not-a-token"
    expect_eq "an unknown bearer: 401" "$HTTP_CODE" 401
fi

# --- proposals survive a restart, and expire
stop_daemon
cat >"$T/config.yaml" <<'YAML'
approvals:
  require: [register_untrusted, skill_install]
  ttl_s: 1
YAML
start_daemon --config "$T/config.yaml"
expect_eq "after a restart: the history is there" "$(state_of "$P1") $(state_of "$P3")" "done done"
expect_eq "and the auto-approve rule" "$(curl -s "$ATLAS_URL/api/v1/approvals/rules" | j '[r["kind"] for r in d["rules"]]')" "['new_skill']"
ps_expired() { [ "$(state_of "$PS")" = expired ]; }
wait_until 10 ps_expired || true
expect_eq "a pending proposal past approvals.ttl_s expires" "$(state_of "$PS")" "expired"
run_rc rc atlas approvals approve "$P1b"
expect_eq "an expired one cannot be approved" "$rc" 1
expect_contains "says it expired" "$(cat "$T/err")" "already expired"
cat >"$T/bad.yaml" <<'YAML'
approvals:
  require: [launch_rockets]
YAML
run_rc rc "$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 --config "$T/bad.yaml"
expect_contains "an action Atlas cannot gate: refused at start" "$rc:$(cat "$T/err" "$T/out")" "not supported yet"
finish
