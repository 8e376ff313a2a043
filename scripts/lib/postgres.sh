# shellcheck shell=bash
# Starts a throw-away PostgreSQL cluster on 127.0.0.1:$WSS_PG_PORT (trust auth, loopback only)
# unless one already answers there, and exports TEST_DATABASE_URL for the tests.

WSS_PG_PORT="${WSS_PG_PORT:-55432}"

start_postgres() {
  local bin dir
  bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)"
  [ -x "$bin/pg_ctl" ] || { echo "PostgreSQL binaries not found under /usr/lib/postgresql" >&2; return 1; }
  dir="$WSS_TEST_STATE/pg"
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$WSS_PG_PORT/postgres"
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$WSS_PG_PORT"; then
    echo "==> PostgreSQL already answering on 127.0.0.1:$WSS_PG_PORT"
    return 0
  fi
  echo "==> starting PostgreSQL on 127.0.0.1:$WSS_PG_PORT"
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    run=(runuser -u postgres --)
    mkdir -p "$dir" && chown postgres: "$dir"
  else
    mkdir -p "$dir"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    "${run[@]}" "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
  fi
  "${run[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $WSS_PG_PORT -k $dir -c max_connections=400 -c fsync=off" >/dev/null
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$WSS_PG_PORT"
}
