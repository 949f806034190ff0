#!/bin/bash
# Nothing leaks through errors (docs/security.md): an agent.yaml that is a
# symbolic link to a file only its owner may read (/etc/shadow's shape)
# gets a 400 that names the file and the place but quotes none of it to a
# caller who could not read it; callers who could get a short, escaped
# excerpt.
. "$(dirname "$0")/lib.sh"
start_daemon
dev=$(new_token leak-dev developer)
mkdir -p "$T/shadowlike" "$T/agent"
printf 'root:$6$PLANTEDHASHshouldnotleak:19000:0:99999:7:::\n' >"$T/shadowlike/shadow"
chmod 600 "$T/shadowlike/shadow"
ln -s "$T/shadowlike/shadow" "$T/agent/agent.yaml"
body=$(printf '{"path":"%s"}' "$T/agent")
code=$(anon_curl -s -o "$T/dev" -w '%{http_code}' -H "Authorization: Bearer $dev" \
    -H 'Content-Type: application/json' -d "$body" "$ATLAS_URL/api/v1/agents")
expect_eq "a bad agent.yaml: 400" "$code" 400
grep -q PLANTED "$T/dev" && fail "the file's content leaks to a developer: $(cat "$T/dev")" ||
    pass "nothing of an unreadable file is quoted"
expect_contains "the problem still names the file" "$(cat "$T/dev")" "agent.yaml"
expect_contains "and says why nothing is shown" "$(cat "$T/dev")" "may not read it"
run_rc rc env ATLAS_TOKEN="$dev" "$BIN/atlas" register --path "$T/agent"
grep -q PLANTED "$T/out" "$T/err" && fail "the CLI shows the content" || pass "nor through the CLI"
grep -q PLANTED "$T/atlasd.log" && fail "the log quotes it" || pass "nor in the log"

# world-readable files are quoted, briefly and escaped
printf 'agent:\n  name: "x\033[31m"\n  bogus_%s: 1\n' "$(head -c 2000 /dev/zero | tr '\0' 'a')" >"$T/agent.yaml.open"
chmod 644 "$T/agent.yaml.open"
rm "$T/agent/agent.yaml"
cp "$T/agent.yaml.open" "$T/agent/agent.yaml"
chmod 755 "$T" "$T/agent"
code=$(anon_curl -s -o "$T/dev2" -w '%{http_code}' -H "Authorization: Bearer $dev" \
    -H 'Content-Type: application/json' -d "$body" "$ATLAS_URL/api/v1/agents")
expect_eq "a world-readable bad agent.yaml: 400" "$code" 400
len=$(j 'len(d["detail"])' <"$T/dev2")
[ "$len" -le 1000 ] && pass "the excerpt is short ($len characters)" || fail "the detail is $len characters"
j 'd["detail"]' <"$T/dev2" | grep -q "$(printf '\033')" && fail "a raw escape reaches the caller" ||
    pass "control characters are escaped"
finish
