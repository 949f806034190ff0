#!/bin/sh
# build-llama-server.sh - build llama.cpp's llama-server once and cache it.
#
# The llama.cpp source comes from the npm package node-llama-cpp (it ships
# the whole tree as package/llama/gitRelease.bundle, a git bundle).  Only the
# llama-server target is built (CPU only, no web UI, no curl/openssl).  The
# binary is cached as $ATLAS_LLAMA_CACHE/llama-server-<version> (default
# ~/.cache/atlas) so later runs print the path at once.  Idempotent and safe
# to run concurrently (a lock serialises builders).
#
# Prints the binary's path on stdout; progress goes to stderr.
# Needs: npm, git, cmake, ninja-build, g++.
# With --wait: build nothing; wait for a build in progress (the lock) and
# print the cached binary, or exit 1 when there is none (tests use this).
# Env: ATLAS_LLAMA_VERSION (npm version of node-llama-cpp, default 3.22.1),
#      ATLAS_LLAMA_CACHE, JOBS.
set -eu
VERSION=${ATLAS_LLAMA_VERSION:-3.22.1}
CACHE=${ATLAS_LLAMA_CACHE:-${HOME:-/tmp}/.cache/atlas}
BIN=$CACHE/llama-server-$VERSION
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ -x "$BIN" ]; then
    echo "$BIN"
    exit 0
fi
mkdir -p "$CACHE"
if [ "${1:-}" = "--wait" ]; then
    exec 9>"$CACHE/.llama-server-$VERSION.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    [ -x "$BIN" ] && echo "$BIN" && exit 0
    exit 1
fi
exec 9>"$CACHE/.llama-server-$VERSION.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [ -x "$BIN" ]; then # built by a concurrent run while we waited
    echo "$BIN"
    exit 0
fi
for tool in npm git cmake ninja g++; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "build-llama-server: $tool is not installed" >&2
        exit 1
    }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/atlas-llama.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "build-llama-server: fetching node-llama-cpp@$VERSION" >&2
npm pack --silent "node-llama-cpp@$VERSION" >/dev/null
tar xzf node-llama-cpp-*.tgz package/llama/gitRelease.bundle
git clone -q package/llama/gitRelease.bundle llama.cpp 2>/dev/null
rm -rf package node-llama-cpp-*.tgz
echo "build-llama-server: building llama-server ($JOBS jobs)" >&2
# -O1: the tests serve a 260 KB model, so compile time matters more than speed
cmake -S llama.cpp -B llama.cpp/build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_HTML=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_LLGUIDANCE=OFF >"$work/cmake.log" 2>&1 || {
    tail -n 40 "$work/cmake.log" >&2
    exit 1
}
cmake --build llama.cpp/build --target llama-server -j "$JOBS" >"$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2
    exit 1
}
cp llama.cpp/build/bin/llama-server "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
