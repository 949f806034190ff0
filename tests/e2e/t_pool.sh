#!/bin/bash
# Pooled execution: warm reuse, replacement of processes that crash, hang,
# break the protocol or flood; the concurrency limit; priority and FIFO;
# cancellation; one bad agent never blocks another.
. "$(dirname "$0")/lib.sh"
cat >"$DATA.config.yaml" <<'YAML'
execution:
  max_concurrent_agents: 2
  max_output_bytes: 1048576
  timeouts:
    agent: 60
pool:
  max: 2
YAML
mkdir -p "$DATA"
start_daemon --config "$DATA.config.yaml"
for a in counter crash garbage flood slow; do atlas register --path "$AGENTS/$a" >/dev/null; done
atlas register --path "$EXAMPLES/word-count" >/dev/null
hang=$(copy_agent "$AGENTS/hang" hang)
sed -i "s/^  timeout: 3/  timeout: 1/" "$hang/agent.yaml"
atlas register --path "$hang" >/dev/null

# warm reuse: the same process serves call after call
p1=$(atlas run counter | j 'd["pid"]')
o2=$(atlas run counter)
expect_eq "warm: same process" "$(echo "$o2" | j 'd["pid"]')" "$p1"
expect_eq "warm: it kept its state" "$(echo "$o2" | j 'd["calls"] >= 2')" "True"
expect_eq "cold starts counted once" "$(curl -s "$ATLAS_URL/api/v1/health" | j '[p["workers"] for p in d["engine"]["pools"] if p["agent"].startswith("counter")][0]')" "1"

# a crash fails the job with the reason and the process's stderr ...
run_rc rc atlas run crash --input '{"code": 7}'
expect_eq "crash fails the job" "$rc" 1
expect_contains "crash: exit status" "$(cat "$T/err")" "exited with status 7"
expect_contains "crash: stderr tail" "$(cat "$T/err")" "crash: exiting mid-call"
# ... and the next run gets a fresh process
run_rc rc atlas run crash --input '{"code": 0}'
expect_contains "a crashed process is replaced" "$(cat "$T/err")" "exited with status 0"

# hang: the per-agent timeout fails the job; the process is killed after the grace period
run_rc rc atlas run hang
expect_eq "hang fails" "$rc" 1
expect_contains "hang: timeout names the limit" "$(cat "$T/err")" "did not answer within 1 s (timeout in agent.yaml)"
# hang_pool FIELD: that field of hang's pool in /api/v1/health
hang_pool() { curl -s "$ATLAS_URL/api/v1/health" | j "[p['$1'] for p in d['engine']['pools'] if p['agent'].startswith('hang')][0]"; }
hang_workers_are() { [ "$(hang_pool workers)" = "$1" ]; }
if wait_for hang_workers_are 0; then pass "hang: the process that ignored cancel was killed"
else fail "hang: the process that ignored cancel was not killed ($(hang_pool workers) left)"; fi
# an agent that honours cancel keeps its process
run_rc rc atlas run hang --input '{"honor_cancel": true}'
expect_contains "hang+cancel: times out" "$(cat "$T/err")" "did not answer within 1 s"
# the cancelled call keeps its process busy until it answers (or the grace kills it)
hang_settled() { [ "$(hang_pool busy) $(hang_pool starting)" = "0 0" ]; }
wait_for hang_settled || fail "hang+cancel: the process never settled"
expect_eq "hang+cancel: process kept" "$(curl -s "$ATLAS_URL/api/v1/health" | j '[p["workers"] for p in d["engine"]["pools"] if p["agent"].startswith("hang")][0]')" "1"
run_rc rc atlas run hang --input '{"block": true}'
expect_eq "hang+blocked: fails" "$rc" 1

# garbage on stdout
run_rc rc atlas run garbage
expect_eq "garbage fails" "$rc" 1
expect_contains "garbage: protocol error" "$(cat "$T/err")" "not JSON-RPC on stdout"

# flooding: one oversized message, a line that never ends, endless notifications
run_rc rc atlas run flood --input '{"mode": "line", "bytes": 2000000}'
expect_contains "flood line: too large" "$(cat "$T/err")" "exceeds the limit of 1048576 bytes"
# AT_E2BIG's title is shared by request bodies and agent output: it must not say "input"
expect_contains "flood line: the title says too large, the detail says output" "$(cat "$T/err")" "failed: too large: agent output exceeds"
expect_eq "flood line: nothing calls the output input" "$(grep -c 'input' "$T/err")" "0"
run_rc rc atlas run flood --input '{"mode": "nonewline", "bytes": 3000000}'
expect_contains "flood without newline: too large" "$(cat "$T/err")" "exceeds the limit of 1048576 bytes"

# one bad agent never blocks another: word-count runs while stderr floods
id=$(atlas run --async flood --input '{"mode": "stderr"}')
wait_job_state "$id" running || true
expect_eq "others run during a flood" "$(atlas run word-count --input '{"text": "still fast"}' | j 'd["words"]')" "2"
# it ran while the flood went on (the flood ends only when cancelled)
expect_eq "while the flooding job still runs" "$(job_state "$id")" "running"
atlas cancel "$id" >/dev/null
wait_for sh -c "$BIN/atlas --json job $id | grep -q cancelled"
expect_eq "flooding job cancelled" "$(atlas --json job "$id" | j 'd["state"]')" "cancelled"

# the concurrency limit: 2 of 4 slow jobs run at once
ids=""
for i in 1 2 3 4; do ids="$ids $(atlas run --async slow --input '{"ms": 1500}')"; done
wait_jobs_count "state=running&agent=slow" 2 || fail "two slow jobs never ran at once"
for id in $ids; do wait_job_state "$id" completed failed || true; done
# from the jobs' own times: never more than two ran at the same moment
max=$(python3 -c 'import json,os,sys,urllib.request
from datetime import datetime
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
ev = []
for i in sys.argv[2:]:
    req = urllib.request.Request(sys.argv[1] + "/api/v1/jobs/" + i,
                                 headers={"Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]})
    d = json.load(urllib.request.urlopen(req))
    ev += [(t(d["started_at"]), 1), (t(d["finished_at"]), -1)]
n = m = 0
for _, k in sorted(ev, key=lambda e: (e[0], e[1])):
    n += k
    m = max(m, n)
print(m)' "$ATLAS_URL" $ids)
expect_eq "at most max_concurrent_agents run at once" "$max" "2"
expect_eq "all four completed" "$(for id in $ids; do atlas --json job "$id" | j 'd["state"]'; done | sort -u)" "completed"

# priority, then FIFO: with both slots busy, queued jobs start by priority
# (the blockers run until cancelled: one slot is freed once all three wait,
# so they run one after another)
b1=$(atlas run --async slow --input '{"ms": 600000}')
b2=$(atlas run --async slow --input '{"ms": 600000}')
running_slow() { [ "$(curl -s "$ATLAS_URL/api/v1/jobs?state=running&agent=slow" | j 'len(d["jobs"])')" = "$1" ]; }
wait_for running_slow 2
low=$(atlas run --async slow --priority 0 --input '{"ms": 10, "tag": "low"}')
hi1=$(atlas run --async slow --priority 5 --input '{"ms": 10, "tag": "hi1"}')
hi2=$(atlas run --async slow --priority 5 --input '{"ms": 10, "tag": "hi2"}')
expect_eq "all three wait" "$(job_state "$low") $(job_state "$hi1") $(job_state "$hi2")" "queued queued queued"
atlas cancel "$b1" >/dev/null
for id in $low $hi1 $hi2; do wait_job_state "$id" completed failed || true; done
atlas cancel "$b2" >/dev/null
wait_job_state "$b2" cancelled || true
order=$(for id in $low $hi1 $hi2; do echo "$(atlas --json job "$id" | j 'd["started_at"]') $id"; done | sort | awk '{print $2}' | tr '\n' ' ')
expect_eq "priority then FIFO" "$order" "$hi1 $hi2 $low "

# cancel: queued and running
b1=$(atlas run --async slow --input '{"ms": 600000}')
b2=$(atlas run --async slow --input '{"ms": 600000}')
wait_for running_slow 2
q=$(atlas run --async slow --input '{"ms": 10}')
expect_eq "a third job waits" "$(job_state "$q")" "queued"
run_rc rc atlas cancel "$q"
expect_eq "cancel a queued job" "$rc" 0
wait_for sh -c "$BIN/atlas --json job $q | grep -q cancelled"
expect_eq "queued job cancelled" "$(atlas --json job "$q" | j 'd["state"]')" "cancelled"
atlas cancel "$b1" >/dev/null
wait_for sh -c "$BIN/atlas --json job $b1 | grep -q cancelled"
expect_eq "running job cancelled" "$(atlas --json job "$b1" | j 'd["state"]')" "cancelled"
expect_eq "cancelled job has a reason" "$(atlas --json job "$b1" | j 'd["error"]["type"]')" "urn:atlas:error:cancelled"
run_rc rc atlas cancel "$q"
expect_eq "cancelling a finished job fails" "$rc" 1
expect_contains "and says why" "$(cat "$T/err")" "already cancelled"
atlas cancel "$b2" >/dev/null
wait_for sh -c "$BIN/atlas --json job $b2 | grep -q cancelled"

# a sync request whose job is cancelled gets a problem
( wait_for running_slow 1; atlas cancel "$(atlas jobs --json --state running --agent slow --limit 1 | j 'd["jobs"][0]["id"]')" >/dev/null ) &
canceller=$!
run_rc rc atlas run slow --input '{"ms": 600000}'
wait $canceller
expect_eq "sync run cancelled: exit 1" "$rc" 1
expect_contains "sync run cancelled: says so" "$(cat "$T/err")" "cancelled"

finish
