# Finds a PostgreSQL the tests can use, or starts a throwaway one; exports DATABASE_URL.
# Order: $DATABASE_URL if reachable, the local server on 127.0.0.1:5432, else a cluster
# made with initdb in a temporary folder (stopped when the calling shell exits).

pg_bin() {
  local tool=$1
  if command -v "$tool" >/dev/null 2>&1; then command -v "$tool"; return; fi
  ls /usr/lib/postgresql/*/bin/"$tool" 2>/dev/null | sort -V | tail -n 1
}

pg_reachable() {
  local isready
  isready=$(pg_bin pg_isready)
  [ -n "$isready" ] && "$isready" -q -d "$1" -t 3
}

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ] && pg_reachable "$DATABASE_URL"; then
    echo "postgres: using DATABASE_URL" >&2
    return
  fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if pg_reachable "$local_url"; then
    export DATABASE_URL="$local_url"
    echo "postgres: using the local server at 127.0.0.1:5432" >&2
    return
  fi
  local initdb pg_ctl dir port
  initdb=$(pg_bin initdb); pg_ctl=$(pg_bin pg_ctl)
  if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
    echo "postgres: none reachable and no initdb/pg_ctl installed (apt-get install postgresql)" >&2
    return 1
  fi
  dir=$(mktemp -d /tmp/chc-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # initdb refuses to run as root; the throwaway cluster then runs as nobody.
  local as=""
  if [ "$(id -u)" = 0 ]; then chown nobody "$dir"; as="runuser -u nobody --"; fi
  $as "$initdb" -D "$dir/data" -U postgres -A trust >/dev/null
  $as "$pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
  trap "$as '$pg_ctl' -D '$dir/data' -m fast stop >/dev/null 2>&1; rm -rf '$dir'" EXIT
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "postgres: started a throwaway cluster on port $port" >&2
}
