#!/bin/sh
# `make bench`: every benchmark, each against its peer in the same run.
# Results are printed and written under bench/out/; see docs/performance.md.
set -eu
cd "$(dirname "$0")/.."
for b in dispatch chain mcp gateway sandbox sched a2a jobs triggers skills; do
    if [ -x "bench/$b/run.sh" ]; then
        echo "== bench/$b"
        "bench/$b/run.sh" || echo "bench/$b failed" >&2
    fi
done
