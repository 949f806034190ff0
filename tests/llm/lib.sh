# lib.sh - helpers for the model gateway's end-to-end tests (tests/e2e/t_llm*.sh):
# real llama-server instances serving tiny generated models, fault-injecting
# proxies in front of them, and atlasd configured to use them.
# Source after tests/e2e/lib.sh.

LLM_DIR=$SRC/tests/llm
PY=/usr/bin/python3
LLAMA_PIDS=
PROXY_PIDS=

llm_cleanup() {
    for p in $PROXY_PIDS $LLAMA_PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PROXY_PIDS $LLAMA_PIDS; do wait "$p" 2>/dev/null || true; done
    cleanup
}
trap llm_cleanup EXIT

# llm_require: find llama-server (waiting for a build in progress) or skip.
llm_require() {
    LLAMA_SERVER=${ATLAS_LLAMA_SERVER:-}
    if [ -z "$LLAMA_SERVER" ]; then
        LLAMA_SERVER=$("$LLM_DIR/build-llama-server.sh" --wait 2>/dev/null) || {
            log "SKIP: llama-server is not built (tests/llm/build-llama-server.sh)"
            exit 77
        }
    fi
}

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_llama NAME REPLY: a llama-server for model NAME; sets PORT_<NAME>
start_llama() {
    name=$1 reply=$2
    $PY "$LLM_DIR/make-gguf.py" "$T/$name.gguf" --reply "$reply" --name "$name"
    port=$(free_port)
    "$LLAMA_SERVER" -m "$T/$name.gguf" --host 127.0.0.1 --port "$port" -c 16384 -np 8 \
        --alias "$name" --jinja -t 1 >"$T/llama-$name.log" 2>&1 &
    LLAMA_PIDS="$LLAMA_PIDS $!"
    i=0
    until curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 300 ]; then log "llama-server $name did not start"; tail "$T/llama-$name.log" >&2; exit 1; fi
        sleep 0.05
    done
    eval "PORT_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)=$port"
}

# start_proxy NAME UPSTREAM_URL: sets PROXY_<NAME> to the proxy's base URL
start_proxy() {
    name=$1 up=$2
    rm -f "$T/proxy-$name.port"
    $PY "$LLM_DIR/faultproxy.py" --upstream "$up" --port-file "$T/proxy-$name.port" \
        >"$T/proxy-$name.log" 2>&1 &
    PROXY_PIDS="$PROXY_PIDS $!"
    i=0
    while [ ! -s "$T/proxy-$name.port" ]; do
        i=$((i + 1))
        [ $i -gt 200 ] && { log "proxy $name did not start"; exit 1; }
        sleep 0.05
    done
    eval "PROXY_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)=http://127.0.0.1:$(cat "$T/proxy-$name.port")"
}

# fault PROXY_URL JSON
fault() { curl -sf -X POST -d "$2" "$1/__fault" >/dev/null; }
pstat() { curl -sf "$1/__stats"; }

# chat BODY [curl args]: POST /v1/chat/completions, "STATUS BODY" in HTTP_CODE/HTTP_BODY
chat() { http POST /v1/chat/completions "$@"; }

# wait_usage_calls N: until the store has N usage records
wait_usage_calls() {
    i=0
    while :; do
        n=$(curl -sf "$ATLAS_URL/v1/atlas/usage" | j 'sum(r["calls"] for r in d["usage"])')
        [ "$n" -ge "$1" ] && return 0
        i=$((i + 1))
        [ $i -gt 200 ] && return 1
        sleep 0.05
    done
}

# llm_finish: stop the daemon, fail on any sanitizer report in its log (the
# ASan build's leaks show only at exit), then the usual summary.
llm_finish() {
    if [ -n "$DAEMON_PID" ]; then stop_daemon; fi
    if grep -q "Sanitizer" "$T/atlasd.log" 2>/dev/null; then
        fail "sanitizer report in atlasd.log"
        grep -A 30 "Sanitizer" "$T/atlasd.log" | head -60 >&2
    else
        pass "no sanitizer report in atlasd.log"
    fi
    finish
}
