#!/usr/bin/env bash
# The one web origin (nginx from Debian): nginx.sh start|stop|status|reload|render|run
#   start   render the config into $NGINX_RUN_DIR, check it (nginx -t), start nginx (or reload a running one),
#           wait until it answers on NGINX_PORT
#   stop    graceful stop (QUIT), then TERM/KILL after 10 s
#   status  exit 1 unless this checkout's nginx runs and answers
#   reload  render and check the config again, then HUP
#   render  only write the config (nginx.conf + grid-web.conf from deploy/nginx/grid-web.conf.template)
#   run     render, then nginx in the foreground (the compose image's command; logs to stdout/stderr)
# It serves the built console (services/web/dist; deploy/local/setup.sh web builds it) and proxies /api/<service>/
# to the four APIs. Unprivileged: as root, nginx runs as www-data (runuser), never as root, unless www-data cannot
# read the checkout (then as the caller, said in the log); it binds an unprivileged port, and its pid, temp files
# and config live under .run/, its logs in .run/logs/nginx-*.log. No system nginx service is used or touched.
#
# Honours: NGINX_PORT (8080), NGINX_HOST (127.0.0.1), NGINX_RUN_DIR (.run/nginx), NGINX_LOG_DIR (.run/logs),
# NGINX_USER (www-data, when started as root), WEB_ROOT (services/web/dist), INTAKE_UPSTREAM … NOTIFICATIONS_UPSTREAM
# (127.0.0.1:<SERVICE>_HTTP_PORT), the console's settings WEB_TILE_URL (empty: grid outlines on a plain background),
# WEB_TILE_ATTRIBUTION, WEB_TILE_SUBDOMAINS, WEB_SIGN_ON_URL, WEB_DEV_SIGN_IN (true when ENV is dev or test, as
# supervision's POST /v1/dev/token), WEB_CSP_IMG_SRC (default: the tile server's origin), ENV (dev).
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ENV="${ENV:-dev}"
NGINX_PORT="${NGINX_PORT:-8080}"
NGINX_HOST="${NGINX_HOST:-127.0.0.1}"
NGINX_DIR="${NGINX_RUN_DIR:-$RUN_DIR/nginx}"
NGINX_LOG_DIR="${NGINX_LOG_DIR:-$RUN_DIR/logs}"
NGINX_USER="${NGINX_USER:-www-data}"
WEB_ROOT="${WEB_ROOT:-$ROOT_DIR/services/web/dist}"
TEMPLATE="$ROOT_DIR/deploy/nginx/grid-web.conf.template"
MIME_TYPES="${NGINX_MIME_TYPES:-/etc/nginx/mime.types}"
CONF="$NGINX_DIR/nginx.conf"
SITE="$NGINX_DIR/grid-web.conf"
PID_FILE="$NGINX_DIR/nginx.pid"
ERROR_LOG="$NGINX_LOG_DIR/nginx-error.log"
ACCESS_LOG="$NGINX_LOG_DIR/nginx-access.log"
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"

INTAKE_UPSTREAM="${INTAKE_UPSTREAM:-127.0.0.1:${INTAKE_HTTP_PORT:-8001}}"
ROUTING_UPSTREAM="${ROUTING_UPSTREAM:-127.0.0.1:${ROUTING_HTTP_PORT:-8002}}"
SUPERVISION_UPSTREAM="${SUPERVISION_UPSTREAM:-127.0.0.1:${SUPERVISION_HTTP_PORT:-8003}}"
NOTIFICATIONS_UPSTREAM="${NOTIFICATIONS_UPSTREAM:-127.0.0.1:${NOTIFICATIONS_HTTP_PORT:-8004}}"
case "$ENV" in dev|test) dev_default=true ;; *) dev_default=false ;; esac
WEB_DEV_SIGN_IN="${WEB_DEV_SIGN_IN:-$dev_default}"
[[ "$WEB_DEV_SIGN_IN" =~ ^(true|false)$ ]] || die "WEB_DEV_SIGN_IN must be true or false, not '$WEB_DEV_SIGN_IN'"

# A JSON string literal, safe inside nginx's single quotes too: ' and $ as \u escapes, never raw.
json_str() {
  local s="$1" out="" c i code
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      '"') out+='\"' ;;
      '\') out+='\\' ;;
      "'") out+='\u0027' ;;
      '$') out+='\u0024' ;;
      *)
        printf -v code '%d' "'$c"
        if [ "$code" -ge 0 ] && [ "$code" -lt 32 ]; then printf -v c '\\u%04x' "$code"; fi
        out+="$c" ;;
    esac
  done
  printf '"%s"' "$out"
}

# The tile server's origin for the CSP's img-src (https://t{s}.example.cn/... → https://*.example.cn).
tile_origin() {
  local url="$1"
  [ -n "$url" ] || return 0
  [[ "$url" =~ ^(https?://)([^/?#]+) ]] || die "WEB_TILE_URL must be an http(s) URL template, not '$url'"
  local scheme="${BASH_REMATCH[1]}" host="${BASH_REMATCH[2]}"
  if [[ "$host" == *"{"* ]]; then host="*.${host#*.}"; fi
  printf '%s%s' "$scheme" "$host"
}

render() {
  [ -f "$TEMPLATE" ] || die "$TEMPLATE is missing"
  [[ "$NGINX_PORT" =~ ^[0-9]+$ ]] || die "NGINX_PORT must be a port number"
  mkdir -p "$NGINX_DIR/tmp" "$NGINX_LOG_DIR"
  local config img_src
  config="{\"tileUrl\":$(json_str "${WEB_TILE_URL:-}"),\"tileAttribution\":$(json_str "${WEB_TILE_ATTRIBUTION:-}"),"
  config+="\"tileSubdomains\":$(json_str "${WEB_TILE_SUBDOMAINS:-}"),\"signOnUrl\":$(json_str "${WEB_SIGN_ON_URL:-}"),"
  config+="\"devSignIn\":$WEB_DEV_SIGN_IN}"
  img_src="${WEB_CSP_IMG_SRC:-$(tile_origin "${WEB_TILE_URL:-}")}"
  [[ "$img_src" != *[\;\"\'\$]* ]] || die "WEB_CSP_IMG_SRC may not contain ; \" ' or \$"
  local site name value
  site="$(cat "$TEMPLATE")"
  shopt -u patsub_replacement 2>/dev/null || true   # bash 5.2: & in a replacement is literal again
  for name in NGINX_LISTEN WEB_ROOT INTAKE_UPSTREAM ROUTING_UPSTREAM SUPERVISION_UPSTREAM NOTIFICATIONS_UPSTREAM \
              WEB_CONFIG_JSON WEB_CSP_IMG_SRC; do
    case "$name" in
      NGINX_LISTEN) value="$NGINX_HOST:$NGINX_PORT" ;;
      WEB_CONFIG_JSON) value="$config" ;;
      WEB_CSP_IMG_SRC) value="$img_src" ;;
      *) value="${!name}" ;;
    esac
    site="${site//"\${$name}"/$value}"
  done
  if grep -q '\${[A-Z_]*}' <<<"$site"; then die "$TEMPLATE has a placeholder nginx.sh does not fill: $(grep -o '\${[A-Z_]*}' <<<"$site" | head -n1)"; fi
  printf '%s\n' "$site" >"$SITE"
  local user_line=""
  [ "${RUN_AS_ROOT:-}" = 1 ] && user_line="user root root;  # www-data cannot read the checkout (see the log)"
  cat >"$CONF" <<CONF
# Generated by deploy/local/nginx.sh; edits are overwritten. The site itself: grid-web.conf (from $TEMPLATE).
$user_line
worker_processes 1;
pid $PID_FILE;
error_log ${NGINX_ERROR_TARGET:-$ERROR_LOG} warn;
events { worker_connections 1024; }
http {
    include $MIME_TYPES;
    default_type application/octet-stream;
    access_log ${NGINX_ACCESS_TARGET:-$ACCESS_LOG};
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    include $SITE;
}
CONF
}

need_nginx() { [ -x "$NGINX_BIN" ] || die "nginx is not installed; run deploy/local/setup.sh web (apt-get install nginx)"; }

# Who runs nginx: the caller when not root; as root, www-data, if it can read the console and write the run dir.
RUN_USER=""
choose_user() {
  RUN_USER=""
  is_root || return 0
  id "$NGINX_USER" >/dev/null 2>&1 || { log "no user $NGINX_USER: nginx runs as root"; RUN_AS_ROOT=1; return 0; }
  chown -R "$NGINX_USER" "$NGINX_DIR"
  touch "$ERROR_LOG" "$ACCESS_LOG"
  chown "$NGINX_USER" "$ERROR_LOG" "$ACCESS_LOG"
  if runuser -u "$NGINX_USER" -- sh -c "test -r '$WEB_ROOT/index.html' -a -w '$NGINX_DIR' -a -w '$ERROR_LOG'" 2>/dev/null \
     || { [ ! -f "$WEB_ROOT/index.html" ] && runuser -u "$NGINX_USER" -- test -w "$NGINX_DIR" 2>/dev/null; }; then
    RUN_USER="$NGINX_USER"
  else
    log "WARNING: $NGINX_USER cannot read $WEB_ROOT or write $NGINX_DIR (a parent directory closed to others?): nginx runs as root"
    RUN_AS_ROOT=1
  fi
}

as_run_user() { if [ -n "$RUN_USER" ]; then (cd / && runuser -u "$RUN_USER" -- "$@"); else "$@"; fi; }

nginx_cmd() { as_run_user "$NGINX_BIN" -p "$NGINX_DIR" -c "$CONF" -e "${NGINX_ERROR_TARGET:-$ERROR_LOG}" "$@"; }

running() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "nginx: master process.*$CONF\|nginx.*-c $CONF"
}

answers() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$NGINX_PORT/config.json" 2>/dev/null; }

check_config() {
  local out
  out="$(nginx_cmd -t -q 2>&1)" || die "nginx refuses $CONF: $out"
}

start() {
  need_nginx
  [ -f "$WEB_ROOT/index.html" ] || log "WARNING: no built console in $WEB_ROOT (deploy/local/setup.sh web builds it); serving the APIs only"
  render
  choose_user
  render   # again: the user line depends on the choice
  check_config
  if running; then
    kill -HUP "$(cat "$PID_FILE")"
    log "nginx reloaded: http://$NGINX_HOST:$NGINX_PORT/"
  else
    port_open "$NGINX_PORT" && die "port $NGINX_PORT is taken by another process (set NGINX_PORT)"
    nginx_cmd || die "nginx did not start; see $ERROR_LOG"
    local deadline=$((SECONDS + 10))
    until answers; do
      [ $SECONDS -lt $deadline ] || die "nginx does not answer on :$NGINX_PORT after 10 s; see $ERROR_LOG"
      sleep 0.1
    done
    log "nginx serves the console on http://$NGINX_HOST:$NGINX_PORT/ (APIs under /api/<service>/; logs $NGINX_LOG_DIR/nginx-*.log)"
  fi
}

stop() {
  running || { rm -f "$PID_FILE"; return 0; }
  local pid; pid="$(cat "$PID_FILE")"
  kill -QUIT "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while pid_alive "$pid"; do
    if [ $SECONDS -ge $deadline ]; then kill -TERM "$pid" 2>/dev/null || true; sleep 1; kill -KILL "$pid" 2>/dev/null || true; break; fi
    sleep 0.1
  done
  rm -f "$PID_FILE"
  log "nginx stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  reload)
    running || die "nginx is not running (nginx.sh start)"
    render; choose_user; render; check_config; kill -HUP "$(cat "$PID_FILE")" ;;
  render) render; echo "$CONF" ;;
  run)
    need_nginx
    NGINX_ERROR_TARGET="${NGINX_ERROR_TARGET:-stderr}" NGINX_ACCESS_TARGET="${NGINX_ACCESS_TARGET:-/dev/stdout}"
    export NGINX_ERROR_TARGET NGINX_ACCESS_TARGET
    render
    exec "$NGINX_BIN" -p "$NGINX_DIR" -c "$CONF" -e stderr -g 'daemon off;' ;;
  status)
    if running && answers; then echo "nginx: serving http://$NGINX_HOST:$NGINX_PORT/ (pid $(cat "$PID_FILE"))"
    else echo "nginx: NOT serving on :$NGINX_PORT (log: $ERROR_LOG)"; exit 1; fi ;;
  *) die "usage: nginx.sh start|stop|status|reload|render|run" ;;
esac
