#!/bin/sh
# `make check`: install what is missing, build, and run every test twice:
# the plain build (gcc, -Werror) and the sanitizer build (clang, ASan+UBSan,
# with libFuzzer targets running briefly).  Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
log=$(mktemp -d "${TMPDIR:-/tmp}/atlas-check.XXXXXX")
fail_setup() { echo "check: $1" >&2; echo "0 passed, 1 failed"; exit 1; }

./scripts/install-deps.sh test || fail_setup "installing dependencies failed"
./scripts/npm-deps.sh || fail_setup "installing npm packages failed"
# llama-server for the model gateway's tests: built once (about 5 minutes on
# 2 cores) and cached outside the clone; it builds beside ours, and the tests
# that need it wait for it (tests/llm/build-llama-server.sh --wait).
tests/llm/build-llama-server.sh >"$log/llama-build.txt" 2>&1 &
./scripts/checksrc.sh || fail_setup "banned calls in the sources"

echo "== plain build (gcc, -Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATLAS_WERROR=ON >/dev/null &&
    cmake --build build -j "$JOBS" || fail_setup "the plain build failed"

echo "== sanitizer build (clang, ASan+UBSan, libFuzzer)"
CC=clang cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DATLAS_SANITIZE=ON \
    -DATLAS_FUZZ=ON -DATLAS_WERROR=ON >/dev/null &&
    cmake --build build-asan -j "$JOBS" || fail_setup "the sanitizer build failed"

status=0
echo "== tests: plain build"
(cd build && ctest -j "$JOBS" --output-on-failure --timeout 600) 2>&1 | tee "$log/plain.txt"
echo "== tests: sanitizer build"
(cd build-asan && ctest -j "$JOBS" --output-on-failure --timeout 900) 2>&1 | tee "$log/asan.txt"

passed=0 failed=0
for f in "$log/plain.txt" "$log/asan.txt"; do
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$f" | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        continue
    fi
    nf=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    nt=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/')
    passed=$((passed + nt - nf))
    failed=$((failed + nf))
done
rm -rf "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
