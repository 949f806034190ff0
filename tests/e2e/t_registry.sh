#!/bin/bash
# The local registry: content-addressed registration, versions, resolution,
# search, describe, unregister, persistence across restarts.
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

# versions coexist; NAME is the highest semver, NAME:VERSION pins
for v in 1.2.0 1.10.0 1.10.0-rc.1; do
    d=$(copy_agent "$EXAMPLES/word-count" "wc-$v")
    sed -i "s/^  version: \"1.0.0\"/  version: \"$v\"/" "$d/agent.yaml"
    sed -i "s/\"words\": len(words)/\"words\": len(words), \"version\": \"$v\"/" "$d/agent.py" || true
    atlas register --path "$d" >/dev/null
done
expect_eq "NAME resolves to the highest semver" "$(atlas --json describe word-count | j 'd["version"]')" "1.10.0"
expect_eq "NAME:VERSION pins" "$(atlas --json describe word-count:1.2.0 | j 'd["version"]')" "1.2.0"
expect_eq "versions listed newest first" "$(atlas --json describe word-count | j 'd["versions"]')" "['1.10.0', '1.10.0-rc.1', '1.2.0', '1.0.0']"
expect_eq "ls shows every version" "$(atlas ls --json | j 'len(d)')" "4"
expect_eq "run NAME uses the highest" "$(atlas --json run word-count --input '{"text":"a"}' >/dev/null; atlas jobs --json --limit 1 | j 'd[0]["version"]')" "1.10.0"
atlas run word-count:1.2.0 --input '{"text":"a"}' >/dev/null
expect_eq "run NAME:VERSION uses that one" "$(atlas jobs --json --limit 1 | j 'd[0]["version"]')" "1.2.0"

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
expect_eq "search by capability" "$(atlas search summarization --json | j '[a["name"] for a in d]')" "['summarizer']"
expect_eq "search by description word" "$(atlas search characters --json | j 'sorted(a["name"] for a in d)')" "['counter-of-words', 'word-count']"
expect_eq "search: every word must match" "$(atlas search 'text nothing-like-this' --json | j 'len(d)')" "0"
run_rc rc atlas search zzzz
expect_contains "search with no hit says so" "$(cat "$T/out")" "no agent matches"

# unregister one version, then all
run_rc rc atlas unregister word-count:1.10.0
expect_eq "unregister a version" "$rc" 0
expect_eq "NAME falls back to the next highest" "$(atlas --json describe word-count | j 'd["version"]')" "1.10.0-rc.1"
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

# the registry survives a restart
stop_daemon
start_daemon
expect_eq "agents persist across restarts" "$(atlas ls --json | j 'sorted(a["name"] for a in d)')" "['counter-of-words', 'summarizer']"
run_rc rc atlas run counter-of-words --input '{"text":"after restart"}'
expect_eq "and still run" "$rc" 0

finish
