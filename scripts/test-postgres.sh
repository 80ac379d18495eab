#!/usr/bin/env bash
# Starts or stops the throwaway PostgreSQL cluster that the test suite uses.
#   scripts/test-postgres.sh start DIR   -> prints DATABASE_URL=... (admin database "postgres")
#   scripts/test-postgres.sh stop DIR
# TEST_PG_PORT chooses the port (default: a free one).
# Uses the installed PostgreSQL server binaries (initdb, pg_ctl). As root, runs them as the
# `postgres` user, since PostgreSQL refuses to run as root.
source "$(dirname "$0")/common.sh"

cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop DIR"

pg_bin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
    die "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
}
BIN="$(pg_bin)"
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
start)
    mkdir -p "$dir"
    is_root && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        step "Creating test PostgreSQL cluster in $dir"
        as_pg "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-instructions >/dev/null
    fi
    if as_pg "$BIN/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
        port="$(sed -n 4p "$dir/data/postmaster.pid")"
    else
        # TEST_PG_PORT: start again on the port it had (scripts/fault-test.sh restarts it).
        port="${TEST_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
        as_pg "$BIN/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/postgres.log" \
            -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null \
            || { tail -20 "$dir/postgres.log" >&2; die "test PostgreSQL did not start"; }
    fi
    echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$BIN/pg_ctl" stop -D "$dir/data" -m fast >/dev/null || true
    fi
    ;;
*) die "usage: $0 start|stop DIR" ;;
esac
