#!/bin/bash
# The `atlas` command as a user meets it (docs/cli.md): tables that never cut
# names and keep long versions aligned, --json that is exactly the API's
# answer, empty names and ids refused before any request, `atlas logs` saying
# when a job logged nothing, and --help / unknown options on every command.
. "$(dirname "$0")/lib.sh"
start_daemon

# 64 characters: the longest name a contract allows (AT_AGENT_NAME_MAX)
LONG=an-agent-with-a-name-long-enough-to-overflow-any-fixed-column-xx
[ ${#LONG} -eq 64 ] || { log "LONG is ${#LONG} characters"; exit 1; }
LONGVER=1.10.0-beta.12+build.5
DESC="A description long enough that a table has to wrap it onto several lines instead of cutting it off at sixty columns with an ellipsis"

e1=$(copy_agent "$EXAMPLES/echo-c" e1)
e2=$(copy_agent "$EXAMPLES/echo-c" e2)
sed -i "s/^  version: .*/  version: \"$LONGVER\"/; s/^  description: .*/  description: \"$DESC\"/" "$e2/agent.yaml"
e3=$(copy_agent "$EXAMPLES/echo-c" e3)
# a description with escape sequences and a bell (YAML "\e", "\a")
sed -i 's/^  description: .*/  description: "evil \\e[31mred\\e[0m \\a bell"/' "$e3/agent.yaml"
run_rc rc atlas register --path "$e1" --name "$LONG"
expect_eq "register the long name" "$rc" 0
run_rc rc atlas register --path "$e2" --name "$LONG"
expect_eq "register the long version" "$rc" 0
atlas register --path "$e1" >/dev/null
run_rc rc atlas register --path "$e3" --name evil
expect_eq "register the escape-laden description" "$rc" 0

# ---- 1. tables never cut names; long versions align ----
run_rc rc atlas ls
expect_eq "atlas ls exits 0" "$rc" 0
cp "$T/out" "$T/ls.out"
expect_contains "ls shows the 64-character name whole" "$(cat "$T/ls.out")" "$LONG  "
expect_contains "ls shows the long version whole" "$(cat "$T/ls.out")" "$LONGVER"
# VERSION, and every version under it, start in one column
cols=$(/usr/bin/python3 - "$T/ls.out" "$LONG" "$LONGVER" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
head = lines[0]
v = head.index("VERSION")
rows = [l for l in lines[1:] if l.startswith(sys.argv[2] + " ") or l.startswith("echo-c ")]
print(v, sorted(set(l.index(l[v:].split()[0], v) for l in rows)), len(rows),
      any(sys.argv[3] in l for l in rows))
PY
)
expect_eq "versions align under VERSION" "$cols" "66 [66] 3 True"
# the description wraps: every word is there, no line is cut with "..."
words=$(/usr/bin/python3 - "$T/ls.out" "$DESC" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
d = text.splitlines()[0].index("DESCRIPTION")
got = " ".join(l[d:].strip() for l in text.splitlines()[1:] if len(l) > d)
print(sys.argv[2] in got, "..." in text, max(len(l[d:]) for l in text.splitlines()) <= 60)
PY
)
expect_eq "the long description wraps at 60 columns, whole" "$words" "True False True"
if grep -q "$(printf '\033')" "$T/ls.out" || grep -q "$(printf '\007')" "$T/ls.out"; then
    fail "a description's control characters reach the terminal"
else
    pass "control characters in a description are not printed"
fi
expect_contains "and the rest of it is" "$(cat "$T/ls.out")" "evil ?[31mred?[0m ? bell"

run_rc rc atlas search overflow
expect_contains "search shows the long name whole" "$(cat "$T/out")" "$LONG"

atlas run "$LONG:$LONGVER" --input '{"n": 1}' >/dev/null
atlas run "$LONG:1.0.0" --input '{"n": 2}' >/dev/null
job=$(atlas --json jobs --agent "$LONG" --limit 1 | j 'd["jobs"][0]["id"]')
run_rc rc atlas jobs
expect_contains "jobs shows the long name whole" "$(cat "$T/out")" "$LONG  "
run_rc rc atlas jobs --agent "$LONG"
expect_eq "jobs --agent LONG lists both runs" "$(grep -c "$LONG" "$T/out")" 2
run_rc rc atlas health
expect_contains "health's pools show the long name whole" "$(cat "$T/out")" "$LONG"
run_rc rc atlas trace
expect_contains "trace list shows the long name whole" "$(cat "$T/out")" "$LONG"
run_rc rc atlas trace "$job"
expect_eq "atlas trace ID exits 0" "$rc" 0
expect_contains "the waterfall shows the long name whole" "$(cat "$T/out")" "$LONG"
expect_contains "and its bar" "$(cat "$T/out")" "completed |"
run_rc rc atlas costs --by job
expect_eq "atlas costs exits 0" "$rc" 0
expect_contains "costs has a total row" "$(cat "$T/out")" "total"

# ---- 2. --json is the API's answer, byte for byte after parsing ----
same_json() { # NAME API-PATH CLI-ARGS...
    name=$1 path=$2
    shift 2
    curl -sS "$ATLAS_URL$path" >"$T/api.json"
    "$BIN/atlas" --json "$@" >"$T/cli.json" 2>/dev/null || true
    verdict=$(/usr/bin/python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
print("same" if a == c else "differs: api %s cli %s" % (json.dumps(a)[:200], json.dumps(c)[:200]))
' "$T/api.json" "$T/cli.json" 2>&1)
    expect_eq "--json $name is the API's body" "$verdict" "same"
}
same_json "ls" /api/v1/agents ls
same_json "ls NAME" "/api/v1/agents?name=$LONG" ls "$LONG"
same_json "search" "/api/v1/search?q=overflow" search overflow
same_json "describe" "/api/v1/agents/$LONG" describe "$LONG"
same_json "jobs" "/api/v1/jobs?limit=5" jobs --limit 5
same_json "job" "/api/v1/jobs/$job" job "$job"
same_json "trace list" "/api/v1/traces?limit=5" trace --limit 5
same_json "trace ID" "/api/v1/traces/$job" trace "$job"
same_json "logs" "/api/v1/jobs/$job/logs" logs "$job"
same_json "costs" "/api/v1/costs?by=agent" costs --by agent
same_json "chain ls" /api/v1/chains chain ls
same_json "eval ls" /api/v1/evals eval ls
same_json "eval results" /api/v1/evals/results eval results
same_json "orchestrator show" /api/v1/orchestrator orchestrator show
# the shapes scripts rely on (docs/api.md): objects, not bare lists
expect_eq "jobs --json has jobs" "$(atlas jobs --json | j '"jobs" in d and isinstance(d["jobs"], list)')" "True"
expect_eq "ls --json has agents" "$(atlas ls --json | j '"agents" in d')" "True"
expect_eq "search --json has agents" "$(atlas --json search overflow | j '"agents" in d')" "True"
expect_eq "chain ls --json has chains" "$(atlas chain --json ls | j '"chains" in d')" "True"
expect_eq "eval ls --json has evals" "$(atlas eval ls --json | j '"evals" in d')" "True"
expect_eq "trace --json has traces" "$(atlas trace --json | j '"traces" in d')" "True"
expect_eq "logs --json has lines" "$(atlas logs "$job" --json 2>/dev/null | j '"lines" in d')" "True"
expect_eq "health --json has the same keys" \
    "$(atlas --json health | j 'sorted(d)')" "$(curl -sS "$ATLAS_URL/api/v1/health" | j 'sorted(d)')"
run_rc rc atlas --json job no-such-job
expect_eq "--json of a problem: exit 1" "$rc" 1
expect_eq "--json of a problem: the problem object" "$(j 'd["status"]' <"$T/out")" "404"

# ---- 3. an empty name or id is a usage error; no request is sent ----
# (against a URL where nothing listens: a request would exit 3)
empty_refused() {
    set +e
    "$BIN/atlas" --url http://127.0.0.1:1 "$@" >"$T/out" 2>"$T/err"
    erc=$?
    set -e
    if [ "$erc" = 2 ] && grep -q "must not be empty" "$T/err" && [ ! -s "$T/out" ]; then
        pass "atlas $* is refused"
    else
        fail "atlas $*: exit $erc, stderr [$(cat "$T/err")]"
    fi
}
empty_refused trace ""
empty_refused run ""
empty_refused describe ""
empty_refused job ""
empty_refused logs ""
empty_refused logs "" --follow
empty_refused cancel ""
empty_refused unregister ""
empty_refused ls ""
empty_refused search ""
empty_refused register ""
empty_refused register --path ""
empty_refused jobs --agent ""
empty_refused jobs --state=
empty_refused trace --agent ""
empty_refused costs --job ""
empty_refused chain describe ""
empty_refused chain run ""
empty_refused chain unregister ""
empty_refused chain register ""
empty_refused eval show ""
empty_refused eval rm ""
empty_refused eval register ""
empty_refused eval run "" --job "$job"
empty_refused eval run x --job ""
empty_refused eval results --job ""
empty_refused orchestrator set ""
empty_refused orchestrator reset --chain ""
# and against the daemon, `atlas trace ""` is not the list of traces
run_rc rc atlas trace ""
expect_eq "atlas trace \"\" exits 2 against the daemon too" "$rc" 2
expect_eq "and prints nothing on stdout" "$(cat "$T/out")" ""

# ---- 4. atlas logs says when a job has no log lines ----
run_rc rc atlas logs "$job"
expect_eq "logs of a silent job exits 0" "$rc" 0
expect_eq "prints no lines" "$(cat "$T/out")" ""
expect_contains "says so on stderr" "$(cat "$T/err")" "job $job has no log lines"
run_rc rc atlas logs "$job" --follow
expect_eq "logs --follow of a finished silent job exits 0" "$rc" 0
expect_contains "says so on stderr" "$(cat "$T/err")" "job $job ended without log lines"
# follow a running job that ends without a line
atlas register --path "$AGENTS/slow" >/dev/null
sjob=$(atlas run slow --input '{"ms": 1500}' --async)
run_rc rc atlas logs "$sjob" --follow
expect_eq "logs --follow of a silent running job exits 0 when it ends" "$rc" 0
expect_eq "the job had ended" "$(atlas --json job "$sjob" | j 'd["state"]')" "completed"
expect_contains "and says it logged nothing" "$(cat "$T/err")" "job $sjob ended without log lines"
run_rc rc atlas logs no-such-job
expect_eq "logs of an unknown job exits 1" "$rc" 1
expect_contains "with the daemon's reason" "$(cat "$T/err")" "no-such-job"
run_rc rc atlas logs no-such-job --follow
expect_eq "logs --follow of an unknown job exits 1" "$rc" 1
expect_contains "with the daemon's reason" "$(cat "$T/err")" "no-such-job"

# ---- 5. --help everywhere (exit 0, usage on stdout); unknown options exit 2 ----
while IFS= read -r cmd; do
    # shellcheck disable=SC2086
    set +e
    "$BIN/atlas" $cmd --help >"$T/out" 2>"$T/err"
    hrc=$?
    # shellcheck disable=SC2086
    "$BIN/atlas" --url http://127.0.0.1:1 $cmd --no-such-option >"$T/bout" 2>"$T/berr"
    brc=$?
    set -e
    if [ "$hrc" = 0 ] && grep -q "^usage: atlas" "$T/out"; then
        pass "atlas $cmd --help"
    else
        fail "atlas $cmd --help: exit $hrc, stdout [$(head -c 200 "$T/out")]"
    fi
    if [ "$brc" = 2 ] && grep -q "usage: atlas" "$T/berr" && [ ! -s "$T/bout" ]; then
        pass "atlas $cmd --no-such-option exits 2 with the usage"
    else
        fail "atlas $cmd --no-such-option: exit $brc, stderr [$(head -c 200 "$T/berr")]"
    fi
    case $cmd in
    mcp) ;; # `atlas mcp` prints its usage only (src/cli/cmd_mcp.c)
    *) grep -q 'unknown option "--no-such-option"' "$T/berr" &&
        pass "atlas $cmd names the unknown option" ||
        fail "atlas $cmd --no-such-option: [$(head -c 200 "$T/berr")]" ;;
    esac
done <<'CMDS'
register
review
rate
unregister
ls
describe
search
run
jobs
job
cancel
health
chain
chain register
chain ls
chain describe
chain run
chain unregister
orchestrator
orchestrator set
orchestrator reset
orchestrator show
route
trace
logs
costs
eval
eval register
eval ls
eval show
eval rm
eval run
eval results
mcp
CMDS
run_rc rc atlas --help
expect_eq "atlas --help exits 0" "$rc" 0
run_rc rc atlas help jobs
expect_eq "atlas help jobs exits 0" "$rc" 0
expect_contains "and is jobs' usage" "$(cat "$T/out")" "usage: atlas jobs"
run_rc rc atlas jobs -x
expect_eq "an unknown short option exits 2" "$rc" 2
expect_contains "and is named" "$(cat "$T/err")" 'unknown option "-x"'
run_rc rc atlas jobs --agent
expect_eq "an option without its value exits 2" "$rc" 2
expect_contains "and says so" "$(cat "$T/err")" "--agent needs a value"
run_rc rc atlas no-such-command
expect_eq "an unknown command exits 2" "$rc" 2
run_rc rc atlas cancel "$job" --json
expect_eq "cancel takes --json after the id (a finished job: 409, exit 1)" "$rc" 1
expect_eq "and prints the problem as JSON" "$(j 'd["status"]' <"$T/out")" "409"

finish
