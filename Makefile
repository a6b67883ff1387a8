# Every target sets up what it needs: the virtual environment, the Kafka jars, Redis.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv up down status test test-unit test-integration chaos soak k8s bench bench-latency bench-scaling lint format demo demo-live workbench workbench-shots lock clean

help: ## list the targets and what each is for
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed: install Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

venv: $(STAMP) ## create the virtual environment with the project and its pinned tools

up: $(STAMP) ## start the local Kafka broker and Redis server (skips any set in KAFKA_BOOTSTRAP_SERVERS / REDIS_URL)
	$(BIN)/omni stack up

down: $(STAMP) ## stop exactly the local services that `make up` started
	$(BIN)/omni stack down

status: $(STAMP) ## show whether the local services run, and where
	$(BIN)/omni stack status

test: $(STAMP) ## run every test, unit (one process per core) then integration (starts the local stack when it is not running)
	$(BIN)/pytest -m "not integration" -n auto
	$(BIN)/pytest -m integration

test-unit: $(STAMP) ## run the unit tests only (no servers)
	$(BIN)/pytest -m "not integration" -n auto

test-integration: $(STAMP) ## run the tests against the real Kafka broker and Redis server
	$(BIN)/pytest -m integration

chaos: $(STAMP) ## a 100,000-event day through all flows on the local stack, killed -9 ten times; prints what held
	$(BIN)/omni stack up
	$(BIN)/python -m tests.chaos

bench: $(STAMP) ## throughput of each flow against a raw Kafka pass-through, 1,000,000 events (out/bench, docs/benchmarks.md)
	$(BIN)/omni stack up
	$(BIN)/python -m omnichannel.bench throughput

bench-latency: $(STAMP) ## input-to-output latency per output topic at 5,000 events/s, with and without coalescing
	$(BIN)/omni stack up
	$(BIN)/python -m omnichannel.bench latency

bench-scaling: $(STAMP) ## the same work on 1 worker, 2 workers in a process, and 2 processes
	$(BIN)/omni stack up
	$(BIN)/python -m omnichannel.bench scaling

soak: $(STAMP) ## the chaos run and the fault tests in a loop (SOAK_RUNS, default 20); a table of lost, doubled, mismatches
	$(BIN)/omni stack up
	$(BIN)/python -m tests.soak

k8s: $(STAMP) ## render the Kubernetes manifests and validate them offline (kustomize, kubernetes-validate, promtool)
	$(BIN)/pytest tests/unit/test_k8s_manifests.py -ra

lint: $(STAMP) ## ruff (lint and format check) and mypy, strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## format the code and apply ruff's safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP) ## generate a Black Friday, replay it through the flows without Kafka, report (out/demo)
	$(BIN)/omni demo --out out/demo

demo-live: $(STAMP) ## the same day through the flows on the local Kafka and Redis (starts them)
	$(BIN)/omni stack up
	bash scripts/demo-live.sh

workbench: $(STAMP) ## the exception workbench on the demo day at http://127.0.0.1:8088 (sign in with ops-demo or view-demo)
	$(BIN)/omni stack up
	bash scripts/workbench.sh

workbench-shots: $(STAMP) ## screenshots of the workbench on a fresh demo day: queue, case, reconciliation, overview (out/workbench)
	$(BIN)/omni stack up
	rm -rf .stack/workbench; mkdir -p out; setsid bash scripts/workbench.sh >out/workbench.log 2>&1 & pid=$$!; trap 'kill -TERM -- -$$pid' EXIT; \
	$(BIN)/python -m omnichannel.workbench.shots --url http://127.0.0.1:8088 --token ops-demo --wait 600 --out out/workbench

lock: $(STAMP) ## re-pin every installed package into requirements.lock
	$(BIN)/pip freeze --exclude-editable > requirements.lock

clean: down ## stop the local stack and remove the virtual environment and local data
	rm -rf $(VENV) .stack .pytest_cache .mypy_cache .ruff_cache
