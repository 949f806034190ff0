#!/bin/bash
# Nothing accepted is lost: kill -9 of atlasd in the middle of runs, then a
# restart finds every acknowledged job completed, re-queued and completed
# (idempotent agents), or failed with reason daemon-restart; none is left
# running.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
cat >"$T/config.yaml" <<'YAML'
execution:
  max_concurrent_agents: 3
  timeouts:
    shutdown: 1
store:
  sync: normal
YAML
start_daemon --config "$T/config.yaml"
for a in slow idem; do atlas register --path "$AGENTS/$a" >/dev/null; done
atlas register --path "$EXAMPLES/word-count" >/dev/null

# long enough that they are still running when the daemon is killed, on
# any machine: the test waits for states, never for a time
r1=$(atlas run --async slow --input '{"ms": 600000}')
r2=$(atlas run --async slow --input '{"ms": 600000}')
i1=$(atlas run --async idem --input '{"ms": 3000}')
q1=$(atlas run --async slow --input '{"ms": 10}')
q2=$(atlas run --async slow --input '{"ms": 10}')
wait_jobs_count "state=running" 3 || true
expect_eq "three jobs running before the crash" "$(curl -s "$ATLAS_URL/api/v1/jobs?state=running" | j 'len(d["jobs"])')" "3"
kill9_daemon

start_daemon --config "$T/config.yaml"
for id in $r1 $r2 $i1 $q1 $q2; do wait_job_state "$id" completed failed || true; done
for id in $r1 $r2; do
    expect_eq "running non-idempotent job failed after restart" "$(atlas --json job "$id" | j 'd["state"]')" "failed"
    expect_eq "with reason daemon-restart" "$(atlas --json job "$id" | j 'd["error"]["type"]')" "urn:atlas:error:daemon-restart"
done
expect_eq "running idempotent job re-queued and completed" "$(atlas --json job "$i1" | j 'd["state"]')" "completed"
expect_eq "it ran twice" "$(atlas --json job "$i1" | j 'd["attempts"]')" "2"
expect_eq "and says it was requeued" "$(atlas --json job "$i1" | j 'd["meta"]["requeued_after_restart"]')" "True"
for id in $q1 $q2; do
    expect_eq "queued job completed after restart" "$(atlas --json job "$id" | j 'd["state"]')" "completed"
done

# a graceful stop (SIGTERM) with jobs running: the same rules as after a
# crash, not a failure at the stop (docs/internals/sched.md)
g1=$(atlas run --async slow --input '{"ms": 600000}')
g2=$(atlas run --async idem --input '{"ms": 1500}')
wait_job_state "$g1" running || true
wait_job_state "$g2" running || true
stop_daemon
start_daemon --config "$T/config.yaml"
for id in $g1 $g2; do wait_job_state "$id" completed failed || true; done
expect_eq "a running non-idempotent job interrupted by a graceful stop fails after the restart" \
    "$(atlas --json job "$g1" | j 'd["error"]["type"]')" "urn:atlas:error:daemon-restart"
expect_eq "a running idempotent job interrupted by a graceful stop runs again after the restart" \
    "$(atlas --json job "$g2" | j 'd["state"], d["attempts"], d["meta"].get("requeued_after_restart")')" \
    "completed 2 True"

# kill -9 while jobs pour in: every job the API acknowledged is in the store
: >"$T/acked"
/usr/bin/python3 - "$ATLAS_URL" "$T/acked" <<'PY' &
import http.client, json, os, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
auth = {"Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]}
out = open(sys.argv[2], "a")
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
for i in range(1500):
    try:
        conn.request("POST", "/api/v1/agents/word-count/run", json.dumps({"text": f"job {i}"}),
                     {"Content-Type": "application/json", "Prefer": "respond-async", **auth})
        r = conn.getresponse()
        body = r.read()
        if r.status == 202:
            out.write(json.loads(body)["job"] + "\n")
            out.flush()
    except Exception:
        break
PY
loader=$!
# kill it once a good number of jobs is acknowledged (or the loader is done)
enough_acked() { [ "$(wc -l <"$T/acked")" -ge 100 ] || ! kill -0 "$loader" 2>/dev/null; }
wait_for enough_acked || true
kill9_daemon
wait $loader 2>/dev/null || true
n=$(wc -l <"$T/acked")
[ "$n" -gt 10 ] && pass "jobs were acknowledged before the crash ($n)" || fail "too few acknowledged jobs ($n)"
start_daemon --config "$T/config.yaml"
# until the engine has nothing queued or running and the writer has
# committed everything (the re-queued jobs' final states included)
drained() {
    curl -s "$ATLAS_URL/api/v1/health" | python3 -c 'import json,sys
d = json.load(sys.stdin)
sys.exit(0 if d["engine"]["queued"] + d["engine"]["running"] == 0 and d["store_writer"]["pending"] == 0 else 1)'
}
WAIT_S=300 wait_for drained || fail "the restarted daemon did not drain its queue"
counts=$(/usr/bin/python3 - "$ATLAS_URL" "$T/acked" <<'PY'
import http.client, json, os, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
auth = {"Authorization": "Bearer " + os.environ["ATLAS_TOKEN"]}
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
missing = stuck = 0
for line in open(sys.argv[2]):
    conn.request("GET", "/api/v1/jobs/" + line.strip(), headers=auth)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        missing += 1
    elif json.loads(body)["state"] not in ("completed", "failed"):
        stuck += 1
print(missing, stuck)
PY
)
missing=${counts% *}
stuck=${counts#* }
expect_eq "no acknowledged job was lost" "$missing" "0"
expect_eq "no job is stuck after the restart" "$stuck" "0"
expect_eq "nothing left running" "$(curl -s "$ATLAS_URL/api/v1/jobs?state=running" | j 'len(d["jobs"])')" "0"

# store.sync: full works the same way
stop_daemon
sed -i 's/sync: normal/sync: full/' "$T/config.yaml"
start_daemon --config "$T/config.yaml"
expect_eq "store.sync: full runs jobs" "$(atlas run word-count --input '{"text": "durable"}' | j 'd["words"]')" "1"

# a second daemon on the same data directory is refused
run_rc rc "$BIN/atlasd" --data "$DATA" --listen 127.0.0.1:0
expect_eq "one daemon per data directory" "$rc" 1
expect_contains "and it says so" "$(cat "$T/err")" "another atlasd is already using this data directory"

finish
