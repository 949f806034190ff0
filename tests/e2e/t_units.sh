#!/bin/bash
# The hardened unit keeps the agent sandbox working.  systemd is not PID 1
# here, so the unit cannot be started; instead this test applies what the
# unit's settings do to a process, by the same kernel means, and runs
# bubblewrap (the sandbox issue 11 builds on) inside:
#   SystemCallFilter + SystemCallArchitectures + RestrictAddressFamilies
#       -> a seccomp filter (tests/e2e/sysfilter.c, libseccomp) built from the
#          unit's own lines, groups expanded by `systemd-analyze syscall-filter`;
#          a syscall missing from it kills the process, as in systemd
#   NoNewPrivileges, User=, CapabilityBoundingSet= -> setpriv (no_new_privs,
#          an unprivileged uid, every capability dropped)
#   ProtectSystem=strict, ProtectHome=read-only, PrivateTmp, StateDirectory
#       -> a private mount namespace: everything read-only but the state
#          directory, fresh /tmp and /var/tmp
# Inside that, bubblewrap creates user, mount, pid, net, ipc and uts
# namespaces, mounts /proc, /dev and a tmpfs, names the host, and the agent
# in it loads a seccomp filter of its own (nested).  Two controls show the
# test can fail: the filter without @mount, and /proc/sys covered the way
# ProtectKernelTunables= covers it (why the unit does not set it).
# Then atlasd itself runs in that arrangement (its state directory the only
# writable place, the sandbox on), registers agents and runs them: one
# works, a hostile one finds the sandbox's walls.
# Not checked here (needs systemd as PID 1): systemd's own handling of these
# settings (its exact mount layout, ProtectKernelModules, ProtectClock,
# ProtectHostname, LockPersonality, RestrictRealtime, RestrictSUIDSGID,
# SystemCallArchitectures, UMask, LimitNOFILE), SystemCallErrorNumber=EPERM
# (the emulation kills on a syscall outside the filter instead: stricter),
# the StateDirectory/ConfigurationDirectory systemd creates, ordering,
# restarts and the watchdog.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null || { log "skip - no systemd-analyze"; exit 77; }
command -v bwrap >/dev/null || { log "skip - no bubblewrap"; exit 77; }
[ "$(id -u)" = 0 ] || { log "skip - needs root for the mount namespace"; exit 77; }
unshare -m true 2>/dev/null || { log "skip - cannot create a mount namespace here"; exit 77; }
UNIT=$SRC/packaging/systemd/atlasd.service.in
chmod 755 "$T"
mkdir -p "$T/state"
cc -O1 -o "$T/sysfilter" "$SRC/tests/e2e/sysfilter.c" -lseccomp || { fail "cannot build sysfilter"; finish; }

setting() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }
filter=$(setting SystemCallFilter)
families=$(setting RestrictAddressFamilies | tr ' ' ',')
expect_eq "the unit asks for NoNewPrivileges" "$(setting NoNewPrivileges)" "yes"
expect_eq "and ProtectSystem=strict" "$(setting ProtectSystem)" "strict"
expect_eq "and PrivateTmp" "$(setting PrivateTmp)" "yes"
expect_eq "and no RestrictNamespaces (the sandbox creates six kinds)" "$(setting RestrictNamespaces)" ""

# allow-list NAME...: the syscalls of the groups and names, as systemd expands them
allow_list() {
    /usr/bin/python3 - "$@" <<'PY'
import subprocess, sys
def expand(item, seen):
    if not item.startswith("@"):
        return {item}
    if item in seen:
        return set()
    seen.add(item)
    out = subprocess.run(["systemd-analyze", "syscall-filter", item], capture_output=True,
                         text=True, check=True).stdout.splitlines()[1:]
    names = set()
    for l in out:
        l = l.strip()
        if l and not l.startswith("#"):
            names |= expand(l, seen)
    return names
names = set()
for item in sys.argv[1:]:
    names |= expand(item, set())
print("\n".join(sorted(names)))
PY
}
# shellcheck disable=SC2086
allow_list $filter >"$T/allow"
expect_eq "the filter allows seccomp(2)" "$(grep -c -x seccomp "$T/allow")" "1"
expect_eq "and unshare(2)" "$(grep -c -x unshare "$T/allow")" "1"
expect_eq "and mount(2)" "$(grep -c -x mount "$T/allow")" "1"

# The agent sandbox: an unprivileged, filtered process, in the unit's file
# system view, runs bubblewrap, and the agent inside loads its own filter
# (denying mkdir) that must take effect.
cat >"$T/inside.sh" <<'SH'
#!/bin/sh
# run inside bubblewrap: the sandbox's own seccomp filter, nested
/srv/t/sysfilter --deny mkdir -- /bin/sh -c 'mkdir /tmp/x' 2>/dev/null && exit 10
/usr/bin/python3 -c 'import socket, os; print("agent", os.getuid(), socket.gethostname())'
SH
chmod 755 "$T/inside.sh"
# sandbox ALLOWFILE [extra mounts]: the whole arrangement; prints the agent's line
sandbox() {
    allow=$1
    extra=${2:-}
    unshare -m --propagation private /bin/sh -c "
        set -e
        mount --bind '$T' /srv && mkdir -p /srv/t && mount --bind '$T' /srv/t
        $extra
        # ProtectSystem=strict + ProtectHome=read-only: everything read-only
        for m in \$(awk '{print \$5}' /proc/self/mountinfo | sort -u); do
            case \$m in /proc*|/sys*|/dev*|/srv*) continue ;; esac
            mount -o remount,bind,ro \"\$m\" 2>/dev/null || true
        done
        # the StateDirectory stays writable; PrivateTmp
        mount --bind /srv/t/state /srv/t/state
        mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp
        exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
            --bounding-set=-all --no-new-privs \
            /srv/t/sysfilter --allow /srv/t/$allow --families $families -- \
            bwrap --unshare-all --die-with-parent --ro-bind /usr /usr \
                --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
                --ro-bind /srv/t /srv/t --proc /proc --dev /dev --tmpfs /tmp \
                --hostname sandbox -- /srv/t/inside.sh"
}
run_rc rc sandbox allow
expect_eq "bubblewrap runs an agent under the unit's hardening" "$rc" "0"
expect_eq "as an unprivileged user in its own uts namespace" "$(cat "$T/out")" "agent 65534 sandbox"
[ "$rc" = 0 ] || cat "$T/err" >&2

# controls: the test notices a filter without @mount, and a covered /proc/sys
# shellcheck disable=SC2086
allow_list $(echo "$filter" | sed 's/@mount//') >"$T/allow-nomount"
run_rc rc sandbox allow-nomount
expect_eq "control: without @mount the sandbox cannot start" "$([ "$rc" != 0 ] && echo fails)" "fails"
run_rc rc sandbox allow "mount --bind -o ro /proc/sys /proc/sys"
expect_eq "control: with /proc/sys covered (ProtectKernelTunables) bubblewrap cannot mount /proc" \
    "$([ "$rc" != 0 ] && echo fails)" "fails"
expect_contains "and says so" "$(cat "$T/err")" "Can't mount proc"

# atlasd itself under the same confinement, with the agent sandbox on: it
# serves, registers agents, and its agents run in bubblewrap with their
# own seccomp filter (a hostile one finds the sandbox's walls).  The view:
# everything read-only (the agents' directories and the build included),
# only the state directory writable, a private /tmp holding nothing but
# this test's directory (read-only, at the same path, so the CLI outside
# and the daemon inside name the same files).
mkdir -p "$T/agents"
cp -r "$EXAMPLES/word-count" "$AGENTS/escape" "$T/agents/"
chmod -R a+rX "$T/agents"
chown 65534:65534 "$T/state"
cat >"$T/state/atlas.config.yaml" <<'YAML'
sandbox:
  enabled: true
YAML
state=$T/state
# An ASan build's leak check stops the world with ptrace(2), which the
# unit's filter does not allow: it is off for the confined daemon (every
# other test checks the same code for leaks).
asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
# confined [--errno E]: atlasd in that arrangement, in the background
confined() {
    rm -f "$state/atlasd.url"
    # a clone under /tmp (CI's may be) stays visible, read-only, at its path
    # behind the private /tmp: the daemon's binary and SDK live there
    local keep=
    for d in "$SRC" "$BIN"; do
        case "$d/" in /tmp/* | /var/tmp/*) ;; *) continue ;; esac
        case "$d/" in "${keep:-//}"/*) continue ;; esac
        keep=$d
    done
    unshare -m --propagation private /bin/sh -c "
        set -e
        mount --bind '$T' /srv
        if [ -n '$keep' ]; then mkdir -p /srv/.keep && mount --bind '$keep' /srv/.keep; fi
        for m in \$(awk '{print \$5}' /proc/self/mountinfo | sort -u); do
            case \$m in /proc*|/sys*|/dev*|/srv*) continue ;; esac
            mount -o remount,bind,ro \"\$m\" 2>/dev/null || true
        done
        mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp
        mkdir -p '$T' && mount --bind /srv '$T' && mount -o remount,bind,ro '$T'
        if [ -n '$keep' ]; then
            mkdir -p '$keep' && mount --bind /srv/.keep '$keep' && mount -o remount,bind,ro '$keep'
            umount /srv/.keep
        fi
        mount --bind /srv/state '$state' && umount /srv
        exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
            --bounding-set=-all --no-new-privs \
            '$T/sysfilter' --allow '$T/allow' --families $families $* -- \
            env -i PATH=/usr/bin:/bin HOME=/nonexistent ATLAS_PYTHON_SDK='$SRC/sdk/python' \
                ASAN_OPTIONS='$asan' UBSAN_OPTIONS='${UBSAN_OPTIONS:-}' \
            '$BIN/atlasd' --config '$state/atlas.config.yaml' --data '$state' \
                --listen 127.0.0.1:0 --drain-timeout 5" >>"$T/atlasd.log" 2>&1 &
    DAEMON_PID=$!
    up() { [ -s "$state/atlasd.url" ] || { kill -0 "$DAEMON_PID" 2>/dev/null && return 1; return 0; }; }
    wait_for up || true
    [ -s "$state/atlasd.url" ] || return 1
    ATLAS_URL=$(cat "$state/atlasd.url")
    ATLAS_TOKEN=$(cat "$state/admin.token")
    export ATLAS_URL ATLAS_TOKEN
}
stop_confined() {
    kill -TERM "$DAEMON_PID"
    gone() { ! kill -0 "$DAEMON_PID" 2>/dev/null; }
    wait_for gone || { fail "the confined atlasd does not stop"; kill -KILL "$DAEMON_PID"; }
    wait "$DAEMON_PID" || true
    DAEMON_PID=
}
# first with a syscall outside the filter killing the process, so that
# none that atlasd, bubblewrap or a plain agent needs goes unnoticed
: >"$T/atlasd.log"
if confined; then
    pass "atlasd starts under the unit's filter, privileges and file-system view"
    expect_eq "the agent sandbox is in force there" "$(atlas --json health | j 'd["isolation"]["sandbox"]')" "bubblewrap"
    run_rc rc atlas register --path "$T/agents/word-count"
    expect_eq "an agent registers (its snapshot goes to the state directory)" "$rc" "0"
    atlas register --path "$T/agents/escape" >/dev/null
    expect_eq "a sandboxed agent runs" \
        "$(atlas --json run word-count --input '{"text": "confined and sandboxed"}' | j 'd["words"]')" "3"
    stop_confined
    expect_contains "and atlasd stops cleanly" "$(tail -1 "$T/atlasd.log")" "stopped"
else
    fail "atlasd did not start under the unit's confinement"
fi
expect_eq "no syscall outside the unit's filter was needed (no SIGSYS)" \
    "$(grep -c 'SIGSYS\|Bad system call' "$T/atlasd.log" || true)" "0"
# then as the unit has it (SystemCallErrorNumber=EPERM): a hostile agent,
# whose attempts include syscalls outside the filter, meets the walls
errno=$(setting SystemCallErrorNumber)
expect_eq "the unit fails filtered syscalls with EPERM" "$errno" "EPERM"
if confined --errno "$errno"; then
    port=${ATLAS_URL##*:}
    atlas --json run escape --input "{\"read\": [\"/etc/shadow\", \"$state/atlas.db\"], \"write\": [\"$state/escaped\"], \"port\": $port}" \
        >"$T/escape.json" 2>"$T/err" || true
    for what in "read /etc/shadow" "read $state/atlas.db" connect ptrace; do
        got=$(j "d.get('$what', 'missing')" <"$T/escape.json" 2>/dev/null || echo "no answer")
        case "$got" in
        blocked:*) pass "inside: $what is blocked (${got#blocked: })" ;;
        *) fail "inside: $what: $got" ;;
        esac
    done
    expect_contains "inside: the workspace is writable" "$(j 'd["workspace"]' <"$T/escape.json" 2>/dev/null)" "ESCAPED: /workspace/ok"
    [ -e "$state/escaped" ] && fail "the agent wrote to the state directory" || pass "inside: the state directory is out of the agent's reach"
    stop_confined
else
    fail "atlasd did not start under the unit's confinement (--errno)"
fi

# the units themselves
mkdir -p "$T/units" "$T/man"
for u in atlasd atlas-node; do
    sed -e "s|@bindir@|$BIN|g" -e "s|@pythondir@|$SRC/sdk/python|g" \
        "$SRC/packaging/systemd/$u.service.in" >"$T/units/$u.service"
done
/usr/bin/python3 "$SRC/packaging/man/gen-man.py" --bin "$BIN" --src "$SRC" --out "$T/man/x" >/dev/null
mkdir -p "$T/man/man1" "$T/man/man5" "$T/man/man8"
cp "$T/man/x/atlas.1" "$T/man/man1/"; cp "$T/man/x/atlasd.8" "$T/man/man8/"
cp "$T/man/x/atlas.config.yaml.5" "$T/man/man5/"
out=$(MANPATH=$T/man systemd-analyze verify "$T/units/atlasd.service" "$T/units/atlas-node.service" 2>&1)
expect_eq "systemd-analyze verify: no complaint" "$out" ""
expect_eq "atlasd.service is Type=notify" "$(sed -n 's/^Type=//p' "$T/units/atlasd.service")" "notify"
expect_eq "reload sends SIGHUP" "$(sed -n 's/^ExecReload=//p' "$T/units/atlasd.service")" '/bin/kill -HUP $MAINPID'
sec=$(systemd-analyze security --offline=yes "$T/units/atlasd.service" 2>/dev/null | tail -1)
log "info - systemd-analyze security: $sec"
finish
