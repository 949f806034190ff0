# nodes_lib.sh - helpers for the node tests (t_nodes*.sh): node agents
# (`atlasd node`) on this machine, each with its own data directory, a free
# loopback port and node.resources of its own.  Source after lib.sh.
NODE_PIDS=
_nodes_cleanup() {
    for p in $NODE_PIDS; do
        if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
    done
    cleanup
}
trap _nodes_cleanup EXIT

# node_token NAME: the node token of node NAME on the control plane of
# $DATA (a token of role node is bound to one node: docs/scheduling.md),
# made the first time
node_token() {
    _f="$T/tok-$(basename "$DATA")-$1"
    if [ ! -s "$_f" ]; then new_token "node-$1" node >"$_f"; fi
    cat "$_f"
}

# start_node NAME RESOURCES_YAML: start a node agent joining $ATLAS_URL
# with its node token; sets NODE_PID_<name with - as _>
start_node() {
    mkdir -p "$T/n-$1"
    printf 'node:\n%s\n' "$2" >"$T/n-$1/config.yaml"
    _tok=$(node_token "$1")
    # shellcheck disable=SC2086 # NODE_WRAP: a command prefix (t_nodes_ship.sh)
    env -u ATLAS_TOKEN ${NODE_WRAP:-} "$BIN/atlasd" node --join "$ATLAS_URL" --name "$1" --token "$_tok" \
        --data "$T/n-$1" --config "$T/n-$1/config.yaml" >>"$T/node-$1.log" 2>&1 &
    _p=$!
    NODE_PIDS="$NODE_PIDS $_p"
    eval "NODE_PID_$(echo "$1" | tr -- '-.' '__')=$_p"
}

node_status() { curl -s "$ATLAS_URL/api/v1/nodes/$1" | j 'd["status"]' 2>/dev/null; }
_node_is() { [ "$(node_status "$1")" = "$2" ]; }
# wait_node NAME STATUS: until GET /api/v1/nodes/NAME says STATUS
wait_node() {
    if wait_for _node_is "$1" "$2"; then return 0; fi
    log "node $1 is [$(node_status "$1")], not [$2]"
    for f in "$T"/node-*.log; do log "--- $f"; tail -n 20 "$f" >&2; done
    return 1
}
_connected() { [ "$(curl -s "$ATLAS_URL/api/v1/nodes/$1" | j 'd["connection"]["connected"]' 2>/dev/null)" = "True" ]; }
# wait_connected NAME: until the node's assignment stream is open
wait_connected() { wait_for _connected "$1" || log "node $1 never connected its stream"; }

# mk_agent NAME HARDWARE ("k: v;k: v"): a word-count copy with that hardware block
mk_agent() {
    d=$(copy_agent "$EXAMPLES/word-count" "$1")
    /usr/bin/python3 - "$d/agent.yaml" "$1" "$2" <<'PY'
import re, sys
path, name, hw = sys.argv[1:]
y = open(path).read().replace('name: "word-count"', 'name: "%s"' % name)
y = re.sub(r"  hardware:\n(    .*\n)+", "  hardware:\n" + "".join("    %s\n" % l for l in hw.split(";")), y)
open(path, "w").write(y)
PY
    echo "$d"
}

# with_hw SRC NAME HARDWARE: copy fixture agent SRC as NAME with a hardware block
with_hw() {
    d=$(copy_agent "$1" "$2")
    /usr/bin/python3 - "$d/agent.yaml" "$2" "$3" <<'PY'
import re, sys
path, name, hw = sys.argv[1:]
y = open(path).read()
y = re.sub(r'name: "[^"]*"', 'name: "%s"' % name, y, count=1)
y = y.rstrip("\n") + "\n  hardware:\n" + "".join("    %s\n" % l for l in hw.split(";"))
open(path, "w").write(y)
PY
    echo "$d"
}

job_node() { curl -s "$ATLAS_URL/api/v1/jobs/$1" | j 'd.get("meta", {}).get("node", "")' 2>/dev/null; }
_job_on() { [ "$(job_node "$1")" = "$2" ] && [ "$(job_state "$1")" = "$3" ]; }
# wait_job_on ID NODE STATE: until job ID is STATE on NODE
wait_job_on() {
    if wait_for _job_on "$1" "$2" "$3"; then return 0; fi
    log "job $1 is [$(job_state "$1")] on [$(job_node "$1")], not [$3] on [$2]"
    return 1
}
# node_running NAME N: the node's own store has N running jobs
_node_running() {
    [ "$(curl -s -H "Authorization: Bearer $(cat "$T/n-$1/admin.token")" \
        "$(cat "$T/n-$1/atlasd.url")/api/v1/jobs?state=running" | j 'len(d["jobs"])' 2>/dev/null)" = "$2" ]
}
wait_node_running() { wait_for _node_running "$1" "$2" || log "node $1 never had $2 running job(s)"; }

# finish_nodes: stop the node agents cleanly (sanitizer builds report at
# exit), check their logs, then finish
finish_nodes() {
    for p in $NODE_PIDS; do
        if kill -0 "$p" 2>/dev/null; then kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
    done
    for f in "$T"/node-*.log; do
        if [ -f "$f" ] && grep -qE "$SAN_REPORT" "$f"; then
            fail "sanitizer report in $(basename "$f")"
            grep -A40 -E "$SAN_REPORT" "$f" | head -80 >&2
        fi
    done
    finish
}

# mcp TOOL ARGS_JSON: call a platform tool over /mcp with $ATLAS_TOKEN and
# print the CallToolResult (2026-07-28, stateless)
mcp() {
    /usr/bin/python3 - "$ATLAS_URL" "$1" "$2" <<'PY'
import json, os, sys, urllib.request
url, tool, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": tool, "arguments": args, "_meta": meta}}).encode()
req = urllib.request.Request(url + "/mcp", body, {
    "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool,
    "Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]})
text = urllib.request.urlopen(req, timeout=60).read().decode()
if not text.startswith("{"):
    text = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")][-1]
print(json.dumps(json.loads(text)["result"]))
PY
}
