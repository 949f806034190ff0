#!/bin/bash
# type: alertmanager with a real Prometheus Alertmanager (Debian's
# prometheus-alertmanager) on loopback: its webhook receiver points at the
# trigger's path; an alert fed through its API starts a job with the
# notification; its resolution arrives as a second notification
# (status: resolved).  Then `per: alert` gives one job per alert.
# Exit 77 without the binary.
. "$(dirname "$0")/lib.sh"
AM=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[ -n "$AM" ] || { log "prometheus-alertmanager is not installed (scripts/install-deps.sh test)"; exit 77; }
jt() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(($1))"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p "$DATA"
start_daemon
d=$(copy_agent "$AGENTS/slow" responder)
sed -i 's/name: "slow"/name: "responder"/; s/default: 1000/default: 0/' "$d/agent.yaml"
atlas register --path "$d" >/dev/null
cat >"$T/alerts.yaml" <<'YAML'
trigger:
  type: alertmanager
  path: /hooks/alerts
  target:
    agent: responder
  input_map:
    status: "$.body.status"
    alertname: "$.body.commonLabels.alertname"
YAML
expect_eq "register the alertmanager trigger" "$(atlas trigger register "$T/alerts.yaml")" \
    "registered alertmanager trigger alerts"

# ---- a real Alertmanager routing to it ----
AMPORT=$(free_port)
cat >"$T/am.yml" <<YAML
route:
  receiver: atlas
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: atlas
    webhook_configs:
      - url: "$ATLAS_URL/hooks/alerts"
        send_resolved: true
YAML
"$AM" --config.file="$T/am.yml" --storage.path="$T/am" --web.listen-address="127.0.0.1:$AMPORT" \
    --cluster.listen-address="" >"$T/am.log" 2>&1 &
AM_PID=$!
trap 'kill $AM_PID 2>/dev/null || true; cleanup' EXIT
wait_for curl -sf "http://127.0.0.1:$AMPORT/-/ready" || { fail "alertmanager did not start"; cat "$T/am.log" >&2; finish; exit 1; }
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sS -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$AMPORT/api/v2/alerts" \
    --data "[{\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db1\"},\"annotations\":{\"summary\":\"disk 95%\"},\"startsAt\":\"$NOW\"}]" >/dev/null
wait_for sh -c "$BIN/atlas trigger history alerts --json | grep -q job_id" || fail "no firing from alertmanager"
H=$(atlas trigger history alerts --json)
J=$(printf '%s' "$H" | jt 'd["firings"][-1]["job_id"]')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$J' | grep -q '\"state\": *\"completed\"'"
expect_eq "the firing notification became one job" \
    "$(curl -sS "$ATLAS_URL/api/v1/jobs/$J" | jt 'd["output"]["status"], d["output"]["alertname"]')" \
    "('firing', 'DiskFull')"
expect_eq "the event is the Alertmanager payload" \
    "$(atlas trace "$J" --json | jt 'd["event"]["source"]["type"], d["event"]["body"]["version"], d["event"]["body"]["alerts"][0]["labels"]["instance"]')" \
    "('alertmanager', '4', 'db1')"
# resolve it: the same alert with an end in the past
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sS -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$AMPORT/api/v2/alerts" \
    --data "[{\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db1\"},\"startsAt\":\"$NOW\",\"endsAt\":\"$END\"}]" >/dev/null
# (a second firing: the history holds firings, not their outputs)
two_firings() { [ "$(atlas trigger history alerts --json | jt 'len(d["firings"])')" -ge 2 ]; }
wait_for two_firings || fail "no second firing (the resolved notification) from alertmanager"
H=$(atlas trigger history alerts --json)
R=$(printf '%s' "$H" | jt 'd["firings"][0]["job_id"]')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$R' | grep -q '\"state\": *\"completed\"'"
expect_eq "the resolved notification is mapped too" \
    "$(curl -sS "$ATLAS_URL/api/v1/jobs/$R" | jt 'd["output"]["status"]')" "resolved"
kill $AM_PID 2>/dev/null || true
wait $AM_PID 2>/dev/null || true

# ---- per: alert, and a payload that is not one ----
cat >"$T/per-alert.yaml" <<'YAML'
trigger:
  type: alertmanager
  path: /hooks/per-alert
  per: alert
  target:
    agent: responder
  input_map:
    name: "$.body.alert.labels.alertname"
    status: "$.body.status"
    receiver: "$.body.group.receiver"
YAML
atlas trigger register "$T/per-alert.yaml" >/dev/null
http POST /hooks/per-alert '{"version":"4","status":"firing","receiver":"atlas","groupKey":"{}:{}","alerts":[{"status":"firing","labels":{"alertname":"A"}},{"status":"resolved","labels":{"alertname":"B"}}]}'
expect_eq "per: alert starts one job per alert" "$HTTP_CODE $(printf '%s' "$HTTP_BODY" | jt 'len(d["jobs"])')" "202 2"
J2=$(printf '%s' "$HTTP_BODY" | jt 'd["jobs"][1]')
wait_for sh -c "curl -sf '$ATLAS_URL/api/v1/jobs/$J2' | grep -q '\"state\": *\"completed\"'"
expect_eq "each with its alert and the group" "$(curl -sS "$ATLAS_URL/api/v1/jobs/$J2" | jt 'd["output"]["name"], d["output"]["status"], d["output"]["receiver"]')" \
    "('B', 'resolved', 'atlas')"
http POST /hooks/per-alert '{"hello":"world"}'
expect_eq "a body that is not an Alertmanager payload" "$HTTP_CODE" 400
finish
