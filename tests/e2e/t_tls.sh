#!/bin/bash
# TLS (docs/security.md "TLS"): beyond loopback atlasd refuses to start
# without TLS; with security.tls.self_signed it makes a key pair (GnuTLS),
# prints the certificate's fingerprint, and serves HTTPS that curl and the
# official MCP TypeScript client verify against that certificate; plain
# HTTP on the TLS port gets nothing.
. "$(dirname "$0")/lib.sh"

# beyond loopback, without TLS: no start, and a clear reason
set +e
"$BIN/atlasd" --data "$T/refuse" --listen 0.0.0.0:0 >"$T/refuse.log" 2>&1
rc=$?
set -e
expect_eq "0.0.0.0 without TLS: atlasd refuses to start" "$rc" 1
expect_contains "and says why" "$(cat "$T/refuse.log")" "without TLS"
expect_eq "ATLAS_INSECURE_LISTEN is gone" "$(ATLAS_INSECURE_LISTEN=1 "$BIN/atlasd" --data "$T/refuse" --listen 0.0.0.0:0 >/dev/null 2>&1; echo $?)" 1

cat >"$T/config.yaml" <<YAML
security:
  tls:
    self_signed: true
YAML
start_daemon --config "$T/config.yaml"
expect_contains "the URL is https" "$ATLAS_URL" "https://127.0.0.1:"
CERT=$DATA/tls/cert.pem
expect_eq "the key is 0600" "$(stat -c %a "$DATA/tls/key.pem")" 600
fp=$(sed -n 's/.*SHA-256 fingerprint \([0-9A-F:]*\).*/\1/p' "$T/atlasd.log" | head -n 1)
want=$(openssl x509 -in "$CERT" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//')
if [ -n "$want" ]; then
    expect_eq "the printed fingerprint is the certificate's" "$fp" "$want"
else
    expect_contains "a fingerprint is printed" "$fp" ":"
fi
code=$(curl -s -o "$T/body" -w '%{http_code}' --cacert "$CERT" "$ATLAS_URL/api/v1/agents")
expect_eq "curl over TLS, verified against the certificate: 200" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/api/v1/agents" || true)
expect_eq "an unverified certificate is refused by curl" "$code" 000
code=$(anon_curl -s -o /dev/null -w '%{http_code}' --cacert "$CERT" "$ATLAS_URL/api/v1/agents")
expect_eq "TLS does not replace the token: 401" "$code" 401
plain=${ATLAS_URL/https:/http:}
code=$(anon_curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$plain/api/v1/health/live" || true)
expect_eq "plain HTTP on the TLS port gets no answer" "$code" 000
ATLAS_CACERT=$CERT atlas register --path "$EXAMPLES/word-count" >/dev/null &&
    pass "the CLI over TLS (ATLAS_CACERT)" || fail "the CLI over TLS"

# the official MCP TypeScript client over HTTPS
. "$SRC/tests/interop/lib.sh"
if [ -n "${NODE22:-}" ] && [ -d "$SRC/tests/interop/node_modules/@modelcontextprotocol/sdk" ] &&
    [ -x "$EXAMPLES/echo-c/agent" ]; then
    ATLAS_CACERT=$CERT atlas register --path "$EXAMPLES/echo-c" >/dev/null
    ATLAS_CACERT=$CERT atlas register --path "$AGENTS/slow" >/dev/null
    set +e
    (cd "$SRC/tests/interop" && NODE_EXTRA_CA_CERTS=$CERT timeout 120 "$NODE22" sdk-client.mjs v1 http \
        "$ATLAS_URL" "$BIN/atlas") >"$T/sdk.txt" 2>&1
    rc=$?
    set -e
    expect_eq "the MCP TypeScript client (1.x) over HTTPS" "$rc" 0
    [ $rc -eq 0 ] || tail -n 20 "$T/sdk.txt" >&2
else
    log "note: no Node 22 or MCP SDK here; the TypeScript client over HTTPS is not exercised"
fi
finish
