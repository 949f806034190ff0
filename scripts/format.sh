#!/bin/sh
# clang-format over the project's C sources; --check fails on differences.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files 'src/*.c' 'src/*.h' 'sdk/c/*.c' 'sdk/c/*.h' 'tests/*.c' 'bench/*.c')
if [ "${1:-}" = "--check" ]; then
    # shellcheck disable=SC2086
    clang-format --dry-run --Werror $files && echo "format: ok"
else
    # shellcheck disable=SC2086
    clang-format -i $files
fi
