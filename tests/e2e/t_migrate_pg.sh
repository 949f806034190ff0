#!/bin/bash
# atlas migrate --from sqlite:PATH --to postgres:URL (docs/postgres.md): an
# installation on SQLite with agents, runs, a chain, logs and costs moves
# into an empty PostgreSQL database, every table verified by its row count
# and digest; atlasd on the same data directory, now on PostgreSQL, shows
# the same jobs, trace and costs and runs on (new jobs after the old ones);
# a second migrate into the non-empty database refuses and changes nothing.
# Skipped (77) where PostgreSQL is not installed.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/e2e/pg.sh"
pg_start
PGURL=$ATLAS_STORE_URL
unset ATLAS_STORE_URL
mkdir -p "$DATA"

# ---- an installation on SQLite ----
start_daemon
for a in web-searcher summarizer report-writer word-count; do
    atlas register --path "$EXAMPLES/$a" >/dev/null
done
for i in 1 2 3; do atlas run word-count --input "{\"text\": \"w$i x\"}" >/dev/null; done
atlas chain register "$SRC/examples/chains/research-pipeline.yaml" >/dev/null
atlas chain run research-pipeline --input '{"query": "migrate", "format": "text"}' >/dev/null
root=$(curl -s "$ATLAS_URL/api/v1/jobs?agent=research-pipeline" | j 'd["jobs"][0]["id"]')
jobs_before=$(curl -s "$ATLAS_URL/api/v1/jobs?limit=500" | j 'sorted(x["id"] for x in d["jobs"])')
trace_before=$(curl -s "$ATLAS_URL/api/v1/traces/$root" | j 'sorted(s.get("agent", "") for s in d["steps"])')
costs_before=$(curl -s "$ATLAS_URL/api/v1/costs?by=agent" | j 'sorted((r["key"], r["calls"], r["tokens"]) for r in d["rows"])')
stop_daemon
sq() { /usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$DATA/atlas.db" "$1"; }

# ---- the move ----
run_rc rc atlas migrate --from "sqlite:$DATA/atlas.db" --to "postgres:$PGURL" --json
expect_eq "atlas migrate exits 0" "$rc" 0
cp "$T/out" "$T/report.json"
expect_contains "with progress on stderr" "$(cat "$T/err")" "atlas migrate: jobs"
expect_eq "every table of the control plane is in the report" \
    "$(j '[t["table"] for t in d["tables"]]' <"$T/report.json")" \
    "['agents', 'chains', 'kv', 'jobs', 'usage', 'job_logs', 'spans', 'evals', 'eval_results', 'trigger_firings', 'trigger_idem']"
for t in agents chains jobs usage job_logs; do
    expect_eq "$t: the report's count is the SQLite file's" \
        "$(j "[x['rows'] for x in d['tables'] if x['table'] == '$t'][0]" <"$T/report.json")" \
        "$(sq "SELECT COUNT(*) FROM $t")"
    expect_eq "$t: and PostgreSQL's" "$(pg_psql "SELECT COUNT(*) FROM $t")" "$(sq "SELECT COUNT(*) FROM $t")"
done
expect_eq "digests are sha256" "$(j 'all(t["digest"].startswith("sha256:") and len(t["digest"]) == 71 for t in d["tables"])' <"$T/report.json")" True

# ---- atlasd on PostgreSQL, on the same data directory ----
ATLAS_STORE_BACKEND=postgres ATLAS_STORE_URL=$PGURL start_daemon
expect_eq "the same jobs" "$(curl -s "$ATLAS_URL/api/v1/jobs?limit=500" | j 'sorted(x["id"] for x in d["jobs"])')" "$jobs_before"
expect_eq "the same trace" "$(curl -s "$ATLAS_URL/api/v1/traces/$root" | j 'sorted(s.get("agent", "") for s in d["steps"])')" "$trace_before"
expect_eq "the same costs" "$(curl -s "$ATLAS_URL/api/v1/costs?by=agent" | j 'sorted((r["key"], r["calls"], r["tokens"]) for r in d["rows"])')" "$costs_before"
out=$(atlas run word-count --input '{"text": "after the move"}')
expect_eq "and it runs on" "$(echo "$out" | j 'd["words"]')" 3
expect_eq "new jobs come after the old ones" \
    "$(pg_psql "SELECT (SELECT MAX(seq) FROM jobs) > (SELECT MAX(seq) FROM jobs WHERE created_ms < (SELECT MAX(created_ms) FROM jobs))")" t
stop_daemon

# ---- into a database that is not empty ----
n=$(pg_psql 'SELECT COUNT(*) FROM jobs')
run_rc rc atlas migrate --from "sqlite:$DATA/atlas.db" --to "postgres:$PGURL"
expect_eq "a second migrate refuses" "$rc" 1
expect_contains "saying why" "$(cat "$T/err")" "copies into an empty one only"
expect_eq "and changes nothing" "$(pg_psql 'SELECT COUNT(*) FROM jobs')" "$n"
run_rc rc atlas migrate --from "mysql:x" --to "postgres:$PGURL"
expect_eq "an unknown source is a usage error" "$rc" 2
finish
