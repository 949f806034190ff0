#!/bin/sh
# Cold start added by atlas-init and the agent sandbox (docs/performance.md).
set -eu
cd "$(dirname "$0")/../.."
command -v bwrap >/dev/null || { echo "bench/sandbox: bwrap missing, skipped" >&2; exit 0; }
mkdir -p bench/out
/usr/bin/python3 bench/sandbox/cold.py "${BUILD:-build}" "${N:-100}" | tee bench/out/sandbox.txt
