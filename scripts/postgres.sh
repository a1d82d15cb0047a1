#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (Debian's `postgresql` package, which
# `scripts/setup.sh --test` installs), in a directory of its own, on 127.0.0.1 and a unix
# socket in that directory, with trust authentication for its local user `glovebox`: nothing
# outside the machine can reach it, and it is deleted when stopped.
#
#   bash scripts/postgres.sh start DIR   initdb and start; prints the URL of its `postgres`
#                                        database (the tests create their own databases)
#   bash scripts/postgres.sh stop DIR    stops it (immediately) and deletes DIR
#   bash scripts/postgres.sh restart DIR [SECONDS]
#                                        stops it, waits SECONDS (default 0) and starts it
#                                        again on the same port (the tests' outage)
#
# initdb refuses to run as root: as root the cluster belongs to the package's `postgres`
# user.
set -euo pipefail
cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: bash scripts/postgres.sh start|stop|restart DIR [SECONDS]" >&2
    exit 2
fi
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL's server is not installed: bash scripts/setup.sh --test" >&2
    exit 1
fi
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
case "$cmd" in
start)
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$bin/initdb" -D "$dir/data" -U glovebox --auth=trust -E UTF8 --no-sync >"$dir/initdb.log"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
CONF
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    echo "postgres://glovebox@127.0.0.1:$port/postgres"
    ;;
stop)
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    sleep "${3:-0}"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    ;;
*)
    echo "usage: bash scripts/postgres.sh start|stop|restart DIR" >&2
    exit 2
    ;;
esac
