#!/bin/bash
# atlas doctor: each check finds what it is for and prints the fix; a
# healthy installation has no problem (exit 0).
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
printf 'log_level: info\n' >"$T/ok.yaml"

# nothing running: the daemon check fails with how to start it
run_rc rc atlas --url http://127.0.0.1:9 doctor --data "$DATA" --config "$T/ok.yaml"
expect_eq "no daemon: exit 1" "$rc" "1"
expect_contains "says it cannot reach it" "$(cat "$T/out")" "FAIL  daemon    cannot reach atlasd at http://127.0.0.1:9"
expect_contains "and how to start it" "$(cat "$T/out")" "systemctl start atlasd"

# healthy
start_daemon --config "$T/ok.yaml"
atlas register --path "$EXAMPLES/word-count" >/dev/null
run_rc rc atlas doctor --config "$T/ok.yaml"
expect_eq "healthy: exit 0" "$rc" "0"
expect_contains "finds the data directory through the daemon" "$(cat "$T/out")" "$DATA (from the daemon at the URL)"
expect_contains "store ok" "$(cat "$T/out")" "passes SQLite's quick_check"
run_rc rc atlas --json doctor --config "$T/ok.yaml"
expect_eq "--json" "$(j '"%s %s" % (d["problems"], sorted(c["name"] for c in d["checks"]))' <"$T/out")" \
    "0 ['daemon', 'disk', 'models', 'store', 'url-file', 'userns']"

# a stale atlasd.url: the daemon was killed
kill9_daemon
run_rc rc atlas --url http://127.0.0.1:9 doctor --data "$DATA" --config "$T/ok.yaml"
expect_contains "a stale atlasd.url is found" "$(cat "$T/out")" "but no atlasd uses $DATA"
expect_contains "with its fix" "$(cat "$T/out")" "remove $DATA/atlasd.url"

# the CLI pointed at the wrong address while the daemon runs elsewhere
start_daemon --config "$T/ok.yaml"
run_rc rc atlas --url http://127.0.0.1:9 doctor --data "$DATA" --config "$T/ok.yaml"
expect_contains "a wrong ATLAS_URL is found" "$(cat "$T/out")" "serves $ATLAS_URL, but the CLI asks http://127.0.0.1:9"
expect_contains "with the address to use" "$(cat "$T/out")" "export ATLAS_URL=$ATLAS_URL"

# user namespaces disabled (a fake /proc/sys: this machine's is not changed)
mkdir -p "$T/sys/user" "$T/sys/kernel"
echo 0 >"$T/sys/user/max_user_namespaces"
run_rc rc env ATLAS_DOCTOR_SYSCTL_DIR="$T/sys" "$BIN/atlas" doctor --config "$T/ok.yaml"
expect_eq "userns disabled: exit 1" "$rc" "1"
expect_contains "says so" "$(cat "$T/out")" "FAIL  userns    user namespaces are disabled"
expect_contains "with the sysctl" "$(cat "$T/out")" "sysctl -w user.max_user_namespaces=15000"
echo 15000 >"$T/sys/user/max_user_namespaces"
echo 0 >"$T/sys/kernel/unprivileged_userns_clone"
run_rc rc env ATLAS_DOCTOR_SYSCTL_DIR="$T/sys" "$BIN/atlas" doctor --config "$T/ok.yaml"
expect_contains "Debian's unprivileged_userns_clone=0 too" "$(cat "$T/out")" "kernel.unprivileged_userns_clone=1"

# a model backend that does not answer, and one that does
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/models.yaml" <<YAML
models:
  backends:
    dead: {kind: openai, base_url: "http://127.0.0.1:$port/v1", models: ["m1"]}
YAML
run_rc rc atlas doctor --config "$T/models.yaml"
expect_eq "a dead backend: exit 1" "$rc" "1"
expect_contains "names it" "$(cat "$T/out")" "backend dead does not answer at http://127.0.0.1:$port/v1/models"
expect_contains "with the fix" "$(cat "$T/out")" "correct models.backends.dead.base_url in $T/models.yaml"
mkdir -p "$T/www/v1"
echo '{"data": []}' >"$T/www/v1/models"
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$port" >"$T/fake.log" 2>&1 &
FAKE=$!
wait_for curl -sf "http://127.0.0.1:$port/v1/models" || fail "the stand-in backend did not start"
run_rc rc atlas doctor --config "$T/models.yaml"
expect_contains "a live backend answers" "$(cat "$T/out")" "ok    models    backend dead answers"
kill "$FAKE" 2>/dev/null || true

# a settings file with an error
printf 'execution:\n  max_concurent_agents: 3\n' >"$T/bad.yaml"
run_rc rc atlas doctor --config "$T/bad.yaml"
expect_contains "a broken settings file is found" "$(cat "$T/out")" "max_concurent_agents"

# free disk below the threshold
run_rc rc atlas doctor --config "$T/ok.yaml" --min-free-mb 999999999
expect_eq "little free space: exit 1" "$rc" "1"
expect_contains "says where" "$(cat "$T/out")" "FAIL  disk"

# a damaged store
stop_daemon
cp "$DATA/atlas.db" "$T/bad.db"
/usr/bin/python3 - "$T/bad.db" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
page = int.from_bytes(b[16:18], "big") or 65536
# scribble over the second page (a b-tree page): quick_check must notice
for i in range(page + 8, min(len(b), 2 * page)):
    b[i] = 0x5A
open(p, "wb").write(bytes(b))
PY
mkdir -p "$T/baddata"
cp "$T/bad.db" "$T/baddata/atlas.db"
run_rc rc atlas --url http://127.0.0.1:9 doctor --data "$T/baddata" --config "$T/ok.yaml"
expect_contains "a damaged store is found" "$(cat "$T/out")" "FAIL  store     integrity check"
expect_contains "with the fix" "$(cat "$T/out")" "atlas restore FILE"
run_rc rc atlas doctor --bogus
expect_eq "unknown option: exit 2" "$rc" "2"
finish
