# Two entry points (see README): `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= $(shell command -v python3.12 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/baseline.yaml

.PHONY: run test lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,dashboard]"
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/casim run $(SCENARIO)

# The dashboard's browser test drives Debian's chromium (Playwright cannot download browsers
# here): install it when it is missing.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# The numba kernels are compiled into their on-disk cache once, in one process, before the
# tests (the line prints how long that took): otherwise worker processes that tests start
# would each compile them, concurrently, racing on numba's cache index.
test: $(VENV)/.installed-test chromium
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/python -c "from sim.core import kernels; print(f'numba kernels ready in {kernels.warm_up():.1f} s ({kernels.cache_report()})')"
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/ruff format --check sim

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/ensemble.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
