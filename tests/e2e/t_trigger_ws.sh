#!/bin/bash
# Conversational triggers over WebSocket (interface: websocket): a real
# client (Debian's python3-websockets) holds one conversation of several
# turns (one id, accepted/progress/output frames, the history in each
# job's event), resumes it by id, and 1,000 connections stay open at once;
# the handshake's refusals (no upgrade, wrong version, cross-origin, POST)
# and the located errors of websocket trigger files.
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import websockets' 2>/dev/null || { log "python3-websockets missing"; exit 77; }
jt() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(($1))"; }
# 1,000 client sockets plus 1,000 server sockets
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 2200 ] || { log "cannot raise the descriptor limit (ulimit -n)"; exit 77; }
mkdir -p "$DATA"
start_daemon

d=$(copy_agent "$AGENTS/slow" chatter)
sed -i 's/name: "slow"/name: "chatter"/; s/default: 1000/default: 0/' "$d/agent.yaml"
atlas register --path "$d" >/dev/null
cat >"$T/chat-ws.yaml" <<'YAML'
trigger:
  type: conversational
  interface: websocket
  target:
    agent: "chatter"
  input_map:
    message: "$.body.message"
    user_id: "$.body.user_id"
    ms: "$.body.ms"
YAML
run_rc rc atlas trigger register "$T/chat-ws.yaml"
expect_eq "register a websocket trigger" "$rc $(cat "$T/out")" "0 registered conversational trigger chat-ws"
expect_eq "describe names the interface" \
    "$(atlas trigger describe chat-ws --json | jt 'd["definition"]["interface"], d["path"]')" \
    "('websocket', '/hooks/chat-ws')"
WS=${ATLAS_URL/http:/ws:}/hooks/chat-ws

# ---- one conversation, several turns ----
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" turns "$WS" 3 >"$T/turns.json"
conv=$(jt 'd["ready"]["conversation_id"]' <"$T/turns.json")
expect_contains "ready names a new conversation" "$conv" "conv_"
expect_eq "every frame of every turn names that conversation" \
    "$(jt 'sorted({c for t in d["turns"] for c in t["conversations"]})' <"$T/turns.json")" "['$conv']"
expect_eq "each turn: accepted, progress, output" \
    "$(jt '[t["types"] for t in d["turns"]]' <"$T/turns.json")" \
    "$(printf "[['accepted', 'progress', 'progress', 'output']]*3" | /usr/bin/python3 -c 'print(eval(input()))')"
expect_eq "progress messages stream from the agent" \
    "$(jt 'd["turns"][0]["progress"]' <"$T/turns.json")" "['sleeping', 'done']"
expect_eq "outputs are the agent's" "$(jt '[t["output"]["message"] for t in d["turns"]]' <"$T/turns.json")" \
    "['hello 0', 'hello 1', 'hello 2']"
expect_eq "one job per turn" "$(jt 'len({t["jobs"][0] for t in d["turns"]})' <"$T/turns.json")" "3"
expect_eq "plain text is the message" "$(jt 'd["plain"]["message"]' <"$T/turns.json")" "just text"
expect_eq "a binary message is refused, the connection stays" \
    "$(jt 'd["binary"]["type"], d["binary"]["error"]["status"], d["ping"]' <"$T/turns.json")" \
    "('error', 400, True)"
job3=$(jt 'd["turns"][2]["jobs"][0]' <"$T/turns.json")
http GET "/api/v1/jobs/$job3"; cp "$T/hbody" "$T/body"
expect_eq "the third turn's event carries the conversation and its history" \
    "$(jt 'd["meta"]["event"]["conversation"]["id"], [(h["role"], h["content"]["message"]) for h in d["meta"]["event"]["conversation"]["history"]], d["meta"]["event"]["source"]["type"]' <"$T/body")" \
    "('$conv', [('user', 'hello 0'), ('assistant', 'hello 0'), ('user', 'hello 1'), ('assistant', 'hello 1')], 'conversational')"

# resuming by id: the next connection continues the same history
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" raw "$WS?conversation_id=$conv" '{"message": "again"}' >"$T/raw.json"
expect_eq "a connection resumes a conversation by id" \
    "$(jt 'd[0]["type"], d[0]["conversation_id"], d[-1]["type"], d[-1]["output"]["message"]' <"$T/raw.json")" \
    "('ready', '$conv', 'output', 'again')"
job=$(jt 'd[-1]["job_id"]' <"$T/raw.json")
http GET "/api/v1/jobs/$job"; cp "$T/hbody" "$T/body"
expect_eq "the resumed turn sees the earlier turns" \
    "$(jt 'len(d["meta"]["event"]["conversation"]["history"])' <"$T/body")" "8"
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" raw "$WS" '{"message": "m", "ms": "slow"}' >"$T/raw.json"
expect_eq "an input the schema refuses is an error frame" \
    "$(jt 'd[-1]["type"], d[-1]["error"]["status"]' <"$T/raw.json")" "('error', 400)"

# ---- the spec's front door, through the spec's chat file over WebSocket ----
atlas register --path "$EXAMPLES/word-count" >/dev/null
atlas register --path "$EXAMPLES/front-door" >/dev/null
sed 's/interface: "http".*/interface: "websocket"/' "$SRC/examples/triggers/chat.yaml" >"$T/fd-ws.yaml"
run_rc rc atlas trigger register "$T/fd-ws.yaml"
expect_eq "the spec's chat file with interface websocket" "$rc $(cat "$T/out")" "0 registered conversational trigger fd-ws"
FD=${ATLAS_URL/http:/ws:}/hooks/fd-ws?conversation_id=fd-1
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" raw "$FD" '{"message": "@word-count hello atlas world", "user_id": "ana"}' >"$T/fd1.json"
expect_eq "front-door spawns the agent named and answers with its result" \
    "$(jt 'd[-1]["type"], d[-1]["output"]["agent"], d[-1]["output"]["output"]["words"], d[-1]["output"]["reply"][:16]' <"$T/fd1.json")" \
    "('output', 'word-count', 3, 'word-count says:')"
expect_contains "its progress streams to the client" "$(jt '[f.get("message") for f in d if f["type"] == "progress"]' <"$T/fd1.json")" "asking word-count"
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" raw "$FD" '{"message": "please count the words in: one two", "user_id": "ana"}' >"$T/fd2.json"
expect_eq "front-door discovers an agent by searching the registry" \
    "$(jt 'd[-1]["output"]["agent"], d[-1]["output"]["output"]["words"]' <"$T/fd2.json")" "('word-count', 7)"
expect_contains "...and says it searched" "$(jt '[f.get("message") for f in d if f["type"] == "progress"]' <"$T/fd2.json")" "searching the registry"
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" raw "$FD" '{"message": "history", "user_id": "ana"}' >"$T/fd3.json"
expect_eq "front-door remembers the conversation (the memory skill)" \
    "$(jt 'd[-1]["output"]["reply"], d[-1]["output"]["turns"]' <"$T/fd3.json")" \
    "('You said: @word-count hello atlas world | please count the words in: one two', 3)"
fdjob=$(jt 'd[-1]["job_id"]' <"$T/fd3.json")
http GET "/api/v1/jobs/$fdjob"; cp "$T/hbody" "$T/body"
expect_eq "the event carries the conversation fd-1 and its turns" \
    "$(jt 'd["meta"]["event"]["conversation"]["id"], len(d["meta"]["event"]["conversation"]["history"])' <"$T/body")" "('fd-1', 4)"

# and through the spec's chat file exactly as printed (interface http)
cp "$SRC/examples/triggers/chat.yaml" "$T/chat.yaml"
atlas trigger register "$T/chat.yaml" >/dev/null
http POST /hooks/chat '{"message": "@word-count one two three four", "user_id": "bo"}'
expect_eq "front-door answers through the chat trigger (http)" \
    "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'd["output"]["agent"], d["output"]["output"]["words"]')" \
    "200 ('word-count', 4)"

# ---- 1,000 connections at once ----
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" many "$WS" 1000 2 >"$T/many.json"
expect_eq "1,000 concurrent connections open, answer pings, stay up" \
    "$(tail -n1 "$T/many.json" | jt 'd["ready"], d["pong"], d["alive"], d["errors"], d.get("first_error")')" \
    "(1000, 1000, 1000, 0, None)"
log "1,000 connections opened in $(tail -n1 "$T/many.json" | jt 'd["open_s"]') s"
http GET /api/v1/health
expect_eq "the daemon still answers" "$HTTP_CODE" "200"

# ---- refusals ----
code=$(anon_curl -s -o "$T/b" -w '%{http_code}' "$ATLAS_URL/hooks/chat-ws")
expect_eq "GET without an upgrade: 400" "$code $(jt 'd["detail"][:40]' <"$T/b")" \
    "400 this endpoint takes WebSocket connection"
code=$(anon_curl -s -o "$T/b" -D "$T/h" -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 8' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$ATLAS_URL/hooks/chat-ws")
expect_eq "version 8: refused, 13 named" "$code $(grep -i '^sec-websocket-version' "$T/h" | tr -d '\r')" \
    "400 Sec-WebSocket-Version: 13"
code=$(anon_curl -s -o "$T/b" -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
    -H 'Origin: http://evil.example' "$ATLAS_URL/hooks/chat-ws")
expect_eq "a cross-origin handshake: 403" "$code" "403"
code=$(anon_curl -s -o "$T/b" -w '%{http_code}' -X POST -d '{"message":"x"}' "$ATLAS_URL/hooks/chat-ws")
expect_eq "a POST to a websocket trigger: 405" "$code" "405"
atlas trigger pause chat-ws >/dev/null
code=$(anon_curl -s -o "$T/b" -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$ATLAS_URL/hooks/chat-ws")
expect_eq "a paused trigger takes no connection: 409" "$code" "409"
atlas trigger resume chat-ws >/dev/null

# ---- auth: token (hooks without a signature take the security layer's tokens) ----
printf 'trigger:\n  type: webhook\n  path: /hooks/tok\n  auth: token\n  target:\n    agent: chatter\n' >"$T/tok.yaml"
atlas trigger register "$T/tok.yaml" >/dev/null
code=$(anon_curl -s -o "$T/b" -w '%{http_code}' -X POST -d '{"ms":0}' "$ATLAS_URL/hooks/tok")
expect_eq "auth: token without a token: 401" "$code" "401"
code=$(anon_curl -s -o "$T/b" -w '%{http_code}' -H "Authorization: Bearer $ATLAS_TOKEN" -X POST -d '{"ms":0}' "$ATLAS_URL/hooks/tok")
expect_eq "with a token: 202" "$code" "202"
tj=$(jt 'd["job_id"]' <"$T/b")
wait_job_state "$tj" completed
http GET "/api/v1/jobs/$tj"
expect_eq "the event's identity is the token's user" \
    "$(printf '%s' "$HTTP_BODY" | jt 'sorted(d["meta"]["event"]["identity"])')" "['user']"
sed 's/^  target:/  auth: token\n  target:/; s/^trigger:/trigger:\n  name: chat-ws-tok/' "$T/chat-ws.yaml" >"$T/chat-ws-tok.yaml"
atlas trigger register "$T/chat-ws-tok.yaml" >/dev/null
code=$(anon_curl -s -o "$T/b" -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$ATLAS_URL/hooks/chat-ws-tok")
expect_eq "a websocket trigger with auth: token refuses a handshake without one: 401" "$code" "401"
ATLAS_WS_TOKEN=$ATLAS_TOKEN /usr/bin/python3 "$SRC/tests/e2e/ws_client.py" raw "${WS}-tok" '{"message": "t"}' >"$T/raw.json"
expect_eq "...and takes one with a token" "$(jt 'd[-1]["type"], d[-1]["output"]["message"]' <"$T/raw.json")" "('output', 't')"

# ---- a peer that vanished: pinged, then dropped (ATLAS_WS_PING_MS: the interval) ----
stop_daemon
ATLAS_WS_PING_MS=300 start_daemon
WS=${ATLAS_URL/http:/ws:}/hooks/chat-ws
gone=$(/usr/bin/python3 "$SRC/tests/e2e/ws_silent.py" "$WS" 20)
expect_eq "a client that answers no ping is dropped" "$([ "$gone" != open ] && echo dropped)" "dropped"
/usr/bin/python3 "$SRC/tests/e2e/ws_client.py" many "$WS" 5 2 >"$T/many.json"
expect_eq "clients that answer pings stay up meanwhile" \
    "$(tail -n1 "$T/many.json" | jt 'd["alive"], d["errors"]')" "(5, 0)"

# ---- located errors ----
printf 'trigger:\n  type: conversational\n  interface: websocket\n  target:\n    agent: chatter\n  signature:\n    scheme: hmac\n    secret_env: X\n' >"$T/bad1.yaml"
run_rc rc atlas trigger register "$T/bad1.yaml"
expect_contains "a signature on a websocket trigger" "$rc $(cat "$T/err")" "bad1.yaml:6:3: trigger.signature: a websocket trigger has no body to sign"
printf 'trigger:\n  type: conversational\n  interface: "telepathy"\n  target:\n    agent: chatter\n' >"$T/bad2.yaml"
run_rc rc atlas trigger register "$T/bad2.yaml"
expect_contains "an unknown interface" "$rc $(cat "$T/err")" "bad2.yaml:3:14: trigger.interface: unknown interface \"telepathy\""
finish
