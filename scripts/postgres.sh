#!/usr/bin/env bash
# A throw-away PostgreSQL server for Slipway's tests, from Debian's packages, on loopback only.
#
#   scripts/postgres.sh install          install the `postgresql` package if it is missing
#   scripts/postgres.sh start DIR PORT   make a cluster in DIR (owned by the postgres user), start it
#                                        on 127.0.0.1:PORT and print its URL
#   scripts/postgres.sh stop DIR         stop the cluster in DIR and remove DIR
#
# PostgreSQL refuses to run as root, so when this runs as root the server runs as `postgres`.
set -euo pipefail

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$found" && -x "$found/initdb" ]] && echo "$found"
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  install)
    if bindir >/dev/null; then exit 0; fi
    echo "installing PostgreSQL from Debian's packages" >&2
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bindir >/dev/null || { echo "PostgreSQL did not install" >&2; exit 1; }
    ;;
  start)
    dir=${2:?usage: postgres.sh start DIR PORT}
    port=${3:?usage: postgres.sh start DIR PORT}
    bin=$(bindir) || { echo "PostgreSQL is not installed: run scripts/postgres.sh install" >&2; exit 1; }
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U slipway --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://slipway@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir=${2:?usage: postgres.sh stop DIR}
    bin=$(bindir) || exit 0
    [[ -d "$dir/data" ]] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/postgres.sh install | start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
