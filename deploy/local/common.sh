# Shared by the deploy/local scripts: paths, versions, messages. Source it, don't run it.
set -euo pipefail
LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$LOCAL_DIR/../.." && pwd)"
RUN_DIR="$ROOT_DIR/.run"
CACHE_DIR="${GRID_CACHE_DIR:-$HOME/.cache/grid-incidents}"
KAFKA_VERSION="4.1.1"
KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
PG_VERSION=15
PG_CLUSTER=main
PG_PORT="${PG_PORT:-5432}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
VENV="$ROOT_DIR/.venv"

log() { printf '\033[1;34m[%s]\033[0m %s\n' "$(basename "$0" .sh)" "$*"; }
die() { printf '\033[1;31m[%s] ERROR:\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {  # wait_for_port PORT SECONDS WHAT
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}

apt_install() {  # apt_install PKG...: one `apt-get update` per run, then install
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $* (or install them yourself)"
  if [ -z "${_APT_UPDATED:-}" ]; then
    log "apt-get update"
    apt-get update -qq
    _APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
