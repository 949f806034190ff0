#!/bin/bash
# bench/gateway/run.sh - the model gateway's added latency, throughput and
# memory, measured against calling the same upstream directly.
#
# A fast stand-in upstream (upstream.c: one thread, epoll, fixed answers)
# serves both paths, so the difference is the gateway.  loadgen.c drives
# closed-loop keep-alive clients: 1 and 64 concurrent, non-streamed and
# streamed (time to first byte of the stream = TTFT).  Prints a table and
# the ratios; never fails on absolute numbers.
#
# Env: ATLAS_BUILD_DIR (default build), SECS (seconds per run, default 5).
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ATLAS_BUILD_DIR:-$SRC/build}
SECS=${SECS:-5}
T=$(mktemp -d "${TMPDIR:-/tmp}/atlas-bench-gw.XXXXXX")
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT
cc -O2 -o "$T/upstream" "$SRC/bench/gateway/upstream.c"
cc -O2 -o "$T/loadgen" "$SRC/bench/gateway/loadgen.c"

"$T/upstream" "$T/up.port" & PIDS="$PIDS $!"
while [ ! -s "$T/up.port" ]; do sleep 0.05; done
UP=$(cat "$T/up.port")
cat >"$T/atlas.config.yaml" <<YAML
log_level: warn
models:
  backends:
    standin:
      base_url: "http://127.0.0.1:$UP/v1"
      max_concurrency: 128
      models: ["stand-in"]
      prices: {"stand-in": {input_per_mtok: 0.1, output_per_mtok: 0.2}}
  tiers:
    fast: ["stand-in"]
YAML
"$BIN/atlasd" --data "$T/data" --listen 127.0.0.1:0 --config "$T/atlas.config.yaml" \
    >"$T/atlasd.log" 2>&1 & APID=$!
PIDS="$PIDS $APID"
while [ ! -s "$T/data/atlasd.url" ]; do sleep 0.05; done
GW=$(sed 's/.*://' "$T/data/atlasd.url")
ATLAS_TOKEN=$(cat "$T/data/admin.token") # every TCP request needs it
export ATLAS_TOKEN
printf '{"model":"atlas:fast","messages":[{"role":"user","content":"Say hello."}]}' >"$T/plain.json"
printf '{"model":"atlas:fast","stream":true,"messages":[{"role":"user","content":"Say hello."}]}' >"$T/stream.json"
# the direct path names the upstream's model itself
sed 's/atlas:fast/stand-in/' "$T/plain.json" >"$T/plain-d.json"
sed 's/atlas:fast/stand-in/' "$T/stream.json" >"$T/stream-d.json"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$APID/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$APID/status"; }
idle_rss=$(rss_kb)

run() { # NAME PORT BODY C
    "$T/loadgen" "$2" /v1/chat/completions "$T/$3" "$4" "$SECS" 0.5 >"$T/$1.json"
}
for c in 1 64; do
    run "direct-plain-$c" "$UP" plain-d.json $c
    run "gw-plain-$c" "$GW" plain.json $c
    run "direct-stream-$c" "$UP" stream-d.json $c
    run "gw-stream-$c" "$GW" stream.json $c
done
load_rss=$(rss_kb)
peak_rss=$(hwm_kb)
calls=$(curl -s -H "Authorization: Bearer $ATLAS_TOKEN" "http://127.0.0.1:$GW/v1/atlas/stats" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"])')

/usr/bin/python3 - "$T" "$idle_rss" "$load_rss" "$peak_rss" "$calls" "$(nproc)" <<'PY'
import json, sys
t, idle, load, peak, calls, cpus = sys.argv[1:]
r = lambda n: json.load(open(f"{t}/{n}.json"))
print(f"Model gateway benchmark ({cpus} CPUs; stand-in upstream; closed loop, keep-alive)\n")
print("| clients | mode | direct p50 | gateway p50 | added p50 | direct p99 | gateway p99 | direct req/s | gateway req/s | gateway/direct req/s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for c in (1, 64):
    for mode in ("plain", "stream"):
        d, g = r(f"direct-{mode}-{c}"), r(f"gw-{mode}-{c}")
        key = "p50_us" if mode == "plain" else "ttft_p50_us"
        key99 = "p99_us" if mode == "plain" else "ttft_p99_us"
        label = "non-streamed (latency)" if mode == "plain" else "streamed (TTFT)"
        print(f"| {c} | {label} | {d[key]} µs | {g[key]} µs | {g[key]-d[key]} µs | {d[key99]} µs | "
              f"{g[key99]} µs | {d['rps']:.0f} | {g['rps']:.0f} | {g['rps']/max(d['rps'],1):.2f} |")
        if g["errors"] or d["errors"]:
            print(f"  errors: direct {d['errors']}, gateway {g['errors']}")
print(f"\natlasd RSS: {int(idle)/1024:.1f} MiB idle, {int(load)/1024:.1f} MiB after the runs, "
      f"peak {int(peak)/1024:.1f} MiB; {calls} calls through the gateway (each recorded in the store)")
PY
