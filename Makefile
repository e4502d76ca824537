# The two commands a newcomer runs: `make demo` and `make test`. Each installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
LOCAL := deploy/local

.PHONY: help setup lock infra up down status logs demo test test-unit test-integration test-e2e test-browser bench bench-history bench-soak chaos lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup:  ## venv from requirements.lock (hash-checked), Postgres 15 + PostGIS, Kafka jars, nginx + the console built (idempotent, quick when done)
	@$(LOCAL)/setup.sh all

lock:  ## re-resolve requirements.lock from pyproject.toml (LOCK_ARGS=--upgrade moves every transitive pin)
	@$(LOCAL)/setup.sh lock $(LOCK_ARGS)

infra: setup  ## start Postgres and Kafka only (what the tests need)
	@$(LOCAL)/postgres.sh start
	@$(LOCAL)/kafka.sh start

up: infra  ## start everything: Postgres, Kafka, topics, migrations, every service role (under supervisord), nginx :8080; wait for /ready
	@$(LOCAL)/services.sh migrate
	@$(LOCAL)/services.sh start
	@$(LOCAL)/services.sh wait
	@$(LOCAL)/nginx.sh start
	@echo "stack is up: intake :8001, routing :8002, supervision :8003, notifications :8004"
	@echo "console: http://127.0.0.1:$${NGINX_PORT:-8080}/ (sign in: 开发环境登录, e.g. 督办员 of 320508; APIs under /api/<service>/)"

down:  ## stop nginx, the services, Kafka and Postgres
	@$(LOCAL)/nginx.sh stop || true
	@$(LOCAL)/services.sh stop || true
	@$(LOCAL)/kafka.sh stop || true
	@$(LOCAL)/postgres.sh stop || true

status:  ## what is running (each role: supervisorctl status)
	@$(LOCAL)/postgres.sh status || true
	@$(LOCAL)/kafka.sh status || true
	@$(LOCAL)/services.sh status || true
	@$(LOCAL)/nginx.sh status || true

logs:  ## follow every log (services, nginx and the Kafka broker)
	@tail -n 20 -F .run/logs/*.log .run/kafka/logs/server.log 2>/dev/null

demo: infra  ## the whole system on a city with live traffic and an accelerated virtual clock
	@$(LOCAL)/services.sh stop >/dev/null || true
	@$(LOCAL)/services.sh migrate
	@CLOCK_MODE=virtual CLOCK_SPEED=$${CLOCK_SPEED:-120} $(LOCAL)/services.sh start
	@$(LOCAL)/services.sh wait
	@$(LOCAL)/nginx.sh start
	@ENV=$${ENV:-dev} CONSOLE_URL=http://127.0.0.1:$${NGINX_PORT:-8080} $(PY) -m deploy.demo.demo

test: infra  ## the whole suite against the real Postgres and Kafka (browser tests in Debian's chromium included)
	@$(LOCAL)/setup.sh browser
	@$(LOCAL)/setup.sh k8s
	@$(LOCAL)/run-tests.sh tests

test-unit: setup  ## unit and contract tests only (no sockets)
	@$(LOCAL)/setup.sh k8s
	@$(LOCAL)/run-tests.sh tests/unit tests/contract

test-integration: infra
	@$(LOCAL)/run-tests.sh tests/integration

test-e2e: infra
	@$(LOCAL)/run-tests.sh tests/e2e

test-browser: infra  ## the console in chromium through nginx, every service a real process (tests/browser)
	@$(LOCAL)/setup.sh browser
	@$(LOCAL)/run-tests.sh tests/browser

bench: infra  ## benchmarks: JSON + table under bench/results/ (each figure beside its baseline; `map`: chromium)
	@$(LOCAL)/setup.sh bench
	@$(LOCAL)/setup.sh browser
	@ENV=$${ENV:-test} $(PY) -m bench

bench-history: infra  ## the city's-year bench alone (bench/README.md): ~20 min with its databases cached, ~40 min to build them first; ~60 GiB of disk
	@$(LOCAL)/setup.sh bench
	@ENV=$${ENV:-test} $(PY) -m bench history

SOAK_MINUTES ?= 30
bench-soak: infra  ## memory soak (bench/README.md): idle memory per role, then SOAK_MINUTES at full load with every role's RSS sampled (a few minutes more for setup)
	@$(LOCAL)/setup.sh bench
	@ENV=$${ENV:-test} $(PY) -m bench soak --minutes $(SOAK_MINUTES)

INCIDENTS ?= 3000
FAULTS ?= 30
chaos: setup  ## chaos soak on a private Postgres :25432 and broker :29092: INCIDENTS reports while FAULTS kill -9/restarts hit every role, the broker and Postgres; invariants + recovery table (bench/results/chaos-*.json)
	@ENV=$${ENV:-test} $(PY) -m bench chaos --incidents $(INCIDENTS) --faults $(FAULTS) $(CHAOS_ARGS)

lint:  ## ruff + mypy, and tsc on the console (services/web, once make setup installed its packages)
	@.venv/bin/ruff check shared services tests bench deploy
	@.venv/bin/mypy shared services tests/unit/fakes.py $(wildcard tests/unit/*/fakes.py)
	@if [ -d services/web/node_modules ]; then cd services/web && npm run --silent typecheck; \
	 else echo "tsc skipped: services/web/node_modules missing (make setup)"; fi

clean: down  ## remove run state (data, logs, pids)
	rm -rf .run
