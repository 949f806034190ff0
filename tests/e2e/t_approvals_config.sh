#!/bin/bash
# Config proposals (docs/supervisor.md "Config proposals"): a reviewed
# change of one key that a reload applies at once.  Approving it writes the
# key into DATA/config.approved.json and reloads the settings as `atlas
# reload` does: the engine runs with the new value at once, and after a
# restart and a reload of the file.  Refused: a key a reload cannot apply
# (needs a restart), a policy key, a null value, an auto-approve rule for
# the kind; a value the settings refuse fails the execution and leaves the
# approved settings as they were.
. "$(dirname "$0")/lib.sh"
cat >"$T/config.yaml" <<'YAML'
execution:
  max_concurrent_agents: 2
YAML
start_daemon --config "$T/config.yaml"
DEV=$(new_token dev developer)
as() { tok=$1; shift; ATLAS_TOKEN=$tok "$@"; }
state_of() { curl -s "$ATLAS_URL/api/v1/approvals/$1" | j 'd["state"]'; }
max_concurrent() { atlas --json health | j 'd["engine"]["max_concurrent"]'; }
expect_eq "(the file's value runs)" "$(max_concurrent)" 2

run_rc rc as "$DEV" atlas approvals propose --kind config --title "more parallel runs" \
    --payload '{"key": "execution.max_concurrent_agents", "value": 6}'
expect_eq "a developer files it" "$rc" 0
P=$(cut -d' ' -f1 "$T/out")
expect_eq "nothing changes while it is pending" "$(max_concurrent):$(test -e "$DATA/config.approved.json" && echo file)" "2:"
run_rc rc as "$DEV" atlas approvals approve "$P"
expect_eq "the proposer may not approve it" "$rc" 1
run_rc rc atlas approvals approve "$P" --why "the box has 16 cores now"
expect_eq "an admin approves it: done" "$rc:$(state_of "$P")" "0:done"
expect_eq "the engine runs with the approved value at once" "$(max_concurrent)" 6
expect_eq "the result names what the reload applied" \
    "$(curl -s "$ATLAS_URL/api/v1/approvals/$P" | j 'd["result"]["applied"], d["result"]["file"]')" \
    "['execution.max_concurrent_agents'] config.approved.json"
expect_eq "the approved settings file" "$(j 'd["keys"]' <"$DATA/config.approved.json")" \
    "{'execution.max_concurrent_agents': 6}"
run_rc rc atlas --json reload
expect_eq "a later reload keeps it (the approved keys lie over the file)" "$rc:$(max_concurrent)" "0:6"
stop_daemon
start_daemon --config "$T/config.yaml"
expect_eq "and so does a restart" "$(max_concurrent)" 6

# refused at filing: what a reload cannot apply, policies, null
http POST /api/v1/approvals '{"kind": "config", "title": "x", "payload": {"key": "http.max_connections", "value": 10}}' -H "Authorization: Bearer $DEV"
expect_eq "a key that needs a restart: not supported yet" \
    "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd.get("pointer"), "not supported yet" in d["detail"]')" "400 /payload/key True"
http POST /api/v1/approvals '{"kind": "config", "title": "x", "payload": {"key": "approvals.require", "value": []}}' -H "Authorization: Bearer $DEV"
expect_eq "a policy key: refused (a policy proposal's)" "$HTTP_CODE" 400
http POST /api/v1/approvals '{"kind": "config", "title": "x", "payload": {"key": "log_level", "value": null}}' -H "Authorization: Bearer $DEV"
expect_eq "a null value: refused" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd.get("pointer")')" "400 /payload/value"
http POST /api/v1/approvals '{"kind": "policy", "title": "x", "payload": {"name": "approvals.auto_approve", "change": {"kind": "config", "enabled": true, "checks_pass": true}}}' -H "Authorization: Bearer $DEV"
expect_eq "an auto-approve rule for config: refused" "$HTTP_CODE $(echo "$HTTP_BODY" | j "d[\"detail\"]")" "403 a config proposal is never approved automatically"

# a value the settings refuse: the execution fails, nothing changes
run_rc rc as "$DEV" atlas approvals propose --kind config --title "a typo" \
    --payload '{"key": "execution.max_concurrent_agents", "value": "lots"}'
PB=$(cut -d' ' -f1 "$T/out")
run_rc rc atlas approvals approve "$PB"
expect_eq "a bad value: the execution fails" "$rc:$(state_of "$PB")" "1:failed"
expect_contains "with the settings' error" "$(curl -s "$ATLAS_URL/api/v1/approvals/$PB" | j 'd["error"]')" "the settings refused execution.max_concurrent_agents"
expect_eq "the running value and the approved file are as they were" \
    "$(max_concurrent):$(j 'd["keys"]' <"$DATA/config.approved.json")" "6:{'execution.max_concurrent_agents': 6}"
http GET "/api/v1/audit?event=proposal.executed"
expect_contains "the execution is audited" "$HTTP_BODY" "$P"
finish
