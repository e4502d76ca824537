#!/usr/bin/env bash
# Start, stop and inspect the four services' processes (one process per role, deploy/local/processes.txt).
# Usage: deploy/local/services.sh start|stop|status|migrate|wait
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="$root/.run"
py="$root/.venv/bin/python"
mkdir -p "$run/pids" "$run/logs"
cd "$root"
# The settings have no default ENV (shared/settings.py): this native stack is the development one.
export ENV="${ENV:-dev}"

roles() { grep -v '^\s*#' "$here/processes.txt" | awk 'NF>=2 {print $1, $2}'; }
pidfile() { echo "$run/pids/$1-$2.pid"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

case "${1:-}" in
  migrate)
    for s in intake routing supervision notifications; do LOG_LEVEL=WARNING "$py" -m "services.$s" migrate; done
    "$py" -m shared.messaging.topics
    ;;
  start)
    roles | while read -r service role; do
      pf="$(pidfile "$service" "$role")"
      if alive "$pf"; then continue; fi
      setsid nohup "$py" -m "services.$service" "$role" >>"$run/logs/$service-$role.log" 2>&1 </dev/null &
      echo $! >"$pf"
      # The virtual clock's owner must answer before its followers ask it for the time.
      if [ "$service $role" = "supervision api" ]; then "$0" wait supervision; fi
    done
    echo "services started; logs in .run/logs/"
    ;;
  stop)
    for pf in "$run"/pids/*.pid; do
      [ -f "$pf" ] || continue
      if alive "$pf"; then kill -TERM "$(cat "$pf")" 2>/dev/null || true; fi
    done
    for _ in $(seq 50); do
      left=0
      for pf in "$run"/pids/*.pid; do [ -f "$pf" ] && alive "$pf" && left=1; done
      [ "$left" = 0 ] && break
      sleep 0.2
    done
    for pf in "$run"/pids/*.pid; do
      [ -f "$pf" ] || continue
      alive "$pf" && kill -KILL "$(cat "$pf")" 2>/dev/null || true
      rm -f "$pf"
    done
    echo "services stopped"
    ;;
  status)
    code=0
    while read -r service role; do
      if alive "$(pidfile "$service" "$role")"; then state="running (pid $(cat "$(pidfile "$service" "$role")"))"
      else state="STOPPED"; code=1; fi
      printf '  %-14s %-12s %s\n' "$service" "$role" "$state"
    done < <(roles)
    exit $code
    ;;
  wait)
    # Wait until each named service (default: all four) answers /ready, or fail naming the laggards.
    declare -A port=([intake]=${INTAKE_HTTP_PORT:-8001} [routing]=${ROUTING_HTTP_PORT:-8002}
                     [supervision]=${SUPERVISION_HTTP_PORT:-8003} [notifications]=${NOTIFICATIONS_HTTP_PORT:-8004})
    shift || true
    targets=("${@:-intake routing supervision notifications}")
    # shellcheck disable=SC2206
    targets=(${targets[*]})
    deadline=$((SECONDS + ${READY_TIMEOUT:-60}))
    for s in "${targets[@]}"; do
      until curl -fsS "http://127.0.0.1:${port[$s]}/ready" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
          echo "ERROR: $s did not become ready on :${port[$s]} (see .run/logs/$s-api.log; /ready says:" >&2
          curl -sS "http://127.0.0.1:${port[$s]}/ready" >&2 || echo " no answer" >&2
          echo ")" >&2
          exit 1
        fi
        sleep 0.3
      done
    done
    ;;
  *) echo "usage: $0 start|stop|status|migrate|wait [service...]" >&2; exit 2 ;;
esac
