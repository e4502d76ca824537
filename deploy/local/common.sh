# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Shared by the deploy/local scripts: paths, versions, messages. Source it, don't run it.
#
# Environment it honours:
#   GRID_CACHE_DIR         downloads shared by every checkout on this machine (default ~/.cache/grid-incidents)
#   PG_PORT                Postgres port (default 5432)
#   PG_CLUSTER             Debian cluster name (default main; another name gives a separate 15/<name> cluster)
#   KAFKA_PORT             Kafka client listener (default 9092)
#   KAFKA_CONTROLLER_PORT  Kafka KRaft controller listener (default 9093)
#   GRID_VENV              the Python venv setup.sh fills (default .venv, the one the Makefile's targets use)
set -euo pipefail
LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$LOCAL_DIR/../.." && pwd)"
RUN_DIR="$ROOT_DIR/.run"
CACHE_DIR="${GRID_CACHE_DIR:-$HOME/.cache/grid-incidents}"
VENV="${GRID_VENV:-$ROOT_DIR/.venv}"

KAFKA_VERSION="4.1.1"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_STAMP="$KAFKA_LIBS/.complete"   # holds the sha256 of the pom the jars came from
KAFKA_POM="$LOCAL_DIR/kafka/pom.xml"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"

PG_VERSION=15
PG_CLUSTER="${PG_CLUSTER:-main}"
PG_PORT="${PG_PORT:-5432}"
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
POSTGIS_CONTROL="/usr/share/postgresql/$PG_VERSION/extension/postgis.control"

_script="$(basename "$0" .sh)"
if [ -t 2 ]; then _c_info=$'\033[1;34m' _c_err=$'\033[1;31m' _c_off=$'\033[0m'; else _c_info='' _c_err='' _c_off=''; fi
log() { printf '%s[%s]%s %s\n' "$_c_info" "$_script" "$_c_off" "$*" >&2; }
die() { printf '%s[%s] ERROR:%s %s\n' "$_c_err" "$_script" "$_c_off" "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed${2:+ ($2)}"; }

# TCP connect to 127.0.0.1:PORT succeeds (bash /dev/tcp, no extra tools).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {  # wait_for_port PORT SECONDS: 0 once something listens, 1 on timeout
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

apt_install() {  # apt_install PKG...: one `apt-get update` per run, then install
  is_root || die "$* not installed and not root: run 'sudo apt-get install -y $*' (or run this script as root)"
  need_cmd apt-get "this setup expects Debian/Ubuntu"
  if [ -z "${_APT_UPDATED:-}" ]; then
    log "apt-get update"
    apt-get update -qq || die "apt-get update failed (network or apt sources?)"
    _APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}
