#!/bin/bash
# Registration runs off the HTTP threads: while two registrations are stuck
# in their dependencies.python check (a fake interpreter that waits for a
# file), health and a run are answered, before the registrations finish;
# a third waits in the queue and a fourth, past http.blocking_queue, gets
# 503 busy with Retry-After.  Then all that were accepted complete.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
http:
  blocking_workers: 2
  blocking_queue: 1
YAML
start_daemon --config "$T/config.yaml"
atlas register --path "$EXAMPLES/word-count" >/dev/null

# agents whose "python" is a script that blocks until $T/release exists
for n in 1 2 3 4; do
    d=$T/reg$n
    mkdir -p "$d"
    cat >"$d/python-slow$n" <<SH
#!/bin/sh
touch "$T/started-$n"
while [ ! -e "$T/release" ]; do sleep 0.05; done
echo 3.11.2
SH
    chmod +x "$d/python-slow$n"
    cat >"$d/agent.yaml" <<YAML
agent:
  name: "slowreg$n"
  version: "1.0.0"
  description: "Its interpreter answers the version check only when released"
  input:
    schema:
      type: object
  output:
    schema:
      type: object
  entrypoint: ["$d/python-slow$n", "agent.py"]
  dependencies:
    python: ">=3.0"
YAML
    echo 'print("never run")' >"$d/agent.py"
done

# register N in the background: the status goes to $T/reg-N.code
register_bg() {
    curl -s -o "$T/reg-$1.body" -w '%{http_code}' --max-time 120 -H 'Content-Type: application/json' \
        --data-binary "{\"path\": \"$T/reg$1\"}" "$ATLAS_URL/api/v1/agents" >"$T/reg-$1.code" &
    eval "REG$1=\$!"
}
register_bg 1
register_bg 2
wait_for test -e "$T/started-1" || fail "registration 1 reached its python check"
wait_for test -e "$T/started-2" || fail "registration 2 reached its python check"

http GET /api/v1/health
expect_eq "health answers while two registrations block" "$HTTP_CODE" 200
expect_eq "and shows both workers busy" "$(echo "$HTTP_BODY" | j 'd["http"]["blocking_busy"], d["http"]["blocking_queued"]')" "2 0"
expect_eq "and they are still pending" "$(kill -0 "$REG1" 2>/dev/null && kill -0 "$REG2" 2>/dev/null && echo pending)" "pending"
http POST /api/v1/agents/word-count/run '{"text": "one two three"}'
expect_eq "a run answers while they block" "$HTTP_CODE" 200
expect_eq "with its output" "$(echo "$HTTP_BODY" | j 'd["words"]')" "3"
http GET /api/v1/agents
expect_eq "reads answer too" "$HTTP_CODE" 200
expect_eq "the registrations are still pending after all that" "$(kill -0 "$REG1" 2>/dev/null && kill -0 "$REG2" 2>/dev/null && echo pending)" "pending"

# both workers busy: one more waits in the queue, the next is refused
register_bg 3
wait_for sh -c "curl -s '$ATLAS_URL/api/v1/health' | grep -q '\"blocking_queued\": *1'" || fail "the third registration is queued"
http POST /api/v1/agents "{\"path\": \"$T/reg4\"}"
expect_eq "past the blocking queue: 503" "$HTTP_CODE" 503
expect_eq "busy" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:busy"
expect_eq "the third waits, its python not started" "$([ -e "$T/started-3" ] && echo started || echo waiting)" "waiting"

touch "$T/release"
wait "$REG1" "$REG2" "$REG3" 2>/dev/null || true
expect_eq "registration 1 completes" "$(cat "$T/reg-1.code")" "201"
expect_eq "registration 2 completes" "$(cat "$T/reg-2.code")" "201"
expect_eq "registration 3 completes" "$(cat "$T/reg-3.code")" "201"
expect_eq "and they are registered" "$(curl -s "$ATLAS_URL/api/v1/agents" | j 'sorted(a["name"] for a in d["agents"] if a["name"].startswith("slowreg"))')" "['slowreg1', 'slowreg2', 'slowreg3']"
finish
