#!/bin/sh
# Bans unsafe C calls in the project's own code (../shared/STYLE.md rule 7).
set -eu
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok)[[:space:]]*\('
files=$(git ls-files 'src/*.c' 'src/*.h' 'sdk/c/*.c' 'sdk/c/*.h' 'tests/*.c' 'bench/*.c' 2>/dev/null || true)
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086
if grep -nE "$pattern" $files; then
    echo "checksrc: banned call(s) above: use snprintf, at_buf, at_parse_i64, strtok_r" >&2
    exit 1
fi
echo "checksrc: ok ($(echo "$files" | wc -l) files)"
