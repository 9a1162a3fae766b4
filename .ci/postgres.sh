#!/usr/bin/env bash
# Starts a private PostgreSQL cluster for the tests (installing the Debian
# package when absent) and prints its admin URL on stdout. Idempotent: a
# cluster already running in $PGDIR is reused.
#   PGDIR   cluster directory (default /tmp/mcpctl-pg)
#   PGPORT  port on 127.0.0.1 (default 54329)
#   PGFSYNC on|off (default off: test data is thrown away; benchmarks use on)
set -euo pipefail
PGDIR=${PGDIR:-/tmp/mcpctl-pg}
PGPORT=${PGPORT:-54329}
PGFSYNC=${PGFSYNC:-off}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
  echo "postgres.sh: installing PostgreSQL (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

# PostgreSQL refuses to run as root: run it as the postgres user (created by
# the package) or as the current user when not root.
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir "$PGDIR" --shell /bin/false postgres
fi

if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; then
  if [ ! -f "$PGDIR/PG_VERSION" ]; then
    mkdir -p "$PGDIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
    run "$bindir/initdb" -D "$PGDIR" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  # Nothing answers on our port, so a pid or socket lock left by a killed
  # session is stale; remove it, or a recycled pid could block the start.
  rm -f "$PGDIR/postmaster.pid" "$PGDIR"/run/.s.PGSQL.*
  mkdir -p "$PGDIR/run"
  [ "$(id -u)" = 0 ] && chown postgres "$PGDIR/run"
  run "$bindir/pg_ctl" -D "$PGDIR" -l "$PGDIR/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PGDIR/run -c max_connections=300 -c fsync=$PGFSYNC" start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"
