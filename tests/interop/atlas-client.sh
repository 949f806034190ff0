#!/bin/sh
# atlas-client.sh URL - the "client under test" for the MCP conformance
# suite's client scenarios: Atlas's own MCP client, the one behind
# `atlas register --remote` (src/exec/remote.c), driven through the real CLI
# against the suite's test server at URL.  Needs ATLAS_URL (a running atlasd)
# and ATLAS_BIN (the atlas binary).  The scenario is in
# $MCP_CONFORMANCE_SCENARIO.
set -u
url=$1
atlas() { "$ATLAS_BIN" --url "$ATLAS_URL" "$@"; }
case "${MCP_CONFORMANCE_SCENARIO:-}" in
initialize)
    # initialize + tools/list; the test server offers no tools, so the
    # registration itself fails after the handshake
    atlas register --remote "$url" --name conf-initialize --force >/dev/null 2>&1
    exit 0 ;;
tools_call)
    atlas register --remote "$url" --name conf-add-numbers --tool add_numbers --force &&
        atlas run conf-add-numbers --input '{"a": 5, "b": 3}' ;;
sse-retry)
    atlas register --remote "$url" --name conf-sse-retry --tool test_reconnection --force &&
        atlas run conf-sse-retry --input '{}' ;;
*)
    echo "atlas-client.sh: scenario ${MCP_CONFORMANCE_SCENARIO:-?} does not apply to Atlas" >&2
    exit 1 ;;
esac
