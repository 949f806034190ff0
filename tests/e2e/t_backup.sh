#!/bin/bash
# atlas backup / restore: an online copy taken while atlasd serves and runs
# jobs; restored into an empty data directory, the restored agents run
# (Python, C, a chain) and the jobs of before are there; a damaged or hostile
# backup is refused before anything is put in place; restore never writes
# over a store or into a directory a daemon uses.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
start_daemon
atlas register --path "$EXAMPLES/word-count" >/dev/null
atlas register --path "$EXAMPLES/summarizer" >/dev/null
atlas register --path "$AGENTS/slow" >/dev/null
atlas register --path "$AGENTS/secret-user" >/dev/null
SECRET="kept-$RANDOM-$RANDOM-sealed"
printf '%s\n' "$SECRET" | atlas secret set PLANT_SECRET >/dev/null
have_c=0
if [ -x "$EXAMPLES/echo-c/agent" ]; then
    atlas register --path "$EXAMPLES/echo-c" >/dev/null
    have_c=1
fi
atlas chain register "$SRC/examples/chains/research-pipeline.yaml" >/dev/null 2>&1 || true
before=$(atlas run --async word-count --input '{"text": "kept in the backup"}')
wait_for sh -c "$BIN/atlas --json job $before | grep -q '\"completed\"'"

# --- online: jobs keep being accepted and run while the copy is taken
atlas run --async slow --input '{"ms": 3000}' >"$T/slow_id"
(for i in $(seq 1 40); do atlas run --async word-count --input "{\"text\": \"during $i\"}" >/dev/null || exit 1; done) &
pour=$!
run_rc rc atlas backup "$T/b.tar.gz"
expect_eq "backup exits 0 while the daemon runs jobs" "$rc" "0"
expect_contains "and says what it copied" "$(cat "$T/out")" "agent version(s)"
wait "$pour" && pass "runs were accepted during the backup" || fail "runs refused during the backup"
http GET /api/v1/health/ready
expect_eq "the daemon went on serving" "$HTTP_CODE" "200"
tar -tzf "$T/b.tar.gz" >"$T/list"
expect_eq "the manifest comes first" "$(head -1 "$T/list")" "atlas-backup.json"
expect_eq "the store is in it" "$(grep -c '^atlas.db$' "$T/list")" "1"
nsnap=$(grep -E -c '^agents/sha256-[0-9a-f]{64}/?$' "$T/list")
expect_eq "one snapshot per local agent" "$nsnap" "$((4 + have_c))"
expect_eq "the secrets key is in it" "$(grep -c '^atlas.key$' "$T/list")" "1"
expect_eq "the backup is readable by its owner only" "$(stat -c %a "$T/b.tar.gz")" "600"
run_rc rc atlas backup "$T/b.tar.gz"
expect_eq "an existing file is never overwritten" "$rc" "1"
run_rc rc atlas --json backup "$T/b2.tar" --data "$DATA"
expect_eq "--json prints the manifest" "$(j '"%s %s %s" % (d["format"], len(d["snapshots"]), "atlas.key" in d["files"])' <"$T/out")" "1 $((4 + have_c)) True"

# --- restore refuses what it must
run_rc rc atlas restore "$T/b.tar.gz" --data "$DATA"
expect_eq "not into the data directory of a running daemon" "$rc" "1"
expect_contains "and says why" "$(cat "$T/err")" "is using"
stop_daemon
run_rc rc atlas restore "$T/b.tar.gz" --data "$DATA"
expect_eq "not over an existing store" "$rc" "1"
expect_contains "and says why" "$(cat "$T/err")" "already has a store"

# a damaged snapshot and a hostile path are refused before anything is in place
/usr/bin/python3 - "$T/b.tar.gz" "$T/damaged.tar" "$T/hostile.tar" <<'PY'
import copy, io, sys, tarfile
src = tarfile.open(sys.argv[1])
members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
def write(path, change):
    with tarfile.open(path, "w") as out:
        for m, data in members:
            m2, data2 = change(copy.copy(m), data)
            out.addfile(m2, io.BytesIO(data2) if data2 is not None else None)
        if path.endswith("hostile.tar"):
            evil = tarfile.TarInfo("agents/sha256-" + "0" * 64 + "/../../../escaped")
            evil.size = 4
            out.addfile(evil, io.BytesIO(b"evil"))
done = [False]
def damage(m, data):
    if not done[0] and m.isfile() and m.name.endswith("agent.yaml"):
        done[0] = True
        data = data + b"\n# changed\n"
        m.size = len(data)
    return m, data
write(sys.argv[2], damage)
write(sys.argv[3], lambda m, d: (m, d))
PY
run_rc rc atlas restore "$T/damaged.tar" --data "$T/d-damaged"
expect_eq "a damaged snapshot is refused" "$rc" "1"
expect_contains "naming it" "$(cat "$T/err")" "missing or damaged"
expect_eq "and nothing was put in place" "$(ls -A "$T/d-damaged" 2>/dev/null | grep -v '^agents$' | wc -l)" "0"
run_rc rc atlas restore "$T/hostile.tar" --data "$T/d-hostile"
expect_eq "a path escaping the data directory is refused" "$rc" "1"
if [ -e "$T/escaped" ] || [ -e "$T/d-hostile/../escaped" ]; then fail "a file escaped"; else pass "nothing escaped"; fi
printf 'not a backup' >"$T/junk.tar"
run_rc rc atlas restore "$T/junk.tar" --data "$T/d-junk"
expect_eq "a file that is no backup is refused" "$rc" "1"

# --- restore into an empty directory and run the restored agents
DATA=$T/restored
run_rc rc atlas restore "$T/b.tar.gz" --data "$DATA"
expect_eq "restore into a new directory exits 0" "$rc" "0"
expect_contains "and says what it restored" "$(cat "$T/out")" "restored"
start_daemon
expect_eq "the restored daemon has the agents" "$(atlas --json ls | j 'len(d["agents"])')" "$((4 + have_c))"
out=$(atlas --json run secret-user --input '{}')
expect_eq "a secret set before the backup opens after the restore" \
    "$(echo "$out" | j 'd.get("output", d)["length"]')" "${#SECRET}"
expect_eq "a job of before the backup is there" "$(atlas --json job "$before" | j 'd["state"]')" "completed"
expect_eq "restored Python agent runs" \
    "$(atlas --json run word-count --input '{"text": "a b a", "top": 1}' | j 'd["words"]')" "3"
expect_eq "restored summarizer runs" \
    "$(atlas --json run summarizer --input '{"text": "One. Two. Three.", "max_length": 3}' | j 'type(d["summary"]).__name__')" "str"
if [ "$have_c" = 1 ]; then
    expect_eq "restored C agent runs" "$(atlas --json run echo-c --input '{"message": "hi"}' | j 'd["message"]')" "hi"
fi
slow=$(cat "$T/slow_id")
st=$(atlas --json job "$slow" | j 'd["state"]')
case "$st" in queued | running | completed | failed) pass "the job running at backup time is accounted for ($st)" ;; *) fail "job $slow: $st" ;; esac
finish
