#!/usr/bin/env bash
# Install what the native stack needs, idempotently and quickly when already done:
#   setup.sh [python|postgres|kafka|bench|web|browser|k8s|all|lock]     (default: all = postgres, kafka, python, web)
#   python    .venv with python3.11, exactly requirements.lock (hash-checked, wheels only, what it does not
#             list removed) and the project itself without deps; only when the lock or pyproject.toml changed
#   postgres  postgresql-15 + postgresql-15-postgis-3 from apt (root needed only when missing)
#   kafka     Kafka broker jars (deploy/local/kafka/pom.xml) from Maven Central into $GRID_CACHE_DIR
#   bench     wrk
#   web       nginx from apt; Node.js + npm (apt, when missing); the console's packages (npm ci, from
#             services/web/package-lock.json) when the lock changed; its build (services/web/dist) when a source changed
#   browser   chromium and fonts-noto-cjk from apt (tests/browser: Playwright drives /usr/bin/chromium)
#   k8s       kustomize $KUSTOMIZE_VERSION (deploy/k8s; tests/unit/test_k8s_manifests.py renders it), built with
#             `go install` from the Go module proxy into $GRID_CACHE_DIR/kustomize-$KUSTOMIZE_VERSION/ (Go >= 1.26
#             needed; 30 s to 2.5 min the first time, mostly downloads; nothing after)
#   lock      re-resolve requirements.lock from pyproject.toml (pip-compile in a throwaway venv); extra
#             arguments go to pip-compile: --upgrade, --upgrade-package NAME
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LOCK_FILE="$ROOT_DIR/requirements.lock"
PIP_TOOLS_VERSION="7.6.2"

find_python() {
  local py
  py="$(command -v python3.11 || true)"
  [ -n "$py" ] || py="$(command -v python3 || true)"
  [ -n "$py" ] || die "python3.11 is required (not on PATH)"
  "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$py is Python $("$py" -c 'import platform; print(platform.python_version())'), 3.11 is required"
  echo "$py"
}

setup_python() {
  local py
  py="$(find_python)"
  [ -f "$LOCK_FILE" ] || die "$LOCK_FILE is missing (make lock writes it)"
  if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    log "creating $VENV with $py"
    rm -rf "$VENV"
    "$py" -m venv "$VENV" || die "could not create $VENV (on Debian: apt-get install python3.11-venv)"
  fi
  local stamp="$VENV/.installed-lock" want
  want="$(cat "$ROOT_DIR/pyproject.toml" "$LOCK_FILE" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "pip install --require-hashes -r requirements.lock, then -e . --no-deps (the lock or pyproject.toml changed)"
    local plog="$VENV/pip-install.log"
    # Every distribution, transitive ones and the build backend included, comes from the lock with its hash.
    # The build backend (setuptools, wheel) first, as wheels; then the rest, where the few published only as
    # source (lunar-python) are built with it, not with an unpinned one fetched on the side (build isolation).
    local build_deps="$VENV/build-requirements.lock"
    awk '/^[^ #]/ { keep = ($0 ~ /^(setuptools|wheel)==/) } keep' "$LOCK_FILE" >"$build_deps"
    { "$VENV/bin/python" -m pip install -q --require-hashes --only-binary :all: --no-deps -r "$build_deps" \
        && "$VENV/bin/python" -m pip install -q --require-hashes --prefer-binary --no-build-isolation \
             -r "$LOCK_FILE" \
        && prune_python \
        && "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT_DIR"; } \
      >"$plog" 2>&1 || { tail -n 30 "$plog" >&2; die "installing requirements.lock failed (PyPI reachable?); see $plog"; }
    # A pin added to pyproject.toml but not to the lock shows here: the project's requirements unmet.
    "$VENV/bin/python" -m pip check >>"$plog" 2>&1 \
      || { tail -n 5 "$plog" >&2; die "requirements.lock does not satisfy pyproject.toml: run 'make lock'"; }
    rm -f "$VENV/.installed-pyproject"   # the stamp before the lock
    echo "$want" >"$stamp"
  fi
}

# Uninstall what the lock does not list (a dependency dropped from pyproject.toml), so the venv holds the lock.
prune_python() {
  local extra
  extra="$("$VENV/bin/python" - "$LOCK_FILE" <<'PY'
import re
import sys
from importlib.metadata import distributions

def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

locked = {norm(m[1]) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", open(sys.argv[1]).read(), re.M)}
installed = {norm(d.metadata["Name"]) for d in distributions()}
print(" ".join(sorted(installed - locked - {"pip", "grid-incidents"})))
PY
)" || return 1
  [ -z "$extra" ] || { echo "removing what requirements.lock does not list: $extra"; "$VENV/bin/python" -m pip uninstall -q -y $extra; }
}

# requirements.lock: runtime, dev and gateway dependencies of pyproject.toml and the build backend, every
# one pinned with the hashes of all its files on PyPI. Keeps the pins it already has unless told --upgrade.
lock_python() {
  local py
  py="$(find_python)"
  LOCK_TOOLS="$(mktemp -d)"
  trap 'rm -rf "$LOCK_TOOLS"' EXIT
  log "pip-compile $PIP_TOOLS_VERSION in a throwaway venv"
  "$py" -m venv "$LOCK_TOOLS" && "$LOCK_TOOLS/bin/python" -m pip install -q "pip-tools==$PIP_TOOLS_VERSION" \
    || die "could not install pip-tools $PIP_TOOLS_VERSION"
  (cd "$ROOT_DIR" && CUSTOM_COMPILE_COMMAND="make lock" "$LOCK_TOOLS/bin/pip-compile" --quiet --generate-hashes \
     --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links --build-deps-for editable \
     --extra dev --extra gateway --output-file requirements.lock "$@" pyproject.toml) \
    || die "pip-compile failed"
  log "requirements.lock: $(grep -c '^[A-Za-z]' "$LOCK_FILE") pinned distributions"
}

setup_postgres() {
  local missing=()
  [ -x "$PG_BIN/postgres" ] || missing+=("postgresql-$PG_VERSION")
  [ -f "$POSTGIS_CONTROL" ] || missing+=("postgresql-$PG_VERSION-postgis-3")
  if [ ${#missing[@]} -gt 0 ]; then
    # Both, so apt pulls the matching postgis build for the server it installs.
    apt_install "postgresql-$PG_VERSION" "postgresql-$PG_VERSION-postgis-3"
    [ -x "$PG_BIN/postgres" ] || die "apt installed postgresql-$PG_VERSION but $PG_BIN/postgres is missing"
    [ -f "$POSTGIS_CONTROL" ] || die "apt installed postgis but $POSTGIS_CONTROL is missing"
  fi
}

java_major() { java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}'; }

setup_kafka() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  local jv; jv="$(java_major)"
  [ "${jv%%.*}" -ge 17 ] 2>/dev/null || die "Kafka $KAFKA_VERSION needs Java 17+, 'java' is $jv"
  local want; want="$(sha256_of "$KAFKA_POM")"
  if [ "$(cat "$KAFKA_STAMP" 2>/dev/null)" = "$want" ] && [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    return 0
  fi
  command -v mvn >/dev/null || apt_install maven
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  mkdir -p "$KAFKA_HOME"
  # Into a fresh directory, then swapped in: a pom change never leaves stale jars (a second slf4j binding) behind.
  local tmp="$KAFKA_HOME/libs.tmp.$$"
  rm -rf "$tmp"
  if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
         -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_HOME/mvn.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 30 "$KAFKA_HOME/mvn.log" >&2
    die "mvn could not fetch the Kafka jars listed in $KAFKA_POM (Maven Central reachable?); see $KAFKA_HOME/mvn.log"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "mvn ran but kafka_2.13-$KAFKA_VERSION.jar is missing"; }
  check_log_binding "$tmp" || { rm -rf "$tmp"; exit 1; }
  if [ -d "$KAFKA_LIBS" ] && diff -rq -x .complete "$tmp" "$KAFKA_LIBS" >/dev/null 2>&1; then
    rm -rf "$tmp"   # same jars: leave the directory a running broker uses alone
  else
    rm -rf "$KAFKA_LIBS.old"
    [ ! -d "$KAFKA_LIBS" ] || mv "$KAFKA_LIBS" "$KAFKA_LIBS.old"
    mv "$tmp" "$KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS.old"
  fi
  echo "$want" >"$KAFKA_STAMP"
  log "Kafka jars ready ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

# The broker logs through slf4j; the log4j2 binding must match slf4j-api's major version, or slf4j falls
# back to a no-op logger and the broker log file stays empty (slf4j 1.x: log4j-slf4j-impl, 2.x: log4j-slf4j2-impl).
check_log_binding() {
  local dir="$1" api want other
  api="$(find "$dir" -name 'slf4j-api-*.jar' -printf '%f\n' | head -n1)"
  [ -n "$api" ] || { log "ERROR: no slf4j-api jar among the Kafka jars"; return 1; }
  case "$api" in
    slf4j-api-1.*) want=log4j-slf4j-impl other=log4j-slf4j2-impl ;;
    *) want=log4j-slf4j2-impl other=log4j-slf4j-impl ;;
  esac
  if ! compgen -G "$dir/$want-*.jar" >/dev/null || compgen -G "$dir/$other-*.jar" >/dev/null; then
    log "ERROR: $api needs org.apache.logging.log4j:$want (and not $other) in $KAFKA_POM"
    return 1
  fi
  compgen -G "$dir/log4j-core-*.jar" >/dev/null || { log "ERROR: log4j-core missing from $KAFKA_POM"; return 1; }
}

setup_bench() {
  command -v wrk >/dev/null || apt_install wrk
}

WEB_DIR="$ROOT_DIR/services/web"

# A digest of every file the console's build reads (sources, entry pages, static files, configs, the lock).
web_sources_digest() {
  (cd "$WEB_DIR" && find src public index.html worker vite.config.ts tsconfig.json package.json package-lock.json \
     -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

setup_web() {
  local missing=()
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
  command -v npm >/dev/null || missing+=(nodejs npm)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  local major; major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 18 ] 2>/dev/null || die "the console's build (Vite 6) needs Node.js 18 or later; node is $(node --version)"
  local want stamp="$WEB_DIR/node_modules/.grid-installed"
  want="$(cat "$WEB_DIR/package.json" "$WEB_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
  mkdir -p "$RUN_DIR"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "npm ci in services/web (its package-lock.json changed)"
    (cd "$WEB_DIR" && npm ci --no-audit --no-fund --loglevel=error >"$RUN_DIR/web-npm-ci.log" 2>&1) \
      || { tail -n 30 "$RUN_DIR/web-npm-ci.log" >&2; die "npm ci failed (npm registry reachable?); see .run/web-npm-ci.log"; }
    echo "$want" >"$stamp"
  fi
  build_web
}

# vite build into services/web/dist when a source changed since the last build (the digest is kept in dist/).
build_web() {
  local want stamp="$WEB_DIR/dist/.grid-build"
  want="$(web_sources_digest)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -f "$WEB_DIR/dist/index.html" ]; then
    log "building the console (services/web → services/web/dist)"
    (cd "$WEB_DIR" && npm run --silent build >"$RUN_DIR/web-build.log" 2>&1) \
      || { tail -n 40 "$RUN_DIR/web-build.log" >&2; die "the console's build failed; see .run/web-build.log"; }
    echo "$want" >"$stamp"
  fi
}

# kustomize, the one renderer of deploy/k8s: the release's own module, compiled by `go install` (checksums from the
# Go checksum database), into the cache dir shared by every checkout. v5.8.2 is the newest whose go.mod accepts this
# machine's Go (1.26); v5.8.3 asks for 1.27.
KUSTOMIZE_VERSION="v5.8.2"
KUSTOMIZE_DIR="$CACHE_DIR/kustomize-$KUSTOMIZE_VERSION"

setup_k8s() {
  [ -x "$KUSTOMIZE_DIR/kustomize" ] && return 0
  command -v go >/dev/null || die "kustomize is built with Go (1.26 or later), which is not on PATH"
  log "go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION into $KUSTOMIZE_DIR"
  mkdir -p "$CACHE_DIR"
  local tmp="$CACHE_DIR/kustomize.tmp.$$"
  rm -rf "$tmp"
  if ! GOBIN="$tmp" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
         go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >"$CACHE_DIR/kustomize-install.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 20 "$CACHE_DIR/kustomize-install.log" >&2
    die "go install of kustomize $KUSTOMIZE_VERSION failed (Go module proxy reachable? Go >= 1.26?)"
  fi
  "$tmp/kustomize" version | grep -qx "$KUSTOMIZE_VERSION" || { rm -rf "$tmp"; die "the built kustomize is not $KUSTOMIZE_VERSION"; }
  rm -rf "$KUSTOMIZE_DIR"
  mv "$tmp" "$KUSTOMIZE_DIR"
  log "kustomize $KUSTOMIZE_VERSION ready: $KUSTOMIZE_DIR/kustomize"
}

setup_browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

case "${1:-all}" in
  python) setup_python ;;
  postgres) setup_postgres ;;
  kafka) setup_kafka ;;
  bench) setup_bench ;;
  web) setup_web ;;
  browser) setup_browser ;;
  k8s) setup_k8s ;;
  all) setup_postgres; setup_kafka; setup_python; setup_web ;;
  lock) shift; lock_python "$@" ;;
  *) die "usage: setup.sh [python|postgres|kafka|bench|web|browser|k8s|all|lock [pip-compile args]]" ;;
esac
