#!/bin/bash
# The audit trail's crash and truncation limits (docs/audit.md "Crash
# safety", "The high-water mark", "Accepting a break"):
#  1. records still queued when atlasd is killed (-9) are in the spool and
#     are signed at the next start, each once (also when the spool still
#     holds records the store already has: a crash between the commit and
#     the spool's reset);
#  2. entries removed from the end of the store after the latest checkpoint
#     are found at start by the signed high-water mark, and by verify;
#  3. a break found at start is accepted by `atlas audit accept`, itself a
#     signed entry: checkpoints are signed again, verify reports the old
#     problems as acknowledged, a later start is clean, and new damage after
#     the acceptance is still a failure.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { log "skip: sqlite3 missing"; exit 77; }

cat >"$T/config.yaml" <<'YAML'
audit:
  origin: example.org/atlas-crash
  checkpoint_interval_ms: 86400000
YAML
log_info() { http GET /api/v1/audit/log; echo "$HTTP_BODY"; }
queued_zero() { [ "$(log_info | j 'd["queued"]')" = 0 ]; }
receipts_of() { # the number of receipts per job in the store, as "job:count ..."
    sqlite3 "$DATA/atlas.db" "SELECT envelope FROM tlog_entries WHERE kind='receipt'" |
        /usr/bin/python3 -c '
import base64, collections, json, sys
c = collections.Counter()
for line in sys.stdin:
    st = json.loads(base64.b64decode(json.loads(line)["payload"]))
    c[st["predicate"]["record"]["job"]] += 1
print(len(c), max(c.values()) if c else 0)'
}

# --- 1. kill -9 with records queued -------------------------------------
receipts_are() { [ "$(receipts_of)" = "$1" ]; }
# (a small spool file size: it is set aside for a new file while the queue
# cannot drain, and the files are read back in order)
ATLAS_TEST_AUDIT_STALL_MS=60000 ATLAS_TEST_AUDIT_SPOOL_ROTATE=1500 start_daemon --config "$T/config.yaml"
atlas register --path "$EXAMPLES/word-count" >/dev/null
for i in 1 2 3; do atlas run word-count --input "{\"text\": \"one $i\"}" >/dev/null; done
expect_eq "nothing is written yet (the log thread is held)" "$(receipts_of)" "0 0"
expect_eq "but each receipt is in the spool before the job's end was acknowledged" \
    "$(cat "$DATA"/audit.spool* | grep -c '"kind":"receipt"')" 3
expect_eq "the spool was set aside for new files as it grew" "$(ls "$DATA"/audit.spool.* 2>/dev/null | wc -l | awk '$1 > 0 {print "yes"}')" "yes"
kill9_daemon
mkdir "$T/spool.copy"
cp "$DATA"/audit.spool* "$T/spool.copy/"
start_daemon --config "$T/config.yaml"
wait_for receipts_are "3 1"
expect_eq "the next start writes what the crash left: three receipts, once each" "$(receipts_of)" "3 1"
expect_contains "and says so" "$(cat "$T/atlasd.log")" "records a crash left unwritten are written now"
wait_for test ! -s "$DATA/audit.spool"
expect_eq "the spool is empty once written, the set-aside files gone" \
    "$(stat -c %s "$DATA/audit.spool"):$(ls "$DATA"/audit.spool.* 2>/dev/null | wc -l)" "0:0"

# a crash after the commit but before the spool's reset: the lines the store
# already has are recognised by their queue ids and not written again
kill9_daemon
cp "$T"/spool.copy/* "$DATA/"
start_daemon --config "$T/config.yaml"
expect_contains "a spool the store already has" "$(cat "$T/atlasd.log")" \
    "audit spool: 0 records a crash left unwritten are written now"
expect_eq "no receipt twice" "$(receipts_of)" "3 1"
run_rc rc atlas audit verify
expect_eq "verify: clean after the crashes" "$rc" 0

# --- 2. entries removed from the end after the latest checkpoint ----------
atlas audit checkpoint >"$T/cp.note"
for i in 6 7; do atlas run word-count --input "{\"text\": \"three $i\"}" >/dev/null; done
wait_for receipts_are "5 1"
wait_for queued_zero
hw=$(log_info | j 'd["high_water"]')
expect_eq "the high-water mark follows the tree" "$hw" "$(log_info | j 'd["size"]')"
kill9_daemon # no last checkpoint: the two receipts are after the latest one
sqlite3 "$DATA/atlas.db" "DELETE FROM tlog_entries WHERE idx >= (SELECT max(idx) - 1 FROM tlog_entries)"
start_daemon --config "$T/config.yaml"
expect_contains "the start names the truncated tail" "$(cat "$T/atlasd.log")" \
    "the high-water mark counts $hw entries, the store holds $((hw - 2))"
expect_eq "the log is marked tampered" "$(log_info | j 'd["tampered"]')" "True"
expect_contains "and says why" "$(log_info | j 'd["breaks"][0]')" "removed from the end"
run_rc rc atlas audit verify --json
expect_eq "verify: exit 1" "$rc" 1
expect_eq "verify names the removed tail" \
    "$(j '[(p["problem"], p["index"]) for p in d["problems"]]' <"$T/out")" "[('deleted', $((hw - 2)))]"

# --- 3. accepting the break ---------------------------------------------
http POST /api/v1/audit/checkpoint
expect_eq "no checkpoint while tampered" "$HTTP_CODE" 409
run_rc rc atlas audit accept
expect_eq "accept needs a reason" "$rc" 2
run_rc rc atlas audit accept --reason "restored from the 21:00 backup; the two lost receipts are jobs we re-ran"
expect_eq "accept" "$rc" 0
expect_contains "accept: says what it accepted" "$(cat "$T/out")" "accepted: the high-water mark counts"
expect_eq "no longer tampered" "$(log_info | j 'd["tampered"]')" "False"
http POST /api/v1/audit/checkpoint
expect_eq "checkpoints are signed again" "$HTTP_CODE" 201
http POST /api/v1/audit/accept '{"reason": "again"}'
expect_eq "accepting a clean log: 409" "$HTTP_CODE" 409
run_rc rc atlas audit verify --json
expect_eq "verify after the acceptance: exit 0" "$rc" 0
expect_eq "the acceptance is a signed entry, with who and why" \
    "$(j '[(b["by"], b["why"][:16]) for b in d["accepted_breaks"]]' <"$T/out")" "[('local-admin', 'restored from th')]"
http GET "/api/v1/audit?event=audit.accept"
expect_eq "and a security event" "$(echo "$HTTP_BODY" | j 'len(d["records"])')" 1

# a deletion in the middle: found at start, accepted, acknowledged by verify
stop_daemon
mid=$(sqlite3 "$DATA/atlas.db" "SELECT min(idx) + 3 FROM tlog_entries")
sqlite3 "$DATA/atlas.db" "DELETE FROM tlog_entries WHERE idx = $mid"
start_daemon --config "$T/config.yaml"
expect_eq "a gap: tampered" "$(log_info | j 'd["tampered"]')" "True"
run_rc rc atlas audit verify --json
expect_eq "verify: exit 1 before the acceptance" "$rc" 1
expect_contains "names the deleted entry" "$(j '[(p["problem"], p["index"]) for p in d["problems"]]' <"$T/out")" "('deleted', $mid)"
run_rc rc atlas audit accept --reason "entry lost in the disk failure of ticket 42" --json
expect_eq "accept the gap" "$rc" 0
run_rc rc atlas audit verify --json
expect_eq "verify: exit 0, the deletion acknowledged" "$rc:$(j '("deleted", '"$mid"') in [(p["problem"], p["index"]) for p in d["acknowledged"]]' <"$T/out")" "0:True"
expect_eq "two accepted breaks" "$(j 'len(d["accepted_breaks"])' <"$T/out")" 2
stop_daemon
start_daemon --config "$T/config.yaml"
expect_eq "a later start is clean (the gap is under a checkpoint signed after it)" "$(log_info | j 'd["tampered"]')" "False"

# damage after the acceptance is not acknowledged
before=$(receipts_of | cut -d' ' -f1)
atlas run word-count --input '{"text": "after"}' >/dev/null
wait_for receipts_are "$((before + 1)) 1"
atlas audit checkpoint >/dev/null
stop_daemon
last=$(sqlite3 "$DATA/atlas.db" "SELECT max(idx) FROM tlog_entries WHERE kind='receipt'")
sqlite3 "$DATA/atlas.db" "UPDATE tlog_entries SET envelope = CAST(replace(CAST(envelope AS TEXT), 'payload', 'paylaod') AS BLOB) WHERE idx = $last"
start_daemon --config "$T/config.yaml"
run_rc rc atlas audit verify --json
expect_eq "new damage after the acceptance: exit 1" "$rc" 1
expect_contains "names it" "$(j '[(p["problem"], p["index"]) for p in d["problems"]]' <"$T/out")" "('rewritten', $last)"
finish
