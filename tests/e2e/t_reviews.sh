#!/bin/bash
# The trust block's computed fields (docs/distribution.md "The scan",
# "Reviews, downloads, ratings"): the built-in scan at register and pull
# time, `atlas review` and `atlas rate` on the serving atlasd, downloads
# counted by its /v2/ manifest GETs, all carried by a pull from another
# atlasd; registry.policy.minimum_review_status on pull and register; a
# policy change between starts as an audited event.
. "$(dirname "$0")/lib.sh"
export ATLAS_OCI_CACHE=$T/cache
export ATLAS_REGISTRY_AUTH=$T/auth.json
PIDS=
cleanup_more() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    cleanup
}
trap cleanup_more EXIT

mkdir -p "$DATA"
start_daemon
H=${ATLAS_URL#http://}
printf '%s\n' "$ATLAS_TOKEN" | atlas login "$H" --username atlas >/dev/null

# an agent that asks for much, with an executable for another machine
A=$(copy_agent "$EXAMPLES/word-count" wide)
sed -i 's/^  name: "word-count"/  name: "wide"/; s/platform_tools: false/platform_tools: true\n    network: egress/' "$A/agent.yaml"
case "$(uname -m)" in aarch64) em=62 ;; *) em=183 ;; esac
/usr/bin/python3 -c "import struct,sys; sys.stdout.buffer.write(b'\x7fELF\x02\x01\x01' + bytes(9) + struct.pack('<HH', 2, $em) + bytes(44))" >"$A/helper.bin"
atlas register --path "$A" >/dev/null
t=$(atlas --json describe wide | j 'json.dumps(d["trust"])')
expect_eq "the scan fails on a foreign executable" "$(echo "$t" | j 'd["scan_status"]')" "failed"
expect_contains "naming the file" "$(echo "$t" | j '[f["detail"] for f in d["findings"] if f["rule"] == "foreign-executable"]')" "helper.bin is an ELF executable for"
expect_contains "the grants are findings" "$(echo "$t" | j 'sorted(f["rule"] for f in d["findings"])')" "'network', 'platform-tools'"
expect_contains "describe shows them" "$(atlas describe wide)" "scan_status:   failed"
expect_eq "unreviewed, no rating, no downloads" "$(echo "$t" | j '(d["review_status"], d["rating"], d["downloads"])')" "('unreviewed', None, 0)"

E=$(copy_agent "$EXAMPLES/word-count" outside)
sed -i 's/^  name: "word-count"/  name: "outside"/' "$E/agent.yaml"
printf '  entrypoint: ["python3", "../word-count/agent.py"]\n' >>"$E/agent.yaml"
atlas register --path "$E" >/dev/null
expect_eq "an entrypoint outside the snapshot fails the scan" \
    "$(atlas --json describe outside | j '[(f["rule"], f["detail"]) for f in d["trust"]["findings"]]')" \
    "[('entrypoint-outside', 'entrypoint[1] ../word-count/agent.py climbs out of the snapshot')]"

atlas register --path "$EXAMPLES/word-count" >/dev/null
expect_eq "a plain agent passes the scan" "$(atlas --json describe word-count | j 'd["trust"]["scan_status"]')" "passed"

# reviews: admin only
dev=$(new_token dev developer)
run_rc rc env ATLAS_TOKEN=$dev "$BIN/atlas" review word-count:1.0.0 --status verified
expect_eq "a developer cannot review" "$rc" "1"
run_rc rc atlas review word-count:1.0.0 --status community --note "read the code"
expect_eq "atlas review exits 0" "$rc" "0"
expect_contains "and prints the status" "$(cat "$T/out")" "review_status: community"
rev=$(new_token rev reviewer)
run_rc rc env ATLAS_TOKEN=$rev "$BIN/atlas" review outside:1.0.0 --status community
expect_eq "the reviewer role may review" "$rc" "0"
run_rc rc env ATLAS_TOKEN=$rev "$BIN/atlas" register --path "$EXAMPLES/word-count" --force
expect_eq "and nothing more" "$rc" "1"
run_rc rc atlas review word-count:1.0.0 --status gold
expect_eq "an unknown status is a usage error" "$rc" "2"
out=$(atlas --json describe word-count)
expect_eq "the review is the trust block's" "$(echo "$out" | j '(d["trust"]["review_status"], d["trust"]["review"]["note"], d["trust"]["review"]["by"])')" "('community', 'read the code', 'local-admin')"
# ratings: one per caller, the mean shown
atlas rate word-count:1.0.0 5 >/dev/null
ATLAS_TOKEN=$dev atlas rate word-count:1.0.0 2 >/dev/null
ATLAS_TOKEN=$dev atlas rate word-count:1.0.0 4 >/dev/null
expect_eq "the rating is the mean of each caller's last" "$(atlas --json describe word-count | j '(d["trust"]["rating"], d["trust"]["ratings"])')" "(4.5, 2)"
run_rc rc atlas rate word-count:1.0.0 6
expect_eq "a rating outside 1-5 is a usage error" "$rc" "2"

# downloads: GETs of the manifest from /v2/ (HEAD is not one)
curl -s -o /dev/null "$ATLAS_URL/v2/word-count/manifests/1.0.0"
curl -s -o /dev/null -I "$ATLAS_URL/v2/word-count/manifests/1.0.0"
hdr=$(curl -s -D - -o /dev/null "$ATLAS_URL/v2/word-count/manifests/1.0.0" | tr -d '\r' | sed -n 's/^Atlas-Trust: //Ip')
expect_eq "/v2/ serves the trust with the manifest" "$(echo "$hdr" | j '(d["review_status"], d["downloads"], d["rating"])')" "('community', 2, 4.5)"

# another atlasd pulls it, and the trust comes along
mkdir -p "$T/data2"
printf 'registry:\n  policy:\n    minimum_review_status: verified\n' >"$T/p2.yaml"
"$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 --config "$T/p2.yaml" >>"$T/atlasd2.log" 2>&1 &
PIDS="$PIDS $!"
wait_for test -s "$T/data2/atlasd.url"
U2=$(cat "$T/data2/atlasd.url")
tok2=$(cat "$T/data2/admin.token")
wait_for sh -c "curl -sf $U2/api/v1/health/ready"
export ATLAS_INSECURE_REGISTRIES=$H
run_rc rc env ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" pull "$H/word-count:1.0.0" --quiet
expect_eq "minimum_review_status verified refuses a community agent" "$rc" "1"
expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.minimum_review_status is verified: $H/word-count@sha256:"
expect_contains "and the level it has" "$(cat "$T/err")" " is community"
run_rc rc env ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" register --path "$EXAMPLES/word-count"
expect_eq "and a registration of unreviewed content" "$rc" "1"
expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.minimum_review_status is verified"
atlas review word-count:1.0.0 --status verified >/dev/null
run_rc rc env ATLAS_TOKEN=$tok2 "$BIN/atlas" --url "$U2" --json pull "$H/word-count:1.0.0" --quiet
expect_eq "a verified agent is pulled" "$rc" "0"
t2=$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json describe word-count | j 'json.dumps(d["trust"])')
expect_eq "the pull carries review, rating and downloads" "$(echo "$t2" | j '(d["review_status"], d["rating"], d["downloads"] >= 3, d["scan_status"])')" "('verified', 4.5, True, 'passed')"
ATLAS_TOKEN=$tok2 atlas --url "$U2" review word-count:1.0.0 --status community >/dev/null
expect_eq "a local review overrides the carried one" "$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json describe word-count | j 'd["trust"]["review_status"]')" "community"

# a policy change between starts is audited
expect_eq "the first policy is recorded" "$(ATLAS_TOKEN=$tok2 curl -s "$U2/api/v1/audit?event=registry.policy.change" | j 'len(d["records"])')" "1"
kill -TERM $PIDS; wait $PIDS 2>/dev/null || true; PIDS=
printf 'registry:\n  policy:\n    minimum_review_status: community\n' >"$T/p2.yaml"
rm -f "$T/data2/atlasd.url"
"$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 --config "$T/p2.yaml" >>"$T/atlasd2.log" 2>&1 &
PIDS="$PIDS $!"
wait_for test -s "$T/data2/atlasd.url"
U2=$(cat "$T/data2/atlasd.url")
wait_for sh -c "curl -sf $U2/api/v1/health/ready"
rec=$(ATLAS_TOKEN=$tok2 curl -s "$U2/api/v1/audit?event=registry.policy.change" | j 'json.dumps(d["records"][0])')
expect_contains "a changed policy is an audited event" "$(echo "$rec" | j 'd["detail"]')" '{"minimum_review_status":"verified"} -> {"minimum_review_status":"community"}'
kill -TERM $PIDS; wait $PIDS 2>/dev/null || true; PIDS=
rm -f "$T/data2/atlasd.url"
"$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 --config "$T/p2.yaml" >>"$T/atlasd2.log" 2>&1 &
PIDS="$PIDS $!"
wait_for test -s "$T/data2/atlasd.url"
U2=$(cat "$T/data2/atlasd.url")
wait_for sh -c "curl -sf $U2/api/v1/health/ready"
expect_eq "an unchanged policy is not" "$(ATLAS_TOKEN=$tok2 curl -s "$U2/api/v1/audit?event=registry.policy.change" | j 'len(d["records"])')" "2"
# the other daemon stopped cleanly, so that sanitizer builds report there too
for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
PIDS=
if grep -qE "$SAN_REPORT" "$T/atlasd2.log"; then
    fail "sanitizer report in atlasd2.log"; grep -A40 -E "$SAN_REPORT" "$T/atlasd2.log" | head -80 >&2
else
    pass "no sanitizer report from the other atlasd"
fi
finish
