#!/bin/sh
# Cold start added by atlas-init and the agent sandbox (docs/performance.md).
# cold.py: /bin/true started directly, through atlas-init, and through
# bubblewrap by hand; bench_sandbox_cold (cold.c): the sandbox exactly as
# atlasd builds and starts it (at_sandbox_build + at_proc_spawn).
set -eu
cd "$(dirname "$0")/../.."
command -v bwrap >/dev/null || { echo "bench/sandbox: bwrap missing, skipped" >&2; exit 0; }
B=${BUILD:-build}
[ -x "$B/bench/bench_sandbox_cold" ] || cmake --build "$B" --target bench_sandbox_cold >/dev/null
mkdir -p bench/out
{
    /usr/bin/python3 bench/sandbox/cold.py "$B" "${N:-100}"
    "$B/bench/bench_sandbox_cold" "${N:-100}"
} | tee bench/out/sandbox.txt
