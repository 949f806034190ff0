#!/bin/sh
# mcp-client.sh URL - the "client under test" for the MCP conformance
# suite's client scenarios, driving `atlas mcp-client` (a general client,
# src/cli/cmd_mcp_client.c) directly against the suite's test server at URL.
# Needs ATLAS_BIN (the atlas binary); the scenario is in
# $MCP_CONFORMANCE_SCENARIO.  (tests/interop/atlas-client.sh drives the
# client behind `register --remote` instead.)
set -u
url=$1
mc() { "$ATLAS_BIN" mcp-client --server "$url" --timeout 30 "$@"; }
first() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); l=d.get('$1') or [{}]; print(l[0].get('$2', ''))"; }
case "${MCP_CONFORMANCE_SCENARIO:-}" in
initialize) mc info >/dev/null ;;
tools_call) mc call add_numbers '{"a": 5, "b": 3}' ;;
sse-retry) mc call test_reconnection '{}' ;;
request-metadata | json-schema-ref-no-deref) mc tools >/dev/null ;;
json-schema-2020-12-preservation)
    # echo the focal tool's inputSchema as received (through the echo tool): the server checks that
    # nothing of it was lost or rewritten
    args=$(mc --json tools | /usr/bin/python3 -c 'import json,sys
t = [t for t in json.load(sys.stdin)["tools"] if t["name"] != "json_schema_echo"]
print(json.dumps({"schema": t[0]["inputSchema"]}) if t else "{}")')
    mc call json_schema_echo "$args" >/dev/null ;;
http-standard-headers)
    # every method whose headers the scenario checks
    tool=$(mc --json tools | first tools name)
    [ -n "$tool" ] && mc call "$tool" '{}' >/dev/null
    uri=$(mc --json resources | first resources uri)
    [ -n "$uri" ] && mc read "$uri" >/dev/null
    prompt=$(mc --json prompts | first prompts name)
    [ -n "$prompt" ] && mc prompt "$prompt" '{}' >/dev/null
    exit 0 ;;
*)
    echo "mcp-client.sh: scenario ${MCP_CONFORMANCE_SCENARIO:-?} is not driven (not supported yet)" >&2
    exit 1 ;;
esac
