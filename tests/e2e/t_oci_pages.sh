#!/bin/bash
# Catalogs and tag lists past 1,000 entries (docs/distribution.md
# "Registries"): atlasd's /v2/ pages them (?n=&last=, a Link header to the
# next page), and atlas follows a registry's Link headers, here a small
# registry stand-in (python3's http.server on loopback) with 2,500
# repositories and 1,500 tags in pages of 1,000.
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
atlas register --path "$EXAMPLES/word-count" >/dev/null
A=$(copy_agent "$EXAMPLES/word-count" wc2)
sed -i 's/^  version: "1.0.0"/  version: "1.1.0"/' "$A/agent.yaml"
atlas register --path "$A" >/dev/null
A=$(copy_agent "$EXAMPLES/word-count" other)
sed -i 's/^  name: "word-count"/  name: "other"/' "$A/agent.yaml"
atlas register --path "$A" >/dev/null

# --- atlasd as the server
hdr=$(curl -s -D "$T/h1" -o "$T/b1" "$ATLAS_URL/v2/_catalog?n=1")
expect_eq "a page of n=1" "$(j 'd["repositories"]' <"$T/b1")" "['other']"
expect_contains "with a Link to the next" "$(tr -d '\r' <"$T/h1")" 'Link: </v2/_catalog?n=1&last=other>; rel="next"'
curl -s -D "$T/h2" -o "$T/b2" "$ATLAS_URL/v2/_catalog?n=1&last=other"
expect_eq "the next page" "$(j 'd["repositories"]' <"$T/b2")" "['word-count']"
if grep -qi '^link:' "$T/h2"; then fail "the last page has no Link"; else pass "the last page has no Link"; fi
curl -s -D "$T/h3" -o "$T/b3" "$ATLAS_URL/v2/word-count/tags/list?n=2"
expect_eq "tags in lexical order, n at a time" "$(j 'd["tags"]' <"$T/b3")" "['1.0.0', '1.1.0']"
expect_contains "and a Link" "$(tr -d '\r' <"$T/h3")" 'Link: </v2/word-count/tags/list?n=2&last=1.1.0>; rel="next"'
expect_eq "the rest" "$(curl -s "$ATLAS_URL/v2/word-count/tags/list?n=2&last=1.1.0" | j 'd["tags"]')" "['latest']"
expect_eq "a bad n is the spec's error" "$(curl -s "$ATLAS_URL/v2/_catalog?n=x" | j 'd["errors"][0]["code"]')" "PAGINATION_NUMBER_INVALID"

# --- atlas as the client: a registry stand-in with pages of 1000
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/fake.py" <<'PY'
import http.server, json, sys, urllib.parse
REPOS = ["ns/repo-%04d" % i for i in range(2500)]
TAGS = ["1.%d.0" % i for i in range(1500)]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/v2/":
            return self.send(200, {}, None)
        if u.path == "/v2/_catalog":
            items, key, base = sorted(REPOS), "repositories", "/v2/_catalog"
        elif u.path == "/v2/ns/big/tags/list":
            items, key, base = sorted(TAGS), "tags", "http://127.0.0.1:%d/v2/ns/big/tags/list" % self.server.server_port
        else:
            return self.send(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": u.path}]}, None)
        n = min(int(q.get("n", ["1000"])[0]), 1000)
        last = q.get("last", [""])[0]
        rest = [x for x in items if x > last]
        page = rest[:n]
        link = None
        if len(rest) > n:
            link = '<%s?n=%d&last=%s>; rel="next"' % (base, n, urllib.parse.quote(page[-1], safe=""))
        self.send(200, {key: page, "name": "ns/big"}, link)
    def send(self, code, body, link):
        b = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        if link: self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(b)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
/usr/bin/python3 "$T/fake.py" "$port" &
PIDS="$PIDS $!"
wait_for sh -c "curl -s -o /dev/null http://127.0.0.1:$port/v2/"
export ATLAS_INSECURE_REGISTRIES=127.0.0.1:$port
out=$(atlas --json search repo-2499 --remote --registry "127.0.0.1:$port")
expect_eq "search --remote reads every page of the catalog" "$(echo "$out" | j 'd["repositories"]')" "['ns/repo-2499']"
run_rc rc atlas pull "127.0.0.1:$port/ns/big" --quiet
expect_contains "the highest tag is found on the second page" "$(cat "$T/err")" "1.1499.0"
finish
