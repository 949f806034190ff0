#!/bin/bash
# The official MCP TypeScript SDK clients against a real atlasd:
# @modelcontextprotocol/sdk 1.x (2025-11-25, sessions) and
# @modelcontextprotocol/client 2.x (2026-07-28, stateless), each over
# Streamable HTTP and over stdio (`atlas mcp`): list tools, call an agent
# tool and a platform tool, receive progress, cancel (tests/interop/sdk-client.mjs).
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop
[ -x "$EXAMPLES/echo-c/agent" ] || { log "skip: examples/agents/echo-c/agent is not built"; exit 77; }

start_daemon
atlas register --path "$EXAMPLES/echo-c" >/dev/null
atlas register --path "$AGENTS/slow" >/dev/null
for sdk in v1 v2; do
    for tr in http stdio; do
        set +e
        (cd "$INTEROP" && timeout 120 "$NODE22" sdk-client.mjs "$sdk" "$tr" "$ATLAS_URL" \
            "$BIN/atlas") >"$T/sdk-$sdk-$tr.txt" 2>&1
        rc=$?
        set -e
        while IFS= read -r line; do
            case "$line" in
            "ok   - "*) pass "${line#ok   - }" ;;
            "FAIL - "*) fail "${line#FAIL - }" ;;
            esac
        done <"$T/sdk-$sdk-$tr.txt"
        [ $rc -eq 0 ] || { fail "sdk-client $sdk $tr exited $rc"; tail -n 20 "$T/sdk-$sdk-$tr.txt" >&2; }
    done
done

# platform tools are refused to an agent whose contract lacks
# requires.platform_tools, and allowed with it (job tokens over /mcp)
finish
