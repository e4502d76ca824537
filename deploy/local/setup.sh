#!/usr/bin/env bash
# Install what the native stack needs, idempotently: setup.sh [python|postgres|kafka|all]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup_python() {
  command -v python3.11 >/dev/null || command -v python3 >/dev/null || die "python 3.11 is required"
  local py; py="$(command -v python3.11 || command -v python3)"
  "$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || die "$py is not Python 3.11"
  [ -x "$VENV/bin/python" ] || { log "creating .venv"; "$py" -m venv "$VENV"; }
  local stamp="$VENV/.installed-pyproject" want
  want="$(sha256sum "$ROOT_DIR/pyproject.toml" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "pip install -e .[dev] (pinned versions from pyproject.toml)"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e "$ROOT_DIR[dev]"
    echo "$want" >"$stamp"
  fi
}

setup_postgres() {
  local missing=()
  [ -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ] || missing+=("postgresql-$PG_VERSION")
  [ -f "/usr/share/postgresql/$PG_VERSION/extension/postgis.control" ] || missing+=("postgresql-$PG_VERSION-postgis-3")
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

setup_kafka() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  local stamp="$KAFKA_LIBS/.complete"
  if [ ! -f "$stamp" ]; then
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
    mkdir -p "$KAFKA_LIBS"
    mvn -q -B -f "$LOCAL_DIR/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" \
      || die "mvn could not fetch the Kafka jars (see the output above)"
    ls "$KAFKA_LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing"
    touch "$stamp"
  fi
}

setup_bench() {
  command -v wrk >/dev/null || apt_install wrk
}

case "${1:-all}" in
  python) setup_python ;;
  bench) setup_bench ;;
  postgres) setup_postgres ;;
  kafka) setup_kafka ;;
  all) setup_postgres; setup_kafka; setup_python ;;
  *) die "usage: setup.sh [python|postgres|kafka|bench|all]" ;;
esac
