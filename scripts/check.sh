#!/bin/sh
# `make check`: install what is missing, build, lint, and run the tests in
# three passes: the plain build (gcc, -Werror), the sanitizer build (clang,
# ASan+UBSan, with libFuzzer targets running briefly) and the
# ThreadSanitizer build (clang, the tests labelled tsan: engine, store,
# gateway, MCP).  The lint steps (checksrc, format, clang-tidy, the
# llama-server build the model tests need) count as one test each.  Ends
# with "N passed, N failed" summing everything.
set -u
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
log=$(mktemp -d "${TMPDIR:-/tmp}/atlas-check.XXXXXX")
fail_setup() { echo "check: $1" >&2; echo "0 passed, 1 failed"; exit 1; }
t_start=$(date +%s)
lint_pass=0 lint_fail=0

# step NAME CMD...: one lint step; its output is shown when it fails
step() {
    name=$1
    shift
    if "$@" >"$log/step-$name.txt" 2>&1; then
        echo "ok   - $name: $(tail -n 1 "$log/step-$name.txt")"
        lint_pass=$((lint_pass + 1))
    else
        echo "FAIL - $name"
        tail -n 80 "$log/step-$name.txt"
        lint_fail=$((lint_fail + 1))
    fi
}

./scripts/install-deps.sh test || fail_setup "installing dependencies failed"
./scripts/npm-deps.sh || fail_setup "installing npm packages failed"
# llama-server for the model gateway's tests: built once (about 5 minutes on
# 2 cores) and cached outside the clone.  It builds beside ours and is
# waited for before the first ctest starts, so no test slot sits waiting.
tests/llm/build-llama-server.sh >"$log/llama-build.txt" 2>&1 &
llama_pid=$!

step format ./scripts/format.sh --check

echo "== plain build (gcc, -Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATLAS_WERROR=ON >/dev/null &&
    cmake --build build -j "$JOBS" || fail_setup "the plain build failed"

echo "== sanitizer build (clang, ASan+UBSan, libFuzzer)"
CC=clang cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DATLAS_SANITIZE=ON \
    -DATLAS_FUZZ=ON -DATLAS_FUZZ_SECONDS=3 -DATLAS_WERROR=ON >/dev/null &&
    cmake --build build-asan -j "$JOBS" || fail_setup "the sanitizer build failed"

echo "== ThreadSanitizer build (clang)"
CC=clang cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATLAS_TSAN=ON \
    -DATLAS_WERROR=ON >/dev/null &&
    cmake --build build-tsan -j "$JOBS" || fail_setup "the ThreadSanitizer build failed"

echo "== lint"
step checksrc ./scripts/checksrc.sh
step tidy ./scripts/tidy.sh
wait "$llama_pid"
llama_rc=$?
if [ "$llama_rc" -eq 0 ]; then
    echo "ok   - llama-server: $(tail -n 1 "$log/llama-build.txt")"
    lint_pass=$((lint_pass + 1))
else
    echo "FAIL - llama-server build (the model tests will skip)"
    tail -n 40 "$log/llama-build.txt"
    lint_fail=$((lint_fail + 1))
fi

# one test more than cores in the plain and sanitizer passes: most e2e tests
# spend their time waiting on a daemon, an agent or a server they started
# (they wait for states, never for a time); TSan's pass keeps one per core
echo "== tests: plain build"
(cd build && ctest -j "$((JOBS + 1))" --output-on-failure --timeout 600) 2>&1 | tee "$log/plain.txt"
echo "== tests: sanitizer build"
(cd build-asan && ctest -j "$((JOBS + 1))" --output-on-failure --timeout 900) 2>&1 | tee "$log/asan.txt"
echo "== tests: ThreadSanitizer build (label tsan)"
(cd build-tsan && ctest -j "$JOBS" -L tsan --output-on-failure --timeout 900) 2>&1 |
    tee "$log/tsan.txt"

passed=$lint_pass failed=$lint_fail
for f in "$log/plain.txt" "$log/asan.txt" "$log/tsan.txt"; do
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
echo "check: $(($(date +%s) - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
