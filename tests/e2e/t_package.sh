#!/bin/bash
# The Debian packages, built with dpkg-buildpackage and debhelper, pass
# lintian without errors, and go through a life cycle in a scratch root
# (dpkg --root, maintainer scripts run with DPKG_ROOT, as debootstrap does):
#   install  -> an older atlas (below), the atlas user (sysusers),
#               /var/lib/atlas owned by it (tmpfiles), the conffile, the unit
#               enabled inside the root
#   start    -> this test plays systemd: the unit's ExecStart, as its user,
#               READY=1 on NOTIFY_SOCKET; agents registered, jobs run
#   upgrade  -> dpkg -i of the package built here while jobs run and wait:
#               the data, the agents, the job history and a changed conffile
#               survive; the store's one new migration runs, once (the
#               schema version, the store's schema_log, the log line; a
#               second start of the new version migrates nothing); no job is
#               lost (the stop lets the running one finish: --drain-timeout;
#               the waiting ones run after the restart)
#   remove   -> the data stay;  purge -> the data and /etc/atlas are gone
# The older package: the one built here, its programs rebuilt from the same
# build tree with the store's migrations stopped one short of the newest
# (ATLAS_TEST_STORE_MIGRATIONS, test only: scripts/build-deb.sh
# ATLAS_DEB_OLD) and a lower version, so the upgrade meets a real schema
# migration without a second full build.
# Not checked here: systemd acting on the maintainer scripts (no systemd as
# PID 1: deb-systemd-invoke does nothing, so the stop/restart around the
# upgrade is done by this test), and an upgrade from a release older than
# one migration (each migration runs in order, the same code path).
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
# the store's newest schema version, and the older build's (one short)
newest=$(sed -n '/^static const char \*const migrations/,/^};/p' "$SRC/src/store/sqlite.c" | grep -c '^    /\* [0-9]*:')
old_schema=$((newest - 1))
if ATLAS_DEB_OLD=$old_schema "$SRC/scripts/build-deb.sh" "$T/debs" >"$T/build.log" 2>&1; then
    pass "dpkg-buildpackage builds and lintian reports no error ($(($(date +%s) - start)) s)"
else
    cat "$T/build.log" >&2
    fail "the package build or lintian failed"
    finish
    exit 1
fi
grep -E '^[EW]: |^build-deb: the older' "$T/build.log" >&2 || true
deb() { ls "$T/debs/$1"_*.deb; }
v1=$(dpkg-deb -f "$(deb atlas)" Version)

# the older version: its store migrates up to old_schema only
old_deb=$(ls "$T/debs/old/"atlas_*.deb)
v0=$(dpkg-deb -f "$old_deb" Version)
expect_eq "the older package's version is lower" "$(dpkg --compare-versions "$v0" lt "$v1" && echo lower)" "lower"

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

run_rc rc rdpkg -i "$old_deb" "$(deb python3-atlas)"
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
db=$R/var/lib/atlas/atlas.db
expect_eq "the older atlasd's store is at schema $old_schema" "$(sqlite3 "$db" 'PRAGMA user_version')" "$old_schema"

# --- upgrade while a job runs and others wait (concurrency 1)
inflight=$(atlas run --async idem --input '{"ms": 3000}')
wait_for sh -c "'$R/usr/bin/atlas' --json job $inflight | grep -q '\"running\"'"
w1=$(atlas run --async word-count --input '{"text": "waiting one"}')
w2=$(atlas run --async word-count --input '{"text": "waiting two"}')
run_rc rc rdpkg -i "$(deb atlas)"
expect_eq "dpkg upgrades $v0 to $v1" "$rc:$(dpkg-query --root="$R" -W -f '${Version}' atlas)" "0:$v1"
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
expect_eq "the new atlasd migrated the store to schema $newest" "$(sqlite3 "$db" 'PRAGMA user_version')" "$newest"
# (schema_log rows from before the upgrade: the older atlasd's own, when it
# already had the log; only the rows past old_schema are the upgrade's)
expect_eq "the migration ran once (schema_log)" "$(sqlite3 "$db" "SELECT group_concat(version) FROM schema_log WHERE version > $old_schema")" "$newest"
expect_eq "and logged it once" "$(grep -c "schema migrated from version $old_schema to $newest" "$T/atlasd.log")" "1"
# the new version started again: nothing left to migrate
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
service_start
expect_eq "a second start migrates nothing" \
    "$(sqlite3 "$db" "SELECT count(*) FROM schema_log WHERE version > $old_schema"):$(grep -c "schema migrated" "$T/atlasd.log")" "1:1"
expect_eq "the store is sound" "$(sqlite3 "$db" 'PRAGMA integrity_check')" "ok"
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
