#!/bin/bash
# The dashboard at /ui (docs/dashboard.md): served from the binary (gzip,
# ETag, CSP, public files, the API still behind tokens), then driven in a
# real browser (Debian's chromium through playwright-core, axe-core for
# accessibility): tests/ui/dashboard.mjs.
# UI_SCREENSHOTS=DIR keeps a screenshot of every page there (docs/images).
. "$(dirname "$0")/lib.sh"

start_daemon
atlas register --path "$AGENTS/slow" >/dev/null
atlas register --path "$AGENTS/spender" >/dev/null
atlas run --async spender --input '{"tokens": 500}' >/dev/null # usage for the costs page
cat >"$T/two-slow.yaml" <<'YAML'
chain:
  name: two-slow
  description: "Two slow steps, for the dashboard's live waterfall"
  steps:
    - agent: slow
      input_map:
        ms: 1600
    - agent: slow
      input_map:
        ms: 1600
YAML
atlas chain register "$T/two-slow.yaml" >/dev/null
cat >"$T/nightly.yaml" <<'YAML'
trigger:
  name: nightly
  type: cron
  schedule: "0 2 * * *"
  target:
    agent: slow
  input:
    ms: 1
YAML
atlas trigger register "$T/nightly.yaml" >/dev/null
cat >"$T/desk-chat.yaml" <<'YAML'
trigger:
  name: desk-chat
  type: conversational
  interface: http
  target:
    agent: slow
  input:
    ms: 1
YAML
atlas trigger register "$T/desk-chat.yaml" >/dev/null
curl -sS -o /dev/null -H 'Content-Type: application/json' -d '{"message": "hello desk"}' "$ATLAS_URL/hooks/desk-chat"
cat >"$T/quick.yaml" <<'YAML'
eval:
  name: "slow-quick"
  target_agent: "slow"
  trigger: "every_execution"
  checks:
    - name: "under_a_second"
      type: "assertion"
      condition: "output.ms < 1000"
YAML
atlas eval register "$T/quick.yaml" >/dev/null

# --- serving, without a browser -------------------------------------------
code=$(anon_curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$ATLAS_URL/ui")
expect_eq "/ui redirects to /ui/" "$code" "308 $ATLAS_URL/ui/"
anon_curl -sS -D "$T/h1" -o "$T/index.gz" -H 'Accept-Encoding: gzip' "$ATLAS_URL/ui/"
expect_contains "the files are public and gzip-compressed" "$(cat "$T/h1")" "Content-Encoding: gzip"
expect_contains "index.html unpacks" "$(gzip -dc "$T/index.gz")" '<script type="module" src="js/app.js">'
expect_contains "a strict CSP: scripts only from /ui" "$(cat "$T/h1")" "script-src 'self'; style-src 'self'"
expect_contains "no framing" "$(cat "$T/h1")" "frame-ancestors 'none'"
anon_curl -sS -D "$T/h2" -o "$T/index" "$ATLAS_URL/ui/index.html"
case "$(cat "$T/h2")" in *Content-Encoding*) fail "no gzip without Accept-Encoding" ;; *) pass "no gzip without Accept-Encoding" ;; esac
anon_curl -sS -o /dev/null -D "$T/h3" -H 'Accept-Encoding: gzip;q=0' "$ATLAS_URL/ui/"
case "$(cat "$T/h3")" in *Content-Encoding*) fail "gzip;q=0 refuses gzip" ;; *) pass "gzip;q=0 refuses gzip" ;; esac
etag=$(grep -i '^etag:' "$T/h2" | cut -d' ' -f2 | tr -d '\r')
code=$(anon_curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$ATLAS_URL/ui/index.html")
expect_eq "a known ETag is 304 Not Modified" "$code" 304
expect_contains "cached by revalidation, not stored" "$(cat "$T/h2")" "Cache-Control: no-cache"
expect_eq "the API stays behind a token" "$(anon_curl -sS -o /dev/null -w '%{http_code}' "$ATLAS_URL/api/v1/jobs")" 401
# the files are constants of the binary: a secret whose value is a word of
# a script must not be "redacted" out of it (nor out of the gzip bytes)
printf 'signin' | atlas secret set UI_WORD >/dev/null
anon_curl -sS -o "$T/app.js" "$ATLAS_URL/ui/js/app.js"
anon_curl -sS -H 'Accept-Encoding: gzip' "$ATLAS_URL/ui/js/app.js" | gzip -dc >"$T/app.js.gz-out"
if cmp -s "$T/app.js" "$SRC/ui/js/app.js" && cmp -s "$T/app.js.gz-out" "$SRC/ui/js/app.js"; then
    pass "the files are sent byte for byte, a secret's value in them or not"
else
    fail "a file of the dashboard differs from ui/js/app.js (redacted?)"
fi
atlas secret rm UI_WORD >/dev/null
expect_eq "a missing file is 404" "$(anon_curl -sS -o /dev/null -w '%{http_code}' "$ATLAS_URL/ui/nope.js")" 404

# --- in a real browser -----------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
    log "skip: the browser part needs Debian's chromium (scripts/install-deps.sh test)"
    exit 77
fi
if [ ! -d "$SRC/tests/ui/node_modules/playwright-core" ] || [ ! -d "$SRC/tests/ui/node_modules/axe-core" ]; then
    log "skip: tests/ui/node_modules is missing (scripts/npm-deps.sh)"
    exit 77
fi
VIEWER=$(new_token ui-viewer viewer)
export VIEWER
# proposals for the approval desk, filed by a developer (no one decides their own)
DEV=$(new_token ui-dev developer)
propose() {
    ATLAS_TOKEN=$DEV atlas approvals propose --kind "$1" --title "$2" --payload "$3" | cut -d' ' -f1
}
P_APPROVE=$(propose new_skill "a counting skill" \
    '{"definition": {"name": "count-words", "version": "1.0.0", "kind": "agent", "agent": "counter", "description": "counts"}}')
P_REJECT=$(propose config "turn a knob" '{"key": "store.jobs.max_count", "value": 1001}')
P_VIEW=$(propose config "another knob" '{"key": "store.jobs.max_count", "value": 1002}')
P_B1=$(propose config "batch one" '{"key": "store.jobs.max_count", "value": 1003}')
P_B2=$(propose config "batch two" '{"key": "store.jobs.max_count", "value": 1004}')
export P_APPROVE P_REJECT P_VIEW P_B1 P_B2
# a second node for the fleet table: registered and reporting its health as
# a joined node would, then drained so that no run is placed on it
NODE_TOK=$(new_token ui-node node)
curl -sS -o /dev/null -H "Authorization: Bearer $NODE_TOK" -H 'Content-Type: application/json' \
    --data-binary '{"name": "gpu-box", "profile": {"name": "gpu-box", "resources": {"cpu_cores": 16, "memory_gb": 64, "gpus": [{"device": "nvidia-rtx-4090", "vram_gb": 24, "index": 0}]}, "architecture": "x86_64", "labels": {"zone": "homelab"}}}' \
    "$ATLAS_URL/api/v1/nodes/register"
atlas node drain gpu-box >/dev/null
curl -sS -o /dev/null -H "Authorization: Bearer $NODE_TOK" -H 'Content-Type: application/json' \
    --data-binary '{"health": {"temperature_c": 91.5, "memory_used_pct": 12}}' "$ATLAS_URL/api/v1/nodes/gpu-box/heartbeat"
expect_eq "the fleet has a second node with its health" "$(curl -s "$ATLAS_URL/api/v1/nodes/gpu-box/health" | j 'd["health"]["temperature_c"]')" "91.5"
expect_contains "three proposals wait" "$(atlas approvals ls --state pending --json)" "$P_VIEW"
set +e
node "$SRC/tests/ui/dashboard.mjs" >"$T/ui.out" 2>&1
rc=$?
set -e
cat "$T/ui.out" >&2
if [ "$rc" = 0 ]; then pass "the dashboard in chromium (tests/ui/dashboard.mjs)"; else fail "the dashboard in chromium: exit $rc"; fi

log "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
