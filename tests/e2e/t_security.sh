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
# over TCP with a token too: the reason and the field, not a hidden message
http POST /api/v1/tokens '{"name": "ci-wide2", "role": "viewer", "scopes": ["read", "run"]}'
expect_eq "a widening scope over HTTP: 400 naming the field" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd.get("pointer")')" "400 /scopes"
expect_contains "and saying why" "$HTTP_BODY" "can only narrow the role"
run_rc rc atlas token create --name ci-bogus --role operator --scope everything
expect_contains "a scope that is no action is refused" "$(cat "$T/err")" "is not an action"
run_rc rc atlas token create --name ci-badagent --role operator --scope 'agent:no/such'
expect_contains "a malformed agent:NAME is refused" "$(cat "$T/err")" "agent:NAME names one agent"
run_rc rc atlas token create --name ci-res --role operator --scope skill:x
expect_contains "other resources: not supported yet" "$(cat "$T/err")" "not supported yet"
run_rc rc atlas token create --name ci-badchain --role operator --scope 'chain:a b'
expect_contains "a malformed chain:NAME is refused" "$(cat "$T/err")" "chain:NAME names one chain"
expect_eq "none was made" "$(atlas token ls --json | grep -c 'ci-bogus\|ci-badagent\|ci-wide\|ci-res\|ci-badchain')" 0

# ---- agent:NAME scopes narrow a token to named agents ----
slowjob=$(curl -s -X POST -H 'Content-Type: application/json' -H 'Prefer: respond-async' \
    -d '{"ms":1}' "$ATLAS_URL/api/v1/agents/slow/run" | j 'd["job"]')
run_rc rc atlas token create --name ci-agent --role operator --scope agent:word-count
expect_eq "an agent:NAME scope is accepted" "$rc" 0
wc=$(cat "$T/out")
as_wc() { anon_curl -s -o "$T/wc" -w '%{http_code}' -H "Authorization: Bearer $wc" "$@"; }
expect_eq "it lists only its agent" "$(as_wc "$ATLAS_URL/api/v1/agents"; echo; j '[a["name"] for a in d["agents"]]' <"$T/wc")" "200
['word-count']"
expect_eq "it runs its agent" "$(as_wc -H 'Content-Type: application/json' -d '{"text":"a b c"}' "$ATLAS_URL/api/v1/agents/word-count/run")" 200
wcjob=$(anon_curl -s -H "Authorization: Bearer $wc" "$ATLAS_URL/api/v1/jobs" | j 'd["jobs"][0]["id"]')
expect_eq "it runs no other: 403" "$(as_wc -H 'Content-Type: application/json' -d '{"ms":1}' "$ATLAS_URL/api/v1/agents/slow/run")" 403
expect_contains "saying why" "$(cat "$T/wc")" 'narrowed to named agents and chains (agent:NAME, chain:NAME scopes), not \"slow\"'
expect_eq "nor reads another's contract" "$(as_wc "$ATLAS_URL/api/v1/agents/slow")" 403
expect_eq "its job list holds only its agent's jobs" \
    "$(anon_curl -s -H "Authorization: Bearer $wc" "$ATLAS_URL/api/v1/jobs" | j 'sorted(set(x["agent"] for x in d["jobs"]))')" "['word-count']"
expect_eq "its own job: 200" "$(as_wc "$ATLAS_URL/api/v1/jobs/$wcjob")" 200
expect_eq "another agent's job: 403" "$(as_wc "$ATLAS_URL/api/v1/jobs/$slowjob")" 403
expect_eq "nor its event stream" "$(as_wc "$ATLAS_URL/api/v1/jobs/$slowjob/events")" 403
expect_eq "nor its logs" "$(as_wc "$ATLAS_URL/api/v1/jobs/$slowjob/logs")" 403
expect_eq "nor cancels it" "$(as_wc -X POST "$ATLAS_URL/api/v1/jobs/$slowjob/cancel")" 403
expect_eq "routing (which may pick any agent): 403" "$(as_wc -H 'Content-Type: application/json' -d '{"input":{"text":"a"}}' "$ATLAS_URL/api/v1/run")" 403
expect_eq "routes not about agents are closed to it (the queue)" "$(as_wc "$ATLAS_URL/api/v1/queue")" 403
expect_eq "whoami names its agents" "$(anon_curl -s -H "Authorization: Bearer $wc" "$ATLAS_URL/api/v1/whoami" | j 'd["agents"]')" "['word-count']"
mcp_wc() { # METHOD PARAMS
    anon_curl -s -H "Authorization: Bearer $wc" -H 'Content-Type: application/json' \
        -H 'Accept: application/json' -H 'MCP-Protocol-Version: 2026-07-28' -H "Mcp-Method: $1" \
        ${3:+-H "Mcp-Name: $3"} \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$ATLAS_URL/mcp"
}
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
expect_eq "MCP tools/list: its agent's tool only, no platform tools" \
    "$(mcp_wc tools/list "{$meta}" | j '[t["name"] for t in d["result"]["tools"]]')" "['word-count']"
out=$(mcp_wc tools/call "{\"name\":\"word-count\",\"arguments\":{\"text\":\"a b\"},$meta}" word-count)
expect_eq "MCP tools/call of its agent runs it" "$(echo "$out" | j 'd["result"].get("isError", False)')" "False"
out=$(mcp_wc tools/call "{\"name\":\"slow\",\"arguments\":{\"ms\":1},$meta}" slow)
expect_contains "MCP tools/call of another agent is refused" "$out" "narrowed to named agents"
out=$(mcp_wc tools/call "{\"name\":\"atlas.jobs.list\",\"arguments\":{},$meta}" atlas.jobs.list)
expect_contains "and so are the platform tools" "$out" "isError"
expect_eq "MCP resources/list: its agent's contract only" \
    "$(mcp_wc resources/list "{$meta}" | j 'sorted(r["uri"] for r in d["result"]["resources"] if r["uri"].startswith("atlas://agents/"))')" "['atlas://agents/word-count/contract']"
expect_contains "MCP resources/read of another agent's contract: not found" \
    "$(mcp_wc resources/read "{\"uri\":\"atlas://agents/slow/contract\",$meta}" atlas://agents/slow/contract)" 'not found'
expect_contains "nor another agent's job" \
    "$(mcp_wc resources/read "{\"uri\":\"atlas://jobs/$slowjob\",$meta}" "atlas://jobs/$slowjob")" 'not found'
expect_contains "its own agent's job: read" \
    "$(mcp_wc resources/read "{\"uri\":\"atlas://jobs/$wcjob\",$meta}" "atlas://jobs/$wcjob")" '"contents"'
a2a_wc() { # PATH BODY
    anon_curl -s -H "Authorization: Bearer $wc" -H 'Content-Type: application/json' -H 'A2A-Version: 0.3' \
        --data-binary "$2" "$ATLAS_URL$1"
}
expect_eq "A2A: another agent's endpoint is refused" \
    "$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $wc" -H 'Content-Type: application/json' -d '{}' "$ATLAS_URL/a2a/agents/slow")" 403
expect_contains "A2A tasks/get of another agent's job: no such task" \
    "$(a2a_wc /a2a/agents/word-count "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tasks/get\",\"params\":{\"id\":\"$slowjob\"}}")" "no task"
expect_contains "A2A tasks/get of its own agent's job: the task" \
    "$(a2a_wc /a2a/agents/word-count "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tasks/get\",\"params\":{\"id\":\"$wcjob\"}}")" '"result"'
expect_eq "A2A tasks/list for such a token: its agent's tasks only" \
    "$(a2a_wc /a2a/agents/word-count '{"jsonrpc":"2.0","id":1,"method":"tasks/list","params":{}}' |
        j 'len(d["result"]["tasks"]) > 0 and all(t["metadata"]["atlas.agent"] == "word-count" for t in d["result"]["tasks"])')" "True"
run_rc rc atlas token create --name ci-agent-read --role operator --scope agent:word-count --scope read
rd=$(cat "$T/out")
expect_eq "agent:NAME with read: reads its agent" "$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $rd" "$ATLAS_URL/api/v1/agents/word-count")" 200
expect_eq "but does not run it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $rd" -H 'Content-Type: application/json' -d '{"text":"a"}' "$ATLAS_URL/api/v1/agents/word-count/run")" 403

# ---- chain:NAME scopes narrow a token to named chains; their steps run
# under the chain's authority ----
printf 'chain:\n  name: wc-chain\n  steps:\n    - agent: word-count\n' >"$T/wc-chain.yaml"
printf 'chain:\n  name: slow-chain\n  steps:\n    - agent: slow\n' >"$T/slow-chain.yaml"
atlas chain register "$T/wc-chain.yaml" >/dev/null && atlas chain register "$T/slow-chain.yaml" >/dev/null
run_rc rc atlas token create --name ci-chain --role operator --scope chain:wc-chain
expect_eq "a chain:NAME scope is accepted" "$rc" 0
ch=$(cat "$T/out")
as_ch() { anon_curl -s -o "$T/ch" -w '%{http_code}' -H "Authorization: Bearer $ch" "$@"; }
expect_eq "whoami names its chains and no agent" \
    "$(anon_curl -s -H "Authorization: Bearer $ch" "$ATLAS_URL/api/v1/whoami" | j '(d["chains"], d["agents"])')" "(['wc-chain'], [])"
expect_eq "it lists only its chain" "$(as_ch "$ATLAS_URL/api/v1/chains"; echo; j '[c["name"] for c in d["chains"]]' <"$T/ch")" "200
['wc-chain']"
expect_eq "it reads its chain" "$(as_ch "$ATLAS_URL/api/v1/chains/wc-chain")" 200
expect_eq "not another chain" "$(as_ch "$ATLAS_URL/api/v1/chains/slow-chain")" 403
expect_eq "it runs its chain (the step's agent is not in its scopes)" \
    "$(as_ch -H 'Content-Type: application/json' -d '{"text":"a b c d"}' "$ATLAS_URL/api/v1/chains/wc-chain/run"; echo; j 'd["words"]' <"$T/ch")" "200
4"
expect_eq "it runs no other chain: 403" "$(as_ch -H 'Content-Type: application/json' -d '{"ms":1}' "$ATLAS_URL/api/v1/chains/slow-chain/run")" 403
expect_contains "saying why" "$(cat "$T/ch")" 'not the chain \"slow-chain\"'
expect_eq "nor the step's agent on its own: 403" "$(as_ch -H 'Content-Type: application/json' -d '{"text":"a"}' "$ATLAS_URL/api/v1/agents/word-count/run")" 403
expect_eq "nor lists agents" "$(as_ch "$ATLAS_URL/api/v1/agents"; echo; j 'd["agents"]' <"$T/ch")" "200
[]"
as_ch "$ATLAS_URL/api/v1/jobs" >/dev/null
expect_eq "its job list: the chain run and its step, nothing else" \
    "$(j 'sorted((x["kind"], x["agent"]) for x in d["jobs"])' <"$T/ch")" "[('agent', 'word-count'), ('chain', 'wc-chain')]"
stepjob=$(j '[x["id"] for x in d["jobs"] if x["kind"] == "agent"][0]' <"$T/ch")
chainjob=$(j '[x["id"] for x in d["jobs"] if x["kind"] == "chain"][0]' <"$T/ch")
expect_eq "the chain's job: 200" "$(as_ch "$ATLAS_URL/api/v1/jobs/$chainjob")" 200
expect_eq "its step's job: 200" "$(as_ch "$ATLAS_URL/api/v1/jobs/$stepjob")" 200
expect_eq "the step's logs: 200" "$(as_ch "$ATLAS_URL/api/v1/jobs/$stepjob/logs")" 200
expect_eq "another agent's job: 403" "$(as_ch "$ATLAS_URL/api/v1/jobs/$slowjob")" 403
expect_eq "a word-count job outside the chain: 403" "$(as_ch "$ATLAS_URL/api/v1/jobs/$wcjob")" 403
expect_eq "its traces: the chain's only" \
    "$(anon_curl -s -H "Authorization: Bearer $ch" "$ATLAS_URL/api/v1/traces" | j 'sorted(set(x["agent"] for x in d["traces"]))')" "['wc-chain']"
expect_eq "A2A: another chain's endpoint is refused" \
    "$(as_ch -H 'Content-Type: application/json' -d '{}' "$ATLAS_URL/a2a/chains/slow-chain")" 403
expect_eq "A2A: its chain's card" "$(as_ch "$ATLAS_URL/a2a/chains/wc-chain/.well-known/agent-card.json")" 200
expect_eq "A2A: an agent's endpoint is refused" \
    "$(as_ch -H 'Content-Type: application/json' -d '{}' "$ATLAS_URL/a2a/agents/word-count")" 403
expect_eq "routes not about its chains are closed (the queue)" "$(as_ch "$ATLAS_URL/api/v1/queue")" 403
mcp_ch() { # METHOD PARAMS [NAME]
    anon_curl -s -H "Authorization: Bearer $ch" -H 'Content-Type: application/json' \
        -H 'Accept: application/json' -H 'MCP-Protocol-Version: 2026-07-28' -H "Mcp-Method: $1" \
        ${3:+-H "Mcp-Name: $3"} \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$ATLAS_URL/mcp"
}
expect_eq "MCP tools/list: the chain tool only" \
    "$(mcp_ch tools/list "{$meta}" | j '[t["name"] for t in d["result"]["tools"]]')" "['atlas.exec.spawn_chain']"
out=$(mcp_ch tools/call "{\"name\":\"atlas.exec.spawn_chain\",\"arguments\":{\"chain\":\"wc-chain\",\"input\":{\"text\":\"x y\"}},$meta}" atlas.exec.spawn_chain)
expect_eq "MCP: it runs its chain" "$(echo "$out" | j 'd["result"].get("isError", False)')" "False"
out=$(mcp_ch tools/call "{\"name\":\"atlas.exec.spawn_chain\",\"arguments\":{\"chain\":\"slow-chain\",\"input\":{\"ms\":1}},$meta}" atlas.exec.spawn_chain)
expect_contains "MCP: not another chain" "$out" 'not chain \"slow-chain\"'
out=$(mcp_ch tools/call "{\"name\":\"atlas.jobs.list\",\"arguments\":{},$meta}" atlas.jobs.list)
expect_contains "MCP: no other platform tool" "$out" "isError"
expect_contains "A2A tasks/get of its chain's run: the task" \
    "$(anon_curl -s -H "Authorization: Bearer $ch" -H 'Content-Type: application/json' -H 'A2A-Version: 0.3' \
        --data-binary "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tasks/get\",\"params\":{\"id\":\"$chainjob\"}}" "$ATLAS_URL/a2a/chains/wc-chain")" '"result"'

# ---- developers own the agents they register ----
mkagent() { # DIR NAME VERSION: a copy of word-count under another name
    mkdir -p "$1" && cp "$EXAMPLES/word-count/agent.py" "$1/" &&
        sed -e "s/name: \"word-count\"/name: \"$2\"/" -e "s/version: \"1.0.0\"/version: \"$3\"/" \
            "$EXAMPLES/word-count/agent.yaml" >"$1/agent.yaml"
}
mkagent "$T/own1" dev-owned 1.0.0
mkagent "$T/own2" dev-owned 1.1.0
dev1=$(new_token ci-dev1 developer)
dev2=$(new_token ci-dev2 developer)
reg_as() { # TOKEN DIR
    anon_curl -s -o "$T/reg" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        -d "{\"path\":\"$2\"}" "$ATLAS_URL/api/v1/agents"
}
expect_eq "a developer registers a new agent" "$(reg_as "$dev1" "$T/own1")" 201
expect_eq "and owns it (recorded in the registry)" "$(j 'd["owner"]["name"]' <"$T/reg")" "ci-dev1"
expect_eq "GET /agents/NAME shows the owner" "$(curl -s "$ATLAS_URL/api/v1/agents/dev-owned" | j 'd["owner"]["name"]')" "ci-dev1"
expect_eq "another developer may not add a version: 403" "$(reg_as "$dev2" "$T/own2")" 403
expect_contains "saying whose it is" "$(j 'd["detail"]' <"$T/reg")" 'owned by the token "ci-dev1"'
expect_eq "nor remove it" "$(anon_curl -s -o "$T/reg" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev2" "$ATLAS_URL/api/v1/agents/dev-owned")" 403
expect_eq "the owner adds a version" "$(reg_as "$dev1" "$T/own2")" 201
expect_eq "a developer may not change an agent an administrator registered" "$(reg_as "$dev1" "$EXAMPLES/word-count")" 403
expect_contains "saying so (the admin token owns it)" "$(j 'd["detail"]' <"$T/reg")" 'owned by the token "local-admin"'
mkagent "$T/own4" local-owned 1.0.0
code=$(anon_curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DATA/atlasd.sock" -H 'Content-Type: application/json' \
    -d "{\"path\":\"$T/own4\"}" http://localhost/api/v1/agents)
expect_eq "the local administrator registers (the Unix socket)" "$code" 201
expect_eq "a developer may not remove that one either" "$(anon_curl -s -o "$T/reg" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev1" "$ATLAS_URL/api/v1/agents/local-owned")" 403
expect_eq "nor remove it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev1" "$ATLAS_URL/api/v1/agents/word-count")" 403
mkagent "$T/own3" dev-owned 1.2.0
expect_eq "an admin overrides: adds a version of a developer's agent" "$(reg_as "$ATLAS_TOKEN" "$T/own3")" 201
expect_eq "without taking it over" "$(curl -s "$ATLAS_URL/api/v1/agents/dev-owned" | j 'd["owner"]["name"]')" "ci-dev1"
expect_contains "denials are audited" "$(atlas audit ls --event access.denied --json)" 'owned by the token'
expect_eq "the owner removes it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev1" "$ATLAS_URL/api/v1/agents/dev-owned")" 200
expect_eq "then the name is free: another developer takes it" "$(reg_as "$dev2" "$T/own1")" 201
expect_eq "and owns it" "$(j 'd["owner"]["name"]' <"$T/reg")" "ci-dev2"

# ---- handing an agent to another owner (admin or the owner only, audited) ----
run_rc rc env ATLAS_TOKEN="$dev1" "$BIN/atlas" agent transfer dev-owned --to ci-dev1
expect_eq "a developer may not take another's agent: exit 1" "$rc" 1
expect_contains "saying who may" "$(cat "$T/err")" 'only an administrator or the agent'"'"'s owner'
run_rc rc env ATLAS_TOKEN="$dev2" "$BIN/atlas" agent transfer dev-owned --to ci-dev1
expect_eq "its owner hands it over" "$rc" 0
expect_eq "saying so" "$(cat "$T/out")" "dev-owned: owned by ci-dev1 (was ci-dev2)"
expect_eq "the new owner is recorded" "$(curl -s "$ATLAS_URL/api/v1/agents/dev-owned" | j 'd["owner"]["name"]')" "ci-dev1"
expect_eq "the old owner may no longer change it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev2" "$ATLAS_URL/api/v1/agents/dev-owned")" 403
expect_eq "the new owner may" "$(reg_as "$dev1" "$T/own2")" 201
run_rc rc env ATLAS_TOKEN="$dev1" "$BIN/atlas" agent transfer dev-owned --to no-such-token
expect_contains "to a token that does not exist: refused" "$(cat "$T/err")" 'no live token is named "no-such-token"'
run_rc rc atlas agent transfer dev-owned --to ci-viewer
expect_contains "to a token that may not register: refused" "$(cat "$T/err")" 'role viewer, which may not register'
run_rc rc atlas agent transfer no-such-agent --to ci-dev1
expect_eq "an unknown agent: exit 1" "$rc" 1
expect_eq "an admin hands over an agent it owns no part of" \
    "$(curl -s -X POST -H 'Content-Type: application/json' -d '{"to":"ci-dev2"}' "$ATLAS_URL/api/v1/agents/local-owned/transfer" | j '[d["owner"]["name"], d["previous"]["name"]]')" "['ci-dev2', 'local']"
expect_eq "and the new owner removes it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev2" "$ATLAS_URL/api/v1/agents/local-owned")" 200
expect_contains "transfers are audited" "$(atlas audit ls --event agent.transfer --json)" 'agent dev-owned: owner ci-dev2 -> ci-dev1'
expect_contains "and so are refused ones" "$(atlas audit ls --event access.denied --json)" 'may hand agent'

# ---- developers own the chains they register, by the same rule ----
chain_as() { # TOKEN NAME -> HTTP status of POST /chains of a one-step chain NAME
    anon_curl -s -o "$T/reg" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        -d "{\"yaml\": \"chain:\\n  name: $2\\n  steps:\\n    - agent: word-count\\n\"}" "$ATLAS_URL/api/v1/chains"
}
expect_eq "a developer registers a new chain" "$(chain_as "$dev1" dev-chain)" 201
expect_eq "another developer may not replace it: 403" "$(chain_as "$dev2" dev-chain)" 403
expect_contains "saying whose it is" "$(j 'd["detail"]' <"$T/reg")" 'chain "dev-chain" is owned by the token "ci-dev1"'
expect_eq "nor remove it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev2" "$ATLAS_URL/api/v1/chains/dev-chain")" 403
expect_eq "the owner replaces it" "$(chain_as "$dev1" dev-chain)" 200
expect_eq "a developer may not change a chain an administrator registered" "$(chain_as "$dev1" wc-chain)" 403
expect_eq "nor remove it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev1" "$ATLAS_URL/api/v1/chains/wc-chain")" 403
expect_eq "the owner removes it" "$(anon_curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $dev1" "$ATLAS_URL/api/v1/chains/dev-chain")" 200
expect_eq "then the name is free for another developer" "$(chain_as "$dev2" dev-chain)" 201

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
