#!/bin/bash
# Triggers: the spec's three trigger files as printed (cron-nightly, webhook,
# chat), located registration errors, the commands (register ls describe rm
# pause resume fire history next), cron firings on a fake clock
# (ATLAS_CLOCK) with downtime under both `missed` policies and a kill -9
# between a firing's record and its job, webhook signatures (GitHub, Stripe,
# generic HMAC: valid, invalid, replayed), idempotency keys, the body limit,
# the event recorded in the job and shown by `atlas trace`, and a triggers
# directory loaded at start.
. "$(dirname "$0")/lib.sh"
jt() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(($1))"; }
mkdir -p "$DATA" "$T/triggers" "$T/tdir"
# quiesce: wait until no job is queued or running (their last rows are in
# the store) before stopping the daemon: a stop while a job's row is still
# in the writer's queue is the engine's shutdown race (at_engine_free
# before the writer has run the engine's completions), not what this test
# is about
quiesce() {
    wait_for /usr/bin/python3 -c '
import json, os, sys, urllib.request
u = sys.argv[1] + "/api/v1/jobs?limit=1000"
req = urllib.request.Request(u, headers={"Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]})
d = json.load(urllib.request.urlopen(req))
sys.exit(1 if any(j["state"] in ("queued", "running") for j in d["jobs"]) else 0)' "$ATLAS_URL" || true
}
# 2026-12-04T01:59:50Z
T0=1796349590
echo $T0 >"$T/clock"
export ATLAS_CLOCK=file:$T/clock
export HOOK_SECRET=s3cret
printf 'filesecret\n' >"$T/secret"
cat >"$T/config.yaml" <<YAML
triggers:
  dir: $T/tdir
YAML
start_daemon --config "$T/config.yaml"

# the targets the spec's files name: echoing agents and a one-step chain
for a in deploy-responder front-door analyst sleeper; do
    d=$(copy_agent "$AGENTS/slow" "$a")
    sed -i "s/name: \"slow\"/name: \"$a\"/" "$d/agent.yaml"
    [ "$a" = sleeper ] || sed -i 's/default: 1000/default: 0/' "$d/agent.yaml"
    [ "$a" != sleeper ] || sed -i 's/default: 1000/default: 30000/' "$d/agent.yaml"
    atlas register --path "$d" >/dev/null
done
cat >"$T/nightly.yaml" <<'YAML'
chain:
  name: "nightly-analysis"
  steps:
    - agent: "analyst"
      input_map:
        scope: "$.trigger.scope"
YAML
atlas chain register "$T/nightly.yaml" >/dev/null

# ---- the spec's files, as printed ----
for f in cron-nightly webhook chat; do
    cp "$SRC/examples/triggers/$f.yaml" "$T/triggers/$f.yaml"
    run_rc rc atlas trigger register "$T/triggers/$f.yaml"
    expect_eq "register $f.yaml" "$rc $(cat "$T/out")" \
        "0 registered $(case $f in cron-nightly) echo cron ;; webhook) echo webhook ;; chat) echo conversational ;; esac) trigger $f"
done
expect_eq "ls lists the three" "$(atlas trigger ls --json | jt 'sorted(t["name"] for t in d["triggers"])')" \
    "['chat', 'cron-nightly', 'webhook']"
expect_contains "ls as a table" "$(atlas trigger ls)" "cron-nightly  cron"
expect_eq "next firings of cron-nightly" "$(atlas trigger next cron-nightly -n 3 | tr '\n' ' ')" \
    "2026-12-04T02:00:00.000Z 2026-12-05T02:00:00.000Z 2026-12-06T02:00:00.000Z "
expect_eq "describe --json" "$(atlas trigger describe webhook --json | jt 'd["path"], d["target"]')" \
    "('/hooks/deploy-alert', {'agent': 'deploy-responder'})"
run_rc rc atlas trigger next webhook
expect_contains "next of a webhook trigger is refused" "$rc $(cat "$T/err")" "only cron triggers have firing times"
run_rc rc atlas trigger --help
expect_contains "trigger --help" "$rc $(cat "$T/out")" "0 usage: atlas trigger register FILE"

# ---- located errors ----
chk() { # chk NAME YAML: register, leave stderr in $T/err
    printf '%s\n' "$2" >"$T/$1.yaml"
    run_rc rc atlas trigger register "$T/$1.yaml"
}
chk badcron 'trigger:
  type: cron
  schedule: "0 2 * *"
  target:
    chain: nightly-analysis'
expect_contains "a bad cron expression is located" "$rc $(cat "$T/err")" "badcron.yaml:3:13: trigger.schedule: cron: expected 5 fields"
chk unknownkey 'trigger:
  type: webhook
  path: /hooks/u
  target:
    agent: deploy-responder
  retries: 3'
expect_contains "an unknown key is located" "$(cat "$T/err")" "unknownkey.yaml:6:3: trigger.retries: unknown key \"retries\""
chk collide 'trigger:
  type: webhook
  path: /api/v1/agents
  target:
    agent: deploy-responder'
expect_contains "a path colliding with the API" "$(cat "$T/err")" "collide.yaml:3:9: trigger.path: \"/api/v1/agents\" collides with the daemon's /api endpoints"
chk notarget 'trigger:
  type: webhook
  path: /hooks/nobody
  target:
    agent: nobody'
expect_contains "a target that does not exist" "$(cat "$T/err")" "notarget.yaml:5:12: trigger.target.agent: no agent named \"nobody\" is registered"
chk samepath 'trigger:
  type: webhook
  path: /hooks/deploy-alert
  target:
    agent: front-door'
expect_contains "a path another trigger has" "$(cat "$T/err")" "is already the path of trigger \"webhook\""
chk itf 'trigger:
  type: conversational
  interface: irc
  target:
    agent: front-door'
expect_contains "an unknown interface" "$(cat "$T/err")" "itf.yaml:3:14: trigger.interface: unknown interface \"irc\" (http, websocket, slack, discord)"
chk custom 'trigger:
  type: custom
  target:
    agent: front-door'
expect_contains "a custom trigger needs its emitter" "$(cat "$T/err")" "custom.yaml:1:1: trigger: custom triggers need an emitter"

# ---- webhook: the spec's file ----
http POST /hooks/deploy-alert '{"service":"api","version":"1.2.3"}'
expect_eq "webhook answers 202" "$HTTP_CODE" 202
JOB=$(printf '%s' "$HTTP_BODY" | jt 'd["job_id"]')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$JOB' | grep -q '\"state\": *\"completed\"'"
OUT=$(curl -sS "$ATLAS_URL/api/v1/jobs/$JOB")
expect_eq "the agent got input_map's event (the body) and nothing of the trigger" \
    "$(printf '%s' "$OUT" | jt 'd["output"]')" "{'event': {'service': 'api', 'version': '1.2.3'}, 'ms': 0}"
expect_eq "atlas trace shows the event" \
    "$(atlas trace "$JOB" --json | jt 'd["event"]["source"], d["event"]["body"], "authorization" in d["event"]["headers"]')" \
    "({'type': 'webhook', 'name': 'webhook'}, {'service': 'api', 'version': '1.2.3'}, False)"
expect_contains "atlas trace prints the event line" "$(atlas trace "$JOB")" "from webhook webhook"
RJ=$(atlas run deploy-responder --async --input '{"event":{"by":"cli"}}')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$RJ' | grep -q '\"state\": *\"completed\"'"
expect_eq "a run from the CLI has the same event shape" \
    "$(atlas trace "$RJ" --json | jt 'd["event"]["source"], d["event"]["target"], d["event"]["body"]')" \
    "({'type': 'cli', 'name': None}, {'agent': 'deploy-responder'}, {'event': {'by': 'cli'}})"

# ---- chat (conversational, interface http): answered with the output ----
http POST /hooks/chat '{"message":"hello","user_id":"u1"}'
expect_eq "chat answers 200 with the output" "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'd["output"]["message"], d["output"]["user_id"]')" \
    "200 ('hello', 'u1')"
CONV=$(printf '%s' "$HTTP_BODY" | jt 'd["conversation_id"]')
http POST /hooks/chat "{\"message\":\"again\",\"user_id\":\"u1\",\"conversation_id\":\"$CONV\"}"
CJOB=$(printf '%s' "$HTTP_BODY" | jt 'd["job_id"]')
expect_eq "the second turn keeps the conversation and carries its history" \
    "$(printf '%s' "$HTTP_BODY" | jt 'd["conversation_id"]') $(atlas trace "$CJOB" --json | jt 'len(d["event"]["conversation"]["history"])')" \
    "$CONV 2"

# streamed as SSE: accepted, then the output
curl -sS -N -H 'Accept: text/event-stream' -H 'Content-Type: application/json' \
    --data "{\"message\":\"streamed\",\"conversation_id\":\"$CONV\"}" "$ATLAS_URL/hooks/chat" >"$T/sse"
expect_eq "chat streamed as SSE: accepted, then output" \
    "$(grep '^event:' "$T/sse" | tr '\n' ' ')" "event: accepted event: output "
expect_eq "the streamed output" \
    "$(grep '^data:' "$T/sse" | tail -1 | cut -c6- | jt 'd["conversation_id"], d["output"]["message"]')" \
    "('$CONV', 'streamed')"
http GET /api/v1/triggers/chat/conversations
expect_eq "the trigger's conversations: one, three turns each way, its last the streamed answer" \
    "$(printf '%s' "$HTTP_BODY" | jt '[(c["conversation_id"] == "'"$CONV"'", c["turns"], c["last"]["role"]) for c in d["conversations"]]')" \
    "[(True, 6, 'assistant')]"
http GET /api/v1/triggers/nope/conversations
expect_eq "conversations of an unknown trigger: 404" "$HTTP_CODE" 404

# ---- cron on the fake clock ----
echo $((T0 + 10)) >"$T/clock" # 02:00:00
wait_for sh -c "$BIN/atlas trigger history cron-nightly --json | grep -q job_id" || fail "cron-nightly did not fire"
H=$(atlas trigger history cron-nightly --json)
expect_eq "cron-nightly fired once at 02:00" "$(printf '%s' "$H" | jt 'len(d["firings"]), d["firings"][0]["scheduled_at"], d["firings"][0]["source"]')" \
    "(1, '2026-12-04T02:00:00.000Z', 'cron')"
CJ=$(printf '%s' "$H" | jt 'd["firings"][0]["job_id"]')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$CJ' | grep -q '\"state\": *\"completed\"'"
expect_eq "the chain ran with the static input" "$(curl -sS "$ATLAS_URL/api/v1/jobs/$CJ" | jt 'd["output"]["scope"]')" "last_24h"

# a skip trigger, hourly
cat >"$T/triggers/hourly-skip.yaml" <<'YAML'
trigger:
  type: cron
  schedule: "30 * * * *"
  missed: skip
  target:
    agent: analyst
YAML
atlas trigger register "$T/triggers/hourly-skip.yaml" >/dev/null

# ---- downtime spanning firings ----
quiesce
stop_daemon
echo $((T0 + 10 + 3 * 86400 + 60)) >"$T/clock" # 3 days later, 02:01
start_daemon --config "$T/config.yaml"
wait_for sh -c "$BIN/atlas trigger history cron-nightly --json | grep -q '\"missed\"'"
H=$(atlas trigger history cron-nightly --json)
expect_eq "missed: run_once runs one firing for the three missed" \
    "$(printf '%s' "$H" | jt 'len(d["firings"]), d["firings"][0]["missed"], d["firings"][0]["scheduled_at"], d["firings"][0]["status"]')" \
    "(2, 3, '2026-12-07T02:00:00.000Z', 'queued')"
wait_for sh -c "$BIN/atlas trigger history hourly-skip --json | grep -q skipped"
expect_eq "missed: skip records the missed firings and runs none" \
    "$(atlas trigger history hourly-skip --json | jt 'len(d["firings"]), d["firings"][0]["status"], d["firings"][0]["missed"], "job_id" in d["firings"][0]')" \
    "(1, 'skipped', 72, False)"

# ---- kill -9 between a firing's record and its job ----
quiesce
stop_daemon
echo $((T0 + 10 + 4 * 86400 - 5)) >"$T/clock" # just before the next 02:00
ATLAS_TEST_KILL_AFTER_RECORD=1 start_daemon --config "$T/config.yaml"
echo $((T0 + 10 + 4 * 86400)) >"$T/clock"
i=0
while kill -0 "$DAEMON_PID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
if kill -0 "$DAEMON_PID" 2>/dev/null; then fail "the daemon did not die after recording"; kill9_daemon; fi
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
start_daemon --config "$T/config.yaml"
H=$(atlas trigger history cron-nightly --json)
KJ=$(printf '%s' "$H" | jt 'd["firings"][0]["job_id"]')
expect_eq "the recorded firing's job is queued at restart, once" \
    "$(printf '%s' "$H" | jt 'len(d["firings"]), d["firings"][0]["scheduled_at"], d["firings"][0].get("recovered")')" \
    "(3, '2026-12-08T02:00:00.000Z', True)"
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$KJ' | grep -q '\"state\": *\"completed\"'"
expect_eq "its job ran with the recorded id" "$(curl -sS "$ATLAS_URL/api/v1/jobs/$KJ" | jt 'd["state"]')" completed
sleep_until_next=$(atlas trigger history cron-nightly --json | jt 'len(d["firings"])')
expect_eq "no second firing for the same time" "$sleep_until_next" 3

# ---- concurrency: forbid ----
cat >"$T/triggers/busy.yaml" <<'YAML'
trigger:
  type: cron
  schedule: "*/10 * * * * *"
  concurrency: forbid
  target:
    agent: sleeper
YAML
atlas trigger register "$T/triggers/busy.yaml" >/dev/null
NOW=$(cat "$T/clock")
echo $(((NOW / 10 + 1) * 10)) >"$T/clock"
wait_for sh -c "$BIN/atlas trigger history busy --json | grep -q job_id"
echo $(((NOW / 10 + 2) * 10)) >"$T/clock"
wait_for sh -c "$BIN/atlas trigger history busy --json | grep -q skipped"
expect_contains "a firing while the previous run goes on is skipped (forbid)" \
    "$(atlas trigger history busy --json | jt 'd["firings"][0]["reason"]')" "concurrency: forbid"
# end the sleeping run (a job still running when the daemon stops is left to recovery)
BJ=$(atlas trigger history busy --json | jt '[f["job_id"] for f in d["firings"] if "job_id" in f][0]')
curl -sS -X DELETE "$ATLAS_URL/api/v1/jobs/$BJ" >/dev/null
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$BJ' | grep -q '\"state\": *\"cancelled\"'"
atlas trigger rm busy >/dev/null

# ---- signatures ----
reg_hook() { # reg_hook NAME EXTRA_YAML
    printf 'trigger:\n  type: webhook\n  path: /hooks/%s\n  target:\n    agent: deploy-responder\n%s\n' "$1" "$2" >"$T/triggers/$1.yaml"
    atlas trigger register "$T/triggers/$1.yaml" >/dev/null
}
hmac() { /usr/bin/python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$1" "$2"; }
reg_hook gh '  signature:
    scheme: github
    secret_env: HOOK_SECRET'
B='{"action":"opened"}'
http POST /hooks/gh "$B" -H "X-Hub-Signature-256: sha256=$(hmac s3cret "$B")" -H "X-GitHub-Delivery: d-1"
expect_eq "github: a valid signature" "$HTTP_CODE" 202
GJ=$(printf '%s' "$HTTP_BODY" | jt 'd["job_id"]')
http POST /hooks/gh "$B" -H "X-Hub-Signature-256: sha256=$(hmac wrong "$B")" -H "X-GitHub-Delivery: d-2"
expect_eq "github: an invalid signature" "$HTTP_CODE" 403
http POST /hooks/gh "$B" -H "X-GitHub-Delivery: d-3"
expect_eq "github: no signature" "$HTTP_CODE" 403
http POST /hooks/gh "$B" -H "X-Hub-Signature-256: sha256=$(hmac s3cret "$B")" -H "X-GitHub-Delivery: d-1"
expect_eq "github: a replayed delivery starts no second job" \
    "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'd["job_id"], d["duplicate"]')" "200 ('$GJ', True)"

reg_hook stripe '  signature:
    scheme: stripe
    secret_file: '"$T/secret"'
    tolerance: 300'
NOW=$(cat "$T/clock")
http POST /hooks/stripe "$B" -H "Stripe-Signature: t=$NOW,v1=$(hmac filesecret "$NOW.$B")"
expect_eq "stripe: a valid signature" "$HTTP_CODE" 202
http POST /hooks/stripe "$B" -H "Stripe-Signature: t=$NOW,v1=$(hmac filesecret "$NOW.$B")"
expect_eq "stripe: the same signature replayed" "$HTTP_CODE" 409
OLD=$((NOW - 301))
http POST /hooks/stripe "$B" -H "Stripe-Signature: t=$OLD,v1=$(hmac filesecret "$OLD.$B")"
expect_eq "stripe: a timestamp outside the window" "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'd["detail"]')" \
    "403 the signature's timestamp is outside the replay window (300s)"
http POST /hooks/stripe "$B" -H "Stripe-Signature: t=$NOW,v1=$(hmac filesecret "$NOW.other")"
expect_eq "stripe: an invalid signature" "$HTTP_CODE" 403

reg_hook generic '  signature:
    scheme: hmac
    header: X-Signature
    timestamp_header: X-Timestamp
    secret_env: HOOK_SECRET'
http POST /hooks/generic "$B" -H "X-Timestamp: $NOW" -H "X-Signature: $(hmac s3cret "$NOW.$B")"
expect_eq "hmac: a valid signature" "$HTTP_CODE" 202
http POST /hooks/generic "$B" -H "X-Timestamp: $NOW" -H "X-Signature: $(hmac s3cret "$NOW.$B")"
expect_eq "hmac: replayed" "$HTTP_CODE" 409
http POST /hooks/generic "$B" -H "X-Timestamp: $NOW" -H "X-Signature: $(hmac nope "$NOW.$B")"
expect_eq "hmac: invalid" "$HTTP_CODE" 403
chk nosecret 'trigger:
  type: webhook
  path: /hooks/nosecret
  target:
    agent: deploy-responder
  signature:
    scheme: github
    secret_env: NOT_SET_ANYWHERE'
expect_contains "a secret that is not there is refused at registration" "$(cat "$T/err")" "NOT_SET_ANYWHERE is not set"

# ---- idempotency and the body limit ----
http POST /hooks/deploy-alert '{"n":1}' -H "Idempotency-Key: k-1"
J1=$(printf '%s' "$HTTP_BODY" | jt 'd["job_id"]')
http POST /hooks/deploy-alert '{"n":1}' -H "Idempotency-Key: k-1"
expect_eq "the same Idempotency-Key twice: one job" "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'd["job_id"]')" "200 $J1"
reg_hook small '  max_body: 100'
http POST /hooks/small "{\"pad\":\"$(head -c 200 /dev/zero | tr '\0' x)\"}"
expect_eq "a body over max_body" "$HTTP_CODE" 413
http POST /hooks/nothing-here '{}'
expect_eq "a path no trigger has" "$HTTP_CODE" 404

# ---- pause, resume, fire, rm ----
atlas trigger pause webhook >/dev/null
http POST /hooks/deploy-alert '{}'
expect_eq "a paused webhook refuses" "$HTTP_CODE" 409
atlas trigger resume webhook >/dev/null
http POST /hooks/deploy-alert '{}'
expect_eq "resumed" "$HTTP_CODE" 202
FJ=$(atlas trigger fire cron-nightly --input '{"scope":"by-hand"}')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$FJ' | grep -q '\"state\": *\"completed\"'"
expect_eq "fire by hand merges --input" "$(curl -sS "$ATLAS_URL/api/v1/jobs/$FJ" | jt 'd["output"]["scope"]')" "by-hand"
expect_contains "history shows the manual firing" "$(atlas trigger history cron-nightly)" "manual"
atlas trigger rm webhook >/dev/null
http POST /hooks/deploy-alert '{}'
expect_eq "a removed trigger's path is gone" "$HTTP_CODE" 404
run_rc rc atlas trigger describe webhook
expect_contains "describe of a removed trigger" "$rc $(cat "$T/err")" "no trigger named \"webhook\""

# ---- the jobs a trigger started: filtered by the store, not the client ----
curl -s "$ATLAS_URL/api/v1/jobs?trigger=webhook&limit=1000" >"$T/jw.json"
curl -s "$ATLAS_URL/api/v1/jobs?trigger=cron-nightly&limit=1000" >"$T/jc.json"
curl -s "$ATLAS_URL/api/v1/jobs?source=trigger&limit=1000" >"$T/jt.json"
expect_eq "jobs?trigger=NAME: that trigger's jobs only, each of source trigger" "$(/usr/bin/python3 - "$T" <<'PY'
import json, sys
w, c, t = (json.load(open(sys.argv[1] + f)) ["jobs"] for f in ("/jw.json", "/jc.json", "/jt.json"))
ids = lambda l: {j["id"] for j in l}
print(len(w) >= 2, len(c) >= 1, not (ids(w) & ids(c)), (ids(w) | ids(c)) <= ids(t),
      all(j["source"] == "trigger" for j in w + c + t))
PY
)" "True True True True True"
expect_eq "jobs?trigger=nope: none" "$(curl -s "$ATLAS_URL/api/v1/jobs?trigger=nope" | jt 'len(d["jobs"])')" "0"

# ---- metrics per trigger (this daemon's, since its start) ----
M=$(curl -sS "$ATLAS_URL/metrics")
expect_contains "firings per trigger" "$M" 'atlas_trigger_firings_total{trigger="webhook",source="webhook"} 2'
expect_contains "manual firings" "$M" 'atlas_trigger_firings_total{trigger="cron-nightly",source="manual"} 1'
expect_contains "the lag of cron firings" "$M" 'atlas_trigger_lag_seconds_bucket{trigger="busy",le="0.001"} 1'
expect_contains "skipped firings" "$M" 'atlas_trigger_skipped_total{trigger="busy",reason="concurrency"} 1'
expect_contains "refused deliveries" "$M" 'atlas_trigger_deliveries_refused_total{trigger="stripe",code="permission-denied"} 2'
expect_contains "replays" "$M" 'atlas_trigger_deliveries_refused_total{trigger="stripe",code="conflict"} 1'
expect_contains "duplicates" "$M" 'atlas_trigger_duplicates_total{trigger="gh"} 1'

# ---- MCP: atlas.triggers.list / fire / history ----
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
expect_eq "atlas.triggers.list" "$(mcp_call atlas.triggers.list '{}' | jt '"cron-nightly" in [t["name"] for t in d["triggers"]]')" True
MJ=$(mcp_call atlas.triggers.fire '{"name":"cron-nightly","input":{"scope":"via-mcp"}}' | jt 'd["job_id"]')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$MJ' | grep -q '\"state\": *\"completed\"'"
expect_eq "atlas.triggers.fire starts the run" "$(curl -sS "$ATLAS_URL/api/v1/jobs/$MJ" | jt 'd["output"]["scope"]')" via-mcp
expect_eq "atlas.triggers.history names it first" \
    "$(mcp_call atlas.triggers.history '{"name":"cron-nightly","limit":1}' | jt 'd["firings"][0]["job_id"], len(d["firings"])')" "('$MJ', 1)"
expect_contains "atlas.triggers.history of an unknown trigger" "$(mcp_call atlas.triggers.history '{"name":"nope"}')" "no trigger named"

# ---- a triggers directory loaded at start; state survives a restart ----
cp "$SRC/examples/triggers/webhook.yaml" "$T/tdir/webhook.yaml"
quiesce
stop_daemon
start_daemon --config "$T/config.yaml"
expect_eq "triggers.dir is loaded at start; the rest survived the restart" \
    "$(atlas trigger ls --json | jt 'sorted(t["name"] for t in d["triggers"])')" \
    "['chat', 'cron-nightly', 'generic', 'gh', 'hourly-skip', 'small', 'stripe', 'webhook']"
http POST /hooks/deploy-alert '{"after":"restart"}'
expect_eq "its hook answers" "$HTTP_CODE" 202

# ---- firings are rows of their own: history and keys survive a restart,
# within the retention (triggers.history), and concurrent deliveries of one
# key start one job ----
PIDS=
for i in 1 2 3 4 5 6; do
    curl -sS -o "$T/par.$i" -H 'Content-Type: application/json' -H "Idempotency-Key: k-par" \
        --data-binary "{\"p\":$i}" "$ATLAS_URL/hooks/deploy-alert" &
    PIDS="$PIDS $!"
done
wait $PIDS
expect_eq "six concurrent deliveries of one key: one job" \
    "$(cat "$T"/par.* | /usr/bin/python3 -c 'import json,sys; print(len({json.loads(l)["job_id"] for l in sys.stdin.read().replace("}{", "}\n{").splitlines()}))')" 1
PJ=$(jt 'd["job_id"]' <"$T/par.1")
expect_eq "and one firing" "$(atlas trigger history webhook --json | jt 'sum(1 for f in d["firings"] if f.get("idempotency_key") == "k-par")')" 1
HB=$(atlas trigger history webhook --json | jt 'json.dumps([[f["seq"], f["job_id"], f["status"]] for f in d["firings"]][:5])')
quiesce
stop_daemon
cat >"$T/config5.yaml" <<YAML
triggers:
  dir: $T/tdir
  history: 5
YAML
start_daemon --config "$T/config5.yaml"
expect_eq "the history is read back from its rows after a restart" \
    "$(atlas trigger history webhook --json | jt 'json.dumps([[f["seq"], f["job_id"], f["status"]] for f in d["firings"]][:5])')" \
    "$HB"
for i in 1 2 3 4 5 6; do http POST /hooks/deploy-alert "{\"q\":$i}"; done
http POST /hooks/deploy-alert '{"p":7}' -H "Idempotency-Key: k-par"
expect_eq "a key from before the restart, older than the history kept: still one job" \
    "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'd["job_id"], d["duplicate"]')" "200 ('$PJ', True)"
reg_hook bound ''
for i in 1 2 3 4 5 6 7 8; do http POST /hooks/bound "{\"i\":$i}"; done
expect_eq "retention: the newest triggers.history firings are kept" \
    "$(atlas trigger history bound --json | jt '[f["seq"] for f in d["firings"]]')" "[8, 7, 6, 5, 4]"
quiesce
stop_daemon
start_daemon --config "$T/config5.yaml"
http POST /hooks/bound '{"i":9}'
expect_eq "a restart keeps the bound and the count" \
    "$(atlas trigger history bound --json | jt '[f["seq"] for f in d["firings"]]') $(atlas trigger describe bound --json | jt 'd["firings"]')" \
    "[9, 8, 7, 6, 5] 9"
if command -v sqlite3 >/dev/null && [ "${ATLAS_E2E_STORE:-sqlite}" != postgres ]; then
    expect_eq "the store holds the kept rows only" \
        "$(sqlite3 "$DATA/atlas.db" "SELECT count(*) FROM trigger_firings WHERE trigger='bound'")" 5
    # a data directory of an atlasd before migration 10: the whole history and
    # the keys in the kv row; moved into rows at start
    quiesce
    stop_daemon
    sqlite3 "$DATA/atlas.db" "DELETE FROM trigger_firings WHERE trigger='bound';
        DELETE FROM trigger_idem WHERE trigger='bound';
        UPDATE kv SET value='{\"last\":1,\"seq\":50,\"history\":[{\"id\":\"fir_old\",\"seq\":50,\"source\":\"webhook\",\"fired_at\":\"2026-12-01T00:00:00.000Z\",\"job_id\":\"job_old\",\"status\":\"queued\",\"idempotency_key\":\"k-old\"}],\"idem\":{\"k-old\":\"job_old\",\"k-older\":\"job_older\"}}' WHERE key='trigger.firings/bound'"
    start_daemon --config "$T/config5.yaml"
    expect_eq "an older store's history is moved into rows" \
        "$(atlas trigger history bound --json | jt '[(f["seq"], f["job_id"]) for f in d["firings"]]') $(atlas trigger describe bound --json | jt 'd["firings"]')" \
        "[(50, 'job_old')] 50"
    http POST /hooks/bound '{"i":51}' -H "Idempotency-Key: k-older"
    expect_eq "and its keys (one not in the history)" "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'd["job_id"]')" "200 job_older"
    http POST /hooks/bound '{"i":51}'
    expect_eq "the count goes on" "$(atlas trigger history bound --json | jt 'd["firings"][0]["seq"]')" 51
fi
quiesce
finish
