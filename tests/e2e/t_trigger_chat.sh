#!/bin/bash
# Conversational triggers for Slack and Discord (interface: slack |
# discord): requests the test signs itself as the platforms do (Slack
# signing secret v0, Discord Ed25519 with PyNaCl): valid, invalid, stale
# and replayed; Slack's url_verification, message events (bots ignored,
# retries deduplicated by event_id) and slash commands (answered at their
# response_url); Discord's PING and application commands (deferred, then
# the follow-up webhook); answers posted to a loopback stand-in
# (fake_chat.py) with the bot token from the secrets store.
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import nacl.signing' 2>/dev/null || { log "python3-nacl missing"; exit 77; }
jt() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(($1))"; }
sign() { /usr/bin/python3 "$SRC/tests/e2e/chat_sign.py" "$@"; }
mkdir -p "$DATA"
start_daemon
/usr/bin/python3 "$SRC/tests/e2e/fake_chat.py" "$T/fake.port" "$T/posts" &
FAKE=$!
trap 'kill $FAKE 2>/dev/null; cleanup' EXIT
wait_file "$T/fake.port"
FP=$(cat "$T/fake.port")
: >"$T/posts"
posts() { wc -l <"$T/posts" | tr -d ' '; }
posts_ge() { [ "$(posts)" -ge "$1" ]; }

d=$(copy_agent "$AGENTS/slow" chatter)
sed -i 's/name: "slow"/name: "chatter"/; s/default: 1000/default: 0/' "$d/agent.yaml"
atlas register --path "$d" >/dev/null
printf '%s' 8f14e45fceea167a5a36dedd4bea2543 | atlas secret set SLACK_SIGNING_SECRET >/dev/null
printf '%s' xoxb-test-token | atlas secret set SLACK_BOT_TOKEN >/dev/null
SSEC=8f14e45fceea167a5a36dedd4bea2543
SEED=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
PK=$(sign discord-key $SEED)

cat >"$T/slack.yaml" <<YAML
trigger:
  type: conversational
  interface: slack
  target:
    agent: "chatter"
  input_map:
    message: "\$.body.message"
    user_id: "\$.body.user_id"
  signature:
    secret: SLACK_SIGNING_SECRET
  reply:
    url: "http://127.0.0.1:$FP/api/chat.postMessage"
    token_secret: SLACK_BOT_TOKEN
    response_url_prefix: "http://127.0.0.1:$FP/"
YAML
cat >"$T/discord.yaml" <<YAML
trigger:
  type: conversational
  interface: discord
  target:
    agent: "chatter"
  input_map:
    message: "\$.body.message"
    user_id: "\$.body.user_id"
  signature:
    public_key: "$PK"
  reply:
    url: "http://127.0.0.1:$FP/"
YAML
for f in slack discord; do
    run_rc rc atlas trigger register "$T/$f.yaml"
    expect_eq "register $f" "$rc $(cat "$T/out")" "0 registered conversational trigger $f"
done
S=$ATLAS_URL/hooks/slack
D=$ATLAS_URL/hooks/discord
NOW=$(date +%s)

# ---- Slack ----
out=$(sign slack "$S" $SSEC $NOW application/json '{"type":"url_verification","token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}')
expect_eq "url_verification: the challenge back" "$out" '200 {"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}'
out=$(sign slack "$S" $SSEC $NOW application/json '{"type":"url_verification","token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}')
expect_contains "the same signed request again: replayed (409)" "$out" "409"
out=$(sign slack "$S" wrong-secret $NOW application/json '{"type":"url_verification","challenge":"c"}')
expect_contains "a wrong signing secret: 403" "$out" "403"
out=$(sign slack "$S" $SSEC $NOW application/json '{"type":"url_verification","challenge":"c"}' "v0=$(printf '%064d' 0)")
expect_contains "a forged signature: 403" "$out" "403"
out=$(sign slack "$S" $SSEC now-400 application/json '{"type":"url_verification","challenge":"c2"}')
expect_contains "a timestamp outside the 5-minute window: 403" "$out" "outside the replay window"
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"type":"url_verification","challenge":"c"}' "$S")
expect_eq "unsigned: 403" "$code" "403"

EV='{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"message","channel":"C1","user":"U1","text":"hello slack","ts":"1.0"}}'
out=$(sign slack "$S" $SSEC $NOW application/json "$EV")
expect_eq "a message event is acknowledged at once" "$out" "200 "
wait_until 20 posts_ge 1
expect_eq "the answer goes to chat.postMessage with the bot token" \
    "$(head -n1 "$T/posts" | jt 'd["path"], d["authorization"], d["body"]')" \
    "('/api/chat.postMessage', 'Bearer xoxb-test-token', {'channel': 'C1', 'text': 'hello slack'})"
# Slack retries a delivery with a new timestamp: the same event_id starts nothing
out=$(sign slack "$S" $SSEC $((NOW + 1)) application/json "$EV")
expect_contains "a retried event (same event_id): no second job" "$out" "200"
out=$(sign slack "$S" $SSEC $NOW application/json '{"type":"event_callback","team_id":"T1","event_id":"Ev2","event":{"type":"message","channel":"C1","bot_id":"B1","text":"from a bot","ts":"2.0"}}')
expect_eq "a bot's message starts nothing" "$out" "200 "
SL='token=x&team_id=T1&channel_id=C9&user_id=U7&command=%2Fask&text=what+is+up%3F&response_url=http%3A%2F%2F127.0.0.1%3A'$FP'%2Fresponse%2Fabc&trigger_id=tr1'
out=$(sign slack "$S" $SSEC $NOW application/x-www-form-urlencoded "$SL")
expect_eq "a slash command is acknowledged at once" "$out" "200 "
wait_until 20 posts_ge 2
expect_eq "its answer goes to its response_url" \
    "$(sed -n 2p "$T/posts" | jt 'd["path"], d["authorization"], d["body"]')" \
    "('/response/abc', None, {'response_type': 'in_channel', 'channel': 'C9', 'text': 'what is up?'})"
expect_eq "exactly two answers posted (no retry, no bot)" "$(posts)" "2"
http GET "/api/v1/triggers/slack/history?limit=10"
job=$(printf '%s' "$HTTP_BODY" | jt '[f for f in d["firings"] if f.get("job_id")][-1]["job_id"]')
http GET "/api/v1/jobs/$job"
expect_eq "the event: the conversation per team/channel/user, the platform payload" \
    "$(printf '%s' "$HTTP_BODY" | jt 'd["meta"]["event"]["conversation"]["id"], d["meta"]["event"]["body"]["platform"], d["meta"]["event"]["body"]["payload"]["event"]["text"]')" \
    "('slack:T1:C1:U1', 'slack', 'hello slack')"

# ---- Discord ----
out=$(sign discord "$D" $SEED $NOW '{"type":1,"id":"i0","application_id":"A1","token":"t0"}')
expect_eq "PING is answered with type 1" "$out" '200 {"type":1}'
out=$(sign discord "$D" $SEED $NOW '{"type":1,"id":"i0","application_id":"A1","token":"t0"}')
expect_contains "the same signed PING again: replayed (409)" "$out" "409"
out=$(sign discord "$D" $SEED $NOW '{"type":1,"id":"i1"}' "$(printf '%0128d' 0)")
expect_contains "a bad signature: 401 (Discord asks for it)" "$out" "401"
out=$(sign discord "$D" 0000000000000000000000000000000000000000000000000000000000000001 $NOW '{"type":1,"id":"i2"}')
expect_contains "another key's signature: 401" "$out" "401"
out=$(sign discord "$D" $SEED now-400 '{"type":1,"id":"i3"}')
expect_contains "a stale timestamp: 401" "$out" "401"
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"type":1}' "$D")
expect_eq "unsigned: 401" "$code" "401"
IA='{"type":2,"id":"i9","application_id":"A1","token":"tok9","channel_id":"C5","guild_id":"G1","member":{"user":{"id":"U5"}},"data":{"name":"ask","options":[{"name":"question","type":3,"value":"hello discord"}]}}'
out=$(sign discord "$D" $SEED $NOW "$IA")
expect_eq "an application command: deferred (type 5)" "$out" '200 {"type":5}'
wait_until 20 posts_ge 3
expect_eq "the answer goes to the interaction's follow-up webhook" \
    "$(sed -n 3p "$T/posts" | jt 'd["path"], d["authorization"], d["body"]')" \
    "('/webhooks/A1/tok9', None, {'content': 'hello discord'})"

# ---- located errors ----
printf 'trigger:\n  type: conversational\n  interface: slack\n  target:\n    agent: chatter\n' >"$T/bad1.yaml"
run_rc rc atlas trigger register "$T/bad1.yaml"
expect_contains "slack without a signature" "$rc $(cat "$T/err")" "bad1.yaml:1:1: trigger: interface slack needs a signature"
printf 'trigger:\n  type: conversational\n  interface: discord\n  target:\n    agent: chatter\n  signature:\n    public_key: "abc"\n' >"$T/bad2.yaml"
run_rc rc atlas trigger register "$T/bad2.yaml"
expect_contains "a discord key that is not one" "$rc $(cat "$T/err")" "bad2.yaml:7:17: trigger.signature.public_key: public_key must be"
printf 'trigger:\n  type: conversational\n  interface: slack\n  target:\n    agent: chatter\n  signature:\n    secret: NOPE\n' >"$T/bad3.yaml"
run_rc rc atlas trigger register "$T/bad3.yaml"
expect_contains "a secret that is not in the store" "$rc $(cat "$T/err")" "secret NOPE is not in the secrets store"
printf 'trigger:\n  type: webhook\n  path: /hooks/x\n  target:\n    agent: chatter\n  signature:\n    scheme: slack\n    secret_env: X\n' >"$T/bad4.yaml"
run_rc rc atlas trigger register "$T/bad4.yaml"
expect_contains "the slack scheme on a webhook" "$rc $(cat "$T/err")" "scheme slack goes with interface slack only"
finish
