#!/usr/bin/env bash
# Install what the native stack needs, idempotently and quickly when already done:
#   setup.sh [python|postgres|kafka|bench|all|lock]     (default: all = postgres, kafka, python)
#   python    .venv with python3.11, exactly requirements.lock (hash-checked, wheels only, what it does not
#             list removed) and the project itself without deps; only when the lock or pyproject.toml changed
#   postgres  postgresql-15 + postgresql-15-postgis-3 from apt (root needed only when missing)
#   kafka     Kafka broker jars (deploy/local/kafka/pom.xml) from Maven Central into $GRID_CACHE_DIR
#   bench     wrk
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

case "${1:-all}" in
  python) setup_python ;;
  postgres) setup_postgres ;;
  kafka) setup_kafka ;;
  bench) setup_bench ;;
  all) setup_postgres; setup_kafka; setup_python ;;
  lock) shift; lock_python "$@" ;;
  *) die "usage: setup.sh [python|postgres|kafka|bench|all|lock [pip-compile args]]" ;;
esac
