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
echo "checksrc: calls ok ($(echo "$files" | wc -l) files)"

# Exported symbols follow at_<component>_ (internal ones shared between the
# files of a layer: at__<component>_).  Over the layers' static libraries of
# $BUILD (default build/; skipped, saying so, before the first build).  A
# layer's components are its own name and those listed here; names that are
# not at_<component>_... are listed one by one.
BUILD=${BUILD:-build}
components='
base alloc buf diag err fs header id log loop map now parse spawn sse time timer token utf8 wall
json expr jptr json jsonpath lex regex schema
a2a a2a
http_lib http ws
contract agent config contract egress hardware semver shape sysinfo version yaml
store agent chain job store writer secstore token tlogstore apstore pushstore
chain chain
registry reg registry snapshot
exec admit breaker chain engine error guard job jobq json pool proc remote sat token worker
monitor eval metrics mon monitor otlp trace
mcp_proto mcp rpc
mcp mcp
http http a2a
security sandbox access audit egress proxy role seckey secret secrets tls tokens
tlog tlog merkle note dsse checkpoint tpm
dist layer layout oci sig
trigger cron tz trigger
skills skill skillmd memory exec mount mounts
sched sched hub
supervisor supervisor approvals proposal supervise plan verdict diff
'
# whole names outside the rule: the allocation wrappers and the logger
exceptions='at_asprintf at_calloc at_log at_malloc at_realloc at_strdup at_strndup'
libs=$(ls "$BUILD"/libatlas_*.a 2>/dev/null | grep -v libatlas_agent_sdk || true)
if [ -z "$libs" ]; then
    echo "checksrc: no $BUILD/libatlas_*.a yet: exported symbols not checked"
    exit 0
fi
bad=$(for lib in $libs; do
    layer=$(basename "$lib" .a)
    layer=${layer#libatlas_}
    allowed="$layer $(echo "$components" | awk -v l="$layer" '$1 == l { $1 = ""; print }')"
    nm -g --defined-only "$lib" 2>/dev/null | awk -v L="$layer" -v A="$allowed" -v X="$exceptions" '
        BEGIN { n = split(A, a, " "); for (i = 1; i <= n; i++) ok[a[i]] = 1
                m = split(X, x, " "); for (i = 1; i <= m; i++) ex[x[i]] = 1 }
        NF == 3 && $2 ~ /^[TDRBVWGSCI]$/ {
            s = $3
            if (s in ex) next
            c = s
            if (sub(/^at__?/, "", c) && match(c, /^[a-z0-9]+_/)) {
                c = substr(c, 1, RLENGTH - 1)
                if (c in ok) next
            }
            print L ": " s
        }'
done)
if [ -n "$bad" ]; then
    echo "$bad"
    echo "checksrc: exported symbols above do not follow at_<component>_ (scripts/checksrc.sh lists each layer's components)" >&2
    exit 1
fi
echo "checksrc: exported symbols ok ($(echo "$libs" | wc -l) libraries)"
