#!/bin/bash
# `atlas mcp-client` (src/cli/cmd_mcp_client.c) against software no one here
# wrote and against atlasd: the official TS SDK servers over Streamable HTTP
# (1.x in session mode, 2.x stateless at 2026-07-28), server-everything over
# stdio, and atlasd's own /mcp; lists, tool calls, resources, prompts, the
# refusals (elicitation, input_required: not supported yet), usage errors.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop
[ -x "$EXAMPLES/echo-c/agent" ] || { log "skip: examples/agents/echo-c/agent is not built"; exit 77; }
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT
mc() { atlas mcp-client --timeout 30 "$@"; }

start_daemon
atlas register --path "$EXAMPLES/echo-c" >/dev/null

# atlasd's /mcp (the CLI's token, the 2026-07-28 revision)
run_rc rc mc --json info
expect_eq "info on atlasd" "$rc" 0
expect_eq "atlasd is spoken to at 2026-07-28" "$(j 'd["protocolVersion"], d["stateless"]' <"$T/out")" \
    "2026-07-28 True"
run_rc rc mc --json tools
expect_eq "tools on atlasd" "$rc" 0
expect_eq "the agent and a platform tool are listed" \
    "$(j '[t in [x["name"] for x in d["tools"]] for t in ("echo-c", "atlas.registry.list")]' <"$T/out")" \
    "[True, True]"
run_rc rc mc call echo-c '{"hello": "world"}'
expect_eq "call an agent tool" "$rc" 0
expect_eq "its structured output is printed" "$(j 'd' <"$T/out")" "{'hello': 'world'}"
run_rc rc mc --json call atlas.exec.status '{"job": "j_nosuchjob"}'
expect_eq "a tool error exits 1" "$rc" 1
expect_eq "and --json prints the result with isError" "$(j 'd["isError"]' <"$T/out")" "True"
run_rc rc mc resources
expect_contains "resources on atlasd" "$(cat "$T/out")" "atlas://agents/echo-c/contract"
expect_contains "and the templates" "$(cat "$T/out")" "atlas://jobs/{id}"
run_rc rc mc read atlas://agents/echo-c/contract
expect_eq "read a resource" "$rc" 0
expect_contains "its text" "$(cat "$T/out")" '"echo-c"'
run_rc rc mc --json call no-such-tool '{}'
expect_eq "an unknown tool is an error (exit 1)" "$rc" 1

# the official TS SDK servers over Streamable HTTP
for v in v1 v2; do
    start_ts "$v" 0
    run_rc rc mc --server "$TS_URL" --json info
    expect_eq "$v: info" "$rc" 0
    if [ "$v" = v1 ]; then
        expect_eq "$v: a 2025-11-25 session" "$(j 'd["protocolVersion"], d.get("session")' <"$T/out")" \
            "2025-11-25 True"
    else
        expect_eq "$v: stateless 2026-07-28" "$(j 'd["protocolVersion"], d["stateless"]' <"$T/out")" \
            "2026-07-28 True"
    fi
    run_rc rc mc --server "$TS_URL" tools
    expect_contains "$v: tools" "$(cat "$T/out")" "Returns its text"
    run_rc rc mc --server "$TS_URL" call echo '{"text": "héllo"}'
    expect_eq "$v: call echo" "$(j 'd["text"]' <"$T/out")" "héllo"
    run_rc rc mc --server "$TS_URL" call slow '{"ms": 50}'
    expect_eq "$v: call slow (an SSE answer)" "$(j 'd["done"]' <"$T/out")" "True"
    run_rc rc mc --server "$TS_URL" call ask '{"question": "name?"}'
    expect_eq "$v: a tool that needs elicitation fails" "$rc" 1
    if [ "$v" = v2 ]; then
        # the client declares no elicitation, so the SDK server refuses
        expect_contains "$v: the server says elicitation is not declared" "$(cat "$T/err")" \
            "elicitation"
    fi
    run_rc rc mc --server "$TS_URL" call echo '{"text": 5}'
    expect_eq "$v: invalid arguments are an error" "$rc" 1
    # no Atlas token goes to a third-party server
    expect_eq "$v: the server never saw an atl_ token" "$(grep -c 'atl_' "$T/ts-$v.out" || true)" 0
done

# a 2026-07-28 input_required result (whatever the client declared)
/usr/bin/python3 "$SRC/tests/interop/fake_mcp.py" input >"$T/fake.out" 2>&1 &
PIDS="$PIDS $!"
wait_grep listening "$T/fake.out"
FAKE_URL=$(sed -n 's/^listening //p' "$T/fake.out")
run_rc rc mc --server "$FAKE_URL" call region '{}'
expect_eq "input_required: exit 1" "$rc" 1
expect_contains "input_required is refused as not supported yet" "$(cat "$T/err")" \
    "input_required): answering it is not supported yet"

# server-everything over stdio
EV="$INTEROP/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
run_rc rc mc tools -- "$NODE22" "$EV" stdio
expect_contains "stdio: tools" "$(cat "$T/out")" "get-sum"
run_rc rc mc call get-sum '{"a": 2, "b": 40}' -- "$NODE22" "$EV" stdio
expect_contains "stdio: call get-sum" "$(cat "$T/out")" "42"
run_rc rc mc prompts -- "$NODE22" "$EV" stdio
expect_contains "stdio: prompts" "$(cat "$T/out")" "simple-prompt"
run_rc rc mc --json prompt args-prompt '{"city": "Oslo"}' -- "$NODE22" "$EV" stdio
expect_contains "stdio: a prompt with arguments" "$(j 'd["messages"][0]["content"]["text"]' <"$T/out")" "Oslo"
run_rc rc mc read demo://resource/static/document/architecture.md -- "$NODE22" "$EV" stdio
expect_contains "stdio: read a resource" "$(cat "$T/out")" "Architecture"
run_rc rc mc tools -- /nonexistent/server
expect_eq "stdio: a server that cannot start exits 3" "$rc" 3

# usage and reachability
run_rc rc atlas mcp-client --help
expect_eq "--help exits 0" "$rc" 0
expect_contains "and prints the usage" "$(cat "$T/out")" "usage: atlas mcp-client"
run_rc rc atlas mcp-client frobnicate
expect_eq "an unknown command is a usage error" "$rc" 2
run_rc rc atlas mcp-client call
expect_eq "call without a tool is a usage error" "$rc" 2
run_rc rc atlas mcp-client --server ftp://x tools
expect_eq "a non-http server URL is a usage error" "$rc" 2
run_rc rc atlas mcp-client call echo-c '[1]'
expect_eq "arguments that are not an object are a usage error" "$rc" 2
run_rc rc atlas mcp-client --timeout 5 --server "http://127.0.0.1:1/mcp" tools
expect_eq "an unreachable server exits 3" "$rc" 3
finish
