#!/bin/bash
# The local registry: content-addressed registration, versions, resolution
# (a pre-release is never the default), search, describe, unregister,
# registration warnings, symbolic links that escape, the unsupported
# registry policy, persistence across restarts.
. "$(dirname "$0")/lib.sh"
start_daemon

wc=$(copy_agent "$EXAMPLES/word-count" wc)
run_rc rc atlas register --path "$wc"
expect_eq "register" "$rc" 0
expect_contains "register prints name:version and digest" "$(cat "$T/out")" "registered word-count:1.0.0 (sha256:"
digest1=$(atlas --json describe word-count | j 'd["digest"]')

run_rc rc atlas register --path "$wc"
expect_eq "same content again is a no-op" "$rc" 0
expect_contains "reported unchanged" "$(cat "$T/out")" "unchanged word-count:1.0.0"

echo "# edited" >>"$wc/agent.py"
run_rc rc atlas register --path "$wc"
expect_eq "same version, other content is refused" "$rc" 1
expect_contains "refusal says how to proceed" "$(cat "$T/err")" "register with --force"
http POST /api/v1/agents "{\"path\": \"$wc\"}"
expect_eq "HTTP 409 for a conflicting version" "$HTTP_CODE" 409

run_rc rc atlas register --path "$wc" --force
expect_eq "--force replaces" "$rc" 0
expect_contains "reported replaced" "$(cat "$T/out")" "replaced word-count:1.0.0"
digest2=$(atlas --json describe word-count | j 'd["digest"]')
[ "$digest1" != "$digest2" ] && pass "digest changed with content" || fail "digest did not change"

# versions coexist; NAME is the highest release, NAME:VERSION pins
for v in 1.2.0 1.10.0 1.10.0-rc.1; do
    d=$(copy_agent "$EXAMPLES/word-count" "wc-$v")
    sed -i "s/^  version: \"1.0.0\"/  version: \"$v\"/" "$d/agent.yaml"
    sed -i "s/\"words\": len(words)/\"words\": len(words), \"version\": \"$v\"/" "$d/agent.py" || true
    atlas register --path "$d" >/dev/null
done
expect_eq "NAME resolves to the highest semver" "$(atlas --json describe word-count | j 'd["version"]')" "1.10.0"
expect_eq "NAME:VERSION pins" "$(atlas --json describe word-count:1.2.0 | j 'd["version"]')" "1.2.0"
expect_eq "versions listed newest first" "$(atlas --json describe word-count | j 'd["versions"]')" "['1.10.0', '1.10.0-rc.1', '1.2.0', '1.0.0']"
expect_eq "ls shows every version" "$(atlas ls --json | j 'len(d["agents"])')" "4"
expect_eq "run NAME uses the highest" "$(atlas --json run word-count --input '{"text":"a"}' >/dev/null; atlas jobs --json --limit 1 | j 'd["jobs"][0]["version"]')" "1.10.0"
atlas run word-count:1.2.0 --input '{"text":"a"}' >/dev/null
expect_eq "run NAME:VERSION uses that one" "$(atlas jobs --json --limit 1 | j 'd["jobs"][0]["version"]')" "1.2.0"

# --name overrides the contract's name
run_rc rc atlas register --path "$wc" --name counter-of-words
expect_eq "--name registers under another name" "$(atlas --json describe counter-of-words | j 'd["name"]')" "counter-of-words"

# the snapshot is what runs: editing the source after registration changes nothing
cat >"$wc/agent.py" <<'PY'
raise SystemExit("this file was edited after registration")
PY
run_rc rc atlas run counter-of-words --input '{"text":"still works"}'
expect_eq "runs use the registered snapshot" "$rc" 0

# search: name, description, capabilities
atlas register --path "$EXAMPLES/summarizer" >/dev/null
expect_eq "search by capability" "$(atlas search summarization --json | j '[a["name"] for a in d["agents"]]')" "['summarizer']"
expect_eq "search by description word" "$(atlas search characters --json | j 'sorted(a["name"] for a in d["agents"])')" "['counter-of-words', 'word-count']"
expect_eq "search: every word must match" "$(atlas search 'text nothing-like-this' --json | j 'len(d["agents"])')" "0"
run_rc rc atlas search zzzz
expect_contains "search with no hit says so" "$(cat "$T/out")" "no agent matches"

# unregister one version, then all
run_rc rc atlas unregister word-count:1.10.0
expect_eq "unregister a version" "$rc" 0
expect_eq "NAME falls back to the next release, not to a pre-release" "$(atlas --json describe word-count | j 'd["version"]')" "1.2.0"
run_rc rc atlas unregister word-count
expect_contains "unregister all versions" "$(cat "$T/out")" "(3 versions)"
run_rc rc atlas describe word-count
expect_eq "describe of an unknown agent fails" "$rc" 1
expect_contains "and says so" "$(cat "$T/err")" "no agent \"word-count\" is registered"
http GET /api/v1/agents/word-count
expect_eq "404 over HTTP" "$HTTP_CODE" 404
expect_eq "problem+json" "$(curl -s -o /dev/null -w '%{content_type}' "$ATLAS_URL/api/v1/agents/word-count")" "application/problem+json"
run_rc rc atlas unregister word-count
expect_eq "unregistering twice fails" "$rc" 1

# pre-releases: never the default, even alone; pinned, they run
for v in 1.3.0-beta.1 1.3.0-beta.2; do
    d=$(copy_agent "$EXAMPLES/word-count" "beta-$v")
    sed -i "s/^  name: \"word-count\"/  name: \"wc-beta\"/; s/^  version: \"1.0.0\"/  version: \"$v\"/" "$d/agent.yaml"
    atlas register --path "$d" >/dev/null
done
expect_eq "a beta-only agent is registered" "$(atlas ls --json | j 'sorted(a["version"] for a in d["agents"] if a["name"] == "wc-beta")')" "['1.3.0-beta.1', '1.3.0-beta.2']"
run_rc rc atlas run wc-beta --input '{"text":"a b"}'
expect_eq "run NAME with only pre-releases fails" "$rc" 1
expect_contains "and says to pin one" "$(cat "$T/err")" "pin one, e.g. wc-beta:1.3.0-beta.2"
run_rc rc atlas describe wc-beta
expect_contains "describe says the same" "$(cat "$T/err")" "has only pre-release versions"
expect_eq "NAME:1.3.0-beta.1 pins it" "$(atlas --json run wc-beta:1.3.0-beta.1 --input '{"text":"a b"}' | j 'd["words"]')" "2"
expect_eq "search still finds it" "$(atlas search wc-beta --json | j '[a["version"] for a in d["agents"]]')" "['1.3.0-beta.2']"
atlas unregister wc-beta >/dev/null

# registration warnings: in the API response and on the CLI's stderr
sk=$(copy_agent "$EXAMPLES/word-count" skilled)
sed -i 's/^  name: "word-count"/  name: "skilled"/' "$sk/agent.yaml"
sed -i 's/^    skills: \[\]/    skills: [web-search]/; s/^    packages: \[\]/    packages: ["atlas-no-such-package>=1"]/' "$sk/agent.yaml"
run_rc rc atlas register --path "$sk"
expect_eq "declared skills and missing packages do not refuse" "$rc" 0
expect_contains "a missing skill is a warning on stderr" "$(cat "$T/err")" 'atlas: warning: requires.skills: skill "web-search" is not installed'
expect_contains "so is a package the agent's Python lacks" "$(cat "$T/err")" '"atlas-no-such-package" is not installed for python3'
expect_contains "stdout has the result" "$(cat "$T/out")" "registered skilled:1.0.0"
http POST /api/v1/agents "{\"path\": \"$sk\", \"force\": true}"
expect_eq "the API response carries them" "$(echo "$HTTP_BODY" | j '[(w["code"], w.get("pointer")) for w in d["warnings"]]')" "[('skill-unavailable', '/requires/skills/0'), ('package-missing', '/dependencies/packages/0')]"
http POST /api/v1/agents "{\"path\": \"$EXAMPLES/summarizer\"}"
expect_eq "and an empty list when there is nothing to say" "$(echo "$HTTP_BODY" | j 'd["warnings"]')" "[]"
atlas unregister skilled >/dev/null

# symbolic links: each of these reads as inside, together they climb out
# of the directory (into DATA/agents, once snapshotted): refused
esc=$(copy_agent "$EXAMPLES/word-count" escape)
sed -i 's/^  name: "word-count"/  name: "escape"/' "$esc/agent.yaml"
mkdir -p "$esc/sub"
ln -s .. "$esc/sub/up"
run_rc rc atlas register --path "$esc"
expect_eq "a link to the directory itself is fine" "$rc" 0
atlas unregister escape >/dev/null
ln -s sub/up/../.. "$esc/esc"
run_rc rc atlas register --path "$esc"
expect_eq "a chain of relative links that escapes is refused" "$rc" 1
expect_contains "with the link that leads out" "$(cat "$T/err")" "leads outside the agent directory once sub/up (-> ..) is followed"
rm "$esc/esc"
ln -s loop2 "$esc/loop1"
ln -s loop1 "$esc/loop2"
run_rc rc atlas register --path "$esc"
expect_contains "a loop of links is refused" "$(cat "$T/err")" "a loop"
expect_eq "nothing of it was registered" "$(atlas ls --json | j 'len([a for a in d["agents"] if a["name"] == "escape"])')" "0"
expect_eq "no half snapshot is left" "$(ls -a "$DATA/agents" | grep -c '^\.tmp-' || true)" "0"

# a review level that does not exist: atlasd refuses to start with it
printf 'registry:\n  policy:\n    minimum_review_status: gold\n' >"$T/policy.yaml"
set +e
timeout 60 "$BIN/atlasd" --data "$T/other" --listen 127.0.0.1:0 --config "$T/policy.yaml" >"$T/policy.out" 2>&1
rc=$?
set -e
expect_eq "atlasd refuses an unknown review level" "$rc" 1
expect_contains "located, saying why" "$(cat "$T/policy.out")" "policy.yaml:3:28: registry.policy.minimum_review_status"
printf 'registry:\n  policy:\n    allow_unsigned: true\n    minimum_review_status: verified\n' >"$T/policy.yaml"
"$BIN/atlasd" --data "$T/other" --listen 127.0.0.1:0 --config "$T/policy.yaml" >"$T/policy.out" 2>&1 &
other=$!
if wait_for test -s "$T/other/atlasd.url"; then pass "an enforced review policy is accepted"; else fail "atlasd did not start: $(cat "$T/policy.out")"; fi
kill -TERM "$other"
wait "$other" 2>/dev/null || true

# the registry survives a restart
stop_daemon
start_daemon
expect_eq "agents persist across restarts" "$(atlas ls --json | j 'sorted(a["name"] for a in d["agents"])')" "['counter-of-words', 'summarizer']"
run_rc rc atlas run counter-of-words --input '{"text":"after restart"}'
expect_eq "and still run" "$rc" 0

finish
