#!/bin/bash
# atlas push / pull against a real OCI registry (Debian's docker-registry,
# distribution 2.8) on loopback, with and without htpasswd auth: push, a
# re-push that uploads nothing, pull by tag, by default registry, by
# `latest` (the highest SemVer tag) and by digest, a tampered blob refused,
# skopeo reading what atlas pushed and atlas pulling what skopeo copied, and
# `atlas login` (0600 file, password never printed).
. "$(dirname "$0")/lib.sh"
for tool in docker-registry skopeo htpasswd; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "skip: $tool is not installed (scripts/install-deps.sh test)"
        exit 77
    fi
done
export ATLAS_OCI_CACHE=$T/cache
export ATLAS_REGISTRY_AUTH=$T/auth.json
REG_PIDS=
# (start_registry runs in $(...): a subshell, so its pids go to a file)
cleanup_regs() {
    for p in $REG_PIDS $(cat "$T/reg.pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    cleanup
}
trap cleanup_regs EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME [htpasswd-file]: prints the port
start_registry() {
    name=$1 port=$(free_port)
    mkdir -p "$T/$name"
    {
        echo "version: 0.1"
        echo "log: {level: error}"
        echo "storage: {filesystem: {rootdirectory: $T/$name/data}, delete: {enabled: true}}"
        echo "http: {addr: 127.0.0.1:$port}"
        if [ -n "${2:-}" ]; then
            echo "auth: {htpasswd: {realm: atlas-test, path: $2}}"
        fi
    } >"$T/$name/config.yml"
    docker-registry serve "$T/$name/config.yml" >"$T/$name/log" 2>&1 &
    echo $! >>"$T/reg.pids"
    if ! wait_for sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/v2/ | grep -qE '200|401'"; then
        log "docker-registry did not start:"; cat "$T/$name/log" >&2; exit 1
    fi
    echo "$port"
}

mkdir -p "$DATA"
start_daemon
P=$(start_registry open)
R=127.0.0.1:$P
atlas register --path "$EXAMPLES/word-count" >/dev/null
digest=$(atlas --json describe word-count | j 'd["digest"]')

# --- push, and a re-push that sends no blob
run_rc rc atlas push "$R/community/word-count:1.0.0"
expect_eq "push exits 0" "$rc" "0"
expect_contains "push says what it pushed" "$(cat "$T/out")" "pushed word-count:1.0.0 to $R/community/word-count:1.0.0@sha256:"
expect_contains "progress goes to stderr" "$(cat "$T/err")" "uploading"
out=$(atlas --json push "$R/community/word-count:1.0.0" --quiet)
expect_eq "a re-push of the same content uploads no blob" "$(echo "$out" | j 'd["uploaded_blobs"]')" "0"
manifest=$(echo "$out" | j 'd["manifest"]')

# --- the registry holds an OCI artifact of Atlas's type; skopeo reads it
raw=$(skopeo inspect --raw --tls-verify=false "docker://$R/community/word-count:1.0.0")
expect_eq "artifactType" "$(echo "$raw" | j 'd["artifactType"]')" "application/vnd.atlas.agent.v1"
expect_eq "title annotation" "$(echo "$raw" | j 'd["annotations"]["org.opencontainers.image.title"]')" "word-count"
expect_eq "the layer names the registry's content digest" \
    "$(echo "$raw" | j 'd["layers"][0]["annotations"]["vnd.atlas.agent.content.digest"]')" "$digest"
got=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/community/word-count:1.0.0" 2>/dev/null ||
    printf '%s' "$raw" | sha256sum | sed 's/^/sha256:/; s/ .*//')
expect_eq "skopeo sees the manifest digest atlas printed" "$got" "$manifest"
tags=$(curl -s "http://$R/v2/community/word-count/tags/list" | j 'd["tags"]')
expect_eq "tags list" "$tags" "['1.0.0']"

# --- pull registers it again, byte-identical
atlas unregister word-count >/dev/null
run_rc rc atlas pull "$R/community/word-count:1.0.0"
expect_eq "pull exits 0" "$rc" "0"
expect_contains "pull says what it registered" "$(cat "$T/out")" "pulled word-count:1.0.0 ($digest)"
expect_eq "the pulled agent has the pushed content digest" \
    "$(atlas --json describe word-count:1.0.0 | j 'd["digest"]')" "$digest"
expect_eq "and it runs" "$(atlas --json run word-count --input '{"text": "a b c"}' | j 'd["words"]')" "3"
out=$(ATLAS_REGISTRY=$R atlas --json pull community/word-count:1.0.0 --quiet)
expect_eq "the default registry completes community/word-count:1.0.0" "$(echo "$out" | j 'd["status"]')" "unchanged"
expect_eq "a pull of what the cache has downloads nothing" "$(echo "$out" | j 'd["downloaded_blobs"]')" "0"

# --- tags resolve like versions: latest is the highest SemVer release
for v in 1.1.0 2.0.0-rc.1; do
    d=$(copy_agent "$EXAMPLES/word-count" "wc-$v")
    sed -i "s/version: \"1.0.0\"/version: \"$v\"/" "$d/agent.yaml"
    atlas register --path "$d" >/dev/null
    atlas push "$R/community/word-count:$v" --agent "word-count:$v" --quiet >/dev/null
done
atlas unregister word-count >/dev/null
out=$(atlas --json pull "$R/community/word-count" --quiet)
expect_eq "no tag: the highest release" "$(echo "$out" | j 'd["tag"]')" "1.1.0"
out=$(atlas --json pull "$R/community/word-count:latest" --quiet)
expect_eq "latest (no such tag): the highest release" "$(echo "$out" | j 'd["version"]')" "1.1.0"
run_rc rc atlas pull "$R/community/word-count:9.9.9" --quiet
expect_eq "a missing tag fails" "$rc" "1"
expect_contains "and says so" "$(cat "$T/err")" "no such manifest"
atlas unregister word-count >/dev/null
out=$(atlas --json pull "$R/community/word-count@$manifest" --quiet)
expect_eq "pull by digest" "$(echo "$out" | j 'd["version"] + " " + d["manifest"]')" "1.0.0 $manifest"
run_rc rc atlas pull "$R/community/word-count@sha256:0000000000000000000000000000000000000000000000000000000000000000" --quiet
expect_eq "an unknown digest fails" "$rc" "1"

# --- atlas pulls what skopeo copied
skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
    "docker://$R/community/word-count:1.0.0" "docker://$R/mirror/word-count:1.0.0"
atlas unregister word-count >/dev/null
out=$(atlas --json pull "$R/mirror/word-count:1.0.0" --quiet)
expect_eq "atlas pulls what skopeo copied" "$(echo "$out" | j 'd["digest"]')" "$digest"

# --- a tampered blob is refused (the registry serves what its disk holds)
layer=$(echo "$raw" | j 'd["layers"][0]["digest"]' | sed 's/sha256://')
data=$T/open/data/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data
printf 'X' | dd of="$data" bs=1 seek=20 conv=notrunc status=none
export ATLAS_OCI_CACHE=$T/cache2
run_rc rc atlas pull "$R/community/word-count:1.0.0" --quiet --force
expect_eq "a tampered layer fails the pull" "$rc" "1"
expect_contains "with the digest named" "$(cat "$T/err")" "does not match its digest"
[ ! -e "$T/cache2/blobs/sha256/$layer" ] && pass "the tampered blob is not kept" || fail "tampered blob kept"

# --- a registry with htpasswd authentication
htpasswd -Bbc "$T/htpasswd" tester 's3cret-pw' >/dev/null 2>&1
A=127.0.0.1:$(start_registry auth "$T/htpasswd")
atlas register --path "$T/wc-1.1.0" >/dev/null
run_rc rc atlas push "$A/team/word-count:1.1.0" --agent word-count:1.1.0 --quiet
expect_eq "push without credentials fails" "$rc" "1"
expect_contains "and says to log in" "$(cat "$T/err")" "atlas login"
run_rc rc sh -c "echo wrong | $BIN/atlas login $A --username tester"
expect_eq "a wrong password is refused" "$rc" "1"
[ ! -e "$ATLAS_REGISTRY_AUTH" ] && pass "and nothing is stored" || fail "credentials stored after refusal"
run_rc rc sh -c "echo 's3cret-pw' | $BIN/atlas login $A --username tester"
expect_eq "login exits 0" "$rc" "0"
expect_eq "the credentials file is 0600" "$(stat -c %a "$ATLAS_REGISTRY_AUTH")" "600"
if grep -q 's3cret-pw' "$T/out" "$T/err"; then fail "password printed"; else pass "password not printed"; fi
run_rc rc atlas push "$A/team/word-count:1.1.0" --agent word-count:1.1.0 --quiet
expect_eq "push with credentials" "$rc" "0"
atlas unregister word-count:1.1.0 >/dev/null
out=$(atlas --json pull "$A/team/word-count:1.1.0" --quiet)
expect_eq "pull with credentials" "$(echo "$out" | j 'd["version"]')" "1.1.0"
skopeo inspect --raw --tls-verify=false --authfile "$ATLAS_REGISTRY_AUTH" \
    "docker://$A/team/word-count:1.1.0" >/dev/null 2>&1 &&
    pass "skopeo reads the credentials file" || fail "skopeo --authfile"
if grep -rq 's3cret-pw' "$T/atlasd.log"; then fail "password in atlasd.log"; else pass "password not logged"; fi

# --- the Docker token flow: a bearer-token front for the open registry
/usr/bin/python3 "$SRC/tests/e2e/token_proxy.py" "$T/proxy.port" "$R" tokenuser 'tok-pw' &
REG_PIDS="$REG_PIDS $!"
wait_for test -s "$T/proxy.port"
B=127.0.0.1:$(cat "$T/proxy.port")
run_rc rc atlas pull "$B/community/word-count:1.0.0" --quiet --force
expect_eq "a token registry refuses an anonymous pull" "$rc" "1"
expect_contains "and says so" "$(cat "$T/err")" "refused"
run_rc rc sh -c "echo 'tok-pw' | $BIN/atlas login $B --username tokenuser"
expect_eq "login through the token flow" "$rc" "0"
atlas register --path "$T/wc-2.0.0-rc.1" >/dev/null
run_rc rc atlas push "$B/tokens/word-count:2.0.0-rc.1" --agent word-count:2.0.0-rc.1 --quiet
expect_eq "push with a bearer token" "$rc" "0"
atlas unregister word-count:2.0.0-rc.1 >/dev/null
export ATLAS_OCI_CACHE=$T/cache3
out=$(atlas --json pull "$B/tokens/word-count:2.0.0-rc.1" --quiet)
expect_eq "pull with a bearer token" "$(echo "$out" | j 'd["version"]')" "2.0.0-rc.1"
tokens=$(curl -s "http://$B/stats" | j 'd["tokens"]')
[ "$tokens" -ge 2 ] && pass "tokens were issued ($tokens)" || fail "no tokens issued: $tokens"

# --- signing: atlas key, push --sign (a DSSE referrer), pull verifies against atlas trust
export XDG_CONFIG_HOME=$T/config
export ATLAS_OCI_CACHE=$T/cache5
out=$(atlas --json key create my-org)
pubkey=$(echo "$out" | j 'd["public"]')
expect_eq "a key file is 0600" "$(stat -c %a "$T/config/atlas/keys/my-org.json")" "600"
expect_eq "key export prints the public key" "$(atlas key export my-org)" "$pubkey"
if atlas --json key ls | grep -q '"secret"'; then fail "key ls shows the secret"; else pass "key ls hides the secret"; fi
atlas register --path "$EXAMPLES/word-count" --force >/dev/null 2>&1 || true
run_rc rc atlas push "$R/signed/word-count:1.0.0" --agent word-count:1.0.0 --sign
expect_eq "push --sign" "$rc" "0"
expect_contains "says who signed" "$(cat "$T/err")" "signed by my-org"
smanifest=$(atlas --json push "$R/signed/word-count:1.0.0" --agent word-count:1.0.0 --quiet | j 'd["manifest"]')
fallback=$(skopeo inspect --raw --tls-verify=false "docker://$R/signed/word-count:sha256-${smanifest#sha256:}")
expect_eq "the referrers fallback tag lists the signature" \
    "$(echo "$fallback" | j 'd["manifests"][0]["artifactType"]')" "application/vnd.dsse.envelope.v1+json"
refd=$(echo "$fallback" | j 'd["manifests"][0]["digest"]')
expect_eq "the signature manifest's subject is the agent manifest" \
    "$(skopeo inspect --raw --tls-verify=false "docker://$R/signed/word-count@$refd" | j 'd["subject"]["digest"]')" "$smanifest"
out=$(atlas --json pull "$R/signed/word-count:1.0.0" --quiet --force)
expect_eq "pulled with a signature by an untrusted key: signed, not verified" \
    "$(echo "$out" | j '(d["trust"]["signed"], d["trust"]["verified"], d["trust"]["publisher"])')" "(True, False, 'my-org')"
run_rc rc atlas pull "$R/signed/word-count:1.0.0" --force
expect_contains "and warns" "$(cat "$T/err")" "does not trust"
atlas trust add my-org "$pubkey" >/dev/null
expect_contains "trust ls (the daemon's)" "$(atlas trust ls)" "$pubkey"
out=$(atlas --json pull "$R/signed/word-count:1.0.0" --quiet --force)
expect_eq "with the key trusted: verified" "$(echo "$out" | j 'd["trust"]["verified"]')" "True"
desc=$(atlas --json describe word-count:1.0.0)
expect_eq "describe shows the trust block" \
    "$(echo "$desc" | j '(d["trust"]["publisher"], d["trust"]["signed"], d["trust"]["verified"], d["trust"]["signature"].startswith("sha256:"))')" \
    "('my-org', True, True, True)"
expect_eq "and where it came from" "$(echo "$desc" | j 'd["trust"]["source"]')" "$R/signed/word-count@$smanifest"
out=$(atlas --json pull "$R/community/word-count:1.0.0" --quiet --force 2>/dev/null || true)
expect_eq "an unsigned artifact says so" "$(echo "$out" | j 'd["trust"]["signed"]')" "False"
# a second key of the same publisher name, not trusted
atlas key create other --publisher my-org >/dev/null
atlas push "$R/signed2/word-count:1.0.0" --agent word-count:1.0.0 --key other --quiet >/dev/null
out=$(atlas --json pull "$R/signed2/word-count:1.0.0" --quiet --force)
expect_eq "a signature by an untrusted key of a trusted publisher is not verified" \
    "$(echo "$out" | j 'd["trust"]["verified"]')" "False"

# --- registry.policy on a daemon that enforces it
printf 'registry:\n  policy:\n    allow_unsigned: false\n    allowed_publishers: [my-org]\n' >"$T/policy.yaml"
mkdir -p "$T/data3"
"$BIN/atlasd" --data "$T/data3" --listen 127.0.0.1:0 --config "$T/policy.yaml" >>"$T/atlasd3.log" 2>&1 &
D3=$!
REG_PIDS="$REG_PIDS $D3"
wait_for test -s "$T/data3/atlasd.url"
U3=$(cat "$T/data3/atlasd.url")
wait_for sh -c "curl -sf $U3/api/v1/health/ready"
# each atlasd has its own admin token (docs/security.md); /v2/ takes it as
# a basic password, so `atlas login HOST` stores it for the OCI clients
tok3=$(cat "$T/data3/admin.token")
printf '%s\n' "$tok3" | atlas login "${U3#http://}" --username atlas >/dev/null
run_rc rc env ATLAS_TOKEN=$tok3 "$BIN/atlas" --url "$U3" register --path "$EXAMPLES/word-count"
expect_eq "policy: a directory (unsigned) is refused" "$rc" "1"
expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.allow_unsigned is false"
run_rc rc env ATLAS_TOKEN=$tok3 "$BIN/atlas" --url "$U3" pull "$R/community/word-count:1.0.0" --quiet
expect_eq "policy: an unsigned pull is refused" "$rc" "1"
expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.allow_unsigned is false"
run_rc rc env ATLAS_TOKEN=$tok3 "$BIN/atlas" --url "$U3" pull "$R/signed/word-count:1.0.0" --quiet
expect_eq "policy: signed by a key that daemon does not trust: refused" "$rc" "1"
expect_contains "saying so" "$(cat "$T/err")" "signed, by a key not in atlas trust"
code=$(curl -s -o "$T/remote.out" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $tok3" \
    --data-binary '{"remote": "http://127.0.0.1:9/mcp", "name": "far"}' "$U3/api/v1/agents")
expect_eq "policy: a remote agent (unsigned) is refused" "$code" "403"
expect_contains "naming the rule" "$(cat "$T/remote.out")" "allow_unsigned"
ATLAS_TOKEN=$tok3 atlas --url "$U3" trust add my-org "$pubkey" >/dev/null
run_rc rc env ATLAS_TOKEN=$tok3 "$BIN/atlas" --url "$U3" pull "$R/signed/word-count:1.0.0" --quiet
expect_eq "policy: signed by a trusted key of an allowed publisher: accepted" "$rc" "0"
H3=${U3#http://}
run_rc rc atlas push "$H3/word-count:1.0.0" --agent word-count:1.0.0 --quiet
expect_eq "policy: an unsigned push to that atlasd is refused" "$rc" "1"
expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.allow_unsigned is false"
run_rc rc atlas push "$H3/word-count:1.1.0" --agent word-count:1.1.0 --sign --key my-org --quiet
expect_eq "policy: a signed push (signature first) is accepted" "$rc" "0"
expect_eq "and verified there" "$(ATLAS_TOKEN=$tok3 atlas --url "$U3" --json describe word-count:1.1.0 | j 'd["trust"]["verified"]')" "True"
expect_eq "atlasd serves the signature as a referrer" \
    "$(curl -s -H "Authorization: Bearer $tok3" "$U3/v2/word-count/referrers/$(atlas --json push "$R/x/word-count:1.1.0" --agent word-count:1.1.0 --quiet | j 'd["manifest"]')" | j 'd["manifests"][0]["artifactType"]')" \
    "application/vnd.dsse.envelope.v1+json"
printf 'registry:\n  policy:\n    allowed_publishers: [trusted-partner]\n' >"$T/policy4.yaml"
mkdir -p "$T/data4"
"$BIN/atlasd" --data "$T/data4" --listen 127.0.0.1:0 --config "$T/policy4.yaml" >>"$T/atlasd4.log" 2>&1 &
D4=$!
REG_PIDS="$REG_PIDS $D4"
wait_for test -s "$T/data4/atlasd.url"
U4=$(cat "$T/data4/atlasd.url")
wait_for sh -c "curl -sf $U4/api/v1/health/ready"
tok4=$(cat "$T/data4/admin.token")
ATLAS_TOKEN=$tok4 atlas --url "$U4" trust add my-org "$pubkey" >/dev/null
run_rc rc env ATLAS_TOKEN=$tok4 "$BIN/atlas" --url "$U4" pull "$R/signed/word-count:1.0.0" --quiet
expect_eq "policy: a verified publisher not in allowed_publishers is refused" "$rc" "1"
expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.allowed_publishers"
for p in $D3 $D4; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done

# a tampered signature blob is refused by its digest
env=$(skopeo inspect --raw --tls-verify=false "docker://$R/signed/word-count@$refd" | j 'd["layers"][0]["digest"]' | sed 's/sha256://')
printf 'X' | dd of="$T/open/data/docker/registry/v2/blobs/sha256/${env:0:2}/$env/data" bs=1 seek=30 conv=notrunc status=none
export ATLAS_OCI_CACHE=$T/cache6
run_rc rc atlas pull "$R/signed/word-count:1.0.0" --quiet --force
expect_eq "a tampered signature fails the pull" "$rc" "1"
expect_contains "by its digest" "$(cat "$T/err")" "does not match its digest"

# --- every atlasd is a registry: /v2/ of this daemon, read by skopeo and by another atlasd
atlas register --path "$EXAMPLES/word-count" --force >/dev/null 2>&1 || true
H=${ATLAS_URL#http://}
printf '%s\n' "$ATLAS_TOKEN" | atlas login "$H" --username atlas >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/v2/")
expect_eq "atlasd answers /v2/" "$code" "200"
expect_eq "its catalog lists the agent" "$(curl -s "$ATLAS_URL/v2/_catalog" | j '"word-count" in d["repositories"]')" "True"
expect_contains "its tags are the versions and latest" "$(curl -s "$ATLAS_URL/v2/word-count/tags/list" | j 'd["tags"]')" "'latest'"
raw2=$(skopeo inspect --raw --tls-verify=false --creds "atlas:$ATLAS_TOKEN" "docker://$H/word-count:1.0.0")
expect_eq "skopeo reads atlasd's manifest" "$(echo "$raw2" | j 'd["artifactType"]')" "application/vnd.atlas.agent.v1"
expect_eq "the same agent is the same manifest on atlasd and on the registry" \
    "$(printf '%s' "$raw2" | sha256sum | sed 's/^/sha256:/; s/ .*//')" "$manifest"
skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false --src-creds "atlas:$ATLAS_TOKEN" \
    "docker://$H/word-count:1.0.0" "docker://$R/from-atlasd/word-count:1.0.0" &&
    pass "skopeo copies from atlasd to a registry" || fail "skopeo copy from atlasd"
out=$(ATLAS_REGISTRY=$R atlas --json search "word count" --remote)
expect_contains "search --remote lists the registry's matching repositories" \
    "$(echo "$out" | j 'd["repositories"]')" "community/word-count"
expect_eq "a registry that is not an atlasd has no agent search" "$(echo "$out" | j 'd["agents"]')" "None"
out=$(atlas --json search "counts words" --remote --registry "$H")
expect_eq "search --remote on an atlasd uses its search too" \
    "$(echo "$out" | j '[a["name"] for a in d["agents"]]')" "['word-count']"
expect_contains "and prints registry/name:version" "$(atlas search counts --remote --registry "$H")" "$H/word-count:"
code=$(curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/v2/Bad%0d%0aX:%20y/manifests/1.0.0")
expect_eq "a repository name outside the spec's grammar is refused" "$code" "404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$ATLAS_URL/v2/word-count/manifests/1.0.0")
expect_eq "deleting through atlasd's /v2/ is refused" "$code" "405"
expect_eq "a missing manifest is a distribution error" \
    "$(curl -s "$ATLAS_URL/v2/word-count/manifests/9.9.9" | j 'd["errors"][0]["code"]')" "MANIFEST_UNKNOWN"
mkdir -p "$T/data2"
"$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 >>"$T/atlasd2.log" 2>&1 &
D2=$!
REG_PIDS="$REG_PIDS $D2"
wait_for test -s "$T/data2/atlasd.url"
U2=$(cat "$T/data2/atlasd.url")
wait_for sh -c "curl -sf $U2/api/v1/health/ready"
tok2=$(cat "$T/data2/admin.token")
printf '%s\n' "$tok2" | atlas login "${U2#http://}" --username atlas >/dev/null
export ATLAS_OCI_CACHE=$T/cache4
out=$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json pull "$H/word-count:1.0.0" --quiet)
expect_eq "one atlasd pulls from another's /v2/" "$(echo "$out" | j 'd["digest"]')" "$digest"
out=$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json pull "$H/word-count" --quiet --force)
expect_eq "latest from an atlasd" "$(echo "$out" | j 'd["version"]')" "1.1.0"
expect_eq "and it runs there" "$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json run word-count:1.0.0 --input '{"text": "x y"}' | j 'd["words"]')" "2"

# --- pushing to an atlasd registers the agent there
H2=${U2#http://}
ATLAS_TOKEN=$tok2 atlas --url "$U2" unregister word-count >/dev/null
run_rc rc atlas push "$H2/word-count:1.1.0" --agent word-count:1.1.0 --quiet
expect_eq "atlas push to an atlasd" "$rc" "0"
expect_eq "registers the agent there, same content" \
    "$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json describe word-count:1.1.0 | j 'd["digest"]')" \
    "$(atlas --json describe word-count:1.1.0 | j 'd["digest"]')"
skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false --src-creds "atlas:$ATLAS_TOKEN" \
    --dest-creds "atlas:$tok2" "docker://$H/word-count:1.0.0" "docker://$H2/word-count:1.0.0" &&
    pass "skopeo copies into an atlasd (chunked upload)" || fail "skopeo copy into atlasd"
expect_eq "which registers it" "$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json describe word-count:1.0.0 | j 'd["digest"]')" "$digest"
code=$(curl -s -o "$T/bad.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $tok2" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary '{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},"layers":[]}' \
    "$U2/v2/word-count/manifests/junk")
expect_eq "a manifest whose blobs were not pushed is refused" "$code" "400"
expect_contains "with the distribution error" "$(cat "$T/bad.out")" "MANIFEST_BLOB_UNKNOWN"
kill -TERM "$D2" && wait "$D2" 2>/dev/null || true
for l in atlasd2 atlasd3 atlasd4; do
    if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/$l.log"; then
        fail "sanitizer report in $l.log"; head -60 "$T/$l.log" >&2
    fi
done

finish
