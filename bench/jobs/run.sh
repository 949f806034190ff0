#!/bin/sh
# The runs list at 100,000 jobs: API pages against the bare SQLite query
# (docs/performance.md "Paging the runs list").
set -eu
cd "$(dirname "$0")/../.."
mkdir -p bench/out
/usr/bin/python3 bench/jobs/paging.py "${BUILD:-build}" "${N:-100000}" "${REPEAT:-50}" | tee bench/out/jobs.txt
