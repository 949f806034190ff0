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
http-custom-headers)
    # the tool calls the suite asks for (MCP_CONFORMANCE_CONTEXT.toolCalls),
    # each registered then run: its x-mcp-header arguments go as headers
    ctx=${MCP_CONFORMANCE_CONTEXT:-'{}'}
    n=$(printf '%s' "$ctx" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("toolCalls", [])))')
    i=0
    while [ "$i" -lt "$n" ]; do
        tool=$(printf '%s' "$ctx" | python3 -c "import json,sys; print(json.load(sys.stdin)['toolCalls'][$i]['name'])")
        args=$(printf '%s' "$ctx" | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['toolCalls'][$i]['arguments']))")
        atlas register --remote "$url" --name "conf-$i" --tool "$tool" --force >/dev/null &&
            atlas run "conf-$i" --input "$args" >/dev/null
        i=$((i + 1))
    done
    exit 0 ;;
http-invalid-tool-headers)
    # every listed tool is offered for registration: the invalid ones are
    # refused (never called), the valid one registers and runs
    for tool in valid_tool invalid_empty_header invalid_object_header invalid_array_header \
        invalid_null_header invalid_number_header invalid_duplicate_same_case \
        invalid_duplicate_diff_case invalid_space_in_name invalid_colon_in_name \
        invalid_non_ascii_name; do
        atlas register --remote "$url" --name "conf-$tool" --tool "$tool" --force \
            >/dev/null 2>&1 && atlas run "conf-$tool" --input '{"region": "us-west1"}' >/dev/null 2>&1
    done
    exit 0 ;;
*)
    echo "atlas-client.sh: scenario ${MCP_CONFORMANCE_SCENARIO:-?} does not apply to Atlas" >&2
    exit 1 ;;
esac
