#!/bin/sh
# Builds the Debian packages (debian/) with dpkg-buildpackage from a copy of
# the tree, checks them with lintian, and leaves the .deb files in OUT.
#   scripts/build-deb.sh OUT [VERSION]
# VERSION (optional) adds a changelog entry first, for a newer build.
# Exit status 1 when the build fails or lintian reports an error.
set -eu
cd "$(dirname "$0")/.."
out=$(mkdir -p "$1" && cd "$1" && pwd)
version=${2:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/atlas-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/atlas"
# tracked and new files, not what is ignored (build directories, C agents)
git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - --no-recursion |
    tar -xf - -C "$work/atlas"
cd "$work/atlas"
if [ -n "$version" ]; then
    {
        printf 'atlas (%s) unstable; urgency=medium\n\n  * Build %s.\n\n' "$version" "$version"
        printf ' -- Atlas Developers <atlas-dev@example.org>  %s\n\n' "$(date -R)"
        cat debian/changelog
    } >debian/changelog.new
    mv debian/changelog.new debian/changelog
fi
DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-2}" dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1 ||
    { tail -n 60 "$work/build.log" >&2; echo "build-deb: dpkg-buildpackage failed" >&2; exit 1; }
cd "$work"
status=0
lintian --fail-on error --suppress-tags bad-distribution-in-changes-file ./*.changes \
    >"$work/lintian.txt" 2>&1 || status=1
cat "$work/lintian.txt"
cp ./*.deb "$out/"
ls "$out"/*.deb
[ $status -eq 0 ] || echo "build-deb: lintian reports errors (above)" >&2
exit $status
