#!/usr/bin/env bash
# The native Postgres 15 (+PostGIS): postgres.sh start|stop|status|ensure-dbs
# Uses Debian's cluster 15/main, run by the postgres user; four roles and databases, one per service.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SERVICES=(intake routing supervision notifications)
CONF_DIR="/etc/postgresql/$PG_VERSION/$PG_CLUSTER"
PG_LOG="/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"

as_postgres() { runuser -u postgres -- "$@"; }
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }
ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }

ensure_cluster() {
  [ "$(id -u)" = 0 ] || die "run as root (the server runs as the postgres user via runuser)"
  if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$PG_CLUSTER"; then
    log "creating cluster $PG_VERSION/$PG_CLUSTER"
    pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" >/dev/null
  fi
  mkdir -p "$CONF_DIR/conf.d"
  # ~16 service processes with small pools, plus tests and benchmarks.
  cat >"$CONF_DIR/conf.d/grid-incidents.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
max_connections = 300
shared_buffers = 256MB
# Loopback only: TLS would cost more CPU than the queries (the 2-core target is CPU-bound).
ssl = off
CONF
}

start() {
  ensure_cluster
  if ! ready; then
    log "starting Postgres $PG_VERSION on :$PG_PORT"
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start || die "Postgres did not start; see $PG_LOG"
    local deadline=$((SECONDS + 30))
    until ready; do
      [ $SECONDS -lt $deadline ] || die "Postgres is not accepting connections after 30 s; see $PG_LOG"
      sleep 0.3
    done
  fi
  ensure_dbs
}

ensure_dbs() {
  local s
  for s in "${SERVICES[@]}"; do
    psql_admin -d postgres <<SQL
SELECT 'CREATE ROLE $s LOGIN PASSWORD ''$s''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$s')\gexec
SELECT 'CREATE DATABASE $s OWNER $s' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$s')\gexec
SQL
  done
  # Tests create throwaway databases (with PostGIS) through this role.
  psql_admin -d postgres <<SQL
SELECT 'CREATE ROLE grid_admin LOGIN SUPERUSER PASSWORD ''grid_admin''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grid_admin')\gexec
SQL
  psql_admin -d routing -c "CREATE EXTENSION IF NOT EXISTS postgis" 2>&1 | grep -v NOTICE || true
  psql_admin -d routing -tAc "SELECT 1 FROM pg_extension WHERE extname = 'postgis'" | grep -q 1 \
    || die "PostGIS is not enabled in the routing database"
}

case "${1:-}" in
  start) start ;;
  ensure-dbs) ensure_dbs ;;
  stop) if ready; then pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop && log "Postgres stopped"; fi ;;
  status)
    if ready; then echo "postgres: accepting connections on :$PG_PORT"; else echo "postgres: DOWN"; exit 1; fi ;;
  *) die "usage: postgres.sh start|stop|status|ensure-dbs" ;;
esac
