# The README's quick start: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := demo
DEMO_PERSONS ?= 2000

.PHONY: demo test bench install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-test: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

## make demo: demo data set, reconciliation, steward UI on http://127.0.0.1:5000
demo: $(VENV)/.installed-test
	MDM_VAR_DIR=$(CURDIR)/var $(BIN)/mdm demo-run --persons $(DEMO_PERSONS) --out $(DEMO_DIR)

## make test: the whole test suite (PostgreSQL variants run when MDM_TEST_POSTGRES_URL is set)
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## make bench: benchmarks in bench/ (see bench/README.md)
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench $(BENCH_ARGS)
