#!/bin/bash
# Dependency builds (issue 14, item 6): dependencies.packages are installed
# with pip from a package index (here a local PEP 503 index of a wheel built
# in the test, served on loopback) into a virtual environment of the
# version's own, in the sandbox; the lock (name, version, sha256) is kept
# with the version; the agent runs with the environment's python; a second
# registration with the same dependencies reuses the environment (the index
# is down by then); a failed build names the requirement and registers
# nothing, so the previous version keeps serving.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! [ -x $PY ] || ! $PY -m venv -h >/dev/null 2>&1 || ! $PY -m pip --version >/dev/null 2>&1; then
    log "SKIP: $PY with venv and pip is needed (python3-venv, python3-pip)"
    exit 77
fi
wheel=$($PY "$SRC/tests/e2e/mkwheel.py" atlas-greet 1.0.0 "$T/index")
want_sha=$(sha256sum "$wheel" | cut -d' ' -f1)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$T/index" && exec $PY -m http.server --bind 127.0.0.1 "$port" >"$T/index.log" 2>&1) &
INDEX_PID=$!
wait_for curl -sf -o /dev/null "http://127.0.0.1:$port/simple/atlas-greet/" || {
    log "the index did not start"; cat "$T/index.log" >&2; exit 1; }

sandbox=false
if command -v bwrap >/dev/null &&
    bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; then
    sandbox=true
fi
cat >"$T/config.yaml" <<YAML
sandbox:
  enabled: $sandbox
registry:
  build:
    pip_index_url: http://atlas:idx-sekrit@127.0.0.1:$port/simple
    timeout: 60
YAML
start_daemon --config "$T/config.yaml"

# greet VERSION REQUIREMENTS...: an agent whose output comes from the package
greet() {
    d=$T/greet-$1
    mkdir -p "$d"
    {
        printf 'agent:\n  name: greet\n  version: "%s"\n' "$1"
        printf '  description: "greets with atlas-greet"\n'
        printf '  input:\n    schema:\n      type: object\n'
        printf '  output:\n    schema:\n      type: object\n'
        printf '  dependencies:\n    python: ">=3.9"\n    packages:\n'
        shift
        for r in "$@"; do printf '      - "%s"\n' "$r"; done
    } >"$d/agent.yaml"
    cat >"$d/agent.py" <<'PY'
import os, sys
import atlas_greet
from atlas import AgentBase, AgentContext


class Greet(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        return {"greeting": atlas_greet.greet(input.get("name", "?")),
                "virtual_env": os.environ.get("VIRTUAL_ENV"), "prefix": sys.prefix,
                "module": atlas_greet.__file__}
PY
    echo "$d"
}

v1=$(greet 1.0.0 "atlas-greet>=1.0")
atlas register --path "$v1" >"$T/reg1.out" 2>"$T/reg1.err" || { fail "register v1: $(cat "$T/reg1.err")"; finish; }
log "$(cat "$T/reg1.err")"
expect_contains "register prints the build's steps" "$(cat "$T/reg1.err")" "build: pip install ... done"
expect_contains "and what it installed, with the wheel's sha256" "$(cat "$T/reg1.err")" "atlas-greet 1.0.0 sha256:$want_sha"
curl -s "$ATLAS_URL/api/v1/agents/greet:1.0.0" >"$T/a1.json"
env1=$(j 'd["build"]["env"]' <"$T/a1.json")
expect_eq "the version's build record: python, built, sandbox" \
    "$(j '(d["build"]["kind"], d["build"]["status"], d["build"]["sandbox"])' <"$T/a1.json")" \
    "('python', 'built', '$([ $sandbox = true ] && echo bubblewrap || echo off)')"
expect_eq "the environment is under the data directory" "${env1#"$DATA"/envs/py-}" "${env1##*/py-}"
expect_eq "the lock names, versions and hashes what was installed" \
    "$(j '[(p["name"], p["version"], p["sha256"]) for p in d["packages"]]' <"$env1/atlas-lock.json")" \
    "[('atlas-greet', '1.0.0', '$want_sha')]"
expect_eq "the lock digest is the lock file's sha256" "$(j 'd["build"]["lock_digest"]' <"$T/a1.json")" \
    "sha256:$(sha256sum "$env1/atlas-lock.json" | cut -d' ' -f1)"

expect_contains "atlas describe shows the build" "$(atlas describe greet:1.0.0)" "build:        python environment $env1"
atlas --json run greet --input '{"name": "atlas"}' >"$T/run1.json" 2>"$T/run1.err" || log "$(cat "$T/run1.err")"
expect_eq "the agent imports the package from the index and returns its answer" \
    "$(j 'd["greeting"]' <"$T/run1.json")" "hello atlas from atlas-greet 1.0.0"
expect_eq "it runs with VIRTUAL_ENV set to the version's environment" "$(j 'd["virtual_env"]' <"$T/run1.json")" "$env1"
expect_eq "on the environment's python" "$(j 'd["prefix"]' <"$T/run1.json")" "$env1"

# a bad requirement: the build fails, names it, shows pip's tail; nothing registered
v2=$(greet 2.0.0 "atlas-greet>=1.0" "atlas-nosuch==9.9")
run_rc rc atlas register --path "$v2"
expect_eq "a failed build fails the registration" "$rc" "1"
expect_contains "the error names the requirement" "$(cat "$T/err")" 'pip cannot install "atlas-nosuch==9.9"'
expect_contains "and shows the end of pip's output" "$(cat "$T/err")" "No matching distribution found for atlas-nosuch==9.9"
case "$(cat "$T/err") $(cat "$env1/atlas-lock.json")" in
*idx-sekrit*) fail "the index's password is shown" ;;
*) pass "the index's password is in neither the error nor the lock" ;;
esac
expect_contains "the lock names the index without it" "$(cat "$env1/atlas-lock.json")" "\"index\":\"http://***@127.0.0.1:$port/simple\""
expect_eq "version 2.0.0 is not registered" "$(curl -s -o /dev/null -w '%{http_code}' "$ATLAS_URL/api/v1/agents/greet:2.0.0")" "404"
expect_eq "no half-built environment is left" "$(ls -d "$DATA"/envs/py-* | wc -l)" "1"
expect_eq "version 1.0.0 keeps serving" \
    "$(atlas --json run greet --input '{"name": "v1"}' | j 'd["greeting"]')" "hello v1 from atlas-greet 1.0.0"

# a pull builds too: a second atlasd pulls greet:1.0.0 from this one's /v2/
export ATLAS_OCI_CACHE=$T/cache ATLAS_REGISTRY_AUTH=$T/auth.json
mkdir -p "$T/data2"
"$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 --config "$T/config.yaml" >>"$T/atlasd2.log" 2>&1 &
D2=$!
wait_for test -s "$T/data2/atlasd.url"
U2=$(cat "$T/data2/atlasd.url")
wait_for sh -c "curl -sf $U2/api/v1/health/ready"
tok2=$(cat "$T/data2/admin.token")
H=${ATLAS_URL#http://}
printf '%s\n' "$ATLAS_TOKEN" | atlas login "$H" --username atlas >/dev/null
ATLAS_TOKEN=$tok2 atlas --url "$U2" pull "$H/greet:1.0.0" >"$T/pull.out" 2>"$T/pull.err" || log "$(cat "$T/pull.err")"
expect_contains "atlas pull builds the environment on the pulling atlasd" "$(cat "$T/pull.err")" \
    "atlas-greet 1.0.0 sha256:$want_sha"
expect_contains "there, in its own data directory" "$(cat "$T/pull.err")" "$T/data2/envs/py-"
expect_eq "and the pulled agent runs on it" \
    "$(ATLAS_TOKEN=$tok2 atlas --url "$U2" --json run greet --input '{"name": "pulled"}' | j 'd["greeting"]')" \
    "hello pulled from atlas-greet 1.0.0"
kill -TERM "$D2"
wait "$D2" 2>/dev/null || true
if grep -qE "$SAN_REPORT" "$T/atlasd2.log"; then
    fail "sanitizer report in the second atlasd's log"
    grep -A40 -E "$SAN_REPORT" "$T/atlasd2.log" | head -80 >&2
fi

# a backup leaves the environments out and keeps the build records; the
# restored atlasd rebuilds each from its lock at its first start
atlas backup "$T/b.tar" --data "$DATA" --json >"$T/b.json" 2>"$T/b.err" || log "$(cat "$T/b.err")"
tar -tf "$T/b.tar" >"$T/b.list"
expect_eq "the backup holds the build records and no environment" \
    "$(grep -c '^builds/greet@1.0.0.json' "$T/b.list") $(grep -c '^envs/' "$T/b.list")" "1 0"
expect_eq "its manifest says the environments are left out" "$(j '[e["path"] for e in d["excluded"]]' <"$T/b.json")" "['envs']"
atlas restore "$T/b.tar" --data "$T/data3" >/dev/null 2>"$T/r.err" || log "$(cat "$T/r.err")"
"$BIN/atlasd" --data "$T/data3" --listen 127.0.0.1:0 --config "$T/config.yaml" >>"$T/atlasd3.log" 2>&1 &
D3=$!
wait_for test -s "$T/data3/atlasd.url"
U3=$(cat "$T/data3/atlasd.url")
expect_contains "the restored atlasd rebuilt the environment from its lock" "$(cat "$T/atlasd3.log")" "greet:1.0.0: environment rebuilt: $T/data3/envs/py-"
expect_eq "and the restored version runs in it" \
    "$(ATLAS_TOKEN=$(cat "$T/data3/admin.token") atlas --url "$U3" --json run greet --input '{"name": "restored"}' | j '(d["greeting"], d["virtual_env"].startswith("'"$T/data3/envs/py-"'"))')" \
    "('hello restored from atlas-greet 1.0.0', True)"
expect_eq "the rebuilt lock is the same packages and hashes" \
    "$(j '[(p["name"], p["version"], p["sha256"]) for p in d["packages"]]' <"$(ls -d "$T/data3"/envs/py-*)/atlas-lock.json")" \
    "[('atlas-greet', '1.0.0', '$want_sha')]"
kill -TERM "$D3"
wait "$D3" 2>/dev/null || true
if grep -qE "$SAN_REPORT" "$T/atlasd3.log"; then
    fail "sanitizer report in the restored atlasd's log"
    grep -A40 -E "$SAN_REPORT" "$T/atlasd3.log" | head -80 >&2
fi

# the same dependencies again, with the index gone: the environment is reused
kill "$INDEX_PID"
wait "$INDEX_PID" 2>/dev/null || true
v11=$(greet 1.1.0 "atlas-greet>=1.0")
atlas --json register --path "$v11" >"$T/reg11.json" 2>"$T/reg11.err" || log "$(cat "$T/reg11.err")"
expect_eq "a second registration with the same dependencies reuses the environment" \
    "$(j '(d["build"]["status"], d["build"]["env"], d["build"]["steps"])' <"$T/reg11.json")" "('cached', '$env1', [])"
expect_eq "version 1.1.0 runs on it" \
    "$(atlas --json run greet:1.1.0 --input '{"name": "v11"}' | j '(d["greeting"], d["virtual_env"])')" \
    "('hello v11 from atlas-greet 1.0.0', '$env1')"

# the build record outlives a restart
stop_daemon
start_daemon --config "$T/config.yaml"
expect_eq "after a restart the version still runs in its environment" \
    "$(atlas --json run greet:1.0.0 --input '{"name": "again"}' | j '(d["greeting"], d["virtual_env"])')" \
    "('hello again from atlas-greet 1.0.0', '$env1')"

# garbage collection (docs/distribution.md "Environments"): an environment
# goes with the last version that uses it, and at start what no version
# uses is removed
atlas unregister greet:1.0.0 >/dev/null
expect_eq "unregistering one of two versions on an environment keeps it" "$(test -d "$env1" && echo kept)" "kept"
atlas unregister greet >/dev/null
wait_for sh -c "[ ! -e '$env1' ]"
expect_eq "unregistering the last version that uses it removes it" "$(ls "$DATA/envs" | grep -c '^py-')" "0"
expect_eq "and the versions' snapshots" "$(ls "$DATA/agents" | grep -c '^sha256-')" "0"
grep -q "removed .* snapshot(s) and 1 environment(s) no registered version uses" "$T/atlasd.log" &&
    pass "the log says what was removed" || fail "no log line of the collection"
stop_daemon
mkdir -p "$DATA/envs/py-0123456789abcdef0123456789abcdef/lib" "$DATA/agents/sha256-$(printf '0%.0s' $(seq 64))" "$DATA/agents/.tmp-AbC123"
echo x >"$DATA/envs/py-0123456789abcdef0123456789abcdef/lib/f"
start_daemon --config "$T/config.yaml"
expect_eq "at start, an environment and a snapshot no version uses and a crashed copy are removed" \
    "$(ls -A "$DATA/envs" "$DATA/agents" | grep -c -E '^(py-|sha256-|\.tmp-)')" "0"
finish
