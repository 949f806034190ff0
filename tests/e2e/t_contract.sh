#!/bin/bash
# agent.yaml is checked at registration: every problem names file:line:col
# and the key, and nothing invalid gets into the registry.
. "$(dirname "$0")/lib.sh"
start_daemon

mk() { # mk NAME: a copy of word-count whose agent.yaml the test rewrites
    d=$(copy_agent "$EXAMPLES/word-count" "$1")
    echo "$d"
}

d=$(mk badyaml)
printf 'agent:\n  name: "x"\n  version: [1, 2\n' >"$d/agent.yaml"
run_rc rc atlas register --path "$d"
expect_eq "bad YAML is refused" "$rc" 1
expect_contains "bad YAML names the file and line" "$(cat "$T/err")" "$d/agent.yaml:4:1: invalid YAML: flow sequence without a closing bracket"

d=$(mk unknownkey)
sed -i 's/^  description:/  colour: "blue"\n  description:/' "$d/agent.yaml"
run_rc rc atlas register --path "$d"
expect_eq "unknown key is refused" "$rc" 1
expect_contains "unknown key is located" "$(cat "$T/err")" "agent.yaml:7:3: agent.colour: unknown key \"colour\""

d=$(mk wrongtype)
sed -i 's/^    spawn_agents: false/    spawn_agents: "yes"/' "$d/agent.yaml"
run_rc rc atlas register --path "$d"
expect_contains "wrong type names the key" "$(cat "$T/err")" "agent.requires.spawn_agents: expected true or false, got string"
expect_contains "wrong type has a line:col" "$(cat "$T/err")" "agent.yaml:53:19:"

d=$(mk badsemver)
sed -i 's/^  version: "1.0.0"/  version: "1.0"/' "$d/agent.yaml"
run_rc rc atlas register --path "$d"
expect_contains "bad semver" "$(cat "$T/err")" "agent.version: \"1.0\" is not a semantic version"

d=$(mk badschema)
/usr/bin/python3 - "$d/agent.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("type: string\n          description: \"The text to count\"", "type: strng\n          description: \"The text to count\"", 1)
open(p, "w").write(s)
PY
run_rc rc atlas register --path "$d"
expect_eq "bad JSON Schema is refused" "$rc" 1
expect_contains "bad JSON Schema is located" "$(cat "$T/err")" "agent.input.schema.properties.text.type"

d=$(mk badenum)
sed -i 's/^  version: "1.0.0"/  version: "1.0.0"\n  model:\n    preference: "fastest"/' "$d/agent.yaml"
run_rc rc atlas register --path "$d"
expect_contains "enum values are checked" "$(cat "$T/err")" "\"fastest\" is not one of: fast, balanced, powerful"

d=$(mk noentry)
rm "$d/agent.py"
run_rc rc atlas register --path "$d"
expect_contains "an agent needs a way to start" "$(cat "$T/err")" "add \`entrypoint:\`"

run_rc rc atlas register --path "$T/does-not-exist"
expect_eq "missing directory is a usage error" "$rc" 2

d=$(mk nocontract)
rm "$d/agent.yaml"
run_rc rc atlas register --path "$d"
expect_contains "directory without agent.yaml" "$(cat "$T/err")" "no agent.yaml"

run_rc rc atlas register --path "$AGENTS/pydep"
expect_eq "unsatisfied dependencies.python is refused" "$rc" 1
expect_contains "dependency error says what was found" "$(cat "$T/err")" "requires \">=9.0\" but python3 is Python 3."

# every key of the spec's agent.yaml is accepted (the summarizer is the spec's)
run_rc rc atlas register --path "$EXAMPLES/summarizer"
expect_eq "the spec's agent.yaml registers" "$rc" 0
atlas --json describe summarizer >"$T/desc"
expect_eq "describe shows hardware" "$(j 'd["hardware"]["min_memory_gb"]' <"$T/desc")" "1"
expect_eq "describe shows requires" "$(j 'd["requires"]["spawn_agents"]' <"$T/desc")" "False"
expect_eq "describe shows dependencies" "$(j 'd["dependencies"]["python"]' <"$T/desc")" ">=3.11"
expect_eq "describe shows lifecycle" "$(j 'd["lifecycle"]["startup"]' <"$T/desc")" "on_startup"

run_rc rc atlas ls --json
expect_eq "nothing invalid was registered" "$(j 'sorted(a["name"] for a in d["agents"])' <"$T/out")" "['summarizer']"

# problem+json over HTTP carries the location too
http POST /api/v1/agents "{\"path\": \"$T/unknownkey\"}"
expect_eq "HTTP status of a bad contract" "$HTTP_CODE" 400
expect_eq "problem type" "$(echo "$HTTP_BODY" | j 'd["type"]')" "urn:atlas:error:invalid-argument"
expect_eq "problem line" "$(echo "$HTTP_BODY" | j 'd["line"]')" "7"

finish
