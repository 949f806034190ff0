#!/bin/bash
# Custom triggers (type: custom): an emitter agent, started and kept running
# by the trigger service, emits events through the platform tool
# atlas.triggers.emit; each starts the target with the event's body; a
# restarted emitter's repeated events (same idempotency keys) start
# nothing; a user may emit through MCP; pause, resume and rm stop and start
# the emitter; located errors.
. "$(dirname "$0")/lib.sh"
jt() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(($1))"; }
mkdir -p "$DATA"
start_daemon
d=$(copy_agent "$AGENTS/slow" mail-responder)
sed -i 's/name: "slow"/name: "mail-responder"/; s/default: 1000/default: 0/' "$d/agent.yaml"
atlas register --path "$d" >/dev/null
atlas register --path "$AGENTS/emitter" >/dev/null
cat >"$T/mail.yaml" <<'YAML'
trigger:
  type: custom
  description: "mail arrives (an IMAP watcher would emit these)"
  emitter:
    agent: "emitter"
    input: {trigger: "mail", count: 3}
  target:
    agent: "mail-responder"
  input_map:
    subject: "$.body.subject"
YAML
run_rc rc atlas trigger register "$T/mail.yaml"
expect_eq "register a custom trigger" "$rc $(cat "$T/out")" "0 registered custom trigger mail"
firings() { atlas trigger history mail --json -n 100 | jt 'len([f for f in d["firings"] if f.get("source") == "custom"])'; }
firings_are() { [ "$(firings)" = "$1" ]; }
wait_for firings_are 3 || true
expect_eq "the emitter's three events fired the trigger" "$(firings)" "3"
em=$(atlas trigger describe mail --json | jt 'd["emitter_job"]')
expect_contains "describe names the emitter's job" "$em" "job_"
expect_eq "the emitter job runs" "$(job_state "$em")" "running"
job=$(atlas trigger history mail --json | jt '[f for f in d["firings"] if f.get("source") == "custom"][-1]["job_id"]')
wait_job_state "$job" completed
http GET "/api/v1/jobs/$job"
expect_eq "the job: the event's body mapped, source custom, identity the emitter" \
    "$(printf '%s' "$HTTP_BODY" | jt 'd["output"]["subject"], d["meta"]["event"]["source"]["type"], d["meta"]["event"]["identity"]["job"]')" \
    "('mail 1', 'custom', '$em')"

# the emitter ends (cancelled here): it is started again, and its repeated
# events are duplicates
atlas cancel "$em" >/dev/null
wait_job_state "$em" cancelled
new_emitter() { e=$(atlas trigger describe mail --json | jt 'd.get("emitter_job") or ""'); [ -n "$e" ] && [ "$e" != "$em" ]; }
wait_for new_emitter || true
em2=$(atlas trigger describe mail --json | jt 'd.get("emitter_job")')
expect_eq "a new emitter job after the first ended" "$([ "$em2" != "$em" ] && [ "$em2" != None ] && echo new)" "new"
wait_for /bin/sh -c "curl -sS '$ATLAS_URL/api/v1/jobs/$em2/logs' | grep -q 'emitted 3'" || true
expect_eq "its repeated events started nothing (same idempotency keys)" "$(firings)" "3"

mcp_call() { # mcp_call TOOL ARGS_JSON -> structuredContent (or the error result)
    /usr/bin/python3 - "$ATLAS_URL" "$1" "$2" <<'PY'
import json, os, sys, urllib.request
url, tool, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": tool, "arguments": args, "_meta": meta}}).encode()
req = urllib.request.Request(url + "/mcp", body, {
    "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool,
    "Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]})
text = urllib.request.urlopen(req, timeout=60).read().decode()
if text.startswith("event:") or text.startswith("id:") or text.startswith("data:"):
    text = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")][-1]
r = json.loads(text)["result"]
print(json.dumps(r.get("structuredContent", r)))
PY
}
out=$(mcp_call atlas.triggers.emit '{"name": "mail", "body": {"subject": "by hand"}, "idempotency_key": "u-1"}')
expect_eq "a user may emit too" "$(printf '%s' "$out" | jt 'd["duplicate"]')" "False"
wait_job_state "$(printf '%s' "$out" | jt 'd["job_id"]')" completed
out=$(mcp_call atlas.triggers.emit '{"name": "mail", "body": {"subject": "by hand"}, "idempotency_key": "u-1"}')
expect_eq "the same key again: a duplicate" "$(printf '%s' "$out" | jt 'd["duplicate"]')" "True"
expect_contains "only custom triggers take events" "$(mcp_call atlas.triggers.emit '{"name": "nope"}')" "no trigger named"

# pause stops the emitter, resume starts one, rm stops it
atlas trigger pause mail >/dev/null
wait_job_state "$em2" cancelled
expect_contains "a paused trigger refuses events" \
    "$(mcp_call atlas.triggers.emit '{"name": "mail", "body": {}}')" "is paused"
atlas trigger resume mail >/dev/null
third() { e=$(atlas trigger describe mail --json | jt 'd.get("emitter_job") or ""'); [ -n "$e" ] && [ "$e" != "$em" ] && [ "$e" != "$em2" ]; }
wait_for third || true
em3=$(atlas trigger describe mail --json | jt 'd.get("emitter_job")')
expect_eq "resume starts the emitter again" "$(third && echo yes)" "yes"
atlas trigger rm mail >/dev/null
wait_job_state "$em3" cancelled
expect_eq "rm stops the emitter" "$(job_state "$em3")" "cancelled"

# ---- located errors ----
printf 'trigger:\n  type: custom\n  emitter:\n    agent: "nobody"\n  target:\n    agent: mail-responder\n' >"$T/bad1.yaml"
run_rc rc atlas trigger register "$T/bad1.yaml"
expect_contains "an emitter that is not registered" "$rc $(cat "$T/err")" "bad1.yaml:4:12: trigger.emitter.agent: no agent named \"nobody\" is registered"
printf 'trigger:\n  type: custom\n  target:\n    agent: mail-responder\n' >"$T/bad2.yaml"
run_rc rc atlas trigger register "$T/bad2.yaml"
expect_contains "custom without an emitter" "$rc $(cat "$T/err")" "custom triggers need an emitter"
printf 'trigger:\n  type: webhook\n  path: /hooks/w\n  emitter:\n    agent: emitter\n  target:\n    agent: mail-responder\n' >"$T/bad3.yaml"
run_rc rc atlas trigger register "$T/bad3.yaml"
expect_contains "emitter on a webhook" "$rc $(cat "$T/err")" "bad3.yaml:4:3: trigger.emitter: not a key of webhook triggers"
finish
