#!/bin/bash
# Resuming an interrupted push (docs/distribution.md "Registries"): a blob
# larger than the chunk size goes up in PATCH chunks; a proxy breaks the
# connection in the middle of the first one (passing a prefix on).  In
# front of another atlasd, atlas asks the upload session what it holds
# (GET of its Location: Range 0-N) and sends the rest; in front of Debian's
# docker-registry (which cannot say once a response was lost) it starts a
# new session.  Either registry checks the whole blob against its digest.
. "$(dirname "$0")/lib.sh"
if ! command -v docker-registry >/dev/null 2>&1; then
    log "skip: docker-registry is not installed (scripts/install-deps.sh test)"
    exit 77
fi
export ATLAS_OCI_CACHE=$T/cache
export ATLAS_REGISTRY_AUTH=$T/auth.json
PIDS=
# (start_proxy runs in $(...): a subshell, so its pids go to a file too)
cleanup_more() {
    for p in $PIDS $(cat "$T/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    cleanup
}
trap cleanup_more EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rp=$(free_port)
mkdir -p "$T/reg"
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' "$T/reg/data" "$rp" >"$T/reg/config.yml"
docker-registry serve "$T/reg/config.yml" >"$T/reg/log" 2>&1 &
PIDS="$PIDS $!"
wait_for sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$rp/v2/ | grep -q 200"

cat >"$T/proxy.py" <<'PY'
import http.server, sys, urllib.request, re
PORT, UP, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
state = {"cut": 1}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def fwd(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        cut = self.command == "PATCH" and state["cut"] and body and len(body) > 3000
        if cut:
            state["cut"] = 0
            part = body[:len(body) // 3]
            m = re.match(r"(\d+)-(\d+)", hdrs.get("Content-Range", "0-0"))
            if m:
                hdrs["Content-Range"] = "%d-%d" % (int(m.group(1)), int(m.group(1)) + len(part) - 1)
            body = part
        with open(LOG, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path.split("?")[0].split("/")[-2], "cut" if cut else (self.headers.get("Content-Range") or "-")))
        req = urllib.request.Request("http://" + UP + self.path, data=body, method=self.command, headers=hdrs)
        try:
            resp = urllib.request.urlopen(req)
            code, rh, rb = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            code, rh, rb = e.code, e.headers, e.read()
        if cut:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.send_response(code)
        for k, v in rh.items():
            if k.lower() in ("content-length", "connection", "transfer-encoding", "date", "server"):
                continue
            self.send_header(k, v.replace(UP, "127.0.0.1:%d" % PORT))
        self.send_header("Content-Length", str(len(rb)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(rb)
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = fwd
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
PY
# start_proxy UPSTREAM LOG: prints the port
start_proxy() {
    pp=$(free_port)
    /usr/bin/python3 "$T/proxy.py" "$pp" "$1" "$2" >/dev/null 2>&1 &
    echo $! >>"$T/pids"
    wait_for sh -c "curl -s -o /dev/null http://127.0.0.1:$pp/v2/" >/dev/null
    echo "$pp"
}
pp=$(start_proxy "127.0.0.1:$rp" "$T/log")

mkdir -p "$DATA"
start_daemon
A=$(copy_agent "$EXAMPLES/word-count" big)
sed -i 's/^  name: "word-count"/  name: "big"/' "$A/agent.yaml"
head -c 200000 /dev/urandom >"$A/data.bin"
atlas register --path "$A" >/dev/null
digest=$(atlas --json describe big | j 'd["digest"]')

# 1. another atlasd: resumed where its session ends
mkdir -p "$T/data2"
"$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 >>"$T/atlasd2.log" 2>&1 &
D2=$!
wait_for test -s "$T/data2/atlasd.url"
U2=$(cat "$T/data2/atlasd.url")
tok2=$(cat "$T/data2/admin.token")
wait_for sh -c "curl -sf $U2/api/v1/health/ready"
ap=$(start_proxy "${U2#http://}" "$T/alog")
export ATLAS_INSECURE_REGISTRIES=127.0.0.1:$pp,127.0.0.1:$ap
printf '%s\n' "$tok2" | atlas login "127.0.0.1:$ap" --username atlas >/dev/null
: >"$T/alog"
run_rc rc env ATLAS_OCI_CHUNK_BYTES=65536 "$BIN/atlas" --json push "127.0.0.1:$ap/big:1.0.0" --agent big
expect_eq "a push to an atlasd through a broken PATCH succeeds" "$rc" "0"
expect_contains "the first PATCH was cut" "$(cat "$T/alog")" "PATCH uploads cut"
expect_contains "the session was asked what it holds" "$(cat "$T/alog")" "GET uploads -"
expect_eq "one session per blob (config, layer): nothing sent again from 0" "$(grep -c "^POST uploads" "$T/alog")" "2"
expect_eq "the next chunk starts where the kept bytes end" \
    "$(grep -A2 'PATCH uploads cut' "$T/alog" | sed -n 's/^PATCH uploads \([0-9]*\)-.*/\1/p' | head -1)" "21845"
expect_eq "registered there with the same content" \
    "$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json describe big | j 'd["digest"]')" "$digest"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok2" "$U2/v2/big/blobs/uploads/0123456789abcdef0123456789abcdef")
expect_eq "an unknown upload has no status" "$code" "404"

# 2. docker-registry: a new session (POSTs: the config, the layer, the layer again)
run_rc rc env ATLAS_OCI_CHUNK_BYTES=65536 "$BIN/atlas" --json push "127.0.0.1:$pp/ns/big:1.0.0" --agent big
expect_eq "a push through a broken PATCH succeeds" "$rc" "0"
expect_contains "the first PATCH was cut" "$(cat "$T/log")" "PATCH uploads cut"
expect_eq "the layer went again in a new session" "$(grep -c '^POST uploads' "$T/log")" "3"
rm -rf "$T/cache"
out=$(atlas --json pull "127.0.0.1:$rp/ns/big:1.0.0" --force --quiet)
expect_eq "the registry holds the same agent" "$(echo "$out" | j 'd["digest"]')" "$digest"
kill -TERM "$D2"; wait "$D2" 2>/dev/null || true
if grep -qE "$SAN_REPORT" "$T/atlasd2.log"; then fail "sanitizer report in atlasd2.log"; else pass "no sanitizer report from the other atlasd"; fi
finish
