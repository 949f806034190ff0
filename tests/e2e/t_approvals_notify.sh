#!/bin/bash
# Webhook notifications of proposals (docs/supervisor.md "Webhook
# notifications"): approvals.notify.url, a local receiver on 127.0.0.1,
# gets a JSON POST for the filing and the decision of a proposal, signed
# with the daemon's Ed25519 key (verified here with PyNaCl against the key
# GET /api/v1/audit/log publishes); a receiver that answers 500 once gets the
# notification again; a URL whose host is not allowed keeps atlasd from
# starting (nothing is sent).
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import nacl.signing' 2>/dev/null || { log "skip: python3-nacl missing"; exit 77; }

# the receiver: answers 500 to its first request, 204 to the others, and
# writes each request (headers and body) as a JSON line
cat >"$T/recv.py" <<'PY'
import http.server, json, sys
out, portfile = sys.argv[1], sys.argv[2]
seen = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen[0] += 1
        with open(out, "a") as f:
            f.write(json.dumps({"n": seen[0], "headers": dict(self.headers), "body": body.decode()}) + "\n")
        self.send_response(500 if seen[0] == 1 else 204)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_port))
s.serve_forever()
PY
/usr/bin/python3 "$T/recv.py" "$T/recv.jsonl" "$T/recv.port" &
RECV_PID=$!
trap 'kill $RECV_PID 2>/dev/null || true; cleanup' EXIT
wait_file "$T/recv.port"
cat >"$T/config.yaml" <<YAML
approvals:
  notify:
    url: http://127.0.0.1:$(cat "$T/recv.port")/hooks/atlas
YAML
start_daemon --config "$T/config.yaml"
DEV=$(new_token dev developer)
ATLAS_TOKEN=$DEV atlas approvals propose --kind config --title "more runs" \
    --payload '{"key": "execution.max_concurrent_agents", "value": 5}' >"$T/p.out"
P=$(cut -d' ' -f1 "$T/p.out")
atlas approvals approve "$P" >/dev/null 2>&1
events() { [ -s "$T/recv.jsonl" ] && /usr/bin/python3 -c '
import json, sys
print(" ".join(json.loads(l)["headers"]["X-Atlas-Event"] for l in open(sys.argv[1])))' "$T/recv.jsonl"; }
has_executed() { events | grep -q proposal.executed; }
wait_for has_executed
expect_eq "filed (refused once with 500, then again), decided, executed" "$(events)" \
    "proposal.filed proposal.filed proposal.decided proposal.executed"
http GET /api/v1/audit/log
PUB=$(echo "$HTTP_BODY" | j 'd["public_key"]')
expect_eq "each is signed by the daemon's key, over the timestamp and the body" "$(/usr/bin/python3 - "$T/recv.jsonl" "$PUB" "$P" <<'PY'
import base64, json, sys
from nacl.signing import VerifyKey
vk = VerifyKey(base64.b64decode(sys.argv[2].split(":", 1)[1]))
ok = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = r["headers"]
    sig = base64.b64decode(h["X-Atlas-Signature"].split("=", 1)[1])
    vk.verify((h["X-Atlas-Timestamp"] + "." + r["body"]).encode(), sig)
    b = json.loads(r["body"])
    ok.append(b["proposal"]["id"] == sys.argv[3] and b["event"] == h["X-Atlas-Event"]
              and h["Content-Type"] == "application/json")
print(all(ok), len(ok))
PY
)" "True 4"
expect_eq "the decision's notification carries the proposal's state then" \
    "$(sed -n 3p "$T/recv.jsonl" | j 'json.loads(d["body"])["proposal"]["state"]')" "executing"
stop_daemon

# a host that is not allowed: atlasd does not start, and says why
cat >"$T/bad.yaml" <<'YAML'
approvals:
  notify:
    url: http://192.0.2.10/hooks
YAML
set +e
env -u ATLAS_TOKEN "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 --config "$T/bad.yaml" >"$T/bad.log" 2>&1
brc=$?
set -e
expect_eq "a host outside allow_hosts: atlasd refuses to start" "$([ "$brc" -ne 0 ] && echo refused)" "refused"
expect_contains "naming the host and the setting" "$(cat "$T/bad.log")" "the host 192.0.2.10 is not in approvals.notify.allow_hosts"
finish
