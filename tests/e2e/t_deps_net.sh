#!/bin/bash
# A sandboxed dependency build reaches the package index and nothing else
# (docs/distribution.md "Where builds run"): its sandbox has no network but
# atlasd's egress proxy, which lets the build's own token reach the index's
# host:port (and registry.build.egress) only.  A package whose file lives
# on another host:port (a second server on loopback) cannot be fetched, the
# refusal is logged; listed in registry.build.egress, it can.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! [ -x $PY ] || ! $PY -m venv -h >/dev/null 2>&1 || ! $PY -m pip --version >/dev/null 2>&1; then
    log "SKIP: $PY with venv and pip is needed (python3-venv, python3-pip)"
    exit 77
fi
if ! command -v bwrap >/dev/null ||
    ! bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; then
    log "SKIP: builds run unsandboxed here (no bubblewrap namespaces): they have the host's network"
    exit 77
fi
freeport() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
$PY "$SRC/tests/e2e/mkwheel.py" atlas-greet 1.0.0 "$T/index" >/dev/null
far=$($PY "$SRC/tests/e2e/mkwheel.py" atlas-far 1.0.0 "$T/files")
far_sha=$(sha256sum "$far" | cut -d' ' -f1)
A=$(freeport)
B=$(freeport)
# the index names atlas-far's file on the other server
mkdir -p "$T/index/simple/atlas-far"
printf '<html><body><a href="http://127.0.0.1:%s/simple/atlas-far/%s#sha256=%s">%s</a></body></html>\n' \
    "$B" "$(basename "$far")" "$far_sha" "$(basename "$far")" >"$T/index/simple/atlas-far/index.html"
(cd "$T/index" && exec $PY -m http.server --bind 127.0.0.1 "$A" >"$T/index.log" 2>&1) &
P1=$!
(cd "$T/files" && exec $PY -m http.server --bind 127.0.0.1 "$B" >"$T/files.log" 2>&1) &
P2=$!
trap 'kill $P1 $P2 2>/dev/null; cleanup' EXIT
wait_for curl -sf -o /dev/null "http://127.0.0.1:$A/simple/atlas-greet/"
wait_for curl -sf -o /dev/null "http://127.0.0.1:$B/simple/atlas-far/"
conf() {
    printf 'sandbox:\n  enabled: true\nregistry:\n  build:\n    pip_index_url: http://127.0.0.1:%s/simple\n    timeout: 60\n' "$A"
    [ -z "${1:-}" ] || printf '    egress: ["%s"]\n' "$1"
}
conf >"$T/config.yaml"
start_daemon --config "$T/config.yaml"
# dep NAME REQUIREMENT: an agent that imports the requirement's module
dep() {
    d=$T/$1
    mkdir -p "$d"
    printf 'agent:\n  name: %s\n  version: "1.0.0"\n  input:\n    schema:\n      type: object\n  output:\n    schema:\n      type: object\n  dependencies:\n    python: ">=3.9"\n    packages: ["%s"]\n' "$1" "$2" >"$d/agent.yaml"
    printf 'import %s\nfrom atlas import AgentBase\n\n\nclass A(AgentBase):\n    async def execute(self, input, context):\n        return {"v": %s.VERSION}\n' "$3" "$3" >"$d/agent.py"
    echo "$d"
}
atlas register --path "$(dep near atlas-greet atlas_greet)" >/dev/null 2>"$T/near.err" || log "$(cat "$T/near.err")"
expect_eq "the index itself is reached through the proxy" "$(atlas --json run near --input '{}' | j 'd["v"]')" "1.0.0"
run_rc rc atlas register --path "$(dep far atlas-far atlas_far)"
expect_eq "a file on another host:port cannot be fetched: the registration fails" "$rc" "1"
wait_grep "build of far:1.0.0: 127.0.0.1:$B refused" "$T/atlasd.log"
pass "the proxy's refusal is logged, naming the build"
expect_eq "the other server was never asked for the file" "$(grep -c 'atlas_far' "$T/files.log")" "0"
stop_daemon
conf "127.0.0.1:$B" >"$T/config.yaml"
start_daemon --config "$T/config.yaml"
atlas register --path "$T/far" >/dev/null 2>"$T/far.err" || log "$(cat "$T/far.err")"
expect_eq "listed in registry.build.egress, it is fetched" "$(atlas --json run far --input '{}' | j 'd["v"]')" "1.0.0"
finish
