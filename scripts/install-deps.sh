#!/bin/sh
# Installs what Atlas needs to build and test, from Debian's apt only.
# Idempotent: packages already present are skipped, and apt-get update runs
# only when something is missing.  Usage: scripts/install-deps.sh [build|test]
set -eu

BUILD_PKGS="build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
 libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libfyaml-dev libsqlite3-dev
 libsodium-dev libcmocka-dev libseccomp-dev libarchive-dev zlib1g-dev libhwloc-dev libgnutls28-dev
 libtss2-dev libwslay-dev libpq-dev
 bubblewrap python3 curl ca-certificates"
TEST_PKGS="git nodejs npm redis-server python3-celery python3-redis sqlite3 postgresql procps json-schema-test-suite prometheus
 systemd debhelper dh-python lintian fakeroot dpkg-dev zsh fish man-db
 docker-registry skopeo apache2-utils
 python3-croniter prometheus-alertmanager python3-websockets
 python3-venv python3-pip
 python3-nacl python3-cryptography swtpm swtpm-tools tpm2-tools
 chromium"

want="$BUILD_PKGS"
[ "${1:-build}" = "test" ] && want="$BUILD_PKGS $TEST_PKGS"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# Node from another source (nvm, nodesource) is fine: do not fight it with Debian's.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(printf '%s\n' $missing | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi

missing=$(echo $missing)
if [ -z "$missing" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >&2
