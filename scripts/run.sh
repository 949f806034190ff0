#!/bin/sh
# `make run`: start atlasd in the foreground on its embedded default (SQLite
# in the data directory) and register the example agents once it is ready.
set -eu
cd "$(dirname "$0")/.."
./scripts/npm-deps.sh
listen=${ATLAS_LISTEN:-127.0.0.1:7070}
url="http://$listen"
(
    # wait for the daemon, then register every example agent
    i=0
    until curl -fsS "$url/api/v1/health/ready" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "run: atlasd did not come up" >&2; exit 1; }
        sleep 0.1
    done
    for dir in examples/agents/*/; do
        [ -f "$dir/agent.yaml" ] || continue
        ./build/atlas --url "$url" register --path "$dir" || true
    done
    for f in examples/chains/*.yaml; do
        [ -f "$f" ] && ./build/atlas --url "$url" chain register "$f" || true
    done
    echo "run: ready: try  build/atlas --url $url ls" >&2
) &
exec ./build/atlasd --listen "$listen" "$@"
