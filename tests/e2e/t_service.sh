#!/bin/bash
# atlasd under a service manager, with this test in systemd's place (systemd
# is not PID 1 here, so `systemctl` cannot be used):
#   - readiness: READY=1 reaches $NOTIFY_SOCKET only after recovery, never
#     while the HTTP server answers probes during start-up; STOPPING=1 on stop
#   - reload (SIGHUP, what `systemctl reload` sends, and `atlas reload`):
#     RELOADING=1, then READY=1 with a STATUS naming what was applied and
#     what needs a restart; each applied key is seen in its effect (log
#     level, concurrency, a timeout, job retention, registry policy,
#     approvals), each restart key keeps its running value; a broken file
#     keeps the running settings and the error is located
#   - the watchdog: WATCHDOG=1 at half of $WATCHDOG_USEC, none when
#     $WATCHDOG_PID names another process
#   - the journal: when stderr is the stream $JOURNAL_STREAM names, entries go
#     to the native socket with PRIORITY and ATLAS_* fields
# Not checked here: systemd itself acting on these messages (ordering of
# dependent units, restart on a missed watchdog) — that needs systemd as PID 1.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
LISTENERS=
stop_listeners() { for p in $LISTENERS; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_listeners; cleanup' EXIT

# listen NAME: a datagram socket at $T/NAME.sock whose datagrams go to $T/NAME.log
listen() {
    : >"$T/$1.log"
    /usr/bin/python3 "$SRC/tests/e2e/dgram_listener.py" "$T/$1.sock" "$T/$1.log" &
    LISTENERS="$LISTENERS $!"
    wait_for test -e "$T/$1.sock.ready"
}
has() { grep -q -e "$2" "$T/$1.log"; }

# --- a job for recovery to find: queued behind a running one, then kill -9
cat >"$T/config.yaml" <<'YAML'
execution:
  max_concurrent_agents: 1
log_level: info
YAML
start_daemon --config "$T/config.yaml"
atlas register --path "$AGENTS/slow" >/dev/null
atlas register --path "$AGENTS/idem" >/dev/null
running=$(atlas run --async slow --input '{"ms": 20000}')
queued=$(atlas run --async idem --input '{"ms": 10}')
wait_for sh -c "$BIN/atlas --json job $running | grep -q '\"running\"'"
kill9_daemon

# --- start held after the HTTP server is up, before recovery
listen notify
rm -f "$DATA/atlasd.url"
NOTIFY_SOCKET=$T/notify.sock ATLAS_TEST_HOLD_START=$T/go \
    "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 --config "$T/config.yaml" \
    >>"$T/atlasd.log" 2>&1 &
DAEMON_PID=$!
wait_for grep -q "holding the start" "$T/atlasd.log"
port=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$T/atlasd.log" | tail -1 | sed 's/.*://')
ATLAS_URL=http://127.0.0.1:$port
export ATLAS_URL
http GET /api/v1/health/ready
expect_eq "while starting, health says not ready" "$HTTP_CODE" "503"
if has notify READY=1; then fail "READY=1 before recovery"; else pass "no READY=1 while starting"; fi
if grep -q "recovered after restart" "$T/atlasd.log"; then fail "recovered before the release"; fi
touch "$T/go"
wait_for has notify READY=1 || fail "READY=1 never arrived"
# the order in which things happened: recovery logged, then READY=1 sent
expect_eq "recovery happened before READY=1" \
    "$(grep -c 'recovered after restart: 1 job(s) requeued, 1 marked failed' "$T/atlasd.log")" "1"
http GET /api/v1/health/ready
expect_eq "at READY=1 the daemon serves" "$HTTP_CODE" "200"
expect_contains "READY=1 carries MAINPID and STATUS" "$(grep READY=1 "$T/notify.log")" \
    "MAINPID=$DAEMON_PID|STATUS=serving on http://127.0.0.1:$port"
expect_eq "the running job was marked failed by recovery" \
    "$(atlas --json job "$running" | j 'd["state"]')" "failed"

# --- reload: the safe keys apply at once, each seen in its effect; the
# others are named as needing a restart and keep their running value
cp -r "$AGENTS/counter" "$T/counter"
cat >"$T/config.yaml" <<'YAML'
execution:
  max_concurrent_agents: 7
  timeouts:
    agent: 1
log_level: debug
pool:
  max: 2
listen: 127.0.0.1:1
http:
  max_connections: 64
store:
  sync: full
  jobs:
    max_count: 1
    prune_interval: 0.05
registry:
  policy:
    minimum_review_status: verified
scheduling:
  strategy: spread
YAML
: >"$T/notify.log"
kill -HUP "$DAEMON_PID"
wait_for grep -q "STATUS=reloaded" "$T/notify.log" || fail "no READY=1 after the reload"
expect_eq "RELOADING=1 first, then READY=1" "$(head -1 "$T/notify.log")" "RELOADING=1"
st=$(grep STATUS=reloaded "$T/notify.log")
expect_contains "the safe keys are applied" "$st" \
    "applied: execution.max_concurrent_agents, execution.timeouts.agent, log_level, registry.policy.minimum_review_status, scheduling.strategy, store.jobs.max_count, store.jobs.prune_interval;"
expect_contains "the others need a restart" "$st" \
    "needs a restart: http.max_connections, listen, pool.max, store.sync)"
expect_contains "and the log says so" "$(grep 'reload:' "$T/atlasd.log")" \
    "needs a restart: http.max_connections, listen, pool.max, store.sync"
run_rc rc atlas --json reload --last
expect_eq "atlas reload --last shows SIGHUP's reload" \
    "$rc $(j 'd["ok"], d["restart"]' <"$T/out")" "0 True ['http.max_connections', 'listen', 'pool.max', 'store.sync']"
# each applied key, in its effect
expect_eq "execution.max_concurrent_agents: the engine runs 7 at once now" \
    "$(atlas --json health | j 'd["engine"]["max_concurrent"]')" "7"
slowjob=$(atlas run --async slow --input '{"ms": 20000}')
# the run starts an agent process, which the engine logs at debug
wait_for grep -q " debug " "$T/atlasd.log" || fail "log_level debug not in effect after reload"
pass "log_level: debug lines are logged after the reload"
wait_job_state "$slowjob" failed || true
expect_eq "execution.timeouts.agent: a 20 s run fails after 1 s" \
    "$(atlas --json job "$slowjob" | j 'd["state"], d["error"]["detail"]')" \
    "failed agent did not answer within 1 s (execution.timeouts.agent)"
wait_jobs_count "limit=100" 1 || true
expect_eq "store.jobs.max_count: the older finished jobs are pruned at once" "$(count_jobs "limit=100")" "1"
run_rc rc atlas register --path "$T/counter"
expect_contains "registry.policy: an unreviewed registration is refused now" "$rc $(cat "$T/err")" \
    "1 atlas: "
expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.minimum_review_status is verified"
http POST /api/v1/schedule/explain '{"agent": "idem"}'
expect_eq "scheduling.strategy: placement uses the new strategy" \
    "$(echo "$HTTP_BODY" | j 'd["policy"]["strategy"]')" "spread"
# the restart keys kept their running values
http GET /api/v1/health/ready
expect_eq "listen needs a restart: still served where it was" "$HTTP_CODE" "200"
expect_eq "http.max_connections keeps its running value" \
    "$(atlas --json health | j 'd["http"]["max_connections"]')" "4096"

# `atlas reload` (POST /api/v1/reload): approvals.require applies; the keys
# still waiting for a restart are named again
sed -i 's/^    minimum_review_status: verified/    allow_unsigned: true/' "$T/config.yaml"
printf 'approvals:\n  require: [agent_register]\n' >>"$T/config.yaml"
run_rc rc atlas reload
expect_eq "atlas reload exits 0" "$rc" "0"
expect_contains "and says what it applied" "$(cat "$T/out")" \
    "applied:          approvals.require, registry.policy.allow_unsigned, registry.policy.minimum_review_status"
expect_contains "and what still needs a restart" "$(cat "$T/out")" \
    "needs a restart:  http.max_connections, listen, pool.max, store.sync"
run_rc rc atlas register --path "$T/counter"
expect_contains "approvals.require: a registration is a proposal now" "$rc:$(cat "$T/out")" "0:pending approval: proposal prop"

# a file with an error: nothing changes, and the error is located
printf 'execution:\n  max_concurent_agents: 3\n' >"$T/config.yaml"
: >"$T/notify.log"
run_rc rc atlas reload
expect_eq "atlas reload of a broken file exits 1" "$rc" "1"
expect_contains "saying where the error is" "$(cat "$T/err")" "config.yaml:2:3:"
expect_contains "and what it is" "$(cat "$T/err")" "max_concurent_agents"
wait_for grep -q "STATUS=reload failed" "$T/notify.log" || fail "a broken file on reload is not told to the manager"
expect_contains "the broken key is located in the log" "$(cat "$T/atlasd.log")" "max_concurent_agents"
expect_eq "GET /api/v1/reload keeps the failure" "$(curl -s "$ATLAS_URL/api/v1/reload" | j 'd["ok"]')" "False"
expect_eq "the running settings stay" "$(atlas --json health | j 'd["engine"]["max_concurrent"]')" "7"
http GET /api/v1/health/ready
expect_eq "and the daemon goes on serving" "$HTTP_CODE" "200"

# --- stop
: >"$T/notify.log"
stop_daemon
expect_contains "STOPPING=1 on SIGTERM" "$(cat "$T/notify.log")" "STOPPING=1"
printf 'log_level: info\n' >"$T/config.yaml"

# --- watchdog: 300 ms asked, a ping at least every 150 ms after a health check
: >"$T/notify.log"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=300000 start_daemon --config "$T/config.yaml"
wait_for sh -c "[ \$(grep -c WATCHDOG=1 '$T/notify.log') -ge 3 ]" || fail "fewer than 3 WATCHDOG=1"
pass "WATCHDOG=1 keeps coming"
stop_daemon
: >"$T/notify.log"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=100000 WATCHDOG_PID=1 start_daemon --config "$T/config.yaml"
wait_for has notify READY=1
atlas health >/dev/null
stop_daemon
expect_eq "no WATCHDOG=1 when WATCHDOG_PID is another process" "$(grep -c WATCHDOG=1 "$T/notify.log")" "0"

# --- structured journal entries
listen journal
rm -f "$DATA/atlasd.url"
: >"$T/stderr"
exec 3>"$T/stderr"
js=$(stat -c '%d:%i' "$T/stderr")
JOURNAL_STREAM=$js ATLAS_JOURNAL_SOCKET=$T/journal.sock \
    "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0 --config "$T/config.yaml" 2>&3 &
DAEMON_PID=$!
exec 3>&-
wait_for test -s "$DATA/atlasd.url"
ATLAS_URL=$(cat "$DATA/atlasd.url")
wait_for grep -q "MESSAGE=atlasd: ready on" "$T/journal.log" || fail "no ready entry in the journal"
e=$(grep "MESSAGE=atlasd: ready on" "$T/journal.log")
expect_contains "entries carry a priority" "$e" "PRIORITY=6|"
expect_contains "the identifier" "$e" "SYSLOG_IDENTIFIER=atlasd|"
expect_contains "and the component" "$e" "ATLAS_COMPONENT=atlasd|"
expect_eq "nothing went to stderr as text" "$(grep -c 'ready on' "$T/stderr")" "0"
stop_daemon
# a redirected stderr (JOURNAL_STREAM inherited, stream not the journal) stays text
before=$(grep -c 'ready on' "$T/atlasd.log")
JOURNAL_STREAM=$js ATLAS_JOURNAL_SOCKET=$T/journal.sock start_daemon --config "$T/config.yaml"
stop_daemon
expect_eq "a stderr that is not the journal's stream gets text" \
    "$(grep -c 'ready on' "$T/atlasd.log")" "$((before + 1))"
stop_listeners
finish
