#!/usr/bin/env bash
# The native Postgres 15 (+PostGIS): postgres.sh start|stop|status|ensure-dbs
#   start       create/configure Debian's cluster 15/main if needed, start it, wait until ready, ensure-dbs
#   stop        stop the cluster (fast shutdown)
#   status      "accepting connections" or not (exit 1 when not)
#   ensure-dbs  roles + databases intake, routing, supervision, notifications (password = name, each owns
#               its database), PostGIS in routing, superuser grid_admin/grid_admin; verifies password
#               logins over 127.0.0.1 and the Unix socket in /var/run/postgresql
# The server runs as the postgres user (pg_ctlcluster); start/stop/ensure-dbs need root. Honours PG_PORT.
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SERVICES=(intake routing supervision notifications)
CONF_DIR="/etc/postgresql/$PG_VERSION/$PG_CLUSTER"
CONF_FILE="$CONF_DIR/conf.d/grid-incidents.conf"
PG_LOG="/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"
MAX_CONNECTIONS=300

need_root() { is_root || die "postgres.sh $1 needs root (it runs pg_ctlcluster/psql as the postgres user)"; }
# cd /: psql complains when the postgres user cannot read the caller's working directory.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }
ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }
isready_code() { local rc=0; pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 || rc=$?; echo "$rc"; }
cluster_exists() { pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$PG_CLUSTER"; }
cluster_running() { pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1; }

# Create the cluster if needed and write our settings; prints "changed" when the settings file changed.
ensure_cluster() {
  [ -x "$PG_BIN/postgres" ] || die "Postgres $PG_VERSION is not installed ($PG_BIN/postgres); run deploy/local/setup.sh postgres"
  need_cmd pg_ctlcluster "package postgresql-common"
  if ! cluster_exists; then
    log "creating cluster $PG_VERSION/$PG_CLUSTER"
    pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" >/dev/null \
      || die "pg_createcluster $PG_VERSION $PG_CLUSTER failed"
  fi
  grep -Eq "^\s*include_dir\s*=\s*'conf.d'" "$CONF_DIR/postgresql.conf" \
    || die "$CONF_DIR/postgresql.conf does not include_dir 'conf.d', so $CONF_FILE would be ignored"
  mkdir -p "$CONF_DIR/conf.d"
  local want
  # ~16 service processes with small pools, plus tests and benchmarks. Everything else stays default except:
  want="# Written by deploy/local/postgres.sh; edits are overwritten.
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
port = $PG_PORT
max_connections = $MAX_CONNECTIONS
shared_buffers = 256MB
# Loopback only: TLS would cost more CPU than the queries (the 2-core target is CPU-bound).
ssl = off"
  if [ "$(cat "$CONF_FILE" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" >"$CONF_FILE"
    chown postgres:postgres "$CONF_FILE" 2>/dev/null || true
    echo changed
  fi
}

wait_ready() {
  local deadline=$((SECONDS + 30))
  until ready; do
    [ $SECONDS -lt $deadline ] || die "Postgres is not accepting connections on 127.0.0.1:$PG_PORT after 30 s; see $PG_LOG"
    sleep 0.3
  done
}

start() {
  need_root start
  local changed; changed="$(ensure_cluster)"
  if ! cluster_running; then
    log "starting Postgres $PG_VERSION ($PG_VERSION/$PG_CLUSTER) on 127.0.0.1:$PG_PORT"
    # (|| cluster_running: another checkout's start may have won the race.)
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start || cluster_running \
      || die "pg_ctlcluster $PG_VERSION $PG_CLUSTER start failed; see $PG_LOG"
  elif ! ready && [ "$(isready_code)" = 2 ]; then
    # Running but no answer on 127.0.0.1:$PG_PORT (1 would mean starting up or recovering: wait for that).
    log "restarting Postgres to apply $CONF_FILE"
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" restart || die "pg_ctlcluster $PG_VERSION $PG_CLUSTER restart failed; see $PG_LOG"
  elif [ -n "$changed" ]; then
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" reload || die "pg_ctlcluster $PG_VERSION $PG_CLUSTER reload failed; see $PG_LOG"
    sleep 0.3
    if [ "$(psql_admin -d postgres -tAc 'SELECT bool_or(pending_restart) FROM pg_settings')" = t ]; then
      log "restarting Postgres to apply $CONF_FILE (max_connections/shared_buffers/listen_addresses changed)"
      pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" restart || die "pg_ctlcluster $PG_VERSION $PG_CLUSTER restart failed; see $PG_LOG"
    fi
  fi
  wait_ready
  local mc; mc="$(psql_admin -d postgres -tAc 'SHOW max_connections')"
  [ "$mc" = "$MAX_CONNECTIONS" ] || die "max_connections is $mc, not $MAX_CONNECTIONS: something overrides $CONF_FILE (postgresql.auto.conf?)"
  ensure_dbs
}

ensure_dbs() {
  need_root ensure-dbs
  ready || die "Postgres is not accepting connections on 127.0.0.1:$PG_PORT (run: deploy/local/postgres.sh start; log: $PG_LOG)"
  local sql="" s
  # Convergent: roles and databases are created when missing, attributes and owners reset every time.
  for s in "${SERVICES[@]}"; do
    sql+="SELECT 'CREATE ROLE $s' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$s')\\gexec
ALTER ROLE $s LOGIN NOSUPERUSER PASSWORD '$s';
SELECT 'CREATE DATABASE $s OWNER $s' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$s')\\gexec
ALTER DATABASE $s OWNER TO $s;
"
  done
  # Tests and benchmarks create throwaway databases (with PostGIS) through this role.
  sql+="SELECT 'CREATE ROLE grid_admin' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grid_admin')\\gexec
ALTER ROLE grid_admin LOGIN SUPERUSER CREATEDB PASSWORD 'grid_admin';
\\connect routing
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
"
  # One retry: two checkouts starting at once can race on CREATE ROLE/DATABASE ("already exists").
  psql_admin -d postgres <<<"$sql" 2>/dev/null || { sleep 1; psql_admin -d postgres <<<"$sql"; } \
    || die "creating the roles, databases or the postgis extension failed (see above; log: $PG_LOG)"
  check_logins
}

# Every role logs in with its password over TCP 127.0.0.1 and over the Unix socket (the services use the socket:
# shared/settings.py local_database_url); one psql, \connect per role and way.
SOCKET_DIR=/var/run/postgresql
SOCKET_HOST=%2Fvar%2Frun%2Fpostgresql   # SOCKET_DIR as a libpq URI's host
try_logins() {
  local script="" s db host
  for s in "${SERVICES[@]}" grid_admin; do
    db="$s"; [ "$s" = grid_admin ] && db=postgres
    for host in 127.0.0.1 "$SOCKET_HOST"; do
      script+="\\connect postgresql://$s:$s@$host:$PG_PORT/$db?connect_timeout=5
"
    done
  done
  (cd / && psql -X -w -q -v ON_ERROR_STOP=1 -d "postgresql://grid_admin:grid_admin@127.0.0.1:$PG_PORT/postgres?connect_timeout=5" \
     <<<"${script}SELECT 1;" 2>&1 >/dev/null)
}

# Debian's pg_hba.conf takes socket logins by `peer` (the OS user's name): our roles have no OS users, so a line
# for theirs by password goes first. Password logins from 127.0.0.1 are in Debian's default; added when missing.
LOCAL_RULE="local all $(IFS=,; echo "${SERVICES[*]}"),grid_admin scram-sha-256"
TCP_RULE="host all all 127.0.0.1/32 scram-sha-256"
ensure_hba() {
  local hba="$CONF_DIR/pg_hba.conf" added=""
  if ! grep -qF "$LOCAL_RULE" "$hba"; then
    log "adding '$LOCAL_RULE' to $hba"
    sed -i "1i $LOCAL_RULE  # added by deploy/local/postgres.sh" "$hba"
    added=1
  fi
  if ! grep -Eq '^host\s+all\s+all\s+127\.0\.0\.1/32\s+(scram-sha-256|md5)' "$hba"; then
    log "adding '$TCP_RULE' to $hba"
    sed -i "1i $TCP_RULE  # added by deploy/local/postgres.sh" "$hba"
    added=1
  fi
  if [ -n "$added" ]; then
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" reload || die "pg_ctlcluster reload failed; see $PG_LOG"
    sleep 0.5
  fi
}

check_logins() {
  local err
  ensure_hba
  err="$(try_logins)" && return 0
  die "password login over 127.0.0.1:$PG_PORT or $SOCKET_DIR failed: $err -- check $CONF_DIR/pg_hba.conf"
}

stop() {
  need_root stop
  if cluster_exists && cluster_running; then
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop || die "pg_ctlcluster stop failed; see $PG_LOG"
    log "Postgres stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  ensure-dbs) ensure_dbs ;;
  stop) stop ;;
  status)
    if ready; then echo "postgres: accepting connections on 127.0.0.1:$PG_PORT"
    else echo "postgres: NOT accepting connections on 127.0.0.1:$PG_PORT (log: $PG_LOG)"; exit 1; fi ;;
  *) die "usage: postgres.sh start|stop|status|ensure-dbs" ;;
esac
