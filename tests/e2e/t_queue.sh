#!/bin/bash
# atlas queue inspect | drain | resume | priority, end to end: a slow agent
# with one process (pool max 1) and jobs queued behind it; reordering by
# priority, holding dispatch per agent and for all, resuming; the API's
# errors (404 unknown job, 409 not queued, 400 bad priority).
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
start_daemon
slow=$(copy_agent "$AGENTS/slow" slow)
printf '  pool:\n    max: 1\n' >>"$slow/agent.yaml"
atlas register --path "$slow" >/dev/null
atlas register --path "$EXAMPLES/word-count" >/dev/null

# helpers over the API
state() { atlas --json job "$1" | j 'd["state"]'; }
is_state() { [ "$(state "$1")" = "$2" ]; }
# queue JSON through the CLI (--json prints the API's body)
qjson() { atlas queue inspect --json "$@"; }

run_rc rc atlas queue --help
expect_eq "--help exits 0" "$rc" 0
expect_contains "--help names the subcommands" "$(cat "$T/out")" "atlas queue priority JOB N"
run_rc rc atlas queue frobnicate
expect_eq "unknown subcommand: exit 2" "$rc" 2
run_rc rc atlas queue priority job_x notanumber
expect_eq "priority N must be an integer: exit 2" "$rc" 2
run_rc rc atlas queue inspect
expect_eq "inspect an empty queue" "$(cat "$T/out")" "no queued jobs (0 running)"
expect_eq "--json: the API's object" "$(qjson | j 'sorted(d.keys())')" \
    "['agents', 'held', 'held_all', 'queued', 'running']"

# one job runs (the pool's only process), three wait behind it; the one
# that runs lasts until it is cancelled, so no step here races its end
b=$(atlas run --async slow --input '{"ms": 600000, "tag": "b"}')
wait_for is_state "$b" running
q1=$(atlas run --async slow --input '{"ms": 20, "tag": "q1"}')
q2=$(atlas run --async slow --input '{"ms": 20, "tag": "q2"}')
q3=$(atlas run --async slow --input '{"ms": 20, "tag": "q3"}')
for id in $q1 $q2 $q3; do wait_for is_state "$id" queued; done
expect_eq "inspect: FIFO within a priority" \
    "$(qjson slow | j '" ".join(x["id"] for x in d["agents"][0]["jobs"])')" "$q1 $q2 $q3"
expect_eq "inspect: positions" \
    "$(qjson slow | j '[x["position"] for x in d["agents"][0]["jobs"]]')" "[1, 2, 3]"
expect_eq "inspect: one running, pool max 1" \
    "$(qjson slow | j '(d["agents"][0]["running"], d["agents"][0]["max"], d["queued"])')" "(1, 1, 3)"
run_rc rc atlas queue inspect
expect_contains "inspect: the table lists the jobs" "$(cat "$T/out")" "$q2"
expect_contains "inspect: the table has a priority column" "$(cat "$T/out")" "PRIORITY"

# priority: q3 goes first
run_rc rc atlas queue priority "$q3" 10
expect_eq "priority: exit 0" "$rc" 0
expect_contains "priority: says where it is" "$(cat "$T/out")" "position 1"
expect_eq "priority: reorders dispatch" \
    "$(qjson | j '" ".join(x["id"] for x in d["agents"][0]["jobs"])')" "$q3 $q1 $q2"
expect_eq "priority: the job row has it" "$(atlas --json job "$q3" | j 'd["priority"]')" "10"
http POST "/api/v1/queue/jobs/job_doesnotexist/priority" '{"priority": 1}'
expect_eq "priority of an unknown job: 404" "$HTTP_CODE" "404"
expect_eq "404 is a problem" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:not-found"
http POST "/api/v1/queue/jobs/$b/priority" '{"priority": 1}'
expect_eq "priority of a running job: 409" "$HTTP_CODE" "409"
expect_contains "409 says it is not queued" "$(echo "$HTTP_BODY" | j 'd["detail"]')" "is not queued (running)"
http POST "/api/v1/queue/jobs/$q1/priority" '{"priority": "high"}'
expect_eq "priority must be an integer: 400" "$HTTP_CODE" "400"
run_rc rc atlas queue priority "$b" 3
expect_eq "CLI: priority of a running job fails" "$rc" 1
expect_contains "CLI: and says why" "$(cat "$T/err")" "not queued"

# drain slow: the running job goes on, nothing new is dispatched once it ends
run_rc rc atlas queue drain slow
expect_eq "drain slow: exit 0" "$rc" 0
expect_contains "drain slow: says what waits" "$(cat "$T/out")" "dispatch held for slow: 3 queued, 1 running"
expect_eq "drain: the running job is not stopped" "$(state "$b")" "running"
atlas cancel "$b" >/dev/null
wait_for is_state "$b" cancelled
# the engine answers from its loop, after the turn that would have dispatched
expect_eq "drained: nothing dispatched after the running job ended" \
    "$(qjson slow | j '(d["queued"], d["agents"][0]["held"], d["held"])')" "(3, True, ['slow'])"
for id in $q1 $q2 $q3; do expect_eq "drained: $id still queued" "$(state "$id")" "queued"; done
expect_eq "drain is per agent: another agent runs" \
    "$(atlas run word-count --input '{"text": "a b c"}' | j 'd["words"]')" "3"
http POST "/api/v1/queue/drain" '{"agent": "nosuchagent"}'
expect_eq "drain an unknown agent: 404" "$HTTP_CODE" "404"
http POST "/api/v1/queue/drain" '{"agent": "slow:1.0.0"}'
expect_eq "drain takes a name, not a version: 400" "$HTTP_CODE" "400"

# drain all: another agent's new jobs are accepted and wait
run_rc rc atlas queue drain
expect_contains "drain all" "$(cat "$T/out")" "dispatch held for every agent"
w=$(atlas run --async word-count --input '{"text": "x y"}')
wait_for is_state "$w" queued
expect_eq "drain all: new jobs wait" "$(qjson word-count | j 'd["agents"][0]["jobs"][0]["id"]')" "$w"
expect_eq "drain all: held_all" "$(qjson | j 'd["held_all"]')" "True"

# resume slow while everything is held: still held (the hold of all wins)
atlas queue resume slow >/dev/null
expect_eq "resume one under a hold of all: still held" "$(qjson slow | j 'd["agents"][0]["held"]')" "True"
expect_eq "resume one: its own hold went" "$(qjson | j 'd["held"]')" "[]"

# resume all: everything runs, slow's in priority order
run_rc rc atlas queue resume --json
expect_eq "resume --json: the API's body" "$(j 'd["held"]' <"$T/out")" "False"
for id in $q1 $q2 $q3 $w; do wait_for is_state "$id" completed; done
for id in $q1 $q2 $q3 $w; do expect_eq "resumed: $id completed" "$(state "$id")" "completed"; done
order=$(for id in $q1 $q2 $q3; do echo "$(atlas --json job "$id" | j 'd["started_at"]') $id"; done | sort | awk '{print $2}' | tr '\n' ' ')
expect_eq "dispatch order follows the new priority" "$order" "$q3 $q1 $q2 "
expect_eq "queue empty at the end" "$(qjson | j '(d["queued"], d["held_all"])')" "(0, False)"

finish
