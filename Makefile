# One-step set-up: `make run` serves the bot, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Test processes (pytest-xdist). The tests mostly wait on sockets and child processes, so
# more workers than cores help: on 2 vCPUs the suite took 484 s with 2 workers and 396 s with
# 4 (2026-12-03). `make test TEST_WORKERS=auto` runs one per core.
TEST_WORKERS ?= 4

.PHONY: run test lint install install-test clean

# `make run` installs what running needs and nothing more; `make test` adds the test extra
# (pytest, Playwright, mypy, ruff, schemathesis) on top, in the same environment.
$(BIN)/chatlink: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-extra: $(BIN)/chatlink
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/chatlink

install-test: $(VENV)/.test-extra

run: install
	$(BIN)/chatlink run

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
