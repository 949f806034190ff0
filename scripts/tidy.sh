#!/bin/sh
# clang-tidy over src/ with the checked-in .clang-tidy (bug-finding checks);
# fails on any finding.  Uses $BUILD/compile_commands.json (default build/,
# the plain build).  A file found clean is remembered in $BUILD/tidy-cache
# under a key of its text, every header of src/, .clang-tidy and the
# clang-tidy version, so a warm run checks only what changed.
# A finding is fixed, or silenced on its line with NOLINT(check) and the
# reason beside it.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
command -v clang-tidy >/dev/null 2>&1 || { echo "tidy: clang-tidy is not installed" >&2; exit 1; }
[ -f "$BUILD/compile_commands.json" ] ||
    { echo "tidy: no $BUILD/compile_commands.json (build first)" >&2; exit 1; }
TIDY_CACHE=$BUILD/tidy-cache
mkdir -p "$TIDY_CACHE"
common=$( (clang-tidy --version; cat .clang-tidy; git ls-files 'src/*.h' | sort | xargs cat) |
    sha256sum | cut -c1-32)
todo=$(for f in $(git ls-files 'src/*.c'); do
    k=$( (echo "$common"; cat "$f") | sha256sum | cut -c1-32)
    [ -e "$TIDY_CACHE/$k" ] || echo "$f:$k"
done)
n=$(git ls-files 'src/*.c' | wc -l)
if [ -z "$todo" ]; then
    echo "tidy: ok ($n files, all unchanged since they were found clean)"
    exit 0
fi
export BUILD TIDY_CACHE
# shellcheck disable=SC2016
if echo "$todo" | xargs -P "$JOBS" -n 1 sh -c '
    f=${1%%:*} k=${1##*:}
    clang-tidy -p "$BUILD" --quiet --extra-arg=-Wno-unknown-warning-option "$f" \
        >"$TIDY_CACHE/$k.out" 2>&1 || true
    if grep -qE "(warning|error): " "$TIDY_CACHE/$k.out"; then
        grep -vE "^[0-9]+ (warnings?|errors?)( and [0-9]+ errors?)? generated" "$TIDY_CACHE/$k.out"
        rm -f "$TIDY_CACHE/$k.out"
        exit 1
    fi
    mv "$TIDY_CACHE/$k.out" "$TIDY_CACHE/$k"' sh; then
    echo "tidy: ok ($n files)"
    exit 0
fi
echo "tidy: findings above (fix them, or NOLINT(check) on the line with the reason)" >&2
exit 1
