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
t0=$(date +%s%N)
run_rc rc atlas run hang
t1=$(date +%s%N)
expect_eq "hang fails" "$rc" 1
expect_contains "hang: timeout names the limit" "$(cat "$T/err")" "did not answer within 1 s (timeout in agent.yaml)"
expect_eq "hang: failed after about 1 s" "$(( (t1 - t0) / 1000000 < 5000 ))" "1"
wait_for sh -c "curl -s $ATLAS_URL/api/v1/health | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if [p for p in d[\"engine\"][\"pools\"] if p[\"agent\"].startswith(\"hang\")][0][\"workers\"] == 0 else 1)'"
expect_eq "hang: the process that ignored cancel was killed" "$?" "0"
# an agent that honours cancel keeps its process
run_rc rc atlas run hang --input '{"honor_cancel": true}'
expect_contains "hang+cancel: times out" "$(cat "$T/err")" "did not answer within 1 s"
sleep 0.5
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
run_rc rc atlas run flood --input '{"mode": "nonewline", "bytes": 3000000}'
expect_contains "flood without newline: too large" "$(cat "$T/err")" "exceeds the limit of 1048576 bytes"

# one bad agent never blocks another: word-count runs while stderr floods
id=$(atlas run --async flood --input '{"mode": "stderr"}')
t0=$(date +%s%N)
expect_eq "others run during a flood" "$(atlas run word-count --input '{"text": "still fast"}' | j 'd["words"]')" "2"
t1=$(date +%s%N)
expect_eq "quickly" "$(( (t1 - t0) / 1000000 < 3000 ))" "1"
atlas cancel "$id" >/dev/null
wait_for sh -c "$BIN/atlas --json job $id | grep -q cancelled"
expect_eq "flooding job cancelled" "$(atlas --json job "$id" | j 'd["state"]')" "cancelled"

# the concurrency limit: 2 of 4 slow jobs run at once
ids=""
for i in 1 2 3 4; do ids="$ids $(atlas run --async slow --input '{"ms": 1500}')"; done
max=0
for i in $(seq 1 30); do
    n=$(curl -s "$ATLAS_URL/api/v1/jobs?state=running&agent=slow" | j 'len(d["jobs"])')
    [ "$n" -gt "$max" ] && max=$n
    sleep 0.05
done
expect_eq "at most max_concurrent_agents run at once" "$max" "2"
for id in $ids; do wait_for sh -c "$BIN/atlas --json job $id | grep -q completed"; done
starts=$(for id in $ids; do atlas --json job "$id" | j 'd["started_at"]'; done | sort | uniq | wc -l)
expect_eq "all four completed" "$(for id in $ids; do atlas --json job "$id" | j 'd["state"]'; done | sort -u)" "completed"

# priority, then FIFO: with both slots busy, queued jobs start by priority
b1=$(atlas run --async slow --input '{"ms": 2500}')
b2=$(atlas run --async slow --input '{"ms": 2500}')
running_slow() { [ "$(curl -s "$ATLAS_URL/api/v1/jobs?state=running&agent=slow" | j 'len(d["jobs"])')" = "$1" ]; }
wait_for running_slow 2
low=$(atlas run --async slow --priority 0 --input '{"ms": 10, "tag": "low"}')
hi1=$(atlas run --async slow --priority 5 --input '{"ms": 10, "tag": "hi1"}')
hi2=$(atlas run --async slow --priority 5 --input '{"ms": 10, "tag": "hi2"}')
for id in $b1 $b2 $low $hi1 $hi2; do wait_for sh -c "$BIN/atlas --json job $id | grep -q completed"; done
order=$(for id in $low $hi1 $hi2; do echo "$(atlas --json job "$id" | j 'd["started_at"]') $id"; done | sort | awk '{print $2}' | tr '\n' ' ')
expect_eq "priority then FIFO" "$order" "$hi1 $hi2 $low "

# cancel: queued and running
b1=$(atlas run --async slow --input '{"ms": 3000}')
b2=$(atlas run --async slow --input '{"ms": 3000}')
q=$(atlas run --async slow --input '{"ms": 10}')
sleep 0.3
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
( wait_for running_slow 1; atlas cancel "$(atlas jobs --json --state running --agent slow --limit 1 | j 'd[0]["id"]')" >/dev/null ) &
canceller=$!
run_rc rc atlas run slow --input '{"ms": 5000}'
wait $canceller
expect_eq "sync run cancelled: exit 1" "$rc" 1
expect_contains "sync run cancelled: says so" "$(cat "$T/err")" "cancelled"

finish
