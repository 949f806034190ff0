#!/bin/bash
# Job retention: `atlas jobs prune` (POST /api/v1/jobs/prune) by age and by
# count, and the periodic store.jobs retention of atlasd.
. "$(dirname "$0")/lib.sh"
cat >"$T/keep-all.yaml" <<'YAML'
store:
  jobs: {retention_days: 0, max_count: 0}
YAML
start_daemon --config "$T/keep-all.yaml"
atlas register --path "$EXAMPLES/word-count" >/dev/null
for i in 1 2 3 4 5 6; do atlas run word-count --input "{\"text\": \"run $i\"}" >/dev/null; done
count() { atlas jobs --json --limit 1000 | j 'len(d["jobs"])'; }
expect_eq "six jobs stored" "$(count)" 6

run_rc rc atlas jobs prune
expect_eq "prune with neither option: usage error" "$rc" 2
expect_contains "and says what to give" "$(cat "$T/err")" "--older-than AGE, --keep N"
run_rc rc atlas jobs prune --older-than 3x
expect_eq "a malformed age: usage error" "$rc" 2
run_rc rc atlas jobs prune --keep -1
expect_eq "a negative count: usage error" "$rc" 2
http POST /api/v1/jobs/prune '{"keep": "two"}'
expect_eq "API: keep must be an integer: 400" "$HTTP_CODE" 400
http POST /api/v1/jobs/prune '{}'
expect_eq "API: an empty request: 400" "$HTTP_CODE" 400

out=$(atlas jobs prune --older-than 1d --json)
expect_eq "nothing is a day old" "$(echo "$out" | j 'd["deleted"]')" 0
out=$(atlas jobs prune --keep 2 --json)
expect_eq "--keep 2 prunes four" "$(echo "$out" | j 'd["deleted"]')" 4
expect_eq "two jobs left" "$(count)" 2
last=$(atlas jobs --json --limit 1 | j 'd["jobs"][0]["id"]')
expect_eq "the newest job is still readable" "$(atlas --json job "$last" | j 'd["input"]["text"]')" "run 6"
expect_contains "plain output" "$(atlas jobs prune --older-than 0s)" "pruned 2 job tree(s)"
expect_eq "none left" "$(count)" 0
expect_contains "--help" "$(atlas jobs prune --help)" "usage: atlas jobs prune"
stop_daemon

# the periodic retention (store.jobs.max_count, every prune_interval)
cat >"$T/keep-two.yaml" <<'YAML'
store:
  jobs: {retention_days: 0, max_count: 2, prune_interval: 0.2}
YAML
start_daemon --config "$T/keep-two.yaml"
for i in 1 2 3 4 5; do atlas run word-count --input "{\"text\": \"again $i\"}" >/dev/null; done
two() { [ "$(count)" = 2 ]; }
if wait_for two; then pass "atlasd keeps the two newest on its own"; else fail "periodic retention: $(count) jobs left"; fi
expect_contains "and logs it" "$(cat "$T/atlasd.log")" "job tree(s) (store.jobs)"
finish
