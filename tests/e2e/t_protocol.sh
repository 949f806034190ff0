#!/bin/bash
# The agent protocol: MCP over stdio in both revisions, agents written with
# the Python SDK, the C SDK, the official TypeScript SDK, and raw servers;
# what the runtime gives each process.
. "$(dirname "$0")/lib.sh"
# the TypeScript SDK agent needs its npm packages: without them the test is
# skipped (77), never passed or failed (scripts/npm-deps.sh installs them)
if [ ! -d "$EXAMPLES/ts-echo/node_modules/@modelcontextprotocol/sdk" ]; then
    log "skip: examples/agents/ts-echo has no node_modules (run scripts/npm-deps.sh)"
    exit 77
fi
SECRET_FOR_TEST=do-not-pass start_daemon
for a in stateless legacy env-probe c-probe startup-fail; do atlas register --path "$AGENTS/$a" >/dev/null; done
for a in echo-c summarizer; do atlas register --path "$EXAMPLES/$a" >/dev/null; done

out=$(atlas run stateless --input '{"x": 1}')
expect_eq "2026-07-28 (stateless) agent runs" "$(echo "$out" | j 'd.get("x")')" "1"
out=$(atlas run legacy --input '{"x": 2}')
expect_eq "2025-11-25 (handshake) agent runs" "$(echo "$out" | j 'd.get("x")')" "2"
out=$(atlas run echo-c --input '{"hello": "c"}')
expect_eq "C SDK agent runs" "$(echo "$out" | j 'd["hello"]')" "c"
out=$(atlas run c-probe --input '{"op": "context"}')
expect_eq "C SDK sees its job id" "$(echo "$out" | j 'd["job"].startswith("job_")')" "True"
out=$(atlas run summarizer --input '{"text": "One. Two. Three."}')
expect_eq "Python SDK agent (the spec's SummarizerAgent) runs" "$(echo "$out" | j '"summary" in d')" "True"

atlas register --path "$EXAMPLES/ts-echo" >/dev/null
out=$(atlas run ts-echo --input '{"text": "from typescript"}')
expect_contains "official TypeScript SDK agent runs" "$out" "from typescript"

# what the process gets: the daemon's URL, or in the sandbox the relay to
# the agent socket inside its network namespace (docs/security.md)
case "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["isolation"]["sandbox"]')" in
bubblewrap) platform=http://127.0.0.1:17345 ;;
*) platform=$ATLAS_URL ;;
esac
out=$(atlas run env-probe)
expect_eq "ATLAS_MCP_URL" "$(echo "$out" | j 'd["env"]["ATLAS_MCP_URL"]')" "$platform/mcp"
expect_eq "ATLAS_TOKEN is set" "$(echo "$out" | j 'len(d["env"]["ATLAS_TOKEN"]) > 20')" "True"
expect_eq "a job-scoped token in the call" "$(echo "$out" | j 'd["token"] != d["env"]["ATLAS_TOKEN"] and len(d["token"]) > 20')" "True"
expect_eq "the job id in the call" "$(echo "$out" | j 'd["job_id"].startswith("job_")')" "True"
expect_eq "ATLAS_CONTRACT names the contract" "$(echo "$out" | j 'd["env"]["ATLAS_CONTRACT"].endswith("env-probe@1.0.0.json")')" "True"
expect_eq "OPENAI_BASE_URL points at the gateway" "$(echo "$out" | j 'd["env"]["OPENAI_BASE_URL"]')" "$platform/v1"
expect_eq "the daemon's other environment is not passed" "$(echo "$out" | j 'd["secret_leaked"]')" "False"
expect_eq "cwd is the registered snapshot" "$(echo "$out" | j '"/agents/sha256-" in d["cwd"]')" "True"
expect_eq "the snapshot holds the agent's files" "$(echo "$out" | j 'd["files"]')" "['agent.py', 'agent.yaml']"

# start-up failures are reported with the agent's stderr
run_rc rc atlas run startup-fail
expect_eq "startup failure fails the job" "$rc" 1
expect_contains "and shows why" "$(cat "$T/err")" "exited with status"

# the job log stream carries stderr and notifications/message
id=$(atlas run --async c-probe --input '{"op": "notify"}')
curl -sN "$ATLAS_URL/api/v1/jobs/$id/events" >"$T/events" || true
expect_contains "SSE events end with end" "$(cat "$T/events")" "event: end"
expect_contains "SSE shows the final state" "$(cat "$T/events")" '"state":"completed"'

finish
