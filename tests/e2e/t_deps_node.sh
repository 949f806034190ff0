#!/bin/bash
# Dependency builds for a Node agent (issue 14, item 6): an agent with a
# package.json and a package-lock.json gets `npm ci` from npm's registry at
# registration, in the sandbox, into an environment keyed by the lock; it
# runs with that node_modules on NODE_PATH; the same lock again reuses it;
# a package.json with dependencies and no lock is refused.
. "$(dirname "$0")/lib.sh"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "SKIP: node and npm are needed"
    exit 77
fi
if ! timeout 15 npm view is-number@7.0.0 version >/dev/null 2>&1; then
    log "SKIP: npm's registry is not reachable from here"
    exit 77
fi
sandbox=false
if command -v bwrap >/dev/null &&
    bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; then
    sandbox=true
fi
printf 'sandbox:\n  enabled: %s\nregistry:\n  build:\n    timeout: 60\n' "$sandbox" >"$T/config.yaml"
start_daemon --config "$T/config.yaml"

# isnum VERSION: a Node MCP agent (docs/agent-protocol.md) that answers with is-number
isnum() {
    d=$T/isnum-$1
    mkdir -p "$d"
    cat >"$d/agent.yaml" <<YAML
agent:
  name: isnum
  version: "$1"
  description: "is it a number? (is-number from npm)"
  input:
    schema:
      type: object
  output:
    schema:
      type: object
  dependencies:
    node: ">=18"
  entrypoint: ["node", "index.js"]
YAML
    cat >"$d/package.json" <<'JSON'
{
  "name": "isnum",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "is-number": "7.0.0"
  }
}
JSON
    cat >"$d/package-lock.json" <<'JSON'
{
  "name": "isnum",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "isnum",
      "version": "1.0.0",
      "dependencies": {
        "is-number": "7.0.0"
      }
    },
    "node_modules/is-number": {
      "version": "7.0.0",
      "resolved": "https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz",
      "integrity": "sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==",
      "engines": {
        "node": ">=0.12.0"
      }
    }
  }
}
JSON
    cat >"$d/index.js" <<'JS'
const isNumber = require("is-number");
const readline = require("readline");
const send = (m) => process.stdout.write(JSON.stringify(m) + "\n");
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  if (m.method === "initialize")
    return send({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion,
      capabilities: { tools: {} }, serverInfo: { name: "isnum", version: "1.0.0" } } });
  if (m.method === "tools/list")
    return send({ jsonrpc: "2.0", id: m.id, result: { tools: [{ name: "isnum",
      inputSchema: { type: "object" } }] } });
  if (m.method === "tools/call") {
    const out = { is_number: isNumber(m.params.arguments.value),
      node_path: process.env.NODE_PATH || null, resolved: require.resolve("is-number") };
    return send({ jsonrpc: "2.0", id: m.id, result: { structuredContent: out,
      content: [{ type: "text", text: JSON.stringify(out) }] } });
  }
  send({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "Method not found" } });
});
JS
    echo "$d"
}

v1=$(isnum 1.0.0)
atlas register --path "$v1" >"$T/reg1.out" 2>"$T/reg1.err" || { fail "register: $(cat "$T/reg1.err")"; finish; }
log "$(cat "$T/reg1.err")"
expect_contains "register prints npm ci's step" "$(cat "$T/reg1.err")" "build: npm ci ... done"
expect_contains "and the locked package with its integrity" "$(cat "$T/reg1.err")" \
    "is-number 7.0.0 sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741"
curl -s "$ATLAS_URL/api/v1/agents/isnum:1.0.0" >"$T/a1.json"
env1=$(j 'd["build"]["env"]' <"$T/a1.json")
expect_eq "the lock digest is package-lock.json's" "$(j 'd["build"]["lock_digest"]' <"$T/a1.json")" \
    "sha256:$(sha256sum "$v1/package-lock.json" | cut -d' ' -f1)"
expect_eq "is-number is installed in the environment" "$(cat "$env1/node_modules/is-number/package.json" | j 'd["version"]')" "7.0.0"
atlas --json run isnum --input '{"value": "42"}' >"$T/run1.json" 2>"$T/run1.err" || log "$(cat "$T/run1.err")"
expect_eq "the agent requires the package and answers with it" \
    "$(j '(d["is_number"], d["node_path"], d["resolved"])' <"$T/run1.json")" \
    "(True, '$env1/node_modules', '$env1/node_modules/is-number/index.js')"
expect_eq "and false for a word" "$(atlas --json run isnum --input '{"value": "abc"}' | j 'd["is_number"]')" "False"

v2=$(isnum 1.1.0)
atlas --json register --path "$v2" >"$T/reg2.json" 2>"$T/reg2.err" || log "$(cat "$T/reg2.err")"
expect_eq "the same lock reuses the environment" \
    "$(j '(d["build"]["status"], d["build"]["env"])' <"$T/reg2.json")" "('cached', '$env1')"

v3=$(isnum 2.0.0)
rm "$v3/package-lock.json"
run_rc rc atlas register --path "$v3"
expect_eq "a package.json with dependencies and no lock is refused" "$rc" "1"
expect_contains "saying npm ci needs one" "$(cat "$T/err")" "no package-lock.json"
expect_eq "and 1.1.0 is still the default" "$(curl -s "$ATLAS_URL/api/v1/agents/isnum" | j 'd["version"]')" "1.1.0"
v4=$(isnum 3.0.0)
sed -i 's/"private": true,/"private": true,\n  "type": "module",/' "$v4/package.json"
run_rc rc atlas register --path "$v4"
expect_eq "an ES-module agent's dependencies are refused" "$rc" "1"
expect_contains "as not supported yet" "$(cat "$T/err")" "not supported yet: installing the dependencies of an ES-module agent"
finish
