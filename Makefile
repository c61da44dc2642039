# Common commands. `make test` and `make demo` work on a fresh machine: they create the
# virtualenv and install the Python and Node (Azurite) dependencies first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test test-fast lint demo demo-once bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -n 2 --dist worksteal

test-fast: install
	$(BIN)/pytest -n 2 --dist worksteal -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install
	$(BIN)/azure-port-pipeline demo

demo-once: install
	$(BIN)/azure-port-pipeline demo --once

bench: install
	$(BIN)/python benchmarks/bench_mapping.py
	$(BIN)/python benchmarks/bench_port_sync.py
	$(BIN)/python benchmarks/bench_full_sync.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .dagster_home
