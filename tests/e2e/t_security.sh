#!/bin/bash
# The security layer end to end (docs/security.md): tokens made, listed,
# used and revoked (and never stored in clear); roles; per-token rate
# limits (429 + Retry-After); Host and Origin matched exactly (DNS
# rebinding, Origin null, a cross-site text/plain POST); the owner-only
# Unix socket as the token-less local path; revocation ending an open SSE
# stream within a second; the audit records.
. "$(dirname "$0")/lib.sh"
start_daemon
atlas register --path "$EXAMPLES/word-count" >/dev/null
atlas register --path "$AGENTS/slow" >/dev/null
port=${ATLAS_URL##*:}

# ---- the admin token of the first start ----
expect_eq "admin.token is 0600" "$(stat -c %a "$DATA/admin.token")" 600
expect_eq "atlas.key is 0600" "$(stat -c %a "$DATA/atlas.key")" 600
expect_eq "the socket is owner-only" "$(stat -c %a "$DATA/atlasd.sock")" 600
grep -q "$ATLAS_TOKEN" "$T/atlasd.log" && fail "the admin token is in the log" || pass "the admin token is never logged"
expect_contains "the log says where the admin token is" "$(cat "$T/atlasd.log")" "$DATA/admin.token"

# ---- tokens ----
run_rc rc atlas token create --name ci-viewer --role viewer --expires 30d
expect_eq "token create exits 0" "$rc" 0
viewer=$(cat "$T/out")
expect_contains "tokens carry the atl_ prefix" "$viewer" "atl_"
expect_eq "256 bits of randomness (43 base64url characters after atl_)" "${#viewer}" 47
grep -aq "$viewer" "$DATA"/atlas.db* && fail "the token is stored in clear" || pass "only a keyed hash is stored"
run_rc rc atlas token create --name ci-viewer --role viewer
expect_eq "a live name is taken: exit 1" "$rc" 1
run_rc rc atlas token create --name x --role root
expect_eq "an unknown role: exit 1" "$rc" 1
expect_contains "token ls shows the token" "$(atlas token ls)" "ci-viewer"
expect_eq "token ls never shows a token" "$(atlas token ls --json | grep -c atl_)" 0
code=$(anon_curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/api/v1/agents")
expect_eq "no token: 401" "$code" 401
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $viewer" "$ATLAS_URL/api/v1/agents")
expect_eq "viewer reads: 200" "$code" 200
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $viewer" \
    -H 'Content-Type: application/json' -d '{"text":"a"}' "$ATLAS_URL/api/v1/agents/word-count/run")
expect_eq "viewer may not run: 403" "$code" 403
code=$(anon_curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/api/v1/health/live")
expect_eq "liveness needs no token" "$code" 200
who=$(ATLAS_TOKEN=$viewer atlas --json token ls 2>&1 || true)
expect_contains "the CLI with a viewer token cannot list tokens" "$who" "permission-denied"

# ---- scopes narrow a role to some of its actions ----
run_rc rc atlas token create --name ci-reader --role operator --scope read
expect_eq "a scoped token is made" "$rc" 0
reader=$(cat "$T/out")
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $reader" "$ATLAS_URL/api/v1/agents")
expect_eq "an operator token scoped to read reads: 200" "$code" 200
body=$(anon_curl -s -w ' %{http_code}' -H "Authorization: Bearer $reader" \
    -H 'Content-Type: application/json' -d '{"text":"a"}' "$ATLAS_URL/api/v1/agents/word-count/run")
expect_contains "but may not run, though its role may: 403" "$body" " 403"
expect_contains "saying which scope is missing" "$body" "scopes do not include: run"
run_rc rc atlas token create --name ci-wide --role viewer --scope read --scope run
expect_eq "a scope cannot widen the role: exit 1" "$rc" 1
expect_contains "and says so" "$(cat "$T/err")" "can only narrow the role"
run_rc rc atlas token create --name ci-bogus --role operator --scope everything
expect_contains "a scope that is no action is refused" "$(cat "$T/err")" "is not an action"
run_rc rc atlas token create --name ci-agent --role operator --scope agent:word-count
expect_contains "per-agent scopes: not supported yet" "$(cat "$T/err")" "not supported yet"
expect_eq "neither was made" "$(atlas token ls --json | grep -c 'ci-bogus\|ci-agent\|ci-wide')" 0

# ---- rate limit ----
limited=$(new_token ci-limited operator)
curl -sS -X DELETE "$ATLAS_URL/api/v1/tokens/ci-limited" >/dev/null
limited=$(curl -sS -X POST -H 'Content-Type: application/json' \
    --data-binary '{"name":"ci-limited","role":"operator","rate_per_min":3}' \
    "$ATLAS_URL/api/v1/tokens" | j 'd["token"]')
codes=
for _ in 1 2 3 4; do
    codes="$codes $(anon_curl -s -o /dev/null -D "$T/rl" -w '%{http_code}' -H "Authorization: Bearer $limited" "$ATLAS_URL/api/v1/agents")"
done
expect_eq "three requests a minute, then 429" "$codes" " 200 200 200 429"
expect_contains "429 says when to retry" "$(cat "$T/rl")" "Retry-After:"

# ---- Host and Origin ----
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: 127.0.0.1.attacker.example:$port" "$ATLAS_URL/api/v1/agents")
expect_eq "Host 127.0.0.1.attacker.example: 403" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$port" "$ATLAS_URL/api/v1/agents")
expect_eq "Host localhost: 200" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: 127.0.0.1:1" "$ATLAS_URL/api/v1/agents")
expect_eq "Host with another port: 403" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Origin: null' "$ATLAS_URL/api/v1/agents")
expect_eq "Origin null: 403" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Origin: http://evil.example' "$ATLAS_URL/mcp" -X POST \
    -H 'Content-Type: application/json' -H 'Accept: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"ping"}')
expect_eq "a foreign Origin on /mcp: 403" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: http://127.0.0.1:$port" "$ATLAS_URL/api/v1/agents")
expect_eq "the daemon's own Origin: 200" "$code" 200
before=$(curl -s "$ATLAS_URL/api/v1/jobs?agent=word-count" | j 'len(d["jobs"])')
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' \
    -H 'Origin: http://evil.example' -d '{"text":"a"}' "$ATLAS_URL/api/v1/agents/word-count/run")
expect_eq "a cross-site text/plain POST: 403" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' -d '{"text":"a"}' \
    "$ATLAS_URL/api/v1/agents/word-count/run")
expect_eq "a text/plain POST even with the token: 403" "$code" 403
expect_eq "and no run started" "$(curl -s "$ATLAS_URL/api/v1/jobs?agent=word-count" | j 'len(d["jobs"])')" "$before"
hdrs=$(curl -s -D - -o /dev/null -H "Origin: http://127.0.0.1:$port" "$ATLAS_URL/api/v1/agents")
case "$hdrs" in *[Aa]ccess-[Cc]ontrol-*) fail "CORS headers are sent" ;; *) pass "CORS is closed (no Access-Control-* headers)" ;; esac

# ---- the Unix socket ----
code=$(anon_curl -s -o "$T/who" -w '%{http_code}' --unix-socket "$DATA/atlasd.sock" http://localhost/api/v1/whoami)
expect_eq "the Unix socket needs no token" "$code" 200
expect_eq "and is the local admin" "$(j 'd["name"] + "/" + d["role"]' <"$T/who")" "local/admin"

# ---- revocation ends open SSE streams within a second ----
op=$(new_token ci-stream operator)
job=$(curl -s -X POST -H 'Content-Type: application/json' -H 'Prefer: respond-async' \
    -d '{"ms":20000}' "$ATLAS_URL/api/v1/agents/slow/run" | j 'd["job"]')
anon_curl -sN -H "Authorization: Bearer $op" "$ATLAS_URL/api/v1/jobs/$job/events" >"$T/sse" 2>&1 &
sse=$!
wait_for grep -q . "$T/sse" || true
t0=$(date +%s%N)
atlas token revoke ci-stream >/dev/null
ended=no
for _ in $(seq 1 40); do
    if ! kill -0 "$sse" 2>/dev/null; then ended=yes; break; fi
    sleep 0.05
done
t1=$(date +%s%N)
expect_eq "revoking the token ends its open SSE stream" "$ended" yes
ms=$(((t1 - t0) / 1000000))
[ "$ms" -le 1500 ] && pass "within a second or so (${ms} ms)" || fail "the stream ended after ${ms} ms"
kill "$sse" 2>/dev/null || true
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $op" "$ATLAS_URL/api/v1/agents")
expect_eq "a revoked token: 401" "$code" 401
curl -s -X POST "$ATLAS_URL/api/v1/jobs/$job/cancel" >/dev/null

# ---- expiry ----
short=$(curl -sS -X POST -H 'Content-Type: application/json' \
    --data-binary '{"name":"ci-short","role":"viewer","expires":"1s"}' "$ATLAS_URL/api/v1/tokens" | j 'd["token"]')
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $short" "$ATLAS_URL/api/v1/agents")
expect_eq "a fresh token works" "$code" 200
wait_for sh -c "[ \"\$(\"$REAL_CURL\" -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $short' '$ATLAS_URL/api/v1/agents')\" = 401 ]"
expect_eq "an expired token: 401" "$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $short" "$ATLAS_URL/api/v1/agents")" 401

# ---- tokens survive a restart; the admin token is kept ----
stop_daemon
start_daemon
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $viewer" "$ATLAS_URL/api/v1/agents")
expect_eq "a token survives a restart" "$code" 200
code=$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $op" "$ATLAS_URL/api/v1/agents")
expect_eq "a revocation survives a restart" "$code" 401

# ---- audit ----
run_rc rc atlas audit ls --json
expect_eq "audit ls exits 0" "$rc" 0
expect_eq "audit records have the stable shape" \
    "$(j 'sorted(d["records"][0].keys())' <"$T/out")" \
    "['action', 'actor', 'detail', 'event', 'id', 'outcome', 'role', 'source', 'ts_ms']"
events=$(j '" ".join(sorted(set(r["event"] for r in d["records"])))' <"$T/out")
for e in token.create token.revoke token.use access.denied auth.failed; do
    expect_contains "audit has $e" "$events" "$e"
done
expect_contains "denials say from where" \
    "$(j '[r["source"] for r in d["records"] if r["event"] == "access.denied"][0]' <"$T/out")" "tcp:127.0.0.1"
expect_contains "audit ls (table)" "$(atlas audit ls)" "token.revoke"
grep -q "$viewer" "$T/out" && fail "a token is in the audit" || pass "no token text in the audit"
finish
