#!/bin/bash
# The current line of the official MCP conformance suite
# (@modelcontextprotocol/conformance 0.2.0-alpha.12, installed as
# conformance-next beside 0.1.16; run with Node 22) against a real atlasd,
# the fixture agents registered: its default (active) server suite must
# pass entirely, and its 2026-07-28 suite (--suite all) must pass but for
# the scenarios of tests/interop/conformance-next-baseline.yml (a scenario
# that starts passing fails the run until it is taken off the list).  The
# check counts are printed; the table is in docs/mcp.md.  Then client
# scenarios of 2026-07-28 against Atlas's own client, through `register
# --remote` + `run` and through `atlas mcp-client`.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
NEXT=$INTEROP/node_modules/conformance-next/dist/index.js
need_interop
[ -f "$NEXT" ] || { log "skip: conformance-next is not installed (scripts/npm-deps.sh)"; exit 77; }

start_daemon
[ -n "${CONF_KEEP:-}" ] && echo "T=$T" >&2
register_fixtures
# suite NAME ARGS...: one run of the server suite
suite() {
    local name=$1
    shift
    set +e
    # the runner cannot send a header: a preload adds the token to its fetches
    (cd "$INTEROP" && NODE_OPTIONS="--require $SRC/tests/interop/auth-fetch.cjs" \
        timeout 500 "$NODE22" "$NEXT" server --url "$ATLAS_URL/mcp" \
        -o "$T/conf-$name" "$@") >"$T/conf-$name.txt" 2>&1
    local rc=$?
    set -e
    local total
    total=$(grep -E '^Total: ' "$T/conf-$name.txt" | tail -n 1)
    local scen ok
    scen=$(grep -cE '^(✓|✗) ' "$T/conf-$name.txt" || true)
    ok=$(grep -cE '^✓ ' "$T/conf-$name.txt" || true)
    if [ $rc -eq 0 ] && [ -n "$total" ]; then
        pass "conformance 0.2 $name: $ok/$scen scenarios, $total"
    else
        fail "conformance 0.2 $name (exit $rc): $ok/$scen scenarios, $total"
        grep -E '^✗ |unexpected|stale|Unexpected|Stale' "$T/conf-$name.txt" >&2 || tail -n 30 "$T/conf-$name.txt" >&2
    fi
}
suite active --expected-failures "$INTEROP/conformance-next-active-baseline.yml"
suite 2026-07-28 --spec-version 2026-07-28 --suite all \
    --expected-failures "$INTEROP/conformance-next-baseline.yml"

# client mode: Atlas's own client (register --remote + run, through
# tests/interop/atlas-client.sh) against the suite's test servers
export ATLAS_BIN="$BIN/atlas"
for s in tools_call http-custom-headers http-invalid-tool-headers; do
    set +e
    (cd "$INTEROP" && timeout 120 "$NODE22" "$NEXT" client --command "$INTEROP/atlas-client.sh" \
        --scenario "$s" --spec-version 2026-07-28 -o "$T/conf-client" \
        --expected-failures "$INTEROP/conformance-next-baseline.yml") >"$T/client-$s.txt" 2>&1
    rc=$?
    set -e
    summary=$(grep -E '^Passed: ' "$T/client-$s.txt" | tail -n 1)
    if [ $rc -eq 0 ] && [ -n "$summary" ]; then
        pass "conformance 0.2 client $s: $summary"
    else
        fail "conformance 0.2 client $s (exit $rc): $summary"; tail -n 25 "$T/client-$s.txt" >&2
    fi
done

# client mode with `atlas mcp-client`, the general client, driven directly
# (tests/interop/mcp-client.sh): the scenarios that need more than one
# registered tool's call
for sv in "2026-07-28 tools_call" "2026-07-28 request-metadata" "2026-07-28 http-standard-headers" \
    "2026-07-28 json-schema-ref-no-deref" "2026-07-28 json-schema-2020-12-preservation" \
    "2025-11-25 initialize" "2025-11-25 sse-retry" "2025-11-25 json-schema-2020-12-preservation"; do
    set -- $sv
    set +e
    (cd "$INTEROP" && timeout 120 "$NODE22" "$NEXT" client --command "$INTEROP/mcp-client.sh" \
        --scenario "$2" --spec-version "$1" -o "$T/conf-mcp-client") >"$T/mcp-client-$1-$2.txt" 2>&1
    rc=$?
    set -e
    summary=$(grep -E '^Passed: ' "$T/mcp-client-$1-$2.txt" | tail -n 1)
    if [ $rc -eq 0 ] && [ -n "$summary" ]; then
        pass "conformance 0.2 client $2 ($1) with atlas mcp-client: $summary"
    else
        fail "conformance 0.2 client $2 ($1) with atlas mcp-client (exit $rc): $summary"
        tail -n 25 "$T/mcp-client-$1-$2.txt" >&2
    fi
done
finish
