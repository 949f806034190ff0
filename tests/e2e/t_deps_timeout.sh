#!/bin/bash
# Dependency builds are bounded (issue 14, item 6): a build command that runs
# past registry.build.timeout (here: pip waiting on an index that accepts
# connections and never answers) is killed, the registration fails saying
# so, and nothing is registered or left behind.  Requirements that would
# bypass the index (direct references) are refused before pip runs.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! [ -x $PY ] || ! $PY -m venv -h >/dev/null 2>&1 || ! $PY -m pip --version >/dev/null 2>&1; then
    log "SKIP: $PY with venv and pip is needed (python3-venv, python3-pip)"
    exit 77
fi
$PY -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    held.append(s.accept())
' "$T/port" &
SILENT_PID=$!
wait_file "$T/port"
printf 'registry:\n  build:\n    pip_index_url: http://127.0.0.1:%s/simple\n    timeout: 2\n' \
    "$(cat "$T/port")" >"$T/config.yaml"
start_daemon --config "$T/config.yaml"
d=$T/slow
mkdir -p "$d"
printf 'agent:\n  name: slow-deps\n  version: "1.0.0"\n  input:\n    schema: {type: object}\n  output:\n    schema: {type: object}\n  dependencies:\n    packages: ["atlas-greet"]\n' >"$d/agent.yaml"
printf 'from atlas import AgentBase\n\nclass A(AgentBase):\n    async def execute(self, input, context):\n        return {}\n' >"$d/agent.py"
start=$(date +%s)
# the build's output is followed while it runs (GET /api/v1/builds/log)
atlas register --path "$d" >"$T/reg.out" 2>"$T/err" &
REG=$!
_live() {
    curl -s "$ATLAS_URL/api/v1/builds/log?after=0" >"$T/log.json" &&
        [ "$(j '(d["building"], any(l["text"] == "[pip install]" and l["agent"] == "slow-deps:1.0.0" for l in d["lines"]))' <"$T/log.json")" = "('slow-deps:1.0.0', True)" ]
}
wait_for _live && pass "while the build runs, its log shows it building and pip started" ||
    fail "the build log never showed the running build: $(cat "$T/log.json")"
expect_eq "the registration is still running then" "$(kill -0 $REG 2>/dev/null && echo running)" "running"
rc=0
wait $REG || rc=$?
took=$(($(date +%s) - start))
expect_eq "a build past registry.build.timeout fails the registration" "$rc" "1"
expect_contains "atlas register printed the build's lines as they came" "$(cat "$T/err")" "build: | [pip install]"
expect_eq "after it, nothing is building" "$(curl -s "$ATLAS_URL/api/v1/builds/log" | j 'd["building"]')" "None"
expect_contains "saying so" "$(cat "$T/err")" "ran past registry.build.timeout (2 s)"
expect_eq "within the timeout, not pip's own (15 s per try)" "$([ "$took" -lt 10 ] && echo yes || echo "no: ${took}s")" "yes"
expect_eq "nothing is registered" "$(curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/api/v1/agents/slow-deps")" "404"
expect_eq "no environment is left" "$(ls "$DATA/envs" | wc -l)" "0"
# the index is the only source: direct references are refused before pip runs
sed -i 's|packages: \["atlas-greet"\]|packages: ["atlas-greet @ http://127.0.0.1:1/atlas_greet-1.0.0-py3-none-any.whl"]|' "$d/agent.yaml"
run_rc rc atlas register --path "$d"
expect_eq "a direct reference (NAME @ URL) is refused" "$rc" "1"
expect_contains "as not supported yet" "$(cat "$T/err")" "not supported yet: requirements that are direct references"
kill "$SILENT_PID" 2>/dev/null || true
finish
