#!/bin/sh
# run.sh FUZZER CORPUS SECONDS - a short libFuzzer run seeded by the in-tree
# corpus (ATLAS_FUZZ_SECONDS in the environment overrides SECONDS: `make fuzz`).  New inputs go to a scratch copy so the tree is not modified;
# a crash leaves its reproducer in the scratch directory and fails the test.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fuzzer=$(readlink -f "$1")
corpus=$(readlink -f "$2" 2>/dev/null || echo "$2")
secs=${ATLAS_FUZZ_SECONDS:-$3}
work=$(mktemp -d "${TMPDIR:-/tmp}/atlas-fuzz.XXXXXX")
mkdir -p "$work/corpus"
[ -d "$corpus" ] && cp -r "$corpus/." "$work/corpus/" 2>/dev/null || true
cd "$work"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$here/../lsan.supp"
if "$fuzzer" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1; then
    tail -n 12 "$work/log"
    rm -rf "$work"
    exit 0
fi
tail -n 60 "$work/log"
echo "fuzz: failure; artifacts kept in $work" >&2
exit 1
