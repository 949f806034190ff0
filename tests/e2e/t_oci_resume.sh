#!/bin/bash
# Resuming an interrupted blob download (docs/distribution.md
# "Registries"): a registry stand-in (python3 on loopback, in front of
# atlasd's /v2/) breaks the connection in the middle of the layer; atlas
# resumes with an HTTP Range request, in the same pull or, when every try
# broke, in the next pull from the .part it kept, and the blob is verified
# by its digest either way; a server that ignores Range (200) is read from
# the start.
. "$(dirname "$0")/lib.sh"
export ATLAS_OCI_CACHE=$T/cache
export ATLAS_REGISTRY_AUTH=$T/auth.json
PIDS=
cleanup_more() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    cleanup
}
trap cleanup_more EXIT

mkdir -p "$DATA"
start_daemon
# a layer of some size, so that half of it is a real cut
A=$(copy_agent "$EXAMPLES/word-count" big)
sed -i 's/^  name: "word-count"/  name: "big"/' "$A/agent.yaml"
head -c 300000 /dev/urandom >"$A/data.bin"
atlas register --path "$A" >/dev/null
digest=$(atlas --json describe big | j 'd["digest"]')

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/fake.py" <<'PY'
import http.server, sys, urllib.request, os, re
UP, TOKEN, LOG, CTL = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        req = urllib.request.Request(UP + self.path, headers={"Authorization": "Bearer " + TOKEN,
                                     "Accept": self.headers.get("Accept", "*/*")})
        try:
            resp = urllib.request.urlopen(req)
            code, body, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            code, body, ctype = e.code, e.read(), "application/json"
        mode = open(CTL).read().strip()
        rng = self.headers.get("Range")
        is_blob = "/blobs/" in self.path and len(body) > 100000
        if is_blob:
            with open(LOG, "a") as f: f.write("%s %s\n" % (mode, rng or "-"))
        start = 0
        if is_blob and rng and mode != "norange":
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_response(416); self.send_header("Content-Length", "0"); self.end_headers(); return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))
        else:
            self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if is_blob and mode in ("cut", "cutalways") and not (mode == "cut" and rng):
            # break the connection a third of the way into what is asked
            self.wfile.write(body[start:start + (len(body) - start) // 3]); self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body[start:])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
echo cut >"$T/ctl"
/usr/bin/python3 "$T/fake.py" "$port" "$ATLAS_URL" "$ATLAS_TOKEN" "$T/log" "$T/ctl" &
PIDS="$PIDS $!"
wait_for sh -c "curl -s -o /dev/null http://127.0.0.1:$port/v2/"
export ATLAS_INSECURE_REGISTRIES=127.0.0.1:$port
F=127.0.0.1:$port

# 1. cut once: resumed in the same pull
mkdir -p "$T/data2"
"$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 >>"$T/atlasd2.log" 2>&1 &
PIDS="$PIDS $!"
wait_for test -s "$T/data2/atlasd.url"
U2=$(cat "$T/data2/atlasd.url")
tok2=$(cat "$T/data2/admin.token")
wait_for sh -c "curl -sf $U2/api/v1/health/ready"
run_rc rc env ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" --json pull "$F/big:1.0.0"
expect_eq "a pull through a broken connection succeeds" "$rc" "0"
expect_eq "with the same content" "$(j 'd["digest"]' <"$T/out")" "$digest"
expect_contains "with a Range request for the rest" "$(cat "$T/log")" "cut bytes="

# 2. cut on every try: the pull fails, the .part stays, the next pull resumes
rm -rf "$T/cache"
: >"$T/log"
echo cutalways >"$T/ctl"
run_rc rc env ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" pull "$F/big:1.0.0" --force --quiet
expect_eq "a pull whose every try breaks fails" "$rc" "1"
parts=$(find "$T/cache" -name '*.part' | wc -l)
expect_eq "and keeps what it got" "$parts" "1"
kept=$(find "$T/cache" -name '*.part' -printf '%s')
echo ok >"$T/ctl"
: >"$T/log"
run_rc rc env ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" --json pull "$F/big:1.0.0" --force --quiet
expect_eq "the next pull succeeds" "$rc" "0"
expect_eq "asking only for the rest" "$(cat "$T/log")" "ok bytes=$kept-"
expect_eq "verified by its digest" "$(j 'd["digest"]' <"$T/out")" "$digest"

# 3. a kept part and a server without Range support: read whole, verified
rm -rf "$T/cache"
echo cutalways >"$T/ctl"
ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" pull "$F/big:1.0.0" --force --quiet 2>/dev/null || true
echo norange >"$T/ctl"
run_rc rc env ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" --json pull "$F/big:1.0.0" --force --quiet
expect_eq "a server that ignores Range is read from the start" "$rc" "0"
expect_eq "and the blob is right" "$(j 'd["digest"]' <"$T/out")" "$digest"
# the other daemon stopped cleanly, so that sanitizer builds report there too
for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
PIDS=
if grep -qE "$SAN_REPORT" "$T/atlasd2.log"; then
    fail "sanitizer report in atlasd2.log"; grep -A40 -E "$SAN_REPORT" "$T/atlasd2.log" | head -80 >&2
else
    pass "no sanitizer report from the other atlasd"
fi
finish
