#!/bin/bash
# Push and pull of a 50 MB agent against a real OCI registry (Debian's
# docker-registry on loopback), side by side with `skopeo copy` of the same
# artifact in the same run (docs/performance.md "Distribution"), and a
# no-op pull of an agent already present.  Issue 14's targets: push and
# pull within 1.2x of skopeo's time; a no-op pull <= 20 ms.
#
#   bench/dist/run.sh            (ROUNDS=5 MB=50 BUILD=build)
#
# Each round pushes to a fresh repository (no blob is there yet; skopeo's to
# a fresh registry, where its blob cache cannot mount them), then pulls into
# an empty cache and a fresh data directory, alternating atlas and skopeo
# so the machine's load hits both alike.
set -eu
cd "$(dirname "$0")/../.."
SRC=$PWD
BIN=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
MB=${MB:-50}
for t in docker-registry skopeo; do
    command -v "$t" >/dev/null || { echo "bench/dist: $t is not installed (scripts/install-deps.sh test)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/atlas-bench-dist.XXXXXX")
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# start_registry NAME: a docker-registry of its own; prints host:port
start_registry() {
    local port
    port=$(free_port)
    mkdir -p "$T/$1"
    printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
        "$T/$1/data" "$port" >"$T/$1/config.yml"
    docker-registry serve "$T/$1/config.yml" >"$T/$1/log" 2>&1 &
    echo $! >>"$T/reg.pids"
    until curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; do sleep 0.05; done
    echo "127.0.0.1:$port"
}
trap 'for p in $PIDS $(cat "$T/reg.pids" 2>/dev/null); do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT
R=$(start_registry reg)

# an atlasd with a 50 MB agent (random bytes: gzip cannot shrink them)
start_atlasd() { # DATA: sets URL and TOKEN
    mkdir -p "$1"
    "$BIN/atlasd" --data "$1" --listen 127.0.0.1:0 >>"$T/atlasd.log" 2>&1 &
    PIDS="$PIDS $!"
    until [ -s "$1/atlasd.url" ]; do sleep 0.02; done
    URL=$(cat "$1/atlasd.url")
    TOKEN=$(cat "$1/admin.token")
}
mkdir -p "$T/agent"
cp -r "$SRC/examples/agents/word-count/." "$T/agent/"
sed -i 's/^  name: "word-count"/  name: "big"/' "$T/agent/agent.yaml"
head -c $((MB * 1024 * 1024)) /dev/urandom >"$T/agent/blob.bin"
start_atlasd "$T/data"
A() { ATLAS_URL=$URL ATLAS_TOKEN=$TOKEN ATLAS_OCI_CACHE=$T/cache ATLAS_REGISTRY_AUTH=$T/auth.json "$BIN/atlas" "$@"; }
A register --path "$T/agent" >/dev/null
VER=$(A --json describe big | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

printf 'round atlas_push_ms skopeo_push_ms atlas_pull_ms skopeo_pull_ms\n' >"$T/rows"
for i in $(seq 1 "$ROUNDS"); do
    # push: atlas to a new repository; skopeo copies that artifact to another new one
    t0=$(now_ms)
    A push "$R/bench/a$i:$VER" --agent "big:$VER" --quiet >/dev/null
    t1=$(now_ms)
    rm -rf "$T/oci"
    skopeo copy --quiet --src-tls-verify=false "docker://$R/bench/a$i:$VER" "oci:$T/oci:big" >/dev/null
    t2=$(now_ms)
    # to a registry of its own: skopeo's blob cache knows where this artifact's
    # blobs are on R and would mount them instead of uploading
    RS=$(start_registry "regs$i")
    t2=$(now_ms)
    skopeo copy --quiet --dest-tls-verify=false "oci:$T/oci:big" "docker://$RS/bench/s$i:$VER" >/dev/null
    t3=$(now_ms)
    # pull: atlas into an empty cache and a fresh daemon; skopeo into an empty layout
    rm -rf "$T/cache" "$T/pdata"
    start_atlasd "$T/pdata"
    t4=$(now_ms)
    A pull "$RS/bench/s$i:$VER" --quiet >/dev/null
    t5=$(now_ms)
    kill "${PIDS##* }" 2>/dev/null || true
    rm -rf "$T/oci2"
    t6=$(now_ms)
    skopeo copy --quiet --src-tls-verify=false "docker://$R/bench/a$i:$VER" "oci:$T/oci2:big" >/dev/null
    t7=$(now_ms)
    printf '%s %s %s %s %s\n' "$i" $((t1 - t0)) $((t3 - t2)) $((t5 - t4)) $((t7 - t6)) >>"$T/rows"
    URL=$(cat "$T/data/atlasd.url")
    TOKEN=$(cat "$T/data/admin.token")
done

# a no-op pull: the agent is there already (the same daemon, the same cache)
A pull "$R/bench/a1:$VER" --quiet >/dev/null
: >"$T/noop"
for _ in $(seq 1 20); do
    t0=$(now_ms)
    A pull "$R/bench/a1:$VER" --quiet >/dev/null
    t1=$(now_ms)
    echo $((t1 - t0)) >>"$T/noop"
done

mkdir -p bench/out
/usr/bin/python3 - "$T/rows" "$T/noop" "$MB" <<'PY' | tee bench/out/dist.txt
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
noop = sorted(int(x) for x in open(sys.argv[2]).read().split())
med = lambda c: statistics.median(int(r[c]) for r in rows)
print(f"{sys.argv[3]} MB agent, {len(rows)} rounds (median ms; ratio atlas/skopeo round by round)")
print("round  atlas push  skopeo push  ratio   atlas pull  skopeo pull  ratio")
for r in rows:
    print(f"{r[0]:>5}  {r[1]:>10}  {r[2]:>11}  {int(r[1])/int(r[2]):5.2f}   {r[3]:>10}  {r[4]:>11}  {int(r[3])/int(r[4]):5.2f}")
pr = statistics.median(int(r[1]) / int(r[2]) for r in rows)
lr = statistics.median(int(r[3]) / int(r[4]) for r in rows)
print(f"median push ratio {pr:.2f} (target <= 1.2: {'met' if pr <= 1.2 else 'not met'}), "
      f"pull ratio {lr:.2f} (target <= 1.2: {'met' if lr <= 1.2 else 'not met'})")
p50 = noop[len(noop) // 2]
print(f"no-op pull of an agent already present: p50 {p50} ms, max {noop[-1]} ms over {len(noop)} "
      f"(target <= 20 ms: {'met' if p50 <= 20 else 'not met'}; a whole `atlas` process each)")
PY
