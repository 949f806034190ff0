#!/bin/sh
# Installs the npm packages the examples, the interop tests (tests/interop; tests/a2a:
# @a2a-js/sdk, jose, express) and the dashboard's browser test (tests/ui:
# playwright-core, axe-core) use, pinned, from
# each directory's package-lock.json (npm ci), only when missing or stale.
set -eu
cd "$(dirname "$0")/.."
command -v npm >/dev/null 2>&1 || { echo "npm-deps: npm is not installed" >&2; exit 1; }
for lock in $( (git ls-files "*package-lock.json" 2>/dev/null; ls examples/*/*/package-lock.json tests/*/package-lock.json 2>/dev/null) | grep -v node_modules | sort -u); do
    dir=$(dirname "$lock")
    stamp="$dir/node_modules/.atlas-installed"
    if [ -f "$stamp" ] && [ "$stamp" -nt "$lock" ]; then
        continue
    fi
    echo "npm-deps: installing $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    touch "$stamp"
done
