#!/bin/bash
# The Debian packages, built with dpkg-buildpackage and debhelper, pass
# lintian without errors, and go through a life cycle in a scratch root
# (dpkg --root, maintainer scripts run with DPKG_ROOT, as debootstrap does):
#   install  -> the atlas user (sysusers), /var/lib/atlas owned by it
#               (tmpfiles), the conffile, the unit enabled inside the root
#   start    -> this test plays systemd: the unit's ExecStart, as its user,
#               READY=1 on NOTIFY_SOCKET; agents registered, jobs run
#   upgrade  -> a newer version while jobs run and wait: the data, the
#               agents and a changed conffile survive, the store's schema
#               is migrated once (unchanged when nothing is new), no job is
#               lost (the stop lets the running one finish: --drain-timeout;
#               the waiting ones run after the restart)
#   remove   -> the data stay;  purge -> the data and /etc/atlas are gone
# Not checked here: systemd acting on the maintainer scripts (no systemd as
# PID 1: deb-systemd-invoke does nothing, so the stop/restart around the
# upgrade is done by this test), and a new store migration in the newer
# version: both builds come from one tree, so the newer package is the built
# one with a higher version (dpkg-deb), not a second compile.
# The packages are built once, in the plain build's run (about a minute).
. "$(dirname "$0")/lib.sh"
if [ "${ATLAS_BUILD_DIR:-}" != "" ] && [ "$ATLAS_BUILD_DIR" != "${ATLAS_PLAIN_BUILD_DIR:-$ATLAS_BUILD_DIR}" ]; then
    log "skip - the packages are built and tested in the plain build's run only"
    exit 77
fi
for t in dpkg-buildpackage dh lintian systemd-sysusers systemd-tmpfiles sqlite3 setpriv; do
    command -v $t >/dev/null || { log "skip - $t is not installed (scripts/install-deps.sh test)"; exit 77; }
done
chmod 755 "$T"
LISTENERS=
trap 'for p in $LISTENERS; do kill $p 2>/dev/null || true; done; cleanup' EXIT

# --- build
start=$(date +%s)
if "$SRC/scripts/build-deb.sh" "$T/debs" >"$T/build.log" 2>&1; then
    pass "dpkg-buildpackage builds and lintian reports no error ($(($(date +%s) - start)) s)"
else
    cat "$T/build.log" >&2
    fail "the package build or lintian failed"
    finish
    exit 1
fi
grep -E '^[EW]: ' "$T/build.log" >&2 || true
deb() { ls "$T/debs/$1"_*.deb; }
v1=$(dpkg-deb -f "$(deb atlas)" Version)

# the newer version: the same package with a higher version
mkdir -p "$T/v2"
dpkg-deb -R "$(deb atlas)" "$T/v2/atlas"
v2="$v1+upgrade1"
sed -i "s/^Version: .*/Version: $v2/" "$T/v2/atlas/DEBIAN/control"
dpkg-deb -b "$T/v2/atlas" "$T/v2/atlas_${v2}_amd64.deb" >/dev/null

# --- a scratch root
R=$T/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc" "$R/tmp"
: >"$R/var/lib/dpkg/status"
rdpkg() { dpkg --root="$R" --force-script-chrootless --force-depends --log="$T/dpkg.log" "$@"; }
# bookworm's py3compile and py3clean (python3-atlas's maintainer scripts,
# from dh_python3) ignore DPKG_ROOT and would work on the host's
# /usr/lib/python3: in the scratch root they are replaced by no-ops, so the
# byte-compilation of the SDK is not checked here
mkdir -p "$T/shim"
for t in py3compile py3clean; do printf '#!/bin/sh\nexit 0\n' >"$T/shim/$t"; chmod 755 "$T/shim/$t"; done
export PATH=$T/shim:$PATH
host_wants=/etc/systemd/system/multi-user.target.wants/atlasd.service

run_rc rc rdpkg -i "$(deb atlas)" "$(deb python3-atlas)"
expect_eq "dpkg -i exits 0" "$rc" "0"
[ "$rc" = 0 ] || cat "$T/err" >&2
expect_eq "the packages are installed" "$(dpkg-query --root="$R" -W -f '${Status}\n' atlas python3-atlas | sort -u)" "install ok installed"
for f in usr/bin/atlas usr/bin/atlasd lib/systemd/system/atlasd.service usr/share/man/man1/atlas.1.gz \
    usr/share/bash-completion/completions/atlas usr/lib/python3/dist-packages/atlas/__init__.py; do
    [ -f "$R/$f" ] || fail "not installed: /$f"
done
pass "binaries, unit, man pages, completion and the SDK are in place"
grep -q '^atlas:' "$R/etc/passwd" && pass "the atlas user exists (sysusers)" || fail "no atlas user in the root"
uid=$(awk -F: '$1 == "atlas" {print $3}' "$R/etc/passwd")
gid=$(awk -F: '$1 == "atlas" {print $4}' "$R/etc/passwd")
expect_eq "/var/lib/atlas belongs to it, mode 750 (tmpfiles)" "$(stat -c '%u:%g %a' "$R/var/lib/atlas")" "$uid:$gid 750"
expect_contains "/etc/atlas/atlas.config.yaml is a conffile" "$(cat "$R/var/lib/dpkg/info/atlas.conffiles")" "/etc/atlas/atlas.config.yaml"
[ -L "$R$host_wants" ] && pass "atlasd.service is enabled in the root" || fail "not enabled in the root"
[ -e "$R/etc/systemd/system/multi-user.target.wants/atlas-node.service" ] &&
    fail "atlas-node.service must not be enabled" || pass "atlas-node.service is installed disabled"
[ -e "$host_wants" ] && fail "the host's systemd was touched" || pass "nothing outside the root was touched"

# --- start, as systemd would: the unit's ExecStart, user and environment
unitval() { sed -n "s/^$1=//p" "$R/lib/systemd/system/atlasd.service"; }
expect_eq "ExecStart" "$(unitval ExecStart)" "/usr/bin/atlasd --config /etc/atlas/atlas.config.yaml --data /var/lib/atlas --drain-timeout 30"
sdk=$(unitval Environment | sed -n 's/^ATLAS_PYTHON_SDK=//p')
: >"$T/notify.log"
/usr/bin/python3 "$SRC/tests/e2e/dgram_listener.py" "$T/notify.sock" "$T/notify.log" &
LISTENERS="$LISTENERS $!"
wait_for test -e "$T/notify.sock.ready"
chmod 777 "$T/notify.sock"
service_start() {
    : >"$T/notify.log"
    rm -f "$R/var/lib/atlas/atlasd.url"
    # shellcheck disable=SC2046
    NOTIFY_SOCKET=$T/notify.sock ATLAS_PYTHON_SDK=$R$sdk HOME=$R/var/lib/atlas \
        setpriv --reuid="$uid" --regid="$gid" --clear-groups \
        "$R/usr/bin/atlasd" --config "$R/etc/atlas/atlas.config.yaml" --data "$R/var/lib/atlas" \
        --drain-timeout 30 --listen 127.0.0.1:0 >>"$T/atlasd.log" 2>&1 &
    DAEMON_PID=$!
    wait_for grep -q READY=1 "$T/notify.log" || { fail "no READY=1"; cat "$T/atlasd.log" >&2; }
    ATLAS_URL=$(cat "$R/var/lib/atlas/atlasd.url")
    export ATLAS_URL
    # the admin token atlasd wrote (0600, the atlas user's): root reads it,
    # as an operator would with sudo (docs/security.md)
    ATLAS_TOKEN=$(cat "$R/var/lib/atlas/admin.token")
    export ATLAS_TOKEN
}
atlas() { "$R/usr/bin/atlas" "$@"; }
printf '\nexecution:\n  max_concurrent_agents: 1\n' >>"$R/etc/atlas/atlas.config.yaml"
service_start
pass "the installed atlasd says READY=1 as the atlas user"
expect_eq "its files belong to the atlas user" "$(stat -c %u "$R/var/lib/atlas/atlas.db")" "$uid"
for a in word-count; do cp -r "$EXAMPLES/$a" "$T/$a"; done
cp -r "$AGENTS/idem" "$T/idem"
chmod -R a+rX "$T/word-count" "$T/idem"
atlas register --path "$T/word-count" >/dev/null
atlas register --path "$T/idem" >/dev/null
expect_eq "a Python agent runs with the packaged SDK" \
    "$(atlas --json run word-count --input '{"text": "a b c"}' | j 'd["words"]')" "3"
done_before=$(atlas run --async word-count --input '{"text": "before the upgrade"}')
wait_for sh -c "'$R/usr/bin/atlas' --json job $done_before | grep -q completed"
schema1=$(sqlite3 "$R/var/lib/atlas/atlas.db" 'PRAGMA user_version')

# --- upgrade while a job runs and others wait (concurrency 1)
inflight=$(atlas run --async idem --input '{"ms": 3000}')
wait_for sh -c "'$R/usr/bin/atlas' --json job $inflight | grep -q '\"running\"'"
w1=$(atlas run --async word-count --input '{"text": "waiting one"}')
w2=$(atlas run --async word-count --input '{"text": "waiting two"}')
run_rc rc rdpkg -i "$T/v2/atlas_${v2}_amd64.deb"
expect_eq "dpkg upgrades to $v2" "$rc:$(dpkg-query --root="$R" -W -f '${Version}' atlas)" "0:$v2"
expect_contains "the changed conffile is kept" "$(cat "$R/etc/atlas/atlas.config.yaml")" "max_concurrent_agents: 1"
# systemd's part: stop the old daemon (SIGTERM), start the new binary
: >"$T/notify.log"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
expect_contains "STOPPING=1 on the stop" "$(cat "$T/notify.log")" "STOPPING=1"
service_start
expect_eq "the agents survive" "$(atlas --json ls | j 'sorted(a["name"] for a in d["agents"])')" "['idem', 'word-count']"
expect_eq "a job of before is there" "$(atlas --json job "$done_before" | j 'd["state"]')" "completed"
for id in $inflight $w1 $w2; do
    wait_for sh -c "'$R/usr/bin/atlas' --json job $id | grep -q '\"completed\"'" || true
    expect_eq "job $id of the upgrade's moment completes" "$(atlas --json job "$id" | j 'd["state"]')" "completed"
done
expect_contains "the stop let the running job finish" "$(cat "$T/atlasd.log")" "waiting up to 30s for"
expect_eq "the schema is migrated once: the same version" "$(sqlite3 "$R/var/lib/atlas/atlas.db" 'PRAGMA user_version')" "$schema1"
expect_eq "the store is sound" "$(sqlite3 "$R/var/lib/atlas/atlas.db" 'PRAGMA integrity_check')" "ok"
run_rc rc atlas doctor --data "$R/var/lib/atlas" --config "$R/etc/atlas/atlas.config.yaml"
expect_contains "doctor is content with the packaged service" "$(cat "$T/out")" "ok    store"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=

# --- remove keeps the data; purge removes them
run_rc rc rdpkg -r atlas
expect_eq "dpkg -r exits 0" "$rc" "0"
[ -f "$R/var/lib/atlas/atlas.db" ] && pass "remove keeps the data" || fail "remove deleted the data"
[ -e "$R/usr/bin/atlasd" ] && fail "atlasd still there after remove" || pass "remove removes the program"
run_rc rc rdpkg -P atlas python3-atlas
expect_eq "dpkg --purge exits 0" "$rc" "0"
for p in var/lib/atlas etc/atlas usr/lib/python3/dist-packages/atlas etc/systemd/system/multi-user.target.wants/atlasd.service; do
    [ -e "$R/$p" ] && fail "purge left /$p"
done
pass "purge removes the data, the settings, the SDK and the unit's enablement"
expect_eq "no package is left" "$(dpkg-query --root="$R" -W 2>/dev/null | wc -l)" "0"
finish
