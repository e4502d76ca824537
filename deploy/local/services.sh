#!/usr/bin/env bash
# The four services' processes under supervisord (one program per role of deploy/local/processes.txt): it restarts
# any role that dies, with backoff (deploy/local/supervisord_conf.py writes its config).
# Usage: deploy/local/services.sh start|stop|status|migrate|wait [service...]|ctl SUPERVISORCTL-ARGS...
#   start    write the config from processes.txt and the caller's environment (ENV, CLOCK_MODE, CLOCK_SPEED, ...),
#            start supervisord or apply the config to the running one (`update`: roles whose settings changed are
#            restarted), then the roles: supervision's API first (the virtual clock's owner), then every other
#   stop     stop every role (TERM to its process group, KILL after 10 s) and supervisord
#   status   supervisorctl status; exit 1 unless every role runs
#   wait     until each named service (default: all four) answers /ready, or fail naming the laggards
#   ctl      any supervisorctl command: ctl tail -f intake-api, ctl restart routing-consume, ctl pid intake-api
# Honours GRID_RUN_DIR (default .run: config and socket in supervisor/, logs in logs/<service>-<role>.log), the
# <SERVICE>_HTTP_PORT variables, READY_TIMEOUT (60 s), GRID_METRICS_BASE_PORT (9400: each worker role's
# /metrics from there on, listed in $run/supervisor/prometheus-workers.yml; 0: off).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="${GRID_RUN_DIR:-$root/.run}"
py="$root/.venv/bin/python"
conf="$run/supervisor/supervisord.conf"
cd "$root"
# The settings have no default ENV (shared/settings.py): this native stack is the development one.
export ENV="${ENV:-dev}"
export GRID_METRICS_BASE_PORT="${GRID_METRICS_BASE_PORT:-9400}"

ctl() { "$root/.venv/bin/supervisorctl" -c "$conf" "$@"; }
# supervisord answers on its socket (not a pid file: it is the one that knows what runs).
supervisor_up() { [ -f "$conf" ] && ctl pid >/dev/null 2>&1; }

# The pid files of the services.sh before supervisord: stop what they name if it is still this checkout's role.
stop_unsupervised() {
  [ -d "$run/pids" ] || return 0
  local pf pid
  for pf in "$run"/pids/*.pid; do
    [ -f "$pf" ] || continue
    pid="$(cat "$pf")"
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-m services\."; then kill -TERM "$pid" 2>/dev/null || true; fi
    rm -f "$pf"
  done
  rmdir "$run/pids" 2>/dev/null || true
}

wait_ready() {
  declare -A port=([intake]=${INTAKE_HTTP_PORT:-8001} [routing]=${ROUTING_HTTP_PORT:-8002}
                   [supervision]=${SUPERVISION_HTTP_PORT:-8003} [notifications]=${NOTIFICATIONS_HTTP_PORT:-8004})
  local targets=("${@:-intake routing supervision notifications}")
  # shellcheck disable=SC2206
  targets=(${targets[*]})
  local deadline=$((SECONDS + ${READY_TIMEOUT:-60})) s
  for s in "${targets[@]}"; do
    until curl -fsS "http://127.0.0.1:${port[$s]}/ready" >/dev/null 2>&1; do
      if [ $SECONDS -ge $deadline ]; then
        echo "ERROR: $s did not become ready on :${port[$s]} (see $run/logs/$s-api.log; /ready says:" >&2
        curl -sS "http://127.0.0.1:${port[$s]}/ready" >&2 || echo " no answer" >&2
        echo ")" >&2
        exit 1
      fi
      sleep 0.3
    done
  done
}

case "${1:-}" in
  migrate)
    for s in intake routing supervision notifications; do LOG_LEVEL=WARNING "$py" -m "services.$s" migrate; done
    "$py" -m shared.messaging.topics
    ;;
  start)
    stop_unsupervised
    "$py" -m deploy.local.supervisord_conf "$run" >/dev/null
    if supervisor_up; then
      ctl update >/dev/null   # a changed role restarts with its new settings; a removed one stops
    else
      "$root/.venv/bin/supervisord" -c "$conf"
      deadline=$((SECONDS + 10))
      until supervisor_up; do
        [ $SECONDS -lt $deadline ] || { echo "ERROR: supervisord did not answer (see $run/logs/supervisord.log)" >&2; exit 1; }
        sleep 0.1
      done
    fi
    # The virtual clock's owner must answer before its followers ask it for the time.
    ctl start 'supervision-api:*' >/dev/null
    wait_ready supervision
    ctl start all >/dev/null || { ctl status >&2 || true; echo "ERROR: not every role started (logs: $run/logs/)" >&2; exit 1; }
    echo "services started under supervisord; logs in $run/logs/; deploy/local/services.sh ctl status|tail -f <role>"
    ;;
  stop)
    stop_unsupervised
    if supervisor_up; then
      ctl stop all >/dev/null || true
      ctl shutdown >/dev/null || true
      deadline=$((SECONDS + 20))
      while supervisor_up; do
        [ $SECONDS -lt $deadline ] || { echo "ERROR: supervisord did not shut down" >&2; exit 1; }
        sleep 0.1
      done
    fi
    echo "services stopped"
    ;;
  status)
    supervisor_up || { echo "  services: supervisord is not running (make up)"; exit 1; }
    ctl status | sed 's/^/  /' || exit 1
    ;;
  wait)
    shift || true
    wait_ready "$@"
    ;;
  ctl)
    shift
    ctl "$@"
    ;;
  *) echo "usage: $0 start|stop|status|migrate|wait [service...]|ctl SUPERVISORCTL-ARGS..." >&2; exit 2 ;;
esac
