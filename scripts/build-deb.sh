#!/bin/sh
# Builds the Debian packages (debian/) with dpkg-buildpackage from a copy of
# the tree, checks them with lintian, and leaves the .deb files in OUT.
#   scripts/build-deb.sh OUT [VERSION]
# VERSION (optional) adds a changelog entry first, for a newer build.
# Exit status 1 when the build fails or lintian reports an error.
#
# Test only (tests/e2e/t_package.sh): with ATLAS_DEB_OLD=N it also leaves an
# older atlas package in OUT/old/: version VERSION~oldN, whose atlasd and
# atlas stop the store's schema migrations at N (the CMake cache variable
# ATLAS_TEST_STORE_MIGRATIONS), rebuilt from the same build tree (only the
# store is compiled again and the programs linked), for an upgrade from it
# to the package built here.  Never publish it.
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
if [ -n "${ATLAS_DEB_OLD:-}" ]; then
    t0=$(date +%s)
    obj=obj-$(dpkg-architecture -qDEB_HOST_GNU_TYPE)
    cmake -DATLAS_TEST_STORE_MIGRATIONS="$ATLAS_DEB_OLD" "$obj" >"$work/old.log" 2>&1 &&
        ninja -C "$obj" atlasd atlas >>"$work/old.log" 2>&1 ||
        { tail -n 30 "$work/old.log" >&2; echo "build-deb: the old build failed" >&2; exit 1; }
    deb=$(ls "$work"/atlas_*.deb)
    rm -rf "$work/old"
    dpkg-deb -R "$deb" "$work/old"
    for p in atlasd atlas; do
        strip --strip-unneeded --remove-section=.comment --remove-section=.note \
            -o "$work/old/usr/bin/$p" "$obj/$p"
        sum=$(cd "$work/old" && md5sum "usr/bin/$p")
        sed -i "s|^[0-9a-f]*  usr/bin/$p\$|$sum|" "$work/old/DEBIAN/md5sums"
    done
    v=$(dpkg-deb -f "$deb" Version)
    arch=$(dpkg-deb -f "$deb" Architecture)
    sed -i "s/^Version: .*/Version: $v~old$ATLAS_DEB_OLD/" "$work/old/DEBIAN/control"
    mkdir -p "$out/old"
    dpkg-deb --root-owner-group -b "$work/old" "$out/old/atlas_${v}~old${ATLAS_DEB_OLD}_$arch.deb" >/dev/null
    echo "build-deb: the older package (migrations up to $ATLAS_DEB_OLD) in $(($(date +%s) - t0)) s"
fi
cd "$work"
status=0
lintian --fail-on error --suppress-tags bad-distribution-in-changes-file ./*.changes \
    >"$work/lintian.txt" 2>&1 || status=1
cat "$work/lintian.txt"
cp ./*.deb "$out/"
ls "$out"/*.deb
[ $status -eq 0 ] || echo "build-deb: lintian reports errors (above)" >&2
exit $status
