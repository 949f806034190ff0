#!/bin/bash
# Hostile HTTP input: a request with both Content-Length and
# Transfer-Encoding (the request-smuggling shape) is a 400 and its
# connection is closed; %00 in a path is a 400, never a truncated name;
# 4,096 idle or half-open connections do not lock clients out: the probe
# reserve keeps health answering, idle connections time out (suspended
# ones, sync runs and SSE, do not), and one address cannot take more than
# its share.
. "$(dirname "$0")/lib.sh"
HOLD=$SRC/tests/e2e/hold_conns.py
start_daemon
atlas register --path "$EXAMPLES/word-count" >/dev/null
atlas register --path "$AGENTS/slow" >/dev/null
port=${ATLAS_URL##*:}

# raw REQUEST: the status line of the answer, and whether the server then
# closed the connection
raw() {
    python3 - "$port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
s.settimeout(10)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except socket.timeout:
    print(data.split(b"\r\n", 1)[0].decode(), "kept-open")
    sys.exit(0)
print(data.split(b"\r\n", 1)[0].decode(), "closed")
PY
}

# ---- request smuggling shape ----
got=$(raw 'POST /api/v1/agents/word-count/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n')
expect_eq "Content-Length with Transfer-Encoding: 400, connection closed" "$got" "HTTP/1.1 400 Bad Request closed"
expect_eq "and no job was created" "$(curl -s "$ATLAS_URL/api/v1/jobs?agent=word-count" | j 'len(d["jobs"])')" "0"
got=$(raw "POST /api/v1/agents/word-count/run HTTP/1.1\\r\\nHost: 127.0.0.1:$port\\r\\nAuthorization: Bearer $ATLAS_TOKEN\\r\\nContent-Type: application/json\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n11\\r\\n{\"text\": \"a b c\"}\\r\\n0\\r\\n\\r\\n")
expect_contains "chunked alone is fine" "$got" "HTTP/1.1 200"

# ---- %00 in the path ----
http GET "/api/v1/agents/word-count%00evil" --path-as-is
expect_eq "%00 in an agent name: 400" "$HTTP_CODE" 400
expect_contains "saying why" "$HTTP_BODY" "NUL"
http POST "/api/v1/agents/word-count%00evil/run" '{"text":"a"}' --path-as-is
expect_eq "%00 in a run's agent name: 400" "$HTTP_CODE" 400
http GET "/api/v1/agents/word-count"
expect_eq "the real name still resolves" "$HTTP_CODE" 200

# hold COUNT [args]: start hold_conns.py into $T/hold, wait until it opened
hold() {
    rm -rf "$T/hold"
    mkdir -p "$T/hold"
    n=$1
    shift
    python3 "$HOLD" "$port" "$n" "$T/hold" "$@" &
    HOLDER=$!
    for _ in $(seq 1 1200); do [ -s "$T/hold/opened" ] && break; sleep 0.05; done
}
unhold() {
    touch "$T/hold/stop"
    wait "$HOLDER" 2>/dev/null || true
}

# ask PATH: the status of one GET from a fresh connection (20 s at most)
ask() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 20 "$ATLAS_URL$1" || true
}
# until_status PATH STATUS: ask until STATUS (30 s at most)
until_status() {
    for _ in $(seq 1 60); do
        [ "$(ask "$1")" = "$2" ] && return 0
        sleep 0.5
    done
    return 1
}

# ---- 4,096 idle or half-open connections (the defaults) ----
hold 4096 --partial
expect_eq "the holder took the whole connection limit" "$(python3 -c 'import sys; print(int(open(sys.argv[1]).read()) >= 4096)' "$T/hold/opened")" "True"
if until_status /api/v1/health 200; then pass "health answers with every connection slot held"; else fail "health answers with every connection slot held"; fi
expect_eq "other requests on a reserve connection: 503" "$(ask /api/v1/agents)" "503"
http GET /api/v1/agents
expect_contains "saying the connection limit" "$HTTP_BODY" "connection limit"
unhold
if until_status /api/v1/agents 200; then pass "served again once the idle clients left"; else fail "served again once the idle clients left"; fi
stop_daemon

# ---- idle connections time out; suspended ones (a sync run, SSE) do not ----
cat >"$T/timeout.yaml" <<'YAML'
http:
  connection_timeout: 1
YAML
start_daemon --config "$T/timeout.yaml"
port=${ATLAS_URL##*:}
hold 4096 --partial
if until_status /api/v1/agents 200; then pass "idle connections time out: requests are served again"; else fail "idle connections time out: requests are served again"; fi
for _ in $(seq 1 600); do
    closed=$(awk '{print $4}' "$T/hold/status")
    [ "${closed:-0}" -ge 4000 ] && break
    sleep 0.05
done
expect_eq "the server closed the idle connections" "$([ "${closed:-0}" -ge 4000 ] && echo yes || echo "no ($closed)")" "yes"
unhold
http POST /api/v1/agents/slow/run '{"ms": 2500}'
expect_eq "a sync run longer than the timeout is answered" "$HTTP_CODE" 200
job=$(atlas run --async slow --input '{"ms": 2500}')
curl -sN --max-time 30 "$ATLAS_URL/api/v1/jobs/$job/events" >"$T/events" || true
expect_contains "an SSE stream longer than the timeout ends with end" "$(cat "$T/events")" "event: end"
stop_daemon

# ---- one address cannot take every connection ----
cat >"$T/peraddr.yaml" <<'YAML'
http:
  max_connections_per_address: 8
YAML
start_daemon --config "$T/peraddr.yaml"
port=${ATLAS_URL##*:}
hold 12 --source 127.0.0.2
for _ in $(seq 1 100); do [ -s "$T/hold/status" ] && break; sleep 0.05; done
until_eight_open() {
    for _ in $(seq 1 100); do
        [ "$(awk '{print $2}' "$T/hold/status")" = 8 ] && return 0
        sleep 0.05
    done
    return 1
}
until_eight_open || true
expect_eq "connections past the per-address limit are refused" "$(awk '{print $2}' "$T/hold/status")" "8"
expect_eq "another address is served" "$(ask /api/v1/agents)" "200"
unhold
finish
