#!/bin/bash
# Skills' workspaces (docs/skills.md "Workspaces"): each job of a tree has
# its own (DATA/skills/work/ROOT/JOB); two sibling jobs cannot read or
# write each other's, through file-ops or code-execution; the tree's
# workspaces are removed once the tree has finished and the grace
# (skills.workspace.grace_s) has passed; a restart removes orphans and
# nothing outside DATA/skills/work.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
export ATLAS_SKILLS_WORKSPACE_GRACE_S=2
export ATLAS_SKILLS_WEB_SEARCH_URL=http://127.0.0.1:9 # skill-user declares web-search (never called here)
start_daemon
atlas register --path "$AGENTS/skill-user" >/dev/null
atlas register --path "$AGENTS/skill-tree" >/dev/null

W=$DATA/skills/work
out=$(atlas run skill-tree --input '{"children": [
  [{"skill": "file-ops", "input": {"op": "write", "path": "a.txt", "content": "mine"}},
   {"skill": "file-ops", "input": {"op": "read", "path": "a.txt"}}],
  [{"skill": "file-ops", "input": {"op": "read", "path": "'"$W"'/@ROOT@/@PREV@/a.txt"}},
   {"skill": "file-ops", "input": {"op": "read", "path": "../@PREV@/a.txt"}},
   {"skill": "file-ops", "input": {"op": "write", "path": "../@PREV@/evil.txt", "content": "x"}},
   {"skill": "file-ops", "input": {"op": "list", "path": "."}},
   {"skill": "code-execution", "input": {"language": "shell", "code": "cat /workspace/../@PREV@/a.txt 2>&1; ls '"$W"'/@ROOT@ 2>&1; echo rc=$?; echo sib >/workspace/../@PREV@/b.txt 2>&1; echo wrc=$?"}},
   {"skill": "file-ops", "input": {"op": "write", "path": "own.txt", "content": "b"}}]
]}')
root=$(echo "$out" | j 'd["job_id"]')
a=$(echo "$out" | j 'd["children"][0]["job_id"]')
b=$(echo "$out" | j 'd["children"][1]["job_id"]')
expect_eq "the first child reads its own file" "$(echo "$out" | j 'd["children"][0]["results"][1]["output"]["content"]')" "mine"
expect_eq "the sibling cannot read it by absolute path, by .., nor write there" \
    "$(echo "$out" | j '[r.get("code") for r in d["children"][1]["results"][:3]]')" \
    "['permission-denied', 'permission-denied', 'permission-denied']"
expect_eq "its own workspace is empty" "$(echo "$out" | j 'd["children"][1]["results"][3]["output"]["entries"]')" "[]"
ce=$(echo "$out" | j 'd["children"][1]["results"][4]["output"]["stdout"]')
expect_contains "code-execution does not see the sibling's files" "$ce" "No such file"
expect_contains "nor the tree's folder" "$ce" "rc=2"
case "$ce" in *wrc=0*) fail "code-execution wrote in the sibling's workspace: $ce" ;; *wrc=*) pass "nor can it write there" ;; *) fail "no write status: $ce" ;; esac
[ ! -e "$W/$root/$a/b.txt" ] && [ ! -e "$W/$root/$a/evil.txt" ] && pass "nothing was written in the sibling's workspace" \
    || fail "the sibling's workspace was written"
gone() { [ ! -e "$W/$root" ]; }
if [ -n "$root" ] && [ -n "$b" ]; then
    # the tree has finished: its workspaces stay for the grace, then go
    wait_for gone && pass "the tree's workspaces are removed after the grace" || fail "$W/$root is still there"
else
    fail "no job ids in the answer: $out"
fi
[ -d "$W" ] && pass "DATA/skills/work itself stays" || fail "DATA/skills/work was removed"

# a restart removes orphans (no such tree), keeps the user's workspace and what lies outside
atlas skill invoke file-ops --input '{"op": "write", "path": "u.txt", "content": "u"}' >/dev/null
stop_daemon
mkdir -p "$W/orphan_tree/job1" "$DATA/keep"
echo x >"$W/orphan_tree/job1/f" && echo k >"$DATA/keep/f"
ln -s "$DATA/keep" "$W/orphan_tree/job1/link"
start_daemon
orphan_gone() { [ ! -e "$W/orphan_tree" ]; }
wait_for orphan_gone && pass "a restart removes an orphan workspace" || fail "the orphan stayed"
expect_eq "a link inside it was not followed" "$(cat "$DATA/keep/f")" "k"
expect_eq "the user's workspace stays" "$(cat "$W/user/u.txt")" "u"
finish
