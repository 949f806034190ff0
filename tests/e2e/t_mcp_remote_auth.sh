#!/bin/bash
# Remote MCP servers that want credentials (docs/mcp.md "Authorization of
# remote servers"), against a server built with the official TypeScript SDK
# 1.x whose own requireBearerAuth middleware guards it and whose
# mcpAuthMetadataRouter publishes the OAuth metadata
# (tests/interop/ts-auth-server.mjs):
#   --auth bearer  a token from the secrets store;
#   --auth oauth   the client credentials grant, found by discovery (RFC 9728
#                  protected resource metadata, RFC 8414 server metadata),
#                  with the resource indicator; one token for many runs,
#                  a new one when it expires; a refused secret says so;
# and nothing of a secret or a token reaches the log, the store or a trace.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop

PIDS=""
stop_servers() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_servers; cleanup' EXIT
# tokens live 3 s: the test sees one renewed
(cd "$INTEROP" && exec "$NODE22" ts-auth-server.mjs 0 3) >"$T/auth.out" 2>&1 &
PIDS="$!"
wait_grep listening "$T/auth.out" || { fail "ts-auth-server did not start"; cat "$T/auth.out" >&2; finish; exit 1; }
URL=$(sed -n 's/^listening //p' "$T/auth.out")
BASE=${URL%/mcp}

start_daemon
# without credentials: refused, saying it is authentication
run_rc rc atlas register --remote "$URL" --name open --tool whoami
expect_eq "no credentials: refused" "$rc" 1
expect_contains "and says the server requires authentication" "$(cat "$T/err")" "requires authentication"

# --- bearer: a token from the secrets store
printf 'st4tic-t0ken' | atlas secret set STATIC_TOKEN >/dev/null
run_rc rc atlas register --remote "$BASE/static/mcp" --name static --tool whoami --auth bearer --secret STATIC_TOKEN
expect_eq "register --auth bearer" "$rc" 0
run_rc rc atlas run static --input '{"text": "hi"}'
expect_eq "a run with the bearer token" "$rc $(j 'd["client"]' <"$T/out")" "0 static"
run_rc rc atlas register --remote "$BASE/static/mcp" --name nosecret --tool whoami --auth bearer --secret NOT_SET
expect_eq "a bearer secret that is not set: refused" "$rc" 1
expect_contains "naming the secret" "$(cat "$T/err")" "NOT_SET"

# --- oauth: client credentials through discovery
printf 'cl1ent-s3cret' | atlas secret set CLIENT_SECRET >/dev/null
run_rc rc atlas register --remote "$URL" --name secured --tool whoami --auth oauth --client-id atlas-e2e --client-secret CLIENT_SECRET
expect_eq "register --auth oauth (discovery, client credentials)" "$rc" 0
expect_contains "the token request carried the resource indicator and the advertised scope" \
    "$(grep '^token' "$T/auth.out" | tail -1)" "token atlas-e2e $URL mcp:tools"
for i in 1 2 3 4; do
    run_rc rc atlas run secured --input "{\"text\": \"run $i\"}"
    expect_eq "run $i as the OAuth client" "$rc $(j 'd["text"], d["client"]' <"$T/out")" "0 run $i atlas-e2e"
done
n1=$(grep -c '^token' "$T/auth.out")
expect_eq "the runs shared one token (register's, then the daemon's first)" "$([ "$n1" -le 2 ] && echo yes)" "yes"
# the token's lifetime is the server's (3 s): runs go on working across its
# renewal, which happens once it has expired
renewed() {
    atlas run secured --input '{"text": "later"}' >"$T/later" 2>&1 || return 2
    [ "$(grep -c '^token' "$T/auth.out")" -gt "$n1" ]
}
WAIT_S=20 wait_for renewed
expect_eq "after the token expired: a new one, and the run works" "$(j 'd["text"]' <"$T/later")" "later"
expect_eq "exactly one more token was fetched" "$(grep -c '^token' "$T/auth.out")" "$((n1 + 1))"

# a wrong client secret: the run fails saying the token endpoint refused
printf 'wrong' | atlas secret set CLIENT_SECRET >/dev/null
run_rc rc atlas register --remote "$URL" --name wrong --tool whoami --auth oauth --client-id atlas-e2e --client-secret CLIENT_SECRET
expect_eq "a refused client secret: register fails" "$rc" 1
expect_contains "saying the token endpoint refused the client" "$(cat "$T/err")" "refused client atlas-e2e"

# the CLI checks its options
run_rc rc atlas register --remote "$URL" --name x --auth oauth --client-id a
expect_eq "--auth oauth without --client-secret: a usage error" "$rc" 2
run_rc rc atlas register --remote "$URL" --name x --auth code
expect_eq "--auth code: a usage error, not supported yet" "$rc $(grep -c 'not supported yet' "$T/err")" "2 1"
http POST /api/v1/agents "{\"remote\": \"$URL\", \"name\": \"bad\", \"auth\": {\"type\": \"oauth\", \"client_id\": \"a\"}}"
expect_eq "the API refuses an incomplete auth block" "$HTTP_CODE" 400

# nothing of a secret or a token in the log, the store, the contract or a trace
http GET /api/v1/agents/secured
expect_eq "the contract names the secret, not its value" \
    "$(echo "$HTTP_BODY" | j 'd["contract"]["remote_auth"]' 2>/dev/null || echo "$HTTP_BODY")" \
    "{'type': 'oauth', 'client_id': 'atlas-e2e', 'client_secret': 'CLIENT_SECRET'}"
J=$(atlas --json jobs --agent secured | j 'd["jobs"][0]["id"]')
expect_eq "the trace holds no token" "$(atlas trace "$J" --json | grep -c -i 'bearer ' || true)" "0"
stop_daemon
leaked=$(grep -l -a -e 'cl1ent-s3cret' -e 'st4tic-t0ken' "$T/atlasd.log" "$DATA"/atlas.db* 2>/dev/null || true)
expect_eq "no secret value in the log or the store" "$leaked" ""
finish
