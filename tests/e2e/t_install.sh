#!/bin/bash
# make install / make uninstall with PREFIX and DESTDIR: every piece lands
# where its user looks for it (binaries, man pages that render, completion
# scripts, the Python SDK on python3's path, the C SDK through pkg-config,
# the units, which systemd-analyze verifies), the installed programs work
# together, and uninstall removes every file it put there.
# Not checked here: installing into the real / (t_package.sh does, through
# dpkg, into a scratch root) and systemd starting the units (not PID 1).
. "$(dirname "$0")/lib.sh"
[ -x "$BIN/atlas" ] || { log "skip - no build in $BIN"; exit 77; }
# what is installed is the plain build's: a sanitizer build's C SDK needs the
# sanitizer's runtime to link, which no user has
if [ "${ATLAS_BUILD_DIR:-}" != "" ] && [ "$ATLAS_BUILD_DIR" != "${ATLAS_PLAIN_BUILD_DIR:-$ATLAS_BUILD_DIR}" ]; then
    log "skip - make install is tested in the plain build's run only"
    exit 77
fi
D=$T/dest
P=/usr/local
make -s -C "$SRC" install BUILD="$BIN" PREFIX=$P DESTDIR="$D" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; fail "make install failed"; finish; exit 1; }
pass "make install exits 0"
for f in bin/atlas bin/atlasd share/man/man1/atlas.1 share/man/man8/atlasd.8 \
    share/man/man5/atlas.config.yaml.5 share/bash-completion/completions/atlas \
    share/zsh/vendor-completions/_atlas share/fish/vendor_completions.d/atlas.fish \
    include/atlas_agent.h lib/libatlas-agent.a lib/pkgconfig/atlas-agent.pc \
    lib/systemd/system/atlasd.service lib/systemd/system/atlas-node.service \
    lib/sysusers.d/atlas.conf lib/tmpfiles.d/atlas.conf share/atlas/atlas.config.yaml.example \
    share/doc/atlas/README.md share/atlas/examples/agents/word-count/agent.yaml; do
    [ -f "$D$P/$f" ] || fail "missing $P/$f"
done
pass "every file is installed"
[ -z "$(find "$D$P/share/atlas/examples" -name agent -type f)" ] && pass "no build output among the examples" || fail "built binaries in examples"
expect_eq "the installed atlas runs" "$("$D$P/bin/atlas" --version)" "atlas $("$BIN/atlas" --version | cut -d' ' -f2)"

# man pages: render without warnings, and carry every command of --help
for m in man1/atlas.1 man8/atlasd.8 man5/atlas.config.yaml.5; do
    w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$D$P/share/man/$m" 2>&1 >/dev/null)
    expect_eq "man $m renders without warnings" "$w" ""
done
MANWIDTH=200 man -l "$D$P/share/man/man1/atlas.1" 2>/dev/null >"$T/atlas.txt"
for c in $("$BIN/atlas" --help | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ {print $1}'); do
    grep -q "usage: atlas $c" "$T/atlas.txt" || fail "atlas(1) lacks the usage of $c"
done
pass "atlas(1) has the --help of every command"
expect_contains "atlasd(8) is atlasd --help" "$(MANWIDTH=200 man -l "$D$P/share/man/man8/atlasd.8" 2>/dev/null)" \
    "$("$BIN/atlasd" --help | sed -n 3p)"
expect_contains "atlas.config.yaml(5) has the keys" \
    "$(MANWIDTH=200 man -l "$D$P/share/man/man5/atlas.config.yaml.5" 2>/dev/null)" "max_concurrent_agents"

# the Python SDK: in a directory on python3's own path, and importable
pyd=$(/usr/bin/python3 "$SRC/packaging/python-dir.py" $P)
/usr/bin/python3 -c "import sys; sys.exit(0 if '$pyd' in sys.path else 1)" &&
    pass "the SDK's directory $pyd is on python3's path" || fail "$pyd is not on python3's path"
expect_eq "the installed SDK imports" \
    "$(cd /; PYTHONPATH=$D$pyd /usr/bin/python3 -c 'import atlas, os; print(os.path.dirname(atlas.__file__))')" \
    "$D$pyd/atlas"

# the C SDK: an agent built with pkg-config against the installed files runs
pc() { PKG_CONFIG_PATH=$D$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config "$@" atlas-agent; }
mkdir -p "$T/cagent"
cp "$EXAMPLES/echo-c/agent.c" "$EXAMPLES/echo-c/agent.yaml" "$T/cagent/"
# shellcheck disable=SC2046
cc -std=c17 -O1 $(pc --cflags) -o "$T/cagent/agent" "$T/cagent/agent.c" $(pc --libs) ||
    fail "the C agent does not build with pkg-config atlas-agent"
mkdir -p "$DATA"
# the unit sets ATLAS_PYTHON_SDK to the SDK's installed directory: so here
ATLAS_PYTHON_SDK=$D$pyd BIN=$D$P/bin start_daemon
"$D$P/bin/atlas" register --path "$T/cagent" >/dev/null
expect_eq "the C agent built from the installed SDK runs under the installed atlasd" \
    "$("$D$P/bin/atlas" --json run echo-c --input '{"x": 1}' | j 'd["x"]')" "1"
cp -r "$EXAMPLES/word-count" "$T/wc"
"$D$P/bin/atlas" register --path "$T/wc" >/dev/null
expect_eq "a Python agent runs under the installed atlasd with the installed SDK" \
    "$("$D$P/bin/atlas" --json run word-count --input '{"text": "a b"}' | j 'd["words"]')" "2"
stop_daemon

# the units: systemd-analyze verify (binaries and man pages as installed)
sed -i "s|ExecStart=$P/bin/|ExecStart=$D$P/bin/|" "$D$P"/lib/systemd/system/*.service
out=$(MANPATH=$D$P/share/man systemd-analyze verify "$D$P/lib/systemd/system/atlasd.service" \
    "$D$P/lib/systemd/system/atlas-node.service" 2>&1)
expect_eq "systemd-analyze verify finds nothing wrong in the units" "$out" ""

make -s -C "$SRC" uninstall BUILD="$BIN" PREFIX=$P DESTDIR="$D" >/dev/null 2>&1
expect_eq "make uninstall removes every file" "$(find "$D" -type f | wc -l)" "0"
finish
