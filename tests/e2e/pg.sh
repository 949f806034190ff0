# pg.sh - a throwaway PostgreSQL cluster for the tests (docs/postgres.md).
#
# Source it (after lib.sh, or alone: it only needs bash), then call
# pg_start: it runs Debian's initdb and pg_ctl from /usr/lib/postgresql/*/bin
# on a fresh directory, listening only on a Unix socket in that directory
# (listen_addresses=''), so nothing system-wide is touched and no port is
# taken.  It exports ATLAS_STORE_URL (a libpq conninfo for the database
# "atlas") and stops the cluster and removes its directory at pg_stop
# (which the caller's exit trap runs: pg_start chains it in).
#
# initdb and the server refuse to run as root: as root, the cluster belongs
# to an unprivileged user (ATLAS_PG_USER, default nobody) through setpriv,
# in a directory of its own under /tmp (a test's own temp dir is root's,
# mode 0700, which that user cannot enter).  Exits 77 (skip) when the
# binaries are missing.

PG_BIN=${ATLAS_PG_BIN:-}
if [ -z "$PG_BIN" ]; then
    for _d in /usr/lib/postgresql/*/bin; do
        [ -x "$_d/initdb" ] && PG_BIN=$_d
    done
fi
PG_DIR=
PG_RUN=()

pg_available() { [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; }

_pg_as() { "${PG_RUN[@]}" "$@"; }

pg_stop() {
    if [ -n "$PG_DIR" ] && [ -d "$PG_DIR/db" ]; then
        _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/db" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$PG_DIR" ] && [ "${KEEP_TMP:-}" = "" ]; then rm -rf "$PG_DIR"; fi
    PG_DIR=
}

# pg_start: start the cluster, create the database "atlas", export
# ATLAS_STORE_URL.  Exits 77 when PostgreSQL is not installed.
pg_start() {
    if ! pg_available; then
        printf '%s\n' "skip: PostgreSQL's initdb/pg_ctl not found (apt-get install postgresql)" >&2
        exit 77
    fi
    PG_DIR=$(mktemp -d "${ATLAS_PG_TMP:-/tmp}/atlas-pg.XXXXXX")
    PG_RUN=()
    if [ "$(id -u)" = 0 ]; then
        _u=${ATLAS_PG_USER:-nobody}
        _g=$(id -gn "$_u")
        chown "$_u:$_g" "$PG_DIR"
        PG_RUN=(setpriv --reuid="$_u" --regid="$_g" --clear-groups --)
    fi
    chmod 700 "$PG_DIR"
    if ! _pg_as "$PG_BIN/initdb" -D "$PG_DIR/db" -U atlas --auth=trust -E UTF8 --locale=C \
        --no-sync >"$PG_DIR/initdb.log" 2>&1; then
        cat "$PG_DIR/initdb.log" >&2
        printf '%s\n' "pg.sh: initdb failed" >&2
        exit 1
    fi
    # tests, not production: no fsync; a socket in the directory only
    cat >>"$PG_DIR/db/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
shared_buffers = 32MB
EOF
    if ! _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/db" -l "$PG_DIR/server.log" -w -t 60 start \
        >/dev/null 2>&1; then
        cat "$PG_DIR/server.log" >&2
        printf '%s\n' "pg.sh: the server did not start" >&2
        exit 1
    fi
    if ! "$PG_BIN/psql" -q -X "host=$PG_DIR user=atlas dbname=postgres" \
        -c 'CREATE DATABASE atlas' >/dev/null; then
        printf '%s\n' "pg.sh: cannot create the database" >&2
        exit 1
    fi
    PG_URL="host=$PG_DIR user=atlas dbname=atlas"
    ATLAS_STORE_URL=$PG_URL
    export ATLAS_STORE_URL
    # run pg_stop at exit, after whatever trap the caller set
    _pg_prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
    # shellcheck disable=SC2064
    trap "${_pg_prev:+$_pg_prev;} pg_stop" EXIT
}

# pg_psql SQL: run SQL on the test database, print unaligned rows.
pg_psql() { "$PG_BIN/psql" -q -X -A -t "$PG_URL" -c "$1"; }

# pg_restart: stop and start the server (the data stays).
pg_restart() {
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/db" -m fast -w stop >/dev/null 2>&1
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/db" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null 2>&1
}
