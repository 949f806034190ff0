#!/bin/bash
# Skill reviews (docs/skills.md "Reviews"): with
# registry.policy.minimum_review_status above unreviewed, an unreviewed
# skill is refused at install, naming its digest and the command; an admin
# or a reviewer records a review (atlas skill review) of a file, a SKILL.md
# folder or an installed skill, by content digest; the reviewed content
# installs, another definition of it does not; the review is shown in ls
# and describe (who, status, digest), audited, and kept across a restart;
# other roles cannot review.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA" "$T/md/scripts"
cat >"$T/config.yaml" <<YAML
registry:
  policy:
    minimum_review_status: community
YAML
start_daemon --config "$T/config.yaml"
cat >"$T/probe.yaml" <<YAML
name: probe
version: 1.0.0
kind: mcp
description: the probe server
mcp:
  command: ["/usr/bin/python3", "$SRC/tests/e2e/mcp_probe.py"]
YAML
run_rc rc atlas skill register "$T/probe.yaml"
expect_contains "unreviewed: refused at install" "$rc $(cat "$T/err")" "1 "
expect_contains "naming the rule, the digest and the way out" "$(cat "$T/err")" "minimum_review_status is community: skill probe@1.0.0 (sha256:"
expect_contains "(atlas skill review)" "$(cat "$T/err")" "atlas skill review probe@1.0.0 --status community"

VIEWER=$(new_token v viewer)
REVIEWER=$(new_token r reviewer)
run_rc rc env ATLAS_TOKEN="$VIEWER" "$BIN/atlas" skill review "$T/probe.yaml" --status community
expect_contains "a viewer cannot review" "$rc $(cat "$T/err")" "1 "
run_rc rc atlas skill review "$T/probe.yaml" --status bogus
expect_eq "an unknown status is a usage error" "$rc" 2
run_rc rc env ATLAS_TOKEN="$REVIEWER" "$BIN/atlas" skill review "$T/probe.yaml" --status community --note "read the server"
expect_contains "a reviewer reviews the file before its install" "$rc $(cat "$T/out")" "0 skill probe@1.0.0 (sha256:"
DIGEST=$(sed -n 's/.*(\(sha256:[0-9a-f]*\)).*/\1/p' "$T/out")
run_rc rc atlas skill register "$T/probe.yaml"
expect_eq "the reviewed content installs" "$rc $(cat "$T/err")" "0 "
expect_contains "ls shows the review" "$(atlas skill ls | grep probe)" "community"
expect_eq "describe: who, status, digest, note" \
    "$(atlas skill describe probe --json | j 'd["review_status"], d["review"]["status"], d["review"]["by"], d["review"]["digest"] == d["digest"] == "'"$DIGEST"'", d["review"]["note"]')" \
    "community community r True read the server"
expect_contains "the review is audited" "$(curl -s "$ATLAS_URL/api/v1/audit?limit=50")" "skill.review"

# another definition of the same name and version is other content
sed 's/description: the probe server/description: changed/' "$T/probe.yaml" >"$T/probe2.yaml"
run_rc rc atlas skill register "$T/probe2.yaml" --force
expect_contains "a changed definition is unreviewed again" "$rc $(cat "$T/err")" "1 "

# a SKILL.md folder, reviewed before its install
printf -- '---\nname: greeter\ndescription: Says hello\n---\nRun scripts/hello.sh NAME.\n' >"$T/md/SKILL.md"
printf 'echo "hello $1"\n' >"$T/md/scripts/hello.sh"
run_rc rc atlas skill register "$T/md"
expect_contains "an unreviewed folder is refused" "$rc $(cat "$T/err")" "1 "
run_rc rc atlas skill review "$T/md" --status verified
expect_eq "its review" "$rc" 0
run_rc rc atlas skill register "$T/md"
expect_eq "then it installs" "$rc $(cat "$T/err")" "0 "
expect_eq "verified, by the admin token" "$(atlas skill describe greeter --json | j 'd["review_status"], bool(d["review"]["by"])')" "verified True"

# an installed skill's review changes by name; kept across a restart
run_rc rc atlas skill review probe@1.0.0 --status verified
expect_eq "review NAME@VERSION of an installed one" "$rc" 0
run_rc rc atlas skill review file-ops --status verified
expect_contains "a built-in is not reviewed" "$rc $(cat "$T/err")" "built-in"
stop_daemon
start_daemon --config "$T/config.yaml"
expect_eq "kept across a restart" "$(atlas skill ls --json | j 'sorted((s["name"], s.get("review_status")) for s in d["skills"] if s["kind"] != "builtin")')" \
    "[('greeter', 'verified'), ('probe', 'verified')]"
finish
