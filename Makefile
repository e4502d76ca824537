# The two commands a newcomer runs: `make demo` and `make test`. Each installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
LOCAL := deploy/local

.PHONY: help setup lock infra up down status logs demo test test-unit test-integration test-e2e bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup:  ## venv from requirements.lock (hash-checked), Postgres 15 + PostGIS, Kafka jars (idempotent, quick when done)
	@$(LOCAL)/setup.sh all

lock:  ## re-resolve requirements.lock from pyproject.toml (LOCK_ARGS=--upgrade moves every transitive pin)
	@$(LOCAL)/setup.sh lock $(LOCK_ARGS)

infra: setup  ## start Postgres and Kafka only (what the tests need)
	@$(LOCAL)/postgres.sh start
	@$(LOCAL)/kafka.sh start

up: infra  ## start everything: Postgres, Kafka, topics, migrations, every service role; wait for /ready
	@$(LOCAL)/services.sh migrate
	@$(LOCAL)/services.sh start
	@$(LOCAL)/services.sh wait
	@echo "stack is up: intake :8001, routing :8002, supervision :8003, notifications :8004"

down:  ## stop the services, Kafka and Postgres
	@$(LOCAL)/services.sh stop || true
	@$(LOCAL)/kafka.sh stop || true
	@$(LOCAL)/postgres.sh stop || true

status:  ## what is running
	@$(LOCAL)/postgres.sh status || true
	@$(LOCAL)/kafka.sh status || true
	@$(LOCAL)/services.sh status || true

logs:  ## follow every log (services and the Kafka broker)
	@tail -n 20 -F .run/logs/*.log .run/kafka/logs/server.log 2>/dev/null

demo: infra  ## the whole system on a city with live traffic and an accelerated virtual clock
	@$(LOCAL)/services.sh stop >/dev/null || true
	@$(LOCAL)/services.sh migrate
	@CLOCK_MODE=virtual CLOCK_SPEED=$${CLOCK_SPEED:-120} $(LOCAL)/services.sh start
	@$(LOCAL)/services.sh wait
	@ENV=$${ENV:-dev} $(PY) -m deploy.demo.demo

test: infra  ## the whole suite against the real Postgres and Kafka
	@$(LOCAL)/run-tests.sh tests

test-unit: setup  ## unit and contract tests only (no sockets)
	@$(LOCAL)/run-tests.sh tests/unit tests/contract

test-integration: infra
	@$(LOCAL)/run-tests.sh tests/integration

test-e2e: infra
	@$(LOCAL)/run-tests.sh tests/e2e

bench: infra  ## benchmarks: JSON + table under bench/results/ (each figure beside its baseline)
	@$(LOCAL)/setup.sh bench
	@ENV=$${ENV:-test} $(PY) -m bench

lint:  ## ruff + mypy
	@.venv/bin/ruff check shared services tests bench deploy
	@.venv/bin/mypy shared services tests/unit/fakes.py $(wildcard tests/unit/*/fakes.py)

clean: down  ## remove run state (data, logs, pids)
	rm -rf .run
