#!/bin/sh
# Placement decisions on 10 / 100 / 1,000 / 10,000 simulated nodes
# (bench/sched/bench.c, docs/performance.md "Scheduling").
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
[ -x "$B/bench/bench_sched" ] || cmake --build "$B" --target bench_sched >/dev/null
mkdir -p bench/out
"$B/bench/bench_sched" "${N:-20000}" | tee bench/out/sched.txt
