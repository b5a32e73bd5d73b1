# paylake — `make demo` runs the main job, `make test` passes the tests; both call `make setup`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
# State and jars of the checkout (the package's own default state dir is ~/.local/state/paylake).
export PAYLAKE_STATE_DIR ?= $(CURDIR)/.state
export PAYLAKE_JARS_DIR ?= $(CURDIR)/jars/lib

.PHONY: setup up down status demo test test-unit test-integration test-e2e lint bench lock clean

setup:            ## install everything the stack, demo and tests need (idempotent, quick when done)
	@bash scripts/setup.sh

up: setup         ## start MongoDB-compatible server, Redis, HDFS, Spark Connect and Prometheus on 127.0.0.1
	@$(BIN)/paylake stack up

down:             ## stop everything `make up` / `make demo` started
	@if [ -x $(BIN)/paylake ]; then $(BIN)/paylake demo down 2>/dev/null || $(BIN)/paylake stack down; fi

status:
	@$(BIN)/paylake stack status

demo: setup       ## the whole pipeline: stack, generator, Airflow DAGs, dashboard
	@$(BIN)/paylake demo up

test: setup       ## unit, integration (real servers) and e2e tests
	@$(BIN)/pytest -p no:cacheprovider tests

test-unit: setup
	@$(BIN)/pytest tests/unit

lint: setup
	@$(BIN)/ruff check paylake dags scripts streamlit tests bench
	@$(BIN)/mypy

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lock:             ## recompile requirements.txt from requirements.in (its current pins kept where they still fit)
	@$(BIN)/uv pip compile requirements.in -p 3.11 -o requirements.txt -q --no-header --no-annotate
	@sed -i '1i # Pinned lock of requirements.in (make lock). Installed by `make setup` with uv.' requirements.txt

clean: down
	rm -rf .state build jars/lib
