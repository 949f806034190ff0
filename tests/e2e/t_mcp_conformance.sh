#!/bin/bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, run
# with Node 22) against a real atlasd: every server scenario of revision
# 2025-11-25 must pass, with the fixture agents of tests/interop/agents
# registered as a user would.  The scenario table is in docs/mcp.md.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop

start_daemon
register_fixtures
out=$T/conformance
scenarios=$("$NODE22" "$CONFORMANCE" list 2>/dev/null |
    sed -n '/^Server scenarios/,/^Client scenarios/p' | grep -E '^\s+- .*2025-11-25' |
    sed -E 's/^\s+- ([a-z0-9-]+).*/\1/')
[ -n "$scenarios" ] || { fail "no server scenarios listed by the conformance suite"; finish; exit; }
for s in $scenarios; do
    set +e
    timeout 120 "$NODE22" "$CONFORMANCE" server --url "$ATLAS_URL/mcp" --scenario "$s" \
        -o "$out" >"$T/conf-$s.txt" 2>&1
    rc=$?
    set -e
    summary=$(grep -E '^Passed: ' "$T/conf-$s.txt" | tail -n 1)
    if [ $rc -eq 0 ] && echo "$summary" | grep -qE ', 0 failed'; then
        pass "conformance $s: $summary"
    else
        fail "conformance $s (exit $rc): $summary"
        tail -n 25 "$T/conf-$s.txt" >&2
    fi
done
finish
