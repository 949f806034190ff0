#!/bin/bash
# The egress allowlist (issue 11, item 4): an agent with `network: egress`
# and `requires.egress: [HOST:PORT...]` runs with no host network; its
# HTTP(S)_PROXY is atlasd's egress proxy, relayed into the sandbox, which
# lets through the HOST:PORTs listed and nothing else (403 with the reason,
# an audit record), and wants the job's token (407 without).
. "$(dirname "$0")/lib.sh"
if ! command -v bwrap >/dev/null ||
    ! bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; then
    log "SKIP: bubblewrap or user namespaces unavailable here"
    exit 77
fi
mkdir -p "$DATA"
# two loopback web servers: one allowed, one not
/usr/bin/python3 "$SRC/tests/e2e/fake_searxng.py" "$T/p1" >/dev/null 2>&1 &
S1=$!
/usr/bin/python3 "$SRC/tests/e2e/fake_searxng.py" "$T/p2" >/dev/null 2>&1 &
S2=$!
trap 'kill $S1 $S2 2>/dev/null || true; cleanup' EXIT
wait_file "$T/p1"
wait_file "$T/p2"
P1=$(cat "$T/p1")
P2=$(cat "$T/p2")
cat >"$T/config.yaml" <<'YAML'
sandbox:
  enabled: true
YAML
start_daemon --config "$T/config.yaml"

# the contract: entries are checked where they are written
bad=$(copy_agent "$AGENTS/egress-probe" bad)
sed -i 's/127.0.0.1:1"/api.example.com"/' "$bad/agent.yaml"
run_rc rc atlas register --path "$bad"
expect_eq "an entry without a port is refused" "$rc" 1
expect_contains "at its location" "$(cat "$T/err")" "requires.egress[0]"
sed -i 's/api.example.com/api.example.com:443/; s/network: egress/network: platform/' "$bad/agent.yaml"
run_rc rc atlas register --path "$bad"
expect_contains "an allowlist without network: egress is refused" "$(cat "$T/err")" \
    'needs "network: egress"'

probe=$(copy_agent "$AGENTS/egress-probe" egress-probe)
sed -i "s/127.0.0.1:1\"/127.0.0.1:$P1\"/" "$probe/agent.yaml"
atlas register --path "$probe" >/dev/null
input=$(printf '{"urls": ["http://127.0.0.1:%s/allowed", "http://127.0.0.1:%s/denied"], "direct": "127.0.0.1:%s", "tunnel": "127.0.0.1:%s"}' \
    "$P1" "$P2" "$P1" "$P1")
atlas --json run egress-probe --input "$input" >"$T/out.json" 2>"$T/err" || true
log "$(cat "$T/out.json" "$T/err")"
got() { j "d.get('$1', 'missing')" <"$T/out.json"; }
expect_eq "the agent has a proxy" "$(got proxy)" "True"
expect_contains "a listed HOST:PORT answers through the proxy" "$(got "http://127.0.0.1:$P1/allowed")" "200 "
expect_contains "an unlisted one is refused (403)" "$(got "http://127.0.0.1:$P2/denied")" "403"
expect_contains "with the reason" "$(got "http://127.0.0.1:$P2/denied")" "not in requires.egress"
expect_contains "a direct connection has no network" "$(got direct)" "error:"
expect_contains "a CONNECT tunnel to a listed HOST:PORT works" "$(got tunnel)" "200 "
expect_contains "the refusal is in the audit log" "$(atlas audit ls --json)" "egress.denied"

# no token, a wrong one, an admin token: not a job, no way out
sock="$DATA/egress.sock"
ask() {
    /usr/bin/python3 - "$sock" "$1" "$2" <<'PY'
import socket, sys, base64
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
head = "CONNECT %s HTTP/1.1\r\nHost: %s\r\n" % (sys.argv[2], sys.argv[2])
if sys.argv[3]:
    head += "Proxy-Authorization: Basic %s\r\n" % base64.b64encode(("atlas:" + sys.argv[3]).encode()).decode()
s.sendall((head + "\r\n").encode())
print(s.recv(200).decode().split("\r\n")[0])
PY
}
expect_contains "no token: 407" "$(ask "127.0.0.1:$P1" "")" "407"
expect_contains "a made-up token: 407" "$(ask "127.0.0.1:$P1" "atl_nope")" "407"
expect_contains "an admin token is no job's: 407" "$(ask "127.0.0.1:$P1" "$ATLAS_TOKEN")" "407"
expect_contains "garbage: 400" "$(printf 'hello\r\n\r\n' | /usr/bin/python3 -c '
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.recv(100).decode())' "$sock")" "400"
expect_eq "the daemon stays up" "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["status"]')" "ok"
finish
