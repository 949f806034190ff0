#!/bin/bash
# The agent sandbox (issue 11, item 4): a hostile agent tries the escape
# list of docs/security.md; each attempt is blocked, the job says why, and
# the daemon stays up.  A sandbox that cannot be built fails the run closed;
# sandbox.exempt opts one agent out; health says which isolation is in force.
. "$(dirname "$0")/lib.sh"
if ! command -v bwrap >/dev/null ||
    ! bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; then
    log "SKIP: bubblewrap or user namespaces unavailable here"
    exit 77
fi
mkdir -p "$DATA" "$T/home/.ssh"
echo "PRIVATE KEY of the daemon's user" >"$T/home/.ssh/id_rsa"
SECRET="atlas-secret-$$-$RANDOM"
cat >"$T/config.yaml" <<'YAML'
sandbox:
  enabled: true
YAML
HOME=$T/home ATLAS_TEST_SECRET=$SECRET start_daemon --config "$T/config.yaml"
expect_eq "health says the sandbox is in force" \
    "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["isolation"]["sandbox"]')" "bubblewrap"
expect_contains "atlas health says so" "$(atlas health)" "sandbox:  bubblewrap, seccomp"

esc=$(copy_agent "$AGENTS/escape" escape)
printf '  limits:\n    memory_mb: 256\n    pids: 32\n' >>"$esc/agent.yaml"
atlas register --path "$esc" >/dev/null
atlas register --path "$EXAMPLES/word-count" >/dev/null
expect_eq "a sandboxed agent runs" "$(atlas run word-count --input '{"text": "a b"}' | j 'd["words"]')" "2"
other=$(grep -rl --include=agent.yaml 'word-count' "$DATA" | head -1)
expect_eq "another agent's snapshot is on disk" "$([ -f "$other" ] && echo yes)" "yes"
db=$(find "$DATA" -maxdepth 1 -name 'atlas.db' | head -1)
port=${ATLAS_URL##*:}
input=$(python3 -c 'import json,sys; print(json.dumps({"read": sys.argv[1:5], "write": [sys.argv[5]],
  "port": int(sys.argv[6]), "secret": sys.argv[7], "device": "/dev/kvm", "allocate_mb": 512,
  "fork_bomb": True}))' \
    /etc/shadow "$db" "$other" "$T/home/.ssh/id_rsa" "$T/outside.txt" "$port" "$SECRET")
atlas --json run escape --input "$input" >"$T/escape.json"
log "$(cat "$T/escape.json")"
for what in "read /etc/shadow" "read $db" "read $other" "read $T/home/.ssh/id_rsa" \
    connect environ device allocate processes ptrace "fork bomb"; do
    got=$(j "d.get('$what', 'missing')" <"$T/escape.json")
    case "$got" in
    blocked:*) pass "blocked: $what (${got#blocked: })" ;;
    *) fail "$what: $got" ;;
    esac
done
if [ "$(curl -s "$ATLAS_URL/api/v1/health" | j 'bool(d["isolation"]["landlock"])')" = True ]; then
    expect_contains "the Landlock fence is up (nothing outside its rules is readable)" \
        "$(j 'd["list /"]' <"$T/escape.json")" "blocked: PermissionError"
fi
expect_contains "ptrace is refused by the seccomp filter" "$(j 'd["ptrace"]' <"$T/escape.json")" "Operation not permitted"
expect_contains "a fork bomb meets limits.pids" "$(j 'd["fork bomb"]' <"$T/escape.json")" "Resource temporarily unavailable"
expect_contains "memory past limits.memory_mb fails" "$(j 'd["allocate"]' <"$T/escape.json")" "MemoryError"
expect_contains "the workspace is writable" "$(j 'd["workspace"]' <"$T/escape.json")" "ESCAPED: /workspace/ok"
# writes outside the workspace (a path outside, .., a symlink planted in the
# workspace, /proc/self/root) fail, or land in the sandbox's private view of
# the file system (its /tmp), which vanishes with it: none reaches the host
for what in "write $T/outside.txt" "symlink $T/outside.txt" "proc-root $T/outside.txt" "write .."; do
    log "  $what: $(j "d.get('$what', 'missing')" <"$T/escape.json")"
done
snapdir=$(dirname "$(grep -rl --include=agent.yaml '"escape"' "$DATA" | head -1)")
expect_eq "nothing was written outside the workspace" \
    "$([ -e "$T/outside.txt" ] || [ -e "$snapdir/../escaped" ] && echo yes || echo no)" "no"
expect_eq "the daemon stays up" "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["status"]')" "ok"

# a declared device is there, and nothing else
dev=$(copy_agent "$AGENTS/escape" escape-dev)
sed -i 's/name: "escape"/name: "escape-dev"/' "$dev/agent.yaml"
printf '  hardware:\n    device_access: ["/dev/kvm"]\n' >>"$dev/agent.yaml"
atlas register --path "$dev" >/dev/null 2>&1 || true
if [ -e /dev/kvm ]; then
    atlas --json run escape-dev --input '{"device": "/dev/kvm"}' >"$T/dev.json" 2>"$T/err" || true
    expect_contains "a declared device is visible" "$(j 'd["device"]' <"$T/dev.json" 2>/dev/null || cat "$T/err")" "ESCAPED: os.stat_result"
fi

# the platform from inside the sandbox: atlasd's agent socket is bound in and
# relayed to a loopback port of the sandbox's own; the SDK's spawn goes there
atlas register --path "$AGENTS/fanout" >/dev/null
atlas register --path "$EXAMPLES/echo-c" >/dev/null 2>&1 || true
child=echo-c
[ -x "$EXAMPLES/echo-c/agent" ] || child=word-count
out=$(atlas --json run fanout --input "{\"n\": 3, \"agent\": \"$child\"}" 2>"$T/err" || cat "$T/err")
expect_eq "a sandboxed agent spawns through the platform (no host network)" \
    "$(echo "$out" | j 'd["children"]' 2>/dev/null || echo "$out")" "3"
nope=$(copy_agent "$AGENTS/fanout" fanout-none)
sed -i 's/name: "fanout"/name: "fanout-none"/' "$nope/agent.yaml"
sed -i 's/^    spawn_agents: true/    spawn_agents: true\n    network: none/' "$nope/agent.yaml"
atlas register --path "$nope" >/dev/null
run_rc rc atlas run fanout-none --input "{\"n\": 1, \"agent\": \"$child\"}"
expect_eq "with requires.network: none there is no platform to reach" "$rc" "1"
expect_contains "and the agent says so" "$(cat "$T/err")" "ATLAS_MCP_URL is not set"

# limits.cpu: the agent's tree gets a cpu cgroup with that quota (0.2 cores:
# 20 ms of CPU per 100 ms), and the kernel holds it there
cpu=$(copy_agent "$AGENTS/escape" escape-cpu)
sed -i 's/name: "escape"/name: "escape-cpu"/' "$cpu/agent.yaml"
printf '  limits:\n    cpu: 0.2\n' >>"$cpu/agent.yaml"
atlas register --path "$cpu" >/dev/null
atlas --json run escape-cpu --input '{"burn_ms": 1500}' >"$T/cpu.json" 2>"$T/err" &
runner=$!
quota=""
for _ in $(seq 1 100); do
    for f in /sys/fs/cgroup/cpu/atlas-agent-*/cpu.cfs_quota_us /sys/fs/cgroup/atlas-agent-*/cpu.max \
        /sys/fs/cgroup/*/atlas-agent-*/cpu.max; do
        [ -r "$f" ] && quota=$(cat "$f" 2>/dev/null) && [ -n "$quota" ] && break 2
    done
    sleep 0.05
done
wait $runner || true
if grep -q "limits.cpu needs a cpu cgroup" "$T/err"; then
    expect_contains "without a cpu cgroup, limits.cpu fails the run closed" "$(cat "$T/err")" \
        "the sandbox"
    log "SKIP (part): no cpu cgroup can be made here: $(cat "$T/err")"
else
    expect_eq "limits.cpu sets the agent's cgroup quota" "${quota%% *}" "20000"
    # a ratio, not a time: CPU seconds per wall second stays near the quota
    ratio=$(j '"%.2f" % (d["burn"]["cpu"] / d["burn"]["wall"])' <"$T/cpu.json")
    log "  cpu/wall under limits.cpu 0.2: $ratio"
    expect_eq "the agent got no more than its share of CPU" \
        "$(python3 -c "print($ratio <= 0.5)")" "True"
fi
stop_daemon

# fail closed: no bwrap, no run
HOME=$T/home ATLAS_BWRAP=/nonexistent/bwrap start_daemon --config "$T/config.yaml"
expect_eq "health says the sandbox is unavailable" \
    "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["isolation"]["sandbox"]')" "unavailable"
expect_contains "atlas health says why" "$(atlas health)" "sandbox:  unavailable (bubblewrap (bwrap) is not installed"
run_rc rc atlas run word-count --input '{"text": "a"}'
expect_eq "a run fails closed without a sandbox" "$rc" "1"
expect_contains "with the reason" "$(cat "$T/err")" "the sandbox cannot be built: bubblewrap (bwrap) is not installed"
expect_contains "and where to look" "$(cat "$T/err")" "atlas doctor says what to change"
expect_contains "the daemon said so when it started" "$(cat "$T/atlasd.log")" "the agent sandbox is on but cannot be built here: bubblewrap (bwrap) is not installed"
expect_contains "naming atlas doctor and the way to turn it off" "$(cat "$T/atlasd.log")" "run \`atlas doctor\` for what to change, or turn the sandbox off (sandbox.enabled: false"
stop_daemon
# on by default: the same without any configuration
: >"$T/empty.yaml"
ATLAS_SANDBOX= ATLAS_BWRAP=/nonexistent/bwrap start_daemon --config "$T/empty.yaml"
expect_eq "the sandbox is on by default" "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["isolation"]["sandbox"]')" "unavailable"
stop_daemon
printf 'sandbox:\n  enabled: false\n' >"$T/off.yaml"
ATLAS_SANDBOX= ATLAS_BWRAP=/nonexistent/bwrap start_daemon --config "$T/off.yaml"
expect_eq "sandbox.enabled: false turns it off" "$(curl -s "$ATLAS_URL/api/v1/health" | j 'd["isolation"]["sandbox"]')" "off"
run_rc rc atlas run word-count --input '{"text": "a"}'
expect_eq "and runs agents without it" "$rc" "0"
stop_daemon

# the operator opts one agent out
cat >"$T/config.yaml" <<'YAML'
sandbox:
  enabled: true
  exempt: [word-count]
YAML
ATLAS_BWRAP=/nonexistent/bwrap start_daemon --config "$T/config.yaml"
expect_eq "an exempt agent runs without the sandbox" "$(atlas run word-count --input '{"text": "a b c"}' | j 'd["words"]')" "3"
finish
