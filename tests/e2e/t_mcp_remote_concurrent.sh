#!/bin/bash
# Remote agents under concurrency, through atlasd's own /mcp: an official
# TypeScript SDK client (1.x and 2.x) makes N concurrent tools/call of a
# remote agent in one session, with progress requested, against a remote
# server in session mode (TS SDK 1.x: ids must be unique in the session)
# and a stateless one (TS SDK 2.x).  Every call must succeed and get the
# remote's progress; an aborted call's cancellation reaches the remote.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/interop/lib.sh"
need_interop

PIDS=""
stop_servers() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_servers; cleanup' EXIT

start_daemon
start_ts v1 0
V1_URL=$TS_URL
atlas register --remote "$TS_URL" --name slow-v1 --tool slow >/dev/null
atlas register --remote "$TS_URL" --name ask-v1 --tool ask >/dev/null
atlas register --remote "$TS_URL" --name probe-v1 --tool probe >/dev/null
atlas register --remote "$TS_URL" --name meta-v1 --tool meta >/dev/null
atlas register --remote "$TS_URL" --name meta-trusted --tool meta --trust-platform >/dev/null
start_ts v2 0
atlas register --remote "$TS_URL" --name slow-v2 --tool slow >/dev/null
atlas register --remote "$TS_URL" --name ask-v2 --tool ask >/dev/null

# client: SDK line, N
run_conc() {
    set +e
    # every TCP request needs a token: a preload adds it to the client's fetches
    (cd "$INTEROP" && NODE_OPTIONS="--require $SRC/tests/interop/auth-fetch.cjs" \
        timeout 120 "$NODE22" concurrent.mjs "$@") >"$T/conc.txt" 2>&1
    local rc=$?
    set -e
    while IFS= read -r line; do
        case "$line" in
        "ok   - "*) pass "${line#ok   - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        esac
    done <"$T/conc.txt"
    [ $rc -eq 0 ] || { fail "concurrent.mjs $* exited $rc"; tail -n 20 "$T/conc.txt" >&2; }
}

for sdk in v1 v2; do
    for agent in slow-v1 slow-v2; do
        for n in 6 16; do
            run_conc "$sdk" "$ATLAS_URL" "$agent" "$n"
        done
    done
done

# cancellation reaches the remote: a session-mode one is sent
# notifications/cancelled, a stateless one sees its stream closed
for mode in v1 v2; do
    run_conc v1 "$ATLAS_URL" "slow-$mode" 1 cancel
    i=0
    until grep -q cancelled "$T/ts-$mode.out"; do
        i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
    done
    expect_eq "the $mode remote saw the cancellation" "$(grep -c cancelled "$T/ts-$mode.out")" 1
done

# server-to-client requests of a session-mode remote: ping and roots/list
# are answered, an elicitation is relayed to the MCP client that started
# the job; a 2026-07-28 input_required result is relayed the same way (or
# fails clearly when the client cannot be asked)
run_conc v1 "$ATLAS_URL" probe-v1 1 probe
for agent in ask-v1 ask-v2; do
    for sdk in v1 v2; do
        run_conc "$sdk" "$ATLAS_URL" "$agent" 1 ask
    done
done
# the remote server is a third party: it gets the job id (progress), never
# the job's token
run_rc rc atlas run meta-v1 --input '{}'
expect_eq "atlas run meta-v1" "$rc" 0
expect_eq "a remote server gets no job token" "$(j 'd["keys"]' <"$T/out")" "['io.atlas/jobId', 'progressToken']"
run_rc rc atlas run meta-trusted --input '{}'
expect_eq "a server registered with --trust-platform gets it" "$(j 'd["keys"]' <"$T/out")" "['io.atlas/jobId', 'io.atlas/token', 'progressToken']"
finish
