#!/bin/bash
# Secrets (docs/security.md "Secrets"): `atlas secret set NAME` (stdin),
# sealed at rest with the data directory's key, handed only to the
# processes of agents whose contract lists them (requires.secrets), and
# redacted from everything Atlas gives out: run answers, job records, job
# logs, traces, errors, SSE streams, MCP and the daemon's log.  The test
# plants a secret and greps every output for it.
. "$(dirname "$0")/lib.sh"
SECRET="s3cr3t-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start_daemon
atlas register --path "$AGENTS/secret-user" >/dev/null
atlas register --path "$AGENTS/env-probe" >/dev/null

# a run of an agent whose required secret is not set is refused, saying which
run_rc rc atlas run secret-user --input '{}'
expect_eq "a required secret not set: the run is refused" "$rc" 1
expect_contains "naming the secret and how to set it" "$(cat "$T/err")" "atlas secret set PLANT_SECRET"
http POST /api/v1/agents/secret-user/run '{}'
expect_eq "over HTTP: 422" "$HTTP_CODE" 422
expect_contains "secret-unavailable" "$HTTP_BODY" "secret-unavailable"

printf '%s\n' "$SECRET" | atlas secret set PLANT_SECRET 2>"$T/set.err"
expect_eq "secret set exits 0" "$?" 0
expect_contains "secret ls lists the name" "$(atlas secret ls)" "PLANT_SECRET"
grep -q "$SECRET" <(atlas secret ls --json) && fail "secret ls shows the value" || pass "secret ls never shows the value"
grep -aq "$SECRET" "$DATA"/atlas.db* && fail "the value is stored in clear" || pass "sealed at rest"
run_rc rc sh -c "printf x | '$BIN/atlas' secret set 'bad name'"
expect_eq "a bad name: exit 1" "$rc" 1

out=$(atlas --json run secret-user --input '{}')
expect_eq "the agent that lists it gets it" "$(echo "$out" | j 'd["has"]' 2>/dev/null || echo "$out" | j 'd["output"]["has"]')" "True"
expect_eq "with the right length" "$(echo "$out" | j 'd.get("output", d)["length"]')" "${#SECRET}"
job=$(echo "$out" | j 'd.get("job", "")')
[ -n "$job" ] || job=$(curl -s "$ATLAS_URL/api/v1/jobs?agent=secret-user" | j 'd["jobs"][0]["id"]')
probe=$(atlas run env-probe --input '{}')
case "$probe" in *"$SECRET"*) fail "another agent sees the secret" ;; *) pass "an agent that does not list it never gets it" ;; esac
atlas run secret-user --input '{"fail": true}' >"$T/fail.out" 2>"$T/fail.err" || true
fjob=$(curl -s "$ATLAS_URL/api/v1/jobs?agent=secret-user&state=failed" | j 'd["jobs"][0]["id"]')

# every output
{
    echo "$out"
    cat "$T/fail.out" "$T/fail.err"
    curl -s "$ATLAS_URL/api/v1/jobs/$job"
    curl -s "$ATLAS_URL/api/v1/jobs/$fjob"
    curl -s "$ATLAS_URL/api/v1/jobs?agent=secret-user"
    curl -s "$ATLAS_URL/api/v1/jobs/$job/logs"
    curl -s "$ATLAS_URL/api/v1/jobs/$fjob/logs"
    atlas logs "$job"
    curl -s "$ATLAS_URL/api/v1/traces/$job"
    curl -s "$ATLAS_URL/api/v1/traces"
    atlas trace "$job"
    curl -s -N --max-time 5 "$ATLAS_URL/api/v1/jobs/$job/events"
    curl -s -X POST -H 'Content-Type: application/json' -d '{}' "$ATLAS_URL/api/v1/agents/secret-user/run"
    curl -s "$ATLAS_URL/api/v1/audit?limit=1000"
    curl -s "$ATLAS_URL/metrics"
} >"$T/everything" 2>&1
grep -c . "$T/everything" >/dev/null
expect_contains "the outputs say where the secret was" "$(cat "$T/everything")" "[redacted]"
if grep -q "$SECRET" "$T/everything"; then
    fail "the secret leaks: $(grep -n "$SECRET" "$T/everything" | head -n 3)"
else
    pass "no output holds the secret"
fi
stop_daemon
grep -q "$SECRET" "$T/atlasd.log" && fail "the daemon's log holds the secret" || pass "the daemon's log does not"
if command -v sqlite3 >/dev/null; then
    rows=$(sqlite3 "$DATA/atlas.db" "SELECT count(*) FROM jobs WHERE agent = 'secret-user' AND (output LIKE '%$SECRET%' OR error LIKE '%$SECRET%')")
    expect_eq "job records at rest hold no echoed secret" "$rows" 0
    logs=$(sqlite3 "$DATA/atlas.db" "SELECT count(*) FROM job_logs WHERE text LIKE '%the secret is%'")
    leaked=$(sqlite3 "$DATA/atlas.db" "SELECT count(*) FROM job_logs WHERE text LIKE '%$SECRET%'")
    if [ "${logs:-0}" -gt 0 ]; then
        expect_eq "stored log lines hold the redacted secret, never the value" "$leaked" 0
    else
        fail "the agent's stderr lines were not stored (logs: '$logs')"
    fi
fi
grep -aq "$SECRET" "$DATA"/atlas.db* && fail "the store's files hold the value" || pass "the store's files never hold the value"

# sealed with this data directory's key: a restart opens it again
start_daemon
out=$(atlas --json run secret-user --input '{}')
expect_eq "after a restart the agent still gets it" "$(echo "$out" | j 'd.get("output", d)["length"]')" "${#SECRET}"
atlas secret rm PLANT_SECRET
expect_eq "secret rm removes it" "$(atlas secret ls --json | j 'len(d["secrets"])')" 0
finish
