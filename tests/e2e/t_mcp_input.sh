#!/bin/bash
# A job's question (an agent's elicitation/create on stdio: meta.input_required)
# reaching the MCP client that started it: a 2025-11-25 session that declared
# elicitation is asked with elicitation/create and its answer goes the way
# of POST /api/v1/jobs/ID/input; a stateless 2026-07-28 caller is not asked
# (input_required results for local agents are not supported yet) and the
# question waits for the API.  Official TS SDK 1.x and 2.x clients, over
# HTTP and stdio (tests/interop/elicit-client.mjs, tests/agents/asker).
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop
start_daemon
atlas register --path "$AGENTS/asker" >/dev/null
for run in "v1 http" "v1 stdio" "v2 http" "v2 stdio"; do
    set -- $run
    set +e
    (cd "$INTEROP" && timeout 120 "$NODE22" elicit-client.mjs "$1" "$2" "$ATLAS_URL" "$BIN/atlas") \
        >"$T/elicit-$1-$2.txt" 2>&1
    rc=$?
    set -e
    while IFS= read -r line; do
        case "$line" in
        "ok   - "*) pass "${line#ok   - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        esac
    done <"$T/elicit-$1-$2.txt"
    [ $rc -eq 0 ] || { fail "elicit-client $1 $2 exited $rc"; tail -n 20 "$T/elicit-$1-$2.txt" >&2; }
done
finish
