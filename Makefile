# Common commands. `make test` and `make demo` work on a fresh machine: they create the
# virtualenv and install what they need first. The demo needs only the Python side; the tests
# also need Node (Azurite, the Azure Storage emulator) and Chromium (the browser test of the
# Dagster UI).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
RUNS ?= 200
UI_PORT ?= 3000
CHROMIUM ?= /usr/bin/chromium

.PHONY: install install-python install-node install-chromium install-postgres test test-fast lint demo demo-once soak \
	demo-node \
	bench clean

install: install-python install-node install-chromium install-postgres

install-python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install-node: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's chromium, driven by Playwright (whose own browser download is not used). Installed
# only when missing; needs root, or sudo.
install-chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Installing Debian's chromium for the browser test of the Dagster UI"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq >/dev/null && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium fonts-liberation >/dev/null; \
	fi

# Debian's PostgreSQL server binaries (initdb, pg_ctl): the tests of the Postgres instance start
# a throwaway server of their own on a free port (the cluster the package may create on 5432 is
# not used). Installed only when missing; needs root, or sudo.
install-postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		echo "Installing Debian's postgresql for the tests of the Postgres instance"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq >/dev/null && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends postgresql >/dev/null; \
	fi

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -n 2 --dist worksteal

test-fast: install-python install-node install-postgres  # no e2e test, so no browser
	$(BIN)/pytest -n 2 --dist worksteal -m "not e2e"

lint: install-python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install-python demo-node
	$(BIN)/azure-port-pipeline demo --ui-port $(UI_PORT)

demo-once: install-python demo-node
	$(BIN)/azure-port-pipeline demo --once

# Azurite (the events queue of real-time sync) when npm is there; without it the demo runs with
# real-time events off and says so.
demo-node:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory install-node; \
	else echo "note: npm not found: the demo runs without Azurite (real-time events off)"; fi

soak: install-python  # the fault campaign, hundreds of seeded runs; prints the counts
	$(BIN)/python -m azure_port_pipeline_tests.defs.fault_campaign --runs $(RUNS)

# Every benchmark at a size that finishes in a few minutes; run a script alone for the big sizes
# (each one's --help: bench_full_sync.py with no flags is the 100k estate, --realistic adds
# Azure's and Port's latency and Port's organization limit).
bench: install-python
	$(BIN)/python benchmarks/bench_mapping.py
	$(BIN)/python benchmarks/bench_port_sync.py --entities 5000
	$(BIN)/python benchmarks/bench_sync_process.py
	$(BIN)/python benchmarks/bench_full_sync.py --resources 16000 --subscriptions 3
	$(BIN)/python benchmarks/bench_incremental.py --resources 10000 --subscriptions 3

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .dagster_home test-artifacts
